//! The monitor: notices a worker stuck in one long run and brings in an
//! idle one.
//!
//! Run to completion has a price. A worker queues the work it makes for
//! itself (the callee of a call, the connection a reply wakes) without
//! waking anyone, because it will run it next; and a worker that was
//! woken by a socket leaves the reactor unattended while it runs what
//! arrived. Both are right for short runs and wrong for a long one: the
//! queued work and new requests would wait behind it while another worker
//! sleeps. So at every tick of the engine watchdog (every few milliseconds,
//! and only while JavaScript runs somewhere), the monitor looks for a
//! worker that has been in the same run since the last tick; if it has
//! work queued behind it, or nobody polls the sockets, one sleeping worker
//! is woken. It steals the queued work, or finding none parks in the
//! reactor. The cost on the hot path is two atomic increments per run.

use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::Shared;

/// What the monitor saw at its last tick.
pub(crate) struct Monitor {
    /// Each worker's `runs` counter at the last tick.
    seen: Mutex<Vec<u64>>,
}

impl Monitor {
    pub(crate) fn new(workers: usize) -> Monitor {
        Monitor {
            seen: Mutex::new(vec![0; workers]),
        }
    }

    /// One tick. Returns whether a worker was woken.
    pub(crate) fn tick(&self, shared: &Shared) -> bool {
        let mut seen = self.seen.lock();
        let mut stuck = false;
        let mut stranded = false;
        for (i, worker) in shared.workers.iter().enumerate() {
            let runs = worker.runs.load(Ordering::Acquire);
            if runs % 2 == 1 && seen.get(i) == Some(&runs) {
                stuck = true;
                stranded |= shared.queue.queued_at(i) > 0;
            }
            if let Some(s) = seen.get_mut(i) {
                *s = runs;
            }
        }
        if !stuck || shared.idle.sleeping() == 0 {
            return false;
        }
        if stranded || !shared.reactor.is_driven() {
            shared.idle.notify_one();
            return true;
        }
        false
    }
}
