//! The harness of the DeathStarBench end-to-end tests (`tests/socialnetwork.rs`,
//! `tests/hotelreservation.rs`, `tests/mediamicroservices.rs`): an example app run by Pyrosome
//! in this process ([`Example::pyrosome`]) or by `pyrosome serve` ([`Example::serve`]), the same
//! app run by the Node.js baseline (`bench/socialnetwork/node/cluster.mjs`, with its own
//! `redis-server` and, for apps with Memcached tiers, `memcached`: [`Example::node_baseline`]),
//! and the workloads' few HTTP helpers.
//!
//! Every process started here is killed (SIGKILL) and reaped when its [`Reaped`] guard drops.
//! Without `node`, `redis-server` or a needed `memcached` the baseline's test prints a
//! `SKIPPED` line and passes; the Pyrosome tests need none of them.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use pyrosome::{App, Runtime, RuntimeOptions, Secrets};

use super::{Client, HttpResponse, TestServer, free_port, get, is_root, repo_path};

/// How long a server (redis-server, memcached, the Node baseline, `pyrosome serve`) may take to
/// accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The Node.js baseline's launcher, which runs any example app.
const NODE_CLUSTER: &str = "bench/socialnetwork/node/cluster.mjs";

/// A named check, run against a server's address (Pyrosome's or the baseline's).
pub type Check = (&'static str, fn(SocketAddr));

/// One of the DeathStarBench example apps and what its servers need.
pub struct Example {
    /// The app's folder, relative to the repository.
    pub dir: &'static str,
    /// Secret values (name, value): given to Pyrosome as [`Secrets`], to `pyrosome serve` and
    /// the baseline as environment variables.
    pub secrets: &'static [(&'static str, &'static str)],
    /// The stores the baseline keeps in memcached (`--memcached-stores`, upstream's Memcached
    /// tiers), or `None`: every store on Redis, no memcached.
    pub memcached_stores: Option<&'static str>,
    /// The script that installs the baseline's servers, named in the `SKIPPED` line.
    pub bench_script: &'static str,
}

/// A Pyrosome server (in this process) running an example on a fresh data folder.
pub struct Pyrosome {
    pub server: TestServer,
    _data: tempfile::TempDir,
}

/// The Node.js baseline running an example, with the servers it uses; all are killed on drop
/// (the baseline first).
pub struct NodeBaseline {
    pub addr: SocketAddr,
    _node: Reaped,
    _memcached: Option<Reaped>,
    _redis: Reaped,
    _dir: tempfile::TempDir,
}

/// Kills (SIGKILL) and reaps a child on drop.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Example {
    /// The example loaded and started (two workers) behind a gateway on a free port.
    pub fn pyrosome(&self) -> Pyrosome {
        let data = tempfile::tempdir().expect("temp dir");
        let app = App::load(&repo_path(self.dir))
            .unwrap_or_else(|e| panic!("the example should load: {e}"));
        let secrets = self
            .secrets
            .iter()
            .fold(Secrets::new(), |s, (name, value)| s.with(*name, *value));
        let runtime = Runtime::start(
            app,
            RuntimeOptions {
                data_dir: Some(data.path().to_owned()),
                workers: 2,
                secrets,
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("the example should start: {e}"));
        Pyrosome {
            server: TestServer::start(runtime, 1 << 20, true),
            _data: data,
        }
    }

    /// `pyrosome serve` on the example and `data` (two workers, no admin listener), once
    /// `/healthz` answers. A port picked free may be taken before the server binds it: then it
    /// exits, and another port is tried.
    pub fn serve(&self, data: &Path) -> (Reaped, SocketAddr) {
        let mut exits: Vec<ExitStatus> = Vec::new();
        for _attempt in 0..3 {
            let addr = local(free_port());
            let mut child = Reaped(
                Command::new(env!("CARGO_BIN_EXE_pyrosome"))
                    .arg("serve")
                    .arg(repo_path(self.dir))
                    .args(["--listen", &addr.to_string()])
                    .args(["--workers", "2", "--log", "warn", "--admin", "off"])
                    .arg("--data")
                    .arg(data)
                    .envs(self.secrets.iter().copied())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("spawn pyrosome serve"),
            );
            let deadline = Instant::now() + START_TIMEOUT;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.0.try_wait() {
                    exits.push(status);
                    break;
                }
                if TcpStream::connect(addr).is_ok() && get(addr, "/healthz").status == 200 {
                    // Still ours: the server that answered is the child, alive.
                    if let Ok(None) = child.0.try_wait() {
                        return (child, addr);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("pyrosome serve did not start (3 attempts; exits: {exits:?})");
    }

    /// The Node.js baseline running the example on a free port, with a `redis-server` of its
    /// own (and a `memcached` if the example has Memcached tiers). `None`, after printing a
    /// `SKIPPED` line for `test`, when one of the programs is not installed.
    pub fn node_baseline(&self, test: &str) -> Option<NodeBaseline> {
        let memcached = self.memcached_stores.is_some();
        if !on_path("node", "--version")
            || !on_path("redis-server", "--version")
            || (memcached && !on_path("memcached", "-V"))
        {
            let (needs, servers) = if memcached {
                ("`node` (20+), `redis-server` and `memcached`", "them")
            } else {
                ("`node` (20+) and `redis-server`", "redis-server")
            };
            println!(
                "SKIPPED {test}: needs {needs} on PATH ({} installs {servers} with apt)",
                self.bench_script
            );
            return None;
        }
        let cluster = repo_path(NODE_CLUSTER);
        assert!(cluster.exists(), "{} is missing", cluster.display());
        let dir = tempfile::tempdir().expect("temp dir");

        let redis_addr = local(free_port());
        let mut redis = Reaped(
            Command::new("redis-server")
                .args([
                    "--port",
                    &redis_addr.port().to_string(),
                    "--bind",
                    "127.0.0.1",
                ])
                .args(["--save", "", "--appendonly", "no", "--dir"])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server"),
        );
        wait_for_port(redis_addr, "redis-server", &mut redis.0);

        let memcached = self.memcached_stores.map(|stores| {
            let mc_addr = local(free_port());
            let mut mc = Command::new("memcached");
            mc.args(["-p", &mc_addr.port().to_string(), "-l", "127.0.0.1"])
                .args(["-U", "0", "-m", "64"]);
            // memcached refuses to run as root without a user to switch to.
            if is_root() {
                mc.args(["-u", "nobody"]);
            }
            let mut child = Reaped(
                mc.stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("spawn memcached"),
            );
            wait_for_port(mc_addr, "memcached", &mut child.0);
            (child, mc_addr, stores)
        });

        let addr = local(free_port());
        let mut node = Command::new("node");
        node.arg(&cluster)
            .arg("--app")
            .arg(repo_path(self.dir))
            .args(["--listen", &addr.to_string()])
            .args(["--redis", &redis_addr.to_string()])
            .envs(self.secrets.iter().copied());
        if let Some((_, mc_addr, stores)) = &memcached {
            node.args(["--memcached", &mc_addr.to_string()])
                .args(["--memcached-stores", stores]);
        }
        let mut node = Reaped(
            node.stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn the node baseline"),
        );
        wait_for_port(addr, "the node baseline", &mut node.0);
        Some(NodeBaseline {
            addr,
            _node: node,
            _memcached: memcached.map(|(child, _, _)| child),
            _redis: redis,
            _dir: dir,
        })
    }
}

impl NodeBaseline {
    /// Runs `checks` in order against the baseline, naming each on stdout.
    pub fn run(&self, checks: &[Check]) {
        for (name, check) in checks {
            println!("node baseline: {name}");
            check(self.addr);
        }
    }
}

/// 127.0.0.1:`port`.
fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether `program` runs (`program version_flag` succeeds).
fn on_path(program: &str, version_flag: &str) -> bool {
    Command::new(program)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits until `addr` accepts connections; panics if `child` (which should listen there) exits
/// first or takes longer than [`START_TIMEOUT`].
pub fn wait_for_port(addr: SocketAddr, what: &str, child: &mut Child) {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{what} did not listen on {addr} within {} s",
        START_TIMEOUT.as_secs()
    );
}

// ---- the workloads' HTTP vocabulary -----------------------------------------

/// POSTs `fields` as the workloads do: a form body `k=v&...`, values sent as given (not
/// URL-encoded).
pub fn post(addr: SocketAddr, path: &str, fields: &[(&str, &str)]) -> HttpResponse {
    post_with(addr, path, fields, &[])
}

/// [`post`] with more request headers.
pub fn post_with(
    addr: SocketAddr,
    path: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> HttpResponse {
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    h.extend_from_slice(headers);
    Client::connect(addr).request("POST", path, &h, body.as_bytes())
}

/// Asserts a response's status and its whole body.
#[track_caller]
pub fn expect(r: &HttpResponse, status: u16, body: &str) {
    assert_eq!(
        (r.status, r.text().as_str()),
        (status, body),
        "unexpected response"
    );
}
