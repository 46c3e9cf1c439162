//! The CPU time of the calling thread: what CPU budgets are charged in.
//!
//! Wall time would charge an invocation for time its worker spent
//! preempted (a busy or shared core), and kill healthy handlers; the
//! thread's CPU clock counts only time the thread actually ran. Instances
//! move between worker threads, so a budget is charged per run segment:
//! read the clock before and after, on the thread that ran the segment.
//!
//! This module holds the crate's only direct FFI outside the engine
//! backends.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
