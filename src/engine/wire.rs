//! The wire format: how a structured value travels in bytes. Every engine
//! backend encodes JavaScript values into it in one pass and decodes it in
//! one pass, so a value sent from one isolate to another (a call's
//! argument, its result) crosses as these bytes, untouched in between (see
//! [`Payload`](super::Payload)); Rust reads it as a [`Value`] only where it
//! must look inside (the gateway, the store, the CLI). The V8 backend's C++
//! shim (`v8/shim.cc`) and the QuickJS backend implement the same format.
//!
//! A value is a tag byte followed by its payload; lengths and counts are
//! little-endian `u32`, numbers little-endian IEEE doubles:
//!
//! | tag | value | payload |
//! | --- | --- | --- |
//! | 0, 1 | undefined, null | — |
//! | 2, 3 | false, true | — |
//! | 4 | number | f64 |
//! | 5 | BigInt | len, decimal digits with optional `-` |
//! | 6 | string | len, UTF-8 |
//! | 7 | `Uint8Array` | len, bytes |
//! | 8 | array | count, values |
//! | 9 | plain object | count, (key, value)* |
//! | 10 | refused | count, path segments innermost first, what was found (each len + UTF-8) |
//! | 11 | JSON | len, JSON text (Rust → engine only) |
//! | 12 | string | len, Latin-1 bytes (one per UTF-16 code unit below 256) |
//! | 13 | string | len in code units, UTF-16LE code units (may hold lone surrogates) |
//!
//! Engines keep strings as Latin-1 or UTF-16 internally, so tags 12 and 13
//! are copies on both sides; Rust writes UTF-8 (tag 6) for a
//! [`Value::String`] and UTF-16 for a [`Value::Wtf16`]. Decoders accept all
//! three. A string with lone surrogates is never written as UTF-8 (which
//! cannot hold it): it survives isolate to isolate, and Rust reads it as a
//! [`Value::Wtf16`].
//!
//! An object's key is `len, UTF-8` — or, for a key with a lone surrogate,
//! `KEY_UTF16 | n` (the top bit of the length set) followed by `n` UTF-16LE
//! code units. No key is 2 GiB long, so the flag costs well-formed keys
//! nothing.
//!
//! Building a JavaScript object through V8's API costs a call per property;
//! V8's own `JSON.parse` builds the same object several times faster (it
//! reuses hidden classes and internalized keys). So a larger array or
//! object that JSON represents exactly — no `undefined`, BigInt, bytes,
//! non-finite numbers, `-0` or `__proto__` key anywhere — crosses from Rust
//! to JavaScript as JSON text.
//!
//! "Refused" appears only at the top level of a host operation's argument:
//! the engine met something that cannot be cloned (a function, a cycle,
//! ...) and says where, so Rust can word the error exactly like the other
//! backend does ([`Refusal`]).

use crate::engine::refusal::Refusal;
use crate::value::{BigInt, Key, Value};

const UNDEFINED: u8 = 0;
const NULL: u8 = 1;
const FALSE: u8 = 2;
const TRUE: u8 = 3;
const NUMBER: u8 = 4;
const BIGINT: u8 = 5;
const STRING: u8 = 6;
const BYTES: u8 = 7;
const ARRAY: u8 = 8;
const OBJECT: u8 = 9;
const REFUSED: u8 = 10;
const JSON_TEXT: u8 = 11;
const LATIN1: u8 = 12;
const UTF16: u8 = 13;

/// Set in a key's length: the key is UTF-16 code units (it holds a lone
/// surrogate), and the rest of the length counts them.
const KEY_UTF16: u32 = 1 << 31;

/// The tag bytes, for backends that encode and decode the format in Rust
/// (the QuickJS backend, `quickjs/wire.rs`).
pub(crate) mod tag {
    pub(crate) const UNDEFINED: u8 = super::UNDEFINED;
    pub(crate) const NULL: u8 = super::NULL;
    pub(crate) const FALSE: u8 = super::FALSE;
    pub(crate) const TRUE: u8 = super::TRUE;
    pub(crate) const NUMBER: u8 = super::NUMBER;
    pub(crate) const BIGINT: u8 = super::BIGINT;
    pub(crate) const STRING: u8 = super::STRING;
    pub(crate) const BYTES: u8 = super::BYTES;
    pub(crate) const ARRAY: u8 = super::ARRAY;
    pub(crate) const OBJECT: u8 = super::OBJECT;
    pub(crate) const JSON_TEXT: u8 = super::JSON_TEXT;
    pub(crate) const LATIN1: u8 = super::LATIN1;
    pub(crate) const UTF16: u8 = super::UTF16;
    pub(crate) const KEY_UTF16: u32 = super::KEY_UTF16;
}

