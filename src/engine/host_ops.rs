//! Host operations that do not depend on the engine: they take and return
//! [`Value`]s and plain Rust types, and each backend wraps them in its own
//! calling convention (QuickJS functions, the V8 shim's host callback).
//! What a host operation means is defined here once; see `js/web/README.md`
//! for the JavaScript side of the contract.

use crate::store::{KeyRange, ListQuery, WriteBatch};
use crate::value::Value;

use super::refusal::Refusal;
use super::{FetchRequest, Redirect, StoreRequest};

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

/// Why `fetch()` cannot be called at a module's top level (as in Workers:
/// no I/O outside a handler).
pub(crate) const FETCH_NOT_READY: &str = "fetch() cannot be called while modules are loading \
    (call it from inside a handler, not at the top level of a module)";

/// `host.fetch(method, url, [name0, value0, ...], redirect, body?)`: the
/// request as the bootstrap's `fetch()` built it from a `Request`.
pub(crate) fn fetch_request(
    method: String,
    url: String,
    header_list: Vec<String>,
    redirect: &str,
    body: Option<Vec<u8>>,
) -> Result<FetchRequest, Thrown> {
    if !header_list.len().is_multiple_of(2) {
        return Err(Thrown::Type(
            "fetch: a header list has a name for every value".to_owned(),
        ));
    }
    let mut headers = Vec::with_capacity(header_list.len() / 2);
    let mut list = header_list.into_iter();
    while let (Some(name), Some(value)) = (list.next(), list.next()) {
        headers.push((name, value));
    }
    let redirect = match redirect {
        "follow" => Redirect::Follow,
        "manual" => Redirect::Manual,
        "error" => Redirect::Error,
        other => {
            return Err(Thrown::Type(format!(
                "fetch: unknown redirect mode {other:?} (expected follow, manual or error)"
            )));
        }
    };
    Ok(FetchRequest {
        method,
        url,
        headers,
        body,
        redirect,
    })
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

/// `host.encodingName(label)`: the lower-case name of the WHATWG encoding
/// a label stands for (`"latin1"` -> `"windows-1252"`), or `None` for an
/// unknown label and for the "replacement" encoding, which `TextDecoder`
/// refuses (its labels name encodings that are not decoded, to defeat
/// attacks).
pub(crate) fn encoding_name(label: &str) -> Option<String> {
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes())?;
    if encoding == encoding_rs::REPLACEMENT {
        return None;
    }
    Some(encoding.name().to_ascii_lowercase())
}

/// `host.decode(name, bytes, fatal, ignoreBOM, stream)`: `bytes` decoded
/// as the encoding `name` (from [`encoding_name`]), and how many bytes at
/// the end were held back because they may start a sequence the next chunk
/// completes (always 0 unless `stream`). Without `ignore_bom`, a leading
/// BOM of the encoding itself (UTF-8, UTF-16LE/BE) is dropped. With
/// `fatal`, malformed input throws a `TypeError`; otherwise it decodes to
/// U+FFFD.
pub(crate) fn decode(
    name: &str,
    bytes: &[u8],
    fatal: bool,
    ignore_bom: bool,
    stream: bool,
) -> Result<(String, usize), Thrown> {
    let encoding = encoding_rs::Encoding::for_label(name.as_bytes())
        .filter(|e| *e != encoding_rs::REPLACEMENT)
        .ok_or_else(|| Thrown::Range(format!("The \"{name}\" encoding is not supported")))?;
    // A chunk in a stream: the longest prefix after which the decoder is
    // between sequences. No sequence of any encoding is longer than 4 bytes.
    let mut held = 0;
    if stream {
        while held < bytes.len().min(4) && !ends_cleanly(encoding, &bytes[..bytes.len() - held]) {
            held += 1;
        }
        if held == bytes.len().min(4) && !ends_cleanly(encoding, &bytes[..bytes.len() - held]) {
            // Malformed rather than incomplete: decode it all now.
            held = 0;
        }
    }
    let input = &bytes[..bytes.len() - held];
    let mut decoder = if ignore_bom {
        encoding.new_decoder_without_bom_handling()
    } else {
        encoding.new_decoder_with_bom_removal()
    };
    let capacity = decoder
        .max_utf8_buffer_length(input.len())
        .ok_or_else(|| Thrown::Range("the input is too large to decode".to_owned()))?;
    let mut text = String::with_capacity(capacity);
    if fatal {
        let (result, _) = decoder.decode_to_string_without_replacement(input, &mut text, true);
        if let encoding_rs::DecoderResult::Malformed(..) = result {
            return Err(Thrown::Type(format!(
                "The encoded data was not valid for encoding {}",
                encoding.name().to_ascii_lowercase()
            )));
        }
    } else {
        let _ = decoder.decode_to_string(input, &mut text, true);
    }
    Ok((text, held))
}

