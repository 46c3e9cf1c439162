// shim.cc — the V8 backend's C++ half: a minimal C ABI over V8 (Debian's
// libnode, V8 10.2) that src/engine/v8/ffi.rs declares and wraps.
//
// The shim knows nothing of Pyrosome's semantics beyond the rules for
// cloning values. It owns the V8 isolate, its context, the compiled modules
// and the dispatcher functions the shared bootstrap returns, and it moves
// values across the seam in one binary format ("wire"; src/engine/wire.rs
// has the authoritative description):
//
//   0 undefined · 1 null · 2 false · 3 true · 4 number (f64 LE)
//   5 bigint (u32 len, decimal digits, optional '-')
//   6 string (u32 len, UTF-8) · 7 bytes (u32 len, raw)
//   8 array (u32 count, items) · 9 object (u32 count, (u32 len, key, value)*)
//   10 refused (u32 count, path segments innermost first, then what was
//      found; each a u32 len + UTF-8) — a value that cannot be cloned.
//   11 JSON text (Rust to shim only) · 12 string (u32 len, Latin-1)
//   13 string (u32 len in code units, UTF-16LE)
//
// Values are converted by the codec (src/engine/v8/codec.js), JavaScript
// that the shim runs before anything else in every isolate and that V8's JIT
// compiles; its C++ half is here (kindOf, copyBytes, the splice, the lister,
// per-key-list constructors). The conversion rules mirror the QuickJS
// backend (src/engine/quickjs/convert.rs): plain objects, arrays,
// Uint8Array and primitives; anything else is "refused" with the path to it.
//
// Every host operation (the `host.*` functions the bootstrap calls) is a
// codec function that encodes its arguments and calls hostCall with the
// operation's index; hostCall calls the Rust function given at creation and
// hands back what Rust returns (or throws the error Rust names).
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
#include <limits>
#include <set>
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
  kLatin1 = 12,
  kUtf16 = 13,
};

// ---- the platform ------------------------------------------------------------
//
// V8's default platform, with one addition: it keeps track, per isolate, of
// the tasks V8 has posted to the isolate's thread and that have not run
// yet, so that the shim pumps an isolate's message loop after an event
// only when a task is due (pumping costs two mutexes, a map lookup and a
// clock read, on every event; V8 nearly always has a delayed task waiting).

double now_seconds();

// What waits in one isolate's task runner: tasks due now, and the due times
// of delayed ones.
struct Waiting {
  std::atomic<int64_t> now{0};
  std::mutex mu;
  std::multiset<double> delayed;
  // The earliest due time in `delayed` (infinity if none), readable
  // without the lock.
  std::atomic<double> earliest{std::numeric_limits<double>::infinity()};

  void add_delayed(double due) {
    std::lock_guard<std::mutex> lock(mu);
    delayed.insert(due);
    earliest.store(*delayed.begin());
  }
  void remove_delayed(double due) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = delayed.find(due);
    if (it != delayed.end()) delayed.erase(it);
    earliest.store(delayed.empty() ? std::numeric_limits<double>::infinity() : *delayed.begin());
  }
  // Whether a task is due (or may be: a due time is a lower bound).
  bool due() {
    if (now.load() > 0) return true;
    double at = earliest.load();
    return at != std::numeric_limits<double>::infinity() && now_seconds() >= at;
  }
};

// A task, counted while it waits.
class CountedTask final : public Task {
 public:
  // `due` < 0: a task due now.
  CountedTask(std::unique_ptr<Task> task, std::shared_ptr<Waiting> waiting, double due)
      : task_(std::move(task)), waiting_(std::move(waiting)), due_(due) {
    if (due_ < 0) {
      waiting_->now.fetch_add(1);
    } else {
      waiting_->add_delayed(due_);
    }
  }
  ~CountedTask() override {
    if (due_ < 0) {
      waiting_->now.fetch_sub(1);
    } else {
      waiting_->remove_delayed(due_);
    }
  }
  void Run() override { task_->Run(); }

 private:
  std::unique_ptr<Task> task_;
  std::shared_ptr<Waiting> waiting_;
  double due_;
};

// An isolate's foreground task runner, keeping track of what waits in it.
class CountingTaskRunner final : public TaskRunner {
 public:
  explicit CountingTaskRunner(std::shared_ptr<TaskRunner> inner) : inner_(std::move(inner)) {}

  void PostTask(std::unique_ptr<Task> task) override { inner_->PostTask(count(std::move(task), -1)); }
  void PostNonNestableTask(std::unique_ptr<Task> task) override {
    inner_->PostNonNestableTask(count(std::move(task), -1));
  }
  void PostDelayedTask(std::unique_ptr<Task> task, double delay) override {
    inner_->PostDelayedTask(count(std::move(task), now_seconds() + delay), delay);
  }
  void PostNonNestableDelayedTask(std::unique_ptr<Task> task, double delay) override {
    inner_->PostNonNestableDelayedTask(count(std::move(task), now_seconds() + delay), delay);
  }
  void PostIdleTask(std::unique_ptr<IdleTask> task) override { inner_->PostIdleTask(std::move(task)); }
  bool IdleTasksEnabled() override { return inner_->IdleTasksEnabled(); }
  bool NonNestableTasksEnabled() const override { return inner_->NonNestableTasksEnabled(); }
  bool NonNestableDelayedTasksEnabled() const override { return inner_->NonNestableDelayedTasksEnabled(); }

  // Whether a task is due.
  bool due() const { return waiting_->due(); }

 private:
  std::unique_ptr<Task> count(std::unique_ptr<Task> task, double due) {
    return std::make_unique<CountedTask>(std::move(task), waiting_, due);
  }
  std::shared_ptr<TaskRunner> inner_;
  std::shared_ptr<Waiting> waiting_ = std::make_shared<Waiting>();
};

class PyroPlatform final : public Platform {
 public:
  explicit PyroPlatform(std::unique_ptr<Platform> inner) : inner_(std::move(inner)) {}

  // The default platform, for libplatform's functions (PumpMessageLoop).
  Platform* inner() { return inner_.get(); }

  std::shared_ptr<TaskRunner> GetForegroundTaskRunner(Isolate* isolate) override { return runner(isolate); }

  std::shared_ptr<CountingTaskRunner> runner(Isolate* isolate) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = runners_[isolate];
    if (!slot) slot = std::make_shared<CountingTaskRunner>(inner_->GetForegroundTaskRunner(isolate));
    return slot;
  }

  // Before an isolate is disposed: forget its task runner (and drop what
  // waits in it), so that a later isolate at the same address starts with
  // a runner of its own.
  void shutdown(Isolate* isolate) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      runners_.erase(isolate);
    }
    platform::NotifyIsolateShutdown(inner_.get(), isolate);
  }

  PageAllocator* GetPageAllocator() override { return inner_->GetPageAllocator(); }
  void OnCriticalMemoryPressure() override { inner_->OnCriticalMemoryPressure(); }
  bool OnCriticalMemoryPressure(size_t length) override { return inner_->OnCriticalMemoryPressure(length); }
  int NumberOfWorkerThreads() override { return inner_->NumberOfWorkerThreads(); }
  void CallOnWorkerThread(std::unique_ptr<Task> task) override { inner_->CallOnWorkerThread(std::move(task)); }
  void CallBlockingTaskOnWorkerThread(std::unique_ptr<Task> task) override {
    inner_->CallBlockingTaskOnWorkerThread(std::move(task));
  }
  void CallLowPriorityTaskOnWorkerThread(std::unique_ptr<Task> task) override {
    inner_->CallLowPriorityTaskOnWorkerThread(std::move(task));
  }
  void CallDelayedOnWorkerThread(std::unique_ptr<Task> task, double delay) override {
    inner_->CallDelayedOnWorkerThread(std::move(task), delay);
  }
  bool IdleTasksEnabled(Isolate* isolate) override { return inner_->IdleTasksEnabled(isolate); }
  std::unique_ptr<JobHandle> PostJob(TaskPriority priority, std::unique_ptr<JobTask> job_task) override {
    return inner_->PostJob(priority, std::move(job_task));
  }
  double MonotonicallyIncreasingTime() override { return inner_->MonotonicallyIncreasingTime(); }
  double CurrentClockTimeMillis() override { return inner_->CurrentClockTimeMillis(); }
  StackTracePrinter GetStackTracePrinter() override { return inner_->GetStackTracePrinter(); }
  TracingController* GetTracingController() override { return inner_->GetTracingController(); }
  void DumpWithoutCrashing() override { inner_->DumpWithoutCrashing(); }

 private:
  std::unique_ptr<Platform> inner_;
  std::mutex mu_;
  std::unordered_map<Isolate*, std::shared_ptr<CountingTaskRunner>> runners_;
};

