//! A running app: the glue between an [`App`] description, an [`Engine`]
//! and the [`Scheduler`]. The gateway and the CLI drive apps through this.
//!
//! [`Runtime::reload`] re-reads the app folder and replaces only the
//! services whose code or configuration changed (see its docs for what a
//! reload may change).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::app::{App, AppError, ModuleGraph, Secrets, ServiceSpec};
use crate::engine::{
    ENGINE_ENV, Engine, EngineError, Env, IsolateConfig, JsError, SharedDirectory, StoreGrant,
};
use crate::outbound::Policy;
use crate::scheduler::{ReloadSummary, Scheduler, SchedulerConfig, ServiceConfig, StartError};
use crate::store::postgres::PgStore;
use crate::store::{AnyNamespace, Durability, Store, StoreError};
use crate::value::Value;

/// Why an app could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The store could not be opened.
    #[error("cannot open the app's store in {}: {source}", dir.display())]
    Store {
        /// The data folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// A store on a database server could not be opened (the error names the
    /// store and the host).
    #[error("cannot open the app's stores: {0}")]
    RemoteStore(#[source] StoreError),
    /// A `backend = "postgres"` store's connection URL was not supplied.
    #[error(
        "store \"{store}\" has backend = \"postgres\" but no connection URL: the secret {secret} \
         is missing (looked for {looked_for})"
    )]
    MissingStoreUrl {
        /// The store.
        store: String,
        /// The secret that should hold the URL.
        secret: String,
        /// Where it was looked for.
        looked_for: String,
    },
    /// A service could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The JavaScript engine chosen for the app is not in this build (or
    /// could not start).
    #[error("cannot use the JavaScript engine {chosen_by}: {reason}")]
    Engine {
        /// Which engine and what chose it (the manifest, the environment).
        chosen_by: String,
        /// What the engine module said. Part of the message rather than
        /// the error's `source()`, so `{:#}` chains do not repeat it.
        reason: EngineError,
    },
    /// Secrets the manifest declares were not supplied.
    #[error("{}", render_missing(.0))]
    MissingSecrets(Vec<MissingSecret>),
    /// A service with routes has no `fetch` handler.
    #[error(
        "service \"{0}\" has routes in pyrosome.toml but its module has no fetch handler \
         (export default {{ fetch(request) {{ ... }} }})"
    )]
    NoFetch(String),
}

/// Why a reload was refused. The app keeps running as it was.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The app folder no longer loads (a manifest error names its
    /// `file:line:col`).
    #[error("{0}")]
    App(#[from] AppError),
    /// A service's code does not load (the error names `file:line`), or
    /// another reload raced this one.
    #[error(transparent)]
    Start(#[from] StartError),
    /// A service with routes lost its `fetch` handler.
    #[error(
        "service \"{0}\" has routes in pyrosome.toml but its module has no fetch handler \
         (export default {{ fetch(request) {{ ... }} }})"
    )]
    NoFetch(String),
    /// The reload changes something that cannot change while the app runs.
    #[error("{0} cannot change while the app runs; restart it to apply this change")]
    NotLive(String),
    /// A service declares a secret that has no value.
    #[error("{0}")]
    Secrets(String),
}

/// A declared secret that has no value (see [`RuntimeError::MissingSecrets`]).
#[derive(Debug, Clone)]
pub struct MissingSecret {
    /// The secret's name.
    pub name: String,
    /// The services that declare or inherit it.
    pub services: Vec<String>,
    /// Where it was looked for ([`Secrets::looked_for`]).
    pub looked_for: String,
}

