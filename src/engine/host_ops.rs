//! Host operations that do not depend on the engine: they take and return
//! [`Value`]s and plain Rust types, and each backend wraps them in its own
//! calling convention (QuickJS functions, the V8 shim's host callback).
//! What a host operation means is defined here once; see `js/web/README.md`
//! for the JavaScript side of the contract.

use crate::store::{KeyRange, ListQuery, WriteBatch};
use crate::value::Value;

use super::StoreRequest;
use super::refusal::Refusal;

/// Largest request for random bytes (the Web Crypto quota).
pub(crate) const MAX_RANDOM_BYTES: usize = 65_536;

/// Levels of nesting a store operation wraps each value it carries in
/// (`{op: "write", ops: [{op: "put", key, value}]}`, the bootstrap's
/// `StoreHandle`): the engines' encoders accept that much more nesting in
/// `host.store`'s argument, so a stored value may nest exactly as deeply as
/// a call's argument ([`crate::value::MAX_DEPTH`]). `v8/codec.js` has the
/// same number.
pub(crate) const STORE_OP_WRAPPING: usize = 3;

/// An exception a host operation throws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Thrown {
    /// A `TypeError`.
    Type(String),
    /// A `RangeError`.
    Range(String),
    /// A plain `Error`.
    Error(String),
}

/// `host.randomBytes(n)`.
pub(crate) fn random_bytes(n: f64) -> Result<Vec<u8>, Thrown> {
    if !(0.0..=MAX_RANDOM_BYTES as f64).contains(&n) {
        return Err(Thrown::Range(format!(
            "cannot produce {n} random bytes (at most {MAX_RANDOM_BYTES})"
        )));
    }
    let mut bytes = vec![0u8; n as usize];
    getrandom::fill(&mut bytes)
        .map_err(|e| Thrown::Error(format!("no randomness available: {e}")))?;
    Ok(bytes)
}

/// `host.decodeUtf8(bytes, fatal, ignoreBOM)`.
pub(crate) fn decode_utf8(bytes: &[u8], fatal: bool, ignore_bom: bool) -> Result<String, Thrown> {
    let slice = match (ignore_bom, bytes) {
        (false, [0xEF, 0xBB, 0xBF, rest @ ..]) => rest,
        (_, s) => s,
    };
    if fatal {
        std::str::from_utf8(slice).map(str::to_owned).map_err(|_| {
            Thrown::Type("The encoded data was not valid for encoding utf-8".to_owned())
        })
    } else {
        Ok(String::from_utf8_lossy(slice).into_owned())
    }
}

/// `host.urlParse(input[, base])`: the components, or `None` when either
/// does not parse.
pub(crate) fn url_parse(input: &str, base: Option<&str>) -> Option<Value> {
    let base = match base {
        Some(b) => Some(url::Url::parse(b).ok()?),
        None => None,
    };
    url::Url::options()
        .base_url(base.as_ref())
        .parse(input)
        .ok()
        .map(|u| url_components(&u))
}

/// `host.urlSet(href, component, value)`: the components after setting
/// one, `None` for an unparsable href (or href value).
pub(crate) fn url_set(href: &str, component: &str, value: &str) -> Result<Option<Value>, Thrown> {
    use url::quirks;
    let Ok(mut u) = url::Url::parse(href) else {
        return Ok(None);
    };
    match component {
        "href" => match url::Url::parse(value) {
            Ok(v) => u = v,
            Err(_) => return Ok(None),
        },
        "protocol" => {
            let _ = quirks::set_protocol(&mut u, value);
        }
        "username" => {
            let _ = quirks::set_username(&mut u, value);
        }
        "password" => {
            let _ = quirks::set_password(&mut u, value);
        }
        "host" => {
            let _ = quirks::set_host(&mut u, value);
        }
        "hostname" => {
            let _ = quirks::set_hostname(&mut u, value);
        }
        "port" => {
            let _ = quirks::set_port(&mut u, value);
        }
        "pathname" => quirks::set_pathname(&mut u, value),
        "search" => quirks::set_search(&mut u, value),
        "hash" => quirks::set_hash(&mut u, value),
        other => return Err(Thrown::Type(format!("unknown URL component {other:?}"))),
    }
    Ok(Some(url_components(&u)))
}

