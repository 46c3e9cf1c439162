//! A service that loops forever or eats memory is stopped, fails only its
//! own invocations, and its service keeps serving.

mod common;

use common::{TempApp, json};
use pyrosome::Value;

fn app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            r#"
name = "limits"
[limits]
cpu_ms = 50
memory_mb = 16
[services.bad]
module = "bad.js"
[services.caller]
module = "caller.js"
"#,
        ),
        (
            "bad.js",
            r#"
let calls = 0;
export function ok() { calls += 1; return calls; }
export function spin() { for (;;) {} }
export function spinCatching() { for (;;) { try { for (;;) {} } catch (e) {} } }
export async function spinLater() { await null; for (;;) {} }
export function bomb() { const a = []; for (;;) a.push(new Array(100000).fill(1)); }
export function bombCatching() {
  const a = [];
  try { for (;;) a.push("x".repeat(1 << 20) + a.length); } catch (e) { return "caught " + e; }
}
export function recurse() { const f = (n) => f(n + 1) + 1; try { return f(0); } catch (e) { return e.name; } }
"#,
        ),
        (
            "caller.js",
            "import { services } from 'pyrosome';\n\
             export async function viaCall() { try { await services.bad.spin(); return 'no error'; } catch (e) { return e.message; } }\n",
        ),
    ])
}

#[test]
fn an_infinite_loop_is_interrupted_and_the_service_keeps_serving() {
    let app = app();
    let rt = app.start(2);
    assert_eq!(
        rt.call_blocking("bad", "ok", Value::Undefined),
        Ok(Value::Number(1.0))
    );
    for method in ["spin", "spinCatching", "spinLater"] {
        let err = rt
            .call_blocking("bad", method, Value::Undefined)
            .expect_err("interrupted");
        assert!(
            err.message.contains("CPU budget of 50 ms"),
            "{method}: {err}"
        );
        assert_eq!(err.service.as_deref(), Some("bad"));
    }
    // The instance was replaced: module state starts over, and it serves.
    let n = rt
        .call_blocking("bad", "ok", Value::Undefined)
        .expect("ok after loop");
    assert!(matches!(n, Value::Number(_)));
    // After a quiet spell (V8's watchdog goes to sleep after ~0.5 s with
    // nothing running), a loop is still interrupted.
    std::thread::sleep(std::time::Duration::from_millis(800));
    let err = rt
        .call_blocking("bad", "spin", Value::Undefined)
        .expect_err("interrupted after idling");
    assert!(err.message.contains("CPU budget of 50 ms"), "{err}");
    // Through a call, the caller gets a clear rejection.
    let msg = rt
        .call_blocking("caller", "viaCall", Value::Undefined)
        .expect("viaCall");
    assert!(
        msg.as_str()
            .unwrap_or_default()
            .contains("bad.spin: interrupted"),
        "{msg:?}"
    );
}

#[test]
fn an_allocation_bomb_is_stopped_and_the_process_survives() {
    let app = app();
    let rt = app.start(1);
    let err = rt
        .call_blocking("bad", "bomb", Value::Undefined)
        .expect_err("bomb fails");
    assert!(
        err.message.contains("out of memory") || err.message.contains("CPU budget"),
        "{err}"
    );
    // Catching the out-of-memory error does not save the isolate.
    let caught = rt.call_blocking("bad", "bombCatching", Value::Undefined);
    assert!(
        caught.is_err(),
        "an isolate that ran out of memory is discarded: {caught:?}"
    );
    assert!(rt.call_blocking("bad", "ok", Value::Undefined).is_ok());
}

#[test]
fn deep_recursion_is_a_catchable_range_error() {
    let app = app();
    let rt = app.start(1);
    let out = rt
        .call_blocking("bad", "recurse", json("null"))
        .expect("recurse");
    assert_eq!(out, Value::from("RangeError"));
}

