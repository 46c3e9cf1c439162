//! Sleeping and waking workers.
//!
//! A worker with nothing to do spins briefly (work often arrives within
//! microseconds: the reply to a call it just routed), then sleeps. The
//! protocol avoids lost wake-ups like a Dekker handshake: a sleeper first
//! announces itself (`sleeping += 1`, SeqCst) and then re-checks the
//! queues; a pusher first publishes its work and then (after a SeqCst
//! fence) reads `sleeping`. At least one of the two sees the other. Parkers
//! keep an unpark that arrives before the park, so waking is never lost
//! between the re-check and the park either.

use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::time::Duration;

use parking_lot::Mutex;

use super::park::{Parker, Unparker};

/// How long a sleeping worker waits before looking again on its own. Only a
/// safety net: wake-ups are explicit.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// How many empty polls of the queues a worker makes before sleeping. Each
/// poll is a few atomic loads; a few hundred cover tens of microseconds.
pub(crate) const SPIN_POLLS: u32 = 200;

/// The sleeping workers of one scheduler, and its backfill threads
/// (indices from `workers` on; they take only long-class work).
pub(crate) struct Idle {
    sleeping: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    unparkers: Vec<Unparker>,
    workers: usize,
}

impl Idle {
    /// For the threads whose parkers are given: `workers` workers first,
    /// then the backfill threads.
    pub(crate) fn new(parkers: &[Parker], workers: usize) -> Idle {
        Idle {
            sleeping: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::with_capacity(parkers.len())),
            unparkers: parkers.iter().map(Parker::unparker).collect(),
            workers,
        }
    }

    /// Wakes one sleeping worker, if any. Call after publishing work.
    pub(crate) fn notify_one(&self) {
        let workers = self.workers;
        self.notify_where(|i| i < workers);
    }

    /// Wakes one sleeping thread that may run long-class work: a backfill
    /// thread if one sleeps (it runs at idle priority, leaving the workers
    /// to short work), else a worker whose index is below `limit` (the long
    /// subset). Call after publishing work only they may take.
    pub(crate) fn notify_long(&self, limit: usize) {
        let workers = self.workers;
        self.notify_where(|i| i < limit || i >= workers);
    }

    /// Wakes the sleeper with the highest index that `eligible` accepts.
    fn notify_where(&self, eligible: impl Fn(usize) -> bool) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) == 0 {
            return;
        }
        let woken = {
            let mut sleepers = self.sleepers.lock();
            let best = sleepers
                .iter()
                .enumerate()
                .filter(|(_, i)| eligible(**i))
                .max_by_key(|(_, i)| **i)
                .map(|(pos, _)| pos);
            best.map(|pos| sleepers.swap_remove(pos))
        };
        if let Some(index) = woken {
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            self.unparkers[index].unpark();
        }
    }

    /// Workers asleep now (backfill threads not counted).
    pub(crate) fn sleeping(&self) -> usize {
        let workers = self.workers;
        if self.sleeping.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.sleepers
            .lock()
            .iter()
            .filter(|&&i| i < workers)
            .count()
    }

    /// Wakes every worker (shutdown).
    pub(crate) fn notify_all(&self) {
        for u in &self.unparkers {
            u.unpark();
        }
    }

    /// Puts worker `index` to sleep unless `has_work` says otherwise after
    /// it announced itself.
    pub(crate) fn sleep(&self, index: usize, parker: &Parker, has_work: impl Fn() -> bool) {
        self.sleepers.lock().push(index);
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        if !has_work() {
            parker.park_timeout(MAX_SLEEP);
        }
        let mut sleepers = self.sleepers.lock();
        if let Some(pos) = sleepers.iter().position(|&i| i == index) {
            // Nobody woke us (we found work, or timed out): withdraw.
            sleepers.swap_remove(pos);
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    fn parker() -> Parker {
        Parker::new(crate::io::Reactor::new().expect("epoll"))
    }

    #[test]
    fn a_sleeper_is_woken_by_notify() {
        let parker = parker();
        let idle = Arc::new(Idle::new(std::slice::from_ref(&parker), 1));
        let flag = Arc::new(AtomicBool::new(false));
        let (i2, f2) = (idle.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            f2.store(true, Ordering::SeqCst);
            i2.notify_one();
        });
        while !flag.load(Ordering::SeqCst) {
            idle.sleep(0, &parker, || flag.load(Ordering::SeqCst));
        }
        assert!(flag.load(Ordering::SeqCst));
        t.join().expect("notifier thread");
        assert_eq!(idle.sleeping.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn sleep_returns_at_once_when_work_is_visible() {
        let parker = parker();
        let idle = Idle::new(std::slice::from_ref(&parker), 1);
        idle.sleep(0, &parker, || true);
        assert_eq!(idle.sleeping.load(Ordering::SeqCst), 0);
        assert!(idle.sleepers.lock().is_empty());
    }

    #[test]
    fn short_work_never_wakes_a_backfill_thread() {
        let parkers: Vec<Parker> = (0..3).map(|_| parker()).collect();
        let idle = Idle::new(&parkers, 2);
        // Backfill thread 2 and worker 0 asleep.
        for i in [2, 0] {
            idle.sleepers.lock().push(i);
            idle.sleeping.fetch_add(1, Ordering::SeqCst);
        }
        assert_eq!(idle.sleeping(), 1, "only workers count as sleeping");
        idle.notify_one();
        assert_eq!(*idle.sleepers.lock(), [2], "the worker was woken");
        idle.notify_one();
        assert_eq!(
            *idle.sleepers.lock(),
            [2],
            "nobody else may take short work"
        );
        idle.sleepers.lock().push(0);
        idle.sleeping.fetch_add(1, Ordering::SeqCst);
        idle.notify_long(1);
        assert_eq!(
            *idle.sleepers.lock(),
            [0],
            "long work wakes the backfill first"
        );
        idle.notify_long(0);
        assert_eq!(
            *idle.sleepers.lock(),
            [0],
            "worker 0 is not in an empty subset"
        );
        idle.notify_long(1);
        assert!(idle.sleepers.lock().is_empty());
    }
}
