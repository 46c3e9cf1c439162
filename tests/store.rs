//! The JavaScript store API end to end: a real runtime, services that use
//! `store(name)`, and assertions in Rust on what they return — value
//! round trips, key order, ranges, conditional and atomic batches, grants,
//! errors, persistence across restarts, the durability hold, and damaged
//! store files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Client, TempApp, TestServer, json};
use pyrosome::app::Secrets;
use pyrosome::store::{Durability, FILE_NAME};
use pyrosome::value::BigInt;
use pyrosome::{App, Runtime, RuntimeError, RuntimeOptions, Value};

const MANIFEST: &str = r#"
name = "storetest"

[stores.kv]
[stores.cache]
durability = "relaxed"
[stores.shared]
[stores.secret]

[services.svc]
module = "svc.js"
routes = ["/"]
stores = { kv = "read-write", cache = "read-write", shared = "read" }

[services.other]
module = "other.js"
stores = ["shared"]
"#;

const SVC: &str = r#"
import { store } from "pyrosome";

// Thin wrappers: Rust passes keys (strings or Uint8Arrays), values and
// options straight through.
export async function get({ s = "kv", key }) { return await store(s).get(key); }
export async function put({ s = "kv", key, value }) { return await store(s).put(key, value); }
export async function putIfAbsent({ key, value }) { return await store("kv").putIfAbsent(key, value); }
export async function del({ key }) { return await store("kv").delete(key); }
export async function list(opts) { return await store("kv").list(opts); }
export async function count(opts) { return await store("kv").count(opts); }
export async function batch(ops) { return await store("kv").batch(ops); }
export async function keys(opts) { return (await store("kv").list(opts)).map((e) => e.key); }

export async function putMany({ entries }) {
  const kv = store("kv");
  await Promise.all(entries.map(([k, v]) => kv.put(k, v)));
  return entries.length;
}

// Every value type, stored and read back; JS-only properties checked here.
export async function valueTypes() {
  const kv = store("kv");
  const view = new Uint8Array([9, 9, 1, 2, 3, 9]).subarray(2, 5);
  const cases = {
    undef: undefined, nul: null, t: true, f: false, zero: 0, negZero: -0, num: 1.5,
    int: 42, nan: NaN, inf: Infinity, ninf: -Infinity, max: Number.MAX_VALUE,
    big: 2n ** 64n + 1n, nbig: -(2n ** 100n), smallBig: 0n,
    str: "héllo ☃ 😀", empty: "", nul0: "a\u0000b",
    bytes: new Uint8Array([0, 1, 255]), emptyBytes: new Uint8Array(0), view,
    arr: [1, [2, [3]], null, undefined], emptyArr: [], emptyObj: {},
    obj: { z: 1, a: { b: { c: [1, "2", { d: 3n, e: new Uint8Array([7]) }] } } },
    proto: JSON.parse('{"__proto__": 1, "z": 2}'),
    meg: "m".repeat(1 << 20),
  };
  for (const [name, v] of Object.entries(cases)) await kv.put("vt/" + name, v);
  const out = {};
  for (const name of Object.keys(cases)) out[name] = await kv.get("vt/" + name);
  const failures = [];
  const check = (ok, what) => { if (!ok) failures.push(what); };
  check("undef" in out && out.undef === undefined, "undefined");
  check(Object.is(out.negZero, -0), "-0 kept");
  check(Object.is(out.zero, 0), "+0 kept");
  check(Number.isNaN(out.nan), "NaN kept");
  check(typeof out.big === "bigint" && out.big === 2n ** 64n + 1n, "BigInt > 2^64");
  check(typeof out.nbig === "bigint" && out.nbig === -(2n ** 100n), "negative BigInt");
  check(typeof out.smallBig === "bigint" && out.smallBig === 0n, "0n stays a BigInt");
  check(out.bytes instanceof Uint8Array && out.bytes.join() === "0,1,255", "Uint8Array");
  check(out.emptyBytes instanceof Uint8Array && out.emptyBytes.length === 0, "empty Uint8Array");
  check(out.view instanceof Uint8Array && out.view.join() === "1,2,3", "Uint8Array view: only its window");
  check(out.obj.a.b.c[2].e instanceof Uint8Array, "nested Uint8Array");
  check(typeof out.obj.a.b.c[2].d === "bigint", "nested BigInt");
  check(Object.keys(out.obj).join() === "z,a", "property order");
  check(Object.getPrototypeOf(out.proto) === Object.prototype && out.proto["__proto__"] === 1,
    "own __proto__ key is data, not a prototype");
  check(out.meg.length === 1 << 20 && out.meg === cases.meg, "1 MiB string");
  check(out.arr.length === 4 && out.arr[3] === undefined && 3 in out.arr, "undefined array element");
  // Values are copies: mutating what was read or what was written changes nothing stored.
  const original = { n: 1 };
  const pending = kv.put("vt/snapshot", original);
  original.n = 2;
  await pending;
  const a = await kv.get("vt/snapshot");
  a.n = 3;
  check((await kv.get("vt/snapshot")).n === 1, "values are snapshots");
  // A Uint8Array view as a key: only its window is the key.
  await kv.put(new Uint8Array([0x61, 0x62, 0x63, 0x64]).subarray(1, 3), "bc via a view");
  check((await kv.get("bc")) === "bc via a view", "Uint8Array view as a key");
  delete out.meg;
  return { failures, values: out };
}

async function caught(fn) {
  try {
    await fn();
  } catch (e) {
    return { name: e.name, message: e.message };
  }
  return null;
}