/// Containers with at least this many values (all levels) cross as JSON
/// when they can: below it, the API calls are as cheap as the parse.
const JSON_MIN_VALUES: usize = 8;

/// Bytes that are not a value: a bug in the encoder that wrote them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed wire value at byte {0}")]
pub struct Malformed(usize);

/// Appends the encoding of `value` to `out` (for the shim to decode).
pub(crate) fn encode(value: &Value, out: &mut Vec<u8>) {
    if matches!(value, Value::Array(_) | Value::Object(_)) {
        let mut values = 0;
        if json_exact(value, &mut values) && values >= JSON_MIN_VALUES {
            out.push(JSON_TEXT);
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            write_json(value, out);
            let len = u32::try_from(out.len() - at - 4).unwrap_or(u32::MAX);
            out[at..at + 4].copy_from_slice(&len.to_le_bytes());
            return;
        }
    }
    encode_tree(value, out);
}

/// Appends the encoding of `value` to `out` as a tree, never as JSON text:
/// for an engine that builds objects from the tree faster than
/// `JSON.parse` does (V8 with its codec).
#[cfg_attr(not(feature = "v8"), allow(dead_code))]
pub(crate) fn encode_without_json(value: &Value, out: &mut Vec<u8>) {
    encode_tree(value, out);
}

/// Whether `JSON.parse` of `value` as JSON gives `value` back exactly;
/// counts the values in `count`.
fn json_exact(value: &Value, count: &mut usize) -> bool {
    *count += 1;
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Wtf16(_) => false,
        Value::Number(n) => n.is_finite() && !(*n == 0.0 && n.is_sign_negative()),
        Value::Undefined | Value::BigInt(_) | Value::Bytes(_) => false,
        Value::Array(items) => items.iter().all(|v| json_exact(v, count)),
        Value::Object(pairs) => pairs
            .iter()
            .all(|(k, v)| matches!(k, Key::String(k) if k != "__proto__") && json_exact(v, count)),
    }
}

/// Writes a value [`json_exact`] accepted as JSON text.
fn write_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // Shortest round-trip formatting: JSON.parse gives the same double.
        Value::Number(n) => {
            let _ = serde_json::to_writer(&mut *out, n);
        }
        Value::String(s) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(item, out);
            }
            out.push(b']');
        }
        Value::Object(pairs) => {
            out.push(b'{');
            for (i, (key, item)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, &key.to_string_lossy());
                out.push(b':');
                write_json(item, out);
            }
            out.push(b'}');
        }
        // Excluded by `json_exact`.
        Value::Undefined | Value::BigInt(_) | Value::Bytes(_) | Value::Wtf16(_) => {
            out.extend_from_slice(b"null")
        }
    }
}

/// Appends the encoding of `value` to `out` without the JSON shortcut of
/// [`encode`] (for decoders that build values as fast as they parse JSON).
pub(crate) fn encode_tree_into(value: &Value, out: &mut Vec<u8>) {
    encode_tree(value, out);
}