fn render_missing(missing: &[MissingSecret]) -> String {
    missing
        .iter()
        .map(|m| {
            format!(
                "missing secret {:?} (declared in pyrosome.toml for service{} {}): {}",
                m.name,
                if m.services.len() == 1 { "" } else { "s" },
                m.services.join(", "),
                m.looked_for
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `env` of every service: its vars, then its secrets with their
/// values, or the secrets that have none.
fn service_envs(app: &App, secrets: &Secrets) -> Result<HashMap<String, Env>, RuntimeError> {
    let missing: Vec<MissingSecret> = app
        .secret_names()
        .into_iter()
        .filter(|(name, _)| secrets.get(name).is_none())
        .map(|(name, services)| MissingSecret {
            name: name.to_owned(),
            services: services.into_iter().map(str::to_owned).collect(),
            looked_for: secrets.looked_for(name),
        })
        .collect();
    if !missing.is_empty() {
        return Err(RuntimeError::MissingSecrets(missing));
    }
    Ok(app
        .services
        .iter()
        .map(|s| {
            let mut bindings = s.vars.clone();
            for name in &s.secrets {
                let value = secrets.get(name).unwrap_or_default();
                bindings.push((name.clone(), Value::String(value)));
            }
            (s.name.clone(), Env::new(bindings))
        })
        .collect())
}

/// An app's stores, opened: the embedded ones in one [`Store`] in the data
/// folder (if the app has any), the others on their database servers.
pub struct OpenStores {
    /// The embedded store, if any store uses it.
    pub embedded: Option<Store>,
    /// The databases (one connection pool per connection URL).
    pub databases: Vec<PgStore>,
    /// Every store, by name.
    pub namespaces: HashMap<String, AnyNamespace>,
}

/// Opens the stores `app` declares: embedded ones in `data_dir`, `backend =
/// "postgres"` ones on the database whose URL is the value of their
/// `url_secret` in `secrets` (stores naming the same URL share one
/// connection pool). Connecting blocks the thread (up to
/// [`crate::store::postgres::CONNECT_TIMEOUT`]); an unreachable database is
/// an error naming the store and the host.
pub fn open_stores(
    app: &App,
    data_dir: &std::path::Path,
    secrets: &Secrets,
) -> Result<OpenStores, RuntimeError> {
    let durability = |d: crate::app::Durability| match d {
        crate::app::Durability::Durable => Durability::Durable,
        crate::app::Durability::Relaxed => Durability::Relaxed,
    };
    let mut open = OpenStores {
        embedded: None,
        databases: Vec::new(),
        namespaces: HashMap::new(),
    };
    let mut by_url: HashMap<String, PgStore> = HashMap::new();
    for spec in &app.stores {
        let ns = match &spec.backend {
            crate::app::Backend::Embedded => {
                let failed = |source| RuntimeError::Store {
                    dir: data_dir.to_path_buf(),
                    source,
                };
                let store = match &open.embedded {
                    Some(store) => store.clone(),
                    None => {
                        let store = Store::open(data_dir).map_err(failed)?;
                        open.embedded = Some(store.clone());
                        store
                    }
                };
                AnyNamespace::Embedded(
                    store
                        .namespace(&spec.name, durability(spec.durability))
                        .map_err(failed)?,
                )
            }
            crate::app::Backend::Postgres { url_secret } => {
                let url = secrets
                    .get(url_secret)
                    .ok_or_else(|| RuntimeError::MissingStoreUrl {
                        store: spec.name.clone(),
                        secret: url_secret.clone(),
                        looked_for: secrets.looked_for(url_secret),
                    })?;
                let db = match by_url.get(&url) {
                    Some(db) => db.clone(),
                    None => {
                        let db = PgStore::connect(&spec.name, &url)
                            .map_err(RuntimeError::RemoteStore)?;
                        tracing::info!("store \"{}\" is on PostgreSQL at {}", spec.name, db.host());
                        by_url.insert(url, db.clone());
                        open.databases.push(db.clone());
                        db
                    }
                };
                AnyNamespace::Postgres(
                    db.namespace(&spec.name, durability(spec.durability))
                        .map_err(RuntimeError::RemoteStore)?,
                )
            }
        };
        open.namespaces.insert(spec.name.clone(), ns);
    }
    Ok(open)
}

/// The data folder used when none is given: `.pyrosome/data` inside the
/// app folder (hidden folders are never loaded as modules).
pub fn default_data_dir(app: &App) -> PathBuf {
    app.root.join(".pyrosome").join("data")
}

/// How to run an app.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// The JavaScript engine. `None` (the default): the one the app's
    /// manifest names (`engine = "..."`), else [`default_engine`] (the
    /// `PYROSOME_ENGINE` environment variable, else QuickJS). `Some` (the
    /// command line's `--engine`) overrides both. [`Runtime::options`]
    /// shows the engine actually used.
    ///
    /// [`default_engine`]: crate::engine::default_engine
    pub engine: Option<Arc<dyn Engine>>,
    /// Worker threads; `0` means one per core.
    pub workers: usize,
    /// Development mode: error stacks in HTTP 500 bodies.
    pub dev_mode: bool,
    /// Where the app's stores live; `None` for [`default_data_dir`].
    pub data_dir: Option<PathBuf>,
    /// Execution-time-aware partitioning (on by default).
    pub partitioning: bool,
    /// One spare isolate started ahead of need per service that may grow,
    /// so a service gets another instance in the placement that asks for
    /// it (on by default; costs one idle isolate per such service).
    pub spare_instances: bool,
    /// Pin each worker thread to a CPU of its own, among those the process
    /// may run on (on by default; see `SchedulerConfig`).
    pub pin_workers: bool,
    /// Where the values of the app's declared secrets come from (default:
    /// nowhere, so an app that declares a secret does not start; the CLI
    /// uses the environment and `--secrets FILE`).
    pub secrets: Secrets,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            engine: None,
            workers: 0,
            dev_mode: false,
            data_dir: None,
            partitioning: true,
            spare_instances: true,
            pin_workers: true,
            secrets: Secrets::new(),
        }
    }
}

/// An app whose services are loaded and whose workers are running.
pub struct Runtime {
    /// The app as last (re)loaded.
    app: ArcSwap<App>,
    engine: Arc<dyn Engine>,
    scheduler: Scheduler,
    options: RuntimeOptions,
    store: Option<Store>,
    /// The open stores, by name (for the configs of reloaded services).
    namespaces: HashMap<String, AnyNamespace>,
    /// One reload at a time.
    reloading: Mutex<()>,
}

impl Runtime {
    /// Chooses the engine (see [`RuntimeOptions::engine`]), opens the app's
    /// stores (if it declares any), loads every service and starts the
    /// scheduler.
    pub fn start(app: App, mut options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        let (engine, chosen_by) = choose_engine(&app, options.engine.as_ref())?;
        tracing::info!(
            "app \"{}\" runs on the {} JavaScript engine ({chosen_by})",
            app.name,
            engine.name()
        );
        options.engine = Some(engine.clone());
        let mut envs = service_envs(&app, &options.secrets)?;
        crate::metrics::install();
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| default_data_dir(&app));
        let OpenStores {
            embedded: store,
            namespaces,
            ..
        } = open_stores(&app, &data_dir, &options.secrets)?;
        let directory: SharedDirectory = Arc::new(OnceLock::new());
        let configs = service_configs(&app, &options, &namespaces, &directory, &mut envs);
        let scheduler = Scheduler::start(
            engine.clone(),
            configs,
            directory,
            namespaces.clone(),
            &SchedulerConfig {
                workers: options.workers,
                partitioning: options.partitioning,
                spare_instances: options.spare_instances,
                pin_workers: options.pin_workers,
            },
        )?;
        for s in &app.services {
            let has_fetch = scheduler.service(&s.name).is_some_and(|i| i.has_fetch);
            if !s.routes.is_empty() && !has_fetch {
                scheduler.shutdown();
                return Err(RuntimeError::NoFetch(s.name.clone()));
            }
        }
        Ok(Runtime {
            app: ArcSwap::from_pointee(app),
            engine,
            scheduler,
            options,
            store,
            namespaces,
            reloading: Mutex::new(()),
        })
    }

    /// The app, as last (re)loaded.
    pub fn app(&self) -> Arc<App> {
        self.app.load_full()
    }

    /// The service whose `fetch` handler serves HTTP request path `path`
    /// (see [`App::route`]).
    pub fn route(&self, path: &str) -> Option<String> {
        self.app.load().route(path).map(|s| s.name.clone())
    }

    /// Reloads the app from its folder, on the calling thread (it starts
    /// isolates: not on a scheduler worker). Services whose code (any
    /// module of their import graph) or configuration changed get new
    /// instances, which take every new invocation at once; the instances
    /// they replace finish what they have in flight, then stop. Services
    /// added or removed in the manifest start or stop; routes and limits
    /// change with them.
    ///
    /// Refused, with the app left exactly as it was: a manifest or module
    /// that does not load, a routed service without `fetch`, and changes
    /// that cannot apply live (the app's `name`, `engine`, `[stores]`).
    /// `[http]` and `[admin]` changes apply at the next start (logged).
    ///
    /// Logs the outcome (a refusal as an error naming why and where).
    pub fn reload(&self) -> Result<ReloadSummary, ReloadError> {
        let result = self.try_reload();
        if let Err(e) = &result {
            tracing::error!("reload refused, the app runs on as it was: {e}");
        }
        result
    }

    fn try_reload(&self) -> Result<ReloadSummary, ReloadError> {
        let _one_at_a_time = self.reloading.lock();
        let started = Instant::now();
        let old = self.app.load_full();
        let app = App::load(&old.root)?;
        if app.name != old.name {
            return Err(ReloadError::NotLive(format!(
                "the app's name (from {:?} to {:?})",
                old.name, app.name
            )));
        }
        if app.engine != old.engine {
            return Err(ReloadError::NotLive(format!(
                "the manifest's engine key (from {} to {})",
                old.engine.as_deref().unwrap_or("none"),
                app.engine.as_deref().unwrap_or("none")
            )));
        }
        if app.stores != old.stores {
            return Err(ReloadError::NotLive(format!(
                "[stores] (from {} to {})",
                describe_stores(&old),
                describe_stores(&app)
            )));
        }
        for (changed, what) in [
            (app.http != old.http, "[http]"),
            (app.admin != old.admin, "[admin]"),
            (app.trace != old.trace, "[trace]"),
        ] {
            if changed {
                tracing::warn!(
                    "reload: the changes to {what} in {} apply at the next start",
                    app.manifest_path.display()
                );
            }
        }
        let directory: SharedDirectory = Arc::new(OnceLock::new());
        // Secret values are those read at start; a newly declared secret
        // must have one there too.
        let mut envs = service_envs(&app, &self.options.secrets)
            .map_err(|e| ReloadError::Secrets(e.to_string()))?;
        let configs = service_configs(&app, &self.options, &self.namespaces, &directory, &mut envs);
        let staged = self.scheduler.stage(configs)?;
        for s in &app.services {
            if !s.routes.is_empty() && !staged.service(&s.name).is_some_and(|i| i.has_fetch) {
                return Err(ReloadError::NoFetch(s.name.clone()));
            }
        }
        let summary = self.scheduler.commit(staged)?;
        // Routes switch after the services they point at are in place, and
        // removed services stop after no route points at them.
        self.app.store(Arc::new(app));
        self.scheduler.retire_removed(&summary);
        tracing::info!(
            "reloaded app \"{}\" in {:.1} ms: {summary}",
            old.name,
            started.elapsed().as_secs_f64() * 1000.0
        );
        Ok(summary)
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// The options it runs with; [`RuntimeOptions::engine`] is the engine
    /// chosen.
    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// The JavaScript engine the app runs on.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The name of the JavaScript engine the app runs on (`"quickjs"`,
    /// `"v8"`).
    pub fn engine_name(&self) -> &'static str {
        self.engine.name()
    }

    /// Invokes `service.method(arg)` and waits for the result.
    pub async fn call(&self, service: &str, method: &str, arg: Value) -> Result<Value, JsError> {
        match self.scheduler.invoke(service, method, arg).await {
            Ok(result) => result,
            Err(_) => Err(stopped(service, method)),
        }
    }

    /// [`Runtime::call`] as part of a trace: the invocation's span hangs
    /// under `trace` (see [`crate::trace`]).
    pub async fn call_traced(
        &self,
        service: &str,
        method: &str,
        arg: Value,
        trace: Option<crate::trace::Link>,
    ) -> Result<Value, JsError> {
        match self
            .scheduler
            .invoke_traced(service, method, arg, trace)
            .await
        {
            Ok(result) => result,
            Err(_) => Err(stopped(service, method)),
        }
    }

    /// Invokes `service.method(arg)` and blocks the thread until the result
    /// arrives. Not for use inside an async runtime.
    pub fn call_blocking(&self, service: &str, method: &str, arg: Value) -> Result<Value, JsError> {
        match self.scheduler.invoke(service, method, arg).blocking_recv() {
            Ok(result) => result,
            Err(_) => Err(stopped(service, method)),
        }
    }

    /// The app's store, if it declares stores.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Stops the workers. Acknowledged writes are already durable; the
    /// store is closed when the runtime is dropped.
    pub fn shutdown(&self) {
        self.scheduler.shutdown();
    }
}

