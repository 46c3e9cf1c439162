//! Values crossing between isolates, at the edges of the conversion: a value
//! read while another is being converted (getters that send values), many
//! and odd object key lists, an app that changed the built-ins, large and
//! deeply nested values (the one nesting limit, `pyrosome::MAX_DEPTH`, for
//! calls and `structuredClone`), lone surrogates, and `structuredClone` as
//! the HTML standard defines it. Every engine must pass; the V8 backend
//! converts values with JavaScript of its own (`v8/codec.js`), so most of
//! these guard that.

mod common;

use common::TempApp;
use pyrosome::{Key, MAX_DEPTH, Value};

/// The end of every message refusing a value nested past `MAX_DEPTH`.
const NESTING_RULE: &str = "is nested more than 256 levels deep: values passed between services, \
                            stored or cloned may nest at most 256 levels of arrays and objects";

fn app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            r#"
name = "values"
[services.a]
module = "a.js"
[services.a.limits]
cpu_ms = 5000
[services.b]
module = "b.js"
[services.small]
module = "small.js"
[services.small.limits]
memory_mb = 48
cpu_ms = 5000
"#,
        ),
        (
            "a.js",
            r#"
import { services } from "pyrosome";

const echo = (v) => services.b.echo(v);
const same = (x, y) => JSON.stringify(x) === JSON.stringify(y);

// Values read while another is being encoded: getters that clone values
// and call services, nested three deep.
export async function reentrant() {
  const failures = [];
  const inner = { deep: [1, 2, { s: "x", n: -0 }] };
  let calls = [];
  const v = {
    a: 1,
    get b() { return structuredClone(inner); },
    get c() {
      return structuredClone({ nested: { get d() { return structuredClone([1, "two", { three: 3 }]); } } });
    },
    get f() { calls.push(echo({ during: "encoding", list: [1, 2, 3] })); return "f"; },
    e: "after",
  };
  const back = await echo(v);
  if (!same(back, { a: 1, b: inner, c: { nested: { d: [1, "two", { three: 3 }] } }, f: "f", e: "after" })) {
    failures.push("reentrant value: " + JSON.stringify(back));
  }
  if (!Object.is(back.b.deep[2].n, -0)) failures.push("-0 inside a getter's clone");
  const nested = await Promise.all(calls);
  if (!same(nested, [{ during: "encoding", list: [1, 2, 3] }])) failures.push("call made by a getter: " + JSON.stringify(nested));
  // A getter whose clone is refused: only that clone fails.
  const w = { get g() { try { structuredClone({ h() {} }); return "no"; } catch (e) { return e.name; } }, k: [1] };
  const back2 = await echo(w);
  if (!same(back2, { g: "DataCloneError", k: [1] })) failures.push("refusal inside a getter: " + JSON.stringify(back2));
  return failures;
}

// Many key lists, each several times (an engine may compile something per
// frequent key list), and keys that are not identifiers.
export async function keyLists() {
  const failures = [];
  const odd = [
    "__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "", "0", "1", "-1", "1.5", "4294967295",
    "\"", "\\", "'", "`", "${x}", "\u2028", "\u2029", "\u0001", "</script>", "ключ", "😀", "a\"]: (globalThis.pwned = 1), [\"b",
    "\"}; globalThis.pwned = 2; ({\"", "\\\"", "\n", "x".repeat(300),
  ];
  const obj = {};
  for (const k of odd) Object.defineProperty(obj, k, { value: k.length, enumerable: true, configurable: true, writable: true });
  for (let i = 0; i < 20; i++) {
    const back = await echo(obj);
    if (Object.getPrototypeOf(back) !== Object.prototype) failures.push("prototype changed");
    const keys = Object.keys(back);
    if (!same(keys, Object.keys(obj))) failures.push("keys: " + JSON.stringify(keys));
    for (const k of odd) {
      const d = Object.getOwnPropertyDescriptor(back, k);
      if (!d || d.value !== k.length || !d.enumerable || !d.writable || !d.configurable) {
        failures.push("key " + JSON.stringify(k) + ": " + JSON.stringify(d));
      }
    }
  }
  if (globalThis.pwned !== undefined) failures.push("a key ran code");
  // 700 key lists, 300 of them 20 times each (more than an engine may keep
  // something for), in one value and one by one.
  const many = [];
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < (round < 2 ? 700 : 300); i++) many.push({ ["k" + i]: i, common: round, [i % 7 + "x"]: [i] });
  }
  for (let round = 0; round < 2; round++) {
    const back = await echo(many);
    if (!same(back, many)) failures.push("700 key lists, round " + round);
  }
  for (let round = 0; round < 20; round++) {
    const one = await echo({ ["solo" + (round % 2)]: round });
    if (one["solo" + (round % 2)] !== round) failures.push("a single key list, round " + round);
  }
  // Duplicate-looking keys from different key lists, and an empty object.
  if (!same(await echo([{}, { a: 1 }, { a: 1, b: 2 }, { b: 2, a: 1 }]), [{}, { a: 1 }, { a: 1, b: 2 }, { b: 2, a: 1 }])) {
    failures.push("key order per object");
  }
  return failures;
}

