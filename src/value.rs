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

use std::fmt;

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
    /// A string. JavaScript strings may hold lone surrogates; those are
    /// replaced by U+FFFD on conversion, as `TextEncoder` does.
    String(String),
    /// A `Uint8Array`'s bytes.
    Bytes(Vec<u8>),
    /// An array (holes become `undefined`).
    Array(Vec<Value>),
    /// A plain object's own enumerable string-keyed properties, in order.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// Builds an object from `(key, value)` pairs.
    pub fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Looks up a property of an object; `None` for a missing key or a
    /// non-object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string inside a [`Value::String`].
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
            Value::String(_) => "string",
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
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
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
    /// becomes `null`; non-finite numbers become `null`.
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
            Value::Bytes(bytes) => J::Array(bytes.iter().map(|b| J::from(*b)).collect()),
            Value::Array(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Value::Object(pairs) => J::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
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
