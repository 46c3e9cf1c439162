//! The host operations for V8: the shim's generic host callback lands in
//! [`V8Host::host_op`] with wire-encoded arguments; each operation is the
//! same as the QuickJS backend's (`quickjs/host.rs`), over [`Value`]s, and
//! shares its engine-independent parts with it (`engine::host_ops`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ffi::{Answer, Embedder};
use crate::engine::context::AsyncContext;
use crate::engine::host_ops::{self, Thrown};
use crate::engine::modules::BUILTIN_SOURCE;
use crate::engine::refusal::Refusal;
use crate::engine::wire;
use crate::engine::{
    BUILTIN_MODULE, CallId, Effect, InvocationId, JsError, Modules, Payload, SharedDirectory,
    StoreGrant, StoreRequest, TimerId, store_ops,
};
use crate::value::Value;

/// Why a call at module top level fails.
const NOT_READY: &str = "services cannot be called while modules are loading \
    (call them from inside a handler, not at the top level of a module)";

/// The host operations, in the order the shim numbers them.
const OPS: &[&str] = &[
    "methods",
    "serviceNames",
    "call",
    "storeOpen",
    "storeGet",
    "store",
    "complete",
    "setTimer",
    "clearTimer",
    "log",
    "randomBytes",
    "encodeUtf8",
    "decodeUtf8",
    "urlParse",
    "urlSet",
    "formDecode",
    "formEncode",
    "clone",
    "now",
];

/// The operation names as the shim takes them: `\0`-separated.
pub(super) fn op_names() -> String {
    OPS.join("\0")
}

/// The Rust-side state of one V8 isolate.
pub(super) struct HostState {
    pub(super) service: Arc<str>,
    pub(super) directory: SharedDirectory,
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

type Args = [Result<Value, Refusal>];

fn arg(args: &Args, i: usize) -> Result<&Value, Thrown> {
    match args.get(i) {
        None => Ok(&Value::Undefined),
        Some(Ok(v)) => Ok(v),
        Some(Err(r)) => Err(Thrown::Type(format!(
            "argument {i} cannot be passed to the host ({})",
            r.found
        ))),
    }
}

fn string(args: &Args, i: usize) -> Result<&str, Thrown> {
    match arg(args, i)? {
        Value::String(s) => Ok(s),
        other => Err(Thrown::Type(format!(
            "argument {i} must be a string, got {}",
            other.type_name()
        ))),
    }
}

fn number(args: &Args, i: usize) -> Result<f64, Thrown> {
    match arg(args, i)? {
        Value::Number(n) => Ok(*n),
        other => Err(Thrown::Type(format!(
            "argument {i} must be a number, got {}",
            other.type_name()
        ))),
    }
}

fn flag(args: &Args, i: usize) -> bool {
    matches!(args.get(i), Some(Ok(Value::Bool(true))))
}

/// The value of argument `i`, or the clone error naming it `what`.
fn cloned(args: &[Result<Value, Refusal>], i: usize, what: &str) -> Result<Value, String> {
    match args.get(i) {
        None => Ok(Value::Undefined),
        Some(Ok(v)) => Ok(v.clone()),
        Some(Err(r)) => Err(r.clone().into_error(what).0),
    }
}

fn strings(items: impl IntoIterator<Item = impl Into<String>>) -> Value {
    Value::Array(items.into_iter().map(|s| Value::String(s.into())).collect())
}

impl V8Host {
    fn run(&self, op: &str, args: &Args) -> Result<Value, Thrown> {
        match op {
            "methods" => {
                let service = string(args, 0)?;
                let st = self.state.lock();
                let directory = st
                    .directory
                    .get()
                    .ok_or_else(|| Thrown::Type(NOT_READY.to_owned()))?;
                Ok(directory
                    .methods(service)
                    .map_or(Value::Undefined, |m| strings(m.iter().cloned())))
            }
            "serviceNames" => {
                let st = self.state.lock();
                let directory = st
                    .directory
                    .get()
                    .ok_or_else(|| Thrown::Type(NOT_READY.to_owned()))?;
                Ok(strings(directory.services().map(|(s, _)| s)))
            }
            "call" => self.call(args),
            "storeOpen" => self.store_open(string(args, 0)?),
            "storeGet" => {
                let key =
                    cloned(args, 1, "the key").and_then(|k| host_ops::store_key(&k, "the key"));
                self.store_get(string(args, 0)?, key)
            }
            "store" => self.store(args),
            "complete" => {
                let id = InvocationId(number(args, 0)? as u64);
                let result = if flag(args, 1) {
                    cloned(args, 2, "the return value").map_err(|m| JsError::new("TypeError", m))
                } else {
                    Err(args
                        .get(2)
                        .and_then(|a| a.as_ref().ok())
                        .map_or_else(|| JsError::new("Error", "Uncaught undefined"), v8_error))
                };
                self.state.lock().effects.push(Effect::Complete {
                    id,
                    result: result.map(Payload::Value),
                });
                Ok(Value::Undefined)
            }
            "setTimer" => {
                let id = TimerId(number(args, 0)? as u64);
                let ms = number(args, 1)?;
                let delay = Duration::from_secs_f64(ms.clamp(0.0, 2_147_483_647.0) / 1000.0);
                let mut st = self.state.lock();
                st.cx.record_timer(id);
                let parent = st.cx.current();
                st.effects.push(Effect::SetTimer { id, parent, delay });
                Ok(Value::Undefined)
            }
            "clearTimer" => {
                let id = TimerId(number(args, 0)? as u64);
                let mut st = self.state.lock();
                st.cx.forget_timer(id);
                st.effects.push(Effect::ClearTimer { id });
                Ok(Value::Undefined)
            }
            "log" => {
                let level = string(args, 0)?;
                let message = string(args, 1)?;
                let service = self.state.lock().service.clone();
                let service = service.as_ref();
                match level {
                    "debug" => tracing::debug!(target: "pyrosome::js", service, "{message}"),
                    "warn" => tracing::warn!(target: "pyrosome::js", service, "{message}"),
                    "error" => tracing::error!(target: "pyrosome::js", service, "{message}"),
                    _ => tracing::info!(target: "pyrosome::js", service, "{message}"),
                }
                Ok(Value::Undefined)
            }
            "randomBytes" => host_ops::random_bytes(number(args, 0)?).map(Value::Bytes),
            "encodeUtf8" => Ok(Value::Bytes(string(args, 0)?.as_bytes().to_vec())),
            "decodeUtf8" => {
                let Value::Bytes(bytes) = arg(args, 0)? else {
                    return Err(Thrown::Type("decodeUtf8 takes a Uint8Array".to_owned()));
                };
                host_ops::decode_utf8(bytes, flag(args, 1), flag(args, 2)).map(Value::String)
            }
            "urlParse" => {
                let base = match arg(args, 1)? {
                    Value::Undefined => None,
                    Value::String(s) => Some(s.as_str()),
                    other => {
                        return Err(Thrown::Type(format!(
                            "a URL base must be a string, got {}",
                            other.type_name()
                        )));
                    }
                };
                Ok(host_ops::url_parse(string(args, 0)?, base).unwrap_or(Value::Null))
            }
            "urlSet" => {
                Ok(
                    host_ops::url_set(string(args, 0)?, string(args, 1)?, string(args, 2)?)?
                        .unwrap_or(Value::Null),
                )
            }
            "formDecode" => Ok(host_ops::form_decode(string(args, 0)?)),
            "formEncode" => {
                let Value::Array(pairs) = arg(args, 0)? else {
                    return Err(Thrown::Type(
                        "formEncode takes an array of pairs".to_owned(),
                    ));
                };
                fn text(v: Option<&Value>) -> &str {
                    v.and_then(Value::as_str).unwrap_or("")
                }
                Ok(Value::String(host_ops::form_encode(pairs.iter().map(
                    |pair| match pair {
                        Value::Array(p) => (text(p.first()), text(p.get(1))),
                        _ => ("", ""),
                    },
                ))))
            }
            "clone" => cloned(args, 0, "the value")
                .map_err(|m| Thrown::Type(format!("DataCloneError: {m}"))),
            "now" => Ok(Value::Number(
                self.state.lock().started.elapsed().as_secs_f64() * 1000.0,
            )),
            other => Err(Thrown::Error(format!("unknown host operation {other}"))),
        }
    }

