//! The scheduler's decisions, as pure functions of what it measured, so
//! they can be tested deterministically and changed in one place.
//!
//! - **Replication**: a new invocation goes to the least-loaded instance of
//!   its service. If even that instance is busy — queued or running, so the
//!   invocation would wait for a worker — while some worker is idle, the
//!   service gets another instance. Decisions are taken on the placement
//!   path, per invocation, in microseconds; the isolate itself is started
//!   off that path (`starter.rs`): meanwhile the invocation goes to the
//!   busy instance, or, when the service has no instance it can use,
//!   waits in the service's queue. Once the new instance is up it takes
//!   over half of the not-yet-started invocations queued on its busiest
//!   sibling ([`rebalance`]).
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

/// Long work runs on leftover CPU alone (no worker reserved for it) while
/// it needs at most this fraction of what short work leaves: the rest is
/// slack for other processes and bursts.
pub(crate) const BACKFILL_HEADROOM: f64 = 0.8;

/// Long work is starving when an invocation of a long method has waited
/// this long to start: then workers are reserved for long work again.
pub(crate) const LONG_STARVATION: Duration = Duration::from_millis(250);

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
    /// Start another instance (off the placement path); meanwhile put the
    /// invocation on the candidate at this index, or, with `None`, let it
    /// wait in the service's queue for the new one.
    Grow { meanwhile: Option<usize> },
    /// Wait in the service's queue for the instance being started.
    Wait,
    /// Refuse: every instance is at its concurrency limit, the service
    /// cannot grow, and its queue is full.
    Overloaded,
}

/// What placement knows about a service's instances of one class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Room {
    /// Most instances of the class.
    pub(crate) max_instances: usize,
    /// Most invocations in flight per instance.
    pub(crate) max_concurrency: usize,
    /// Threads with nothing to run that could run the class.
    pub(crate) idle_workers: usize,
    /// Whether an instance of the class is being started.
    pub(crate) starting: bool,
    /// Invocations waiting in the service's queue for it.
    pub(crate) waiting: usize,
}

/// Chooses where a new invocation goes. `candidates` are the running
/// instances of the right class. Never blocks on a start: a new instance is
/// asked for, and the invocation goes to a running one meanwhile, or waits
/// (bounded by one instance's `max_concurrency`) for the one starting.
pub(crate) fn place(candidates: &[Candidate], room: Room) -> Placement {
    let best = candidates
        .iter()
        .enumerate()
        .min_by_key(|(_, c)| (c.busy, c.load))
        .map(|(i, c)| (i, *c));
    let can_grow = !room.starting && candidates.len() < room.max_instances;
    let can_wait = (room.starting || can_grow) && room.waiting < room.max_concurrency;
    match best {
        Some((i, c)) if c.load < room.max_concurrency => {
            if c.busy && room.idle_workers > 0 && can_grow {
                Placement::Grow { meanwhile: Some(i) }
            } else {
                Placement::Use(i)
            }
        }
        // No instance, or the best is full.
        _ if can_grow && can_wait => Placement::Grow { meanwhile: None },
        _ if can_wait => Placement::Wait,
        _ => Placement::Overloaded,
    }
}

/// Rebalancing a backlog onto a new instance: how many of the `queued`
/// not-yet-started invocations of the busiest sibling move to it. Half
/// (rounded down), so both drain at the same pace; nothing below 2.
pub(crate) fn rebalance(queued: usize) -> usize {
    queued / 2
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

/// What the review measured for the long/short split.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Demand {
    /// Short work's CPU time per wall second (cores' worth), smoothed.
    pub(crate) short_cores: f64,
    /// Long work's CPU time per wall second, smoothed.
    pub(crate) long_cores: f64,
    /// Long work's share of all CPU time, smoothed.
    pub(crate) long_share: f64,
    /// Whether a long invocation has waited past [`LONG_STARVATION`].
    pub(crate) long_starved: bool,
}

