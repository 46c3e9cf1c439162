//! A running app: the glue between an [`App`] description, an [`Engine`]
//! and the [`Scheduler`]. The gateway and the CLI drive apps through this.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::app::App;
use crate::engine::{Engine, IsolateConfig, JsError, SharedDirectory};
use crate::scheduler::{Scheduler, SchedulerConfig, ServiceConfig, StartError};
use crate::value::Value;

/// How to run an app.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// The JavaScript engine.
    pub engine: Arc<dyn Engine>,
    /// Worker threads; `0` means one per core.
    pub workers: usize,
    /// Development mode: error stacks in HTTP 500 bodies.
    pub dev_mode: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            engine: crate::engine::default_engine(),
            workers: 0,
            dev_mode: false,
        }
    }
}

/// An app whose services are loaded and whose workers are running.
pub struct Runtime {
    app: Arc<App>,
    scheduler: Scheduler,
    options: RuntimeOptions,
}

impl Runtime {
    /// Loads every service of `app` and starts the scheduler.
    pub fn start(app: App, options: RuntimeOptions) -> Result<Runtime, StartError> {
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
                },
                min_instances: s.min_instances,
                max_instances: s.max_instances,
            })
            .collect();
        let scheduler = Scheduler::start(
            options.engine.clone(),
            configs,
            directory,
            &SchedulerConfig {
                workers: options.workers,
            },
        )?;
        Ok(Runtime {
            app: Arc::new(app),
            scheduler,
            options,
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

    /// Stops the workers.
    pub fn shutdown(&self) {
        self.scheduler.shutdown();
    }
}

fn stopped(service: &str, method: &str) -> JsError {
    JsError::new("Error", "the runtime stopped before the invocation finished").at(service, method)
}
