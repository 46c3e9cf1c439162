//! Traces: where a request's time went, hop by hop.
//!
//! Every HTTP request on the app's listener gets a **trace** (its W3C
//! `traceparent` continued if the client sent one, `tracestate` kept;
//! created otherwise). The request itself is the **root span** (method,
//! route, status); every invocation it leads to (the `@fetch` handler, each
//! call between services), every store operation, every timer and every
//! outbound `fetch()` is a span under the span of the invocation that made
//! it, carrying the service, method, instance, worker, time queued, time
//! running, CPU time and outcome (ok, or the error's message). Outbound
//! requests carry a `traceparent` naming their span, so the trace goes on
//! in whatever the app calls.
//!
//! # Who records what
//!
//! The scheduler sees every hop, so recording is a few lines where it
//! already acts: an invocation's record (`scheduler::instance::Inflight`)
//! has an optional [`Invocation`] (its span id and the [`Link`] to its
//! parent); each run segment notes the first start and the worker; the
//! answer writes the span. Calls pass [`Invocation::child`] to the callee's
//! record. Store operations, fetches and timers become [`Pending`] spans in
//! the instance's core, ended when their reply (or the timer's callback)
//! runs. The gateway opens the trace ([`Tracer::start`]) and closes the
//! root span ([`RequestTrace::finish`]).
//!
//! # What it costs, and the one decision per request
//!
//! Whether a request is recorded at all is decided once, when it arrives:
//! with tracing off ([`TraceConfig::is_off`]: no OTLP endpoint and no
//! in-memory keep), [`Tracer::start`] returns `None` and nothing else
//! happens anywhere — every hook is an `Option` that stays `None` (one
//! predictable branch per invocation, measured as no difference in
//! BENCHMARKS.md).
//!
//! With tracing on, every request is recorded, sampled or not, because
//! errors and slow requests are always kept and which requests those are
//! is only known at the end (tail keep). Recording is made cheap rather
//! than conditional: a trace is one allocation (an `Arc<Trace>`) holding a
//! vector of plain span records behind an uncontended lock; a span is a
//! push of a struct of integers and `Arc<str>` clones, written once when
//! the span ends (no attribute maps, no strings formatted, no clock other
//! than the monotonic one the scheduler reads anyway). Nothing is
//! converted for export until the trace is known to be kept. The
//! alternative — recording only head-sampled requests — would lose the
//! errors of unsampled requests, which is what a trace is most wanted
//! for; measured, the always-on record costs too little to tell apart from
//! noise on the hello-world benchmark (BENCHMARKS.md, "Tracing"), so the
//! in-memory keep is on by default.
//!
//! The trace ends when its last holder lets go (the gateway after the
//! response, the records of invocations still running): the `Drop` of
//! [`Trace`] decides whether to keep it — head-sampled
//! ([`TraceConfig::sample_rate`] of new traces by their id, or the
//! client's `sampled` flag), failed (any span with an error, or a 5xx), or
//! slower than [`TraceConfig::slow`] — and if so converts it once to a
//! [`Finished`] trace, kept in memory (a bounded ring of slow/failed ones and
//! one of sampled ones, for `GET /admin/traces` and `pyrosome trace`) and
//! queued for export. Timers and pending store operations or fetches hold
//! only a weak reference: work left running after the response (a timer
//! nobody awaited, `ctx.waitUntil`) does not hold the trace open, and its
//! spans are not recorded.
//!
//! # Export
//!
//! Kept traces go over OTLP/HTTP (protobuf, the `opentelemetry-proto`
//! types) to [`TraceConfig::otlp_endpoint`], from a thread of their own
//! (`otlp.rs`): a worker only pushes onto a bounded queue and never waits;
//! when the queue is full the trace is dropped and counted
//! (`pyrosome_trace_spans_dropped_total` in `/metrics`). Each Pyrosome
//! service is an OpenTelemetry resource (`service.name`), the app is the
//! `service.namespace`.
//!
//! Files: `otlp.rs` (the exporter), `view.rs` (the JSON of `/admin/traces`),
//! `waterfall.rs` (the terminal rendering of `pyrosome trace`).

