// Web API conformance tests. Every export `test_<area>()` returns true or
// throws an Error naming the first failed expectation. Expected values are
// the spec / Node 20 results, written as literals, so the same module checks
// the QuickJS and V8 backends alike (it also passes on Node 20's own globals).

function fmt(v) {
  try {
    return typeof v === "string" ? JSON.stringify(v) : typeof v === "bigint" ? v + "n" : JSON.stringify(v);
  } catch (e) {
    return String(v);
  }
}

function assert(cond, what) {
  if (!cond) throw new Error("assertion failed: " + what);
}

function assertEqual(actual, expected, what) {
  const a = fmt(actual);
  const e = fmt(expected);
  if (a !== e || (typeof actual !== typeof expected)) {
    throw new Error(what + ": expected " + e + " but got " + a);
  }
}

// `kind` is an error constructor (checked with instanceof) or the string
// name of a DOMException (checked with instanceof DOMException and .name).
function checkError(e, kind, what) {
  if (typeof kind === "string") {
    if (!(e instanceof DOMException) || e.name !== kind) {
      throw new Error(what + ": expected DOMException " + kind + " but got " + (e && e.name) + ": " + (e && e.message));
    }
  } else if (!(e instanceof kind)) {
    throw new Error(what + ": expected " + kind.name + " but got " + (e && e.name) + ": " + (e && e.message));
  }
}

function assertThrows(fn, kind, what) {
  try {
    fn();
  } catch (e) {
    checkError(e, kind, what);
    return;
  }
  throw new Error(what + ": expected a throw, got none");
}

async function assertRejects(fn, kind, what) {
  try {
    await fn();
  } catch (e) {
    checkError(e, kind, what);
    return;
  }
  throw new Error(what + ": expected a rejection, got none");
}

function bytes(u8) {
  return Array.from(u8);
}

export async function test_globals() {
  const names = [
    "DOMException", "console", "TextEncoder", "TextDecoder", "atob", "btoa", "URL", "URLSearchParams",
    "Headers", "FormData", "Request", "Response", "crypto", "structuredClone", "performance", "queueMicrotask",
  ];
  // WebIDL: interfaces and namespaces are not enumerable; operations and
  // attributes of the global object are.
  const enumerable = ["atob", "btoa", "crypto", "structuredClone", "performance", "queueMicrotask"];
  for (const n of names) {
    assert(n in globalThis, n + " is installed");
    const d = Object.getOwnPropertyDescriptor(globalThis, n);
    assert(d !== undefined, n + " is an own property of globalThis");
    assertEqual(d.enumerable, enumerable.indexOf(n) !== -1, n + " enumerable");
  }
  for (const n of ["TextEncoder", "TextDecoder", "URL", "URLSearchParams", "Headers", "FormData", "Request", "Response"]) {
    assertEqual(typeof globalThis[n], "function", n + " is a constructor");
    assertEqual(Object.prototype.toString.call(globalThis[n].prototype), "[object " + n + "]", n + " toStringTag");
  }
  // Internals do not depend on user-patchable globals.
  const saved = globalThis.Headers;
  globalThis.Headers = function () { throw new Error("patched"); };
  try {
    const r = new Response("x", { headers: { a: "1" } });
    assertEqual(r.headers.get("a"), "1", "Response works with Headers global replaced");
  } finally {
    globalThis.Headers = saved;
  }
  return true;
}

export async function test_domexception() {
  const e = new DOMException("m", "SyntaxError");
  assertEqual(e.name, "SyntaxError", "name");
  assertEqual(e.message, "m", "message");
  assertEqual(e.code, 12, "code");
  assert(e instanceof Error, "instanceof Error");
  assertEqual(String(e), "SyntaxError: m", "toString");
  assertEqual(new DOMException().name, "Error", "default name");
  assertEqual(new DOMException().message, "", "default message");
  assertEqual(new DOMException("x", "NoSuchName").code, 0, "unknown code");
  assertEqual(new DOMException("x", "DataCloneError").code, 25, "DataCloneError code");
  assertEqual(new DOMException("x", "InvalidCharacterError").code, 5, "InvalidCharacterError code");
  return true;
}

export async function test_console() {
  // Output goes to the host log; here we check every method accepts awkward input.
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  const values = [
    "s", 1, -0, 10n, Symbol("s"), null, undefined, true, [1, [2, [3, [4]]]], { a: { b: { c: { d: 1 } } } },
    new Map([[1, 2]]), new Set([1]), new Uint8Array([1, 2, 3]), new ArrayBuffer(2), new Date(0), /re/g,
    function named() {}, class K {}, new Error("boom"), cyclic, Object.create(null), new Headers({ a: "1" }),
    new URL("http://a/?b=c"), new URLSearchParams("x=1"), Promise.resolve(1), new WeakMap(), [, 1],
  ];
  console.log("%s %d %i %f %j %o %O %% %c", "a", 1.5, 2.5, "3.5", { j: 1 }, { o: 1 }, { O: 1 }, "color: red");
  console.log(...values);
  console.info("info");
  console.debug("debug");
  console.warn("warn");
  console.error("error", new TypeError("t"));
  console.trace("trace %s", "here");
  console.assert(true, "not printed");
  console.assert(false, "printed %d", 1);
  console.dir({ a: [1] }, { depth: 0 });
  console.table([{ a: 1, b: "x" }, { a: 2 }]);
  console.table("not tabular");
  console.time("t");
  console.timeLog("t", "mid");
  console.timeEnd("t");
  console.timeEnd("never-started");
  console.count();
  console.count("c");
  console.countReset("c");
  console.group("g");
  console.log("inside");
  console.groupEnd();
  const { log } = console;
  log("detached call works");
  return true;
}

