//! The host operations for V8: the shim's generic host call lands in
//! [`V8Host::host_op`] with the wire-encoded arguments; each operation is the
//! same as the QuickJS backend's (`quickjs/host.rs`) and shares its
//! engine-independent parts with it (`engine::host_ops`).
//!
//! Arguments are decoded only as far as an operation reads them
//! ([`wire::Args`]): a call's argument and an invocation's result are handed
//! on as the bytes the codec wrote ([`Payload::Wire`]), and `clone` answers
//! with its argument's bytes, without a [`Value`] in between.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ffi::{Answer, Embedder};
use crate::engine::context::AsyncContext;
use crate::engine::host_ops::{self, Thrown};
use crate::engine::modules::BUILTIN_SOURCE;
use crate::engine::refusal::Refusal;
use crate::engine::wire::{self, Malformed};
use crate::engine::{
    BUILTIN_MODULE, CallId, Effect, Env, InvocationId, JsError, Modules, Payload, SharedDirectory,
    StoreGrant, StoreRequest, TimerId, Wire, store_ops,
};
use crate::value::Value;

/// Why a call at module top level fails.
const NOT_READY: &str = "services cannot be called while modules are loading \
    (call them from inside a handler, not at the top level of a module)";

/// A host operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Methods,
    ServiceNames,
    Call,
    StoreOpen,
    StoreGet,
    Store,
    Complete,
    SetTimer,
    ClearTimer,
    Hold,
    Release,
    Log,
    RandomBytes,
    EncodeUtf8,
    DecodeUtf8,
    UrlParse,
    UrlSet,
    FormDecode,
    FormEncode,
    Clone,
    Now,
    EncodingName,
    Decode,
    Digest,
    Hmac,
    Env,
    Fetch,
    FetchBody,
    FetchCancel,
}

/// The host operations and their names, in the order the shim numbers them.
const OPS: &[(&str, Op)] = &[
    ("methods", Op::Methods),
    ("serviceNames", Op::ServiceNames),
    ("call", Op::Call),
    ("storeOpen", Op::StoreOpen),
    ("storeGet", Op::StoreGet),
    ("store", Op::Store),
    ("complete", Op::Complete),
    ("setTimer", Op::SetTimer),
    ("clearTimer", Op::ClearTimer),
    ("hold", Op::Hold),
    ("release", Op::Release),
    ("log", Op::Log),
    ("randomBytes", Op::RandomBytes),
    ("encodeUtf8", Op::EncodeUtf8),
    ("decodeUtf8", Op::DecodeUtf8),
    ("urlParse", Op::UrlParse),
    ("urlSet", Op::UrlSet),
    ("formDecode", Op::FormDecode),
    ("formEncode", Op::FormEncode),
    ("clone", Op::Clone),
    ("now", Op::Now),
    ("encodingName", Op::EncodingName),
    ("decode", Op::Decode),
    ("digest", Op::Digest),
    ("hmac", Op::Hmac),
    ("env", Op::Env),
    ("fetch", Op::Fetch),
    ("fetchBody", Op::FetchBody),
    ("fetchCancel", Op::FetchCancel),
];

/// The operation names as the shim takes them: `\0`-separated.
pub(super) fn op_names() -> String {
    OPS.iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join("\0")
}

/// The Rust-side state of one V8 isolate.
pub(super) struct HostState {
    pub(super) service: Arc<str>,
    pub(super) directory: SharedDirectory,
    /// The service's vars and secrets, for `host.env()`.
    pub(super) env: Env,
    pub(super) stores: Vec<StoreGrant>,
    pub(super) effects: Vec<Effect>,
    pub(super) cx: AsyncContext,
    pub(super) started: Instant,
}

pub(super) type SharedState = Arc<Mutex<HostState>>;

/// What the shim calls back into for one isolate.
pub(super) struct V8Host {
    pub(super) state: SharedState,
    pub(super) modules: Arc<Modules>,
}

/// A host operation's arguments, decoded on demand.
struct Args<'a>(wire::Args<'a>);

