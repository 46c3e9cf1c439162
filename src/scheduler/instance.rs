//! An instance: one isolate with one service's module loaded, plus its
//! mailbox. The unit of scheduling (see the scheduler module docs).

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};

use crate::engine::{CallId, InvocationId, Isolate, JsError, Payload};

use super::mailbox::{Mailbox, ReplyTo};
use super::service::ServiceConfig;
use super::stats::MethodStats;

/// Which work an instance runs (see `policy.rs`, partitioning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Ordinary invocations; any worker runs it.
    Short = 0,
    /// Invocations of methods classified long; only the long subset of
    /// workers and the backfill threads run it.
    Long = 1,
}

/// An invocation placed on an instance and not yet answered.
pub(crate) struct Inflight {
    /// Where the result goes.
    pub(crate) reply: ReplyTo,
    /// Length of the call chain that led here (1 for an external call).
    pub(crate) depth: u32,
    /// The method invoked.
    pub(crate) method: String,
    /// Its counters (looked up once, at placement).
    pub(crate) stats: Arc<MethodStats>,
    /// When it must be answered by; propagated to the calls it makes.
    pub(crate) deadline: Instant,
    /// When it was placed, for the latency histogram.
    pub(crate) placed: Instant,
    /// CPU time of its run segments so far.
    pub(crate) cpu: Duration,
    /// Its span, if its request is traced (see `crate::trace`).
    pub(crate) trace: Option<Box<crate::trace::Invocation>>,
}

#[cfg(test)]
impl Inflight {
    /// A record for unit tests, answered nowhere.
    pub(crate) fn for_test(method: &str) -> Inflight {
        let now = Instant::now();
        Inflight {
            reply: ReplyTo::External(tokio::sync::oneshot::channel().0),
            depth: 1,
            method: method.to_owned(),
            stats: Arc::default(),
            deadline: now + Duration::from_secs(60),
            placed: now,
            cpu: Duration::ZERO,
            trace: None,
        }
    }
}

/// What only the worker running an instance touches.
///
/// Durability: an invocation's result is not released to its caller (or
/// the HTTP client) while store writes it made are unacknowledged, so an
/// answer always implies its writes are durable, even when the handler did
/// not `await` them.
pub(crate) struct Core {
    pub(crate) isolate: Box<dyn Isolate>,
    pub(crate) inflight: HashMap<InvocationId, Inflight>,
    /// The invocation that made each outstanding call or store operation
    /// (so the segment that handles its reply is charged to it).
    owners: HashMap<CallId, InvocationId>,
    /// Store writes in progress, with the invocation that made each.
    writes: HashMap<CallId, Option<InvocationId>>,
    /// Unacknowledged writes per invocation.
    pending_writes: HashMap<InvocationId, usize>,
    /// Completed invocations waiting for their writes.
    held: HashMap<InvocationId, (Inflight, Result<Payload, JsError>)>,
    next_invocation: u64,
    /// Open spans of traced store operations, fetches and timers.
    pub(crate) spans: crate::trace::Pending,
}

impl Core {
    pub(crate) fn new(isolate: Box<dyn Isolate>) -> Core {
        Core {
            isolate,
            inflight: HashMap::default(),
            owners: HashMap::default(),
            writes: HashMap::default(),
            pending_writes: HashMap::default(),
            held: HashMap::default(),
            next_invocation: 1,
            spans: crate::trace::Pending::default(),
        }
    }

    /// Records a new invocation and returns its id.
    pub(crate) fn begin(&mut self, inflight: Inflight) -> InvocationId {
        let id = InvocationId(self.next_invocation);
        self.next_invocation += 1;
        self.inflight.insert(id, inflight);
        id
    }

    /// The span of invocation `parent`, if it is traced.
    pub(crate) fn trace_of(
        &self,
        parent: Option<InvocationId>,
    ) -> Option<&crate::trace::Invocation> {
        self.inflight.get(&parent?)?.trace.as_deref()
    }

    /// Records an outgoing call or store operation made by `parent`.
    pub(crate) fn track_call(&mut self, call: CallId, parent: Option<InvocationId>) {
        if let Some(p) = parent {
            self.owners.insert(call, p);
        }
    }

    /// The invocation a reply belongs to (forgetting the call).
    pub(crate) fn owner_of(&mut self, call: CallId) -> Option<InvocationId> {
        self.owners.remove(&call)
    }

    /// Records a store write made on behalf of `parent`.
    pub(crate) fn track_write(&mut self, call: CallId, parent: Option<InvocationId>) {
        self.writes.insert(call, parent);
        if let Some(p) = parent {
            *self.pending_writes.entry(p).or_insert(0) += 1;
        }
    }