/// Whether decoding `bytes` leaves nothing pending: ending the stream
/// there adds no output and no error.
fn ends_cleanly(encoding: &'static encoding_rs::Encoding, bytes: &[u8]) -> bool {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let Some(capacity) = decoder.max_utf8_buffer_length(bytes.len()) else {
        return true;
    };
    let mut sink = String::with_capacity(capacity);
    let (_, _, _) = decoder.decode_to_string(bytes, &mut sink, false);
    let before = sink.len();
    let (_, _, errors) = decoder.decode_to_string(&[], &mut sink, true);
    !errors && sink.len() == before
}

/// A digest algorithm of Web Crypto, by its normalized name.
fn digest_of(algorithm: &str, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    Some(match algorithm {
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

/// `host.digest(algorithm, bytes)`: the digest, for `"SHA-1"`, `"SHA-256"`,
/// `"SHA-384"` or `"SHA-512"` (names already normalized by `crypto.js`).
pub(crate) fn digest(algorithm: &str, data: &[u8]) -> Result<Vec<u8>, Thrown> {
    digest_of(algorithm, data)
        .ok_or_else(|| Thrown::Type(format!("unsupported digest algorithm {algorithm:?}")))
}

/// `host.hmac(hash, key, data[, signature])`: the HMAC of `data` under
/// `key` with `hash` (a name [`digest`] takes) as bytes or, given a
/// signature, whether it matches (compared in constant time).
pub(crate) fn hmac(
    hash: &str,
    key: &[u8],
    data: &[u8],
    signature: Option<&[u8]>,
) -> Result<Value, Thrown> {
    use hmac::{Hmac, KeyInit, Mac};
    fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8], signature: Option<&[u8]>) -> Option<Value> {
        // HMAC takes a key of any length (longer ones are hashed first).
        let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
        mac.update(data);
        Some(match signature {
            Some(s) => Value::Bool(mac.verify_slice(s).is_ok()),
            None => Value::Bytes(mac.finalize().into_bytes().to_vec()),
        })
    }
    let value = match hash {
        "SHA-1" => run::<Hmac<sha1::Sha1>>(key, data, signature),
        "SHA-256" => run::<Hmac<sha2::Sha256>>(key, data, signature),
        "SHA-384" => run::<Hmac<sha2::Sha384>>(key, data, signature),
        "SHA-512" => run::<Hmac<sha2::Sha512>>(key, data, signature),
        other => {
            return Err(Thrown::Type(format!(
                "unsupported HMAC hash algorithm {other:?}"
            )));
        }
    };
    value.ok_or_else(|| Thrown::Error("HMAC refused the key".to_owned()))
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
        "host" | "hostname" => {
            let _ = if component == "host" {
                quirks::set_host(&mut u, value)
            } else {
                quirks::set_hostname(&mut u, value)
            };
            // A hostless path that starts with "//" is serialized after
            // "/."; with a host it must not be (the url crate keeps it).
            if let Some(fixed) = without_path_dot(&u) {
                u = fixed;
            }
        }
        "port" => {
            let _ = quirks::set_port(&mut u, value);
        }
        "pathname" if !has_authority(&u) && !u.cannot_be_a_base() && !u.is_special() => {
            u = set_hostless_path(&u, value).unwrap_or(u);
        }
        "pathname" if value.is_empty() && !u.is_special() && !u.cannot_be_a_base() => {
            // A non-special URL with an authority can have an empty path.
            u = without_path(&u).unwrap_or(u);
        }
        "pathname" => quirks::set_pathname(&mut u, value),
        "search" => quirks::set_search(&mut u, value),
        "hash" => quirks::set_hash(&mut u, value),
        other => return Err(Thrown::Type(format!("unknown URL component {other:?}"))),
    }
    Ok(Some(url_components(&u)))
}