std::unique_ptr<PyroPlatform> g_platform;
std::once_flag g_init;

// The platform's clock, in seconds (as task delays are given).
double now_seconds() { return g_platform->MonotonicallyIncreasingTime(); }

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

// Key-list constructors (compile_shape) cached per process, at most: the
// modules are a fixed set, the key lists of the values an app sends need
// not be.
constexpr size_t kMaxShapeCodes = 4096;
std::atomic<size_t> g_shape_codes{0};

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

// ---- decoding tables, per isolate ----------------------------------------------

// Object keys as internalized strings, by their UTF-8 bytes: a decoded
// object's keys are mostly the same few, and V8 internalizes every key it
// stores anyway. Direct-mapped; a collision replaces the entry.
class KeyCache {
 public:
  MaybeLocal<String> get(Isolate* isolate, const char* s, uint32_t n) {
    if (n > kMaxKeyBytes) return String::NewFromUtf8(isolate, s, NewStringType::kInternalized, static_cast<int>(n));
    if (entries_.empty()) entries_.resize(kEntries);
    Entry& e = entries_[hash(s, n) & (kEntries - 1)];
    if (!e.key.IsEmpty() && e.bytes.size() == n && std::memcmp(e.bytes.data(), s, n) == 0) return e.key.Get(isolate);
    Local<String> key;
    if (!String::NewFromUtf8(isolate, s, NewStringType::kInternalized, static_cast<int>(n)).ToLocal(&key)) return {};
    e.bytes.assign(s, n);
    e.key.Reset(isolate, key);
    return key;
  }
  void clear() {
    for (auto& e : entries_) e.key.Reset();
  }

 private:
  // Keys longer than this are rare and not cached.
  static constexpr uint32_t kMaxKeyBytes = 64;
  static constexpr size_t kEntries = 256;
  struct Entry {
    std::string bytes;
    Global<String> key;
  };
  static uint32_t hash(const char* s, uint32_t n) {
    uint32_t h = 2166136261u ^ n;
    for (uint32_t i = 0; i < n; i++) h = (h ^ static_cast<uint8_t>(s[i])) * 16777619u;
    return h ^ (h >> 15);
  }
  std::vector<Entry> entries_;  // allocated on first use
};

// Instructions in a decoding list: codec.js's symbols I_ARRAY, I_OBJECT,
// I_SHAPE, in this order in PyroIsolate::instructions.
enum Instruction : int32_t {
  kIArray = 0,
  kIObject = 1,
  kIShape = 2,
  kInstructions = 3,
};

// A key of an object being decoded: its UTF-8 bytes, or (`utf16`, a key
// with a lone surrogate) its UTF-16LE code units, `n` bytes of them.
struct KeyRef {
  const char* s;
  uint32_t n;
  bool utf16 = false;
};

// Set in a key's length in the wire format: the key is UTF-16 code units
// (it holds a lone surrogate); the rest of the length counts them
// (src/engine/wire.rs KEY_UTF16).
constexpr uint32_t kKeyUtf16 = 1u << 31;

// An object being built key by key (codec.js I_OBJECT): the list slot that
// will hold where its keys are, and where its keys are in `generic_keys`.
struct GenericObject {
  size_t slot;
  size_t first_key;
  size_t n;
};

// Key lists of decoded objects. A key list seen kCompileAfter times gets a
// constructor compiled for it (codec.js, I_SHAPE): `return {"a": v(), ...}`,
// which V8 builds from a boilerplate with the final hidden class, several
// times faster than adding the properties one by one. A constructor costs
// ~4 us (from the code cache) and saves a few tenths of a microsecond per
// object: it pays off for key lists that keep coming. Bounded: at most
// kMaxCtors constructors and kEntries remembered key lists per isolate;
// past that, objects are built key by key.
class Shapes {
 public:
  static constexpr uint32_t kCompileAfter = 16;
  static constexpr uint32_t kMaxKeys = 64;
  static constexpr int32_t kMaxCtors = 256;

  // What to do with an object of these keys: a constructor index (>= 0),
  // kNone (build key by key), or kCompile (compile one now, then `set`).
  static constexpr int32_t kNone = -1;
  static constexpr int32_t kCompile = -2;

  int32_t lookup(const KeyRef* keys, size_t n, size_t* slot) {
    if (n == 0 || n > kMaxKeys) return kNone;
    if (entries_.empty()) entries_.resize(kEntries);
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t i = 0; i < n; i++) h = mix(h, keys[i].s, keys[i].n);
    size_t mask = kEntries - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Entry& e = entries_[i];
      if (!e.used) {
        if (used_ >= kEntries * 3 / 4) return kNone;
        e.used = true;
        e.hash = h;
        for (size_t k = 0; k < n; k++) {
          uint32_t len = keys[k].n;
          e.keys.append(reinterpret_cast<const char*>(&len), 4);
          e.keys.append(keys[k].s, len);
        }
        e.count = n;
        e.seen = 1;
        used_++;
        return kNone;
      }
      if (e.hash != h || e.count != n || !same(e.keys, keys, n)) continue;
      if (e.ctor >= 0 || e.ctor == kFailed) return e.ctor >= 0 ? e.ctor : kNone;
      if (++e.seen < kCompileAfter || ctors_ >= kMaxCtors) return kNone;
      *slot = i;
      return kCompile;
    }
  }

  // The outcome of a kCompile: the new constructor's index, or -1.
  int32_t set(size_t slot, bool compiled) {
    Entry& e = entries_[slot];
    e.ctor = compiled ? ctors_++ : kFailed;
    return e.ctor;
  }

  int32_t next_ctor() const { return ctors_; }

 private:
  static constexpr size_t kEntries = 512;
  static constexpr int32_t kFailed = -3;
  struct Entry {
    bool used = false;
    uint64_t hash = 0;
    size_t count = 0;
    std::string keys;  // (u32 length, bytes)*
    int32_t ctor = -1;
    uint32_t seen = 0;
  };
  // Mixes a key into the hash from its length and its first and last
  // eight bytes: cheap, and enough to tell key lists apart (a match is
  // confirmed by comparing the whole keys).
  static uint64_t mix(uint64_t h, const char* s, uint32_t n) {
    uint64_t head = 0;
    uint64_t tail = 0;
    if (n >= 8) {
      std::memcpy(&head, s, 8);
      std::memcpy(&tail, s + n - 8, 8);
    } else {
      for (uint32_t i = 0; i < n; i++) head |= static_cast<uint64_t>(static_cast<uint8_t>(s[i])) << (8 * i);
    }
    h = (h ^ head ^ (static_cast<uint64_t>(n) << 56)) * 0xff51afd7ed558ccdull;
    h = (h ^ tail ^ (h >> 31)) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
  }
  static bool same(const std::string& stored, const KeyRef* keys, size_t n) {
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
      uint32_t len;
      if (stored.size() - at < 4) return false;
      std::memcpy(&len, stored.data() + at, 4);
      at += 4;
      if (len != keys[k].n || stored.size() - at < len || std::memcmp(stored.data() + at, keys[k].s, len) != 0) {
        return false;
      }
      at += len;
    }
    return at == stored.size();
  }
  std::vector<Entry> entries_;  // allocated on first use
  size_t used_ = 0;
  int32_t ctors_ = 0;
};