mod otlp;
pub mod view;
pub mod waterfall;

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::engine::{CallId, FetchRequest, JsError, StoreRequest, TimerId};

pub use view::{SpanView, TraceSummary, TraceView};

/// The environment variable that names the OTLP/HTTP base URL (`/v1/traces`
/// is appended), as in every OpenTelemetry SDK.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The environment variable that names the OTLP/HTTP traces URL exactly.
pub const OTLP_TRACES_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// The environment variable with extra export headers (`k=v,k2=v2`).
pub const OTLP_HEADERS_ENV: &str = "OTEL_EXPORTER_OTLP_HEADERS";

/// Slow and failed traces kept in memory.
const KEEP_NOTABLE: usize = 128;

/// Sampled traces kept in memory (besides the slow and failed ones).
const KEEP_SAMPLED: usize = 64;

/// Tracing settings (the manifest's `[trace]`, see `docs/tracing.md`).
#[derive(Clone, Debug, PartialEq)]
pub struct TraceConfig {
    /// Share of new traces kept (0..=1), decided by the trace id; a
    /// client's `traceparent` decides for its own trace (its `sampled`
    /// flag).
    pub sample_rate: f64,
    /// Traces at least this slow are always kept.
    pub slow: Duration,
    /// Keep recent slow, failed and sampled traces in memory for
    /// `/admin/traces` (on by default).
    pub keep: bool,
    /// Where to export kept traces (OTLP/HTTP protobuf, the full traces
    /// URL); `None`: no export.
    pub otlp_endpoint: Option<String>,
    /// Extra headers of export requests (authentication).
    pub otlp_headers: Vec<(String, String)>,
}

impl TraceConfig {
    /// Default [`TraceConfig::slow`].
    pub const DEFAULT_SLOW: Duration = Duration::from_millis(500);

    /// Whether nothing is recorded at all.
    pub fn is_off(&self) -> bool {
        !self.keep && self.otlp_endpoint.is_none()
    }

    /// Applies the OpenTelemetry environment variables
    /// ([`OTLP_TRACES_ENDPOINT_ENV`], else [`OTLP_ENDPOINT_ENV`];
    /// [`OTLP_HEADERS_ENV`]), which override the manifest.
    pub fn with_env(mut self) -> TraceConfig {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(url) = var(OTLP_TRACES_ENDPOINT_ENV) {
            self.otlp_endpoint = Some(url.trim().to_owned());
        } else if let Some(base) = var(OTLP_ENDPOINT_ENV) {
            self.otlp_endpoint = Some(traces_url(&base));
        }
        if let Some(headers) = var(OTLP_HEADERS_ENV) {
            self.otlp_headers = headers
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
        }
        self
    }
}

impl Default for TraceConfig {
    fn default() -> Self {
        TraceConfig {
            sample_rate: 0.0,
            slow: Self::DEFAULT_SLOW,
            keep: true,
            otlp_endpoint: None,
            otlp_headers: Vec::new(),
        }
    }
}

