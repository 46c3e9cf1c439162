//! The CPU time of the calling thread: what CPU budgets are charged in.
//!
//! Wall time would charge an invocation for time its worker spent
//! preempted (a busy or shared core), and kill healthy handlers; the
//! thread's CPU clock counts only time the thread actually ran. Instances
//! move between worker threads, so a budget is charged per run segment:
//! read the clock before and after, on the thread that ran the segment.
//!
//! It also changes a thread's scheduling policy: to the kernel's idle
//! class (the scheduler's backfill threads) or to its batch policy (the
//! instance starter); pins a thread to a CPU (the workers); and counts a
//! thread's context switches (the scheduler benchmark). This module holds the crate's only direct FFI
//! outside the engine backends.

use std::time::Duration;

/// The CPU clock of one thread, readable from any thread: how a watchdog
/// charges the thread running an isolate (the V8 backend's CPU budgets).
#[derive(Clone, Copy, Debug)]
pub struct ThreadClock(libc::clockid_t);

impl ThreadClock {
    /// The calling thread's clock.
    pub fn current() -> ThreadClock {
        let mut id: libc::clockid_t = libc::CLOCK_THREAD_CPUTIME_ID;
        // Safety: `pthread_self()` is the calling thread, alive during the
        // call; `id` is a valid, writable clockid_t. On failure `id` keeps
        // CLOCK_THREAD_CPUTIME_ID, which then reads the *reader's* thread:
        // budgets become generous, never unsafe.
        unsafe {
            libc::pthread_getcpuclockid(libc::pthread_self(), &mut id);
        }
        ThreadClock(id)
    }

    /// The clock id, to keep in an atomic.
    pub fn to_raw(self) -> i64 {
        i64::from(self.0)
    }

    /// A clock from [`ThreadClock::to_raw`]. Any value is safe to read: the
    /// kernel rejects invalid ids.
    pub fn from_raw(raw: i64) -> ThreadClock {
        ThreadClock(libc::clockid_t::try_from(raw).unwrap_or(libc::CLOCK_THREAD_CPUTIME_ID))
    }

    /// CPU time the thread has consumed, `None` if it cannot be read (the
    /// thread has exited). The thread must not have been joined while a
    /// reader may still use the clock (worker threads outlive isolates).
    pub fn now(&self) -> Option<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // Safety: `ts` is a valid, writable timespec; the kernel validates
        // the clock id and fails with EINVAL for a dead thread's clock.
        let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
        (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
}

/// CPU time consumed by the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // Safety: `ts` is a valid, writable `timespec` for the duration of the
    // call, and CLOCK_THREAD_CPUTIME_ID is a clock every Linux kernel since
    // 2.6.12 supports; the call writes only `ts`. On failure (not expected)
    // `ts` stays zero, which makes budgets generous, never unsafe.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// How often the calling thread has given up its CPU so far: `voluntary`
/// when it blocked (a lock, a sleep, a read), `involuntary` when the kernel
/// preempted it. Two readings around a call tell a call that was slow
/// because it waited from one whose thread was only preempted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContextSwitches {
    /// Switches away because the thread blocked.
    pub voluntary: u64,
    /// Switches away because the kernel preempted the thread.
    pub involuntary: u64,
}

/// The calling thread's context switches so far (zero if the kernel will
/// not say, which it always does on Linux).
pub fn thread_context_switches() -> ContextSwitches {
    // Safety: `rusage` is plain data for which all-zero bytes are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // Safety: RUSAGE_THREAD (Linux ≥ 2.6.26) reports the calling thread;
    // the call writes only `usage`, valid and writable for its duration.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if rc != 0 {
        return ContextSwitches::default();
    }
    ContextSwitches {
        voluntary: usage.ru_nvcsw as u64,
        involuntary: usage.ru_nivcsw as u64,
    }
}

/// Why a thread's priority could not be changed.
#[derive(Debug, thiserror::Error)]
#[error("cannot set the idle scheduling policy (SCHED_IDLE) of this thread: {0}")]
pub struct PriorityError(std::io::Error);

/// Puts the calling thread in the kernel's idle scheduling class
/// (`SCHED_IDLE`): it runs only on CPU time no normal thread wants, and a
/// normal thread that wakes up on its core preempts it at once. Needs no
/// privilege (a thread may always lower its own priority).
pub fn lower_to_idle_priority() -> Result<(), PriorityError> {
    let param = libc::sched_param { sched_priority: 0 };
    // Safety: pid 0 is the calling thread (Linux applies the policy per
    // thread); `param` is a valid sched_param that outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(PriorityError(std::io::Error::last_os_error()))
    }
}

/// Why a thread could not be pinned to a CPU.
#[derive(Debug, thiserror::Error)]
#[error("cannot pin this thread to a CPU: {0}")]
pub struct PinError(std::io::Error);

