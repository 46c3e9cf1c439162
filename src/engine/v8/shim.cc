// shim.cc — the V8 backend's C++ half: a minimal C ABI over V8 (Debian's
// libnode, V8 10.2) that src/engine/v8/ffi.rs declares and wraps.
//
// The shim knows nothing of Pyrosome's semantics. It owns the V8 isolate,
// its context, the compiled modules and the dispatcher functions the shared
// bootstrap returns, and it moves values across the seam in one binary
// format ("wire", see src/engine/v8/wire.rs for the authoritative
// description):
//
//   0 undefined · 1 null · 2 false · 3 true · 4 number (f64 LE)
//   5 bigint (u32 len, decimal digits, optional '-')
//   6 string (u32 len, UTF-8) · 7 bytes (u32 len, raw)
//   8 array (u32 count, items) · 9 object (u32 count, (u32 len, key, value)*)
//   10 refused (u32 count, path segments innermost first, then what was
//      found; each a u32 len + UTF-8) — a value that cannot be cloned.
//
// Every host operation (the `host.*` functions the bootstrap calls) is one
// generic callback: it encodes its arguments, calls the Rust function given
// at creation with the operation's index, and decodes what Rust returns (or
// throws the error Rust names). Conversion rules mirror the QuickJS backend
// (src/engine/quickjs/convert.rs): plain objects, arrays, Uint8Array and
// primitives; anything else is "refused" with the path to it.
//
// Threading: a PyroIsolate may be used from any thread, one at a time; every
// entry point takes a v8::Locker. pyro_isolate_terminate is the only
// function that may be called concurrently (from the watchdog).

#include <libplatform/libplatform.h>
#include <v8.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

using namespace v8;

extern "C" {

struct PyroStr {
  const char* ptr;
  size_t len;
};

// Host operation: op index, wire-encoded array of arguments. Returns 0 and
// a wire value in *out, or an error kind (1 TypeError, 2 RangeError,
// 3 Error) and a UTF-8 message in *out. *out stays valid until the next
// call into Rust on this isolate.
typedef int32_t (*PyroHostFn)(void* state, uint32_t op, const uint8_t* args, size_t len,
                              const uint8_t** out, size_t* out_len);

// Module resolution: `name` imported from `base`. Returns 0 with the
// resolved specifier and its source, or nonzero with a message in
// *specifier. Strings stay valid while the isolate lives.
typedef int32_t (*PyroResolveFn)(void* state, PyroStr base, PyroStr name, PyroStr* specifier,
                                 PyroStr* source);

}  // extern "C"

namespace {

enum Tag : uint8_t {
  kUndefined = 0,
  kNull = 1,
  kFalse = 2,
  kTrue = 3,
  kNumber = 4,
  kBigInt = 5,
  kString = 6,
  kBytes = 7,
  kArray = 8,
  kObject = 9,
  kRefused = 10,
  kJson = 11,  // Rust to shim only: JSON text that JSON.parse turns into the value
};

constexpr size_t kMaxDepth = 256;

std::unique_ptr<Platform> g_platform;
std::once_flag g_init;

// ---- code cache ------------------------------------------------------------
//
// Every isolate compiles the same prelude and the same app modules. V8 can
// serialize what it compiled (bytecode, including functions compiled lazily
// while the code ran) and another isolate of the process can start from it:
// the first isolate of a service pays for compilation, the next ones don't.
// Keyed by name and full source text, so a changed source never meets a
// stale cache; an entry V8 rejects is dropped.

std::mutex g_cache_mu;
std::unordered_map<std::string, std::shared_ptr<const std::string>> g_code_cache;

std::string cache_key(const std::string& name, const char* source, size_t len) {
  std::string key = name;
  key.push_back('\0');
  key.append(source, len);
  return key;
}

std::shared_ptr<const std::string> cached_code(const std::string& key) {
  std::lock_guard<std::mutex> lock(g_cache_mu);
  auto it = g_code_cache.find(key);
  return it == g_code_cache.end() ? nullptr : it->second;
}

void store_code(const std::string& key, ScriptCompiler::CachedData* data) {
  if (data == nullptr) return;
  auto code = std::make_shared<const std::string>(reinterpret_cast<const char*>(data->data), data->length);
  delete data;
  std::lock_guard<std::mutex> lock(g_cache_mu);
  g_code_cache.emplace(key, std::move(code));
}

void drop_code(const std::string& key) {
  std::lock_guard<std::mutex> lock(g_cache_mu);
  g_code_cache.erase(key);
}

// ---- ArrayBuffer memory, counted against the isolate's limit -------------

class LimitedAllocator final : public ArrayBuffer::Allocator {
 public:
  explicit LimitedAllocator(size_t limit) : limit_(limit) {}

  void* Allocate(size_t n) override {
    if (!Reserve(n)) return nullptr;
    void* p = calloc(n == 0 ? 1 : n, 1);
    if (p == nullptr) used_.fetch_sub(n);
    return p;
  }
  void* AllocateUninitialized(size_t n) override {
    if (!Reserve(n)) return nullptr;
    void* p = malloc(n == 0 ? 1 : n);
    if (p == nullptr) used_.fetch_sub(n);
    return p;
  }
  void Free(void* p, size_t n) override {
    free(p);
    used_.fetch_sub(n);
  }
  // Whether `n` more bytes fit; refuses (and remembers it) if not.
  bool Reserve(size_t n) {
    size_t cur = used_.load();
    do {
      if (n > limit_ || cur > limit_ - n) {
        refused_.store(true);
        return false;
      }
    } while (!used_.compare_exchange_weak(cur, cur + n));
    return true;
  }
  bool Fits(size_t n) const { return n <= limit_ && used_.load() <= limit_ - n; }
  size_t used() const { return used_.load(); }
  std::atomic<bool> refused_{false};

 private:
  std::atomic<size_t> used_{0};
  size_t limit_;
};

}  // namespace