/// The traces URL for an OTLP/HTTP base URL: `/v1/traces` appended, as the
/// OpenTelemetry SDKs do (unless it is there already).
pub fn traces_url(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The OTLP endpoint is not a URL we can post to.
    #[error("the OTLP endpoint {url:?} is not an http:// or https:// URL: {why}")]
    Endpoint {
        /// The configured endpoint.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The exporter's thread did not start.
    #[error("cannot start the trace exporter thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Counters of the tracer (copied into `/metrics`).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Traces recorded.
    pub(crate) started: AtomicU64,
    /// Traces kept (sampled, failed or slow).
    pub(crate) kept: AtomicU64,
    /// Spans sent to the OTLP endpoint.
    pub(crate) exported: AtomicU64,
    /// Spans dropped: the export queue was full.
    pub(crate) dropped: AtomicU64,
    /// Export requests that failed (their spans are lost).
    pub(crate) failures: AtomicU64,
}

/// What the tracer keeps and where it sends kept traces.
struct Sink {
    config: TraceConfig,
    app: Arc<str>,
    notable: Mutex<VecDeque<Arc<Finished>>>,
    sampled: Mutex<VecDeque<Arc<Finished>>>,
    exporter: Option<otlp::Exporter>,
    counters: Arc<Counters>,
}

/// The tracing of one app: opens traces and keeps the finished ones.
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct Tracer {
    sink: Option<Arc<Sink>>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("config", &self.sink.as_ref().map(|s| &s.config))
            .finish()
    }
}

impl Tracer {
    /// A tracer for app `app` (the OpenTelemetry `service.namespace`);
    /// starts the exporter thread if `config` names an endpoint.
    pub fn new(app: &str, config: TraceConfig) -> Result<Tracer, TraceError> {
        if config.is_off() {
            return Ok(Tracer::default());
        }
        let counters = Arc::new(Counters::default());
        let exporter = match &config.otlp_endpoint {
            Some(url) => Some(otlp::Exporter::start(
                url,
                &config.otlp_headers,
                app,
                counters.clone(),
            )?),
            None => None,
        };
        Ok(Tracer {
            sink: Some(Arc::new(Sink {
                config,
                app: app.into(),
                notable: Mutex::new(VecDeque::new()),
                sampled: Mutex::new(VecDeque::new()),
                exporter,
                counters,
            })),
        })
    }

    /// Tracing off: [`Tracer::start`] records nothing.
    pub fn off() -> Tracer {
        Tracer::default()
    }

    /// Whether anything is recorded.
    pub fn is_on(&self) -> bool {
        self.sink.is_some()
    }

    /// Opens the trace of an HTTP request with these headers (its
    /// `traceparent` and `tracestate` continued). `None` when tracing is
    /// off.
    pub fn start(&self, headers: &hyper::HeaderMap) -> Option<RequestTrace> {
        let sink = self.sink.as_ref()?;
        let started = Instant::now();
        let parent = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent);
        let (id, remote_parent, sampled) = match parent {
            Some(p) => (p.trace_id, p.parent_id, p.sampled),
            None => {
                let id = random_trace_id();
                (id, 0, ratio_sampled(id, sink.config.sample_rate))
            }
        };
        let state = match parent {
            Some(_) => headers
                .get("tracestate")
                .and_then(|v| v.to_str().ok())
                .filter(|s| !s.is_empty())
                .map(Box::from),
            None => None,
        };
        sink.counters.started.fetch_add(1, Ordering::Relaxed);
        let root = random_span_id();
        let trace = Arc::new(Trace {
            sink: sink.clone(),
            id,
            root,
            remote_parent,
            state,
            sampled,
            epoch: started,
            spans: Mutex::new(Vec::with_capacity(4)),
        });
        Some(RequestTrace {
            link: Link { trace, span: root },
            started,
        })
    }

    /// Recent kept traces, newest first.
    pub fn recent(&self) -> Vec<TraceSummary> {
        let mut all = self.kept();
        all.sort_by_key(|t| std::cmp::Reverse(t.wall_start_ns));
        all.iter().map(|t| t.summary()).collect()
    }

    /// A kept trace by id (or a unique prefix of its hex id).
    pub fn find(&self, id: &str) -> Option<TraceView> {
        let id = id.trim().to_ascii_lowercase();
        if id.is_empty() {
            return None;
        }
        let all = self.kept();
        let mut matching = all
            .iter()
            .filter(|t| format!("{:032x}", t.id).starts_with(&id));
        let first = matching.next()?;
        if matching.any(|t| t.id != first.id) {
            return None;
        }
        Some(first.view())
    }

    fn kept(&self) -> Vec<Arc<Finished>> {
        let Some(sink) = &self.sink else {
            return Vec::new();
        };
        let mut all: Vec<Arc<Finished>> = sink.notable.lock().iter().cloned().collect();
        all.extend(sink.sampled.lock().iter().cloned());
        all
    }

    /// Copies the counters into the metrics recorder (before `/metrics`
    /// renders).
    pub fn publish_metrics(&self) {
        let Some(sink) = &self.sink else {
            return;
        };
        let c = &sink.counters;
        for (name, counter) in [
            ("pyrosome_traces_total", &c.started),
            ("pyrosome_traces_kept_total", &c.kept),
            ("pyrosome_trace_spans_exported_total", &c.exported),
            ("pyrosome_trace_spans_dropped_total", &c.dropped),
            ("pyrosome_trace_export_failures_total", &c.failures),
        ] {
            metrics::counter!(name).absolute(counter.load(Ordering::Relaxed));
        }
    }

    /// Sends what is queued for export and stops the exporter (waiting
    /// up to `timeout`).
    pub fn shutdown(&self, timeout: Duration) {
        if let Some(exporter) = self.sink.as_ref().and_then(|s| s.exporter.as_ref()) {
            exporter.shutdown(timeout);
        }
    }

    /// The app's name (the resource's `service.namespace`).
    pub fn app(&self) -> Option<&str> {
        self.sink.as_ref().map(|s| &*s.app)
    }
}

