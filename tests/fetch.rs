//! Outbound `fetch()` against a real HTTP server started by the test on
//! 127.0.0.1: requests and responses, grants (refused origins and
//! redirects), redirect modes, aborts, the invocation's deadline and end,
//! the body limit, network errors, concurrency and the CPU budget.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TempApp, TestServer};
use pyrosome::{Runtime, Value};

/// How long a test waits for something the origin server should see.
const WAIT: Duration = Duration::from_secs(20);

/// A small HTTP/1.1 origin server: one thread per connection, keep-alive.
/// Everything it sees is reported on `events` ("connect", "GET /echo?x=1",
/// "closed /hang").
struct Origin {
    addr: SocketAddr,
    events: mpsc::Receiver<String>,
    /// Releases one request waiting at `/gate`.
    gate: mpsc::Sender<()>,
}

impl Origin {
    fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
        let addr = listener.local_addr().expect("origin addr");
        let (events_tx, events) = mpsc::channel();
        let (gate, gate_rx) = mpsc::channel::<()>();
        let gate_rx = Arc::new(Mutex::new(gate_rx));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let events = events_tx.clone();
                let gate = gate_rx.clone();
                if events.send("connect".to_owned()).is_err() {
                    return;
                }
                std::thread::spawn(move || serve(stream, addr, &events, &gate));
            }
        });
        Origin { addr, events, gate }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server reports `event`; the events before it are
    /// returned.
    fn wait_for(&self, event: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.events.recv_timeout(WAIT) {
                Ok(e) if e == event => return seen,
                Ok(e) => seen.push(e),
                Err(_) => panic!("the origin never saw {event:?} (it saw {seen:?})"),
            }
        }
    }

    /// The events so far.
    fn drain(&self) -> Vec<String> {
        self.events.try_iter().collect()
    }
}

/// Serves one connection until it closes.
fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    events: &mpsc::Sender<String>,
    gate: &Mutex<mpsc::Receiver<()>>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let _ = events.send(format!("{method} {target}"));
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .map(str::to_owned)
        };
        let stream = reader.get_mut();
        let head_only = method == "HEAD";
        let respond =
            |stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]| {
                let mut head = format!("HTTP/1.1 {status}\r\n");
                if !status.starts_with("204") {
                    head.push_str(&format!("content-length: {}\r\n", body.len()));
                }
                for (n, v) in headers {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                if !head_only {
                    let _ = stream.write_all(body);
                }
            };
        match path {
            "/echo" => {
                let echo = serde_json::json!({
                    "method": method,
                    "target": target,
                    "headers": headers.iter().map(|(n, v)| serde_json::json!([n, v])).collect::<Vec<_>>(),
                    "body": String::from_utf8_lossy(&body),
                });
                respond(
                    stream,
                    "200 OK",
                    &[
                        ("content-type", "application/json"),
                        ("x-origin", "yes"),
                        ("set-cookie", "a=1"),
                        ("set-cookie", "b=2"),
                    ],
                    echo.to_string().as_bytes(),
                );
            }
            "/bytes" => {
                let bytes: Vec<u8> = (0..=255).collect();
                respond(
                    stream,
                    "201 Made Here",
                    &[("content-type", "application/octet-stream")],
                    &bytes,
                );
            }
            "/empty" => respond(stream, "204 No Content", &[], b""),
            "/redirect" => {
                let status = param("status").unwrap_or_else(|| "302".to_owned());
                // `to` is last: the rest of the query, as is.
                let to = query
                    .split_once("to=")
                    .map_or("/echo", |(_, to)| to)
                    .to_owned();
                let to = to.replace("ORIGIN", &format!("http://{addr}"));
                respond(
                    stream,
                    &format!("{status} Moved"),
                    &[("location", &to)],
                    b"moved",
                );
            }
            "/loop" => respond(stream, "302 Found", &[("location", "/loop")], b""),
            "/hang" => {
                // Never answers: waits for the client to go away.
                let mut rest = Vec::new();
                let _ = reader.read_to_end(&mut rest);
                let _ = events.send(format!("closed {target}"));
                return;
            }
            "/slow" => {
                std::thread::sleep(Duration::from_millis(300));
                respond(stream, "200 OK", &[], b"slow");
            }
            "/gate" => {
                let _ = gate.lock().map(|g| g.recv_timeout(WAIT));
                respond(stream, "200 OK", &[], b"opened");
            }
            "/big" => {
                let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(0);
                respond(stream, "200 OK", &[], &vec![b'a'; n]);
            }
            "/chunked" => {
                let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(0);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
                let chunk = vec![b'b'; 65536];
                let mut left = n;
                while left > 0 {
                    let len = left.min(chunk.len());
                    let _ = stream.write_all(format!("{len:x}\r\n").as_bytes());
                    if stream.write_all(&chunk[..len]).is_err() {
                        let _ = events.send(format!("closed {target}"));
                        return;
                    }
                    let _ = stream.write_all(b"\r\n");
                    left -= len;
                }
                let _ = stream.write_all(b"0\r\n\r\n");
            }
            _ => respond(stream, "404 Not Found", &[], b"no such path"),
        }
    }
}

