//! An instance's mailbox: the events waiting for it, and the flag that says
//! whether it is already on a run queue.
//!
//! The protocol: whoever pushes a message into an idle mailbox (flag clear)
//! sets the flag and must put the instance on a run queue; pushes into a
//! scheduled mailbox only append. The worker that runs the instance drains
//! the mailbox and clears the flag under the same lock when it finds it
//! empty, so an instance is on at most one run queue, run by at most one
//! worker, and a message is never left behind in an idle mailbox.
//!
//! The runner takes one message at a time ([`Mailbox::pop`]), so what it has
//! not started stays in the mailbox: a turn can end at any message (turns
//! are bounded by time), and invocations not yet started can move to
//! another instance of the service ([`Mailbox::steal_invokes`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::engine::{CallId, JsError, Payload, TimerId};
use crate::value::Value;

use super::instance::{Inflight, Instance};
use std::sync::Arc;

/// Where the result of an invocation goes.
pub(crate) enum ReplyTo {
    /// Another instance's call: deliver an `Event::Reply` to it.
    Caller {
        /// The calling instance.
        instance: Arc<Instance>,
        /// Its call id.
        call: CallId,
    },
    /// Outside the scheduler (the gateway, the CLI, a test).
    External(oneshot::Sender<Result<Value, JsError>>),
}

/// One message for an instance.
pub(crate) enum Message {
    /// Start an invocation: its argument, and the record the instance
    /// keeps while it is in flight.
    Invoke { arg: Payload, inflight: Inflight },
    /// A call made by this instance finished.
    Reply {
        call: CallId,
        result: Result<Payload, JsError>,
    },
    /// A timer armed by this instance fired.
    Timer(TimerId),
}

#[derive(Default)]
struct Inner {
    messages: VecDeque<Message>,
    scheduled: bool,
    /// How many of `messages` are `Invoke`s (not yet started).
    invokes: usize,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct Mailbox {
    inner: Mutex<Inner>,
    /// A copy of `inner.scheduled`, written under the lock, read without it
    /// by placement (a hint: it may be stale by the time it is used).
    scheduled: AtomicBool,
}

impl Mailbox {
    /// Appends a message. Returns `true` when the caller must schedule the
    /// instance (it was idle).
    pub(crate) fn push(&self, message: Message) -> bool {
        let mut inner = self.inner.lock();
        if matches!(message, Message::Invoke { .. }) {
            inner.invokes += 1;
        }
        inner.messages.push_back(message);
        let was = std::mem::replace(&mut inner.scheduled, true);
        if !was {
            self.scheduled.store(true, Ordering::Relaxed);
        }
        !was
    }

    /// Appends messages at once (under one lock, so a worker cannot run the
    /// instance dry between them). Returns `true` when the caller must
    /// schedule the instance (it was idle and got at least one message).
    pub(crate) fn push_all(&self, messages: impl IntoIterator<Item = Message>) -> bool {
        let mut inner = self.inner.lock();
        let before = inner.messages.len();
        for message in messages {
            if matches!(message, Message::Invoke { .. }) {
                inner.invokes += 1;
            }
            inner.messages.push_back(message);
        }
        if inner.messages.len() == before {
            return false;
        }
        let was = std::mem::replace(&mut inner.scheduled, true);
        if !was {
            self.scheduled.store(true, Ordering::Relaxed);
        }
        !was
    }

    /// Takes the oldest waiting message. When there is none, clears the
    /// scheduled flag and returns `None`: the instance is idle again.
    pub(crate) fn pop(&self) -> Option<Message> {
        let mut inner = self.inner.lock();
        match inner.messages.pop_front() {
            Some(message) => {
                if matches!(message, Message::Invoke { .. }) {
                    inner.invokes -= 1;
                }
                Some(message)
            }
            None => {
                inner.scheduled = false;
                self.scheduled.store(false, Ordering::Relaxed);
                None
            }
        }
    }

