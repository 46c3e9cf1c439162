//! The scheduler's decisions, as pure functions of what it measured, so
//! they can be tested deterministically and changed in one place.
//!
//! - **Replication**: a new invocation goes to the least-loaded instance of
//!   its service. If even that instance is busy — queued or running, so the
//!   invocation would wait for a worker — while some worker is idle, the
//!   service gets another instance at once (an isolate starts in well under
//!   a millisecond). Decisions are taken on the placement path, per
//!   invocation, in microseconds.
//! - **Reclaiming**: an instance that has had nothing in flight for
//!   [`IDLE_RECLAIM`] is dropped, down to the service's `min_instances`.
//! - **Partitioning**: a method whose invocations take much longer than the
//!   typical invocation of the app is *long*. Long methods run on their own
//!   instances, and only a subset of the workers sized to the long methods'
//!   share of CPU time runs them, so short invocations always find a worker
//!   that is not stuck behind a long one.
//! - **Overload**: past `max_concurrency` invocations per instance, with no
//!   room for another instance, new invocations are refused.

use std::time::Duration;

/// How long an instance must sit idle before it is reclaimed. Long enough
/// that a bursty service keeps its instances between bursts; reclaiming
/// only saves memory.
pub(crate) const IDLE_RECLAIM: Duration = Duration::from_secs(10);

/// A method is never long below this CPU time per invocation: shorter
/// work cannot hurt anyone's tail latency much.
pub(crate) const LONG_FLOOR: Duration = Duration::from_millis(1);

/// A method is long when its invocations take this many times longer than
/// the app's typical (call-weighted median) invocation.
pub(crate) const LONG_RATIO: f64 = 10.0;

/// A long method returns to short below this fraction of the threshold
/// (hysteresis, so a method near the line does not flap).
pub(crate) const LONG_HYSTERESIS: f64 = 0.5;

/// Invocations of a method measured before it can be classified.
pub(crate) const MIN_SAMPLES: u64 = 8;

/// How often partitions and reclaiming are reviewed.
pub(crate) const REVIEW_INTERVAL: Duration = Duration::from_millis(50);

/// What placement knows about one candidate instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// Invocations in flight in it.
    pub(crate) load: usize,
    /// Whether it is queued or running (a new invocation would wait).
    pub(crate) busy: bool,
}

/// The outcome of placing one invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Use the candidate at this index.
    Use(usize),
    /// Start another instance and use it.
    Grow,
    /// Refuse: every instance is at its concurrency limit and the service
    /// cannot grow.
    Overloaded,
}

/// Chooses where a new invocation goes. `candidates` are the running
/// instances of the right class; `max_instances` bounds them;
/// `idle_workers` counts workers with nothing to run.
pub(crate) fn place(
    candidates: &[Candidate],
    max_instances: usize,
    max_concurrency: usize,
    idle_workers: usize,
) -> Placement {
    let best = candidates
        .iter()
        .enumerate()
        .min_by_key(|(_, c)| (c.busy, c.load))
        .map(|(i, c)| (i, *c));
    let can_grow = candidates.len() < max_instances;
    match best {
        None if can_grow => Placement::Grow,
        None => Placement::Overloaded,
        Some((_, c)) if c.busy && idle_workers > 0 && can_grow => Placement::Grow,
        Some((_, c)) if c.load >= max_concurrency && can_grow => Placement::Grow,
        Some((_, c)) if c.load >= max_concurrency => Placement::Overloaded,
        Some((i, _)) => Placement::Use(i),
    }
}

/// Whether an instance idle for `idle_for` may be dropped from a service
/// running `count` instances with a floor of `min`.
pub(crate) fn reclaimable(idle_for: Duration, count: usize, min: usize) -> bool {
    count > min && idle_for >= IDLE_RECLAIM
}

/// One method as classification sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MethodSample {
    /// Moving average of its invocations' CPU time, seconds.
    pub(crate) cpu: f64,
    /// Invocations measured so far.
    pub(crate) samples: u64,
    /// Whether it is long now.
    pub(crate) long: bool,
}

/// Classifies every method as long (`true`) or short, adaptively: long
/// means slower than both [`LONG_FLOOR`] and [`LONG_RATIO`] times the
/// call-weighted median invocation of the app.
pub(crate) fn classify(methods: &[MethodSample]) -> Vec<bool> {
    let mut measured: Vec<(f64, u64)> = methods
        .iter()
        .filter(|m| m.samples >= MIN_SAMPLES)
        .map(|m| (m.cpu, m.samples))
        .collect();
    if measured.is_empty() {
        return methods.iter().map(|m| m.long).collect();
    }
    measured.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = measured.iter().map(|m| m.1).sum();
    let mut seen = 0;
    let mut typical = measured[measured.len() - 1].0;
    for (cpu, n) in &measured {
        seen += n;
        if seen * 2 >= total {
            typical = *cpu;
            break;
        }
    }
    let threshold = (typical * LONG_RATIO).max(LONG_FLOOR.as_secs_f64());
    methods
        .iter()
        .map(|m| {
            if m.samples < MIN_SAMPLES {
                m.long
            } else if m.long {
                m.cpu > threshold * LONG_HYSTERESIS
            } else {
                m.cpu > threshold
            }
        })
        .collect()
}

