//! CPU budgets, for every engine backend.
//!
//! Reading a thread's CPU clock is a system call (~0.4 µs on a VM, where it
//! also takes the run-queue lock): far too dear to do around every event
//! an isolate handles, which is what a call round trip of a few
//! microseconds is made of. So one watchdog thread per process reads the
//! clocks, and the isolates' threads only flip atomics:
//!
//! - each isolate registers a [`Slot`] once, when it is created;
//! - entering JavaScript *arms* the slot with a few atomic stores: the
//!   running thread's CPU clock id, the budget, and a new (odd) generation;
//!   leaving disarms it (an even generation). Nothing is locked and no
//!   clock is read on this path, which runs for every event (the lock is
//!   taken only to wake the watchdog from a deep sleep);
//! - every [`TICK`] the watchdog looks at each armed slot. The first time
//!   it sees a generation it reads that thread's CPU clock and sets the
//!   deadline to that reading plus the budget; later, once the clock is
//!   past the deadline, it sets `fired` and calls the isolate's
//!   [`Terminate`] (V8: `TerminateExecution`, callable from any thread).
//!   QuickJS needs no call: its interrupt handler, which QuickJS runs every
//!   few thousand bytecodes, only loads `fired`.
//!
//! Budgets are thus charged on the *thread* CPU clock (see `cpu_clock`):
//! time the worker spent preempted is not charged. The deadline starts
//! when the watchdog first sees the segment, so a budget can overrun by up
//! to two ticks plus the engine's time to notice (V8 checks at function
//! entries and loop back-edges); it never ends early.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::cpu_clock::ThreadClock;

/// Stops the JavaScript an isolate is running, from another thread.
pub(crate) trait Terminate: Send + Sync {
    /// Asks the engine to stop running JavaScript as soon as it can.
    fn terminate(&self);
}

/// How often armed isolates are checked. Budgets are tens of milliseconds
/// or more, so 2 ms costs little precision.
const TICK: Duration = Duration::from_millis(2);

/// Ticks with nothing armed after which the watchdog stops ticking and
/// sleeps until the next arm. Waking it at every arm would cost a futex
/// wake per event (measured: that doubled the call round trip), so it is
/// woken only from this deep sleep.
const IDLE_TICKS_BEFORE_SLEEP: u32 = 250;

/// One isolate's entry. Written by the isolate's thread (arm, disarm) and
/// read by the watchdog; `deadline` and `seen` belong to the watchdog.
pub(crate) struct Slot {
    /// Odd while JavaScript runs; bumped at every arm and disarm.
    generation: AtomicU64,
    /// The running thread's CPU clock ([`ThreadClock::to_raw`]), set before
    /// the generation turns odd.
    clock: AtomicI64,
    budget_ns: AtomicU64,
    /// The generation the watchdog computed `deadline` for.
    seen: AtomicU64,
    deadline_ns: AtomicU64,
    fired: AtomicBool,
    terminator: Option<Box<dyn Terminate>>,
}

impl Slot {
    /// Whether the budget of the segment armed last ran out.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// A function the watchdog calls at every tick while JavaScript runs
/// somewhere (see [`on_tick`]).
pub type TickHook = dyn Fn() + Send + Sync;

#[derive(Default)]
struct Watchdog {
    slots: Mutex<Vec<Arc<Slot>>>,
    hooks: Mutex<Vec<std::sync::Weak<TickHook>>>,
    wake: Condvar,
    /// Set (under `slots`' lock) while the watchdog sleeps until woken.
    asleep: AtomicBool,
}

static WATCHDOG: OnceLock<Arc<Watchdog>> = OnceLock::new();

fn watchdog() -> &'static Arc<Watchdog> {
    WATCHDOG.get_or_init(|| {
        let dog = Arc::new(Watchdog::default());
        let run = dog.clone();
        let spawned = std::thread::Builder::new()
            .name("pyrosome-watchdog".to_owned())
            .spawn(move || run.watch());
        if let Err(e) = spawned {
            // Without the thread budgets are not enforced; say so loudly
            // rather than refuse to run.
            tracing::error!("cannot start the V8 watchdog thread, CPU budgets are off: {e}");
        }
        dog
    })
}

impl Watchdog {
    fn run_hooks(&self) {
        let hooks: Vec<Arc<TickHook>> = {
            let mut hooks = self.hooks.lock();
            hooks.retain(|h| h.strong_count() > 0);
            hooks.iter().filter_map(std::sync::Weak::upgrade).collect()
        };
        for hook in hooks {
            hook();
        }
    }

