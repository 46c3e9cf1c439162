//! The `pyrosome` command line: the binary's edge, where errors become
//! messages for a person (`anyhow`).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use pyrosome::app::AdminListen;
use pyrosome::engine::{Engine, engine_by_name};
use pyrosome::gateway::admin::{RemoteError, ServerFile, ServerInfo, call_remote, get_json};
use pyrosome::gateway::{self, GatewayOptions};
use pyrosome::{App, Runtime, RuntimeOptions, Secrets, Value};

/// Pyrosome: a runtime for fine-grained JavaScript microservices.
///
/// One process hosts a whole app of small services, each in its own
/// JavaScript isolate, with in-process calls between them and an HTTP front
/// door. An app is a folder with a `pyrosome.toml` manifest and ES modules
/// (see docs/manifest.md).
#[derive(Parser, Debug)]
#[command(name = "pyrosome", version, about, long_about)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, global = true, default_value_t = LogFormat::Human)]
    log_format: LogFormat,

    /// Log filter, e.g. `info`, `debug`, `pyrosome=debug` (RUST_LOG syntax).
    #[arg(long, global = true, default_value = "info")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// A JavaScript engine, as named on the command line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum EngineName {
    /// QuickJS: compiled in, the default.
    Quickjs,
    /// V8: needs a build with `--features v8` (docs/v8.md).
    V8,
}

