//! CPU budgets for V8 isolates.
//!
//! QuickJS asks the embedder every few thousand bytecodes whether to stop;
//! V8 has no such hook, but any thread may call `TerminateExecution`. So
//! one watchdog thread per process watches every isolate that is running
//! JavaScript: [`arm`] records the running thread's CPU clock and the CPU
//! time at which the budget runs out, the watchdog reads that clock every
//! [`TICK`] and terminates the isolate once it is past its deadline, and
//! the guard [`arm`] returns removes the entry when the segment ends.
//!
//! Budgets are charged on the *thread* CPU clock, as for QuickJS (see
//! `cpu_clock`): time the worker spent preempted is not charged. A budget
//! can overrun by up to one tick plus V8's time to notice the termination
//! request (it checks at function entries and loop back-edges).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::ffi::Terminator;
use crate::cpu_clock::ThreadClock;

/// How often armed isolates are checked. Budgets are tens of milliseconds
/// or more, so 2 ms costs little precision.
const TICK: Duration = Duration::from_millis(2);

/// Ticks with nothing armed after which the watchdog stops ticking and
/// sleeps until the next arm. Segments are usually microseconds long, so
/// "nothing armed" at one tick says little; waking the watchdog at every
/// arm, though, would cost a futex wake per event (measured: it doubled
/// the call round trip), so it is woken only from this deep sleep.
const IDLE_TICKS_BEFORE_SLEEP: u32 = 250;

struct Entry {
    clock: ThreadClock,
    deadline: Duration,
    terminator: Terminator,
    fired: Arc<AtomicBool>,
}

#[derive(Default)]
struct Watchdog {
    armed: Mutex<HashMap<u64, Entry>>,
    wake: Condvar,
    next: AtomicU64,
    /// Set (under `armed`'s lock) while the watchdog sleeps until woken.
    asleep: AtomicBool,
}

static WATCHDOG: OnceLock<Arc<Watchdog>> = OnceLock::new();

fn watchdog() -> &'static Arc<Watchdog> {
    WATCHDOG.get_or_init(|| {
        let dog = Arc::new(Watchdog::default());
        let run = dog.clone();
        let spawned = std::thread::Builder::new()
            .name("pyrosome-v8-watchdog".to_owned())
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
    fn watch(&self) {
        let mut armed = self.armed.lock();
        let mut idle = 0;
        loop {
            if armed.is_empty() {
                idle += 1;
                if idle >= IDLE_TICKS_BEFORE_SLEEP {
                    self.asleep.store(true, Ordering::Relaxed);
                    self.wake.wait(&mut armed);
                    self.asleep.store(false, Ordering::Relaxed);
                    idle = 0;
                    continue;
                }
            } else {
                idle = 0;
            }
            for entry in armed.values() {
                if entry.fired.load(Ordering::Relaxed) {
                    continue;
                }
                if entry.clock.now().is_some_and(|t| t > entry.deadline) {
                    entry.fired.store(true, Ordering::Relaxed);
                    entry.terminator.terminate();
                }
            }
            self.wake.wait_for(&mut armed, TICK);
        }
    }
}

/// Keeps an isolate armed; disarms it when dropped.
pub(super) struct Armed {
    token: u64,
}

impl Drop for Armed {
    fn drop(&mut self) {
        watchdog().armed.lock().remove(&self.token);
    }
}

/// Arms the budget for a segment about to run on this thread: once the
/// thread has used `budget` more CPU time, `terminator` is called and
/// `fired` set.
pub(super) fn arm(terminator: &Terminator, budget: Duration, fired: &Arc<AtomicBool>) -> Armed {
    let clock = ThreadClock::current();
    let deadline = clock.now().unwrap_or_default() + budget;
    let dog = watchdog();
    let token = dog.next.fetch_add(1, Ordering::Relaxed);
    let mut armed = dog.armed.lock();
    armed.insert(
        token,
        Entry {
            clock,
            deadline,
            terminator: terminator.clone(),
            fired: fired.clone(),
        },
    );
    if dog.asleep.load(Ordering::Relaxed) {
        dog.wake.notify_one();
    }
    Armed { token }
}
