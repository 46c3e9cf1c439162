//! The holistic scheduler end to end: replication, partitioning, overload,
//! deadlines, metrics and graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{TempApp, TestServer, get};
use pyrosome::scheduler::OVERLOADED;
use pyrosome::{Runtime, RuntimeOptions, Value};

fn app(manifest_extra: &str) -> TempApp {
    let manifest = format!(
        r#"
name = "sched"
[services.work]
module = "work.js"
{manifest_extra}
[services.front]
module = "front.js"
routes = ["/"]
"#
    );
    TempApp::new(&[
        ("pyrosome.toml", manifest.as_str()),
        (
            "work.js",
            r#"
import { services } from "pyrosome";
export function fast() { return 1; }
export function spin({ ms }) { const end = Date.now() + ms; while (Date.now() < end) {} return ms; }
export function sleep({ ms }) { return new Promise((r) => setTimeout(() => r(ms), ms)); }
export async function viaSleep({ ms }) { return await services.work.sleep({ ms }); }
"#,
        ),
        (
            "front.js",
            r#"
import { services } from "pyrosome";
export default {
  async fetch(request) {
    const ms = Number(new URL(request.url).searchParams.get("ms") ?? "0");
    return Response.json(await services.work.sleep({ ms }));
  },
};
"#,
        ),
    ])
}

fn start(app: &TempApp, workers: usize, partitioning: bool) -> Runtime {
    Runtime::start(
        app.load(),
        RuntimeOptions {
            workers,
            partitioning,
            ..RuntimeOptions::default()
        },
    )
    .expect("app starts")
}

fn ms(n: u32) -> Value {
    Value::object([("ms", Value::Number(f64::from(n)))])
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_backlogged_service_is_replicated() {
    let app = app("");
    let rt = start(&app, 2, true);
    assert_eq!(rt.scheduler().instance_count("work"), 1);
    // Several CPU-bound invocations at once: the one instance is busy while
    // the other worker idles, so the service grows.
    let pending: Vec<_> = (0..6)
        .map(|_| rt.scheduler().invoke("work", "spin", ms(20)))
        .collect();
    for p in pending {
        assert_eq!(
            p.blocking_recv().expect("answered"),
            Ok(Value::Number(20.0))
        );
    }
    assert!(
        rt.scheduler().instance_count("work") >= 2,
        "{:?}",
        rt.scheduler().status()
    );
    let status = rt.scheduler().status();
    let work = status
        .services
        .iter()
        .find(|s| s.name == "work")
        .expect("work");
    assert!(work.replications >= 1);
}

#[test]
fn a_slow_method_is_classified_long_and_runs_on_its_own_instances() {
    let app = app("");
    let rt = start(&app, 2, true);
    for _ in 0..200 {
        rt.call_blocking("work", "fast", Value::Undefined)
            .expect("fast");
    }
    for _ in 0..12 {
        rt.call_blocking("work", "spin", ms(5)).expect("spin");
    }
    eventually("spin is classified long", || {
        let status = rt.scheduler().status();
        let work = status
            .services
            .iter()
            .find(|s| s.name == "work")
            .expect("work");
        let long = |name: &str| work.methods.iter().any(|m| m.name == name && m.long);
        long("spin") && !long("fast")
    });
    rt.call_blocking("work", "spin", ms(5)).expect("spin");
    let status = rt.scheduler().status();
    let work = status
        .services
        .iter()
        .find(|s| s.name == "work")
        .expect("work");
    assert!(work.long_instances >= 1, "{status:?}");
    assert_eq!(status.long_workers, 1, "a bounded subset of the 2 workers");
    assert!(status.partition_changes >= 1);
    // Short work still runs fine.
    assert_eq!(
        rt.call_blocking("work", "fast", Value::Undefined),
        Ok(Value::Number(1.0))
    );
}

#[test]
fn partitioning_can_be_switched_off() {
    let app = app("");
    let rt = start(&app, 2, false);
    for _ in 0..100 {
        rt.call_blocking("work", "fast", Value::Undefined)
            .expect("fast");
    }
    for _ in 0..12 {
        rt.call_blocking("work", "spin", ms(5)).expect("spin");
    }
    std::thread::sleep(Duration::from_millis(200));
    let status = rt.scheduler().status();
    assert!(!status.partitioning);
    assert!(
        status
            .services
            .iter()
            .all(|s| s.long_instances == 0 && s.methods.iter().all(|m| !m.long))
    );
}

#[test]
fn overload_is_refused_clearly_and_recovers() {
    let app = app("max_instances = 1\n[services.work.limits]\nmax_concurrency = 2\n");
    let rt = start(&app, 2, true);
    let pending: Vec<_> = (0..5)
        .map(|_| rt.scheduler().invoke("work", "sleep", ms(300)))
        .collect();
    let results: Vec<_> = pending
        .into_iter()
        .map(|p| p.blocking_recv().expect("answered"))
        .collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(ok, 2, "{results:?}");
    assert_eq!(refused.len(), 3);
    for e in refused {
        assert_eq!(e.name, OVERLOADED);
        assert!(e.message.contains("overloaded"), "{e}");
    }
    // Recovery: once the backlog is gone, calls succeed again.
    assert_eq!(
        rt.call_blocking("work", "sleep", ms(1)),
        Ok(Value::Number(1.0))
    );

    // Over HTTP, overload is a 503 with Retry-After.
    let server = TestServer::start(start(&app, 2, true), 1024, false);
    let addr = server.addr;
    let slow: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(addr, "/?ms=400").status))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let r = get(addr, "/?ms=1");
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    for t in slow {
        assert_eq!(t.join().expect("client"), 200);
    }
    assert_eq!(get(addr, "/?ms=1").status, 200, "recovers");
}