export async function test_text_encoder() {
  const e = new TextEncoder();
  assertEqual(e.encoding, "utf-8", "encoding");
  const out = e.encode("aé€😀");
  assert(out instanceof Uint8Array, "encode returns Uint8Array");
  assertEqual(bytes(out), [97, 195, 169, 226, 130, 172, 240, 159, 152, 128], "encode");
  assertEqual(bytes(e.encode()), [], "encode()");
  assertEqual(bytes(e.encode("\uD800x")), [239, 191, 189, 120], "lone surrogate");
  let d = new Uint8Array(5);
  let r = e.encodeInto("a€😀", d);
  assertEqual([r.read, r.written, bytes(d)], [2, 4, [97, 226, 130, 172, 0]], "encodeInto partial");
  d = new Uint8Array(8);
  r = e.encodeInto("a€😀", d);
  assertEqual([r.read, r.written, bytes(d)], [4, 8, [97, 226, 130, 172, 240, 159, 152, 128]], "encodeInto full");
  assertThrows(() => e.encodeInto("a", []), TypeError, "encodeInto into a non-Uint8Array");
  return true;
}

export async function test_text_decoder() {
  const d = new TextDecoder();
  assertEqual([d.encoding, d.fatal, d.ignoreBOM], ["utf-8", false, false], "defaults");
  assertEqual(d.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0xc3, 0xa9])), "hé", "BOM stripped");
  assertEqual(d.decode(new Uint8Array([0xff, 0x61])), "\uFFFDa", "replacement");
  assertEqual(d.decode(), "", "decode()");
  assertEqual(d.decode(new Uint8Array([0x61, 0x62]).buffer), "ab", "ArrayBuffer");
  assertEqual(d.decode(new DataView(new Uint8Array([0, 0x63, 0x64]).buffer, 1)), "cd", "DataView");
  assertEqual(d.decode(new Uint16Array([0x6968])), "hi", "Uint16Array view bytes");
  assertEqual(new TextDecoder(" UTF8 ").encoding, "utf-8", "label trimmed, case-insensitive");
  assertEqual(new TextDecoder("unicode-1-1-utf-8").encoding, "utf-8", "unicode-1-1-utf-8 label");
  assertThrows(() => new TextDecoder("foo"), RangeError, "unknown label");
  const fatal = new TextDecoder("utf-8", { fatal: true });
  assertEqual(fatal.fatal, true, "fatal flag");
  assertThrows(() => fatal.decode(new Uint8Array([0xc3])), TypeError, "fatal on truncated sequence");
  assertThrows(() => fatal.decode(new Uint8Array([0xff])), TypeError, "fatal on invalid byte");
  assertEqual(new TextDecoder("utf-8", { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])), "\uFEFFA", "ignoreBOM");
  assertThrows(() => d.decode("abc"), TypeError, "decode(string)");
  // Streaming: one byte at a time.
  const all = new TextEncoder().encode("x€😀y");
  const sd = new TextDecoder();
  let s = "";
  for (const b of all) s += sd.decode(new Uint8Array([b]), { stream: true });
  s += sd.decode();
  assertEqual(s, "x€😀y", "byte-by-byte stream");
  const sd2 = new TextDecoder();
  assertEqual(
    [
      sd2.decode(new Uint8Array([0xef, 0xbb]), { stream: true }),
      sd2.decode(new Uint8Array([0xbf, 0x41]), { stream: true }),
      sd2.decode(new Uint8Array([0xf0, 0x9f])),
      sd2.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x42])),
    ],
    ["", "A", "\uFFFD", "B"],
    "stream with split BOM and truncated end",
  );
  const fs = new TextDecoder("utf-8", { fatal: true });
  assertEqual(fs.decode(new Uint8Array([0xe2, 0x82]), { stream: true }), "", "fatal stream holds partial");
  assertEqual(fs.decode(new Uint8Array([0xac])), "€", "fatal stream completes");
  return true;
}

export async function test_base64() {
  assertEqual([btoa(""), btoa("a"), btoa("ab"), btoa("abc"), btoa("\xff\xfe"), btoa(123), btoa(null)],
    ["", "YQ==", "YWI=", "YWJj", "//4=", "MTIz", "bnVsbA=="], "btoa");
  assertThrows(() => btoa("€"), "InvalidCharacterError", "btoa non-latin1");
  assertThrows(() => btoa(), TypeError, "btoa()");
  assertEqual([atob(""), atob("YQ"), atob("YQ=="), atob(" Y Q\n=\t= "), atob("YWJj"), atob("YWI")],
    ["", "a", "a", "a", "abc", "ab"], "atob");
  assertEqual(atob("//8=").charCodeAt(0), 255, "atob high byte");
  assertEqual(atob(null), "\x9e\xe9e", "atob(null) decodes 'null'");
  for (const bad of ["a", "YQ=", "YQ===", "Y=Q=", "€€€€", "YQ==YQ==", "YW-j", "undefined"]) {
    assertThrows(() => atob(bad), "InvalidCharacterError", "atob(" + JSON.stringify(bad) + ")");
  }
  assertThrows(() => atob(), TypeError, "atob()");
  let big = "";
  for (let i = 0; i < 3000; i++) big += String.fromCharCode(i & 0xff);
  assertEqual(atob(btoa(big)), big, "round trip of 3000 bytes");
  return true;
}

