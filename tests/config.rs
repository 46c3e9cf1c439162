//! Configuration and secrets: `[vars]` and `secrets` in the manifest reach
//! JavaScript as `env` (the second argument of `fetch` and
//! `import { env } from "pyrosome"`), per-service values override the
//! app's, a missing secret stops the start with an error naming it, and a
//! secret's value never appears in `/admin/status` or the log.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TempApp, TestServer, get, json};
use pyrosome::{Runtime, RuntimeOptions, Secrets, Value};

const MANIFEST: &str = r#"
name = "cfg"
secrets = ["API_KEY"]

[vars]
GREETING = "hello"
LIMIT = 10
RATIO = 0.5
ENABLED = true
TAGS = ["a", "b"]
DB = { host = "localhost", port = 5432 }

[services.front]
module = "front.js"
routes = ["/"]

[services.back]
module = "back.js"
secrets = ["BACK_TOKEN"]

[services.back.vars]
GREETING = "bonjour"
ONLY_BACK = "yes"
"#;

const FRONT: &str = r#"
import { env, services } from "pyrosome";
export default {
  async fetch(request, fetchEnv) {
    const back = await services.back.read();
    return Response.json({
      same: fetchEnv === env,
      frozen: Object.isFrozen(env) && Object.isFrozen(env.DB) && Object.isFrozen(env.TAGS),
      env: fetchEnv,
      back,
    });
  },
};
export function read() {
  return env;
}
"#;

const BACK: &str = r#"
import { env } from "pyrosome";
export function read() {
  let assigned;
  try { env.GREETING = "changed"; assigned = "no error"; } catch (e) { assigned = e.name; }
  return { env, keys: Object.keys(env), assigned };
}
"#;

fn app() -> TempApp {
    TempApp::new(&[
        ("pyrosome.toml", MANIFEST),
        ("front.js", FRONT),
        ("back.js", BACK),
    ])
}

fn secrets() -> Secrets {
    Secrets::new()
        .with("API_KEY", "key-123")
        .with("BACK_TOKEN", "token-456")
}

fn start(app: &TempApp, secrets: Secrets) -> Result<Runtime, pyrosome::RuntimeError> {
    Runtime::start(
        app.load(),
        RuntimeOptions {
            workers: 2,
            secrets,
            ..RuntimeOptions::default()
        },
    )
}

#[test]
fn env_reaches_fetch_and_methods_with_service_overrides() {
    let app = app();
    let runtime = start(&app, secrets()).expect("starts");

    // A method reads the module's `env` import.
    let front = runtime
        .call_blocking("front", "read", Value::Undefined)
        .expect("read");
    assert_eq!(
        front,
        json(
            r#"{"GREETING":"hello","LIMIT":10,"RATIO":0.5,"ENABLED":true,"TAGS":["a","b"],
                "DB":{"host":"localhost","port":5432},"API_KEY":"key-123"}"#
        ),
        "app vars in manifest order, then the secrets"
    );

    let server = TestServer::start(runtime, 1 << 20, false);
    let response = get(server.addr, "/");
    assert_eq!(response.status, 200, "{}", response.text());
    let body = json(&response.text());
    assert_eq!(body.get("same"), Some(&Value::Bool(true)), "one env object");
    assert_eq!(body.get("frozen"), Some(&Value::Bool(true)));
    assert_eq!(
        body.get("env").and_then(|e| e.get("API_KEY")),
        Some(&Value::String("key-123".into()))
    );
    assert_eq!(
        body.get("env").and_then(|e| e.get("BACK_TOKEN")),
        None,
        "a service's own secret is not seen by the others"
    );
    let back = body.get("back").expect("back");
    assert_eq!(
        back.get("env"),
        Some(&json(
            r#"{"GREETING":"bonjour","LIMIT":10,"RATIO":0.5,"ENABLED":true,"TAGS":["a","b"],
                "DB":{"host":"localhost","port":5432},"ONLY_BACK":"yes",
                "API_KEY":"key-123","BACK_TOKEN":"token-456"}"#
        )),
        "the service's [vars] override the app's; it sees app and own secrets"
    );
    assert_eq!(
        back.get("assigned"),
        Some(&Value::String("TypeError".into())),
        "env is frozen (modules are strict)"
    );
}

#[test]
fn an_app_without_vars_gets_an_empty_env() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\n[services.a]\nmodule = \"a.js\"\nroutes = [\"/\"]\n",
        ),
        (
            "a.js",
            "import { env } from 'pyrosome';\n\
             export default { fetch(r, e) { return new Response(JSON.stringify([e, env === e, Object.isFrozen(e)])); } };\n",
        ),
    ]);
    let server = TestServer::start(app.start(1), 1 << 20, false);
    assert_eq!(get(server.addr, "/").text(), "[{},true,true]");
}

