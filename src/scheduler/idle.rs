//! Sleeping and waking workers.
//!
//! A worker with nothing to do spins briefly (work often arrives within
//! microseconds: the reply to a call it just routed), then sleeps. The
//! protocol avoids lost wake-ups like a Dekker handshake: a sleeper first
//! announces itself (its group's count += 1, SeqCst) and then re-checks the
//! queues; a pusher first publishes its work and then (after a SeqCst
//! fence) reads the count. At least one of the two sees the other. Parkers
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

/// The sleeping threads of one kind, and the lock-free count that lets a
/// waker skip the lock when none sleeps.
#[derive(Default)]
struct Sleepers {
    count: AtomicUsize,
    indices: Mutex<Vec<usize>>,
}

impl Sleepers {
    fn announce(&self, index: usize) {
        self.indices.lock().push(index);
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes the sleeper with the highest index that `eligible` accepts.
    /// Call after publishing work (and the fence of [`Idle`]).
    fn take(&self, eligible: impl Fn(usize) -> bool) -> Option<usize> {
        if self.count.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let index = {
            let mut indices = self.indices.lock();
            let best = indices
                .iter()
                .enumerate()
                .filter(|(_, i)| eligible(**i))
                .max_by_key(|(_, i)| **i)
                .map(|(pos, _)| pos);
            best.map(|pos| indices.swap_remove(pos))
        }?;
        self.count.fetch_sub(1, Ordering::SeqCst);
        Some(index)
    }

    /// Withdraws `index` if nobody took it (it found work, or timed out).
    fn withdraw(&self, index: usize) {
        let mut indices = self.indices.lock();
        if let Some(pos) = indices.iter().position(|&i| i == index) {
            indices.swap_remove(pos);
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The sleeping workers of one scheduler, and its backfill threads
/// (indices from `workers` on; they take only long-class work).
///
/// The two kinds sleep in separate [`Sleepers`]: a backfill thread runs at
/// the kernel's idle priority, and a lock it held when a normal thread
/// preempted it would stay held for as long as its core is busy (priority
/// inversion). So waking a worker for short work, which every request
/// does, never touches a lock a backfill thread takes; only long work,
/// which is for backfill threads, does.
pub(crate) struct Idle {
    workers_asleep: Sleepers,
    backfill_asleep: Sleepers,
    unparkers: Vec<Unparker>,
    workers: usize,
}

impl Idle {
    /// For the threads whose parkers are given: `workers` workers first,
    /// then the backfill threads.
    pub(crate) fn new(parkers: &[Parker], workers: usize) -> Idle {
        Idle {
            workers_asleep: Sleepers::default(),
            backfill_asleep: Sleepers::default(),
            unparkers: parkers.iter().map(Parker::unparker).collect(),
            workers,
        }
    }

    fn group(&self, index: usize) -> &Sleepers {
        if index < self.workers {
            &self.workers_asleep
        } else {
            &self.backfill_asleep
        }
    }

    /// Wakes one sleeping worker, if any. Call after publishing work.
    pub(crate) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        if let Some(index) = self.workers_asleep.take(|_| true) {
            self.unparkers[index].unpark();
        }
    }

    /// Wakes one sleeping thread that may run long-class work: a backfill
    /// thread if one sleeps (it runs at idle priority, leaving the workers
    /// to short work), else a worker whose index is below `limit` (the long
    /// subset). Call after publishing work only they may take.
    pub(crate) fn notify_long(&self, limit: usize) {
        fence(Ordering::SeqCst);
        let woken = self
            .backfill_asleep
            .take(|_| true)
            .or_else(|| self.workers_asleep.take(|i| i < limit));
        if let Some(index) = woken {
            self.unparkers[index].unpark();
        }
    }

    /// Workers asleep now (backfill threads not counted).
    pub(crate) fn sleeping(&self) -> usize {
        self.workers_asleep.count.load(Ordering::Relaxed)
    }

    /// Wakes every worker (shutdown).
    pub(crate) fn notify_all(&self) {
        for u in &self.unparkers {
            u.unpark();
        }
    }

    /// Puts worker (or backfill thread) `index` to sleep unless `has_work`
    /// says otherwise after it announced itself.
    pub(crate) fn sleep(&self, index: usize, parker: &Parker, has_work: impl Fn() -> bool) {
        let group = self.group(index);
        group.announce(index);
        if !has_work() {
            parker.park_timeout(MAX_SLEEP);
        }
        group.withdraw(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// Every thread asleep, workers and backfill threads.
    fn asleep(idle: &Idle) -> Vec<usize> {
        let mut all = idle.workers_asleep.indices.lock().clone();
        all.extend(idle.backfill_asleep.indices.lock().iter());
        all
    }

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
        assert!(asleep(&idle).is_empty());
    }

    #[test]
    fn sleep_returns_at_once_when_work_is_visible() {
        let parker = parker();
        let idle = Idle::new(std::slice::from_ref(&parker), 1);
        idle.sleep(0, &parker, || true);
        assert!(asleep(&idle).is_empty());
        assert_eq!(idle.workers_asleep.count.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn short_work_never_wakes_a_backfill_thread() {
        let parkers: Vec<Parker> = (0..3).map(|_| parker()).collect();
        let idle = Idle::new(&parkers, 2);
        // Backfill thread 2 and worker 0 asleep.
        for i in [2, 0] {
            idle.group(i).announce(i);
        }
        assert_eq!(idle.sleeping(), 1, "only workers count as sleeping");
        idle.notify_one();
        assert_eq!(asleep(&idle), [2], "the worker was woken");
        idle.notify_one();
        assert_eq!(asleep(&idle), [2], "nobody else may take short work");
        idle.group(0).announce(0);
        idle.notify_long(1);
        assert_eq!(asleep(&idle), [0], "long work wakes the backfill first");
        idle.notify_long(0);
        assert_eq!(asleep(&idle), [0], "worker 0 is not in an empty subset");
        idle.notify_long(1);
        assert!(asleep(&idle).is_empty());
    }

    #[test]
    fn waking_a_worker_never_takes_a_lock_of_the_backfill_threads() {
        let parkers: Vec<Parker> = (0..2).map(|_| parker()).collect();
        let idle = Arc::new(Idle::new(&parkers, 1));
        idle.group(0).announce(0);
        idle.group(1).announce(1);
        // A backfill thread preempted while holding its group's lock.
        let held = idle.backfill_asleep.indices.lock();
        let (done, finished) = std::sync::mpsc::channel();
        let waker = {
            let idle = idle.clone();
            std::thread::spawn(move || {
                idle.notify_one();
                let _ = done.send(());
            })
        };
        let result = finished.recv_timeout(Duration::from_secs(20));
        drop(held);
        waker.join().expect("waker thread");
        assert!(result.is_ok(), "notify_one waited for the backfill lock");
        assert_eq!(asleep(&idle), [1], "the worker was woken");
    }
}
