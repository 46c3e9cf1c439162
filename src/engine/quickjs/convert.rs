//! Conversion between QuickJS values and [`Value`], with structured-clone
//! rules: anything that is not undefined, null, a boolean, number, BigInt,
//! string, array, plain object or `Uint8Array` is refused with a message
//! that says what was found and where (`arg.user.tags[2]: a function ...`).

use rquickjs::{
    Array, BigInt as JsBigInt, Ctx, Object, String as JsString, Type, TypedArray, Value as JsValue,
};

use super::ffi::typed_array_bytes;
use crate::engine::Payload;
use crate::engine::refusal::{CloneError, MAX_DEPTH, Refusal};
use crate::value::{BigInt, Value};

/// Converts a JavaScript value to a [`Value`]. `object_proto` is the
/// context's intrinsic `Object.prototype`, captured before user code ran;
/// `what` names the value in errors ("the argument of user.login()").
pub(crate) fn to_value<'js>(
    value: &JsValue<'js>,
    object_proto: &Object<'js>,
    what: &str,
) -> Result<Value, CloneError> {
    let mut ancestors = Vec::new();
    convert(value, object_proto, &mut ancestors).map_err(|r| r.into_error(what))
}

/// Converts a JavaScript value to a [`Value`], or says why it cannot be:
/// for callers that word the error themselves.
pub(crate) fn to_refusable_value<'js>(
    value: &JsValue<'js>,
    object_proto: &Object<'js>,
) -> Result<Value, Refusal> {
    convert(value, object_proto, &mut Vec::new())
}

fn convert<'js>(
    value: &JsValue<'js>,
    object_proto: &Object<'js>,
    ancestors: &mut Vec<JsValue<'js>>,
) -> Result<Value, Refusal> {
    match value.type_of() {
        Type::Uninitialized | Type::Undefined => Ok(Value::Undefined),
        Type::Null => Ok(Value::Null),
        Type::Bool => Ok(Value::Bool(value.as_bool().unwrap_or(false))),
        Type::Int => Ok(Value::Number(f64::from(value.as_int().unwrap_or(0)))),
        Type::Float => Ok(Value::Number(value.as_float().unwrap_or(f64::NAN))),
        Type::String => {
            let s = value.as_string().ok_or_else(|| Refusal::new("a string"))?;
            Ok(Value::String(to_rust_string(s)))
        }
        Type::BigInt => {
            let text = value
                .get::<rquickjs::convert::Coerced<String>>()
                .map_err(|_| Refusal::new("a BigInt that cannot be printed"))?;
            BigInt::parse(&text.0)
                .map(Value::BigInt)
                .ok_or_else(|| Refusal::new("a malformed BigInt"))
        }
        Type::Symbol => Err(Refusal::new("a symbol")),
        Type::Function | Type::Constructor => Err(Refusal::new("a function")),
        Type::Promise => Err(Refusal::new("a Promise (did you forget an `await`?)")),
        Type::Array => {
            let array = value.as_array().ok_or_else(|| Refusal::new("an array"))?;
            enter(value, ancestors)?;
            let mut items = Vec::with_capacity(array.len());
            for i in 0..array.len() {
                let item: JsValue = array
                    .get(i)
                    .map_err(|_| Refusal::new("an array with an unreadable element"))?;
                let converted = convert(&item, object_proto, ancestors)
                    .map_err(|r| r.within(format!("[{i}]")))?;
                items.push(converted);
            }
            ancestors.pop();
            Ok(Value::Array(items))
        }
        Type::Object | Type::Exception | Type::Proxy => {
            let object = value.as_object().ok_or_else(|| Refusal::new("an object"))?;
            if let Ok(bytes) = TypedArray::<u8>::from_object(object.clone()) {
                let copy = typed_array_bytes(&bytes)
                    .ok_or_else(|| Refusal::new("a detached Uint8Array"))?;
                return Ok(Value::Bytes(copy));
            }
            match object.get_prototype() {
                None => {}
                Some(proto) if proto == *object_proto => {}
                Some(_) => return Err(Refusal::new(describe_instance(object))),
            }
            if value.type_of() == Type::Proxy {
                return Err(Refusal::new("a Proxy"));
            }
            enter(value, ancestors)?;
            let mut pairs = Vec::new();
            for key in object.keys::<String>() {
                let key = key.map_err(|_| Refusal::new("an object with an unreadable key"))?;
                let item: JsValue = object
                    .get(key.as_str())
                    .map_err(|_| Refusal::new("an object whose property getter threw"))?;
                match convert(&item, object_proto, ancestors) {
                    Ok(converted) => pairs.push((key, converted)),
                    Err(r) => return Err(r.within(format!(".{key}"))),
                }
            }
            ancestors.pop();
            Ok(Value::Object(pairs))
        }
        Type::Module | Type::Unknown => Err(Refusal::new("an engine-internal value")),
    }
}

/// Pushes a container on the ancestor stack, refusing cycles and depth.
fn enter<'js>(value: &JsValue<'js>, ancestors: &mut Vec<JsValue<'js>>) -> Result<(), Refusal> {
    if ancestors.iter().any(|a| a == value) {
        return Err(Refusal::new(
            "refers back to an object that contains it (a cycle)",
        ));
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(Refusal::new(format!(
            "nested more than {MAX_DEPTH} levels deep"
        )));
    }
    ancestors.push(value.clone());
    Ok(())
}

/// "an instance of Map", "a Date", …: what the user passed, by constructor.
fn describe_instance(object: &Object<'_>) -> String {
    let name = object
        .get::<_, Object>("constructor")
        .ok()
        .and_then(|c| c.get::<_, String>("name").ok())
        .filter(|n| !n.is_empty());
    match name {
        Some(name) => format!("an instance of {name}"),
        None => "an object with a non-plain prototype".to_owned(),
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

/// Converts a [`Payload`] into a JavaScript value in `ctx`.
pub(crate) fn from_payload<'js>(
    ctx: &Ctx<'js>,
    payload: &Payload,
) -> rquickjs::Result<JsValue<'js>> {
    match payload {
        Payload::Value(v) => from_value(ctx, v),
        Payload::Wire(w) => {
            let value = w
                .to_value()
                .map_err(|e| rquickjs::Exception::throw_internal(ctx, &e.to_string()))?;
            from_value(ctx, &value)
        }
    }
}

/// Converts a [`Value`] into a JavaScript value in `ctx`.
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
                if key == "__proto__" {
                    // A plain assignment would call the `__proto__` setter and
                    // change the prototype; define an own data property instead.
                    object.prop(
                        key.as_str(),
                        rquickjs::object::Property::from(item)
                            .writable()
                            .enumerable()
                            .configurable(),
                    )?;
                } else {
                    object.set(key.as_str(), item)?;
                }
            }
            object.into_value()
        }
    })
}
