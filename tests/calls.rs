//! Calls between services: structured values, errors across calls, unknown
//! targets, bounded call chains and parallel fan-out.

mod common;

use common::{TempApp, json};
use pyrosome::Value;
use pyrosome::value::BigInt;

fn app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            r#"
name = "calls"
[services.caller]
module = "caller.js"
[services.echo]
module = "echo.js"
[services.busy]
module = "busy.js"
"#,
        ),
        (
            "caller.js",
            r#"
import { services } from "pyrosome";

export async function relay(v) { return await services.echo.echo(v); }

export async function roundTrips() {
  const cases = [
    undefined, null, true, false, 0, -0, 1.5, NaN, Infinity, -Infinity,
    2n ** 64n, -(2n ** 70n), "", "héllo ☃ 😀", "x".repeat(1 << 20),
    [], [1, [2, [3, [4]]]], [undefined, null], {}, { a: { b: { c: [1, "2"] } } },
    new Uint8Array([0, 1, 255]), JSON.parse('{"__proto__": 1, "0": "zero", "z": 2}'),
  ];
  const out = [];
  for (const c of cases) out.push(await services.echo.echo(c));
  // Checks that need JavaScript semantics (Object.is, typeof).
  if (!Object.is(out[5], -0)) throw new Error("-0 was not preserved");
  if (!Number.isNaN(out[7])) throw new Error("NaN was not preserved");
  if (out[10] !== 2n ** 64n || typeof out[10] !== "bigint") throw new Error("BigInt lost");
  if (!(out[20] instanceof Uint8Array) || out[20][2] !== 255) throw new Error("Uint8Array lost");
  if (Object.getPrototypeOf(out[21]) !== Object.prototype) throw new Error("__proto__ key changed the prototype");
  if (out[21]["__proto__"] !== 1) throw new Error("own __proto__ key lost");
  if (out[14].length !== 1 << 20) throw new Error("large string truncated");
  const copy = out[19];
  copy.a.b.c.push(3);
  return { count: out.length };
}

async function rejects(fn) {
  try { await fn(); } catch (e) {
    if (!(e instanceof Error)) return { thrown: e };
    return { name: e.name, message: e.message, service: e.service, method: e.method };
  }
  return null;
}

export async function refused() {
  class Point { constructor() { this.x = 1; } }
  const cyclic = {}; cyclic.self = cyclic;
  return {
    fn: await rejects(() => services.echo.echo({ f() {} })),
    symbol: await rejects(() => services.echo.echo(Symbol("s"))),
    klass: await rejects(() => services.echo.echo({ p: new Point() })),
    map: await rejects(() => services.echo.echo(new Map())),
    date: await rejects(() => services.echo.echo([new Date()])),
    cycle: await rejects(() => services.echo.echo(cyclic)),
    promise: await rejects(() => services.echo.echo(Promise.resolve(1))),
  };
}

export async function syncThrowAtCallSite() {
  try { services.echo.echo(() => 1); } catch (e) { return e instanceof TypeError; }
  return false;
}

export async function remoteError() {
  return {
    typeError: await rejects(() => services.echo.fail({ kind: "type", message: "bad input" })),
    custom: await rejects(() => services.echo.fail({ kind: "custom", message: "nope" })),
    string: await rejects(() => services.echo.fail({ kind: "string", message: "plain" })),
    badReturn: await rejects(() => services.echo.returnsFunction()),
  };
}

export async function unknownTargets() {
  const out = {};
  try { services.nope.x(); } catch (e) { out.service = e.name + ": " + e.message; }
  try { services.echo.nope(); } catch (e) { out.method = e.name + ": " + e.message; }
  out.has = ["echo" in services, "nope" in services, "echo" in services.echo];
  out.keys = Object.keys(services);
  return out;
}

export async function cycle({ n }) { return await services.echo.bounce({ n: n + 1 }); }

export async function fanout() {
  return await Promise.all([services.busy.spin({ ms: 60 }), services.busy.spin({ ms: 60 })]);
}
"#,
        ),
        (
            "echo.js",
            r#"
import { services } from "pyrosome";
export function echo(v) { return v; }
export function fail({ kind, message }) {
  if (kind === "type") throw new TypeError(message);
  if (kind === "custom") { const e = new Error(message); e.name = "NotFound"; throw e; }
  throw message;
}
export function returnsFunction() { return () => 1; }
export async function bounce({ n }) { return await services.caller.cycle({ n: n + 1 }); }
"#,
        ),
        (
            "busy.js",
            r#"
export function spin({ ms }) {
  const start = Date.now();
  while (Date.now() - start < ms) {}
  return [start, Date.now()];
}
"#,
        ),
    ])
}

