//! One V8 isolate: the shim isolate, the host state its operations write
//! effects into, and the CPU-budget and memory bookkeeping around every
//! entry into JavaScript.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::ffi::{Dispatch, RawIsolate, Status};
use super::host::{self, HostState, SharedState, V8Host};
use crate::engine::context::{AsyncContext, TimerFate};
use crate::engine::modules::BUILTIN_SOURCE;
use crate::engine::watchdog::Watch;
use crate::engine::wire;
use crate::engine::{
    BUILTIN_MODULE, Effect, EngineError, Event, Fault, IsolateConfig, JsError, Payload,
};
use crate::value::Value;

/// The bootstrap and Web APIs, assembled by `build.rs` from `js/`: a
/// function expression taking the `host` object (the same text QuickJS
/// runs).
const PRELUDE: &str = include_str!(concat!(env!("OUT_DIR"), "/prelude.js"));

/// The value codec the shim runs before the prelude (see the file).
const CODEC: &str = include_str!("codec.js");

/// A Rust-made value's encoding buffer larger than this is not kept for
/// the next event (one large store read should not stay in every isolate).
const MAX_KEPT_SCRATCH: usize = 1 << 20;

/// Module top levels get at least this long before they are interrupted,
/// however small the per-invocation budget (as for QuickJS).
const MIN_LOAD_BUDGET: Duration = Duration::from_secs(2);

/// A V8 isolate. `watch` and `raw` are declared first so they are dropped
/// first.
pub(crate) struct V8Isolate {
    watch: Watch,
    raw: RawIsolate,
    state: SharedState,
    methods: Vec<String>,
    has_fetch: bool,
    budget: Duration,
    memory_limit: usize,
    /// Where Rust-made values are encoded for the shim (reused).
    scratch: Vec<u8>,
}

