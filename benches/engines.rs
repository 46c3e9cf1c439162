//! QuickJS and V8 side by side (issue 6, "Benchmarks"): one binary, one
//! run, the two engines interleaved (A B, B A, A B, ...) within every
//! round, medians over the rounds, ratios from the same run.
//!
//! 1. `start`: isolate start — `Engine::instantiate` of the small module
//!    the core bench uses (`common::small_module_config`): runtime/isolate,
//!    context, prelude, module compile and evaluate. Measured on the engine
//!    API directly (no scheduler), which is the engine's own cost; the time
//!    to drop the isolate is reported beside it, and the CPU time of the
//!    starting thread (V8 makes pooled isolates on a thread of its own).
//! 2. `memory`: memory per idle instance. A fresh child process per engine
//!    and round (so neither engine's freed memory flatters the other)
//!    creates one isolate (engine start-up, not counted), then keeps
//!    `MEMORY_ISOLATES` more alive; per isolate: growth of the resident set
//!    (`/proc/self/statm`) and the engine's `heap_used()`. Then each isolate
//!    handles one invocation and the growth is read again.
//! 3. `call`: one cross-service call round trip, measured as in the core
//!    bench (`common::call_loop`): service `a` awaits `services.b.noop(x)`
//!    (an echo) `CALL_LOOP` times; time / `CALL_LOOP`. Through the real
//!    runtime (`Runtime::call_blocking`), one worker. Beside it, an
//!    invocation from Rust of `b.noop`, one at a time (`call_blocking`).
//!    Each also as process CPU time per call (`CPU`), which a loaded
//!    machine inflates much less than wall time.
//! 4. `boundary`: the same two round trips (a tiny value; a 0.6 KB post,
//!    both ways) driven through the engine API alone, without the
//!    scheduler: `a`'s isolate makes the call, `b`'s answers it, `a` gets
//!    the reply — two events per round trip, each with a value to decode
//!    and one to encode. What the engine's side of a call costs; the rest
//!    of `call` is the scheduler's. Wall time and the thread's CPU time.
//!    Beside them, `structuredClone` of the post in JavaScript (the HTML
//!    standard's algorithm in JavaScript, `web/clone.js`; before issue 12
//!    it was the engine's value codec both ways); `b.noop`
//!    invoked with a post Rust made (as the gateway's requests and store
//!    reads are); and the first 1, 10 and 100 post round trips of new
//!    isolates (cold code).
//! 5. `compute`: compute-heavy handlers, each an exported method of one
//!    service invoked from Rust through the real runtime (one worker,
//!    partitioning off so no method moves to a fresh, cold instance), after
//!    a warm-up that lets V8's optimizing tiers kick in. Time per
//!    invocation, end to end (so it includes the invocation from Rust,
//!    reported in 3):
//!    - `json`: `JSON.stringify(JSON.parse(doc))` of a ~10 KB document;
//!    - `regex`: count matches of an e-mail-like pattern in ~10 KB of text;
//!    - `sha256`: SHA-256 written in plain JavaScript over 16 KiB;
//!    - `numeric`: 1e6 iterations of floating-point math (with `Math.sqrt`);
//!    - `arithmetic`: the same loop without the `Math.sqrt` call (V8
//!      optimizes calls to `Math` builtins worse when the code tiers up on
//!      a thread other than the one that created the isolate, as the
//!      scheduler's workers do; the pair shows the effect).
//!
//!    Results are checked (same JSON length, match count and digest on both
//!    engines, the digest against a known value) before anything is timed.
//! 5. `fetch`: an HTTP request as the gateway hands it to the runtime,
//!    `@fetch` of the hello-world app (`bench/apps/hello-http`) with curl's
//!    headers (`common::fetch_batch`), one worker, 32 in flight at a time:
//!    time per request, and the worker thread's CPU time per request
//!    (`common::workers_cpu`).
//!
//! Prints a markdown report (summary table, then every round) on stdout;
//! progress on stderr.
//!
//! Run: `cargo bench --features v8 --bench engines` (~2 minutes), or
//! `cargo bench --features v8 --bench engines -- start memory call boundary compute fetch`
//! (any subset). `ENGINES_ROUNDS=N` sets the number of rounds (default 7).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyrosome::engine::{
    self, Directory, Effect, Event, InvocationId, Isolate, IsolateConfig, ModuleSource, Modules,
    Payload, SharedDirectory,
};
use pyrosome::{Engine, Runtime, RuntimeOptions, Value};

/// The engines compared, in the order of the first round.
const ENGINES: [&str; 2] = ["quickjs", "v8"];

/// Rounds of every comparison (each round runs both engines); medians
/// over rounds are reported. `ENGINES_ROUNDS` overrides it.
const ROUNDS: usize = 7;

/// Isolate starts timed per engine per round.
const START_SAMPLES: usize = 30;

/// Idle isolates kept alive to measure memory per instance: enough that
/// the per-isolate growth dwarfs allocator noise (pages, arenas).
const MEMORY_ISOLATES: usize = 200;