// A thread that has run an isolate, holding a Locker it never releases with
// an Unlocker inside it (see park()). Neither is ever destroyed: their
// memory goes with the isolate.
struct Parked {
  std::thread::id thread;
  alignas(Locker) unsigned char locker[sizeof(Locker)];
  alignas(Unlocker) unsigned char unlocker[sizeof(Unlocker)];
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
  // The codec (codec.js): deliver(fn, a, b, list), and the constructors
  // compiled per key list.
  Global<Function> deliver;
  Global<Array> ctors;
  KeyCache keys;
  Shapes shapes;
  // Scratch, reused by every host call and event (never across JavaScript).
  std::unique_ptr<uint8_t[]> args;   // a host call's arguments, wire-encoded
  size_t args_cap = 0;
  std::vector<uint8_t> chars1;       // the codec's string characters, one-byte
  std::vector<uint16_t> chars2;      // ... or two-byte
  std::vector<std::string> side;     // large Uint8Arrays' bytes (copy_bytes)
  size_t side_bytes = 0;
  std::vector<Local<Value>> items;   // a decoding list being made
  std::vector<KeyRef> keyrefs;       // keys of the objects being listed
  std::vector<KeyRef> generic_keys;  // ... of those built key by key
  std::vector<GenericObject> generic;
  Global<Symbol> instructions[kInstructions];
  // The threads that have entered this isolate (see park()).
  std::vector<std::unique_ptr<Parked>> parked;
  // Its foreground task runner (see PyroPlatform).
  std::shared_ptr<CountingTaskRunner> runner;
};

namespace {

PyroIsolate* self(Isolate* isolate) { return static_cast<PyroIsolate*>(isolate->GetData(0)); }

// ---- wire writing ----------------------------------------------------------

void put_u32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

void put_str(std::string& out, const std::string& s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
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

// ---- the codec's C++ half (codec.js) --------------------------------------

// What kindOf answers for an object (codec.js K_*).
enum Kind : int32_t {
  kPlain = 0,
  kIsArray = 1,
  kIsBytes = 2,
  kIsPromise = 3,
  kIsProxy = 4,
  kInstance = 5,
  kOther = 6,
};


// A host call's argument buffer larger than this is freed after the call.
constexpr size_t kKeptArgsBytes = 1 << 20;

// Uint8Arrays from this size on are copied outside the isolate while a
// value is encoded (copy_bytes); in the encoding, their length is
// kSideBytes (no Uint8Array that crosses is that long) and an index follows.
constexpr size_t kSideMin = 64 << 10;
constexpr uint32_t kSideBytes = UINT32_MAX;

// Nesting the shim's own recursion accepts: the codec's MAX_DEPTH (plus the
// arguments array) for what it encodes, generously more for values Rust
// made; deeper input is refused rather than risking the native stack.
constexpr size_t kMaxWireDepth = 1024;

// Turns what codec.js's encoder wrote -- the wire format with every
// string's characters left out and kept, in order, in one JavaScript string
// (see codec.js) -- into wire bytes: value strings as Latin-1 (tag 12) when
// every code unit fits a byte, else UTF-16 (tag 13, lone surrogates kept);
// keys as UTF-8, or as UTF-16 (kKeyUtf16) if they hold a lone surrogate;
// BigInt digits and refusal texts as UTF-8 (lone surrogates become U+FFFD). Writes at most bound(len, nchars) bytes to `out`; `run` returns
// how many, or -1 if the bytes do not parse (a bug).
class Splice {
 public:
  Splice(const uint8_t* data, size_t len, const uint8_t* one, const uint16_t* two, size_t nchars,
         const std::vector<std::string>& side, uint8_t* out)
      : p_(data), end_(data + len), one_(one), two_(two), nchars_(nchars), side_(side), out_(out), o_(out) {}

  // Every byte of the encoding and of the bytes kept aside is copied at
  // most once, and each character becomes at most three bytes (UTF-8 of a
  // UTF-16 unit).
  static size_t bound(size_t len, size_t nchars, size_t side_bytes) { return len + 3 * nchars + side_bytes; }

  ptrdiff_t run() { return value(0) && p_ == end_ && at_ == nchars_ ? o_ - out_ : -1; }

 private:
  bool u32(uint32_t& v) {
    if (end_ - p_ < 4) return false;
    std::memcpy(&v, p_, 4);
    p_ += 4;
    return true;
  }
  void put8(uint8_t b) { *o_++ = b; }
  void put32(uint32_t v) {
    std::memcpy(o_, &v, 4);
    o_ += 4;
  }

  // Reserves the next n characters; false if there are not that many.
  bool chars(uint32_t n, size_t& from) {
    if (nchars_ - at_ < n) return false;
    from = at_;
    at_ += n;
    return true;
  }

  // A value string: tag, length, characters.
  bool string() {
    uint32_t n;
    size_t from;
    if (!u32(n) || !chars(n, from)) return false;
    if (one_ != nullptr) {
      put8(kLatin1);
      put32(n);
      std::memcpy(o_, one_ + from, n);
      o_ += n;
      return true;
    }
    const uint16_t* s = two_ + from;
    uint16_t any = 0;
    for (uint32_t i = 0; i < n; i++) any |= s[i];
    if (any < 256) {
      put8(kLatin1);
      put32(n);
      for (uint32_t i = 0; i < n; i++) o_[i] = static_cast<uint8_t>(s[i]);
      o_ += n;
    } else {
      put8(kUtf16);
      put32(n);
      for (uint32_t i = 0; i < n; i++) {
        o_[2 * i] = static_cast<uint8_t>(s[i] & 0xFF);
        o_[2 * i + 1] = static_cast<uint8_t>(s[i] >> 8);
      }
      o_ += 2 * static_cast<size_t>(n);
    }
    return true;
  }

  // Length and characters as UTF-8: byte length, bytes.
  bool text() {
    uint32_t n;
    size_t from;
    if (!u32(n) || !chars(n, from)) return false;
    uint8_t* len_at = o_;
    o_ += 4;
    if (one_ != nullptr) {
      const uint8_t* s = one_ + from;
      uint8_t any = 0;
      for (uint32_t i = 0; i < n; i++) any |= s[i];
      if (any < 0x80) {
        std::memcpy(o_, s, n);
        o_ += n;
      } else {
        for (uint32_t i = 0; i < n; i++) {
          if (s[i] < 0x80) {
            put8(s[i]);
          } else {
            put8(static_cast<uint8_t>(0xC0 | (s[i] >> 6)));
            put8(static_cast<uint8_t>(0x80 | (s[i] & 0x3F)));
          }
        }
      }
    } else {
      const uint16_t* s = two_ + from;
      for (uint32_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
          c = 0x10000 + ((c - 0xD800) << 10) + (s[i + 1] - 0xDC00);
          i++;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
          c = 0xFFFD;
        }
        if (c < 0x80) {
          put8(static_cast<uint8_t>(c));
        } else if (c < 0x800) {
          put8(static_cast<uint8_t>(0xC0 | (c >> 6)));
          put8(static_cast<uint8_t>(0x80 | (c & 0x3F)));
        } else if (c < 0x10000) {
          put8(static_cast<uint8_t>(0xE0 | (c >> 12)));
          put8(static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F)));
          put8(static_cast<uint8_t>(0x80 | (c & 0x3F)));
        } else {
          put8(static_cast<uint8_t>(0xF0 | (c >> 18)));
          put8(static_cast<uint8_t>(0x80 | ((c >> 12) & 0x3F)));
          put8(static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F)));
          put8(static_cast<uint8_t>(0x80 | (c & 0x3F)));
        }
      }
    }
    uint32_t len = static_cast<uint32_t>(o_ - len_at - 4);
    std::memcpy(len_at, &len, 4);
    return true;
  }

  // An object's key: UTF-8 as text() writes it, unless it holds a lone
  // surrogate (only possible when the characters are two-byte): then its
  // code units, the count with kKeyUtf16 set.
  bool key() {
    if (one_ != nullptr) return text();
    const uint8_t* p = p_;
    size_t at = at_;
    uint32_t n;
    size_t from;
    if (!u32(n) || !chars(n, from)) return false;
    const uint16_t* s = two_ + from;
    bool lone = false;
    for (uint32_t i = 0; i < n && !lone; i++) {
      uint16_t c = s[i];
      if ((c & 0xF800) != 0xD800) continue;
      if (c <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
        i++;
      } else {
        lone = true;
      }
    }
    if (!lone) {
      p_ = p;
      at_ = at;
      return text();
    }
    put32(kKeyUtf16 | n);
    for (uint32_t i = 0; i < n; i++) {
      o_[2 * i] = static_cast<uint8_t>(s[i] & 0xFF);
      o_[2 * i + 1] = static_cast<uint8_t>(s[i] >> 8);
    }
    o_ += 2 * static_cast<size_t>(n);
    return true;
  }

  bool value(size_t depth) {
    if (p_ >= end_ || depth > kMaxWireDepth) return false;
    uint8_t tag = *p_++;
    uint32_t n;
    switch (tag) {
      case kUndefined:
      case kNull:
      case kFalse:
      case kTrue:
        put8(tag);
        return true;
      case kNumber:
        if (end_ - p_ < 8) return false;
        put8(kNumber);
        std::memcpy(o_, p_, 8);
        o_ += 8;
        p_ += 8;
        return true;
      case kBigInt:
        put8(kBigInt);
        return text();
      case kLatin1:
        return string();
      case kBytes:  // written whole by copyBytes, or kept aside
        if (!u32(n)) return false;
        if (n == kSideBytes) {
          uint32_t index;
          if (!u32(index) || index >= side_.size()) return false;
          const std::string& bytes = side_[index];
          put8(kBytes);
          put32(static_cast<uint32_t>(bytes.size()));
          std::memcpy(o_, bytes.data(), bytes.size());
          o_ += bytes.size();
          return true;
        }
        if (static_cast<size_t>(end_ - p_) < n) return false;
        put8(kBytes);
        put32(n);
        std::memcpy(o_, p_, n);
        o_ += n;
        p_ += n;
        return true;
      case kArray:
        if (!u32(n)) return false;
        put8(kArray);
        put32(n);
        for (uint32_t i = 0; i < n; i++) {
          if (!value(depth + 1)) return false;
        }
        return true;
      case kObject:
        if (!u32(n)) return false;
        put8(kObject);
        put32(n);
        for (uint32_t i = 0; i < n; i++) {
          if (!key() || !value(depth + 1)) return false;
        }
        return true;
      case kRefused:
        if (!u32(n)) return false;
        put8(kRefused);
        put32(n);
        for (uint32_t i = 0; i <= n; i++) {  // the segments, then what was found
          if (!text()) return false;
        }
        return true;
      default:
        return false;
    }
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* one_;
  const uint16_t* two_;
  size_t nchars_;
  size_t at_ = 0;
  const std::vector<std::string>& side_;
  uint8_t* out_;
  uint8_t* o_;
};