// The app changed built-ins before sending and receiving values. With
// `defines`, a received object's properties must be defined, not set (a
// setter the app put on Object.prototype must not run).
export async function tampered({ defines }) {
  const failures = [];
  await echo("the bootstrap's own first use of the service, untampered");
  const saved = {
    keys: Object.keys, isArray: Array.isArray, charCodeAt: String.prototype.charCodeAt, apply: Reflect.apply,
    defineProperty: Object.defineProperty, hasOwn: Object.hasOwn, set: Object.getPrototypeOf(Uint8Array.prototype).set,
    fill: Array.prototype.fill, iterator: Array.prototype[Symbol.iterator],
  };
  let setterRan = false;
  Object.defineProperty(Object.prototype, "trap", {
    set() { setterRan = true; }, get() { return "inherited"; }, configurable: true,
  });
  Object.keys = () => [];
  Array.isArray = () => false;
  String.prototype.charCodeAt = () => 65;
  Reflect.apply = () => { throw new Error("Reflect.apply replaced"); };
  Object.hasOwn = () => false;
  Object.getPrototypeOf(Uint8Array.prototype).set = () => { throw new Error("set replaced"); };
  Array.prototype.fill = () => { throw new Error("fill replaced"); };
  Array.prototype[Symbol.iterator] = function* () { yield "replaced"; };
  try {
    const value = { trap: 1, list: [1, "two", { trap: 3 }], text: "é☃".repeat(3000), bytes: new Uint8Array(20000).fill(7) };
    for (let i = 0; i < 3; i++) {
      const back = await echo(value);
      if (defines && (!Object.getOwnPropertyDescriptor(back, "trap") || back.trap !== 1)) failures.push("own trap property: " + back.trap);
      if (back.list.length !== 3 || (defines && back.list[2].trap !== 3) || back.list[1] !== "two") failures.push("list: " + back.list);
      if (back.text !== value.text) failures.push("text");
      if (back.bytes.length !== 20000 || back.bytes[19999] !== 7) failures.push("bytes");
    }
    if (defines && setterRan) failures.push("a setter on Object.prototype ran");
  } finally {
    delete Object.prototype.trap;
    Object.keys = saved.keys;
    Array.isArray = saved.isArray;
    String.prototype.charCodeAt = saved.charCodeAt;
    Reflect.apply = saved.apply;
    Object.hasOwn = saved.hasOwn;
    Object.getPrototypeOf(Uint8Array.prototype).set = saved.set;
    Array.prototype.fill = saved.fill;
    Array.prototype[Symbol.iterator] = saved.iterator;
  }
  return failures;
}

// Large values and nesting at the limit.
export async function sizes() {
  const failures = [];
  const big = {
    ascii: "a".repeat(1 << 20),
    twoByte: "é☃😀".repeat(50000),
    bytes: new Uint8Array(200000).map((_, i) => i & 255),
    numbers: Array.from({ length: 5000 }, (_, i) => i * 1.5 - 7),
    objects: Array.from({ length: 1000 }, (_, i) => ({ i, s: "s" + i })),
  };
  for (let i = 0; i < 2; i++) {
    const back = await echo(big);
    for (const k of Object.keys(big)) {
      const ok = k === "bytes"
        ? back.bytes.length === big.bytes.length && back.bytes.every((b, j) => b === (j & 255))
        : same(back[k], big[k]);
      if (!ok) failures.push("large " + k);
    }
  }
  return failures;
}

