//! The `pyrosome` binary as a user runs it: `call`, `check`, `serve` with
//! graceful shutdown on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{TempApp, get};
use pyrosome::engine::ENGINE_ENV;

fn pyrosome() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pyrosome"))
}

/// Kills the child if the test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn call_prints_the_result_as_json() {
    let hello = common::repo_path("examples/hello");
    let out = pyrosome()
        .args(["call"])
        .arg(&hello)
        .args(["greeter.greet", r#"{"name":"Ada"}"#])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["message"], "Hello, Ada!");

    let out = pyrosome()
        .arg("call")
        .arg(&hello)
        .args(["greeter.greet", "{not json"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));

    let out = pyrosome()
        .arg("call")
        .arg(&hello)
        .args(["greeter.greet", r#"{"name":""}"#])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("name must be a non-empty string") && err.contains("greeter.js"),
        "{err}"
    );
}

#[test]
fn a_manifest_typo_is_reported_with_file_line_and_field() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\n\n[services.a]\nmodul = \"a.js\"\n",
        ),
        ("a.js", "export function f() {}\n"),
    ]);
    let out = pyrosome()
        .arg("check")
        .arg(app.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pyrosome.toml:4"), "{err}");
    assert!(err.contains("services.a.modul"), "{err}");
    assert!(err.contains("did you mean \"module\""), "{err}");
}

#[test]
fn serve_drains_in_flight_requests_on_sigterm() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\n[services.a]\nmodule = \"a.js\"\nroutes = [\"/\"]\n",
        ),
        (
            "a.js",
            "export default { async fetch(req) {\n\
               const ms = Number(new URL(req.url).searchParams.get('ms') ?? '0');\n\
               await new Promise((r) => setTimeout(r, ms));\n\
               return new Response('slept ' + ms);\n\
             } };\n",
        ),
    ]);
    let child = pyrosome()
        .arg("serve")
        .arg(app.path())
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut guard = Guard(child);
    let stderr = guard.0.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("on http://").nth(1) {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr: std::net::SocketAddr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its address")
        .parse()
        .expect("an address");
    assert_eq!(get(addr, "/?ms=0").text(), "slept 0");

    // Several requests in flight, on as many connections: with two workers
    // polling the sockets, both hold some of them.
    let slow: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || get(addr, "/?ms=600")))
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let pid = guard.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());

    for slow in slow {
        let response = slow.join().expect("client thread");
        assert_eq!(response.status, 200, "the in-flight request finished");
        assert_eq!(response.text(), "slept 600");
    }
    let status = guard.0.wait().expect("exits");
    assert!(status.success(), "clean exit after draining: {status:?}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}

/// A one-service app with `engine_line` at the top of its manifest.
fn engine_app(engine_line: &str) -> TempApp {
    let manifest = format!("name = \"t\"\n{engine_line}\n[services.a]\nmodule = \"a.js\"\n");
    TempApp::new(&[
        ("pyrosome.toml", manifest.as_str()),
        ("a.js", "export function f() { return 42; }\n"),
    ])
}

#[cfg(not(feature = "v8"))]
#[test]
fn v8_in_a_build_without_it_says_how_to_build_it() {
    let plain = engine_app("");
    for command in ["check", "call", "serve"] {
        let mut cmd = pyrosome();
        cmd.arg(command).arg(plain.path());
        if command == "call" {
            cmd.arg("a.f");
        }
        let out = cmd
            .args(["--engine", "v8"])
            .env_remove(ENGINE_ENV)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {err}");
        assert!(err.contains("--engine v8: "), "{command}: {err}");
        assert!(err.contains("--features v8"), "{command}: {err}");
    }

    let asks_for_v8 = engine_app("engine = \"v8\"");
    let out = pyrosome()
        .arg("check")
        .arg(asks_for_v8.path())
        .env_remove(ENGINE_ENV)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("(engine = \"v8\" in "), "{err}");
    assert!(err.contains("pyrosome.toml"), "{err}");
    assert!(err.contains("--features v8"), "{err}");

    let out = pyrosome()
        .arg("check")
        .arg(plain.path())
        .env(ENGINE_ENV, "v8")
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("{ENGINE_ENV}=v8: ")), "{err}");
    assert!(err.contains("--features v8"), "{err}");
}

