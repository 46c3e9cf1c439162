//! The admin listener's endpoints, and how the command line finds and
//! uses a running server.
//!
//! The admin listener is separate from the app's port and on loopback by
//! default ([`DEFAULT_ADMIN`]); it answers:
//!
//! - `GET /healthz` → 200 `ok`;
//! - `GET /metrics` → Prometheus text;
//! - `GET /admin/status` → the engine's name and the scheduler's state as
//!   JSON;
//! - `POST /admin/call/SERVICE/METHOD` with the argument as JSON (an empty
//!   body: no argument) → 200 `{"result": ...}`, or `{"error": {"name",
//!   "message", "report"}}` with 500 (503 when overloaded, 400 for an
//!   argument that is not JSON); traced like a request on the app's
//!   listener (`crate::trace`);
//! - `GET /admin/traces` → `{"tracing": bool, "traces": [...]}`: the
//!   recent kept traces (slow, failed, sampled), newest first;
//!   `GET /admin/traces/TRACE_ID` (or a unique prefix) → one trace whole
//!   (`crate::trace::view`), 404 when it is not kept;
//! - `POST /admin/reload` → reloads the app (`Runtime::reload`): 200
//!   `{"reloaded": {"added": [...], "replaced": [...], ...}}`, or 422
//!   `{"error": "..."}` when the reload was refused (the app keeps running
//!   as it was).
//!
//! `pyrosome serve` writes a [`ServerFile`] into the app's data folder
//! naming its admin address, and removes it at exit; `pyrosome call` reads
//! it to call through the running server ([`call_remote`]) instead of
//! opening the app's stores itself, and `pyrosome top` to poll
//! `/admin/status` ([`get_remote`]) and `pyrosome trace` `/admin/traces`
//! ([`get_json`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::{AdminStatus, Body, Context, text, unavailable};
use crate::scheduler::OVERLOADED;
use crate::value::Value;

/// Where the admin listener listens unless told otherwise. Loopback: the
/// admin endpoints can call any method of any service.
pub const DEFAULT_ADMIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9090);

/// The request header with which a client names the app folder (canonical
/// path) it means to call; a server running another app refuses with 409.
pub const APP_ROOT_HEADER: &str = "x-pyrosome-app-root";

/// The name of the [`ServerFile`] in the app's data folder.
pub const SERVER_FILE: &str = "server.json";