impl Args<'_> {
    fn malformed(e: Malformed) -> Thrown {
        Thrown::Error(e.to_string())
    }

    /// Argument `i` (`undefined` if it was not passed), or why it was refused.
    fn get(&self, i: usize) -> Result<Result<Value, Refusal>, Thrown> {
        self.0.value(i).map_err(Self::malformed)
    }

    /// Argument `i`, which must not have been refused, for an operation
    /// that reads text: lone surrogates become U+FFFD (as `TextEncoder`
    /// and the URL parser do).
    fn arg(&self, i: usize) -> Result<Value, Thrown> {
        let value = self.get(i)?.map_err(|r| {
            Thrown::Type(format!(
                "argument {i} cannot be passed to the host ({})",
                r.found
            ))
        })?;
        Ok(match value.to_well_formed() {
            std::borrow::Cow::Borrowed(_) => value,
            std::borrow::Cow::Owned(fixed) => fixed,
        })
    }

    fn string(&self, i: usize) -> Result<String, Thrown> {
        match self.arg(i)? {
            Value::String(s) => Ok(s),
            other => Err(Thrown::Type(format!(
                "argument {i} must be a string, got {}",
                other.type_name()
            ))),
        }
    }

    fn number(&self, i: usize) -> Result<f64, Thrown> {
        if let Some(n) = self.0.number(i) {
            return Ok(n);
        }
        let other = self.arg(i)?;
        Err(Thrown::Type(format!(
            "argument {i} must be a number, got {}",
            other.type_name()
        )))
    }

    /// Argument `i`, which must be a `Uint8Array` (`op` names the operation
    /// in the error).
    fn bytes(&self, i: usize, op: &str) -> Result<Vec<u8>, Thrown> {
        match self.arg(i)? {
            Value::Bytes(b) => Ok(b),
            other => Err(Thrown::Type(format!(
                "{op}: argument {i} must be a Uint8Array, got {}",
                other.type_name()
            ))),
        }
    }

    fn flag(&self, i: usize) -> bool {
        self.0.is_true(i)
    }

    /// The value of argument `i`, or the clone error naming it `what`.
    fn cloned(&self, i: usize, what: &str) -> Result<Value, Thrown> {
        match self.get(i)? {
            Ok(v) => Ok(v),
            Err(r) => Err(Thrown::Type(r.into_error(what).0)),
        }
    }

    /// Argument `i` as the codec encoded it, or why it was refused (its
    /// bytes are only decoded then).
    fn wire(&self, i: usize) -> Result<Result<&[u8], Refusal>, Thrown> {
        if self.0.is_refused(i) {
            return match self.get(i)? {
                Err(r) => Ok(Err(r)),
                Ok(_) => Err(Thrown::Error("malformed refusal".to_owned())),
            };
        }
        Ok(Ok(self.0.bytes(i).unwrap_or(wire::UNDEFINED_BYTES)))
    }
}

fn strings(items: impl IntoIterator<Item = impl Into<String>>) -> Value {
    Value::Array(items.into_iter().map(|s| Value::String(s.into())).collect())
}

