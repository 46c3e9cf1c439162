//! A service's instances and the placement of new invocations on them.
//!
//! First version of the policy (the holistic scheduler refines it): send a
//! new invocation to the instance with the fewest invocations in flight;
//! when every instance is busy and the service has room, start another
//! instance — an isolate costs well under a millisecond — and use it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::engine::{Engine, EngineError, IsolateConfig};

use super::instance::Instance;

/// What the scheduler needs to know to run one service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The service's name (its key in `services`).
    pub name: String,
    /// How to build its isolates.
    pub isolate: IsolateConfig,
    /// Instances started eagerly (at least one).
    pub min_instances: usize,
    /// Most instances running at once; `None` for one per worker.
    pub max_instances: Option<usize>,
}

/// The running instances of one service.
pub(crate) struct Service {
    pub(crate) spec: Arc<ServiceConfig>,
    instances: RwLock<Vec<Arc<Instance>>>,
    max_instances: usize,
    spawning: Mutex<()>,
    next_id: Arc<AtomicU64>,
}

impl Service {
    pub(crate) fn new(spec: ServiceConfig, workers: usize, next_id: Arc<AtomicU64>) -> Service {
        let max_instances = spec.max_instances.unwrap_or(workers).max(1);
        Service {
            spec: Arc::new(spec),
            instances: RwLock::new(Vec::new()),
            max_instances,
            spawning: Mutex::new(()),
            next_id,
        }
    }

    /// Creates an instance (not yet registered for placement).
    pub(crate) fn create(&self, engine: &dyn Engine) -> Result<Arc<Instance>, EngineError> {
        let isolate = engine.instantiate(&self.spec.isolate)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(Instance::new(id, self.spec.clone(), isolate)))
    }

    /// Registers an instance for placement.
    pub(crate) fn add(&self, instance: Arc<Instance>) {
        self.instances.write().push(instance);
    }

    /// Removes a dead instance from placement.
    pub(crate) fn remove(&self, instance: &Arc<Instance>) {
        self.instances.write().retain(|i| !Arc::ptr_eq(i, instance));
    }

    /// Number of running instances.
    pub(crate) fn instance_count(&self) -> usize {
        self.instances.read().len()
    }

    /// Chooses the instance for a new invocation (see the module docs).
    pub(crate) fn place(&self, engine: &dyn Engine) -> Option<Arc<Instance>> {
        let (best, count) = {
            let instances = self.instances.read();
            let best = instances.iter().min_by_key(|i| i.load()).cloned();
            (best, instances.len())
        };
        match best {
            Some(b) if b.load() == 0 || count >= self.max_instances => Some(b),
            best => {
                // Every instance is busy: grow, unless someone else is.
                let Some(_guard) = self.spawning.try_lock() else {
                    return best;
                };
                if self.instance_count() >= self.max_instances {
                    return best;
                }
                match self.create(engine) {
                    Ok(instance) => {
                        tracing::debug!(service = %self.spec.name, instance = instance.id, "started another instance");
                        self.add(instance.clone());
                        Some(instance)
                    }
                    Err(e) => {
                        tracing::error!(service = %self.spec.name, "cannot start another instance: {e}");
                        best
                    }
                }
            }
        }
    }
}