/// A parsed `traceparent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace id (never zero).
    pub trace_id: u128,
    /// The caller's span id (never zero).
    pub parent_id: u64,
    /// The `sampled` flag.
    pub sampled: bool,
}

/// Parses a W3C `traceparent` header (version 00, or a later version read
/// as 00 says); `None` for an invalid one, which starts a new trace.
pub fn parse_traceparent(text: &str) -> Option<TraceParent> {
    let text = text.trim();
    let mut parts = text.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    let hex =
        |s: &str, len| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(parent, 16) || !hex(flags, 2)
    {
        return None;
    }
    // Version 00 has exactly four fields; later versions may add more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok()?;
    let parent_id = u64::from_str_radix(parent, 16).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id == 0 || parent_id == 0 {
        return None;
    }
    Some(TraceParent {
        trace_id,
        parent_id,
        sampled: flags & 1 == 1,
    })
}

/// Formats a `traceparent` header value.
pub fn format_traceparent(trace_id: u128, span_id: u64, sampled: bool) -> String {
    format!(
        "00-{trace_id:032x}-{span_id:016x}-{:02x}",
        u8::from(sampled)
    )
}

/// Whether a new trace is head-sampled: the trace id's low 64 bits against
/// the rate (so every process that sees the id decides alike, as
/// OpenTelemetry's `TraceIdRatioBased` does).
fn ratio_sampled(id: u128, rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    if rate <= 0.0 {
        return false;
    }
    let low = (id as u64) >> 1;
    (low as f64) < rate * (u64::MAX >> 1) as f64
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// A random `u64` from a per-thread wyrand generator seeded from the OS.
fn random_u64() -> u64 {
    RNG.with(|rng| {
        let mut s = rng.get();
        if s == 0 {
            let mut b = [0u8; 8];
            let _ = getrandom::fill(&mut b);
            s = u64::from_le_bytes(b) | 1;
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        rng.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

fn random_span_id() -> u64 {
    loop {
        let id = random_u64();
        if id != 0 {
            return id;
        }
    }
}

fn random_trace_id() -> u128 {
    loop {
        let id = (u128::from(random_u64()) << 64) | u128::from(random_u64());
        if id != 0 {
            return id;
        }
    }
}

/// What a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The HTTP request (the root).
    Request,
    /// An invocation of a service's method (`@fetch` for the handler).
    Invocation,
    /// A store operation.
    Store,
    /// A timer's callback.
    Timer,
    /// An outbound `fetch()`.
    Fetch,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Invocation => "invocation",
            Kind::Store => "store",
            Kind::Timer => "timer",
            Kind::Fetch => "fetch",
        }
    }
}

/// Extra facts of a span, by kind.
#[derive(Clone, Debug)]
pub(crate) enum Detail {
    None,
    /// The root: the path and the status (the HTTP method is the span's
    /// `method`).
    Request {
        path: Box<str>,
        status: u16,
    },
    /// A store operation: which store.
    Store {
        store: Box<str>,
    },
    /// A timer: its delay.
    Timer {
        delay: Duration,
    },
    /// A fetch: method and URL.
    Fetch {
        method: Box<str>,
        url: Box<str>,
    },
}

/// One finished span, as recorded (times on the monotonic clock).
#[derive(Clone, Debug)]
pub(crate) struct SpanRecord {
    pub(crate) id: u64,
    /// 0 for the root.
    pub(crate) parent: u64,
    pub(crate) kind: Kind,
    pub(crate) service: Arc<str>,
    /// The method; the store operation (`get`, `list`, `count`, `write`);
    /// `setTimeout`; the HTTP method of a fetch.
    pub(crate) method: Box<str>,
    pub(crate) instance: Option<u64>,
    pub(crate) worker: Option<u32>,
    pub(crate) start: Instant,
    pub(crate) end: Instant,
    pub(crate) queued: Duration,
    pub(crate) running: Duration,
    pub(crate) cpu: Duration,
    pub(crate) error: Option<Box<str>>,
    pub(crate) detail: Detail,
}

/// A trace being recorded: shared by everything that is part of it, kept
/// or dropped when the last of them lets go (see the module docs).
pub struct Trace {
    sink: Arc<Sink>,
    id: u128,
    root: u64,
    remote_parent: u64,
    state: Option<Box<str>>,
    sampled: bool,
    epoch: Instant,
    spans: Mutex<Vec<SpanRecord>>,
}

impl Trace {
    fn record(&self, span: SpanRecord) {
        self.spans.lock().push(span);
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let spans = std::mem::take(self.spans.get_mut());
        let Some(root) = spans.iter().find(|s| s.id == self.root) else {
            return;
        };
        let duration = root.end.saturating_duration_since(root.start);
        let failed = spans.iter().any(|s| s.error.is_some());
        let slow = duration >= self.sink.config.slow;
        if !(self.sampled || failed || slow) {
            return;
        }
        self.sink.counters.kept.fetch_add(1, Ordering::Relaxed);
        let why = if failed {
            "error"
        } else if slow {
            "slow"
        } else {
            "sampled"
        };
        let finished = Arc::new(Finished::new(self, spans, why));
        if self.sink.config.keep {
            let (ring, cap) = if failed || slow {
                (&self.sink.notable, KEEP_NOTABLE)
            } else {
                (&self.sink.sampled, KEEP_SAMPLED)
            };
            let mut ring = ring.lock();
            if ring.len() >= cap {
                ring.pop_front();
            }
            ring.push_back(finished.clone());
        }
        if let Some(exporter) = &self.sink.exporter {
            exporter.send(finished);
        }
    }
}

/// Where a span hangs: a trace and the span id of its parent.
#[derive(Clone)]
pub struct Link {
    trace: Arc<Trace>,
    span: u64,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Link({:032x}/{:016x})", self.trace.id, self.span)
    }
}

impl Link {
    /// The trace id.
    pub fn trace_id(&self) -> u128 {
        self.trace.id
    }
}

/// The root of a request's trace, held by the gateway while it serves it.
pub struct RequestTrace {
    link: Link,
    started: Instant,
}

impl RequestTrace {
    /// The parent of the invocation the request leads to.
    pub fn link(&self) -> Link {
        self.link.clone()
    }

    /// The trace id, as 32 hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.link.trace.id)
    }

    /// Ends the root span: the request was answered with `status`.
    pub fn finish(self, service: &str, method: &str, path: &str, status: u16) {
        let trace = &self.link.trace;
        let end = Instant::now();
        let error = (status >= 500).then(|| format!("HTTP {status}").into_boxed_str());
        trace.record(SpanRecord {
            id: self.link.span,
            parent: 0,
            kind: Kind::Request,
            service: service.into(),
            method: method.into(),
            instance: None,
            worker: None,
            start: self.started,
            end,
            queued: Duration::ZERO,
            running: end.saturating_duration_since(self.started),
            cpu: Duration::ZERO,
            error,
            detail: Detail::Request {
                path: path.into(),
                status,
            },
        });
    }
}

