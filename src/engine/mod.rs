//! The engine boundary: the only seam between Pyrosome and a JavaScript engine.
//!
//! An [`Engine`] creates [`Isolate`]s. An isolate holds one service's module,
//! loaded and evaluated, and is driven entirely by [`Event`]s: the scheduler
//! hands it one event at a time through [`Isolate::handle`], the isolate runs
//! JavaScript until its microtask queue is empty, and it reports what the
//! JavaScript asked of the outside world as [`Effect`]s (call another service,
//! use a store, send an HTTP request with `fetch()`, an invocation finished,
//! arm a timer). The isolate never blocks, never
//! spawns threads and never talks to other isolates: everything that crosses
//! an isolate boundary is a [`Value`] in an event or an effect.
//!
//! This module knows nothing of HTTP, the scheduler or the store. The HTTP
//! front door is just an invocation of the reserved method [`FETCH_METHOD`]
//! with a request value; the shared JavaScript bootstrap (in `js/`) turns it
//! into a `Request`, calls the module's `fetch` handler and turns the
//! `Response` back into a value.
//!
//! Two backends are planned behind this boundary: QuickJS ([`quickjs`], the
//! embedded default) and V8. Both run the same JavaScript bootstrap and Web
//! API code from `js/`, and talk to it through the same host operations, so
//! they serve the same JavaScript with the same results.
//!
//! # Async context
//!
//! Calls made by JavaScript are attributed to the invocation that is
//! "current" when they are made: the invocation being started, or the one
//! that owns the reply or timer being delivered. Because the isolate drains
//! its microtask queue after every event, continuations of an `await` run
//! while their own invocation is current. The attribution can only be wrong
//! when one invocation awaits a promise created by another, which the depth
//! limit and deadlines built on it tolerate.

mod context;
mod error;
mod host_ops;
mod modules;
mod payload;
pub mod quickjs;
mod refusal;
pub mod store_ops;
#[cfg(feature = "v8")]
pub mod v8;
mod watchdog;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

pub use context::{CallId, InvocationId, TimerId};
pub use error::{EngineError, Fault, JsError};
pub use modules::{BUILTIN_MODULE, ModuleSource, Modules, is_node_builtin, join_relative};
pub use payload::{Payload, Wire};
pub use store_ops::StoreGrant;
pub use watchdog::{TickHook, on_tick};

use crate::store::{KeyRange, ListQuery, WriteBatch};

/// The method name under which an HTTP request is delivered to a service's
/// `fetch` handler. It cannot be named from JavaScript (`services.x["@fetch"]`
/// is refused) because `@` never starts a callable export.
pub const FETCH_METHOD: &str = "@fetch";

/// What the engine must know about the rest of the application to let a
/// module call other services: which services exist and which methods each
/// exports. Built once at startup and shared by every isolate.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directory {
    services: Vec<(String, Vec<String>)>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `service` exports `methods` (callable exported
    /// functions, excluding the `fetch` handler).
    pub fn insert(&mut self, service: impl Into<String>, mut methods: Vec<String>) {
        let service = service.into();
        methods.sort();
        methods.dedup();
        match self.services.iter_mut().find(|(s, _)| *s == service) {
            Some(entry) => entry.1 = methods,
            None => self.services.push((service, methods)),
        }
        self.services.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// The methods of a service, or `None` if no such service exists.
    pub fn methods(&self, service: &str) -> Option<&[String]> {
        self.services
            .binary_search_by(|(s, _)| s.as_str().cmp(service))
            .ok()
            .map(|i| self.services[i].1.as_slice())
    }

    /// Every service with its methods, sorted by service name.
    pub fn services(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.services
            .iter()
            .map(|(s, m)| (s.as_str(), m.as_slice()))
    }
}

/// A service's `env`: its vars and secrets as one object (a
/// [`Value::Object`](crate::Value)), what JavaScript receives as the second
/// argument of `fetch(request, env, ctx)` and as `env` from `"pyrosome"`.
/// Its `Debug` shows names only: secret values must never reach a log.
#[derive(Clone, Default)]
pub struct Env(Arc<crate::Value>);

impl Env {
    /// An env holding `bindings` (name, value) in this order.
    pub fn new(bindings: Vec<(String, crate::Value)>) -> Env {
        Env(Arc::new(crate::Value::Object(
            bindings.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        )))
    }

    /// The env as an object value.
    pub fn value(&self) -> &crate::Value {
        &self.0
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = match &*self.0 {
            crate::Value::Object(pairs) => pairs.iter().filter_map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        };
        f.debug_tuple("Env").field(&names).finish()
    }
}

/// The [`Directory`], set once the app's services have all loaded.
pub type SharedDirectory = Arc<std::sync::OnceLock<Directory>>;

/// How to build one isolate.
#[derive(Clone, Debug)]
pub struct IsolateConfig {
    /// The service this isolate runs; tags its log lines.
    pub service: Arc<str>,
    /// The specifier of the service's entry module within [`Modules`].
    pub entry: String,
    /// The app's module sources.
    pub modules: Arc<Modules>,
    /// The services this module may call. Empty while the app's first
    /// instances are loading (calls at module top level are refused, as in
    /// Workers); set once before the first invocation.
    pub directory: SharedDirectory,
    /// Heap limit of the isolate in bytes; exceeding it is a [`Fault`].
    pub memory_limit: usize,
    /// CPU budget of one invocation. The scheduler passes what remains of
    /// it to each [`Isolate::handle`]; module loading gets at least this.
    pub cpu_budget: Duration,
    /// Include stacks of uncaught handler errors in HTTP 500 bodies.
    pub dev_mode: bool,
    /// The stores this service may use.
    pub stores: Vec<StoreGrant>,
    /// The service's vars and secrets (`env` in JavaScript).
    pub env: Env,
}

/// A store operation requested by JavaScript. Answered like a call, with
/// [`Event::Reply`]: `Get` with the value or `undefined`; `List` with an
/// array of `{key, value}` (keys as strings when they are UTF-8, else
/// `Uint8Array`); `Count` with a number; `Write` with `{ok}` or
/// `{ok: false, conflict}`.
#[derive(Debug)]
pub enum StoreRequest {
    /// Read one key.
    Get(Vec<u8>),
    /// Read a range.
    List(ListQuery),
    /// Count a range.
    Count(KeyRange),
    /// Apply a batch atomically.
    Write(WriteBatch),
}

/// What `fetch()` does with a redirect response (the Request's `redirect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// Follow it (at most 20 in a row).
    Follow,
    /// Hand the redirect response itself to JavaScript.
    Manual,
    /// Fail the fetch.
    Error,
}

