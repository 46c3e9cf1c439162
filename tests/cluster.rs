//! Several `pyrosome serve` nodes sharing stores on a real PostgreSQL server (started by the
//! test, `common/postgres.rs`), and behind a real HAProxy (`deploy/haproxy.cfg`): one write
//! seen through another node, racing conditional writes with one winner, `kill -9` losing no
//! acknowledged write and no half batch, a database that goes away and comes back, a clear
//! error for an unreachable database at start, and a rolling restart behind the load balancer
//! that fails no request.
//!
//! The servers must be installed (`.ci/run` installs `postgresql` and `haproxy`): a missing
//! binary fails the test with what to install, never skips it.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::postgres::PgServer;
use common::{TempApp, free_port};

const MANIFEST: &str = r#"
name = "cluster"

[limits]
timeout_ms = 3000

[stores.kv]
backend = "postgres"

[stores.cache]
durability = "relaxed"

[services.w]
module = "w.js"
routes = ["/"]
stores = ["kv", "cache"]
"#;

const SERVICE: &str = r#"
import { store } from "pyrosome";

export default {
  async fetch(request) {
    const kv = store("kv");
    const url = new URL(request.url);
    const q = (name) => url.searchParams.get(name);
    try {
      switch (url.pathname) {
        case "/put":
          await kv.put(q("k"), { v: q("v") });
          return new Response("ok");
        case "/get":
          return Response.json((await kv.get(q("k"))) ?? null);
        case "/claim":
          return Response.json(await kv.putIfAbsent(q("k"), q("by")));
        case "/batch": {
          const ops = [];
          for (let i = 0; i < 20; i++) {
            ops.push({ op: "put", key: `b/${q("n")}/${String(i).padStart(2, "0")}`, value: i });
          }
          return Response.json(await kv.batch(ops));
        }
        case "/count":
          return Response.json(await kv.count({ prefix: q("prefix") }));
        case "/cache": {
          const cache = store("cache");
          await cache.put("k", q("v"));
          return Response.json(await cache.get("k"));
        }
      }
      return new Response("not found", { status: 404 });
    } catch (e) {
      return new Response(String(e.message), { status: 500 });
    }
  },
};
"#;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn app() -> TempApp {
    TempApp::new(&[("pyrosome.toml", MANIFEST), ("w.js", SERVICE)])
}