/// The span of an invocation, carried in its record while it is in
/// flight.
#[derive(Debug)]
pub struct Invocation {
    parent: Link,
    id: u64,
    started: Option<Instant>,
    worker: Option<u32>,
}

impl Invocation {
    /// A span under `parent`.
    pub fn new(parent: Link) -> Box<Invocation> {
        Box::new(Invocation {
            parent,
            id: random_span_id(),
            started: None,
            worker: None,
        })
    }

    /// The parent of what this invocation starts (calls, store operations,
    /// timers, fetches).
    pub fn child(&self) -> Link {
        Link {
            trace: self.parent.trace.clone(),
            span: self.id,
        }
    }

    /// A run segment began at `start` on worker `worker`.
    pub fn segment(&mut self, start: Instant, worker: Option<usize>) {
        if self.started.is_none() {
            self.started = Some(start);
            self.worker = worker.map(|w| w as u32);
        }
    }

    /// The invocation was answered: records its span. `placed` is when it
    /// was queued, `cpu` its run segments' time.
    pub fn finish(
        self,
        service: &Arc<str>,
        method: &str,
        instance: u64,
        placed: Instant,
        cpu: Duration,
        error: Option<&JsError>,
    ) {
        let end = Instant::now();
        let started = self.started.unwrap_or(end).max(placed);
        self.parent.trace.record(SpanRecord {
            id: self.id,
            parent: self.parent.span,
            kind: Kind::Invocation,
            service: service.clone(),
            method: method.into(),
            instance: Some(instance),
            worker: self.worker,
            start: placed,
            end,
            queued: started.saturating_duration_since(placed),
            running: end.saturating_duration_since(started),
            cpu,
            error: error.map(error_text),
            detail: Detail::None,
        });
    }
}