/// An outbound HTTP request made with `fetch()`, as the JavaScript built it:
/// the URL parsed and serialized, the method normalized, the headers
/// validated. The engine neither checks nor performs it: the scheduler hands
/// it to the outbound HTTP client, which checks the service's grants.
#[derive(Clone, Debug)]
pub struct FetchRequest {
    /// The method (`GET`, `POST`, ...).
    pub method: String,
    /// The absolute URL, as `URL.href` serializes it.
    pub url: String,
    /// Header names (lower case) and values, in order. Values are
    /// ByteStrings: every character is one byte (U+0000..=U+00FF).
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// The redirect mode.
    pub redirect: Redirect,
}

/// Something that happened outside an isolate that it must react to.
#[derive(Debug)]
pub enum Event {
    /// Start an invocation of an exported method (or [`FETCH_METHOD`]).
    Invoke {
        /// Chosen by the scheduler; echoed in [`Effect::Complete`].
        id: InvocationId,
        /// The export to call.
        method: String,
        /// The argument.
        arg: Payload,
    },
    /// A call this isolate made has finished.
    Reply {
        /// From the [`Effect::Call`] that started it.
        call: CallId,
        /// The callee's result or why the call failed.
        result: Result<Payload, JsError>,
    },
    /// A timer this isolate armed has fired.
    Timer {
        /// From the [`Effect::SetTimer`] that armed it.
        id: TimerId,
    },
}

/// Something an isolate asks of the outside world.
#[derive(Debug)]
pub enum Effect {
    /// Invoke `service.method(arg)`; answer with [`Event::Reply`].
    Call {
        /// Unique for the life of the process.
        call: CallId,
        /// The invocation on whose behalf the call is made, if known.
        parent: Option<InvocationId>,
        /// Target service (known to exist in the [`Directory`]).
        service: String,
        /// Target method (known to exist in the [`Directory`]).
        method: String,
        /// The argument.
        arg: Payload,
    },
    /// Perform a store operation; answer with [`Event::Reply`].
    Store {
        /// Unique for the life of the process (shared with calls).
        call: CallId,
        /// The invocation on whose behalf it is made, if known.
        parent: Option<InvocationId>,
        /// The store (granted to this service, checked by the isolate).
        store: String,
        /// What to do.
        request: StoreRequest,
    },
    /// Send an outbound HTTP request (`fetch()`); answer with
    /// [`Event::Reply`]: the response head `[status, statusText, [name0,
    /// value0, ...], url, redirected, body]`, where `body` is `null` (no
    /// body), a `Uint8Array` (the whole body, known already) or `true` (to
    /// be read with [`Effect::FetchBody`] under this `call`), or the error.
    Fetch {
        /// Unique for the life of the process (shared with calls); also
        /// names the response's body afterwards.
        call: CallId,
        /// The invocation on whose behalf it is made, if known.
        parent: Option<InvocationId>,
        /// The request.
        request: FetchRequest,
    },
    /// Read the body of the response to [`Effect::Fetch`] `response`;
    /// answer with [`Event::Reply`]: its bytes, or the error.
    FetchBody {
        /// This read's own id.
        call: CallId,
        /// The invocation on whose behalf it is made, if known.
        parent: Option<InvocationId>,
        /// The `call` of the fetch.
        response: CallId,
    },
    /// JavaScript no longer wants fetch `response` (its signal aborted):
    /// stop the request or drop the unread body. Replies still due for it
    /// are sent (with an error) and ignored.
    CancelFetch {
        /// The `call` of the fetch.
        response: CallId,
    },
    /// An invocation that made outbound fetches has ended (answered, and no
    /// `ctx.waitUntil` holds it): what it still has in flight is abandoned.
    Ended {
        /// The invocation.
        id: InvocationId,
    },
    /// An invocation finished.
    Complete {
        /// From [`Event::Invoke`].
        id: InvocationId,
        /// Its return value or the error it threw.
        result: Result<Payload, JsError>,
    },
    /// Deliver [`Event::Timer`] after `delay`.
    SetTimer {
        /// Chosen by the isolate.
        id: TimerId,
        /// The invocation that armed it, if any.
        parent: Option<InvocationId>,
        /// How long to wait.
        delay: Duration,
    },
    /// A timer was cleared; a later [`Event::Timer`] for it is ignored, so
    /// delivering it anyway is harmless.
    ClearTimer {
        /// The timer.
        id: TimerId,
    },
}