    fn call(&self, args: &Args) -> Result<Value, Thrown> {
        let service = string(args, 0)?;
        let method = string(args, 1)?;
        let mut st = self.state.lock();
        let known = st
            .directory
            .get()
            .and_then(|d| d.methods(service))
            .is_some_and(|ms| ms.iter().any(|m| m == method));
        if !known {
            return Err(Thrown::Type(format!(
                "no such service method: {service}.{method}"
            )));
        }
        let value = cloned(args, 2, &format!("the argument of {service}.{method}()"))
            .map_err(Thrown::Type)?;
        let call = CallId::fresh();
        st.cx.record_call(call);
        let parent = st.cx.current();
        st.effects.push(Effect::Call {
            call,
            parent,
            service: service.to_owned(),
            method: method.to_owned(),
            arg: value.into(),
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

    fn store_get(&self, name: &str, key: Result<Vec<u8>, String>) -> Result<Value, Thrown> {
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
        let key = key.map_err(Thrown::Type)?;
        match store_ops::read(&ns, name, &StoreRequest::Get(key)) {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => Err(Thrown::Error(e.message)),
            None => Ok(Value::Undefined),
        }
    }

    fn store(&self, args: &Args) -> Result<Value, Thrown> {
        let name = string(args, 0)?;
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
        let op = match args.get(1) {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(r)) => Err(r.clone()),
            None => Ok(Value::Undefined),
        };
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
    let mut error = JsError::from_record(record);
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
        let result = match (OPS.get(op as usize), wire::decode_args(args)) {
            (Some(name), Ok(args)) => self.run(name, &args),
            (None, _) => Err(Thrown::Error(format!("unknown host operation {op}"))),
            (_, Err(e)) => Err(Thrown::Error(e.to_string())),
        };
        match result {
            Ok(value) => {
                wire::encode(&value, out);
                Answer::Value
            }
            Err(thrown) => {
                let (answer, message) = match thrown {
                    Thrown::Type(m) => (Answer::TypeError, m),
                    Thrown::Range(m) => (Answer::RangeError, m),
                    Thrown::Error(m) => (Answer::Error, m),
                };
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
            let why = if name.starts_with("./") || name.starts_with("../") {
                "no such file in the app (imports cannot leave the app folder)"
            } else {
                "only the app's own files (\"./x.js\") and \"pyrosome\" can be imported"
            };
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