// Nesting exactly at the limit crosses (as an argument and as a result) and
// is cloned; one level more is refused everywhere, with one message.
export async function depths({ rule }) {
  const failures = [];
  const nest = (n) => {
    let v = "bottom";
    for (let i = 0; i < n; i++) v = i % 2 ? [v] : { d: v };
    return v;
  };
  const deep = nest(256);
  const back = await echo(deep);
  if (!same(back, deep)) failures.push("256 levels through a call");
  if (!same(structuredClone(deep), deep)) failures.push("256 levels through structuredClone");
  const expectRefusal = async (what, f, start, name) => {
    try {
      await f();
      failures.push(what + ": 257 levels accepted");
    } catch (e) {
      if (e.name !== name || !e.message.startsWith(start) || !e.message.endsWith(rule)) {
        failures.push(what + ": " + e.name + ": " + e.message);
      }
    }
  };
  await expectRefusal("argument", () => echo([deep]), "the argument of b.echo()[0][0].d[0]", "TypeError");
  await expectRefusal("argument (arrays)", () => echo(nest(257)), "the argument of b.echo()", "TypeError");
  // deeper(n) is n + 1 arrays.
  let r = await services.b.deeper(255);
  let levels = 0;
  while (Array.isArray(r)) { levels++; r = r[0]; }
  if (levels !== 256) failures.push("a result of 256 levels came back with " + levels);
  await expectRefusal("result", () => services.b.deeper(256), "the return value[0][0]", "TypeError");
  await expectRefusal("structuredClone", () => structuredClone([deep]), "the value[0][0].d[0]", "DataCloneError");
  // A long path is shown with its middle elided; the message is whole.
  await expectRefusal("elided path", () => echo([deep]), "the argument of b.echo()[0][0].d[0].d[0].d[0].d[0].d[0]…(", "TypeError");
  return failures;
}

// A cycle is refused with a clear error (not a stack overflow), as an
// argument and as a result.
export async function cycles() {
  const c = { a: [1] };
  c.a.push(c);
  const results = [];
  for (const f of [() => echo(c), () => services.b.cyclic()]) {
    try {
      await f();
      results.push("accepted");
    } catch (e) {
      results.push(e.name + ": " + e.message);
    }
  }
  return results;
}

// Lone surrogates cross exactly: as the argument, the result, nested, and
// as keys; and the same strings come back from Rust.
export async function lone() {
  const s = "a\uD800b\uDC00c\uD83D\uDE00";
  const failures = [];
  const sent = { [s]: s, list: [s, "\uDFFF", "\uD800"], nested: { ["k\uDBFF"]: { v: "x\uDC00" } }, plain: "é☃" };
  const back = await echo(sent);
  if (!same(Object.keys(back), Object.keys(sent))) failures.push("keys: " + JSON.stringify(Object.keys(back)));
  if (back[s] !== s) failures.push("value under a lone-surrogate key");
  if (!same(back.list, sent.list)) failures.push("list: " + JSON.stringify(back.list));
  if (back.nested["k\uDBFF"]?.v !== "x\uDC00") failures.push("nested: " + JSON.stringify(back.nested));
  if (await echo(s) !== s) failures.push("the top-level string");
  if (await services.b.lone() !== "r\uD800") failures.push("a result");
  return failures;
}

export function loneToRust() { return { s: "x\uDFFFy", ["k\uD800"]: 1, ok: "ok" }; }

export function loneFromRust(v) {
  return v.s === "a\uD800b" && Object.keys(v).join() === "k\uDC00,s" && v["k\uDC00"] === 2;
}

