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
///
/// It also knows which invocations are *live*: started, and not yet both
/// answered and released by every `ctx.waitUntil` promise. A timer belongs
/// to the invocation that armed it and dies with it, as in Workers: when it
/// comes due after its invocation ended it is [`TimerFate::Expired`] and
/// does not run (an interval stops). Timers armed outside any invocation (at
/// a module's top level) live as long as the instance.
#[derive(Debug, Default)]
pub(crate) struct AsyncContext {
    current: Option<InvocationId>,
    calls: HashMap<CallId, Option<InvocationId>>,
    timers: HashMap<TimerId, Option<InvocationId>>,
    live: HashMap<InvocationId, Life>,
}

/// A live invocation's state.
#[derive(Debug, Default, Clone, Copy)]
struct Life {
    /// It answered (its result is out).
    answered: bool,
    /// `waitUntil` promises not yet settled.
    holds: usize,
    /// It made outbound fetches (whatever of them is in flight when it
    /// ends is abandoned: see [`AsyncContext::answered`]).
    fetched: bool,
}

/// What to do with a timer that came due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerFate {
    /// Run its callback (its owner became current).
    Run,
    /// Its invocation has ended: do not run it, forget it.
    Expired,
    /// Cleared, or fired already: nothing to do.
    Unknown,
}

impl AsyncContext {
    /// The invocation JavaScript is running on behalf of.
    pub(crate) fn current(&self) -> Option<InvocationId> {
        self.current
    }

    /// Starting an invocation: it becomes current, and live.
    pub(crate) fn enter_invocation(&mut self, id: InvocationId) {
        self.current = Some(id);
        self.live.entry(id).or_default();
    }

    /// An invocation answered; it ends now unless `waitUntil` holds it.
    /// `true` when it ended having made outbound fetches (the host then
    /// reports `Effect::Ended`).
    pub(crate) fn answered(&mut self, id: InvocationId) -> bool {
        if let Some(life) = self.live.get_mut(&id) {
            life.answered = true;
            if life.holds == 0 {
                return self.live.remove(&id).is_some_and(|l| l.fetched);
            }
        }
        false
    }

    /// `waitUntil`: keeps the current invocation live until [`Self::release`]
    /// with the id returned (`None`: nothing to hold, e.g. at top level).
    pub(crate) fn hold(&mut self) -> Option<InvocationId> {
        let id = self.current?;
        self.live.get_mut(&id)?.holds += 1;
        Some(id)
    }

    /// A `waitUntil` promise settled. `true` as for [`Self::answered`].
    pub(crate) fn release(&mut self, id: InvocationId) -> bool {
        if let Some(life) = self.live.get_mut(&id) {
            life.holds = life.holds.saturating_sub(1);
            if life.holds == 0 && life.answered {
                return self.live.remove(&id).is_some_and(|l| l.fetched);
            }
        }
        false
    }

    /// Records an outgoing call made by the current invocation.
    pub(crate) fn record_call(&mut self, call: CallId) {
        self.calls.insert(call, self.current);
    }

    /// Records an outbound fetch (or a read of its body) made by the current
    /// invocation: answered like a call, and abandoned when the invocation
    /// ends.
    pub(crate) fn record_fetch(&mut self, call: CallId) {
        self.calls.insert(call, self.current);
        if let Some(life) = self.current.and_then(|id| self.live.get_mut(&id)) {
            life.fetched = true;
        }
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

    /// A timer fired: its owner becomes current if it is still live (see
    /// the type's documentation).
    pub(crate) fn enter_timer(&mut self, timer: TimerId) -> TimerFate {
        match self.timers.remove(&timer) {
            Some(Some(owner)) if !self.live.contains_key(&owner) => TimerFate::Expired,
            Some(owner) => {
                self.current = owner;
                TimerFate::Run
            }
            None => TimerFate::Unknown,
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
        assert_eq!(cx.enter_timer(TimerId(7)), TimerFate::Run);
        assert_eq!(cx.current(), Some(InvocationId(1)));
        cx.record_timer(TimerId(8));
        cx.forget_timer(TimerId(8));
        assert_eq!(cx.enter_timer(TimerId(8)), TimerFate::Unknown);
    }

    #[test]
    fn timers_die_with_their_invocation_unless_wait_until_holds_it() {
        let mut cx = AsyncContext::default();
        cx.enter_invocation(InvocationId(1));
        cx.record_timer(TimerId(1));
        let held = cx.hold();
        assert_eq!(held, Some(InvocationId(1)));
        cx.record_timer(TimerId(2));
        cx.answered(InvocationId(1));
        // Held: its timers still run.
        assert_eq!(cx.enter_timer(TimerId(1)), TimerFate::Run);
        cx.record_timer(TimerId(3));
        cx.release(InvocationId(1));
        // Released after answering: it ended.
        assert_eq!(cx.enter_timer(TimerId(2)), TimerFate::Expired);
        assert_eq!(cx.enter_timer(TimerId(3)), TimerFate::Expired);
        // Top-level timers belong to no invocation and always run.
        cx.leave();
        cx.record_timer(TimerId(4));
        assert_eq!(cx.enter_timer(TimerId(4)), TimerFate::Run);
        assert_eq!(cx.hold(), None);
    }

    #[test]
    fn an_invocation_that_fetched_reports_its_end() {
        let mut cx = AsyncContext::default();
        cx.enter_invocation(InvocationId(1));
        assert!(!cx.answered(InvocationId(1)), "no fetch: nothing to report");
        cx.enter_invocation(InvocationId(2));
        cx.record_fetch(CallId::fresh());
        let held = cx.hold();
        assert!(!cx.answered(InvocationId(2)), "still held by waitUntil");
        assert!(cx.release(InvocationId(2)), "ended now, having fetched");
        assert!(held.is_some());
        assert!(!cx.release(InvocationId(2)), "reported once");
    }

    #[test]
    fn call_ids_are_unique() {
        let a = CallId::fresh();
        let b = CallId::fresh();
        assert_ne!(a, b);
    }
}
