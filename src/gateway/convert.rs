//! Requests to values and values to responses: the two shapes the shared
//! JavaScript bootstrap's fetch adapter expects and produces (see
//! `engine/js/bootstrap.js`, `startFetch`). Both are flat arrays rather
//! than objects, and headers flat lists rather than pairs: every object,
//! array and property an interpreter need not make is time saved on
//! every request.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_LENGTH, HeaderName, HeaderValue, SET_COOKIE};
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
    let url = url::Url::parse(&format!("http://{host}{path}"))
        .map_err(|e| format!("invalid request URL (host {host:?}): {e}"))?;
    let mut headers = Vec::with_capacity(parts.headers.len() * 2);
    for (name, value) in &parts.headers {
        headers.push(Value::from(name.as_str()));
        headers.push(Value::String(isomorphic_decode(value.as_bytes())));
    }
    let mut items = Vec::with_capacity(4);
    items.push(Value::from(parts.method.as_str()));
    items.push(Value::String(String::from(url)));
    items.push(Value::Array(headers));
    if !body.is_empty() {
        items.push(Value::Bytes(body.to_vec()));
    }
    Ok(Value::Array(items))
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
/// (`web.response.toHost`): `[status, body, [name0, value0, ...]]`, the
/// status an integer in 200..=599, the body `null` (none), a string (sent
/// as UTF-8) or a `Uint8Array`, the headers a flat list of name and value
/// strings in the order they were appended. Nothing from JavaScript is
/// trusted: names must be tokens and values ByteStrings a header may hold.
///
/// The headers are sent as Fetch's "sort and combine" gives them (what
/// iterating the Response's `Headers` shows): sorted by name, the values
/// of a repeated name joined with ", " in order, except `set-cookie`,
/// which keeps one field per value. `content-length` is dropped (hyper
/// sets it from the body). `Err` says what was wrong.
pub(crate) fn response_from_value(value: &Value) -> Result<Response<Full<Bytes>>, String> {
    let Value::Array(items) = value else {
        return Err(format!(
            "the response value is {}, not [status, body, headers]",
            value.type_name()
        ));
    };
    let [status, body, headers] = items.as_slice() else {
        return Err(format!(
            "the response value has {} items, not 3 ([status, body, headers])",
            items.len()
        ));
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
        Value::Undefined | Value::Null => Bytes::new(),
        other => return Err(format!("the body is {}", other.type_name())),
    };
    let Value::Array(list) = headers else {
        return Err(format!(
            "the headers are {}, not a list [name0, value0, ...]",
            headers.type_name()
        ));
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    sort_and_combine(list, response.headers_mut())?;
    Ok(response)
}

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
        if name != CONTENT_LENGTH {
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
        assert_eq!(field_values(&r, "x-a"), [&b"1"[..]]);

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
            "sorted, combined, set-cookie apart, content-length dropped"
        );
    }
}