// structuredClone as the HTML standard defines it.
export function cloning() {
  const failures = [];
  const check = (ok, what) => { if (!ok) failures.push(what); };
  const shared = { n: 1 };
  const c1 = structuredClone({ a: shared, b: shared, list: [shared] });
  check(c1.a === c1.b && c1.a === c1.list[0] && c1.a !== shared, "shared references stay shared");
  const cyc = { name: "root", kids: [] };
  cyc.kids.push({ parent: cyc });
  cyc.self = cyc;
  const c2 = structuredClone(cyc);
  check(c2.self === c2 && c2.kids[0].parent === c2 && c2 !== cyc, "cycles");
  const holes = structuredClone([0, , 2]);
  check(holes.length === 3 && !(1 in holes) && holes[2] === 2, "holes stay holes");
  const extra = [1, 2];
  extra.note = "x";
  check(structuredClone(extra).note === "x", "an array's other properties");
  const buffer = new ArrayBuffer(16);
  new Uint8Array(buffer).set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const view = new Uint8Array(buffer, 4, 3);
  const c3 = structuredClone(view);
  check(c3.byteOffset === 4 && c3.length === 3 && c3.buffer.byteLength === 16 && c3[0] === 5 && c3.buffer !== buffer,
    "a view keeps its offset, length and whole buffer");
  const two = structuredClone({ x: new Uint8Array(buffer, 0, 2), y: new Uint16Array(buffer, 8, 2), b: buffer });
  check(two.x.buffer === two.y.buffer && two.x.buffer === two.b, "views of one buffer stay views of one buffer");
  two.x.buffer === two.y.buffer && (new Uint8Array(two.b)[8] = 99);
  check(new Uint8Array(two.y.buffer)[8] === 99, "... sharing it");
  const dv = structuredClone(new DataView(buffer, 2, 4));
  check(dv instanceof DataView && dv.byteOffset === 2 && dv.byteLength === 4 && dv.getUint8(0) === 3, "DataView");
  const m = new Map([[{ k: 1 }, new Set([1, "a"])]]);
  const cm = structuredClone(m);
  const [[ck, cv]] = [...cm];
  check(cm instanceof Map && ck.k === 1 && cv instanceof Set && cv.has("a"), "Map and Set");
  const d = structuredClone(new Date(1234));
  check(d instanceof Date && d.getTime() === 1234, "Date");
  const re = /ab+c/gi;
  re.lastIndex = 3;
  const cre = structuredClone(re);
  check(cre instanceof RegExp && cre.source === "ab+c" && cre.flags === "gi" && cre.lastIndex === 0, "RegExp");
  const err = new TypeError("bad", { cause: { why: 1 } });
  const cerr = structuredClone(err);
  check(cerr instanceof TypeError && cerr.message === "bad" && cerr.cause.why === 1 && typeof cerr.stack === "string", "Error");
  class MyError extends Error {}
  check(Object.getPrototypeOf(structuredClone(new MyError("m"))) === Error.prototype, "an Error subclass becomes Error");
  check(structuredClone(2n ** 70n) === 2n ** 70n, "BigInt");
  const boxed = structuredClone([Object(1), Object("s"), Object(true), Object(5n)]);
  check(boxed[0] instanceof Number && boxed[0].valueOf() === 1 && boxed[1] instanceof String && boxed[1].valueOf() === "s" &&
    boxed[2] instanceof Boolean && boxed[3].valueOf() === 5n && typeof boxed[3] === "object", "boxed primitives");
  check(Object.is(structuredClone(-0), -0) && Number.isNaN(structuredClone(NaN)), "-0 and NaN");
  check(structuredClone("a\uD800") === "a\uD800", "lone surrogates");
  const proto = structuredClone(JSON.parse('{"__proto__": 1}'));
  check(Object.getPrototypeOf(proto) === Object.prototype && Object.keys(proto).join() === "__proto__", "__proto__ stays a key");
  let setterRan = false;
  Object.defineProperty(Object.prototype, "trap", { set() { setterRan = true; }, configurable: true });
  try {
    check(structuredClone({ trap: 1 }).trap === 1 && !setterRan, "properties are defined, not set");
  } finally {
    delete Object.prototype.trap;
  }
  for (const [what, v] of [["function", () => 1], ["symbol", Symbol("s")], ["nested function", { f() {} }],
    ["WeakMap", new WeakMap()], ["Promise", Promise.resolve()], ["in a Map", new Map([[1, () => 1]])]]) {
    try {
      structuredClone(v);
      failures.push(what + " cloned");
    } catch (e) {
      check(e instanceof DOMException && e.name === "DataCloneError" && e.code === 25, what + ": " + e.name);
    }
  }
  return failures;
}
"#,
        ),
        (
            "b.js",
            r#"
export function echo(v) { return v; }
export function lone() { return "r\uD800"; }
export function deeper(n) { let v = []; for (let i = 0; i < n; i++) v = [v]; return v; }
export function cyclic() { const o = {}; o.o = o; return o; }
"#,
        ),
        (
            "small.js",
            r#"
import { services } from "pyrosome";
// Bytes of a third of the memory limit cross (and come back); the bytes
// are read when the walk reaches them, not later.
export async function bytes() {
  const big = new Uint8Array(16 << 20).fill(7);
  const back = await services.b.echo({ big, get later() { big[0] = 99; return 1; } });
  return back.big.length === big.length && back.big[0] === 7 && back.big[big.length - 1] === 7 && back.later === 1;
}
"#,
        ),
    ])
}

