//! An instance's mailbox: the events waiting for it, and the flag that says
//! whether it is already on a run queue.
//!
//! The protocol: whoever pushes a message into an idle mailbox (flag clear)
//! sets the flag and must put the instance on a run queue; pushes into a
//! scheduled mailbox only append. The worker that runs the instance drains
//! the mailbox and clears the flag under the same lock when it finds it
//! empty, so an instance is on at most one run queue, run by at most one
//! worker, and a message is never left behind in an idle mailbox.

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
        inner.messages.push_back(message);
        let was = std::mem::replace(&mut inner.scheduled, true);
        if !was {
            self.scheduled.store(true, Ordering::Relaxed);
        }
        !was
    }

    /// Takes every waiting message. When there are none, clears the
    /// scheduled flag and returns `None`: the instance is idle again.
    pub(crate) fn take(&self) -> Option<VecDeque<Message>> {
        let mut inner = self.inner.lock();
        if inner.messages.is_empty() {
            inner.scheduled = false;
            self.scheduled.store(false, Ordering::Relaxed);
            None
        } else {
            Some(std::mem::take(&mut inner.messages))
        }
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
        assert_eq!(mb.take().map(|m| m.len()), Some(2));
        // Still scheduled while the runner works: pushes only append.
        assert!(!mb.push(Message::Timer(TimerId(3))));
        assert_eq!(mb.take().map(|m| m.len()), Some(1));
        // Empty: the runner puts it down, and the next push schedules again.
        assert!(mb.take().is_none());
        assert!(mb.push(Message::Timer(TimerId(4))));
    }
}