#[test]
fn the_engine_is_chosen_by_flag_then_manifest_then_environment() {
    // Runs the same in every build: "bogus" is no engine, and QuickJS is
    // always built in. Each case would fail if a lower-precedence choice won.
    let check = |app: &TempApp, flag: Option<&str>, env: Option<&str>| {
        let mut cmd = pyrosome();
        cmd.arg("check").arg(app.path());
        if let Some(engine) = flag {
            cmd.args(["--engine", engine]);
        }
        match env {
            Some(value) => cmd.env(ENGINE_ENV, value),
            None => cmd.env_remove(ENGINE_ENV),
        };
        cmd.output().expect("runs")
    };
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a: f\n");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    let quickjs = engine_app("engine = \"quickjs\"");
    let log = ok(check(&quickjs, None, None));
    assert!(log.contains("quickjs JavaScript engine"), "{log}");
    // The manifest beats the environment.
    ok(check(&quickjs, None, Some("bogus")));
    // The flag beats the manifest and the environment.
    let asks_for_v8 = engine_app("engine = \"v8\"");
    ok(check(&asks_for_v8, Some("quickjs"), Some("bogus")));
    // The environment beats the default.
    let plain = engine_app("");
    let out = check(&plain, None, Some("bogus"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("{ENGINE_ENV}=bogus: unknown engine \"bogus\"")),
        "{err}"
    );
    ok(check(&plain, None, None));

    // `call` takes the flag too.
    let out = pyrosome()
        .arg("call")
        .arg(asks_for_v8.path())
        .args(["a.f", "--engine", "quickjs"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
}

#[test]
fn an_unknown_engine_in_the_manifest_lists_the_valid_ones() {
    let app = engine_app("engine = \"v9\"");
    let out = pyrosome()
        .arg("check")
        .arg(app.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pyrosome.toml:2:10: engine: unknown engine \"v9\""),
        "{err}"
    );
    assert!(
        err.contains("\"quickjs\"") && err.contains("\"v8\""),
        "{err}"
    );
}

/// Starts `pyrosome serve` on `app` (through `wrap`, e.g. `prlimit`) and
/// returns the child and its address.
fn serve(app: &TempApp, wrap: &[&str]) -> (Guard, std::net::SocketAddr) {
    let mut command = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(env!("CARGO_BIN_EXE_pyrosome"));
            c
        }
        None => pyrosome(),
    };
    let child = command
        .arg("serve")
        .arg(app.path())
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut guard = Guard(child);
    let stderr = guard.0.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("on http://").nth(1) {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its address")
        .parse()
        .expect("an address");
    (guard, addr)
}

fn sleepy_app(http: &str) -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            &format!("name = \"t\"\n{http}\n[services.a]\nmodule = \"a.js\"\nroutes = [\"/\"]\n"),
        ),
        (
            "a.js",
            "export default { async fetch(req) {\n\
               const ms = Number(new URL(req.url).searchParams.get('ms') ?? '0');\n\
               await new Promise((r) => setTimeout(r, ms));\n\
               return new Response('slept ' + ms);\n\
             } };\n",
        ),
    ])
}