/// Memory rounds (each a child process per engine); the measurement is
/// far less noisy than timings.
const MEMORY_ROUNDS: usize = 3;

/// Calls per `a.loop` invocation in the round-trip measurement.
const CALL_LOOP: u64 = 2000;

/// `a.loop` invocations per engine per round; the median is kept.
const CALL_SAMPLES: usize = 3;

/// Round trips per sample of the `boundary` experiment.
const BOUNDARY_LOOP: u64 = 2000;

/// Round trips of new isolates timed in the `boundary` experiment (cold
/// code: before the JIT has optimized anything).
const BOUNDARY_COLD: [u64; 3] = [1, 10, 100];

/// Samples per engine per round of the `boundary` experiment; the median
/// is kept.
const BOUNDARY_SAMPLES: usize = 5;

/// Invocations of `b.noop` from Rust per engine per round.
const INVOKE_SAMPLES: usize = 300;

/// Per engine, workload and round: at least this many invocations ...
const COMPUTE_MIN_SAMPLES: usize = 5;
/// ... and at least this long, at most `COMPUTE_MAX_SAMPLES` invocations.
const COMPUTE_MIN_TIME: Duration = Duration::from_millis(150);
const COMPUTE_MAX_SAMPLES: usize = 2000;
/// Warm-up before the first round: this many invocations and this long,
/// per engine and workload (V8 tiers up hot functions after a few
/// hundred calls or loop iterations).
const COMPUTE_WARMUP_SAMPLES: usize = 30;
const COMPUTE_WARMUP_TIME: Duration = Duration::from_millis(500);

/// Set in the child processes of the memory measurement: `memory:<engine>`.
const CHILD_ENV: &str = "PYROSOME_ENGINES_BENCH_CHILD";

/// SHA-256 of the 16 KiB input of `compute.sha256` (byte i = (31 i + 7)
/// mod 256), computed independently (Python's hashlib).
const SHA256_EXPECTED: &str = "9038ac64e659335ccbfdd3f684f35a26a2c9e580d9af6b4807af3adbe2c257e3";

const COMPUTE_MANIFEST: &str = r#"
name = "engines-bench"
[services.compute]
module = "compute.js"
[services.compute.limits]
# QuickJS needs tens of milliseconds for the numeric loop.
cpu_ms = 10000
memory_mb = 256
"#;

const COMPUTE_JS: &str = r#"
import { sha256Hex } from "./sha256.js";

// ~10 KB of JSON: an order-like document with nested objects and arrays.
const items = [];
for (let i = 0; i < 58; i++) {
  items.push({
    id: 100000 + i,
    sku: `SKU-${(i * 7919) % 100000}`,
    name: `Item number ${i}, "quoted" and \u00e9 accented`,
    price: Math.round(i * 137.5) / 100,
    tags: ["tag" + (i % 5), "group" + (i % 3), i % 2 ? "odd" : "even"],
    active: i % 3 !== 0,
    dims: { w: i + 0.5, h: i * 2, d: null },
  });
}
const DOC = JSON.stringify({ order: 42, customer: { id: 7, name: "Ada", email: "ada@example.org" }, items });

export function json() {
  return JSON.stringify(JSON.parse(DOC)).length;
}
export function jsonSize() { return DOC.length; }

// ~10 KB of text with an e-mail address in every line.
const lines = [];
for (let i = 0; lines.join("\n").length < 10240; i++) {
  lines.push(`Line ${i}: please contact first.last${i}@mail${i % 7}.example.org about ticket #${i * 31} (or not@ an address).`);
}
const TEXT = lines.join("\n");
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;

export function regex() {
  return (TEXT.match(EMAIL) || []).length;
}
export function regexSize() { return TEXT.length; }

// SHA-256 in plain JavaScript over 16 KiB: the social network's own
// implementation (examples/socialnetwork/lib/sha256.js, copied into the app).
const DATA = new Uint8Array(16384);
for (let i = 0; i < DATA.length; i++) DATA[i] = (i * 31 + 7) & 255;

export function sha256() {
  return sha256Hex(DATA);
}

// 1e6 iterations of floating-point math (square root, division,
// multiply-add; no `%`, which V8 compiles to a call to C's fmod).
export function numeric() {
  let x = 0, y = 1;
  for (let i = 1; i <= 1e6; i++) {
    const t = i * 1e-6;
    x += Math.sqrt(t + 1) / (t + 0.5);
    y = y * 0.9999995 + x * 1e-9 - t * t * 1e-7;
  }
  return x + y;
}

// The same loop without the Math.sqrt call: arithmetic only.
export function arithmetic() {
  let x = 0, y = 1;
  for (let i = 1; i <= 1e6; i++) {
    const t = i * 1e-6;
    x += (t + 1) / (t + 0.5);
    y = y * 0.9999995 + x * 1e-9 - t * t * 1e-7;
  }
  return x + y;
}
"#;