// Decimal digits (canonical, optional '-') to a BigInt.
MaybeLocal<Value> bigint(Local<Context> context, const char* text, size_t len) {
  bool negative = len > 0 && text[0] == '-';
  std::vector<uint64_t> words;  // little-endian base 2^64
  for (size_t i = negative ? 1 : 0; i < len; i++) {
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
  if (!BigInt::NewFromWords(context, negative ? 1 : 0, static_cast<int>(words.size()), words.data()).ToLocal(&b)) {
    return {};
  }
  return b;
}

bool compile_shape(PyroIsolate* p, Local<Context> context, const KeyRef* keys, size_t n);

// Wire bytes to what codec.js builds a value from: a primitive (or a
// string, BigInt, Uint8Array, JSON-parsed value) stands for itself; any
// other value becomes a flat list of instructions and leaves (see codec.js).
class Lister {
 public:
  Lister(PyroIsolate* p, Local<Context> context, const uint8_t* data, size_t len);

  // The value: `*list` false means it is `*out` as it is; true means `*out`
  // is a list for codec.js's build. False with an exception pending, or
  // without one for malformed bytes.
  bool top(Local<Value>* out, bool* list);

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
  template <typename T>
  bool leaf(MaybeLocal<T> v) {
    Local<T> value;
    if (!v.ToLocal(&value)) return false;
    items_.push_back(value);
    return true;
  }
  bool value(size_t depth);
  bool finish_object(size_t op, size_t first_key);
  bool list_generic_keys();

  PyroIsolate* p_isolate_;
  Isolate* isolate_;
  Local<Context> context_;
  const uint8_t* p_;
  const uint8_t* end_;
  std::vector<Local<Value>>& items_;
  std::vector<KeyRef>& keys_;
  Local<Value> instr_[kInstructions];
};

// ---- natives the codec calls ------------------------------------------------

// kindOf(object): what an object is, for the clone rules (codec.js K_*):
// the checks JavaScript cannot make without running the object's traps.
void kind_of(const FunctionCallbackInfo<Value>& info) {
  // The kinds exclude one another: the most frequent are asked first.
  Local<Value> v = info[0];
  int32_t kind = kOther;
  if (v->IsArray()) {
    kind = kIsArray;
  } else if (v->IsProxy()) {
    kind = kIsProxy;
  } else if (v->IsPromise()) {
    kind = kIsPromise;
  } else if (v->IsUint8Array()) {
    kind = kIsBytes;
  } else if (v->IsObject()) {
    Local<Value> proto = v.As<Object>()->GetPrototype();
    kind = proto->IsNull() || self(info.GetIsolate())->object_proto == proto ? kPlain : kInstance;
  }
  info.GetReturnValue().Set(kind);
}

void internal_error(Isolate* isolate, const char* what) {
  Local<String> message;
  if (String::NewFromUtf8(isolate, what).ToLocal(&message)) isolate->ThrowException(Exception::Error(message));
}

// The bytes of a view's ArrayBuffer, from its offset.
uint8_t* view_data(Local<ArrayBufferView> view) {
  auto* data = static_cast<uint8_t*>(view->Buffer()->Data());
  return data == nullptr ? nullptr : data + view->ByteOffset();
}

// copyBytes(view, out, pos): writes a Uint8Array's wire encoding (tag 7,
// length, bytes) into `out` at `pos` and returns where it ends, or, if it
// does not fit, minus the size `out` would need. The bytes are copied now,
// as the walk reaches the view (a getter read later may change them). A
// large view's bytes are kept outside the isolate instead (`p->side`; in
// `out` only the tag, kSideBytes and an index): `out` counts against the
// isolate's memory limit, and a value close to it must still cross.
void copy_bytes(const FunctionCallbackInfo<Value>& info) {
  Isolate* isolate = info.GetIsolate();
  PyroIsolate* p = self(isolate);
  if (info.Length() < 3 || !info[0]->IsUint8Array() || !info[1]->IsUint8Array() || !info[2]->IsUint32()) {
    return internal_error(isolate, "internal error: copyBytes(view, out, pos)");
  }
  Local<Uint8Array> view = info[0].As<Uint8Array>();
  Local<Uint8Array> out = info[1].As<Uint8Array>();
  size_t pos = info[2].As<Uint32>()->Value();
  size_t n = view->ByteLength();
  if (n >= kSideBytes) {
    isolate->ThrowException(Exception::RangeError(
        String::NewFromUtf8Literal(isolate, "a Uint8Array of 4 GiB or more cannot be passed between services")));
    return;
  }
  bool side = n >= kSideMin;
  size_t need = pos + (side ? 9 : 5 + n);
  uint8_t* data = view_data(out);
  if (need > out->ByteLength() || data == nullptr) {
    info.GetReturnValue().Set(-static_cast<double>(need));
    return;
  }
  data[pos] = kBytes;
  if (side) {
    uint32_t index = static_cast<uint32_t>(p->side.size());
    p->side.emplace_back(n, '\0');
    view->CopyContents(p->side.back().data(), n);
    p->side_bytes += n;
    std::memcpy(data + pos + 1, &kSideBytes, 4);
    std::memcpy(data + pos + 5, &index, 4);
  } else {
    uint32_t len = static_cast<uint32_t>(n);
    std::memcpy(data + pos + 1, &len, 4);
    if (n > 0) view->CopyContents(data + pos + 5, n);
  }
  info.GetReturnValue().Set(static_cast<double>(need));
}

// Hands the codec's answer for a wire value to JavaScript: a primitive as
// it is, or a list for build.
void answer(PyroIsolate* p, Local<Context> context, const uint8_t* data, size_t len, ReturnValue<Value> rv) {
  Local<Value> value;
  bool list = false;
  bool ok;
  {
    TryCatch tc(p->isolate);
    ok = Lister(p, context, data, len).top(&value, &list);
    if (tc.HasTerminated()) return;
    if (!ok && tc.HasCaught()) {
      tc.ReThrow();
      return;
    }
  }
  if (!ok) {
    if (!p->isolate->IsExecutionTerminating()) internal_error(p->isolate, "malformed value from the host");
    return;
  }
  rv.Set(value);
}

// hostCall(index, out, start, end, chars): host operation `index` with the
// arguments codec.js encoded into out[start, end) and `chars`. Returns what
// Rust answered (see answer()) or throws the error Rust names.
void host_call(const FunctionCallbackInfo<Value>& info) {
  Isolate* isolate = info.GetIsolate();
  PyroIsolate* p = self(isolate);
  Local<Context> context = isolate->GetCurrentContext();
  if (info.Length() < 5 || !info[0]->IsUint32() || !info[1]->IsUint8Array() || !info[2]->IsUint32() ||
      !info[3]->IsUint32() || !info[4]->IsString()) {
    return internal_error(isolate, "internal error: hostCall(index, out, start, end, chars)");
  }
  uint32_t op = info[0].As<Uint32>()->Value();
  Local<Uint8Array> view = info[1].As<Uint8Array>();
  size_t start = info[2].As<Uint32>()->Value();
  size_t end = info[3].As<Uint32>()->Value();
  const uint8_t* data = view_data(view);
  if (data == nullptr || start > end || end > view->ByteLength()) {
    return internal_error(isolate, "internal error: hostCall outside its buffer");
  }
  Local<String> chars = info[4].As<String>();
  size_t nchars = static_cast<size_t>(chars->Length());
  const uint8_t* one = nullptr;
  const uint16_t* two = nullptr;
  if (chars->IsOneByte()) {
    p->chars1.resize(nchars);
    if (nchars > 0) {
      chars->WriteOneByte(isolate, p->chars1.data(), 0, static_cast<int>(nchars), String::NO_NULL_TERMINATION);
    }
    one = p->chars1.data();
  } else {
    p->chars2.resize(nchars);
    chars->Write(isolate, p->chars2.data(), 0, static_cast<int>(nchars), String::NO_NULL_TERMINATION);
    two = p->chars2.data();
  }
  size_t bound = Splice::bound(end - start, nchars, p->side_bytes);
  if (bound > p->args_cap) {
    p->args.reset(new uint8_t[bound]);
    p->args_cap = bound;
  }
  ptrdiff_t len = Splice(data + start, end - start, one, two, nchars, p->side, p->args.get()).run();
  // The outermost encoding (at the start of `out`) is done with the bytes
  // kept aside, its own and any an abandoned encoding left.
  if (start == 0) {
    p->side.clear();
    p->side_bytes = 0;
  }
  if (len < 0) return internal_error(isolate, "internal error: the codec's encoding does not parse");
  const uint8_t* out = nullptr;
  size_t out_len = 0;
  int32_t rc = p->host_fn(p->host_state, op, p->args.get(), static_cast<size_t>(len), &out, &out_len);
  // A huge value's buffers are not kept.
  if (p->args_cap > kKeptArgsBytes) {
    p->args.reset();
    p->args_cap = 0;
  }
  if (p->chars1.capacity() > kKeptArgsBytes) std::vector<uint8_t>().swap(p->chars1);
  if (p->chars2.capacity() > kKeptArgsBytes / 2) std::vector<uint16_t>().swap(p->chars2);
  if (rc == 0) return answer(p, context, out, out_len, info.GetReturnValue());
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

// ---- Lister ---------------------------------------------------------------------

Lister::Lister(PyroIsolate* p, Local<Context> context, const uint8_t* data, size_t len)
    : p_isolate_(p),
      isolate_(p->isolate),
      context_(context),
      p_(data),
      end_(data + len),
      items_(p->items),
      keys_(p->keyrefs) {
  for (int32_t i = 0; i < kInstructions; i++) instr_[i] = p->instructions[i].Get(isolate_);
}

bool Lister::top(Local<Value>* out, bool* list) {
  items_.clear();
  keys_.clear();
  p_isolate_->generic_keys.clear();
  p_isolate_->generic.clear();
  if (p_ >= end_) return false;
  uint8_t tag = *p_;
  if (tag != kArray && tag != kObject) {
    // A primitive, string, BigInt, Uint8Array or JSON text stands for
    // itself; only an object must be wrapped in a list (codec.js builds
    // every object it is handed).
    if (!value(0) || p_ != end_ || items_.size() != 1) return false;
    *out = items_.back();
    *list = items_.back()->IsObject();
    if (*list) *out = Array::New(isolate_, items_.data(), items_.size());
    items_.clear();
    return true;
  }
  if (!value(0) || p_ != end_ || !list_generic_keys()) return false;
  *out = Array::New(isolate_, items_.data(), items_.size());
  *list = true;
  items_.clear();
  return true;
}

// The keys of the objects built key by key go after the value: [n, key...]
// each, found through the slot after the object's I_OBJECT.
bool Lister::list_generic_keys() {
  for (const GenericObject& g : p_isolate_->generic) {
    items_[g.slot] = Integer::NewFromUnsigned(isolate_, static_cast<uint32_t>(items_.size()));
    items_.push_back(Integer::NewFromUnsigned(isolate_, static_cast<uint32_t>(g.n)));
    for (size_t i = 0; i < g.n; i++) {
      const KeyRef& k = p_isolate_->generic_keys[g.first_key + i];
      Local<String> key;
      if (k.utf16) {
        // The wire's code units may be unaligned: copy them out.
        std::vector<uint16_t>& units = p_isolate_->chars2;
        units.resize(k.n / 2);
        if (k.n > 0) std::memcpy(units.data(), k.s, k.n);
        if (!String::NewFromTwoByte(isolate_, units.data(), NewStringType::kInternalized,
                                    static_cast<int>(units.size()))
                 .ToLocal(&key)) {
          return false;
        }
      } else if (!p_isolate_->keys.get(isolate_, k.s, k.n).ToLocal(&key)) {
        return false;
      }
      items_.push_back(key);
    }
  }
  return true;
}

bool Lister::value(size_t depth) {
  uint8_t tag;
  if (!byte(tag) || depth > kMaxWireDepth) return false;
  const char* s;
  uint32_t n;
  switch (tag) {
    case kUndefined:
      items_.push_back(Undefined(isolate_));
      return true;
    case kNull:
      items_.push_back(Null(isolate_));
      return true;
    case kFalse:
      items_.push_back(False(isolate_));
      return true;
    case kTrue:
      items_.push_back(True(isolate_));
      return true;
    case kNumber: {
      double d;
      if (end_ - p_ < 8) return false;
      std::memcpy(&d, p_, 8);
      p_ += 8;
      items_.push_back(Number::New(isolate_, d));
      return true;
    }
    case kBigInt:
      return bytes(s, n) && leaf(bigint(context_, s, n));
    case kString:
      return bytes(s, n) && leaf(String::NewFromUtf8(isolate_, s, NewStringType::kNormal, static_cast<int>(n)));
    case kLatin1:
      return bytes(s, n) && leaf(String::NewFromOneByte(isolate_, reinterpret_cast<const uint8_t*>(s),
                                                        NewStringType::kNormal, static_cast<int>(n)));
    case kUtf16: {
      if (!u32(n) || static_cast<size_t>(end_ - p_) / 2 < n) return false;
      // The wire's code units may be unaligned: copy them out.
      std::vector<uint16_t>& units = p_isolate_->chars2;
      units.resize(n);
      if (n > 0) std::memcpy(units.data(), p_, 2 * static_cast<size_t>(n));
      p_ += 2 * static_cast<size_t>(n);
      return leaf(String::NewFromTwoByte(isolate_, units.data(), NewStringType::kNormal, static_cast<int>(n)));
    }
    case kBytes: {
      if (!bytes(s, n)) return false;
      // ArrayBuffer::New aborts the process when allocation fails: check
      // the isolate's budget first and throw like `new ArrayBuffer` would.
      if (!p_isolate_->allocator->Fits(n)) {
        p_isolate_->allocator->refused_.store(true);
        isolate_->ThrowException(
            Exception::RangeError(String::NewFromUtf8Literal(isolate_, "Array buffer allocation failed")));
        return false;
      }
      Local<ArrayBuffer> buffer = ArrayBuffer::New(isolate_, n);
      if (n > 0) std::memcpy(buffer->Data(), s, n);
      items_.push_back(Uint8Array::New(buffer, 0, n));
      return true;
    }
    case kArray: {
      // Every element takes at least a byte: a larger count is malformed.
      if (!u32(n) || static_cast<size_t>(end_ - p_) < n) return false;
      items_.push_back(instr_[kIArray]);
      items_.push_back(Integer::NewFromUnsigned(isolate_, n));
      for (uint32_t i = 0; i < n; i++) {
        if (!value(depth + 1)) return false;
      }
      return true;
    }
    case kObject: {
      if (!u32(n) || static_cast<size_t>(end_ - p_) / 5 < n) return false;
      size_t op = items_.size();
      size_t first_key = keys_.size();
      // I_SHAPE and its constructor, or I_OBJECT and where its keys are:
      // known once the keys are.
      items_.push_back(instr_[kIObject]);
      items_.push_back(Undefined(isolate_));
      for (uint32_t i = 0; i < n; i++) {
        uint32_t len;
        if (!u32(len)) return false;
        bool utf16 = (len & kKeyUtf16) != 0;
        if (utf16) {
          len &= ~kKeyUtf16;
          if (static_cast<size_t>(end_ - p_) / 2 < len) return false;
          len *= 2;
        }
        if (static_cast<size_t>(end_ - p_) < len) return false;
        s = reinterpret_cast<const char*>(p_);
        p_ += len;
        keys_.push_back(KeyRef{s, len, utf16});
        if (!value(depth + 1)) return false;
      }
      return finish_object(op, first_key);
    }
    case kJson: {
      Local<String> text;
      if (!bytes(s, n) ||
          !String::NewFromUtf8(isolate_, s, NewStringType::kNormal, static_cast<int>(n)).ToLocal(&text)) {
        return false;
      }
      return leaf(JSON::Parse(context_, text));
    }
    default:
      return false;
  }
}

// An object's keys are known: build it with its key list's constructor if
// there is one (compiling it now if the list is frequent), else key by key.
bool Lister::finish_object(size_t op, size_t first_key) {
  const KeyRef* keys = keys_.data() + first_key;
  size_t n = keys_.size() - first_key;
  size_t slot = 0;
  bool any_utf16 = false;
  for (size_t i = 0; i < n; i++) any_utf16 |= keys[i].utf16;
  // A key with a lone surrogate (rare): key by key, no constructor.
  int32_t ctor = any_utf16 ? Shapes::kNone : p_isolate_->shapes.lookup(keys, n, &slot);
  if (ctor == Shapes::kCompile) {
    ctor = p_isolate_->shapes.set(slot, compile_shape(p_isolate_, context_, keys, n));
  }
  if (ctor >= 0) {
    items_[op] = instr_[kIShape];
    items_[op + 1] = Integer::New(isolate_, ctor);
  } else {
    auto& generic_keys = p_isolate_->generic_keys;
    p_isolate_->generic.push_back(GenericObject{op + 1, generic_keys.size(), n});
    generic_keys.insert(generic_keys.end(), keys, keys + n);
  }
  keys_.resize(first_key);
  return true;
}

// Appends `s` (UTF-8) as a JavaScript string literal in ASCII: printable
// characters other than quotes and backslashes as they are, everything else
// as \u escapes, so no key can end the literal. False for invalid UTF-8.
bool js_string_literal(std::string& out, const char* s, uint32_t n) {
  static const char kHex[] = "0123456789abcdef";
  auto unit = [&](uint32_t u) {
    out += "\\u";
    out.push_back(kHex[(u >> 12) & 15]);
    out.push_back(kHex[(u >> 8) & 15]);
    out.push_back(kHex[(u >> 4) & 15]);
    out.push_back(kHex[u & 15]);
  };
  out.push_back('"');
  const auto* b = reinterpret_cast<const uint8_t*>(s);
  for (uint32_t i = 0; i < n;) {
    uint32_t c = b[i];
    uint32_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || n - i < len) return false;
    if (len > 1) {
      c &= 0xFF >> (len + 1);
      for (uint32_t k = 1; k < len; k++) {
        if ((b[i + k] & 0xC0) != 0x80) return false;
        c = (c << 6) | (b[i + k] & 0x3F);
      }
      static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    }
    i += len;
    if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x10000) {
      unit(c);
    } else {
      unit(0xD800 + ((c - 0x10000) >> 10));
      unit(0xDC00 + ((c - 0x10000) & 0x3FF));
    }
  }
  out.push_back('"');
  return true;
}