    /// A reply arrived for `call`; if it acknowledged the last write of a
    /// completed invocation, returns that invocation's held result.
    pub(crate) fn write_acknowledged(
        &mut self,
        call: CallId,
    ) -> Option<(Inflight, Result<Payload, JsError>)> {
        let parent = self.writes.remove(&call)??;
        let count = self.pending_writes.get_mut(&parent)?;
        *count -= 1;
        if *count > 0 {
            return None;
        }
        self.pending_writes.remove(&parent);
        self.held.remove(&parent)
    }

    /// An invocation completed: returns its record and result to answer
    /// now, or holds them until its writes are acknowledged. `None` also
    /// for an invocation already answered (its deadline passed).
    pub(crate) fn complete(
        &mut self,
        id: InvocationId,
        result: Result<Payload, JsError>,
    ) -> Option<(Inflight, Result<Payload, JsError>)> {
        let inflight = self.inflight.remove(&id)?;
        if self.pending_writes.get(&id).is_some_and(|n| *n > 0) {
            self.held.insert(id, (inflight, result));
            return None;
        }
        Some((inflight, result))
    }

    /// Removes and returns the invocations whose deadline has passed.
    pub(crate) fn overdue(&mut self, now: Instant) -> Vec<Inflight> {
        let late: Vec<InvocationId> = self
            .inflight
            .iter()
            .filter(|(_, i)| i.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        late.iter()
            .filter_map(|id| self.inflight.remove(id))
            .collect()
    }

    /// Everything unanswered (for failing it when the isolate is lost).
    pub(crate) fn drain_unanswered(&mut self) -> Vec<Inflight> {
        self.owners.clear();
        self.writes.clear();
        self.pending_writes.clear();
        let mut all: Vec<Inflight> = self.inflight.drain().map(|(_, i)| i).collect();
        all.extend(self.held.drain().map(|(_, (i, _))| i));
        all
    }
}

/// See the module documentation.
pub(crate) struct Instance {
    /// Unique within the scheduler, for logs.
    pub(crate) id: u64,
    pub(crate) spec: Arc<ServiceConfig>,
    pub(crate) class: Class,
    pub(crate) mailbox: Mailbox,
    core: Mutex<Option<Core>>,
    /// Invocations routed here and not yet answered (read by placement).
    load: AtomicUsize,
    /// When the load last dropped to zero (nanoseconds since `epoch`).
    idle_since: AtomicU64,
    epoch: Instant,
    /// The worker that last ran it (`NO_WORKER` before its first run), for
    /// `Status` only.
    last_worker: AtomicUsize,
}

/// `Instance::last_worker` before the first run.
const NO_WORKER: usize = usize::MAX;

impl Instance {
    pub(crate) fn new(
        id: u64,
        spec: Arc<ServiceConfig>,
        class: Class,
        isolate: Box<dyn Isolate>,
        epoch: Instant,
    ) -> Instance {
        Instance {
            id,
            spec,
            class,
            mailbox: Mailbox::default(),
            core: Mutex::new(Some(Core::new(isolate))),
            load: AtomicUsize::new(0),
            idle_since: AtomicU64::new(epoch.elapsed().as_nanos() as u64),
            epoch,
            last_worker: AtomicUsize::new(NO_WORKER),
        }
    }

    /// Locks the core. Only the worker that holds the instance's schedule
    /// token calls this, so the lock is uncontended; `None` means the
    /// instance is dead (its isolate could not be replaced).
    pub(crate) fn core(&self) -> MutexGuard<'_, Option<Core>> {
        self.core.lock()
    }

    /// The core if nobody is running the instance (housekeeping).
    pub(crate) fn try_core(&self) -> Option<MutexGuard<'_, Option<Core>>> {
        self.core.try_lock()
    }

    /// Records that worker `index` runs it now.
    pub(crate) fn ran_on(&self, index: usize) {
        self.last_worker.store(index, Ordering::Relaxed);
    }

    /// The worker that last ran it.
    pub(crate) fn last_worker(&self) -> Option<usize> {
        Some(self.last_worker.load(Ordering::Relaxed)).filter(|w| *w != NO_WORKER)
    }

    /// Invocations routed here and not answered.
    pub(crate) fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    pub(crate) fn add_load(&self) {
        self.load.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add_loads(&self, n: usize) {
        self.load.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn sub_load(&self, n: usize) {
        if n > 0 && self.load.fetch_sub(n, Ordering::Relaxed) == n {
            self.idle_since
                .store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// Restarts its idle clock: a spare instance put into service now is
    /// new work's, not an idle one for reclaiming to drop.
    pub(crate) fn idle_from_now(&self) {
        self.idle_since
            .store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// How long it has had nothing in flight (zero while it has).
    pub(crate) fn idle_for(&self, now: Instant) -> Duration {
        if self.load() > 0 || self.mailbox.is_scheduled() {
            return Duration::ZERO;
        }
        let since = Duration::from_nanos(self.idle_since.load(Ordering::Relaxed));
        now.saturating_duration_since(self.epoch + since)
    }
}