export async function errors() {
  const kv = store("kv");
  const ro = store("shared");
  class Point { constructor() { this.x = 1; } }
  const cyclic = {}; cyclic.self = cyclic;
  let syncThrow = false;
  let rejected;
  try { rejected = kv.get(42); } catch { syncThrow = true; }
  const asyncRejection = !syncThrow && rejected instanceof Promise;
  if (rejected) rejected.catch(() => {});
  return {
    handle: { name: kv.name, writable: kv.writable, roWritable: ro.writable, same: store("kv") === kv },
    asyncRejection,
    unknown: await caught(() => store("nope")),
    ungranted: await caught(() => store("secret")),
    notString: await caught(() => store(5)),
    readOnlyPut: await caught(() => ro.put("k", 1)),
    readOnlyDelete: await caught(() => ro.delete("k")),
    readOnlyPutIfAbsent: await caught(() => ro.putIfAbsent("k", 1)),
    readOnlyBatch: await caught(() => ro.batch([{ op: "put", key: "k", value: 1 }])),
    readOnlyReads: [await ro.get("k"), await ro.list(), await ro.count()],
    keyNumber: await caught(() => kv.get(42)),
    keyObject: await caught(() => kv.put({}, 1)),
    keyMissing: await caught(() => kv.get()),
    keyNull: await caught(() => kv.delete(null)),
    keyArray: await caught(() => kv.putIfAbsent([1], 1)),
    prefixNumber: await caught(() => kv.list({ prefix: 7 })),
    startBoolean: await caught(() => kv.count({ start: true })),
    batchKey: await caught(() => kv.batch([{ op: "put", key: 1, value: 1 }])),
    prefixAndStart: await caught(() => kv.list({ prefix: "a", start: "b" })),
    limitNegative: await caught(() => kv.list({ limit: -1 })),
    limitFraction: await caught(() => kv.list({ limit: 1.5 })),
    limitString: await caught(() => kv.list({ limit: "10" })),
    optionsNotObject: await caught(() => kv.list("a")),
    batchNotArray: await caught(() => kv.batch({ op: "put", key: "a", value: 1 })),
    batchBadOp: await caught(() => kv.batch([{ op: "frob", key: "a" }])),
    batchNotObject: await caught(() => kv.batch([1])),
    valueFunction: await caught(() => kv.put("bad", () => 1)),
    valueSymbol: await caught(() => kv.put("bad", Symbol("s"))),
    valueMap: await caught(() => kv.put("bad", new Map())),
    valueClass: await caught(() => kv.put("bad", { p: new Point() })),
    valueDate: await caught(() => kv.put("bad", [new Date()])),
    valueCycle: await caught(() => kv.put("bad", cyclic)),
    valuePromise: await caught(() => kv.put("bad", Promise.resolve(1))),
    batchValue: await caught(() => kv.batch([{ op: "put", key: "ok", value: 1 }, { op: "put", key: "bad", value: () => 1 }])),
    keyTooLong: await caught(() => kv.put("x".repeat(64 * 1024 + 1), 1)),
    afterwards: { bad: await kv.get("bad"), ok: await kv.get("ok") },
  };
}

// Writes without awaiting them, then returns at once.
export function fireAndForget({ prefix, n }) {
  const kv = store("kv");
  for (let i = 0; i < n; i++) kv.put(prefix + i, { i, pad: "p".repeat(1000) });
  kv.batch([{ op: "put", key: prefix + "batch", value: n }]);
  store("cache").put(prefix + "relaxed", n);
  // A write that fails must not hold the answer forever.
  kv.put("x".repeat(70000), 1).catch(() => {});
  return "returned";
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const k = url.searchParams.get("k");
    if (url.pathname === "/fire") {
      store("kv").put(k, "from http"); // not awaited
      return new Response("ok");
    }
    const v = await store("kv").get(k);
    return new Response(v === undefined ? "missing" : String(v));
  },
};
"#;

const OTHER: &str = r#"
import { store } from "pyrosome";
export async function put({ key, value }) { await store("shared").put(key, value); }
"#;

fn app() -> TempApp {
    TempApp::new(&[
        ("pyrosome.toml", MANIFEST),
        ("svc.js", SVC),
        ("other.js", OTHER),
    ])
}

fn start_in(app: &TempApp, data: &Path) -> Result<Runtime, RuntimeError> {
    Runtime::start(
        app.load(),
        RuntimeOptions {
            workers: 1,
            data_dir: Some(data.to_path_buf()),
            ..RuntimeOptions::default()
        },
    )
}

fn call(rt: &Runtime, method: &str, arg: Value) -> Value {
    rt.call_blocking("svc", method, arg)
        .unwrap_or_else(|e| panic!("svc.{method} failed: {e}"))
}

fn s(text: &str) -> Value {
    Value::from(text)
}

fn key(k: Value) -> Value {
    Value::object([("key", k)])
}

fn kv(k: Value, v: Value) -> Value {
    Value::object([("key", k), ("value", v)])
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|k| s(k)).collect())
}

fn big(text: &str) -> Value {
    Value::BigInt(BigInt::parse(text).expect("BigInt digits"))
}

/// The store tests that hold on both backends run on each: `embedded::NAME` and
/// `on_postgres::NAME` (a fresh database on a PostgreSQL server of the test's own, the stores
/// `kv`, `cache` and `shared` on it; `secret` stays embedded).
#[derive(Clone, Copy)]
enum Backend {
    Embedded,
    Postgres,
}

