//! A running app: the glue between an [`App`] description, an [`Engine`]
//! and the [`Scheduler`]. The gateway and the CLI drive apps through this.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::app::App;
use crate::engine::{
    ENGINE_ENV, Engine, EngineError, IsolateConfig, JsError, SharedDirectory, StoreGrant,
};
use crate::outbound::Policy;
use crate::scheduler::{Scheduler, SchedulerConfig, ServiceConfig, StartError};
use crate::store::{Durability, Store, StoreError};
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
    /// A service with routes has no `fetch` handler.
    #[error(
        "service \"{0}\" has routes in pyrosome.toml but its module has no fetch handler \
         (export default {{ fetch(request) {{ ... }} }})"
    )]
    NoFetch(String),
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
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            engine: None,
            workers: 0,
            dev_mode: false,
            data_dir: None,
            partitioning: true,
        }
    }
}

/// An app whose services are loaded and whose workers are running.
pub struct Runtime {
    app: Arc<App>,
    engine: Arc<dyn Engine>,
    scheduler: Scheduler,
    options: RuntimeOptions,
    store: Option<Store>,
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
        crate::metrics::install();
        let (store, namespaces) = if app.stores.is_empty() {
            (None, HashMap::new())
        } else {
            let dir = options
                .data_dir
                .clone()
                .unwrap_or_else(|| default_data_dir(&app));
            let failed = |source| RuntimeError::Store {
                dir: dir.clone(),
                source,
            };
            let store = Store::open(&dir).map_err(failed)?;
            let mut namespaces = HashMap::new();
            for spec in &app.stores {
                let durability = match spec.durability {
                    crate::app::Durability::Durable => Durability::Durable,
                    crate::app::Durability::Relaxed => Durability::Relaxed,
                };
                let ns = store.namespace(&spec.name, durability).map_err(failed)?;
                namespaces.insert(spec.name.clone(), ns);
            }
            (Some(store), namespaces)
        };
        let modules = Arc::new(app.modules.clone());
        let directory: SharedDirectory = Arc::new(OnceLock::new());
        let configs = app
            .services
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
                            local: namespaces.get(&g.store).cloned(),
                        })
                        .collect(),
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
            })
            .collect();
        let scheduler = Scheduler::start(
            engine.clone(),
            configs,
            directory,
            namespaces,
            &SchedulerConfig {
                workers: options.workers,
                partitioning: options.partitioning,
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
            app: Arc::new(app),
            engine,
            scheduler,
            options,
            store,
        })
    }

    /// The app.
    pub fn app(&self) -> &Arc<App> {
        &self.app
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
