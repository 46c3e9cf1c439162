//! A service's instances and the placement of new invocations on them
//! (the decisions themselves are in `policy.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::engine::{Engine, EngineError, FETCH_METHOD, IsolateConfig};

use super::instance::{Class, Instance};
use super::policy::{self, Candidate, Placement};
use super::stats::ServiceStats;
use super::{ServiceInfo, StartError};

thread_local! {
    /// Placement's scratch list of candidates (one per thread, so placing
    /// an invocation allocates nothing).
    static CANDIDATES: std::cell::RefCell<Vec<Candidate>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What the scheduler needs to know to run one service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The service's name (its key in `services`).
    pub name: String,
    /// How to build its isolates.
    pub isolate: IsolateConfig,
    /// Instances started eagerly (at least one).
    pub min_instances: usize,
    /// Most instances running at once, per class (short and long);
    /// `None` for one per worker.
    pub max_instances: Option<usize>,
    /// Most invocations in flight in one instance; past that (and with no
    /// room for another instance) invocations are refused as overloaded.
    pub max_concurrency: usize,
    /// Wall-clock deadline of one invocation (shortened by a caller's).
    pub timeout: Duration,
    /// What the service's instances are made of (its code: every module
    /// its entry imports; its configuration), summarised. A reload keeps
    /// the running instances of a service whose fingerprint is unchanged
    /// and replaces the others (see [`Scheduler::stage`]).
    ///
    /// [`Scheduler::stage`]: super::Scheduler::stage
    pub fingerprint: u64,
    /// What its `fetch()` may reach (its grants) and read.
    pub fetch: Arc<crate::outbound::Policy>,
}

/// Why a service could not take an invocation.
#[derive(Debug)]
pub(crate) enum PlaceError {
    /// Every instance is at its concurrency limit and it cannot grow.
    Overloaded { instances: usize },
    /// It has no instance and none could be started.
    NoInstance(EngineError),
}

/// The running instances of one service.
pub(crate) struct Service {
    pub(crate) spec: Arc<ServiceConfig>,
    pub(crate) stats: ServiceStats,
    /// Its methods, as its module exports them.
    pub(crate) info: ServiceInfo,
    short: RwLock<Vec<Arc<Instance>>>,
    long: RwLock<Vec<Arc<Instance>>>,
    max_instances: usize,
    spawning: Mutex<()>,
    next_id: Arc<AtomicU64>,
    epoch: Instant,
    /// Instances started beyond the first ones, for metrics.
    pub(crate) replications: AtomicU64,
}

impl Service {
    pub(crate) fn new(
        spec: ServiceConfig,
        workers: usize,
        next_id: Arc<AtomicU64>,
        epoch: Instant,
    ) -> Service {
        let max_instances = spec
            .max_instances
            .unwrap_or(workers)
            .max(spec.min_instances)
            .max(1);
        Service {
            spec: Arc::new(spec),
            stats: ServiceStats::default(),
            info: ServiceInfo {
                methods: Vec::new(),
                has_fetch: false,
            },
            short: RwLock::new(Vec::new()),
            long: RwLock::new(Vec::new()),
            max_instances,
            spawning: Mutex::new(()),
            next_id,
            epoch,
            replications: AtomicU64::new(0),
        }
    }

    /// Builds a service and starts its first instances (`min_instances`,
    /// at least one), learning its methods from the first. `previous` is
    /// the service it replaces in a reload: methods of the same name keep
    /// their counters (and their long/short class).
    pub(crate) fn load(
        engine: &dyn Engine,
        spec: ServiceConfig,
        workers: usize,
        next_id: Arc<AtomicU64>,
        epoch: Instant,
        previous: Option<&ServiceStats>,
    ) -> Result<Service, StartError> {
        let mut service = Service::new(spec, workers, next_id, epoch);
        for _ in 0..service.spec.min_instances.max(1) {
            let instance =
                service
                    .create(engine, Class::Short)
                    .map_err(|source| StartError::Load {
                        service: service.spec.name.clone(),
                        source,
                    })?;
            if service.instance_count() == 0
                && let Some(core) = instance.core().as_ref()
            {
                service.info = ServiceInfo {
                    methods: core.isolate.methods().to_vec(),
                    has_fetch: core.isolate.has_fetch(),
                };
            }
            service.add(instance);
        }
        let mut methods = service.info.methods.clone();
        methods.push(FETCH_METHOD.to_owned());
        service.stats = ServiceStats::new(&service.spec.name, methods, previous);
        Ok(service)
    }

    fn pool(&self, class: Class) -> &RwLock<Vec<Arc<Instance>>> {
        match class {
            Class::Short => &self.short,
            Class::Long => &self.long,
        }
    }

