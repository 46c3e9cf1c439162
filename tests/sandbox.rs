//! The sandbox: JavaScript reaches nothing outside its isolate except
//! through the documented APIs, and services cannot see each other.

mod common;

use common::TempApp;
use pyrosome::{App, Runtime, RuntimeOptions, Value};

fn start_err(files: &[(&str, &str)]) -> String {
    let app = TempApp::new(files);
    // Imports of packages are resolved when the app loads; the others
    // fail when the engine loads the module.
    let loaded = match App::load(app.path()) {
        Ok(loaded) => loaded,
        Err(e) => return format!("{e}"),
    };
    match Runtime::start(
        loaded,
        RuntimeOptions {
            workers: 1,
            ..RuntimeOptions::default()
        },
    ) {
        Ok(_) => panic!("the app should not start"),
        Err(e) => format!("{e}"),
    }
}

fn one_service(module: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "pyrosome.toml",
            "name = \"sb\"\n[services.s]\nmodule = \"s.js\"\n".to_owned(),
        ),
        ("s.js", module.to_owned()),
    ]
}

fn start_err_module(module: &str) -> String {
    let files = one_service(module);
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (*a, b.as_str())).collect();
    start_err(&refs)
}

#[test]
fn host_modules_cannot_be_imported() {
    for spec in [
        "fs",
        "node:fs",
        "std",
        "os",
        "child_process",
        "/etc/passwd",
        "../outside.js",
        "https://example.com/x.js",
    ] {
        let err = start_err_module(&format!(
            "import * as m from {spec:?};\nexport function f() {{ return 1; }}\n"
        ));
        assert!(
            err.contains(spec),
            "the error names the import {spec}: {err}"
        );
        assert!(
            err.contains("s.js"),
            "the error names the importing file: {err}"
        );
    }
    // Dynamic import is refused the same way, at run time.
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"sb\"\n[services.s]\nmodule = \"s.js\"\n",
        ),
        (
            "s.js",
            "export async function f() { try { await import('fs'); return 'imported'; } catch (e) { return String(e); } }\n",
        ),
    ]);
    let rt = app.start(1);
    let out = rt
        .call_blocking("s", "f", Value::Undefined)
        .expect("f runs");
    let text = out.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("'fs'") && text != "imported", "{text}");
}

#[test]
fn no_host_objects_leak_into_globals() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"sb\"\n[services.s]\nmodule = \"s.js\"\n",
        ),
        (
            "s.js",
            r#"
export function probe() {
  const names = ["require", "process", "Deno", "Bun", "std", "os", "host", "__host",
                 "__pyrosome_internal", "__pyrosome_store", "scriptArgs", "print",
                 "XMLHttpRequest", "WebSocket", "importScripts", "SharedArrayBuffer", "WebAssembly"];
  const present = names.filter((n) => typeof globalThis[n] !== "undefined");
  let evalHost;
  try { evalHost = typeof eval("host"); } catch (e) { evalHost = e.name; }
  let fnHost;
  try { fnHost = new Function("return typeof host")(); } catch (e) { fnHost = e.name; }
  let wait;
  try { wait = typeof Atomics.wait; } catch (e) { wait = e.name; }
  const own = Object.getOwnPropertyNames(globalThis).filter((n) => /host|pyrosome/i.test(n));
  return { present, evalHost, fnHost, own, wait };
}
"#,
        ),
    ]);
    let rt = app.start(1);
    let out = rt
        .call_blocking("s", "probe", Value::Undefined)
        .expect("probe");
    assert_eq!(out.get("present"), Some(&Value::Array(vec![])), "{out:?}");
    assert_eq!(
        out.get("evalHost"),
        Some(&Value::from("ReferenceError")),
        "{out:?}"
    );
    assert_eq!(
        out.get("fnHost"),
        Some(&Value::from("undefined")),
        "{out:?}"
    );
    assert_eq!(out.get("own"), Some(&Value::Array(vec![])), "{out:?}");
    // A blocking wait would hold a worker thread beyond any CPU budget.
    assert_eq!(out.get("wait"), Some(&Value::from("undefined")), "{out:?}");
}

#[test]
fn one_service_cannot_see_another_services_globals() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"sb\"\n[services.a]\nmodule = \"a.js\"\n[services.b]\nmodule = \"b.js\"\n",
        ),
        (
            "a.js",
            "globalThis.secret = 'from a'; Object.prototype.polluted = 1; Array.prototype.extra = 2;\n\
             export function set() { globalThis.later = 'set by a'; return typeof secret; }\n",
        ),
        (
            "b.js",
            "export function look() { return [typeof globalThis.secret, typeof globalThis.later, \
             ({}).polluted === undefined, [].extra === undefined]; }\n",
        ),
    ]);
    let rt = app.start(2);
    assert_eq!(
        rt.call_blocking("a", "set", Value::Undefined),
        Ok(Value::from("string"))
    );
    let out = rt
        .call_blocking("b", "look", Value::Undefined)
        .expect("look");
    assert_eq!(
        out,
        Value::Array(vec![
            "undefined".into(),
            "undefined".into(),
            true.into(),
            true.into()
        ])
    );
}

