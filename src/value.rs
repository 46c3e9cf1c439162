//! Structured values: what crosses a service boundary or enters a store.
//!
//! A [`Value`] is the engine-independent form of a JavaScript value with
//! structured-clone semantics, restricted to the types DESIGN.md lists:
//! `undefined`, `null`, booleans, numbers (IEEE doubles, so `-0` and `NaN`
//! survive), BigInts, strings, arrays, plain objects and `Uint8Array`.
//! Anything else (functions, symbols, class instances, cycles) is refused by
//! the engine when it converts *to* a `Value`, so every `Value` that exists
//! can be converted back into any engine.
//!
//! Objects keep their properties as an ordered list of `(key, value)` pairs:
//! the order a JavaScript program observes is the order it gets back.
//!
//! **Strings.** A JavaScript string is a sequence of UTF-16 code units and
//! may hold *lone surrogates* (`"a\uD800b"`), which no Rust `String` can
//! hold. A well-formed string is a [`Value::String`] (a [`Key::String`] as
//! an object key); one with a lone surrogate is a [`Value::Wtf16`]
//! ([`Key::Wtf16`]): its code units, exactly. So every JavaScript string
//! survives Rust unchanged, and Rust code that reads text sees `String`s
//! (use [`Value::to_well_formed`] to replace lone surrogates by U+FFFD, as
//! `TextEncoder` does).
//!
//! **Nesting.** A value nests at most [`MAX_DEPTH`] levels: see there.

use std::borrow::Cow;
use std::fmt;

/// The deepest nesting a value may have, wherever it goes: a call's
/// argument or result, a stored value, `structuredClone`, a backup.
///
/// The *depth* of a value is the number of containers (arrays and plain
/// objects; for `structuredClone` also `Map`, `Set` and `Error`s) on the
/// longest path from the value down to a leaf, the value itself included:
/// `1` and `"x"` have depth 0, `[]` and `{}` depth 1, `[[1]]` and
/// `{a: [1]}` depth 2. A value of depth `MAX_DEPTH` is accepted; a deeper
/// one is refused with a message that names the limit and the path to the
/// container that went past it. 256 is far more than data needs (deeper
/// values are almost always mistakes or cycles) and keeps every recursive
/// walk of a value well within a thread's stack.
pub const MAX_DEPTH: usize = 256;

/// What a value nested past [`MAX_DEPTH`] is, completing "… is": the words
/// every refusal of one uses (both engines' encoders, the store,
/// `structuredClone`, backups; `v8/codec.js` and `web/clone.js` spell them
/// out too, checked by a test).
pub(crate) const TOO_DEEP: &str = "nested more than 256 levels deep";

/// The rule a too-deep value broke, completing its message.
pub(crate) const NESTING_RULE: &str = "values passed between services, stored or cloned may nest at most 256 levels of arrays and objects";

/// The message for a value nested past [`MAX_DEPTH`]; `what` names it with
/// its path (`the argument of b.echo()[0][0]`).
pub(crate) fn too_deep_message(what: &str) -> String {
    format!("{what} is {TOO_DEEP}: {NESTING_RULE}")
}

/// Path segments longer than this are shown with their middle elided.
const PATH_SHOWN: usize = 16;

/// A path to a value inside another (`[0].user.tags[2]`) from its segments,
/// outermost first; a path of more than 16 segments (a value nested too
/// deeply has hundreds) keeps its first 12 and last 3 around `…`.
pub(crate) fn path_text<'a>(segments: impl ExactSizeIterator<Item = &'a str>) -> String {
    let n = segments.len();
    let mut out = String::new();
    for (i, segment) in segments.enumerate() {
        if n <= PATH_SHOWN || i < 12 || i >= n - 3 {
            out.push_str(segment);
        } else if i == 12 {
            out.push_str(&format!("…({} more)…", n - 15));
        }
    }
    out
}

/// An arbitrary-precision integer (a JavaScript `BigInt`), kept in canonical
/// decimal form: an optional `-` followed by digits with no leading zeros.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BigInt(String);

