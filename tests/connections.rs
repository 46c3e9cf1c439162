//! Connections on the workers: the sockets are polled and the requests
//! parsed by the same worker threads that run JavaScript (no gateway
//! thread), so these tests check what that arrangement could break: many
//! connections spread over the workers, a connection whose requests are
//! served by different workers, a request arriving while a worker is busy
//! with a long invocation, pipelining.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Client, TempApp, TestServer, get};
use pyrosome::gateway::GatewayOptions;

fn app() -> TempApp {
    TempApp::new(&[
        (
            "pyrosome.toml",
            r#"
name = "conns"
[services.fast]
module = "fast.js"
routes = ["/fast", "/echo/"]
[services.slow]
module = "slow.js"
routes = ["/slow"]
[services.slow.limits]
cpu_ms = 20000
"#,
        ),
        (
            "fast.js",
            r#"
let served = 0;
export default {
  fetch(request) {
    served++;
    const path = new URL(request.url).pathname;
    return new Response(`${path} ${served}`);
  },
};
"#,
        ),
        (
            "slow.js",
            r#"
export default {
  fetch(request) {
    // Spin on the CPU (no await): this worker is busy for the duration.
    const ms = Number(new URL(request.url).searchParams.get("ms"));
    const end = Date.now() + ms;
    let n = 0;
    while (Date.now() < end) n++;
    return new Response(`spun ${n > 0}`);
  },
};
"#,
        ),
    ])
}

fn status(addr: SocketAddr) -> serde_json::Value {
    let body = get(addr, "/admin/status").text();
    serde_json::from_str(&body).expect("status is JSON")
}

#[test]
fn many_connections_are_served_and_every_worker_takes_part() {
    let app = app();
    let server = TestServer::start(app.start(2), 1 << 20, false);
    let addr = server.addr;
    let clients: Vec<_> = (0..64)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                for i in 0..25 {
                    let r = client.request("GET", &format!("/echo/{c}/{i}"), &[], b"");
                    assert_eq!(r.status, 200);
                    assert!(
                        r.text().starts_with(&format!("/echo/{c}/{i} ")),
                        "{}",
                        r.text()
                    );
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client thread");
    }
    let status = status(server.admin);
    let busy = status["worker_busy_seconds"]
        .as_array()
        .expect("busy seconds per worker");
    assert_eq!(busy.len(), 2);
    for (i, b) in busy.iter().enumerate() {
        assert!(
            b.as_f64().is_some_and(|s| s > 0.0),
            "worker {i} never ran anything: {status}"
        );
    }
}

#[test]
fn a_request_does_not_wait_behind_a_long_invocation_while_a_worker_is_idle() {
    let app = app();
    let server = TestServer::start(app.start(2), 1 << 20, false);
    let addr = server.addr;
    // One keep-alive connection, used before, during and after each long
    // invocation: whichever worker served it last, its next request must be
    // served by the idle one while the other spins.
    let mut client = Client::connect(addr);
    assert_eq!(client.request("GET", "/fast", &[], b"").status, 200);
    for round in 0..3 {
        let spin = std::thread::spawn(move || {
            let start = Instant::now();
            let r = get(addr, "/slow?ms=1500");
            (r, start.elapsed())
        });
        // Let the long invocation start.
        std::thread::sleep(Duration::from_millis(200));
        let start = Instant::now();
        let r = client.request("GET", "/fast", &[], b"");
        let waited = start.elapsed();
        assert_eq!(r.status, 200);
        // A fresh connection too: it must be accepted meanwhile.
        let start = Instant::now();
        assert_eq!(get(addr, "/fast").status, 200);
        let fresh = start.elapsed();
        let (slow, took) = spin.join().expect("spinning client");
        assert_eq!(slow.text(), "spun true");
        assert!(
            took >= Duration::from_millis(1500),
            "the long invocation really ran"
        );
        // Generous bounds (the machine may be busy), far below the 1.3 s
        // the request would wait behind the spinning worker.
        assert!(
            waited < Duration::from_millis(700),
            "round {round}: the keep-alive request waited {waited:?} behind a long invocation"
        );
        assert!(
            fresh < Duration::from_millis(700),
            "round {round}: the new connection waited {fresh:?}"
        );
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let app = app();
    let server = TestServer::start(app.start(2), 1 << 20, false);
    let mut client = Client::connect(server.addr);
    let mut batch = Vec::new();
    for i in 0..20 {
        batch.extend_from_slice(format!("GET /echo/{i} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes());
    }
    client.send_raw(&batch);
    for i in 0..20 {
        let r = client.read_response();
        assert_eq!(r.status, 200);
        assert!(
            r.text().starts_with(&format!("/echo/{i} ")),
            "response {i} out of order: {}",
            r.text()
        );
    }
}

#[test]
fn connections_left_open_do_not_keep_the_app_alive() {
    // A connection's task holds the runtime; the runtime holds the socket
    // the task waits on. When the server stops, open connections must be
    // dropped with it, or the app (its isolates, its store) would leak. The
    // store shows it: its file can be opened again only once closed.
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\n[stores.kv]\n[services.a]\nmodule = \"a.js\"\nroutes = [\"/\"]\nstores = [\"kv\"]\n",
        ),
        (
            "a.js",
            "import { store } from 'pyrosome';\n\
             export default { async fetch() { await store('kv').put('k', 1); return new Response('ok'); } };\n",
        ),
    ]);
    let app = std::sync::Arc::new(app);
    let mut clients = Vec::new();
    for round in 0..2 {
        // Starting again opens the same store file, which works only if
        // the previous runtime was dropped (else it blocks: a timeout).
        let (tx, rx) = std::sync::mpsc::channel();
        let a = app.clone();
        std::thread::spawn(move || {
            let _ = tx.send(TestServer::start(a.start(2), 1 << 20, false));
        });
        let server = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("round {round}: the app could not start again: leaked"));
        let mut idle = Client::connect(server.addr);
        assert_eq!(idle.request("GET", "/", &[], b"").text(), "ok");
        // Another connection mid-request: its task waits for the socket.
        let mut busy = Client::connect(server.addr);
        busy.send_raw(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n");
        clients.push((idle, busy));
        drop(server);
    }
}

