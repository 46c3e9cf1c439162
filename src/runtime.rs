//! A running app: the glue between an [`App`] description, an [`Engine`]
//! and the [`Scheduler`]. The gateway and the CLI drive apps through this.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::app::App;
use crate::engine::{Engine, IsolateConfig, JsError, SharedDirectory, StoreGrant};
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
    /// The JavaScript engine.
    pub engine: Arc<dyn Engine>,
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
            engine: crate::engine::default_engine(),
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
    scheduler: Scheduler,
    options: RuntimeOptions,
    store: Option<Store>,
}

impl Runtime {
    /// Opens the app's stores (if it declares any), loads every service and
    /// starts the scheduler.
    pub fn start(app: App, options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
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
            })
            .collect();
        let scheduler = Scheduler::start(
            options.engine.clone(),
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

    /// The options it runs with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.options
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

fn stopped(service: &str, method: &str) -> JsError {
    JsError::new(
        "Error",
        "the runtime stopped before the invocation finished",
    )
    .at(service, method)
}
