//! A PostgreSQL server of the test's own: `initdb` in a temporary folder, `postgres` on a free
//! port of 127.0.0.1 (and a Unix socket in that folder), stopped when the test process ends,
//! even if it is killed (the server is started through a shell that waits on a pipe from the
//! test process: when the pipe closes, the shell stops the server).
//!
//! The server binaries are taken from `PYROSOME_PG_BIN`, else the newest
//! `/usr/lib/postgresql/N/bin` (Debian's `postgresql-15`), else `PATH`. When they are missing
//! the test fails with a message saying what to install: these tests never pass without a real
//! server. PostgreSQL refuses to run as root; as root (CI), the server runs as the `postgres`
//! user (which the Debian package creates) through `runuser`.
//!
//! Shared by the library's store tests (`src/store/tests.rs` includes this file) and the
//! integration tests (`tests/common`).

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running PostgreSQL server, stopped when dropped.
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    user: Option<String>,
    running: Mutex<Option<(Child, ChildStdin)>>,
}

static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The folder holding `initdb` and `postgres`; panics with what to install if there is none.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PYROSOME_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v postgres"])
        .output()
        && out.status.success()
    {
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Some(dir) = path.parent() {
            return dir.to_path_buf();
        }
    }
    panic!(
        "the PostgreSQL server binaries (initdb, postgres) were not found in /usr/lib/postgresql/*/bin, \
         on PATH or in PYROSOME_PG_BIN: install PostgreSQL 15 (apt-get install postgresql-15). \
         These tests need a real server and never pass without one."
    );
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A port of 127.0.0.1 that was free a moment ago, and that no other call in this process
/// returned. (The probe is closed before the caller's server binds the port, so the kernel may
/// offer it again meanwhile: two tests running side by side once got the same port for their
/// `redis-server`s, one of which then failed to bind while the other answered both.)
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind a probe socket");
        let port = probe.local_addr().expect("probe address").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

impl PgServer {
    /// The server every test of this process shares (each test makes its own database with
    /// [`PgServer::database`]). Started at the first call.
    pub fn shared() -> &'static PgServer {
        static SHARED: OnceLock<PgServer> = OnceLock::new();
        SHARED.get_or_init(PgServer::start)
    }

    /// A new server of its own (for tests that stop and restart it).
    pub fn start() -> PgServer {
        let bin = bin_dir();
        for tool in ["initdb", "postgres", "pg_isready", "psql"] {
            assert!(
                bin.join(tool).exists(),
                "{} is missing: install PostgreSQL 15 (apt-get install postgresql-15)",
                bin.join(tool).display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("pyrosome-pg")
            .tempdir()
            .expect("a temporary folder for the database");
        let user = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &user {
            let status = Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(
                status.success(),
                "cannot give {} to the user {user} (PostgreSQL refuses to run as root; the \
                 postgresql package creates that user)",
                dir.path().display()
            );
        }
        let server = PgServer {
            port: free_port(),
            bin,
            user,
            running: Mutex::new(None),
            dir,
        };
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(server.data())
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        server.resume();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command running `tool` of the server's binaries as the server's user.
    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    /// Starts the server (again), on the same port and data, and waits until it accepts
    /// connections.
    pub fn resume(&self) {
        let mut running = self.running.lock().expect("server lock");
        assert!(running.is_none(), "the server is already running");
        let log = self.dir.path().join("server.log");
        let script = format!(
            "'{postgres}' -D '{data}' -p {port} -k '{dir}' -c listen_addresses=127.0.0.1 \
             -c max_connections=300 >>'{log}' 2>&1 & pid=$!; \
             read -r sig || sig=INT; kill -s \"${{sig:-INT}}\" $pid; wait $pid",
            postgres = self.bin.join("postgres").display(),
            data = self.data().display(),
            port = self.port,
            dir = self.dir.path().display(),
            log = log.display(),
        );
        let mut command = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--", "sh", "-c", &script]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", &script]);
                c
            }
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        let stdin = child.stdin.take().expect("piped stdin");
        *running = Some((child, stdin));
        drop(running);
        let started = Instant::now();
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "PostgreSQL did not start within {START_TIMEOUT:?}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server: `immediate` is a crash-like stop (SIGQUIT: connections cut, no
    /// checkpoint), otherwise a fast shutdown (SIGINT).
    pub fn stop(&self, immediate: bool) {
        let Some((mut child, mut stdin)) = self.running.lock().expect("server lock").take() else {
            return;
        };
        let _ = writeln!(stdin, "{}", if immediate { "QUIT" } else { "INT" });
        drop(stdin);
        let _ = child.wait();
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new, empty database; returns its connection URL.
    pub fn database(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL with psql on database `db`, panicking on failure; returns its output
    /// (unaligned, tuples only).
    pub fn sql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The server's folder (data and log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop(false);
    }
}