#[test]
fn calling_services_at_module_top_level_is_refused_clearly() {
    let err = start_err(&[
        (
            "pyrosome.toml",
            "name = \"sb\"\n[services.a]\nmodule = \"a.js\"\n[services.b]\nmodule = \"b.js\"\n",
        ),
        (
            "a.js",
            "import { services } from 'pyrosome';\nawait services.b.f();\nexport function g() {}\n",
        ),
        ("b.js", "export function f() { return 1; }\n"),
    ]);
    assert!(
        err.contains("cannot be called while modules are loading"),
        "{err}"
    );
}

#[test]
fn startup_errors_name_the_file_and_line() {
    let err = start_err_module("export function f() {\n  return 1;\n}\nlet x = ;\n");
    assert!(
        err.contains("s.js:4"),
        "syntax error names file and line: {err}"
    );
    assert!(err.contains("SyntaxError"), "{err}");

    let err =
        start_err_module("export function f() {}\n\nthrow new RangeError('top-level boom');\n");
    assert!(
        err.contains("s.js:3"),
        "top-level throw names file and line: {err}"
    );
    assert!(err.contains("top-level boom"), "{err}");

    let err = start_err(&[
        (
            "pyrosome.toml",
            "name = \"sb\"\n[services.s]\nmodule = \"s.js\"\n",
        ),
        (
            "s.js",
            "import { x } from './lib/bad.js';\nexport function f() { return x; }\n",
        ),
        ("lib/bad.js", "export const x = 1;\nexport const y = {;\n"),
    ]);
    assert!(
        err.contains("lib/bad.js:2"),
        "errors in imported files name that file: {err}"
    );
}

/// What every stack frame a user's `Error.prepareStackTrace` sees gives
/// away, in every place user code runs: a method, an async continuation, a
/// timer callback, a promise reaction, a fetch handler, a call's callee.
const WALK_FRAMES: &str = r#"
import { services } from "pyrosome";
function walk(where) {
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = (_, frames) => frames;
  const frames = new Error("probe").stack;
  Error.prepareStackTrace = previous;
  const leaks = [];
  for (const f of frames) {
    const fn = f.getFunction();
    const self = f.getThis();
    if (fn !== undefined) leaks.push(`${where}: getFunction() of ${f.getFunctionName()} in ${f.getFileName()}`);
    if (self !== undefined && self !== globalThis) leaks.push(`${where}: getThis() of ${f.getFunctionName()}`);
  }
  // The methods cannot be put back.
  const proto = Object.getPrototypeOf(frames[0]);
  try { Object.defineProperty(proto, "getFunction", { value: () => 1 }); leaks.push(`${where}: getFunction redefined`); } catch {}
  try { proto.getFunction = () => 1; } catch {}
  if (frames[0].getFunction() !== undefined) leaks.push(`${where}: getFunction replaced`);
  return { frames: frames.length, leaks };
}
export async function probe() {
  const results = [walk("method")];
  await null;
  results.push(walk("after await"));
  results.push(await new Promise((r) => setTimeout(() => r(walk("timer")), 1)));
  results.push(await Promise.resolve().then(() => walk("reaction")));
  results.push(await services.s.callee());
  return results;
}
export function callee() { return walk("callee"); }
export default { fetch() { return Response.json(walk("fetch")); } };
"#;

#[test]
fn no_stack_frame_hands_out_a_function() {
    let files = one_service(WALK_FRAMES);
    let refs: Vec<(&str, &str)> = files.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let app = TempApp::new(&refs);
    let rt = app.start(1);
    let mut results = match rt.call_blocking("s", "probe", Value::Null) {
        Ok(Value::Array(r)) => r,
        other => panic!("probe failed: {other:?}"),
    };
    let fetched = rt
        .call_blocking(
            "s",
            pyrosome::engine::FETCH_METHOD,
            Value::Array(vec![
                Value::from("GET"),
                Value::from("http://t/"),
                Value::Array(vec![]),
            ]),
        )
        .expect("fetch runs");
    let body = match fetched {
        Value::Array(parts) => match parts.get(1) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("no body: {other:?}"),
        },
        other => panic!("not a response value: {other:?}"),
    };
    results.push(common::json(&body));
    assert_eq!(results.len(), 6);
    for r in &results {
        let frames = r.get("frames").and_then(Value::as_f64).unwrap_or(0.0);
        assert!(frames >= 1.0, "the walk saw frames: {r:?}");
        assert_eq!(r.get("leaks"), Some(&Value::Array(vec![])), "{r:?}");
    }
}