struct PyroIsolate {
  Isolate* isolate = nullptr;
  LimitedAllocator* allocator = nullptr;
  Global<Context> context;
  Global<Object> object_proto;
  Global<Function> invoke, reply, timer, set_module;
  PyroHostFn host_fn = nullptr;
  void* host_state = nullptr;
  PyroResolveFn resolve_fn = nullptr;
  void* resolve_state = nullptr;
  std::vector<std::pair<std::string, Global<Module>>> modules;
  // Per module (same index): its code-cache key if the cache has no entry
  // for it yet, else empty.
  std::vector<std::string> uncached;
  std::string out;  // results handed to Rust, valid until the next call
  std::atomic<bool> heap_exhausted{false};
  size_t heap_limit = 0;
};

namespace {

PyroIsolate* self(Isolate* isolate) { return static_cast<PyroIsolate*>(isolate->GetData(0)); }

// ---- wire encoding ---------------------------------------------------------

void put_u32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

void put_str(std::string& out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Appends a JS string as a wire string (u32 length, UTF-8), lone
// surrogates replaced by U+FFFD, written in place.
void put_js_str(Isolate* isolate, std::string& out, Local<String> s) {
  // One pass: room for the worst case (3 bytes per UTF-16 unit), then
  // trimmed to what was written.
  size_t units = static_cast<size_t>(s->Length());
  size_t at = out.size();
  out.resize(at + 4 + 3 * units);
  int written = units == 0 ? 0
                           : s->WriteUtf8(isolate, out.data() + at + 4, static_cast<int>(3 * units), nullptr,
                                          String::NO_NULL_TERMINATION | String::REPLACE_INVALID_UTF8);
  uint32_t len = static_cast<uint32_t>(written);
  std::memcpy(out.data() + at, &len, 4);
  out.resize(at + 4 + static_cast<size_t>(written));
}

// A JS string as UTF-8, lone surrogates replaced by U+FFFD.
std::string utf8(Isolate* isolate, Local<String> s) {
  int len = s->Utf8Length(isolate);
  std::string out(static_cast<size_t>(len), '\0');
  if (len > 0) {
    s->WriteUtf8(isolate, out.data(), len, nullptr,
                 String::NO_NULL_TERMINATION | String::REPLACE_INVALID_UTF8);
  }
  return out;
}

struct Refusal {
  std::vector<std::string> path;  // innermost first
  std::string found;
};

class Encoder {
 public:
  Encoder(Isolate* isolate, Local<Context> context, Local<Object> object_proto, std::string& out)
      : isolate_(isolate), context_(context), object_proto_(object_proto), out_(out) {}

  // Encodes `value`; a value that cannot be cloned becomes a refused record.
  void top(Local<Value> value) {
    size_t mark = out_.size();
    Refusal refusal;
    ancestors_.clear();
    if (!encode(value, refusal)) {
      out_.resize(mark);
      out_.push_back(kRefused);
      put_u32(out_, static_cast<uint32_t>(refusal.path.size()));
      for (auto& segment : refusal.path) put_str(out_, segment);
      put_str(out_, refusal.found);
    }
  }

 private:
  bool refuse(Refusal& r, std::string found) {
    r.found = std::move(found);
    return false;
  }

  bool enter(Local<Object> object, Refusal& r) {
    for (auto& a : ancestors_) {
      if (a == object) return refuse(r, "refers back to an object that contains it (a cycle)");
    }
    if (ancestors_.size() >= kMaxDepth) {
      return refuse(r, "nested more than " + std::to_string(kMaxDepth) + " levels deep");
    }
    ancestors_.push_back(object);
    return true;
  }

  std::string describe_instance(Local<Object> object) {
    TryCatch tc(isolate_);
    Local<Value> ctor;
    Local<Value> name;
    if (object->Get(context_, String::NewFromUtf8Literal(isolate_, "constructor")).ToLocal(&ctor) &&
        ctor->IsObject() &&
        ctor.As<Object>()->Get(context_, String::NewFromUtf8Literal(isolate_, "name")).ToLocal(&name) &&
        name->IsString() && name.As<String>()->Length() > 0) {
      return "an instance of " + utf8(isolate_, name.As<String>());
    }
    return "an object with a non-plain prototype";
  }

  bool encode(Local<Value> value, Refusal& r) {
    if (value->IsUndefined()) {
      out_.push_back(kUndefined);
    } else if (value->IsNull()) {
      out_.push_back(kNull);
    } else if (value->IsBoolean()) {
      out_.push_back(value->IsTrue() ? kTrue : kFalse);
    } else if (value->IsNumber()) {
      double d = value.As<Number>()->Value();
      out_.push_back(kNumber);
      char b[8];
      std::memcpy(b, &d, 8);
      out_.append(b, 8);
    } else if (value->IsString()) {
      out_.push_back(kString);
      put_js_str(isolate_, out_, value.As<String>());
    } else if (value->IsBigInt()) {
      Local<String> text;
      if (!value->ToString(context_).ToLocal(&text)) return refuse(r, "a BigInt that cannot be printed");
      out_.push_back(kBigInt);
      put_str(out_, utf8(isolate_, text));
    } else if (value->IsSymbol()) {
      return refuse(r, "a symbol");
    } else if (value->IsFunction()) {
      return refuse(r, "a function");
    } else if (value->IsPromise()) {
      return refuse(r, "a Promise (did you forget an `await`?)");
    } else if (value->IsUint8Array()) {
      Local<Uint8Array> view = value.As<Uint8Array>();
      size_t n = view->ByteLength();
      out_.push_back(kBytes);
      put_u32(out_, static_cast<uint32_t>(n));
      size_t at = out_.size();
      out_.resize(at + n);
      if (n > 0) view->CopyContents(out_.data() + at, n);
    } else if (value->IsArray()) {
      Local<Array> array = value.As<Array>();
      if (!enter(array, r)) return false;
      uint32_t n = array->Length();
      out_.push_back(kArray);
      put_u32(out_, n);
      TryCatch tc(isolate_);
      for (uint32_t i = 0; i < n; i++) {
        Local<Value> item;
        if (!array->Get(context_, i).ToLocal(&item)) {
          return refuse(r, "an array with an unreadable element");
        }
        if (!encode(item, r)) {
          r.path.push_back("[" + std::to_string(i) + "]");
          return false;
        }
      }
      ancestors_.pop_back();
    } else if (value->IsProxy()) {
      return refuse(r, "a Proxy");
    } else if (value->IsObject()) {
      Local<Object> object = value.As<Object>();
      Local<Value> proto = object->GetPrototype();
      if (!proto->IsNull() && !proto->StrictEquals(object_proto_)) {
        return refuse(r, describe_instance(object));
      }
      if (!enter(object, r)) return false;
      Local<Array> keys;
      TryCatch tc(isolate_);
      if (!object
               ->GetOwnPropertyNames(context_, static_cast<PropertyFilter>(ONLY_ENUMERABLE | SKIP_SYMBOLS),
                                     KeyConversionMode::kConvertToString)
               .ToLocal(&keys)) {
        return refuse(r, "an object with an unreadable key");
      }
      uint32_t n = keys->Length();
      out_.push_back(kObject);
      put_u32(out_, n);
      for (uint32_t i = 0; i < n; i++) {
        Local<Value> key;
        Local<Value> item;
        if (!keys->Get(context_, i).ToLocal(&key) || !key->IsString()) {
          return refuse(r, "an object with an unreadable key");
        }
        if (!object->Get(context_, key).ToLocal(&item)) {
          return refuse(r, "an object whose property getter threw");
        }
        put_js_str(isolate_, out_, key.As<String>());
        if (!encode(item, r)) {
          r.path.push_back("." + utf8(isolate_, key.As<String>()));
          return false;
        }
      }
      ancestors_.pop_back();
    } else {
      return refuse(r, "an engine-internal value");
    }
    return true;
  }

  Isolate* isolate_;
  Local<Context> context_;
  Local<Object> object_proto_;
  std::string& out_;
  std::vector<Local<Object>> ancestors_;
};

// ---- wire decoding ---------------------------------------------------------

class Decoder {
 public:
  Decoder(Isolate* isolate, Local<Context> context, const uint8_t* data, size_t len)
      : isolate_(isolate), context_(context), p_(data), end_(data + len) {}

  // Empty (with an exception pending, or none for malformed input) on failure.
  MaybeLocal<Value> value() {
    uint8_t tag;
    if (!byte(tag)) return {};
    switch (tag) {
      case kUndefined:
        return Undefined(isolate_);
      case kNull:
        return Null(isolate_);
      case kFalse:
        return False(isolate_);
      case kTrue:
        return True(isolate_);
      case kNumber: {
        double d;
        if (end_ - p_ < 8) return {};
        std::memcpy(&d, p_, 8);
        p_ += 8;
        return Number::New(isolate_, d);
      }
      case kBigInt: {
        const char* s;
        uint32_t n;
        if (!bytes(s, n)) return {};
        return bigint(std::string(s, n));
      }
      case kString: {
        const char* s;
        uint32_t n;
        if (!bytes(s, n)) return {};
        Local<String> str;
        if (!String::NewFromUtf8(isolate_, s, NewStringType::kNormal, static_cast<int>(n)).ToLocal(&str)) {
          return {};
        }
        return str;
      }
      case kBytes: {
        const char* s;
        uint32_t n;
        if (!bytes(s, n)) return {};
        // ArrayBuffer::New aborts the process when allocation fails: check
        // the isolate's budget first and throw like `new ArrayBuffer` would.
        PyroIsolate* pi = self(isolate_);
        if (!pi->allocator->Fits(n)) {
          pi->allocator->refused_.store(true);
          isolate_->ThrowException(Exception::RangeError(String::NewFromUtf8Literal(isolate_, "Array buffer allocation failed")));
          return {};
        }
        Local<ArrayBuffer> buffer = ArrayBuffer::New(isolate_, n);
        if (n > 0) std::memcpy(buffer->GetBackingStore()->Data(), s, n);
        return Uint8Array::New(buffer, 0, n);
      }
      case kArray: {
        uint32_t n;
        if (!u32(n)) return {};
        Local<Array> array = Array::New(isolate_, 0);
        for (uint32_t i = 0; i < n; i++) {
          Local<Value> item;
          if (!value().ToLocal(&item)) return {};
          if (array->Set(context_, i, item).IsNothing()) return {};
        }
        return array;
      }
      case kObject: {
        uint32_t n;
        if (!u32(n)) return {};
        Local<Object> object = Object::New(isolate_);
        for (uint32_t i = 0; i < n; i++) {
          const char* s;
          uint32_t len;
          if (!bytes(s, len)) return {};
          Local<String> key;
          Local<Value> item;
          if (!String::NewFromUtf8(isolate_, s, NewStringType::kNormal, static_cast<int>(len)).ToLocal(&key)) {
            return {};
          }
          if (!value().ToLocal(&item)) return {};
          // Define, not set: "__proto__" must become an own property.
          if (object->CreateDataProperty(context_, key, item).IsNothing()) return {};
        }
        return object;
      }
      case kJson: {
        const char* s;
        uint32_t n;
        if (!bytes(s, n)) return {};
        Local<String> text;
        if (!String::NewFromUtf8(isolate_, s, NewStringType::kNormal, static_cast<int>(n)).ToLocal(&text)) {
          return {};
        }
        return JSON::Parse(context_, text);
      }
      default:
        return {};
    }
  }

 private:
  bool byte(uint8_t& b) {
    if (p_ >= end_) return false;
    b = *p_++;
    return true;
  }
  bool u32(uint32_t& v) {
    if (end_ - p_ < 4) return false;
    std::memcpy(&v, p_, 4);
    p_ += 4;
    return true;
  }
  bool bytes(const char*& s, uint32_t& n) {
    if (!u32(n) || static_cast<size_t>(end_ - p_) < n) return false;
    s = reinterpret_cast<const char*>(p_);
    p_ += n;
    return true;
  }

  // Decimal digits (canonical, optional '-') to a BigInt.
  MaybeLocal<Value> bigint(const std::string& text) {
    bool negative = !text.empty() && text[0] == '-';
    std::vector<uint64_t> words;  // little-endian base 2^64
    for (size_t i = negative ? 1 : 0; i < text.size(); i++) {
      char c = text[i];
      if (c < '0' || c > '9') return {};
      unsigned __int128 carry = static_cast<unsigned>(c - '0');
      for (auto& w : words) {
        unsigned __int128 acc = static_cast<unsigned __int128>(w) * 10 + carry;
        w = static_cast<uint64_t>(acc);
        carry = acc >> 64;
      }
      if (carry != 0) words.push_back(static_cast<uint64_t>(carry));
    }
    if (words.empty()) words.push_back(0);
    Local<BigInt> b;
    if (!BigInt::NewFromWords(context_, negative ? 1 : 0, static_cast<int>(words.size()), words.data()).ToLocal(&b)) {
      return {};
    }
    return b;
  }

  Isolate* isolate_;
  Local<Context> context_;
  const uint8_t* p_;
  const uint8_t* end_;
};

// ---- errors ----------------------------------------------------------------

std::string string_prop(Isolate* isolate, Local<Context> context, Local<Object> o, const char* name,
                        bool* present) {
  TryCatch tc(isolate);
  Local<Value> v;
  *present = false;
  Local<String> key;
  if (String::NewFromUtf8(isolate, name).ToLocal(&key) && o->Get(context, key).ToLocal(&v) && v->IsString()) {
    *present = true;
    return utf8(isolate, v.As<String>());
  }
  return std::string();
}

// An exception as a wire object {name, message, stack?, file?, line?}.
void error_record(PyroIsolate* p, Local<Context> context, Local<Value> exception, Local<Message> message,
                  std::string& out) {
  Isolate* isolate = p->isolate;
  std::string name = "Error", text, stack;
  bool has_stack = false;
  bool named = false;
  if (!exception.IsEmpty() && exception->IsObject()) {
    Local<Object> o = exception.As<Object>();
    bool has_name, has_message;
    std::string n = string_prop(isolate, context, o, "name", &has_name);
    std::string m = string_prop(isolate, context, o, "message", &has_message);
    if (has_name || has_message) {
      named = true;
      if (has_name) name = n;
      text = m;
      stack = string_prop(isolate, context, o, "stack", &has_stack);
      has_stack = has_stack && !stack.empty();
    }
  }
  if (!named) {
    TryCatch tc(isolate);
    Local<String> s;
    std::string printed = "<unprintable value>";
    if (!exception.IsEmpty() && exception->ToString(context).ToLocal(&s)) printed = utf8(isolate, s);
    text = "Uncaught " + printed;
  }
  uint32_t fields = 2 + (has_stack ? 1 : 0);
  std::string file;
  int line = 0;
  if (!message.IsEmpty()) {
    Local<Value> resource = message->GetScriptResourceName();
    if (!resource.IsEmpty() && resource->IsString()) {
      file = utf8(isolate, resource.As<String>());
      line = message->GetLineNumber(context).FromMaybe(0);
      fields += 2;
    }
  }
  out.push_back(kObject);
  put_u32(out, fields);
  put_str(out, "name");
  out.push_back(kString);
  put_str(out, name);
  put_str(out, "message");
  out.push_back(kString);
  put_str(out, text);
  if (has_stack) {
    put_str(out, "stack");
    out.push_back(kString);
    put_str(out, stack);
  }
  if (fields > 2 + (has_stack ? 1 : 0)) {
    put_str(out, "file");
    out.push_back(kString);
    put_str(out, file);
    put_str(out, "line");
    out.push_back(kNumber);
    double d = line;
    char b[8];
    std::memcpy(b, &d, 8);
    out.append(b, 8);
  }
}

enum Status : int32_t {
  kOk = 0,
  kException = 1,  // p->out holds an error record
  kTerminated = 2,
  kUnsettled = 3,  // a module's top-level await never settled
};

Status caught(PyroIsolate* p, Local<Context> context, TryCatch& tc) {
  p->out.clear();
  if (tc.HasTerminated() || p->isolate->IsExecutionTerminating()) return kTerminated;
  error_record(p, context, tc.Exception(), tc.Message(), p->out);
  return kException;
}

// ---- host operations -------------------------------------------------------

void host_callback(const FunctionCallbackInfo<Value>& info) {
  Isolate* isolate = info.GetIsolate();
  PyroIsolate* p = self(isolate);
  Local<Context> context = isolate->GetCurrentContext();
  uint32_t op = info.Data().As<Uint32>()->Value();
  std::string args;
  args.push_back(kArray);
  put_u32(args, static_cast<uint32_t>(info.Length()));
  Encoder encoder(isolate, context, p->object_proto.Get(isolate), args);
  for (int i = 0; i < info.Length(); i++) encoder.top(info[i]);
  if (isolate->IsExecutionTerminating()) return;
  const uint8_t* out = nullptr;
  size_t out_len = 0;
  int32_t rc = p->host_fn(p->host_state, op, reinterpret_cast<const uint8_t*>(args.data()), args.size(), &out, &out_len);
  if (rc == 0) {
    Decoder decoder(isolate, context, out, out_len);
    Local<Value> result;
    if (decoder.value().ToLocal(&result)) info.GetReturnValue().Set(result);
    return;
  }
  Local<String> message;
  if (!String::NewFromUtf8(isolate, reinterpret_cast<const char*>(out), NewStringType::kNormal,
                           static_cast<int>(out_len))
           .ToLocal(&message)) {
    return;
  }
  switch (rc) {
    case 1:
      isolate->ThrowException(Exception::TypeError(message));
      break;
    case 2:
      isolate->ThrowException(Exception::RangeError(message));
      break;
    default:
      isolate->ThrowException(Exception::Error(message));
      break;
  }
}

// ---- modules ---------------------------------------------------------------

const std::string* module_name(PyroIsolate* p, Local<Module> module) {
  for (auto& entry : p->modules) {
    if (entry.second.Get(p->isolate) == module) return &entry.first;
  }
  return nullptr;
}

MaybeLocal<Module> compile_module(PyroIsolate* p, const std::string& name, const char* source, size_t len) {
  Isolate* isolate = p->isolate;
  for (auto& entry : p->modules) {
    if (entry.first == name) return entry.second.Get(isolate);
  }
  Local<String> text;
  Local<String> resource;
  if (!String::NewFromUtf8(isolate, source, NewStringType::kNormal, static_cast<int>(len)).ToLocal(&text) ||
      !String::NewFromUtf8(isolate, name.data(), NewStringType::kNormal, static_cast<int>(name.size()))
           .ToLocal(&resource)) {
    return {};
  }
  ScriptOrigin origin(isolate, resource, 0, 0, false, -1, Local<Value>(), false, false, true);
  std::string key = cache_key(name, source, len);
  std::shared_ptr<const std::string> code = cached_code(key);
  auto* cached = code ? new ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(code->data()),
                                                        static_cast<int>(code->size()))
                      : nullptr;
  ScriptCompiler::Source src(text, origin, cached);
  Local<Module> module;
  if (!ScriptCompiler::CompileModule(isolate, &src,
                                     code ? ScriptCompiler::kConsumeCodeCache : ScriptCompiler::kNoCompileOptions)
           .ToLocal(&module)) {
    return {};
  }
  if (code && src.GetCachedData()->rejected) drop_code(key);
  p->modules.emplace_back(name, Global<Module>(isolate, module));
  p->uncached.push_back(code && !src.GetCachedData()->rejected ? std::string() : key);
  return module;
}

// Asks Rust where `name` imported from `base` is. Throws (and returns
// false) if it is nowhere.
bool resolve_name(PyroIsolate* p, const std::string& base, const std::string& name, std::string& specifier,
                  PyroStr& source) {
  PyroStr spec{nullptr, 0};
  source = PyroStr{nullptr, 0};
  int32_t rc = p->resolve_fn(p->resolve_state, PyroStr{base.data(), base.size()}, PyroStr{name.data(), name.size()},
                             &spec, &source);
  if (rc != 0) {
    Local<String> message;
    if (String::NewFromUtf8(p->isolate, spec.ptr, NewStringType::kNormal, static_cast<int>(spec.len))
            .ToLocal(&message)) {
      p->isolate->ThrowException(Exception::Error(message));
    }
    return false;
  }
  specifier.assign(spec.ptr, spec.len);
  return true;
}

// Compiles a module and, depth first, everything it imports, so that
// instantiation only looks modules up: an exception thrown while compiling
// inside V8's resolve callback would not propagate correctly.
MaybeLocal<Module> compile_graph(PyroIsolate* p, const std::string& name, const char* source, size_t len) {
  for (auto& entry : p->modules) {
    if (entry.first == name) return entry.second.Get(p->isolate);
  }
  Local<Module> module;
  if (!compile_module(p, name, source, len).ToLocal(&module)) return {};
  Local<Context> context = p->isolate->GetCurrentContext();
  Local<FixedArray> requests = module->GetModuleRequests();
  for (int i = 0; i < requests->Length(); i++) {
    Local<ModuleRequest> request = requests->Get(context, i).As<ModuleRequest>();
    std::string specifier;
    PyroStr src;
    if (!resolve_name(p, name, utf8(p->isolate, request->GetSpecifier()), specifier, src) ||
        compile_graph(p, specifier, src.ptr, src.len).IsEmpty()) {
      return {};
    }
  }
  return module;
}

// Instantiation's resolve callback: every module was compiled beforehand.
MaybeLocal<Module> resolve_module(Local<Context> context, Local<String> specifier, Local<FixedArray>,
                                  Local<Module> referrer) {
  Isolate* isolate = context->GetIsolate();
  PyroIsolate* p = self(isolate);
  const std::string* base = module_name(p, referrer);
  std::string resolved;
  PyroStr source;
  if (!resolve_name(p, base ? *base : std::string(), utf8(isolate, specifier), resolved, source)) return {};
  for (auto& entry : p->modules) {
    if (entry.first == resolved) return entry.second.Get(isolate);
  }
  isolate->ThrowException(Exception::Error(String::NewFromUtf8Literal(isolate, "module was not compiled")));
  return {};
}

MaybeLocal<Promise> dynamic_import(Local<Context> context, Local<Data>, Local<Value> resource_name,
                                   Local<String> specifier, Local<FixedArray>) {
  Isolate* isolate = context->GetIsolate();
  PyroIsolate* p = self(isolate);
  Local<Promise::Resolver> resolver;
  if (!Promise::Resolver::New(context).ToLocal(&resolver)) return {};
  std::string base = resource_name->IsString() ? utf8(isolate, resource_name.As<String>()) : std::string();
  TryCatch tc(isolate);
  Local<Module> module;
  Local<Value> evaluated;
  std::string resolved;
  PyroStr source;
  if (resolve_name(p, base, utf8(isolate, specifier), resolved, source) &&
      compile_graph(p, resolved, source.ptr, source.len).ToLocal(&module) &&
      module->InstantiateModule(context, resolve_module).FromMaybe(false) &&
      module->Evaluate(context).ToLocal(&evaluated)) {
    // The module's own evaluation promise settles before ours: resolve
    // with the namespace once it has.
    if (evaluated->IsPromise() && evaluated.As<Promise>()->State() == Promise::kRejected) {
      if (resolver->Reject(context, evaluated.As<Promise>()->Result()).IsNothing()) return {};
    } else {
      if (resolver->Resolve(context, module->GetModuleNamespace()).IsNothing()) return {};
    }
  } else if (tc.HasCaught() && !tc.HasTerminated()) {
    if (resolver->Reject(context, tc.Exception()).IsNothing()) return {};
  } else {
    return {};
  }
  return resolver->GetPromise();
}

// How far past its limit a terminated isolate's heap may grow while V8
// unwinds: the limit again plus this much. JavaScript stops at the next
// function entry or loop back-edge; only a builtin that loops in C++
// without checking for termination (Array.prototype.fill over a huge
// holey array, say) can use the room up, and V8 then aborts the process
// with an out-of-memory error (see oom_error): V8 offers no way to stop it.
constexpr size_t kUnwindSlack = 64u << 20;

size_t near_heap_limit(void* data, size_t current, size_t initial) {
  PyroIsolate* p = static_cast<PyroIsolate*>(data);
  p->heap_exhausted.store(true);
  p->isolate->TerminateExecution();
  size_t cap = 2 * initial + kUnwindSlack;
  if (current >= cap) return current;
  return std::min(cap, current + std::max(current / 2, static_cast<size_t>(16u << 20)));
}

void oom_error(const char* location, bool is_heap) {
  fprintf(stderr,
          "pyrosome: fatal: a V8 isolate ran out of memory inside %s (%s) and could not be stopped: "
          "a builtin kept allocating past the isolate's heap limit without checking for termination. "
          "V8 aborts the process here; the QuickJS engine does not have this failure mode.\n",
          location ? location : "V8", is_heap ? "heap" : "process");
  fflush(stderr);
}

struct Enter {
  explicit Enter(PyroIsolate* p)
      : locker(p->isolate), isolate_scope(p->isolate), handles(p->isolate), context(p->context.Get(p->isolate)),
        context_scope(context) {}
  Locker locker;
  Isolate::Scope isolate_scope;
  HandleScope handles;
  Local<Context> context;
  Context::Scope context_scope;
};

void settle(PyroIsolate* p) {
  if (!p->isolate->IsExecutionTerminating()) p->isolate->PerformMicrotaskCheckpoint();
  while (platform::PumpMessageLoop(g_platform.get(), p->isolate)) {
  }
}

// A new isolate and context, not yet bound to a host. nullptr if V8 could
// not create them.
PyroIsolate* create_unbound(size_t heap_limit) {
  auto* p = new PyroIsolate();
  p->allocator = new LimitedAllocator(heap_limit);
  p->heap_limit = heap_limit;
  Isolate::CreateParams params;
  params.array_buffer_allocator = p->allocator;
  params.constraints.ConfigureDefaultsFromHeapSize(0, heap_limit);
  p->isolate = Isolate::New(params);
  p->isolate->SetData(0, p);
  p->isolate->SetMicrotasksPolicy(MicrotasksPolicy::kExplicit);
  p->isolate->AddNearHeapLimitCallback(near_heap_limit, p);
  p->isolate->SetOOMErrorHandler(oom_error);
  p->isolate->SetHostImportModuleDynamicallyCallback(dynamic_import);
  {
    Locker locker(p->isolate);
    Isolate::Scope isolate_scope(p->isolate);
    HandleScope handles(p->isolate);
    Local<Context> context = Context::New(p->isolate);
    if (context.IsEmpty()) {
      // Leave the scopes before disposing.
    } else {
      p->context.Reset(p->isolate, context);
      Context::Scope context_scope(context);
      Local<Value> object;
      Local<Value> proto;
      if (context->Global()->Get(context, String::NewFromUtf8Literal(p->isolate, "Object")).ToLocal(&object) &&
          object->IsObject() &&
          object.As<Object>()->Get(context, String::NewFromUtf8Literal(p->isolate, "prototype")).ToLocal(&proto) &&
          proto->IsObject()) {
        p->object_proto.Reset(p->isolate, proto.As<Object>());
      }
    }
  }
  if (p->context.IsEmpty() || p->object_proto.IsEmpty()) {
    p->context.Reset();
    p->isolate->Dispose();
    delete p->allocator;
    delete p;
    return nullptr;
  }
  return p;
}

// ---- isolate pool ------------------------------------------------------------
//
// Isolate::New and Context::New are most of an isolate's start (~2.4 of
// ~3 ms). A background thread keeps a few ready per heap limit, so a start
// on the scheduler's path only binds the host, runs the prelude (from the
// code cache) and loads the modules. Its state is never freed: the thread
// outlives every static destructor.

constexpr size_t kPoolTarget = 2;

struct Pool {
  std::mutex mu;
  std::condition_variable wake;
  std::unordered_map<size_t, std::vector<PyroIsolate*>> ready;  // by heap limit
  bool started = false;
  // Process exit: V8's globals are torn down by static destructors, so the
  // refill thread must not be inside V8 then. `stop_pool` (atexit) sets
  // `stopping` and waits until `creating` is false.
  bool stopping = false;
  bool creating = false;
};

void stop_pool();

Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

void refill() {
  Pool& pl = pool();
  std::unique_lock<std::mutex> lock(pl.mu);
  for (;;) {
    size_t limit = 0;
    bool found = false;
    for (auto& entry : pl.ready) {
      if (entry.second.size() < kPoolTarget) {
        limit = entry.first;
        found = true;
        break;
      }
    }
    if (pl.stopping) {
      pl.wake.wait(lock);  // forever: the process is exiting
      continue;
    }
    if (!found) {
      pl.wake.wait(lock);
      continue;
    }
    pl.creating = true;
    lock.unlock();
    PyroIsolate* p = create_unbound(limit);
    lock.lock();
    pl.creating = false;
    pl.wake.notify_all();
    if (p == nullptr) {
      // V8 could not create one (out of memory?): try again later.
      pl.wake.wait_for(lock, std::chrono::milliseconds(100));
      continue;
    }
    pl.ready[limit].push_back(p);
  }
}

void stop_pool() {
  Pool& pl = pool();
  std::unique_lock<std::mutex> lock(pl.mu);
  pl.stopping = true;
  pl.wake.wait(lock, [&] { return !pl.creating; });
}

// A ready isolate for this heap limit, or nullptr; asks for a refill.
PyroIsolate* take_ready(size_t heap_limit) {
  Pool& pl = pool();
  std::lock_guard<std::mutex> lock(pl.mu);
  if (!pl.started && !pl.stopping) {
    pl.started = true;
    std::atexit(stop_pool);
    std::thread(refill).detach();
  }
  auto& ready = pl.ready[heap_limit];
  PyroIsolate* p = nullptr;
  if (!ready.empty()) {
    p = ready.back();
    ready.pop_back();
  }
  pl.wake.notify_one();
  return p;
}

}  // namespace

