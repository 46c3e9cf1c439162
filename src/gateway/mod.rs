//! The gateway: Pyrosome's HTTP front door (HTTP/1.1 with keep-alive, and
//! HTTP/2 with prior knowledge, on hyper), served by the scheduler's
//! workers: each connection is a task (see [`crate::io`] and the scheduler).
//!
//! A request whose path matches a service's `routes` becomes an invocation
//! of that service's `fetch` handler: the gateway turns it into a request
//! value (`[method, url, [name, value, ...], body?]`, see `convert.rs`), the
//! shared JavaScript bootstrap turns that into a `Request` (headers built
//! only if read), and the `Response` comes back as a value (`[status, body,
//! [name, value, ...]]`) that the gateway writes out. The engine never sees
//! HTTP, and the gateway never sees JavaScript.
//!
//! What the gateway answers itself:
//! - `GET /healthz` → 200 `ok`;
//! - on a separate *admin listener* (loopback by default, see `admin.rs`):
//!   `GET /metrics` → Prometheus text; `GET /admin/status` → the
//!   JavaScript engine's name and the scheduler's state as JSON (services,
//!   instances, per-method CPU time, partitions, worker busy time);
//!   `POST /admin/call/SERVICE/METHOD`; `POST /admin/reload`;
//! - more than `max_in_flight` requests at once, or an overloaded service →
//!   503 with `Retry-After`;
//! - no route for the path → 404;
//! - a malformed request → 400 (hyper's parser answers before we see it);
//! - a body larger than the app's `max_body_kb` → 413;
//! - a handler that throws → 500 with a request id; the error's report
//!   (`JsError::report`: where it was first thrown, the stacks including
//!   the frames of the services it came through, properties, causes) goes
//!   to the log, and also to the body in `--dev` mode only.
//!
//! The **access log** (`GatewayOptions::access_log`) writes one `tracing`
//! event per request on the app's listener, target [`ACCESS_LOG_TARGET`]:
//! method, path (without the query), status, duration, request id and
//! service. When it is off, nothing of it is computed.

pub mod admin;
mod conn;
mod convert;
mod lifecycle;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;

use crate::engine::FETCH_METHOD;
use crate::io::TcpListener;
use crate::runtime::Runtime;
use crate::scheduler::{OVERLOADED, Status};
use crate::trace::{TraceConfig, Tracer};

use conn::{Exec, Io};
use lifecycle::{ConnState, Connections, Timeouts};

/// After an accept fails (out of file descriptors, say), wait this long
/// before trying again: the listener stays readable, so retrying at once
/// would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// At most one "accept failed" or "connection limit" line per this
/// interval.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// At shutdown, the traces queued for export get this long to be sent.
const TRACE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// At the connection limit, look again this often for a free slot.
const CAP_RECHECK: Duration = Duration::from_millis(10);

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Put error stacks in 500 bodies.
    pub dev_mode: bool,
    /// Requests handled at once; more get 503.
    pub max_in_flight: usize,
    /// A request head must be complete this long after its first byte.
    pub header_timeout: Duration,
    /// A keep-alive connection idle this long is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; past it, no more are accepted until one
    /// closes (see [`max_connections_for`]).
    pub max_connections: usize,
    /// How long in-flight requests may run after a shutdown signal.
    pub drain_timeout: Duration,
    /// The admin listener's address (`/metrics`, `/admin/*`); `None` for
    /// no admin listener.
    pub admin: Option<SocketAddr>,
    /// If `admin`'s port is taken, listen on a free port of the same
    /// address instead (and log it). Set for the default address, so a
    /// second server on one machine still starts; `serve` records the
    /// address actually bound in the app's data folder.
    pub admin_fallback: bool,
    /// One log line per request (see the module docs).
    pub access_log: bool,
    /// Traces of requests (the manifest's `[trace]`, see [`crate::trace`]).
    pub trace: TraceConfig,
}