export async function test_url() {
  const u = new URL("../c/d?x=1#f", "http://user:pw@Example.COM:8080/a/b/");
  assertEqual(
    [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash],
    ["http://user:pw@example.com:8080/a/c/d?x=1#f", "http://example.com:8080", "http:", "user", "pw",
      "example.com:8080", "example.com", "8080", "/a/c/d", "?x=1", "#f"],
    "components",
  );
  assertEqual(String(u), u.href, "toString");
  assertEqual(u.toJSON(), u.href, "toJSON");
  assertEqual(JSON.stringify({ u }), '{"u":"http://user:pw@example.com:8080/a/c/d?x=1#f"}', "JSON.stringify");
  assertThrows(() => new URL("/x"), TypeError, "relative without base");
  assertThrows(() => new URL("nope", "also nope"), TypeError, "bad base");
  assertThrows(() => new URL(), TypeError, "no argument");
  assertEqual([URL.canParse("http://a"), URL.canParse("/a"), URL.canParse("/a", "http://b")], [true, false, true], "canParse");
  assertEqual(new URL("HTTP://EXAMPLE.com:80/./a/../b/%7e?x#y").href, "http://example.com/b/%7e?x#y", "normalisation");
  assertEqual(new URL("http://ñ.com/").hostname, "xn--ida.com", "IDNA");
  assertEqual(new URL("http://[::1]:3000/").host, "[::1]:3000", "IPv6 host");
  assertEqual(new URL("data:text/plain,hi").pathname, "text/plain,hi", "opaque path");
  assertEqual(new URL("blob:http://a/1").origin, "http://a", "blob origin");
  assertEqual(new URL("file:///C:/x").href, "file:///C:/x", "file URL");
  assertEqual(new URL("?q=1", "http://a/b/c").href, "http://a/b/c?q=1", "query-only relative");
  assertEqual(new URL("//h/p", "https://a/").href, "https://h/p", "scheme-relative");
  assertEqual(new URL(new URL("http://a/z")).href, "http://a/z", "URL object as input");
  return true;
}

export async function test_url_setters() {
  const u = new URL("http://a.com/p?q=1");
  u.pathname = "/x y";
  u.hash = "h";
  u.port = "81";
  u.hostname = "b.com";
  u.search = "?a=b c";
  u.protocol = "https";
  u.username = "me";
  u.password = "pw";
  assertEqual(u.href, "https://me:pw@b.com:81/x%20y?a=b%20c#h", "after setters");
  const v = new URL("http://a.com/");
  v.port = "abc";
  v.protocol = "nope:";
  assertEqual(v.href, "http://a.com/", "invalid port and protocol ignored");
  v.port = "80";
  assertEqual(v.href, "http://a.com/", "default port dropped");
  v.host = "c.org:8080";
  assertEqual(v.host, "c.org:8080", "host setter");
  assertThrows(() => { v.href = "not a url"; }, TypeError, "href setter with invalid URL");
  v.href = "https://b.com/z?k=v";
  assertEqual([v.href, v.searchParams.get("k")], ["https://b.com/z?k=v", "v"], "href setter updates searchParams");
  v.search = "";
  assertEqual(v.href, "https://b.com/z", "empty search");
  v.hash = "";
  assertEqual(v.href, "https://b.com/z", "empty hash");
  return true;
}

export async function test_url_search_params() {
  const p = new URLSearchParams("?a=1&b=x+y&c=%20&a=2&d");
  assertEqual(
    [p.toString(), p.get("a"), p.getAll("a"), p.get("b"), p.get("c"), p.get("d"), p.get("zz"), p.has("a"), p.has("a", "2"), p.has("a", "3"), p.size],
    ["a=1&b=x+y&c=+&a=2&d=", "1", ["1", "2"], "x y", " ", "", null, true, true, false, 5],
    "parse",
  );
  assertEqual(new URLSearchParams({ x: "1", y: 2, "a b": "c&d" }).toString(), "x=1&y=2&a+b=c%26d", "record");
  assertEqual(new URLSearchParams([["x", "1"], ["x", "2"], ["é", "☃ +"]]).toString(), "x=1&x=2&%C3%A9=%E2%98%83+%2B", "pairs");
  assertThrows(() => new URLSearchParams([["x"]]), TypeError, "pair of length 1");
  assertThrows(() => new URLSearchParams().append("a"), TypeError, "append with one argument");
  const s = new URLSearchParams("z=1&a=2&z=0&b=3");
  s.sort();
  assertEqual(s.toString(), "a=2&b=3&z=1&z=0", "sort is stable");
  s.set("z", "9");
  s.delete("b", "4");
  assertEqual(s.toString(), "a=2&b=3&z=9", "set and delete(name, value) no match");
  s.delete("a", "2");
  assertEqual([s.toString(), [...s.keys()], [...s.values()], [...s.entries()], [...s]],
    ["b=3&z=9", ["b", "z"], ["3", "9"], [["b", "3"], ["z", "9"]], [["b", "3"], ["z", "9"]]], "iteration");
  const seen = [];
  new URLSearchParams("a=1&b=2").forEach((v, k) => seen.push(k + v));
  assertEqual(seen, ["a1", "b2"], "forEach");
  assertEqual([...new URLSearchParams("a=%zz&b=%41%42&%E2%98%83=1&c=%FF")], [["a", "%zz"], ["b", "AB"], ["☃", "1"], ["c", "\uFFFD"]], "percent-decoding");
  assertEqual(new URLSearchParams("a=~!*()'-._").toString(), "a=%7E%21*%28%29%27-._", "serializer escapes");
  assertEqual(new URLSearchParams([["\uD800", "x"]]).toString(), "%EF%BF%BD=x", "lone surrogate");
  const copy = new URLSearchParams(new URLSearchParams("a=1"));
  copy.append("b", "2");
  assertEqual(String(copy), "a=1&b=2", "copy constructor");
  // Live link with URL, both ways.
  const u = new URL("http://a/?a=1&b=2");
  const q = u.searchParams;
  assert(q === u.searchParams, "searchParams is the same object");
  q.append("c", "3 4");
  assertEqual(u.href, "http://a/?a=1&b=2&c=3+4", "params -> URL");
  u.search = "?z=9";
  assertEqual([...q], [["z", "9"]], "URL -> params");
  q.delete("z");
  assertEqual([u.href, u.search], ["http://a/", ""], "emptied params drop the query");
  const w = new URL("http://a/#h");
  w.searchParams.set("k", "v/+é");
  assertEqual([w.href, w.search], ["http://a/?k=v%2F%2B%C3%A9#h", "?k=v%2F%2B%C3%A9"], "set keeps fragment");
  return true;
}

