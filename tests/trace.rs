//! Traces end to end: a request through three services (front → mid →
//! back, with a store write, a timer and an outbound fetch) has the right
//! span tree, attributes and timings that add up; a client's `traceparent`
//! is continued and the outbound fetch carries one; the OTLP/HTTP export is
//! received by a real receiver started here and decoded as protobuf; errors
//! are kept at sample rate 0; `pyrosome trace` prints the waterfall of a
//! running server's trace.

mod common;

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message as _;

use common::{Client, TempApp, TestServer};
use pyrosome::trace::{SpanView, TraceView};

/// How long a test waits for an export or a log line.
const WAIT: Duration = Duration::from_secs(30);

/// An HTTP server on 127.0.0.1 that is both the OTLP/HTTP receiver
/// (`POST /v1/traces`, decoded as protobuf) and the origin the app
/// fetches (`GET /origin`, reporting the `traceparent` it was sent).
struct Receiver {
    addr: SocketAddr,
    exports: mpsc::Receiver<ExportTraceServiceRequest>,
    origin: mpsc::Receiver<Option<String>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (export_tx, exports) = mpsc::channel();
        let (origin_tx, origin) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let export_tx = export_tx.clone();
                    let origin_tx = origin_tx.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                            let export_tx = export_tx.clone();
                            let origin_tx = origin_tx.clone();
                            async move {
                                Ok::<_, Infallible>(answer(req, &export_tx, &origin_tx).await)
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Receiver {
            addr,
            exports,
            origin,
        }
    }

    /// Spans received for `trace_id`, waiting until at least `count`
    /// arrived, each with its resource's `service.name`; and the ids of
    /// every trace received meanwhile.
    fn spans_of(&self, trace_id: u128, count: usize) -> (Vec<(String, OtlpSpan)>, Vec<Vec<u8>>) {
        let deadline = Instant::now() + WAIT;
        let mut found = Vec::new();
        let mut seen = Vec::new();
        while found.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            let request = self
                .exports
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("only {} spans of the trace exported", found.len()));
            for (service, span) in flatten(&request) {
                seen.push(span.trace_id.clone());
                if span.trace_id == trace_id.to_be_bytes() {
                    found.push((service, span));
                }
            }
        }
        (found, seen)
    }
}

type OtlpSpan = opentelemetry_proto::tonic::trace::v1::Span;

async fn answer(
    req: Request<hyper::body::Incoming>,
    exports: &mpsc::Sender<ExportTraceServiceRequest>,
    origin: &mpsc::Sender<Option<String>>,
) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/v1/traces" => {
            assert_eq!(
                req.headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok()),
                Some("application/x-protobuf")
            );
            let body = req.into_body().collect().await.expect("body").to_bytes();
            let decoded = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
            let _ = exports.send(decoded);
            let reply = ExportTraceServiceResponse::default().encode_to_vec();
            Response::new(Full::new(Bytes::from(reply)))
        }
        _ => {
            let traceparent = req
                .headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let _ = origin.send(traceparent);
            Response::new(Full::new(Bytes::from_static(b"from origin")))
        }
    }
}

fn flatten(request: &ExportTraceServiceRequest) -> Vec<(String, OtlpSpan)> {
    let mut out = Vec::new();
    for rs in &request.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(any_value::Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                out.push((service.clone(), span.clone()));
            }
        }
    }
    out
}