impl GatewayOptions {
    /// Options for `listen` with every other setting at its default.
    pub fn new(listen: SocketAddr) -> GatewayOptions {
        let http = crate::app::HttpSpec::default();
        GatewayOptions {
            listen,
            max_body_bytes: http.max_body_bytes,
            dev_mode: false,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            header_timeout: http.header_timeout,
            idle_timeout: http.idle_timeout,
            max_connections: max_connections_for(None),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            admin: Some(admin::DEFAULT_ADMIN),
            admin_fallback: true,
            access_log: false,
            trace: TraceConfig::default(),
        }
    }

    /// Options for `listen` from the app's `[http]` and `[admin]`
    /// settings: the drain timeout defaults to the longest `timeout_ms` of
    /// its services, the admin listener to [`admin::DEFAULT_ADMIN`], the
    /// access log to off.
    pub fn for_app(listen: SocketAddr, app: &crate::app::App) -> GatewayOptions {
        use crate::app::AdminListen;
        let http = app.http;
        let longest = app
            .services
            .iter()
            .map(|s| Duration::from_millis(s.limits.timeout_ms))
            .max()
            .unwrap_or(DEFAULT_DRAIN_TIMEOUT);
        GatewayOptions {
            max_body_bytes: http.max_body_bytes,
            header_timeout: http.header_timeout,
            idle_timeout: http.idle_timeout,
            max_connections: max_connections_for(http.max_connections),
            drain_timeout: http.drain_timeout.unwrap_or(longest),
            access_log: http.access_log.unwrap_or(false),
            trace: app.trace.clone().with_env(),
            ..match app.admin.listen {
                None => GatewayOptions::new(listen),
                Some(AdminListen::Off) => GatewayOptions {
                    admin: None,
                    ..GatewayOptions::new(listen)
                },
                Some(AdminListen::At(addr)) => GatewayOptions {
                    admin: Some(addr),
                    admin_fallback: false,
                    ..GatewayOptions::new(listen)
                },
            }
        }
    }
}

/// Drain timeout when nothing says otherwise (the default `timeout_ms`).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// File descriptors kept free for everything but connections (the store's
/// files, the reactor, logs), at least.
const RESERVED_FDS: u64 = 64;

/// The connection limit: `configured`, else what the process's soft limit
/// on open files leaves after a reserve (a tenth of it, at least
/// [`RESERVED_FDS`]), so the gateway stops accepting before `accept` fails
/// for want of descriptors.
pub fn max_connections_for(configured: Option<usize>) -> usize {
    if let Some(n) = configured {
        return n;
    }
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    let reserve = (soft / 10).max(RESERVED_FDS);
    usize::try_from(soft.saturating_sub(reserve).max(1)).unwrap_or(usize::MAX)
}

/// Default for [`GatewayOptions::max_in_flight`]: far above what the
/// workers can run at once, low enough to bound memory and latency.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4096;

/// Seconds a client is told to wait after a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// The `tracing` target of access log lines (filter them with
/// `--log info,pyrosome::access=off`).
pub const ACCESS_LOG_TARGET: &str = "pyrosome::access";

/// A bound HTTP server for one running app.
///
/// Its connections are tasks on the app's scheduler: a worker that sees a
/// request arrive (see [`crate::io`]) parses it, runs the `fetch` handler
/// of its service, usually on the same worker right after, and writes the
/// response, with no hand-off between threads; an idle worker steals
/// connections or instances from a busy one.
pub struct Gateway {
    runtime: Arc<Runtime>,
    listener: TcpListener,
    admin: Option<TcpListener>,
    options: GatewayOptions,
    tracer: Tracer,
}

struct Context {
    runtime: Arc<Runtime>,
    options: GatewayOptions,
    tracer: Tracer,
    next_request: AtomicU64,
    in_flight: AtomicUsize,
}

/// Counts a request in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

type Body = Full<Bytes>;

/// The body of `GET /admin/status`: `{"app": "name", "engine": "quickjs",
/// "store": {...} or null, ...}` followed by the fields of the scheduler's
/// [`Status`] (`pyrosome top` reads it as a `top::Snapshot`).
#[derive(serde::Serialize)]
struct AdminStatus<'a> {
    app: &'a str,
    engine: &'static str,
    store: Option<crate::store::StoreStats>,
    #[serde(flatten)]
    scheduler: &'a Status,
}