/// A server for `app` with short timeouts and `max_connections`.
fn short_timeouts(app: &TempApp, max_connections: usize) -> TestServer {
    let runtime = app.start(2);
    let mut options = GatewayOptions::for_app("127.0.0.1:0".parse().expect("addr"), &runtime.app());
    options.header_timeout = Duration::from_millis(300);
    options.idle_timeout = Duration::from_millis(400);
    options.max_connections = max_connections;
    TestServer::start_with(runtime, options)
}

/// Whether the server closed `stream` within `within` (EOF or reset).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_head_sent_one_byte_at_a_time_is_cut_off() {
    let app = app();
    let server = short_timeouts(&app, 1000);
    let mut slow = TcpStream::connect(server.addr).expect("connect");
    let start = Instant::now();
    // Keep sending: the head never completes, and bytes keep arriving.
    let mut closed = false;
    for byte in b"GET /fast HTTP/1.1\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter() {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut slow, Duration::from_millis(50)) {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow head was never cut off");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "not before the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "cut off late: {took:?}");
    // Meanwhile the server answers everyone else.
    assert_eq!(get(server.addr, "/fast").status, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_but_a_long_request_is_not() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\n[services.a]\nmodule = \"a.js\"\nroutes = [\"/\"]\n",
        ),
        (
            "a.js",
            "export default { async fetch(req) {\n\
               const ms = Number(new URL(req.url).searchParams.get('ms') ?? '0');\n\
               await new Promise((r) => setTimeout(r, ms));\n\
               return new Response('slept ' + ms);\n\
             } };\n",
        ),
    ]);
    let server = short_timeouts(&app, 1000);
    let mut client = Client::connect(server.addr);
    // Longer than both timeouts: a request in flight is not idle.
    let r = client.request("GET", "/?ms=900", &[], b"");
    assert_eq!(r.text(), "slept 900");
    let mut stream = client.into_stream();
    let start = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(5)),
        "the idle connection stayed open"
    );
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn past_the_connection_limit_new_connections_wait_for_a_free_slot() {
    let app = app();
    let server = short_timeouts(&app, 3);
    let mut held: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = Client::connect(server.addr);
            assert_eq!(c.request("GET", "/fast", &[], b"").status, 200);
            c
        })
        .collect();
    // The fourth is in the listen backlog: no answer while three are open
    // (they close after the 400 ms idle timeout, so ask at once).
    let mut fourth = TcpStream::connect(server.addr).expect("connect");
    fourth
        .write_all(b"GET /fast HTTP/1.1\r\nhost: t\r\n\r\n")
        .expect("write");
    fourth
        .set_read_timeout(Some(Duration::from_millis(150)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    assert!(
        fourth.read(&mut buf).is_err(),
        "served beyond the connection limit"
    );
    // One closes: the fourth is served.
    held.pop();
    fourth
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let n = fourth.read(&mut buf).expect("answered once a slot is free");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

#[test]
fn shutdown_closes_idle_and_half_sent_connections_at_once() {
    let app = app();
    let runtime = app.start(2);
    let mut options = GatewayOptions::for_app("127.0.0.1:0".parse().expect("addr"), &runtime.app());
    options.drain_timeout = Duration::from_secs(20);
    let server = TestServer::start_with(runtime, options);
    let mut idle = Client::connect(server.addr);
    assert_eq!(idle.request("GET", "/fast", &[], b"").status, 200);
    let mut half = TcpStream::connect(server.addr).expect("connect");
    half.write_all(b"GET /fast HTTP/1.1\r\nhost: t\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    drop(server);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the drain waited {:?} for connections with nothing in flight",
        start.elapsed()
    );
    assert!(closed_within(&mut half, Duration::from_secs(1)));
}

#[test]
fn the_drain_timeout_defaults_to_the_longest_service_timeout() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\n[limits]\ntimeout_ms = 45000\n\
             [services.a]\nmodule = \"a.js\"\n[services.b]\nmodule = \"a.js\"\n\
             [services.b.limits]\ntimeout_ms = 90000\n",
        ),
        ("a.js", "export function f() { return 1; }\n"),
    ]);
    let options = GatewayOptions::for_app("127.0.0.1:0".parse().expect("addr"), &app.load());
    assert_eq!(options.drain_timeout, Duration::from_secs(90));
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\n[http]\ndrain_timeout_ms = 1500\nheader_timeout_ms = 2000\n\
             idle_timeout_ms = 3000\nmax_connections = 7\n\
             [services.a]\nmodule = \"a.js\"\n",
        ),
        ("a.js", "export function f() { return 1; }\n"),
    ]);
    let options = GatewayOptions::for_app("127.0.0.1:0".parse().expect("addr"), &app.load());
    assert_eq!(options.drain_timeout, Duration::from_millis(1500));
    assert_eq!(options.header_timeout, Duration::from_secs(2));
    assert_eq!(options.idle_timeout, Duration::from_secs(3));
    assert_eq!(options.max_connections, 7);
}