impl V8Host {
    /// Runs `op`; its answer goes into `out` (wire-encoded).
    fn run(&self, op: Op, args: &Args, out: &mut Vec<u8>) -> Result<(), Thrown> {
        let value = match op {
            Op::Methods => {
                let service = args.string(0)?;
                let st = self.state.lock();
                let directory = st
                    .directory
                    .get()
                    .ok_or_else(|| Thrown::Type(NOT_READY.to_owned()))?;
                directory
                    .methods(&service)
                    .map_or(Value::Undefined, |m| strings(m.iter().cloned()))
            }
            Op::ServiceNames => {
                let st = self.state.lock();
                let directory = st
                    .directory
                    .get()
                    .ok_or_else(|| Thrown::Type(NOT_READY.to_owned()))?;
                strings(directory.services().map(|(s, _)| s))
            }
            Op::Env => self.state.lock().env.value().clone(),
            Op::Call => self.call(args)?,
            Op::StoreOpen => self.store_open(&args.string(0)?)?,
            Op::StoreGet => {
                let key = args
                    .cloned(1, "the key")
                    .and_then(|k| host_ops::store_key(&k, "the key").map_err(Thrown::Type));
                self.store_get(&args.string(0)?, key)?
            }
            Op::Store => self.store(args)?,
            Op::Complete => {
                let id = InvocationId(args.number(0)? as u64);
                let result = if args.flag(1) {
                    match args.wire(2)? {
                        Ok(bytes) => Ok(Payload::Wire(Wire::from_bytes(bytes.to_vec()))),
                        Err(r) => Err(JsError::new(
                            "TypeError",
                            r.into_error("the return value").0,
                        )),
                    }
                } else {
                    Err(match args.get(2) {
                        Ok(Ok(record)) if args.0.len() > 2 => v8_error(&record),
                        // The bootstrap's record could not be encoded (too large).
                        Ok(Err(r)) => JsError::new("Error", r.into_error("the error thrown").0),
                        _ => JsError::new("Error", "Uncaught undefined"),
                    })
                };
                let mut st = self.state.lock();
                let ended = st.cx.answered(id);
                st.effects.push(Effect::Complete { id, result });
                if ended {
                    st.effects.push(Effect::Ended { id });
                }
                Value::Undefined
            }
            Op::Hold => Value::Number(self.state.lock().cx.hold().map_or(0.0, |id| id.0 as f64)),
            Op::Release => {
                let id = args.number(0)?;
                if id > 0.0 {
                    let id = InvocationId(id as u64);
                    let mut st = self.state.lock();
                    if st.cx.release(id) {
                        st.effects.push(Effect::Ended { id });
                    }
                }
                Value::Undefined
            }
            Op::SetTimer => {
                let id = TimerId(args.number(0)? as u64);
                let ms = args.number(1)?;
                let delay = Duration::from_secs_f64(ms.clamp(0.0, 2_147_483_647.0) / 1000.0);
                let mut st = self.state.lock();
                st.cx.record_timer(id);
                let parent = st.cx.current();
                st.effects.push(Effect::SetTimer { id, parent, delay });
                Value::Undefined
            }
            Op::ClearTimer => {
                let id = TimerId(args.number(0)? as u64);
                let mut st = self.state.lock();
                st.cx.forget_timer(id);
                st.effects.push(Effect::ClearTimer { id });
                Value::Undefined
            }
            Op::Log => {
                let level = args.string(0)?;
                let message = args.string(1)?;
                let service = self.state.lock().service.clone();
                let service = service.as_ref();
                match level.as_str() {
                    "debug" => tracing::debug!(target: "pyrosome::js", service, "{message}"),
                    "warn" => tracing::warn!(target: "pyrosome::js", service, "{message}"),
                    "error" => tracing::error!(target: "pyrosome::js", service, "{message}"),
                    _ => tracing::info!(target: "pyrosome::js", service, "{message}"),
                }
                Value::Undefined
            }
            Op::RandomBytes => Value::Bytes(host_ops::random_bytes(args.number(0)?)?),
            Op::EncodeUtf8 => Value::Bytes(args.string(0)?.into_bytes()),
            Op::DecodeUtf8 => {
                let bytes = args.bytes(0, "decodeUtf8")?;
                Value::String(host_ops::decode_utf8(&bytes, args.flag(1), args.flag(2))?)
            }
            Op::EncodingName => {
                host_ops::encoding_name(&args.string(0)?).map_or(Value::Null, Value::String)
            }
            Op::Decode => {
                let bytes = args.bytes(1, "decode")?;
                let (text, held) = host_ops::decode(
                    &args.string(0)?,
                    &bytes,
                    args.flag(2),
                    args.flag(3),
                    args.flag(4),
                )?;
                Value::Array(vec![Value::String(text), Value::Number(held as f64)])
            }
            Op::Digest => Value::Bytes(host_ops::digest(
                &args.string(0)?,
                &args.bytes(1, "digest")?,
            )?),
            Op::Hmac => {
                let signature = match args.arg(3)? {
                    Value::Undefined => None,
                    _ => Some(args.bytes(3, "hmac")?),
                };
                host_ops::hmac(
                    &args.string(0)?,
                    &args.bytes(1, "hmac")?,
                    &args.bytes(2, "hmac")?,
                    signature.as_deref(),
                )?
            }
            Op::UrlParse => {
                let base = match args.arg(1)? {
                    Value::Undefined => None,
                    Value::String(s) => Some(s),
                    other => {
                        return Err(Thrown::Type(format!(
                            "a URL base must be a string, got {}",
                            other.type_name()
                        )));
                    }
                };
                host_ops::url_parse(&args.string(0)?, base.as_deref()).unwrap_or(Value::Null)
            }
            Op::UrlSet => host_ops::url_set(&args.string(0)?, &args.string(1)?, &args.string(2)?)?
                .unwrap_or(Value::Null),
            Op::FormDecode => host_ops::form_decode(&args.string(0)?),
            Op::FormEncode => {
                let Value::Array(pairs) = args.arg(0)? else {
                    return Err(Thrown::Type(
                        "formEncode takes an array of pairs".to_owned(),
                    ));
                };
                fn text(v: Option<&Value>) -> &str {
                    v.and_then(Value::as_str).unwrap_or("")
                }
                Value::String(host_ops::form_encode(pairs.iter().map(|pair| match pair {
                    Value::Array(p) => (text(p.first()), text(p.get(1))),
                    _ => ("", ""),
                })))
            }
            Op::Clone => {
                // The argument's bytes are the copy: the codec builds it anew.
                return match args.wire(0)? {
                    Ok(bytes) => {
                        out.extend_from_slice(bytes);
                        Ok(())
                    }
                    Err(r) => Err(Thrown::Type(format!(
                        "DataCloneError: {}",
                        r.into_error("the value").0
                    ))),
                };
            }
            Op::Now => Value::Number(self.state.lock().started.elapsed().as_secs_f64() * 1000.0),
            Op::Fetch => self.fetch(args)?,
            Op::FetchBody => {
                let response = CallId(args.number(0)? as u64);
                let call = CallId::fresh();
                let mut st = self.state.lock();
                st.cx.record_fetch(call);
                let parent = st.cx.current();
                st.effects.push(Effect::FetchBody {
                    call,
                    parent,
                    response,
                });
                Value::Number(call.0 as f64)
            }
            Op::FetchCancel => {
                let response = CallId(args.number(0)? as u64);
                self.state
                    .lock()
                    .effects
                    .push(Effect::CancelFetch { response });
                Value::Undefined
            }
        };
        wire::encode_without_json(&value, out);
        Ok(())
    }

