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
