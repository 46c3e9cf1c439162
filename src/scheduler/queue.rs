//! Run queues: where runnable instances wait for a worker.
//!
//! Each worker owns a FIFO deque ([`LocalQueue`]); everyone else (the
//! gateway, the timer thread) pushes into the shared [`RunQueue`]'s global
//! injector. A worker that runs dry takes a batch from the injector, then
//! steals half of another worker's deque. This is how a `Promise.all` over
//! calls spreads: the callees land on the caller's worker deque, and idle
//! workers steal them.
//!
//! Instances of the *long* class (see `policy.rs`) never enter a worker's
//! deque: they wait in a separate injector that only the workers of the
//! long subset and the backfill threads take from, so short work is never
//! stuck behind them.
//!
//! The handle types say who may do what: only the owning worker can pop
//! from a `LocalQueue`; anyone can push into or steal through a
//! `RunQueue`.

use std::sync::Arc;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use super::instance::Instance;
use super::task::Task;

/// What a run queue holds: an instance with messages, or a task to poll.
pub(crate) enum Runnable {
    /// An instance whose mailbox has messages.
    Instance(Arc<Instance>),
    /// A Rust future (an HTTP connection, ...).
    Task(Arc<Task>),
}

/// The shared side of all run queues.
pub(crate) struct RunQueue {
    injector: Injector<Runnable>,
    long: Injector<Runnable>,
    stealers: Vec<Stealer<Runnable>>,
}

/// One worker's own deque.
pub(crate) struct LocalQueue {
    deque: Worker<Runnable>,
    index: usize,
}

impl RunQueue {
    /// Queues for `workers` workers: the shared side and one local deque
    /// per worker (to be moved into the worker threads).
    pub(crate) fn new(workers: usize) -> (RunQueue, Vec<LocalQueue>) {
        let locals: Vec<LocalQueue> = (0..workers)
            .map(|index| LocalQueue {
                deque: Worker::new_fifo(),
                index,
            })
            .collect();
        let stealers = locals.iter().map(|l| l.deque.stealer()).collect();
        (
            RunQueue {
                injector: Injector::new(),
                long: Injector::new(),
                stealers,
            },
            locals,
        )
    }

    /// Queues a runnable from outside any worker.
    pub(crate) fn inject(&self, runnable: Runnable) {
        self.injector.push(runnable);
    }

    /// Queues a long-class instance.
    pub(crate) fn inject_long(&self, instance: Arc<Instance>) {
        self.long.push(Runnable::Instance(instance));
    }

    /// Takes a long-class instance (long-subset workers only).
    pub(crate) fn pop_long(&self) -> Option<Runnable> {
        loop {
            match self.long.steal() {
                Steal::Success(i) => return Some(i),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    /// Whether long-class instances are waiting (for backfill threads).
    pub(crate) fn has_long(&self) -> bool {
        !self.long.is_empty()
    }

    /// Whether any queue a worker may take from holds work (for the sleep
    /// protocol).
    pub(crate) fn has_work(&self, takes_long: bool) -> bool {
        !self.injector.is_empty()
            || (takes_long && !self.long.is_empty())
            || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Runnables queued on worker `index`'s own deque.
    pub(crate) fn queued_at(&self, index: usize) -> usize {
        self.stealers.get(index).map_or(0, Stealer::len)
    }

    /// Runnable instances waiting (for metrics).
    pub(crate) fn depth(&self) -> usize {
        self.injector.len() + self.long.len() + self.stealers.iter().map(|s| s.len()).sum::<usize>()
    }

    /// Finds work for `local`'s worker: a batch from the injector, or half
    /// of another worker's deque, starting after our own index so workers
    /// do not all raid the same victim.
    pub(crate) fn steal_for(&self, local: &LocalQueue) -> Option<Runnable> {
        loop {
            let mut retry = false;
            match self.injector.steal_batch_and_pop(&local.deque) {
                Steal::Success(i) => return Some(i),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let n = self.stealers.len();
            for k in 1..n {
                let victim = &self.stealers[(local.index + k) % n];
                match victim.steal_batch_and_pop(&local.deque) {
                    Steal::Success(i) => return Some(i),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Drops everything in the shared queues (shutdown).
    pub(crate) fn clear(&self) {
        while self.pop_injected().is_some() {}
        while self.pop_long().is_some() {}
    }

    /// Pops from the injector only (used periodically for fairness).
    pub(crate) fn pop_injected(&self) -> Option<Runnable> {
        loop {
            match self.injector.steal() {
                Steal::Success(i) => return Some(i),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }
}

impl LocalQueue {
    /// This worker's index.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Queues a runnable on this worker; returns how many were queued
    /// here before it.
    pub(crate) fn push(&self, runnable: Runnable) -> usize {
        let before = self.deque.len();
        self.deque.push(runnable);
        before
    }

    /// Takes the oldest runnable queued on this worker.
    pub(crate) fn pop(&self) -> Option<Runnable> {
        self.deque.pop()
    }

    /// Drops everything queued here (shutdown).
    pub(crate) fn clear(&self) {
        while self.deque.pop().is_some() {}
    }
}
