//! The HTTP work of one `fetch()`: the request on the wire, redirects as
//! the Fetch standard follows them (each target checked against the
//! service's grants), the response head as JavaScript receives it, the body
//! read under its limit, and errors in the shapes JavaScript expects
//! (`TypeError: fetch failed` with a `cause`, as in Node and Deno).

use std::error::Error as _;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use url::Url;

use super::grant::{Policy, shown};
use crate::engine::{FetchRequest, JsError, Redirect};
use crate::value::Value;

/// Most redirects followed for one fetch (the Fetch standard's limit).
pub(crate) const MAX_REDIRECTS: usize = 20;

/// The HTTP client every fetch of a runtime shares (its connection pool).
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A response head received: what JavaScript gets, and the body still to
/// read.
pub(crate) struct Head {
    /// `[status, statusText, [name0, value0, ...], url, redirected, body]`
    /// (see `engine::Effect::Fetch`).
    pub(crate) value: Value,
    /// The body to read later, unless it is known to be empty or absent.
    pub(crate) body: Option<Incoming>,
    /// The final URL (after redirects), for error messages.
    pub(crate) url: Url,
}

/// `TypeError: fetch failed` with `cause`: how a network error surfaces.
pub(crate) fn fetch_failed(cause: JsError) -> JsError {
    JsError::new("TypeError", "fetch failed").with_cause(cause)
}

/// The error of a fetch whose invocation's deadline passed first.
pub(crate) fn deadline_passed(url: &Url, what: &str) -> JsError {
    fetch_failed(JsError::new(
        "TimeoutError",
        format!(
            "{what} {} was aborted: the invocation's deadline (timeout_ms) passed",
            shown(url)
        ),
    ))
}

/// Sends `request` (the URL already checked against `policy`) and follows
/// redirects as its mode says, until a response that is not followed.
pub(crate) async fn send(
    client: &HttpClient,
    policy: &Policy,
    request: FetchRequest,
    mut url: Url,
    deadline: Instant,
) -> Result<Head, JsError> {
    let FetchRequest {
        method,
        headers: header_list,
        body,
        redirect,
        ..
    } = request;
    let mut method = Method::from_bytes(method.as_bytes())
        .map_err(|_| JsError::new("TypeError", format!("fetch: invalid method {method:?}")))?;
    let mut headers = HeaderMap::with_capacity(header_list.len());
    for (name, value) in header_list {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            JsError::new("TypeError", format!("fetch: invalid header name {name:?}"))
        })?;
        let value = HeaderValue::from_bytes(&byte_string(&value)).map_err(|_| {
            JsError::new(
                "TypeError",
                format!("fetch: invalid value of header {name}"),
            )
        })?;
        headers.append(name, value);
    }
    if !headers.contains_key(hyper::header::ACCEPT) {
        headers.insert(hyper::header::ACCEPT, HeaderValue::from_static("*/*"));
    }
    if !headers.contains_key(hyper::header::USER_AGENT) {
        headers.insert(
            hyper::header::USER_AGENT,
            HeaderValue::from_static(USER_AGENT),
        );
    }
    let mut body = body.map(Bytes::from);
    let mut redirects = 0;
    loop {
        let response = exchange(client, &method, &url, &headers, body.clone(), deadline).await?;
        let status = response.status();
        let location = match status.as_u16() {
            301 | 302 | 303 | 307 | 308 => response.headers().get(hyper::header::LOCATION),
            _ => None,
        };
        let Some(location) = location else {
            return Ok(head(response, &method, url, redirects > 0));
        };
        match redirect {
            Redirect::Manual => return Ok(head(response, &method, url, redirects > 0)),
            Redirect::Error => {
                return Err(fetch_failed(JsError::new(
                    "Error",
                    format!(
                        "unexpected redirect from {} (the request's redirect mode is \"error\")",
                        shown(&url)
                    ),
                )));
            }
            Redirect::Follow => {}
        }
        // "HTTP-redirect fetch".
        let next = std::str::from_utf8(location.as_bytes())
            .ok()
            .and_then(|l| url.join(l).ok())
            .ok_or_else(|| {
                fetch_failed(JsError::new(
                    "Error",
                    format!("invalid redirect location from {}", shown(&url)),
                ))
            })?;
        if next.scheme() != "http" && next.scheme() != "https" {
            return Err(fetch_failed(JsError::new(
                "Error",
                format!(
                    "redirect from {} to a URL that is not http(s): {}",
                    shown(&url),
                    shown(&next)
                ),
            )));
        }
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(fetch_failed(JsError::new(
                "Error",
                format!(
                    "redirect count exceeded ({MAX_REDIRECTS}) at {}",
                    shown(&url)
                ),
            )));
        }
        policy.check(&next, Some(&url))?;
        let code = status.as_u16();
        if ((code == 301 || code == 302) && method == Method::POST)
            || (code == 303 && method != Method::GET && method != Method::HEAD)
        {
            method = Method::GET;
            body = None;
            for name in [
                "content-encoding",
                "content-language",
                "content-location",
                "content-type",
                "content-length",
            ] {
                headers.remove(name);
            }
        }
        if next.origin() != url.origin() {
            headers.remove(hyper::header::AUTHORIZATION);
        }
        // The response to a redirect is not read: its connection is closed
        // rather than drained.
        drop(response);
        url = next;
    }
}

/// What `User-Agent` says when the request does not set one.
const USER_AGENT: &str = concat!("Pyrosome/", env!("CARGO_PKG_VERSION"));