#[test]
fn a_missing_secret_stops_the_start_and_is_named() {
    let app = app();
    let e = match start(&app, Secrets::new().with("API_KEY", "x")) {
        Ok(_) => panic!("BACK_TOKEN is missing"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        e,
        "missing secret \"BACK_TOKEN\" (declared in pyrosome.toml for service back): \
         looked for the secrets given to the runtime",
    );

    let e = match start(&app, Secrets::new()) {
        Ok(_) => panic!("both are missing"),
        Err(e) => e.to_string(),
    };
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].starts_with("missing secret \"API_KEY\" (declared in pyrosome.toml for services back, front): no secrets were supplied"),
        "{e}"
    );
    assert!(lines[1].starts_with("missing secret \"BACK_TOKEN\""), "{e}");
}

/// `pyrosome serve` with secrets from the environment and a file: the
/// values reach JavaScript but not `/admin/status`, nor the log (at debug
/// level), nor the error of a failed start.
#[test]
fn secrets_come_from_the_environment_and_a_file_and_are_never_shown() {
    let app = app();
    let secrets_file = app.path().join(".secrets.env");
    std::fs::write(
        &secrets_file,
        "# for the test\nAPI_KEY=file-value-should-lose\nBACK_TOKEN=\"tok-from-file-7781\"\n",
    )
    .expect("write");

    let mut child = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("--log")
        .arg("debug")
        .arg("serve")
        .arg(app.path())
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(["--workers", "2", "--dev"])
        .arg("--secrets")
        .arg(&secrets_file)
        .env("API_KEY", "env-value-9923")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("serve starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<(String, String)>();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        let mut sent = false;
        loop {
            match stderr.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&all);
                    // The app's address, then the admin listener's.
                    let line_after = |marker: &str| {
                        let rest = text.split(marker).nth(1)?;
                        let (addr, _) = rest.split_once('\n')?;
                        Some(addr.trim().to_owned())
                    };
                    if !sent
                        && let Some(app) = line_after("on http://")
                        && let Some(admin) = line_after("(/metrics, /admin/*) at http://")
                    {
                        let _ = tx.send((app, admin));
                        sent = true;
                    }
                }
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let (addr, admin): (std::net::SocketAddr, std::net::SocketAddr) =
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((app, admin)) => (
                app.parse().expect("an address"),
                admin.parse().expect("an address"),
            ),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no address: {}", reader.join().unwrap_or_default());
            }
        };

    let body = json(&get(addr, "/").text());
    let front = body.get("env").expect("env");
    assert_eq!(
        front.get("API_KEY"),
        Some(&Value::String("env-value-9923".into())),
        "the environment wins over the file"
    );
    let back = body.get("back").and_then(|b| b.get("env")).expect("env");
    assert_eq!(
        back.get("BACK_TOKEN"),
        Some(&Value::String("tok-from-file-7781".into()))
    );
    let status = get(admin, "/admin/status");
    assert_eq!(status.status, 200);
    let status = status.text();
    for value in [
        "env-value-9923",
        "tok-from-file-7781",
        "file-value-should-lose",
    ] {
        assert!(
            !status.contains(value),
            "{value} in /admin/status: {status}"
        );
    }

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let log = reader.join().expect("reader");
    assert!(log.contains("serving app"), "{log}");
    for value in [
        "env-value-9923",
        "tok-from-file-7781",
        "file-value-should-lose",
    ] {
        assert!(!log.contains(value), "{value} in the log: {log}");
    }

    // Without the environment variable and with a file lacking it, the
    // start fails naming the secret and both places looked.
    std::fs::write(
        &secrets_file,
        "API_KEY=abc-secret-1\nBACK_TOKN=abc-secret-2\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("check")
        .arg(app.path())
        .arg("--secrets")
        .arg(&secrets_file)
        .env_remove("API_KEY")
        .env_remove("BACK_TOKEN")
        .output()
        .expect("check runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "missing secret \"BACK_TOKEN\" (declared in pyrosome.toml for service back): \
             looked for the environment variable BACK_TOKEN and the secrets file {} \
             (found other names, did you mean \"BACK_TOKN\"?)",
            secrets_file.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("abc-secret"), "{stderr}");
}

#[test]
fn var_typos_are_reported_with_a_suggestion() {
    let app = TempApp::new(&[
        (
            "pyrosome.toml",
            "name = \"t\"\nsecret = [\"X\"]\n[var]\nA = 1\n[services.a]\nmodule = \"a.js\"\n[services.a.varz]\nB = 2\n",
        ),
        ("a.js", "export function f() {}\n"),
    ]);
    let e = match pyrosome::App::load(app.path()) {
        Ok(_) => panic!("typos"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(":2:1: secret: unknown field, did you mean \"secrets\"?"),
        "{e}"
    );
    assert!(
        e.contains(":3:2: var: unknown field, did you mean \"vars\"?"),
        "{e}"
    );
    assert!(
        e.contains(":7:13: services.a.varz: unknown field, did you mean \"vars\"?"),
        "{e}"
    );
}