/// The scheduler's configuration of every service of `app`.
fn service_configs(
    app: &App,
    options: &RuntimeOptions,
    namespaces: &HashMap<String, AnyNamespace>,
    directory: &SharedDirectory,
    envs: &mut HashMap<String, Env>,
) -> Vec<ServiceConfig> {
    let modules = Arc::new(app.modules.clone());
    app.services
        .iter()
        .map(|s| ServiceConfig {
            name: s.name.clone(),
            isolate: IsolateConfig {
                service: Arc::from(s.name.as_str()),
                entry: s.module.clone(),
                modules: modules.clone(),
                directory: directory.clone(),
                memory_limit: usize::try_from(s.limits.memory_mb)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1 << 20),
                cpu_budget: Duration::from_millis(s.limits.cpu_ms),
                dev_mode: options.dev_mode,
                stores: s
                    .stores
                    .iter()
                    .map(|g| StoreGrant {
                        name: g.store.clone(),
                        writable: g.access.can_write(),
                        local: namespaces
                            .get(&g.store)
                            .and_then(AnyNamespace::embedded)
                            .cloned(),
                    })
                    .collect(),
                env: envs.remove(&s.name).unwrap_or_default(),
            },
            min_instances: s.min_instances,
            max_instances: s.max_instances,
            max_concurrency: s.limits.max_concurrency,
            timeout: Duration::from_millis(s.limits.timeout_ms),
            fetch: Arc::new(Policy::new(
                s.name.as_str(),
                s.fetch.clone(),
                usize::try_from(s.limits.fetch_body_mb)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1 << 20),
            )),
            fingerprint: fingerprint(app, s),
        })
        .collect()
}

