//! The web-platform-tests URL data (`tests/data/wpt-url/`, see its README)
//! run through `new URL` and its setters in a real isolate, on whichever
//! engine this test binary runs (`PYROSOME_ENGINE`). Every case must pass
//! except those in [`KNOWN_PARSE_FAILURES`] and [`KNOWN_SETTER_FAILURES`]:
//! what the `url` crate, which parses for both engines, does differently
//! from the standard, each with the reason. A case on a list that starts
//! passing is reported (so the list can shrink) but does not fail the test.

mod common;

use pyrosome::{App, Runtime, RuntimeOptions, Value};

/// Why a `file:` URL case fails: the url crate drops the host when the path
/// starts with a Windows drive letter (`file://host/C:/` → `file:///C:/`).
const DRIVE: &str = "the url crate drops the host of a file: URL whose path starts with a \
    Windows drive letter (or takes none from the base); the standard keeps it";

/// Why a `file:` URL case fails: the url crate drops empty path segments of
/// a `file:` path (`file:////foo` → `file:///foo`).
const EMPTY: &str = "the url crate drops empty segments of a file: URL path \
    (file:////foo becomes file:///foo, file://h/// becomes file://h/); the standard keeps them";

/// Parsing cases that fail, named `<input>` or `<input> against <base>`
/// (the url crate's own `expected_failures.txt` names them so, and lists
/// these). All are `file:` URLs.
const KNOWN_PARSE_FAILURES: &[(&str, &str)] = &[
    ("</> against <file://h/C:/a/b>", DRIVE),
    ("<file:\\\\//>", EMPTY),
    ("<file:\\\\\\\\>", EMPTY),
    ("<file:\\\\\\\\?fox>", EMPTY),
    ("<file:\\\\\\\\#guppy>", EMPTY),
    ("<file://spider///>", EMPTY),
    ("<file:\\\\localhost//>", EMPTY),
    ("<file://\\/localhost//cat>", EMPTY),
    ("<file://localhost//a//../..//>", EMPTY),
    ("</////mouse> against <file:///elephant>", EMPTY),
    ("<\\/localhost//pig> against <file://lion/>", EMPTY),
    ("<//localhost//pig> against <file://lion/>", EMPTY),
    ("</..//localhost//pig> against <file://lion/>", EMPTY),
    ("<C|> against <file://host/dir/file>", DRIVE),
    ("<C|> against <file://host/D:/dir1/dir2/file>", DRIVE),
    ("<C|#> against <file://host/dir/file>", DRIVE),
    ("<C|?> against <file://host/dir/file>", DRIVE),
    ("<C|/> against <file://host/dir/file>", DRIVE),
    ("<C|\n/> against <file://host/dir/file>", DRIVE),
    ("<C|\\> against <file://host/dir/file>", DRIVE),
    ("</c:/foo/bar> against <file://host/path>", DRIVE),
    ("<file://example.net/C:/>", DRIVE),
    ("<file://1.2.3.4/C:/>", DRIVE),
    ("<file://[1::8]/C:/>", DRIVE),
    ("<C|/> against <file://host/>", DRIVE),
    ("</C:/> against <file://host/>", DRIVE),
    ("<file:C:/> against <file://host/>", DRIVE),
    ("<file:/C:/> against <file://host/>", DRIVE),
    ("<file://localhost//a//../..//foo>", EMPTY),
    ("<file://localhost////foo>", EMPTY),
    ("<file:////foo>", EMPTY),
    ("<file:////one/two> against <file:///>", EMPTY),
    ("<////one/two> against <file:///>", EMPTY),
    ("<file:///.//> against <file:////>", EMPTY),
    ("<file:.//p>", EMPTY),
    ("<file:/.//p>", EMPTY),
];

/// Setter cases that fail, named `<href> set <attribute> to <value>`. The
/// url crate's own setter bugs with "/." paths and empty paths of
/// non-special URLs are worked around (`engine/host_ops.rs`); these are not.
const KNOWN_SETTER_FAILURES: &[(&str, &str)] = &[
    ("<file://monkey/> set pathname to <\\\\>", EMPTY),
    ("<file:///unicorn> set pathname to <//\\/>", EMPTY),
    ("<file:///unicorn> set pathname to <//monkey/..//>", EMPTY),
];

fn data(file: &str) -> Value {
    let path = common::repo_path(&format!("tests/data/wpt-url/{file}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    common::json(&text)
}

fn start() -> Runtime {
    let app = App::load(&common::repo_path("tests/apps/wpt-url")).expect("wpt-url app loads");
    Runtime::start(
        app,
        RuntimeOptions {
            workers: 1,
            ..RuntimeOptions::default()
        },
    )
    .expect("wpt-url app starts")
}

/// Runs `method` over `arg`: the failed cases as (name, what was wrong).
fn failures(rt: &Runtime, method: &str, arg: Value) -> Vec<(String, String)> {
    let result = rt
        .call_blocking("wpt", method, arg)
        .unwrap_or_else(|e| panic!("wpt.{method} failed: {e}"));
    let Value::Array(items) = result else {
        panic!("wpt.{method} returned {result:?}")
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Array(pair) => match pair.as_slice() {
                [Value::String(name), Value::String(why)] => (name.clone(), why.clone()),
                other => panic!("not a [name, why] pair: {other:?}"),
            },
            other => panic!("not a [name, why] pair: {other:?}"),
        })
        .collect()
}

/// Fails on any failure not in `known`; reports known ones that passed.
fn check(what: &str, total: usize, failed: &[(String, String)], known: &[(&str, &str)]) {
    let unexpected: Vec<String> = failed
        .iter()
        .filter(|(name, _)| !known.iter().any(|(k, _)| k == name))
        .map(|(name, why)| format!("{name}: {why}"))
        .collect();
    let fixed: Vec<&str> = known
        .iter()
        .filter(|(k, _)| !failed.iter().any(|(name, _)| name == k))
        .map(|(k, _)| *k)
        .collect();
    eprintln!(
        "WPT URL {what}: {} of {total} pass ({} known failures)",
        total - failed.len(),
        known.len() - fixed.len()
    );
    if !fixed.is_empty() {
        eprintln!("known {what} failures that now pass (remove them from the list):");
        for name in &fixed {
            eprintln!("  {name}");
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} {what} cases failed that are not known failures:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}

#[test]
fn wpt_url_parsing_and_setters() {
    let rt = start();
    let cases = data("urltestdata.json");
    let setters = data("setters_tests.json");
    let counts = rt
        .call_blocking(
            "wpt",
            "count",
            Value::Array(vec![cases.clone(), setters.clone()]),
        )
        .expect("wpt.count");
    let (parsing, setting) = match &counts {
        Value::Array(n) => match n.as_slice() {
            [Value::Number(p), Value::Number(s)] => (*p as usize, *s as usize),
            _ => panic!("counts: {counts:?}"),
        },
        _ => panic!("counts: {counts:?}"),
    };
    assert_eq!(
        (parsing, setting),
        (819, 254),
        "the vendored WPT data changed: update this count and the lists"
    );
    check(
        "parsing",
        parsing,
        &failures(&rt, "parse", cases),
        KNOWN_PARSE_FAILURES,
    );
    check(
        "setter",
        setting,
        &failures(&rt, "setters", setters),
        KNOWN_SETTER_FAILURES,
    );
}