const CLIENT: &str = r#"
import { services } from "pyrosome";

// A fetch at the top level of a module is refused, as in Workers.
const early = fetch("http://127.0.0.1:1/").then(() => "resolved", (e) => `${e.name}: ${e.message}`);
export async function topLevel() { return await early; }

export async function get(base) {
  const res = await fetch(`${base}/echo?x=1&y=%C3%A9#frag`, {
    headers: { "X-Test": "yes", accept: "application/json" },
  });
  const echo = await res.json();
  return {
    status: res.status, ok: res.ok, statusText: res.statusText, type: res.type, url: res.url,
    redirected: res.redirected, contentType: res.headers.get("content-type"),
    cookies: res.headers.getSetCookie(), origin: res.headers.get("x-origin"),
    immutable: (() => { try { res.headers.set("x", "y"); return false; } catch (e) { return e instanceof TypeError; } })(),
    bodyUsed: res.bodyUsed,
    method: echo.method, target: echo.target,
    test: echo.headers.find(([n]) => n === "x-test")?.[1],
    accept: echo.headers.find(([n]) => n === "accept")?.[1],
    agent: echo.headers.find(([n]) => n === "user-agent")?.[1],
  };
}

export async function post(base) {
  const res = await fetch(new Request(`${base}/echo`, {
    method: "POST", body: JSON.stringify({ hello: "world" }),
    headers: { "content-type": "application/json" },
  }));
  const echo = await res.json();
  return {
    method: echo.method, body: JSON.parse(echo.body),
    type: echo.headers.find(([n]) => n === "content-type")?.[1],
    length: echo.headers.find(([n]) => n === "content-length")?.[1],
  };
}

export async function bodies(base) {
  const bytes = new Uint8Array(await (await fetch(`${base}/bytes`)).arrayBuffer());
  const res = await fetch(`${base}/bytes`);
  const copy = res.clone();
  const [a, b] = [await res.bytes(), await copy.blob()];
  const again = await res.text().then(() => "read twice", (e) => e.constructor.name);
  const empty = await fetch(`${base}/empty`);
  const head = await fetch(`${base}/echo`, { method: "HEAD" });
  const stream = await fetch(`${base}/echo`);
  const chunks = [];
  for await (const chunk of stream.body) chunks.push(chunk.length);
  return {
    length: bytes.length, last: bytes[255], status: res.status, statusText: res.statusText,
    cloned: a.length === 256 && b.size === 256 && b.type === "application/octet-stream", again,
    emptyBody: empty.body, emptyStatus: empty.status, headBody: head.body, headStatus: head.status,
    chunks: chunks.length, streamed: chunks[0] > 0,
  };
}

// The handler's own response is a fetched one, body and all.
export default {
  async fetch(request, env, ctx) {
    const base = request.headers.get("x-base");
    const url = new URL(request.url);
    if (url.pathname === "/proxy") return fetch(`${base}/echo?via=proxy`);
    if (url.pathname === "/proxy-chunked") return fetch(`${base}/chunked?n=70000`);
    if (url.pathname === "/later") {
      ctx.waitUntil((async () => {
        await (await fetch(`${base}/gate`)).text();
        await fetch(`${base}/mark`);
      })());
      return new Response("answered");
    }
    return new Response("no route", { status: 404 });
  },
};

