//! Starting instances off the hot path.
//!
//! Placement decides in microseconds that a service needs another instance
//! (`policy::place`), but an isolate takes ~0.5 ms (QuickJS) to ~3 ms (V8)
//! to start. Started on the placing thread, that stalled a gateway
//! connection or a worker routing a call, and everything queued behind it.
//! So placement only asks; this thread starts the isolate, registers the
//! instance, hands it the invocations that waited in the service's queue
//! for it, and moves over half of the not-yet-started backlog of its
//! busiest sibling (`Shared::started`), so a new instance drains an old
//! one's queue rather than only taking new invocations.
//!
//! It also keeps each service that may grow supplied with one *spare*: a
//! short instance started ahead of need and not placed on. Growth takes
//! the spare on the placing thread (registering an instance and moving
//! queued invocations to it are a few microseconds), so a service gets its
//! next instance in the same placement that asked for it, and this thread
//! starts the next spare in the background. It costs one idle isolate per
//! service that can grow (~0.45 MiB on QuickJS, ~1.3 MiB on V8);
//! `SchedulerConfig::spare_instances` turns it off.
//!
//! The thread runs in the kernel's batch policy (`SCHED_BATCH`): normal
//! priority, but its wake-up does not preempt the thread running where it
//! wakes. The request comes from a placing thread (a gateway connection, a
//! worker routing a call, a client), and at normal priority the starter,
//! woken by it, often took that thread's core at once for the whole start
//! (~1 ms; a 1.6 ms stall of the placing thread in the traffic-shift
//! benchmark). Batch, it runs on an idle core or when the placing thread
//! next sleeps or its slice ends. Not lower than that: at nice 19 or in
//! the idle class a start waited up to 38 ms for CPU that spinning and
//! busy workers held, while the service it was for stayed overloaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::instance::Class;
use super::service::Service;

/// What to start for a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// Another instance of this class, put into service at once.
    Instance(Class),
    /// A spare: a short instance kept ready, not yet placed on.
    Spare,
}

/// A start to make, for this service.
type Request = (Arc<Service>, Start);

/// Handle to the starter thread.
pub(crate) struct Starter {
    requests: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Set by [`Starter::stop`]: the requests still queued are dropped (a
    /// spare for every service of a stopping app is wasted work).
    stopping: Arc<AtomicBool>,
}

impl Starter {
    /// Starts the thread; `start` makes one instance (called on it).
    pub(crate) fn start(
        start: impl Fn(Arc<Service>, Start) + Send + 'static,
    ) -> std::io::Result<Starter> {
        let (tx, rx) = channel::<Request>();
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("pyrosome-starter".into())
            .spawn(move || {
                if let Err(e) = crate::cpu_clock::lower_to_batch_priority() {
                    // Still correct, only with a start sometimes preempting
                    // the thread that asked for it.
                    tracing::warn!("instance starter keeps normal priority: {e}");
                }
                while let Ok((service, what)) = rx.recv() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    start(service, what);
                }
            })?;
        Ok(Starter {
            requests: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            stopping,
        })
    }

    /// Asks for a start for `service`. Returns at once.
    pub(crate) fn request(&self, service: Arc<Service>, what: Start) {
        if let Some(tx) = self.requests.lock().as_ref() {
            // The thread is gone only at shutdown: nothing waits then.
            let _ = tx.send((service, what));
        }
    }

    /// Stops the thread after the start in progress, if any; starts still
    /// queued are not made.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.requests.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}
