//! Requests to values and values to responses: the two shapes the shared
//! JavaScript bootstrap's fetch adapter expects and produces (see
//! `engine/js/bootstrap.js`, `startFetch`). Both are flat arrays rather
//! than objects, and headers flat lists rather than pairs: every object,
//! array and property an interpreter need not make is time saved on
//! every request.

use bytes::Bytes;
use http_body_util::Full;
use hyper::ext::ReasonPhrase;
use hyper::header::{
    CONNECTION, CONTENT_LENGTH, HeaderName, HeaderValue, SET_COOKIE, TRANSFER_ENCODING,
};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};

use crate::value::Value;

/// `[method, url, [name0, value0, name1, value1, ...], body?]`: the URL
/// absolute and serialized per WHATWG, the header names lower-case and the
/// values isomorphic-decoded (one char per byte), in the order they
/// arrived, as Fetch wants them; `body` (a `Uint8Array`) only when the
/// request has one. The JavaScript side trusts this shape and does not
/// re-validate it. `Err` says why the request cannot be served (an invalid
/// Host).
pub(crate) fn request_value(parts: &Parts, body: Bytes) -> Result<Value, String> {
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = match already_serialized(host, path) {
        Some(url) => url,
        None => url::Url::parse(&format!("http://{host}{path}"))
            .map_err(|e| format!("invalid request URL (host {host:?}): {e}"))?
            .into(),
    };
    let mut headers = Vec::with_capacity(parts.headers.len() * 2);
    for (name, value) in &parts.headers {
        headers.push(Value::from(name.as_str()));
        headers.push(Value::String(isomorphic_decode(value.as_bytes())));
    }
    let mut items = Vec::with_capacity(4);
    items.push(Value::from(parts.method.as_str()));
    items.push(Value::String(url));
    items.push(Value::Array(headers));
    if !body.is_empty() {
        items.push(Value::Bytes(body.to_vec()));
    }
    Ok(Value::Array(items))
}

/// `http://{host}{path}` if that is already what the WHATWG URL parser
/// would serialize it to, so the parse (most of the cost of
/// [`request_value`]) can be skipped; `None` sends it to the parser. That
/// holds for a host that is a lower-case DNS name whose labels the parser
/// leaves alone (the last one starting with a letter, so it is no IPv4
/// address; none starting with `xn--`, which IDNA would check) or a
/// canonical IPv4 address, an optional port other than 80 without leading
/// zeros, and a path and query of characters the parser keeps as they are
/// (percent signs only before two hex digits, no `'` in the query) without
/// a segment that starts with a dot (or its encoding): which is what
/// clients send. The tests check it against the parser.
fn already_serialized(host: &str, path: &str) -> Option<String> {
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port {
        let digits =
            !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
        if !digits || port.starts_with('0') || port == "80" || port.parse::<u32>().ok()? > 65535 {
            return None;
        }
    }
    if !(is_plain_dns_name(name) || is_canonical_ipv4(name)) {
        return None;
    }
    let (path_part, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    if !path_part.starts_with('/') || !kept_as_is(path_part, false) {
        return None;
    }
    let dot_segment = path_part.split('/').any(|segment| {
        segment.starts_with('.')
            || segment
                .get(..3)
                .is_some_and(|s| s.eq_ignore_ascii_case("%2e"))
    });
    if dot_segment || query.is_some_and(|q| !kept_as_is(q, true)) {
        return None;
    }
    Some(format!("http://{host}{path}"))
}

/// Lower-case letters, digits and hyphens in non-empty dot-separated
/// labels, none starting with `xn--`, the last starting with a letter.
fn is_plain_dns_name(name: &str) -> bool {
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with("xn--")
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let last = name.rsplit('.').next().unwrap_or("");
    labels_ok && last.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
}

/// Four decimal numbers up to 255, without leading zeros.
fn is_canonical_ipv4(name: &str) -> bool {
    let mut count = 0;
    let all = name.split('.').all(|part| {
        count += 1;
        !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && (part == "0" || !part.starts_with('0'))
            && part.parse::<u16>().is_ok_and(|n| n <= 255)
    });
    all && count == 4
}

/// Whether the URL parser keeps `s` (a path, or a query) as it is: ASCII
/// letters and digits, `-._~!$&()*+,;=:@/`, `%` before two hex digits, `'`
/// in a path and `?` in a query.
fn kept_as_is(s: &str, query: bool) -> bool {
    let bytes = s.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => true,
        b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'(' | b')' | b'*' | b'+' | b','
        | b';' | b'=' | b':' | b'@' | b'/' => true,
        b'\'' => !query,
        b'?' => query,
        b'%' => bytes
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
        _ => false,
    })
}

