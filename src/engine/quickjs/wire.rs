//! QuickJS values to and from the [wire format](crate::engine::wire), in
//! one pass each way.
//!
//! A value sent to another isolate (a call's argument, an invocation's
//! result) is encoded straight from the JavaScript value into bytes, and
//! a received one is built straight from the bytes; nothing in between
//! (no [`Value`](crate::value::Value) tree, no Rust `String` per key). Both
//! directions call QuickJS's C API through the handles of `ffi.rs`, which
//! owns all of the backend's `unsafe`; this module is safe code.
//!
//! **Encoding** reads a value like structured clone, with exactly the
//! rules `convert.rs` had when it built a `Value`: getters run, symbol
//! keys and non-enumerable properties are skipped, keys come in
//! `Object.keys` order, array holes read as `undefined`; only plain
//! objects (prototype: the intrinsic `Object.prototype` or `null`),
//! arrays, `Uint8Array`s and primitives other than symbols cross; cycles
//! and nesting deeper than [`MAX_DEPTH`] are refused. A refusal says what
//! was found and where ([`Refusal`]). Strings are written as UTF-8 (tag 6)
//! unless they hold lone surrogates, which keep them as UTF-16 (tag 13),
//! so they survive isolate to isolate. (QuickJS hands out strings as
//! UTF-8 with lone surrogates as three-byte sequences, "WTF-8"; checking
//! that it is well-formed is one fast scan, and only ill-formed strings
//! pay for the conversion.) Keys are always UTF-8; a key with a lone
//! surrogate crosses with U+FFFD instead.
//!
//! **Decoding** builds arrays with `JS_NewArrayFrom` (elements moved in,
//! no per-element property writes) and objects by defining own data
//! properties, as `JSON.parse` does (so no setter runs and `__proto__`
//! stays a key). Received keys are looked up in a small per-isolate cache
//! of atoms ([`KeyCache`]) rather than hashed into QuickJS's atom table
//! each time, and sent keys' UTF-8 names are cached by atom. Malformed
//! bytes are an error ([`DecodeError`]), never a panic.

use std::io::Write as _;

use rquickjs::Value as JsValue;

use super::ffi::{Js, KeyCache, KeyName, Kind, Raw, Stack, Thrown};
use crate::engine::refusal::{MAX_DEPTH, Refusal};
use crate::engine::wire::tag;
use crate::value::BigInt;

/// Deepest nesting the decoder builds. The encoders refuse values nested
/// deeper than [`MAX_DEPTH`]; values made by Rust (gateway requests, store
/// reads) are shallower still. The bound keeps malformed or hostile bytes
/// from exhausting the stack.
const DECODE_MAX_DEPTH: usize = 2 * MAX_DEPTH;

/// An isolate's reusable buffers and key cache for the codec.
#[derive(Default)]
pub(crate) struct Codec {
    keys: KeyCache,
    /// The encoder's output.
    out: Vec<u8>,
    /// Identities of the containers being encoded (cycle detection).
    ancestors: Vec<usize>,
    /// Decoder scratch: JSON text with its terminator, Latin-1 as UTF-8.
    text: Vec<u8>,
    /// Decoder scratch: UTF-16 code units.
    units: Vec<u16>,
    /// A Rust value's encoding, to decode (`decode_value`).
    staged: Vec<u8>,
}

impl Codec {
    /// The bytes of the last successful [`encode`].
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.out
    }

    /// Releases the cached atoms (before the runtime is freed).
    pub(crate) fn release(&mut self, raw: &Raw<'_>) {
        self.keys.release(raw);
    }
}

/// Encodes `value` into the codec's buffer ([`Codec::encoded`]).
/// `object_proto` is the identity of the context's intrinsic
/// `Object.prototype` ([`Js::identity`]).
pub(crate) fn encode<'js>(
    raw: &Raw<'js>,
    object_proto: usize,
    codec: &mut Codec,
    value: &JsValue<'js>,
) -> Result<(), Refusal> {
    codec.out.clear();
    codec.ancestors.clear();
    let value = raw.js_of(value);
    let mut encoder = Encoder {
        raw,
        object_proto,
        codec,
    };
    let result = encoder.value(&value);
    if result.is_err() {
        encoder.codec.out.clear();
    }
    result
}