export async function refused(base) {
  try {
    await fetch("http://127.0.0.1:1/x?token=secret");
    return "no error";
  } catch (e) {
    return { name: e.name, message: e.message, isTypeError: e instanceof TypeError };
  }
}

export async function validation(base) {
  const outcome = (p) => p.then(() => "resolved", (e) => `${e.name}: ${e.message}`);
  return {
    shape: [typeof fetch, fetch.length, Object.getOwnPropertyDescriptor(globalThis, "fetch").enumerable],
    none: await outcome(fetch()),
    badUrl: await outcome(fetch("http://")),
    getBody: await outcome(fetch(`${base}/echo`, { body: "x" })),
    scheme: await outcome(fetch("data:text/plain,hi")),
    badHeader: await outcome(fetch(`${base}/echo`, { headers: { "bad name": "x" } })),
  };
}

export async function redirects(base) {
  const followed = await fetch(`${base}/redirect?status=302&to=/echo?a=1`);
  const seeOther = await fetch(`${base}/redirect?status=303&to=/echo`, { method: "POST", body: "x" });
  const kept = await fetch(`${base}/redirect?status=307&to=/echo`, { method: "POST", body: "kept" });
  const absolute = await fetch(`${base}/redirect?status=301&to=ORIGIN/echo`);
  const manual = await fetch(`${base}/redirect?status=302&to=/echo`, { redirect: "manual" });
  const error = await fetch(`${base}/redirect?to=/echo`, { redirect: "error" }).then(
    () => "followed", (e) => `${e.name}: ${e.message}: ${e.cause?.message}`);
  const loop = await fetch(`${base}/loop`).then(() => "ended", (e) => `${e.message}: ${e.cause?.message}`);
  const elsewhere = await fetch(`${base}/redirect?status=302&to=http://127.0.0.1:1/stolen`).then(
    () => "followed", (e) => `${e.name}: ${e.message}`);
  const seeOtherEcho = await seeOther.json();
  const keptEcho = await kept.json();
  return {
    followed: [followed.status, followed.redirected, followed.url, (await followed.json()).target],
    seeOther: [seeOtherEcho.method, seeOtherEcho.body],
    kept: [keptEcho.method, keptEcho.body],
    absolute: [absolute.status, absolute.redirected],
    manual: [manual.status, manual.redirected, manual.headers.get("location"), await manual.text()],
    error, loop, elsewhere,
  };
}

export async function aborts(base) {
  const timedOut = await fetch(`${base}/hang?by=timeout`, { signal: AbortSignal.timeout(200) }).then(
    () => "answered", (e) => `${e.name}: ${e.message}`);
  // Aborted once the test saw the request arrive (and opened the gate).
  const controller = new AbortController();
  const pending = fetch(`${base}/hang?by=controller`, { signal: controller.signal });
  fetch(`${base}/gate`).then(() => controller.abort());
  const aborted = await pending.then(() => "answered", (e) => `${e.name} ${e instanceof DOMException}`);
  const already = await fetch(`${base}/echo`, { signal: AbortSignal.abort("why") }).then(
    () => "answered", (e) => e);
  // Aborted after the head: reading the body rejects with the reason.
  const late = new AbortController();
  const res = await fetch(`${base}/bytes`, { signal: late.signal });
  late.abort(new RangeError("too late"));
  const body = await res.text().then(() => "read", (e) => `${e.name}: ${e.message}`);
  return { timedOut, aborted, already, body };
}

export async function hang(base) {
  await fetch(`${base}/hang?by=deadline`);
  return "answered";
}

// Returns (without waiting for it) once the test saw the request arrive
// and opened the gate.
export async function fireAndForget(base) {
  fetch(`${base}/hang?by=end`).catch(() => {});
  await (await fetch(`${base}/gate`)).text();
  return "returned";
}

export async function big(arg) {
  const res = await fetch(`${arg.base}/${arg.path}?n=${arg.n}`);
  return await res.text().then((t) => t.length, (e) => ({ name: e.name, message: e.message, status: res.status }));
}

export async function unreachable(url) {
  try {
    await fetch(url);
    return "no error";
  } catch (e) {
    return {
      name: e.name, message: e.message, cause: e.cause?.message, code: e.cause?.code,
      stack: typeof e.stack === "string" && e.stack.includes("client.js"),
    };
  }
}