extern "C" {

// Initializes V8 once per process. Returns the V8 version string.
const char* pyro_v8_init() {
  std::call_once(g_init, [] {
    // On-stack replacement compiles a hot loop while it runs; V8 10.2's OSR
    // code runs 3-10x slower on a thread whose stack is not the creating
    // thread's, and Pyrosome's workers always are such threads
    // (bench/v8-thread-tierup.cc). Without OSR, a hot function is
    // optimized for its next call instead, at full speed on any thread.
    static const char kFlags[] = "--no-use-osr";
    V8::SetFlagsFromString(kFlags, sizeof(kFlags) - 1);
    V8::InitializeICU();
    g_platform = platform::NewDefaultPlatform(1);
    V8::InitializePlatform(g_platform.get());
    V8::Initialize();
  });
  return V8::GetVersion();
}

PyroIsolate* pyro_isolate_new(size_t heap_limit, PyroHostFn host_fn, void* host_state, PyroResolveFn resolve_fn,
                              void* resolve_state) {
  PyroIsolate* p = take_ready(heap_limit);
  if (p == nullptr) p = create_unbound(heap_limit);
  if (p == nullptr) return nullptr;
  p->host_fn = host_fn;
  p->host_state = host_state;
  p->resolve_fn = resolve_fn;
  p->resolve_state = resolve_state;
  return p;
}

void pyro_isolate_free(PyroIsolate* p) {
  {
    Locker locker(p->isolate);
    p->context.Reset();
    p->object_proto.Reset();
    p->invoke.Reset();
    p->reply.Reset();
    p->timer.Reset();
    p->set_module.Reset();
    p->modules.clear();
    p->uncached.clear();
  }
  p->isolate->Dispose();
  delete p->allocator;
  delete p;
}

// Thread-safe: stops the JavaScript running in `p` as soon as possible.
void pyro_isolate_terminate(PyroIsolate* p) { p->isolate->TerminateExecution(); }

// The result buffer of the last call (error record, exports).
PyroStr pyro_isolate_output(PyroIsolate* p) { return PyroStr{p->out.data(), p->out.size()}; }

// Bytes of JavaScript heap plus ArrayBuffer memory in use.
size_t pyro_isolate_heap_used(PyroIsolate* p) {
  Locker locker(p->isolate);
  HeapStatistics stats;
  p->isolate->GetHeapStatistics(&stats);
  return stats.used_heap_size() + p->allocator->used();
}

// Whether the heap or ArrayBuffer limit was hit since the last call.
int32_t pyro_isolate_take_exhausted(PyroIsolate* p) {
  bool heap = p->heap_exhausted.exchange(false);
  bool buffers = p->allocator->refused_.exchange(false);
  return heap || buffers ? 1 : 0;
}

// Runs the prelude: a script evaluating to `function (host)` that returns
// the dispatcher. `ops` is the host operations' names, '\0'-separated; op
// i becomes host[name_i] calling the host function with index i.
int32_t pyro_isolate_boot(PyroIsolate* p, PyroStr prelude, PyroStr service, PyroStr ops) {
  Enter e(p);
  Isolate* isolate = p->isolate;
  TryCatch tc(isolate);
  Local<Object> host = Object::New(isolate);
  Local<String> service_name;
  if (!String::NewFromUtf8(isolate, service.ptr, NewStringType::kNormal, static_cast<int>(service.len))
           .ToLocal(&service_name) ||
      host->Set(e.context, String::NewFromUtf8Literal(isolate, "service"), service_name).IsNothing()) {
    return caught(p, e.context, tc);
  }
  uint32_t index = 0;
  size_t start = 0;
  for (size_t i = 0; i <= ops.len; i++) {
    if (i < ops.len && ops.ptr[i] != '\0') continue;
    if (i > start) {
      Local<String> name;
      Local<Function> fn;
      if (!String::NewFromUtf8(isolate, ops.ptr + start, NewStringType::kInternalized, static_cast<int>(i - start))
               .ToLocal(&name) ||
          !Function::New(e.context, host_callback, Integer::NewFromUnsigned(isolate, index), 0,
                         ConstructorBehavior::kThrow)
               .ToLocal(&fn)) {
        return caught(p, e.context, tc);
      }
      fn->SetName(name);
      if (host->Set(e.context, name, fn).IsNothing()) return caught(p, e.context, tc);
      index++;
    }
    start = i + 1;
  }
  Local<String> source;
  if (!String::NewFromUtf8(isolate, prelude.ptr, NewStringType::kNormal, static_cast<int>(prelude.len))
           .ToLocal(&source)) {
    return caught(p, e.context, tc);
  }
  ScriptOrigin origin(isolate, String::NewFromUtf8Literal(isolate, "pyrosome:prelude"));
  std::string key = cache_key("pyrosome:prelude", prelude.ptr, prelude.len);
  std::shared_ptr<const std::string> code = cached_code(key);
  auto* cached = code ? new ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(code->data()),
                                                        static_cast<int>(code->size()))
                      : nullptr;
  ScriptCompiler::Source src(source, origin, cached);
  Local<Script> script;
  Local<Value> function;
  Local<Value> dispatcher;
  Local<Value> argv[] = {host};
  if (!ScriptCompiler::Compile(e.context, &src,
                               code ? ScriptCompiler::kConsumeCodeCache : ScriptCompiler::kNoCompileOptions)
           .ToLocal(&script) ||
      !script->Run(e.context).ToLocal(&function) ||
      !function->IsFunction() ||
      !function.As<Function>()->Call(e.context, Undefined(isolate), 1, argv).ToLocal(&dispatcher) ||
      !dispatcher->IsObject()) {
    return caught(p, e.context, tc);
  }
  settle(p);
  if (code && src.GetCachedData()->rejected) {
    drop_code(key);
  } else if (!code) {
    store_code(key, ScriptCompiler::CreateCodeCache(script->GetUnboundScript()));
  }
  const char* names[] = {"invoke", "reply", "timer", "setModule"};
  Global<Function>* slots[] = {&p->invoke, &p->reply, &p->timer, &p->set_module};
  for (int i = 0; i < 4; i++) {
    Local<Value> fn;
    Local<String> key;
    if (!String::NewFromUtf8(isolate, names[i]).ToLocal(&key) ||
        !dispatcher.As<Object>()->Get(e.context, key).ToLocal(&fn) ||
        !fn->IsFunction()) {
      return caught(p, e.context, tc);
    }
    slots[i]->Reset(isolate, fn.As<Function>());
  }
  return kOk;
}

