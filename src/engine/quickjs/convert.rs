//! Values crossing the QuickJS isolate's edge: to and from a [`Payload`]
//! (one pass each way through the wire format, `wire.rs`), to a [`Value`]
//! for host operations that read values in Rust (store requests), and
//! from a [`Value`] for those that make them (URL parts, error records).
//! Structured-clone rules apply throughout: anything that is not
//! undefined, null, a boolean, number, BigInt, string, array, plain object
//! or `Uint8Array` is refused with a message that says what was found and
//! where (`arg.user.tags[2] is a function ...`).

use rquickjs::{
    Array, BigInt as JsBigInt, Ctx, Object, String as JsString, TypedArray, Value as JsValue,
};

use super::ffi::Raw;
use super::host::SharedState;
use super::wire::{self, Codec, DecodeError};
use crate::engine::refusal::{CloneError, Refusal};
use crate::engine::{Payload, Wire};
use crate::value::{Key, Value};

/// Lends the isolate's [`Codec`] to `f`. A reentrant use (a getter that
/// calls a service while its object is being encoded) finds it lent and
/// gets a fresh one, released afterwards.
fn with_codec<'js, R>(
    raw: &Raw<'js>,
    state: &SharedState,
    f: impl FnOnce(&mut Codec, usize) -> R,
) -> R {
    let (codec, proto, heap_limit) = {
        let mut s = state.borrow_mut();
        (s.codec.take(), s.object_proto_id, s.heap_limit)
    };
    let mut codec = codec.unwrap_or_else(|| Codec::new(heap_limit));
    let result = f(&mut codec, proto);
    codec.trim();
    let displaced = state.borrow_mut().codec.replace(codec);
    if let Some(mut other) = displaced {
        other.release(raw);
    }
    result
}

/// Encodes a JavaScript value to send it to another isolate; `what` names
/// the value in errors ("the argument").
pub(crate) fn to_payload<'js>(
    ctx: &Ctx<'js>,
    state: &SharedState,
    value: &JsValue<'js>,
    what: &str,
) -> Result<Payload, CloneError> {
    let raw = Raw::new(ctx);
    with_codec(&raw, state, |codec, proto| {
        wire::encode(&raw, proto, codec, value).map_err(|r| r.into_error(what))?;
        Ok(Payload::Wire(Wire::from_bytes(codec.encoded().to_vec())))
    })
}

/// A copy of `value` through the boundary's codec (what the callee of a
/// call would receive), or the refusal: `host.clone`, with which the
/// bootstrap checks which properties of a failed invocation's error can
/// cross.
pub(crate) fn clone_value<'js>(
    ctx: &Ctx<'js>,
    state: &SharedState,
    value: &JsValue<'js>,
    what: &str,
) -> Result<JsValue<'js>, Result<CloneError, rquickjs::Error>> {
    let raw = Raw::new(ctx);
    with_codec(&raw, state, |codec, proto| {
        wire::encode(&raw, proto, codec, value).map_err(|r| Ok(r.into_error(what)))?;
        wire::decode_encoded(&raw, codec)
            .map(|js| raw.give(js))
            .map_err(|e| Err(decode_error(ctx, e)))
    })
}

/// Converts a JavaScript value to a [`Value`], or says why it cannot be:
/// for host operations that read the value in Rust and word the error
/// themselves. `wrapping` levels of the value are the operation's own
/// (`host_ops::STORE_OP_WRAPPING`) and do not count against the nesting
/// limit.
pub(crate) fn to_refusable_value<'js>(
    ctx: &Ctx<'js>,
    state: &SharedState,
    value: &JsValue<'js>,
    wrapping: usize,
) -> Result<Value, Refusal> {
    let raw = Raw::new(ctx);
    with_codec(&raw, state, |codec, proto| {
        wire::encode_wrapped(&raw, proto, codec, value, wrapping)?;
        crate::engine::wire::decode(codec.encoded())
            .map_err(|e| Refusal::new(format!("unreadable ({e})")))
    })
}

/// Builds the JavaScript value of a [`Payload`] in `ctx`.
pub(crate) fn from_payload<'js>(
    ctx: &Ctx<'js>,
    state: &SharedState,
    payload: &Payload,
) -> rquickjs::Result<JsValue<'js>> {
    let raw = Raw::new(ctx);
    let built = match payload {
        Payload::Wire(w) => with_codec(&raw, state, |codec, _| {
            wire::decode(&raw, codec, w.as_bytes())
        }),
        Payload::Value(v) => with_codec(&raw, state, |codec, _| wire::decode_value(&raw, codec, v)),
    };
    built
        .map(|js| raw.give(js))
        .map_err(|e| decode_error(ctx, e))
}

