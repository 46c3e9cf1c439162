//! Shared helpers for the end-to-end tests: apps written to temporary
//! folders, a real gateway on an ephemeral port, and a minimal HTTP/1.1
//! client over a plain TCP socket (so tests can also send malformed bytes).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

pub mod baseline;
pub mod postgres;

// Defined in `postgres.rs`, which the library's own store tests also include on its own.
pub use postgres::{free_port, is_root};

use pyrosome::gateway::{Gateway, GatewayOptions};
use pyrosome::{App, Runtime, RuntimeOptions, Value};

/// An app in a temporary folder, deleted on drop.
pub struct TempApp {
    pub dir: tempfile::TempDir,
}

impl TempApp {
    /// Writes `files` (path, contents) into a new folder.
    pub fn new(files: &[(&str, &str)]) -> TempApp {
        let dir = tempfile::tempdir().expect("temp dir");
        for (path, contents) in files {
            let full = dir.path().join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(full, contents).expect("write file");
        }
        TempApp { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn load(&self) -> App {
        App::load(self.path()).unwrap_or_else(|e| panic!("app should load: {e}"))
    }

    /// Loads and starts the app with `workers` workers.
    pub fn start(&self, workers: usize) -> Runtime {
        Runtime::start(
            self.load(),
            RuntimeOptions {
                workers,
                ..RuntimeOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("app should start: {e}"))
    }
}

/// The repository's folder of example and test apps.
pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Parses JSON into a value (test convenience).
pub fn json(text: &str) -> Value {
    Value::from_json(&serde_json::from_str(text).expect("valid JSON in test"))
}

/// A gateway serving a runtime on 127.0.0.1:0 in a background thread,
/// with its admin listener on another port of 127.0.0.1.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin listener (`/metrics`, `/admin/*`).
    pub admin: SocketAddr,
    /// The running app (to reload it, say).
    pub runtime: Arc<Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(runtime: Runtime, max_body_bytes: usize, dev_mode: bool) -> TestServer {
        let mut options =
            GatewayOptions::for_app("127.0.0.1:0".parse().expect("addr"), &runtime.app());
        options.max_body_bytes = max_body_bytes;
        options.dev_mode = dev_mode;
        TestServer::start_with(runtime, options)
    }

    /// Serves `runtime` with `options` (its `listen` and `admin` are
    /// replaced by 127.0.0.1:0).
    pub fn start_with(runtime: Runtime, mut options: GatewayOptions) -> TestServer {
        options.listen = "127.0.0.1:0".parse().expect("addr");
        options.admin = Some("127.0.0.1:0".parse().expect("addr"));
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let gateway = Gateway::bind(runtime, options).await.expect("bind");
                let admin = gateway.admin_addr().expect("an admin listener");
                addr_tx
                    .send((gateway.local_addr(), admin, gateway.runtime().clone()))
                    .expect("send addr");
                gateway
                    .serve_until(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let (addr, admin, runtime) = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        TestServer {
            addr,
            admin,
            runtime,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Client {
            reader: BufReader::new(stream),
        }
    }

    /// The connection, for reading and writing by hand.
    pub fn into_stream(self) -> TcpStream {
        self.reader.into_inner()
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    /// Sends a request and reads the response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut req = format!("{method} {path} HTTP/1.1\r\nhost: test.local\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.send_raw(&bytes);
        self.read_response()
    }

    /// Reads one response (content-length or close-delimited bodies).
    pub fn read_response(&mut self) -> HttpResponse {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).expect("header line");
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let mut body = Vec::new();
        match len {
            Some(n) => {
                body.resize(n, 0);
                self.reader.read_exact(&mut body).expect("body");
            }
            None => {
                let _ = self.reader.read_to_end(&mut body);
            }
        }
        HttpResponse {
            status,
            headers,
            body,
        }
    }
}

/// One request on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    Client::connect(addr).request("GET", path, &[], b"")
}

/// The log of this test process: the first call installs a global
/// `tracing` subscriber (info and above, every thread: the gateway logs
/// from the scheduler's workers) that writes into a buffer; every call
/// returns what was logged so far. Tests running in parallel share it, so
/// look for lines of your own (a request id).
pub fn captured_logs() -> String {
    use std::sync::{Arc, Mutex, OnceLock};

    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let logs = LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false)
            .with_writer(move || Capture(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test process");
        buffer
    });
    String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}
