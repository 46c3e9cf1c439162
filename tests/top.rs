//! `pyrosome top`: the live view of a running server, from real snapshots of
//! `/admin/status` drawn on ratatui's test backend, and the binary itself in
//! a real terminal (tmux) watching `pyrosome serve` under load.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TempApp, TestServer, get};
use pyrosome::top::model::derive;
use pyrosome::top::view::{Ui, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// `front` answers HTTP by calling `back.greet` and counting the request in
/// a durable store.
fn shop_app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"shop\"\n[stores.hits]\n\
             [services.front]\nmodule = \"front.js\"\nroutes = [\"/\"]\nstores = [\"hits\"]\n\
             [services.back]\nmodule = \"back.js\"\n",
        ),
        (
            "front.js",
            "import { services, store } from \"pyrosome\";\n\
             const hits = store(\"hits\");\n\
             export default { async fetch() {\n\
               const g = await services.back.greet({ name: \"top\" });\n\
               await hits.put(\"last\", g);\n\
               return new Response(g);\n\
             } };\n",
        ),
        (
            "back.js",
            "export function greet({ name }) { return `hello ${name}`; }\n",
        ),
    ])
}

/// The text of the methods-table row of `name`'s calls/s column.
fn rate_in(lines: &[String], name: &str) -> Option<f64> {
    // The row starts with the name (the partition log names methods too).
    let line = lines
        .iter()
        .find(|l| l.trim_start_matches('│').starts_with(&format!("{name} ")))?;
    let after = line.split(name).nth(1)?;
    // `front.@fetch   short   123.4   0.0 ...`: class, then calls/s.
    after
        .split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn real_snapshots_give_rates_placement_and_store_commits_on_screen() {
    let app = shop_app();
    let server = TestServer::start(app.start(2), 1 << 20, false);
    for _ in 0..5 {
        assert_eq!(get(server.addr, "/").text(), "hello top");
    }
    let first = pyrosome::top::fetch(server.admin).expect("a snapshot");
    for _ in 0..40 {
        assert_eq!(get(server.addr, "/").text(), "hello top");
    }
    let second = pyrosome::top::fetch(server.admin).expect("a snapshot");
    assert_eq!(second.app, "shop");
    let stats = derive(Some(&first), &second);
    let interval = stats.interval.expect("two snapshots make an interval");
    assert!(interval > 0.0);

    let fetch = stats
        .methods
        .iter()
        .find(|m| m.service == "front" && m.method == "@fetch")
        .expect("front.@fetch");
    // Exactly the 40 requests between the snapshots.
    assert!((fetch.rate * interval - 40.0).abs() < 1e-6, "{fetch:?}");
    assert!(
        fetch.p50_ms.is_some() && fetch.p99_ms >= fetch.p50_ms,
        "{fetch:?}"
    );
    let greet = stats
        .methods
        .iter()
        .find(|m| m.method == "greet")
        .expect("back.greet");
    assert!((greet.rate * interval - 40.0).abs() < 1e-6, "{greet:?}");
    let store = stats.store.expect("the app has a store");
    assert!(store.batches * interval >= 40.0 - 1e-6, "{store:?}");
    assert!(
        store.commits > 0.0 && store.durable_commits > 0.0,
        "{store:?}"
    );
    // Every instance that ran has the worker that ran it.
    let back = second
        .scheduler
        .services
        .iter()
        .find(|s| s.name == "back")
        .expect("back");
    assert!(!back.placement.is_empty());
    assert!(
        back.placement
            .iter()
            .all(|i| i.worker.is_some_and(|w| w < 2))
    );
    let busy: f64 = second.scheduler.worker_busy_seconds.iter().sum();
    assert!(busy > 0.0);

    let mut terminal = Terminal::new(TestBackend::new(130, 40)).expect("terminal");
    terminal
        .draw(|f| draw(f, Some(&stats), None, "test", &mut Ui::default()))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let lines: Vec<String> = buffer
        .content()
        .chunks(buffer.area.width as usize)
        .map(|row| row.iter().map(|c| c.symbol()).collect())
        .collect();
    let screen = lines.join("\n");
    if std::env::var_os("TOP_TEST_PRINT").is_some() {
        eprintln!("{screen}");
    }
    assert!(screen.contains("pyrosome top — shop"), "{screen}");
    assert!(
        screen.contains("worker 0") && screen.contains("worker 1"),
        "{screen}"
    );
    let shown = rate_in(&lines, "front.@fetch")
        .unwrap_or_else(|| panic!("no rate on front.@fetch's row:\n{screen}"));
    assert!(
        (shown - fetch.rate).abs() <= 0.05 + 1e-9,
        "{shown} vs {}\n{screen}",
        fetch.rate
    );
    assert!(
        rate_in(&lines, "back.greet").is_some_and(|r| r > 0.0),
        "{screen}"
    );
}

// ---------------------------------------------------------------------------
// Through a real terminal.

/// Kills the server when the test ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tmux server of our own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Tmux {
        let socket = format!("pyrosome-top-test-{}", std::process::id());
        let tmux = Tmux { socket };
        // tmux is a CI dependency (.ci/run installs it): missing, the test
        // fails rather than skipping.
        match Command::new("tmux").arg("-V").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("tmux -V failed: {out:?}"),
            Err(e) => panic!(
                "tmux is required for this test (apt-get install tmux; .ci/run installs it): {e}"
            ),
        }
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs")
    }

    fn capture(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "top"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Starts `pyrosome serve` of `app` with its admin listener on a free port;
/// returns it and its app address once it listens.
fn serve(app: &TempApp) -> (Serve, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("serve")
        .arg(app.path())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--workers",
            "2",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let guard = Serve(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut addr = None;
    while addr.is_none() || !app.path().join(".pyrosome/data/server.json").exists() {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the server logs its address and writes server.json");
        if let Some(a) = line.split("on http://").nth(1) {
            addr = a.trim().parse().ok();
        }
    }
    (guard, addr.expect("an address"))
}

#[test]
fn top_in_a_real_terminal_shows_the_services_and_a_nonzero_rate() {
    let tmux = Tmux::start();
    let app = shop_app();
    let (_server, addr) = serve(&app);

    // Load: a client thread requesting as fast as it is answered.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                assert_eq!(get(addr, "/").text(), "hello top");
                n += 1;
            }
            n
        })
    };

    let command = format!(
        "{} top {} --interval 0.5",
        env!("CARGO_BIN_EXE_pyrosome"),
        app.path().display()
    );
    let out = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "140",
        "-y",
        "45",
        &command,
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");
    // Keep the pane after `top` exits, to read what it printed if it fails.
    tmux.run(&["set-option", "-t", "top", "remain-on-exit", "on"]);

    let deadline = Instant::now() + Duration::from_secs(30);
    let screen = loop {
        let screen = tmux.capture();
        let lines: Vec<String> = screen.lines().map(str::to_owned).collect();
        let fetch = rate_in(&lines, "front.@fetch");
        let greet = rate_in(&lines, "back.greet");
        if screen.contains("rates over last")
            && fetch.is_some_and(|r| r > 0.0)
            && greet.is_some_and(|r| r > 0.0)
        {
            break screen;
        }
        assert!(
            Instant::now() < deadline,
            "pyrosome top never showed nonzero rates:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    if std::env::var_os("TOP_TEST_PRINT").is_some() {
        eprintln!("{screen}");
    }
    assert!(screen.contains("pyrosome top — shop"), "{screen}");
    assert!(screen.contains("Services (2)"), "{screen}");
    let service_row = |name: &str| {
        screen
            .lines()
            .find(|l| l.trim_start_matches('│').starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for service {name}:\n{screen}"))
            .to_owned()
    };
    assert!(service_row("front").contains("w"), "{screen}");
    assert!(service_row("back").contains("w"), "{screen}");
    assert!(
        screen.contains("worker 0") && screen.contains("worker 1"),
        "{screen}"
    );
    assert!(screen.contains("commits/s"), "{screen}");

    // `q` quits: the pane's process exits.
    tmux.run(&["send-keys", "-t", "top", "q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = tmux.run(&["display-message", "-p", "-t", "top", "#{pane_dead}"]);
        if String::from_utf8_lossy(&out.stdout).trim() == "1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "top did not quit on q:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    assert!(load.join().expect("the load thread") > 0);
}
