//! Hot reload (`Runtime::reload`, `POST /admin/reload`): only changed
//! services get new instances, under load no request fails, in-flight work
//! on old instances finishes, and a reload that does not load changes
//! nothing. Also the admin listener and the access log.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Client, TempApp, TestServer, captured_logs, get};
use pyrosome::gateway::GatewayOptions;
use pyrosome::runtime::ReloadError;

const MANIFEST: &str = r#"name = "reload"

[services.front]
module = "front.js"
routes = ["/"]

[services.slow]
module = "slow.js"
routes = ["/slow"]

[services.other]
module = "other.js"
"#;

const FRONT: &str = r#"
import { VERSION } from "./lib/version.js";
import { services } from "pyrosome";
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/other") return new Response(String(await services.other.ping()));
    return new Response(`v${VERSION}`);
  },
};
"#;

const SLOW: &str = r#"
import { VERSION } from "./lib/version.js";
export default {
  async fetch(request) {
    const ms = Number(new URL(request.url).searchParams.get("ms") ?? "0");
    await new Promise((r) => setTimeout(r, ms));
    return new Response(`slow v${VERSION}`);
  },
};
"#;

const OTHER: &str = r#"
export function ping() { return "pong"; }
export function add({ a, b }) { return a + b; }
export function fail() { throw new RangeError("out of range", { cause: "because" }); }
"#;

fn version(v: u32) -> String {
    format!("export const VERSION = {v};\n")
}

fn app() -> TempApp {
    TempApp::new(&[
        ("pyrosome.toml", MANIFEST),
        ("front.js", FRONT),
        ("slow.js", SLOW),
        ("other.js", OTHER),
        ("lib/version.js", &version(1)),
    ])
}

fn write(app: &TempApp, path: &str, contents: &str) {
    std::fs::write(app.path().join(path), contents).expect("write");
}

fn status(server: &TestServer) -> serde_json::Value {
    serde_json::from_slice(&get(server.admin, "/admin/status").body).expect("status is JSON")
}

fn service_status(status: &serde_json::Value, name: &str) -> serde_json::Value {
    status["services"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("service {name} in {status}"))
}

/// Waits until `done` holds (polling; panics after a generous deadline).
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The version number in a `v3` / `slow v3` body.
fn version_of(body: &str) -> u32 {
    body.rsplit('v')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no version in {body:?}"))
}

#[test]
fn reloads_under_load_drop_no_request_and_switch_to_the_new_code() {
    let app = app();
    let server = TestServer::start(app.start(2), 1 << 20, false);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    // Clients on keep-alive connections, each with a request in flight at
    // all times.
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let stop = stop.clone();
            let sent = sent.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let r = client.request("GET", "/", &[], b"");
                    sent.fetch_add(1, Ordering::Relaxed);
                    seen.push((r.status, r.text()));
                }
                seen
            })
        })
        .collect();
    eventually("the clients are running", || {
        sent.load(Ordering::Relaxed) >= 100
    });

    for v in 2..=4 {
        // A long request in flight on the old code while it is replaced.
        let slow = std::thread::spawn(move || get(addr, "/slow?ms=400"));
        eventually("the slow request is in flight", || {
            service_status(&status(&server), "slow")["in_flight"].as_u64() == Some(1)
        });
        write(&app, "lib/version.js", &version(v));
        let summary = server.runtime.reload().expect("reload");
        assert_eq!(summary.replaced, ["front", "slow"], "{summary:?}");
        assert_eq!(summary.unchanged, ["other"], "{summary:?}");
        assert!(summary.added.is_empty() && summary.removed.is_empty());
        // From the moment the reload returns, new requests run the new code.
        assert_eq!(get(addr, "/").text(), format!("v{v}"));
        let slow = slow.join().expect("slow client");
        assert_eq!(slow.status, 200, "{}", slow.text());
        assert_eq!(
            slow.text(),
            format!("slow v{}", v - 1),
            "the old instance finished it"
        );
        let before = sent.load(Ordering::Relaxed);
        eventually("more requests after the reload", || {
            sent.load(Ordering::Relaxed) >= before + 50
        });
    }

    // A reload whose code does not load keeps the old code, and says where.
    write(&app, "lib/version.js", "export const VERSION = ;\n");
    let err = server.runtime.reload().expect_err("a syntax error");
    let message = err.to_string();
    assert!(matches!(err, ReloadError::Start(_)), "{err:?}");
    assert!(message.contains("version.js:1"), "{message}");
    assert!(message.contains("SyntaxError"), "{message}");
    assert_eq!(get(addr, "/").text(), "v4");
    assert_eq!(get(addr, "/slow").text(), "slow v4");
    write(&app, "lib/version.js", &version(5));
    server.runtime.reload().expect("the fixed code reloads");
    assert_eq!(get(addr, "/").text(), "v5");

    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for client in clients {
        let seen = client.join().expect("client");
        total += seen.len();
        let mut last = 0;
        for (status, body) in seen {
            assert_eq!(status, 200, "a request failed during the reloads: {body}");
            let v = version_of(&body);
            assert!(v >= last, "a client saw v{v} after v{last}");
            last = v;
        }
    }
    assert!(total >= 300, "{total} requests");

    // The replaced instances finished their work and went.
    eventually("old instances stopped", || {
        let status = status(&server);
        ["front", "slow", "other"]
            .iter()
            .all(|s| service_status(&status, s)["draining"] == 0)
    });
    // Counters went on across the reloads.
    let front = service_status(&status(&server), "front");
    let fetch = front["methods"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "@fetch"))
        .cloned()
        .expect("@fetch");
    assert!(
        fetch["completed"].as_u64().unwrap_or(0) >= total as u64,
        "{fetch}"
    );
}

