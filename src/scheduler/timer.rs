//! The timer thread: delivers `setTimeout`/`setInterval` expirations to
//! instance mailboxes, wakes tasks waiting in a [`Sleep`], and runs the
//! scheduler's periodic review.
//!
//! One thread per scheduler sleeps until the earliest deadline in a binary
//! heap. Timers hold only a weak reference to their instance: a discarded
//! instance's timers simply find nobody home. Cleared timers are not
//! removed from the heap; the isolate ignores their expiry.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::engine::TimerId;

use super::instance::Instance;

struct Entry {
    due: Instant,
    seq: u64,
    target: Target,
}

enum Target {
    /// A JavaScript timer of an instance.
    Instance(Weak<Instance>, TimerId),
    /// A task's [`Sleep`].
    Wake(Arc<SleepState>),
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
        self.push(
            Instant::now() + delay,
            Target::Instance(Arc::downgrade(instance), id),
        );
    }

    /// A future that is ready at `due` (for tasks).
    pub(crate) fn sleep_until(self: &Arc<Self>, due: Instant) -> Sleep {
        Sleep {
            due,
            timers: Arc::downgrade(self),
            state: None,
        }
    }

    fn push(&self, due: Instant, target: Target) {
        let (lock, cvar) = &*self.state;
        let mut state = lock.lock();
        state.seq += 1;
        let entry = Entry {
            due,
            seq: state.seq,
            target,
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
            let mut state = lock.lock();
            state.stopped = true;
            state.heap.clear();
            cvar.notify_one();
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// What a [`Sleep`] shares with its timer entry.
struct SleepState {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl SleepState {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        if let Some(w) = self.waker.lock().take() {
            w.wake();
        }
    }
}

/// Ready at a deadline; the timer thread wakes the task polling it. If the
/// scheduler stops first it stays pending (the task is dropped anyway).
pub struct Sleep {
    due: Instant,
    timers: Weak<Timers>,
    state: Option<Arc<SleepState>>,
}

impl Sleep {
    /// A sleep with no timer thread behind it: it is ready only if polled
    /// after `due`.
    pub(crate) fn never(due: Instant) -> Sleep {
        Sleep {
            due,
            timers: Weak::new(),
            state: None,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.due {
            return Poll::Ready(());
        }
        match &self.state {
            Some(state) => {
                if state.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                let mut waker = state.waker.lock();
                match &*waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
            }
            None => {
                let state = Arc::new(SleepState {
                    fired: AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                if let Some(timers) = self.timers.upgrade() {
                    timers.push(self.due, Target::Wake(state.clone()));
                }
                self.state = Some(state);
            }
        }
        Poll::Pending
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
                    match e.target {
                        Target::Instance(instance, id) => {
                            if let Some(instance) = instance.upgrade() {
                                fire(instance, id);
                            }
                        }
                        Target::Wake(sleep) => sleep.fire(),
                    }
                    guard = lock.lock();
                }
            }
        }
    }
}