fn signal(guard: &Guard, name: &str) {
    let killed = Command::new("kill")
        .args([&format!("-{name}"), &guard.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
}

#[test]
fn a_second_signal_exits_without_waiting_for_the_drain() {
    let app = sleepy_app("");
    let (mut guard, addr) = serve(&app, &[]);
    assert_eq!(get(addr, "/?ms=0").text(), "slept 0");
    let _slow = std::thread::spawn(move || {
        let _ = std::panic::catch_unwind(|| get(addr, "/?ms=20000"));
    });
    std::thread::sleep(Duration::from_millis(200));
    signal(&guard, "TERM");
    std::thread::sleep(Duration::from_millis(200));
    let start = std::time::Instant::now();
    signal(&guard, "INT");
    let status = guard.0.wait().expect("exits");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the second signal did not cut the 20 s drain short"
    );
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[test]
fn the_drain_stops_at_the_configured_deadline() {
    let app = sleepy_app("[http]\ndrain_timeout_ms = 300\n");
    let (mut guard, addr) = serve(&app, &[]);
    let slow =
        std::thread::spawn(move || std::panic::catch_unwind(|| get(addr, "/?ms=5000")).is_ok());
    std::thread::sleep(Duration::from_millis(200));
    let start = std::time::Instant::now();
    signal(&guard, "TERM");
    let status = guard.0.wait().expect("exits");
    let took = start.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(4),
        "drained for {took:?} with a 300 ms deadline"
    );
    assert!(
        !slow.join().expect("client"),
        "the cut request got no response"
    );
}

#[test]
fn serve_raises_the_open_file_limit_to_the_hard_limit() {
    let app = sleepy_app("");
    let (guard, addr) = serve(&app, &["prlimit", "--nofile=256:4096"]);
    assert_eq!(get(addr, "/?ms=0").text(), "slept 0");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", guard.0.id()))
        .expect("limits of the server");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open-files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], "4096", "soft limit raised: {line}");
}

