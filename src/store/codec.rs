//! The on-disk encoding of a [`Value`]: compact, versioned, binary.
//!
//! # Format, versions 1 and 2
//!
//! An encoded value is one **format version byte** (`0x01` or `0x02`) followed by exactly one
//! *item*; nothing may follow the item. An item is a tag byte and a payload:
//!
//! | tag    | type                   | payload                                                        |
//! |--------|------------------------|----------------------------------------------------------------|
//! | `0x00` | `undefined`            | none                                                           |
//! | `0x01` | `null`                 | none                                                           |
//! | `0x02` | `false`                | none                                                           |
//! | `0x03` | `true`                 | none                                                           |
//! | `0x04` | number                 | 8 bytes: the IEEE 754 bits, little-endian (`-0`, `NaN` payload and infinities survive) |
//! | `0x05` | number, integral       | zigzag varint of the integer; only for integral values with \|n\| ≤ 2^53 that are not `-0` |
//! | `0x06` | BigInt                 | varint length, then the canonical decimal digits in ASCII, with a leading `-` if negative |
//! | `0x07` | string                 | varint byte length, then UTF-8                                 |
//! | `0x08` | `Uint8Array`           | varint byte length, then the bytes                             |
//! | `0x09` | array                  | varint element count, then that many items                     |
//! | `0x0A` | object                 | varint property count, then per property: varint key length, UTF-8 key, item |
//! | `0x0B` | string with a lone surrogate (version 2) | varint count of UTF-16 code units, then the units, 2 bytes each, little-endian |
//! | `0x0C` | object with a key that has a lone surrogate (version 2) | varint property count, then per property: the key as an item (`0x07` or `0x0B`), item |
//!
//! Version 2 adds tags `0x0B` and `0x0C` for JavaScript strings that are not well-formed
//! Unicode ([`Value::Wtf16`], [`Key::Wtf16`]). [`encode`] writes version 1 whenever a value
//! needs neither (almost always), so such values stay readable by builds that know only
//! version 1; it writes version 2 only for a value that holds a lone surrogate (older builds
//! then refuse it as an unknown version rather than misread it). [`decode`] reads both; in
//! version-1 data the new tags are refused.
//!
//! A *varint* is unsigned LEB128 (7 bits per byte, least significant group first, high bit set
//! on every byte but the last), at most 10 bytes for a `u64`. Zigzag maps `n` to
//! `(n << 1) ^ (n >> 63)` so small negative integers stay short.
//!
//! Arrays and objects nest at most [`MAX_DEPTH`] levels (the one limit of every value,
//! [`crate::value::MAX_DEPTH`]); [`encode`] refuses deeper values. [`decode`] reads up to
//! [`READ_MAX_DEPTH`], the limit builds before it had, so data they stored still reads.
//! Decoding never panics: an unknown version, an unknown tag, a truncated payload, invalid
//! UTF-8, a non-canonical BigInt, an overlong varint or trailing bytes are reported as a
//! [`CodecError`].

use crate::value::{BigInt, Key, Value, Wtf16};

/// The newest format version: what [`encode`] writes for a value with a lone surrogate
/// (and [`FORMAT_VERSION_1`] for any other).
pub const FORMAT_VERSION: u8 = 2;

/// The first format version, written for values without lone surrogates.
pub const FORMAT_VERSION_1: u8 = 1;

/// The deepest nesting of arrays and objects that is encoded.
pub const MAX_DEPTH: usize = crate::value::MAX_DEPTH;

/// The deepest nesting decoded: the encoding limit of earlier builds (512), so that what
/// they stored reads back.
pub const READ_MAX_DEPTH: usize = 512;

const T_UNDEFINED: u8 = 0x00;
const T_NULL: u8 = 0x01;
const T_FALSE: u8 = 0x02;
const T_TRUE: u8 = 0x03;
const T_F64: u8 = 0x04;
const T_INT: u8 = 0x05;
const T_BIGINT: u8 = 0x06;
const T_STRING: u8 = 0x07;
const T_BYTES: u8 = 0x08;
const T_ARRAY: u8 = 0x09;
const T_OBJECT: u8 = 0x0A;
const T_UTF16: u8 = 0x0B;
const T_OBJECT_KEYED: u8 = 0x0C;

