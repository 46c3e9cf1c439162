//! The OTLP/HTTP exporter: kept traces, encoded as OpenTelemetry protobuf
//! (`opentelemetry-proto`), posted to the configured endpoint from a thread
//! of its own.
//!
//! Workers only `try_send` onto a bounded queue ([`QUEUE`] traces): a full
//! queue drops the trace (counted), it never blocks. The thread batches
//! what arrives for up to [`BATCH_DELAY`] or [`MAX_BATCH_SPANS`] spans
//! (the OpenTelemetry batch processor's shape), and posts with hyper on a
//! single-threaded tokio runtime of its own, plain HTTP or HTTPS (rustls,
//! the compiled-in Mozilla roots, as `fetch()`).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use prost::Message as _;

use super::{Counters, Finished, FinishedSpan, Kind, TraceError};

/// Traces waiting for the exporter thread, at most.
const QUEUE: usize = 2048;

/// A batch is sent this long after its first trace arrived.
const BATCH_DELAY: Duration = Duration::from_millis(1000);

/// A batch is sent as soon as it has this many spans.
const MAX_BATCH_SPANS: usize = 512;

/// One export request may take this long.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

enum Msg {
    Trace(Arc<Finished>),
    /// Send what is batched, then stop and say so.
    Stop(mpsc::Sender<()>),
}

/// The handle workers push kept traces onto.
pub(super) struct Exporter {
    tx: SyncSender<Msg>,
    counters: Arc<Counters>,
    stopped: OnceLock<()>,
}

impl Exporter {
    /// Starts the exporter thread posting to `url`.
    pub(super) fn start(
        url: &str,
        headers: &[(String, String)],
        app: &str,
        counters: Arc<Counters>,
    ) -> Result<Exporter, TraceError> {
        let endpoint = |why: String| TraceError::Endpoint {
            url: url.to_owned(),
            why,
        };
        let uri: hyper::Uri = url.parse().map_err(|e| endpoint(format!("{e}")))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(endpoint("the scheme must be http or https".to_owned())),
        }
        if uri.host().is_none() {
            return Err(endpoint("it has no host".to_owned()));
        }
        let mut extra = Vec::new();
        for (name, value) in headers {
            let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| endpoint(format!("header {name:?}: {e}")))?;
            let value = hyper::header::HeaderValue::from_str(value)
                .map_err(|e| endpoint(format!("header {name}: {e}")))?;
            extra.push((name, value));
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let post = Post {
            uri,
            headers: extra,
            app: app.to_owned(),
            counters: counters.clone(),
        };
        std::thread::Builder::new()
            .name("pyrosome-otlp".into())
            .spawn(move || run(rx, post))
            .map_err(TraceError::Thread)?;
        Ok(Exporter {
            tx,
            counters,
            stopped: OnceLock::new(),
        })
    }

    /// Queues a kept trace; drops it (counted) if the queue is full.
    pub(super) fn send(&self, trace: Arc<Finished>) {
        let spans = trace.spans.len() as u64;
        match self.tx.try_send(Msg::Trace(trace)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(spans, Ordering::Relaxed);
            }
        }
    }

    /// Sends what is queued and stops the thread, waiting up to `timeout`.
    pub(super) fn shutdown(&self, timeout: Duration) {
        if self.stopped.set(()).is_err() {
            return;
        }
        let (done_tx, done_rx) = mpsc::channel();
        let deadline = Instant::now() + timeout;
        let mut msg = Msg::Stop(done_tx);
        // The queue may be full: retry until the deadline.
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return;
                    }
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        let _ = done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

/// What the thread needs to post a batch.
struct Post {
    uri: hyper::Uri,
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    app: String,
    counters: Arc<Counters>,
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn run(rx: Receiver<Msg>, post: Post) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(
                "the trace exporter cannot start its runtime: {e}; traces are not exported"
            );
            return;
        }
    };
    let connector = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
    {
        Ok(b) => b.https_or_http().enable_http1().build(),
        Err(e) => {
            tracing::error!("the trace exporter cannot set up TLS: {e}; traces are not exported");
            return;
        }
    };
    let client: HttpsClient =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let mut batch: Vec<Arc<Finished>> = Vec::new();
    let mut spans = 0usize;
    let mut due: Option<Instant> = None;
    loop {
        let wait = due.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        let flush = match rx.recv_timeout(wait) {
            Ok(Msg::Trace(trace)) => {
                spans += trace.spans.len();
                batch.push(trace);
                due.get_or_insert_with(|| Instant::now() + BATCH_DELAY);
                spans >= MAX_BATCH_SPANS
            }
            Ok(Msg::Stop(done)) => {
                send(&runtime, &client, &post, std::mem::take(&mut batch));
                let _ = done.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => {
                send(&runtime, &client, &post, std::mem::take(&mut batch));
                return;
            }
        };
        if flush {
            send(&runtime, &client, &post, std::mem::take(&mut batch));
            spans = 0;
            due = None;
        }
    }
}

