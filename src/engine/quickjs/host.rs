//! The host operations: Rust functions the shared JavaScript (bootstrap and
//! Web APIs) calls through the `host` object. They are the whole surface
//! through which JavaScript reaches outside its isolate, so they are the
//! sandbox: nothing here touches files, processes, sockets or the
//! environment.
//!
//! Every operation is synchronous. Those that affect the outside world
//! (`call`, `store`, `fetch`, `complete`, `setTimer`) only record an [`Effect`] in the
//! isolate's [`HostState`]; the scheduler acts on it after the JavaScript
//! has returned.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::function::Opt;
use rquickjs::{Array, Ctx, Exception, Function, Object, Persistent, TypedArray, Value as JsValue};

use super::convert::{
    clone_value, from_value, to_payload, to_refusable_value, to_rust_string, value_to_js,
};
use super::ffi::typed_array_bytes;
use super::wire::Codec;
use crate::engine::context::AsyncContext;
use crate::engine::host_ops::{self, Thrown};
use crate::engine::{
    CallId, Effect, Env, InvocationId, JsError, SharedDirectory, StoreGrant, StoreRequest, TimerId,
    store_ops,
};

/// Why a call at module top level fails.
const NOT_READY: &str = "services cannot be called while modules are loading \
    (call them from inside a handler, not at the top level of a module)";

/// The Rust-side state of one isolate, shared by its host functions.
///
/// Invariant (see `send.rs`): every clone of the `Rc` lives inside the same
/// isolate (in its host functions or its `QjsIsolate`), so the state moves
/// between threads only together with the runtime that owns it.
pub(crate) struct HostState {
    pub(crate) service: Arc<str>,
    pub(crate) directory: SharedDirectory,
    /// The service's vars and secrets, for `host.env()`.
    pub(crate) env: Env,
    /// Granted stores.
    pub(crate) stores: Vec<StoreGrant>,
    pub(crate) effects: Vec<Effect>,
    pub(crate) cx: AsyncContext,
    pub(crate) started: Instant,
    /// The intrinsic `Object.prototype`, captured before user code ran, to
    /// recognise plain objects. Taken out before the runtime is dropped.
    pub(crate) object_proto: Option<Persistent<Object<'static>>>,
    /// `object_proto`'s identity (`ffi::Js::identity`), what the encoder
    /// compares prototypes with; valid while `object_proto` keeps it alive.
    pub(crate) object_proto_id: usize,
    /// The isolate's heap limit in bytes (bounds the codec's encodings).
    pub(crate) heap_limit: usize,
    /// The wire codec's buffers and key cache; lent out while in use
    /// (`convert::with_codec`), released before the runtime is dropped.
    pub(crate) codec: Option<Codec>,
}

pub(crate) type SharedState = Rc<RefCell<HostState>>;

/// Reads a thrown JavaScript value as a [`JsError`].
pub(crate) fn js_error(value: &JsValue<'_>) -> JsError {
    if let Some(object) = value.as_object() {
        let name: Option<String> = object.get("name").ok();
        let message: Option<String> = object.get("message").ok();
        if name.is_some() || message.is_some() {
            let mut error = JsError::new(
                name.unwrap_or_else(|| "Error".to_owned()),
                message.unwrap_or_default(),
            );
            error.stack = object
                .get::<_, String>("stack")
                .ok()
                .filter(|s| !s.is_empty());
            return error;
        }
    }
    let text = value
        .get::<rquickjs::convert::Coerced<String>>()
        .map(|c| c.0)
        .unwrap_or_else(|_| "<unprintable value>".to_owned());
    JsError::new("Error", format!("Uncaught {text}"))
}