/// 2^53: integral numbers up to this magnitude use the short integer form.
const MAX_EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// Why bytes could not be decoded (or a value encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, CodecError> {
    Err(CodecError(msg.into()))
}

/// Encodes a value. Fails only when arrays/objects nest deeper than [`MAX_DEPTH`].
pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(32);
    out.push(FORMAT_VERSION_1);
    let mut encoder = Encoder {
        out,
        version_2: false,
    };
    if let Err(path) = encoder.item(value, 0) {
        let path = crate::value::path_text(path.iter().rev().map(String::as_str));
        return err(crate::value::too_deep_message(&format!("the value{path}")));
    }
    let mut out = encoder.out;
    if encoder.version_2 {
        out[0] = FORMAT_VERSION;
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_units(out: &mut Vec<u8>, units: &[u16]) {
    put_varint(out, units.len() as u64);
    out.reserve(2 * units.len());
    for unit in units {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

struct Encoder {
    out: Vec<u8>,
    /// Whether a version-2 item was written.
    version_2: bool,
}

impl Encoder {
    /// Writes one item; a value nested too deeply is refused with the path to the container
    /// past the limit (innermost segment first).
    fn item(&mut self, value: &Value, depth: usize) -> Result<(), Vec<String>> {
        let out = &mut self.out;
        match value {
            Value::Undefined => out.push(T_UNDEFINED),
            Value::Null => out.push(T_NULL),
            Value::Bool(false) => out.push(T_FALSE),
            Value::Bool(true) => out.push(T_TRUE),
            Value::Number(n) => {
                let n = *n;
                if n.fract() == 0.0
                    && n.abs() <= MAX_EXACT_INT
                    && !(n == 0.0 && n.is_sign_negative())
                {
                    out.push(T_INT);
                    let i = n as i64;
                    put_varint(out, ((i << 1) ^ (i >> 63)) as u64);
                } else {
                    out.push(T_F64);
                    out.extend_from_slice(&n.to_bits().to_le_bytes());
                }
            }
            Value::BigInt(b) => {
                out.push(T_BIGINT);
                put_bytes(out, b.as_str().as_bytes());
            }
            Value::String(s) => {
                out.push(T_STRING);
                put_bytes(out, s.as_bytes());
            }
            Value::Wtf16(w) => self.wtf16(w),
            Value::Bytes(b) => {
                out.push(T_BYTES);
                put_bytes(out, b);
            }
            Value::Array(items) => {
                if depth >= MAX_DEPTH {
                    return Err(Vec::new());
                }
                out.push(T_ARRAY);
                put_varint(out, items.len() as u64);
                for (i, item) in items.iter().enumerate() {
                    self.item(item, depth + 1).map_err(|mut path| {
                        path.push(format!("[{i}]"));
                        path
                    })?;
                }
            }
            Value::Object(pairs) => {
                if depth >= MAX_DEPTH {
                    return Err(Vec::new());
                }
                let keyed = pairs.iter().any(|(k, _)| matches!(k, Key::Wtf16(_)));
                if keyed {
                    self.version_2 = true;
                }
                let out = &mut self.out;
                out.push(if keyed { T_OBJECT_KEYED } else { T_OBJECT });
                put_varint(out, pairs.len() as u64);
                for (k, v) in pairs {
                    match k {
                        Key::String(k) if keyed => {
                            self.out.push(T_STRING);
                            put_bytes(&mut self.out, k.as_bytes());
                        }
                        Key::String(k) => put_bytes(&mut self.out, k.as_bytes()),
                        Key::Wtf16(w) => self.wtf16(w),
                    }
                    self.item(v, depth + 1).map_err(|mut path| {
                        path.push(format!(".{k}"));
                        path
                    })?;
                }
            }
        }
        Ok(())
    }

    fn wtf16(&mut self, w: &Wtf16) {
        self.version_2 = true;
        self.out.push(T_UTF16);
        put_units(&mut self.out, w.units());
    }
}

/// Decodes bytes written by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return err("empty encoding (no format version byte)");
    };
    if version != FORMAT_VERSION_1 && version != FORMAT_VERSION {
        return err(format!(
            "unknown value format version {version} (this build reads versions \
             {FORMAT_VERSION_1} to {FORMAT_VERSION})"
        ));
    }
    let mut r = Reader {
        buf: rest,
        pos: 0,
        version,
    };
    let value = r.item(0)?;
    if r.pos != r.buf.len() {
        return err(format!(
            "{} trailing bytes after the value",
            r.buf.len() - r.pos
        ));
    }
    Ok(value)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    version: u8,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, CodecError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => err(format!(
                "truncated: expected a byte at offset {}",
                self.pos + 1
            )),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.remaining() {
            return err(format!(
                "truncated: {n} bytes needed at offset {}, {} left",
                self.pos + 1,
                self.remaining()
            ));
        }
        let slice = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut n: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7F);
            if i == 9 && bits > 1 {
                return err("varint overflows 64 bits");
            }
            n |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        err("varint longer than 10 bytes")
    }

    /// A length or count, checked against the bytes left (each element takes >= 1 byte).
    fn len(&mut self) -> Result<usize, CodecError> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => err(format!(
                "truncated: length {n} exceeds the {} bytes left",
                self.remaining()
            )),
        }
    }

    fn string(&mut self) -> Result<String, CodecError> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => err(format!("invalid UTF-8 in string: {e}")),
        }
    }

    /// A varint count of UTF-16 code units, then the units.
    fn units(&mut self) -> Result<Vec<u16>, CodecError> {
        let n = self.varint()?;
        let bytes = match usize::try_from(n).ok().and_then(|n| n.checked_mul(2)) {
            Some(b) if b <= self.remaining() => self.take(b)?,
            _ => {
                return err(format!(
                    "truncated: {n} code units exceed the {} bytes left",
                    self.remaining()
                ));
            }
        };
        Ok(bytes
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect())
    }

    fn version_2(&self, tag: u8) -> Result<(), CodecError> {
        if self.version < FORMAT_VERSION {
            return err(format!(
                "tag 0x{tag:02x} at offset {} in version-{} data (it is new in version 2)",
                self.pos, self.version
            ));
        }
        Ok(())
    }

    fn item(&mut self, depth: usize) -> Result<Value, CodecError> {
        let tag = self.byte()?;
        Ok(match tag {
            T_UNDEFINED => Value::Undefined,
            T_NULL => Value::Null,
            T_FALSE => Value::Bool(false),
            T_TRUE => Value::Bool(true),
            T_F64 => {
                let raw = self.take(8)?;
                let mut bits = [0u8; 8];
                bits.copy_from_slice(raw);
                Value::Number(f64::from_bits(u64::from_le_bytes(bits)))
            }
            T_INT => {
                let z = self.varint()?;
                let i = ((z >> 1) as i64) ^ -((z & 1) as i64);
                if i.unsigned_abs() > 1u64 << 53 {
                    return err(format!("integer {i} out of the exact double range"));
                }
                Value::Number(i as f64)
            }
            T_BIGINT => {
                let digits = self.string()?;
                match BigInt::parse(&digits) {
                    Some(b) if b.as_str() == digits => Value::BigInt(b),
                    _ => return err(format!("invalid BigInt digits {digits:?}")),
                }
            }
            T_STRING => Value::String(self.string()?),
            T_UTF16 => {
                self.version_2(tag)?;
                Value::from_utf16(&self.units()?)
            }
            T_BYTES => {
                let n = self.len()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            T_ARRAY | T_OBJECT | T_OBJECT_KEYED => {
                if tag == T_OBJECT_KEYED {
                    self.version_2(tag)?;
                }
                if depth >= READ_MAX_DEPTH {
                    return err(format!("value nests deeper than {READ_MAX_DEPTH} levels"));
                }
                let n = self.len()?;
                if tag == T_ARRAY {
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.item(depth + 1)?);
                    }
                    Value::Array(items)
                } else {
                    let mut pairs = Vec::with_capacity(n);
                    for _ in 0..n {
                        let k = if tag == T_OBJECT {
                            Key::String(self.string()?)
                        } else {
                            match self.byte()? {
                                T_STRING => Key::String(self.string()?),
                                T_UTF16 => Key::from_utf16(&self.units()?),
                                other => {
                                    return err(format!(
                                        "a key of type 0x{other:02x} at offset {}",
                                        self.pos
                                    ));
                                }
                            }
                        };
                        pairs.push((k, self.item(depth + 1)?));
                    }
                    Value::Object(pairs)
                }
            }
            other => {
                return err(format!(
                    "unknown type tag 0x{other:02x} at offset {}",
                    self.pos
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(s: &str) -> Value {
        Value::BigInt(BigInt::parse(s).expect("digits"))
    }

    fn sample() -> Value {
        Value::object([
            ("u", Value::Undefined),
            ("n", Value::Null),
            ("t", Value::Bool(true)),
            ("f", Value::Bool(false)),
            ("zero", Value::Number(0.0)),
            ("negzero", Value::Number(-0.0)),
            ("nan", Value::Number(f64::NAN)),
            ("inf", Value::Number(f64::INFINITY)),
            ("ninf", Value::Number(f64::NEG_INFINITY)),
            ("pi", Value::Number(std::f64::consts::PI)),
            ("int", Value::Number(-123_456.0)),
            ("max", Value::Number(MAX_EXACT_INT)),
            ("min", Value::Number(-MAX_EXACT_INT)),
            ("beyond", Value::Number(MAX_EXACT_INT * 4.0)),
            ("tiny", Value::Number(f64::MIN_POSITIVE / 4.0)),
            (
                "big",
                big("-123456789012345678901234567890123456789012345678901234567890"),
            ),
            ("bigzero", big("0")),
            ("s", Value::from("héllo ✓ 😀")),
            ("", Value::from("")),
            ("bytes", Value::Bytes(vec![0, 255, 1, 128])),
            ("empty", Value::Bytes(vec![])),
            (
                "arr",
                Value::Array(vec![
                    Value::Array(vec![]),
                    Value::Object(vec![]),
                    Value::Null,
                ]),
            ),
            (
                "nested",
                Value::object([("a", Value::object([("b", Value::Number(1.5))]))]),
            ),
        ])
    }

    #[test]
    fn round_trips_every_variant() {
        let v = sample();
        let bytes = encode(&v).expect("encode");
        assert_eq!(bytes[0], FORMAT_VERSION_1, "no lone surrogate: version 1");
        let back = decode(&bytes).expect("decode");
        assert_eq!(back, v);
        // -0 and NaN survive bit-exactly where it matters.
        let negzero = back.get("negzero").and_then(Value::as_f64).expect("number");
        assert!(negzero == 0.0 && negzero.is_sign_negative());
        assert!(
            back.get("nan")
                .and_then(Value::as_f64)
                .expect("number")
                .is_nan()
        );
        // Property order is kept.
        if let Value::Object(pairs) = back {
            let keys: Vec<_> = pairs.iter().filter_map(|(k, _)| k.as_str()).collect();
            assert_eq!(&keys[..3], &["u", "n", "t"]);
        } else {
            panic!("not an object");
        }
    }

    #[test]
    fn numbers_round_trip_bit_exactly() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            let back = decode(&encode(&Value::Number(f)).expect("encode")).expect("decode");
            let b = back.as_f64().expect("number");
            assert!(b.to_bits() == f.to_bits() || (f.is_nan() && b.is_nan()));
        }
        for i in [-1_000_000i64, -1, 0, 1, 63, 64, 1 << 40] {
            let v = Value::Number(i as f64);
            let bytes = encode(&v).expect("encode");
            assert!(bytes.len() <= 1 + 1 + 6, "{i} is encoded compactly");
            assert_eq!(decode(&bytes).expect("decode"), v);
        }
    }

    #[test]
    fn refuses_unknown_version_and_empty_input() {
        let mut bytes = encode(&Value::Null).expect("encode");
        bytes[0] = 3;
        let e = decode(&bytes).expect_err("version 3");
        assert!(e.0.contains("version 3"), "{e}");
        assert!(decode(&[]).is_err());
    }

    #[test]
    fn refuses_every_truncation_and_trailing_bytes() {
        let bytes = encode(&sample()).expect("encode");
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            decode(&longer)
                .expect_err("trailing")
                .0
                .contains("trailing")
        );
    }

    #[test]
    fn refuses_malformed_bytes_without_panicking() {
        let cases: &[&[u8]] = &[
            &[1, 0xFF],                                  // unknown tag
            &[1, T_STRING, 2, 0xC3, 0x28],               // invalid UTF-8
            &[1, T_BIGINT, 2, b'0', b'1'],               // non-canonical BigInt
            &[1, T_BIGINT, 2, b'1', b'x'],               // not digits
            &[1, T_ARRAY, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F], // huge count
            &[
                1, T_INT, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
            ], // overlong
            &[
                1, T_INT, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7F,
            ], // overflow
            &[
                1, T_INT, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
            ], // > 2^53
        ];
        for case in cases {
            assert!(decode(case).is_err(), "{case:?} accepted");
        }
        // Random garbage never panics.
        let mut x: u64 = 42;
        for len in 0..2000usize {
            let mut buf = vec![1u8];
            for _ in 0..(len % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push((x % 12) as u8);
            }
            let _ = decode(&buf);
        }
    }

    #[test]
    fn version_1_data_reads_as_before() {
        // Bytes as version 1 wrote them: {"s": "é", "a": [1, -0.5]}.
        let mut v1 = vec![
            1, T_OBJECT, 2, 1, b's', T_STRING, 2, 0xC3, 0xA9, 1, b'a', T_ARRAY, 2,
        ];
        v1.extend_from_slice(&[T_INT, 2, T_F64]);
        v1.extend_from_slice(&(-0.5f64).to_bits().to_le_bytes());
        let expected = Value::object([
            ("s", Value::from("é")),
            (
                "a",
                Value::Array(vec![Value::Number(1.0), Value::Number(-0.5)]),
            ),
        ]);
        assert_eq!(decode(&v1), Ok(expected.clone()));
        assert_eq!(encode(&expected), Ok(v1), "and is still written so");
        // The new tags are not version 1.
        let e = decode(&[1, T_UTF16, 1, 0x00, 0xD8]).expect_err("tag 0x0b in version 1");
        assert!(e.0.contains("version 2"), "{e}");
        assert!(decode(&[1, T_OBJECT_KEYED, 0]).is_err());
    }

    #[test]
    fn lone_surrogates_round_trip_in_version_2() {
        let lone = Value::from_utf16(&[0x61, 0xD800, 0x62]);
        let key = Key::from_utf16(&[0xDC00]);
        let value = Value::Array(vec![
            lone.clone(),
            Value::Object(vec![
                (key.clone(), lone.clone()),
                ("plain".into(), Value::from("x")),
            ]),
            Value::object([("only", lone.clone())]),
        ]);
        let bytes = encode(&value).expect("encode");
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode(&bytes), Ok(value));
        assert_eq!(
            encode(&lone).expect("encode"),
            [2, T_UTF16, 3, 0x61, 0, 0x00, 0xD8, 0x62, 0]
        );
        // Well-formed units under the new tag read as a plain string.
        assert_eq!(
            decode(&[2, T_UTF16, 2, 0x3D, 0xD8, 0x00, 0xDE]),
            Ok(Value::from("\u{1F600}"))
        );
        for bad in [
            &[2, T_UTF16, 2, 0x61][..],              // truncated
            &[2, T_OBJECT_KEYED, 1, T_NULL, T_NULL], // a key that is not a string
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn depth_is_bounded_both_ways() {
        let mut v = Value::Null;
        for _ in 0..MAX_DEPTH {
            v = Value::Array(vec![v]);
        }
        assert_eq!(
            decode(&encode(&v).expect("at the limit")).expect("decode"),
            v
        );
        let deeper = Value::object([("x", Value::Array(vec![v]))]);
        let e = encode(&deeper).expect_err("past the limit");
        assert!(
            e.0.starts_with("the value.x[0][0][0]") && e.0.contains("…(") && e.0.ends_with(
                "is nested more than 256 levels deep: values passed between services, stored or \
                 cloned may nest at most 256 levels of arrays and objects"
            ),
            "{e}"
        );
        // What earlier builds stored (up to 512 levels) still reads.
        let mut legacy = vec![1u8];
        legacy.extend(std::iter::repeat_n([T_ARRAY, 1], READ_MAX_DEPTH).flatten());
        legacy.push(T_NULL);
        assert!(decode(&legacy).is_ok());
        let mut bytes = vec![1u8];
        bytes.extend(std::iter::repeat_n([T_ARRAY, 1], 100_000).flatten());
        bytes.push(T_NULL);
        assert!(decode(&bytes).is_err());
    }
}