impl BigInt {
    /// Parses a canonical or non-canonical decimal integer (`"-0012"` is
    /// accepted and normalised to `"-12"`). Returns `None` for anything that
    /// is not an optional sign followed by at least one ASCII digit.
    pub fn parse(text: &str) -> Option<BigInt> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        if trimmed.is_empty() {
            return Some(BigInt("0".to_owned()));
        }
        let mut canonical = String::with_capacity(trimmed.len() + 1);
        if negative {
            canonical.push('-');
        }
        canonical.push_str(trimmed);
        Some(BigInt(canonical))
    }

    /// The canonical decimal representation.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as an `i64`, if it fits.
    pub fn to_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }
}

impl From<i64> for BigInt {
    fn from(v: i64) -> Self {
        BigInt(v.to_string())
    }
}

impl From<u64> for BigInt {
    fn from(v: u64) -> Self {
        BigInt(v.to_string())
    }
}

impl fmt::Debug for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}n", self.0)
    }
}

impl fmt::Display for BigInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JavaScript string that is not well-formed Unicode: its UTF-16 code
/// units, at least one of which is a lone surrogate (a high surrogate not
/// followed by a low one, or a low one not preceded by a high one). Rust's
/// `String` cannot hold it; this keeps it exactly. Made only by
/// [`Value::from_utf16`] and [`Key::from_utf16`], so a well-formed string
/// is never a `Wtf16`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Wtf16(Vec<u16>);

impl Wtf16 {
    /// The code units.
    pub fn units(&self) -> &[u16] {
        &self.0
    }

    /// The text with every lone surrogate replaced by U+FFFD (what
    /// `TextEncoder` encodes).
    pub fn to_string_lossy(&self) -> String {
        String::from_utf16_lossy(&self.0)
    }

    /// `Ok(text)` for well-formed code units, else `Err(Wtf16)`.
    fn classify(units: &[u16]) -> Result<String, Wtf16> {
        String::from_utf16(units).map_err(|_| Wtf16(units.to_vec()))
    }

    /// Where the first lone surrogate is (a code unit index) and what it is.
    pub fn first_lone_surrogate(&self) -> Option<(usize, u16)> {
        let mut i = 0;
        while i < self.0.len() {
            let unit = self.0[i];
            match unit {
                0xD800..=0xDBFF if matches!(self.0.get(i + 1), Some(0xDC00..=0xDFFF)) => i += 2,
                0xD800..=0xDFFF => return Some((i, unit)),
                _ => i += 1,
            }
        }
        None
    }
}

impl fmt::Debug for Wtf16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Like a string's Debug, lone surrogates as \u{d800}.
        f.write_str("\"")?;
        for c in char::decode_utf16(self.0.iter().copied()) {
            match c {
                Ok(c) => write!(f, "{}", c.escape_debug())?,
                Err(e) => write!(f, "\\u{{{:x}}}", e.unpaired_surrogate())?,
            }
        }
        f.write_str("\"")
    }
}

/// An object's property name: a JavaScript string, well-formed or not (see
/// the module documentation).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A well-formed name.
    String(String),
    /// A name with a lone surrogate.
    Wtf16(Wtf16),
}

impl Key {
    /// The key of these UTF-16 code units: a [`Key::String`] when they are
    /// well-formed.
    pub fn from_utf16(units: &[u16]) -> Key {
        match Wtf16::classify(units) {
            Ok(s) => Key::String(s),
            Err(w) => Key::Wtf16(w),
        }
    }

    /// The name, if it is well-formed.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Key::String(s) => Some(s),
            Key::Wtf16(_) => None,
        }
    }

    /// The name, lone surrogates replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> Cow<'_, str> {
        match self {
            Key::String(s) => Cow::Borrowed(s),
            Key::Wtf16(w) => Cow::Owned(w.to_string_lossy()),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::String(s) => fmt::Debug::fmt(s, f),
            Key::Wtf16(w) => fmt::Debug::fmt(w, f),
        }
    }
}