export async function many(base) {
  const all = await Promise.all(
    Array.from({ length: 50 }, (_, i) => fetch(`${base}/echo?i=${i}`).then((r) => r.json())));
  return all.every((echo, i) => echo.target === `/echo?i=${i}`);
}

export async function sequential(base) {
  for (let i = 0; i < 10; i++) await (await fetch(`${base}/echo?seq=${i}`)).text();
  return true;
}

export async function slow(base) {
  let text = "";
  for (let i = 0; i < 3; i++) text += await (await fetch(`${base}/slow`)).text();
  return text;
}
"#;

const NO_GRANT: &str = r#"
export async function tryFetch(url) {
  return await fetch(url).then(() => "allowed", (e) => e.message);
}
"#;

fn app(origin: &Origin) -> TempApp {
    let manifest = format!(
        r#"
name = "fetching"
[services.client]
module = "client.js"
routes = ["/"]
fetch = ["{base}", "https://*.example.com"]
[services.client.limits]
fetch_body_mb = 1
cpu_ms = 1000

[services.budget]
module = "client.js"
fetch = ["{base}"]
[services.budget.limits]
cpu_ms = 50

[services.nogrant]
module = "nogrant.js"

[services.deadline]
module = "client.js"
fetch = ["{base}"]
[services.deadline.limits]
timeout_ms = 1000
"#,
        base = origin.base()
    );
    TempApp::new(&[
        ("pyrosome.toml", manifest.as_str()),
        ("client.js", CLIENT),
        ("nogrant.js", NO_GRANT),
    ])
}

fn call(rt: &Runtime, service: &str, method: &str, arg: Value) -> Value {
    rt.call_blocking(service, method, arg)
        .unwrap_or_else(|e| panic!("{service}.{method}: {e}"))
}

fn get<'v>(value: &'v Value, key: &str) -> &'v Value {
    value
        .get(key)
        .unwrap_or_else(|| panic!("no {key:?} in {value:?}"))
}

fn s(v: &str) -> Value {
    Value::from(v)
}