/// Timers belong to the invocation that armed them (Workers semantics): an
/// interval a request starts stops when the request has answered, unless
/// `ctx.waitUntil` keeps the request alive; timers armed at a module's top
/// level run for the life of the instance.
#[test]
fn timers_end_with_their_invocation_unless_wait_until_holds_it() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"timers\"\n[services.t]\nmodule = \"t.js\"\nroutes = [\"/\"]\n",
        ),
        (
            "t.js",
            r#"
let leaked = 0, held = 0, top = 0, awaited = 0;
setInterval(() => { top++; }, 5);
export function startInterval() { setInterval(() => { leaked++; }, 1); return "started"; }
export async function awaitTimer() {
  await new Promise((r) => setTimeout(r, 20));
  awaited++;
  return awaited;
}
export function counts() { return { leaked, held, top, awaited }; }
export default {
  fetch(request, env, ctx) {
    ctx.waitUntil(new Promise((resolve) => {
      let n = 0;
      const t = setInterval(() => {
        held++;
        if (++n === 5) { clearInterval(t); resolve(); }
      }, 2);
    }));
    return new Response("answered before the interval ran");
  },
};
"#,
        ),
    ]);
    let rt = app.start(1);
    for _ in 0..50 {
        assert_eq!(
            rt.call_blocking("t", "startInterval", Value::Null),
            Ok(Value::from("started"))
        );
    }
    assert_eq!(
        rt.call_blocking("t", "awaitTimer", Value::Null),
        Ok(Value::Number(1.0)),
        "a timer awaited by its invocation runs"
    );
    let request = Value::Array(vec![
        Value::from("GET"),
        Value::from("http://t/"),
        Value::Array(vec![]),
    ]);
    rt.call_blocking("t", pyrosome::engine::FETCH_METHOD, request)
        .expect("fetch answers");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let counts = rt
        .call_blocking("t", "counts", Value::Null)
        .expect("counts");
    let n = |k: &str| counts.get(k).and_then(Value::as_f64).unwrap_or(-1.0);
    assert_eq!(
        n("leaked"),
        0.0,
        "intervals of answered invocations stopped: {counts:?}"
    );
    assert_eq!(
        n("held"),
        5.0,
        "waitUntil kept its interval running: {counts:?}"
    );
    assert!(
        n("top") >= 5.0,
        "a top-level interval keeps running: {counts:?}"
    );
    assert_eq!(n("awaited"), 1.0);
}

/// A run stopped for its CPU budget fails its own invocation only: the
/// instance (its isolate, its module state) and every other invocation in
/// flight in it carry on.
#[test]
fn a_cpu_budget_stop_fails_only_the_invocation_that_overran() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"budget\"\n[limits]\ncpu_ms = 50\n\
             [services.s]\nmodule = \"s.js\"\nmax_instances = 1\n",
        ),
        (
            "s.js",
            r#"
let served = 0;
export async function wait({ ms }) {
  await new Promise((r) => setTimeout(r, ms));
  served++;
  return "waited";
}
export function spin() { for (;;) {} }
export function count() { return served; }
"#,
        ),
    ]);
    let rt = std::sync::Arc::new(app.start(2));
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let rt = rt.clone();
            std::thread::spawn(move || rt.call_blocking("s", "wait", json(r#"{"ms": 400}"#)))
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let spun = rt.call_blocking("s", "spin", Value::Null);
    let err = spun.expect_err("the spinning invocation is stopped");
    assert!(
        err.message.contains("CPU budget of 50 ms"),
        "the error says why: {err}"
    );
    for w in waiters {
        assert_eq!(
            w.join().expect("waiter thread"),
            Ok(Value::from("waited")),
            "an innocent invocation in the same instance was not affected"
        );
    }
    // The same isolate (module state kept), still serving.
    assert_eq!(
        rt.call_blocking("s", "count", Value::Null),
        Ok(Value::Number(10.0))
    );
    let status = rt.scheduler().status();
    let s = status.services.iter().find(|s| s.name == "s").expect("s");
    assert_eq!(s.instances, 1);
}

/// When a heap overflow forces an instance to be discarded, the other
/// invocations in flight in it fail with an error that says why.
#[test]
fn invocations_lost_with_a_discarded_instance_are_told_why() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"heap\"\n[limits]\nmemory_mb = 16\n\
             [services.s]\nmodule = \"s.js\"\nmax_instances = 1\n",
        ),
        (
            "s.js",
            r#"
export async function wait({ ms }) {
  await new Promise((r) => setTimeout(r, ms));
  return "waited";
}
export function bomb() { const a = []; for (;;) a.push(new Array(100000).fill(1)); }
export function ok() { return "ok"; }
"#,
        ),
    ]);
    let rt = std::sync::Arc::new(app.start(2));
    let waiter = {
        let rt = rt.clone();
        std::thread::spawn(move || rt.call_blocking("s", "wait", json(r#"{"ms": 2000}"#)))
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let bombed = rt
        .call_blocking("s", "bomb", Value::Null)
        .expect_err("stopped");
    assert!(bombed.message.contains("out of memory"), "{bombed}");
    let lost = waiter
        .join()
        .expect("waiter thread")
        .expect_err("lost with the instance");
    assert!(
        lost.message
            .contains("was discarded because another invocation in it failed")
            && lost.message.contains("out of memory"),
        "the innocent invocation is told why: {lost}"
    );
    assert_eq!(
        rt.call_blocking("s", "ok", Value::Null),
        Ok(Value::from("ok")),
        "a fresh instance serves"
    );
}