impl fmt::Display for Key {
    /// The name, lone surrogates shown as U+FFFD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_string_lossy())
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::String(s.to_owned())
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        Key::String(s)
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// A structured value. See the module documentation.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// JavaScript `undefined` (what a function without `return` yields).
    #[default]
    Undefined,
    /// JavaScript `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A JavaScript number (an IEEE 754 double; `-0` and `NaN` are kept).
    Number(f64),
    /// A JavaScript `BigInt`.
    BigInt(BigInt),
    /// A well-formed string.
    String(String),
    /// A string with a lone surrogate (which `String` cannot hold).
    Wtf16(Wtf16),
    /// A `Uint8Array`'s bytes.
    Bytes(Vec<u8>),
    /// An array (holes become `undefined`).
    Array(Vec<Value>),
    /// A plain object's own enumerable string-keyed properties, in order.
    Object(Vec<(Key, Value)>),
}

impl Value {
    /// Builds an object from `(key, value)` pairs.
    pub fn object<K: Into<Key>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The string of these UTF-16 code units: a [`Value::String`] when they
    /// are well-formed, else a [`Value::Wtf16`].
    pub fn from_utf16(units: &[u16]) -> Value {
        match Wtf16::classify(units) {
            Ok(s) => Value::String(s),
            Err(w) => Value::Wtf16(w),
        }
    }