    fn call(&self, args: &Args) -> Result<Value, Thrown> {
        let service = args.string(0)?;
        let method = args.string(1)?;
        let mut st = self.state.lock();
        let known = st
            .directory
            .get()
            .and_then(|d| d.methods(&service))
            .is_some_and(|ms| ms.contains(&method));
        if !known {
            return Err(Thrown::Type(format!(
                "no such service method: {service}.{method}"
            )));
        }
        let arg = match args.wire(2)? {
            // Handed on as the codec wrote it: the callee's engine decodes it.
            Ok(bytes) => Payload::Wire(Wire::from_bytes(bytes.to_vec())),
            Err(r) => {
                return Err(Thrown::Type(
                    r.into_error(&format!("the argument of {service}.{method}()"))
                        .0,
                ));
            }
        };
        let call = CallId::fresh();
        st.cx.record_call(call);
        let parent = st.cx.current();
        st.effects.push(Effect::Call {
            call,
            parent,
            service,
            method,
            arg,
        });
        Ok(Value::Number(call.0 as f64))
    }

    fn fetch(&self, args: &Args) -> Result<Value, Thrown> {
        if self.state.lock().directory.get().is_none() {
            return Err(Thrown::Type(host_ops::FETCH_NOT_READY.to_owned()));
        }
        let Value::Array(list) = args.arg(2)? else {
            return Err(Thrown::Type(
                "fetch: argument 2 must be a header list".to_owned(),
            ));
        };
        let headers = list
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(Thrown::Type(format!(
                    "fetch: a header list holds strings, not {}",
                    other.type_name()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let body = match args.arg(4)? {
            Value::Undefined => None,
            _ => Some(args.bytes(4, "fetch")?),
        };
        let request = host_ops::fetch_request(
            args.string(0)?,
            args.string(1)?,
            headers,
            &args.string(3)?,
            body,
        )?;
        let call = CallId::fresh();
        let mut st = self.state.lock();
        st.cx.record_fetch(call);
        let parent = st.cx.current();
        st.effects.push(Effect::Fetch {
            call,
            parent,
            request,
        });
        Ok(Value::Number(call.0 as f64))
    }

    fn store_open(&self, name: &str) -> Result<Value, Thrown> {
        let st = self.state.lock();
        match st.stores.iter().find(|g| g.name == name) {
            Some(g) => Ok(Value::object([
                ("writable", Value::Bool(g.writable)),
                ("local", Value::Bool(g.local.is_some())),
            ])),
            None => {
                let granted: Vec<&str> = st.stores.iter().map(|g| g.name.as_str()).collect();
                Err(Thrown::Type(format!(
                    "service \"{}\" has no access to store \"{name}\" (granted in pyrosome.toml: {})",
                    st.service,
                    if granted.is_empty() {
                        "none".to_owned()
                    } else {
                        granted.join(", ")
                    }
                )))
            }
        }
    }

    fn store_get(&self, name: &str, key: Result<Vec<u8>, Thrown>) -> Result<Value, Thrown> {
        let ns = self
            .state
            .lock()
            .stores
            .iter()
            .find(|g| g.name == name)
            .and_then(|g| g.local.clone());
        let Some(ns) = ns else {
            return Err(Thrown::Type(format!("no local access to store \"{name}\"")));
        };
        let key = key?;
        match store_ops::read(&ns, name, &StoreRequest::Get(key)) {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => Err(Thrown::Error(e.message)),
            None => Ok(Value::Undefined),
        }
    }

    fn store(&self, args: &Args) -> Result<Value, Thrown> {
        let name = args.string(0)?;
        let name = name.as_str();
        let grant = self
            .state
            .lock()
            .stores
            .iter()
            .find(|g| g.name == name)
            .cloned();
        let Some(grant) = grant else {
            return Err(Thrown::Type(format!("no access to store \"{name}\"")));
        };
        let op = args.get(1)?;
        let request = host_ops::store_request(op, grant.writable, name).map_err(Thrown::Type)?;
        // A local read is answered now, as a one-element array.
        if let Some(result) = grant
            .local
            .as_ref()
            .and_then(|ns| store_ops::read(ns, name, &request))
        {
            let value = result.map_err(|e| Thrown::Error(e.message))?;
            return Ok(Value::Array(vec![value]));
        }
        let call = CallId::fresh();
        let mut st = self.state.lock();
        st.cx.record_call(call);
        let parent = st.cx.current();
        st.effects.push(Effect::Store {
            call,
            parent,
            store: name.to_owned(),
            request,
        });
        Ok(Value::Number(call.0 as f64))
    }
}

/// An error record from the bootstrap (or the shim) as a [`JsError`]. V8
/// stacks begin with `Name: message`; that header is dropped so stacks read
/// the same as QuickJS's (frames only).
pub(super) fn v8_error(record: &Value) -> JsError {
    // Messages and stacks are text: lone surrogates become U+FFFD.
    let mut error = JsError::from_record(&record.to_well_formed());
    if let Some(stack) = error.stack.take() {
        let header = if error.message.is_empty() {
            error.name.clone()
        } else {
            format!("{}: {}", error.name, error.message)
        };
        let frames = stack
            .strip_prefix(&header)
            .map_or(stack.as_str(), |rest| rest.trim_start_matches('\n'));
        error.stack = Some(frames.to_owned()).filter(|s| !s.trim().is_empty());
    }
    error
}

impl Embedder for V8Host {
    fn host_op(&self, op: u32, args: &[u8], out: &mut Vec<u8>) -> Answer {
        let result = match (OPS.get(op as usize), wire::Args::split(args)) {
            (Some(&(_, op)), Ok(args)) => self.run(op, &Args(args), out),
            (None, _) => Err(Thrown::Error(format!("unknown host operation {op}"))),
            (_, Err(e)) => Err(Thrown::Error(e.to_string())),
        };
        match result {
            Ok(()) => Answer::Value,
            Err(thrown) => {
                let (answer, message) = match thrown {
                    Thrown::Type(m) => (Answer::TypeError, m),
                    Thrown::Range(m) => (Answer::RangeError, m),
                    Thrown::Error(m) => (Answer::Error, m),
                };
                out.clear();
                out.extend_from_slice(message.as_bytes());
                answer
            }
        }
    }

    fn resolve(&self, base: &str, name: &str) -> Result<(String, &str), String> {
        if name == BUILTIN_MODULE {
            return Ok((name.to_owned(), BUILTIN_SOURCE));
        }
        let Some(specifier) = self.modules.resolve(base, name) else {
            let why = self.modules.why_unresolved(base, name);
            return Err(format!(
                "Error resolving module '{name}' from '{base}': {why}"
            ));
        };
        match self.modules.get(&specifier) {
            Some(module) => Ok((specifier, module.source.as_ref())),
            None => Err(format!(
                "Error loading module '{specifier}': no such module in the app"
            )),
        }
    }
}