impl Backend {
    fn start(self, app: &TempApp, workers: usize) -> Runtime {
        match self {
            Backend::Embedded => app.start(workers),
            Backend::Postgres => {
                let manifest = app.path().join("pyrosome.toml");
                let text = std::fs::read_to_string(&manifest).expect("manifest");
                let text = ["kv", "cache", "shared"].iter().fold(text, |t, name| {
                    t.replace(
                        &format!("[stores.{name}]\n"),
                        &format!("[stores.{name}]\nbackend = \"postgres\"\n"),
                    )
                });
                std::fs::write(&manifest, text).expect("manifest");
                let url = common::postgres::PgServer::shared().database("js");
                Runtime::start(
                    app.load(),
                    RuntimeOptions {
                        workers,
                        secrets: Secrets::new().with("DATABASE_URL", url),
                        ..RuntimeOptions::default()
                    },
                )
                .unwrap_or_else(|e| panic!("app should start: {e}"))
            }
        }
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(#[test] fn $name() { super::$name(super::Backend::Embedded); })*
        }
        mod on_postgres {
            $(#[test] fn $name() { super::$name(super::Backend::Postgres); })*
        }
    };
}

on_both_backends!(
    get_of_an_absent_key_is_undefined_and_put_get_delete_work,
    every_value_type_round_trips,
    keys_order_bytewise_by_code_point_including_empty_and_binary_keys,
    list_ranges_limits_reverse_and_count,
    put_if_absent_and_atomic_batches,
    concurrent_put_if_absent_has_exactly_one_winner,
    errors_are_clear_and_typed,
    a_read_grant_sees_another_services_writes,
    an_http_response_waits_for_writes_the_handler_did_not_await,
);

fn get_of_an_absent_key_is_undefined_and_put_get_delete_work(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 1);
    assert_eq!(call(&rt, "get", key(s("nothing"))), Value::Undefined);
    assert_eq!(
        call(&rt, "put", kv(s("a"), s("one"))),
        Value::Undefined,
        "put resolves undefined"
    );
    assert_eq!(call(&rt, "get", key(s("a"))), s("one"));
    call(&rt, "put", kv(s("a"), s("two")));
    assert_eq!(call(&rt, "get", key(s("a"))), s("two"), "put overwrites");
    assert_eq!(
        call(&rt, "del", key(s("a"))),
        Value::Undefined,
        "delete resolves undefined"
    );
    assert_eq!(call(&rt, "get", key(s("a"))), Value::Undefined);
    assert_eq!(
        call(&rt, "del", key(s("never-there"))),
        Value::Undefined,
        "deleting an absent key is fine"
    );
    // Stores are separate namespaces.
    call(&rt, "put", kv(s("same"), s("in kv")));
    let cache = |v: Value| Value::object([("s", s("cache")), ("key", s("same")), ("value", v)]);
    call(&rt, "put", cache(s("in cache")));
    assert_eq!(call(&rt, "get", key(s("same"))), s("in kv"));
    assert_eq!(
        call(
            &rt,
            "get",
            Value::object([("s", s("cache")), ("key", s("same"))])
        ),
        s("in cache")
    );
}

fn every_value_type_round_trips(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 1);
    let out = call(&rt, "valueTypes", Value::Undefined);
    assert_eq!(
        out.get("failures"),
        Some(&Value::Array(vec![])),
        "JS-side checks: {out:?}"
    );
    let values = out.get("values").expect("values");
    let expected = [
        ("undef", Value::Undefined),
        ("nul", Value::Null),
        ("t", Value::Bool(true)),
        ("f", Value::Bool(false)),
        ("zero", Value::Number(0.0)),
        ("negZero", Value::Number(-0.0)),
        ("num", Value::Number(1.5)),
        ("int", Value::Number(42.0)),
        ("nan", Value::Number(f64::NAN)),
        ("inf", Value::Number(f64::INFINITY)),
        ("ninf", Value::Number(f64::NEG_INFINITY)),
        ("max", Value::Number(f64::MAX)),
        ("big", big("18446744073709551617")),
        ("nbig", big("-1267650600228229401496703205376")),
        ("smallBig", big("0")),
        ("str", s("héllo ☃ 😀")),
        ("empty", s("")),
        ("nul0", s("a\0b")),
        ("bytes", Value::Bytes(vec![0, 1, 255])),
        ("emptyBytes", Value::Bytes(vec![])),
        ("view", Value::Bytes(vec![1, 2, 3])),
        (
            "arr",
            Value::Array(vec![
                Value::Number(1.0),
                Value::Array(vec![
                    Value::Number(2.0),
                    Value::Array(vec![Value::Number(3.0)]),
                ]),
                Value::Null,
                Value::Undefined,
            ]),
        ),
        ("emptyArr", Value::Array(vec![])),
        ("emptyObj", Value::Object(vec![])),
        (
            "obj",
            json(r#"{"z":1,"a":{"b":{"c":[1,"2",{"d":0,"e":0}]}}}"#),
        ),
        ("proto", json(r#"{"__proto__":1,"z":2}"#)),
    ];
    let Value::Object(got) = values else {
        panic!("object expected: {values:?}")
    };
    let names: Vec<&str> = got.iter().filter_map(|(k, _)| k.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|(k, _)| *k).collect();
    assert_eq!(names, want);
    for ((name, value), (_, want)) in got.iter().zip(expected.iter()) {
        if name == "obj" {
            // JSON cannot express BigInt and bytes: compare the leaves by hand.
            let leaf = value
                .get("a")
                .and_then(|a| a.get("b"))
                .and_then(|b| b.get("c"))
                .and_then(|c| match c {
                    Value::Array(items) => items.get(2).cloned(),
                    _ => None,
                })
                .expect("obj.a.b.c[2]");
            assert_eq!(leaf.get("d"), Some(&big("3")));
            assert_eq!(leaf.get("e"), Some(&Value::Bytes(vec![7])));
            continue;
        }
        assert_eq!(value, want, "{name}");
    }
    // The 1 MiB string stored by JavaScript, read from Rust through the raw namespace (on
    // PostgreSQL, through JavaScript again).
    let meg = match backend {
        Backend::Embedded => rt
            .store()
            .expect("the app has stores")
            .namespace("kv", Durability::Durable)
            .expect("namespace")
            .get(b"vt/meg")
            .expect("get")
            .expect("present"),
        Backend::Postgres => call(&rt, "get", key(s("vt/meg"))),
    };
    assert_eq!(meg.as_str().map(str::len), Some(1 << 20));
}

fn keys_order_bytewise_by_code_point_including_empty_and_binary_keys(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 1);
    // Inserted out of order. In UTF-16 "😀" (D83D..) sorts before "\u{FFFD}"; by code point
    // (UTF-8 bytes) it sorts after.
    let text_keys = [
        "z", "😀", "", "a\0", "é", "ab", "\u{FFFD}", "a", "B", "a/b", "aa", "Z",
    ];
    for (i, k) in text_keys.iter().enumerate() {
        call(&rt, "put", kv(s(k), Value::Number(i as f64)));
    }
    // Binary keys: not UTF-8, so listed as Uint8Arrays, after every string key.
    call(&rt, "put", kv(Value::Bytes(vec![0xFF]), s("ff")));
    call(&rt, "put", kv(Value::Bytes(vec![0xFE, 0x00]), s("fe00")));
    // A Uint8Array holding UTF-8 is the same key as the string.
    call(
        &rt,
        "put",
        kv(Value::Bytes(b"ab".to_vec()), s("ab via bytes")),
    );
    assert_eq!(call(&rt, "get", key(s("ab"))), s("ab via bytes"));
    assert_eq!(call(&rt, "get", key(Value::Bytes(vec![0xFF]))), s("ff"));
    assert_eq!(
        call(&rt, "get", key(s(""))),
        Value::Number(2.0),
        "the empty key"
    );

    let listed = call(&rt, "list", Value::Undefined);
    let Value::Array(entries) = &listed else {
        panic!("array expected: {listed:?}")
    };
    let keys: Vec<Value> = entries
        .iter()
        .map(|e| e.get("key").cloned().expect("entry has a key"))
        .collect();
    let mut sorted: Vec<&str> = text_keys.to_vec();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut want: Vec<Value> = sorted.iter().map(|k| s(k)).collect();
    want.push(Value::Bytes(vec![0xFE, 0x00]));
    want.push(Value::Bytes(vec![0xFF]));
    assert_eq!(keys, want);
    assert_eq!(
        &keys[..7],
        &items(&strings(&["", "B", "Z", "a", "a\0", "a/b", "aa"]))[..]
    );
    let pos = |k: &str| keys.iter().position(|x| *x == s(k)).expect("key listed");
    assert!(
        pos("\u{FFFD}") < pos("😀"),
        "code point order, not UTF-16 order"
    );
    assert!(pos("é") < pos("\u{FFFD}"));
    // Entries carry their values.
    assert_eq!(entries[0].get("value"), Some(&Value::Number(2.0)));
    assert_eq!(entries.last().and_then(|e| e.get("value")), Some(&s("ff")));
    // Binary keys work in ranges too.
    assert_eq!(
        call(
            &rt,
            "keys",
            Value::object([("start", Value::Bytes(vec![0xFE]))])
        ),
        Value::Array(vec![Value::Bytes(vec![0xFE, 0]), Value::Bytes(vec![0xFF])])
    );
    assert_eq!(
        call(
            &rt,
            "count",
            Value::object([("prefix", Value::Bytes(vec![0xFF]))])
        ),
        Value::Number(1.0)
    );
}

fn items(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => panic!("array expected: {other:?}"),
    }
}