/// Posts one batch; failures are counted and logged (at most one line per
/// failing batch, at `warn`).
fn send(
    runtime: &tokio::runtime::Runtime,
    client: &HttpsClient,
    post: &Post,
    batch: Vec<Arc<Finished>>,
) {
    if batch.is_empty() {
        return;
    }
    let spans: u64 = batch.iter().map(|t| t.spans.len() as u64).sum();
    let body = encode(&post.app, &batch).encode_to_vec();
    let mut request = hyper::Request::post(post.uri.clone())
        .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
        .header(
            hyper::header::USER_AGENT,
            concat!("pyrosome/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &post.headers {
        request = request.header(name, value);
    }
    let request = match request.body(Full::new(Bytes::from(body))) {
        Ok(r) => r,
        Err(e) => {
            post.counters.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("cannot build the trace export request: {e}");
            return;
        }
    };
    let outcome = runtime.block_on(async {
        let response = tokio::time::timeout(EXPORT_TIMEOUT, client.request(request)).await;
        match response {
            Err(_) => Err(format!("no answer within {EXPORT_TIMEOUT:?}")),
            Ok(Err(e)) => Err(format!("{e}")),
            Ok(Ok(response)) => {
                let status = response.status();
                // Read (and drop) the body so the connection is reused.
                let _ = http_body_util::BodyExt::collect(response.into_body()).await;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("the collector answered {status}"))
                }
            }
        }
    });
    match outcome {
        Ok(()) => {
            post.counters.exported.fetch_add(spans, Ordering::Relaxed);
        }
        Err(why) => {
            post.counters.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "exporting {spans} spans to {} failed: {why} (they are dropped)",
                post.uri
            );
        }
    }
}

/// The OTLP request for a batch of traces: one resource per Pyrosome
/// service (`service.name`), the app as `service.namespace`.
pub(crate) fn encode(app: &str, batch: &[Arc<Finished>]) -> ExportTraceServiceRequest {
    let mut by_service: Vec<(String, Vec<Span>)> = Vec::new();
    for trace in batch {
        for s in &trace.spans {
            let service = s.record.service.as_ref();
            let span = encode_span(trace, s);
            match by_service.iter_mut().find(|(name, _)| name == service) {
                Some((_, spans)) => spans.push(span),
                None => by_service.push((service.to_owned(), vec![span])),
            }
        }
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", string(service)),
                        kv("service.namespace", string(app.to_owned())),
                        kv("telemetry.sdk.name", string("pyrosome".to_owned())),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "pyrosome".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn encode_span(trace: &Finished, s: &FinishedSpan) -> Span {
    let r = &s.record;
    let parent = if r.parent != 0 {
        r.parent
    } else {
        trace.remote_parent
    };
    let kind = match r.kind {
        Kind::Request => span::SpanKind::Server,
        Kind::Invocation | Kind::Timer => span::SpanKind::Internal,
        Kind::Store | Kind::Fetch => span::SpanKind::Client,
    };
    let mut attributes = vec![
        kv("pyrosome.service", string(r.service.to_string())),
        kv("pyrosome.method", string(r.method.to_string())),
        kv("pyrosome.queued_ns", int(r.queued.as_nanos() as i64)),
        kv("pyrosome.running_ns", int(r.running.as_nanos() as i64)),
        kv("pyrosome.cpu_ns", int(r.cpu.as_nanos() as i64)),
    ];
    if let Some(i) = r.instance {
        attributes.push(kv("pyrosome.instance", int(i as i64)));
    }
    if let Some(w) = r.worker {
        attributes.push(kv("pyrosome.worker", int(i64::from(w))));
    }
    for (key, value) in s.attributes() {
        let value = match value {
            serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => {
                int(n.as_i64().unwrap_or(i64::MAX))
            }
            serde_json::Value::String(text) => string(text),
            other => string(other.to_string()),
        };
        attributes.push(kv(key, value));
    }
    Span {
        trace_id: trace.id.to_be_bytes().to_vec(),
        span_id: r.id.to_be_bytes().to_vec(),
        trace_state: trace.state.as_deref().unwrap_or_default().to_owned(),
        parent_span_id: if parent == 0 {
            Vec::new()
        } else {
            parent.to_be_bytes().to_vec()
        },
        flags: u32::from(trace.sampled),
        name: s.name(),
        kind: kind as i32,
        start_time_unix_nano: trace.wall_start_ns + s.start_ns,
        end_time_unix_nano: trace.wall_start_ns + s.end_ns,
        attributes,
        status: r.error.as_ref().map(|message| Status {
            message: message.to_string(),
            code: status::StatusCode::Error as i32,
        }),
        ..Default::default()
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn string(text: String) -> any_value::Value {
    any_value::Value::StringValue(text)
}

fn int(n: i64) -> any_value::Value {
    any_value::Value::IntValue(n)
}