#[test]
fn values_round_trip_through_a_call() {
    let app = app();
    let rt = app.start(2);
    let cases = [
        Value::Null,
        Value::Bool(true),
        Value::Number(-0.0),
        Value::Number(f64::NAN),
        Value::Number(1e300),
        Value::BigInt(BigInt::parse("-123456789012345678901234567890").expect("digits")),
        Value::String("ünïcödé \u{1F600}".into()),
        Value::Bytes(vec![0, 7, 255]),
        Value::Array(vec![Value::Undefined, Value::Array(vec![Value::Null])]),
        Value::object([("b", Value::Number(1.0)), ("a", Value::Number(2.0))]),
    ];
    for case in cases {
        let back = rt
            .call_blocking("caller", "relay", case.clone())
            .expect("relay");
        assert_eq!(back, case);
    }
    // Larger values (an engine may pass them differently, e.g. V8 hands
    // JSON-exact ones to JSON.parse): exact, and exact with every value JSON
    // cannot carry nested inside. (Integer-like keys come first, as
    // JavaScript orders them.)
    let post = json(
        r#"{"2": "two", "10": "ten", "post_id": 8312093480123, "creator": {"user_id": 4711, "username": "u_4711"},
            "text": "quote \" backslash \\ line\u2028sep \u0000 é 😀", "big": 1e21, "tiny": 5e-324,
            "neg": -1.5, "tags": ["a", null, true, false, [], {}],
            "nested": {"deep": {"deeper": [1, 2, 3]}}}"#,
    );
    let back = rt
        .call_blocking("caller", "relay", post.clone())
        .expect("relay");
    assert_eq!(back, post);
    let Value::Object(mut pairs) = post else {
        panic!("object expected")
    };
    pairs.extend([
        ("zero".into(), Value::Number(-0.0)),
        ("nan".into(), Value::Number(f64::NAN)),
        ("inf".into(), Value::Number(f64::INFINITY)),
        ("big_int".into(), Value::BigInt(BigInt::from(7u64))),
        ("bytes".into(), Value::Bytes(vec![1, 2])),
        ("undef".into(), Value::Undefined),
        ("__proto__".into(), Value::Number(1.0)),
    ]);
    let special = Value::Object(pairs);
    let back = rt
        .call_blocking("caller", "relay", special.clone())
        .expect("relay");
    assert_eq!(back, special);
    match back.get("zero") {
        Some(Value::Number(z)) => assert!(z.is_sign_negative(), "-0 survives"),
        other => panic!("{other:?}"),
    }
    // Key order survives a round trip.
    let back = rt
        .call_blocking("caller", "relay", json(r#"{"z":1,"a":2,"m":3}"#))
        .expect("relay");
    let Value::Object(pairs) = back else {
        panic!("object expected")
    };
    let keys: Vec<&str> = pairs.iter().filter_map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["z", "a", "m"]);
}

#[test]
fn javascript_sees_structured_clone_semantics() {
    let app = app();
    let rt = app.start(2);
    let out = rt
        .call_blocking("caller", "roundTrips", Value::Undefined)
        .expect("roundTrips");
    assert_eq!(out.get("count"), Some(&Value::Number(22.0)));
}

#[test]
fn uncloneable_values_are_type_errors_at_the_call_site() {
    let app = app();
    let rt = app.start(1);
    let out = rt
        .call_blocking("caller", "refused", Value::Undefined)
        .expect("refused");
    for (case, needle) in [
        ("fn", "a function"),
        ("symbol", "a symbol"),
        ("klass", "an instance of Point"),
        ("map", "an instance of Map"),
        ("date", "an instance of Date"),
        ("cycle", "cycle"),
        ("promise", "Promise"),
    ] {
        let e = out.get(case).unwrap_or_else(|| panic!("{case} missing"));
        assert_eq!(
            e.get("name"),
            Some(&Value::from("TypeError")),
            "{case}: {e:?}"
        );
        let msg = e.get("message").and_then(Value::as_str).unwrap_or_default();
        assert!(msg.contains(needle), "{case}: {msg}");
        assert!(
            msg.contains("the argument of echo.echo()"),
            "{case} names the call: {msg}"
        );
    }
    assert_eq!(
        rt.call_blocking("caller", "syncThrowAtCallSite", Value::Undefined),
        Ok(Value::Bool(true))
    );
}