impl V8Isolate {
    pub(crate) fn new(config: &IsolateConfig) -> Result<V8Isolate, EngineError> {
        let state: SharedState = Arc::new(Mutex::new(HostState {
            service: config.service.clone(),
            directory: config.directory.clone(),
            env: config.env.clone(),
            stores: config.stores.clone(),
            effects: Vec::new(),
            cx: AsyncContext::default(),
            started: Instant::now(),
        }));
        let embedder = Box::new(V8Host {
            state: state.clone(),
            modules: config.modules.clone(),
        });
        let raw = RawIsolate::new(config.memory_limit, embedder).ok_or_else(|| {
            EngineError::Create("V8 could not create an isolate and context".to_owned())
        })?;
        let mut isolate = V8Isolate {
            watch: Watch::register(Some(Box::new(raw.terminator()))),
            raw,
            state,
            methods: Vec::new(),
            has_fetch: false,
            budget: config.cpu_budget,
            memory_limit: config.memory_limit,
            scratch: Vec::new(),
        };
        let load_budget = config.cpu_budget.max(MIN_LOAD_BUDGET);
        let armed = isolate.watch.arm(load_budget);
        let loaded = isolate.load(config);
        drop(armed);
        match loaded {
            Ok((methods, has_fetch)) => {
                isolate.methods = methods;
                isolate.has_fetch = has_fetch;
                Ok(isolate)
            }
            Err(e) if isolate.watch.slot().fired() => Err(EngineError::Evaluation {
                file: config.entry.clone(),
                message: format!(
                    "the module's top level ran longer than {} ms and was interrupted ({e})",
                    load_budget.as_millis()
                ),
            }),
            Err(_) if isolate.raw.take_exhausted() => Err(EngineError::Evaluation {
                file: config.entry.clone(),
                message: format!(
                    "out of memory: the module's top level reached the heap limit of {} MiB",
                    config.memory_limit >> 20
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// The error record the shim left in its output, as a [`JsError`].
    fn thrown(&self) -> (JsError, Option<(String, u32)>) {
        match wire::decode(&self.raw.output()) {
            Ok(record) => {
                let at = match (record.get("file"), record.get("line")) {
                    (Some(Value::String(f)), Some(Value::Number(l))) if *l > 0.0 => {
                        Some((f.clone(), *l as u32))
                    }
                    _ => None,
                };
                (host::v8_error(&record), at)
            }
            Err(e) => (JsError::new("InternalError", e.to_string()), None),
        }
    }

    fn load_failure(&self, status: Status, file: &str) -> EngineError {
        match status {
            Status::Exception => {
                let (error, at) = self.thrown();
                EngineError::loading(error, file, at)
            }
            Status::Unsettled => EngineError::Evaluation {
                file: file.to_owned(),
                message: "the module's top-level await never settled".to_owned(),
            },
            Status::Terminated | Status::Ok => EngineError::Evaluation {
                file: file.to_owned(),
                message: "terminated".to_owned(),
            },
        }
    }

    /// Runs the prelude, the builtin module and the entry module.
    /// Returns the module's methods and whether it has a fetch handler.
    fn load(&self, config: &IsolateConfig) -> Result<(Vec<String>, bool), EngineError> {
        let status = self
            .raw
            .boot(PRELUDE, &config.service, &host::op_names(), CODEC);
        if status != Status::Ok {
            return Err(self.load_failure(status, "<prelude>"));
        }
        let status = self.raw.load(BUILTIN_MODULE, BUILTIN_SOURCE, false);
        if status != Status::Ok {
            return Err(self.load_failure(status, BUILTIN_MODULE));
        }
        let entry = config.entry.as_str();
        let source = config
            .modules
            .get(entry)
            .ok_or_else(|| EngineError::Evaluation {
                file: entry.to_owned(),
                message: "no such module in the app".to_owned(),
            })?;
        let status = self.raw.load(entry, &source.source, true);
        if status != Status::Ok {
            return Err(self.load_failure(status, entry));
        }
        let exports =
            wire::decode(&self.raw.output()).map_err(|e| EngineError::Create(e.to_string()))?;
        let mut methods: Vec<String> = match exports.get("methods") {
            Some(Value::Array(methods)) => methods
                .iter()
                .filter_map(|m| m.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        methods.sort();
        let has_fetch = matches!(exports.get("hasFetch"), Some(Value::Bool(true)));
        Ok((methods, has_fetch))
    }

    /// Hands an event to the dispatcher. An engine-encoded value goes to
    /// the shim as it is; a Rust-made one is encoded into `scratch` first.
    fn deliver(
        raw: &RawIsolate,
        state: &SharedState,
        scratch: &mut Vec<u8>,
        event: Event,
    ) -> Status {
        match event {
            Event::Invoke { id, method, arg } => {
                state.lock().cx.enter_invocation(id);
                let value = payload_bytes(&arg, scratch);
                raw.dispatch(Dispatch::Invoke, id.0 as f64, &method, true, value)
            }
            Event::Reply { call, result } => {
                if !state.lock().cx.enter_reply(call) {
                    return Status::Ok;
                }
                let ok = result.is_ok();
                let value = match &result {
                    Ok(payload) => payload_bytes(payload, scratch),
                    Err(e) => {
                        scratch.clear();
                        wire::encode_without_json(&e.to_value(), scratch);
                        scratch
                    }
                };
                raw.dispatch(Dispatch::Reply, call.0 as f64, "", ok, value)
            }
            Event::Timer { id } => {
                let live = match state.lock().cx.enter_timer(id) {
                    TimerFate::Unknown => return Status::Ok,
                    TimerFate::Run => true,
                    // The bootstrap forgets it without running it.
                    TimerFate::Expired => false,
                };
                raw.dispatch(Dispatch::Timer, id.0 as f64, "", live, &[])
            }
        }
    }
}

/// A payload's wire bytes: its own if an engine encoded it, else encoded
/// into `scratch` (as a tree: the codec builds objects from it faster than
/// `JSON.parse` builds them from JSON text, see docs/v8.md).
fn payload_bytes<'a>(payload: &'a Payload, scratch: &'a mut Vec<u8>) -> &'a [u8] {
    match payload {
        Payload::Wire(wire) => wire.as_bytes(),
        Payload::Value(value) => {
            scratch.clear();
            wire::encode_without_json(value, scratch);
            scratch
        }
    }
}

impl crate::engine::Isolate for V8Isolate {
    fn methods(&self) -> &[String] {
        &self.methods
    }

    fn has_fetch(&self) -> bool {
        self.has_fetch
    }

    fn handle(
        &mut self,
        event: Event,
        budget: Duration,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Fault> {
        self.budget = budget;
        let armed = self.watch.arm(budget);
        let status = Self::deliver(&self.raw, &self.state, &mut self.scratch, event);
        drop(armed);
        if self.scratch.capacity() > MAX_KEPT_SCRATCH {
            self.scratch = Vec::new();
        }
        {
            let mut state = self.state.lock();
            state.cx.leave();
            effects.append(&mut state.effects);
        }
        if self.raw.take_exhausted() {
            return Err(Fault::OutOfMemory {
                limit_mb: self.memory_limit >> 20,
            });
        }
        if self.watch.slot().fired() {
            return Err(Fault::CpuBudget {
                budget: self.budget,
            });
        }
        match status {
            Status::Ok | Status::Unsettled => Ok(()),
            Status::Terminated => Err(Fault::Internal(
                "V8 terminated the isolate's JavaScript".to_owned(),
            )),
            Status::Exception => {
                // A timer callback threw, or an event could not be
                // delivered: report it like an uncaught exception.
                let (error, _) = self.thrown();
                let service = self.state.lock().service.clone();
                error.log_uncaught(&service);
                Ok(())
            }
        }
    }

    fn heap_used(&self) -> usize {
        self.raw.heap_used()
    }
}