/// Builds the `host` object for one isolate.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, state: &SharedState) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;
    let (service, directory) = {
        let s = state.borrow();
        (s.service.clone(), s.directory.clone())
    };
    host.set("service", service.as_ref())?;
    let st = state.clone();
    host.set(
        "env",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            let env = st.borrow().env.clone();
            from_value(&ctx, env.value())
        })?,
    )?;

    let dir = directory.clone();
    host.set(
        "methods",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, service: String| {
            let Some(directory) = dir.get() else {
                return Err(throw_type(&ctx, NOT_READY));
            };
            match directory.methods(&service) {
                Some(methods) => Ok(Some(methods.to_vec())),
                None => Ok(None),
            }
        })?,
    )?;
    let dir = directory.clone();
    host.set(
        "serviceNames",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| {
            let Some(directory) = dir.get() else {
                return Err(throw_type(&ctx, NOT_READY));
            };
            Ok(directory
                .services()
                .map(|(s, _)| s.to_owned())
                .collect::<Vec<_>>())
        })?,
    )?;

    let st = state.clone();
    host.set(
        "call",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, service: String, method: String, arg: Opt<JsValue<'js>>| {
                let arg = arg.0.unwrap_or_else(|| JsValue::new_undefined(ctx.clone()));
                let known = st
                    .borrow()
                    .directory
                    .get()
                    .and_then(|d| d.methods(&service))
                    .is_some_and(|ms| ms.contains(&method));
                if !known {
                    return Err(throw_type(
                        &ctx,
                        &format!("no such service method: {service}.{method}"),
                    ));
                }
                let arg = to_payload(&ctx, &st, &arg, "the argument").map_err(|e| {
                    // Name the call only on this (rare) path.
                    let message = e.0.replacen(
                        "the argument",
                        &format!("the argument of {service}.{method}()"),
                        1,
                    );
                    throw_type(&ctx, &message)
                })?;
                let call = CallId::fresh();
                let mut s = st.borrow_mut();
                s.cx.record_call(call);
                let parent = s.cx.current();
                s.effects.push(Effect::Call {
                    call,
                    parent,
                    service,
                    method,
                    arg,
                });
                Ok(call.0 as f64)
            },
        )?,
    )?;

    let st = state.clone();
    host.set(
        "storeOpen",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| {
            let s = st.borrow();
            match s.stores.iter().find(|g| g.name == name) {
                Some(g) => {
                    let access = Object::new(ctx.clone())?;
                    access.set("writable", g.writable)?;
                    access.set("local", g.local.is_some())?;
                    Ok(access)
                }
                None => {
                    let granted: Vec<&str> = s.stores.iter().map(|g| g.name.as_str()).collect();
                    Err(throw_type(
                        &ctx,
                        &format!(
                            "service \"{}\" has no access to store \"{name}\" (granted in pyrosome.toml: {})",
                            s.service,
                            if granted.is_empty() { "none".to_owned() } else { granted.join(", ") }
                        ),
                    ))
                }
            }
        })?,
    )?;

    let st = state.clone();
    host.set(
        "storeGet",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  name: String,
                  key: JsValue<'js>|
                  -> rquickjs::Result<JsValue<'js>> {
                let ns = st
                    .borrow()
                    .stores
                    .iter()
                    .find(|g| g.name == name)
                    .and_then(|g| g.local.clone());
                let Some(ns) = ns else {
                    return Err(throw_type(
                        &ctx,
                        &format!("no local access to store \"{name}\""),
                    ));
                };
                let key = to_refusable_value(&ctx, &st, &key, 0)
                    .map_err(|r| r.into_error("the key").0)
                    .and_then(|k| host_ops::store_key(&k, "the key"))
                    .map_err(|m| throw_type(&ctx, &m))?;
                match store_ops::read(&ns, &name, &StoreRequest::Get(key)) {
                    Some(Ok(value)) => value_to_js(&ctx, &st, &value),
                    Some(Err(e)) => Err(Exception::throw_message(&ctx, &e.message)),
                    None => Ok(JsValue::new_undefined(ctx.clone())),
                }
            },
        )?,
    )?;

    let st = state.clone();
    host.set(
        "store",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, op: Object<'js>| {
                let grant = st.borrow().stores.iter().find(|g| g.name == name).cloned();
                let Some(grant) = grant else {
                    return Err(throw_type(&ctx, &format!("no access to store \"{name}\"")));
                };
                let op =
                    to_refusable_value(&ctx, &st, &op.into_value(), host_ops::STORE_OP_WRAPPING);
                let request = host_ops::store_request(op, grant.writable, &name)
                    .map_err(|m| throw_type(&ctx, &m))?;
                // A local read is answered now, as a one-element array.
                if let Some(result) = grant
                    .local
                    .as_ref()
                    .and_then(|ns| store_ops::read(ns, &name, &request))
                {
                    let value = result.map_err(|e| Exception::throw_message(&ctx, &e.message))?;
                    let answer = Array::new(ctx.clone())?;
                    answer.set(0, value_to_js(&ctx, &st, &value)?)?;
                    return Ok(answer.into_value());
                }
                let call = CallId::fresh();
                let mut s = st.borrow_mut();
                s.cx.record_call(call);
                let parent = s.cx.current();
                s.effects.push(Effect::Store {
                    call,
                    parent,
                    store: name,
                    request,
                });
                Ok(JsValue::new_number(ctx.clone(), call.0 as f64))
            },
        )?,
    )?;

    let st = state.clone();
    host.set(
        "complete",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, ok: bool, value: Opt<JsValue<'js>>| {
                let value = value
                    .0
                    .unwrap_or_else(|| JsValue::new_undefined(ctx.clone()));
                let id = InvocationId(id as u64);
                let result = if ok {
                    to_payload(&ctx, &st, &value, "the return value")
                        .map_err(|e| JsError::new("TypeError", e.0))
                } else {
                    // The bootstrap's error record; should it not convert
                    // (too large), what can be read of it directly.
                    Err(to_refusable_value(&ctx, &st, &value, 0)
                        .map_or_else(|_| js_error(&value), |r| JsError::from_record(&r)))
                };
                let mut s = st.borrow_mut();
                let ended = s.cx.answered(id);
                s.effects.push(Effect::Complete { id, result });
                if ended {
                    s.effects.push(Effect::Ended { id });
                }
                Ok::<(), rquickjs::Error>(())
            },
        )?,
    )?;

    let st = state.clone();
    host.set(
        "setTimer",
        Function::new(ctx.clone(), move |id: f64, ms: f64| {
            let id = TimerId(id as u64);
            let mut s = st.borrow_mut();
            s.cx.record_timer(id);
            let parent = s.cx.current();
            let delay = Duration::from_secs_f64(ms.clamp(0.0, 2_147_483_647.0) / 1000.0);
            s.effects.push(Effect::SetTimer { id, parent, delay });
        })?,
    )?;

    let st = state.clone();
    host.set(
        "hold",
        Function::new(ctx.clone(), move || {
            st.borrow_mut().cx.hold().map_or(0.0, |id| id.0 as f64)
        })?,
    )?;

    let st = state.clone();
    host.set(
        "release",
        Function::new(ctx.clone(), move |id: f64| {
            if id > 0.0 {
                let id = InvocationId(id as u64);
                let mut s = st.borrow_mut();
                if s.cx.release(id) {
                    s.effects.push(Effect::Ended { id });
                }
            }
        })?,
    )?;

    let st = state.clone();
    host.set(
        "fetch",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  method: String,
                  url: String,
                  headers: Vec<String>,
                  redirect: String,
                  body: Opt<TypedArray<'js, u8>>| {
                if st.borrow().directory.get().is_none() {
                    return Err(Exception::throw_type(&ctx, host_ops::FETCH_NOT_READY));
                }
                let body = match &body.0 {
                    Some(b) => Some(bytes_of(&ctx, b)?),
                    None => None,
                };
                let request = host_ops::fetch_request(method, url, headers, &redirect, body)
                    .map_err(|t| throw(&ctx, t))?;
                let call = CallId::fresh();
                let mut s = st.borrow_mut();
                s.cx.record_fetch(call);
                let parent = s.cx.current();
                s.effects.push(Effect::Fetch {
                    call,
                    parent,
                    request,
                });
                Ok(call.0 as f64)
            },
        )?,
    )?;

    let st = state.clone();
    host.set(
        "fetchBody",
        Function::new(ctx.clone(), move |response: f64| {
            let call = CallId::fresh();
            let mut s = st.borrow_mut();
            s.cx.record_fetch(call);
            let parent = s.cx.current();
            s.effects.push(Effect::FetchBody {
                call,
                parent,
                response: CallId(response as u64),
            });
            call.0 as f64
        })?,
    )?;

    let st = state.clone();
    host.set(
        "fetchCancel",
        Function::new(ctx.clone(), move |response: f64| {
            st.borrow_mut().effects.push(Effect::CancelFetch {
                response: CallId(response as u64),
            });
        })?,
    )?;

    let st = state.clone();
    host.set(
        "clearTimer",
        Function::new(ctx.clone(), move |id: f64| {
            let id = TimerId(id as u64);
            let mut s = st.borrow_mut();
            s.cx.forget_timer(id);
            s.effects.push(Effect::ClearTimer { id });
        })?,
    )?;

    let svc = service.clone();
    host.set(
        "log",
        Function::new(ctx.clone(), move |level: String, message: String| {
            let service = svc.as_ref();
            match level.as_str() {
                "debug" => tracing::debug!(target: "pyrosome::js", service, "{message}"),
                "warn" => tracing::warn!(target: "pyrosome::js", service, "{message}"),
                "error" => tracing::error!(target: "pyrosome::js", service, "{message}"),
                _ => tracing::info!(target: "pyrosome::js", service, "{message}"),
            }
        })?,
    )?;

    host.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: f64| {
            let bytes = host_ops::random_bytes(n).map_err(|t| throw(&ctx, t))?;
            TypedArray::<u8>::new(ctx.clone(), bytes)
        })?,
    )?;

    host.set(
        "encodeUtf8",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: rquickjs::String<'js>| {
            TypedArray::<u8>::new(ctx.clone(), to_rust_string(&s).into_bytes())
        })?,
    )?;

    host.set(
        "decodeUtf8",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, bytes: TypedArray<'js, u8>, fatal: Opt<bool>, ignore_bom: Opt<bool>| {
                let all = bytes_of(&ctx, &bytes)?;
                let text = host_ops::decode_utf8(
                    &all,
                    fatal.0.unwrap_or(false),
                    ignore_bom.0.unwrap_or(false),
                )
                .map_err(|t| throw(&ctx, t))?;
                rquickjs::String::from_str(ctx.clone(), &text)
            },
        )?,
    )?;

    host.set(
        "encodingName",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, label: String| -> rquickjs::Result<JsValue<'js>> {
                match host_ops::encoding_name(&label) {
                    Some(name) => Ok(rquickjs::String::from_str(ctx.clone(), &name)?.into_value()),
                    None => Ok(JsValue::new_null(ctx.clone())),
                }
            },
        )?,
    )?;

    host.set(
        "decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             name: String,
             bytes: TypedArray<'js, u8>,
             fatal: Opt<bool>,
             ignore_bom: Opt<bool>,
             stream: Opt<bool>| {
                let all = bytes_of(&ctx, &bytes)?;
                let (text, held) = host_ops::decode(
                    &name,
                    &all,
                    fatal.0.unwrap_or(false),
                    ignore_bom.0.unwrap_or(false),
                    stream.0.unwrap_or(false),
                )
                .map_err(|t| throw(&ctx, t))?;
                let answer = Array::new(ctx.clone())?;
                answer.set(0, rquickjs::String::from_str(ctx.clone(), &text)?)?;
                answer.set(1, held as f64)?;
                Ok::<_, rquickjs::Error>(answer)
            },
        )?,
    )?;

    host.set(
        "digest",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algorithm: String, data: TypedArray<'js, u8>| {
                let data = bytes_of(&ctx, &data)?;
                let digest = host_ops::digest(&algorithm, &data).map_err(|t| throw(&ctx, t))?;
                TypedArray::<u8>::new(ctx.clone(), digest)
            },
        )?,
    )?;

    host.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             hash: String,
             key: TypedArray<'js, u8>,
             data: TypedArray<'js, u8>,
             signature: Opt<TypedArray<'js, u8>>|
             -> rquickjs::Result<JsValue<'js>> {
                let key = bytes_of(&ctx, &key)?;
                let data = bytes_of(&ctx, &data)?;
                let signature = match &signature.0 {
                    Some(s) => Some(bytes_of(&ctx, s)?),
                    None => None,
                };
                let answer = host_ops::hmac(&hash, &key, &data, signature.as_deref())
                    .map_err(|t| throw(&ctx, t))?;
                from_value(&ctx, &answer)
            },
        )?,
    )?;

    host.set(
        "urlParse",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             input: String,
             base: Opt<JsValue<'js>>|
             -> rquickjs::Result<JsValue<'js>> {
                let base = match base.0 {
                    Some(b) if !b.is_undefined() => {
                        Some(b.get::<rquickjs::convert::Coerced<String>>()?.0)
                    }
                    _ => None,
                };
                match host_ops::url_parse(&input, base.as_deref()) {
                    Some(components) => from_value(&ctx, &components),
                    None => Ok(JsValue::new_null(ctx.clone())),
                }
            },
        )?,
    )?;

    host.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             href: String,
             component: String,
             value: String|
             -> rquickjs::Result<JsValue<'js>> {
                match host_ops::url_set(&href, &component, &value).map_err(|t| throw(&ctx, t))? {
                    Some(components) => from_value(&ctx, &components),
                    None => Ok(JsValue::new_null(ctx.clone())),
                }
            },
        )?,
    )?;

    host.set(
        "formDecode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, input: String| {
            from_value(&ctx, &host_ops::form_decode(&input))
        })?,
    )?;

    host.set(
        "formEncode",
        Function::new(ctx.clone(), |pairs: Vec<Vec<String>>| {
            host_ops::form_encode(pairs.iter().map(|pair| {
                (
                    pair.first().map_or("", String::as_str),
                    pair.get(1).map_or("", String::as_str),
                )
            }))
        })?,
    )?;

    let st = state.clone();
    host.set(
        "clone",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, value: JsValue<'js>| {
            clone_value(&ctx, &st, &value, "the value").map_err(|e| match e {
                Ok(refused) => throw_type(&ctx, &format!("DataCloneError: {}", refused.0)),
                Err(thrown) => thrown,
            })
        })?,
    )?;

    let st = state.clone();
    host.set(
        "now",
        Function::new(ctx.clone(), move || {
            st.borrow().started.elapsed().as_secs_f64() * 1000.0
        })?,
    )?;

    Ok(host)
}