struct Encoder<'c, 'js> {
    raw: &'c Raw<'js>,
    object_proto: usize,
    codec: &'c mut Codec,
}

impl<'js> Encoder<'_, 'js> {
    fn value(&mut self, v: &Js<'js>) -> Result<(), Refusal> {
        let out = &mut self.codec.out;
        let kind = v.kind();
        match kind {
            Kind::Undefined => out.push(tag::UNDEFINED),
            Kind::Null => out.push(tag::NULL),
            Kind::Bool(false) => out.push(tag::FALSE),
            Kind::Bool(true) => out.push(tag::TRUE),
            Kind::Number(n) => {
                out.push(tag::NUMBER);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Kind::String => {
                let text = v
                    .utf8()
                    .ok_or_else(|| Refusal::new("a string that cannot be read"))?;
                put_string(out, text.as_bytes());
            }
            Kind::BigInt => self.bigint(v)?,
            Kind::Symbol => return Err(Refusal::new("a symbol")),
            Kind::Function => return Err(Refusal::new("a function")),
            Kind::Promise => {
                return Err(Refusal::new("a Promise (did you forget an `await`?)"));
            }
            Kind::Array => self.array(v)?,
            Kind::Object | Kind::Exotic | Kind::Proxy => self.object(v, kind)?,
            Kind::Internal => return Err(Refusal::new("an engine-internal value")),
        }
        Ok(())
    }

    fn bigint(&mut self, v: &Js<'js>) -> Result<(), Refusal> {
        let out = &mut self.codec.out;
        out.push(tag::BIGINT);
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        if let Some(n) = v.small_bigint() {
            // Writing to a `Vec` cannot fail.
            let _ = write!(out, "{n}");
        } else {
            let unprintable = || Refusal::new("a BigInt that cannot be printed");
            let text = v.to_string().ok_or_else(unprintable)?;
            let text = text.utf8().ok_or_else(unprintable)?;
            out.extend_from_slice(text.as_bytes());
        }
        patch_len(out, at);
        Ok(())
    }

    /// Pushes a container on the ancestor stack, refusing cycles and depth.
    fn enter(&mut self, v: &Js<'js>) -> Result<(), Refusal> {
        let id = v.identity();
        if self.codec.ancestors.contains(&id) {
            return Err(Refusal::new(
                "refers back to an object that contains it (a cycle)",
            ));
        }
        if self.codec.ancestors.len() >= MAX_DEPTH {
            return Err(Refusal::new(format!(
                "nested more than {MAX_DEPTH} levels deep"
            )));
        }
        self.codec.ancestors.push(id);
        Ok(())
    }

    fn array(&mut self, v: &Js<'js>) -> Result<(), Refusal> {
        self.enter(v)?;
        let len = v
            .length()
            .ok_or_else(|| Refusal::new("an array whose length cannot be read"))?;
        // Array lengths are below 2^32.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.codec.out.push(tag::ARRAY);
        self.codec.out.extend_from_slice(&len.to_le_bytes());
        for i in 0..len {
            let item = v
                .index(i)
                .ok_or_else(|| Refusal::new("an array with an unreadable element"))?;
            self.value(&item).map_err(|r| r.within(format!("[{i}]")))?;
        }
        self.codec.ancestors.pop();
        Ok(())
    }

    fn object(&mut self, v: &Js<'js>, kind: Kind) -> Result<(), Refusal> {
        if kind == Kind::Exotic && v.is_uint8_array() {
            let out = &mut self.codec.out;
            out.push(tag::BYTES);
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            if !v.append_uint8_bytes(out) {
                return Err(Refusal::new("a detached Uint8Array"));
            }
            patch_len(out, at);
            return Ok(());
        }
        if !v.has_plain_prototype(self.object_proto) {
            return Err(Refusal::new(self.describe_instance(v)));
        }
        if kind == Kind::Proxy {
            return Err(Refusal::new("a Proxy"));
        }
        self.enter(v)?;
        let keys = v
            .keys()
            .ok_or_else(|| Refusal::new("an object with an unreadable key"))?;
        self.codec.out.push(tag::OBJECT);
        put_u32(&mut self.codec.out, keys.len());
        for i in 0..keys.len() {
            let Some(key) = keys.get(i) else { break };
            let item = v
                .get(key)
                .ok_or_else(|| Refusal::new("an object whose property getter threw"))?;
            let name = self
                .codec
                .keys
                .name(self.raw, key)
                .ok_or_else(|| Refusal::new("an object with an unreadable key"))?;
            let key_at = self.codec.out.len() + 4;
            match &name {
                // Cached names are UTF-8.
                KeyName::Cached(utf8) => put_bytes(&mut self.codec.out, utf8),
                KeyName::Fresh(name) => put_key(&mut self.codec.out, name.as_bytes()),
            }
            drop(name);
            let key_end = self.codec.out.len();
            if let Err(r) = self.value(&item) {
                // The key's bytes are still in the buffer: name it.
                let key = self.codec.out.get(key_at..key_end).unwrap_or_default();
                return Err(r.within(format!(".{}", String::from_utf8_lossy(key))));
            }
        }
        self.codec.ancestors.pop();
        Ok(())
    }

    /// "an instance of Map", "a Date", …: what the user passed, by
    /// constructor (read through rquickjs: this path is rare).
    fn describe_instance(&self, v: &Js<'js>) -> String {
        let value = self.raw.value_of(v);
        let name = value
            .as_object()
            .and_then(|o| o.get::<_, rquickjs::Object>("constructor").ok())
            .and_then(|c| c.get::<_, String>("name").ok())
            .filter(|n| !n.is_empty());
        // A throwing getter on the way leaves its exception behind.
        self.raw.discard_exception();
        match name {
            Some(name) => format!("an instance of {name}"),
            None => "an object with a non-plain prototype".to_owned(),
        }
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Values are bounded by the isolate's heap limit; saturate rather
    // than wrap (as `engine::wire` does).
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Whether bytes are UTF-8, ASCII checked first (the common case, and a
/// faster scan).
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// Writes the length of what follows the 4 bytes at `at` into them.
fn patch_len(out: &mut [u8], at: usize) {
    let len = out.len().saturating_sub(at + 4);
    let len = u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes();
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&len);
    }
}

/// Writes a string QuickJS gave as (W)UTF-8: UTF-8 when well-formed,
/// else UTF-16 with its lone surrogates.
fn put_string(out: &mut Vec<u8>, text: &[u8]) {
    if is_utf8(text) {
        out.push(tag::STRING);
        put_bytes(out, text);
    } else {
        out.push(tag::UTF16);
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        let mut units = 0usize;
        for unit in wtf8_units(text) {
            out.extend_from_slice(&unit.to_le_bytes());
            units += 1;
        }
        let count = u32::try_from(units).unwrap_or(u32::MAX).to_le_bytes();
        if let Some(slot) = out.get_mut(at..at + 4) {
            slot.copy_from_slice(&count);
        }
    }
}

/// Writes a key (length and UTF-8); a key with lone surrogates gets
/// U+FFFD for each, as a Rust `String` would.
fn put_key(out: &mut Vec<u8>, name: &[u8]) {
    if is_utf8(name) {
        put_bytes(out, name);
    } else {
        let units: Vec<u16> = wtf8_units(name).collect();
        let fixed = String::from_utf16_lossy(&units);
        put_u32(out, fixed.len());
        out.extend_from_slice(fixed.as_bytes());
    }
}

/// The UTF-16 code units of WTF-8 text (UTF-8 that may encode surrogates
/// one by one, as QuickJS writes lone ones). Bytes that fit no sequence
/// become U+FFFD.
fn wtf8_units(text: &[u8]) -> impl Iterator<Item = u16> + '_ {
    let mut at = 0;
    let mut pending_low: Option<u16> = None;
    std::iter::from_fn(move || {
        if let Some(low) = pending_low.take() {
            return Some(low);
        }
        let &first = text.get(at)?;
        let continuation = |i: usize| -> Option<u32> {
            text.get(at + i)
                .filter(|b| *b & 0xC0 == 0x80)
                .map(|b| u32::from(b & 0x3F))
        };
        let (code, len) = match first {
            0x00..=0x7F => (u32::from(first), 1),
            0xC0..=0xDF => match continuation(1) {
                Some(c1) => ((u32::from(first & 0x1F) << 6) | c1, 2),
                None => (0xFFFD, 1),
            },
            0xE0..=0xEF => match (continuation(1), continuation(2)) {
                (Some(c1), Some(c2)) => ((u32::from(first & 0x0F) << 12) | (c1 << 6) | c2, 3),
                _ => (0xFFFD, 1),
            },
            0xF0..=0xF7 => match (continuation(1), continuation(2), continuation(3)) {
                (Some(c1), Some(c2), Some(c3)) => (
                    (u32::from(first & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3,
                    4,
                ),
                _ => (0xFFFD, 1),
            },
            _ => (0xFFFD, 1),
        };
        at += len;
        if code >= 0x1_0000 {
            let c = code.min(0x10_FFFF) - 0x1_0000;
            pending_low = Some(0xDC00 | (c & 0x3FF) as u16);
            Some(0xD800 | (c >> 10) as u16)
        } else {
            Some(code as u16)
        }
    })
}

/// Why bytes could not be decoded into a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The bytes are not one value in the wire format.
    #[error("malformed wire value at byte {0}")]
    Malformed(usize),
    /// The value is nested deeper than the decoder builds.
    #[error("wire value nested more than {DECODE_MAX_DEPTH} levels deep")]
    TooDeep,
    /// QuickJS threw while building it (out of memory, a string too long);
    /// the exception is pending in the context.
    #[error("an exception was thrown while building the value")]
    Thrown,
}

impl From<Thrown> for DecodeError {
    fn from(_: Thrown) -> DecodeError {
        DecodeError::Thrown
    }
}

/// Builds the value encoded in `bytes` (exactly one value, nothing after).
pub(crate) fn decode<'js>(
    raw: &Raw<'js>,
    codec: &mut Codec,
    bytes: &[u8],
) -> Result<Js<'js>, DecodeError> {
    let mut decoder = Decoder {
        raw,
        codec,
        stack: Stack::new(raw),
        bytes,
        at: 0,
        depth: 0,
    };
    let value = decoder.value()?;
    if decoder.at != bytes.len() {
        return Err(DecodeError::Malformed(decoder.at));
    }
    Ok(value)
}