fn failures(rt: &pyrosome::Runtime, method: &str) {
    failures_with(rt, method, Value::Undefined);
}

fn failures_with(rt: &pyrosome::Runtime, method: &str, arg: Value) {
    let out = rt
        .call_blocking("a", method, arg)
        .unwrap_or_else(|e| panic!("a.{method} failed: {e}"));
    assert_eq!(out, Value::Array(vec![]), "a.{method}");
}

#[test]
fn values_read_while_another_is_converted() {
    let app = app();
    let rt = app.start(1);
    failures(&rt, "reentrant");
}

#[test]
fn many_and_odd_key_lists_round_trip_exactly() {
    let app = app();
    let rt = app.start(1);
    failures(&rt, "keyLists");
}

#[test]
fn changed_built_ins_do_not_change_conversion() {
    let app = app();
    let rt = app.start(1);
    // V8 defines a received object's properties (as before its codec was
    // JavaScript); QuickJS's conversion currently sets them, so a setter on
    // Object.prototype runs there.
    let defines = std::env::var("PYROSOME_ENGINE").is_ok_and(|e| e.trim() == "v8");
    failures_with(
        &rt,
        "tampered",
        Value::object([("defines", Value::Bool(defines))]),
    );
}

#[test]
fn large_and_deep_values_round_trip() {
    let app = app();
    let rt = app.start(1);
    failures(&rt, "sizes");
}

#[test]
fn large_bytes_cross_within_a_small_memory_limit() {
    let app = app();
    let rt = app.start(1);
    assert_eq!(
        rt.call_blocking("small", "bytes", Value::Undefined),
        Ok(Value::Bool(true))
    );
}

/// A string with lone surrogates crosses as it is: between isolates (as a
/// value, nested, as a key) and into and out of Rust, where it is a
/// `Value::Wtf16` (a key: `Key::Wtf16`).
#[test]
fn lone_surrogates() {
    let app = app();
    let rt = app.start(1);
    failures(&rt, "lone");
    let out = rt
        .call_blocking("a", "loneToRust", Value::Undefined)
        .expect("loneToRust");
    let Value::Object(pairs) = &out else {
        panic!("{out:?}")
    };
    assert_eq!(
        pairs[0],
        (
            Key::String("s".into()),
            Value::from_utf16(&[0x78, 0xDFFF, 0x79])
        )
    );
    assert!(
        matches!(&pairs[0].1, Value::Wtf16(w) if w.first_lone_surrogate() == Some((1, 0xDFFF)))
    );
    assert_eq!(pairs[1].0, Key::from_utf16(&[0x6B, 0xD800]));
    assert!(matches!(pairs[1].0, Key::Wtf16(_)));
    assert_eq!(pairs[2], (Key::from("ok"), Value::from("ok")));
    // Rust code reading text sees U+FFFD.
    assert_eq!(
        out.to_well_formed().get("s"),
        Some(&Value::from("x\u{FFFD}y"))
    );
    let from_rust = Value::Object(vec![
        (Key::from_utf16(&[0x6B, 0xDC00]), Value::Number(2.0)),
        (Key::from("s"), Value::from_utf16(&[0x61, 0xD800, 0x62])),
    ]);
    assert_eq!(
        rt.call_blocking("a", "loneFromRust", from_rust),
        Ok(Value::Bool(true))
    );
}

#[test]
fn nesting_is_limited_to_max_depth_in_calls_and_clones() {
    assert_eq!(MAX_DEPTH, 256);
    let app = app();
    let rt = app.start(1);
    failures_with(
        &rt,
        "depths",
        Value::object([("rule", Value::from(NESTING_RULE))]),
    );
}

#[test]
fn cycles_are_refused_clearly() {
    let app = app();
    let rt = app.start(1);
    let out = rt
        .call_blocking("a", "cycles", Value::Undefined)
        .expect("cycles");
    let Value::Array(results) = out else {
        panic!("{out:?}")
    };
    assert_eq!(results.len(), 2);
    for (result, start) in results.iter().zip([
        "TypeError: the argument of b.echo().a[1] refers back to an object that contains it (a cycle)",
        "TypeError: the return value.o refers back to an object that contains it (a cycle)",
    ]) {
        let text = result.as_str().unwrap_or_default();
        assert!(text.starts_with(start), "{text}");
    }
}

#[test]
fn structured_clone_follows_the_standard() {
    let app = app();
    let rt = app.start(1);
    failures(&rt, "cloning");
}
