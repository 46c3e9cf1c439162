// V8 10.2 (Debian's libnode, the V8 of the `v8` feature) outside Pyrosome:
// JavaScript that first runs -- and so is optimized -- on a thread other
// than the one that created the isolate gets slower optimized code for
// calls to Math builtins (Math.sqrt, Math.floor); plain arithmetic is not
// affected. Pyrosome's scheduler creates an instance's isolate on one thread
// and runs it on worker threads, so its V8 isolates hit this (found by
// `cargo bench --features v8 --bench engines`: `numeric` vs `arithmetic`).
//
//   L=.libnode/usr/lib/x86_64-linux-gnu   # or /usr/lib/x86_64-linux-gnu
//   g++ -std=c++17 -O2 -I/usr/include/node bench/v8-thread-tierup.cc \
//       -o /tmp/v8-thread-tierup $L/libnode.so.108 -lpthread -Wl,-rpath-link,$L
//   LD_LIBRARY_PATH=$L /tmp/v8-thread-tierup
//
// Found later: it is on-stack replacement. With `--no-use-osr` (pass V8
// flags as the first argument) every case runs at full speed, and the V8
// backend now sets that flag (src/engine/v8/shim.cc, pyro_v8_init).
//
// Prints, per case, the milliseconds per call of each loop (after warm-up).
// Cases: the isolate created and run on one thread (`same`); created on the
// main thread, run on another (`other`, what the scheduler does); created
// and warmed up on one thread, then run on another (`migrated`).

#include <libplatform/libplatform.h>
#include <v8.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

using namespace v8;

namespace {

const char* kSource = R"JS(
function numeric() { let x = 0, y = 1;
  for (let i = 1; i <= 1e6; i++) { const t = i * 1e-6; x += Math.sqrt(t + 1) / (t + 0.5);
    y = y * 0.9999995 + x * 1e-9 - t * t * 1e-7; } return x + y; }
function arithmetic() { let x = 0, y = 1;
  for (let i = 1; i <= 1e6; i++) { const t = i * 1e-6; x += (t + 1) / (t + 0.5);
    y = y * 0.9999995 + x * 1e-9 - t * t * 1e-7; } return x + y; }
function floor() { let x = 0; for (let i = 1; i <= 1e6; i++) x += Math.floor(i * 0.7); return x; }
function measure() {
  const out = [];
  for (const f of [numeric, arithmetic, floor]) {
    for (let w = 0; w < 40; w++) f();
    const t = Date.now();
    for (let i = 0; i < 20; i++) f();
    out.push(`${f.name} ${((Date.now() - t) / 20).toFixed(2)} ms`);
  }
  return out.join(", ");
}
)JS";

struct Js {
  Isolate* isolate;
  Global<Context> context;
};

std::string run(Js& js, const char* code) {
  Locker locker(js.isolate);
  Isolate::Scope isolate_scope(js.isolate);
  HandleScope handles(js.isolate);
  Local<Context> context = js.context.Get(js.isolate);
  Context::Scope context_scope(context);
  Local<String> source = String::NewFromUtf8(js.isolate, code).ToLocalChecked();
  Local<Value> result = Script::Compile(context, source).ToLocalChecked()->Run(context).ToLocalChecked();
  String::Utf8Value text(js.isolate, result);
  return *text;
}

// Never freed: the process exits right after.
Js* create(ArrayBuffer::Allocator* allocator) {
  Isolate::CreateParams params;
  params.array_buffer_allocator = allocator;
  auto* js = new Js();
  js->isolate = Isolate::New(params);
  Locker locker(js->isolate);
  Isolate::Scope isolate_scope(js->isolate);
  HandleScope handles(js->isolate);
  js->context.Reset(js->isolate, Context::New(js->isolate));
  return js;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) V8::SetFlagsFromString(argv[1]);
  // Leaked on purpose, like the isolates: no teardown at exit.
  Platform* platform = platform::NewDefaultPlatform(1).release();
  V8::InitializePlatform(platform);
  V8::Initialize();
  ArrayBuffer::Allocator* allocator = ArrayBuffer::Allocator::NewDefaultAllocator();
  printf("V8 %s\n", V8::GetVersion());

  std::thread([&] {
    Js* js = create(allocator);
    run(*js, kSource);
    printf("same:     %s\n", run(*js, "measure()").c_str());
  }).join();

  {
    Js* js = create(allocator);
    std::thread([&] {
      run(*js, kSource);
      printf("other:    %s\n", run(*js, "measure()").c_str());
    }).join();
  }

  {
    Js* js = nullptr;
    std::thread([&] {
      js = create(allocator);
      run(*js, kSource);
      run(*js, "measure()");
    }).join();
    std::thread([&] { printf("migrated: %s\n", run(*js, "measure()").c_str()); }).join();
  }
  return 0;
}