/// Whether a URL's serialization has an authority (`scheme://`), even an
/// empty one (`foo:///p`, which the url crate says has no host).
fn has_authority(u: &url::Url) -> bool {
    u.as_str()
        .get(u.scheme().len() + 1..)
        .is_some_and(|rest| rest.starts_with("//"))
}

/// Where the path of a URL's serialization starts.
fn path_start(u: &url::Url) -> Option<usize> {
    let tail = u.path().len()
        + u.query().map_or(0, |q| q.len() + 1)
        + u.fragment().map_or(0, |f| f.len() + 1);
    u.as_str().len().checked_sub(tail)
}

/// The URL with an empty path (`foo://h/p` → `foo://h`).
fn without_path(u: &url::Url) -> Option<url::Url> {
    let href = u.as_str();
    let start = path_start(u)?;
    let end = start + u.path().len();
    url::Url::parse(&format!("{}{}", href.get(..start)?, href.get(end..)?)).ok()
}

/// The URL without the "/." between its host and a path starting with
/// "//", if it has both (a hostless `non-spec:/.//p` given a host);
/// `None` if there is nothing to drop.
fn without_path_dot(u: &url::Url) -> Option<url::Url> {
    if !has_authority(u) || !u.path().starts_with("//") {
        return None;
    }
    let href = u.as_str();
    let start = path_start(u)?;
    let head = href.get(..start)?.strip_suffix("/.")?;
    url::Url::parse(&format!("{head}{}", href.get(start..)?)).ok()
}

/// The pathname setter for a URL with no host and a non-special scheme,
/// which the url crate gets wrong when the path starts (or started) with
/// "//": such a path is serialized after "/." (`non-spec:/.//p`) so that it
/// does not read as a host. The URL is parsed anew from its scheme, "/.",
/// the new path (with what the setter would percent-encode rather than
/// take as a delimiter, or trim, already encoded) and its query and
/// fragment. `None` keeps the URL unchanged.
fn set_hostless_path(u: &url::Url, value: &str) -> Option<url::Url> {
    let mut text = format!("{}:/.", u.scheme());
    if !value.starts_with('/') {
        text.push('/');
    }
    for c in value.chars() {
        match c {
            '\t' | '\n' | '\r' => {}
            '?' => text.push_str("%3F"),
            '#' => text.push_str("%23"),
            c if u32::from(c) <= 0x20 => text.push_str(&format!("%{:02X}", u32::from(c))),
            c => text.push(c),
        }
    }
    if let Some(query) = u.query() {
        text.push('?');
        text.push_str(query);
    }
    if let Some(fragment) = u.fragment() {
        text.push('#');
        text.push_str(fragment);
    }
    url::Url::parse(&text).ok()
}

