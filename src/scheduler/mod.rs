//! The scheduler: worker threads, instances, mailboxes and run queues.
//!
//! An isolate is single-threaded, so the unit of scheduling is an
//! **instance**: one isolate with one service's module loaded, plus a
//! mailbox of messages (start an invocation, the reply to a call
//! it made, a timer). An instance with messages is runnable and sits on
//! exactly one run queue. Workers — one thread per core by default
//! — take runnable instances, hand each message to the isolate, route the
//! effects the JavaScript produced (calls become invocations on other
//! instances, completions become replies), and put the instance down when
//! its mailbox is empty. An instance is owned by at most one worker at a
//! time and may run on any worker next time: load moves between cores in
//! microseconds without copying anything.
//!
//! A call from JavaScript is a mailbox push on the callee plus, if the
//! callee was idle, a push of the callee onto the caller's worker deque.
//! `Promise.all` over several calls therefore queues several callees at
//! once, and idle workers steal them: the fan-out runs in parallel.
//!
//! Above this mechanism sit the policies (all in `policy.rs`, as pure
//! functions): **replication** (a service whose least-loaded instance is
//! busy while a worker idles gets another instance; placement decides in
//! microseconds and takes the service's *spare*, an isolate started ahead
//! of need, or else the starter thread starts one off the placement path,
//! `starter.rs`; the new instance takes over half of the not-yet-started
//! backlog of its busiest sibling), **reclaiming** idle
//! instances, **execution-time-aware partitioning** (methods much slower
//! than the typical invocation run on their own instances, on backfill
//! threads at idle priority that use every core short work leaves, plus a
//! subset of workers reserved for them only when they starve, so short work
//! never waits behind them; `partitioning: false` turns it off), and
//! **overload** (past `max_concurrency` per instance, with no room to grow
//! and the service's queue full, invocations are refused with
//! [`OVERLOADED`]; partitioning itself never refuses). A review every
//! `policy::REVIEW_INTERVAL` reclassifies methods, resizes the reserved
//! long subset, reclaims idle instances and expires invocations past their
//! deadline in instances nobody is running. Turns are bounded by time
//! (`worker::TURN_SLICE`), and busy time is counted as it accrues.
//!
//! **Reloading** ([`Scheduler::stage`], [`Scheduler::commit`]): the
//! services are one immutable *generation*, swapped atomically. A reload
//! loads the services whose code or configuration changed (their
//! `ServiceConfig::fingerprint`) into new instances next to the running
//! ones; nothing changes if any fails to load. The commit swaps the
//! generation: new invocations go to the new instances at once, while the
//! replaced instances finish what they have in flight (replies, store
//! acknowledgements and timers reach them directly, not through the
//! generation) and are released by the review once idle.
//!
//! Files: `mailbox.rs` (the per-instance protocol), `queue.rs` (run queues
//! and who may push or steal), `idle.rs` (sleeping and waking workers),
//! `worker.rs` (the loop, the backfill threads and effect routing),
//! `instance.rs`, `service.rs` (placement of invocations on instances),
//! `starter.rs` (starting instances off the placement path), `policy.rs`
//! (the decisions), `stats.rs` (what is measured), `timer.rs`.

mod idle;
mod instance;
mod mailbox;
mod monitor;
mod park;
mod policy;
mod queue;
mod service;
mod starter;
mod stats;
mod task;
mod timer;
mod worker;

use std::collections::HashMap;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

pub use service::ServiceConfig;
#[cfg(test)]
pub(crate) use stats::LatencyBuckets;
pub use stats::{LATENCY_BUCKETS, LatencyCounts, latency_bucket_bounds};
pub use timer::Sleep;

use crate::engine::{
    CallId, Directory, Engine, EngineError, FETCH_METHOD, JsError, Payload, SharedDirectory,
    StoreRequest,
};
use crate::store::AnyNamespace;
use crate::value::Value;
use stats::ServiceStats;

use crate::io::Reactor;
use crate::outbound::Outbound;

use idle::Idle;
use instance::Instance;
use mailbox::{Message, ReplyTo};
use monitor::Monitor;
use park::Parker;
use queue::{RunQueue, Runnable};
use service::{PlaceError, Service, Target};
use starter::{Start, Starter};
use stats::{Ewma, WorkerStats};
use task::TaskList;
use timer::Timers;

/// The `name` of the error an invocation is refused with when its service
/// is overloaded (the gateway answers 503 for it).
pub const OVERLOADED: &str = "OverloadedError";

/// Longest chain of nested calls (A calls B calls C …). A cycle of calls
/// between services fails with a clear error at this depth instead of
/// growing without bound.
pub const MAX_CALL_DEPTH: u32 = 32;

/// Stack size of worker threads: room for QuickJS's 1 MiB JavaScript stack
/// limit plus the Rust frames around it.
const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// An instance of code a reload replaced is released once it has had
/// nothing in flight for this long. Its invocations have all been answered
/// by then; the grace covers `ctx.waitUntil` work that only awaits a timer
/// (a pending call or store operation holds the instance anyway).
const RETIRE_GRACE: Duration = Duration::from_secs(1);

/// Scheduler settings.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Worker threads; `0` means one per available core.
    pub workers: usize,
    /// Execution-time-aware partitioning (see the module docs).
    pub partitioning: bool,
    /// Keep one spare isolate started ahead of need for each service that
    /// may grow, so growth is immediate (see `starter.rs`). Costs one idle
    /// isolate per such service.
    pub spare_instances: bool,
    /// Pin each worker thread to a CPU of its own when the workers cover
    /// every CPU the process may use (see `worker.rs`; on by default: the
    /// scheduler benchmark's tails are several times better pinned).
    pub pin_workers: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            workers: 0,
            partitioning: true,
            spare_instances: true,
            pin_workers: true,
        }
    }
}

/// Why the scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A service's module failed to load.
    #[error("service \"{service}\": {source}")]
    Load {
        /// The service.
        service: String,
        /// What the engine said.
        #[source]
        source: EngineError,
    },
    /// Two services share a name.
    #[error("service \"{0}\" is defined twice")]
    Duplicate(String),
    /// Another reload was committed between this one's stage and commit.
    #[error("another reload changed the services while this one was loading; try again")]
    Raced,
    /// A thread could not be started.
    #[error("cannot start {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a service offers, as loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Callable exported functions, sorted.
    pub methods: Vec<String>,
    /// Whether the module's default export has a `fetch` handler.
    pub has_fetch: bool,
}