// Compiles, links and evaluates a module (and what it imports), then hands
// its namespace to the dispatcher's setModule when `entry` is set. On kOk,
// the output is {methods: [exported function names], hasFetch}.
int32_t pyro_isolate_load(PyroIsolate* p, PyroStr specifier, PyroStr source, int32_t entry) {
  Enter e(p);
  Isolate* isolate = p->isolate;
  TryCatch tc(isolate);
  Local<Module> module;
  Local<Value> evaluated;
  std::string name(specifier.ptr, specifier.len);
  if (!compile_graph(p, name, source.ptr, source.len).ToLocal(&module) ||
      !module->InstantiateModule(e.context, resolve_module).FromMaybe(false) ||
      !module->Evaluate(e.context).ToLocal(&evaluated)) {
    return caught(p, e.context, tc);
  }
  settle(p);
  if (isolate->IsExecutionTerminating()) return kTerminated;
  if (evaluated->IsPromise()) {
    Local<Promise> promise = evaluated.As<Promise>();
    if (promise->State() == Promise::kPending) return kUnsettled;
    if (promise->State() == Promise::kRejected) {
      p->out.clear();
      error_record(p, e.context, promise->Result(), Exception::CreateMessage(isolate, promise->Result()), p->out);
      return kException;
    }
  }
  // Now that the modules ran, their caches include what ran.
  for (size_t i = 0; i < p->modules.size(); i++) {
    if (p->uncached[i].empty()) continue;
    Local<Module> m = p->modules[i].second.Get(isolate);
    if (m->GetStatus() == Module::kEvaluated) {
      store_code(p->uncached[i], ScriptCompiler::CreateCodeCache(m->GetUnboundModuleScript()));
    }
    p->uncached[i].clear();
  }
  p->out.clear();
  if (!entry) return kOk;
  Local<Object> ns = module->GetModuleNamespace().As<Object>();
  Local<Array> keys;
  if (!ns->GetOwnPropertyNames(e.context, static_cast<PropertyFilter>(ONLY_ENUMERABLE | SKIP_SYMBOLS))
           .ToLocal(&keys)) {
    return caught(p, e.context, tc);
  }
  std::vector<std::string> methods;
  bool has_fetch = false;
  for (uint32_t i = 0; i < keys->Length(); i++) {
    Local<Value> key;
    Local<Value> value;
    if (!keys->Get(e.context, i).ToLocal(&key) || !key->IsString() || !ns->Get(e.context, key).ToLocal(&value)) {
      return caught(p, e.context, tc);
    }
    std::string k = utf8(isolate, key.As<String>());
    if (k == "default") {
      Local<Value> fetch;
      has_fetch = value->IsObject() &&
                  value.As<Object>()->Get(e.context, String::NewFromUtf8Literal(isolate, "fetch")).ToLocal(&fetch) &&
                  fetch->IsFunction();
      tc.Reset();
    } else if (value->IsFunction() && k.rfind('@', 0) != 0) {
      methods.push_back(k);
    }
  }
  Local<Value> argv[] = {ns};
  if (p->set_module.Get(isolate)->Call(e.context, Undefined(isolate), 1, argv).IsEmpty()) {
    return caught(p, e.context, tc);
  }
  p->out.clear();
  p->out.push_back(kObject);
  put_u32(p->out, 2);
  put_str(p->out, "methods");
  p->out.push_back(kArray);
  put_u32(p->out, static_cast<uint32_t>(methods.size()));
  for (auto& m : methods) {
    p->out.push_back(kString);
    put_str(p->out, m);
  }
  put_str(p->out, "hasFetch");
  p->out.push_back(has_fetch ? kTrue : kFalse);
  return kOk;
}