fn encode_tree(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Undefined => out.push(UNDEFINED),
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::BigInt(b) => {
            out.push(BIGINT);
            put_bytes(out, b.as_str().as_bytes());
        }
        Value::String(s) => {
            out.push(STRING);
            put_bytes(out, s.as_bytes());
        }
        Value::Wtf16(w) => {
            out.push(UTF16);
            put_units(out, w.units());
        }
        Value::Bytes(b) => {
            out.push(BYTES);
            put_bytes(out, b);
        }
        Value::Array(items) => {
            out.push(ARRAY);
            put_u32(out, items.len());
            for item in items {
                encode_tree(item, out);
            }
        }
        Value::Object(pairs) => {
            out.push(OBJECT);
            put_u32(out, pairs.len());
            for (key, item) in pairs {
                match key {
                    Key::String(key) => put_bytes(out, key.as_bytes()),
                    Key::Wtf16(w) => {
                        let n = u32::try_from(w.units().len()).unwrap_or(KEY_UTF16 - 1);
                        out.extend_from_slice(&(KEY_UTF16 | n).to_le_bytes());
                        put_raw_units(out, w.units());
                    }
                }
                encode_tree(item, out);
            }
        }
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Values are bounded by the isolate's heap limit (at most 16 GiB in the
    // manifest, far less in practice); saturate rather than wrap.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A count of code units, then the units (UTF-16LE).
fn put_units(out: &mut Vec<u8>, units: &[u16]) {
    put_u32(out, units.len());
    put_raw_units(out, units);
}

fn put_raw_units(out: &mut Vec<u8>, units: &[u16]) {
    out.reserve(2 * units.len());
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

/// Decodes one value that must not be refused.
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, Malformed> {
    let mut reader = Reader { bytes, at: 0 };
    match reader.arg()? {
        Ok(value) => Ok(value),
        Err(_) => Err(Malformed(0)),
    }
}

/// Decodes a host operation's arguments (an array whose elements may be
/// refused). The V8 backend now reads arguments lazily ([`Args`]).
#[allow(dead_code)]
pub(crate) fn decode_args(bytes: &[u8]) -> Result<Vec<Result<Value, Refusal>>, Malformed> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.byte()? != ARRAY {
        return Err(Malformed(0));
    }
    let n = reader.u32()?;
    let mut args = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        args.push(reader.arg()?);
    }
    Ok(args)
}

/// A host operation's arguments (an array whose elements may be refused),
/// split into each argument's bytes without decoding them: an operation
/// decodes only the arguments it reads, and can hand one on as it is (a
/// call's argument, an invocation's result).
#[cfg_attr(not(feature = "v8"), allow(dead_code))] // read by the V8 backend
#[derive(Debug)]
pub(crate) struct Args<'a> {
    bytes: &'a [u8],
    /// Where each argument starts, then where the last one ends: inline
    /// for the first [`INLINE_ARGS`], the rest in `more`.
    starts: [usize; INLINE_ARGS + 1],
    more: Vec<usize>,
    len: usize,
}

/// Arguments whose boundaries [`Args`] keeps without allocating: more than
/// any host operation takes.
#[cfg_attr(not(feature = "v8"), allow(dead_code))]
const INLINE_ARGS: usize = 8;

/// Nesting [`Args::split`] follows before calling the bytes malformed: far
/// more than any engine encodes (see `refusal::MAX_DEPTH`), and little
/// enough stack.
#[cfg_attr(not(feature = "v8"), allow(dead_code))]
const MAX_SKIP_DEPTH: usize = 1024;

#[cfg_attr(not(feature = "v8"), allow(dead_code))]
impl<'a> Args<'a> {
    /// Splits `[array n, arg...]` into the arguments, walking every
    /// argument but the last (usually the value: a call's argument, an
    /// invocation's result), which is simply the rest of the bytes; its
    /// decoder, wherever it is decoded, checks it.
    pub(crate) fn split(bytes: &'a [u8]) -> Result<Args<'a>, Malformed> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.byte()? != ARRAY {
            return Err(Malformed(0));
        }
        let len = reader.u32()?;
        let mut args = Args {
            bytes,
            starts: [0; INLINE_ARGS + 1],
            more: Vec::new(),
            len,
        };
        for i in 0..len {
            args.set_start(i, reader.at);
            if i + 1 < len {
                reader.skip(0)?;
            } else if reader.at >= bytes.len() {
                return Err(reader.malformed());
            }
        }
        args.set_start(len, bytes.len());
        if len == 0 && reader.at != bytes.len() {
            return Err(reader.malformed());
        }
        Ok(args)
    }

    fn set_start(&mut self, i: usize, at: usize) {
        match self.starts.get_mut(i) {
            Some(slot) => *slot = at,
            None => self.more.push(at),
        }
    }

    fn start(&self, i: usize) -> usize {
        match self.starts.get(i) {
            Some(&at) => at,
            None => self.more[i - self.starts.len()],
        }
    }

