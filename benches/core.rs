//! Runtime-core micro-benchmarks (issue: runtime core):
//!
//! - `call/*`: one cross-service call with a trivial handler, round trip,
//!   measured from JavaScript: service `a` awaits `services.b.noop()` N
//!   times in a loop; the time per iteration is the call's round trip.
//!   With 1 worker the callee runs on the caller's thread; with 2 workers
//!   it may be stolen by the other worker (a cross-thread hop).
//! - `value/*`: the post of `call/round_trip_post` copied within one
//!   isolate, without the scheduler: `structured_clone` (`web/clone.js`,
//!   the HTML standard's algorithm in JavaScript; before issue 12 it was
//!   the engine's value codec, encode + decode) and `json`
//!   (`JSON.parse(JSON.stringify())`, for reference).
//! - `invoke/*`: an invocation from Rust (`Scheduler::invoke`) of a trivial
//!   method, waited for with a blocking receive: the cost a gateway pays.
//! - `isolate/start`: create an isolate and load a small module (runtime,
//!   context, prelude from bytecode, module compile + evaluate).
//! - `fetch/*`: an HTTP request as the gateway hands it to the runtime:
//!   `@fetch` of the hello-world app (`bench/apps/hello-http`) with the
//!   request value of `GET /` with curl's headers, from Rust
//!   (`Scheduler::invoke`), one worker. `sequential`: one at a time (the
//!   time includes waking the worker); `in_flight_32`: 32 at a time, as a
//!   server with 32 busy connections queues them (time per request, close
//!   to the worker's CPU per request); `worker_cpu`: the same, but the
//!   time is the worker thread's CPU time (Linux `schedstat`), which other
//!   load on the machine does not inflate. The gateway's own work (HTTP
//!   parsing, `gateway/convert.rs`) is not included. For a profile:
//!   `CARGO_PROFILE_BENCH_DEBUG=line-tables-only perf record -g cargo bench
//!   --bench core -- fetch/hello/in_flight_32 --profile-time 10`, then
//!   `perf report --comm pyrosome-worker`.
//!
//! The app and the module are shared with the engine comparison
//! (`benches/common/`, `benches/engines.rs`).
//!
//! Run: `cargo bench --bench core`.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use pyrosome::Value;
use pyrosome::engine;

fn calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("call");
    for workers in [1, 2] {
        let (_dir, rt) = common::call_runtime(workers, None);
        group.bench_function(format!("round_trip/{workers}_workers"), |bench| {
            bench.iter_custom(|iters| common::call_loop(&rt, iters));
        });
        group.bench_function(format!("round_trip_post/{workers}_workers"), |bench| {
            bench.iter_custom(|iters| common::post_loop(&rt, iters));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("value");
    let (_dir, rt) = common::call_runtime(1, None);
    group.bench_function("structured_clone", |bench| {
        bench.iter_custom(|iters| common::clone_loop(&rt, "clones", iters));
    });
    group.bench_function("json", |bench| {
        bench.iter_custom(|iters| common::clone_loop(&rt, "jsonClones", iters));
    });
    group.finish();

    let mut group = c.benchmark_group("invoke");
    for workers in [1, 2] {
        let (_dir, rt) = common::call_runtime(workers, None);
        group.bench_function(format!("from_rust/{workers}_workers"), |bench| {
            bench.iter(|| rt.call_blocking("b", "noop", Value::Null).expect("noop"));
        });
    }
    group.finish();
}

fn isolate_start(c: &mut Criterion) {
    let config = common::small_module_config();
    let engine = engine::default_engine().expect("the default engine is available");
    // The first isolate compiles the prelude; measure the steady state.
    drop(engine.instantiate(&config).expect("isolate"));
    c.bench_function("isolate/start", |bench| {
        bench.iter_with_large_drop(|| engine.instantiate(&config).expect("isolate"));
    });
}

fn fetch(c: &mut Criterion) {
    let rt = common::hello_http_runtime(1, None);
    let answer = rt
        .call_blocking("hello", engine::FETCH_METHOD, common::hello_request_value())
        .expect("hello answers");
    common::check_hello_response(&answer);
    let mut group = c.benchmark_group("fetch");
    group.bench_function("hello/sequential", |bench| {
        let request = common::hello_request_value();
        bench.iter(|| {
            rt.call_blocking("hello", engine::FETCH_METHOD, request.clone())
                .expect("hello answers")
        });
    });
    group.bench_function("hello/in_flight_32", |bench| {
        bench.iter_custom(|iters| common::fetch_batch(&rt, iters, 32));
    });
    // The same load, timed by the worker thread's CPU clock: robust
    // against other load on the machine.
    group.bench_function("hello/worker_cpu", |bench| {
        bench.iter_custom(|iters| {
            let before = common::workers_cpu();
            common::fetch_batch(&rt, iters, 32);
            common::workers_cpu() - before
        });
    });
    group.finish();
    rt.shutdown();
}

criterion_group!(benches, calls, isolate_start, fetch);
criterion_main!(benches);
