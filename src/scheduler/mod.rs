//! The scheduler: worker threads, instances, mailboxes and run queues.
//!
//! An isolate is single-threaded, so the unit of scheduling is an
//! **instance**: one isolate with one service's module loaded, plus a
//! [mailbox](mailbox) of messages (start an invocation, the reply to a call
//! it made, a timer). An instance with messages is runnable and sits on
//! exactly one [run queue](queue). Workers — one thread per core by default
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
//! Files: [`mailbox`] (the per-instance protocol), [`queue`] (run queues and
//! who may push or steal), [`idle`] (sleeping and waking workers),
//! [`worker`] (the loop and effect routing), [`instance`], [`service`]
//! (placement of invocations on instances), [`timer`].
//!
//! What is deliberately left for the holistic scheduler: replication driven
//! by queueing delay and reclaiming idle instances, execution-time-aware
//! partitioning, per-invocation deadlines, bounded queues and 503s. The
//! placement policy lives in `service.rs` alone so it can be replaced.

mod idle;
mod instance;
mod mailbox;
mod queue;
mod service;
mod timer;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use crossbeam_utils::sync::Parker;
use parking_lot::Mutex;
use tokio::sync::oneshot;

pub use service::ServiceConfig;

use crate::engine::{
    CallId, Directory, Engine, EngineError, FETCH_METHOD, JsError, SharedDirectory, StoreRequest,
};
use crate::store::{Namespace, StoreError, WriteOutcome};
use crate::value::Value;

use idle::Idle;
use instance::Instance;
use mailbox::{Message, ReplyTo};
use queue::RunQueue;
use service::Service;
use timer::Timers;

/// Longest chain of nested calls (A calls B calls C …). A cycle of calls
/// between services fails with a clear error at this depth instead of
/// growing without bound.
pub const MAX_CALL_DEPTH: u32 = 32;

/// Stack size of worker threads: room for QuickJS's 1 MiB JavaScript stack
/// limit plus the Rust frames around it.
const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// Scheduler settings.
#[derive(Clone, Debug, Default)]
pub struct SchedulerConfig {
    /// Worker threads; `0` means one per available core.
    pub workers: usize,
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

/// State shared by the workers, the timer thread and the handles.
pub(crate) struct Shared {
    /// Distinguishes schedulers in one process (for the thread-local queue).
    id: usize,
    queue: RunQueue,
    idle: Idle,
    services: HashMap<String, Arc<Service>>,
    engine: Arc<dyn Engine>,
    timers: OnceLock<Timers>,
    stores: HashMap<String, Namespace>,
    shutdown: AtomicBool,
}

static NEXT_SCHEDULER: AtomicUsize = AtomicUsize::new(1);

impl Shared {
    /// Puts a runnable instance on a run queue and wakes a worker.
    fn schedule(&self, instance: Arc<Instance>) {
        if let Err(instance) = worker::push_local(self.id, instance) {
            self.queue.inject(instance);
        }
        self.idle.notify_one();
    }

    /// Delivers a message, scheduling the instance if it was idle.
    fn deliver(&self, instance: &Arc<Instance>, message: Message) {
        if instance.mailbox.push(message) {
            self.schedule(instance.clone());
        }
    }

    /// Starts an invocation of `service.method`, answering `reply`.
    fn invoke(&self, service: &str, method: String, arg: Value, reply: ReplyTo, depth: u32) {
        let Some(pool) = self.services.get(service) else {
            let error = JsError::new("TypeError", format!("unknown service \"{service}\""));
            self.reply(reply, Err(error));
            return;
        };
        let Some(instance) = pool.place(self.engine.as_ref()) else {
            let error = JsError::new(
                "Error",
                format!("{service}.{method}: the service has no running instance"),
            )
            .at(service, &method);
            self.reply(reply, Err(error));
            return;
        };
        instance.add_load();
        self.deliver(
            &instance,
            Message::Invoke {
                method,
                arg,
                reply,
                depth,
            },
        );
    }

    /// Performs a store operation for `instance`, answering with a reply to
    /// `call`. Reads are answered at once; writes when the store
    /// acknowledges them (after the fsync for durable stores).
    fn store(
        self: &Arc<Self>,
        instance: &Arc<Instance>,
        call: CallId,
        name: &str,
        request: StoreRequest,
    ) {
        let Some(ns) = self.stores.get(name) else {
            let error = JsError::new("Error", format!("store \"{name}\" is not open"));
            self.deliver(
                instance,
                Message::Reply {
                    call,
                    result: Err(error),
                },
            );
            return;
        };
        let failed = |e: StoreError| JsError::new("Error", format!("store \"{name}\": {e}"));
        let result = match request {
            StoreRequest::Get(key) => ns
                .get(&key)
                .map(|v| v.unwrap_or(Value::Undefined))
                .map_err(failed),
            StoreRequest::List(query) => ns.list(&query).map(entries_value).map_err(failed),
            StoreRequest::Count(range) => ns
                .count(&range)
                .map(|n| Value::Number(n as f64))
                .map_err(failed),
            StoreRequest::Write(batch) => {
                let shared = self.clone();
                let instance = instance.clone();
                let name = name.to_owned();
                ns.write(
                    batch,
                    Box::new(move |outcome| {
                        let result = outcome
                            .map(outcome_value)
                            .map_err(|e| JsError::new("Error", format!("store \"{name}\": {e}")));
                        shared.deliver(&instance, Message::Reply { call, result });
                    }),
                );
                return;
            }
        };
        self.deliver(instance, Message::Reply { call, result });
    }

