//! The `pyrosome` binary as a user runs it: `call`, `check`, `serve` with
//! graceful shutdown on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{TempApp, get};

fn pyrosome() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pyrosome"))
}

/// Kills the child if the test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn call_prints_the_result_as_json() {
    let hello = common::repo_path("examples/hello");
    let out = pyrosome()
        .args(["call"])
        .arg(&hello)
        .args(["greeter.greet", r#"{"name":"Ada"}"#])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["message"], "Hello, Ada!");

    let out = pyrosome()
        .arg("call")
        .arg(&hello)
        .args(["greeter.greet", "{not json"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not valid JSON"));

    let out = pyrosome()
        .arg("call")
        .arg(&hello)
        .args(["greeter.greet", r#"{"name":""}"#])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("name must be a non-empty string") && err.contains("greeter.js"),
        "{err}"
    );
}

#[test]
fn a_manifest_typo_is_reported_with_file_line_and_field() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\n\n[services.a]\nmodul = \"a.js\"\n",
        ),
        ("a.js", "export function f() {}\n"),
    ]);
    let out = pyrosome()
        .arg("check")
        .arg(app.path())
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pyrosome.toml:4"), "{err}");
    assert!(err.contains("services.a.modul"), "{err}");
    assert!(err.contains("did you mean \"module\""), "{err}");
}

#[test]
fn serve_drains_in_flight_requests_on_sigterm() {
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
    let child = pyrosome()
        .arg("serve")
        .arg(app.path())
        .args(["--listen", "127.0.0.1:0", "--workers", "2"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut guard = Guard(child);
    let stderr = guard.0.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("on http://").nth(1) {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr: std::net::SocketAddr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logs its address")
        .parse()
        .expect("an address");
    assert_eq!(get(addr, "/?ms=0").text(), "slept 0");

    let slow = std::thread::spawn(move || get(addr, "/?ms=600"));
    std::thread::sleep(Duration::from_millis(150));
    let pid = guard.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());

    let response = slow.join().expect("client thread");
    assert_eq!(response.status, 200, "the in-flight request finished");
    assert_eq!(response.text(), "slept 600");
    let status = guard.0.wait().expect("exits");
    assert!(status.success(), "clean exit after draining: {status:?}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
}