#[test]
fn requests_and_responses_cross_as_sent() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(2);
    let base = origin.base();
    let r = call(&rt, "client", "get", s(&base));
    assert_eq!(get(&r, "status"), &Value::Number(200.0));
    assert_eq!(get(&r, "ok"), &Value::Bool(true));
    assert_eq!(get(&r, "statusText"), &s("OK"));
    assert_eq!(get(&r, "type"), &s("basic"));
    assert_eq!(get(&r, "url"), &s(&format!("{base}/echo?x=1&y=%C3%A9")));
    assert_eq!(get(&r, "redirected"), &Value::Bool(false));
    assert_eq!(get(&r, "contentType"), &s("application/json"));
    assert_eq!(get(&r, "origin"), &s("yes"));
    assert_eq!(get(&r, "cookies"), &Value::Array(vec![s("a=1"), s("b=2")]));
    assert_eq!(get(&r, "immutable"), &Value::Bool(true));
    assert_eq!(get(&r, "bodyUsed"), &Value::Bool(true));
    assert_eq!(get(&r, "method"), &s("GET"));
    assert_eq!(
        get(&r, "target"),
        &s("/echo?x=1&y=%C3%A9"),
        "no fragment sent"
    );
    assert_eq!(get(&r, "test"), &s("yes"));
    assert_eq!(get(&r, "accept"), &s("application/json"));
    assert!(
        get(&r, "agent")
            .as_str()
            .is_some_and(|a| a.starts_with("Pyrosome/")),
        "{r:?}"
    );

    let r = call(&rt, "client", "post", s(&base));
    assert_eq!(get(&r, "method"), &s("POST"));
    assert_eq!(get(&r, "body"), &common::json(r#"{"hello":"world"}"#));
    assert_eq!(get(&r, "type"), &s("application/json"));
    assert_eq!(get(&r, "length"), &s("17"));

    let r = call(&rt, "client", "bodies", s(&base));
    assert_eq!(get(&r, "length"), &Value::Number(256.0));
    assert_eq!(get(&r, "last"), &Value::Number(255.0));
    assert_eq!(get(&r, "status"), &Value::Number(201.0));
    assert_eq!(get(&r, "statusText"), &s("Made Here"));
    assert_eq!(get(&r, "cloned"), &Value::Bool(true));
    assert_eq!(get(&r, "again"), &s("TypeError"));
    assert_eq!(get(&r, "emptyBody"), &Value::Null);
    assert_eq!(get(&r, "emptyStatus"), &Value::Number(204.0));
    assert_eq!(get(&r, "headBody"), &Value::Null);
    assert_eq!(get(&r, "headStatus"), &Value::Number(200.0));
    assert_eq!(get(&r, "chunks"), &Value::Number(1.0));
    assert_eq!(get(&r, "streamed"), &Value::Bool(true));
    rt.shutdown();
}

#[test]
fn a_fetch_outside_the_grants_is_a_type_error_naming_service_and_grants() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(1);
    let base = origin.base();
    let r = call(&rt, "client", "refused", s(&base));
    assert_eq!(get(&r, "name"), &s("TypeError"));
    assert_eq!(get(&r, "isTypeError"), &Value::Bool(true));
    assert_eq!(
        get(&r, "message"),
        &s(&format!(
            "fetch to http://127.0.0.1:1/x is not allowed for service \"client\" (its grants: \
             \"{base}\", \"https://*.example.com\"; to allow it, add \"http://127.0.0.1:1\" to \
             fetch under [services.client] in pyrosome.toml)"
        ))
    );
    let r = call(&rt, "nogrant", "tryFetch", s(&format!("{base}/echo")));
    assert_eq!(
        r,
        s(&format!(
            "fetch to {base}/echo is not allowed for service \"nogrant\" (it has no fetch grants; \
             to allow it, add fetch = [\"{base}\"] under [services.nogrant] in pyrosome.toml)"
        ))
    );
    let r = call(&rt, "client", "topLevel", Value::Undefined);
    assert_eq!(
        r,
        s(
            "TypeError: fetch() cannot be called while modules are loading (call it from inside \
           a handler, not at the top level of a module)"
        )
    );
    assert!(
        !origin.drain().iter().any(|e| e != "connect"),
        "nothing reached the origin"
    );
    rt.shutdown();
}

#[test]
fn bad_requests_reject_before_anything_is_sent() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(1);
    let r = call(&rt, "client", "validation", s(&origin.base()));
    assert_eq!(
        get(&r, "shape"),
        &Value::Array(vec![s("function"), Value::Number(1.0), Value::Bool(true)])
    );
    assert_eq!(
        get(&r, "none"),
        &s("TypeError: fetch: 1 argument required, but only 0 present")
    );
    assert_eq!(
        get(&r, "badUrl"),
        &s("TypeError: Failed to parse URL from http://")
    );
    assert_eq!(
        get(&r, "getBody"),
        &s("TypeError: Request with GET/HEAD method cannot have body.")
    );
    assert_eq!(
        get(&r, "scheme"),
        &s(
            "TypeError: fetch: cannot fetch data:text/plain,hi: only http: and https: URLs are supported"
        )
    );
    assert!(
        get(&r, "badHeader")
            .as_str()
            .is_some_and(|m| m.starts_with("TypeError: ")),
        "{r:?}"
    );
    assert!(
        !origin.drain().iter().any(|e| e != "connect"),
        "nothing reached the origin"
    );
    rt.shutdown();
}