// Compiles `function (v) { return {k1: v(), k2: v(), ...}; }` for a key list
// and appends it to the codec's constructors. False if it cannot be
// compiled (a key that is not UTF-8); the caller then builds key by key.
bool compile_shape(PyroIsolate* p, Local<Context> context, const KeyRef* keys, size_t n) {
  Isolate* isolate = p->isolate;
  std::string source = "return {";
  for (size_t i = 0; i < n; i++) {
    // A literal "__proto__" key would set the prototype; a computed one
    // defines a property, like every other key here.
    bool proto = keys[i].n == 9 && std::memcmp(keys[i].s, "__proto__", 9) == 0;
    if (proto) source.push_back('[');
    if (!js_string_literal(source, keys[i].s, keys[i].n)) return false;
    if (proto) source.push_back(']');
    source += ": v(),\n";
  }
  source += "};";
  TryCatch tc(isolate);
  Local<String> text;
  Local<String> param = String::NewFromUtf8Literal(isolate, "v");
  if (!String::NewFromOneByte(isolate, reinterpret_cast<const uint8_t*>(source.data()), NewStringType::kNormal,
                              static_cast<int>(source.size()))
           .ToLocal(&text)) {
    return false;
  }
  // Through the process-wide code cache: the same key lists reach every
  // isolate of a service (compiling: ~11 us; from the cache: ~4 us).
  std::string key = cache_key("pyrosome:codec-shape", source.data(), source.size());
  std::shared_ptr<const std::string> code = cached_code(key);
  auto* cached = code ? new ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(code->data()),
                                                        static_cast<int>(code->size()))
                      : nullptr;
  ScriptOrigin origin(isolate, String::NewFromUtf8Literal(isolate, "pyrosome:codec-shape"));
  ScriptCompiler::Source src(text, origin, cached);
  Local<Function> ctor;
  if (!ScriptCompiler::CompileFunction(context, &src, 1, &param, 0, nullptr,
                                       code ? ScriptCompiler::kConsumeCodeCache : ScriptCompiler::kNoCompileOptions)
           .ToLocal(&ctor)) {
    return false;
  }
  if (code && src.GetCachedData()->rejected) {
    drop_code(key);
  } else if (!code && g_shape_codes.fetch_add(1) < kMaxShapeCodes) {
    store_code(key, ScriptCompiler::CreateCodeCacheForFunction(ctor));
  }
  return p->ctors.Get(isolate)->CreateDataProperty(context, p->shapes.next_ctor(), ctor).FromMaybe(false);
}

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