/// Longest wait for a running server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers a request on the admin listener.
pub(super) async fn handle(cx: &Context, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (&method, path.as_str()) {
        (_, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/metrics") => {
            let status = cx.runtime.scheduler().status();
            cx.tracer.publish_metrics();
            let mut response = text(StatusCode::OK, crate::metrics::render(&status));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        (&Method::GET, "/admin/status") => {
            let status = cx.runtime.scheduler().status();
            let app = cx.runtime.app();
            let body = serde_json::to_string_pretty(&AdminStatus {
                app: &app.name,
                engine: cx.runtime.engine_name(),
                store: cx.runtime.store().map(crate::store::Store::stats),
                scheduler: &status,
            })
            .unwrap_or_default();
            json(StatusCode::OK, body + "\n")
        }
        (&Method::POST, "/admin/reload") => reload(cx).await,
        (&Method::GET, "/admin/traces") => {
            let body = serde_json::to_string_pretty(&serde_json::json!({
                "tracing": cx.tracer.is_on(),
                "traces": cx.tracer.recent(),
            }))
            .unwrap_or_default();
            json(StatusCode::OK, body + "\n")
        }
        (&Method::GET, p) if p.starts_with("/admin/traces/") => {
            let id = p.trim_start_matches("/admin/traces/");
            match cx.tracer.find(id) {
                Some(trace) => json(
                    StatusCode::OK,
                    serde_json::to_string_pretty(&trace).unwrap_or_default() + "\n",
                ),
                None => text(
                    StatusCode::NOT_FOUND,
                    format!(
                        "no kept trace {id} (GET /admin/traces lists them; traces are kept when \
                         sampled, failed or slow, and only the recent ones)\n"
                    ),
                ),
            }
        }
        (&Method::POST, p) if p.starts_with("/admin/call/") => call(cx, req).await,
        (_, "/metrics" | "/admin/status" | "/admin/reload" | "/admin/traces") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}\n"),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            format!(
                "no admin endpoint {path} (GET /metrics, GET /admin/status, \
                 GET /admin/traces, GET /admin/traces/TRACE_ID, \
                 POST /admin/call/SERVICE/METHOD, POST /admin/reload)\n"
            ),
        ),
    }
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut response = text(status, body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `POST /admin/reload`: reloads on a thread of its own (it starts
/// isolates, which must not hold up the worker serving this connection).
async fn reload(cx: &Context) -> Response<Body> {
    let runtime = cx.runtime.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("pyrosome-reload".into())
        .spawn(move || {
            let _ = tx.send(runtime.reload());
        });
    if let Err(e) = spawned {
        return unavailable(format!("cannot start the reload: {e}\n"));
    }
    match rx.await {
        Ok(Ok(summary)) => json(
            StatusCode::OK,
            serde_json::json!({ "reloaded": summary }).to_string() + "\n",
        ),
        Ok(Err(e)) => json(
            StatusCode::UNPROCESSABLE_ENTITY,
            serde_json::json!({ "error": e.to_string() }).to_string() + "\n",
        ),
        Err(_) => unavailable("the reload did not finish\n"),
    }
}

/// `POST /admin/call/SERVICE/METHOD`.
async fn call(cx: &Context, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let target = path.trim_start_matches("/admin/call/");
    let Some((service, method)) = target
        .split_once('/')
        .filter(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('/'))
    else {
        return text(
            StatusCode::NOT_FOUND,
            format!("expected /admin/call/SERVICE/METHOD, got {path}\n"),
        );
    };
    let app = cx.runtime.app();
    if let Some(root) = req.headers().get(APP_ROOT_HEADER) {
        let expected = app.root.to_string_lossy();
        if root.as_bytes() != expected.as_bytes() {
            return text(
                StatusCode::CONFLICT,
                format!(
                    "this server runs app \"{}\" from {expected}, not the app in {}\n",
                    app.name,
                    String::from_utf8_lossy(root.as_bytes())
                ),
            );
        }
    }
    let limit = cx.options.max_body_bytes;
    let headers = req.headers().clone();
    let body: Bytes = match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the argument (at most {limit} bytes): {e}\n"),
            );
        }
    };
    let arg = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Undefined
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(json) => Value::from_json(&json),
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("the argument is not valid JSON: {e}\n"),
                );
            }
        }
    };
    // Traced like a request on the app's listener (a client's
    // `traceparent` is continued; sampling and keeping as configured).
    let trace = cx.tracer.start(&headers);
    let result = cx
        .runtime
        .call_traced(service, method, arg, trace.as_ref().map(|t| t.link()))
        .await;
    let response = call_response(result);
    if let Some(trace) = trace {
        trace.finish(service, "POST", &path, response.status().as_u16());
    }
    response
}

/// The answer to `POST /admin/call/...` for the call's `result`.
fn call_response(result: Result<Value, crate::engine::JsError>) -> Response<Body> {
    match result {
        Ok(value) => json(
            StatusCode::OK,
            serde_json::json!({ "result": value.to_json() }).to_string() + "\n",
        ),
        Err(error) => {
            let status = if error.name == OVERLOADED {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            let body = serde_json::json!({
                "error": {
                    "name": error.name.to_string(),
                    "message": error.message.to_string(),
                    "report": error.report(),
                }
            });
            json(status, body.to_string() + "\n")
        }
    }
}

/// What `pyrosome serve` tells other commands about itself.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerInfo {
    /// The server's process id.
    pub pid: u32,
    /// The app folder it serves (canonical).
    pub app_root: PathBuf,
    /// The app's HTTP address.
    pub listen: SocketAddr,
    /// The admin listener's address.
    pub admin: SocketAddr,
}

/// The file `serve` keeps in the app's data folder while it runs
/// ([`SERVER_FILE`]); removed when dropped.
#[derive(Debug)]
pub struct ServerFile {
    path: PathBuf,
}

