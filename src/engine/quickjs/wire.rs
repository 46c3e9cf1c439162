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
//! pay for the conversion.) Keys likewise: UTF-8, or UTF-16 code units
//! (with `KEY_UTF16` in the length) for a key with a lone surrogate.
//!
//! **Decoding** builds arrays with `JS_NewArrayFrom` (elements moved in,
//! no per-element property writes) and objects by defining own data
//! properties, as `JSON.parse` does (so no setter runs and `__proto__`
//! stays a key). Received keys are looked up in a small per-isolate cache
//! of atoms ([`KeyCache`]) rather than hashed into QuickJS's atom table
//! each time, and sent keys' UTF-8 names are cached by atom. Malformed
//! bytes are an error ([`DecodeError`]), never a panic. Values made by Rust
//! (a gateway request, a store read) are encoded and decoded too: that
//! takes fewer instructions than building them through rquickjs.
//!
//! Two departures from the old conversion, both where it was wrong: an
//! object built from the wire gets own data properties even if
//! `Object.prototype` has a setter of that name (it used to call the
//! setter), and a key containing NUL crosses whole (it used to be cut
//! there). One limit is new: an encoding may grow to twice the isolate's
//! heap limit (`ENCODED_PER_HEAP_BYTE`), which only a sparse array of
//! millions of holes reaches.
//!
//! Where the time goes (callgrind, `call/round_trip_post`: ~124k
//! instructions per round trip against ~44k for a trivial call): decoding
//! the post twice ~44k, of which defining the properties ~24k (QuickJS
//! finds no cached shape transition for a new object's intermediate shapes,
//! so each property creates one) and allocating objects and strings
//! ~12k; encoding it twice ~35k, of which enumerating own keys
//! (`JS_GetOwnPropertyNames`) ~11k; this module's own code is ~13k.

use std::io::Write as _;

use rquickjs::Value as JsValue;

use super::ffi::{AtomRef, Js, KeyAtom, KeyCache, KeyName, Kind, Raw, Stack, Thrown};
use crate::engine::refusal::{MAX_DEPTH, Refusal, TOO_DEEP};
use crate::engine::wire::tag;
use crate::value::BigInt;

/// Deepest nesting the decoder builds. The encoders refuse values nested
/// deeper than [`MAX_DEPTH`]; values made by Rust (gateway requests, store
/// reads) are shallower still. The bound keeps malformed or hostile bytes
/// from exhausting the stack.
const DECODE_MAX_DEPTH: usize = 2 * MAX_DEPTH;

/// How large an encoding may grow, per byte of the isolate's heap limit.
/// A value's encoding is at most about twice its size in the heap (a
/// Latin-1 character above 127 takes two bytes of UTF-8); only array
/// holes (a byte each, none in the heap) can make it larger, and an array
/// of billions of them would take the worker's memory and minutes that the
/// CPU watchdog cannot interrupt (no JavaScript runs while encoding them).
const ENCODED_PER_HEAP_BYTE: usize = 2;

/// Scratch buffers keep at most this much capacity between uses: enough
/// for every ordinary value, while one huge value does not stay resident
/// in an idle isolate.
const RETAINED_CAPACITY: usize = 64 << 10;

/// The smallest encoding limit, whatever the heap limit.
const MIN_ENCODE_LIMIT: usize = 1 << 20;

/// An isolate's reusable buffers and key cache for the codec.
pub(crate) struct Codec {
    /// Longest encoding allowed, in bytes.
    limit: usize,
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
    /// A codec for an isolate whose heap is limited to `heap_limit` bytes.
    pub(crate) fn new(heap_limit: usize) -> Codec {
        Codec {
            limit: heap_limit
                .saturating_mul(ENCODED_PER_HEAP_BYTE)
                .max(MIN_ENCODE_LIMIT),
            keys: KeyCache::default(),
            out: Vec::new(),
            ancestors: Vec::new(),
            text: Vec::new(),
            units: Vec::new(),
            staged: Vec::new(),
        }
    }