#[test]
fn a_reload_adds_removes_and_reconfigures_services_and_refuses_what_cannot_change_live() {
    let app = app();
    let server = TestServer::start(app.start(2), 1 << 20, false);
    let addr = server.addr;
    assert_eq!(get(addr, "/other").text(), "pong");

    // A new service with a route: the directory of services changes, so
    // every service gets new instances (each isolate keeps the directory
    // it started with).
    write(
        &app,
        "extra.js",
        "export default { fetch() { return new Response('extra'); } };\n",
    );
    let with_extra =
        format!("{MANIFEST}\n[services.extra]\nmodule = \"extra.js\"\nroutes = [\"/extra\"]\n");
    write(&app, "pyrosome.toml", &with_extra);
    let summary = server.runtime.reload().expect("reload");
    assert_eq!(summary.added, ["extra"]);
    assert_eq!(summary.replaced, ["front", "other", "slow"]);
    assert_eq!(get(addr, "/extra").text(), "extra");
    assert_eq!(get(addr, "/other").text(), "pong", "calls still work");

    // Nothing changed: nothing is replaced.
    let summary = server.runtime.reload().expect("reload");
    assert!(summary.is_empty(), "{summary:?}");
    assert_eq!(summary.unchanged, ["extra", "front", "other", "slow"]);

    // Limits: a shorter deadline applies to new invocations.
    write(
        &app,
        "pyrosome.toml",
        &format!("{with_extra}\n[services.slow.limits]\ntimeout_ms = 100\n"),
    );
    let summary = server.runtime.reload().expect("reload");
    assert_eq!(summary.replaced, ["slow"], "{summary:?}");
    let r = get(addr, "/slow?ms=2000");
    assert_eq!(r.status, 500, "{}", r.text());

    // A route moves: routes change with the manifest, without new
    // instances.
    let moved = with_extra.replace("routes = [\"/extra\"]", "routes = [\"/moved\"]");
    write(&app, "pyrosome.toml", &moved);
    let summary = server.runtime.reload().expect("reload");
    assert_eq!(
        summary.replaced,
        ["slow"],
        "its limits were dropped: {summary:?}"
    );
    assert_eq!(get(addr, "/moved").text(), "extra");
    assert_eq!(get(addr, "/extra").text(), "v1", "now front's");

    // A removed service stops taking invocations.
    write(&app, "pyrosome.toml", MANIFEST);
    let summary = server.runtime.reload().expect("reload");
    assert_eq!(summary.removed, ["extra"]);
    assert_eq!(get(addr, "/moved").text(), "v1");

    // Refused, and the app runs on as it was:
    // a store cannot be declared live,
    write(
        &app,
        "pyrosome.toml",
        &format!("{MANIFEST}\n[stores.notes]\n"),
    );
    let err = server.runtime.reload().expect_err("stores are not live");
    assert!(matches!(err, ReloadError::NotLive(_)), "{err:?}");
    assert!(err.to_string().contains("[stores]"), "{err}");
    assert!(err.to_string().contains("restart"), "{err}");
    // a manifest typo names file, line and key,
    write(
        &app,
        "pyrosome.toml",
        &MANIFEST.replace("module = \"other.js\"", "modul = \"other.js\""),
    );
    let err = server.runtime.reload().expect_err("a typo");
    let e = err.to_string();
    assert!(
        e.contains("pyrosome.toml:12:1: services.other.modul"),
        "{e}"
    );
    // a routed service without a fetch handler.
    write(&app, "pyrosome.toml", MANIFEST);
    write(&app, "slow.js", "export function f() {}\n");
    let err = server.runtime.reload().expect_err("no fetch");
    assert!(
        matches!(err, ReloadError::NoFetch(ref s) if s == "slow"),
        "{err:?}"
    );
    assert_eq!(get(addr, "/slow?ms=1").text(), "slow v1");
    assert_eq!(get(addr, "/").text(), "v1");
    assert_eq!(get(addr, "/other").text(), "pong");

    // The same through the admin listener.
    let mut admin = Client::connect(server.admin);
    let r = admin.request("POST", "/admin/reload", &[], b"");
    assert_eq!(r.status, 422, "{}", r.text());
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("no fetch handler")),
        "{json}"
    );
    write(&app, "slow.js", &SLOW.replace("slow v", "slow again v"));
    let r = admin.request("POST", "/admin/reload", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let json: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(
        json["reloaded"]["replaced"],
        serde_json::json!(["slow"]),
        "{json}"
    );
    assert_eq!(get(addr, "/slow?ms=1").text(), "slow again v1");
}