impl ServerFile {
    /// Writes `info` into `data_dir` (creating the folder).
    pub fn write(data_dir: &Path, info: &ServerInfo) -> std::io::Result<ServerFile> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(SERVER_FILE);
        let text = serde_json::to_string_pretty(info).map_err(std::io::Error::other)?;
        std::fs::write(&path, text + "\n")?;
        Ok(ServerFile { path })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The server described in `data_dir`, if a file is there. It may be
    /// stale (a server killed without cleaning up): [`call_remote`] then
    /// fails to connect.
    pub fn read(data_dir: &Path) -> Option<ServerInfo> {
        let text = std::fs::read_to_string(data_dir.join(SERVER_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

impl Drop for ServerFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Why a call through a running server failed.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Nothing answered at the address (no server, or a stale file).
    #[error("cannot connect to the admin listener at {addr}: {source}")]
    Connect {
        /// The admin address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection failed half-way.
    #[error("the call through {addr} failed: {source}")]
    Io {
        /// The admin address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server refused the request (not the app, bad argument...).
    #[error("the server at {addr} answered {status}: {message}")]
    Refused {
        /// The admin address.
        addr: SocketAddr,
        /// The HTTP status.
        status: u16,
        /// Its body.
        message: String,
    },
    /// The method threw.
    #[error("{report}")]
    Threw {
        /// The error's report (where it was thrown, stacks, causes).
        report: String,
    },
}

/// Calls `service.method(arg)` (`arg`: JSON text, `None` for none) through
/// the admin listener at `addr` of a server running the app in `app_root`,
/// and returns the result as JSON.
pub fn call_remote(
    addr: SocketAddr,
    app_root: &Path,
    service: &str,
    method: &str,
    arg: Option<&str>,
) -> Result<serde_json::Value, RemoteError> {
    let body = arg.unwrap_or("");
    let root = app_root.to_string_lossy();
    let head = format!(
        "POST /admin/call/{service}/{method} HTTP/1.1\r\nhost: {addr}\r\n\
         {APP_ROOT_HEADER}: {root}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let (status, body) = exchange(addr, &[head.as_bytes(), body.as_bytes()], None)?;
    let body = &body[..];
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    match (status, parsed) {
        (200, Some(mut json)) => Ok(json["result"].take()),
        (500 | 503, Some(json)) if json["error"]["report"].is_string() => Err(RemoteError::Threw {
            report: json["error"]["report"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }),
        _ => Err(RemoteError::Refused {
            addr,
            status,
            message: String::from_utf8_lossy(body).trim_end().to_owned(),
        }),
    }
}

/// `GET path` on the admin listener at `addr`: the body of a 200 answer
/// (for `pyrosome top`, which polls `/admin/status`). Waits at most
/// `timeout` for the answer.
pub fn get_remote(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Vec<u8>, RemoteError> {
    let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    match exchange(addr, &[head.as_bytes()], Some(timeout))? {
        (200, body) => Ok(body),
        (status, body) => Err(RemoteError::Refused {
            addr,
            status,
            message: String::from_utf8_lossy(&body).trim_end().to_owned(),
        }),
    }
}

/// `GET path` on the admin listener at `addr`, waiting at most `timeout`
/// for the answer; the JSON body of a 200 answer.
pub fn get_json(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<serde_json::Value, RemoteError> {
    let body = get_remote(addr, path, timeout)?;
    serde_json::from_slice(&body).map_err(|e| RemoteError::Refused {
        addr,
        status: 200,
        message: format!("the answer is not JSON ({e})"),
    })
}

/// Sends one request (`parts`, written in order) on a new connection to
/// `addr` and reads the whole answer (the server closes the connection):
/// its status and body.
fn exchange(
    addr: SocketAddr,
    parts: &[&[u8]],
    timeout: Option<Duration>,
) -> Result<(u16, Vec<u8>), RemoteError> {
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .map_err(|source| RemoteError::Connect { addr, source })?;
    let io = |source| RemoteError::Io { addr, source };
    stream.set_read_timeout(timeout).map_err(io)?;
    for part in parts {
        stream.write_all(part).map_err(io)?;
    }
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(io)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io(std::io::Error::other("the response has no end of head")))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io(std::io::Error::other("the response has no status")))?;
    response.drain(..split + 4);
    Ok((status, response))
}