    fn watch(&self) {
        let mut slots = self.slots.lock();
        let mut idle = 0;
        loop {
            let mut any_armed = false;
            for slot in slots.iter() {
                let generation = slot.generation.load(Ordering::SeqCst);
                if generation % 2 == 0 || slot.fired.load(Ordering::Relaxed) {
                    continue;
                }
                any_armed = true;
                let clock = ThreadClock::from_raw(slot.clock.load(Ordering::Acquire));
                let Some(now) = clock.now() else {
                    continue;
                };
                let now = now.as_nanos() as u64;
                if slot.seen.load(Ordering::Relaxed) != generation {
                    let budget = slot.budget_ns.load(Ordering::Relaxed);
                    slot.deadline_ns
                        .store(now.saturating_add(budget), Ordering::Relaxed);
                    slot.seen.store(generation, Ordering::Relaxed);
                } else if now > slot.deadline_ns.load(Ordering::Relaxed)
                    && slot.generation.load(Ordering::Acquire) == generation
                {
                    slot.fired.store(true, Ordering::Release);
                    if let Some(terminator) = &slot.terminator {
                        terminator.terminate();
                    }
                }
            }
            if any_armed {
                // Without the lock: a hook may drop the last reference to
                // a scheduler, whose isolates unregister their slots.
                parking_lot::MutexGuard::unlocked(&mut slots, || self.run_hooks());
            }
            idle = if any_armed { 0 } else { idle + 1 };
            if idle >= IDLE_TICKS_BEFORE_SLEEP {
                // Dekker with `Watch::arm`: announce the sleep, then look
                // once more; an arm either sees `asleep` or is seen here.
                self.asleep.store(true, Ordering::SeqCst);
                let armed = slots
                    .iter()
                    .any(|s| s.generation.load(Ordering::SeqCst) % 2 == 1);
                if !armed {
                    self.wake.wait(&mut slots);
                }
                self.asleep.store(false, Ordering::SeqCst);
                idle = 0;
            } else {
                self.wake.wait_for(&mut slots, TICK);
            }
        }
    }
}

/// Calls `hook` at every tick of the watchdog (every few milliseconds)
/// while JavaScript runs anywhere in the process, until the hook is
/// dropped. The scheduler uses it to notice a worker stuck in one long run
/// segment: a cheap clock that costs nothing while nothing runs.
pub fn on_tick(hook: &Arc<TickHook>) {
    watchdog().hooks.lock().push(Arc::downgrade(hook));
}

/// An isolate's registration with the watchdog; unregisters on drop.
pub(crate) struct Watch {
    slot: Arc<Slot>,
}

impl Watch {
    /// Registers an isolate. `terminator` stops its JavaScript; `None` for
    /// an engine that polls [`Slot::fired`] itself.
    pub(crate) fn register(terminator: Option<Box<dyn Terminate>>) -> Watch {
        let slot = Arc::new(Slot {
            generation: AtomicU64::new(0),
            clock: AtomicI64::new(0),
            budget_ns: AtomicU64::new(0),
            seen: AtomicU64::new(u64::MAX),
            deadline_ns: AtomicU64::new(u64::MAX),
            fired: AtomicBool::new(false),
            terminator,
        });
        watchdog().slots.lock().push(slot.clone());
        Watch { slot }
    }

    /// The slot, to ask whether the budget ran out.
    pub(crate) fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// Arms the budget for a segment about to run on this thread; the
    /// returned guard disarms it.
    pub(crate) fn arm(&self, budget: Duration) -> Armed<'_> {
        let slot = &self.slot;
        slot.fired.store(false, Ordering::Relaxed);
        slot.clock
            .store(ThreadClock::current().to_raw(), Ordering::Release);
        slot.budget_ns.store(
            u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        slot.generation.fetch_add(1, Ordering::SeqCst);
        let dog = watchdog();
        if dog.asleep.load(Ordering::SeqCst) {
            // Rare: the first arm after a quiet spell. Take the lock so the
            // wake-up cannot slip in before the watchdog waits.
            let _slots = dog.slots.lock();
            dog.wake.notify_one();
        }
        Armed { slot }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        watchdog()
            .slots
            .lock()
            .retain(|s| !Arc::ptr_eq(s, &self.slot));
    }
}

/// Keeps a slot armed; disarms it when dropped.
pub(crate) struct Armed<'a> {
    slot: &'a Slot,
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.slot.generation.fetch_add(1, Ordering::AcqRel);
    }
}