fn attr<'s>(span: &'s OtlpSpan, key: &str) -> Option<&'s any_value::Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// The app: front → mid (a store write, a timer) → back; front also
/// fetches the receiver's `/origin`.
fn app(receiver: SocketAddr, trace: &str) -> TempApp {
    let manifest = format!(
        r#"
name = "traced"
{trace}
[stores.kv]
[services.front]
module = "front.js"
routes = ["/"]
fetch = ["http://{receiver}"]
[services.mid]
module = "mid.js"
stores = ["kv"]
[services.back]
module = "back.js"
"#
    );
    let front = format!(
        r#"
import {{ services }} from "pyrosome";
export default {{
  async fetch(request) {{
    const path = new URL(request.url).pathname;
    if (path === "/fail") return new Response(String(await services.mid.fail()));
    const r = await services.mid.work(1);
    const o = await fetch("http://{receiver}/origin");
    const text = await o.text();
    return new Response(JSON.stringify({{ r, text }}));
  }},
}};
"#
    );
    TempApp::new(&[
        ("pyrosome.toml", manifest.as_str()),
        ("front.js", front.as_str()),
        (
            "mid.js",
            r#"
import { services, store } from "pyrosome";
const kv = store("kv");
export async function work(n) {
  await kv.put("k", n);
  await new Promise((resolve) => setTimeout(resolve, 5));
  return await services.back.leaf(n);
}
export async function fail() { return await services.back.boom(); }
"#,
        ),
        (
            "back.js",
            r#"
export function leaf(n) { let s = 0; for (let i = 0; i < 20000; i++) s += i; return n + 1; }
export function boom() { throw new RangeError("boom in back"); }
"#,
        ),
    ])
}

