//! A service's instances and the placement of new invocations on them
//! (the decisions themselves are in `policy.rs`).
//!
//! Placement never starts an isolate: it asks for one (`starter.rs` starts
//! it on its own thread) and meanwhile uses a running instance, or, when
//! the service has none it can use (the first long instance, a service whose
//! instances are all full), parks the invocation in the service's queue
//! for the instance being started ([`Service::enqueue`]). A service that may
//! grow keeps one *spare* isolate started ahead of need: growth takes it at
//! once, and the starter starts the next.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};

use crate::engine::{Engine, EngineError, FETCH_METHOD, IsolateConfig};

use super::instance::{Class, Instance};
use super::mailbox::Message;
use super::policy::{self, Candidate, Placement, Room};
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
    /// Every instance is at its concurrency limit, it cannot grow, and its
    /// queue is full.
    Overloaded { instances: usize },
}

/// Where a placed invocation goes.
pub(crate) enum Target {
    /// This instance's mailbox.
    Instance(Arc<Instance>),
    /// The service's queue, for the instance of this class being started.
    Wait(Class),
}

/// A placement: where the invocation goes, and whether to start another
/// instance of a class (the caller asks the starter).
pub(crate) struct Decision {
    pub(crate) target: Target,
    pub(crate) start: Option<Class>,
}

/// Invocations waiting for an instance of one class to start.
#[derive(Default)]
struct Waiting {
    messages: Mutex<VecDeque<Message>>,
    /// `messages.len()`, readable without the lock by placement.
    len: AtomicUsize,
}

/// The running instances of one service.
pub(crate) struct Service {
    pub(crate) spec: Arc<ServiceConfig>,
    pub(crate) stats: ServiceStats,
    /// Its methods, as its module exports them.
    pub(crate) info: ServiceInfo,
    short: RwLock<Vec<Arc<Instance>>>,
    long: RwLock<Vec<Arc<Instance>>>,
    pub(crate) max_instances: usize,
    /// Per class (short, long): whether an instance is being started.
    starting: [AtomicBool; 2],
    /// Per class: invocations waiting for that instance.
    waiting: [Waiting; 2],
    next_id: Arc<AtomicU64>,
    epoch: Instant,
    /// An isolate started ahead of need, not yet placed on (see
    /// `starter.rs`): the next growth of the short class takes it at once.
    spare: Mutex<Option<Arc<Instance>>>,
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
            starting: [AtomicBool::new(false), AtomicBool::new(false)],
            waiting: [Waiting::default(), Waiting::default()],
            next_id,
            epoch,
            spare: Mutex::new(None),
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

    /// Instances of one class.
    pub(crate) fn instances_of(&self, class: Class) -> Vec<Arc<Instance>> {
        self.pool(class).read().clone()
    }

    /// Chooses where a new invocation of `method` goes. `idle` is the
    /// number of threads with nothing to run that could run each class
    /// (short, long). Never blocks: an instance to start is only named in
    /// the decision.
    pub(crate) fn place(
        &self,
        method: &str,
        partitioning: bool,
        idle: [usize; 2],
    ) -> Result<Decision, PlaceError> {
        if partitioning && self.stats.method(method).is_long() {
            // Long instances full and their queue too: a short instance
            // takes it rather than anything being refused.
            if let Ok(decision) = self.place_in(Class::Long, idle[1]) {
                return Ok(decision);
            }
        }
        self.place_in(Class::Short, idle[0])
    }

    fn place_in(&self, class: Class, idle_workers: usize) -> Result<Decision, PlaceError> {
        let room = Room {
            max_instances: self.max_instances,
            max_concurrency: self.spec.max_concurrency,
            idle_workers,
            starting: self.starting[class as usize].load(Ordering::Acquire),
            waiting: self.waiting[class as usize].len.load(Ordering::Relaxed),
        };
        let (decision, chosen) = CANDIDATES.with_borrow_mut(|candidates| {
            let pool = self.pool(class).read();
            candidates.clear();
            candidates.extend(pool.iter().map(|i| Candidate {
                load: i.load(),
                busy: i.mailbox.is_scheduled(),
            }));
            // Each class may have up to `max_instances`: long methods get
            // instances of their own even when short work filled the quota.
            let decision = policy::place(candidates, room);
            let chosen = match decision {
                Placement::Use(i) | Placement::Grow { meanwhile: Some(i) } => pool.get(i).cloned(),
                _ => None,
            };
            (decision, chosen)
        });
        let target = match chosen {
            Some(instance) => Target::Instance(instance),
            None => Target::Wait(class),
        };
        match decision {
            Placement::Use(_) | Placement::Wait => Ok(Decision {
                target,
                start: None,
            }),
            Placement::Grow { .. } => {
                // One start at a time per class; if another placement
                // claimed it first, that start serves this one too.
                let claimed = self.starting[class as usize]
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                Ok(Decision {
                    target,
                    start: claimed.then_some(class),
                })
            }
            Placement::Overloaded => Err(PlaceError::Overloaded {
                instances: self.instance_count(),
            }),
        }
    }

    /// Parks an invocation until an instance of `class` is started; if
    /// one is running by now, gives it back with that instance instead.
    pub(crate) fn enqueue(
        &self,
        class: Class,
        message: Message,
    ) -> Option<(Arc<Instance>, Message)> {
        let waiting = &self.waiting[class as usize];
        let mut queue = waiting.messages.lock();
        // Checked under the queue's lock: the starter registers the new
        // instance before it empties the queue (`started`).
        if let Some(instance) = self.least_loaded(class) {
            return Some((instance, message));
        }
        queue.push_back(message);
        waiting.len.store(queue.len(), Ordering::Relaxed);
        None
    }

    /// The least-loaded running instance of a class.
    pub(crate) fn least_loaded(&self, class: Class) -> Option<Arc<Instance>> {
        self.pool(class)
            .read()
            .iter()
            .min_by_key(|i| (i.mailbox.is_scheduled(), i.load()))
            .cloned()
    }

    /// Whether a spare should be started: none is ready and the short
    /// class may still grow.
    pub(crate) fn wants_spare(&self) -> bool {
        self.spare.lock().is_none() && self.has_room(Class::Short)
    }

    /// Keeps `instance` (short, unregistered) as the spare.
    pub(crate) fn put_spare(&self, instance: Arc<Instance>) {
        *self.spare.lock() = Some(instance);
    }

    /// Takes the spare, if one is ready and `class` is short (a long
    /// instance is started for its class).
    pub(crate) fn take_spare(&self, class: Class) -> Option<Arc<Instance>> {
        match class {
            Class::Short => self.spare.lock().take(),
            Class::Long => None,
        }
    }

    /// Whether a spare is ready.
    pub(crate) fn has_spare(&self) -> bool {
        self.spare.lock().is_some()
    }

    /// Whether a start of `class` may create an instance (room left).
    pub(crate) fn has_room(&self, class: Class) -> bool {
        self.pool(class).read().len() < self.max_instances
    }

    /// A start of `class` is over (the instance, if any, registered with
    /// [`Service::add`] before): returns the invocations that waited for
    /// it.
    pub(crate) fn started(&self, class: Class) -> VecDeque<Message> {
        self.starting[class as usize].store(false, Ordering::Release);
        let waiting = &self.waiting[class as usize];
        let mut queue = waiting.messages.lock();
        waiting.len.store(0, Ordering::Relaxed);
        std::mem::take(&mut *queue)
    }

    /// Invocations waiting in the service's queue (both classes).
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
            .iter()
            .map(|w| w.len.load(Ordering::Relaxed))
            .sum()
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