/// A JavaScript engine: a factory of isolates.
pub trait Engine: Send + Sync {
    /// A short name (`"quickjs"`, `"v8"`).
    fn name(&self) -> &'static str;

    /// Creates an isolate, loads and evaluates the entry module and
    /// everything it imports. Errors name the file and line at fault.
    fn instantiate(&self, config: &IsolateConfig) -> Result<Box<dyn Isolate>, EngineError>;
}

/// One isolate with one service's module loaded. See the module docs.
///
/// An isolate is `Send`: it may run on any thread, but on one at a time.
pub trait Isolate: Send {
    /// The module's callable exports: exported functions, sorted. The
    /// `fetch` handler of the default export is not among them; see
    /// [`Isolate::has_fetch`].
    fn methods(&self) -> &[String];

    /// Whether the module's default export has a `fetch` handler.
    fn has_fetch(&self) -> bool;

    /// Delivers one event, runs JavaScript until no microtask is pending and
    /// appends the effects it produced to `effects`. JavaScript running
    /// longer than `budget` in this call is interrupted
    /// ([`Fault::CpuBudget`]).
    ///
    /// `Err` is a [`Fault`]. If [`Fault::keeps_isolate`] (the CPU budget
    /// ran out), only the event's own invocation failed: the isolate stays
    /// usable and the effects appended before the stop stand. Otherwise
    /// (out of memory, engine failure) the isolate is no longer usable: the
    /// caller must discard it and fail every invocation still in flight in
    /// it, and the effects appended during the call are suspect and must be
    /// dropped.
    fn handle(
        &mut self,
        event: Event,
        budget: Duration,
        effects: &mut Vec<Effect>,
    ) -> Result<(), Fault>;

    /// Bytes of heap in use, for metrics and limits.
    fn heap_used(&self) -> usize;
}

/// The names of the engines this build has, default first.
pub const ENGINES: &[&str] = &[
    "quickjs",
    #[cfg(feature = "v8")]
    "v8",
];

/// The environment variable that picks the engine when neither the command
/// line nor the manifest does (`quickjs` or `v8`).
pub const ENGINE_ENV: &str = "PYROSOME_ENGINE";

/// The engine called `name` (one of [`ENGINES`]).
pub fn engine_by_name(name: &str) -> Result<Arc<dyn Engine>, EngineError> {
    match name {
        "quickjs" => Ok(Arc::new(quickjs::QuickJs::new())),
        #[cfg(feature = "v8")]
        "v8" => Ok(Arc::new(v8::V8::new()?)),
        #[cfg(not(feature = "v8"))]
        "v8" => Err(EngineError::Unavailable(
            "this build of pyrosome has no V8 engine: run scripts/setup-v8.sh, then build \
             with `cargo build --release --features v8` (docs/v8.md)"
                .to_owned(),
        )),
        other => Err(EngineError::Unavailable(format!(
            "unknown engine {other:?} (this build has: {})",
            ENGINES.join(", ")
        ))),
    }
}

/// The engine used when none is chosen: the one named by [`ENGINE_ENV`]
/// if it is set, else QuickJS.
pub fn default_engine() -> Result<Arc<dyn Engine>, EngineError> {
    match std::env::var(ENGINE_ENV) {
        Ok(name) if !name.trim().is_empty() => engine_by_name(name.trim())
            .map_err(|e| EngineError::Unavailable(format!("{ENGINE_ENV}={name}: {e}"))),
        _ => engine_by_name("quickjs"),
    }
}
