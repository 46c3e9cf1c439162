//! Identifiers of the things an isolate juggles, and the bookkeeping that
//! attributes calls and timers to the invocation they belong to (see "Async
//! context" in the engine module docs). Shared by every backend.

use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one invocation within one instance; chosen by the scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvocationId(pub u64);

/// Identifies one outgoing call; unique in the process, so a late reply to
/// a discarded isolate can never be mistaken for a reply to its successor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Identifies one timer within one isolate; chosen by the isolate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

impl CallId {
    /// A fresh id, never handed out before in this process.
    pub fn fresh() -> CallId {
        CallId(NEXT_CALL.fetch_add(1, Ordering::Relaxed))
    }
}

/// Which invocation is running, and which invocation each outstanding call
/// and timer belongs to.
#[derive(Debug, Default)]
pub(crate) struct AsyncContext {
    current: Option<InvocationId>,
    calls: HashMap<CallId, Option<InvocationId>>,
    timers: HashMap<TimerId, Option<InvocationId>>,
}

impl AsyncContext {
    /// The invocation JavaScript is running on behalf of.
    pub(crate) fn current(&self) -> Option<InvocationId> {
        self.current
    }

    /// Starting an invocation: it becomes current.
    pub(crate) fn enter_invocation(&mut self, id: InvocationId) {
        self.current = Some(id);
    }

    /// Records an outgoing call made by the current invocation.
    pub(crate) fn record_call(&mut self, call: CallId) {
        self.calls.insert(call, self.current);
    }

    /// Records a timer armed by the current invocation.
    pub(crate) fn record_timer(&mut self, timer: TimerId) {
        self.timers.insert(timer, self.current);
    }

    /// A reply arrived: its call's owner becomes current. Returns `false`
    /// for a call this isolate does not know (already answered).
    pub(crate) fn enter_reply(&mut self, call: CallId) -> bool {
        match self.calls.remove(&call) {
            Some(owner) => {
                self.current = owner;
                true
            }
            None => false,
        }
    }

    /// A timer fired: its owner becomes current. Returns `false` for a
    /// timer this isolate does not know (cleared, or fired already).
    pub(crate) fn enter_timer(&mut self, timer: TimerId) -> bool {
        match self.timers.remove(&timer) {
            Some(owner) => {
                self.current = owner;
                true
            }
            None => false,
        }
    }

    /// A timer was cleared.
    pub(crate) fn forget_timer(&mut self, timer: TimerId) {
        self.timers.remove(&timer);
    }

    /// Nothing is running.
    pub(crate) fn leave(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_timers_restore_their_owner() {
        let mut cx = AsyncContext::default();
        cx.enter_invocation(InvocationId(1));
        let call = CallId::fresh();
        cx.record_call(call);
        cx.record_timer(TimerId(7));
        cx.enter_invocation(InvocationId(2));
        assert_eq!(cx.current(), Some(InvocationId(2)));
        assert!(cx.enter_reply(call));
        assert_eq!(cx.current(), Some(InvocationId(1)));
        assert!(!cx.enter_reply(call), "a call is answered once");
        cx.leave();
        assert!(cx.enter_timer(TimerId(7)));
        assert_eq!(cx.current(), Some(InvocationId(1)));
        cx.record_timer(TimerId(8));
        cx.forget_timer(TimerId(8));
        assert!(!cx.enter_timer(TimerId(8)));
    }

    #[test]
    fn call_ids_are_unique() {
        let a = CallId::fresh();
        let b = CallId::fresh();
        assert_ne!(a, b);
    }
}