    /// Sends a result where it is wanted.
    fn reply(&self, reply: ReplyTo, result: Result<Value, JsError>) {
        match reply {
            ReplyTo::Caller { instance, call } => {
                self.deliver(&instance, Message::Reply { call, result });
            }
            ReplyTo::External(sender) => {
                // The receiver may have given up (client went away): fine.
                let _ = sender.send(result);
            }
        }
    }
}

/// `[{key, value}, ...]`, keys as strings when they are UTF-8.
fn entries_value(entries: Vec<(Vec<u8>, Value)>) -> Value {
    Value::Array(
        entries
            .into_iter()
            .map(|(key, value)| {
                let key = match String::from_utf8(key) {
                    Ok(s) => Value::String(s),
                    Err(e) => Value::Bytes(e.into_bytes()),
                };
                Value::object([("key", key), ("value", value)])
            })
            .collect(),
    )
}

/// `{ok: true}` or `{ok: false, conflict: i}`.
fn outcome_value(outcome: WriteOutcome) -> Value {
    let mut pairs = vec![("ok".to_owned(), Value::Bool(outcome.applied))];
    if let Some(i) = outcome.conflict {
        pairs.push(("conflict".to_owned(), Value::Number(i as f64)));
    }
    Value::Object(pairs)
}

/// A running scheduler. Dropping it stops the workers.
pub struct Scheduler {
    shared: Arc<Shared>,
    directory: SharedDirectory,
    info: HashMap<String, ServiceInfo>,
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
        stores: HashMap<String, Namespace>,
        config: &SchedulerConfig,
    ) -> Result<Scheduler, StartError> {
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let next_id = Arc::new(AtomicU64::new(1));
        let mut services = HashMap::new();
        let mut info = HashMap::new();
        let mut dir = Directory::new();
        for spec in specs {
            let name = spec.name.clone();
            if services.contains_key(&name) {
                return Err(StartError::Duplicate(name));
            }
            let pool = Service::new(spec, workers, next_id.clone());
            for _ in 0..pool.spec.min_instances.max(1) {
                let instance = pool
                    .create(engine.as_ref())
                    .map_err(|source| StartError::Load {
                        service: name.clone(),
                        source,
                    })?;
                if !info.contains_key(&name) {
                    let core = instance.core();
                    if let Some(core) = core.as_ref() {
                        info.insert(
                            name.clone(),
                            ServiceInfo {
                                methods: core.isolate.methods().to_vec(),
                                has_fetch: core.isolate.has_fetch(),
                            },
                        );
                    }
                }
                pool.add(instance);
            }
            if let Some(i) = info.get(&name) {
                dir.insert(name.clone(), i.methods.clone());
            }
            services.insert(name, Arc::new(pool));
        }
        // A cell already set (a restart with the same configs) keeps its
        // value, which describes the same services.
        let _ = directory.set(dir);

        let parkers: Vec<Parker> = (0..workers).map(|_| Parker::new()).collect();
        let (queue, locals) = RunQueue::new(workers);
        let shared = Arc::new(Shared {
            id: NEXT_SCHEDULER.fetch_add(1, Ordering::Relaxed),
            queue,
            idle: Idle::new(&parkers),
            services,
            engine,
            timers: OnceLock::new(),
            stores,
            shutdown: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&shared);
        let timers = Timers::start(move |instance, id| {
            if let Some(shared) = weak.upgrade() {
                shared.deliver(&instance, Message::Timer(id));
            }
        })
        .map_err(|source| StartError::Thread {
            what: "timer",
            source,
        })?;
        let _ = shared.timers.set(timers);

        let scheduler = Scheduler {
            shared: shared.clone(),
            directory,
            info,
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
        Ok(scheduler)
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// What a service offers, or `None` for an unknown service.
    pub fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.info.get(name)
    }

    /// The directory of services and methods.
    pub fn directory(&self) -> Option<&Directory> {
        self.directory.get()
    }

    /// Running instances of a service (0 for an unknown one).
    pub fn instance_count(&self, service: &str) -> usize {
        self.shared
            .services
            .get(service)
            .map_or(0, |s| s.instance_count())
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
        let (tx, rx) = oneshot::channel();
        let known = match self.info.get(service) {
            None => Err(format!(
                "unknown service \"{service}\" (services: {})",
                self.service_names().join(", ")
            )),
            Some(info) if method == FETCH_METHOD && !info.has_fetch => {
                Err(format!("service \"{service}\" has no fetch handler"))
            }
            Some(info) if method != FETCH_METHOD && !info.methods.iter().any(|m| m == method) => {
                Err(format!(
                    "service \"{service}\" has no method \"{method}\" (its methods: {})",
                    info.methods.join(", ")
                ))
            }
            Some(_) => Ok(()),
        };
        match known {
            Ok(()) => self
                .shared
                .invoke(service, method.to_owned(), arg, ReplyTo::External(tx), 1),
            Err(message) => {
                let _ = tx.send(Err(JsError::new("TypeError", message)));
            }
        }
        rx
    }

    /// Names of all services, sorted.
    pub fn service_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.info.keys().cloned().collect();
        names.sort();
        names
    }

    /// Stops the workers and the timer thread. In-flight invocations are
    /// abandoned (their receivers see a closed channel).
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
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}
