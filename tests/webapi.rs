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

/// A response scenario: path, status, headers in order, body.
type Expected = (
    &'static str,
    u16,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// The fetch path through the real gateway: the Request a handler gets is
/// made lazily from the host's request value, and the Response it returns
/// is read without making its Headers; `webapi.js`'s `fetch` runs
/// scenarios where that could show. Every response scenario runs in a
/// synchronous handler (`?sync`, the Response returned as it is) and in an
/// async one, which must not differ.
#[test]
fn lazy_fetch_path_is_unobservable() {
    let app = common::TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"webapi-http\"\n[services.webapi]\nmodule = \"webapi.js\"\nroutes = [\"/\"]\n",
        ),
        (
            "webapi.js",
            &std::fs::read_to_string(common::repo_path("tests/apps/webapi/webapi.js"))
                .expect("webapi.js"),
        ),
    ]);
    let server = common::TestServer::start(app.start(1), 64 * 1024, true);
    let mut client = common::Client::connect(server.addr);

    // Requests: headers read after the body, repeated headers, clones.
    let many = [("x-test", "1"), ("x-many", "1"), ("x-many", "2")];
    let r = client.request("POST", "/headers-after-body", &many, b"body");
    assert_eq!((r.status, r.text().as_str()), (200, "body|1|1, 2"));
    let r = client.request(
        "GET",
        "/headers-list",
        &[
            ("X-Zed", "z"),
            ("x-test", "1"),
            ("x-many", "1"),
            ("x-many", "2"),
        ],
        b"",
    );
    assert_eq!(
        r.text(),
        r#"[["x-many","1, 2"],["x-test","1"],["x-zed","z"]]"#,
        "request headers: lower-case names, sorted, combined"
    );
    for path in ["/clone", "/clone-unread"] {
        let r = client.request("POST", path, &[("x-test", "1")], b"body");
        assert_eq!((r.status, r.text().as_str()), (200, "ok"), "{path}");
    }
    let r = client.request(
        "POST",
        "/form",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"a=x+y",
    );
    assert_eq!(
        r.text(),
        "x y",
        "formData() reads the content-type of lazy headers"
    );
    let r = client.request("GET", "/inspect", &[("x-test", "1")], b"");
    assert_eq!(r.text(), "true");

    // Responses: (path, status, [(header, value)], body); the Date and
    // request id headers aside, the headers are exactly these, in order.
    const TEXT: &str = "text/plain;charset=UTF-8";
    let expected: &[Expected] = &[
        (
            "/mutated",
            200,
            &[("content-type", TEXT), ("x-a", "1"), ("x-late", "2")],
            "m",
        ),
        (
            "/microtask",
            200,
            &[("content-type", TEXT), ("x-micro", "1, 2")],
            "m",
        ),
        (
            "/combined",
            200,
            &[
                ("content-type", TEXT),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("x-a", "2"),
                ("x-b", "1, 3"),
            ],
            "c",
        ),
        (
            "/from-body",
            202,
            &[("content-type", TEXT), ("x-a", "1")],
            "abc",
        ),
        (
            "/bytes",
            200,
            &[("content-type", "application/octet-stream")],
            "hi",
        ),
        (
            "/json",
            201,
            &[("content-type", "application/json")],
            r#"{"a":1}"#,
        ),
        ("/redirect", 301, &[("location", "http://a.test/b")], ""),
        ("/null-body", 204, &[("x-a", "1")], ""),
        (
            "/thenable",
            200,
            &[("content-type", TEXT)],
            "from a thenable",
        ),
        ("/async", 200, &[("content-type", TEXT)], "async"),
    ];
    for &(path, status, headers, body) in expected {
        for query in ["", "?sync"] {
            // A 204 has no length: its end is the end of the connection.
            let r = common::Client::connect(server.addr).request(
                "GET",
                &format!("{path}{query}"),
                &[("connection", "close")],
                b"",
            );
            let got: Vec<(&str, &str)> = r
                .headers
                .iter()
                .filter(|(n, _)| {
                    !matches!(
                        n.as_str(),
                        "date" | "x-request-id" | "content-length" | "connection"
                    )
                })
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            assert_eq!(
                (r.status, got.as_slice(), r.text().as_str()),
                (status, headers, body),
                "{path}{query}"
            );
        }
    }
    for query in ["", "?sync"] {
        let r = client.request("GET", &format!("/combined{query}"), &[], b"");
        assert_eq!(
            r.header("content-length"),
            Some("1"),
            "content-length is the body's"
        );
    }

    // Failures: (path, what the dev-mode 500 body says).
    let failures = [
        ("/microtask-read", "already read"),
        ("/error", "status 0 is not in 200..=599"),
        ("/not-a-response", "must return a Response, got object"),
        ("/throws", "RangeError: thrown synchronously"),
    ];
    for (path, why) in failures {
        for query in ["", "?sync"] {
            let r = client.request("GET", &format!("{path}{query}"), &[], b"");
            assert_eq!(r.status, 500, "{path}{query}");
            assert!(r.text().contains(why), "{path}{query}: {}", r.text());
        }
    }
}

/// A Response's statusText is the reason phrase of the HTTP/1 status line;
/// without one, the status code's canonical phrase is sent.
#[test]
fn status_text_is_the_reason_phrase() {
    use std::io::{BufRead, BufReader, Write};
    let app = common::TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"reason\"\n[services.web]\nmodule = \"web.js\"\nroutes = [\"/\"]\n",
        ),
        (
            "web.js",
            r#"export default {
  fetch(request) {
    switch (new URL(request.url).pathname) {
      case "/teapot": return new Response("tea", { status: 418, statusText: "I'm a teapot" });
      case "/latin1": return new Response(null, { status: 202, statusText: "Caf\u00e9 ok" });
      default: return new Response("plain", { status: 404 });
    }
  },
};
"#,
        ),
    ]);
    let server = common::TestServer::start(app.start(1), 64 * 1024, true);
    let status_line = |path: &str| -> Vec<u8> {
        let mut stream = std::net::TcpStream::connect(server.addr).expect("connect");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
        )
        .expect("send the request");
        let mut line = Vec::new();
        BufReader::new(stream)
            .read_until(b'\n', &mut line)
            .expect("read the status line");
        line
    };
    assert_eq!(status_line("/teapot"), b"HTTP/1.1 418 I'm a teapot\r\n");
    assert_eq!(
        status_line("/latin1"),
        b"HTTP/1.1 202 Caf\xe9 ok\r\n",
        "one byte per char, as a ByteString"
    );
    assert_eq!(status_line("/other"), b"HTTP/1.1 404 Not Found\r\n");
}
