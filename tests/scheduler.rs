//! The holistic scheduler end to end: replication, partitioning, overload,
//! deadlines, metrics and graceful shutdown; instances started off the
//! placement path, backlogs that move to a new instance, turns bounded by
//! time, busy time that accrues during a run.

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
    start_with_spares(app, workers, partitioning, true)
}

fn start_with_spares(
    app: &TempApp,
    workers: usize,
    partitioning: bool,
    spare_instances: bool,
) -> Runtime {
    Runtime::start(
        app.load(),
        RuntimeOptions {
            workers,
            partitioning,
            spare_instances,
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
    assert!(
        status.long_workers < status.workers,
        "never every worker reserved for long work: {status:?}"
    );
    assert_eq!(status.backfill_threads, 2, "long work may use every core");
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

/// An app whose `slow` service takes `start_ms` to start an instance (its
/// module's top level spins), and whose methods answer with a token unique
/// to the instance that ran them.
fn slow_start_app(start_ms: u32, service_extra: &str, limits_extra: &str) -> TempApp {
    let manifest = format!(
        r#"
name = "slowstart"
[services.slow]
module = "slow.js"
{service_extra}
[services.slow.limits]
cpu_ms = 10000
timeout_ms = 60000
{limits_extra}
[services.other]
module = "other.js"
"#
    );
    let module = format!(
        r#"
const end = Date.now() + {start_ms};
while (Date.now() < end) {{}}
const me = String(Math.random());
export function spin({{ ms }}) {{ const end = Date.now() + ms; while (Date.now() < end) {{}} return me; }}
export function fast() {{ return me; }}
"#
    );
    TempApp::new(&[
        ("pyrosome.toml", manifest.as_str()),
        ("slow.js", module.as_str()),
        ("other.js", "export function fast() { return 1; }"),
    ])
}

fn service_status(rt: &Runtime, name: &str) -> pyrosome::scheduler::ServiceStatus {
    rt.scheduler()
        .status()
        .services
        .into_iter()
        .find(|s| s.name == name)
        .expect("service listed")
}

#[test]
fn a_new_instance_starts_off_the_placement_path() {
    // Starting an instance takes 300 ms here (its module's top level), so
    // placement that started it on the spot would return with two.
    // Without a spare: growth waits for a start.
    let app = slow_start_app(300, "max_instances = 2", "");
    let rt = start_with_spares(&app, 2, true, false);
    assert_eq!(rt.scheduler().instance_count("slow"), 1);
    let first = rt.scheduler().invoke("slow", "spin", ms(100));
    // The first instance is busy now and a worker idles: replicate.
    let second = rt.scheduler().invoke("slow", "spin", ms(100));
    assert_eq!(
        rt.scheduler().instance_count("slow"),
        1,
        "invoke returned before the new instance was started"
    );
    eventually("the second instance is up", || {
        rt.scheduler().instance_count("slow") == 2
    });
    for p in [first, second] {
        assert!(p.blocking_recv().expect("answered").is_ok());
    }
    assert!(service_status(&rt, "slow").replications >= 1);
}

#[test]
fn growth_takes_the_spare_instance_in_the_placement_that_asks() {
    // Starting an instance takes 300 ms here; the spare is started ahead
    // of need, in the background, so growth does not wait for that.
    let app = slow_start_app(300, "max_instances = 2", "");
    let rt = start(&app, 2, true);
    assert_eq!(rt.scheduler().instance_count("slow"), 1);
    eventually("a spare is ready", || service_status(&rt, "slow").spare);
    let first = rt.scheduler().invoke("slow", "spin", ms(200));
    // The first instance is busy now and a worker idles: this placement
    // grows the service, and takes the spare on the spot.
    let second = rt.scheduler().invoke("slow", "spin", ms(200));
    let status = service_status(&rt, "slow");
    assert_eq!(status.instances, 2, "{status:?}");
    assert_eq!(status.replications, 1);
    // At its maximum the service keeps no spare.
    assert!(!status.spare, "{status:?}");
    let ran_on: Vec<String> = [first, second]
        .into_iter()
        .map(|p| match p.blocking_recv().expect("answered") {
            Ok(Value::String(s)) => s.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_ne!(ran_on[0], ran_on[1], "both ran on the first instance");
    std::thread::sleep(Duration::from_millis(400));
    assert!(!service_status(&rt, "slow").spare);
}

#[test]
fn without_spares_no_isolate_is_started_ahead_of_need() {
    let app = slow_start_app(0, "max_instances = 2", "");
    let rt = start_with_spares(&app, 2, true, false);
    std::thread::sleep(Duration::from_millis(300));
    let status = service_status(&rt, "slow");
    assert!(!status.spare, "{status:?}");
    assert_eq!(status.instances, 1);
}

#[test]
fn a_new_instance_takes_over_half_of_a_queued_backlog() {
    let app = slow_start_app(200, "max_instances = 2", "");
    let rt = start_with_spares(&app, 2, false, false);
    // 60 invocations of 10 ms placed at once: all on the one instance
    // (the second is still starting), 600 ms of work.
    let pending: Vec<_> = (0..60)
        .map(|_| rt.scheduler().invoke("slow", "spin", ms(10)))
        .collect();
    let tokens: Vec<String> = pending
        .into_iter()
        .map(|p| match p.blocking_recv().expect("answered") {
            Ok(Value::String(s)) => s.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    let first = tokens[0].clone();
    let moved = tokens.iter().filter(|t| **t != first).count();
    // The new instance started after ~200 ms with ~40 still queued, and
    // took half of them; nothing else was placed on it.
    assert!(
        moved >= 5,
        "the new instance ran {moved} of the queued invocations"
    );
    assert_eq!(rt.scheduler().instance_count("slow"), 2);
}

#[test]
fn partitioning_never_refuses_work_while_the_first_long_instance_starts() {
    // One short instance of at most 8 in flight; the long instance starts
    // slowly. 12 invocations of a method just classified long arrive at
    // once: the first 8 wait in the service's queue for the long instance,
    // the rest go to the short one. Nothing is refused.
    let app = slow_start_app(150, "max_instances = 1", "max_concurrency = 8");
    let rt = start(&app, 2, true);
    for _ in 0..200 {
        rt.call_blocking("slow", "fast", Value::Undefined)
            .expect("fast");
    }
    // Measured in two batches placed at once (before any is measured, so
    // all on the short instance): no long instance exists yet.
    for _ in 0..2 {
        let batch: Vec<_> = (0..6)
            .map(|_| rt.scheduler().invoke("slow", "spin", ms(5)))
            .collect();
        for p in batch {
            assert!(p.blocking_recv().expect("answered").is_ok());
        }
    }
    eventually("spin is classified long", || {
        service_status(&rt, "slow")
            .methods
            .iter()
            .any(|m| m.name == "spin" && m.long)
    });
    assert_eq!(service_status(&rt, "slow").long_instances, 0);
    let pending: Vec<_> = (0..12)
        .map(|_| rt.scheduler().invoke("slow", "spin", ms(5)))
        .collect();
    for p in pending {
        let result = p.blocking_recv().expect("answered");
        assert!(result.is_ok(), "{result:?}");
    }
    let status = rt.scheduler().status();
    assert_eq!(status.overloads, 0, "{status:?}");
    eventually("the long instance is up", || {
        service_status(&rt, "slow").long_instances == 1
    });
}

#[test]
fn a_turn_is_bounded_by_time_not_by_a_message_count() {
    // One worker; a backlog of 20 invocations of 20 ms on one instance,
    // then one fast invocation of another service. With turns of a message
    // count (128) the fast one waited for the whole backlog; with turns
    // bounded by time it runs after about one of them.
    let app = slow_start_app(0, "max_instances = 1", "");
    let rt = start(&app, 1, false);
    let mut backlog: Vec<_> = (0..20)
        .map(|_| rt.scheduler().invoke("slow", "spin", ms(20)))
        .collect();
    let fast = rt.scheduler().invoke("other", "fast", Value::Undefined);
    assert!(fast.blocking_recv().expect("answered").is_ok());
    let done = backlog
        .iter_mut()
        .map(|p| p.try_recv().is_ok())
        .filter(|d| *d)
        .count();
    assert!(
        done < 20,
        "the fast invocation waited for the whole backlog ({done} of 20 done)"
    );
}

#[test]
fn busy_time_is_counted_while_a_run_lasts() {
    let app = app("[services.work.limits]\ncpu_ms = 10000");
    let rt = start(&app, 1, false);
    let mut long = rt.scheduler().invoke("work", "spin", ms(3000));
    let mut seen = 0.0;
    while matches!(
        long.try_recv(),
        Err(tokio::sync::oneshot::error::TryRecvError::Empty)
    ) {
        seen = rt.scheduler().status().worker_busy_seconds[0];
        if seen >= 0.05 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        seen >= 0.05,
        "worker_busy_seconds stayed at {seen} during a 3 s run"
    );
}

#[test]
fn long_work_runs_on_the_backfill_threads() {
    let app = app("[services.work.limits]\ncpu_ms = 10000");
    let rt = start(&app, 2, true);
    for _ in 0..200 {
        rt.call_blocking("work", "fast", Value::Undefined)
            .expect("fast");
    }
    for _ in 0..12 {
        rt.call_blocking("work", "spin", ms(5)).expect("spin");
    }
    eventually("spin is classified long", || {
        service_status(&rt, "work")
            .methods
            .iter()
            .any(|m| m.name == "spin" && m.long)
    });
    let before: f64 = rt.scheduler().status().backfill_busy_seconds.iter().sum();
    let pending: Vec<_> = (0..4)
        .map(|_| rt.scheduler().invoke("work", "spin", ms(50)))
        .collect();
    for p in pending {
        assert!(p.blocking_recv().expect("answered").is_ok());
    }
    let status = rt.scheduler().status();
    let after: f64 = status.backfill_busy_seconds.iter().sum();
    // The backfill threads ran it (200 ms of it in all).
    assert!(
        after - before >= 0.04,
        "backfill ran {} s: {status:?}",
        after - before
    );
}