export async function test_headers() {
  const h = new Headers({ "Content-Type": "text/html", "X-A": "1" });
  h.append("x-a", "2");
  assertEqual([h.get("X-A"), h.get("content-type"), h.has("CONTENT-TYPE"), [...h]],
    ["1, 2", "text/html", true, [["content-type", "text/html"], ["x-a", "1, 2"]]], "combine");
  const g = new Headers([["b", "1"], ["a", "2"], ["set-cookie", "c=1"], ["Set-Cookie", "d=2"], ["a", "3"]]);
  assertEqual([[...g], [...g.keys()], [...g.values()], g.get("set-cookie"), g.getSetCookie()],
    [[["a", "2, 3"], ["b", "1"], ["set-cookie", "c=1"], ["set-cookie", "d=2"]], ["a", "b", "set-cookie", "set-cookie"],
      ["2, 3", "1", "c=1", "d=2"], "c=1, d=2", ["c=1", "d=2"]], "sorted iteration, set-cookie apart");
  const t = new Headers();
  t.append("a", " x\t ");
  assertEqual(t.get("a"), "x", "value trimmed");
  t.append("b", "é");
  assertEqual(t.get("b"), "é", "latin-1 value");
  assertThrows(() => t.append("a b", "x"), TypeError, "invalid name");
  assertThrows(() => t.append("", "x"), TypeError, "empty name");
  assertThrows(() => t.append("a", "x\ny"), TypeError, "newline in value");
  assertThrows(() => t.append("a", "x\0y"), TypeError, "NUL in value");
  assertThrows(() => t.append("a", "€"), TypeError, "non-latin-1 value");
  assertThrows(() => t.get("bad name"), TypeError, "get with invalid name");
  assertThrows(() => t.append("a"), TypeError, "append with one argument");
  assertThrows(() => new Headers(null), TypeError, "null init");
  assertThrows(() => new Headers("abc"), TypeError, "string init");
  assertThrows(() => new Headers([["a"]]), TypeError, "pair of length 1");
  assertThrows(() => new Headers([["a", "b", "c"]]), TypeError, "pair of length 3");
  const src = new Headers({ a: "1" });
  const cp = new Headers(src);
  cp.set("b", "2");
  assertEqual([[...src], [...cp]], [[["a", "1"]], [["a", "1"], ["b", "2"]]], "copy is independent");
  const f = new Headers({ a: "1", b: "2" });
  f.delete("A");
  f.set("c", 3);
  const out = [];
  f.forEach((v, k, o) => out.push([k, v, o === f]));
  assertEqual(out, [["b", "2", true], ["c", "3", true]], "delete, set, forEach");
  const e = new Headers();
  assertEqual([e.get("x"), e.has("x"), e.getSetCookie()], [null, false, []], "empty");
  return true;
}

export async function test_form_data() {
  const f = new FormData();
  f.append("a", 1);
  f.append("b", "x");
  f.append("a", "z");
  f.set("b", "y");
  assertEqual([...f], [["a", "1"], ["b", "y"], ["a", "z"]], "append and set keep order");
  f.delete("a");
  assertEqual([[...f], f.get("b"), f.get("nope"), f.getAll("a"), f.has("b"), [...f.keys()], [...f.values()]],
    [[["b", "y"]], "y", null, [], true, ["b"], ["y"]], "after delete");
  const seen = [];
  f.forEach((v, k) => seen.push(k + "=" + v));
  assertEqual(seen, ["b=y"], "forEach");
  assertThrows(() => f.append("only-name"), TypeError, "append with one argument");
  return true;
}

export async function test_request() {
  const r = new Request("http://a.com/p?q#h", { method: "post", headers: { "X-Y": "z" }, body: "hi" });
  assertEqual([r.method, r.url, r.headers.get("x-y"), r.headers.get("content-type"), r.redirect, r.bodyUsed],
    ["POST", "http://a.com/p?q#h", "z", "text/plain;charset=UTF-8", "follow", false], "basics");
  assert(r.headers instanceof Headers, "headers is a Headers");
  assertEqual(await r.text(), "hi", "text");
  assertEqual(r.bodyUsed, true, "bodyUsed after text");
  await assertRejects(() => r.text(), TypeError, "second read");
  assertThrows(() => r.clone(), TypeError, "clone after read");
  assertEqual([new Request("http://a/", { method: "patch" }).method, new Request("http://a/", { method: "get" }).method,
    new Request("http://a/", { method: "Options" }).method, new Request("http://a/").method],
    ["patch", "GET", "OPTIONS", "GET"], "method normalisation");
  for (const m of ["trace", "CONNECT", "Track", "bad method", ""]) {
    assertThrows(() => new Request("http://a/", { method: m }), TypeError, "method " + JSON.stringify(m));
  }
  assertThrows(() => new Request("http://a/", { body: "x" }), TypeError, "GET with body");
  assertThrows(() => new Request("http://a/", { method: "HEAD", body: "x" }), TypeError, "HEAD with body");
  assertEqual(new Request("http://a/", { method: "GET", body: null }).method, "GET", "GET with null body");
  assertThrows(() => new Request("/relative"), TypeError, "relative URL");
  assertThrows(() => new Request("http://u:p@a/"), TypeError, "credentials in URL");
  assertThrows(() => new Request("http://a/", { redirect: "nope" }), TypeError, "bad redirect");
  assertEqual(new Request("http://a/", { redirect: "manual" }).redirect, "manual", "redirect manual");
  const d = new Request(new URL("http://x/y"));
  assertEqual([d.url, d.cache, d.credentials, d.mode, d.destination, d.referrer, d.integrity, d.keepalive, d.body],
    ["http://x/y", "default", "same-origin", "cors", "", "about:client", "", false, null], "defaults");
  return true;
}