/// A ByteString from bytes: one char per byte.
fn isomorphic_decode(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => s.to_owned(),
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Bytes of a ByteString (chars up to U+00FF), or `None`.
fn isomorphic_encode(s: &str) -> Option<Vec<u8>> {
    if s.is_ascii() {
        return Some(s.as_bytes().to_vec());
    }
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// Builds the HTTP response from the response value of the fetch adapter
/// (`web.response.toHost`): `[status, body, [name0, value0, ...],
/// statusText?]`, the status an integer in 200..=599, the statusText (only
/// when not empty) a ByteString sent as the HTTP/1 reason phrase (hyper
/// sends the canonical one otherwise), the body `null` (none), a string (sent
/// as UTF-8) or a `Uint8Array`, the headers a flat list of name and value
/// strings in the order they were appended. Nothing from JavaScript is
/// trusted: names must be tokens and values ByteStrings a header may hold.
///
/// The headers are sent as Fetch's "sort and combine" gives them (what
/// iterating the Response's `Headers` shows): sorted by name, the values
/// of a repeated name joined with ", " in order, except `set-cookie`,
/// which keeps one field per value. The framing headers are dropped:
/// hyper frames the body itself (`content-length` from the body), and a
/// `transfer-encoding`, `connection` or `keep-alive` of a response that
/// came from `fetch()` describes that other connection, not this one.
/// `Err` says what was wrong.
pub(crate) fn response_from_value(value: &Value) -> Result<Response<Full<Bytes>>, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "the response value is {}, not [status, body, headers]",
            value.type_name()
        ));
    };
    let (status, body, headers, reason) = match items.as_slice() {
        [status, body, headers] => (status, body, headers, None),
        [status, body, headers, reason] => (status, body, headers, Some(reason)),
        _ => {
            return Err(format!(
                "the response value has {} items, not 3 or 4 ([status, body, headers, statusText?])",
                items.len()
            ));
        }
    };
    let status = status
        .as_f64()
        .ok_or_else(|| format!("the status is {}, not a number", status.type_name()))?;
    let status = Some(status)
        .filter(|s| s.fract() == 0.0 && (200.0..=599.0).contains(s))
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .ok_or_else(|| format!("status {status} is not in 200..=599"))?;
    let body = match body {
        Value::Bytes(b) => Bytes::from(b.clone()),
        Value::String(s) => Bytes::from(s.clone()),
        // Lone surrogates become U+FFFD, as `TextEncoder` encodes them.
        Value::Wtf16(w) => Bytes::from(w.to_string_lossy()),
        Value::Undefined | Value::Null => Bytes::new(),
        other => return Err(format!("the body is {}", other.type_name())),
    };
    let Value::Array(list) = headers else {
        return Err(format!(
            "the headers are {}, not a list [name0, value0, ...]",
            headers.type_name()
        ));
    };
    let reason = match reason {
        None => None,
        Some(Value::String(text)) => Some(
            isomorphic_encode(text)
                .and_then(|bytes| ReasonPhrase::try_from(bytes).ok())
                .ok_or_else(|| format!("invalid statusText {text:?}"))?,
        ),
        Some(other) => return Err(format!("the statusText is {}", other.type_name())),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Some(reason) = reason {
        // Sent on an HTTP/1 status line; HTTP/2 has no reason phrase.
        response.extensions_mut().insert(reason);
    }
    sort_and_combine(list, response.headers_mut())?;
    Ok(response)
}