/// How many workers are *reserved* for long instances (workers `0..k` take
/// them before anything else). Long work also always runs on the backfill
/// threads, at idle priority, on whatever CPU the workers leave: so while
/// it fits in [`BACKFILL_HEADROOM`] of what short work leaves (and does
/// not starve), no worker is reserved and short work has every core, each
/// reclaimed from long work as soon as a worker wakes. Otherwise the
/// reservation follows long work's share of CPU time, never every worker
/// (with one worker, that worker).
///
/// A reservation only raises long work's priority over short work: it adds
/// no CPU. So a starving long invocation reserves workers only while long
/// work receives less than the reservation would guarantee it; when it
/// already gets that many cores, the wait is its own backlog (bursts of
/// long arrivals), and a reserved worker would only make short work wait
/// behind long segments at equal priority.
pub(crate) fn long_workers(workers: usize, demand: Demand) -> usize {
    let left = (workers as f64 - demand.short_cores).max(0.0);
    let fits = demand.long_cores <= BACKFILL_HEADROOM * left;
    let wanted = if workers < 2 {
        workers
    } else {
        let share = (workers as f64 * demand.long_share.clamp(0.0, 1.0)).ceil() as usize;
        share.clamp(1, workers - 1)
    };
    let starved_by_others = demand.long_starved && demand.long_cores < wanted as f64;
    if fits && !starved_by_others {
        return 0;
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(load: usize, busy: bool) -> Candidate {
        Candidate { load, busy }
    }

    fn room(max_instances: usize, max_concurrency: usize, idle_workers: usize) -> Room {
        Room {
            max_instances,
            max_concurrency,
            idle_workers,
            starting: false,
            waiting: 0,
        }
    }

    fn p(candidates: &[Candidate], max: usize, conc: usize, idle: usize) -> Placement {
        place(candidates, room(max, conc, idle))
    }

    #[test]
    fn placement_prefers_an_idle_instance_then_the_least_loaded() {
        // An instance waiting on I/O (not busy) takes more work: it
        // interleaves at its awaits.
        assert_eq!(p(&[c(3, true), c(5, false)], 4, 100, 1), Placement::Use(1));
        assert_eq!(p(&[c(3, false), c(1, false)], 4, 100, 1), Placement::Use(1));
    }

    #[test]
    fn replicates_under_backlog_only_when_a_worker_is_idle() {
        assert_eq!(
            p(&[c(1, true)], 4, 100, 1),
            Placement::Grow { meanwhile: Some(0) },
            "the new instance starts off the placement path; the busy one takes it meanwhile"
        );
        assert_eq!(
            p(&[c(1, true)], 4, 100, 0),
            Placement::Use(0),
            "no idle worker: queue"
        );
        assert_eq!(
            p(&[c(1, true), c(2, true)], 2, 100, 1),
            Placement::Use(0),
            "at max"
        );
        assert_eq!(
            p(&[], 2, 100, 0),
            Placement::Grow { meanwhile: None },
            "no instance at all: start one, wait for it"
        );
    }

    #[test]
    fn one_start_at_a_time_and_meanwhile_nothing_is_refused() {
        let starting = |waiting| Room {
            starting: true,
            waiting,
            ..room(4, 10, 1)
        };
        // A start in flight: use the busy instance rather than a second start.
        assert_eq!(place(&[c(1, true)], starting(0)), Placement::Use(0));
        // No instance yet (the first long instance is starting): wait for it.
        assert_eq!(place(&[], starting(0)), Placement::Wait);
        assert_eq!(place(&[], starting(9)), Placement::Wait);
        // The queue holds one instance's worth; past that, it is overload.
        assert_eq!(place(&[], starting(10)), Placement::Overloaded);
        // A full instance with another on its way: wait for that one.
        assert_eq!(place(&[c(10, true)], starting(3)), Placement::Wait);
    }

    #[test]
    fn refuses_past_the_concurrency_limit() {
        assert_eq!(p(&[c(10, false)], 1, 10, 0), Placement::Overloaded);
        assert_eq!(
            p(&[c(10, false)], 2, 10, 0),
            Placement::Grow { meanwhile: None }
        );
        assert_eq!(p(&[c(9, false)], 1, 10, 0), Placement::Use(0));
        assert_eq!(p(&[], 0, 10, 0), Placement::Overloaded);
    }

    #[test]
    fn a_backlog_is_split_evenly() {
        assert_eq!(rebalance(1000), 500);
        assert_eq!(rebalance(3), 1);
        assert_eq!(rebalance(1), 0, "one queued invocation stays put");
        assert_eq!(rebalance(0), 0);
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

    fn demand(short_cores: f64, long_cores: f64, long_share: f64, starved: bool) -> Demand {
        Demand {
            short_cores,
            long_cores,
            long_share,
            long_starved: starved,
        }
    }

    #[test]
    fn long_work_that_fits_in_what_short_work_leaves_reserves_no_worker() {
        // Mix B at 70 %: short 0.7 cores, long 0.7 cores on 2 workers.
        assert_eq!(long_workers(2, demand(0.7, 0.7, 0.5, false)), 0);
        // Mix A: long is nearly everything, short almost nothing.
        assert_eq!(long_workers(2, demand(0.07, 1.3, 0.95, false)), 0);
        // One worker: long work backfills what short work leaves.
        assert_eq!(long_workers(1, demand(0.2, 0.5, 0.7, false)), 0);
        assert_eq!(long_workers(8, demand(0.0, 0.0, 0.0, false)), 0);
    }

    #[test]
    fn long_work_that_does_not_fit_or_starves_gets_a_bounded_share_of_workers() {
        // Short work leaves too little.
        assert_eq!(long_workers(2, demand(1.5, 0.6, 0.3, false)), 1);
        assert_eq!(long_workers(8, demand(6.0, 2.0, 0.3, false)), 3);
        assert_eq!(
            long_workers(8, demand(7.9, 2.0, 1.0, false)),
            7,
            "never every worker"
        );
        assert_eq!(
            long_workers(2, demand(1.9, 1.9, 0.95, false)),
            1,
            "never every worker"
        );
        // Starving although it seemed to fit (other processes take the CPU).
        assert_eq!(long_workers(2, demand(0.2, 0.2, 0.05, true)), 1);
        assert_eq!(long_workers(8, demand(0.5, 0.5, 0.0, true)), 1);
        assert_eq!(long_workers(1, demand(0.9, 0.5, 0.4, false)), 1);
    }

    #[test]
    fn long_work_waiting_on_its_own_backlog_reserves_no_worker() {
        // Mix A: long work already runs on more than the one worker a
        // reservation would give it; its waits are its own bursts.
        assert_eq!(long_workers(2, demand(0.07, 1.3, 0.95, true)), 0);
        assert_eq!(long_workers(4, demand(0.1, 2.2, 0.5, true)), 0);
        // Getting less than the reservation would give: reserve.
        assert_eq!(long_workers(8, demand(0.5, 2.5, 0.4, true)), 4);
    }
}
