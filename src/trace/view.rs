//! The JSON form of kept traces: what `GET /admin/traces` lists and
//! `GET /admin/traces/<trace_id>` returns, and what `pyrosome trace` reads.
//! Times are integers of nanoseconds, offsets from the trace's start.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Detail, Finished, FinishedSpan, Kind};

/// One trace in the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// 32 hex digits.
    pub trace_id: String,
    /// Unix time of its start, milliseconds.
    pub started_unix_ms: u64,
    /// The root span's duration.
    pub duration_ns: u64,
    /// HTTP method of the request.
    pub method: String,
    /// Its path.
    pub path: String,
    /// The service it was routed to.
    pub service: String,
    /// The response status.
    pub status: u16,
    /// How many spans.
    pub span_count: usize,
    /// Whether a span failed.
    pub error: bool,
    /// Why it was kept: `"error"`, `"slow"` or `"sampled"`.
    pub kept: String,
}

/// One trace, whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceView {
    /// The list entry.
    #[serde(flatten)]
    pub summary: TraceSummary,
    /// The client's span this trace continues (16 hex digits), if any.
    pub remote_parent_id: Option<String>,
    /// Its spans, by start time (the root first).
    pub spans: Vec<SpanView>,
}

/// One span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanView {
    /// 16 hex digits.
    pub span_id: String,
    /// The parent span's id; `None` for the root.
    pub parent_id: Option<String>,
    /// `request`, `invocation`, `store`, `timer` or `fetch`.
    pub kind: String,
    /// The display name (`front.@fetch`, `store.get users`, ...).
    pub name: String,
    /// The service it ran in (for the root: the service routed to).
    pub service: String,
    /// The method; the store operation; `setTimeout`; the HTTP method.
    pub method: String,
    /// The instance it ran in.
    pub instance: Option<u64>,
    /// The worker thread it (first) ran on.
    pub worker: Option<u32>,
    /// Start, from the trace's start.
    pub start_ns: u64,
    /// Length.
    pub duration_ns: u64,
    /// Waiting for a worker before it ran (an invocation: from placement
    /// to its first run; a timer: from when it was due).
    pub queued_ns: u64,
    /// From its first run to its end.
    pub running_ns: u64,
    /// Time its JavaScript ran (the run segments of an invocation, a
    /// timer's callback; the read of a store operation).
    pub cpu_ns: u64,
    /// `ok` or `error`.
    pub outcome: String,
    /// The error's name and message.
    pub error: Option<String>,
    /// More, by kind (`http.response.status_code`, `pyrosome.store`, ...).
    pub attributes: BTreeMap<String, serde_json::Value>,
}

impl Finished {
    pub(crate) fn summary(&self) -> TraceSummary {
        let (method, path, status, service, duration_ns) = match self.root() {
            Some(root) => match &root.record.detail {
                Detail::Request { path, status } => (
                    root.record.method.to_string(),
                    path.to_string(),
                    *status,
                    root.record.service.to_string(),
                    root.end_ns.saturating_sub(root.start_ns),
                ),
                _ => Default::default(),
            },
            None => Default::default(),
        };
        TraceSummary {
            trace_id: format!("{:032x}", self.id),
            started_unix_ms: self.wall_start_ns / 1_000_000,
            duration_ns,
            method,
            path,
            service,
            status,
            span_count: self.spans.len(),
            error: self.spans.iter().any(|s| s.record.error.is_some()),
            kept: self.why.to_owned(),
        }
    }

    pub(crate) fn view(&self) -> TraceView {
        TraceView {
            summary: self.summary(),
            remote_parent_id: (self.remote_parent != 0)
                .then(|| format!("{:016x}", self.remote_parent)),
            spans: self.spans.iter().map(|s| s.view()).collect(),
        }
    }
}

impl FinishedSpan {
    /// The span's display name (also its OTLP name).
    pub(crate) fn name(&self) -> String {
        let r = &self.record;
        match (&r.kind, &r.detail) {
            (Kind::Request, Detail::Request { path, .. }) => format!("{} {path}", r.method),
            (Kind::Store, Detail::Store { store }) => format!("store.{} {store}", r.method),
            (Kind::Fetch, Detail::Fetch { method, url }) => {
                let host = url::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("fetch {method} {host}")
            }
            (Kind::Timer, Detail::Timer { delay }) => {
                format!("setTimeout {} ms", delay.as_millis())
            }
            _ => format!("{}.{}", r.service, r.method),
        }
    }

    /// The kind-specific attributes, as (OpenTelemetry-style) key and
    /// value.
    pub(crate) fn attributes(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::Value as J;
        match &self.record.detail {
            Detail::None => Vec::new(),
            Detail::Request { path, status } => vec![
                ("http.request.method", J::from(self.record.method.as_ref())),
                ("url.path", J::from(path.as_ref())),
                ("http.response.status_code", J::from(*status)),
            ],
            Detail::Store { store } => vec![
                ("db.system.name", J::from("pyrosome")),
                ("db.namespace", J::from(store.as_ref())),
                ("db.operation.name", J::from(self.record.method.as_ref())),
            ],
            Detail::Timer { delay } => {
                vec![("pyrosome.timer.delay_ms", J::from(delay.as_millis() as u64))]
            }
            Detail::Fetch { method, url } => vec![
                ("http.request.method", J::from(method.as_ref())),
                ("url.full", J::from(url.as_ref())),
            ],
        }
    }

    fn view(&self) -> SpanView {
        let r = &self.record;
        SpanView {
            span_id: format!("{:016x}", r.id),
            parent_id: (r.parent != 0).then(|| format!("{:016x}", r.parent)),
            kind: r.kind.as_str().to_owned(),
            name: self.name(),
            service: r.service.to_string(),
            method: r.method.to_string(),
            instance: r.instance,
            worker: r.worker,
            start_ns: self.start_ns,
            duration_ns: self.end_ns.saturating_sub(self.start_ns),
            queued_ns: r.queued.as_nanos() as u64,
            running_ns: r.running.as_nanos() as u64,
            cpu_ns: r.cpu.as_nanos() as u64,
            outcome: if r.error.is_some() { "error" } else { "ok" }.to_owned(),
            error: r.error.as_deref().map(str::to_owned),
            attributes: self
                .attributes()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }
}