/// Builds the JavaScript value of a [`Value`] in `ctx` through the
/// codec (faster than [`from_value`] for anything but the smallest).
pub(crate) fn value_to_js<'js>(
    ctx: &Ctx<'js>,
    state: &SharedState,
    value: &Value,
) -> rquickjs::Result<JsValue<'js>> {
    let raw = Raw::new(ctx);
    with_codec(&raw, state, |codec, _| {
        wire::decode_value(&raw, codec, value)
    })
    .map(|js| raw.give(js))
    .map_err(|e| decode_error(ctx, e))
}

/// Reports a decoding failure as a JavaScript exception.
fn decode_error(ctx: &Ctx<'_>, e: DecodeError) -> rquickjs::Error {
    match e {
        DecodeError::Thrown => rquickjs::Error::Exception,
        other => rquickjs::Exception::throw_internal(ctx, &other.to_string()),
    }
}

/// Converts a JavaScript string, replacing lone surrogates by U+FFFD.
pub(crate) fn to_rust_string(s: &JsString<'_>) -> String {
    if let Ok(text) = s.to_string() {
        return text;
    }
    // Only strings with lone surrogates fail to convert; make them
    // well-formed in JavaScript (rare path, so the eval is acceptable).
    let fixed: rquickjs::Result<String> = s
        .ctx()
        .eval::<rquickjs::Function, _>("(s) => String.prototype.toWellFormed.call(s)")
        .and_then(|f| f.call((s.clone(),)));
    fixed.unwrap_or_else(|_| String::from("\u{FFFD}"))
}

/// Converts a [`Value`] into a JavaScript value in `ctx` through rquickjs:
/// for the small values of host operations that have no isolate state at
/// hand (URL parts, form fields, error records).
pub(crate) fn from_value<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<JsValue<'js>> {
    Ok(match value {
        Value::Undefined => JsValue::new_undefined(ctx.clone()),
        Value::Null => JsValue::new_null(ctx.clone()),
        Value::Bool(b) => JsValue::new_bool(ctx.clone(), *b),
        // `new_number` stores integral doubles as ints, which would turn -0
        // into 0; keep the sign of zero.
        Value::Number(n) if *n == 0.0 && n.is_sign_negative() => {
            JsValue::new_float(ctx.clone(), *n)
        }
        Value::Number(n) => JsValue::new_number(ctx.clone(), *n),
        Value::BigInt(b) => match b.to_i64() {
            Some(i) => JsBigInt::from_i64(ctx.clone(), i)?.into_value(),
            // The digits are canonical (checked by `BigInt::parse`), so this
            // evaluates a literal and nothing else.
            None => ctx.eval::<JsValue, _>(format!("{}n", b.as_str()))?,
        },
        Value::String(s) => JsString::from_str(ctx.clone(), s)?.into_value(),
        Value::Wtf16(w) => wtf16_to_js(ctx, w.units())?,
        Value::Bytes(bytes) => TypedArray::<u8>::new_copy(ctx.clone(), bytes)?.into_value(),
        Value::Array(items) => {
            let array = Array::new(ctx.clone())?;
            for (i, item) in items.iter().enumerate() {
                array.set(i, from_value(ctx, item)?)?;
            }
            array.into_value()
        }
        Value::Object(pairs) => {
            let object = Object::new(ctx.clone())?;
            for (key, item) in pairs {
                let item = from_value(ctx, item)?;
                let name = match key {
                    Key::String(k) => JsString::from_str(ctx.clone(), k)?.into_value(),
                    Key::Wtf16(w) => wtf16_to_js(ctx, w.units())?,
                };
                if key == "__proto__" {
                    // A plain assignment would call the `__proto__` setter and
                    // change the prototype; define an own data property instead.
                    object.prop(
                        name,
                        rquickjs::object::Property::from(item)
                            .writable()
                            .enumerable()
                            .configurable(),
                    )?;
                } else {
                    object.set(name, item)?;
                }
            }
            object.into_value()
        }
    })
}

/// A string of UTF-16 code units (lone surrogates kept).
fn wtf16_to_js<'js>(ctx: &Ctx<'js>, units: &[u16]) -> rquickjs::Result<JsValue<'js>> {
    let raw = Raw::new(ctx);
    raw.string_utf16(units)
        .map(|js| raw.give(js))
        .map_err(|_| rquickjs::Error::Exception)
}
