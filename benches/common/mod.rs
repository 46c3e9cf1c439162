//! What the runtime-core bench (`core.rs`) and the engine comparison
//! (`engines.rs`) share: the two-service call app and its round-trip
//! measurement, and the small module whose isolate start both time.
//!
//! Included with `mod common;` (a folder, so cargo does not take it for a
//! bench target of its own).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use pyrosome::engine::{self, Directory, IsolateConfig, ModuleSource, Modules};
use pyrosome::{App, Engine, Runtime, RuntimeOptions, Value};

/// The call app: `a.loop({n})` awaits `services.b.noop({i})` `n` times;
/// `b.noop` returns its argument (an echo).
const CALL_MANIFEST: &str = r#"
name = "bench"
[services.a]
module = "a.js"
[services.b]
module = "b.js"
"#;

const CALL_A: &str = r#"
import { services } from "pyrosome";
export async function loop({ n }) {
  for (let i = 0; i < n; i++) await services.b.noop({ i });
  return n;
}
export function noop(v) { return v; }
// A social-network post (~0.6 KB as JSON).
function makePost() {
  return {
    post_id: 8312093480123, req_id: 99123, timestamp: 1732610000000, post_type: 0,
    creator: { user_id: 4711, username: "username_4711" },
    text: "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor @username_12 incididunt ut labore et dolore magna aliqua http://short.url/abc",
    user_mentions: [{ user_id: 12, username: "username_12" }, { user_id: 13, username: "username_13" }],
    media: [{ media_id: 1, media_type: "png" }, { media_id: 2, media_type: "jpg" }],
    urls: [{ shortened_url: "http://short.url/abc", expanded_url: "https://example.com/a/long/path?q=1" }],
  };
}
// The post, sent and echoed back n times.
export async function posts({ n }) {
  const post = makePost();
  let size = 0;
  for (let i = 0; i < n; i++) size += (await services.b.noop(post)).text.length;
  return size;
}
// The post copied n times within the isolate: by structuredClone
// (web/clone.js, the standard's algorithm in JavaScript; no scheduler) and,
// for reference, through JSON.
export function clones({ n }) {
  const post = makePost();
  let size = 0;
  for (let i = 0; i < n; i++) size += structuredClone(post).text.length;
  return size;
}
export function jsonClones({ n }) {
  const post = makePost();
  let size = 0;
  for (let i = 0; i < n; i++) size += JSON.parse(JSON.stringify(post)).text.length;
  return size;
}
"#;

const CALL_B: &str = "export function noop(v) { return v; }\n";

/// Writes `files` (name, text), one of them `pyrosome.toml`, to a
/// temporary folder and loads the app. Keep the folder while the app runs.
pub fn write_app(files: &[(&str, &str)]) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write app file");
    }
    let app = App::load(dir.path()).expect("bench app loads");
    (dir, app)
}

/// The call app running on `workers` workers and `engine` (`None`: the
/// default engine).
pub fn call_runtime(
    workers: usize,
    engine: Option<Arc<dyn Engine>>,
) -> (tempfile::TempDir, Runtime) {
    let (dir, app) = write_app(&[
        ("pyrosome.toml", CALL_MANIFEST),
        ("a.js", CALL_A),
        ("b.js", CALL_B),
    ]);
    let rt = Runtime::start(
        app,
        RuntimeOptions {
            engine,
            workers,
            ..RuntimeOptions::default()
        },
    )
    .expect("bench app starts");
    (dir, rt)
}

/// Like [`call_loop`] with a ~0.6 KB post as the argument and the result
/// (`a.posts`).
pub fn post_loop(rt: &Runtime, n: u64) -> Duration {
    let arg = Value::object([("n", Value::Number(n as f64))]);
    let start = Instant::now();
    rt.call_blocking("a", "posts", arg).expect("posts runs");
    start.elapsed()
}

/// Runs `n` copies of the post within one isolate (`a.clones`,
/// `a.jsonClones`) and returns the time they took. The loop runs in
/// invocations of at most [`CLONE_CHUNK`] copies, well within an
/// invocation's CPU budget. (Only `core.rs` uses it.)
#[allow(dead_code)]
pub fn clone_loop(rt: &Runtime, method: &str, n: u64) -> Duration {
    let mut left = n;
    let start = Instant::now();
    while left > 0 {
        let chunk = left.min(CLONE_CHUNK);
        let arg = Value::object([("n", Value::Number(chunk as f64))]);
        rt.call_blocking("a", method, arg).expect("clone loop runs");
        left -= chunk;
    }
    start.elapsed()
}