fn start(app: &TempApp) -> TestServer {
    let dir = tempfile::tempdir().expect("data dir");
    let runtime = pyrosome::Runtime::start(
        app.load(),
        pyrosome::RuntimeOptions {
            workers: 2,
            data_dir: Some(dir.keep()),
            ..pyrosome::RuntimeOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("app should start: {e}"));
    TestServer::start(runtime, 1 << 20, false)
}

fn admin_json(server: &TestServer, path: &str) -> serde_json::Value {
    let response = common::get(server.admin, path);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    serde_json::from_slice(&response.body).expect("JSON")
}

/// The kept trace `id` from `/admin/traces/ID`, once it is there (a trace
/// is kept when the last of its spans ends, just after the response).
fn kept_trace(server: &TestServer, id: &str) -> TraceView {
    let deadline = Instant::now() + WAIT;
    loop {
        let response = common::get(server.admin, &format!("/admin/traces/{id}"));
        if response.status == 200 {
            return serde_json::from_slice(&response.body).expect("a trace");
        }
        assert!(Instant::now() < deadline, "trace {id} was never kept");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn by_name<'t>(trace: &'t TraceView, name: &str) -> &'t SpanView {
    trace
        .spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {:#?}", trace.spans))
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

#[test]
fn a_request_through_three_services_is_one_trace_continued_from_the_client_and_exported() {
    let receiver = Receiver::start();
    let app = app(
        receiver.addr,
        &format!(
            "[trace]\nslow_ms = 60000\nsample_rate = 1.0\notlp_endpoint = \"http://{}\"",
            receiver.addr
        ),
    );
    let server = start(&app);
    let traceparent = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let response = Client::connect(server.addr).request(
        "GET",
        "/work",
        &[
            ("traceparent", traceparent.as_str()),
            ("tracestate", "vendor=abc"),
        ],
        b"",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.text(), r#"{"r":2,"text":"from origin"}"#);

    // The outbound fetch carried the trace on, under its own span.
    let sent = receiver
        .origin
        .recv_timeout(WAIT)
        .expect("the origin was fetched")
        .expect("with a traceparent");
    let parent = pyrosome::trace::parse_traceparent(&sent).expect("a valid traceparent");
    assert_eq!(format!("{:032x}", parent.trace_id), TRACE_ID);
    assert!(parent.sampled);

    let trace = kept_trace(&server, TRACE_ID);
    assert_eq!(trace.summary.kept, "sampled");
    assert_eq!(trace.summary.status, 200);
    assert_eq!(trace.remote_parent_id.as_deref(), Some(CLIENT_SPAN));

    // The tree.
    let root = by_name(&trace, "GET /work");
    let handler = by_name(&trace, "front.@fetch");
    let work = by_name(&trace, "mid.work");
    let write = by_name(&trace, "store.write kv");
    let timer = by_name(&trace, "setTimeout 5 ms");
    let leaf = by_name(&trace, "back.leaf");
    let fetch = by_name(&trace, &format!("fetch GET {}", receiver.addr.ip()));
    assert_eq!(trace.spans.len(), 7, "{:#?}", trace.spans);
    assert_eq!(root.parent_id, None);
    assert_eq!(root.kind, "request");
    for (child, parent) in [
        (handler, root),
        (work, handler),
        (fetch, handler),
        (write, work),
        (timer, work),
        (leaf, work),
    ] {
        assert_eq!(
            child.parent_id.as_deref(),
            Some(parent.span_id.as_str()),
            "{} under {}",
            child.name,
            parent.name
        );
    }
    assert_eq!(fetch.span_id, format!("{:016x}", parent.parent_id));

    // The attributes.
    for (span, service, method) in [
        (handler, "front", "@fetch"),
        (work, "mid", "work"),
        (leaf, "back", "leaf"),
        (write, "mid", "write"),
        (timer, "mid", "setTimeout"),
        (fetch, "front", "GET"),
    ] {
        assert_eq!(
            (span.service.as_str(), span.method.as_str()),
            (service, method)
        );
        assert!(span.instance.is_some(), "{} has an instance", span.name);
        assert_eq!(span.outcome, "ok");
        assert_eq!(span.error, None);
    }
    for span in [handler, work, leaf, timer] {
        let worker = span
            .worker
            .unwrap_or_else(|| panic!("{} has a worker", span.name));
        assert!(worker < 2, "{}: worker {worker}", span.name);
        assert!(span.cpu_ns > 0, "{} ran", span.name);
    }
    assert_eq!(root.attributes["http.response.status_code"], 200);
    assert_eq!(root.attributes["url.path"], "/work");
    assert_eq!(write.attributes["db.namespace"], "kv");
    assert_eq!(timer.attributes["pyrosome.timer.delay_ms"], 5);
    assert_eq!(
        fetch.attributes["url.full"],
        format!("http://{}/origin", receiver.addr)
    );

    // The timings add up: children within their parents; queued and
    // running within the span; CPU within running.
    let by_id: HashMap<&str, &SpanView> = trace
        .spans
        .iter()
        .map(|s| (s.span_id.as_str(), s))
        .collect();
    for span in &trace.spans {
        assert!(
            span.queued_ns + span.running_ns <= span.duration_ns,
            "{}: queued {} + running {} > duration {}",
            span.name,
            span.queued_ns,
            span.running_ns,
            span.duration_ns
        );
        assert!(
            span.cpu_ns <= span.running_ns,
            "{}: cpu > running",
            span.name
        );
        if let Some(parent) = span.parent_id.as_deref().map(|p| by_id[p]) {
            assert!(
                span.start_ns >= parent.start_ns,
                "{} starts before its parent",
                span.name
            );
            assert!(
                span.start_ns + span.duration_ns <= parent.start_ns + parent.duration_ns,
                "{} ends after its parent {}",
                span.name,
                parent.name
            );
        }
    }
    for span in [handler, work, leaf] {
        assert_eq!(
            span.queued_ns + span.running_ns,
            span.duration_ns,
            "{}",
            span.name
        );
    }
    assert!(
        timer.duration_ns >= 5_000_000,
        "the timer span covers its delay"
    );
    assert_eq!(root.start_ns, 0);
    assert_eq!(root.duration_ns, trace.summary.duration_ns);

    // The export: OTLP protobuf, one resource per service, same tree.
    let trace_id = u128::from_str_radix(TRACE_ID, 16).expect("hex");
    let (exported, _) = receiver.spans_of(trace_id, 7);
    assert_eq!(exported.len(), 7);
    let find = |name: &str| {
        exported
            .iter()
            .find(|(_, s)| s.name == name)
            .unwrap_or_else(|| panic!("{name} was not exported"))
    };
    let id_of = |view: &SpanView| u64::from_str_radix(&view.span_id, 16).expect("hex");
    for view in &trace.spans {
        let (service, span) = find(&view.name);
        assert_eq!(service, &view.service, "{}", view.name);
        assert_eq!(span.span_id, id_of(view).to_be_bytes(), "{}", view.name);
        let parent = match view.parent_id.as_deref() {
            Some(p) => u64::from_str_radix(p, 16).expect("hex"),
            None => u64::from_str_radix(CLIENT_SPAN, 16).expect("hex"),
        };
        assert_eq!(span.parent_span_id, parent.to_be_bytes(), "{}", view.name);
        assert_eq!(span.trace_state, "vendor=abc");
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
        assert_eq!(
            span.end_time_unix_nano - span.start_time_unix_nano,
            view.duration_ns,
            "{}",
            view.name
        );
        assert!(
            span.status.as_ref().is_none_or(|s| s.code == 0),
            "{}",
            view.name
        );
    }
    let (_, work_span) = find("mid.work");
    assert_eq!(
        attr(work_span, "pyrosome.method"),
        Some(&any_value::Value::StringValue("work".to_owned()))
    );
    assert_eq!(
        attr(work_span, "pyrosome.cpu_ns"),
        Some(&any_value::Value::IntValue(work.cpu_ns as i64))
    );
    let (_, root_span) = find("GET /work");
    assert_eq!(root_span.kind, 2, "the root is a server span");
    assert_eq!(
        attr(root_span, "http.response.status_code"),
        Some(&any_value::Value::IntValue(200))
    );

    // The exporter counts a batch when the receiver's answer comes back, which may be after
    // the receiver handed the spans to this test.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = common::get(server.admin, "/metrics").text();
        let counted = metrics
            .lines()
            .any(|l| l.starts_with("pyrosome_trace_spans_exported_total") && !l.ends_with(" 0"));
        if counted {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn at_sample_rate_zero_failed_requests_are_still_kept_and_exported() {
    let receiver = Receiver::start();
    let app = app(
        receiver.addr,
        &format!(
            "[trace]\nslow_ms = 60000\nsample_rate = 0\notlp_endpoint = \"http://{}\"",
            receiver.addr
        ),
    );
    let server = start(&app);
    let ok_id = "0af7651916cd43dd8448eb211c80319c";
    let failed_id = "1af7651916cd43dd8448eb211c80319d";
    let unsampled = |id: &str| format!("00-{id}-b7ad6b7169203331-00");
    let mut client = Client::connect(server.addr);
    let ok = client.request("GET", "/", &[("traceparent", &unsampled(ok_id))], b"");
    assert_eq!(ok.status, 200);
    let failed = client.request(
        "GET",
        "/fail",
        &[("traceparent", &unsampled(failed_id))],
        b"",
    );
    assert_eq!(failed.status, 500);
    // Without a traceparent, at rate 0, a fine request is not kept either.
    assert_eq!(client.request("GET", "/", &[], b"").status, 200);

    let trace = kept_trace(&server, failed_id);
    assert_eq!(trace.summary.kept, "error");
    assert!(trace.summary.error);
    let boom = by_name(&trace, "back.boom");
    assert_eq!(boom.outcome, "error");
    assert_eq!(boom.error.as_deref(), Some("RangeError: boom in back"));
    let fail = by_name(&trace, "mid.fail");
    assert_eq!(fail.outcome, "error");
    assert_eq!(boom.parent_id.as_deref(), Some(fail.span_id.as_str()));
    let root = by_name(&trace, "GET /fail");
    assert_eq!(root.error.as_deref(), Some("HTTP 500"));

    let list = admin_json(&server, "/admin/traces");
    assert_eq!(list["tracing"], true);
    let ids: Vec<&str> = list["traces"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["trace_id"].as_str())
        .collect();
    assert_eq!(ids, vec![failed_id], "only the failed request is kept");
    assert_eq!(
        common::get(server.admin, &format!("/admin/traces/{ok_id}")).status,
        404
    );

    // Exported too (and the fine one, which came first, was not).
    let failed_u128 = u128::from_str_radix(failed_id, 16).expect("hex");
    let (exported, seen) = receiver.spans_of(failed_u128, trace.spans.len());
    let ok_u128 = u128::from_str_radix(ok_id, 16).expect("hex");
    assert!(
        !seen.contains(&ok_u128.to_be_bytes().to_vec()),
        "the unsampled fine request was not exported"
    );
    let (service, boom_span) = exported
        .iter()
        .find(|(_, s)| s.name == "back.boom")
        .expect("back.boom exported");
    assert_eq!(service, "back");
    let status = boom_span.status.as_ref().expect("a status");
    assert_eq!(status.code, 2, "error");
    assert_eq!(status.message, "RangeError: boom in back");
    assert_eq!(boom_span.flags & 1, 0, "not head-sampled");
}

#[test]
fn with_tracing_off_nothing_is_kept_and_fetches_carry_no_traceparent() {
    let receiver = Receiver::start();
    let app = app(receiver.addr, "[trace]\nkeep = false");
    let server = start(&app);
    let response = Client::connect(server.addr).request(
        "GET",
        "/",
        &[("traceparent", &format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))],
        b"",
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        receiver.origin.recv_timeout(WAIT).expect("fetched"),
        None,
        "no traceparent when tracing is off"
    );
    let list = admin_json(&server, "/admin/traces");
    assert_eq!(list["tracing"], false);
    assert_eq!(list["traces"], serde_json::json!([]));
    assert_eq!(common::get(server.admin, "/admin/traces/4bf9").status, 404);
}

#[test]
fn pyrosome_trace_prints_the_list_and_the_waterfall_of_a_running_server() {
    let receiver = Receiver::start();
    let app = app(receiver.addr, "[trace]\nslow_ms = 60000\nsample_rate = 1.0");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("serve")
        .arg(app.path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--admin",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().expect("stderr");
    let mut child = Kill(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    let mut admin = false;
    let deadline = Instant::now() + WAIT;
    while addr.is_none() || !admin {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the server logs its addresses");
        if let Some(a) = line.split("serving app \"traced\" on http://").nth(1) {
            addr = Some(a.trim().parse::<SocketAddr>().expect("an address"));
        }
        admin |= line.contains("admin endpoints");
    }
    let addr = addr.expect("address");
    let response = Client::connect(addr).request(
        "GET",
        "/cli",
        &[("traceparent", &format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))],
        b"",
    );
    assert_eq!(response.status, 200);

    let trace = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
            .arg("trace")
            .arg(app.path())
            .args(args)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    // The trace is kept just after the response: poll the list for it.
    let deadline = Instant::now() + WAIT;
    let list = loop {
        let list = trace(&[]);
        if list.contains(TRACE_ID) || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(list.contains(TRACE_ID), "{list}");
    assert!(
        list.contains("GET /cli") && list.contains("sampled"),
        "{list}"
    );

    // By a prefix of the id.
    let waterfall = trace(&[&TRACE_ID[..12]]);
    let lines: Vec<&str> = waterfall.lines().collect();
    assert!(
        lines[0].starts_with(&format!("trace {TRACE_ID}  GET /cli -> front  200")),
        "{waterfall}"
    );
    assert!(
        waterfall.contains(&format!("continues the client's span {CLIENT_SPAN}")),
        "{waterfall}"
    );
    let row = |name: &str| {
        lines[3..]
            .iter()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no {name} in\n{waterfall}"))
    };
    // Indented by depth, with a bar and the four columns.
    assert!(row("GET /cli").starts_with("GET /cli"), "{waterfall}");
    assert!(
        row("front.@fetch").starts_with("└ front.@fetch"),
        "{waterfall}"
    );
    assert!(row("mid.work").starts_with("  ├ mid.work"), "{waterfall}");
    assert!(
        row("back.leaf").starts_with("  │ └ back.leaf")
            || row("back.leaf").starts_with("  │ ├ back.leaf"),
        "{waterfall}"
    );
    assert!(row("store.write kv").contains('█'), "{waterfall}");
    assert!(row("mid.work").matches(" ms").count() >= 4, "{waterfall}");
    assert!(
        lines[2].starts_with("span")
            && lines[2].contains("duration")
            && lines[2].contains("queued")
            && lines[2].contains("running")
            && lines[2].contains("cpu"),
        "{waterfall}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&trace(&[TRACE_ID, "--json"])).expect("JSON");
    assert_eq!(json["trace_id"], TRACE_ID);

    let out = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("trace")
        .arg(app.path())
        .arg("ffffffff")
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no kept trace ffffffff"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = child.0.kill();
}

#[test]
fn slow_requests_are_kept_at_sample_rate_zero() {
    let receiver = Receiver::start();
    // The request waits for a 5 ms timer: slower than 1 ms.
    let app = app(receiver.addr, "[trace]\nslow_ms = 1");
    let server = start(&app);
    let response = Client::connect(server.addr).request(
        "GET",
        "/",
        &[("traceparent", &format!("00-{TRACE_ID}-{CLIENT_SPAN}-00"))],
        b"",
    );
    assert_eq!(response.status, 200);
    let trace = kept_trace(&server, TRACE_ID);
    assert_eq!(trace.summary.kept, "slow");
    assert!(!trace.summary.error);
    assert!(trace.summary.duration_ns >= 5_000_000);
    let list = admin_json(&server, "/admin/traces");
    assert_eq!(list["traces"][0]["trace_id"], TRACE_ID);
    assert_eq!(list["traces"][0]["kept"], "slow");
}

#[test]
fn an_admin_call_is_traced_like_a_request() {
    let receiver = Receiver::start();
    let app = app(receiver.addr, "[trace]\nslow_ms = 60000\nsample_rate = 0");
    let server = start(&app);
    // A sampled client trace: continued, so kept although the sample rate
    // is 0.
    let response = Client::connect(server.admin).request(
        "POST",
        "/admin/call/mid/work",
        &[("traceparent", &format!("00-{TRACE_ID}-{CLIENT_SPAN}-01"))],
        b"41",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response.text().contains("42"), "{}", response.text());
    let trace = kept_trace(&server, TRACE_ID);
    assert_eq!(trace.remote_parent_id.as_deref(), Some(CLIENT_SPAN));
    let root = by_name(&trace, "POST /admin/call/mid/work");
    assert_eq!(root.parent_id, None);
    assert_eq!(root.outcome, "ok");
    let work = by_name(&trace, "mid.work");
    assert_eq!(work.parent_id.as_deref(), Some(root.span_id.as_str()));
    let leaf = by_name(&trace, "back.leaf");
    assert_eq!(leaf.parent_id.as_deref(), Some(work.span_id.as_str()));
    assert_eq!(
        by_name(&trace, "store.write kv").parent_id,
        Some(work.span_id.clone())
    );
    // A call that fails is a failed trace.
    let response = Client::connect(server.admin).request(
        "POST",
        "/admin/call/mid/fail",
        &[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )],
        b"",
    );
    assert_eq!(response.status, 500, "{}", response.text());
    let failed = kept_trace(&server, "0af7651916cd43dd8448eb211c80319c");
    assert!(failed.summary.error);
    let boom = by_name(&failed, "back.boom");
    assert_eq!(boom.error.as_deref(), Some("RangeError: boom in back"));
    let root = by_name(&failed, "POST /admin/call/mid/fail");
    assert_eq!(root.error.as_deref(), Some("HTTP 500"));
}