#[test]
fn redirects_follow_the_mode_and_stay_within_the_grants() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(2);
    let base = origin.base();
    let r = call(&rt, "client", "redirects", s(&base));
    assert_eq!(
        get(&r, "followed"),
        &Value::Array(vec![
            Value::Number(200.0),
            Value::Bool(true),
            s(&format!("{base}/echo?a=1")),
            s("/echo?a=1"),
        ])
    );
    assert_eq!(get(&r, "seeOther"), &Value::Array(vec![s("GET"), s("")]));
    assert_eq!(get(&r, "kept"), &Value::Array(vec![s("POST"), s("kept")]));
    assert_eq!(
        get(&r, "absolute"),
        &Value::Array(vec![Value::Number(200.0), Value::Bool(true)])
    );
    assert_eq!(
        get(&r, "manual"),
        &Value::Array(vec![
            Value::Number(302.0),
            Value::Bool(false),
            s("/echo"),
            s("moved"),
        ])
    );
    assert_eq!(
        get(&r, "error"),
        &s(&format!(
            "TypeError: fetch failed: unexpected redirect from {base}/redirect (the request's \
             redirect mode is \"error\")"
        ))
    );
    assert_eq!(
        get(&r, "loop"),
        &s(&format!(
            "fetch failed: redirect count exceeded (20) at {base}/loop"
        ))
    );
    assert_eq!(
        get(&r, "elsewhere"),
        &s(&format!(
            "TypeError: fetch to http://127.0.0.1:1/stolen (redirected from {base}/redirect) is \
             not allowed for service \"client\" (its grants: \"{base}\", \
             \"https://*.example.com\"; to allow it, add \"http://127.0.0.1:1\" to fetch under \
             [services.client] in pyrosome.toml)"
        ))
    );
    rt.shutdown();
}

#[test]
fn aborts_reject_with_the_signals_reason_and_close_the_request() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(2);
    let base = origin.base();
    let r = std::thread::scope(|scope| {
        let aborts = scope.spawn(|| call(&rt, "client", "aborts", s(&base)));
        origin.wait_for("GET /hang?by=controller");
        origin.gate.send(()).expect("gate");
        aborts.join().expect("aborts")
    });
    assert_eq!(
        get(&r, "timedOut"),
        &s("TimeoutError: The operation was aborted due to timeout")
    );
    assert_eq!(get(&r, "aborted"), &s("AbortError true"));
    assert_eq!(get(&r, "already"), &s("why"));
    assert_eq!(get(&r, "body"), &s("RangeError: too late"));
    // The request was dropped by the client.
    origin.wait_for("closed /hang?by=controller");
    rt.shutdown();
}

#[test]
fn the_invocation_deadline_aborts_a_hanging_fetch() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(1);
    let err = rt
        .call_blocking("deadline", "hang", s(&origin.base()))
        .expect_err("past its deadline");
    assert_eq!(err.name, "TimeoutError", "{err}");
    origin.wait_for("closed /hang?by=deadline");
    rt.shutdown();
}

#[test]
fn an_invocation_that_ends_cancels_its_fetches_unless_wait_until_holds_it() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(2);
    let base = origin.base();
    // Ended without waitUntil: the request is dropped long before its
    // deadline (30 s).
    std::thread::scope(|scope| {
        let call = scope.spawn(|| call(&rt, "client", "fireAndForget", s(&base)));
        origin.wait_for("GET /hang?by=end");
        origin.gate.send(()).expect("gate");
        assert_eq!(call.join().expect("call"), s("returned"));
    });
    origin.wait_for("closed /hang?by=end");

    // Held by waitUntil: its fetches go on after the response.
    let server = TestServer::start(rt, 1 << 20, false);
    let mut client = common::Client::connect(server.addr);
    let res = client.request("GET", "/later", &[("x-base", &base)], b"");
    assert_eq!((res.status, res.text().as_str()), (200, "answered"));
    origin.wait_for("GET /gate");
    origin.gate.send(()).expect("gate");
    origin.wait_for("GET /mark");
}

#[test]
fn a_handler_can_return_a_fetched_response() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(2);
    let base = origin.base();
    let server = TestServer::start(rt, 1 << 20, false);
    let mut client = common::Client::connect(server.addr);
    let res = client.request("GET", "/proxy", &[("x-base", &base)], b"");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header("x-origin"), Some("yes"));
    let echo: serde_json::Value = serde_json::from_slice(&res.body).expect("json body");
    assert_eq!(echo["target"], "/echo?via=proxy");
    // A chunked upstream body is sent on whole (its framing is the
    // gateway's own), and the connection stays usable.
    let res = client.request("GET", "/proxy-chunked", &[("x-base", &base)], b"");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("transfer-encoding"), None, "{:?}", res.headers);
    assert_eq!(res.body, vec![b'b'; 70000]);
    let res = client.request("GET", "/proxy", &[("x-base", &base)], b"");
    assert_eq!(res.status, 200);
}

