//! Tasks: Rust futures that the workers run beside instances — an HTTP
//! connection, the listener that accepts them. A task is runnable like an
//! instance, sits on the same run queues, and can be stolen by an idle
//! worker like one; so a request read on one worker is run, and answered,
//! on that worker unless another is idle and the first is busy.
//!
//! # Protocol
//!
//! A task's `state` says where it is: idle (waiting for a wake-up),
//! scheduled (on exactly one run queue), running (being polled by one
//! worker), notified (woken while running: the runner queues it again
//! after the poll) or done. A wake-up moves an idle task to scheduled and
//! pushes it; any other wake-up only records itself. This is the same
//! one-queue-at-a-time guarantee the instance mailbox gives (`mailbox.rs`).
//!
//! Every live task is listed in its scheduler's [`TaskList`], so shutdown
//! can drop the futures of tasks still waiting: they hold the runtime, and
//! their wakers sit in places the runtime owns (sockets, invocations), so
//! without that they would keep each other alive forever.

use rustc_hash::FxHashMap as HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;

use super::Shared;
use super::queue::Runnable;

const IDLE: u8 = 0;
const SCHEDULED: u8 = 1;
const RUNNING: u8 = 2;
const NOTIFIED: u8 = 3;
const DONE: u8 = 4;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A future the workers run. See the module documentation.
pub(crate) struct Task {
    id: u64,
    state: AtomicU8,
    future: Mutex<Option<BoxFuture>>,
    scheduler: Weak<Shared>,
}

/// The live tasks of one scheduler.
#[derive(Default)]
pub(crate) struct TaskList {
    next: AtomicU64,
    live: Mutex<HashMap<u64, Weak<Task>>>,
}

impl TaskList {
    /// Drops the future of every live task (at shutdown, after the workers
    /// stopped). Returns how many there were.
    pub(crate) fn cancel_all(&self) -> usize {
        let live: Vec<Weak<Task>> = self.live.lock().drain().map(|(_, t)| t).collect();
        let n = live.len();
        for task in live.iter().filter_map(Weak::upgrade) {
            task.state.store(DONE, Ordering::Release);
            let future = task.future.lock().take();
            drop(future);
        }
        n
    }

    /// Tasks not finished.
    pub(crate) fn len(&self) -> usize {
        self.live.lock().len()
    }
}

/// Creates a task for `future` and queues it.
pub(crate) fn spawn(shared: &Arc<Shared>, future: impl Future<Output = ()> + Send + 'static) {
    let id = shared.tasks.next.fetch_add(1, Ordering::Relaxed);
    let task = Arc::new(Task {
        id,
        state: AtomicU8::new(SCHEDULED),
        future: Mutex::new(Some(Box::pin(future))),
        scheduler: Arc::downgrade(shared),
    });
    shared.tasks.live.lock().insert(id, Arc::downgrade(&task));
    shared.schedule(Runnable::Task(task));
}

impl Task {
    fn schedule(self: &Arc<Self>) {
        if let Some(shared) = self.scheduler.upgrade() {
            shared.schedule(Runnable::Task(self.clone()));
        }
    }

    /// Polls the task once (called by the worker that took it off a run
    /// queue).
    pub(crate) fn run(self: Arc<Self>, shared: &Arc<Shared>) {
        if self
            .state
            .compare_exchange(SCHEDULED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // cancelled
        }
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let finished = {
            let mut slot = self.future.lock();
            match slot.as_mut() {
                Some(future) => match future.as_mut().poll(&mut cx) {
                    Poll::Ready(()) => {
                        *slot = None;
                        true
                    }
                    Poll::Pending => false,
                },
                None => true,
            }
        };
        if finished {
            self.state.store(DONE, Ordering::Release);
            shared.tasks.live.lock().remove(&self.id);
            return;
        }
        if self
            .state
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Woken while it ran: run it again, after what is queued here.
            self.state.store(SCHEDULED, Ordering::Release);
            shared.schedule(Runnable::Task(self));
        }
    }
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                _ => return,
            };
            match self
                .state
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == SCHEDULED => return self.schedule(),
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }
}