// Calls a dispatcher function, then runs microtasks until none is left:
// which = 0 invoke(id, method, value), 1 reply(id, ok, value), 2 timer(id).
int32_t pyro_isolate_dispatch(PyroIsolate* p, uint32_t which, double id, PyroStr method, int32_t ok,
                              const uint8_t* value, size_t value_len) {
  Enter e(p);
  Isolate* isolate = p->isolate;
  TryCatch tc(isolate);
  Local<Value> argv[3];
  int argc = 1;
  argv[0] = Number::New(isolate, id);
  Local<Function> fn;
  if (which == 2) {
    fn = p->timer.Get(isolate);
  } else {
    Local<Value> arg;
    if (!Decoder(isolate, e.context, value, value_len).value().ToLocal(&arg)) {
      if (tc.HasCaught()) return caught(p, e.context, tc);
      p->out.clear();
      error_record(p, e.context, Exception::Error(String::NewFromUtf8Literal(isolate, "malformed value from the host")),
                   Local<Message>(), p->out);
      return kException;
    }
    argc = 3;
    argv[2] = arg;
    if (which == 0) {
      fn = p->invoke.Get(isolate);
      if (!String::NewFromUtf8(isolate, method.ptr, NewStringType::kNormal, static_cast<int>(method.len))
               .ToLocal(&argv[1])) {
        return caught(p, e.context, tc);
      }
    } else {
      fn = p->reply.Get(isolate);
      argv[1] = Boolean::New(isolate, ok != 0);
    }
  }
  Status status = kOk;
  if (fn->Call(e.context, Undefined(isolate), argc, argv).IsEmpty()) {
    status = caught(p, e.context, tc);
    tc.Reset();
  }
  settle(p);
  if (isolate->IsExecutionTerminating() || tc.HasTerminated()) return kTerminated;
  return status;
}

}  // extern "C"