fn list_ranges_limits_reverse_and_count(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 1);
    // Timelines: tl/<user>/<zero-padded timestamp>.
    let ts = |t: u64| format!("{t:013}");
    let mut entries = Vec::new();
    for user in ["alice", "alice2", "bob"] {
        for i in 0..25u64 {
            let t = 1_700_000_000_000 + i * 1000;
            entries.push(Value::Array(vec![
                s(&format!("tl/{user}/{}", ts(t))),
                Value::object([("user", s(user)), ("i", Value::Number(i as f64))]),
            ]));
        }
    }
    entries.push(Value::Array(vec![s("tl/alice"), s("not in tl/alice/")]));
    call(
        &rt,
        "putMany",
        Value::object([("entries", Value::Array(entries))]),
    );

    // The last 10 posts of alice's timeline, newest first.
    let opts = |pairs: Vec<(&str, Value)>| Value::object(pairs);
    let last10 = call(
        &rt,
        "list",
        opts(vec![
            ("prefix", s("tl/alice/")),
            ("limit", Value::Number(10.0)),
            ("reverse", Value::Bool(true)),
        ]),
    );
    let Value::Array(last10) = last10 else {
        panic!("array expected")
    };
    assert_eq!(last10.len(), 10);
    for (n, e) in last10.iter().enumerate() {
        let i = 24 - n as u64;
        assert_eq!(
            e.get("key"),
            Some(&s(&format!(
                "tl/alice/{}",
                ts(1_700_000_000_000 + i * 1000)
            )))
        );
        assert_eq!(
            e.get("value").and_then(|v| v.get("i")),
            Some(&Value::Number(i as f64))
        );
        assert_eq!(
            e.get("value").and_then(|v| v.get("user")),
            Some(&s("alice"))
        );
    }
    // Forward with a limit: the oldest.
    let first3 = call(
        &rt,
        "keys",
        opts(vec![
            ("prefix", s("tl/bob/")),
            ("limit", Value::Number(3.0)),
        ]),
    );
    assert_eq!(
        first3,
        strings(&[
            &format!("tl/bob/{}", ts(1_700_000_000_000)),
            &format!("tl/bob/{}", ts(1_700_000_001_000)),
            &format!("tl/bob/{}", ts(1_700_000_002_000)),
        ])
    );
    // A prefix is a byte prefix: "tl/alice" also matches "tl/alice2/..." and "tl/alice".
    let count = |o: Value| call(&rt, "count", o);
    assert_eq!(
        count(opts(vec![("prefix", s("tl/alice/"))])),
        Value::Number(25.0)
    );
    assert_eq!(
        count(opts(vec![("prefix", s("tl/alice"))])),
        Value::Number(51.0)
    );
    assert_eq!(count(opts(vec![("prefix", s("tl/"))])), Value::Number(76.0));
    assert_eq!(count(Value::Undefined), Value::Number(76.0));
    assert_eq!(count(opts(vec![])), Value::Number(76.0));
    assert_eq!(
        count(opts(vec![("prefix", s("tl/carol/"))])),
        Value::Number(0.0)
    );
    assert_eq!(count(opts(vec![("prefix", s(""))])), Value::Number(76.0));

    // start inclusive, end exclusive.
    let k = |i: u64| s(&format!("tl/bob/{}", ts(1_700_000_000_000 + i * 1000)));
    let range = opts(vec![("start", k(5)), ("end", k(8))]);
    assert_eq!(
        call(&rt, "keys", range.clone()),
        Value::Array(vec![k(5), k(6), k(7)])
    );
    assert_eq!(count(range), Value::Number(3.0));
    let reversed = call(
        &rt,
        "keys",
        opts(vec![
            ("start", k(5)),
            ("end", k(8)),
            ("reverse", Value::Bool(true)),
            ("limit", Value::Number(2.0)),
        ]),
    );
    assert_eq!(reversed, Value::Array(vec![k(7), k(6)]));
    // Open-ended ranges.
    assert_eq!(count(opts(vec![("start", k(20))])), Value::Number(5.0));
    assert_eq!(
        count(opts(vec![("end", s("tl/alice2/"))])),
        Value::Number(26.0)
    );
    assert_eq!(
        count(opts(vec![
            ("start", s("tl/alice/")),
            ("end", s("tl/alice0"))
        ])),
        Value::Number(25.0)
    );
    // Empty and inverted ranges, limit 0, undefined/null bounds.
    assert_eq!(
        call(&rt, "keys", opts(vec![("start", k(8)), ("end", k(8))])),
        Value::Array(vec![])
    );
    assert_eq!(
        call(&rt, "keys", opts(vec![("start", k(9)), ("end", k(2))])),
        Value::Array(vec![])
    );
    assert_eq!(
        count(opts(vec![("start", k(9)), ("end", k(2))])),
        Value::Number(0.0)
    );
    assert_eq!(
        call(
            &rt,
            "keys",
            opts(vec![("prefix", s("tl/")), ("limit", Value::Number(0.0))])
        ),
        Value::Array(vec![])
    );
    assert_eq!(
        count(opts(vec![
            ("start", Value::Undefined),
            ("end", Value::Null),
            ("prefix", Value::Undefined)
        ])),
        Value::Number(76.0)
    );
    // A limit larger than the range.
    let all_bob = call(
        &rt,
        "keys",
        opts(vec![
            ("prefix", s("tl/bob/")),
            ("limit", Value::Number(1000.0)),
        ]),
    );
    assert_eq!(items(&all_bob).len(), 25);
}

