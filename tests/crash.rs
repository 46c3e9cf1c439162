//! The crash test: the real `pyrosome serve` binary takes durable writes over
//! HTTP from several keep-alive clients, is killed with SIGKILL mid-load,
//! and restarted on the same data folder. Every write whose 200 response was
//! fully received must be there after the restart, every round, and the
//! server must start cleanly on the store it left behind.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TempApp;

const ROUNDS: u64 = 4;
const WRITERS: usize = 4;
/// Bound on the whole test.
const TEST_BUDGET: Duration = Duration::from_secs(50);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

const MANIFEST: &str = r#"
name = "crash"

[stores.kv]

[services.w]
module = "w.js"
routes = ["/"]
stores = ["kv"]
"#;

const SERVICE: &str = r#"
import { store } from "pyrosome";

export default {
  async fetch(request) {
    const kv = store("kv");
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/write") {
      const key = url.searchParams.get("k");
      await kv.put(key, { v: key });
      return new Response("ok");
    }
    if (url.pathname === "/all") {
      return Response.json(await kv.list());
    }
    return new Response("not found", { status: 404 });
  },
};
"#;

/// A running `pyrosome serve`, killed when dropped (also on panic).
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    /// Starts the server on a free port and waits until `/healthz` answers.
    fn start(app: &Path, data: &Path, log: &Path) -> Server {
        let mut last_error = String::new();
        for _attempt in 0..3 {
            // Find a free port; another process may grab it before the server binds,
            // in which case the server exits and we try another.
            let port = {
                let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe socket");
                probe.local_addr().expect("probe address").port()
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let stderr = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("open the server log");
            let child = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
                .arg("serve")
                .arg(app)
                .arg("--listen")
                .arg(addr.to_string())
                .arg("--data")
                .arg(data)
                .arg("--workers")
                .arg("2")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("spawn pyrosome serve");
            let mut server = Server {
                child,
                addr,
                log: log.to_path_buf(),
            };
            match server.wait_ready(Duration::from_secs(20)) {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("the server did not start: {last_error}\n{}", read_log(log));
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited with {status}"));
            }
            if let Ok(r) = request(self.addr, "GET", "/healthz")
                && r.0 == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("/healthz did not answer within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_log(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("--- server log (tail) ---\n{}", tail.join("\n"))
}

/// One keep-alive HTTP/1.1 connection that reports errors instead of panicking.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            reader: BufReader::new(stream),
        })
    }

    /// Sends a bodiless request and reads the whole response: (status, body).
    fn request(&mut self, method: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let head =
            format!("{method} {path} HTTP/1.1\r\nhost: crash.test\r\ncontent-length: 0\r\n\r\n");
        self.reader.get_mut().write_all(head.as_bytes())?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(bad("connection closed before the status line"));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut len = None;
        loop {
            let mut h = String::new();
            if self.reader.read_line(&mut h)? == 0 {
                return Err(bad("connection closed in the headers"));
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':')
                && n.trim().eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse::<usize>().ok();
            }
        }
        let len = len.ok_or_else(|| bad("no content-length"))?;
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok((status, body))
    }
}

/// One request on a fresh connection.
fn request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    Conn::open(addr)?.request(method, path)
}

/// A small deterministic generator, seeded from the clock (the seed is printed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What the writers of one round saw.
#[derive(Default)]
struct Observed {
    acknowledged: Vec<String>,
    /// Responses other than `200 ok` received before the kill.
    unexpected: Vec<String>,
}

/// Writes keys `r<round>-t<thread>-<n>` until the server dies or `stop` is set.
fn writer(addr: SocketAddr, round: u64, thread: usize, stop: &AtomicBool, seen: &Mutex<Observed>) {
    let mut n = 0u64;
    let mut conn = match Conn::open(addr) {
        Ok(c) => c,
        Err(_) => return,
    };
    while !stop.load(Ordering::Relaxed) {
        let key = format!("r{round}-t{thread}-{n}");
        n += 1;
        match conn.request("POST", &format!("/write?k={key}")) {
            Ok((200, body)) if body == b"ok" => {
                seen.lock().expect("observed lock").acknowledged.push(key);
            }
            Ok((status, body)) => {
                let text = String::from_utf8_lossy(&body).into_owned();
                seen.lock()
                    .expect("observed lock")
                    .unexpected
                    .push(format!("{key}: {status} {text}"));
            }
            // The server was killed (or the connection broke): this key is in doubt.
            Err(_) => return,
        }
    }
}

