//! Errors across calls, as Workers RPC carries them: name (and class),
//! message, the chain of causes, own data properties that can be cloned;
//! thrown values that are not Errors arrive as themselves; and the origin
//! (service, method, file:line) of an error that went through several
//! services, in the caller's stack, in the log and in `--dev` 500 bodies,
//! never in the other 500 bodies.

mod common;

use common::{TempApp, TestServer, captured_logs, get, json};
use pyrosome::Value;

const C_JS: &str = r#"
export class NotFound extends Error {
  constructor(message) { super(message); this.name = "NotFound"; }
}
class Conflict extends Error {}
Conflict.prototype.name = "Conflict";

export function fail({ kind }) {
  if (kind === "coded") {
    const e = new RangeError("out of range", { cause: new TypeError("root cause") });
    e.code = "E_RANGE";
    e.status = 416;
    e.details = { limit: 10, seen: [11n, "x", null] };
    e.callback = () => 1;
    e.when = new Date(0);
    Object.defineProperty(e, "hidden", { value: 1, enumerable: false });
    Object.defineProperty(e, "lazy", { get() { throw new Error("the getter ran"); }, enumerable: true });
    throw e;
  }
  if (kind === "custom") throw new NotFound("no such user");
  if (kind === "proto") throw new Conflict("already there");
  if (kind === "string") throw "just a string";
  if (kind === "number") throw 42;
  if (kind === "object") throw { code: 7, why: "plain" };
  if (kind === "undefined") throw undefined;
  if (kind === "function") throw function thrower() {};
  if (kind === "valueCause") throw new Error("with a value cause", { cause: { retry: true } });
  if (kind === "cycle") { const e = new Error("itself"); e.cause = e; throw e; }
  throw new Error(`unknown kind ${kind}`);
}

export function deep() { inner(); }
function inner() {
  throw new TypeError("deep failure"); // DEEP
}
"#;

const B_JS: &str = r#"
import { services } from "pyrosome";
export async function relay(arg) { return await services.c.fail(arg); }
export async function nested() { return await services.c.deep(); }
export async function wrap() {
  try {
    await services.c.fail({ kind: "coded" });
  } catch (e) {
    throw new Error("b could not", { cause: e }); // WRAP
  }
}
"#;

const A_JS: &str = r#"
import { services } from "pyrosome";

// What a caller sees of a rejection, as a value.
function seen(e, depth = 0) {
  if (!(e instanceof Error)) return { thrown: e, type: typeof e };
  const out = {
    name: e.name, message: e.message, ctor: e.constructor.name,
    isRangeError: e instanceof RangeError,
    keys: Object.keys(e), stack: e.stack,
    service: e.service, method: e.method,
    has: ["callback", "when", "hidden", "lazy"].filter((k) => k in e),
  };
  for (const k of Object.keys(e)) out["prop_" + k] = e[k];
  if ("cause" in e && depth < 20) {
    out.causeEnumerable = Object.keys(e).includes("cause");
    out.cause = seen(e.cause, depth + 1);
  }
  return out;
}

export async function probe(arg) {
  try { await services.b.relay(arg); } catch (e) { return seen(e); }
  return "no error";
}
export async function nested() {
  try { await services.b.nested(); } catch (e) { return seen(e); }
  return "no error";
}
export async function wrapped() {
  try { await services.b.wrap(); } catch (e) { return seen(e); }
  return "no error";
}

export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/nested") await services.b.nested();
    if (path === "/wrapped") await services.b.wrap();
    if (path === "/string") await services.b.relay({ kind: "string" });
    return new Response("no error");
  },
};
"#;

fn app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            r#"
name = "errors"
[services.a]
module = "a.js"
routes = ["/"]
[services.b]
module = "b.js"
[services.c]
module = "c.js"
"#,
        ),
        ("a.js", A_JS),
        ("b.js", B_JS),
        ("c.js", C_JS),
    ])
}

