//! Requests to values and values to responses: the two shapes the shared
//! JavaScript bootstrap expects and produces (see `engine/js/bootstrap.js`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};

use crate::value::Value;

/// `{method, url, headers: [[name, value], ...], body?: Uint8Array}`, with
/// the URL absolute and serialized per WHATWG, header names lower-case and
/// values isomorphic-decoded (one char per byte), as Fetch wants them; the
/// JavaScript side trusts this shape and does not re-validate it. `Err`
/// says why the request cannot be served (an invalid Host).
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
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            Value::Array(vec![
                Value::from(name.as_str()),
                Value::String(value.as_bytes().iter().map(|&b| char::from(b)).collect()),
            ])
        })
        .collect();
    let url = String::from(url);
    let mut pairs = vec![
        ("method".to_owned(), Value::from(parts.method.as_str())),
        ("url".to_owned(), Value::String(url)),
        ("headers".to_owned(), Value::Array(headers)),
    ];
    if !body.is_empty() {
        pairs.push(("body".to_owned(), Value::Bytes(body.to_vec())));
    }
    Ok(Value::Object(pairs))
}

/// Bytes of a ByteString (chars up to U+00FF), or `None`.
fn isomorphic_encode(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// Builds the HTTP response from the bootstrap's response value; `Err` says
/// what was wrong with it.
pub(crate) fn response_from_value(value: &Value) -> Result<Response<Full<Bytes>>, String> {
    let status = value
        .get("status")
        .and_then(Value::as_f64)
        .ok_or("no numeric status")?;
    let status = StatusCode::from_u16(status as u16)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()) && status.fract() == 0.0)
        .ok_or_else(|| format!("status {status} is not in 200..=599"))?;
    let body = match value.get("body") {
        Some(Value::Bytes(b)) => Bytes::from(b.clone()),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        None | Some(Value::Undefined) | Some(Value::Null) => Bytes::new(),
        Some(other) => return Err(format!("body is a {}", other.type_name())),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Some(Value::Array(headers)) = value.get("headers") {
        for pair in headers {
            let (Some(name), Some(val)) = (
                pair_item(pair, 0).and_then(Value::as_str),
                pair_item(pair, 1).and_then(Value::as_str),
            ) else {
                return Err("headers must be [name, value] string pairs".to_owned());
            };
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            let val = isomorphic_encode(val)
                .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
                .ok_or_else(|| format!("invalid value for header {name}"))?;
            if name == hyper::header::CONTENT_LENGTH {
                continue; // hyper computes it from the body
            }
            response.headers_mut().append(name, val);
        }
    }
    Ok(response)
}

fn pair_item(pair: &Value, i: usize) -> Option<&Value> {
    match pair {
        Value::Array(items) => items.get(i),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(v.get("method"), Some(&Value::from("POST")));
        assert_eq!(
            v.get("url"),
            Some(&Value::from("http://example.test:8080/a/b?x=1"))
        );
        assert_eq!(v.get("body"), Some(&Value::Bytes(b"hi".to_vec())));
        let Some(Value::Array(h)) = v.get("headers") else {
            panic!("headers missing")
        };
        assert_eq!(h.len(), 3, "repeated headers are kept apart");

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
        let Some(Value::Array(h)) = v.get("headers") else {
            panic!("headers missing")
        };
        assert_eq!(
            h[0],
            Value::Array(vec!["x-latin".into(), "caf\u{e9}".into()])
        );
        let out = Value::object([
            ("status", Value::Number(200.0)),
            ("headers", Value::Array(vec![h[0].clone()])),
        ]);
        let r = response_from_value(&out).expect("valid");
        assert_eq!(
            r.headers().get("x-latin").map(|v| v.as_bytes()),
            Some(&b"caf\xe9"[..])
        );
        let wide = Value::object([
            ("status", Value::Number(200.0)),
            (
                "headers",
                Value::Array(vec![Value::Array(vec!["x".into(), "\u{263a}".into()])]),
            ),
        ]);
        assert!(
            response_from_value(&wide).is_err(),
            "chars above U+00FF are not bytes"
        );
    }

    #[test]
    fn response_value_is_validated() {
        let ok = Value::object([
            ("status", Value::Number(201.0)),
            (
                "headers",
                Value::Array(vec![Value::Array(vec!["x-a".into(), "1".into()])]),
            ),
            ("body", Value::Bytes(b"done".to_vec())),
        ]);
        let r = response_from_value(&ok).expect("valid");
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(
            r.headers().get("x-a").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );

        let bad_status = Value::object([("status", Value::Number(99.0))]);
        assert!(response_from_value(&bad_status).is_err());
        let bad_header = Value::object([
            ("status", Value::Number(200.0)),
            (
                "headers",
                Value::Array(vec![Value::Array(vec!["bad name".into(), "1".into()])]),
            ),
        ]);
        assert!(response_from_value(&bad_header).is_err());
    }
}
