//! The timer thread: delivers `setTimeout`/`setInterval` expirations to
//! instance mailboxes, and runs the scheduler's periodic review.
//!
//! One thread per scheduler sleeps until the earliest deadline in a binary
//! heap. Timers hold only a weak reference to their instance: a discarded
//! instance's timers simply find nobody home. Cleared timers are not
//! removed from the heap; the isolate ignores their expiry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::engine::TimerId;

use super::instance::Instance;

struct Entry {
    due: Instant,
    seq: u64,
    instance: Weak<Instance>,
    id: TimerId,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stopped: bool,
}

/// Handle to the timer thread.
pub(crate) struct Timers {
    state: Arc<(Mutex<State>, Condvar)>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Timers {
    /// Starts the thread; `fire` delivers an expiry and `review` runs every
    /// `interval` (both called on the timer thread, without locks held).
    pub(crate) fn start(
        fire: impl Fn(Arc<Instance>, TimerId) + Send + 'static,
        interval: Duration,
        review: impl Fn() + Send + 'static,
    ) -> std::io::Result<Timers> {
        let state: Arc<(Mutex<State>, Condvar)> = Arc::default();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name("pyrosome-timers".into())
            .spawn(move || run(&shared, fire, interval, review))?;
        Ok(Timers {
            state,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Delivers `id` to `instance` after `delay`.
    pub(crate) fn arm(&self, instance: &Arc<Instance>, id: TimerId, delay: Duration) {
        let (lock, cvar) = &*self.state;
        let mut state = lock.lock();
        state.seq += 1;
        let entry = Entry {
            due: Instant::now() + delay,
            seq: state.seq,
            instance: Arc::downgrade(instance),
            id,
        };
        let earliest = state.heap.peek().is_none_or(|Reverse(e)| entry.due < e.due);
        state.heap.push(Reverse(entry));
        if earliest {
            cvar.notify_one();
        }
    }

    /// Stops the thread; pending timers are dropped.
    pub(crate) fn stop(&self) {
        {
            let (lock, cvar) = &*self.state;
            lock.lock().stopped = true;
            cvar.notify_one();
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

fn run(
    state: &(Mutex<State>, Condvar),
    fire: impl Fn(Arc<Instance>, TimerId),
    interval: Duration,
    review: impl Fn(),
) {
    let (lock, cvar) = state;
    let mut guard = lock.lock();
    let mut next_review = Instant::now() + interval;
    loop {
        if guard.stopped {
            return;
        }
        let now = Instant::now();
        if now >= next_review {
            drop(guard);
            review();
            next_review = Instant::now() + interval;
            guard = lock.lock();
            continue;
        }
        match guard.heap.peek() {
            None => {
                cvar.wait_until(&mut guard, next_review);
            }
            Some(Reverse(e)) if e.due > now => {
                let due = e.due.min(next_review);
                cvar.wait_until(&mut guard, due);
            }
            Some(_) => {
                if let Some(Reverse(e)) = guard.heap.pop() {
                    drop(guard);
                    if let Some(instance) = e.instance.upgrade() {
                        fire(instance, e.id);
                    }
                    guard = lock.lock();
                }
            }
        }
    }
}