/// A snapshot of what the scheduler is doing (`/admin/status`, `/metrics`,
/// `pyrosome top`, tests). Counters are cumulative: rates are differences
/// between two snapshots over the difference of their `uptime_seconds`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// Seconds since the scheduler started, when the snapshot was taken.
    pub uptime_seconds: f64,
    /// Worker threads.
    pub workers: usize,
    /// Workers reserved for long-class instances (they take them before
    /// other work); 0 while long work fits in the CPU short work leaves,
    /// which the backfill threads give it. Without partitioning, all.
    pub long_workers: usize,
    /// Whether partitioning is on.
    pub partitioning: bool,
    /// Runnable instances waiting for a worker.
    pub queue_depth: usize,
    /// Workers asleep.
    pub sleeping_workers: usize,
    /// Seconds each worker spent running instances and tasks, counted up to
    /// now (a run in progress included).
    pub worker_busy_seconds: Vec<f64>,
    /// Backfill threads: they run long-class instances at idle priority on
    /// CPU time the workers leave (one per worker with partitioning, else
    /// none).
    #[serde(default)]
    pub backfill_threads: usize,
    /// Seconds each backfill thread spent running instances, counted up
    /// to now.
    #[serde(default)]
    pub backfill_busy_seconds: Vec<f64>,
    /// Smoothed CPU time of short methods per second (cores' worth), as the
    /// long/short split sees it.
    #[serde(default)]
    pub short_cores: f64,
    /// Smoothed CPU time of long methods per second (cores' worth).
    #[serde(default)]
    pub long_cores: f64,
    /// Smoothed share of CPU time taken by long methods.
    pub long_cpu_share: f64,
    /// Isolates discarded for exceeding a limit.
    pub faults: u64,
    /// Invocations refused as overloaded.
    pub overloads: u64,
    /// Methods that changed class.
    pub partition_changes: u64,
    /// The most recent class changes (at most [`PARTITION_LOG`]), oldest
    /// first.
    pub partition_log: Vec<PartitionChange>,
    /// Per service.
    pub services: Vec<ServiceStatus>,
}

/// How many class changes [`Status::partition_log`] keeps.
pub const PARTITION_LOG: usize = 32;

/// A method that the partitioning policy moved between the short and the
/// long class.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PartitionChange {
    /// When, in seconds since the scheduler started.
    pub at_seconds: f64,
    /// The service.
    pub service: String,
    /// The method.
    pub method: String,
    /// Whether it became long (else short).
    pub long: bool,
    /// Its average CPU time per invocation then, milliseconds.
    pub avg_cpu_ms: f64,
}

/// One instance in a [`ServiceStatus`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceStatus {
    /// Its id (unique within the scheduler).
    pub id: u64,
    /// Whether it is of the long class.
    pub long: bool,
    /// The worker that last ran it (instances move between workers: any
    /// worker may take a queued instance); `None` before its first run.
    pub worker: Option<usize>,
    /// Invocations in flight in it.
    pub in_flight: usize,
    /// Messages waiting in its mailbox.
    pub queued: usize,
}

/// One service in a [`Status`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ServiceStatus {
    /// Its name.
    pub name: String,
    /// Running instances (both classes).
    pub instances: usize,
    /// Of which run long methods.
    pub long_instances: usize,
    /// Instances started on demand since startup.
    pub replications: u64,
    /// Whether an isolate is started and ready for its next instance (a
    /// spare: not placed on, not counted in `instances`).
    #[serde(default)]
    pub spare: bool,
    /// Invocations in flight in its instances.
    pub in_flight: usize,
    /// Messages waiting in its instances' mailboxes.
    pub queued: usize,
    /// Invocations waiting in the service's own queue for an instance
    /// being started.
    #[serde(default)]
    pub waiting: usize,
    /// Instances of code a reload replaced, still finishing the
    /// invocations they had in flight.
    pub draining: usize,
    /// Its running instances, by id.
    pub placement: Vec<InstanceStatus>,
    /// Per method, sorted by name.
    pub methods: Vec<MethodStatus>,
}

/// One method in a [`ServiceStatus`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MethodStatus {
    /// Its name (`@fetch` for the HTTP handler).
    pub name: String,
    /// Invocations answered.
    pub completed: u64,
    /// Of which failed.
    pub failed: u64,
    /// Moving average of one invocation's CPU time, milliseconds.
    pub avg_cpu_ms: f64,
    /// Total CPU time, seconds.
    pub cpu_seconds: f64,
    /// Whether it is classified long.
    pub long: bool,
    /// Latency (placement to answer) of the answered invocations, in
    /// buckets.
    pub latency: LatencyCounts,
}

/// State shared by the workers, the timer thread and the handles.
pub(crate) struct Shared {
    /// Distinguishes schedulers in one process (for the thread-local queue).
    id: usize,
    queue: RunQueue,
    idle: Idle,
    /// The sockets, polled by the workers.
    reactor: Arc<Reactor>,
    /// Live tasks (see `task.rs`).
    tasks: TaskList,
    /// Watches for workers stuck in a long run (see `monitor.rs`).
    monitor: Monitor,
    /// The services taking new invocations (swapped by a reload).
    generation: ArcSwap<Generation>,
    /// Services a reload replaced or removed, whose instances still have
    /// work in flight.
    retired: Mutex<Vec<Arc<Service>>>,
    engine: Arc<dyn Engine>,
    /// For services loaded later (reloads).
    next_id: Arc<AtomicU64>,
    epoch: Instant,
    timers: OnceLock<Arc<Timers>>,
    stores: HashMap<String, AnyNamespace>,
    shutdown: AtomicBool,
    /// Worker count.
    worker_count: usize,
    /// Workers running an instance now.
    running: AtomicUsize,
    /// Long-class instances running now (on any thread).
    running_long: AtomicUsize,
    /// Workers with index below this take long-class instances.
    long_workers: AtomicUsize,
    partitioning: bool,
    /// Whether services keep a spare instance (`SchedulerConfig`).
    spare_instances: bool,
    /// Whether workers are pinned to CPUs (`SchedulerConfig`).
    pin_workers: bool,
    /// Smoothed share of CPU time that long methods take.
    long_share: Ewma,
    /// Smoothed CPU time per second of short and of long methods.
    short_cores: Ewma,
    long_cores: Ewma,
    /// When the review last measured them.
    last_review: Mutex<Instant>,
    /// Per-worker counters.
    workers: Vec<WorkerStats>,
    /// Per-backfill-thread counters.
    backfill: Vec<WorkerStats>,
    /// Starts instances off the placement path (see `starter.rs`).
    starter: OnceLock<Starter>,
    /// Isolates discarded for a fault (CPU budget, heap limit).
    faults: AtomicU64,
    /// Methods that changed class (short/long).
    partition_changes: AtomicU64,
    /// The latest of those changes (`Status::partition_log`).
    partition_log: Mutex<std::collections::VecDeque<PartitionChange>>,
    /// Invocations refused as overloaded.
    overloads: AtomicU64,
    /// The HTTP client behind `fetch()`.
    outbound: Arc<Outbound>,
}