/// One request on its own connection: `(status, body)`, or why it failed.
fn request(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: cluster\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn ok(addr: SocketAddr, method: &str, path: &str) -> String {
    match request(addr, method, path) {
        Ok((200, body)) => body,
        other => panic!("{method} {path} on {addr}: {other:?}"),
    }
}

/// A running `pyrosome serve`, killed when dropped.
struct Node {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Node {
    fn start(app: &Path, data: &Path, url: &str, addr: Option<SocketAddr>) -> Node {
        let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let log = data.with_extension(format!("{}.log", addr.port()));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the node log");
        let child = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
            .arg("serve")
            .arg(app)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data")
            .arg(data)
            .args(["--workers", "2", "--admin", "off"])
            .env("DATABASE_URL", url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn pyrosome serve");
        let mut node = Node { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                panic!("the node exited with {status}: {}", node.log_text());
            }
            if matches!(request(addr, "GET", "/healthz"), Ok((200, _))) {
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "the node did not start: {}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (the drain), then waits for the exit.
    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn a_write_through_one_node_is_read_through_another_and_one_racer_wins() {
    let db = PgServer::shared().database("cluster");
    let app = app();
    let data = tempfile::tempdir().expect("tmp");
    let a = Node::start(app.path(), &data.path().join("a"), &db, None);
    let b = Node::start(app.path(), &data.path().join("b"), &db, None);
    ok(a.addr, "POST", "/put?k=greeting&v=from-a");
    assert_eq!(ok(b.addr, "GET", "/get?k=greeting"), r#"{"v":"from-a"}"#);

    // Both nodes race putIfAbsent on the same keys: exactly one wins each.
    let wins = Arc::new(Mutex::new(Vec::new()));
    let racers: Vec<_> = [a.addr, b.addr, a.addr, b.addr]
        .into_iter()
        .enumerate()
        .map(|(i, addr)| {
            let wins = wins.clone();
            std::thread::spawn(move || {
                for key in 0..25 {
                    let body = ok(addr, "POST", &format!("/claim?k=lock/{key}&by={i}"));
                    if body == "true" {
                        wins.lock().expect("lock").push(key);
                    } else {
                        assert_eq!(body, "false");
                    }
                }
            })
        })
        .collect();
    for r in racers {
        r.join().expect("racer");
    }
    let mut wins = wins.lock().expect("lock").clone();
    wins.sort_unstable();
    assert_eq!(wins, (0..25).collect::<Vec<_>>(), "one winner per key");
    assert_eq!(ok(b.addr, "GET", "/count?prefix=lock/"), "25");

    // A relaxed store without a backend stays on each node's own disk.
    assert_eq!(ok(a.addr, "POST", "/cache?v=a"), r#""a""#);
    assert_eq!(ok(b.addr, "POST", "/cache?v=b"), r#""b""#);
}

#[test]
fn kill_9_loses_no_acknowledged_write_and_no_half_batch() {
    let server = PgServer::shared();
    let db = server.database("crash");
    let dbname = db.rsplit('/').next().expect("db name").to_owned();
    let app = app();
    let data = tempfile::tempdir().expect("tmp");
    for round in 0..3 {
        let mut node = Node::start(app.path(), &data.path().join("n"), &db, None);
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (acked, stop, addr) = (acked.clone(), stop.clone(), node.addr);
                std::thread::spawn(move || {
                    let mut i: u64 = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let key = format!("r{round}w{w}i{i}");
                        let path = if i.is_multiple_of(2) {
                            format!("/put?k={key}&v=x")
                        } else {
                            format!("/batch?n={key}")
                        };
                        if let Ok((200, _)) = request(addr, "POST", &path) {
                            acked.lock().expect("lock").push((i.is_multiple_of(2), key));
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        // Let writes be in flight, then kill.
        while acked.lock().expect("lock").len() < 40 {
            std::thread::sleep(Duration::from_millis(5));
        }
        node.kill();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
        // Every acknowledged write is in the database; every batch is whole or absent.
        for (single, key) in acked.lock().expect("lock").iter() {
            let sql = if *single {
                format!(
                    "SELECT count(*) FROM pyrosome_store WHERE namespace = 'kv' AND key = '{key}'::bytea"
                )
            } else {
                format!(
                    "SELECT count(*) FROM pyrosome_store WHERE namespace = 'kv' AND key >= 'b/{key}/'::bytea AND key < 'b/{key}0'::bytea"
                )
            };
            let n = server.sql(&dbname, &sql);
            assert_eq!(
                n.trim(),
                if *single { "1" } else { "20" },
                "{key} was acknowledged"
            );
        }
        let partial = server.sql(
            &dbname,
            "SELECT count(*) FROM (SELECT substring(key from 1 for length(key) - 3), count(*) AS n \
             FROM pyrosome_store WHERE namespace = 'kv' AND key >= 'b/'::bytea AND key < 'b0'::bytea \
             GROUP BY 1) AS t WHERE n <> 20",
        );
        assert_eq!(partial.trim(), "0", "a batch was half applied");
    }
}

#[test]
fn a_database_that_goes_away_gives_errors_then_the_node_recovers() {
    let server = PgServer::start();
    let db = server.database("outage");
    let app = app();
    let data = tempfile::tempdir().expect("tmp");
    let node = Node::start(app.path(), &data.path().join("n"), &db, None);
    ok(node.addr, "POST", "/put?k=before&v=1");

    server.stop(true);
    let started = Instant::now();
    let (status, body) = request(node.addr, "POST", "/put?k=during&v=1").expect("an answer");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("PostgreSQL at 127.0.0.1:") && body.contains("\"kv\""),
        "the error names the store and the database: {body}"
    );
    let (status, body) = request(node.addr, "GET", "/get?k=before").expect("an answer");
    assert_eq!(status, 500, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "errors, not hangs"
    );

    server.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok((200, _)) = request(node.addr, "POST", "/put?k=after&v=2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not recover: {}",
            node.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ok(node.addr, "GET", "/get?k=before"), r#"{"v":"1"}"#);
    assert_eq!(ok(node.addr, "GET", "/get?k=after"), r#"{"v":"2"}"#);
}

#[test]
fn an_unreachable_database_at_start_names_the_store_and_the_host() {
    let port = free_port();
    let app = app();
    let data = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("serve")
        .arg(app.path())
        .args(["--listen", "127.0.0.1:0", "--admin", "off", "--data"])
        .arg(data.path())
        .env(
            "DATABASE_URL",
            format!("postgresql://pyrosome:secret-password@127.0.0.1:{port}/app"),
        )
        .output()
        .expect("run pyrosome serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("store \"kv\"") && stderr.contains(&format!("127.0.0.1:{port}/app")),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-password"), "{stderr}");

    // No URL at all: the missing secret is named.
    let out = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("serve")
        .arg(app.path())
        .args(["--listen", "127.0.0.1:0", "--admin", "off", "--data"])
        .arg(data.path())
        .env_remove("DATABASE_URL")
        .output()
        .expect("run pyrosome serve");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("\"kv\""),
        "{stderr}"
    );
}

/// HAProxy running `deploy/haproxy.cfg`, stopped when dropped.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn haproxy_binary() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join("haproxy");
        if path.exists() {
            return path;
        }
    }
    panic!(
        "haproxy is not installed: apt-get install haproxy (.ci/run does). This test needs the \
         real load balancer and never passes without it."
    );
}

#[test]
fn a_rolling_restart_behind_haproxy_fails_no_request() {
    let haproxy = haproxy_binary();
    let db = PgServer::shared().database("rolling");
    let app = app();
    let data = tempfile::tempdir().expect("tmp");
    let mut nodes = [
        Node::start(app.path(), &data.path().join("n1"), &db, None),
        Node::start(app.path(), &data.path().join("n2"), &db, None),
    ];
    let lb = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _haproxy = Haproxy(
        Command::new(haproxy)
            .arg("-f")
            .arg(common::repo_path("deploy/haproxy.cfg"))
            .env("PYROSOME_LB_BIND", lb.to_string())
            .env("PYROSOME_NODE1", nodes[0].addr.to_string())
            .env("PYROSOME_NODE2", nodes[1].addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.path().join("haproxy.log")).expect("haproxy log"))
            .spawn()
            .expect("start haproxy"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(request(lb, "GET", "/healthz"), Ok((200, _))) {
        assert!(
            Instant::now() < deadline,
            "haproxy did not start: {}",
            std::fs::read_to_string(data.path().join("haproxy.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Both nodes in rotation (rise 2 × 500 ms).
    std::thread::sleep(Duration::from_millis(1500));

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let path = if i.is_multiple_of(2) {
                        format!("/put?k=c{c}/{i}&v={i}")
                    } else {
                        format!("/get?k=c{c}/{}", i - 1)
                    };
                    let method = if i.is_multiple_of(2) { "POST" } else { "GET" };
                    match request(lb, method, &path) {
                        Ok((200, body))
                            if i % 2 == 1 && body != format!("{{\"v\":\"{}\"}}", i - 1) =>
                        {
                            failures
                                .lock()
                                .expect("lock")
                                .push(format!("{path}: read {body}"));
                        }
                        Ok((200, _)) => {}
                        other => failures
                            .lock()
                            .expect("lock")
                            .push(format!("{path}: {other:?}")),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    for (n, node) in nodes.iter_mut().enumerate() {
        std::thread::sleep(Duration::from_millis(700));
        let before = done.load(Ordering::Relaxed);
        let (addr, dir) = (node.addr, data.path().join(format!("n{}", n + 1)));
        node.terminate();
        // Down for a moment: the other node takes everything.
        std::thread::sleep(Duration::from_millis(1500));
        *node = Node::start(app.path(), &dir, &db, Some(addr));
        // Back in rotation before the next node goes.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            done.load(Ordering::Relaxed) > before,
            "requests were served meanwhile"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let failures = failures.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during the rolling restart, e.g. {:?}",
        failures.len(),
        done.load(Ordering::Relaxed),
        &failures[..failures.len().min(5)]
    );
    assert!(done.load(Ordering::Relaxed) > 100);
}

#[test]
fn store_cli_and_backups_work_on_a_postgres_store() {
    let server = PgServer::shared();
    let (from, to) = (server.database("cli"), server.database("cli"));
    let app = app();
    let cli = |url: &str, args: &[&str], input: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
            .arg("store")
            .arg(app.path())
            .args(args)
            .env("DATABASE_URL", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pyrosome store");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "pyrosome store {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cli(&from, &["put", "kv", "a", r#"{"n": 1}"#], "");
    cli(
        &from,
        &["put", "kv", "b", r#"{"$bigint": "12345678901234567890"}"#],
        "",
    );
    let backup = cli(&from, &["export", "kv"], "");
    assert_eq!(backup.lines().count(), 2, "{backup}");
    cli(&to, &["import", "kv"], &backup);
    assert_eq!(
        cli(&to, &["get", "kv", "b"], "").trim(),
        r#"{"$bigint":"12345678901234567890"}"#
    );
    assert_eq!(cli(&to, &["export", "kv"], ""), backup);
}
