//! The gateway end to end: a real server on an ephemeral port, spoken to
//! over real TCP.

mod common;

use common::{Client, TempApp, TestServer, get};

fn app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            r#"
name = "web"
[http]
max_body_kb = 1
[services.front]
module = "front.js"
routes = ["/api/", "/boom"]
[services.back]
module = "back.js"
"#,
        ),
        (
            "front.js",
            r#"
import { services } from "pyrosome";
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/api/hello") {
      const r = await services.back.greet({ name: url.searchParams.get("name") });
      return Response.json(r, { headers: { "x-served-by": "front" } });
    }
    if (url.pathname === "/api/echo") {
      const body = await request.text();
      return new Response(`${request.method} ${body.length} ${request.headers.get("x-test")}`, { status: 201 });
    }
    if (url.pathname === "/api/form") {
      const form = await request.formData();
      return Response.json({ a: form.get("a"), all: form.getAll("b") });
    }
    if (url.pathname === "/api/cookies") {
      const h = new Headers();
      h.append("set-cookie", "a=1");
      h.append("set-cookie", "b=2");
      return new Response("", { headers: h });
    }
    if (url.pathname === "/api/bad-response") return "not a response";
    if (url.pathname === "/boom") throw new Error("kaboom in handler");
    return new Response("nothing here", { status: 404 });
  },
};
"#,
        ),
        (
            "back.js",
            "export function greet({ name }) { return { hello: name ?? 'anonymous' }; }\n",
        ),
    ])
}

#[test]
fn routes_reach_fetch_handlers_that_call_other_services() {
    let app = app();
    let server = TestServer::start(app.start(2), 1024, false);
    let r = get(server.addr, "/api/hello?name=Ada");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"hello":"Ada"}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-served-by"), Some("front"));
    assert!(r.header("x-request-id").is_some());

    let r = get(server.addr, "/healthz");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));

    let r = get(server.addr, "/not/routed");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("no route for /not/routed"));

    let r = get(server.addr, "/api/cookies");
    let cookies: Vec<&str> = r
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["a=1", "b=2"], "set-cookie headers stay separate");
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let app = app();
    let server = TestServer::start(app.start(2), 1024, false);
    let mut client = Client::connect(server.addr);
    for i in 0..20 {
        let r = client.request("POST", "/api/echo", &[("x-test", &i.to_string())], b"abc");
        assert_eq!(r.status, 201);
        assert_eq!(r.text(), format!("POST 3 {i}"));
    }
    let r = client.request(
        "POST",
        "/api/form",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"a=x+y&b=1&b=%C3%A9",
    );
    assert_eq!(r.text(), r#"{"a":"x y","all":["1","é"]}"#);
}

#[test]
fn malformed_and_oversized_requests_get_4xx() {
    let app = app();
    let server = TestServer::start(app.start(1), 1024, false);

    let mut c = Client::connect(server.addr);
    c.send_raw(b"THIS IS NOT HTTP\r\n\r\n");
    assert_eq!(c.read_response().status, 400);

    let mut c = Client::connect(server.addr);
    c.send_raw(b"GET / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n");
    assert_eq!(c.read_response().status, 400);

    let big = vec![b'x'; 4096];
    let r = Client::connect(server.addr).request("POST", "/api/echo", &[], &big);
    assert_eq!(r.status, 413);

    // Chunked bodies are limited too, without a content-length.
    let mut c = Client::connect(server.addr);
    let mut req =
        b"POST /api/echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        req.extend_from_slice(b"400\r\n");
        req.extend_from_slice(&[b'y'; 0x400]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    c.send_raw(&req);
    assert_eq!(c.read_response().status, 413);

    // The server is still fine.
    assert_eq!(get(server.addr, "/api/hello").status, 200);
}

#[test]
fn a_throwing_handler_gives_500_with_a_request_id_and_stack_only_in_dev() {
    let app = app();
    let server = TestServer::start(app.start(1), 1024, false);
    let r = get(server.addr, "/boom");
    assert_eq!(r.status, 500);
    let id = r.header("x-request-id").expect("request id").to_owned();
    assert!(
        r.text().contains(&id),
        "the body names the request id: {}",
        r.text()
    );
    assert!(!r.text().contains("kaboom"), "no details outside dev mode");

    let r = get(server.addr, "/api/bad-response");
    assert_eq!(r.status, 500);

    let dev = TestServer::start(app.start(1), 1024, true);
    let r = get(dev.addr, "/boom");
    assert_eq!(r.status, 500);
    assert!(r.text().contains("kaboom in handler"), "{}", r.text());
    assert!(
        r.text().contains("front.js"),
        "the stack is in the body: {}",
        r.text()
    );
    let r = get(dev.addr, "/api/bad-response");
    assert!(r.text().contains("must return a Response"), "{}", r.text());
}

#[test]
fn a_routed_service_without_fetch_handler_is_a_startup_error() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"x\"\n[services.a]\nmodule = \"a.js\"\nroutes = [\"/\"]\n",
        ),
        ("a.js", "export function f() {}\n"),
    ]);
    let err = pyrosome::Runtime::start(app.load(), pyrosome::RuntimeOptions::default())
        .err()
        .expect("must not start");
    assert!(err.to_string().contains("no fetch handler"), "{err}");
}