static NEXT_SCHEDULER: AtomicUsize = AtomicUsize::new(1);

/// One set of services, with the directory their isolates see. Immutable:
/// a reload makes a new one.
pub(crate) struct Generation {
    services: FxHashMap<String, Arc<Service>>,
    directory: Directory,
}

/// What a reload changed (see [`Scheduler::stage`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReloadSummary {
    /// New services.
    pub added: Vec<String>,
    /// Services with new instances (their code or configuration changed,
    /// or the directory of services and methods every isolate sees did).
    pub replaced: Vec<String>,
    /// Services gone.
    pub removed: Vec<String>,
    /// Services whose running instances were kept.
    pub unchanged: Vec<String>,
}

impl ReloadSummary {
    /// Whether the reload changed no service.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.replaced.is_empty() && self.removed.is_empty()
    }
}

impl std::fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (what, names) in [
            ("added", &self.added),
            ("replaced", &self.replaced),
            ("removed", &self.removed),
            ("unchanged", &self.unchanged),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        }
        if parts.is_empty() {
            f.write_str("no services")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// Services loaded by [`Scheduler::stage`], not yet taking invocations.
pub struct Staged {
    /// The generation they were loaded against.
    base: Arc<Generation>,
    next: Generation,
    /// What committing changes.
    pub summary: ReloadSummary,
}

impl Staged {
    /// What a staged service offers (`None` for one not in the new set).
    pub fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.next.services.get(name).map(|s| &s.info)
    }
}

impl Shared {
    /// Puts a runnable on a run queue, waking a worker if one is needed.
    ///
    /// On a worker thread the runnable goes on that worker's own deque,
    /// and if nothing else is queued there no other worker is woken: this
    /// worker runs it next (run to completion — a request, the call it
    /// makes, the reply, the response — on one thread, with no wake-up of
    /// another). A second runnable queued behind it is work another worker
    /// could take, so then one is woken to steal it.
    fn schedule(&self, runnable: Runnable) {
        if let Runnable::Instance(instance) = &runnable
            && worker::is_long(instance)
        {
            self.queue.inject_long(instance.clone());
            self.idle
                .notify_long(self.long_workers.load(Ordering::Relaxed));
            return;
        }
        match worker::push_local(self.id, runnable) {
            Ok(0) => {}
            Ok(_) => self.idle.notify_one(),
            Err(runnable) => {
                self.queue.inject(runnable);
                self.idle.notify_one();
            }
        }
    }

    /// Puts a runnable whose turn ended with work left at the back of the
    /// global queue (or the long queue).
    fn requeue(&self, runnable: Runnable) {
        match runnable {
            Runnable::Instance(instance) if worker::is_long(&instance) => {
                self.queue.inject_long(instance);
                self.idle
                    .notify_long(self.long_workers.load(Ordering::Relaxed));
            }
            other => {
                self.queue.inject(other);
                self.idle.notify_one();
            }
        }
    }

    /// Nanoseconds since the scheduler started (for busy-time accounting).
    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Records a finished invocation's latency.
    fn observe(&self, inflight: &instance::Inflight) {
        let latency = inflight.placed.elapsed();
        inflight.stats.latency.record(latency.as_secs_f64());
        inflight.stats.latency_buckets.record(latency);
    }

    /// The periodic review (see the module docs).
    fn review(self: &Arc<Self>) {
        let now = Instant::now();
        if self.partitioning {
            let mut samples = Vec::new();
            let mut methods = Vec::new();
            let generation = self.generation.load();
            for service in generation.services.values() {
                for (name, m) in service.stats.methods() {
                    samples.push(policy::MethodSample {
                        cpu: m.cpu.get(),
                        samples: m.completed.load(Ordering::Relaxed),
                        long: m.is_long(),
                    });
                    methods.push((service.spec.name.as_str(), name, m));
                }
            }
            let classes = policy::classify(&samples);
            let (mut long_ns, mut total_ns) = (0u64, 0u64);
            let elapsed = {
                let mut last = self.last_review.lock();
                let elapsed = now.saturating_duration_since(*last);
                *last = now;
                elapsed
            };
            for ((service, name, m), long) in methods.iter().zip(classes) {
                if m.long.swap(long, Ordering::Relaxed) != long {
                    self.partition_changes.fetch_add(1, Ordering::Relaxed);
                    let mut log = self.partition_log.lock();
                    if log.len() == PARTITION_LOG {
                        log.pop_front();
                    }
                    log.push_back(PartitionChange {
                        at_seconds: self.epoch.elapsed().as_secs_f64(),
                        service: (*service).to_owned(),
                        method: (*name).to_owned(),
                        long,
                        avg_cpu_ms: m.cpu.get() * 1000.0,
                    });
                    drop(log);
                    tracing::info!(
                        service,
                        method = name,
                        avg_cpu_ms = m.cpu.get() * 1000.0,
                        "method is now {}",
                        if long {
                            "long: it runs on its own instances"
                        } else {
                            "short"
                        }
                    );
                }
                let ns = m.cpu_ns.load(Ordering::Relaxed);
                let delta = ns.saturating_sub(m.reviewed_ns.swap(ns, Ordering::Relaxed));
                total_ns += delta;
                if long {
                    long_ns += delta;
                }
            }
            if total_ns > 0 {
                self.long_share.record(long_ns as f64 / total_ns as f64);
            }
            if !elapsed.is_zero() {
                let secs = elapsed.as_secs_f64() * 1e9;
                self.short_cores.record((total_ns - long_ns) as f64 / secs);
                self.long_cores.record(long_ns as f64 / secs);
            }
            let demand = policy::Demand {
                short_cores: self.short_cores.get(),
                long_cores: self.long_cores.get(),
                long_share: self.long_share.get(),
                long_starved: self.long_starved(&generation, now),
            };
            let k = policy::long_workers(self.worker_count, demand);
            if self.long_workers.swap(k, Ordering::Relaxed) != k {
                tracing::debug!(?demand, "workers reserved for long work: {k}");
            }
        }
        for service in self.generation.load().services.values() {
            if service.reclaim(now) > 0 {
                // Room to grow again: it may want its spare back.
                self.ask_for_spare(service);
            }
            self.expire_idle(service, now);
        }
        let retired: Vec<Arc<Service>> = self.retired.lock().clone();
        if !retired.is_empty() {
            let mut released = Vec::new();
            for service in &retired {
                self.expire_idle(service, now);
                if service.release_idle(now, RETIRE_GRACE) == 0 {
                    released.push(service.clone());
                }
            }
            if !released.is_empty() {
                self.retired
                    .lock()
                    .retain(|s| !released.iter().any(|r| Arc::ptr_eq(r, s)));
                for service in released {
                    tracing::debug!(
                        service = %service.spec.name,
                        "the instances of the replaced code finished their work and stopped"
                    );
                }
            }
        }
    }

