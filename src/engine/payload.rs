//! [`Payload`]: a structured value on its way from one place to another —
//! between two isolates, or between an isolate and Rust.
//!
//! A value an isolate sends (a call's argument, an invocation's result) is
//! encoded once, in the isolate that made it, into the [wire format](super::wire),
//! and decoded once, in the isolate that receives it: nothing in between
//! looks inside. Rust code that must look inside (the gateway reading a
//! response, the CLI printing a result) decodes it into a [`Value`]; Rust
//! code that makes a value (the gateway's request, a store read) hands the
//! [`Value`] over as it is, and the receiving engine converts it.

use crate::value::Value;

use super::wire::{self, Malformed};

/// A value in transit. See the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A value made by Rust.
    Value(Value),
    /// A value encoded by an engine, not yet decoded.
    Wire(Wire),
}

/// Bytes in the [wire format](super::wire), as an engine encoded them.
#[derive(Clone, PartialEq, Eq)]
pub struct Wire(Vec<u8>);

impl Wire {
    /// Wraps bytes an engine encoded. They are trusted to be one value in
    /// the wire format; if they are not, decoding fails with
    /// [`Malformed`] (never undefined behaviour).
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Wire {
        Wire(bytes)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Decodes the value.
    pub fn to_value(&self) -> Result<Value, Malformed> {
        wire::decode(&self.0)
    }
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wire({} bytes)", self.0.len())
    }
}

impl Payload {
    /// The value, decoded if it is still encoded.
    pub fn into_value(self) -> Result<Value, Malformed> {
        match self {
            Payload::Value(v) => Ok(v),
            Payload::Wire(w) => w.to_value(),
        }
    }

    /// Appends the value's wire encoding to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Value(v) => wire::encode(v, out),
            Payload::Wire(w) => out.extend_from_slice(&w.0),
        }
    }
}

impl From<Value> for Payload {
    fn from(value: Value) -> Payload {
        Payload::Value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_and_value_payloads_read_the_same() {
        let value = Value::object([("a", Value::Array(vec![Value::Null, Value::from("x")]))]);
        let mut bytes = Vec::new();
        Payload::Value(value.clone()).encode_into(&mut bytes);
        let wire = Payload::Wire(Wire::from_bytes(bytes.clone()));
        let mut again = Vec::new();
        wire.encode_into(&mut again);
        assert_eq!(again, bytes);
        assert_eq!(wire.into_value(), Ok(value));
        assert!(
            Payload::Wire(Wire::from_bytes(vec![99]))
                .into_value()
                .is_err()
        );
    }
}