/// Builds a copy of the value last [`encode`]d with `codec`.
pub(crate) fn decode_encoded<'js>(
    raw: &Raw<'js>,
    codec: &mut Codec,
) -> Result<Js<'js>, DecodeError> {
    let bytes = std::mem::take(&mut codec.out);
    let copy = decode(raw, codec, &bytes);
    codec.out = bytes;
    copy
}

/// Builds the JavaScript value of a Rust [`Value`](crate::value::Value)
/// by encoding and decoding it: fewer instructions than building it
/// through rquickjs (a post: ~6k fewer of ~30k), and the same rules as a
/// value from another isolate. Without the JSON shortcut of
/// [`engine::wire::encode`](crate::engine::wire): QuickJS's `JSON.parse`
/// is slower than this decoder.
pub(crate) fn decode_value<'js>(
    raw: &Raw<'js>,
    codec: &mut Codec,
    value: &crate::value::Value,
) -> Result<Js<'js>, DecodeError> {
    let mut bytes = std::mem::take(&mut codec.staged);
    bytes.clear();
    crate::engine::wire::encode_tree_into(value, &mut bytes);
    let built = decode(raw, codec, &bytes);
    codec.staged = bytes;
    built
}

struct Decoder<'c, 'js> {
    raw: &'c Raw<'js>,
    codec: &'c mut Codec,
    stack: Stack<'js>,
    bytes: &'c [u8],
    at: usize,
    depth: usize,
}

