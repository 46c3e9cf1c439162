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
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::instance::Class;
use super::service::Service;

/// A start to make: another instance of this class for this service.
type Request = (Arc<Service>, Class);

/// Handle to the starter thread.
pub(crate) struct Starter {
    requests: Mutex<Option<Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Starter {
    /// Starts the thread; `start` makes one instance (called on it).
    pub(crate) fn start(
        start: impl Fn(Arc<Service>, Class) + Send + 'static,
    ) -> std::io::Result<Starter> {
        let (tx, rx) = channel::<Request>();
        let thread = std::thread::Builder::new()
            .name("pyrosome-starter".into())
            .spawn(move || {
                if let Err(e) = crate::cpu_clock::lower_to_batch_priority() {
                    // Still correct, only with a start sometimes preempting
                    // the thread that asked for it.
                    tracing::warn!("instance starter keeps normal priority: {e}");
                }
                while let Ok((service, class)) = rx.recv() {
                    start(service, class);
                }
            })?;
        Ok(Starter {
            requests: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Asks for another instance of `class` for `service`. Returns at once.
    pub(crate) fn request(&self, service: Arc<Service>, class: Class) {
        if let Some(tx) = self.requests.lock().as_ref() {
            // The thread is gone only at shutdown: nothing waits then.
            let _ = tx.send((service, class));
        }
    }

    /// Stops the thread (after the start in progress, if any).
    pub(crate) fn stop(&self) {
        self.requests.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}
