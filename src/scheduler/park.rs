//! Parking one worker thread: in `epoll_wait` on the reactor if no other
//! worker is there, else on a condition variable.
//!
//! A worker parked on the reactor is woken by the sockets themselves (a
//! request arrives: no other thread is involved) or by an [`Unparker`],
//! which then writes the reactor's eventfd; a worker parked on its
//! condition variable is woken by an `Unparker` through the condition
//! variable. The `state` word says which, so the unparker uses the right
//! one, and an unpark that comes before the park is never lost: it leaves
//! the state `NOTIFIED` and the next park returns at once (the protocol of
//! tokio's `park.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::io::Reactor;

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_DRIVER: usize = 2;
const NOTIFIED: usize = 3;

struct Inner {
    state: AtomicUsize,
    mutex: Mutex<()>,
    condvar: Condvar,
    /// `None` for a thread that must never poll the sockets (a backfill
    /// thread, at idle priority).
    reactor: Option<Arc<Reactor>>,
}

/// The parking side, owned by one worker.
pub(crate) struct Parker {
    inner: Arc<Inner>,
}

/// The waking side, held by whoever may wake the worker.
#[derive(Clone)]
pub(crate) struct Unparker {
    inner: Arc<Inner>,
}

impl Parker {
    pub(crate) fn new(reactor: Arc<Reactor>) -> Parker {
        Parker::with(Some(reactor))
    }

    /// A parker that only ever waits on its condition variable.
    pub(crate) fn without_reactor() -> Parker {
        Parker::with(None)
    }

    fn with(reactor: Option<Arc<Reactor>>) -> Parker {
        Parker {
            inner: Arc::new(Inner {
                state: AtomicUsize::new(EMPTY),
                mutex: Mutex::new(()),
                condvar: Condvar::new(),
                reactor,
            }),
        }
    }

    /// Another handle on the same parker (for the table of unparkers;
    /// only the owning thread parks).
    pub(crate) fn share(&self) -> Parker {
        Parker {
            inner: self.inner.clone(),
        }
    }

    pub(crate) fn unparker(&self) -> Unparker {
        Unparker {
            inner: self.inner.clone(),
        }
    }

    /// Sleeps until unparked or `timeout` passes (or a socket event, when
    /// parked on the reactor, which also delivers it).
    pub(crate) fn park_timeout(&self, timeout: Duration) {
        let inner = &*self.inner;
        if inner
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return;
        }
        if let Some(reactor) = &inner.reactor
            && let Some(mut driver) = reactor.try_driver()
        {
            match inner.state.compare_exchange(
                EMPTY,
                PARKED_DRIVER,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {}
                Err(_) => {
                    // Notified in between.
                    inner.state.store(EMPTY, Ordering::Release);
                    return;
                }
            }
            reactor.poll(&mut driver, Some(timeout));
            inner.state.store(EMPTY, Ordering::Release);
            return;
        }
        let mut guard = inner.mutex.lock();
        if inner
            .state
            .compare_exchange(EMPTY, PARKED_CONDVAR, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            inner.state.store(EMPTY, Ordering::Release);
            return;
        }
        let deadline = std::time::Instant::now() + timeout;
        while inner.state.load(Ordering::Acquire) == PARKED_CONDVAR {
            if inner.condvar.wait_until(&mut guard, deadline).timed_out() {
                break;
            }
        }
        inner.state.store(EMPTY, Ordering::Release);
    }
}

impl Unparker {
    /// Wakes the worker, or makes its next park return at once.
    pub(crate) fn unpark(&self) {
        let inner = &*self.inner;
        match inner.state.swap(NOTIFIED, Ordering::AcqRel) {
            PARKED_CONDVAR => {
                // Taking the lock orders this notify after the parker's
                // check of the state.
                drop(inner.mutex.lock());
                inner.condvar.notify_one();
            }
            PARKED_DRIVER => {
                if let Some(reactor) = &inner.reactor {
                    reactor.wake();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn an_unpark_before_the_park_is_kept() {
        let reactor = Reactor::new().expect("epoll");
        let parker = Parker::new(reactor);
        parker.unparker().unpark();
        let start = Instant::now();
        parker.park_timeout(Duration::from_secs(10));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn both_ways_of_parking_are_woken() {
        let reactor = Reactor::new().expect("epoll");
        for hold_driver in [false, true] {
            let parker = Parker::new(reactor.clone());
            let unparker = parker.unparker();
            // Holding the driver elsewhere forces the condition variable.
            let held = hold_driver.then(|| reactor.try_driver());
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                unparker.unpark();
            });
            let start = Instant::now();
            parker.park_timeout(Duration::from_secs(10));
            assert!(start.elapsed() < Duration::from_secs(5), "{hold_driver}");
            t.join().expect("unparker thread");
            drop(held);
        }
    }
}