#[test]
fn the_admin_listener_serves_metrics_status_and_calls() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"adm\"\n[services.api]\nmodule = \"api.js\"\nroutes = [\"/api/\"]\n\
             [services.other]\nmodule = \"other.js\"\n",
        ),
        (
            "api.js",
            "export default { fetch() { return new Response('api'); } };\n",
        ),
        ("other.js", OTHER),
    ]);
    let server = TestServer::start(app.start(2), 1 << 20, false);
    assert_eq!(get(server.addr, "/api/x").text(), "api");
    assert_eq!(get(server.addr, "/healthz").status, 200);
    for path in ["/metrics", "/admin/status"] {
        assert_eq!(
            get(server.addr, path).status,
            404,
            "{path} on the app's port"
        );
        assert_eq!(
            get(server.admin, path).status,
            200,
            "{path} on the admin port"
        );
    }
    assert!(
        get(server.admin, "/metrics")
            .text()
            .contains("pyrosome_workers")
    );

    let mut admin = Client::connect(server.admin);
    let call = |admin: &mut Client, path: &str, body: &str, headers: &[(&str, &str)]| {
        let r = admin.request("POST", path, headers, body.as_bytes());
        let json = serde_json::from_slice::<serde_json::Value>(&r.body).ok();
        (r.status, json, r.text())
    };
    let (status, json, _) = call(&mut admin, "/admin/call/other/ping", "", &[]);
    assert_eq!(
        (status, json),
        (200, Some(serde_json::json!({"result": "pong"})))
    );
    let (status, json, _) = call(&mut admin, "/admin/call/other/add", r#"{"a":2,"b":3}"#, &[]);
    assert_eq!(
        (status, json),
        (200, Some(serde_json::json!({"result": 5})))
    );
    let (status, json, text) = call(&mut admin, "/admin/call/other/fail", "", &[]);
    assert_eq!(status, 500, "{text}");
    let json = json.expect("JSON");
    assert_eq!(json["error"]["name"], "RangeError");
    assert_eq!(json["error"]["message"], "out of range");
    let report = json["error"]["report"].as_str().expect("a report");
    assert!(
        report.contains("other.js") && report.contains("because"),
        "{report}"
    );
    let (status, _, text) = call(&mut admin, "/admin/call/other/nope", "", &[]);
    assert_eq!(status, 500);
    assert!(text.contains("has no method \\\"nope\\\""), "{text}");
    let (status, _, text) = call(&mut admin, "/admin/call/other/add", "{oops", &[]);
    assert_eq!(status, 400);
    assert!(text.contains("not valid JSON"), "{text}");
    let (status, _, text) = call(
        &mut admin,
        "/admin/call/other/ping",
        "",
        &[("x-pyrosome-app-root", "/somewhere/else")],
    );
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("runs app \"adm\""), "{text}");

    // The command line's client.
    let root = server.runtime.app().root.clone();
    let result = pyrosome::gateway::admin::call_remote(
        server.admin,
        &root,
        "other",
        "add",
        Some(r#"{"a":1,"b":1}"#),
    )
    .expect("call");
    assert_eq!(result, serde_json::json!(2));
    let err = pyrosome::gateway::admin::call_remote(server.admin, &root, "other", "fail", None)
        .expect_err("throws");
    assert!(
        err.to_string().contains("RangeError: out of range"),
        "{err}"
    );
}

#[test]
fn the_access_log_has_one_line_per_request_when_on_and_none_when_off() {
    let _ = captured_logs();
    let app = app();
    for on in [true, false] {
        let runtime = app.start(1);
        let mut options =
            GatewayOptions::for_app("127.0.0.1:0".parse().expect("addr"), &runtime.app());
        options.access_log = on;
        let server = TestServer::start_with(runtime, options);
        let r = get(server.addr, "/hello/there?secret=1");
        assert_eq!(r.status, 200);
        let id = r.header("x-request-id").expect("a request id").to_owned();
        let logs = captured_logs();
        let line = logs.lines().find(|l| l.contains(&id));
        if on {
            let line = line.unwrap_or_else(|| panic!("no access log line with {id} in {logs}"));
            for field in [
                "pyrosome::access",
                "method=GET",
                "path=\"/hello/there\"",
                "status=200",
                "duration_ms=",
                "service=\"front\"",
            ] {
                assert!(line.contains(field), "{field} in {line}");
            }
            assert!(!line.contains("secret"), "no query in the log: {line}");
        } else {
            assert_eq!(line, None, "access log off");
        }
    }
}