#[test]
fn a_callee_exception_rejects_the_caller_with_message_service_and_method() {
    let app = app();
    let rt = app.start(2);
    let out = rt
        .call_blocking("caller", "remoteError", Value::Undefined)
        .expect("remoteError");
    let t = out.get("typeError").expect("typeError");
    assert_eq!(t.get("name"), Some(&Value::from("TypeError")));
    assert_eq!(t.get("message"), Some(&Value::from("bad input")));
    assert_eq!(t.get("service"), Some(&Value::from("echo")));
    assert_eq!(t.get("method"), Some(&Value::from("fail")));
    let c = out.get("custom").expect("custom");
    assert_eq!(c.get("name"), Some(&Value::from("NotFound")));
    assert_eq!(c.get("message"), Some(&Value::from("nope")));
    let s = out.get("string").expect("string");
    // A thrown string is rethrown in the caller as that string.
    assert_eq!(s.get("thrown"), Some(&Value::from("plain")));
    let b = out.get("badReturn").expect("badReturn");
    assert_eq!(b.get("name"), Some(&Value::from("TypeError")));
    assert!(
        b.get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .contains("return value"),
        "{b:?}"
    );

    // An external caller sees the same error, naming the method.
    let err = rt
        .call_blocking("echo", "fail", json(r#"{"kind":"type","message":"boom"}"#))
        .expect_err("fails");
    assert_eq!(
        (err.name.as_str(), err.message.as_str()),
        ("TypeError", "boom")
    );
    assert_eq!(err.service.as_deref(), Some("echo"));
    assert_eq!(err.method.as_deref(), Some("fail"));
    assert!(
        err.stack.as_deref().unwrap_or_default().contains("echo.js"),
        "{err:?}"
    );
}

#[test]
fn unknown_services_and_methods_are_immediate_clear_errors() {
    let app = app();
    let rt = app.start(1);
    let out = rt
        .call_blocking("caller", "unknownTargets", Value::Undefined)
        .expect("unknownTargets");
    let service = out
        .get("service")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        service.starts_with("TypeError: unknown service \"nope\""),
        "{service}"
    );
    assert!(
        service.contains("busy, caller, echo"),
        "lists the services: {service}"
    );
    let method = out
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    assert!(
        method.contains("service \"echo\" has no method \"nope\""),
        "{method}"
    );
    assert_eq!(
        out.get("has"),
        Some(&Value::Array(vec![true.into(), false.into(), true.into()]))
    );
    let err = rt
        .call_blocking("nosuch", "x", Value::Undefined)
        .expect_err("unknown");
    assert!(err.message.contains("unknown service \"nosuch\""), "{err}");
    let err = rt
        .call_blocking("echo", "nosuch", Value::Undefined)
        .expect_err("unknown");
    assert!(err.message.contains("no method \"nosuch\""), "{err}");
}

#[test]
fn a_cycle_of_calls_fails_cleanly_at_the_depth_limit() {
    let app = app();
    let rt = app.start(2);
    let err = rt
        .call_blocking("caller", "cycle", json(r#"{"n":0}"#))
        .expect_err("cycle must fail");
    assert_eq!(err.name, "RangeError", "{err:?}");
    assert!(err.message.contains("call chain too deep"), "{err}");
    // The runtime still serves afterwards.
    assert_eq!(
        rt.call_blocking("echo", "echo", Value::from("ok")),
        Ok(Value::from("ok"))
    );
}

#[test]
fn promise_all_over_calls_runs_callees_on_several_workers() {
    let app = app();
    let rt = app.start(2);
    // Warm up so both busy instances exist.
    let _ = rt.call_blocking("caller", "fanout", Value::Undefined);
    let out = rt
        .call_blocking("caller", "fanout", Value::Undefined)
        .expect("fanout");
    let Value::Array(spans) = out else {
        panic!("array expected")
    };
    let span = |v: &Value| -> (f64, f64) {
        match v {
            Value::Array(p) => (p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0)),
            _ => panic!("pair expected"),
        }
    };
    let (a, b) = (span(&spans[0]), span(&spans[1]));
    // Run one after the other, the two 60 ms spins could not overlap.
    assert!(
        a.0 < b.1 && b.0 < a.1,
        "the two callees ran one after the other: {a:?} {b:?}"
    );
    assert!(rt.scheduler().instance_count("busy") >= 2);
}

/// What crosses a call is read the same way on every engine: getters run
/// (and may log), a throwing getter is a clear refusal, symbol-keyed and
/// non-enumerable properties are left out, array holes become undefined.
#[test]
fn values_are_read_like_structured_clone_on_every_engine() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"edge\"\n[services.a]\nmodule = \"a.js\"\n[services.b]\nmodule = \"b.js\"\n",
        ),
        (
            "a.js",
            r#"
import { services } from "pyrosome";
export async function run() {
  const out = {};
  out.logging = await services.b.echo({ get x() { console.log("getter runs"); return 1; }, y: 2 });
  try { await services.b.echo({ get x() { throw new Error("nope"); } }); out.throwing = "passed"; }
  catch (e) { out.throwing = e.message; }
  out.sym = await services.b.echo({ [Symbol("s")]: 1, a: 1 });
  out.holes = await services.b.echo([1, , 3]);
  out.nonEnum = await services.b.echo(Object.defineProperty({ v: 1 }, "hidden", { value: 2, enumerable: false }));
  return out;
}
"#,
        ),
        ("b.js", "export function echo(v) { return v; }\n"),
    ]);
    let rt = app.start(1);
    let out = rt.call_blocking("a", "run", Value::Undefined).expect("run");
    assert_eq!(
        out.get("logging"),
        Some(&json(r#"{"x": 1, "y": 2}"#)),
        "getters run"
    );
    let throwing = out.get("throwing").and_then(Value::as_str).unwrap_or("");
    assert!(
        throwing.starts_with("the argument of b.echo() is an object whose property getter threw"),
        "{throwing}"
    );
    assert_eq!(out.get("sym"), Some(&json(r#"{"a": 1}"#)));
    assert_eq!(
        out.get("holes"),
        Some(&Value::Array(vec![
            Value::Number(1.0),
            Value::Undefined,
            Value::Number(3.0)
        ]))
    );
    assert_eq!(out.get("nonEnum"), Some(&json(r#"{"v": 1}"#)));
}
