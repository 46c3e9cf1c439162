//! The Web API conformance suite: every `test_*` export of
//! `tests/apps/webapi/webapi.js` runs in a real isolate and must return
//! `true` (each throws a descriptive error on the first wrong result).

mod common;

use pyrosome::{App, Runtime, RuntimeOptions, Value};

#[test]
fn web_apis_conform() {
    let app = App::load(&common::repo_path("tests/apps/webapi")).expect("webapi app loads");
    let rt = Runtime::start(
        app,
        RuntimeOptions {
            workers: 1,
            ..RuntimeOptions::default()
        },
    )
    .expect("webapi app starts");
    let info = rt.scheduler().service("webapi").expect("service").clone();
    let tests: Vec<&String> = info
        .methods
        .iter()
        .filter(|m| m.starts_with("test_"))
        .collect();
    assert!(tests.len() >= 15, "the suite lost its tests: {tests:?}");
    let mut failures = Vec::new();
    for t in &tests {
        match rt.call_blocking("webapi", t, Value::Undefined) {
            Ok(Value::Bool(true)) => {}
            Ok(other) => failures.push(format!("{t}: returned {other:?}")),
            Err(e) => failures.push(format!("{t}: {e}\n{}", e.stack.clone().unwrap_or_default())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        tests.len(),
        failures.join("\n")
    );
}