/// The 1-based line of `source` that holds `marker`.
fn line_of(source: &str, marker: &str) -> usize {
    source
        .lines()
        .position(|l| l.contains(marker))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no {marker} in the source"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {key} in {v:?}"))
}

fn probe(rt: &pyrosome::Runtime, kind: &str) -> Value {
    rt.call_blocking("a", "probe", json(&format!(r#"{{"kind":"{kind}"}}"#)))
        .unwrap_or_else(|e| panic!("probe {kind}: {}", e.report()))
}

#[test]
fn an_error_keeps_its_class_cause_chain_and_clonable_own_properties_across_two_hops() {
    let app = app();
    let rt = app.start(2);
    let e = probe(&rt, "coded");
    assert_eq!(text(&e, "name"), "RangeError", "{e:?}");
    assert_eq!(text(&e, "ctor"), "RangeError");
    assert_eq!(e.get("isRangeError"), Some(&Value::Bool(true)));
    assert_eq!(text(&e, "message"), "out of range");
    // Own enumerable data properties that clone, in order, as own
    // enumerable properties; the function, the Date, the non-enumerable
    // one and the accessor (whose getter would throw) are skipped silently.
    assert_eq!(
        e.get("keys"),
        Some(&Value::Array(vec![
            "code".into(),
            "status".into(),
            "details".into()
        ]))
    );
    assert_eq!(text(&e, "prop_code"), "E_RANGE");
    assert_eq!(e.get("prop_status"), Some(&Value::Number(416.0)));
    assert_eq!(
        e.get("prop_details"),
        Some(&Value::object([
            ("limit", Value::Number(10.0)),
            (
                "seen",
                Value::Array(vec![
                    Value::BigInt(pyrosome::value::BigInt::from(11u64)),
                    "x".into(),
                    Value::Null
                ])
            ),
        ]))
    );
    assert_eq!(e.get("has"), Some(&Value::Array(vec![])));
    // It failed in b.relay (the hop the caller made) and kept its cause.
    assert_eq!(text(&e, "service"), "b");
    assert_eq!(text(&e, "method"), "relay");
    assert_eq!(e.get("causeEnumerable"), Some(&Value::Bool(false)));
    let cause = e.get("cause").expect("cause");
    assert_eq!(text(cause, "name"), "TypeError");
    assert_eq!(text(cause, "ctor"), "TypeError");
    assert_eq!(text(cause, "message"), "root cause");
    assert!(text(cause, "stack").contains("c.js"), "{cause:?}");

    // A Rust caller sees the same.
    let err = rt
        .call_blocking("b", "relay", json(r#"{"kind":"coded"}"#))
        .expect_err("fails");
    assert_eq!(
        (err.name.as_str(), err.message.as_str()),
        ("RangeError", "out of range")
    );
    let keys: Vec<&str> = err.props().iter().filter_map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["code", "status", "details"]);
    let cause = err.cause().expect("cause");
    assert_eq!(
        (cause.name.as_str(), cause.message.as_str()),
        ("TypeError", "root cause")
    );
    let origin = err.origin().expect("origin");
    assert_eq!(
        (origin.service.as_str(), origin.method.as_str()),
        ("c", "fail")
    );
}

#[test]
fn custom_error_names_are_kept() {
    let app = app();
    let rt = app.start(1);
    let e = probe(&rt, "custom");
    assert_eq!(text(&e, "name"), "NotFound", "{e:?}");
    assert_eq!(text(&e, "ctor"), "Error");
    assert_eq!(text(&e, "message"), "no such user");
    // The name was an own property: it is the name, not one of the props.
    assert_eq!(e.get("keys"), Some(&Value::Array(vec![])));
    let e = probe(&rt, "proto");
    assert_eq!(text(&e, "name"), "Conflict", "{e:?}");
    assert_eq!(text(&e, "message"), "already there");
}

#[test]
fn thrown_values_that_are_not_errors_arrive_as_themselves() {
    let app = app();
    let rt = app.start(1);
    let thrown = |kind: &str| {
        let e = probe(&rt, kind);
        (e.get("thrown").cloned(), text(&e, "type").to_owned())
    };
    assert_eq!(
        thrown("string"),
        (Some(Value::from("just a string")), "string".to_owned())
    );
    assert_eq!(
        thrown("number"),
        (Some(Value::Number(42.0)), "number".to_owned())
    );
    assert_eq!(
        thrown("object"),
        (
            Some(Value::object([
                ("code", Value::Number(7.0)),
                ("why", "plain".into())
            ])),
            "object".to_owned()
        )
    );
    assert_eq!(
        thrown("undefined"),
        (Some(Value::Undefined), "undefined".to_owned())
    );
    // A value that cannot be cloned becomes an Error that describes it.
    let e = probe(&rt, "function");
    assert_eq!(text(&e, "name"), "Error", "{e:?}");
    assert!(text(&e, "message").starts_with("Uncaught "), "{e:?}");
    assert!(text(&e, "message").contains("thrower"), "{e:?}");
    // A cause that is not an Error is kept as the value.
    let e = probe(&rt, "valueCause");
    assert_eq!(
        e.get("cause").and_then(|c| c.get("thrown")),
        Some(&Value::object([("retry", Value::Bool(true))])),
        "{e:?}"
    );
    // A cause chain that loops is cut, not followed forever.
    let e = probe(&rt, "cycle");
    let mut depth = 0;
    let mut at = &e;
    while let Some(next) = at.get("cause") {
        assert_eq!(text(next, "message"), "itself");
        at = next;
        depth += 1;
    }
    assert!((1..=20).contains(&depth), "{depth}");

    // For a Rust caller, a thrown string is described and kept.
    let err = rt
        .call_blocking("c", "fail", json(r#"{"kind":"string"}"#))
        .expect_err("fails");
    assert_eq!(err.thrown(), Some(&Value::from("just a string")));
    assert_eq!(err.message, "Uncaught just a string");
    assert!(
        err.to_string().starts_with("Uncaught just a string"),
        "{err}"
    );
    // A thrown object rethrown by b keeps its origin in c.
    let err = rt
        .call_blocking("b", "relay", json(r#"{"kind":"object"}"#))
        .expect_err("fails");
    assert_eq!(
        err.thrown(),
        Some(&Value::object([
            ("code", Value::Number(7.0)),
            ("why", "plain".into())
        ]))
    );
    assert_eq!(
        err.to_string(),
        "Uncaught { code: 7, why: 'plain' } (in b.relay; thrown in c.fail)"
    );
}

#[test]
fn a_nested_call_error_names_its_origin_and_carries_the_callee_frames() {
    let app = app();
    let rt = app.start(2);
    let line = line_of(C_JS, "// DEEP");
    let e = rt
        .call_blocking("a", "nested", Value::Undefined)
        .expect("nested");
    assert_eq!(text(&e, "name"), "TypeError", "{e:?}");
    assert_eq!(text(&e, "service"), "b");
    assert_eq!(text(&e, "method"), "nested");
    let stack = text(&e, "stack");
    // c's frames (its file and line), then the calls they came through.
    let deep = stack
        .find(&format!("c.js:{line}"))
        .unwrap_or_else(|| panic!("c's frame in the stack:\n{stack}"));
    let via_c = stack
        .find("at services.c.deep (remote)")
        .unwrap_or_else(|| panic!("the hop to c in the stack:\n{stack}"));
    let via_b = stack
        .find("at services.b.nested (remote)")
        .unwrap_or_else(|| panic!("the hop to b in the stack:\n{stack}"));
    assert!(deep < via_c && via_c < via_b, "{stack}");

    // A Rust caller of a.nested's caller... of b.nested: the origin is c.
    let err = rt
        .call_blocking("b", "nested", Value::Undefined)
        .expect_err("fails");
    let origin = err.origin().expect("origin");
    assert_eq!(
        (origin.service.as_str(), origin.method.as_str()),
        ("c", "deep")
    );
    assert_eq!(origin.location, Some(("c.js".to_owned(), line as u32)));
    assert_eq!(
        err.to_string(),
        format!("TypeError: deep failure (in b.nested; thrown in c.deep at c.js:{line})")
    );
}

#[test]
fn a_wrapping_error_keeps_the_wrapped_one_with_its_origin() {
    let app = app();
    let rt = app.start(2);
    let e = rt
        .call_blocking("a", "wrapped", Value::Undefined)
        .expect("wrapped");
    assert_eq!(text(&e, "message"), "b could not", "{e:?}");
    let cause = e.get("cause").expect("cause");
    assert_eq!(text(cause, "name"), "RangeError");
    assert_eq!(text(cause, "prop_code"), "E_RANGE");
    assert_eq!(
        cause.get("cause").map(|c| text(c, "message")),
        Some("root cause")
    );
    let err = rt
        .call_blocking("b", "wrap", Value::Undefined)
        .expect_err("fails");
    let report = err.report();
    let wrap_line = line_of(B_JS, "// WRAP");
    assert!(
        report.starts_with(&format!(
            "Error: b could not (in b.wrap at b.js:{wrap_line})"
        )),
        "{report}"
    );
    assert!(
        report.contains("\nCaused by: RangeError: out of range (thrown in c.fail at c.js:"),
        "{report}"
    );
    assert!(report.contains(r#""code":"E_RANGE""#), "{report}");
    assert!(
        report.contains("\nCaused by: TypeError: root cause (thrown in c.fail at c.js:"),
        "{report}"
    );
}

#[test]
fn the_log_and_dev_bodies_show_the_origin_and_the_chain_and_other_bodies_no_stack() {
    captured_logs();
    let app = app();
    let line = line_of(C_JS, "// DEEP");
    let origin = format!("thrown in c.deep at c.js:{line}");

    let server = TestServer::start(app.start(1), 1024, false);
    let r = get(server.addr, "/nested");
    assert_eq!(r.status, 500);
    let id = r.header("x-request-id").expect("request id").to_owned();
    let body = r.text();
    assert!(body.contains(&id), "{body}");
    for leak in ["deep failure", "c.js", " at ", "remote"] {
        assert!(!body.contains(leak), "{leak:?} outside dev mode: {body}");
    }
    // The log record of that request: one event, its message on several
    // lines, then its fields (service, request id).
    let logs = captured_logs();
    let end = logs
        .find(&format!("request_id=\"{id}\""))
        .unwrap_or_else(|| panic!("no log record for {id}:\n{logs}"));
    let start = logs[..end].rfind("ERROR").expect("the record's level");
    let logged = &logs[start..end];
    assert!(
        logged.contains(&format!("TypeError: deep failure (in a.@fetch; {origin})")),
        "{logged}"
    );
    assert!(logged.contains(&format!("c.js:{line}")), "{logged}");
    assert!(logged.contains("at services.b.nested (remote)"), "{logged}");

    let dev = TestServer::start(app.start(1), 1024, true);
    let body = get(dev.addr, "/nested").text();
    assert!(body.contains(&origin), "{body}");
    assert!(body.contains(&format!("c.js:{line}")), "{body}");
    assert!(body.contains("at services.c.deep (remote)"), "{body}");
    let body = get(dev.addr, "/wrapped").text();
    let wrap_line = line_of(B_JS, "// WRAP");
    for part in [
        format!("Error: b could not (in a.@fetch; thrown in b.wrap at b.js:{wrap_line})"),
        "Caused by: RangeError: out of range (thrown in c.fail at c.js:".to_owned(),
        r#""code":"E_RANGE""#.to_owned(),
        "Caused by: TypeError: root cause".to_owned(),
    ] {
        assert!(body.contains(&part), "{part:?} in the dev body:\n{body}");
    }
    let body = get(dev.addr, "/string").text();
    // A thrown primitive has no stack, and each rethrow is its own origin.
    assert!(
        body.contains("Uncaught just a string (in a.@fetch)"),
        "{body}"
    );
}