/// Copies per invocation in [`clone_loop`]: a few milliseconds, well
/// within the 100 ms CPU budget even for `structuredClone` in JavaScript on
/// a loaded machine (~50 µs a copy on QuickJS).
#[allow(dead_code)]
const CLONE_CHUNK: u64 = 200;

/// Runs `n` cross-service calls from JavaScript (`a.loop`) and returns the
/// time they took; divided by `n`, it is one call's round trip (plus a
/// `1/n` share of the invocation from Rust that starts the loop).
pub fn call_loop(rt: &Runtime, n: u64) -> Duration {
    let arg = Value::object([("n", Value::Number(n as f64))]);
    let start = Instant::now();
    rt.call_blocking("a", "loop", arg).expect("loop runs");
    start.elapsed()
}

/// An isolate of a small service module: an import of `"pyrosome"`, a
/// method and a `fetch` handler. Isolate start = instantiating this.
pub fn small_module_config() -> IsolateConfig {
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
    IsolateConfig {
        service: Arc::from("main"),
        entry: "main.js".to_owned(),
        modules: Arc::new(modules),
        directory,
        memory_limit: 64 << 20,
        cpu_budget: Duration::from_millis(100),
        dev_mode: false,
        stores: Vec::new(),
        env: Default::default(),
    }
}

/// The hello-world HTTP app (`bench/apps/hello-http`, the app of
/// `bench/http-hello.sh`) running on `workers` workers and `engine`
/// (`None`: the default engine, i.e. `PYROSOME_ENGINE` or QuickJS).
pub fn hello_http_runtime(workers: usize, engine: Option<Arc<dyn Engine>>) -> Runtime {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/apps/hello-http");
    let app = App::load(&dir).expect("hello-http app loads");
    Runtime::start(
        app,
        RuntimeOptions {
            engine,
            workers,
            ..RuntimeOptions::default()
        },
    )
    .expect("hello-http app starts")
}

/// The request value the gateway makes (`gateway/convert.rs::request_value`,
/// whose shape this must follow) for `GET /` with the headers curl sends
/// (wrk sends only `host`; browsers send a dozen): `[method, url,
/// [name0, value0, ...]]`.
pub fn hello_request_value() -> Value {
    let headers = [
        "host",
        "127.0.0.1:8099",
        "user-agent",
        "curl/7.88.1",
        "accept",
        "*/*",
    ];
    Value::Array(vec![
        Value::from("GET"),
        Value::from("http://127.0.0.1:8099/"),
        Value::Array(headers.iter().map(|s| Value::from(*s)).collect()),
    ])
}

/// Checks the hello app's answer (`[status, body, headers]`, see
/// `gateway/convert.rs::response_from_value`): 200 and its body.
pub fn check_hello_response(response: &Value) {
    let Value::Array(items) = response else {
        panic!("the response value is an array: {response:?}")
    };
    assert_eq!(
        items.first(),
        Some(&Value::Number(200.0)),
        "hello answers 200: {response:?}"
    );
    let body = match items.get(1) {
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(Value::Bytes(b)) => b.clone(),
        other => panic!("hello answers a body, got {other:?}"),
    };
    assert_eq!(body, b"Hello, world!\n", "hello's body");
}

/// `n` `@fetch` invocations of the hello app, `in_flight` at a time (as a
/// server with that many connections would have them queued), and the
/// time they took.
pub fn fetch_batch(rt: &Runtime, n: u64, in_flight: usize) -> Duration {
    let request = hello_request_value();
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = (in_flight as u64).min(left);
        let receivers: Vec<_> = (0..k)
            .map(|_| {
                rt.scheduler()
                    .invoke("hello", engine::FETCH_METHOD, request.clone())
            })
            .collect();
        for rx in receivers {
            rx.blocking_recv()
                .expect("the runtime answers")
                .expect("hello's fetch succeeds");
        }
        left -= k;
    }
    start.elapsed()
}

/// CPU time a worker thread of this process (`pyrosome-worker-*`) has run,
/// from `/proc/self/task/*/schedstat` (Linux): summed over all workers.
pub fn workers_cpu() -> Duration {
    let mut total = 0u64;
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task (Linux)");
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("pyrosome-worker") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    assert!(total > 0, "no pyrosome-worker thread has run");
    Duration::from_nanos(total)
}
