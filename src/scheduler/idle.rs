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

/// The sleeping workers of one scheduler.
pub(crate) struct Idle {
    sleeping: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    unparkers: Vec<Unparker>,
}

impl Idle {
    /// For workers whose parkers are given, in worker order.
    pub(crate) fn new(parkers: &[Parker]) -> Idle {
        Idle {
            sleeping: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::with_capacity(parkers.len())),
            unparkers: parkers.iter().map(Parker::unparker).collect(),
        }
    }

    /// Wakes one sleeping worker, if any. Call after publishing work.
    pub(crate) fn notify_one(&self) {
        self.notify_below(usize::MAX);
    }

    /// Wakes one sleeping worker whose index is below `limit` (the long
    /// subset), if any. Call after publishing work only they may take.
    pub(crate) fn notify_below(&self, limit: usize) {
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) == 0 {
            return;
        }
        let woken = {
            let mut sleepers = self.sleepers.lock();
            sleepers
                .iter()
                .rposition(|&i| i < limit)
                .map(|pos| sleepers.swap_remove(pos))
        };
        if let Some(index) = woken {
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            self.unparkers[index].unpark();
        }
    }

    /// Workers asleep now.
    pub(crate) fn sleeping(&self) -> usize {
        self.sleeping.load(Ordering::Relaxed)
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
        let idle = Arc::new(Idle::new(std::slice::from_ref(&parker)));
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
        let idle = Idle::new(std::slice::from_ref(&parker));
        idle.sleep(0, &parker, || true);
        assert_eq!(idle.sleeping.load(Ordering::SeqCst), 0);
        assert!(idle.sleepers.lock().is_empty());
    }
}