export async function test_request_body() {
  const a = new Request("http://x/", { method: "POST", body: "hi", headers: { a: "1" } });
  const b = new Request(a);
  assertEqual([a.bodyUsed, b.method, b.headers.get("a"), await b.text()], [true, "POST", "1", "hi"], "Request(request) takes the body");
  const c = new Request("http://x/", { method: "POST", body: "hi" });
  await c.text();
  assertThrows(() => new Request(c), TypeError, "Request(used request)");
  const e = new Request("http://x/", { method: "POST", body: "hi" });
  const f = new Request(e, { method: "PUT", body: "yo", headers: { z: "2" } });
  assertEqual([e.bodyUsed, f.method, [...f.headers], await f.text(), await e.text()],
    [false, "PUT", [["content-type", "text/plain;charset=UTF-8"], ["z", "2"]], "yo", "hi"], "Request(request, init with body)");
  assertThrows(() => new Request(new Request("http://x/", { method: "POST", body: "x" }), { method: "GET" }), TypeError, "inherited body with GET");
  const g = new Request("http://x/", { method: "POST", body: '{"a":[1]}' });
  const g2 = g.clone();
  assertEqual([await g.json(), await g2.text(), g.bodyUsed, g2.bodyUsed], [{ a: [1] }, '{"a":[1]}', true, true], "clone");
  const p = new Request("http://x/", { method: "POST", body: new URLSearchParams("a=b c&d=é") });
  assertEqual([p.headers.get("content-type"), await p.text()],
    ["application/x-www-form-urlencoded;charset=UTF-8", "a=b+c&d=%C3%A9"], "URLSearchParams body");
  const form = new Request("http://x/", { method: "POST", body: "a=1&b=x+y", headers: { "content-type": "application/x-www-form-urlencoded" } });
  const fd = await form.formData();
  assert(fd instanceof FormData, "formData() returns FormData");
  assertEqual([...fd], [["a", "1"], ["b", "x y"]], "formData()");
  await assertRejects(() => new Request("http://x/", { method: "POST", body: "a=1" }).formData(), TypeError, "formData on text/plain");
  const u8 = new Request("http://x/", { method: "POST", body: new Uint8Array([104, 105]) });
  assertEqual([u8.headers.get("content-type"), await u8.text()], [null, "hi"], "Uint8Array body");
  const custom = new Request("http://x/", { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
  assertEqual(custom.headers.get("content-type"), "application/json", "explicit content-type kept");
  return true;
}

export async function test_response() {
  const r = new Response("hello", { status: 201, statusText: "Created", headers: { "X-A": "b" } });
  assertEqual([r.status, r.ok, r.statusText, r.headers.get("x-a"), r.headers.get("content-type"), r.type, r.url, r.redirected, r.bodyUsed],
    [201, true, "Created", "b", "text/plain;charset=UTF-8", "default", "", false, false], "basics");
  assertEqual(await r.text(), "hello", "text");
  assertEqual(r.bodyUsed, true, "bodyUsed");
  await assertRejects(() => r.arrayBuffer(), TypeError, "second read");
  const n = new Response();
  assertEqual([n.status, n.ok, n.statusText, n.body, n.bodyUsed, await n.text(), n.bodyUsed, await n.text(), [...n.headers]],
    [200, true, "", null, false, "", false, "", []], "null body can be read repeatedly");
  assertThrows(() => new Response(null, { status: 199 }), RangeError, "status 199");
  assertThrows(() => new Response(null, { status: 600 }), RangeError, "status 600");
  assertThrows(() => new Response("x", { status: 204 }), TypeError, "body with 204");
  assertThrows(() => new Response(null, { statusText: "a\nb" }), TypeError, "bad statusText");
  assertEqual([new Response(null, { status: 204 }).status, new Response(null, { status: 599 }).ok,
    new Response(null, { status: 200.7 }).status, new Response(null, { status: "404" }).status], [204, false, 200, 404], "status conversion");
  const bin = new Response(new Uint8Array([1, 2, 3]));
  const binCopy = bin.clone();
  const ab = await bin.arrayBuffer();
  assertEqual([Object.prototype.toString.call(ab), ab.byteLength, bytes(await binCopy.bytes()), bin.headers.get("content-type")],
    ["[object ArrayBuffer]", 3, [1, 2, 3], null], "bytes body and clone");
  assertEqual(await new Response(new Uint16Array([0x6968]).buffer).text(), "hi", "ArrayBuffer body");
  assertEqual(await new Response(new Uint8Array([0, 104, 105, 0]).subarray(1, 3)).text(), "hi", "view body uses only its bytes");
  const src = new Uint8Array([104, 105]);
  const copied = new Response(src);
  src[0] = 0;
  assertEqual(await copied.text(), "hi", "body bytes are copied at construction");
  const obj = new Response({});
  assertEqual([await obj.text(), obj.headers.get("content-type")], ["[object Object]", "text/plain;charset=UTF-8"], "object body is stringified");
  assertEqual(await new Response(42).text(), "42", "number body");
  assertEqual(await new Response("\uFEFFhi").text(), "hi", "text() strips a BOM");
  assertEqual(await new Response("\uD800").text(), "\uFFFD", "lone surrogate");
  await assertRejects(() => new Response("not json").json(), SyntaxError, "json() of invalid JSON");
  const used = new Response("x");
  await used.text();
  assertThrows(() => used.clone(), TypeError, "clone after read");
  const ff = new Response("a=1&b=%E2%98%83", { headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8" } });
  assertEqual([...(await ff.formData())], [["a", "1"], ["b", "☃"]], "formData()");
  const h = new Headers({ a: "1" });
  const withHeaders = new Response("x", { headers: h });
  h.set("a", "2");
  assertEqual(withHeaders.headers.get("a"), "1", "headers copied from init");
  const cookies = new Response(null, { headers: [["set-cookie", "a=1"], ["set-cookie", "b=2"]] });
  assertEqual([cookies.headers.getSetCookie(), cookies.headers.get("set-cookie")], [["a=1", "b=2"], "a=1, b=2"], "set-cookie");
  const streamed = new Response("hi");
  const body = streamed.body;
  assert(body !== null && typeof body === "object", "body is an object for a non-null body");
  assert(streamed.body === body, "body is the same object every time");
  const reader = body.getReader();
  const first = await reader.read();
  assertEqual([first.done, bytes(first.value)], [false, [104, 105]], "body reader chunk");
  assertEqual((await reader.read()).done, true, "body reader end");
  assertEqual(streamed.bodyUsed, true, "reading the body marks it used");
  return true;
}

export async function test_response_statics() {
  const j = Response.json({ a: [1, "x"] }, { status: 202, headers: { x: "y" } });
  assertEqual([j.status, j.headers.get("content-type"), j.headers.get("x"), await j.json()],
    [202, "application/json", "y", { a: [1, "x"] }], "Response.json");
  assertEqual(Response.json("s", { headers: { "content-type": "text/custom" } }).headers.get("content-type"), "text/custom", "Response.json keeps content-type");
  assertEqual(await Response.json(null).text(), "null", "Response.json(null)");
  assertThrows(() => Response.json(undefined), TypeError, "Response.json(undefined)");
  assertThrows(() => Response.json(1n), TypeError, "Response.json(bigint)");
  assertThrows(() => Response.json({}, { status: 204 }), TypeError, "Response.json with 204");
  const r = Response.redirect("http://a.com/b c", 301);
  assertEqual([r.status, r.headers.get("location"), r.type, r.body, r.ok], [301, "http://a.com/b%20c", "default", null, false], "redirect");
  assertEqual(Response.redirect("http://a.com/").status, 302, "redirect default status");
  assertThrows(() => Response.redirect("http://a.com/", 200), RangeError, "redirect status 200");
  assertThrows(() => Response.redirect("/rel"), TypeError, "redirect to relative URL");
  assertThrows(() => Response.redirect("http://a.com/").headers.set("a", "b"), TypeError, "redirect headers immutable");
  const e = Response.error();
  assertEqual([e.type, e.status, e.ok, e.statusText, [...e.headers]], ["error", 0, false, "", []], "error");
  assertThrows(() => e.headers.append("a", "b"), TypeError, "error headers immutable");
  const ec = e.clone();
  assertEqual([ec.type, ec.status], ["error", 0], "clone of error");
  return true;
}

export async function test_crypto() {
  const a = new Uint32Array(4);
  const r = crypto.getRandomValues(a);
  assert(r === a, "returns its argument");
  assert(a.some((x) => x !== 0), "fills with random values");
  assertEqual(crypto.getRandomValues(new Uint8Array(65536)).length, 65536, "65536 bytes allowed");
  assertEqual(crypto.getRandomValues(new BigInt64Array(2)).length, 2, "BigInt64Array allowed");
  assertThrows(() => crypto.getRandomValues(new Float32Array(1)), "TypeMismatchError", "float array");
  assertThrows(() => crypto.getRandomValues(new Uint8Array(65537)), "QuotaExceededError", "too many bytes");
  const u = crypto.randomUUID();
  assertEqual(u.length, 36, "uuid length");
  assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(u), "uuid v4 format: " + u);
  assert(u !== crypto.randomUUID(), "uuids differ");
  return true;
}

export async function test_structured_clone() {
  const o = { a: [1, { b: 2n }], s: "x", u: undefined, n: null, t: new Uint8Array([1, 2]) };
  const c = structuredClone(o);
  assert(c !== o && c.a !== o.a && c.a[1] !== o.a[1], "deep copy");
  assertEqual([c.a[1].b, c.s, "u" in c, c.u, c.n], [2n, "x", true, undefined, null], "values");
  assert(c.t instanceof Uint8Array && c.t !== o.t, "Uint8Array copied");
  assertEqual(bytes(c.t), [1, 2], "Uint8Array contents");
  assertEqual(structuredClone("s"), "s", "primitive");
  assertThrows(() => structuredClone(() => 1), "DataCloneError", "function");
  assertThrows(() => structuredClone({ f() {} }), "DataCloneError", "nested function");
  assertThrows(() => structuredClone(Symbol("x")), "DataCloneError", "symbol");
  assertThrows(() => structuredClone(), TypeError, "no argument");
  const d = new Date(5);
  const m = new Map([[1, { x: 1 }]]);
  const big = { d, m, s: new Set([1]), r: /a/gi };
  big.self = big;
  const bc = structuredClone(big);
  assertEqual([bc.self === bc, bc.d.getTime(), bc.d instanceof Date, bc.m.get(1).x, bc.m instanceof Map, bc.s.has(1), String(bc.r)],
    [true, 5, true, 1, true, true, "/a/gi"], "Date, Map, Set, RegExp, cycles");
  class P { constructor() { this.x = 1; } }
  const pc = structuredClone(new P());
  assertEqual([pc.x, pc.constructor === Object], [1, true], "class instance becomes a plain object");
  const ec = structuredClone(new RangeError("boom"));
  assertEqual([ec instanceof RangeError, ec.message, ec.name], [true, "boom", "RangeError"], "Error");
  return true;
}

export async function test_performance() {
  const a = performance.now();
  let x = 0;
  for (let i = 0; i < 10000; i++) x += i;
  const b = performance.now();
  assertEqual(typeof a, "number", "now() is a number");
  assert(a >= 0 && b >= a, "monotonic: " + a + " then " + b + " (" + x + ")");
  assertEqual(typeof performance.timeOrigin, "number", "timeOrigin");
  assert(Math.abs(performance.timeOrigin + performance.now() - Date.now()) < 1000, "timeOrigin + now() is about Date.now()");
  return true;
}

export async function test_queue_microtask() {
  const out = [];
  queueMicrotask(() => out.push(1));
  Promise.resolve().then(() => out.push(2));
  out.push(0);
  await new Promise((resolve) => queueMicrotask(resolve));
  await null;
  assertEqual(out, [0, 1, 2], "order");
  assertThrows(() => queueMicrotask(1), TypeError, "non-function");
  return true;
}

// Headers of a Request or Response are kept as a list and made into a
// Headers only when read: none of that may be observable.
export async function test_lazy_response_headers() {
  const init = { "X-A": "1", b: "2" };
  const r = new Response("x", { headers: init });
  init["X-A"] = "changed";
  init.c = "3";
  assertEqual([...r.headers], [["b", "2"], ["content-type", "text/plain;charset=UTF-8"], ["x-a", "1"]],
    "init snapshot at construction");
  assert(r.headers === r.headers, "headers is the same object every time");
  r.headers.set("x-late", "4");
  r.headers.append("b", "5");
  r.headers.delete("x-a");
  assertEqual([...r.headers], [["b", "2, 5"], ["content-type", "text/plain;charset=UTF-8"], ["x-late", "4"]],
    "mutations after construction");
  // Reads of the init happen once, at construction, with its errors.
  const reads = [];
  const getters = {};
  Object.defineProperty(getters, "x-g", { enumerable: true, get() { reads.push("x-g"); return "g"; } });
  const g = new Response(null, { headers: getters });
  assertEqual(reads, ["x-g"], "getter read once at construction");
  assertEqual([g.headers.get("x-g"), g.headers.get("x-g")], ["g", "g"], "getter value kept");
  assertEqual(reads, ["x-g"], "getter not read again");
  assertThrows(() => new Response("x", { headers: { "bad name": "1" } }), TypeError, "invalid name throws at construction");
  assertThrows(() => new Response("x", { headers: { a: "x\ny" } }), TypeError, "invalid value throws at construction");
  assertThrows(() => new Response("x", { headers: [["a"]] }), TypeError, "bad pair throws at construction");
  // Body first, headers after.
  const t = new Response("body", { headers: { "content-type": "text/x" } });
  assertEqual([await t.text(), t.headers.get("content-type"), t.bodyUsed], ["body", "text/x", true], "headers after text()");
  // Clones are independent, whether headers were read before or not.
  const a = new Response("a", { headers: { x: "1" } });
  const ac = a.clone();
  ac.headers.set("x", "2");
  assertEqual([a.headers.get("x"), ac.headers.get("x")], ["1", "2"], "clone of an unread headers");
  const b2 = new Response("b", { headers: { x: "1" } });
  b2.headers.set("y", "1");
  const bc = b2.clone();
  b2.headers.set("y", "2");
  assertEqual([bc.headers.get("y"), b2.headers.get("y"), await bc.text()], ["1", "2", "b"], "clone of a read headers");
  // A Response built from another one's body, with its init.
  const src = new Response("abc", { status: 201, headers: { "x-a": "1" } });
  const re = new Response(src.body, src);
  assertEqual([re.status, [...re.headers], await re.text(), src.bodyUsed],
    [201, [["content-type", "text/plain;charset=UTF-8"], ["x-a", "1"]], "abc", true], "new Response(other.body, other)");
  // Headers objects and sequences as init.
  const h = new Headers([["x-b", "1"], ["x-a", "2"], ["x-b", "3"]]);
  const fromHeaders = new Response(null, { headers: h });
  h.set("x-a", "changed");
  assertEqual([...fromHeaders.headers], [["x-a", "2"], ["x-b", "1, 3"]], "Headers init copied");
  const seq = new Response(null, { headers: [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["X-C", " v "]] });
  assertEqual([seq.headers.getSetCookie(), seq.headers.get("x-c")], [["a=1", "b=2"], "v"], "sequence init");
  // The statics.
  const j = Response.json({ k: 1 });
  assertEqual([...j.headers], [["content-type", "application/json"]], "Response.json headers");
  j.headers.set("x", "y");
  assertEqual([j.headers.get("x"), await j.json()], ["y", { k: 1 }], "Response.json headers are mutable");
  const rd = Response.redirect("http://a.com/x", 307);
  assertEqual([rd.status, [...rd.headers]], [307, [["location", "http://a.com/x"]]], "redirect headers");
  assertThrows(() => rd.clone().headers.set("a", "b"), TypeError, "redirect clone immutable");
  assertThrows(() => Response.error().clone().headers.set("a", "b"), TypeError, "error clone immutable");
  // Brand checks still hold with the shared internal slot.
  const statusGetter = Object.getOwnPropertyDescriptor(Response.prototype, "status").get;
  const urlGetter = Object.getOwnPropertyDescriptor(Request.prototype, "url").get;
  assertThrows(() => statusGetter.call(new Request("http://a/")), TypeError, "Response getter on a Request");
  assertThrows(() => urlGetter.call(new Response("x")), TypeError, "Request getter on a Response");
  assertThrows(() => new Request(new Response("x")), TypeError, "a Response is no Request input");
  return true;
}

export async function test_lazy_request_headers() {
  const init = { "X-A": "1" };
  const r = new Request("http://x/", { method: "POST", body: "hi", headers: init });
  init["X-A"] = "2";
  const c = r.clone();
  const d = new Request(r, { headers: { z: "9" } });
  assertEqual([[...c.headers], [...d.headers], await d.text(), r.bodyUsed],
    [[["content-type", "text/plain;charset=UTF-8"], ["x-a", "1"]], [["z", "9"]], "hi", true], "clone and Request(request, init)");
  c.headers.set("x-a", "3");
  assertEqual([c.headers.get("x-a"), await c.text()], ["3", "hi"], "clone's own headers and body");
  const e = new Request("http://x/", { headers: { a: "1" }, redirect: "manual", cache: "no-store" });
  const f = new Request(e, { mode: "same-origin" });
  assertEqual([f.redirect, f.cache, f.mode, e.mode, f.headers.get("a"), new Request(f).referrer],
    ["manual", "no-store", "same-origin", "cors", "1", "about:client"], "attributes copied, own changes kept apart");
  return true;
}

// The fetch handler: scenarios run through the real gateway by
// tests/webapi.rs (`lazy_fetch_path_is_unobservable`), where the Request is
// made from the host's request value, lazily.
async function checkRequest(request) {
  const url = new URL(request.url);
  switch (url.pathname) {
    case "/headers-after-body": {
      const text = await request.text();
      return new Response(text + "|" + request.headers.get("x-test") + "|" + request.headers.get("x-many"));
    }
    case "/headers-list": {
      return Response.json([...request.headers].filter(([n]) => n.startsWith("x-")));
    }
    case "/clone": {
      const c = request.clone();
      assert(c.headers !== request.headers, "clone has its own headers");
      c.headers.set("x-test", "changed");
      assertEqual([request.headers.get("x-test"), c.headers.get("x-test")], ["1", "changed"], "clone independent");
      assertEqual([await c.text(), await request.text()], ["body", "body"], "both bodies");
      const n = new Request(request.url, { headers: request.headers });
      assertEqual(n.headers.get("x-test"), "1", "headers as init");
      return new Response("ok");
    }
    case "/clone-unread": {
      const c = request.clone();
      const n = new Request(c);
      assertEqual([request.method, n.method, n.url, await n.text(), c.bodyUsed], ["POST", "POST", request.url, "body", true],
        "Request(clone) takes the clone's body");
      assertEqual([n.headers.get("x-test"), request.headers.get("x-test")], ["1", "1"], "headers of both");
      return new Response("ok");
    }
    case "/form": {
      const form = await request.formData();
      return new Response(form.get("a"));
    }
    case "/inspect": {
      console.log(request);
      return new Response(String(request.headers.has("x-test")));
    }
    default: {
      // The response scenarios, from an async handler.
      const r = syncScenario(url.pathname);
      return r === undefined ? new Response("no scenario " + url.pathname, { status: 404 }) : r;
    }
  }
}

export default {
  fetch(request) {
    const url = new URL(request.url);
    if (!url.searchParams.has("sync")) return checkRequest(request);
    // A synchronous handler: the Response itself (or whatever) is returned.
    const r = syncScenario(url.pathname);
    return r === undefined ? new Response("no scenario " + url.pathname, { status: 404 }) : r;
  },
};

// Scenarios about the returned response, run by a synchronous handler
// (`?sync`) and by an async one.
function syncScenario(path) {
  switch (path) {
    case "/mutated": {
      const r = new Response("m", { headers: { "x-a": "1" } });
      r.headers.set("x-late", "2");
      return r;
    }
    case "/microtask": {
      const r = new Response("m");
      queueMicrotask(() => r.headers.set("x-micro", "1"));
      Promise.resolve().then(() => r.headers.append("x-micro", "2"));
      return r;
    }
    case "/microtask-read": {
      const r = new Response("m");
      queueMicrotask(() => r.text());
      return r;
    }
    case "/combined":
      return new Response("c", {
        headers: [["x-b", "1"], ["x-a", "2"], ["x-b", "3"], ["set-cookie", "a=1"], ["set-cookie", "b=2"], ["content-length", "99"]],
      });
    case "/from-body": {
      const a = new Response("abc", { status: 202, headers: { "x-a": "1" } });
      return new Response(a.body, a);
    }
    case "/bytes": return new Response(new Uint8Array([104, 105]), { headers: { "content-type": "application/octet-stream" } });
    case "/json": return Response.json({ a: 1 }, { status: 201 });
    case "/redirect": return Response.redirect("http://a.test/b", 301);
    case "/error": return Response.error();
    case "/null-body": return new Response(null, { status: 204, headers: { "x-a": "1" } });
    case "/not-a-response": return { status: 200 };
    case "/throws": throw new RangeError("thrown synchronously");
    case "/thenable": return { then(resolve) { resolve(new Response("from a thenable")); } };
    case "/async": return (async () => { await null; return new Response("async"); })();
  }
  return undefined;
}