/// The compute workloads: (method, what it does).
const WORKLOADS: [(&str, &str); 5] = [
    ("json", "JSON.parse + JSON.stringify, ~10 KB document"),
    (
        "regex",
        "regex scan, ~10 KB text (count e-mail-like matches)",
    ),
    ("sha256", "SHA-256 in plain JS over 16 KiB"),
    (
        "numeric",
        "numeric loop, 1e6 iterations of float math incl. Math.sqrt",
    ),
    ("arithmetic", "the same loop without Math.sqrt"),
];

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    // cargo passes `--bench`; other arguments select experiments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = ["start", "memory", "call", "boundary", "compute", "fetch"];
    for a in &args {
        assert!(
            all.contains(&a.as_str()),
            "unknown experiment {a:?} (one of {all:?})"
        );
    }
    let wanted = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let rounds = std::env::var("ENGINES_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(ROUNDS);

    let engines: Vec<Arc<dyn Engine>> = ENGINES
        .iter()
        .map(|name| engine::engine_by_name(name).expect("this build has both engines"))
        .collect();
    let began = Instant::now();
    let load_before = loadavg();
    let mut report = Report::default();
    if wanted("start") {
        start_times(&engines, rounds, &mut report);
    }
    if wanted("memory") {
        memory(&mut report);
    }
    if wanted("call") {
        calls(&engines, rounds, &mut report);
    }
    if wanted("boundary") {
        boundary(&engines, rounds, &mut report);
    }
    if wanted("compute") {
        compute(&engines, rounds, &mut report);
    }
    if wanted("fetch") {
        fetch(&engines, rounds, &mut report);
    }
    print!(
        "{}",
        report.render(rounds, began.elapsed(), &load_before, &loadavg())
    );
}

/// The engine order of round `round`: A B, then B A, ... (only the
/// engine named by `ENGINES_ONLY`, if set: for profiling one engine).
fn order(round: usize) -> Vec<usize> {
    let both = if round.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    };
    both.into_iter().filter(|&e| selected(e)).collect()
}

/// Whether engine `e` is measured (see `order`).
fn selected(e: usize) -> bool {
    std::env::var("ENGINES_ONLY").map_or(true, |only| only == ENGINES[e])
}

// ---------------------------------------------------------------------------
// 1. Isolate start