fn url_components(u: &url::Url) -> Value {
    use url::quirks;
    Value::object([
        ("href", Value::from(quirks::href(u))),
        ("origin", Value::String(quirks::origin(u))),
        ("protocol", Value::from(quirks::protocol(u))),
        ("username", Value::from(quirks::username(u))),
        ("password", Value::from(quirks::password(u))),
        ("host", Value::from(quirks::host(u))),
        ("hostname", Value::from(quirks::hostname(u))),
        ("port", Value::from(quirks::port(u))),
        ("pathname", Value::from(quirks::pathname(u))),
        ("search", Value::from(quirks::search(u))),
        ("hash", Value::from(quirks::hash(u))),
    ])
}

/// `host.formDecode(string)`: `[[name, value], ...]`.
pub(crate) fn form_decode(input: &str) -> Value {
    Value::Array(
        form_urlencoded::parse(input.as_bytes())
            .map(|(k, v)| Value::Array(vec![Value::from(k.as_ref()), Value::from(v.as_ref())]))
            .collect(),
    )
}

/// `host.formEncode(pairs)`.
pub(crate) fn form_encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        out.append_pair(name, value);
    }
    out.finish()
}

/// Reads a store key: a string (as UTF-8) or bytes. A string with a lone
/// surrogate is refused: UTF-8 cannot hold it, and replacing it (by U+FFFD)
/// would make distinct keys collide.
pub(crate) fn store_key(value: &Value, what: &str) -> Result<Vec<u8>, String> {
    match value {
        Value::String(s) => Ok(s.clone().into_bytes()),
        Value::Wtf16(w) => {
            let (at, unit) = w.first_lone_surrogate().unwrap_or_default();
            Err(format!(
                "store keys must be well-formed Unicode strings: {what} has a lone surrogate \
                 (\\u{unit:04X} at index {at}); use String.prototype.toWellFormed() or a \
                 Uint8Array key"
            ))
        }
        Value::Bytes(b) => Ok(b.clone()),
        other => Err(format!(
            "{what} must be a string or a Uint8Array, got {}",
            other.type_name()
        )),
    }
}

fn optional_key(op: &Value, field: &str) -> Result<Option<Vec<u8>>, String> {
    match op.get(field) {
        None | Some(Value::Undefined | Value::Null) => Ok(None),
        Some(v) => store_key(v, field).map(Some),
    }
}

fn key_range(op: &Value) -> Result<KeyRange, String> {
    let prefix = optional_key(op, "prefix")?;
    let start = optional_key(op, "start")?;
    let end = optional_key(op, "end")?;
    match (prefix, start, end) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            Err("give either prefix or start/end, not both".to_owned())
        }
        (Some(p), None, None) => Ok(KeyRange::Prefix(p)),
        (None, None, None) => Ok(KeyRange::All),
        (None, start, end) => Ok(KeyRange::Range { start, end }),
    }
}

