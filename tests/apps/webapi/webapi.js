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
    "Event", "EventTarget", "AbortController", "AbortSignal", "Blob", "File", "SubtleCrypto", "CryptoKey",
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
  for (const n of ["TextEncoder", "TextDecoder", "URL", "URLSearchParams", "Headers", "FormData", "Request", "Response",
    "Event", "EventTarget", "AbortController", "AbortSignal", "Blob", "File", "SubtleCrypto", "CryptoKey"]) {
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

export async function test_text_decoder_encodings() {
  const dec = (label, arr, opts) => new TextDecoder(label, opts).decode(new Uint8Array(arr));
  assertEqual(new TextDecoder("latin1").encoding, "windows-1252", "latin1 is windows-1252");
  assertEqual(new TextDecoder("ISO-8859-1").encoding, "windows-1252", "iso-8859-1 is windows-1252");
  assertEqual(dec("windows-1252", [0xe9, 0x41]), "éA", "windows-1252");
  // Node 20 decodes windows-1252 as ISO-8859-1 (0x80 -> U+0080).
  const node = typeof process === "object" && process !== null && typeof process.nextTick === "function";
  if (!node) assertEqual(dec("windows-1252", [0x80, 0x9f]), "€Ÿ", "windows-1252 0x80..0x9f");
  assertEqual(dec("latin1", [0x81]), "\u0081", "windows-1252 unmapped byte");
  assertEqual(new TextDecoder(" iso-8859-2\n").encoding, "iso-8859-2", "label trimmed");
  assertEqual(dec("iso-8859-2", [0xa1, 0xb1]), "Ąą", "iso-8859-2");
  assertEqual(new TextDecoder("utf-16").encoding, "utf-16le", "utf-16 is utf-16le");
  assertEqual(dec("utf-16le", [0xff, 0xfe, 0x68, 0, 0x69, 0]), "hi", "utf-16le BOM stripped");
  assertEqual(dec("utf-16le", [0xff, 0xfe, 0x68, 0], { ignoreBOM: true }), "\uFEFFh", "utf-16le ignoreBOM");
  assertEqual(dec("utf-16be", [0, 0x68, 0, 0x69]), "hi", "utf-16be");
  assertEqual(dec("utf-16be", [0xfe, 0xff, 0, 0x41]), "A", "utf-16be BOM stripped");
  assertEqual(dec("utf-16le", [0x41, 0, 0x42]), "A\uFFFD", "utf-16le odd length");
  assertThrows(() => dec("utf-16le", [0x00, 0xd8], { fatal: true }), TypeError, "utf-16le lone surrogate, fatal");
  assertEqual(new TextDecoder("SJIS").encoding, "shift_jis", "sjis is shift_jis");
  assertEqual(dec("shift_jis", [0x93, 0xfa, 0x96, 0x7b, 0x41]), "日本A", "shift_jis");
  assertEqual(dec("shift_jis", [0xa0]), "\uFFFD", "shift_jis invalid byte");
  assertThrows(() => dec("shift_jis", [0xa0], { fatal: true }), TypeError, "shift_jis invalid byte, fatal");
  assertEqual(dec("gbk", [0xd6, 0xd0]), "中", "gbk");
  assertEqual(new TextDecoder("gb2312").encoding, "gbk", "gb2312 is gbk");
  assertEqual(dec("euc-kr", [0xc7, 0xd1]), "한", "euc-kr");
  assertEqual(dec("big5", [0xa4, 0xa4]), "中", "big5");
  assertEqual(dec("koi8-r", [0xc1]), "а", "koi8-r");
  assertEqual(dec("x-user-defined", [0x41, 0x80]), "A\uF780", "x-user-defined");
  for (const bad of ["foo", "replacement", "iso-2022-kr", "utf-32", ""]) {
    assertThrows(() => new TextDecoder(bad), RangeError, "label " + JSON.stringify(bad));
  }
  // Streams of a multi-byte encoding, split anywhere.
  const sj = new TextDecoder("shift_jis");
  assertEqual(
    [sj.decode(new Uint8Array([0x41, 0x93]), { stream: true }), sj.decode(new Uint8Array([0xfa, 0x96]), { stream: true }),
      sj.decode(new Uint8Array([0x7b]))],
    ["A", "日", "本"],
    "shift_jis stream",
  );
  const utf16 = [0xff, 0xfe, 0x68, 0x00, 0xac, 0x20, 0x3d, 0xd8, 0x00, 0xde];
  const u = new TextDecoder("utf-16le");
  let s = "";
  for (const b of utf16) s += u.decode(new Uint8Array([b]), { stream: true });
  s += u.decode();
  assertEqual(s, "h€😀", "utf-16le byte-by-byte stream with BOM");
  const trunc = new TextDecoder("utf-16le");
  assertEqual([trunc.decode(new Uint8Array([0x41]), { stream: true }), trunc.decode()], ["", "\uFFFD"], "stream ends mid-unit");
  // Views with an offset.
  const buf = new Uint8Array([0, 0, 0x80, 0xe9]);
  assertEqual(new TextDecoder("windows-1252").decode(buf.subarray(2)), "€é", "subarray");
  assertEqual(new TextDecoder("windows-1252").decode(new DataView(buf.buffer, 3)), "é", "DataView");
  // TextEncoder is UTF-8 whatever it is given.
  assertEqual(new TextEncoder("latin1").encoding, "utf-8", "TextEncoder stays UTF-8");
  assertEqual(bytes(new TextEncoder().encode("é")), [0xc3, 0xa9], "TextEncoder encodes UTF-8");
  return true;
}

export async function test_event_target() {
  const t = new EventTarget();
  const seen = [];
  const f = (e) => seen.push(["f", e.type, e.target === t, e.currentTarget === t, e.eventPhase]);
  t.addEventListener("x", f);
  t.addEventListener("x", f); // duplicate: ignored
  t.addEventListener("x", { handleEvent(e) { seen.push(["obj", this !== t]); } });
  t.addEventListener("x", () => seen.push(["once"]), { once: true });
  // Node 20 crashes the process on an exception in a listener and lets a
  // passive listener cancel; the standard (and Workers, and this runtime)
  // report the exception and ignore preventDefault() there.
  const node = typeof process === "object" && process !== null && typeof process.nextTick === "function";
  if (!node) t.addEventListener("x", () => { throw new Error("reported, not thrown"); });
  t.addEventListener("x", (e) => seen.push(["last", e.defaultPrevented]));
  const e = new Event("x", { cancelable: true });
  assertEqual([e.type, e.bubbles, e.cancelable, e.composed, e.isTrusted, e.eventPhase, e.target], ["x", false, true, false, false, 0, null], "new Event");
  if (!node) t.addEventListener("x", (ev) => ev.preventDefault(), { passive: true });
  assertEqual(t.dispatchEvent(e), true, "passive listener cannot cancel");
  assertEqual(seen, [["f", "x", true, true, 2], ["obj", true], ["once"], ["last", false]], "listeners in order, once, errors reported");
  assertEqual([e.eventPhase, e.currentTarget, e.target === t], [0, null, true], "after dispatch");
  seen.length = 0;
  t.removeEventListener("x", f);
  const e2 = new Event("x", { cancelable: true });
  t.addEventListener("x", (ev) => { ev.preventDefault(); ev.stopImmediatePropagation(); });
  t.addEventListener("x", () => seen.push(["after stopImmediatePropagation"]));
  assertEqual(t.dispatchEvent(e2), false, "canceled event");
  assertEqual(e2.defaultPrevented, true, "defaultPrevented");
  assertEqual(seen, [["obj", true], ["last", false]], "removed listener and stopImmediatePropagation");
  assertEqual(new Event("y").cancelable, false, "not cancelable by default");
  const nc = new Event("y");
  nc.preventDefault();
  assertEqual(nc.defaultPrevented, false, "preventDefault of a non-cancelable event");
  assertThrows(() => new Event(), TypeError, "Event needs a type");
  assertThrows(() => t.dispatchEvent({ type: "x" }), TypeError, "dispatchEvent of a non-Event");
  let inner;
  const t2 = new EventTarget();
  t2.addEventListener("z", (ev) => {
    try { t2.dispatchEvent(ev); } catch (err) { inner = err; }
  });
  t2.dispatchEvent(new Event("z"));
  checkError(inner, node ? Error : "InvalidStateError", "re-dispatching an event being dispatched");
  class Custom extends EventTarget {}
  const c = new Custom();
  let got = 0;
  c.addEventListener("q", () => got++);
  c.dispatchEvent(new Event("q"));
  assertEqual(got, 1, "subclass of EventTarget");
  assertEqual([Event.AT_TARGET, Event.prototype.BUBBLING_PHASE], [2, 3], "phase constants");
  return true;
}

export async function test_abort() {
  const c = new AbortController();
  const s = c.signal;
  assertEqual([s.aborted, s.reason], [false, undefined], "fresh signal");
  assert(s instanceof EventTarget, "AbortSignal is an EventTarget");
  assertThrows(() => new AbortSignal(), TypeError, "AbortSignal is not constructible");
  const events = [];
  s.onabort = (e) => events.push(["onabort", e.type, e.isTrusted]);
  s.addEventListener("abort", (e) => events.push(["listener", s.aborted]));
  s.throwIfAborted();
  c.abort();
  c.abort("again: ignored");
  assertEqual(events, [["onabort", "abort", true], ["listener", true]], "abort event fired once");
  assertEqual(s.aborted, true, "aborted");
  checkError(s.reason, "AbortError", "default reason");
  assertThrows(() => s.throwIfAborted(), "AbortError", "throwIfAborted");
  const c2 = new AbortController();
  const why = new Error("why");
  c2.abort(why);
  assert(c2.signal.reason === why, "custom reason");
  let thrown;
  try { c2.signal.throwIfAborted(); } catch (e) { thrown = e; }
  assert(thrown === why, "throwIfAborted throws the reason");
  const a = AbortSignal.abort("r");
  assertEqual([a.aborted, a.reason], [true, "r"], "AbortSignal.abort");
  // Listeners removed by a signal.
  const t = new EventTarget();
  const lc = new AbortController();
  let n = 0;
  t.addEventListener("x", () => n++, { signal: lc.signal });
  t.dispatchEvent(new Event("x"));
  lc.abort();
  t.dispatchEvent(new Event("x"));
  t.addEventListener("x", () => n++, { signal: lc.signal });
  t.dispatchEvent(new Event("x"));
  assertEqual(n, 1, "listener removed when its signal aborts");
  // any()
  const x = new AbortController();
  const y = new AbortController();
  const any = AbortSignal.any([x.signal, y.signal]);
  assertEqual(any.aborted, false, "any: none aborted");
  y.abort("y");
  assertEqual([any.aborted, any.reason], [true, "y"], "any follows the first to abort");
  x.abort("x");
  assertEqual(any.reason, "y", "any keeps its first reason");
  assertEqual(AbortSignal.any([AbortSignal.abort("already")]).reason, "already", "any of an aborted signal");
  // timeout()
  // WebIDL says TypeError; Node 20 throws a RangeError.
  assertThrows(() => AbortSignal.timeout(-1), Error, "negative timeout");
  const ts = AbortSignal.timeout(5);
  assertEqual(ts.aborted, false, "timeout not yet");
  await new Promise((resolve) => ts.addEventListener("abort", resolve));
  checkError(ts.reason, "TimeoutError", "timeout reason");
  assertEqual(Object.prototype.toString.call(s), "[object AbortSignal]", "toStringTag");
  // A Request's signal follows the one it was given.
  const rc = new AbortController();
  const req = new Request("http://a.test/", { signal: rc.signal });
  assert(req.signal instanceof AbortSignal && req.signal !== rc.signal, "Request.signal is its own signal");
  const copy = new Request(req);
  const cloned = req.clone();
  assertEqual([req.signal.aborted, copy.signal.aborted, cloned.signal.aborted], [false, false, false], "not aborted yet");
  rc.abort("stop");
  assertEqual([req.signal.aborted, req.signal.reason, copy.signal.reason, cloned.signal.reason], [true, "stop", "stop", "stop"],
    "Request signals follow");
  const plain = new Request("http://a.test/");
  assert(plain.signal === plain.signal && plain.signal.aborted === false, "a Request without a signal has one that never aborts");
  assertThrows(() => new Request("http://a.test/", { signal: {} }), TypeError, "signal must be an AbortSignal");
  return true;
}

export async function test_blob() {
  const b = new Blob(["aé", new Uint8Array([0x62, 0x63]), new Uint16Array([0x6564]).buffer, new Blob(["!"])], { type: "Text/Plain" });
  assertEqual([b.size, b.type], [8, "text/plain"], "size and type");
  assertEqual(await b.text(), "aébcde!", "text");
  assertEqual(bytes(new Uint8Array(await b.arrayBuffer())), [0x61, 0xc3, 0xa9, 0x62, 0x63, 0x64, 0x65, 0x21], "arrayBuffer");
  const bb = await b.bytes();
  assert(bb instanceof Uint8Array, "bytes() is a Uint8Array");
  bb[0] = 0;
  assertEqual(await b.text(), "aébcde!", "bytes() is a copy");
  assertEqual(await b.slice(1, 3).text(), "é", "slice");
  assertEqual(await b.slice(-3).text(), "de!", "negative slice");
  assertEqual([b.slice(5, 2).size, b.slice().type, b.slice(0, 1, "X/Y").type], [0, "", "x/y"], "slice edge cases");
  assertEqual(new Blob().size, 0, "empty blob");
  assertEqual(new Blob([], { type: "a\u00ffb" }).type, "", "non-ASCII type is dropped");
  assertEqual(await new Blob(["a\r\nb\rc"], { endings: "native" }).text(), "a\nb\nc", "native endings");
  assertEqual(await new Blob(["a\r\nb"]).text(), "a\r\nb", "transparent endings");
  assertEqual(await new Blob([1, null]).text(), "1null", "other values are strings");
  assertEqual(await new Blob(["\uFEFFx"]).text(), "x", "text() strips a BOM");
  const src = new Uint8Array([1, 2]);
  const copied = new Blob([src]);
  src[0] = 9;
  assertEqual(bytes(await copied.bytes()), [1, 2], "parts are copied");
  assertThrows(() => new Blob("abc"), TypeError, "a string is not a sequence");
  assertThrows(() => new Blob([], { endings: "bad" }), TypeError, "bad endings");
  const f = new File(["x"], "a.txt", { type: "text/plain", lastModified: 42 });
  assert(f instanceof Blob, "File is a Blob");
  assertEqual([f.name, f.size, f.type, f.lastModified], ["a.txt", 1, "text/plain", 42], "File");
  assertThrows(() => new File(["x"]), TypeError, "File needs a name");
  assertEqual(Object.prototype.toString.call(b), "[object Blob]", "toStringTag");
  return true;
}

export async function test_body_blob() {
  const blob = new Blob(["hi"], { type: "text/x-test" });
  const r = new Response(blob);
  assertEqual(r.headers.get("content-type"), "text/x-test", "content-type from the Blob");
  assertEqual(await r.text(), "hi", "Blob body");
  assertEqual(new Response(new Blob(["a"])).headers.get("content-type"), null, "untyped Blob: no content-type");
  const r2 = new Response("hello", { headers: { "content-type": "Text/Plain;charset=UTF-8" } });
  const b2 = await r2.blob();
  assert(b2 instanceof Blob, "blob() gives a Blob");
  assertEqual([b2.size, b2.type, await b2.text()], [5, "text/plain;charset=utf-8", "hello"], "blob()");
  assertEqual(r2.bodyUsed, true, "blob() uses the body");
  const req = new Request("http://a.test/", { method: "POST", body: new Blob([new Uint8Array([1, 2, 3])]) });
  assertEqual(bytes(await req.bytes()), [1, 2, 3], "Request with a Blob body");
  assertEqual((await new Response(null).blob()).size, 0, "blob() of no body");
  return true;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
}

export async function test_subtle_digest() {
  const abc = new TextEncoder().encode("abc");
  const vectors = [
    ["SHA-1", "a9993e364706816aba3e25717850c26c9cd0d89d"],
    ["SHA-256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ["SHA-384", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"],
    ["SHA-512", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"],
  ];
  for (const [alg, want] of vectors) {
    const d = await crypto.subtle.digest(alg, abc);
    assert(d instanceof ArrayBuffer, alg + " gives an ArrayBuffer");
    assertEqual(hex(d), want, alg + "(abc)");
  }
  assertEqual(hex(await crypto.subtle.digest({ name: "sha-256" }, new Uint8Array(0))),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "SHA-256 of nothing, name case-insensitive");
  const million = new Uint8Array(1000000).fill(0x61);
  assertEqual(hex(await crypto.subtle.digest("SHA-1", million)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f", "SHA-1 of a million a");
  const view = new Uint8Array([0, 0x61, 0x62, 0x63, 0]).subarray(1, 4);
  assertEqual(hex(await crypto.subtle.digest("SHA-256", view)), vectors[1][1], "a view with an offset");
  assertEqual(hex(await crypto.subtle.digest("SHA-256", new DataView(abc.buffer))), vectors[1][1], "a DataView");
  await assertRejects(() => crypto.subtle.digest("MD5", abc), "NotSupportedError", "MD5");
  await assertRejects(() => crypto.subtle.digest("SHA-256", "abc"), TypeError, "a string is not a BufferSource");
  assert(crypto.subtle instanceof SubtleCrypto, "crypto.subtle is a SubtleCrypto");
  assert(crypto.subtle === crypto.subtle, "crypto.subtle is one object");
  return true;
}

export async function test_subtle_hmac() {
  const subtle = crypto.subtle;
  const enc = (s) => new TextEncoder().encode(s);
  // RFC 4231 test cases 1, 2 and 6; RFC 2202 test case 1 for SHA-1.
  const vectors = [
    ["SHA-256", new Uint8Array(20).fill(0x0b), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"],
    ["SHA-384", new Uint8Array(20).fill(0x0b), "Hi There", "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"],
    ["SHA-512", new Uint8Array(20).fill(0x0b), "Hi There", "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"],
    ["SHA-256", enc("Jefe"), "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"],
    ["SHA-384", enc("Jefe"), "what do ya want for nothing?", "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"],
    ["SHA-512", new Uint8Array(131).fill(0xaa), "Test Using Larger Than Block-Size Key - Hash Key First", "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"],
    ["SHA-1", new Uint8Array(20).fill(0x0b), "Hi There", "b617318655057264e28bc0b6fb378c8ef146be00"],
  ];
  for (const [hash, keyBytes, data, want] of vectors) {
    const key = await subtle.importKey("raw", keyBytes, { name: "HMAC", hash: hash }, false, ["sign", "verify"]);
    const sig = await subtle.sign("HMAC", key, enc(data));
    assert(sig instanceof ArrayBuffer, "sign gives an ArrayBuffer");
    assertEqual(hex(sig), want, "HMAC-" + hash + " of " + JSON.stringify(data));
    assertEqual(await subtle.verify({ name: "hmac" }, key, sig, enc(data)), true, "verify " + hash);
    const bad = new Uint8Array(sig);
    bad[0] ^= 1;
    assertEqual(await subtle.verify("HMAC", key, bad, enc(data)), false, "verify a wrong signature " + hash);
    assertEqual(await subtle.verify("HMAC", key, new Uint8Array(3), enc(data)), false, "verify a short signature " + hash);
  }
  const key = await subtle.importKey("raw", enc("k"), { name: "HMAC", hash: { name: "SHA-256" } }, true, ["sign"]);
  assert(key instanceof CryptoKey, "a CryptoKey");
  assertEqual([key.type, key.extractable, key.algorithm.name, key.algorithm.hash.name, key.algorithm.length, key.usages],
    ["secret", true, "HMAC", "SHA-256", 8, ["sign"]], "CryptoKey attributes");
  assertEqual(hex(await subtle.exportKey("raw", key)), "6b", "exportKey raw");
  const jwk = await subtle.exportKey("jwk", key);
  assertEqual([jwk.kty, jwk.k, jwk.alg, jwk.ext], ["oct", "aw", "HS256", true], "exportKey jwk");
  const fromJwk = await subtle.importKey("jwk", { kty: "oct", k: "aw", alg: "HS256" }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  assertEqual(hex(await subtle.sign("HMAC", fromJwk, enc("x"))), hex(await subtle.sign("HMAC", key, enc("x"))), "importKey jwk");
  await assertRejects(() => subtle.verify("HMAC", key, new Uint8Array(32), enc("x")), "InvalidAccessError", "verify with a sign-only key");
  const secret = await subtle.importKey("raw", enc("k"), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  await assertRejects(() => subtle.sign("HMAC", secret, enc("x")), "InvalidAccessError", "sign with a verify-only key");
  // Node 20 names this DOMException "InvalidAccessException".
  const node = typeof process === "object" && process !== null && typeof process.nextTick === "function";
  await assertRejects(() => subtle.exportKey("raw", secret), node ? DOMException : "InvalidAccessError", "export a non-extractable key");
  await assertRejects(() => subtle.importKey("raw", enc("k"), { name: "AES-GCM" }, false, ["encrypt"]), "NotSupportedError", "AES-GCM");
  await assertRejects(() => subtle.importKey("raw", enc("k"), { name: "HMAC", hash: "MD5" }, false, ["sign"]), "NotSupportedError", "HMAC-MD5");
  await assertRejects(() => subtle.importKey("raw", enc("k"), { name: "HMAC" }, false, ["sign"]), TypeError, "HMAC without a hash");
  await assertRejects(() => subtle.importKey("raw", enc("k"), { name: "HMAC", hash: "SHA-256" }, false, ["encrypt"]), "SyntaxError", "HMAC for encrypt");
  await assertRejects(() => subtle.importKey("raw", enc("k"), { name: "HMAC", hash: "SHA-256" }, false, []), "SyntaxError", "no usages");
  await assertRejects(() => subtle.importKey("raw", new Uint8Array(0), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]), "DataError", "empty key");
  await assertRejects(() => subtle.sign("HMAC", { type: "secret" }, enc("x")), TypeError, "not a CryptoKey");
  await assertRejects(() => subtle.sign("AES-GCM", key, enc("x")), "NotSupportedError", "sign with AES-GCM");
  const gen = await subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign", "verify"]);
  assertEqual([gen.algorithm.length, (await subtle.exportKey("raw", gen)).byteLength], [1024, 128], "generateKey: the block size");
  const genSig = await subtle.sign("HMAC", gen, enc("m"));
  assertEqual(await subtle.verify("HMAC", gen, genSig, enc("m")), true, "generated key signs and verifies");
  assertThrows(() => new CryptoKey(), TypeError, "CryptoKey is not constructible");
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