/// A call refused before it reached an instance (overloaded, no
/// instance): an error span of no duration under `parent`.
pub fn refused(parent: &Link, service: &str, method: &str, error: &JsError) {
    let now = Instant::now();
    parent.trace.record(SpanRecord {
        id: random_span_id(),
        parent: parent.span,
        kind: Kind::Invocation,
        service: service.into(),
        method: method.into(),
        instance: None,
        worker: None,
        start: now,
        end: now,
        queued: Duration::ZERO,
        running: Duration::ZERO,
        cpu: Duration::ZERO,
        error: Some(error_text(error)),
        detail: Detail::None,
    });
}

fn error_text(error: &JsError) -> Box<str> {
    format!("{}: {}", error.name, error.message).into_boxed_str()
}

/// A span that began and ends when a reply or a timer arrives; holds the
/// trace weakly (see the module docs).
#[derive(Debug)]
struct Open {
    trace: Weak<Trace>,
    parent: u64,
    id: u64,
    kind: Kind,
    method: &'static str,
    start: Instant,
    /// Timers: when it is due. Others: time spent issuing it.
    mark: Duration,
    worker: Option<u32>,
    detail: Detail,
}

/// The spans an instance has open (its store operations, fetches and
/// timers), kept in its core. Empty, and costing nothing, while none of
/// its invocations is traced.
#[derive(Debug, Default)]
pub struct Pending {
    calls: FxHashMap<CallId, Open>,
    timers: FxHashMap<TimerId, Open>,
}