// At most this many threads keep a parked Locker per isolate (more than
// Pyrosome has workers); others lock the plain way.
constexpr size_t kMaxParked = 64;

// Makes the Lockers this thread takes on the isolate cheap. A top-level
// Locker makes V8 set up the thread's state for the isolate (stack limits,
// handle blocks, ...) and tear it down when it is released: a few tenths of
// a microsecond per event. A Locker nested in an Unlocker instead only
// restores the thread's state, which V8 leaves in place ("lazily
// archived") while no other thread takes the isolate. So the first entry
// from each thread takes a Locker it never releases, with an Unlocker
// inside it; every later entry from that thread is such a nested Locker.
// When another thread takes the isolate, V8 archives the first thread's
// state and restores it when that thread comes back.
bool park(PyroIsolate* p) {
  std::thread::id me = std::this_thread::get_id();
  for (auto& k : p->parked) {
    if (k->thread == me) return true;
  }
  if (p->parked.size() >= kMaxParked) return false;
  auto k = std::make_unique<Parked>();
  k->thread = me;
  new (k->locker) Locker(p->isolate);
  new (k->unlocker) Unlocker(p->isolate);
  p->parked.push_back(std::move(k));
  return true;
}

struct Enter {
  explicit Enter(PyroIsolate* p)
      : parked(park(p)), locker(p->isolate), isolate_scope(p->isolate), handles(p->isolate),
        context(p->context.Get(p->isolate)), context_scope(context) {}
  bool parked;
  Locker locker;
  Isolate::Scope isolate_scope;
  HandleScope handles;
  Local<Context> context;
  Context::Scope context_scope;
};