fn put_if_absent_and_atomic_batches(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 1);
    let pia = |k: &str, v: &str| call(&rt, "putIfAbsent", kv(s(k), s(v)));
    assert_eq!(pia("once", "first"), Value::Bool(true));
    assert_eq!(pia("once", "second"), Value::Bool(false));
    assert_eq!(
        call(&rt, "get", key(s("once"))),
        s("first"),
        "the loser wrote nothing"
    );

    let op = |o: &str, k: &str, v: Option<Value>| {
        let mut pairs = vec![("op", s(o)), ("key", s(k))];
        if let Some(v) = v {
            pairs.push(("value", v));
        }
        Value::object(pairs)
    };
    // A conflicting putIfAbsent at index 2 aborts the whole batch, even the ops before it.
    call(&rt, "put", kv(s("doomed"), s("old")));
    let out = call(
        &rt,
        "batch",
        Value::Array(vec![
            op("put", "b/1", Some(s("x"))),
            op("delete", "doomed", None),
            op("putIfAbsent", "once", Some(s("y"))),
            op("put", "b/2", Some(s("z"))),
        ]),
    );
    assert_eq!(out, json(r#"{"ok":false,"conflict":2}"#));
    assert_eq!(call(&rt, "get", key(s("b/1"))), Value::Undefined);
    assert_eq!(call(&rt, "get", key(s("b/2"))), Value::Undefined);
    assert_eq!(call(&rt, "get", key(s("doomed"))), s("old"));
    assert_eq!(call(&rt, "get", key(s("once"))), s("first"));

    // A batch that applies: all of it.
    let out = call(
        &rt,
        "batch",
        Value::Array(vec![
            op("put", "b/1", Some(s("x"))),
            op("delete", "doomed", None),
            op("putIfAbsent", "b/3", Some(s("new"))),
            op("put", "b/2", Some(Value::Number(2.0))),
        ]),
    );
    assert_eq!(out, json(r#"{"ok":true}"#));
    assert_eq!(call(&rt, "get", key(s("b/1"))), s("x"));
    assert_eq!(call(&rt, "get", key(s("b/2"))), Value::Number(2.0));
    assert_eq!(call(&rt, "get", key(s("b/3"))), s("new"));
    assert_eq!(call(&rt, "get", key(s("doomed"))), Value::Undefined);

    // Conditions see the batch's own earlier operations.
    let out = call(
        &rt,
        "batch",
        Value::Array(vec![
            op("put", "c/1", Some(s("a"))),
            op("putIfAbsent", "c/1", Some(s("b"))),
        ]),
    );
    assert_eq!(out, json(r#"{"ok":false,"conflict":1}"#));
    assert_eq!(call(&rt, "get", key(s("c/1"))), Value::Undefined);
    let out = call(
        &rt,
        "batch",
        Value::Array(vec![
            op("delete", "b/1", None),
            op("putIfAbsent", "b/1", Some(s("again"))),
        ]),
    );
    assert_eq!(out, json(r#"{"ok":true}"#));
    assert_eq!(call(&rt, "get", key(s("b/1"))), s("again"));
    // The empty batch.
    assert_eq!(
        call(&rt, "batch", Value::Array(vec![])),
        json(r#"{"ok":true}"#)
    );
}

fn concurrent_put_if_absent_has_exactly_one_winner(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 2);
    let rt = &rt;
    let wins: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                scope.spawn(move || {
                    call(
                        rt,
                        "putIfAbsent",
                        kv(s("lock"), Value::Number(f64::from(i))),
                    ) == Value::Bool(true)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().expect("thread")))
            .sum()
    });
    assert_eq!(wins, 1);
}

fn error_of<'a>(out: &'a Value, case: &str) -> (&'a str, &'a str) {
    let e = out.get(case).unwrap_or_else(|| panic!("{case} missing"));
    let name = e.get("name").and_then(Value::as_str);
    let message = e.get("message").and_then(Value::as_str);
    match (name, message) {
        (Some(n), Some(m)) => (n, m),
        _ => panic!("{case}: expected an error, got {e:?}"),
    }
}

fn errors_are_clear_and_typed(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 1);
    let out = call(&rt, "errors", Value::Undefined);

    assert_eq!(
        out.get("handle"),
        Some(&json(
            r#"{"name":"kv","writable":true,"roWritable":false,"same":true}"#
        ))
    );
    assert_eq!(
        out.get("asyncRejection"),
        Some(&Value::Bool(true)),
        "bad arguments reject, not throw"
    );

    for case in ["unknown", "ungranted"] {
        let (name, message) = error_of(&out, case);
        assert_eq!(name, "TypeError", "{case}");
        let store = if case == "unknown" { "nope" } else { "secret" };
        assert!(
            message.contains(&format!("no access to store \"{store}\"")),
            "{case}: {message}"
        );
        assert!(message.contains("service \"svc\""), "{case}: {message}");
        assert!(
            message.contains("granted in pyrosome.toml: cache, kv, shared"),
            "{case} lists the granted stores: {message}"
        );
    }
    let (name, message) = error_of(&out, "notString");
    assert_eq!(name, "TypeError");
    assert!(message.contains("as a string"), "{message}");

    for case in [
        "readOnlyPut",
        "readOnlyDelete",
        "readOnlyPutIfAbsent",
        "readOnlyBatch",
    ] {
        let (name, message) = error_of(&out, case);
        assert_eq!(name, "TypeError", "{case}");
        assert!(
            message.contains("store \"shared\" is granted read-only"),
            "{case}: {message}"
        );
    }
    assert_eq!(
        out.get("readOnlyReads"),
        Some(&Value::Array(vec![
            Value::Undefined,
            Value::Array(vec![]),
            Value::Number(0.0)
        ])),
        "a read-only grant reads"
    );

    for (case, needle) in [
        ("keyNumber", "the key must be a string or a Uint8Array, got"),
        ("keyObject", "must be a string or a Uint8Array"),
        ("keyMissing", "must be a string or a Uint8Array"),
        ("keyNull", "must be a string or a Uint8Array"),
        ("keyArray", "must be a string or a Uint8Array"),
        ("prefixNumber", "prefix must be a string or a Uint8Array"),
        ("startBoolean", "start must be a string or a Uint8Array"),
        (
            "batchKey",
            "the key of operation 0 must be a string or a Uint8Array",
        ),
        ("prefixAndStart", "either prefix or start/end"),
        ("limitNegative", "limit must be a non-negative integer"),
        ("limitFraction", "limit must be a non-negative integer"),
        ("limitString", "limit must be a non-negative integer"),
        ("optionsNotObject", "options must be an object"),
        ("batchNotArray", "array"),
        ("batchBadOp", "operation 0 has op \"frob\""),
        ("batchNotObject", "operation 0 must be an object"),
        ("valueFunction", "a function"),
        ("valueSymbol", "a symbol"),
        ("valueMap", "an instance of Map"),
        ("valueClass", "an instance of Point"),
        ("valueDate", "an instance of Date"),
        ("valueCycle", "cycle"),
        ("valuePromise", "Promise"),
        ("batchValue", "a function"),
    ] {
        let (name, message) = error_of(&out, case);
        assert_eq!(name, "TypeError", "{case}: {message}");
        assert!(
            message.contains(needle),
            "{case}: {message:?} should contain {needle:?}"
        );
    }
    // A key over the limit is refused by the store (not a TypeError), naming the limit.
    let (_, message) = error_of(&out, "keyTooLong");
    assert!(
        message.contains("store \"kv\"")
            && message.contains("65537 bytes")
            && message.contains(match backend {
                Backend::Embedded => "65536",
                Backend::Postgres => "the limit is 2048",
            }),
        "{message}"
    );
    // Nothing of a refused batch was written.
    assert_eq!(
        out.get("afterwards"),
        Some(&Value::object([
            ("bad", Value::Undefined),
            ("ok", Value::Undefined)
        ]))
    );
}

fn a_read_grant_sees_another_services_writes(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 1);
    rt.call_blocking("other", "put", kv(s("note"), s("hello")))
        .expect("other.put");
    assert_eq!(
        call(
            &rt,
            "get",
            Value::object([("s", s("shared")), ("key", s("note"))])
        ),
        s("hello")
    );
}

#[test]
fn granting_an_undeclared_store_is_rejected_at_load() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            r#"
name = "bad"
[stores.users]
[services.svc]
module = "svc.js"
stores = { users = "read", ghost = "read-write" }
"#,
        ),
        ("svc.js", "export function f() {}"),
    ]);
    let Err(e) = App::load(app.path()) else {
        panic!("an undeclared store must be refused");
    };
    let text = e.to_string();
    assert!(
        text.contains("store \"ghost\" is not declared under [stores]"),
        "{text}"
    );
    assert!(text.contains("users"), "lists the declared stores: {text}");
    assert!(text.contains("pyrosome.toml"), "names the file: {text}");
}