    /// How many arguments there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Argument `i`'s bytes (`None` past the end): one value, or a
    /// refusal record.
    pub(crate) fn bytes(&self, i: usize) -> Option<&'a [u8]> {
        if i >= self.len {
            return None;
        }
        self.bytes.get(self.start(i)..self.start(i + 1))
    }

    /// Argument `i` decoded (`undefined` past the end), or why the engine
    /// refused it.
    pub(crate) fn value(&self, i: usize) -> Result<Result<Value, Refusal>, Malformed> {
        match self.bytes(i) {
            None => Ok(Ok(Value::Undefined)),
            Some(bytes) => {
                let mut reader = Reader { bytes, at: 0 };
                let value = reader.arg()?;
                if reader.at != bytes.len() {
                    return Err(reader.malformed());
                }
                Ok(value)
            }
        }
    }

    /// Argument `i` if it is a number.
    pub(crate) fn number(&self, i: usize) -> Option<f64> {
        match self.bytes(i) {
            Some([NUMBER, rest @ ..]) if rest.len() == 8 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(rest);
                Some(f64::from_le_bytes(raw))
            }
            _ => None,
        }
    }

    /// Whether argument `i` is `true`.
    pub(crate) fn is_true(&self, i: usize) -> bool {
        matches!(self.bytes(i), Some([TRUE]))
    }

    /// Whether argument `i` is a refusal record.
    pub(crate) fn is_refused(&self, i: usize) -> bool {
        matches!(self.bytes(i), Some([REFUSED, ..]))
    }
}