/// How many workers may run long instances: enough for the long methods'
/// share of CPU time, but never all of them, so short work always has a
/// worker. With one worker there is nothing to partition.
pub(crate) fn long_workers(workers: usize, long_share: f64) -> usize {
    if workers < 2 {
        return workers;
    }
    let wanted = (workers as f64 * long_share.clamp(0.0, 1.0)).ceil() as usize;
    wanted.clamp(1, workers - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(load: usize, busy: bool) -> Candidate {
        Candidate { load, busy }
    }

    #[test]
    fn placement_prefers_an_idle_instance_then_the_least_loaded() {
        // An instance waiting on I/O (not busy) takes more work: it
        // interleaves at its awaits.
        assert_eq!(
            place(&[c(3, true), c(5, false)], 4, 100, 1),
            Placement::Use(1)
        );
        assert_eq!(
            place(&[c(3, false), c(1, false)], 4, 100, 1),
            Placement::Use(1)
        );
    }

    #[test]
    fn replicates_under_backlog_only_when_a_worker_is_idle() {
        assert_eq!(place(&[c(1, true)], 4, 100, 1), Placement::Grow);
        assert_eq!(
            place(&[c(1, true)], 4, 100, 0),
            Placement::Use(0),
            "no idle worker: queue"
        );
        assert_eq!(
            place(&[c(1, true), c(2, true)], 2, 100, 1),
            Placement::Use(0),
            "at max"
        );
        assert_eq!(place(&[], 2, 100, 0), Placement::Grow, "no instance at all");
    }

    #[test]
    fn refuses_past_the_concurrency_limit() {
        assert_eq!(place(&[c(10, false)], 1, 10, 0), Placement::Overloaded);
        assert_eq!(place(&[c(10, false)], 2, 10, 0), Placement::Grow);
        assert_eq!(place(&[c(9, false)], 1, 10, 0), Placement::Use(0));
        assert_eq!(place(&[], 0, 10, 0), Placement::Overloaded);
    }

    #[test]
    fn reclaims_idle_instances_down_to_the_floor() {
        assert!(reclaimable(IDLE_RECLAIM, 2, 1));
        assert!(
            !reclaimable(IDLE_RECLAIM, 1, 1),
            "never below min_instances"
        );
        assert!(!reclaimable(IDLE_RECLAIM / 2, 3, 1), "not idle long enough");
    }

    fn m(cpu_ms: f64, samples: u64, long: bool) -> MethodSample {
        MethodSample {
            cpu: cpu_ms / 1000.0,
            samples,
            long,
        }
    }

    #[test]
    fn a_slow_method_among_fast_ones_is_long() {
        let out = classify(&[m(0.05, 950, false), m(0.08, 100, false), m(20.0, 50, false)]);
        assert_eq!(out, [false, false, true]);
    }

    #[test]
    fn uniform_or_fast_work_is_not_partitioned() {
        // Everything equally slow: nothing is long relative to the rest.
        assert_eq!(
            classify(&[m(20.0, 100, false), m(25.0, 100, false)]),
            [false, false]
        );
        // Ten times slower but still under the floor.
        assert_eq!(
            classify(&[m(0.01, 100, false), m(0.5, 100, false)]),
            [false, false]
        );
    }

    #[test]
    fn classification_waits_for_samples_and_has_hysteresis() {
        assert_eq!(
            classify(&[m(0.05, 100, false), m(20.0, 3, false)]),
            [false, false]
        );
        // Threshold is 10 x 0.1 ms = 1 ms: 0.7 ms stays long, 0.4 ms returns.
        assert_eq!(
            classify(&[m(0.1, 100, false), m(0.7, 100, true)]),
            [false, true]
        );
        assert_eq!(
            classify(&[m(0.1, 100, false), m(0.4, 100, true)]),
            [false, false]
        );
        assert_eq!(
            classify(&[m(0.1, 100, false), m(0.7, 100, false)]),
            [false, false]
        );
    }

    #[test]
    fn long_work_gets_a_bounded_share_of_workers() {
        assert_eq!(long_workers(1, 0.9), 1);
        assert_eq!(long_workers(2, 0.05), 1);
        assert_eq!(long_workers(2, 0.95), 1, "never every worker");
        assert_eq!(long_workers(8, 0.3), 3);
        assert_eq!(long_workers(8, 0.0), 1);
        assert_eq!(long_workers(8, 1.0), 7);
    }
}
