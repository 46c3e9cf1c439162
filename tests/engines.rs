//! The engine itself, below the scheduler: isolates start, run and are
//! dropped thousands of times without leaking memory, whichever engine this
//! run uses (`PYROSOME_ENGINE`; CI runs the suite on QuickJS and on V8).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pyrosome::Value;
use pyrosome::engine::{
    self, Directory, Event, InvocationId, IsolateConfig, ModuleSource, Modules,
};

const MODULE: &str = r#"
const cache = new Map();
export function work(n) {
  const items = [];
  for (let i = 0; i < n; i++) items.push({ i, s: "item " + i, b: new Uint8Array(64) });
  cache.set(n, JSON.stringify(items).length);
  return Promise.resolve(cache.get(n));
}
export function size() { return cache.size; }
"#;

fn config() -> IsolateConfig {
    let mut modules = Modules::new();
    modules.insert(
        "main.js",
        ModuleSource {
            path: PathBuf::from("main.js"),
            source: Arc::from(MODULE),
        },
    );
    let directory: engine::SharedDirectory = Arc::new(OnceLock::new());
    let _ = directory.set(Directory::new());
    IsolateConfig {
        service: Arc::from("main"),
        entry: "main.js".to_owned(),
        modules: Arc::new(modules),
        directory,
        memory_limit: 64 << 20,
        cpu_budget: Duration::from_secs(5),
        dev_mode: false,
        stores: Vec::new(),
        env: Default::default(),
    }
}

/// Resident set size of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("procfs");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm has a resident field");
    pages * 4096
}

/// The number an invocation completed with, if `effect` is that.
fn completed_number(effect: &engine::Effect) -> Option<f64> {
    match effect {
        engine::Effect::Complete { result: Ok(p), .. } => p.clone().into_value().ok()?.as_f64(),
        _ => None,
    }
}

/// Starts an isolate, runs one invocation in it, drops it.
fn start_run_drop(engine: &dyn engine::Engine, config: &IsolateConfig) {
    let mut isolate = engine.instantiate(config).expect("isolate starts");
    let mut effects = Vec::new();
    isolate
        .handle(
            Event::Invoke {
                id: InvocationId(1),
                method: "work".to_owned(),
                arg: Value::Number(50.0).into(),
            },
            Duration::from_secs(5),
            &mut effects,
        )
        .expect("no fault");
    let completed = effects
        .iter()
        .any(|e| completed_number(e).is_some_and(|n| n > 1000.0));
    assert!(completed, "the invocation completed: {effects:?}");
}

#[test]
fn thousands_of_isolate_starts_do_not_leak() {
    let engine = engine::default_engine().expect("engine");
    let config = config();
    // Warm up: allocator arenas, the engine's per-process caches.
    for _ in 0..200 {
        start_run_drop(engine.as_ref(), &config);
    }
    let before = rss();
    const STARTS: usize = 1500;
    for _ in 0..STARTS {
        start_run_drop(engine.as_ref(), &config);
    }
    let grown = rss().saturating_sub(before);
    eprintln!(
        "{}: RSS {} MiB after warm-up, +{} KiB over {STARTS} starts",
        engine.name(),
        before >> 20,
        grown >> 10
    );
    // An isolate holds hundreds of KiB (QuickJS) to megabytes (V8); a leak
    // of even a few KiB per start would show as tens of MiB here.
    assert!(
        grown < 24 << 20,
        "{} grew by {} KiB over {STARTS} isolate starts ({} bytes per start)",
        engine.name(),
        grown >> 10,
        grown / STARTS
    );
}

/// An isolate is `Send`: it runs on whichever thread holds it, one at a
/// time (V8: under a `v8::Locker`), and keeps its state as it moves.
#[test]
fn an_isolate_moves_between_threads_and_keeps_its_state() {
    let engine = engine::default_engine().expect("engine");
    let config = config();
    let mut isolate = engine.instantiate(&config).expect("isolate starts");
    for hop in 0..6u64 {
        isolate = std::thread::spawn(move || {
            let mut effects = Vec::new();
            isolate
                .handle(
                    Event::Invoke {
                        id: InvocationId(hop),
                        method: "work".to_owned(),
                        arg: Value::Number(hop as f64 + 1.0).into(),
                    },
                    Duration::from_secs(5),
                    &mut effects,
                )
                .expect("no fault");
            assert!(
                effects
                    .iter()
                    .any(|e| matches!(e, engine::Effect::Complete { result: Ok(_), .. })),
                "hop {hop}: {effects:?}"
            );
            isolate
        })
        .join()
        .expect("thread");
    }
    let mut effects = Vec::new();
    isolate
        .handle(
            Event::Invoke {
                id: InvocationId(99),
                method: "size".to_owned(),
                arg: Value::Undefined.into(),
            },
            Duration::from_secs(5),
            &mut effects,
        )
        .expect("no fault");
    assert!(
        effects.iter().any(|e| completed_number(e) == Some(6.0)),
        "module state survived six threads: {effects:?}"
    );
}