impl<'c, 'js> Decoder<'c, 'js> {
    fn malformed(&self) -> DecodeError {
        DecodeError::Malformed(self.at)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.bytes.get(self.at).ok_or_else(|| self.malformed())?;
        self.at += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'c [u8], DecodeError> {
        let bytes: &'c [u8] = self.bytes;
        let end = self.at.checked_add(n).ok_or_else(|| self.malformed())?;
        let slice = bytes.get(self.at..end).ok_or_else(|| self.malformed())?;
        self.at = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    /// A length-prefixed UTF-8 string.
    fn utf8(&mut self) -> Result<&'c [u8], DecodeError> {
        let n = self.u32()?;
        let at = self.at;
        let bytes = self.take(n)?;
        if !is_utf8(bytes) {
            return Err(DecodeError::Malformed(at));
        }
        Ok(bytes)
    }

    /// Length-prefixed bytes.
    fn bytes(&mut self) -> Result<&'c [u8], DecodeError> {
        let n = self.u32()?;
        self.take(n)
    }

    /// A count of items each at least `min_bytes` long, checked against
    /// the bytes left (so a malformed count allocates nothing).
    fn count(&mut self, min_bytes: usize) -> Result<usize, DecodeError> {
        let at = self.at;
        let n = self.u32()?;
        let left = self.bytes.len() - self.at;
        if n.saturating_mul(min_bytes) > left {
            return Err(DecodeError::Malformed(at));
        }
        Ok(n)
    }

    fn value(&mut self) -> Result<Js<'js>, DecodeError> {
        let raw = self.raw;
        let at = self.at;
        Ok(match self.byte()? {
            tag::UNDEFINED => raw.undefined(),
            tag::NULL => raw.null(),
            tag::FALSE => raw.bool(false),
            tag::TRUE => raw.bool(true),
            tag::NUMBER => {
                let b = self.take(8)?;
                let mut bits = [0u8; 8];
                bits.copy_from_slice(b);
                raw.number(f64::from_le_bytes(bits))
            }
            tag::STRING => raw.string(self.utf8()?)?,
            tag::LATIN1 => {
                let n = self.u32()?;
                let bytes = self.take(n)?;
                let text = &mut self.codec.text;
                text.clear();
                for &b in bytes {
                    if b < 0x80 {
                        text.push(b);
                    } else {
                        text.extend_from_slice(&[0xC0 | (b >> 6), 0x80 | (b & 0x3F)]);
                    }
                }
                raw.string(text)?
            }
            tag::UTF16 => {
                let n = self.u32()?;
                let bytes = self.take(n.checked_mul(2).ok_or_else(|| self.malformed())?)?;
                let units = &mut self.codec.units;
                units.clear();
                units.extend(
                    bytes
                        .chunks_exact(2)
                        .map(|p| u16::from_le_bytes([p[0], p[1]])),
                );
                raw.string_utf16(units)?
            }
            tag::BIGINT => {
                let text = std::str::from_utf8(self.bytes()?);
                let big = text
                    .ok()
                    .and_then(BigInt::parse)
                    .ok_or(DecodeError::Malformed(at))?;
                match big.to_i64() {
                    Some(n) => raw.bigint(n)?,
                    // Canonical digits (checked by `BigInt::parse`), so this
                    // evaluates a literal and nothing else.
                    None => raw
                        .ctx()
                        .eval::<JsValue, _>(format!("{}n", big.as_str()))
                        .map(|v| raw.js_of(&v))
                        .map_err(|_| DecodeError::Thrown)?,
                }
            }
            tag::BYTES => {
                let n = self.u32()?;
                raw.uint8_array(self.take(n)?)?
            }
            tag::ARRAY => {
                let n = self.count(1)?;
                self.descend()?;
                let base = self.stack.len();
                for _ in 0..n {
                    let item = self.value()?;
                    self.stack.push(item);
                }
                self.depth -= 1;
                self.stack.array_from(base)?
            }
            tag::OBJECT => {
                // Each entry: a 4-byte key length and a value tag at least.
                let n = self.count(5)?;
                self.descend()?;
                let object = raw.object()?;
                for _ in 0..n {
                    let key_at = self.at + 4;
                    let key = self.bytes()?;
                    let item = self.value()?;
                    let atom = self
                        .codec
                        .keys
                        .atom(raw, key)?
                        .ok_or(DecodeError::Malformed(key_at))?;
                    object.define(atom.id(), item)?;
                }
                self.depth -= 1;
                object
            }
            tag::JSON_TEXT => {
                let n = self.u32()?;
                let body = self.take(n)?;
                let text = &mut self.codec.text;
                text.clear();
                text.extend_from_slice(body);
                text.push(0);
                match raw.parse_json(text) {
                    Ok(v) => v,
                    Err(Thrown) => {
                        raw.discard_exception();
                        return Err(DecodeError::Malformed(at));
                    }
                }
            }
            _ => return Err(DecodeError::Malformed(at)),
        })
    }

    fn descend(&mut self) -> Result<(), DecodeError> {
        if self.depth >= DECODE_MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }
}