/// Tells the accepting task to stop, and wakes it.
#[derive(Default)]
struct Stop {
    stopped: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Stop {
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }

    /// Whether stopped; if not, the task of `cx` is woken when it is.
    fn poll_stopped(&self, cx: &mut std::task::Context<'_>) -> bool {
        if self.stopped.load(Ordering::Acquire) {
            return true;
        }
        *self.waker.lock() = Some(cx.waker().clone());
        self.stopped.load(Ordering::Acquire)
    }
}

impl Gateway {
    /// Binds the listening sockets: the app's, and the admin listener's
    /// (see [`GatewayOptions::admin`]).
    pub async fn bind(runtime: Runtime, options: GatewayOptions) -> std::io::Result<Gateway> {
        let reactor = runtime.scheduler().reactor();
        let listener = TcpListener::bind(reactor, options.listen)?;
        let admin = match options.admin {
            None => None,
            Some(addr) => match TcpListener::bind(reactor, addr) {
                Ok(l) => Some(l),
                Err(e) if options.admin_fallback && e.kind() == std::io::ErrorKind::AddrInUse => {
                    let any = SocketAddr::new(addr.ip(), 0);
                    let l = TcpListener::bind(reactor, any).map_err(|e| {
                        std::io::Error::new(e.kind(), format!("admin listener on {any}: {e}"))
                    })?;
                    tracing::warn!(
                        "the admin address {addr} is in use; the admin listener takes {} instead \
                         (set it with --admin or [admin] listen)",
                        l.local_addr()
                            .map_or_else(|_| "another port".to_owned(), |a| a.to_string())
                    );
                    Some(l)
                }
                Err(e) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("admin listener on {addr}: {e}"),
                    ));
                }
            },
        };
        let tracer = Tracer::new(&runtime.app().name, options.trace.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        if let Some(url) = &options.trace.otlp_endpoint {
            tracing::info!(
                "exporting traces over OTLP/HTTP to {url} (sample rate {})",
                options.trace.sample_rate
            );
        }
        Ok(Gateway {
            runtime: Arc::new(runtime),
            listener,
            admin,
            options,
            tracer,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.options.listen)
    }

    /// The admin listener's address, if it has one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        let admin = self.admin.as_ref()?;
        admin.local_addr().ok().or(self.options.admin)
    }

    /// The tracer of the app's requests.
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// The running app.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Serves until `signal` resolves, then stops accepting, lets in-flight
    /// requests finish (up to a timeout) and stops the app's workers.
    ///
    /// The connections are served by the app's workers; the future only
    /// waits, so any executor (or a plain `block_on`) may drive it.
    pub async fn serve_until(self, signal: impl Future<Output = ()>) {
        let seed = {
            let mut b = [0u8; 8];
            let _ = getrandom::fill(&mut b);
            u64::from_le_bytes(b) & 0xFFFF_FFFF_0000_0000
        };
        let cx = Arc::new(Context {
            runtime: self.runtime.clone(),
            options: self.options.clone(),
            tracer: self.tracer.clone(),
            next_request: AtomicU64::new(seed),
            in_flight: AtomicUsize::new(0),
        });
        let connections = Connections::new();
        // One `Stop` per acceptor: each holds the waker of one task.
        let mut stops = Vec::new();
        let mut stopped = Vec::new();
        let listeners = std::iter::once((self.listener, Listener::App))
            .chain(self.admin.map(|l| (l, Listener::Admin)));
        for (listener, kind) in listeners {
            let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
            let stop = Arc::new(Stop::default());
            stops.push(stop.clone());
            let acceptor = accept(listener, kind, cx.clone(), connections.clone(), stop);
            self.runtime.scheduler().spawn(async move {
                acceptor.await;
                let _ = stopped_tx.send(());
            });
            stopped.push(stopped_rx);
        }
        signal.await;
        for stop in &stops {
            stop.stop();
        }
        // Once the acceptors have stopped (and dropped the listeners), no
        // connection is added.
        for stopped_rx in stopped {
            let _ = stopped_rx.await;
        }
        let open = connections.live();
        connections.drain();
        let deadline = self.options.drain_timeout;
        tracing::info!(
            "shutting down: {open} connections open, {} requests in flight; waiting up to {deadline:?} for them",
            cx.in_flight.load(Ordering::Relaxed)
        );
        if tokio::time::timeout(deadline, connections.closed())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} requests did not finish within the drain timeout of {deadline:?}; their connections are closed",
                cx.in_flight.load(Ordering::Relaxed)
            );
        }
        let runtime = self.runtime.clone();
        let tracer = self.tracer.clone();
        let _ = tokio::task::spawn_blocking(move || {
            runtime.shutdown();
            tracer.shutdown(TRACE_FLUSH_TIMEOUT);
        })
        .await;
    }
}