    /// Removes up to `max` of the newest waiting invocations (not yet
    /// started), oldest first, to run them elsewhere. Replies and timers
    /// stay: they belong to this isolate. The scheduled flag is left as
    /// it is (the runner clears it when it finds the mailbox empty).
    pub(crate) fn steal_invokes(&self, max: usize) -> Vec<Message> {
        let mut inner = self.inner.lock();
        if max == 0 || inner.invokes == 0 {
            return Vec::new();
        }
        let mut taken = Vec::new();
        let mut i = inner.messages.len();
        while i > 0 && taken.len() < max {
            i -= 1;
            if matches!(inner.messages[i], Message::Invoke { .. })
                && let Some(m) = inner.messages.remove(i)
            {
                taken.push(m);
            }
        }
        inner.invokes -= taken.len();
        taken.reverse();
        taken
    }

    /// When the oldest invocation waiting to start was placed.
    pub(crate) fn oldest_invoke(&self) -> Option<std::time::Instant> {
        let inner = self.inner.lock();
        if inner.invokes == 0 {
            return None;
        }
        inner.messages.iter().find_map(|m| match m {
            Message::Invoke { inflight, .. } => Some(inflight.placed),
            _ => None,
        })
    }

    /// Invocations waiting to start (for rebalancing).
    pub(crate) fn queued_invokes(&self) -> usize {
        self.inner.lock().invokes
    }

    /// Number of waiting messages (for metrics and placement).
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().messages.len()
    }

    /// Whether the instance is queued or running (without locking; see
    /// the field).
    pub(crate) fn is_scheduled(&self) -> bool {
        self.scheduled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_push_into_an_idle_mailbox_schedules() {
        let mb = Mailbox::default();
        assert!(mb.push(Message::Timer(TimerId(1))));
        assert!(!mb.push(Message::Timer(TimerId(2))));
        assert!(mb.pop().is_some());
        // Still scheduled while the runner works: pushes only append.
        assert!(!mb.push(Message::Timer(TimerId(3))));
        assert!(mb.pop().is_some());
        assert!(mb.pop().is_some());
        // Empty: the runner puts it down, and the next push schedules again.
        assert!(mb.pop().is_none());
        assert!(!mb.is_scheduled());
        assert!(mb.push(Message::Timer(TimerId(4))));
    }

    fn invoke(method: &str) -> Message {
        Message::Invoke {
            arg: Payload::Value(Value::Undefined),
            inflight: Inflight::for_test(method),
        }
    }

    fn method(m: &Message) -> &str {
        match m {
            Message::Invoke { inflight, .. } => &inflight.method,
            _ => "(not an invocation)",
        }
    }

    #[test]
    fn a_batch_schedules_once_and_only_when_it_brings_something() {
        let mb = Mailbox::default();
        assert!(!mb.push_all(Vec::new()), "nothing to run: not scheduled");
        assert!(!mb.is_scheduled());
        assert!(mb.push_all(vec![invoke("a"), invoke("b"), Message::Timer(TimerId(1))]));
        assert_eq!(mb.queued_invokes(), 2);
        assert_eq!(mb.len(), 3);
        assert!(!mb.push_all(vec![invoke("c")]), "already scheduled");
        assert_eq!(mb.queued_invokes(), 3);
    }

    #[test]
    fn only_invocations_not_yet_started_move() {
        let mb = Mailbox::default();
        mb.push(invoke("a"));
        mb.push(Message::Timer(TimerId(1)));
        mb.push(invoke("b"));
        mb.push(invoke("c"));
        mb.push(Message::Timer(TimerId(2)));
        assert_eq!(mb.queued_invokes(), 3);
        // The newest two, in their order; timers stay.
        let moved = mb.steal_invokes(2);
        assert_eq!(moved.iter().map(method).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(mb.queued_invokes(), 1);
        assert_eq!(mb.len(), 3);
        assert!(mb.is_scheduled(), "the runner still owns it");
        // The one started by the runner cannot move.
        assert_eq!(mb.pop().as_ref().map(method), Some("a"));
        assert!(mb.steal_invokes(5).is_empty());
        assert_eq!(mb.queued_invokes(), 0);
        assert!(matches!(mb.pop(), Some(Message::Timer(TimerId(1)))));
    }
}