/// The bytes of a `Uint8Array` argument (a copy), or the TypeError for a
/// detached buffer.
fn bytes_of<'js>(ctx: &Ctx<'js>, array: &TypedArray<'js, u8>) -> rquickjs::Result<Vec<u8>> {
    typed_array_bytes(array).ok_or_else(|| Exception::throw_type(ctx, "the buffer is detached"))
}

/// Throws a `TypeError` with `message`, however long it is.
pub(crate) fn throw_type(ctx: &Ctx<'_>, message: &str) -> rquickjs::Error {
    throw_whole(ctx, message, Exception::throw_type)
}

/// Throws the error `throw` makes, with `message` whole: rquickjs's
/// `Exception::throw_type` (and `throw_range`, ...) format the message
/// into a 256-byte buffer, so a longer one (a refusal with a long path)
/// would be cut at 255 bytes and lose its reason. A long message is set on
/// the thrown error afterwards.
fn throw_whole<'js>(
    ctx: &Ctx<'js>,
    message: &str,
    throw: fn(&Ctx<'js>, &str) -> rquickjs::Error,
) -> rquickjs::Error {
    if message.len() < 256 {
        return throw(ctx, message);
    }
    let _ = throw(ctx, "");
    let error = ctx.catch();
    if let Some(object) = error.as_object() {
        // The message is an own writable data property of a new error.
        let _ = object.set("message", message);
    }
    ctx.throw(error)
}

/// Throws what a shared host operation threw.
fn throw(ctx: &Ctx<'_>, thrown: Thrown) -> rquickjs::Error {
    match thrown {
        Thrown::Type(m) => throw_type(ctx, &m),
        Thrown::Range(m) => throw_whole(ctx, &m, Exception::throw_range),
        Thrown::Error(m) => Exception::throw_message(ctx, &m),
    }
}