/// Parses the operation object the bootstrap's `StoreHandle` builds
/// (`{op: "get", key}`, `{op: "list", prefix, limit, reverse}`,
/// `{op: "write", ops: [{op: "put", key, value}, ...]}`, ...). A refusal
/// (a value that cannot be stored) is worded as being about "the value".
pub(crate) fn store_request(
    op: Result<Value, Refusal>,
    writable: bool,
    store: &str,
) -> Result<StoreRequest, String> {
    let op = op.map_err(|mut refusal| {
        // The bootstrap puts values only at ops[i].value: name them so.
        let n = refusal.path.len();
        if n >= 3 && refusal.path[n - 1] == ".ops" && refusal.path[n - 3] == ".value" {
            refusal.path.truncate(n - 3);
        }
        refusal.into_error("the value").0
    })?;
    let kind = match op.get("op") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err("a store operation needs op".to_owned()),
    };
    match kind {
        "get" => Ok(StoreRequest::Get(store_key(
            op.get("key").unwrap_or(&Value::Undefined),
            "the key",
        )?)),
        "count" => Ok(StoreRequest::Count(key_range(&op)?)),
        "list" => {
            let limit = match op.get("limit") {
                None | Some(Value::Undefined | Value::Null) => None,
                Some(Value::Number(n)) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as usize),
                Some(_) => return Err("limit must be a non-negative integer".to_owned()),
            };
            let reverse = matches!(op.get("reverse"), Some(Value::Bool(true)));
            Ok(StoreRequest::List(ListQuery {
                range: key_range(&op)?,
                limit,
                reverse,
            }))
        }
        "write" => {
            if !writable {
                return Err(format!(
                    "store \"{store}\" is granted read-only to this service (pyrosome.toml)"
                ));
            }
            let Some(Value::Array(ops)) = op.get("ops") else {
                return Err("batch() takes an array".to_owned());
            };
            let mut batch = WriteBatch::new();
            for (i, item) in ops.iter().enumerate() {
                if !matches!(item, Value::Object(_)) {
                    return Err(format!("operation {i} must be an object"));
                }
                let kind = match item.get("op") {
                    Some(Value::String(s)) => s.as_str(),
                    _ => {
                        return Err(format!(
                            "operation {i} needs op: \"put\", \"delete\" or \"putIfAbsent\""
                        ));
                    }
                };
                let key = store_key(
                    item.get("key").unwrap_or(&Value::Undefined),
                    &format!("the key of operation {i}"),
                )?;
                let value = || item.get("value").cloned().unwrap_or(Value::Undefined);
                batch = match kind {
                    "put" => batch.put(key, value()),
                    "putIfAbsent" => batch.put_if_absent(key, value()),
                    "delete" => batch.delete(key),
                    other => {
                        return Err(format!(
                            "operation {i} has op {other:?}; expected \"put\", \"delete\" or \"putIfAbsent\""
                        ));
                    }
                };
            }
            Ok(StoreRequest::Write(batch))
        }
        other => Err(format!("unknown store operation {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_requests_parse_and_refuse_clearly() {
        let op = Value::object([("op", Value::from("get")), ("key", Value::from("k"))]);
        assert!(matches!(
            store_request(Ok(op), false, "s"),
            Ok(StoreRequest::Get(k)) if k == b"k"
        ));
        let put = Value::object([
            ("op", Value::from("write")),
            (
                "ops",
                Value::Array(vec![Value::object([
                    ("op", Value::from("put")),
                    ("key", Value::from("k")),
                    ("value", Value::Number(1.0)),
                ])]),
            ),
        ]);
        let read_only = store_request(Ok(put), false, "s").err().unwrap_or_default();
        assert!(read_only.contains("read-only"), "{read_only}");
        let mut refusal = Refusal::new("a function");
        refusal.path = vec![".value".into(), "[0]".into(), ".ops".into()];
        let message = store_request(Err(refusal), true, "s")
            .err()
            .unwrap_or_default();
        assert!(message.starts_with("the value is a function"), "{message}");
        let bad_key = Value::object([("op", Value::from("get")), ("key", Value::Number(1.0))]);
        let message = store_request(Ok(bad_key), true, "s")
            .err()
            .unwrap_or_default();
        assert!(message.contains("the key must be a string"), "{message}");
    }

    #[test]
    fn the_v8_codec_knows_the_store_operation_wrapping() {
        assert!(
            include_str!("v8/codec.js")
                .contains(&format!("const STORE_OP_WRAPPING = {STORE_OP_WRAPPING};"))
        );
    }

    #[test]
    fn store_keys_with_lone_surrogates_are_refused() {
        let key = Value::from_utf16(&[0x61, 0xDBFF]);
        let message = store_key(&key, "the key").err().unwrap_or_default();
        assert_eq!(
            message,
            "store keys must be well-formed Unicode strings: the key has a lone surrogate \
             (\\uDBFF at index 1); use String.prototype.toWellFormed() or a Uint8Array key"
        );
        assert_eq!(
            store_key(&Value::from("a\u{FFFD}"), "k"),
            Ok("a\u{FFFD}".into())
        );
    }

    #[test]
    fn urls_and_forms() {
        let u = url_parse("/a?b=1", Some("http://x.test/")).unwrap();
        assert_eq!(u.get("href"), Some(&Value::from("http://x.test/a?b=1")));
        assert!(url_parse("nope", None).is_none());
        let set = url_set("http://x.test/", "pathname", "/p")
            .unwrap()
            .unwrap();
        assert_eq!(set.get("pathname"), Some(&Value::from("/p")));
        assert!(url_set("http://x.test/", "nonsense", "").is_err());
        assert_eq!(form_encode([("a b", "c&d")]), "a+b=c%26d");
        assert_eq!(
            form_decode("a=1&b=%20"),
            Value::Array(vec![
                Value::Array(vec![Value::from("a"), Value::from("1")]),
                Value::Array(vec![Value::from("b"), Value::from(" ")]),
            ])
        );
        assert_eq!(decode_utf8(b"\xEF\xBB\xBFhi", false, false).unwrap(), "hi");
        assert!(decode_utf8(b"\xFF", true, false).is_err());
        assert!(random_bytes(70_000.0).is_err());
        assert_eq!(random_bytes(16.0).unwrap().len(), 16);
    }
}