impl EngineName {
    fn as_str(self) -> &'static str {
        match self {
            EngineName::Quickjs => "quickjs",
            EngineName::V8 => "v8",
        }
    }
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve an app over HTTP: loads every service, then listens.
    ///
    /// Requests whose path matches a service's `routes` go to that service's
    /// `fetch` handler. `/healthz` answers 200 once the app is loaded.
    /// `/metrics` and `/admin/*` are on the admin listener (`--admin`).
    /// SIGHUP reloads the app: only services whose code or configuration
    /// changed are replaced, without dropping a request.
    Serve {
        /// The app folder (holding pyrosome.toml).
        app: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Worker threads running JavaScript (default: one per core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
        /// Development mode: error stacks in 500 responses.
        #[arg(long)]
        dev: bool,
        /// Folder of the app's stores (default: APP/.pyrosome/data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Execution-time-aware partitioning: long methods run on their own
        /// instances and a bounded subset of workers.
        #[arg(long, value_enum, default_value_t = Switch::On)]
        partitioning: Switch,
        /// Keep one spare isolate started ahead of need for each service
        /// that may grow, so load spreads to another instance at once
        /// (costs one idle isolate per such service).
        #[arg(long, value_enum, default_value_t = Switch::On)]
        spare_instances: Switch,
        /// Pin each worker thread to a CPU of its own, when the workers
        /// cover every CPU the process may use (e.g. after `taskset`).
        #[arg(long, value_enum, default_value_t = Switch::On)]
        pin_workers: Switch,
        /// Requests handled at once; more get 503 with Retry-After.
        #[arg(long, default_value_t = pyrosome::gateway::DEFAULT_MAX_IN_FLIGHT)]
        max_in_flight: usize,
        /// JavaScript engine; overrides the manifest's `engine` key, which
        /// overrides the PYROSOME_ENGINE environment variable (default: quickjs).
        #[arg(long, value_enum)]
        engine: Option<EngineName>,
        /// A dotenv-style file of secret values (NAME=value lines) for the
        /// secrets the manifest declares; the environment takes precedence.
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        /// Address of the admin listener (/metrics, /admin/status,
        /// /admin/call, /admin/reload), or `off`; overrides the manifest's
        /// `[admin] listen` (default: 127.0.0.1:9090, or a free port if
        /// that one is taken).
        #[arg(long, value_name = "ADDR|off", value_parser = parse_admin)]
        admin: Option<AdminListen>,
        /// Reload the app when its files change (see also SIGHUP).
        #[arg(long)]
        watch: bool,
        /// One log line per request; overrides the manifest's
        /// `[http] access_log` (default: on with --dev, else off).
        #[arg(long, value_enum)]
        access_log: Option<Switch>,
        /// Export traces over OTLP/HTTP (protobuf) to this base URL
        /// (`/v1/traces` is appended); overrides OTEL_EXPORTER_OTLP_ENDPOINT
        /// and the manifest's `[trace] otlp_endpoint` (docs/tracing.md).
        #[arg(long, value_name = "URL")]
        otlp_endpoint: Option<String>,
        /// Share of requests traced and exported (0..=1); overrides the
        /// manifest's `[trace] sample_rate`. Failed and slow requests are
        /// always kept.
        #[arg(long, value_name = "RATE")]
        trace_sample_rate: Option<f64>,
        /// Keep recent slow, failed and sampled traces in memory for
        /// /admin/traces and `pyrosome trace`; overrides `[trace] keep`
        /// (default: on).
        #[arg(long, value_enum)]
        trace_keep: Option<Switch>,
    },
    /// Show the traces a running server kept: without TRACE_ID, the list
    /// (newest first); with one (or a unique prefix), its waterfall.
    ///
    /// Reads the server's admin address from the app's data folder, like
    /// `pyrosome call`. A trace is kept when it failed, was slower than
    /// `[trace] slow_ms`, or was sampled (docs/tracing.md).
    Trace {
        /// The app folder.
        app: PathBuf,
        /// The trace to show.
        trace_id: Option<String>,
        /// Folder of the app's stores (default: APP/.pyrosome/data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The server's admin listener (default: the one recorded in the
        /// data folder).
        #[arg(long, value_name = "ADDR")]
        admin: Option<SocketAddr>,
        /// Print the JSON the server answered instead.
        #[arg(long)]
        json: bool,
    },
    /// Invoke one method of one service and print its result as JSON.
    ///
    /// If `pyrosome serve` runs the app (it leaves its admin address in
    /// the app's data folder), the call goes through it; otherwise the app
    /// is started here for the call.
    ///
    /// Example: pyrosome call examples/hello greeter.greet '{"name":"Ada"}'
    Call {
        /// The app folder.
        app: PathBuf,
        /// `service.method` to invoke.
        target: String,
        /// The argument, as JSON (default: no argument).
        arg: Option<String>,
        /// Worker threads (default: one per core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
        /// Folder of the app's stores (default: APP/.pyrosome/data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// JavaScript engine; overrides the manifest's `engine` key, which
        /// overrides the PYROSOME_ENGINE environment variable (default: quickjs).
        #[arg(long, value_enum)]
        engine: Option<EngineName>,
        /// A dotenv-style file of secret values (NAME=value lines) for the
        /// secrets the manifest declares; the environment takes precedence.
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
        /// Call through the server whose admin listener is at ADDR
        /// (default: the one recorded in the data folder, if running).
        #[arg(long, value_name = "ADDR")]
        admin: Option<SocketAddr>,
    },
    /// A live view of a running server, like htop for the app.
    ///
    /// Every second: each worker's busy share, each service's instances and
    /// the workers that last ran them, each method's calls/s, errors/s,
    /// p50/p99 latency and run time per call over the last second, the
    /// long/short partition and its latest changes, the store's commits/s.
    /// Keys: q quits, tab switches table, ↑/↓ move, s changes the order.
    ///
    /// The server is the one `pyrosome serve APP` recorded in APP's data
    /// folder, or the admin listener at --admin (default without APP:
    /// 127.0.0.1:9090).
    Top {
        /// The app folder of the running server.
        app: Option<PathBuf>,
        /// Folder of the app's stores (default: APP/.pyrosome/data), where
        /// `serve` leaves its admin address.
        #[arg(long)]
        data: Option<PathBuf>,
        /// The admin listener to watch (overrides APP).
        #[arg(long, value_name = "ADDR")]
        admin: Option<SocketAddr>,
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0, value_parser = parse_interval)]
        interval: f64,
    },
    /// Inspect or edit the stores of a stopped app, and back them up.
    ///
    /// Keys are strings. Values are JSON; exact forms for values JSON
    /// cannot express: {"$bigint":"123"}, {"$bytes":"base64"},
    /// {"$number":"NaN"|"Infinity"|"-Infinity"|"-0"}, {"$undefined":true}.
    Store {
        /// The app folder.
        app: PathBuf,
        /// Folder of the app's stores (default: APP/.pyrosome/data).
        /// Accepted before or after the action (`store APP list NS --data DIR`).
        #[arg(long, global = true)]
        data: Option<PathBuf>,
        #[command(subcommand)]
        action: StoreAction,
    },
    /// Load an app and report problems without running anything else.
    Check {
        /// The app folder.
        app: PathBuf,
        /// JavaScript engine; overrides the manifest's `engine` key, which
        /// overrides the PYROSOME_ENGINE environment variable (default: quickjs).
        #[arg(long, value_enum)]
        engine: Option<EngineName>,
        /// A dotenv-style file of secret values (NAME=value lines) for the
        /// secrets the manifest declares; the environment takes precedence.
        #[arg(long, value_name = "FILE")]
        secrets: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum StoreAction {
    /// Print the value under a key.
    Get {
        /// The store's name.
        store: String,
        /// The key.
        key: String,
    },
    /// Set a key to a JSON value.
    Put {
        /// The store's name.
        store: String,
        /// The key.
        key: String,
        /// The value, as (tagged) JSON.
        value: String,
    },
    /// Delete a key.
    Delete {
        /// The store's name.
        store: String,
        /// The key.
        key: String,
    },
    /// List entries in key order, one JSON object per line.
    List {
        /// The store's name.
        store: String,
        /// Only keys starting with this prefix.
        #[arg(long)]
        prefix: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
        /// Descending key order.
        #[arg(long)]
        reverse: bool,
    },
    /// Write every entry of a store to stdout as JSON lines.
    Export {
        /// The store's name.
        store: String,
    },
    /// Read JSON lines (as written by export) from stdin into a store.
    Import {
        /// The store's name.
        store: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, &cli.log);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat, filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.1..=3600.0).contains(&s) => Ok(s),
        Ok(_) => Err("the interval must be between 0.1 and 3600 seconds".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_admin(text: &str) -> Result<AdminListen, String> {
    text.parse()
}

fn load(dir: &Path) -> Result<App> {
    App::load(dir).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The engine named by `--engine`, if given; `None` lets the runtime choose
/// (the manifest's `engine` key, else PYROSOME_ENGINE, else quickjs).
fn engine(name: Option<EngineName>) -> Result<Option<Arc<dyn Engine>>> {
    name.map(|name| {
        engine_by_name(name.as_str()).with_context(|| format!("--engine {}", name.as_str()))
    })
    .transpose()
}

/// The secrets of the process environment and of `--secrets FILE`.
fn secrets(file: Option<&Path>) -> Result<Secrets> {
    let secrets = Secrets::from_environment();
    Ok(match file {
        Some(file) => secrets.with_file(file)?,
        None => secrets,
    })
}

fn start(
    app: App,
    engine_name: Option<EngineName>,
    workers: usize,
    dev_mode: bool,
    data: Option<PathBuf>,
    secrets_file: Option<&Path>,
) -> Result<Runtime> {
    start_with(
        app,
        engine_name,
        workers,
        dev_mode,
        data,
        Scheduling::default(),
        secrets_file,
    )
}

/// The scheduler's switches on the command line.
#[derive(Clone, Copy, Debug)]
struct Scheduling {
    partitioning: bool,
    spare_instances: bool,
    pin_workers: bool,
}

impl Default for Scheduling {
    fn default() -> Self {
        Scheduling {
            partitioning: true,
            spare_instances: true,
            pin_workers: true,
        }
    }
}

fn start_with(
    app: App,
    engine_name: Option<EngineName>,
    workers: usize,
    dev_mode: bool,
    data: Option<PathBuf>,
    scheduling: Scheduling,
    secrets_file: Option<&Path>,
) -> Result<Runtime> {
    let options = RuntimeOptions {
        engine: engine(engine_name)?,
        workers,
        dev_mode,
        data_dir: data,
        partitioning: scheduling.partitioning,
        spare_instances: scheduling.spare_instances,
        pin_workers: scheduling.pin_workers,
        secrets: secrets(secrets_file)?,
    };
    let runtime = Runtime::start(app, options).context("cannot start the app")?;
    if let Some(store) = runtime.store() {
        tracing::info!("stores in {}", store.path().display());
    }
    Ok(runtime)
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve {
            app,
            listen,
            workers,
            dev,
            data,
            partitioning,
            spare_instances,
            pin_workers,
            max_in_flight,
            engine,
            secrets,
            admin,
            watch,
            access_log,
            otlp_endpoint,
            trace_sample_rate,
            trace_keep,
        } => {
            raise_open_file_limit();
            let app = load(&app)?;
            let data_dir = data
                .clone()
                .unwrap_or_else(|| pyrosome::runtime::default_data_dir(&app));
            let mut options = GatewayOptions::for_app(listen, &app);
            options.dev_mode = dev;
            options.max_in_flight = max_in_flight;
            options.access_log = match access_log {
                Some(switch) => switch == Switch::On,
                None => app.http.access_log.unwrap_or(dev),
            };
            if let Some(url) = otlp_endpoint {
                options.trace.otlp_endpoint = Some(pyrosome::trace::traces_url(&url));
            }
            if let Some(rate) = trace_sample_rate {
                if !(0.0..=1.0).contains(&rate) {
                    bail!("--trace-sample-rate must be from 0 to 1, got {rate}");
                }
                options.trace.sample_rate = rate;
            }
            if let Some(keep) = trace_keep {
                options.trace.keep = keep == Switch::On;
            }
            match admin {
                Some(AdminListen::Off) => options.admin = None,
                Some(AdminListen::At(addr)) => {
                    options.admin = Some(addr);
                    options.admin_fallback = false;
                }
                None => {}
            }
            let runtime = start_with(
                app,
                engine,
                workers,
                dev,
                data,
                Scheduling {
                    partitioning: partitioning == Switch::On,
                    spare_instances: spare_instances == Switch::On,
                    pin_workers: pin_workers == Switch::On,
                },
                secrets.as_deref(),
            )?;
            // The connections are served by the scheduler's workers; this
            // thread only waits for signals, then drains.
            let tokio = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the signal handler")?;

            tokio.block_on(async move {
                let server = gateway::Gateway::bind(runtime, options)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let runtime = server.runtime().clone();
                let app = runtime.app();
                tracing::info!(
                    "serving app \"{}\" on http://{}",
                    app.name,
                    server.local_addr()
                );
                let _server_file = match server.admin_addr() {
                    Some(addr) => {
                        if !addr.ip().is_loopback() {
                            tracing::warn!(
                                "the admin listener {addr} is reachable from other hosts: \
                                 /admin/call runs any method of any service; keep it behind a firewall"
                            );
                        }
                        let info = ServerInfo {
                            pid: std::process::id(),
                            app_root: app.root.clone(),
                            listen: server.local_addr(),
                            admin: addr,
                        };
                        // Recorded before it is announced: whoever reads the
                        // log line finds the file.
                        let file = match ServerFile::write(&data_dir, &info) {
                            Ok(file) => Some(file),
                            Err(e) => {
                                tracing::warn!(
                                    "cannot record the admin address in {} (pyrosome call will \
                                     not find this server): {e}",
                                    data_dir.display()
                                );
                                None
                            }
                        };
                        tracing::info!("admin endpoints (/metrics, /admin/*) at http://{addr}");
                        file
                    }
                    None => None,
                };
                let _watch = if watch {
                    Some(pyrosome::watch::Watch::start(runtime.clone())?)
                } else {
                    None
                };
                tokio::spawn(reload_on_sighup(runtime));
                server.serve_until(shutdown_signal()).await;
                Ok(())
            })
        }
        Command::Call {
            app,
            target,
            arg,
            workers,
            data,
            engine,
            secrets,
            admin,
        } => {
            let Some((service, method)) = target.split_once('.') else {
                bail!("the target must be service.method, got \"{target}\"");
            };
            let arg_value = match &arg {
                None => Value::Undefined,
                Some(text) => {
                    let json: serde_json::Value = serde_json::from_str(text)
                        .with_context(|| format!("the argument is not valid JSON: {text}"))?;
                    Value::from_json(&json)
                }
            };
            let app = load(&app)?;
            let data_dir = data
                .clone()
                .unwrap_or_else(|| pyrosome::runtime::default_data_dir(&app));
            let server = match admin {
                Some(addr) => Some((addr, true)),
                None => ServerFile::read(&data_dir).map(|info| (info.admin, false)),
            };
            if let Some((addr, explicit)) = server {
                tracing::debug!("calling through the server at {addr}");
                match call_remote(addr, &app.root, service, method, arg.as_deref()) {
                    Ok(json) => return print_json(&json),
                    Err(RemoteError::Threw { report }) => bail!("{target} threw {report}"),
                    // A file left by a server that is gone: run the call here.
                    Err(
                        e
                        @ (RemoteError::Connect { .. } | RemoteError::Refused { status: 409, .. }),
                    ) if !explicit => {
                        tracing::debug!("no server for this app after all ({e}); calling offline");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            let arg = arg_value;
            let runtime = start(app, engine, workers, false, data, secrets.as_deref())?;
            let result = runtime.call_blocking(service, method, arg);
            runtime.shutdown();
            match result {
                Ok(value) => print_json(&value.to_json()),
                Err(e) => bail!("{target} threw {}", e.report()),
            }
        }
        Command::Top {
            app,
            data,
            admin,
            interval,
        } => {
            let addr = match (admin, app) {
                (Some(addr), _) => addr,
                (None, Some(app)) => {
                    let app = load(&app)?;
                    let data_dir =
                        data.unwrap_or_else(|| pyrosome::runtime::default_data_dir(&app));
                    let Some(info) = ServerFile::read(&data_dir) else {
                        bail!(
                            "no running server recorded in {} (start one with `pyrosome serve {}`, \
                             or name its admin listener with --admin)",
                            data_dir.display(),
                            app.root.display()
                        );
                    };
                    info.admin
                }
                (None, None) => pyrosome::gateway::admin::DEFAULT_ADMIN,
            };
            let first = pyrosome::top::fetch(addr)
                .with_context(|| format!("cannot read the status of the server at {addr}"))?;
            pyrosome::top::run(addr, std::time::Duration::from_secs_f64(interval), first)?;
            Ok(())
        }
        Command::Trace {
            app,
            trace_id,
            data,
            admin,
            json,
        } => {
            let app = load(&app)?;
            let addr = match admin {
                Some(addr) => addr,
                None => {
                    let data_dir =
                        data.unwrap_or_else(|| pyrosome::runtime::default_data_dir(&app));
                    match ServerFile::read(&data_dir) {
                        Some(info) => info.admin,
                        None => bail!(
                            "no running server for this app (no {} in {}); start it with \
                             `pyrosome serve`, or name its admin listener with --admin",
                            pyrosome::gateway::admin::SERVER_FILE,
                            data_dir.display()
                        ),
                    }
                }
            };
            let path = match &trace_id {
                Some(id) => format!("/admin/traces/{id}"),
                None => "/admin/traces".to_owned(),
            };
            let answer = get_json(addr, &path, std::time::Duration::from_secs(10))?;
            if json {
                return print_json(&answer);
            }
            let text = match trace_id {
                Some(_) => {
                    let trace: pyrosome::trace::TraceView = serde_json::from_value(answer)
                        .context("the server's answer is not a trace")?;
                    pyrosome::trace::waterfall::render(&trace)
                }
                None => {
                    if answer["tracing"] == serde_json::Value::Bool(false) {
                        bail!(
                            "tracing is off in this server ([trace] keep = false and no OTLP endpoint)"
                        );
                    }
                    let list: Vec<pyrosome::trace::TraceSummary> =
                        serde_json::from_value(answer["traces"].clone())
                            .context("the server's answer is not a list of traces")?;
                    pyrosome::trace::waterfall::render_list(&list)
                }
            };
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            Ok(())
        }
        Command::Store { app, data, action } => store_command(&load(&app)?, data, action),
        Command::Check {
            app,
            engine,
            secrets,
        } => {
            let app = load(&app)?;
            // Stores are opened in a scratch folder: checking has no effect
            // on the app's data (and works while the app is running).
            let scratch = tempfile::tempdir().context("cannot create a scratch folder")?;
            let runtime = start(
                app,
                engine,
                1,
                false,
                Some(scratch.path().to_path_buf()),
                secrets.as_deref(),
            )?;
            let scheduler = runtime.scheduler();
            for name in scheduler.service_names() {
                if let Some(info) = scheduler.service(&name) {
                    let fetch = if info.has_fetch { " + fetch" } else { "" };
                    println!("{name}: {}{fetch}", info.methods.join(", "));
                }
            }
            runtime.shutdown();
            Ok(())
        }
    }
}

fn store_command(app: &App, data: Option<PathBuf>, action: StoreAction) -> Result<()> {
    use pyrosome::store::{Durability, Store};
    let name = match &action {
        StoreAction::Get { store, .. }
        | StoreAction::Put { store, .. }
        | StoreAction::Delete { store, .. }
        | StoreAction::List { store, .. }
        | StoreAction::Export { store }
        | StoreAction::Import { store } => store.clone(),
    };
    let Some(spec) = app.store(&name) else {
        let declared: Vec<&str> = app.stores.iter().map(|s| s.name.as_str()).collect();
        bail!(
            "app \"{}\" declares no store \"{name}\" (declared: {})",
            app.name,
            if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            }
        );
    };
    if let pyrosome::app::Backend::Postgres { .. } = &spec.backend {
        return postgres_store_command(app, &name, action);
    }
    let dir = data.unwrap_or_else(|| pyrosome::runtime::default_data_dir(app));
    let db = Store::open(&dir).with_context(|| {
        format!(
            "cannot open the store in {} (is the app still running?)",
            dir.display()
        )
    })?;
    let durability = match spec.durability {
        pyrosome::app::Durability::Durable => Durability::Durable,
        pyrosome::app::Durability::Relaxed => Durability::Relaxed,
    };
    let ns = db.namespace(&name, durability)?;
    run_store_action(&ns, &name, action)?;
    drop(ns);
    db.close()?;
    Ok(())
}

/// `pyrosome store` on a store kept by PostgreSQL (its URL from the
/// environment, as `serve` reads it).
fn postgres_store_command(app: &App, name: &str, action: StoreAction) -> Result<()> {
    use pyrosome::store;
    let secrets = pyrosome::app::Secrets::from_environment();
    let open = pyrosome::runtime::open_stores(
        &App {
            stores: app
                .stores
                .iter()
                .filter(|s| s.name == name)
                .cloned()
                .collect(),
            ..app.clone()
        },
        &pyrosome::runtime::default_data_dir(app),
        &secrets,
    )?;
    let Some(store::AnyNamespace::Postgres(ns)) = open.namespaces.get(name) else {
        bail!("store \"{name}\" is not on PostgreSQL");
    };
    run_store_action(ns, name, action)
}

/// What `pyrosome store` does with a store, on either backend.
trait CliStore {
    fn get(
        &self,
        key: &[u8],
    ) -> Result<Option<pyrosome::value::Value>, pyrosome::store::StoreError>;
    fn write_blocking(
        &self,
        batch: pyrosome::store::WriteBatch,
    ) -> Result<pyrosome::store::WriteOutcome, pyrosome::store::StoreError>;
    fn list(
        &self,
        query: &pyrosome::store::ListQuery,
    ) -> Result<Vec<(Vec<u8>, pyrosome::value::Value)>, pyrosome::store::StoreError>;
    fn export(&self, out: &mut dyn Write) -> Result<u64, pyrosome::store::StoreError>;
    fn import(&self, input: &mut dyn std::io::BufRead) -> Result<u64, pyrosome::store::StoreError>;
}

/// Implements [`CliStore`] for a namespace type with the store's methods.
macro_rules! cli_store {
    ($ty:ty, $export:path, $import:path) => {
        impl CliStore for $ty {
            fn get(
                &self,
                key: &[u8],
            ) -> Result<Option<pyrosome::value::Value>, pyrosome::store::StoreError> {
                <$ty>::get(self, key)
            }
            fn write_blocking(
                &self,
                batch: pyrosome::store::WriteBatch,
            ) -> Result<pyrosome::store::WriteOutcome, pyrosome::store::StoreError> {
                <$ty>::write_blocking(self, batch)
            }
            fn list(
                &self,
                query: &pyrosome::store::ListQuery,
            ) -> Result<Vec<(Vec<u8>, pyrosome::value::Value)>, pyrosome::store::StoreError> {
                <$ty>::list(self, query)
            }
            fn export(&self, out: &mut dyn Write) -> Result<u64, pyrosome::store::StoreError> {
                $export(self, out)
            }
            fn import(
                &self,
                input: &mut dyn std::io::BufRead,
            ) -> Result<u64, pyrosome::store::StoreError> {
                $import(self, input)
            }
        }
    };
}
cli_store!(
    pyrosome::store::Namespace,
    pyrosome::store::export_jsonl,
    pyrosome::store::import_jsonl
);
cli_store!(
    pyrosome::store::postgres::PgNamespace,
    pyrosome::store::backup::export_jsonl_postgres,
    pyrosome::store::backup::import_jsonl_postgres
);

/// Runs one `pyrosome store` action on the store `name`.
fn run_store_action(ns: &impl CliStore, name: &str, action: StoreAction) -> Result<()> {
    use pyrosome::store::{self, KeyRange, ListQuery, WriteBatch};
    let mut out = std::io::stdout().lock();
    match action {
        StoreAction::Get { key, .. } => match ns.get(key.as_bytes())? {
            Some(v) => writeln!(out, "{}", store::value_to_tagged_json(&v))?,
            None => bail!("no key {key:?} in store \"{name}\""),
        },
        StoreAction::Put { key, value, .. } => {
            let value = store::parse_tagged_json(&value)
                .with_context(|| format!("the value is not valid tagged JSON: {value}"))?;
            ns.write_blocking(WriteBatch::new().put(key.into_bytes(), value))?;
        }
        StoreAction::Delete { key, .. } => {
            ns.write_blocking(WriteBatch::new().delete(key.into_bytes()))?;
        }
        StoreAction::List {
            prefix,
            limit,
            reverse,
            ..
        } => {
            let query = ListQuery {
                range: prefix.map_or(KeyRange::All, |p| KeyRange::Prefix(p.into_bytes())),
                limit,
                reverse,
            };
            for (key, value) in ns.list(&query)? {
                let line = serde_json::json!({
                    "key": String::from_utf8_lossy(&key),
                    "value": store::value_to_tagged_json(&value),
                });
                writeln!(out, "{line}")?;
            }
        }
        StoreAction::Export { .. } => {
            let n = ns.export(&mut out)?;
            eprintln!("exported {n} entries from \"{name}\"");
        }
        StoreAction::Import { .. } => {
            let mut input = std::io::stdin().lock();
            let n = ns.import(&mut input)?;
            eprintln!("imported {n} entries into \"{name}\"");
        }
    }
    Ok(())
}

fn print_json(json: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(json).context("cannot print the result")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").context("cannot write to stdout")?;
    Ok(())
}

/// Reloads the app at every SIGHUP (on a blocking thread: a reload starts
/// isolates). A refused reload is logged; the app runs on as it was.
async fn reload_on_sighup(runtime: Arc<Runtime>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP (no reload on SIGHUP): {e}");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading");
            let runtime = runtime.clone();
            let _ = tokio::task::spawn_blocking(move || runtime.reload()).await;
        }
    }
    #[cfg(not(unix))]
    let _ = runtime;
}

/// Raises the soft limit on open files to the hard limit: every connection
/// is a file descriptor, and the soft limit is often 1024 (or less) while
/// the hard limit allows far more.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!("open-file limit: {n}"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

/// Resolves at the first SIGTERM or Ctrl-C; from then on, a second one
/// exits the process at once (the drain is skipped: requests in flight are
/// abandoned, writes already acknowledged are on disk).
async fn shutdown_signal() {
    next_signal().await;
    tracing::info!("shutting down (send the signal again to exit without waiting)");
    tokio::spawn(async {
        next_signal().await;
        tracing::warn!("second signal: exiting now, abandoning the requests still in flight");
        std::process::exit(130);
    });
}

/// The next SIGTERM or Ctrl-C (SIGINT).
async fn next_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