/// One request and its response head.
async fn exchange(
    client: &HttpClient,
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: Option<Bytes>,
    deadline: Instant,
) -> Result<Response<Incoming>, JsError> {
    let mut target = url.clone();
    target.set_fragment(None);
    let uri: hyper::Uri = target.as_str().parse().map_err(|e| {
        JsError::new(
            "TypeError",
            format!("fetch: cannot request {}: {e}", shown(url)),
        )
    })?;
    let mut request = Request::builder()
        .method(method.clone())
        .uri(uri)
        .body(Full::new(body.unwrap_or_default()))
        .map_err(|e| JsError::new("TypeError", format!("fetch: invalid request: {e}")))?;
    *request.headers_mut() = headers.clone();
    match tokio::time::timeout_at(deadline.into(), client.request(request)).await {
        Err(_) => Err(deadline_passed(url, "the request to")),
        Ok(Err(e)) => Err(fetch_failed(network_cause(url, &e))),
        Ok(Ok(response)) => Ok(response),
    }
}

/// The response head as JavaScript receives it.
fn head(response: Response<Incoming>, method: &Method, url: Url, redirected: bool) -> Head {
    let status = response.status();
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| latin1(r.as_bytes()))
        .or_else(|| status.canonical_reason().map(str::to_owned))
        .unwrap_or_default();
    let mut list = Vec::with_capacity(response.headers().len() * 2);
    for (name, value) in response.headers() {
        list.push(Value::String(name.as_str().to_owned()));
        list.push(Value::String(latin1(value.as_bytes())));
    }
    let null_body = *method == Method::HEAD
        || matches!(status.as_u16(), 101 | 103 | 204 | 205 | 304)
        || status == StatusCode::SWITCHING_PROTOCOLS;
    let incoming = response.into_body();
    let (body_value, body) = if null_body {
        (Value::Null, None)
    } else if hyper::body::Body::is_end_stream(&incoming) {
        (Value::Bytes(Vec::new()), None)
    } else {
        (Value::Bool(true), Some(incoming))
    };
    let mut shown_url = url.clone();
    shown_url.set_fragment(None);
    Head {
        value: Value::Array(vec![
            Value::Number(f64::from(status.as_u16())),
            Value::String(reason),
            Value::Array(list),
            Value::String(shown_url.to_string()),
            Value::Bool(redirected),
            body_value,
        ]),
        body,
        url,
    }
}

/// Reads a response body whole, refusing more than `limit` bytes.
pub(crate) async fn read_body(
    body: Incoming,
    limit: usize,
    service: &str,
    url: &Url,
    deadline: Instant,
) -> Result<Vec<u8>, JsError> {
    let too_large = || {
        JsError::new(
            "TypeError",
            format!(
                "the response body of {} is larger than {}, the limit for service \"{service}\" \
                 (limits.fetch_body_mb in pyrosome.toml)",
                shown(url),
                megabytes(limit)
            ),
        )
    };
    let declared = hyper::body::Body::size_hint(&body).exact();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match tokio::time::timeout_at(deadline.into(), Limited::new(body, limit).collect()).await {
        Err(_) => Err(deadline_passed(url, "reading the response body of")),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(
            JsError::new("TypeError", "terminated").with_cause(JsError::new(
                "Error",
                format!(
                    "the response body of {} could not be read: {}",
                    shown(url),
                    chain(e.as_ref())
                ),
            )),
        ),
    }
}

/// `16 MiB`, or bytes when not a whole number of MiB.
fn megabytes(n: usize) -> String {
    if n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// The `cause` of a failed request, in Node's terms where there is one
/// (`connect ECONNREFUSED 127.0.0.1:9` with `code: "ECONNREFUSED"`).
fn network_cause(url: &Url, error: &hyper_util::client::legacy::Error) -> JsError {
    let host = url.host_str().unwrap_or_default();
    let address = match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    let mut io = None;
    while let Some(e) = source {
        if let Some(e) = e.downcast_ref::<std::io::Error>() {
            io = Some(e);
            break;
        }
        source = e.source();
    }
    let code = io.and_then(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Some(("ECONNREFUSED", "connect")),
        std::io::ErrorKind::ConnectionReset => Some(("ECONNRESET", "read")),
        std::io::ErrorKind::TimedOut => Some(("ETIMEDOUT", "connect")),
        std::io::ErrorKind::HostUnreachable => Some(("EHOSTUNREACH", "connect")),
        std::io::ErrorKind::NetworkUnreachable => Some(("ENETUNREACH", "connect")),
        _ if e.to_string().contains("failed to lookup address") => {
            Some(("ENOTFOUND", "getaddrinfo"))
        }
        _ => None,
    });
    match code {
        Some((code, "getaddrinfo")) => JsError::new("Error", format!("getaddrinfo {code} {host}"))
            .with_prop("code", Value::from(code))
            .with_prop("hostname", Value::from(host)),
        Some((code, syscall)) => JsError::new("Error", format!("{syscall} {code} {address}"))
            .with_prop("code", Value::from(code))
            .with_prop("address", Value::from(address.as_str())),
        None => JsError::new(
            "Error",
            format!("request to {} failed: {}", shown(url), chain(error)),
        ),
    }
}

/// An error and its sources, `": "`-separated, without repeats.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// A ByteString (one character per byte) as bytes.
fn byte_string(s: &str) -> Vec<u8> {
    s.chars().map(|c| u32::from(c).min(0xff) as u8).collect()
}

/// Bytes as a ByteString (Latin-1).
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_strings_round_trip() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(byte_string(&latin1(&bytes)), bytes);
    }

    #[test]
    fn limits_read_in_mebibytes() {
        assert_eq!(megabytes(16 << 20), "16 MiB");
        assert_eq!(megabytes(1000), "1000 bytes");
    }
}