fn url_components(u: &url::Url) -> Value {
    use url::quirks;
    Value::object([
        ("href", Value::from(quirks::href(u))),
        ("origin", Value::String(origin(u))),
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

/// The serialized origin of a URL. A `blob:` URL has the origin of the URL
/// in its path when that is an `http:` or `https:` URL, else an opaque one
/// (URL Standard, "origin"); the `url` crate would also take the origin
/// of other inner URLs (`blob:ftp://...`).
fn origin(u: &url::Url) -> String {
    if u.scheme() == "blob" {
        return match url::Url::parse(u.path()) {
            Ok(inner) if matches!(inner.scheme(), "http" | "https") => url::quirks::origin(&inner),
            _ => "null".to_owned(),
        };
    }
    url::quirks::origin(u)
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
    fn encodings_decode_with_labels_and_streams() {
        assert_eq!(encoding_name("latin1").as_deref(), Some("windows-1252"));
        assert_eq!(encoding_name(" Shift_JIS ").as_deref(), Some("shift_jis"));
        assert_eq!(encoding_name("replacement"), None, "refused by TextDecoder");
        assert_eq!(encoding_name("nope"), None);
        assert_eq!(
            decode("windows-1252", b"\x80\xe9", false, false, false),
            Ok(("\u{20ac}\u{e9}".to_owned(), 0))
        );
        // A Shift_JIS lead byte at the end of a chunk waits for the next one.
        assert_eq!(
            decode("shift_jis", b"A\x93", false, false, true),
            Ok(("A".to_owned(), 1))
        );
        assert_eq!(
            decode("shift_jis", b"A\x93", false, false, false),
            Ok(("A\u{fffd}".to_owned(), 0))
        );
        assert_eq!(
            decode("utf-16le", b"\xff\xfeh\x00", false, false, false),
            Ok(("h".to_owned(), 0)),
            "BOM stripped"
        );
        assert_eq!(
            decode("utf-16le", b"\xff\xfeh\x00", false, true, false),
            Ok(("\u{feff}h".to_owned(), 0)),
            "BOM kept"
        );
        assert!(matches!(
            decode("shift_jis", b"\xa0", true, false, false),
            Err(Thrown::Type(m)) if m.contains("shift_jis")
        ));
        assert!(matches!(
            decode("nope", b"", false, false, false),
            Err(Thrown::Range(_))
        ));
    }

    #[test]
    fn digests_and_hmac() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            digest("SHA-256", b"abc").map(|d| hex(&d)).as_deref(),
            Ok("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert!(digest("MD5", b"abc").is_err());
        // RFC 4231, test case 2.
        let mac = hmac("SHA-256", b"Jefe", b"what do ya want for nothing?", None);
        let Ok(Value::Bytes(mac)) = mac else {
            panic!("HMAC failed: {mac:?}")
        };
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let ok = hmac(
            "SHA-256",
            b"Jefe",
            b"what do ya want for nothing?",
            Some(&mac),
        );
        assert_eq!(ok, Ok(Value::Bool(true)));
        let bad = hmac("SHA-256", b"Jefe", b"what do ya want", Some(&mac));
        assert_eq!(bad, Ok(Value::Bool(false)));
        assert!(hmac("MD5", b"k", b"d", None).is_err());
    }

    #[test]
    fn blob_url_origins() {
        let origin = |s: &str| url_parse(s, None).and_then(|u| u.get("origin").cloned());
        assert_eq!(
            origin("blob:https://a.test:8443/x"),
            Some(Value::from("https://a.test:8443"))
        );
        assert_eq!(origin("blob:ftp://a.test/x"), Some(Value::from("null")));
        assert_eq!(origin("blob:not a url"), Some(Value::from("null")));
    }

    #[test]
    fn hostless_paths_keep_their_dot() {
        let href = |base: &str, component: &str, value: &str| {
            url_set(base, component, value)
                .ok()
                .flatten()
                .and_then(|u| u.get("href").cloned())
        };
        assert_eq!(
            href("non-spec:/", "pathname", "//p"),
            Some(Value::from("non-spec:/.//p"))
        );
        assert_eq!(
            href("non-spec:/?q#f", "pathname", "a?b#c"),
            Some(Value::from("non-spec:/a%3Fb%23c?q#f"))
        );
        assert_eq!(
            href("non-spec:/.//p", "hostname", "h"),
            Some(Value::from("non-spec://h//p"))
        );
        assert_eq!(
            href("foo://h/some/path?q", "pathname", ""),
            Some(Value::from("foo://h?q"))
        );
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