/// Which listener a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listener {
    /// The app's: `/healthz` and the routes.
    App,
    /// The admin listener: see `admin.rs`.
    Admin,
}

/// What the accepting loop found.
enum Accepted {
    /// A new connection (or why accepting failed).
    Socket(std::io::Result<(crate::io::TcpStream, SocketAddr)>),
    /// `max_connections` are open.
    Full,
    /// The gateway is shutting down.
    Stop,
}

/// Accepts connections until `stop`, each served by its own task.
async fn accept(
    listener: TcpListener,
    kind: Listener,
    cx: Arc<Context>,
    connections: Arc<Connections>,
    stop: Arc<Stop>,
) {
    let runtime = cx.runtime.clone();
    let reactor = runtime.scheduler().reactor().clone();
    let builder = auto::Builder::new(Exec(runtime.clone()));
    let max = cx.options.max_connections;
    let mut last_log: Option<Instant> = None;
    let mut may_log = move || {
        let now = Instant::now();
        let ok = last_log.is_none_or(|t| now.duration_since(t) >= ACCEPT_LOG_INTERVAL);
        if ok {
            last_log = Some(now);
        }
        ok
    };
    loop {
        let accepted = std::future::poll_fn(|task_cx| {
            if stop.poll_stopped(task_cx) {
                return Poll::Ready(Accepted::Stop);
            }
            if connections.live() >= max {
                return Poll::Ready(Accepted::Full);
            }
            listener
                .poll_accept(&reactor, task_cx)
                .map(Accepted::Socket)
        })
        .await;
        let stream = match accepted {
            Accepted::Stop => return,
            Accepted::Socket(Ok((stream, _peer))) => stream,
            Accepted::Full => {
                if may_log() {
                    tracing::warn!(
                        "connection limit reached ({max} open): new connections wait in the listen \
                         backlog until one closes (raise [http] max_connections or the open-file limit)"
                    );
                }
                runtime.scheduler().sleep(CAP_RECHECK).await;
                continue;
            }
            Accepted::Socket(Err(e)) => {
                if may_log() {
                    tracing::warn!("accept failed: {e}");
                }
                runtime.scheduler().sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let id = connections.opened();
        let _ = stream.set_nodelay(true);
        let state = Arc::new(ConnState::new());
        let conn_cx = cx.clone();
        let conn_state = state.clone();
        let service = service_fn(move |req| {
            let cx = conn_cx.clone();
            let state = conn_state.clone();
            async move {
                let _request = lifecycle::Request::start(&state);
                let response = match kind {
                    Listener::App => handle(&cx, req).await,
                    Listener::Admin => admin::handle(&cx, req).await,
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let conn = builder
            .serve_connection_with_upgrades(Io::new(stream, state.clone()), service)
            .into_owned();
        let connections = connections.clone();
        let timeouts = Timeouts {
            head: cx.options.header_timeout,
            idle: cx.options.idle_timeout,
        };
        let task_runtime = runtime.clone();
        runtime.scheduler().spawn(async move {
            let served = lifecycle::guard(
                id,
                conn,
                |c| c.graceful_shutdown(),
                state,
                connections,
                task_runtime.scheduler(),
                timeouts,
            )
            .await;
            if let Some(Err(e)) = served {
                tracing::debug!("connection ended with an error: {e}");
            }
        });
    }
}

fn unavailable(why: impl Into<String>) -> Response<Body> {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, why);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    response
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Answers a request on the app's listener, and logs it if the access log
/// is on (when it is off, nothing here is computed for it).
async fn handle(cx: &Context, req: Request<Incoming>) -> Response<Body> {
    if !cx.options.access_log {
        return serve(cx, req).await.0;
    }
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (response, served) = serve(cx, req).await;
    let (service, request_id) = served.unwrap_or_default();
    tracing::info!(
        target: ACCESS_LOG_TARGET,
        method = %method,
        path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        request_id,
        service,
        "request"
    );
    response
}

/// Answers a request on the app's listener; for a routed request, also
/// the service and the request id.
async fn serve(cx: &Context, req: Request<Incoming>) -> (Response<Body>, Option<(String, String)>) {
    let path = req.uri().path();
    if path == "/healthz" {
        return (text(StatusCode::OK, "ok\n"), None);
    }
    let Some(service) = cx.runtime.route(path) else {
        return (
            text(StatusCode::NOT_FOUND, format!("no route for {path}\n")),
            None,
        );
    };
    let request_id = format!("{:016x}", cx.next_request.fetch_add(1, Ordering::Relaxed));
    let Some(trace) = cx.tracer.start(req.headers()) else {
        let response = invoke(cx, req, &service, &request_id, None).await;
        return (response, Some((service, request_id)));
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = invoke(cx, req, &service, &request_id, Some(trace.link())).await;
    trace.finish(&service, method.as_str(), &path, response.status().as_u16());
    (response, Some((service, request_id)))
}

/// Runs a routed request through `service`'s fetch handler.
async fn invoke(
    cx: &Context,
    req: Request<Incoming>,
    service: &str,
    request_id: &str,
    trace: Option<crate::trace::Link>,
) -> Response<Body> {
    let _in_flight = InFlight(&cx.in_flight);
    if cx.in_flight.fetch_add(1, Ordering::Relaxed) >= cx.options.max_in_flight {
        return unavailable(format!(
            "too many requests in flight (more than {}); try again later\n",
            cx.options.max_in_flight
        ));
    }

    let limit = cx.options.max_body_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {limit} bytes\n"),
        );
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes\n"),
            );
        }
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}\n"),
            );
        }
    };

    let value = match convert::request_value(&parts, body) {
        Ok(v) => v,
        Err(why) => return text(StatusCode::BAD_REQUEST, format!("{why}\n")),
    };
    let result = cx
        .runtime
        .call_traced(service, FETCH_METHOD, value, trace)
        .await;
    match result.map(|v| convert::response_from_value(&v)) {
        Ok(Ok(mut response)) => {
            response.headers_mut().insert(
                "x-request-id",
                HeaderValue::from_str(request_id).unwrap_or(HeaderValue::from_static("-")),
            );
            response
        }
        Ok(Err(problem)) => {
            tracing::error!(
                service,
                request_id,
                "invalid response from the fetch handler: {problem}"
            );
            let mut body = format!("Internal Server Error (request id {request_id})\n");
            if cx.options.dev_mode {
                body.push_str(&format!(
                    "\ninvalid response from the fetch handler: {problem}\n"
                ));
            }
            with_id(text(StatusCode::INTERNAL_SERVER_ERROR, body), request_id)
        }
        Err(error) if error.name == OVERLOADED => {
            tracing::warn!(service, request_id, "{error}");
            with_id(unavailable(format!("{}\n", error.message)), request_id)
        }
        Err(error) => {
            // The whole chain: where it was first thrown, the stacks (the
            // callees' frames too), its properties and causes.
            let report = error.report();
            tracing::error!(service, request_id, "fetch handler threw {report}");
            let mut body = format!("Internal Server Error (request id {request_id})\n");
            if cx.options.dev_mode {
                body.push_str(&format!("\n{report}\n"));
            }
            with_id(text(StatusCode::INTERNAL_SERVER_ERROR, body), request_id)
        }
    }
}

fn with_id(mut response: Response<Body>, id: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}