    /// Whether an invocation of a long method has waited to start longer
    /// than `policy::LONG_STARVATION`.
    fn long_starved(&self, generation: &Generation, now: Instant) -> bool {
        generation.services.values().any(|service| {
            service
                .instances_of(instance::Class::Long)
                .iter()
                .filter_map(|i| i.mailbox.oldest_invoke())
                .any(|placed| now.saturating_duration_since(placed) > policy::LONG_STARVATION)
        })
    }

    /// Fails the overdue invocations of `service`'s instances that nobody
    /// is running (a running one checks its own at the end of its turn).
    fn expire_idle(self: &Arc<Self>, service: &Service, now: Instant) {
        for instance in service.instances() {
            if let Some(mut core) = instance.try_core()
                && let Some(core) = core.as_mut()
            {
                worker::expire(self, &instance, core, now);
            }
        }
    }

    /// Stops placing invocations on `service` (a reload replaced or
    /// removed it); its instances finish what they have in flight.
    fn retire(&self, service: Arc<Service>) {
        let in_flight: usize = service.instances().iter().map(|i| i.load()).sum();
        tracing::debug!(
            service = %service.spec.name,
            in_flight,
            "old instances finish the invocations they have in flight, then stop"
        );
        self.retired.lock().push(service);
    }

    /// Delivers a message, scheduling the instance if it was idle.
    fn deliver(&self, instance: &Arc<Instance>, message: Message) {
        if instance.mailbox.push(message) {
            self.schedule(Runnable::Instance(instance.clone()));
        }
    }

    /// Starts an invocation of `service.method`, answering `reply`. Its
    /// deadline is the service's timeout from now, or the caller's
    /// `deadline` if that is sooner.
    #[allow(clippy::too_many_arguments)]
    fn invoke(
        &self,
        service: &str,
        method: String,
        arg: Payload,
        reply: ReplyTo,
        depth: u32,
        deadline: Option<Instant>,
        trace: Option<crate::trace::Link>,
    ) {
        let generation = self.generation.load();
        let Some(pool) = generation.services.get(service) else {
            let error = JsError::new("TypeError", format!("unknown service \"{service}\""));
            self.reply(reply, Err(error));
            return;
        };
        self.invoke_on(pool, method, arg, reply, depth, deadline, trace);
    }

    /// [`Shared::invoke`] on a service already looked up.
    #[allow(clippy::too_many_arguments)]
    fn invoke_on(
        &self,
        pool: &Arc<Service>,
        method: String,
        arg: Payload,
        reply: ReplyTo,
        depth: u32,
        deadline: Option<Instant>,
        trace: Option<crate::trace::Link>,
    ) {
        let service = pool.spec.name.as_str();
        let idle_short = self
            .worker_count
            .saturating_sub(self.running.load(Ordering::Relaxed));
        // Long work may use every core (the backfill threads).
        let idle_long = self
            .worker_count
            .saturating_sub(self.running_long.load(Ordering::Relaxed));
        let decision = match pool.place(&method, self.partitioning, [idle_short, idle_long]) {
            Ok(decision) => decision,
            Err(PlaceError::Overloaded { instances }) => {
                self.overloads.fetch_add(1, Ordering::Relaxed);
                let why = if instances == 0 {
                    "it has no instance ready".to_owned()
                } else {
                    format!(
                        "{instances} instances, each with {} invocations in flight",
                        pool.spec.max_concurrency
                    )
                };
                let error = JsError::new(
                    OVERLOADED,
                    format!(
                        "{service}.{method}: the service is overloaded ({why}); try again later"
                    ),
                )
                .at(service, &method);
                if let Some(link) = &trace {
                    crate::trace::refused(link, service, &method, &error);
                }
                self.reply(reply, Err(error));
                return;
            }
        };
        let placed = Instant::now();
        let own = placed + pool.spec.timeout;
        let deadline = deadline.map_or(own, |d| d.min(own));
        let stats = pool.stats.method(&method).clone();
        let inflight = instance::Inflight {
            reply,
            depth,
            stats,
            method,
            deadline,
            placed,
            cpu: std::time::Duration::ZERO,
            trace: trace.map(crate::trace::Invocation::new),
        };
        let message = Message::Invoke { arg, inflight };
        // Placement decided the service grows (and claimed the start): the
        // spare, if one is ready, is put into service on the spot and runs
        // this invocation; else the starter starts an instance while this
        // invocation waits on a running one or in the service's queue.
        if let Some(spare) = decision.start.and_then(|class| pool.take_spare(class)) {
            tracing::debug!(service = %pool.spec.name, instance = spare.id, "the spare instance took work");
            self.activate(pool, spare.clone());
            self.deliver_invoke(&spare, message);
            self.ask_for_spare(pool);
            return;
        }
        match decision.target {
            Target::Instance(instance) => self.deliver_invoke(&instance, message),
            Target::Wait(class) => {
                if let Some((instance, message)) = pool.enqueue(class, message) {
                    self.deliver_invoke(&instance, message);
                }
            }
        }
        if let Some(class) = decision.start
            && let Some(starter) = self.starter.get()
        {
            starter.request(pool.clone(), Start::Instance(class));
        }
    }