/// What a service's instances are made of, summarised (see
/// [`ServiceConfig::fingerprint`]): its manifest entry but its routes
/// (served by the gateway, not the instances) and the path and source of
/// every module of its import graph (every module of the app when the
/// graph is open). The entry is hashed through its `Debug` form, so that
/// settings added to [`ServiceSpec`] count without further code.
fn fingerprint(app: &App, spec: &ServiceSpec) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let config = ServiceSpec {
        routes: Vec::new(),
        ..spec.clone()
    };
    format!("{config:?}").hash(&mut hasher);
    let graph = ModuleGraph::of(&app.modules, &spec.module);
    graph.open.hash(&mut hasher);
    let mut add = |specifier: &str| {
        specifier.hash(&mut hasher);
        if let Some(module) = app.modules.get(specifier) {
            module.source.hash(&mut hasher);
        }
    };
    if graph.open {
        app.modules.specifiers().for_each(&mut add);
    } else {
        graph.modules.iter().for_each(|s| add(s));
    }
    hasher.finish()
}

fn describe_stores(app: &App) -> String {
    if app.stores.is_empty() {
        return "none".to_owned();
    }
    app.stores
        .iter()
        .map(|s| format!("{} ({})", s.name, s.durability))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The engine to run `app` on, and what chose it (for the log and errors):
/// `explicit` (the command line), else the manifest's `engine` key, else
/// [`default_engine`](crate::engine::default_engine) (`PYROSOME_ENGINE`,
/// else QuickJS).
fn choose_engine(
    app: &App,
    explicit: Option<&Arc<dyn Engine>>,
) -> Result<(Arc<dyn Engine>, String), RuntimeError> {
    if let Some(engine) = explicit {
        return Ok((engine.clone(), "chosen explicitly".to_owned()));
    }
    if let Some(name) = &app.engine {
        return match crate::engine::engine_by_name(name) {
            Ok(engine) => Ok((engine, format!("engine = {name:?} in pyrosome.toml"))),
            Err(reason) => Err(RuntimeError::Engine {
                chosen_by: format!(
                    "{name:?} (engine = {name:?} in {})",
                    app.manifest_path.display()
                ),
                reason,
            }),
        };
    }
    match crate::engine::default_engine() {
        Ok(engine) => {
            let chosen_by = match std::env::var(ENGINE_ENV) {
                Ok(value) if !value.trim().is_empty() => format!("{ENGINE_ENV}={value}"),
                _ => "the default".to_owned(),
            };
            Ok((engine, chosen_by))
        }
        // The error names the variable and its value.
        Err(reason) => Err(RuntimeError::Engine {
            chosen_by: "named by the environment".to_owned(),
            reason,
        }),
    }
}

fn stopped(service: &str, method: &str) -> JsError {
    JsError::new(
        "Error",
        "the runtime stopped before the invocation finished",
    )
    .at(service, method)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::{ModuleSource, Modules, engine_by_name};

    /// A one-service app whose manifest has `engine_line` at the top level.
    fn app(engine_line: &str) -> App {
        let mut modules = Modules::new();
        modules.insert(
            "a.js",
            ModuleSource {
                path: PathBuf::from("a.js"),
                source: Arc::from("export function f() { return 1; }\n"),
            },
        );
        let text = format!("name = \"x\"\n{engine_line}\n[services.a]\nmodule = \"a.js\"\n");
        App::from_manifest_str(
            Path::new("/srv/x"),
            Path::new("/srv/x/pyrosome.toml"),
            &text,
            modules,
        )
        .unwrap_or_else(|e| panic!("valid manifest: {e}"))
    }

    fn start(app: App, engine: Option<Arc<dyn Engine>>) -> Result<Runtime, RuntimeError> {
        Runtime::start(
            app,
            RuntimeOptions {
                engine,
                workers: 1,
                ..RuntimeOptions::default()
            },
        )
    }

    #[test]
    fn an_explicit_engine_beats_the_manifest_key() {
        // The manifest asks for V8 (absent from a default build); the
        // explicit choice wins without V8 ever being looked up.
        let quickjs = engine_by_name("quickjs").expect("quickjs is always built in");
        let rt = start(app("engine = \"v8\""), Some(quickjs)).expect("starts on quickjs");
        assert_eq!(rt.engine_name(), "quickjs");
        assert_eq!(
            rt.options().engine.as_ref().map(|e| e.name()),
            Some("quickjs"),
            "options show the engine chosen"
        );
        assert_eq!(
            rt.call_blocking("a", "f", Value::Undefined),
            Ok(Value::Number(1.0))
        );
        rt.shutdown();
    }

    #[test]
    fn the_manifest_key_chooses_the_engine() {
        // Independent of PYROSOME_ENGINE: the manifest beats it.
        let rt = start(app("engine = \"quickjs\""), None).expect("starts");
        assert_eq!(rt.engine_name(), "quickjs");
        rt.shutdown();
    }

    #[cfg(not(feature = "v8"))]
    #[test]
    fn a_manifest_asking_for_v8_in_a_build_without_it_is_a_clear_error() {
        let Err(err) = start(app("engine = \"v8\""), None) else {
            panic!("must not start without V8");
        };
        assert!(matches!(err, RuntimeError::Engine { .. }), "{err:?}");
        let e = err.to_string();
        assert!(
            e.starts_with(
                "cannot use the JavaScript engine \"v8\" (engine = \"v8\" in /srv/x/pyrosome.toml): "
            ),
            "{e}"
        );
        assert!(e.contains("--features v8"), "{e}");
    }
}