impl Pending {
    /// A store operation `request` on `store` made under `parent`, issued
    /// at `start` for `issue` (the read itself, or queuing the write).
    pub fn store(
        &mut self,
        parent: &Link,
        call: CallId,
        store: &str,
        request: &StoreRequest,
        start: Instant,
        worker: Option<usize>,
    ) {
        let method = match request {
            StoreRequest::Get(_) => "get",
            StoreRequest::List(_) => "list",
            StoreRequest::Count(_) => "count",
            StoreRequest::Write(_) => "write",
        };
        self.calls.insert(
            call,
            Open {
                trace: Arc::downgrade(&parent.trace),
                parent: parent.span,
                id: random_span_id(),
                kind: Kind::Store,
                method,
                start,
                mark: start.elapsed(),
                worker: worker.map(|w| w as u32),
                detail: Detail::Store {
                    store: store.into(),
                },
            },
        );
    }

    /// An outbound fetch made under `parent`: adds its `traceparent`
    /// header (unless JavaScript set one) and opens its span.
    pub fn fetch(
        &mut self,
        parent: &Link,
        call: CallId,
        request: &mut FetchRequest,
        worker: Option<usize>,
    ) {
        let id = random_span_id();
        let trace = &parent.trace;
        if !request.headers.iter().any(|(n, _)| n == "traceparent") {
            request.headers.push((
                "traceparent".to_owned(),
                format_traceparent(trace.id, id, trace.sampled),
            ));
            if let Some(state) = &trace.state
                && !request.headers.iter().any(|(n, _)| n == "tracestate")
            {
                request
                    .headers
                    .push(("tracestate".to_owned(), state.to_string()));
            }
        }
        self.calls.insert(
            call,
            Open {
                trace: Arc::downgrade(trace),
                parent: parent.span,
                id,
                kind: Kind::Fetch,
                method: "fetch",
                start: Instant::now(),
                mark: Duration::ZERO,
                worker: worker.map(|w| w as u32),
                detail: Detail::Fetch {
                    method: request.method.as_str().into(),
                    url: request.url.as_str().into(),
                },
            },
        );
    }

    /// The reply to `call` is about to run: ends its span, if it has one.
    pub fn replied(
        &mut self,
        call: CallId,
        result: Result<(), &JsError>,
        service: &Arc<str>,
        instance: u64,
    ) {
        if self.calls.is_empty() {
            return;
        }
        let Some(open) = self.calls.remove(&call) else {
            return;
        };
        let Some(trace) = open.trace.upgrade() else {
            return;
        };
        let end = Instant::now();
        trace.record(SpanRecord {
            id: open.id,
            parent: open.parent,
            kind: open.kind,
            service: service.clone(),
            method: match &open.detail {
                Detail::Fetch { method, .. } => method.clone(),
                _ => open.method.into(),
            },
            instance: Some(instance),
            worker: open.worker,
            start: open.start,
            end,
            queued: Duration::ZERO,
            running: end.saturating_duration_since(open.start),
            cpu: open.mark,
            error: result.err().map(error_text),
            detail: open.detail,
        });
    }

    /// A timer armed under `parent`, due after `delay`.
    pub fn timer(&mut self, parent: &Link, id: TimerId, delay: Duration) {
        let start = Instant::now();
        self.timers.insert(
            id,
            Open {
                trace: Arc::downgrade(&parent.trace),
                parent: parent.span,
                id: random_span_id(),
                kind: Kind::Timer,
                method: "setTimeout",
                start,
                mark: delay,
                worker: None,
                detail: Detail::Timer { delay },
            },
        );
    }

    /// A timer was cleared.
    pub fn cleared(&mut self, id: TimerId) {
        if !self.timers.is_empty() {
            self.timers.remove(&id);
        }
    }

    /// A timer fired: its open span, to end with [`FiredTimer::ran`]
    /// once its callback ran.
    pub fn fired(&mut self, id: TimerId) -> Option<FiredTimer> {
        if self.timers.is_empty() {
            return None;
        }
        self.timers.remove(&id).map(FiredTimer)
    }
}