    /// Asks the starter for a spare for `service`, if it keeps one and
    /// none is ready.
    fn ask_for_spare(&self, service: &Arc<Service>) {
        if self.spare_instances
            && service.wants_spare()
            && let Some(starter) = self.starter.get()
        {
            starter.request(service.clone(), Start::Spare);
        }
    }

    /// On the starter thread: starts a spare for `service` (unless one is
    /// ready or the service cannot grow any more).
    fn start_spare(&self, service: &Arc<Service>) {
        if !service.wants_spare() {
            return;
        }
        match service.create(self.engine.as_ref(), instance::Class::Short) {
            Ok(instance) => service.put_spare(instance),
            Err(e) => {
                tracing::error!(service = %service.spec.name, "cannot start a spare instance: {e}");
            }
        }
    }

    /// Puts a new instance of `service` into service: registers it, gives
    /// it the invocations that waited for it and half of its busiest
    /// sibling's backlog, in one delivery.
    fn activate(&self, service: &Arc<Service>, instance: Arc<Instance>) {
        service.replications.fetch_add(1, Ordering::Relaxed);
        instance.idle_from_now();
        service.add(instance.clone());
        let mut messages: Vec<Message> = service.started(instance.class).into();
        messages.extend(self.take_backlog(service, &instance));
        self.deliver_invokes(&instance, messages);
    }

    /// Delivers an invocation to the instance that will run it.
    fn deliver_invoke(&self, instance: &Arc<Instance>, message: Message) {
        instance.add_load();
        self.deliver(instance, message);
    }

    /// Delivers invocations to the instance that will run them, all at once:
    /// it is scheduled after the last is in its mailbox. (One at a time, a
    /// worker woken by the first push could run the instance dry and
    /// preempt the delivering thread before the second: a new instance
    /// trickled through a moved backlog one invocation per round trip.)
    fn deliver_invokes(&self, instance: &Arc<Instance>, messages: Vec<Message>) {
        instance.add_loads(messages.len());
        if instance.mailbox.push_all(messages) {
            self.schedule(Runnable::Instance(instance.clone()));
        }
    }