fn start_times(engines: &[Arc<dyn Engine>], rounds: usize, report: &mut Report) {
    eprintln!("[engines] isolate start: {rounds} rounds x {START_SAMPLES} isolates per engine");
    let config = common::small_module_config();
    // The first isolate of a process pays one-time costs (QuickJS: the
    // prelude's bytecode; V8: platform initialisation).
    for engine in engines {
        let t = Instant::now();
        drop(engine.instantiate(&config).expect("isolate"));
        report.note(format!(
            "first isolate of the process, {}: {:.2} ms (not counted)",
            engine.name(),
            ms(t.elapsed())
        ));
    }
    for round in 0..rounds {
        for e in order(round) {
            let engine = &engines[e];
            let mut starts = Vec::with_capacity(START_SAMPLES);
            let mut cpu = Vec::with_capacity(START_SAMPLES);
            let mut drops = Vec::with_capacity(START_SAMPLES);
            for _ in 0..START_SAMPLES {
                let t = Instant::now();
                let c = pyrosome::cpu_clock::thread_cpu_time();
                let isolate = engine.instantiate(&config).expect("isolate");
                cpu.push(pyrosome::cpu_clock::thread_cpu_time().saturating_sub(c));
                starts.push(t.elapsed());
                let t = Instant::now();
                drop(isolate);
                drops.push(t.elapsed());
            }
            report.add("isolate start", "ms", e, ms(median(&mut starts)));
            report.add(
                "isolate start, CPU of the starting thread",
                "ms",
                e,
                ms(median(&mut cpu)),
            );
            report.add("isolate drop", "ms", e, ms(median(&mut drops)));
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Memory per idle instance (child processes)

fn memory(report: &mut Report) {
    eprintln!(
        "[engines] memory: {MEMORY_ROUNDS} rounds x {MEMORY_ISOLATES} isolates per engine, one process each"
    );
    let exe = std::env::current_exe().expect("own executable");
    for round in 0..MEMORY_ROUNDS {
        for e in order(round) {
            let out = std::process::Command::new(&exe)
                .env(CHILD_ENV, format!("memory:{}", ENGINES[e]))
                .output()
                .expect("child process runs");
            assert!(
                out.status.success(),
                "memory child for {} failed: {}",
                ENGINES[e],
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("MEMORY "))
                .expect("the child reports");
            let fields: Vec<f64> = line
                .split_whitespace()
                .map(|f| f.parse().expect("a number"))
                .collect();
            let [base, first, idle, heap, used, used_heap] = fields[..] else {
                panic!("unexpected child report {line:?}");
            };
            report.add("process RSS before the engine", "MiB", e, base / MIB);
            report.add("engine + first isolate (RSS)", "MiB", e, first / MIB);
            report.add("RSS per idle isolate", "KiB", e, idle / KIB);
            report.add("heap_used() per idle isolate", "KiB", e, heap / KIB);
            report.add("RSS per isolate after 1 invocation", "KiB", e, used / KIB);
            report.add("heap_used() after 1 invocation", "KiB", e, used_heap / KIB);
        }
    }
}

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// The child: prints `MEMORY base first idle heap used used_heap` (bytes).
fn child(spec: &str) {
    let name = spec.strip_prefix("memory:").expect("memory:<engine>");
    let page = page_size();
    let base = rss_pages() * page;
    let engine = engine::engine_by_name(name).expect("engine");
    let config = common::small_module_config();
    let first = engine.instantiate(&config).expect("isolate");
    let before = rss_pages() * page;
    let mut isolates: Vec<Box<dyn Isolate>> = (0..MEMORY_ISOLATES)
        .map(|_| engine.instantiate(&config).expect("isolate"))
        .collect();
    let after = rss_pages() * page;
    let heap: usize = isolates.iter().map(|i| i.heap_used()).sum();
    let mut effects = Vec::new();
    for (n, isolate) in isolates.iter_mut().enumerate() {
        let event = Event::Invoke {
            id: InvocationId(n as u64 + 1),
            method: "hello".to_owned(),
            arg: Value::object([("name", Value::from("bench"))]).into(),
        };
        isolate
            .handle(event, Duration::from_secs(1), &mut effects)
            .expect("hello runs");
        let done = effects.drain(..).any(|e| match e {
            Effect::Complete { result: Ok(p), .. } => {
                matches!(p.into_value(), Ok(Value::Object(_)))
            }
            _ => false,
        });
        assert!(done, "hello completed with an object");
    }
    let used = rss_pages() * page;
    let used_heap: usize = isolates.iter().map(|i| i.heap_used()).sum();
    let n = MEMORY_ISOLATES as f64;
    println!(
        "MEMORY {} {} {} {} {} {}",
        base,
        before.saturating_sub(base),
        after.saturating_sub(before) as f64 / n,
        heap as f64 / n,
        used.saturating_sub(before) as f64 / n,
        used_heap as f64 / n,
    );
    drop(isolates);
    drop(first);
}

/// Resident pages of this process (`/proc/self/statm`, second field).
fn rss_pages() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm has a resident field")
}

fn page_size() -> usize {
    std::process::Command::new("getconf")
        .arg("PAGESIZE")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(4096)
}

// ---------------------------------------------------------------------------
// 3. Cross-service call

fn calls(engines: &[Arc<dyn Engine>], rounds: usize, report: &mut Report) {
    eprintln!(
        "[engines] call round trip: {rounds} rounds x {CALL_SAMPLES} x {CALL_LOOP} calls per engine"
    );
    let runtimes: Vec<_> = engines
        .iter()
        .map(|e| common::call_runtime(1, Some(e.clone())))
        .collect();
    for (e, (_, rt)) in runtimes.iter().enumerate() {
        if !selected(e) {
            continue;
        }
        // Warm-up: JIT, allocator, instance caches.
        for _ in 0..3 {
            common::call_loop(rt, CALL_LOOP);
        }
        for _ in 0..INVOKE_SAMPLES {
            rt.call_blocking("b", "noop", Value::Null).expect("noop");
        }
    }
    for round in 0..rounds {
        for e in order(round) {
            let rt = &runtimes[e].1;
            let (mut loops, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..CALL_SAMPLES)
                .map(|_| with_cpu(|| common::call_loop(rt, CALL_LOOP)))
                .unzip();
            let per_call = median(&mut loops) / CALL_LOOP as u32;
            report.add(
                "call round trip a → b.noop (1 worker)",
                "µs",
                e,
                us(per_call),
            );
            report.add(
                "call round trip a → b.noop (1 worker), CPU",
                "µs",
                e,
                us(median(&mut cpu) / CALL_LOOP as u32),
            );
            let (mut loops, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..CALL_SAMPLES)
                .map(|_| with_cpu(|| common::post_loop(rt, CALL_LOOP)))
                .unzip();
            report.add(
                "call round trip with a 0.6 KB post, both ways (1 worker)",
                "µs",
                e,
                us(median(&mut loops) / CALL_LOOP as u32),
            );
            report.add(
                "call round trip with a 0.6 KB post, both ways (1 worker), CPU",
                "µs",
                e,
                us(median(&mut cpu) / CALL_LOOP as u32),
            );
            let mut invokes: Vec<Duration> = (0..INVOKE_SAMPLES)
                .map(|_| {
                    let t = Instant::now();
                    rt.call_blocking("b", "noop", Value::Null).expect("noop");
                    t.elapsed()
                })
                .collect();
            report.add(
                "invocation from Rust, b.noop (1 worker)",
                "µs",
                e,
                us(median(&mut invokes)),
            );
        }
    }
    for (_, rt) in &runtimes {
        rt.shutdown();
    }
}

/// Runs `f` (which returns the time it measured) and adds the process CPU
/// time it used.
fn with_cpu(f: impl FnOnce() -> Duration) -> (Duration, Duration) {
    let before = process_cpu_time();
    let wall = f();
    (wall, process_cpu_time().saturating_sub(before))
}

/// CPU time of the whole process (every thread): the process CPU clock,
/// read through the crate's clock reader (any clock id is safe to read).
fn process_cpu_time() -> Duration {
    pyrosome::cpu_clock::ThreadClock::from_raw(i64::from(libc::CLOCK_PROCESS_CPUTIME_ID))
        .now()
        .expect("the process CPU clock")
}

// ---------------------------------------------------------------------------
// 4. The engine's side of a call, without the scheduler

/// `a` calls `b.noop` in a loop (a tiny value, or a post both ways);
/// `b.noop` echoes. The same code as the call app of `call`.
const BOUNDARY_A: &str = r#"
import { services } from "pyrosome";
export async function loop({ n }) {
  for (let i = 0; i < n; i++) await services.b.noop({ i });
  return n;
}
export async function posts({ n }) {
  const post = {
    post_id: 8312093480123, req_id: 99123, timestamp: 1732610000000, post_type: 0,
    creator: { user_id: 4711, username: "username_4711" },
    text: "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor @username_12 incididunt ut labore et dolore magna aliqua http://short.url/abc",
    user_mentions: [{ user_id: 12, username: "username_12" }, { user_id: 13, username: "username_13" }],
    media: [{ media_id: 1, media_type: "png" }, { media_id: 2, media_type: "jpg" }],
    urls: [{ shortened_url: "http://short.url/abc", expanded_url: "https://example.com/a/long/path?q=1" }],
  };
  let size = 0;
  for (let i = 0; i < n; i++) size += (await services.b.noop(post)).text.length;
  return size;
}
// structuredClone of the post: web/clone.js, in JavaScript (before issue 12,
// the engine's value codec both ways).
export function clones({ n }) {
  const post = {
    post_id: 8312093480123, req_id: 99123, timestamp: 1732610000000, post_type: 0,
    creator: { user_id: 4711, username: "username_4711" },
    text: "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor @username_12 incididunt ut labore et dolore magna aliqua http://short.url/abc",
    user_mentions: [{ user_id: 12, username: "username_12" }, { user_id: 13, username: "username_13" }],
    media: [{ media_id: 1, media_type: "png" }, { media_id: 2, media_type: "jpg" }],
    urls: [{ shortened_url: "http://short.url/abc", expanded_url: "https://example.com/a/long/path?q=1" }],
  };
  let size = 0;
  for (let i = 0; i < n; i++) size += structuredClone(post).text.length;
  return size;
}
"#;

const BOUNDARY_B: &str = "export function noop(v) { return v; }\n";

fn boundary_config(service: &str, source: &str, directory: &SharedDirectory) -> IsolateConfig {
    let mut modules = Modules::new();
    let file = format!("{service}.js");
    modules.insert(
        file.as_str(),
        ModuleSource {
            path: std::path::PathBuf::from(&file),
            source: Arc::from(source),
        },
    );
    IsolateConfig {
        service: Arc::from(service),
        entry: file,
        modules: Arc::new(modules),
        directory: directory.clone(),
        memory_limit: 64 << 20,
        cpu_budget: Duration::from_secs(10),
        dev_mode: false,
        stores: Vec::new(),
        env: Default::default(),
    }
}

/// Runs `a.method({n})` to completion, delivering every call it makes to
/// `b` and every answer back to `a` on this thread; returns the wall and
/// thread CPU time per round trip.
fn drive(a: &mut dyn Isolate, b: &mut dyn Isolate, method: &str, n: u64) -> (Duration, Duration) {
    const BUDGET: Duration = Duration::from_secs(10);
    let cpu = pyrosome::cpu_clock::thread_cpu_time();
    let start = Instant::now();
    let mut effects = Vec::new();
    let mut answers = Vec::new();
    let arg = Value::object([("n", Value::Number(n as f64))]);
    a.handle(
        Event::Invoke {
            id: InvocationId(1),
            method: method.to_owned(),
            arg: Payload::Value(arg),
        },
        BUDGET,
        &mut effects,
    )
    .expect("a runs");
    let mut next = 2;
    let mut calls = 0;
    loop {
        let Some(effect) = effects.pop() else {
            panic!("a.{method} stopped without completing");
        };
        match effect {
            Effect::Call {
                call, method, arg, ..
            } => {
                calls += 1;
                b.handle(
                    Event::Invoke {
                        id: InvocationId(next),
                        method,
                        arg,
                    },
                    BUDGET,
                    &mut answers,
                )
                .expect("b runs");
                next += 1;
                let result = answers
                    .drain(..)
                    .find_map(|e| match e {
                        Effect::Complete { result, .. } => Some(result),
                        _ => None,
                    })
                    .expect("b.noop completes at once");
                a.handle(Event::Reply { call, result }, BUDGET, &mut effects)
                    .expect("a runs");
            }
            Effect::Complete { result, .. } => {
                result.expect("a's loop succeeds");
                break;
            }
            other => panic!("unexpected effect {other:?}"),
        }
    }
    assert_eq!(calls, n, "one call per iteration");
    (
        start.elapsed() / n as u32,
        pyrosome::cpu_clock::thread_cpu_time().saturating_sub(cpu) / n as u32,
    )
}

/// The post of `BOUNDARY_A` made by Rust (as the gateway or a store read
/// makes values).
fn rust_post() -> Value {
    Value::from_json(&serde_json::json!({
        "post_id": 8312093480123u64, "req_id": 99123, "timestamp": 1732610000000u64, "post_type": 0,
        "creator": { "user_id": 4711, "username": "username_4711" },
        "text": "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor @username_12 incididunt ut labore et dolore magna aliqua http://short.url/abc",
        "user_mentions": [{ "user_id": 12, "username": "username_12" }, { "user_id": 13, "username": "username_13" }],
        "media": [{ "media_id": 1, "media_type": "png" }, { "media_id": 2, "media_type": "jpg" }],
        "urls": [{ "shortened_url": "http://short.url/abc", "expanded_url": "https://example.com/a/long/path?q=1" }],
    }))
}

/// Invokes `b.noop(value)` `n` times; returns the thread CPU time per
/// invocation (the value's conversion in, the result's out).
fn invoke_with(b: &mut dyn Isolate, value: &Value, n: u64) -> Duration {
    let cpu = pyrosome::cpu_clock::thread_cpu_time();
    let mut effects = Vec::new();
    for i in 0..n {
        effects.clear();
        b.handle(
            Event::Invoke {
                id: InvocationId(1_000_000 + i),
                method: "noop".to_owned(),
                arg: Payload::Value(value.clone()),
            },
            Duration::from_secs(10),
            &mut effects,
        )
        .expect("b runs");
    }
    pyrosome::cpu_clock::thread_cpu_time().saturating_sub(cpu) / n as u32
}

/// Runs `a.clones({n})`; returns the thread CPU time per clone.
fn clones(a: &mut dyn Isolate, n: u64) -> Duration {
    let cpu = pyrosome::cpu_clock::thread_cpu_time();
    let mut effects = Vec::new();
    let arg = Value::object([("n", Value::Number(n as f64))]);
    a.handle(
        Event::Invoke {
            id: InvocationId(1),
            method: "clones".to_owned(),
            arg: Payload::Value(arg),
        },
        Duration::from_secs(10),
        &mut effects,
    )
    .expect("a runs");
    assert!(
        matches!(effects.as_slice(), [Effect::Complete { result: Ok(_), .. }]),
        "a.clones completes: {effects:?}"
    );
    pyrosome::cpu_clock::thread_cpu_time().saturating_sub(cpu) / n as u32
}

/// Whether to measure `part` of the `boundary` experiment: all of them,
/// or only the one `ENGINES_BOUNDARY` names (`loop`, `posts`, `rust`,
/// `clones`, `cold`), for profiling.
fn boundary_part(part: &str) -> bool {
    std::env::var("ENGINES_BOUNDARY").map_or(true, |only| only == part)
}

fn boundary(engines: &[Arc<dyn Engine>], rounds: usize, report: &mut Report) {
    eprintln!(
        "[engines] boundary: {rounds} rounds x {BOUNDARY_SAMPLES} x {BOUNDARY_LOOP} round trips per engine, no scheduler"
    );
    let directory: SharedDirectory = Arc::new(std::sync::OnceLock::new());
    let mut names = Directory::new();
    names.insert(
        "a",
        vec!["clones".to_owned(), "loop".to_owned(), "posts".to_owned()],
    );
    names.insert("b", vec!["noop".to_owned()]);
    let _ = directory.set(names);
    let mut pairs: Vec<(Box<dyn Isolate>, Box<dyn Isolate>)> = engines
        .iter()
        .map(|engine| {
            let a = engine
                .instantiate(&boundary_config("a", BOUNDARY_A, &directory))
                .expect("a starts");
            let b = engine
                .instantiate(&boundary_config("b", BOUNDARY_B, &directory))
                .expect("b starts");
            (a, b)
        })
        .collect();
    for (e, (a, b)) in pairs.iter_mut().enumerate() {
        if !selected(e) {
            continue;
        }
        // Warm-up: V8 optimizes the codec and the bootstrap.
        for _ in 0..3 {
            drive(a.as_mut(), b.as_mut(), "loop", BOUNDARY_LOOP);
            drive(a.as_mut(), b.as_mut(), "posts", BOUNDARY_LOOP);
            clones(a.as_mut(), BOUNDARY_LOOP);
            invoke_with(b.as_mut(), &rust_post(), BOUNDARY_LOOP);
        }
    }
    for round in 0..rounds {
        for e in order(round) {
            let (a, b) = &mut pairs[e];
            for (method, what) in [
                ("loop", "engine round trip, tiny value (no scheduler)"),
                (
                    "posts",
                    "engine round trip, 0.6 KB post both ways (no scheduler)",
                ),
            ] {
                if !boundary_part(method) {
                    continue;
                }
                let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..BOUNDARY_SAMPLES)
                    .map(|_| drive(a.as_mut(), b.as_mut(), method, BOUNDARY_LOOP))
                    .unzip();
                report.add(what, "µs", e, us(median(&mut wall)));
                report.add(&format!("{what}, CPU"), "µs", e, us(median(&mut cpu)));
            }
            if boundary_part("rust") {
                let post = rust_post();
                let mut cpu: Vec<Duration> = (0..BOUNDARY_SAMPLES)
                    .map(|_| invoke_with(b.as_mut(), &post, BOUNDARY_LOOP))
                    .collect();
                report.add(
                    "b.noop(post) invoked from Rust with a Rust-made post (no scheduler), CPU",
                    "µs",
                    e,
                    us(median(&mut cpu)),
                );
            }
            if boundary_part("clones") {
                let mut cpu: Vec<Duration> = (0..BOUNDARY_SAMPLES)
                    .map(|_| clones(a.as_mut(), BOUNDARY_LOOP))
                    .collect();
                report.add(
                    "structuredClone of the post in JS (web/clone.js, no event), CPU",
                    "µs",
                    e,
                    us(median(&mut cpu)),
                );
            }
            if !boundary_part("cold") {
                continue;
            }
            // Before any warm-up: V8 first runs the codec (JavaScript) in its
            // interpreter, then in baseline code, and optimizes it only once
            // it is hot.
            let engine = &engines[e];
            let cold = |n: u64| {
                let mut a = engine
                    .instantiate(&boundary_config("a", BOUNDARY_A, &directory))
                    .expect("a starts");
                let mut b = engine
                    .instantiate(&boundary_config("b", BOUNDARY_B, &directory))
                    .expect("b starts");
                drive(a.as_mut(), b.as_mut(), "posts", n).1
            };
            for n in BOUNDARY_COLD {
                report.add(
                    &format!(
                        "engine round trip, 0.6 KB post both ways, first {n} of new isolates, CPU"
                    ),
                    "µs",
                    e,
                    us(cold(n)),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 5. HTTP requests (the `@fetch` path)

/// `@fetch` invocations per engine per round sample.
const FETCH_BATCH: u64 = 20_000;

fn fetch(engines: &[Arc<dyn Engine>], rounds: usize, report: &mut Report) {
    eprintln!(
        "[engines] fetch: {rounds} rounds x {CALL_SAMPLES} x {FETCH_BATCH} requests per engine"
    );
    let runtimes: Vec<Runtime> = engines
        .iter()
        .map(|e| common::hello_http_runtime(1, Some(e.clone())))
        .collect();
    for rt in &runtimes {
        let answer = rt
            .call_blocking("hello", engine::FETCH_METHOD, common::hello_request_value())
            .expect("hello answers");
        common::check_hello_response(&answer);
        common::fetch_batch(rt, FETCH_BATCH, 32); // warm-up
    }
    for round in 0..rounds {
        for e in order(round) {
            let mut walls = Vec::new();
            let mut cpus = Vec::new();
            for _ in 0..CALL_SAMPLES {
                let before = common::workers_cpu();
                walls.push(common::fetch_batch(&runtimes[e], FETCH_BATCH, 32));
                cpus.push(common::workers_cpu() - before);
            }
            report.add(
                "hello-world @fetch, 32 in flight (1 worker), per request",
                "µs",
                e,
                us(median(&mut walls) / FETCH_BATCH as u32),
            );
            report.add(
                "hello-world @fetch, worker CPU per request",
                "µs",
                e,
                us(median(&mut cpus) / FETCH_BATCH as u32),
            );
        }
    }
    for rt in &runtimes {
        rt.shutdown();
    }
}

// ---------------------------------------------------------------------------
// 6. Compute-heavy handlers

fn compute(engines: &[Arc<dyn Engine>], rounds: usize, report: &mut Report) {
    eprintln!("[engines] compute: {rounds} rounds per engine and workload");
    let sha256_js = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/socialnetwork/lib/sha256.js"),
    )
    .expect("the social network's SHA-256 library");
    let (_dir, app) = common::write_app(&[
        ("pyrosome.toml", COMPUTE_MANIFEST),
        ("compute.js", COMPUTE_JS),
        ("sha256.js", &sha256_js),
    ]);
    let runtimes: Vec<Runtime> = engines
        .iter()
        .map(|engine| {
            Runtime::start(
                app.clone(),
                RuntimeOptions {
                    engine: Some(engine.clone()),
                    workers: 1,
                    partitioning: false,
                    ..RuntimeOptions::default()
                },
            )
            .expect("compute app starts")
        })
        .collect();
    check_results(&runtimes, report);
    // Warm-up (and the first, cold invocation of each method).
    for (method, _) in WORKLOADS {
        for (e, rt) in runtimes.iter().enumerate() {
            let t = Instant::now();
            invoke(rt, method);
            report.note(format!(
                "first invocation of compute.{method} on {}: {:.3} ms",
                ENGINES[e],
                ms(t.elapsed())
            ));
            let t = Instant::now();
            let mut n = 1;
            while n < COMPUTE_WARMUP_SAMPLES || t.elapsed() < COMPUTE_WARMUP_TIME {
                invoke(rt, method);
                n += 1;
            }
        }
    }
    for round in 0..rounds {
        for (method, what) in WORKLOADS {
            for e in order(round) {
                let rt = &runtimes[e];
                let mut samples = Vec::new();
                let t = Instant::now();
                while samples.len() < COMPUTE_MAX_SAMPLES
                    && (samples.len() < COMPUTE_MIN_SAMPLES || t.elapsed() < COMPUTE_MIN_TIME)
                {
                    let s = Instant::now();
                    invoke(rt, method);
                    samples.push(s.elapsed());
                }
                report.add(
                    &format!("compute.{method}: {what}"),
                    "µs",
                    e,
                    us(median(&mut samples)),
                );
            }
        }
    }
    for rt in &runtimes {
        rt.shutdown();
    }
}

fn invoke(rt: &Runtime, method: &str) -> Value {
    rt.call_blocking("compute", method, Value::Null)
        .unwrap_or_else(|e| panic!("compute.{method} on {}: {e}", rt.engine_name()))
}

/// Both engines compute the same results, and the right ones.
fn check_results(runtimes: &[Runtime], report: &mut Report) {
    let results: Vec<BTreeMap<&str, Value>> = runtimes
        .iter()
        .map(|rt| {
            [
                "json",
                "jsonSize",
                "regex",
                "regexSize",
                "sha256",
                "numeric",
                "arithmetic",
            ]
            .into_iter()
            .map(|m| (m, invoke(rt, m)))
            .collect()
        })
        .collect();
    let (q, v) = (&results[0], &results[1]);
    for m in ["json", "jsonSize", "regex", "regexSize", "sha256"] {
        assert_eq!(q[m], v[m], "compute.{m} differs between the engines");
    }
    assert_eq!(q["json"], q["jsonSize"], "JSON round trip keeps the length");
    assert_eq!(q["sha256"], Value::from(SHA256_EXPECTED), "SHA-256 digest");
    for m in ["numeric", "arithmetic"] {
        let (Value::Number(a), Value::Number(b)) = (&q[m], &v[m]) else {
            panic!("{m} returns numbers");
        };
        assert!((a - b).abs() <= 1e-9 * a.abs(), "{m}: {a} vs {b}");
    }
    report.note(format!(
        "inputs: JSON document {} bytes; text {} bytes with {} matches; SHA-256 digest {} (checked); \
         numeric result {} (QuickJS) / {} (V8)",
        num(&q["jsonSize"]),
        num(&q["regexSize"]),
        num(&q["regex"]),
        SHA256_EXPECTED,
        num(&q["numeric"]),
        num(&v["numeric"]),
    ));
}

fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("{n}"),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Statistics and the report

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    let n = samples.len();
    if n.is_multiple_of(2) {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    } else {
        samples[n / 2]
    }
}

fn median_f(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// Per metric (in the order first added): unit and, per engine, one value
/// per round.
#[derive(Default)]
struct Report {
    metrics: Vec<(String, &'static str, [Vec<f64>; 2])>,
    notes: Vec<String>,
}

impl Report {
    fn add(&mut self, metric: &str, unit: &'static str, engine: usize, value: f64) {
        let i = match self.metrics.iter().position(|(m, _, _)| m == metric) {
            Some(i) => i,
            None => {
                self.metrics
                    .push((metric.to_owned(), unit, [Vec::new(), Vec::new()]));
                self.metrics.len() - 1
            }
        };
        self.metrics[i].2[engine].push(value);
    }

    fn note(&mut self, note: String) {
        eprintln!("[engines] {note}");
        self.notes.push(note);
    }

    fn render(&self, rounds: usize, elapsed: Duration, before: &str, after: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Engines: QuickJS and V8 (`cargo bench --features v8 --bench engines`)\n"
        );
        let _ = writeln!(
            out,
            "{rounds} rounds (memory: {MEMORY_ROUNDS}), engines interleaved (A B / B A ...); \
             medians over rounds; ratio = V8 / QuickJS (< 1: V8 lower). {:.0} s; load average \
             {before} before, {after} after.\n",
            elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "| metric | unit | QuickJS | V8 | V8 / QuickJS | QuickJS / V8 |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
        for (metric, unit, [q, v]) in &self.metrics {
            let (q, v) = (median_f(q), median_f(v));
            let _ = writeln!(
                out,
                "| {metric} | {unit} | {} | {} | {:.3}x | {:.2}x |",
                fmt(q),
                fmt(v),
                v / q,
                q / v
            );
        }
        let _ = writeln!(out, "\nEvery round (in round order):\n");
        let _ = writeln!(out, "| metric | engine | values |");
        let _ = writeln!(out, "|---|---|---|");
        for (metric, unit, values) in &self.metrics {
            for (e, vals) in values.iter().enumerate() {
                let list: Vec<String> = vals.iter().map(|x| fmt(*x)).collect();
                let _ = writeln!(
                    out,
                    "| {metric} ({unit}) | {} | {} |",
                    ENGINES[e],
                    list.join(", ")
                );
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nNotes:\n");
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

/// Three significant digits, at least.
fn fmt(x: f64) -> String {
    if !x.is_finite() {
        "n/a".to_owned()
    } else if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}