/// Response headers about the connection and the body's framing, which the
/// gateway sets itself (see [`response_from_value`]).
const FRAMING: [HeaderName; 4] = [
    CONTENT_LENGTH,
    TRANSFER_ENCODING,
    CONNECTION,
    HeaderName::from_static("keep-alive"),
];

/// Validates the header list `[name0, value0, ...]` and appends it to
/// `out`, sorted and combined (see [`response_from_value`]).
fn sort_and_combine(list: &[Value], out: &mut hyper::HeaderMap) -> Result<(), String> {
    if !list.len().is_multiple_of(2) {
        return Err(format!(
            "the header list has {} items: not name and value pairs",
            list.len()
        ));
    }
    let mut fields: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(list.len() / 2);
    for pair in list.chunks_exact(2) {
        let (Value::String(name), Value::String(val)) = (&pair[0], &pair[1]) else {
            return Err(format!(
                "a header name and value must be strings, got {} and {}",
                pair[0].type_name(),
                pair[1].type_name()
            ));
        };
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let val = isomorphic_encode(val)
            .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
            .ok_or_else(|| format!("invalid value for header {name}: {val:?}"))?;
        if !FRAMING.contains(&name) {
            fields.push((name, val));
        }
    }
    // Stable: the values of one name stay in append order.
    fields.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut fields = fields.into_iter().peekable();
    while let Some((name, first)) = fields.next() {
        let same = |next: &(HeaderName, HeaderValue)| next.0 == name && name != SET_COOKIE;
        if !fields.peek().is_some_and(same) {
            out.append(name, first);
            continue;
        }
        let mut joined = first.as_bytes().to_vec();
        while let Some((_, v)) = fields.next_if(same) {
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(v.as_bytes());
        }
        let joined = HeaderValue::from_bytes(&joined)
            .map_err(|_| format!("invalid combined value for header {name}"))?;
        out.append(name, joined);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| Value::from(*s)).collect())
    }

    fn response(status: f64, body: Value, headers: &[&str]) -> Value {
        Value::Array(vec![Value::Number(status), body, strings(headers)])
    }

    fn field_values<'a>(r: &'a Response<Full<Bytes>>, name: &str) -> Vec<&'a [u8]> {
        r.headers()
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    }

    #[test]
    fn request_becomes_a_value_with_absolute_url() {
        let req = hyper::Request::builder()
            .method("POST")
            .uri("/a/b?x=1")
            .header("host", "example.test:8080")
            .header("x-many", "1")
            .header("x-many", "2")
            .body(())
            .expect("valid request");
        let (parts, ()) = req.into_parts();
        let v = request_value(&parts, Bytes::from_static(b"hi")).expect("valid");
        let Value::Array(items) = v else {
            panic!("not an array: {v:?}")
        };
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], Value::from("POST"));
        assert_eq!(items[1], Value::from("http://example.test:8080/a/b?x=1"));
        assert_eq!(
            items[2],
            strings(&["host", "example.test:8080", "x-many", "1", "x-many", "2"]),
            "repeated headers are kept apart, in order"
        );
        assert_eq!(items[3], Value::Bytes(b"hi".to_vec()));

        let req = hyper::Request::builder()
            .uri("/")
            .header("host", "a")
            .body(())
            .expect("valid request");
        let (parts, ()) = req.into_parts();
        let v = request_value(&parts, Bytes::new()).expect("valid");
        assert_eq!(
            v,
            Value::Array(vec![
                "GET".into(),
                "http://a/".into(),
                strings(&["host", "a"])
            ]),
            "no body item without a body"
        );

        let req = hyper::Request::builder()
            .uri("/x")
            .header("host", "bad host")
            .body(())
            .expect("valid request");
        let (parts, ()) = req.into_parts();
        assert!(request_value(&parts, Bytes::new()).is_err());
    }

    #[test]
    fn urls_skip_the_parser_only_when_it_would_change_nothing() {
        let parsed = |host: &str, path: &str| {
            url::Url::parse(&format!("http://{host}{path}"))
                .ok()
                .map(String::from)
        };
        // The usual requests take the fast path.
        for (host, path) in [
            ("127.0.0.1:8099", "/"),
            ("localhost:8080", "/api/users/42?fields=name,email&x=%20y"),
            ("example.com", "/a/b.json"),
            ("api.example-1.com:443", "/v1/items?page=2&sort=-date"),
            ("0.0.0.0", "/x;y=1/@z:w"),
        ] {
            let fast = already_serialized(host, path);
            assert!(fast.is_some(), "{host}{path} should skip the parser");
            assert_eq!(fast, parsed(host, path), "{host}{path}");
        }
        // Whatever takes the fast path serializes as the parser would.
        let hosts = [
            "a",
            "A",
            "a.b",
            "a.b.",
            "a..b",
            "-a-.b-",
            "ab--c.d",
            "xn--a.com",
            "a.xn--b",
            "XN--a.b",
            "a.0x1",
            "a.1",
            "a.b1",
            "1a.b",
            "127.0.0.1",
            "127.0.0.01",
            "127.1",
            "1.2.3.256",
            "1.2.3.4.5",
            "0x7f.0.0.1",
            "256.1.1.1",
            "a:80",
            "a:8080",
            "a:080",
            "a:",
            "a:65535",
            "a:65536",
            "a:99999",
            "a:0",
            "a:1x",
            "a_b.c",
            "a%41.com",
            "[::1]:8080",
            "ä.com",
            "a.b:8080",
            "1.2.3.4:81",
        ];
        let paths = [
            "/",
            "/a",
            "/a/./b",
            "/a/../b",
            "/.",
            "/..",
            "/.a",
            "/a/.well-known",
            "/%2e",
            "/%2E%2E/x",
            "/%2ex",
            "/a%2fb",
            "/%zz",
            "/%4",
            "/%41",
            "/a b",
            "/a\\b",
            "/a|b",
            "/a^b",
            "/a`b",
            "/a{b}",
            "/a[b]",
            "/a\"b",
            "/a'b",
            "/a?b'c",
            "/a?b?c",
            "/a?b c",
            "/a?%zz",
            "/a?/x/../y",
            "//a",
            "/~u/!$&()*+,;=:@",
            "/é",
            "*",
            "a",
            "/a#b",
            "/a?b#c",
            "/?",
            "/a?",
            "/a?=&",
        ];
        for host in hosts {
            for path in paths {
                if let Some(fast) = already_serialized(host, path) {
                    assert_eq!(
                        Some(fast),
                        parsed(host, path),
                        "host {host:?} path {path:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn urls_skip_the_parser_only_when_it_would_change_nothing_random() {
        // Random hosts and paths from characters that matter to the parser.
        let host_chars = b"ab0129.-:x8nA";
        let path_chars = b"/a.%2eE?'b=&0fz;@~";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut fast = 0;
        for _ in 0..20_000 {
            let host: String = (0..1 + next(12))
                .map(|_| char::from(host_chars[next(host_chars.len())]))
                .collect();
            let path: String = std::iter::once('/')
                .chain((0..next(12)).map(|_| char::from(path_chars[next(path_chars.len())])))
                .collect();
            if let Some(url) = already_serialized(&host, &path) {
                fast += 1;
                let parsed = url::Url::parse(&format!("http://{host}{path}")).map(String::from);
                assert_eq!(Ok(url), parsed, "host {host:?} path {path:?}");
            }
        }
        assert!(fast > 500, "only {fast} random URLs took the fast path");
    }

    #[test]
    fn header_values_are_byte_strings_both_ways() {
        let req = hyper::Request::builder()
            .uri("/")
            .header("x-latin", &b"caf\xe9"[..])
            .body(())
            .expect("valid request");
        let (parts, ()) = req.into_parts();
        let v = request_value(&parts, Bytes::new()).expect("valid");
        let Value::Array(items) = v else {
            panic!("not an array")
        };
        assert_eq!(items[2], strings(&["x-latin", "caf\u{e9}"]));
        let Value::Array(list) = &items[2] else {
            panic!("headers not a list")
        };
        let out = Value::Array(vec![
            Value::Number(200.0),
            Value::Null,
            Value::Array(list.clone()),
        ]);
        let r = response_from_value(&out).expect("valid");
        assert_eq!(field_values(&r, "x-latin"), [&b"caf\xe9"[..]]);
        let wide = response(200.0, Value::Null, &["x", "\u{263a}"]);
        let err = response_from_value(&wide).expect_err("chars above U+00FF are not bytes");
        assert!(err.contains("header x"), "{err}");
    }

    #[test]
    fn response_value_is_validated() {
        let ok = Value::Array(vec![
            Value::Number(201.0),
            Value::Bytes(b"done".to_vec()),
            strings(&["x-a", "1"]),
        ]);
        let r = response_from_value(&ok).expect("valid");
        assert_eq!(r.status(), StatusCode::CREATED);
        assert!(r.extensions().get::<ReasonPhrase>().is_none());
        assert_eq!(field_values(&r, "x-a"), [&b"1"[..]]);
        let teapot = Value::Array(vec![
            Value::Number(418.0),
            Value::Null,
            strings(&[]),
            Value::from("I'm a teapot \u{e9}"),
        ]);
        let r = response_from_value(&teapot).expect("valid");
        assert_eq!(
            r.extensions()
                .get::<ReasonPhrase>()
                .map(ReasonPhrase::as_bytes),
            Some(&b"I'm a teapot \xe9"[..]),
            "the statusText is the reason phrase, one byte per char"
        );

        let text = response(200.0, Value::from("héllo"), &[]);
        let r = response_from_value(&text).expect("valid");
        assert!(r.headers().is_empty());

        let bad = [
            (response(99.0, Value::Null, &[]), "status 99"),
            (response(600.0, Value::Null, &[]), "status 600"),
            (response(200.5, Value::Null, &[]), "status 200.5"),
            (response(f64::NAN, Value::Null, &[]), "status NaN"),
            (
                Value::Array(vec![Value::from("200"), Value::Null, strings(&[])]),
                "not a number",
            ),
            (response(200.0, Value::Number(1.0), &[]), "the body is"),
            (
                response(200.0, Value::Null, &["bad name", "1"]),
                "header name",
            ),
            (
                response(200.0, Value::Null, &["x", "a\nb"]),
                "value for header x",
            ),
            (response(200.0, Value::Null, &["x"]), "1 items"),
            (
                Value::Array(vec![
                    Value::Number(200.0),
                    Value::Null,
                    Value::Array(vec!["x".into(), Value::Number(1.0)]),
                ]),
                "must be strings",
            ),
            (
                Value::Array(vec![Value::Number(200.0), Value::Null, Value::Null]),
                "the headers are",
            ),
            (Value::Array(vec![Value::Number(200.0)]), "1 items"),
            (
                Value::object([("status", Value::Number(200.0))]),
                "not [status, body, headers]",
            ),
            (
                Value::Array(vec![
                    Value::Number(200.0),
                    Value::Null,
                    strings(&[]),
                    Value::from("a\nb"),
                ]),
                "invalid statusText",
            ),
            (
                Value::Array(vec![
                    Value::Number(200.0),
                    Value::Null,
                    strings(&[]),
                    Value::Number(1.0),
                ]),
                "the statusText is",
            ),
        ];
        for (value, why) in bad {
            let err = response_from_value(&value).expect_err(why);
            assert!(err.contains(why), "{why:?} not in {err:?}");
        }
    }

    #[test]
    fn headers_are_sorted_and_combined_except_set_cookie() {
        let v = response(
            200.0,
            Value::from("x"),
            &[
                "x-b",
                "1",
                "set-cookie",
                "a=1",
                "x-a",
                "z",
                "content-length",
                "999",
                "transfer-encoding",
                "chunked",
                "connection",
                "keep-alive",
                "keep-alive",
                "timeout=5",
                "x-b",
                "2",
                "set-cookie",
                "b=2",
                "Content-Type",
                "text/plain",
            ],
        );
        let r = response_from_value(&v).expect("valid");
        let order: Vec<(&str, &[u8])> = r
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(
            order,
            [
                ("content-type", &b"text/plain"[..]),
                ("set-cookie", b"a=1"),
                ("set-cookie", b"b=2"),
                ("x-a", b"z"),
                ("x-b", b"1, 2"),
            ],
            "sorted, combined, set-cookie apart, framing headers dropped"
        );
    }
}
