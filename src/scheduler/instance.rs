//! An instance: one isolate with one service's module loaded, plus its
//! mailbox. The unit of scheduling (see the scheduler module docs).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};

use crate::engine::{InvocationId, Isolate};

use super::mailbox::{Mailbox, ReplyTo};
use super::service::ServiceConfig;

/// An invocation started in an instance and not yet complete.
pub(crate) struct Inflight {
    pub(crate) reply: ReplyTo,
    pub(crate) depth: u32,
    pub(crate) method: String,
}

/// What only the worker running an instance touches.
pub(crate) struct Core {
    pub(crate) isolate: Box<dyn Isolate>,
    pub(crate) inflight: HashMap<InvocationId, Inflight>,
    next_invocation: u64,
}

impl Core {
    pub(crate) fn new(isolate: Box<dyn Isolate>) -> Core {
        Core {
            isolate,
            inflight: HashMap::new(),
            next_invocation: 1,
        }
    }

    /// Records a new invocation and returns its id.
    pub(crate) fn begin(&mut self, inflight: Inflight) -> InvocationId {
        let id = InvocationId(self.next_invocation);
        self.next_invocation += 1;
        self.inflight.insert(id, inflight);
        id
    }
}

/// See the module documentation.
pub(crate) struct Instance {
    /// Unique within the scheduler, for logs.
    pub(crate) id: u64,
    pub(crate) spec: Arc<ServiceConfig>,
    pub(crate) mailbox: Mailbox,
    core: Mutex<Option<Core>>,
    /// Invocations routed here and not yet complete (read by placement).
    load: AtomicUsize,
}

impl Instance {
    pub(crate) fn new(id: u64, spec: Arc<ServiceConfig>, isolate: Box<dyn Isolate>) -> Instance {
        Instance {
            id,
            spec,
            mailbox: Mailbox::default(),
            core: Mutex::new(Some(Core::new(isolate))),
            load: AtomicUsize::new(0),
        }
    }

    /// Locks the core. Only the worker that holds the instance's schedule
    /// token calls this, so the lock is uncontended; `None` means the
    /// instance is dead (its isolate could not be replaced).
    pub(crate) fn core(&self) -> MutexGuard<'_, Option<Core>> {
        self.core.lock()
    }

    /// Invocations routed here and not complete.
    pub(crate) fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    pub(crate) fn add_load(&self) {
        self.load.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sub_load(&self, n: usize) {
        self.load.fetch_sub(n, Ordering::Relaxed);
    }
}