#[test]
fn store_flags_are_accepted_before_or_after_the_action() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"kv\"\n[stores.notes]\n[services.a]\nmodule = \"a.js\"\n",
        ),
        ("a.js", "export function f() {}\n"),
    ]);
    let data = tempfile::tempdir().expect("data dir");
    let run = |args: &[&str]| {
        let out = pyrosome()
            .arg("store")
            .arg(app.path())
            .args(args)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "store {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dir = data.path().to_str().expect("utf-8 temp path");
    // Before the action, as before, and after it (and after its own flags).
    run(&["--data", dir, "put", "notes", "a", r#""first""#]);
    run(&["put", "notes", "b", r#""second""#, "--data", dir]);
    let listed = run(&["list", "notes", "--data", dir]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(
        listed.contains("first") && listed.contains("second"),
        "{listed}"
    );
    let listed = run(&[
        "list", "notes", "--prefix", "b", "--data", dir, "--limit", "5",
    ]);
    assert_eq!(listed.trim(), r#"{"key":"b","value":"second"}"#);
    assert_eq!(
        run(&["--data", dir, "get", "notes", "a"]).trim(),
        r#""first""#
    );
    // Every write went to --data: the app's default store folder was never made.
    assert!(
        !app.path().join(".pyrosome").exists(),
        "the default data folder was used"
    );
}

/// Starts `pyrosome serve APP --listen 127.0.0.1:0 --workers 2 EXTRA...`;
/// returns the child, its app address and every line of its stderr.
fn serve_with(
    app: &TempApp,
    extra: &[&str],
) -> (Guard, std::net::SocketAddr, mpsc::Receiver<String>) {
    let child = pyrosome()
        .arg("serve")
        .arg(app.path())
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut guard = Guard(child);
    let stderr = guard.0.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .expect("the server logs its address");
        if let Some(addr) = line.split("on http://").nth(1) {
            return (guard, addr.trim().parse().expect("an address"), rx);
        }
    }
}

/// Waits for a line of `lines` containing every one of `parts`.
fn wait_for_line(lines: &mpsc::Receiver<String>, parts: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .unwrap_or_else(|_| panic!("no log line with {parts:?}"));
        if parts.iter().all(|p| line.contains(p)) {
            return line;
        }
    }
}

/// Polls `GET path` until its body is `expected`.
fn eventually_serves(addr: std::net::SocketAddr, path: &str, expected: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let body = get(addr, path).text();
        if body == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {body:?}, expected {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn counter_app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"counter\"\n[stores.counts]\n[services.counter]\nmodule = \"counter.js\"\n\
             routes = [\"/\"]\nstores = [\"counts\"]\n",
        ),
        (
            "counter.js",
            "import { store } from \"pyrosome\";\n\
             const counts = store(\"counts\");\n\
             export async function incr(by) {\n\
               const n = ((await counts.get(\"n\")) ?? 0) + (by?.by ?? 1);\n\
               await counts.put(\"n\", n);\n\
               return { n };\n\
             }\n\
             export default { async fetch() { return new Response(String((await counts.get(\"n\")) ?? 0)); } };\n",
        ),
    ])
}

fn call(app: &TempApp, args: &[&str]) -> std::process::Output {
    pyrosome()
        .arg("call")
        .arg(app.path())
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn call_goes_through_a_running_server_and_runs_offline_without_one() {
    let app = counter_app();
    let (mut guard, addr, lines) = serve_with(&app, &["--admin", "127.0.0.1:0"]);
    let admin_line = wait_for_line(&lines, &["admin endpoints", "at http://"]);
    let server_file = app.path().join(".pyrosome/data/server.json");
    assert!(server_file.exists(), "serve records its admin address");

    // The server holds the store: an offline call could not open it.
    for (args, expected) in [
        (&["counter.incr"][..], 1),
        (&["counter.incr", r#"{"by":2}"#], 3),
    ] {
        let out = call(&app, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json, serde_json::json!({ "n": expected }));
    }
    assert_eq!(get(addr, "/").text(), "3", "the server's own state");
    // Through an explicit --admin too; errors are reported as offline.
    let admin = admin_line
        .rsplit("http://")
        .next()
        .expect("address")
        .trim()
        .to_owned();
    let out = call(&app, &["counter.nope", "--admin", &admin]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("counter.nope threw") && err.contains("has no method"),
        "{err}"
    );

    signal(&guard, "TERM");
    assert!(guard.0.wait().expect("exits").success());
    assert!(!server_file.exists(), "removed at exit");
    let out = call(&app, &["counter.incr"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json, serde_json::json!({ "n": 4 }), "offline, same store");
}

fn versioned_app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"v\"\n[services.a]\nmodule = \"a.js\"\nroutes = [\"/\"]\n",
        ),
        (
            "a.js",
            "import { V } from \"./v.js\";\nexport default { fetch() { return new Response(`v${V}`); } };\n",
        ),
        ("v.js", "export const V = 1;\n"),
    ])
}

#[test]
fn sighup_reloads_the_app_and_a_broken_reload_keeps_the_old_code() {
    let app = versioned_app();
    let (guard, addr, lines) = serve_with(&app, &["--admin", "off"]);
    assert_eq!(get(addr, "/").text(), "v1");
    std::fs::write(app.path().join("v.js"), "export const V = 2;\n").expect("write");
    signal(&guard, "HUP");
    wait_for_line(&lines, &["reloaded app", "replaced a"]);
    assert_eq!(get(addr, "/").text(), "v2");
    std::fs::write(app.path().join("v.js"), "export const V = 2 +;\n").expect("write");
    signal(&guard, "HUP");
    let line = wait_for_line(&lines, &["reload refused"]);
    assert!(line.contains("v.js:1"), "{line}");
    assert_eq!(get(addr, "/").text(), "v2");
}

#[test]
fn watch_reloads_when_a_module_changes() {
    let app = versioned_app();
    let (_guard, addr, lines) =
        serve_with(&app, &["--watch", "--admin", "off", "--access-log", "on"]);
    wait_for_line(&lines, &["watching"]);
    assert_eq!(get(addr, "/").text(), "v1");
    let access = wait_for_line(&lines, &["pyrosome::access", "status=200"]);
    assert!(access.contains("path=\"/\""), "{access}");
    std::fs::write(app.path().join("v.js"), "export const V = 2;\n").expect("write");
    eventually_serves(addr, "/", "v2");
    std::fs::write(app.path().join("v.js"), "export const V = ;\n").expect("write");
    let line = wait_for_line(&lines, &["reload refused"]);
    assert!(line.contains("v.js:1"), "{line}");
    assert_eq!(get(addr, "/").text(), "v2");
}