/// Every key in the store, with its value checked, via the running server.
fn stored_keys(server: &Server) -> std::collections::HashSet<String> {
    let (status, body) = request(server.addr, "GET", "/all")
        .unwrap_or_else(|e| panic!("GET /all failed: {e}\n{}", read_log(&server.log)));
    assert_eq!(status, 200, "GET /all: {}", String::from_utf8_lossy(&body));
    let entries: serde_json::Value = serde_json::from_slice(&body).expect("GET /all returns JSON");
    let entries = entries.as_array().expect("GET /all returns an array");
    entries
        .iter()
        .map(|e| {
            let key = e["key"].as_str().expect("string key").to_owned();
            assert_eq!(
                e["value"],
                serde_json::json!({ "v": key }),
                "value of {key}"
            );
            key
        })
        .collect()
}

#[test]
fn acknowledged_writes_survive_sigkill_mid_load() {
    let started = Instant::now();
    let app = TempApp::new(&[("pyrosome.toml", MANIFEST), ("w.js", SERVICE)]);
    let work = tempfile::tempdir().expect("temp dir");
    let data = work.path().join("data");
    let log = work.path().join("server.log");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);
    println!("seed {seed:#x}");

    let mut acknowledged: Vec<String> = Vec::new();
    let mut server = Server::start(app.path(), &data, &log);
    for round in 0..ROUNDS {
        assert!(
            started.elapsed() < TEST_BUDGET,
            "out of time before round {round}"
        );
        // A kill moment in a different band each round, somewhere in 50–300 ms.
        let band = 250 / ROUNDS;
        let delay = Duration::from_millis(50 + round * band + rng.next() % band);

        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Observed::default()));
        let threads: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (stop, seen, addr) = (stop.clone(), seen.clone(), server.addr);
                std::thread::spawn(move || writer(addr, round, t, &stop, &seen))
            })
            .collect();
        // Let the load get going (first acknowledgement), then kill mid-flight.
        let load_start = Instant::now();
        while seen.lock().expect("observed lock").acknowledged.is_empty()
            && load_start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(delay);
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("writer thread");
        }
        let observed = std::mem::take(&mut *seen.lock().expect("observed lock"));
        assert!(
            observed.unexpected.is_empty(),
            "round {round}: unexpected responses: {:?}\n{}",
            &observed.unexpected[..observed.unexpected.len().min(5)],
            read_log(&log)
        );
        assert!(
            !observed.acknowledged.is_empty(),
            "round {round}: no write was acknowledged\n{}",
            read_log(&log)
        );
        let this_round = observed.acknowledged.len();
        acknowledged.extend(observed.acknowledged);

        // Restart on the same data folder: it must come up and hold every acknowledged key.
        server = Server::start(app.path(), &data, &log);
        let stored = stored_keys(&server);
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|k| !stored.contains(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged writes lost after SIGKILL, e.g. {:?}\n{}",
            missing.len(),
            acknowledged.len(),
            &missing[..missing.len().min(5)],
            read_log(&log)
        );
        println!(
            "round {round}: killed {delay:?} into the load, {this_round} writes acknowledged, \
             {} keys stored (so far {} unacknowledged writes in flight at a kill were kept)",
            stored.len(),
            stored.len() - acknowledged.len()
        );
    }

    // A last SIGKILL while idle, then the offline CLI opens the store and lists everything.
    server.kill();
    let out = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("store")
        .arg(app.path())
        .arg("--data")
        .arg(&data)
        .args(["list", "kv"])
        .output()
        .expect("run pyrosome store list");
    assert!(
        out.status.success(),
        "pyrosome store list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: std::collections::HashSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            v["key"].as_str().expect("string key").to_owned()
        })
        .collect();
    let missing = acknowledged.iter().filter(|k| !listed.contains(*k)).count();
    assert_eq!(missing, 0, "keys missing from `pyrosome store list`");

    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!log_text.contains("panicked"), "{}", read_log(&log));
    assert!(
        started.elapsed() < TEST_BUDGET,
        "the crash test took {:?}",
        started.elapsed()
    );
}
