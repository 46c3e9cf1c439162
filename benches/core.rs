//! Runtime-core micro-benchmarks (issue: runtime core):
//!
//! - `call/*`: one cross-service call with a trivial handler, round trip,
//!   measured from JavaScript: service `a` awaits `services.b.noop()` N
//!   times in a loop; the time per iteration is the call's round trip.
//!   With 1 worker the callee runs on the caller's thread; with 2 workers
//!   it may be stolen by the other worker (a cross-thread hop).
//! - `invoke/*`: an invocation from Rust (`Scheduler::invoke`) of a trivial
//!   method, waited for with a blocking receive: the cost a gateway pays.
//! - `isolate/start`: create an isolate and load a small module (runtime,
//!   context, prelude from bytecode, module compile + evaluate).
//!
//! Run: `cargo bench --bench core`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use pyrosome::engine::{self, Directory, IsolateConfig, ModuleSource, Modules};
use pyrosome::{App, Runtime, RuntimeOptions, Value};

const MANIFEST: &str = r#"
name = "bench"
[services.a]
module = "a.js"
[services.b]
module = "b.js"
"#;

const A: &str = r#"
import { services } from "pyrosome";
export async function loop({ n }) {
  for (let i = 0; i < n; i++) await services.b.noop({ i });
  return n;
}
export function noop(v) { return v; }
"#;

const B: &str = "export function noop(v) { return v; }\n";

fn app() -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in [("pyrosome.toml", MANIFEST), ("a.js", A), ("b.js", B)] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let app = App::load(dir.path()).expect("bench app loads");
    (dir, app)
}

fn runtime(workers: usize) -> (tempfile::TempDir, Runtime) {
    let (dir, app) = app();
    let rt = Runtime::start(
        app,
        RuntimeOptions {
            workers,
            ..RuntimeOptions::default()
        },
    )
    .expect("bench app starts");
    (dir, rt)
}

fn calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("call");
    for workers in [1, 2] {
        let (_dir, rt) = runtime(workers);
        group.bench_function(format!("round_trip/{workers}_workers"), |bench| {
            bench.iter_custom(|iters| {
                let arg = Value::object([("n", Value::Number(iters as f64))]);
                let start = Instant::now();
                rt.call_blocking("a", "loop", arg).expect("loop runs");
                start.elapsed()
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("invoke");
    for workers in [1, 2] {
        let (_dir, rt) = runtime(workers);
        group.bench_function(format!("from_rust/{workers}_workers"), |bench| {
            bench.iter(|| rt.call_blocking("b", "noop", Value::Null).expect("noop"));
        });
    }
    group.finish();
}

fn isolate_start(c: &mut Criterion) {
    let mut modules = Modules::new();
    modules.insert(
        "main.js",
        ModuleSource {
            path: PathBuf::from("main.js"),
            source: Arc::from(
                "import { services } from 'pyrosome';\n\
                 let hits = 0;\n\
                 export async function hello({ name }) { hits++; return { message: `Hello, ${name}!`, hits }; }\n\
                 export default { async fetch(request) { return new Response('hi'); } };\n",
            ),
        },
    );
    let directory: engine::SharedDirectory = Arc::new(OnceLock::new());
    let _ = directory.set(Directory::new());
    let config = IsolateConfig {
        service: Arc::from("main"),
        entry: "main.js".to_owned(),
        modules: Arc::new(modules),
        directory,
        memory_limit: 64 << 20,
        cpu_budget: Duration::from_millis(100),
        dev_mode: false,
        stores: Vec::new(),
    };
    let engine = engine::default_engine().expect("the default engine is available");
    // The first isolate compiles the prelude; measure the steady state.
    drop(engine.instantiate(&config).expect("isolate"));
    c.bench_function("isolate/start", |bench| {
        bench.iter_with_large_drop(|| engine.instantiate(&config).expect("isolate"));
    });
}

criterion_group!(benches, calls, isolate_start);
criterion_main!(benches);