void settle(PyroIsolate* p) {
  if (!p->isolate->IsExecutionTerminating()) p->isolate->PerformMicrotaskCheckpoint();
  if (p->runner != nullptr && !p->runner->due()) return;
  while (platform::PumpMessageLoop(g_platform->inner(), p->isolate)) {
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
  p->runner = g_platform->runner(p->isolate);
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
    p->runner.reset();
    g_platform->shutdown(p->isolate);
    p->isolate->Dispose();
    delete p->allocator;
    delete p;
    return nullptr;
  }
  return p;
}

// Compiles a script through the process-wide code cache and runs it.
// `eager` compiles every function now, so that the cache holds them all
// (for scripts whose functions run only later). The caller stores the
// cache entry (store_cache) once what should be in it has run.
struct CachedScript {
  std::string key;
  std::shared_ptr<const std::string> code;
  Local<Script> script;
  bool rejected = false;
};

MaybeLocal<Value> run_cached(Isolate* isolate, Local<Context> context, const char* name, PyroStr source, bool eager,
                             CachedScript& cs) {
  Local<String> text;
  Local<String> resource;
  // ASCII (the codec) is copied as it is; anything else is decoded.
  bool ascii = std::all_of(source.ptr, source.ptr + source.len, [](char c) { return (c & 0x80) == 0; });
  MaybeLocal<String> made =
      ascii ? String::NewFromOneByte(isolate, reinterpret_cast<const uint8_t*>(source.ptr), NewStringType::kNormal,
                                     static_cast<int>(source.len))
            : String::NewFromUtf8(isolate, source.ptr, NewStringType::kNormal, static_cast<int>(source.len));
  if (!made.ToLocal(&text) || !String::NewFromUtf8(isolate, name).ToLocal(&resource)) {
    return {};
  }
  ScriptOrigin origin(isolate, resource);
  cs.key = cache_key(name, source.ptr, source.len);
  cs.code = cached_code(cs.key);
  auto* cached = cs.code ? new ScriptCompiler::CachedData(reinterpret_cast<const uint8_t*>(cs.code->data()),
                                                           static_cast<int>(cs.code->size()))
                         : nullptr;
  ScriptCompiler::Source src(text, origin, cached);
  ScriptCompiler::CompileOptions options = cs.code ? ScriptCompiler::kConsumeCodeCache
                                           : eager ? ScriptCompiler::kEagerCompile
                                                   : ScriptCompiler::kNoCompileOptions;
  if (!ScriptCompiler::Compile(context, &src, options).ToLocal(&cs.script)) return {};
  cs.rejected = cs.code && src.GetCachedData()->rejected;
  return cs.script->Run(context);
}

void store_cache(CachedScript& cs) {
  if (cs.rejected) {
    drop_code(cs.key);
  } else if (!cs.code) {
    store_code(cs.key, ScriptCompiler::CreateCodeCache(cs.script->GetUnboundScript()));
  }
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
    g_platform = std::make_unique<PyroPlatform>(platform::NewDefaultPlatform(1));
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
    p->deliver.Reset();
    p->ctors.Reset();
    for (auto& instruction : p->instructions) instruction.Reset();
    p->keys.clear();
    p->modules.clear();
    p->uncached.clear();
  }
  p->runner.reset();
  g_platform->shutdown(p->isolate);
  p->isolate->Dispose();
  p->parked.clear();  // their Lockers are gone with the isolate
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