    /// The bytes of the last successful [`encode`].
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.out
    }

    /// Drops scratch buffers that grew past [`RETAINED_CAPACITY`].
    pub(crate) fn trim(&mut self) {
        fn trim<T>(buffer: &mut Vec<T>) {
            if buffer.capacity() * std::mem::size_of::<T>() > RETAINED_CAPACITY {
                *buffer = Vec::new();
            }
        }
        trim(&mut self.out);
        trim(&mut self.ancestors);
        trim(&mut self.text);
        trim(&mut self.units);
        trim(&mut self.staged);
    }

    /// Releases the cached atoms (before the runtime is freed).
    pub(crate) fn release(&mut self, raw: &Raw<'_>) {
        self.keys.release(raw);
    }
}

/// Encodes `value` into the codec's buffer ([`Codec::encoded`]).
/// `object_proto` is the identity of the context's intrinsic
/// `Object.prototype` ([`Js::identity`]). Nesting deeper than
/// [`MAX_DEPTH`] is refused.
pub(crate) fn encode<'js>(
    raw: &Raw<'js>,
    object_proto: usize,
    codec: &mut Codec,
    value: &JsValue<'js>,
) -> Result<(), Refusal> {
    encode_wrapped(raw, object_proto, codec, value, 0)
}

/// [`encode`] for a value that wraps the values it carries in `wrapping`
/// levels of its own (a store operation: `{ops: [{value}]}`), which do not
/// count against [`MAX_DEPTH`].
pub(crate) fn encode_wrapped<'js>(
    raw: &Raw<'js>,
    object_proto: usize,
    codec: &mut Codec,
    value: &JsValue<'js>,
    wrapping: usize,
) -> Result<(), Refusal> {
    codec.out.clear();
    codec.ancestors.clear();
    let value = raw.js_of(value);
    let mut encoder = Encoder {
        raw,
        object_proto,
        codec,
        max_depth: MAX_DEPTH + wrapping,
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
    /// Deepest nesting accepted.
    max_depth: usize,
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
        if self.codec.ancestors.len() >= self.max_depth {
            return Err(Refusal::new(TOO_DEEP));
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
            if self.codec.out.len() > self.codec.limit {
                return Err(Refusal::new(format!(
                    "an array of {len} elements, too large to copy ({} MiB so far)",
                    self.codec.out.len() >> 20
                )));
            }
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

/// Writes a key QuickJS gave as (W)UTF-8: length and UTF-8 when
/// well-formed, else the count of UTF-16 code units with `KEY_UTF16` set,
/// and the units (lone surrogates kept).
fn put_key(out: &mut Vec<u8>, name: &[u8]) {
    if is_utf8(name) {
        put_bytes(out, name);
    } else {
        put_utf16_key(out, name);
    }
}

/// [`put_key`] for a key with a lone surrogate: rare, so out of line
/// (the encoder's hot path stays small enough to inline what it calls).
#[cold]
#[inline(never)]
fn put_utf16_key(out: &mut Vec<u8>, name: &[u8]) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut units = 0u32;
    for unit in wtf8_units(name) {
        out.extend_from_slice(&unit.to_le_bytes());
        units += 1;
    }
    let flagged = (tag::KEY_UTF16 | units.min(tag::KEY_UTF16 - 1)).to_le_bytes();
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&flagged);
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
                    let len = self.u32()?;
                    // A key with a lone surrogate (rare) gets its atom now.
                    let (key, wide) = if len & tag::KEY_UTF16 as usize == 0 {
                        (self.take(len)?, None)
                    } else {
                        (
                            &[][..],
                            Some(self.utf16_key(len & !(tag::KEY_UTF16 as usize))?),
                        )
                    };
                    let item = self.value()?;
                    let atom = match wide {
                        None => self
                            .codec
                            .keys
                            .atom(raw, key)?
                            .ok_or(DecodeError::Malformed(key_at))?,
                        Some(atom) => KeyAtom::Fresh(atom),
                    };
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

    /// The atom of a key of `n` UTF-16 code units (one with a lone
    /// surrogate: rare, so not cached). Out of line: [`Decoder::value`]
    /// recurses, and its frame stays small.
    #[cold]
    #[inline(never)]
    fn utf16_key(&mut self, n: usize) -> Result<AtomRef<'js>, DecodeError> {
        let bytes = self.take(n.checked_mul(2).ok_or_else(|| self.malformed())?)?;
        let units = &mut self.codec.units;
        units.clear();
        units.extend(
            bytes
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]])),
        );
        Ok(self.raw.atom_utf16(units)?)
    }

    fn descend(&mut self) -> Result<(), DecodeError> {
        if self.depth >= DECODE_MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rquickjs::{Context, Function, Object, Runtime};

    use super::*;
    use crate::engine::refusal::Refusal;
    use crate::value::Value;

    /// Runs `f` in a fresh isolate with its codec and `Object.prototype`'s
    /// identity; releases the codec before the runtime goes.
    fn isolate<R: Send>(f: impl for<'js> FnOnce(&Raw<'js>, usize, &mut Codec) -> R + Send) -> R {
        isolate_with_heap(64 << 20, f)
    }

    /// Runs `f` in a fresh isolate, on a thread with a worker's stack: the
    /// codec recurses once per nesting level, and a debug build's frames
    /// at the deepest levels the tests try do not fit a test thread's 2 MiB.
    fn isolate_with_heap<R: Send>(
        heap_limit: usize,
        f: impl for<'js> FnOnce(&Raw<'js>, usize, &mut Codec) -> R + Send,
    ) -> R {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(TEST_STACK_BYTES)
                .spawn_scoped(scope, move || {
                    let runtime = Runtime::new().expect("runtime");
                    let context = Context::full(&runtime).expect("context");
                    context.with(|ctx| {
                        let raw = Raw::new(&ctx);
                        let proto: Object = ctx.eval("Object.prototype").expect("Object.prototype");
                        let proto = raw.js_of(proto.as_value()).identity();
                        let mut codec = Codec::new(heap_limit);
                        let result = f(&raw, proto, &mut codec);
                        codec.release(&raw);
                        result
                    })
                })
                .expect("spawns the isolate's thread")
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// The stack of the thread [`isolate_with_heap`] runs on (a worker's).
    const TEST_STACK_BYTES: usize = 8 << 20;

    /// Encodes the value of the expression `source` in an isolate of its
    /// own: the bytes, or the refusal worded for "the argument".
    fn encode_js(source: &str) -> Result<Vec<u8>, String> {
        isolate(|raw, proto, codec| {
            let ctx = raw.ctx();
            let value: JsValue = ctx.eval(source).expect("source evaluates");
            encode(raw, proto, codec, &value)
                .map(|()| codec.encoded().to_vec())
                .map_err(|r: Refusal| r.into_error("the argument").0)
        })
    }

    /// Decodes `bytes` in another isolate and returns what the JavaScript
    /// function `check` (called with the value) returns.
    fn decode_js(bytes: &[u8], check: &str) -> Result<bool, DecodeError> {
        isolate(|raw, _, codec| {
            let ctx = raw.ctx();
            let value = decode(raw, codec, bytes)?;
            let check: Function = ctx.eval(check).expect("check compiles");
            Ok(check.call((raw.give(value),)).expect("check runs"))
        })
    }

    /// Sends the value of `source` from one isolate to another and checks
    /// it there with `check`.
    fn crosses(source: &str, check: &str) -> bool {
        let bytes = encode_js(source).unwrap_or_else(|e| panic!("{source}: {e}"));
        decode_js(&bytes, check).unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    fn refusal(source: &str) -> String {
        match encode_js(source) {
            Ok(_) => panic!("{source} was not refused"),
            Err(message) => message,
        }
    }

    #[test]
    fn values_cross_exactly() {
        for (source, check) in [
            ("undefined", "v => v === undefined"),
            ("null", "v => v === null"),
            ("[true, false]", "v => v[0] === true && v[1] === false"),
            ("-0", "v => Object.is(v, -0)"),
            ("NaN", "v => Number.isNaN(v)"),
            (
                "[1.5, -Infinity, 2 ** 53]",
                "v => v[0] === 1.5 && v[1] === -Infinity && v[2] === 2 ** 53",
            ),
            (
                "[12n, -(2n ** 100n), 0n]",
                "v => v[0] === 12n && v[1] === -(2n ** 100n) && v[2] === 0n",
            ),
            ("'héllo ☃ 😀'", "v => v === 'héllo ☃ 😀'"),
            ("'x'.repeat(100000)", "v => v.length === 100000"),
            (
                "new Uint8Array([0, 1, 255])",
                "v => v instanceof Uint8Array && v.join() === '0,1,255'",
            ),
            (
                "new Uint8Array([9, 8, 7, 6]).subarray(1, 3)",
                "v => v.length === 2 && v[0] === 8 && v.byteOffset === 0",
            ),
            (
                "new Uint8Array(0)",
                "v => v instanceof Uint8Array && v.length === 0",
            ),
            (
                "[1, , 3]",
                "v => v.length === 3 && 1 in v && v[1] === undefined",
            ),
            (
                "[[], {}, [[[]]]]",
                "v => Array.isArray(v[2][0][0]) && Object.getPrototypeOf(v[1]) === Object.prototype",
            ),
            (
                "Object.assign(Object.create(null), { a: 1 })",
                "v => v.a === 1 && Object.getPrototypeOf(v) === Object.prototype",
            ),
            (
                "({ b: 1, a: 2, 10: 'x', 2: 'y' })",
                "v => Object.keys(v).join() === '2,10,b,a'",
            ),
            (
                "JSON.parse('{\"__proto__\": 1}')",
                "v => Object.getPrototypeOf(v) === Object.prototype && Object.keys(v).join() === '__proto__' && v['__proto__'] === 1",
            ),
            (
                "({ 'a\\u0000b': 1, '': 2 })",
                "v => v['a\\u0000b'] === 1 && v[''] === 2",
            ),
            (
                "({ get x() { return 7; }, y: 1 })",
                "v => v.x === 7 && Object.getOwnPropertyDescriptor(v, 'x').value === 7",
            ),
            (
                "Object.defineProperty({ v: 1 }, 'hidden', { value: 2 })",
                "v => Object.keys(v).join() === 'v' && !('hidden' in v)",
            ),
            (
                "({ [Symbol('s')]: 1, a: 1 })",
                "v => Object.getOwnPropertySymbols(v).length === 0 && v.a === 1",
            ),
            (
                "(function () { return arguments; })(1, 2)",
                "v => v[0] === 1 && v[1] === 2 && !Array.isArray(v)",
            ),
            (
                "{ const o = { n: 1 }; [o, o] }",
                "v => v[0].n === 1 && v[1].n === 1 && v[0] !== v[1]",
            ),
        ] {
            assert!(crosses(source, check), "{source} does not satisfy {check}");
        }
    }

    #[test]
    fn received_objects_get_own_data_properties_not_setter_calls() {
        let bytes = encode_js("({ x: 1 })").expect("encodes");
        let check = "v => { let called = false; Object.defineProperty(Object.prototype, 'y', \
                     { set() { called = true; }, configurable: true }); return !called && v.x === 1; }";
        assert_eq!(decode_js(&bytes, check), Ok(true));
    }

    #[test]
    fn lone_surrogates_survive_isolate_to_isolate() {
        let bytes = encode_js("'a\\uD800b\\uDFFF'").expect("encodes");
        assert_eq!(bytes[0], tag::UTF16, "kept as UTF-16");
        assert!(crosses(
            "'a\\uD800b\\uDFFF'",
            "v => v.length === 4 && v.charCodeAt(1) === 0xD800 && v.charCodeAt(3) === 0xDFFF"
        ));
        // Pairs are well-formed: UTF-8.
        assert_eq!(encode_js("'😀'").expect("encodes")[0], tag::STRING);
        // Read in Rust, they are kept.
        assert_eq!(
            crate::engine::wire::decode(&bytes),
            Ok(Value::from_utf16(&[0x61, 0xD800, 0x62, 0xDFFF]))
        );
        // Keys too: UTF-16 with the flag in their length.
        assert!(crosses(
            "({ 'k\\uD800': 1, ok: 2 })",
            "v => v['k\\uD800'] === 1 && !('k\\uFFFD' in v) && Object.keys(v).join() === 'k\\uD800,ok'"
        ));
        let keyed = encode_js("({ 'k\\uDC00': 1 })").expect("encodes");
        assert_eq!(
            crate::engine::wire::decode(&keyed),
            Ok(Value::Object(vec![(
                crate::value::Key::from_utf16(&[0x6B, 0xDC00]),
                Value::Number(1.0)
            )]))
        );
        // And values and keys made in Rust cross into JavaScript whole.
        let mut from_rust = Vec::new();
        crate::engine::wire::encode_tree_into(
            &Value::Object(vec![(
                crate::value::Key::from_utf16(&[0xD800]),
                Value::from_utf16(&[0xDFFF, 0x61]),
            )]),
            &mut from_rust,
        );
        assert_eq!(
            decode_js(&from_rust, "v => v['\\uD800'] === '\\uDFFFa'"),
            Ok(true)
        );
    }

    #[test]
    fn wtf8_decodes_to_the_units_quickjs_encoded() {
        let units: Vec<u16> = wtf8_units("a\u{e9}\u{263a}\u{1F600}".as_bytes()).collect();
        assert_eq!(
            units,
            "a\u{e9}\u{263a}\u{1F600}"
                .encode_utf16()
                .collect::<Vec<_>>()
        );
        // A lone surrogate as QuickJS writes it (ED A0 80 = U+D800).
        assert_eq!(
            wtf8_units(&[0x61, 0xED, 0xA0, 0x80]).collect::<Vec<_>>(),
            [0x61, 0xD800]
        );
        // Bytes that fit no sequence are U+FFFD, one each.
        assert_eq!(
            wtf8_units(&[0xFF, 0xC3]).collect::<Vec<_>>(),
            [0xFFFD, 0xFFFD]
        );
    }

    #[test]
    fn refusals_say_what_and_where() {
        let message = refusal("({ user: { tags: [1, 2, () => 1] } })");
        assert!(
            message.starts_with("the argument.user.tags[2] is a function, which cannot be passed"),
            "{message}"
        );
        for (source, found) in [
            ("Symbol('s')", " is a symbol"),
            ("new Map()", " is an instance of Map"),
            ("[new Date()]", "[0] is an instance of Date"),
            ("new Int16Array(2)", " is an instance of Int16Array"),
            (
                "new Uint8ClampedArray(2)",
                " is an instance of Uint8ClampedArray",
            ),
            ("new ArrayBuffer(2)", " is an instance of ArrayBuffer"),
            (
                "{ class Point { constructor() { this.x = 1; } } ({ p: new Point() }) }",
                ".p is an instance of Point",
            ),
            ("new Error('x')", " is an instance of Error"),
            (
                "Promise.resolve(1)",
                " is a Promise (did you forget an `await`?)",
            ),
            ("new Proxy({}, {})", " is a Proxy"),
            // As before: the prototype is checked first.
            ("new Proxy([], {})", " is an instance of Array"),
            (
                "Object.setPrototypeOf({}, { constructor: { name: '' } })",
                " is an object with a non-plain prototype",
            ),
            (
                "{ const b = new ArrayBuffer(4); const a = new Uint8Array(b); b.transfer(); ({ a }) }",
                ".a is a detached Uint8Array",
            ),
            (
                "({ get x() { throw new Error('nope'); } })",
                " is an object whose property getter threw",
            ),
            (
                "[{ get x() { throw 1; } }]",
                "[0] is an object whose property getter threw",
            ),
            (
                "{ const c = { a: [] }; c.a.push(c); c }",
                ".a[0] refers back to an object that contains it (a cycle)",
            ),
        ] {
            let message = refusal(source);
            assert!(
                message.starts_with(&format!("the argument{found}")),
                "{source}: {message}"
            );
        }
    }

    #[test]
    fn sparse_arrays_larger_than_the_heap_allows_are_refused() {
        // A small heap: at most MIN_ENCODE_LIMIT encoded; this would be
        // 2^31 bytes.
        let message = isolate_with_heap(1, |raw, proto, codec| {
            let value: JsValue = raw
                .ctx()
                .eval("{ const a = []; a.length = 2 ** 31; a }")
                .expect("source evaluates");
            let refused = encode(raw, proto, codec, &value).expect_err("refused");
            refused.into_error("the argument").0
        });
        assert!(
            message
                .starts_with("the argument is an array of 2147483648 elements, too large to copy"),
            "{message}"
        );
    }

    #[test]
    fn nesting_is_limited_to_max_depth() {
        let nest = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(encode_js(&nest(MAX_DEPTH)).is_ok());
        let message = refusal(&nest(MAX_DEPTH + 1));
        assert_eq!(
            message,
            crate::value::too_deep_message(&format!(
                "the argument{}",
                crate::value::path_text(std::iter::repeat_n("[0]", MAX_DEPTH))
            ))
        );
        // A wrapping (a store operation's own levels) does not count.
        isolate(|raw, proto, codec| {
            let value: JsValue = raw
                .ctx()
                .eval(format!("[[[{}]]]", nest(MAX_DEPTH)))
                .expect("evaluates");
            assert!(encode_wrapped(raw, proto, codec, &value, 3).is_ok());
            let value: JsValue = raw
                .ctx()
                .eval(format!("[[[{}]]]", nest(MAX_DEPTH + 1)))
                .expect("evaluates");
            assert!(encode_wrapped(raw, proto, codec, &value, 3).is_err());
        });
    }

    #[test]
    fn encoded_values_read_the_same_in_rust() {
        let bytes = encode_js(
            "({ n: -0, big: -(2n ** 70n), s: 'é', b: new Uint8Array([1]), a: [undefined, null, true], o: {} })",
        )
        .expect("encodes");
        let value = crate::engine::wire::decode(&bytes).expect("decodes in Rust");
        let big = crate::value::BigInt::parse("-1180591620717411303424").expect("digits");
        assert_eq!(
            value,
            Value::object([
                ("n", Value::Number(-0.0)),
                ("big", Value::BigInt(big)),
                ("s", Value::from("é")),
                ("b", Value::Bytes(vec![1])),
                (
                    "a",
                    Value::Array(vec![Value::Undefined, Value::Null, Value::Bool(true)])
                ),
                ("o", Value::object::<&str>([])),
            ])
        );
    }

    #[test]
    fn rust_values_and_other_encodings_decode() {
        // JSON (from Rust), Latin-1 and UTF-16 (from V8) and the tree form.
        let post = Value::object([
            ("id", Value::Number(1.0)),
            ("text", Value::from("café \u{2028}")),
            (
                "tags",
                Value::Array((0..10).map(|i| Value::Number(f64::from(i))).collect()),
            ),
            ("__proto__", Value::Bool(true)),
        ]);
        let mut json = Vec::new();
        crate::engine::wire::encode(&post, &mut json);
        let mut tree = Vec::new();
        crate::engine::wire::encode_tree_into(&post, &mut tree);
        let check = "v => v.id === 1 && v.text === 'café \\u2028' && v.tags[9] === 9 && \
                     Object.getPrototypeOf(v) === Object.prototype && v['__proto__'] === true";
        assert_eq!(decode_js(&tree, check), Ok(true));
        let without_proto = Value::object([("tags", Value::Array(vec![Value::Null; 10]))]);
        json.clear();
        crate::engine::wire::encode(&without_proto, &mut json);
        assert_eq!(json[0], tag::JSON_TEXT);
        assert_eq!(
            decode_js(&json, "v => v.tags.length === 10 && v.tags[3] === null"),
            Ok(true)
        );
        let latin1 = [tag::LATIN1, 4, 0, 0, 0, b'c', b'a', b'f', 0xE9];
        assert_eq!(decode_js(&latin1, "v => v === 'caf\\u00e9'"), Ok(true));
        let mut utf16 = vec![tag::UTF16, 2, 0, 0, 0];
        for unit in [0xD83Du16, 0x61] {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(
            decode_js(&utf16, "v => v.length === 2 && v.charCodeAt(0) === 0xD83D"),
            Ok(true)
        );
    }

    #[test]
    fn malformed_bytes_are_errors_not_panics() {
        let bytes = encode_js(
            "({ a: [1, 'two', 3n, new Uint8Array([4]), { b: null }], 'ключ': 'значение', c: 2n ** 80n })",
        )
        .expect("encodes");
        assert!(decode_js(&bytes, "v => true").is_ok());
        isolate(|raw, _, codec| {
            for cut in 0..bytes.len() {
                assert!(decode(raw, codec, &bytes[..cut]).is_err(), "cut at {cut}");
            }
            let mut trailing = bytes.clone();
            trailing.push(tag::NULL);
            let bad: &[&[u8]] = &[
                &trailing,
                &[99],
                &[10, 0, 0, 0, 0],                    // refused: not a value
                &[tag::ARRAY, 255, 255, 255, 255, 1], // count beyond the bytes
                &[tag::OBJECT, 1, 0, 0, 0, 1, 0, 0, 0, 0xFF, tag::NULL], // key not UTF-8
                &[tag::STRING, 2, 0, 0, 0, 0xC3, 0x28], // not UTF-8
                &[tag::BIGINT, 2, 0, 0, 0, b'1', b'x'],
                &[tag::JSON_TEXT, 3, 0, 0, 0, b'{', b'x', b'}'],
                &[tag::UTF16, 1, 0, 0, 0, 0x61],
            ];
            for bytes in bad {
                assert!(
                    matches!(decode(raw, codec, bytes), Err(DecodeError::Malformed(_))),
                    "{bytes:?}"
                );
            }
            let mut deep = [tag::ARRAY, 1, 0, 0, 0].repeat(DECODE_MAX_DEPTH + 1);
            deep.push(tag::NULL);
            assert_eq!(decode(raw, codec, &deep).err(), Some(DecodeError::TooDeep));
        });
    }

    #[test]
    fn many_and_long_keys_cross_through_the_key_cache() {
        // More names than the cache holds, some longer than it caches,
        // sent twice (hits, misses and evictions), in both directions.
        let source = "{ const o = {}; for (let i = 0; i < 300; i++) \
                      o['key_' + i + (i % 7 === 0 ? '_with_a_name_longer_than_the_cache_keeps' : '')] = i; [o, o] }";
        let check = "v => v.every(o => Object.keys(o).length === 300 && \
                     Object.entries(o).every(([k, i]) => k.startsWith('key_' + i)))";
        isolate(|raw, proto, codec| {
            let ctx = raw.ctx();
            for _ in 0..2 {
                let value: JsValue = ctx.eval(source).expect("source evaluates");
                encode(raw, proto, codec, &value).expect("encodes");
                let copy = decode_encoded(raw, codec).expect("decodes");
                let check: Function = ctx.eval(check).expect("check compiles");
                assert!(
                    check
                        .call::<_, bool>((raw.give(copy),))
                        .expect("check runs")
                );
            }
        });
    }

    #[test]
    fn a_key_cache_moved_to_another_runtime_starts_over() {
        let mut codec = Codec::new(64 << 20);
        // Both runtimes stay alive: the cache tells runtimes apart by
        // address, and a freed runtime's address may be the next one's.
        let mut runtimes = Vec::new();
        for _ in 0..2 {
            let runtime = Runtime::new().expect("runtime");
            runtimes.push(runtime.clone());
            let context = Context::full(&runtime).expect("context");
            context.with(|ctx| {
                let raw = Raw::new(&ctx);
                let bytes = {
                    let mut b = Vec::new();
                    crate::engine::wire::encode_tree_into(
                        &Value::object([("shared_key", Value::Number(1.0))]),
                        &mut b,
                    );
                    b
                };
                let value = decode(&raw, &mut codec, &bytes).expect("decodes");
                let o = raw.give(value);
                let n: f64 = o
                    .as_object()
                    .expect("object")
                    .get("shared_key")
                    .expect("key");
                assert_eq!(n, 1.0);
            });
            // The codec is not released: its atoms are forgotten when it
            // meets the next runtime, and this one frees them itself.
        }
    }
}