    /// The value with every string and key that holds a lone surrogate
    /// made well-formed (each lone surrogate replaced by U+FFFD), for Rust
    /// code that reads text; borrowed when there is none (the usual case).
    pub fn to_well_formed(&self) -> Cow<'_, Value> {
        fn has_wtf16(v: &Value) -> bool {
            match v {
                Value::Wtf16(_) => true,
                Value::Array(items) => items.iter().any(has_wtf16),
                Value::Object(pairs) => pairs
                    .iter()
                    .any(|(k, v)| matches!(k, Key::Wtf16(_)) || has_wtf16(v)),
                _ => false,
            }
        }
        fn fix(v: &Value) -> Value {
            match v {
                Value::Wtf16(w) => Value::String(w.to_string_lossy()),
                Value::Array(items) => Value::Array(items.iter().map(fix).collect()),
                Value::Object(pairs) => Value::Object(
                    pairs
                        .iter()
                        .map(|(k, v)| (Key::String(k.to_string_lossy().into_owned()), fix(v)))
                        .collect(),
                ),
                other => other.clone(),
            }
        }
        if has_wtf16(self) {
            Cow::Owned(fix(self))
        } else {
            Cow::Borrowed(self)
        }
    }

    /// The depth of the value ([`MAX_DEPTH`] says what counts), or, if it
    /// is deeper than `limit`, the path to the first container past it
    /// (segments like `[0]` and `.a`, innermost first).
    pub fn depth_within(&self, limit: usize) -> Result<usize, Vec<String>> {
        fn walk(v: &Value, level: usize, limit: usize) -> Result<usize, Vec<String>> {
            let is_container = |v: &Value| matches!(v, Value::Array(_) | Value::Object(_));
            if !is_container(v) {
                return Ok(level);
            }
            if level >= limit {
                return Err(Vec::new());
            }
            let mut deepest = level + 1;
            match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate().filter(|(_, v)| is_container(v)) {
                        match walk(item, level + 1, limit) {
                            Ok(d) => deepest = deepest.max(d),
                            Err(mut path) => {
                                path.push(format!("[{i}]"));
                                return Err(path);
                            }
                        }
                    }
                }
                Value::Object(pairs) => {
                    for (key, item) in pairs.iter().filter(|(_, v)| is_container(v)) {
                        match walk(item, level + 1, limit) {
                            Ok(d) => deepest = deepest.max(d),
                            Err(mut path) => {
                                path.push(format!(".{key}"));
                                return Err(path);
                            }
                        }
                    }
                }
                _ => {}
            }
            Ok(deepest)
        }
        walk(self, 0, limit)
    }

    /// Looks up a property of an object; `None` for a missing key or a
    /// non-object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string inside a [`Value::String`] (`None` for a [`Value::Wtf16`]).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number inside a [`Value::Number`].
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Undefined => "undefined",
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::BigInt(_) => "bigint",
            Value::String(_) | Value::Wtf16(_) => "string",
            Value::Bytes(_) => "Uint8Array",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// Converts JSON into a value. JSON integers outside the range that a
    /// double represents exactly (|n| > 2^53) become [`Value::BigInt`], so a
    /// 64-bit id typed on a command line is not silently rounded.
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        const MAX_SAFE: u64 = (1 << 53) - 1;
        match json {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => {
                if let Some(u) = n.as_u64()
                    && u > MAX_SAFE
                {
                    return Value::BigInt(BigInt::from(u));
                }
                if let Some(i) = n.as_i64()
                    && i.unsigned_abs() > MAX_SAFE
                {
                    return Value::BigInt(BigInt::from(i));
                }
                Value::Number(n.as_f64().unwrap_or(f64::NAN))
            }
            J::String(s) => Value::String(s.clone()),
            J::Array(items) => Value::Array(items.iter().map(Value::from_json).collect()),
            J::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (Key::String(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts the value to JSON for display (the `call` command, logs).
    ///
    /// JSON has no exact form for every value, so this is lossy the way
    /// `JSON.stringify` is, with two deliberate differences that keep
    /// information visible: a BigInt becomes its decimal digits as a JSON
    /// number, and `Uint8Array` becomes an array of byte values. `undefined`
    /// becomes `null`; non-finite numbers become `null`; lone surrogates
    /// become U+FFFD.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Undefined | Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => {
                if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
                    // Integral doubles print as integers, as JSON.stringify does.
                    J::from(*n as i64)
                } else {
                    serde_json::Number::from_f64(*n).map_or(J::Null, J::Number)
                }
            }
            Value::BigInt(b) => b
                .as_str()
                .parse::<serde_json::Number>()
                .map_or_else(|_| J::String(b.to_string()), J::Number),
            Value::String(s) => J::String(s.clone()),
            Value::Wtf16(w) => J::String(w.to_string_lossy()),
            Value::Bytes(bytes) => J::Array(bytes.iter().map(|b| J::from(*b)).collect()),
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Object(pairs) => J::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Structural equality with JavaScript's `Object.is` rule for numbers
/// (`NaN` equals `NaN`, `0` differs from `-0`), which is what a round trip
/// through a boundary must preserve.
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Undefined, Value::Undefined) | (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => {
                (a.is_nan() && b.is_nan())
                    || (a == b && a.is_sign_negative() == b.is_sign_negative())
            }
            (Value::BigInt(a), Value::BigInt(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Wtf16(a), Value::Wtf16(b)) => a == b,
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_parse_normalises_and_rejects_garbage() {
        assert_eq!(
            BigInt::parse("-0012").map(|b| b.to_string()),
            Some("-12".into())
        );
        assert_eq!(BigInt::parse("-0").map(|b| b.to_string()), Some("0".into()));
        assert_eq!(BigInt::parse("+7").map(|b| b.to_string()), Some("7".into()));
        assert!(BigInt::parse("").is_none());
        assert!(BigInt::parse("-").is_none());
        assert!(BigInt::parse("12a").is_none());
        assert!(BigInt::parse("1.5").is_none());
    }

    #[test]
    fn equality_follows_object_is() {
        assert_eq!(Value::Number(f64::NAN), Value::Number(f64::NAN));
        assert_ne!(Value::Number(0.0), Value::Number(-0.0));
        assert_ne!(Value::Undefined, Value::Null);
        assert_ne!(Value::Number(1.0), Value::BigInt(BigInt::from(1i64)));
    }

    #[test]
    fn json_round_trip_keeps_big_integers_exact() {
        let json: serde_json::Value = serde_json::from_str(
            r#"{"id": 18446744073709551615, "n": 3, "neg": -9007199254740993}"#,
        )
        .expect("valid json");
        let v = Value::from_json(&json);
        assert_eq!(
            v.get("id"),
            Some(&Value::BigInt(
                BigInt::parse("18446744073709551615").expect("digits")
            ))
        );
        assert_eq!(v.get("n"), Some(&Value::Number(3.0)));
        assert!(matches!(v.get("neg"), Some(Value::BigInt(_))));
        assert_eq!(v.to_json(), json);
    }

    #[test]
    fn lone_surrogates_are_kept_and_can_be_made_well_formed() {
        assert_eq!(Value::from_utf16(&[0x61, 0x62]), Value::from("ab"));
        assert_eq!(
            Value::from_utf16(&[0xD83D, 0xDE00]),
            Value::from("\u{1F600}")
        );
        let lone = Value::from_utf16(&[0x61, 0xD83D, 0xDE00, 0xDC00]);
        let Value::Wtf16(w) = &lone else {
            panic!("{lone:?}")
        };
        assert_eq!(w.first_lone_surrogate(), Some((3, 0xDC00)));
        assert_eq!(format!("{lone:?}"), "Wtf16(\"a😀\\u{dc00}\")");
        assert_ne!(lone, Value::from("a\u{1F600}\u{FFFD}"));
        assert_eq!(lone.type_name(), "string");
        let key = Key::from_utf16(&[0xD800]);
        assert!(key.as_str().is_none() && key != "\u{FFFD}");
        assert_eq!(Key::from_utf16(&[0x6B]), "k");
        let v = Value::Object(vec![(key, Value::Array(vec![lone.clone()]))]);
        let fixed = v.to_well_formed();
        assert_eq!(
            *fixed,
            Value::object([(
                "\u{FFFD}",
                Value::Array(vec![Value::from("a\u{1F600}\u{FFFD}")])
            )])
        );
        let plain = Value::object([("a", Value::from("b"))]);
        assert!(matches!(plain.to_well_formed(), Cow::Borrowed(_)));
    }

    #[test]
    fn depth_counts_containers_and_names_the_one_too_deep() {
        assert_eq!(Value::Number(1.0).depth_within(0), Ok(0));
        assert_eq!(Value::Array(vec![]).depth_within(1), Ok(1));
        let v = Value::object([
            ("flat", Value::Null),
            (
                "a",
                Value::Array(vec![
                    Value::Null,
                    Value::object([("b", Value::Array(vec![]))]),
                ]),
            ),
        ]);
        assert_eq!(v.depth_within(4), Ok(4));
        let path = v.depth_within(3).expect_err("deeper than 3");
        let path: Vec<&str> = path.iter().rev().map(String::as_str).collect();
        assert_eq!(path, [".a", "[1]", ".b"]);
    }

    #[test]
    fn long_paths_are_elided_and_messages_name_the_limit() {
        let short = ["[0]"; 16];
        assert_eq!(path_text(short.iter().copied()), "[0]".repeat(16));
        let segments: Vec<String> = (0..300).map(|i| format!("[{i}]")).collect();
        let text = path_text(segments.iter().map(String::as_str));
        assert!(
            text.starts_with("[0][1][2][3][4][5][6][7][8][9][10][11]…(285 more)…[297][298][299]"),
            "{text}"
        );
        assert!(TOO_DEEP.contains(&MAX_DEPTH.to_string()));
        assert!(NESTING_RULE.contains(&MAX_DEPTH.to_string()));
        assert_eq!(
            too_deep_message("the value[0]"),
            format!("the value[0] is {TOO_DEEP}: {NESTING_RULE}")
        );
    }

    /// The JavaScript that spells the limit and its message out says the
    /// same as this module.
    #[test]
    fn the_javascript_codec_and_clone_use_the_same_limit_and_words() {
        let codec = include_str!("engine/v8/codec.js");
        let clone = include_str!("engine/js/web/clone.js");
        for source in [codec, clone] {
            assert!(source.contains(&format!("const MAX_DEPTH = {MAX_DEPTH};")));
            assert!(source.contains(&format!("const TOO_DEEP = \"{TOO_DEEP}\";")));
        }
        assert!(clone.contains(&format!("\"{NESTING_RULE}\"")));
    }

    #[test]
    fn to_json_is_lossy_like_json_stringify() {
        assert_eq!(Value::Undefined.to_json(), serde_json::Value::Null);
        assert_eq!(
            Value::Number(f64::INFINITY).to_json(),
            serde_json::Value::Null
        );
        assert_eq!(Value::Number(1.5).to_json(), serde_json::json!(1.5));
        assert_eq!(
            Value::Bytes(vec![1, 2]).to_json(),
            serde_json::json!([1, 2])
        );
    }
}