#[test]
fn response_bodies_are_bounded() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(1);
    let base = origin.base();
    let arg = |path: &str, n: usize| {
        Value::object([
            ("base", s(&base)),
            ("path", s(path)),
            ("n", Value::Number(n as f64)),
        ])
    };
    assert_eq!(
        call(&rt, "client", "big", arg("big", 1 << 20)),
        Value::Number(f64::from(1 << 20)),
        "up to the limit is fine"
    );
    for path in ["big", "chunked"] {
        let r = call(&rt, "client", "big", arg(path, (1 << 20) + 1));
        assert_eq!(get(&r, "status"), &Value::Number(200.0), "{path}");
        assert_eq!(get(&r, "name"), &s("TypeError"), "{path}");
        assert_eq!(
            get(&r, "message"),
            &s(&format!(
                "the response body of {base}/{path} is larger than 1 MiB, the limit for service \
                 \"client\" (limits.fetch_body_mb in pyrosome.toml)"
            )),
            "{path}"
        );
    }
    rt.shutdown();
}

#[test]
fn a_refused_connection_is_fetch_failed_with_a_cause() {
    // A port nobody listens on: bound, then closed.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            &format!(
                "name = \"refused\"\n[services.client]\nmodule = \"client.js\"\nfetch = [\"http://{closed}\"]\n"
            ),
        ),
        ("client.js", CLIENT),
    ]);
    let rt = app.start(1);
    let r = call(
        &rt,
        "client",
        "unreachable",
        s(&format!("http://{closed}/x")),
    );
    assert_eq!(get(&r, "name"), &s("TypeError"));
    assert_eq!(get(&r, "message"), &s("fetch failed"));
    assert_eq!(
        get(&r, "cause"),
        &s(&format!("connect ECONNREFUSED {closed}"))
    );
    assert_eq!(get(&r, "code"), &s("ECONNREFUSED"));
    assert_eq!(
        get(&r, "stack"),
        &Value::Bool(true),
        "the stack shows the fetch call"
    );
    rt.shutdown();
}

#[test]
fn https_goes_through_tls_and_checks_the_certificate() {
    // A server that is not TLS: it reads the client's first bytes (a TLS
    // handshake record, 0x16) and answers with plain HTTP.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut first = [0u8; 1];
            let _ = stream.read_exact(&mut first);
            let _ = tx.send(first[0]);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            &format!(
                "name = \"tls\"\n[services.client]\nmodule = \"client.js\"\nfetch = [\"https://{addr}\"]\n"
            ),
        ),
        ("client.js", CLIENT),
    ]);
    let rt = app.start(1);
    let r = call(&rt, "client", "unreachable", s(&format!("https://{addr}/")));
    assert_eq!(get(&r, "message"), &s("fetch failed"), "{r:?}");
    assert!(
        get(&r, "cause")
            .as_str()
            .is_some_and(|c| c.starts_with(&format!("request to https://{addr}/ failed: "))),
        "{r:?}"
    );
    assert_eq!(
        rx.recv_timeout(WAIT).expect("the server saw the client"),
        0x16,
        "a TLS handshake record"
    );
    rt.shutdown();
}

#[test]
fn many_fetches_run_at_once_and_connections_are_reused() {
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(2);
    let base = origin.base();
    assert_eq!(call(&rt, "client", "many", s(&base)), Value::Bool(true));
    origin.drain();
    assert_eq!(
        call(&rt, "client", "sequential", s(&base)),
        Value::Bool(true)
    );
    let events = origin.drain();
    let requests = events
        .iter()
        .filter(|e| e.starts_with("GET /echo?seq="))
        .count();
    let connections = events.iter().filter(|e| *e == "connect").count();
    assert_eq!(requests, 10);
    assert!(
        connections < requests,
        "keep-alive: {connections} connections for {requests} requests"
    );
    rt.shutdown();
}

#[test]
fn waiting_for_a_response_does_not_use_the_cpu_budget() {
    // Three responses that take 300 ms each, for a service whose CPU
    // budget is 50 ms: only running JavaScript counts.
    let origin = Origin::start();
    let app = app(&origin);
    let rt = app.start(1);
    assert_eq!(
        call(&rt, "budget", "slow", s(&origin.base())),
        s("slowslowslow")
    );
    rt.shutdown();
}