    /// On the starter thread: starts an instance of `class` for `service`
    /// (asked for by placement), gives it the invocations that waited for
    /// it, and moves half of its busiest sibling's backlog to it.
    fn start_instance(&self, service: &Arc<Service>, class: instance::Class) {
        // A spare made ready since placement asked is as good as a new one.
        let created = service
            .has_room(class)
            .then(|| match service.take_spare(class) {
                Some(spare) => Ok(spare),
                None => service.create(self.engine.as_ref(), class),
            });
        let instance = match created {
            Some(Ok(instance)) => {
                tracing::debug!(service = %service.spec.name, instance = instance.id, ?class, "started another instance");
                Some(instance)
            }
            Some(Err(e)) => {
                tracing::error!(service = %service.spec.name, "cannot start another instance: {e}");
                None
            }
            None => None,
        };
        match instance {
            Some(instance) => {
                self.activate(service, instance);
                self.ask_for_spare(service);
            }
            None => {
                let waited = service.started(class);
                // No new instance: the waiting invocations go to a running
                // one (a long method's to a short instance), or fail.
                for message in waited {
                    let target = service
                        .least_loaded(class)
                        .or_else(|| service.least_loaded(instance::Class::Short));
                    match target {
                        Some(instance) => self.deliver_invoke(&instance, message),
                        None => {
                            if let Message::Invoke { inflight, .. } = message {
                                let name = &service.spec.name;
                                let error = JsError::new(
                                    "Error",
                                    format!(
                                        "{name}.{}: the service has no running instance and \
                                         none could be started",
                                        inflight.method
                                    ),
                                )
                                .at(name, &inflight.method);
                                self.reply(inflight.reply, Err(error));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Takes not-yet-started invocations from the sibling of `new` with the
    /// most of them queued, for `new` (`policy::rebalance` says how many).
    fn take_backlog(&self, service: &Service, new: &Arc<Instance>) -> Vec<Message> {
        let victim = service
            .instances_of(new.class)
            .into_iter()
            .filter(|i| !Arc::ptr_eq(i, new))
            .map(|i| (i.mailbox.queued_invokes(), i))
            .max_by_key(|(queued, _)| *queued);
        let Some((queued, victim)) = victim else {
            return Vec::new();
        };
        let moved = victim.mailbox.steal_invokes(policy::rebalance(queued));
        if moved.is_empty() {
            return moved;
        }
        victim.sub_load(moved.len());
        tracing::debug!(
            service = %service.spec.name,
            from = victim.id,
            to = new.id,
            moved = moved.len(),
            "moved queued invocations to a new instance"
        );
        moved
    }

    /// Performs a store operation for `instance`, answering with a reply to
    /// `call`. On the embedded store, reads are answered at once and writes
    /// when the store acknowledges them (after the fsync for durable
    /// stores); on a database server (PostgreSQL), every operation is
    /// answered from its client thread, by `deadline` at the latest.
    fn store(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        call: CallId,
        name: &str,
        request: StoreRequest,
        deadline: Instant,
    ) {
        let ns = match self.stores.get(name) {
            None => {
                let error = JsError::new("Error", format!("store \"{name}\" is not open"));
                self.deliver(
                    instance,
                    Message::Reply {
                        call,
                        result: Err(error),
                    },
                );
                return;
            }
            Some(AnyNamespace::Postgres(ns)) => {
                let shared = Arc::downgrade(self);
                let instance = instance.clone();
                crate::engine::store_ops::remote(
                    ns,
                    name,
                    request,
                    deadline,
                    Box::new(move |result| {
                        if let Some(shared) = shared.upgrade() {
                            let result = result.map(Payload::Value);
                            shared.deliver(&instance, Message::Reply { call, result });
                        }
                    }),
                );
                return;
            }
            Some(AnyNamespace::Embedded(ns)) => ns,
        };
        if let Some(result) = crate::engine::store_ops::read(ns, name, &request) {
            let result = result.map(Payload::Value);
            self.deliver(instance, Message::Reply { call, result });
            return;
        }
        if let StoreRequest::Write(batch) = request {
            let shared = self.clone();
            let instance = instance.clone();
            let name = name.to_owned();
            ns.write(
                batch,
                Box::new(move |outcome| {
                    let result = outcome
                        .map(|o| Payload::Value(crate::engine::store_ops::outcome_value(o)))
                        .map_err(|e| JsError::new("Error", format!("store \"{name}\": {e}")));
                    shared.deliver(&instance, Message::Reply { call, result });
                }),
            );
        }
    }

    /// Sends a result where it is wanted.
    fn reply(&self, reply: ReplyTo, result: Result<Payload, JsError>) {
        match reply {
            ReplyTo::Caller { instance, call } => {
                self.deliver(&instance, Message::Reply { call, result });
            }
            ReplyTo::External(sender) => {
                let result = result.and_then(|p| {
                    p.into_value()
                        .map_err(|e| JsError::new("InternalError", e.to_string()))
                });
                // The receiver may have given up (client went away): fine.
                let _ = sender.send(result);
            }
        }
    }
}

/// A running scheduler. Dropping it stops the workers.
pub struct Scheduler {
    shared: Arc<Shared>,
    /// Registered with the engine watchdog; dropped with the scheduler.
    _tick: Arc<crate::engine::TickHook>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    workers: usize,
}

impl Scheduler {
    /// Loads every service (its `min_instances`), publishes the directory of
    /// services and methods to the isolates through `directory` (the same
    /// cell the specs' isolate configs hold), and starts the workers.
    /// `stores` are the open namespaces the services' grants name.
    pub fn start(
        engine: Arc<dyn Engine>,
        specs: Vec<ServiceConfig>,
        directory: SharedDirectory,
        stores: HashMap<String, AnyNamespace>,
        config: &SchedulerConfig,
    ) -> Result<Scheduler, StartError> {
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let next_id = Arc::new(AtomicU64::new(1));
        let epoch = Instant::now();
        let mut services = FxHashMap::default();
        let mut dir = Directory::new();
        for spec in specs {
            let name = spec.name.clone();
            if services.contains_key(&name) {
                return Err(StartError::Duplicate(name));
            }
            let pool = Service::load(engine.as_ref(), spec, workers, next_id.clone(), epoch, None)?;
            dir.insert(name.clone(), pool.info.methods.clone());
            services.insert(name, Arc::new(pool));
        }
        // A cell already set (a restart with the same configs) keeps its
        // value, which describes the same services.
        let _ = directory.set(dir.clone());

        let reactor = Reactor::new().map_err(|source| StartError::Thread {
            what: "the socket poller for a",
            source,
        })?;
        let parkers: Vec<Parker> = (0..workers).map(|_| Parker::new(reactor.clone())).collect();
        // With partitioning, one backfill thread per worker: long work may
        // use every core (see `worker.rs`).
        let backfills = if config.partitioning { workers } else { 0 };
        let backfill_parkers: Vec<Parker> =
            (0..backfills).map(|_| Parker::without_reactor()).collect();
        let all_parkers: Vec<Parker> = parkers
            .iter()
            .chain(backfill_parkers.iter())
            .map(Parker::share)
            .collect();
        let (queue, locals) = RunQueue::new(workers);
        let shared = Arc::new(Shared {
            id: NEXT_SCHEDULER.fetch_add(1, Ordering::Relaxed),
            queue,
            idle: Idle::new(&all_parkers, workers),
            reactor,
            tasks: TaskList::default(),
            monitor: Monitor::new(workers),
            generation: ArcSwap::from_pointee(Generation {
                services,
                directory: dir,
            }),
            retired: Mutex::new(Vec::new()),
            engine,
            next_id,
            epoch,
            timers: OnceLock::new(),
            stores,
            shutdown: AtomicBool::new(false),
            worker_count: workers,
            running: AtomicUsize::new(0),
            running_long: AtomicUsize::new(0),
            long_workers: AtomicUsize::new(if config.partitioning {
                policy::long_workers(workers, policy::Demand::default())
            } else {
                workers
            }),
            partitioning: config.partitioning,
            spare_instances: config.spare_instances,
            pin_workers: config.pin_workers,
            long_share: Ewma::default(),
            short_cores: Ewma::default(),
            long_cores: Ewma::default(),
            last_review: Mutex::new(Instant::now()),
            workers: (0..workers).map(|_| WorkerStats::default()).collect(),
            backfill: (0..backfills).map(|_| WorkerStats::default()).collect(),
            starter: OnceLock::new(),
            faults: AtomicU64::new(0),
            partition_changes: AtomicU64::new(0),
            partition_log: Mutex::default(),
            overloads: AtomicU64::new(0),
            outbound: Arc::new(Outbound::new()),
        });
        let weak = Arc::downgrade(&shared);
        let weak_review = Arc::downgrade(&shared);
        let timers = Timers::start(
            move |instance, id| {
                if let Some(shared) = weak.upgrade() {
                    shared.deliver(&instance, Message::Timer(id));
                }
            },
            policy::REVIEW_INTERVAL,
            move || {
                if let Some(shared) = weak_review.upgrade() {
                    shared.review();
                }
            },
        )
        .map_err(|source| StartError::Thread {
            what: "timer",
            source,
        })?;
        let _ = shared.timers.set(Arc::new(timers));
        let weak = Arc::downgrade(&shared);
        let starter = Starter::start(move |service, what| {
            if let Some(shared) = weak.upgrade() {
                match what {
                    Start::Instance(class) => shared.start_instance(&service, class),
                    Start::Spare => shared.start_spare(&service),
                }
            }
        })
        .map_err(|source| StartError::Thread {
            what: "instance starter",
            source,
        })?;
        let _ = shared.starter.set(starter);
        for service in shared.generation.load().services.values() {
            shared.ask_for_spare(service);
        }

        let weak = Arc::downgrade(&shared);
        let tick: Arc<crate::engine::TickHook> = Arc::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.monitor.tick(&shared);
            }
        });
        crate::engine::on_tick(&tick);
        let scheduler = Scheduler {
            shared: shared.clone(),
            _tick: tick,
            threads: Mutex::new(Vec::new()),
            workers,
        };
        for (local, parker) in locals.into_iter().zip(parkers) {
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("pyrosome-worker-{}", local.index()))
                .stack_size(WORKER_STACK_BYTES)
                .spawn(move || worker::run(shared, local, parker))
                .map_err(|source| StartError::Thread {
                    what: "worker",
                    source,
                })?;
            scheduler.threads.lock().push(thread);
        }
        for (slot, parker) in backfill_parkers.into_iter().enumerate() {
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("pyrosome-backfill-{slot}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn(move || worker::backfill(shared, slot, workers + slot, parker))
                .map_err(|source| StartError::Thread {
                    what: "backfill",
                    source,
                })?;
            scheduler.threads.lock().push(thread);
        }
        Ok(scheduler)
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// What a service offers, or `None` for an unknown service.
    pub fn service(&self, name: &str) -> Option<ServiceInfo> {
        self.shared
            .generation
            .load()
            .services
            .get(name)
            .map(|s| s.info.clone())
    }

    /// The directory of services and methods.
    pub fn directory(&self) -> Directory {
        self.shared.generation.load().directory.clone()
    }

    /// Running instances of a service (0 for an unknown one), not counting
    /// instances of replaced code that are still finishing their work.
    pub fn instance_count(&self, service: &str) -> usize {
        self.shared
            .generation
            .load()
            .services
            .get(service)
            .map_or(0, |s| s.instance_count())
    }

    /// Loads the services of a reload next to the running ones, without
    /// changing what runs: `configs` is the whole new set. A service whose
    /// [`ServiceConfig::fingerprint`] is unchanged keeps its instances;
    /// the others (and new ones) get new instances, started here (on the
    /// calling thread). If the reload changes the directory of services
    /// and methods (a service added or removed, methods changed), every
    /// service gets new instances: each isolate keeps the directory it
    /// started with. An error (a module that does not load) leaves
    /// everything as it was.
    pub fn stage(&self, configs: Vec<ServiceConfig>) -> Result<Staged, StartError> {
        let shared = &self.shared;
        let base = shared.generation.load_full();
        let cell: SharedDirectory = Arc::new(OnceLock::new());
        let mut summary = ReloadSummary::default();
        let mut services: FxHashMap<String, Arc<Service>> = FxHashMap::default();
        let mut kept = Vec::new();
        let load = |mut config: ServiceConfig, previous: Option<&ServiceStats>| {
            config.isolate.directory = cell.clone();
            Service::load(
                shared.engine.as_ref(),
                config,
                self.workers,
                shared.next_id.clone(),
                shared.epoch,
                previous,
            )
            .map(Arc::new)
        };
        for config in configs {
            let name = config.name.clone();
            if services.contains_key(&name)
                || kept.iter().any(|k: &Arc<Service>| k.spec.name == name)
            {
                return Err(StartError::Duplicate(name));
            }
            match base.services.get(&name) {
                Some(old) if old.spec.fingerprint == config.fingerprint => kept.push(old.clone()),
                Some(old) => {
                    services.insert(name.clone(), load(config, Some(&old.stats))?);
                    summary.replaced.push(name);
                }
                None => {
                    services.insert(name.clone(), load(config, None)?);
                    summary.added.push(name);
                }
            }
        }
        let mut directory = Directory::new();
        for service in services.values().chain(kept.iter()) {
            directory.insert(service.spec.name.clone(), service.info.methods.clone());
        }
        let same_directory = directory == base.directory;
        for old in kept {
            let name = old.spec.name.clone();
            if same_directory {
                services.insert(name.clone(), old);
                summary.unchanged.push(name);
            } else {
                services.insert(name.clone(), load((*old.spec).clone(), Some(&old.stats))?);
                summary.replaced.push(name);
            }
        }
        let _ = cell.set(directory.clone());
        // Removed services stay reachable until `retire_removed`, so a
        // route the app still points at never finds nothing.
        for (name, old) in &base.services {
            if !services.contains_key(name) {
                services.insert(name.clone(), old.clone());
                summary.removed.push(name.clone());
            }
        }
        for list in [
            &mut summary.added,
            &mut summary.replaced,
            &mut summary.removed,
            &mut summary.unchanged,
        ] {
            list.sort();
        }
        Ok(Staged {
            base,
            next: Generation {
                services,
                directory,
            },
            summary,
        })
    }

    /// Puts staged services to work: new invocations go to them from now
    /// on; the instances they replace finish what they have in flight,
    /// then stop. Services the reload removes keep taking invocations
    /// until [`Scheduler::retire_removed`]. Fails if another reload was
    /// committed since `staged` was loaded.
    pub fn commit(&self, staged: Staged) -> Result<ReloadSummary, StartError> {
        let Staged {
            base,
            next,
            summary,
        } = staged;
        let next = Arc::new(next);
        let previous = self.shared.generation.compare_and_swap(&base, next.clone());
        if !Arc::ptr_eq(&previous, &base) {
            return Err(StartError::Raced);
        }
        for (name, old) in &base.services {
            match next.services.get(name) {
                Some(new) if Arc::ptr_eq(new, old) => {}
                _ => self.shared.retire(old.clone()),
            }
        }
        for (name, new) in &next.services {
            if !base
                .services
                .get(name)
                .is_some_and(|old| Arc::ptr_eq(old, new))
            {
                self.shared.ask_for_spare(new);
            }
        }
        Ok(summary)
    }

    /// Stops placing invocations on the services a committed reload
    /// removed (see [`Scheduler::commit`]); their instances finish what
    /// they have in flight.
    pub fn retire_removed(&self, summary: &ReloadSummary) {
        if summary.removed.is_empty() {
            return;
        }
        let current = self.shared.generation.load_full();
        let mut services = current.services.clone();
        services.retain(|name, _| !summary.removed.contains(name));
        let next = Arc::new(Generation {
            services,
            directory: current.directory.clone(),
        });
        let previous = self.shared.generation.compare_and_swap(&current, next);
        if Arc::ptr_eq(&previous, &current) {
            for name in &summary.removed {
                if let Some(old) = current.services.get(name) {
                    self.shared.retire(old.clone());
                }
            }
        }
    }

    /// Invokes `service.method(arg)` from outside (a request, the CLI, a
    /// test). The receiver yields the result; it works from async code
    /// (`.await`) and from threads (`blocking_recv`). An unknown service or
    /// method is refused at once.
    pub fn invoke(
        &self,
        service: &str,
        method: &str,
        arg: Value,
    ) -> oneshot::Receiver<Result<Value, JsError>> {
        self.invoke_traced(service, method, arg, None)
    }

    /// [`Scheduler::invoke`] as part of a trace: the invocation's span
    /// hangs under `trace` (see [`crate::trace`]).
    pub fn invoke_traced(
        &self,
        service: &str,
        method: &str,
        arg: Value,
        trace: Option<crate::trace::Link>,
    ) -> oneshot::Receiver<Result<Value, JsError>> {
        let (tx, rx) = oneshot::channel();
        let generation = self.shared.generation.load();
        let pool = generation.services.get(service);
        let known = match pool.map(|p| (p, &p.info)) {
            None => Err(format!(
                "unknown service \"{service}\" (services: {})",
                generation
                    .directory
                    .services()
                    .map(|(s, _)| s)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some((_, info)) if method == FETCH_METHOD && !info.has_fetch => {
                Err(format!("service \"{service}\" has no fetch handler"))
            }
            Some((_, info))
                if method != FETCH_METHOD && !info.methods.iter().any(|m| m == method) =>
            {
                Err(format!(
                    "service \"{service}\" has no method \"{method}\" (its methods: {})",
                    info.methods.join(", ")
                ))
            }
            Some((pool, _)) => Ok(pool),
        };
        match known {
            Ok(pool) => self.shared.invoke_on(
                pool,
                method.to_owned(),
                Payload::Value(arg),
                ReplyTo::External(tx),
                1,
                None,
                trace,
            ),
            Err(message) => {
                let _ = tx.send(Err(JsError::new("TypeError", message)));
            }
        }
        rx
    }

    /// A snapshot of the scheduler's state and counters.
    pub fn status(&self) -> Status {
        let shared = &self.shared;
        let now = shared.now_ns();
        let mut draining: HashMap<String, usize> = HashMap::new();
        for svc in shared.retired.lock().iter() {
            *draining.entry(svc.spec.name.clone()).or_default() += svc.instance_count();
        }
        let generation = shared.generation.load();
        let mut services: Vec<ServiceStatus> = generation
            .services
            .values()
            .map(|svc| {
                let instances = svc.instances();
                let mut methods: Vec<MethodStatus> = svc
                    .stats
                    .methods()
                    .map(|(name, m)| MethodStatus {
                        name: name.to_owned(),
                        completed: m.completed.load(Ordering::Relaxed),
                        failed: m.failed.load(Ordering::Relaxed),
                        avg_cpu_ms: m.cpu.get() * 1000.0,
                        cpu_seconds: m.cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
                        long: m.is_long(),
                        latency: m.latency_buckets.snapshot(),
                    })
                    .collect();
                methods.sort_by(|a, b| a.name.cmp(&b.name));
                let mut placement: Vec<InstanceStatus> = instances
                    .iter()
                    .map(|i| InstanceStatus {
                        id: i.id,
                        long: worker::is_long(i),
                        worker: i.last_worker(),
                        in_flight: i.load(),
                        queued: i.mailbox.len(),
                    })
                    .collect();
                placement.sort_by_key(|i| i.id);
                ServiceStatus {
                    name: svc.spec.name.clone(),
                    instances: instances.len(),
                    long_instances: instances.iter().filter(|i| worker::is_long(i)).count(),
                    replications: svc.replications.load(Ordering::Relaxed),
                    spare: svc.has_spare(),
                    in_flight: instances.iter().map(|i| i.load()).sum(),
                    queued: instances.iter().map(|i| i.mailbox.len()).sum(),
                    waiting: svc.waiting(),
                    draining: draining.remove(&svc.spec.name).unwrap_or(0),
                    placement,
                    methods,
                }
            })
            .collect();
        // Removed services whose instances still finish their work.
        services.extend(draining.into_iter().map(|(name, n)| ServiceStatus {
            name,
            instances: 0,
            long_instances: 0,
            replications: 0,
            spare: false,
            in_flight: 0,
            queued: 0,
            waiting: 0,
            draining: n,
            placement: Vec::new(),
            methods: Vec::new(),
        }));
        services.sort_by(|a, b| a.name.cmp(&b.name));
        Status {
            uptime_seconds: shared.epoch.elapsed().as_secs_f64(),
            workers: shared.worker_count,
            long_workers: shared.long_workers.load(Ordering::Relaxed),
            partitioning: shared.partitioning,
            queue_depth: shared.queue.depth(),
            sleeping_workers: shared.idle.sleeping(),
            worker_busy_seconds: shared
                .workers
                .iter()
                .map(|w| w.busy_ns_at(now) as f64 / 1e9)
                .collect(),
            backfill_threads: shared.backfill.len(),
            backfill_busy_seconds: shared
                .backfill
                .iter()
                .map(|w| w.busy_ns_at(now) as f64 / 1e9)
                .collect(),
            short_cores: shared.short_cores.get(),
            long_cores: shared.long_cores.get(),
            long_cpu_share: shared.long_share.get(),
            faults: shared.faults.load(Ordering::Relaxed),
            overloads: shared.overloads.load(Ordering::Relaxed),
            partition_changes: shared.partition_changes.load(Ordering::Relaxed),
            partition_log: shared.partition_log.lock().iter().cloned().collect(),
            services,
        }
    }

    /// Names of all services, sorted.
    pub fn service_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .shared
            .generation
            .load()
            .services
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// The sockets the workers poll: register listeners and streams here
    /// (see [`crate::io`]) and their tasks run on the workers.
    pub fn reactor(&self) -> &Arc<Reactor> {
        &self.shared.reactor
    }

    /// Runs `future` on the workers, as a task beside the instances (see
    /// `task.rs`). It is dropped unfinished if the scheduler stops first.
    pub fn spawn(&self, future: impl std::future::Future<Output = ()> + Send + 'static) {
        task::spawn(&self.shared, future);
    }

    /// A future that is ready after `duration` (for tasks: it is woken by
    /// the scheduler's timer thread).
    pub fn sleep(&self, duration: std::time::Duration) -> Sleep {
        self.sleep_until(Instant::now() + duration)
    }

    /// A future that is ready at `due` (see [`Scheduler::sleep`]).
    pub fn sleep_until(&self, due: Instant) -> Sleep {
        match self.shared.timers.get() {
            Some(timers) => timers.sleep_until(due),
            None => Sleep::never(due),
        }
    }

    /// Tasks spawned and not finished.
    pub fn live_tasks(&self) -> usize {
        self.shared.tasks.len()
    }

    /// Stops the workers and the timer thread. In-flight invocations are
    /// abandoned (their receivers see a closed channel); unfinished tasks
    /// are dropped.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.idle.notify_all();
        let threads: Vec<JoinHandle<()>> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        if let Some(timers) = self.shared.timers.get() {
            timers.stop();
        }
        if let Some(starter) = self.shared.starter.get() {
            starter.stop();
        }
        self.shared.outbound.shutdown();
        // Nothing runs any more: break the reference cycles through tasks
        // (their futures hold the runtime; their wakers sit in sockets,
        // queues and invocations the runtime owns).
        self.shared.tasks.cancel_all();
        self.shared.queue.clear();
        self.shared.reactor.forget_wakers();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}