/// A timer whose callback is about to run (see [`Pending::fired`]).
#[derive(Debug)]
pub struct FiredTimer(Open);

impl FiredTimer {
    /// Its callback ran from `start` for `cpu` on `worker`.
    pub fn ran(
        self,
        start: Instant,
        cpu: Duration,
        worker: Option<usize>,
        service: &Arc<str>,
        instance: u64,
    ) {
        let open = self.0;
        let Some(trace) = open.trace.upgrade() else {
            return;
        };
        let end = start + cpu;
        let due = open.start + open.mark;
        trace.record(SpanRecord {
            id: open.id,
            parent: open.parent,
            kind: Kind::Timer,
            service: service.clone(),
            method: open.method.into(),
            instance: Some(instance),
            worker: worker.map(|w| w as u32),
            start: open.start,
            end,
            queued: start.saturating_duration_since(due.min(start)),
            running: cpu,
            cpu,
            error: None,
            detail: open.detail,
        });
    }
}

/// A kept trace: its spans with times as offsets from its start.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) id: u128,
    pub(crate) remote_parent: u64,
    pub(crate) state: Option<Box<str>>,
    pub(crate) sampled: bool,
    /// Unix time of the trace's start, nanoseconds.
    pub(crate) wall_start_ns: u64,
    pub(crate) why: &'static str,
    pub(crate) spans: Vec<FinishedSpan>,
}

/// A span of a [`Finished`] trace.
#[derive(Debug)]
pub(crate) struct FinishedSpan {
    pub(crate) record: SpanRecord,
    /// Offsets from the trace's start.
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
}

/// Unix nanoseconds of an `Instant` (through one anchor per process).
fn wall_ns(at: Instant) -> u64 {
    static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();
    let (instant, wall) = *ANCHOR.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        (Instant::now(), wall)
    });
    if at >= instant {
        wall + at.duration_since(instant).as_nanos() as u64
    } else {
        wall.saturating_sub(instant.duration_since(at).as_nanos() as u64)
    }
}

impl Finished {
    fn new(trace: &Trace, mut spans: Vec<SpanRecord>, why: &'static str) -> Finished {
        spans.sort_by_key(|s| (s.start, s.parent != 0));
        let epoch = spans.iter().map(|s| s.start).min().unwrap_or(trace.epoch);
        let offset = |t: Instant| t.saturating_duration_since(epoch).as_nanos() as u64;
        Finished {
            id: trace.id,
            remote_parent: trace.remote_parent,
            state: trace.state.clone(),
            sampled: trace.sampled,
            wall_start_ns: wall_ns(epoch),
            why,
            spans: spans
                .into_iter()
                .map(|record| FinishedSpan {
                    start_ns: offset(record.start),
                    end_ns: offset(record.end),
                    record,
                })
                .collect(),
        }
    }

    fn root(&self) -> Option<&FinishedSpan> {
        self.spans.iter().find(|s| s.record.parent == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_rejects_invalid_values() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let p = parse_traceparent(text).expect("valid");
        assert_eq!(p.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(p.parent_id, 0x00f067aa0ba902b7);
        assert!(p.sampled);
        assert_eq!(format_traceparent(p.trace_id, p.parent_id, true), text);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
        // A later version may carry more fields.
        assert!(
            parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some_and(|p| !p.sampled)
        );
    }

    #[test]
    fn the_sample_rate_keeps_about_that_share_of_trace_ids() {
        let n = 20_000;
        let kept = (0..n)
            .filter(|_| ratio_sampled(random_trace_id(), 0.25))
            .count();
        assert!((4_000..6_000).contains(&kept), "{kept} of {n}");
        assert!(!ratio_sampled(random_trace_id(), 0.0));
        assert!(ratio_sampled(random_trace_id(), 1.0));
    }

    #[test]
    fn traces_url_appends_the_signal_path_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