/// The encoding of `undefined` (an argument that was not passed).
#[cfg_attr(not(feature = "v8"), allow(dead_code))]
pub(crate) const UNDEFINED_BYTES: &[u8] = &[UNDEFINED];

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn malformed(&self) -> Malformed {
        Malformed(self.at)
    }

    fn byte(&mut self) -> Result<u8, Malformed> {
        let b = *self.bytes.get(self.at).ok_or_else(|| self.malformed())?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        let end = self.at.checked_add(n).ok_or_else(|| self.malformed())?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| self.malformed())?;
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<usize, Malformed> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    #[cfg_attr(not(feature = "v8"), allow(dead_code))]
    fn skip_bytes(&mut self) -> Result<(), Malformed> {
        let n = self.u32()?;
        self.take(n).map(|_| ())
    }

    #[cfg_attr(not(feature = "v8"), allow(dead_code))]
    fn skip_key(&mut self) -> Result<(), Malformed> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let len = if n & KEY_UTF16 == 0 {
            n as usize
        } else {
            2 * (n & !KEY_UTF16) as usize
        };
        self.take(len).map(|_| ())
    }

    /// Moves past one value (or refusal record) without decoding it.
    #[cfg_attr(not(feature = "v8"), allow(dead_code))]
    fn skip(&mut self, depth: usize) -> Result<(), Malformed> {
        if depth > MAX_SKIP_DEPTH {
            return Err(self.malformed());
        }
        match self.byte()? {
            UNDEFINED | NULL | FALSE | TRUE => Ok(()),
            NUMBER => self.take(8).map(|_| ()),
            BIGINT | STRING | BYTES | JSON_TEXT | LATIN1 => self.skip_bytes(),
            UTF16 => {
                let n = self.u32()?;
                self.take(n.checked_mul(2).ok_or_else(|| self.malformed())?)
                    .map(|_| ())
            }
            ARRAY => {
                let n = self.u32()?;
                for _ in 0..n {
                    self.skip(depth + 1)?;
                }
                Ok(())
            }
            OBJECT => {
                let n = self.u32()?;
                for _ in 0..n {
                    self.skip_key()?;
                    self.skip(depth + 1)?;
                }
                Ok(())
            }
            REFUSED => {
                let n = self.u32()?;
                // The path segments, then what was found.
                for _ in 0..=n {
                    self.skip_bytes()?;
                }
                Ok(())
            }
            _ => Err(Malformed(self.at - 1)),
        }
    }

    fn string(&mut self) -> Result<String, Malformed> {
        let n = self.u32()?;
        let at = self.at;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Malformed(at))
    }

    /// `n` UTF-16LE code units.
    fn units(&mut self, n: usize) -> Result<Vec<u16>, Malformed> {
        let bytes = self.take(n.checked_mul(2).ok_or_else(|| self.malformed())?)?;
        Ok(bytes
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect())
    }

    /// An object's key: UTF-8, or UTF-16 with [`KEY_UTF16`] in its length.
    fn key(&mut self) -> Result<Key, Malformed> {
        let at = self.at;
        let b = self.take(4)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if n & KEY_UTF16 == 0 {
            let bytes = self.take(n as usize)?;
            return String::from_utf8(bytes.to_vec())
                .map(Key::String)
                .map_err(|_| Malformed(at));
        }
        let units = self.units((n & !KEY_UTF16) as usize)?;
        Ok(Key::from_utf16(&units))
    }

    fn arg(&mut self) -> Result<Result<Value, Refusal>, Malformed> {
        if self.bytes.get(self.at) == Some(&REFUSED) {
            self.at += 1;
            let n = self.u32()?;
            let mut path = Vec::with_capacity(n);
            for _ in 0..n {
                path.push(self.string()?);
            }
            let mut refusal = Refusal::new(self.string()?);
            refusal.path = path;
            return Ok(Err(refusal));
        }
        self.value().map(Ok)
    }

    fn value(&mut self) -> Result<Value, Malformed> {
        Ok(match self.byte()? {
            UNDEFINED => Value::Undefined,
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            NUMBER => {
                let b = self.take(8)?;
                let mut raw = [0u8; 8];
                raw.copy_from_slice(b);
                Value::Number(f64::from_le_bytes(raw))
            }
            BIGINT => {
                let at = self.at;
                let text = self.string()?;
                Value::BigInt(BigInt::parse(&text).ok_or(Malformed(at))?)
            }
            STRING => Value::String(self.string()?),
            LATIN1 => {
                let n = self.u32()?;
                let at = self.at;
                let bytes = self.take(n)?;
                if bytes.is_ascii() {
                    // ASCII is UTF-8 as it is: one copy, no per-character work.
                    Value::String(String::from_utf8(bytes.to_vec()).map_err(|_| Malformed(at))?)
                } else {
                    Value::String(bytes.iter().map(|&b| char::from(b)).collect())
                }
            }
            UTF16 => {
                let n = self.u32()?;
                Value::from_utf16(&self.units(n)?)
            }
            BYTES => {
                let n = self.u32()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            ARRAY => {
                let n = self.u32()?;
                let mut items = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    items.push(self.value()?);
                }
                Value::Array(items)
            }
            OBJECT => {
                let n = self.u32()?;
                let mut pairs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let key = self.key()?;
                    pairs.push((key, self.value()?));
                }
                Value::Object(pairs)
            }
            _ => return Err(Malformed(self.at - 1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let value = Value::object([
            ("n", Value::Number(-0.0)),
            (
                "big",
                Value::BigInt(BigInt::parse("-123456789012345678901234567890").unwrap()),
            ),
            ("s", Value::from("héllo")),
            ("b", Value::Bytes(vec![0, 1, 255])),
            (
                "a",
                Value::Array(vec![Value::Undefined, Value::Null, Value::Bool(true)]),
            ),
        ]);
        let mut out = Vec::new();
        encode_tree(&value, &mut out);
        let back = decode(&out).unwrap();
        assert_eq!(back, value);
        match back.get("n") {
            Some(Value::Number(n)) => assert!(n.is_sign_negative()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refused_arguments_keep_their_path() {
        // [1, refused(.f in [0]): "a function"]
        let mut out = vec![ARRAY];
        put_u32(&mut out, 2);
        encode(&Value::Number(1.0), &mut out);
        out.push(REFUSED);
        put_u32(&mut out, 2);
        put_bytes(&mut out, b".f");
        put_bytes(&mut out, b"[0]");
        put_bytes(&mut out, b"a function");
        let args = decode_args(&out).unwrap();
        assert_eq!(args[0].as_ref().ok(), Some(&Value::Number(1.0)));
        let refusal = args[1].as_ref().err().map(|r| r.path.clone());
        assert_eq!(refusal, Some(vec![".f".to_owned(), "[0]".to_owned()]));
    }

    #[test]
    fn larger_json_exact_values_cross_as_json() {
        let post = Value::object([
            ("id", Value::Number(1.5)),
            ("big", Value::Number(1e21)),
            ("text", Value::from("quote \" and \u{2028} and é")),
            (
                "tags",
                Value::Array(vec![Value::from("a"), Value::Null, Value::Bool(false)]),
            ),
            ("user", Value::object([("id", Value::Number(-3.0))])),
        ]);
        let mut out = Vec::new();
        encode(&post, &mut out);
        assert_eq!(out[0], JSON_TEXT);
        let text = std::str::from_utf8(&out[5..]).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(Value::from_json(&parsed), post);
        // Anything JSON would change keeps the tree encoding.
        for odd in [
            Value::Undefined,
            Value::Number(-0.0),
            Value::Number(f64::NAN),
            Value::Bytes(vec![1]),
        ] {
            let mut with = post.clone();
            if let Value::Object(pairs) = &mut with {
                pairs.push(("odd".into(), odd));
            }
            let mut out = Vec::new();
            encode(&with, &mut out);
            assert_eq!(out[0], OBJECT);
        }
        let mut small = Vec::new();
        encode(&Value::object([("a", Value::Number(1.0))]), &mut small);
        assert_eq!(small[0], OBJECT, "small values skip JSON");
    }

    #[test]
    fn latin1_and_utf16_strings_decode() {
        let mut out = vec![ARRAY];
        put_u32(&mut out, 2);
        out.push(LATIN1);
        put_bytes(&mut out, b"caf\xe9");
        out.push(UTF16);
        put_u32(&mut out, 3);
        for unit in [0x61u16, 0xD800, 0x263A] {
            out.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(
            decode(&out).unwrap(),
            Value::Array(vec![
                Value::from("caf\u{e9}"),
                Value::from_utf16(&[0x61, 0xD800, 0x263A])
            ])
        );
        // An odd byte count cannot be UTF-16.
        let bad = [UTF16, 1, 0, 0, 0, 0x61];
        assert!(decode(&bad).is_err());
    }

    #[test]
    fn arguments_split_without_decoding() {
        let post = Value::object([("text", Value::from("hi")), ("n", Value::Number(2.0))]);
        let mut out = vec![ARRAY];
        put_u32(&mut out, 5);
        encode_tree(&Value::from("svc"), &mut out);
        encode_tree(&Value::Number(7.5), &mut out);
        let at = out.len();
        encode_tree(&post, &mut out);
        let post_bytes = out[at..].to_vec();
        out.push(TRUE);
        out.push(REFUSED);
        put_u32(&mut out, 1);
        put_bytes(&mut out, b"[0]");
        put_bytes(&mut out, b"a function");
        let args = Args::split(&out).unwrap();
        assert_eq!(args.len(), 5);
        assert_eq!(args.value(0).unwrap().ok(), Some(Value::from("svc")));
        assert_eq!(args.number(1), Some(7.5));
        assert_eq!(args.number(0), None);
        assert_eq!(args.bytes(2), Some(post_bytes.as_slice()));
        assert_eq!(decode(args.bytes(2).unwrap()), Ok(post));
        assert!(args.is_true(3) && !args.is_true(1));
        assert!(args.is_refused(4) && !args.is_refused(2));
        let refusal = args.value(4).unwrap().err().unwrap();
        assert_eq!(
            (refusal.path, refusal.found.as_str()),
            (vec!["[0]".to_owned()], "a function")
        );
        assert_eq!(args.value(9).unwrap().ok(), Some(Value::Undefined));
        assert_eq!(args.bytes(9), None);
        // A short value or a count past the end is malformed; the last
        // argument is only checked when it is decoded.
        let mut extra = out.clone();
        extra.push(NULL);
        let args = Args::split(&extra).unwrap();
        assert!(args.value(4).is_err(), "trailing bytes");
        for cut in 0..at {
            assert!(Args::split(&out[..cut]).is_err(), "cut at {cut}");
        }
        let mut many = vec![ARRAY];
        put_u32(&mut many, 12);
        for i in 0..12 {
            encode_tree(&Value::Number(f64::from(i)), &mut many);
        }
        let args = Args::split(&many).unwrap();
        assert_eq!(args.len(), 12);
        assert_eq!(args.number(10), Some(10.0));
        assert_eq!(args.number(11), Some(11.0));
        // Two arguments, the first nested too deeply to skip.
        let mut deep = vec![ARRAY, 2, 0, 0, 0];
        for _ in 0..=MAX_SKIP_DEPTH + 1 {
            deep.extend_from_slice(&[ARRAY, 1, 0, 0, 0]);
        }
        deep.push(NULL);
        deep.push(NULL);
        assert!(Args::split(&deep).is_err(), "too deep to skip");
    }

    #[test]
    fn ascii_latin1_strings_decode_like_utf8() {
        let mut out = vec![LATIN1];
        put_bytes(&mut out, b"plain ascii");
        assert_eq!(decode(&out), Ok(Value::from("plain ascii")));
    }

    #[test]
    fn truncated_input_is_malformed_not_a_panic() {
        let mut out = Vec::new();
        encode(&Value::from("truncated string"), &mut out);
        for cut in 0..out.len() {
            assert!(decode(&out[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&[42]).is_err());
    }
}