#[test]
fn data_persists_across_a_runtime_restart() {
    let app = app();
    let data = tempfile::tempdir().expect("data dir");
    {
        let rt = start_in(&app, data.path()).expect("start");
        call(
            &rt,
            "put",
            kv(s("user/1"), json(r#"{"name":"Ada","tags":["x"]}"#)),
        );
        call(
            &rt,
            "put",
            kv(Value::Bytes(vec![0xFF, 0]), big("-99999999999999999999999")),
        );
        call(
            &rt,
            "put",
            Value::object([("s", s("cache")), ("key", s("c")), ("value", s("relaxed"))]),
        );
        call(&rt, "put", kv(s("gone"), s("x")));
        call(&rt, "del", key(s("gone")));
        rt.shutdown();
    }
    assert!(
        data.path().join(FILE_NAME).is_file(),
        "the store lives in <data>/{FILE_NAME}"
    );
    let rt = start_in(&app, data.path()).expect("restart");
    assert_eq!(
        call(&rt, "get", key(s("user/1"))),
        json(r#"{"name":"Ada","tags":["x"]}"#)
    );
    assert_eq!(
        call(&rt, "get", key(Value::Bytes(vec![0xFF, 0]))),
        big("-99999999999999999999999")
    );
    assert_eq!(
        call(
            &rt,
            "get",
            Value::object([("s", s("cache")), ("key", s("c"))])
        ),
        s("relaxed"),
        "a relaxed write survives a clean restart"
    );
    assert_eq!(call(&rt, "get", key(s("gone"))), Value::Undefined);
    assert_eq!(call(&rt, "count", Value::Undefined), Value::Number(2.0));
}

#[test]
fn the_answer_waits_for_writes_the_handler_did_not_await() {
    let app = app();
    let data = tempfile::tempdir().expect("data dir");
    let n = 40;
    {
        let rt = start_in(&app, data.path()).expect("start");
        let out = call(
            &rt,
            "fireAndForget",
            Value::object([("prefix", s("ff/")), ("n", Value::Number(f64::from(n)))]),
        );
        assert_eq!(out, s("returned"));
        // The moment the answer arrives, every write is acknowledged (durable for "kv").
        let store = rt.store().expect("stores");
        let ns = store.namespace("kv", Durability::Durable).expect("kv");
        for i in 0..n {
            let v = ns.get(format!("ff/{i}").as_bytes()).expect("get");
            assert!(v.is_some(), "ff/{i} not written when the call returned");
        }
        assert_eq!(
            ns.get(b"ff/batch").expect("get"),
            Some(Value::Number(f64::from(n)))
        );
        let cache = store
            .namespace("cache", Durability::Relaxed)
            .expect("cache");
        assert_eq!(
            cache.get(b"ff/relaxed").expect("get"),
            Some(Value::Number(f64::from(n)))
        );
        rt.shutdown();
    }
    // A fresh runtime on the same data folder sees them.
    let rt = start_in(&app, data.path()).expect("restart");
    for i in 0..n {
        let v = call(&rt, "get", key(s(&format!("ff/{i}"))));
        assert_eq!(v.get("i"), Some(&Value::Number(f64::from(i))), "ff/{i}");
    }
    assert_eq!(
        call(&rt, "get", key(s("ff/batch"))),
        Value::Number(f64::from(n))
    );
}

fn an_http_response_waits_for_writes_the_handler_did_not_await(backend: Backend) {
    let app = app();
    let rt = backend.start(&app, 1);
    let server = TestServer::start(rt, 1 << 20, false);
    let mut client = Client::connect(server.addr);
    for i in 0..20 {
        let k = format!("http-{i}");
        let r = client.request("POST", &format!("/fire?k={k}"), &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "ok"));
        let r = client.request("GET", &format!("/get?k={k}"), &[], b"");
        assert_eq!(
            r.text(),
            "from http",
            "{k} visible once the response arrived"
        );
    }
}

#[test]
fn two_runtimes_cannot_share_a_data_folder() {
    let app = app();
    let data = tempfile::tempdir().expect("data dir");
    let _first = start_in(&app, data.path()).expect("start");
    let Err(e) = start_in(&app, data.path()) else {
        panic!("a second runtime on the same data folder must be refused");
    };
    let text = e.to_string();
    assert!(text.contains("already open"), "{text}");
    assert!(
        text.contains(&data.path().join(FILE_NAME).display().to_string()),
        "{text}"
    );
}

fn damage(original: &[u8], how: &str) -> Vec<u8> {
    match how {
        "foreign" => b"this is not a database, just some text\n".to_vec(),
        "header zeroed" => {
            let mut d = original.to_vec();
            let n = d.len().min(4096);
            d[..n].fill(0);
            d
        }
        "truncated" => original[..original.len() / 3].to_vec(),
        "scrambled" => {
            let mut d = original.to_vec();
            let len = d.len();
            for b in &mut d[len / 8..] {
                *b ^= 0xA5;
            }
            d
        }
        other => panic!("unknown damage {other}"),
    }
}

fn pyrosome() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pyrosome"))
}

#[test]
fn a_damaged_store_file_is_a_clear_error_naming_the_path() {
    let app = app();
    let data = tempfile::tempdir().expect("data dir");
    {
        let rt = start_in(&app, data.path()).expect("start");
        let entries: Vec<Value> = (0..300)
            .map(|i| Value::Array(vec![s(&format!("k/{i:04}")), s(&"v".repeat(500))]))
            .collect();
        call(
            &rt,
            "putMany",
            Value::object([("entries", Value::Array(entries))]),
        );
        rt.shutdown();
    }
    let file: PathBuf = data.path().join(FILE_NAME);
    let original = std::fs::read(&file).expect("read the store file");
    for how in ["foreign", "header zeroed", "truncated", "scrambled"] {
        std::fs::write(&file, damage(&original, how)).expect("damage the file");
        let started = std::panic::catch_unwind(|| start_in(&app, data.path()).err());
        let e = match started {
            Ok(Some(e)) => e,
            Ok(None) => panic!("{how}: the runtime started on a damaged store"),
            Err(_) => panic!("{how}: starting on a damaged store panicked"),
        };
        assert!(matches!(e, RuntimeError::Store { .. }), "{how}: {e:?}");
        let text = e.to_string();
        assert!(
            text.contains(&file.display().to_string()),
            "{how}: names the file: {text}"
        );
        assert!(
            text.contains("damaged"),
            "{how}: says it is damaged: {text}"
        );

        // The CLI reports it too, without a panic.
        let out = pyrosome()
            .arg("store")
            .arg(app.path())
            .arg("--data")
            .arg(data.path())
            .args(["list", "kv"])
            .output()
            .expect("run pyrosome store");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{how}: store list succeeded on a damaged file"
        );
        assert_eq!(out.status.code(), Some(1), "{how}: {stderr}");
        assert!(
            stderr.contains(&file.display().to_string()),
            "{how}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{how}: {stderr}");
    }
    // `serve` refuses to start, naming the file.
    let out = pyrosome()
        .arg("serve")
        .arg(app.path())
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .output()
        .expect("run pyrosome serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Restoring the file makes it usable again: the check did not modify it.
    std::fs::write(&file, &original).expect("restore");
    let rt = start_in(&app, data.path()).expect("start on the restored file");
    assert_eq!(call(&rt, "count", Value::Undefined), Value::Number(300.0));
}

// ---- the value model: lone surrogates and the nesting limit ----------------

const VALUES_MANIFEST: &str = r#"
name = "storevalues"

[stores.kv]
[stores.copy]

[services.v]
module = "v.js"
stores = { kv = "read-write", copy = "read-write" }
"#;

const VALUES: &str = r#"
import { store } from "pyrosome";

const lone = "a\uD800b";
// n arrays and objects inside one another.
const nest = (n) => { let v = "bottom"; for (let i = 0; i < n; i++) v = i % 2 ? [v] : { d: v }; return v; };
const loneValue = () => ({ s: lone, list: [lone, "\uDFFF", "\uD83D\uDE00"], [lone]: { ["k\uDC00"]: "v\uDBFF" } });
const same = (x, y) => {
  if (typeof x !== typeof y) return false;
  if (typeof x !== "object" || x === null || y === null) return x === y;
  const kx = Object.keys(x), ky = Object.keys(y);
  return Array.isArray(x) === Array.isArray(y) && kx.length === ky.length &&
    kx.every((k, i) => k === ky[i] && same(x[k], y[k]));
};

async function refusal(f) {
  try { await f(); return "accepted"; } catch (e) { return e.name + ": " + e.message; }
}

export async function write() {
  const kv = store("kv");
  await kv.put("lone", loneValue());
  await kv.put("deep", nest(256));
  await kv.batch([{ op: "put", key: "deepBatch", value: nest(256) }, { op: "put", key: lone.replace("\uD800", "\uFFFD"), value: 1 }]);
  return {
    deeper: await refusal(() => kv.put("deeper", nest(257))),
    deeperBatch: await refusal(() => kv.batch([{ op: "put", key: "ok", value: 1 }, { op: "put", key: "x", value: [nest(256)] }])),
    keyPut: await refusal(() => kv.put(lone, 1)),
    keyGet: await refusal(() => kv.get(lone)),
    keyDelete: await refusal(() => kv.delete(lone)),
    keyPrefix: await refusal(() => kv.list({ prefix: "\uDC00" })),
    keyBatch: await refusal(() => kv.batch([{ op: "putIfAbsent", key: "x\uDBFF", value: 1 }])),
    // The well-formed neighbour of the refused key is a different key.
    replacement: await kv.get("a\uFFFDb"),
    count: await kv.count(),
  };
}

export async function check({ s }) {
  const st = store(s);
  const failures = [];
  if (!same(await st.get("lone"), loneValue())) failures.push("lone surrogates: " + JSON.stringify(await st.get("lone")));
  const listed = await st.list({ prefix: "lone" });
  if (listed.length !== 1 || !same(listed[0].value, loneValue())) failures.push("lone surrogates through list()");
  for (const k of ["deep", "deepBatch"]) {
    const v = await st.get(k);
    // (JSON.stringify: a recursive comparison 256 levels deep would need
    // more stack than QuickJS has in a debug build.)
    if (JSON.stringify(v) !== JSON.stringify(nest(256))) failures.push(k + ": not 256 levels as stored");
  }
  return failures;
}
"#;

#[test]
fn lone_surrogates_and_the_nesting_limit_through_the_store_and_a_backup() {
    let app = TempApp::new(&[("pyrosome.toml", VALUES_MANIFEST), ("v.js", VALUES)]);
    let data = tempfile::tempdir().expect("data dir");
    let rule = "is nested more than 256 levels deep: values passed between services, stored or \
                cloned may nest at most 256 levels of arrays and objects";
    let no_failures = Value::Array(vec![]);
    {
        let rt = start_in(&app, data.path()).expect("start");
        let out = rt
            .call_blocking("v", "write", Value::Undefined)
            .expect("write");
        let text = |field: &str| {
            out.get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let deeper = text("deeper");
        assert!(
            deeper.starts_with("TypeError: the value.d[0].d[0]") && deeper.ends_with(rule),
            "{deeper}"
        );
        let batch = text("deeperBatch");
        assert!(
            batch.starts_with("TypeError: the value[0][0].d[0].d") && batch.ends_with(rule),
            "{batch}"
        );
        for (field, what) in [
            (
                "keyPut",
                "the key of operation 0 has a lone surrogate (\\uD800 at index 1)",
            ),
            (
                "keyGet",
                "the key has a lone surrogate (\\uD800 at index 1)",
            ),
            (
                "keyDelete",
                "the key of operation 0 has a lone surrogate (\\uD800 at index 1)",
            ),
            (
                "keyPrefix",
                "prefix has a lone surrogate (\\uDC00 at index 0)",
            ),
            (
                "keyBatch",
                "the key of operation 0 has a lone surrogate (\\uDBFF at index 1)",
            ),
        ] {
            let message = text(field);
            assert!(
                message.starts_with(&format!(
                    "TypeError: store keys must be well-formed Unicode strings: {what}"
                )),
                "{field}: {message}"
            );
        }
        assert_eq!(out.get("replacement"), Some(&Value::Number(1.0)));
        // lone, deep, deepBatch, a\u{FFFD}b; nothing of the refused batches.
        assert_eq!(out.get("count"), Some(&Value::Number(4.0)));
        assert_eq!(
            rt.call_blocking("v", "check", Value::object([("s", s("kv"))])),
            Ok(no_failures.clone())
        );
        rt.shutdown();
    }
    // Export, then import into another store: everything comes back.
    let backup = data.path().join("kv.jsonl");
    let out = pyrosome()
        .arg("store")
        .arg(app.path())
        .arg("--data")
        .arg(data.path())
        .args(["export", "kv"])
        .output()
        .expect("run pyrosome store export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&backup, &out.stdout).expect("write the backup");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(r#"{"$utf16":[97,55296,98]}"#), "{text}");
    let import = pyrosome()
        .arg("store")
        .arg(app.path())
        .arg("--data")
        .arg(data.path())
        .args(["import", "copy"])
        .stdin(std::fs::File::open(&backup).expect("open the backup"))
        .output()
        .expect("run pyrosome store import");
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let rt = start_in(&app, data.path()).expect("restart");
    assert_eq!(
        rt.call_blocking("v", "check", Value::object([("s", s("copy"))])),
        Ok(no_failures)
    );
}