/// The CPUs the calling thread may run on now (its affinity mask, which
/// `taskset` or a container's cpuset may have narrowed), in order.
pub fn allowed_cpus() -> Result<Vec<usize>, PinError> {
    // Safety: `cpu_set_t` is plain data for which all-zero bytes are valid.
    let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // Safety: pid 0 is the calling thread; the call writes at most `size`
    // bytes into `allowed`, which is that large and writable.
    if unsafe { libc::sched_getaffinity(0, size, &mut allowed) } != 0 {
        return Err(PinError(std::io::Error::last_os_error()));
    }
    // Safety: CPU_ISSET reads one bit of a valid set, for an index below
    // CPU_SETSIZE.
    Ok((0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &allowed) })
        .collect())
}

/// Pins the calling thread to the `nth` (modulo their number) of the CPUs
/// it may run on now (its affinity mask, which `taskset` or a container may
/// have narrowed). Returns the CPU.
pub fn pin_to_nth_cpu(nth: usize) -> Result<usize, PinError> {
    let cpus = allowed_cpus()?;
    let Some(&cpu) = cpus.get(nth % cpus.len().max(1)) else {
        return Err(PinError(std::io::Error::other(
            "no CPU in the affinity mask",
        )));
    };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // Safety: `cpu_set_t` is plain data for which all-zero bytes are valid.
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // Safety: `cpu` < CPU_SETSIZE (it came from `allowed_cpus`).
    unsafe { libc::CPU_SET(cpu, &mut one) };
    // Safety: pid 0 is the calling thread; `one` is a valid set of `size`
    // bytes that outlives the call.
    if unsafe { libc::sched_setaffinity(0, size, &one) } != 0 {
        return Err(PinError(std::io::Error::last_os_error()));
    }
    Ok(cpu)
}

/// Why a thread's scheduling policy could not be changed.
#[derive(Debug, thiserror::Error)]
#[error("cannot set the batch scheduling policy (SCHED_BATCH) of this thread: {0}")]
pub struct BatchError(std::io::Error);

/// Puts the calling thread in the kernel's batch policy (`SCHED_BATCH`):
/// normal priority and a fair share of the CPU, but its wake-ups never
/// preempt the thread running on the core it wakes on (it waits for that
/// thread to sleep, or for the next tick). So a thread that wakes it does
/// not lose its core to it. Needs no privilege.
pub fn lower_to_batch_priority() -> Result<(), BatchError> {
    let param = libc::sched_param { sched_priority: 0 };
    // Safety: pid 0 is the calling thread (Linux applies the policy per
    // thread); `param` is a valid sched_param that outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(BatchError(std::io::Error::last_os_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_thread_runs_on_its_cpu() {
        let on = std::thread::spawn(|| {
            let cpu = pin_to_nth_cpu(1).expect("pin");
            std::thread::yield_now();
            // Safety: sched_getcpu takes no arguments.
            let now = unsafe { libc::sched_getcpu() };
            (cpu, now)
        })
        .join()
        .expect("thread");
        assert_eq!(
            on.0 as i32, on.1,
            "pinned to CPU {} but ran on {}",
            on.0, on.1
        );
    }

    #[test]
    fn sleeping_is_a_voluntary_switch() {
        let before = thread_context_switches();
        std::thread::sleep(Duration::from_millis(5));
        let after = thread_context_switches();
        assert!(
            after.voluntary > before.voluntary,
            "{before:?} -> {after:?}"
        );
        assert!(after.involuntary >= before.involuntary);
    }

    #[test]
    fn counts_cpu_not_sleep() {
        let start = thread_cpu_time();
        std::thread::sleep(Duration::from_millis(50));
        let slept = thread_cpu_time() - start;
        let mut x = 0u64;
        let spin = thread_cpu_time();
        while thread_cpu_time() - spin < Duration::from_millis(20) {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        assert!(
            slept < Duration::from_millis(20),
            "sleeping is not CPU time: {slept:?}"
        );
        assert!(thread_cpu_time() - spin >= Duration::from_millis(20));
    }

    #[test]
    fn another_threads_clock_counts_that_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (spun_tx, spun_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let spinner = std::thread::spawn(move || {
            tx.send(ThreadClock::current()).unwrap();
            let start = thread_cpu_time();
            while thread_cpu_time() - start < Duration::from_millis(30) {}
            spun_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        });
        let clock = rx.recv().unwrap();
        let mine = thread_cpu_time();
        spun_rx.recv().unwrap();
        let theirs = clock.now().unwrap();
        assert!(theirs >= Duration::from_millis(30), "{theirs:?}");
        assert!(thread_cpu_time() - mine < Duration::from_millis(20));
        done_tx.send(()).unwrap();
        spinner.join().unwrap();
    }
}