    /// Creates an instance (not yet registered for placement).
    pub(crate) fn create(
        &self,
        engine: &dyn Engine,
        class: Class,
    ) -> Result<Arc<Instance>, EngineError> {
        let isolate = engine.instantiate(&self.spec.isolate)?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(Instance::new(
            id,
            self.spec.clone(),
            class,
            isolate,
            self.epoch,
        )))
    }

    /// Registers an instance for placement.
    pub(crate) fn add(&self, instance: Arc<Instance>) {
        self.pool(instance.class).write().push(instance);
    }

    /// Removes an instance from placement.
    pub(crate) fn remove(&self, instance: &Arc<Instance>) {
        self.pool(instance.class)
            .write()
            .retain(|i| !Arc::ptr_eq(i, instance));
    }

    /// Number of running instances (both classes).
    pub(crate) fn instance_count(&self) -> usize {
        self.short.read().len() + self.long.read().len()
    }

    /// Every instance (both classes).
    pub(crate) fn instances(&self) -> Vec<Arc<Instance>> {
        let mut all = self.short.read().clone();
        all.extend(self.long.read().iter().cloned());
        all
    }

    /// Chooses the instance for a new invocation of `method`.
    pub(crate) fn place(
        &self,
        engine: &dyn Engine,
        method: &str,
        partitioning: bool,
        idle_workers: usize,
    ) -> Result<Arc<Instance>, PlaceError> {
        if partitioning && self.stats.method(method).is_long() {
            // A long method with no long instance yet (another thread is
            // starting the first one, or starting failed) runs on a short
            // instance rather than being refused.
            if let Ok(instance) = self.place_in(engine, Class::Long, idle_workers) {
                return Ok(instance);
            }
        }
        self.place_in(engine, Class::Short, idle_workers)
    }

    fn place_in(
        &self,
        engine: &dyn Engine,
        class: Class,
        idle_workers: usize,
    ) -> Result<Arc<Instance>, PlaceError> {
        let (decision, best) = CANDIDATES.with_borrow_mut(|candidates| {
            let pool = self.pool(class).read();
            candidates.clear();
            candidates.extend(pool.iter().map(|i| Candidate {
                load: i.load(),
                busy: i.mailbox.is_scheduled(),
            }));
            // Each class may have up to `max_instances`: long methods get
            // instances of their own even when short work filled the quota.
            let decision = policy::place(
                candidates,
                self.max_instances,
                self.spec.max_concurrency,
                idle_workers,
            );
            let best = candidates
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| (c.busy, c.load))
                .map(|(i, _)| pool[i].clone());
            let chosen = match decision {
                Placement::Use(i) => Some(pool[i].clone()),
                _ => None,
            };
            (decision, chosen.or(best))
        });
        match decision {
            Placement::Use(_) => best.ok_or(PlaceError::Overloaded { instances: 0 }),
            Placement::Overloaded => Err(PlaceError::Overloaded {
                instances: self.instance_count(),
            }),
            Placement::Grow => self.grow(engine, class, best),
        }
    }

    fn grow(
        &self,
        engine: &dyn Engine,
        class: Class,
        fallback: Option<Arc<Instance>>,
    ) -> Result<Arc<Instance>, PlaceError> {
        // One spawn at a time per service; others use the fallback.
        let Some(_guard) = self.spawning.try_lock() else {
            return fallback.ok_or(PlaceError::Overloaded { instances: 0 });
        };
        if self.pool(class).read().len() >= self.max_instances {
            return fallback.ok_or(PlaceError::Overloaded { instances: 0 });
        }
        match self.create(engine, class) {
            Ok(instance) => {
                tracing::debug!(service = %self.spec.name, instance = instance.id, ?class, "started another instance");
                self.replications.fetch_add(1, Ordering::Relaxed);
                self.add(instance.clone());
                Ok(instance)
            }
            Err(e) => {
                tracing::error!(service = %self.spec.name, "cannot start another instance: {e}");
                fallback.ok_or(PlaceError::NoInstance(e))
            }
        }
    }

    /// For a service a reload replaced: drops the instances that have had
    /// nothing in flight for `grace` (their work is done; timers hold only
    /// weak references, so whatever they had armed dies with them).
    /// Returns how many instances remain.
    pub(crate) fn release_idle(&self, now: Instant, grace: Duration) -> usize {
        let mut remaining = 0;
        for class in [Class::Short, Class::Long] {
            let mut pool = self.pool(class).write();
            pool.retain(|i| i.idle_for(now) < grace);
            remaining += pool.len();
        }
        remaining
    }

    /// Drops instances idle for long enough, down to `min_instances`
    /// (long-class instances down to none). Returns how many.
    pub(crate) fn reclaim(&self, now: Instant) -> usize {
        let mut reclaimed = 0;
        for (class, floor) in [
            (Class::Short, self.spec.min_instances.max(1)),
            (Class::Long, 0),
        ] {
            let mut pool = self.pool(class).write();
            let mut i = 0;
            while i < pool.len() {
                if policy::reclaimable(pool[i].idle_for(now), pool.len(), floor) {
                    let gone = pool.swap_remove(i);
                    tracing::debug!(service = %self.spec.name, instance = gone.id, "reclaimed an idle instance");
                    reclaimed += 1;
                } else {
                    i += 1;
                }
            }
        }
        reclaimed
    }
}