// Runs the codec (codec.js, a script evaluating to `function (kindOf,
// copyBytes, hostCall)`) and then the prelude (a script evaluating to
// `function (host)` that returns the dispatcher). `ops` is the host
// operations' names, '\0'-separated; op i becomes host[name_i], the codec's
// function calling the host function with index i.
int32_t pyro_isolate_boot(PyroIsolate* p, PyroStr prelude, PyroStr service, PyroStr ops, PyroStr codec) {
  Enter e(p);
  Isolate* isolate = p->isolate;
  TryCatch tc(isolate);
  // The codec first: it captures the intrinsics it uses before any other
  // script can change them.
  CachedScript codec_script;
  Local<Value> factory;
  Local<Function> natives[3];
  Local<Value> made;
  Local<Value> host_maker;
  Local<Value> deliver;
  Local<Value> ctors;
  if (!run_cached(isolate, e.context, "pyrosome:codec", codec, true, codec_script).ToLocal(&factory) ||
      !factory->IsFunction() ||
      !Function::New(e.context, kind_of, Local<Value>(), 1, ConstructorBehavior::kThrow).ToLocal(&natives[0]) ||
      !Function::New(e.context, copy_bytes, Local<Value>(), 3, ConstructorBehavior::kThrow).ToLocal(&natives[1]) ||
      !Function::New(e.context, host_call, Local<Value>(), 5, ConstructorBehavior::kThrow).ToLocal(&natives[2])) {
    return caught(p, e.context, tc);
  }
  Local<Value> argv3[] = {natives[0], natives[1], natives[2]};
  if (!factory.As<Function>()->Call(e.context, Undefined(isolate), 3, argv3).ToLocal(&made) || !made->IsObject() ||
      !made.As<Object>()->Get(e.context, String::NewFromUtf8Literal(isolate, "host")).ToLocal(&host_maker) ||
      !host_maker->IsFunction() ||
      !made.As<Object>()->Get(e.context, String::NewFromUtf8Literal(isolate, "deliver")).ToLocal(&deliver) ||
      !deliver->IsFunction() ||
      !made.As<Object>()->Get(e.context, String::NewFromUtf8Literal(isolate, "ctors")).ToLocal(&ctors) ||
      !ctors->IsArray()) {
    return caught(p, e.context, tc);
  }
  Local<Value> instructions;
  if (!made.As<Object>()->Get(e.context, String::NewFromUtf8Literal(isolate, "instructions")).ToLocal(&instructions) ||
      !instructions->IsArray()) {
    return caught(p, e.context, tc);
  }
  for (uint32_t i = 0; i < kInstructions; i++) {
    Local<Value> symbol;
    if (!instructions.As<Array>()->Get(e.context, i).ToLocal(&symbol) || !symbol->IsSymbol()) {
      return caught(p, e.context, tc);
    }
    p->instructions[i].Reset(isolate, symbol.As<Symbol>());
  }
  store_cache(codec_script);
  p->deliver.Reset(isolate, deliver.As<Function>());
  p->ctors.Reset(isolate, ctors.As<Array>());

  // The host object, from the operations' names.
  std::vector<Local<Value>> op_names;
  size_t start = 0;
  for (size_t i = 0; i <= ops.len; i++) {
    if (i < ops.len && ops.ptr[i] != '\0') continue;
    if (i > start) {
      Local<String> name;
      if (!String::NewFromUtf8(isolate, ops.ptr + start, NewStringType::kInternalized, static_cast<int>(i - start))
               .ToLocal(&name)) {
        return caught(p, e.context, tc);
      }
      op_names.push_back(name);
    }
    start = i + 1;
  }
  Local<Value> argv1[] = {Array::New(isolate, op_names.data(), op_names.size())};
  Local<Value> host;
  Local<String> service_name;
  if (!host_maker.As<Function>()->Call(e.context, Undefined(isolate), 1, argv1).ToLocal(&host) || !host->IsObject() ||
      !String::NewFromUtf8(isolate, service.ptr, NewStringType::kNormal, static_cast<int>(service.len))
           .ToLocal(&service_name) ||
      host.As<Object>()->Set(e.context, String::NewFromUtf8Literal(isolate, "service"), service_name).IsNothing()) {
    return caught(p, e.context, tc);
  }
  CachedScript prelude_script;
  Local<Value> function;
  Local<Value> dispatcher;
  Local<Value> argv[] = {host};
  if (!run_cached(isolate, e.context, "pyrosome:prelude", prelude, false, prelude_script).ToLocal(&function) ||
      !function->IsFunction() ||
      !function.As<Function>()->Call(e.context, Undefined(isolate), 1, argv).ToLocal(&dispatcher) ||
      !dispatcher->IsObject()) {
    return caught(p, e.context, tc);
  }
  settle(p);
  store_cache(prelude_script);
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
// which = 0 invoke(id, method, value), 1 reply(id, ok, value), 2 timer(id, ok)
// (ok: the timer's invocation is still live; else it is forgotten unrun).
// An object value is built by the codec on the way: deliver(fn, id, x, list).
int32_t pyro_isolate_dispatch(PyroIsolate* p, uint32_t which, double id, PyroStr method, int32_t ok,
                              const uint8_t* value, size_t value_len) {
  Enter e(p);
  Isolate* isolate = p->isolate;
  // A termination the watchdog requested just after the previous event
  // ended is stale: this event's budget is its own.
  isolate->CancelTerminateExecution();
  TryCatch tc(isolate);
  Local<Value> argv[4];
  int argc = 1;
  argv[0] = Number::New(isolate, id);
  Local<Function> fn;
  if (which == 2) {
    fn = p->timer.Get(isolate);
    argv[1] = Boolean::New(isolate, ok != 0);
    argc = 2;
  } else {
    fn = (which == 0 ? p->invoke : p->reply).Get(isolate);
    if (which == 0) {
      // Method names are few and become property keys: internalized, cached.
      Local<String> name;
      if (!p->keys.get(isolate, method.ptr, static_cast<uint32_t>(method.len)).ToLocal(&name)) {
        return caught(p, e.context, tc);
      }
      argv[1] = name;
    } else {
      argv[1] = Boolean::New(isolate, ok != 0);
    }
    Local<Value> arg;
    bool list = false;
    if (!Lister(p, e.context, value, value_len).top(&arg, &list)) {
      if (tc.HasCaught() || tc.HasTerminated()) return caught(p, e.context, tc);
      p->out.clear();
      error_record(p, e.context, Exception::Error(String::NewFromUtf8Literal(isolate, "malformed value from the host")),
                   Local<Message>(), p->out);
      return kException;
    }
    argc = 3;
    if (list) {
      argv[3] = arg;
      argv[2] = argv[1];
      argv[1] = argv[0];
      argv[0] = fn;
      argc = 4;
      fn = p->deliver.Get(isolate);
    } else {
      argv[2] = arg;
    }
  }
  Status status = kOk;
  if (fn->Call(e.context, Undefined(isolate), argc, argv).IsEmpty()) {
    status = caught(p, e.context, tc);
    tc.Reset();
  }
  settle(p);
  if (isolate->IsExecutionTerminating() || tc.HasTerminated()) {
    // Every JavaScript frame has unwound: the isolate may run again (a run
    // stopped for its CPU budget fails only its own invocation).
    isolate->CancelTerminateExecution();
    return kTerminated;
  }
  return status;
}

}  // extern "C"