#[test]
fn deadlines_fail_slow_invocations_and_propagate_to_callees() {
    let app = app("[services.work.limits]\ntimeout_ms = 150\n");
    let rt = start(&app, 2, true);
    let err = rt
        .call_blocking("work", "sleep", ms(2000))
        .expect_err("deadline");
    assert_eq!(err.name, "TimeoutError", "{err}");
    assert!(err.message.contains("work.sleep"), "{err}");
    // The callee inherits the caller's deadline.
    let err = rt
        .call_blocking("work", "viaSleep", ms(2000))
        .expect_err("deadline");
    assert_eq!(err.name, "TimeoutError", "{err}");
    eventually("both invocations of sleep failed", || {
        let status = rt.scheduler().status();
        let work = status
            .services
            .iter()
            .find(|s| s.name == "work")
            .expect("work");
        work.methods
            .iter()
            .any(|m| m.name == "sleep" && m.failed >= 2)
    });
    assert_eq!(
        rt.call_blocking("work", "sleep", ms(1)),
        Ok(Value::Number(1.0))
    );
}

#[test]
fn metrics_and_status_endpoints_report_per_method_numbers() {
    let app = app("");
    let runtime = start(&app, 2, true);
    let engine = runtime.engine_name();
    let server = TestServer::start(runtime, 1024, false);
    for _ in 0..3 {
        assert_eq!(get(server.addr, "/?ms=1").status, 200);
    }
    let m = get(server.admin, "/metrics");
    assert_eq!(m.status, 200);
    // Not on the app's port: there the app's route "/" answers it.
    assert!(
        !get(server.addr, "/metrics")
            .text()
            .contains("pyrosome_invocations_total"),
        "metrics are on the admin listener only"
    );
    let text = m.text();
    assert!(
        text.contains("pyrosome_invocations_total{service=\"work\",method=\"sleep\"}"),
        "{text}"
    );
    assert!(
        text.contains("pyrosome_invocation_duration_seconds"),
        "{text}"
    );
    assert!(
        text.contains("pyrosome_worker_busy_seconds_total"),
        "{text}"
    );
    assert!(
        text.contains("pyrosome_instances{service=\"front\"}"),
        "{text}"
    );
    let s = get(server.admin, "/admin/status");
    let json: serde_json::Value = serde_json::from_slice(&s.body).expect("status is JSON");
    assert_eq!(json["engine"], engine);
    assert_eq!(json["workers"], 2);
    let front = json["services"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == "front"))
        .expect("front listed");
    let fetch = front["methods"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["name"] == "@fetch"))
        .expect("@fetch listed");
    assert!(fetch["completed"].as_u64().unwrap_or(0) >= 3, "{fetch}");
}
