//! What the scheduler measures about the work it runs: the execution time
//! of every (service, method) and how busy each worker is. The placement
//! and partitioning policies read these; `/metrics` exports them.
//!
//! Execution time is measured per *run segment*: the time a worker spends
//! inside one `Isolate::handle` (starting an invocation, or resuming it
//! with a reply or a timer), attributed to the invocation that segment ran
//! for. Time spent awaiting calls or stores is not counted. Segments are
//! timed on the monotonic clock (a vDSO read, tens of nanoseconds), not on
//! the thread CPU clock: that is a system call (~0.4 µs here), which was a
//! third of a call's cost when read around every segment. So a segment
//! during which the OS preempted the worker is charged the preemption too;
//! the CPU budget itself is enforced on the thread CPU clock by the engine
//! watchdog (`engine/watchdog.rs`), which never stops a run early.

use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Weight of a new sample in the moving averages. 1/8 follows a shift in a
/// method's cost within a few dozen invocations while smoothing noise.
const EWMA_WEIGHT: f64 = 0.125;

/// An exponentially weighted moving average, updated lock-free (a lost
/// update under a race only delays the average by one sample).
#[derive(Debug, Default)]
pub(crate) struct Ewma {
    bits: AtomicU64,
    primed: AtomicBool,
}

impl Ewma {
    /// Adds a sample.
    pub(crate) fn record(&self, sample: f64) {
        let next = if self.primed.swap(true, Ordering::Relaxed) {
            let old = f64::from_bits(self.bits.load(Ordering::Relaxed));
            old + EWMA_WEIGHT * (sample - old)
        } else {
            sample
        };
        self.bits.store(next.to_bits(), Ordering::Relaxed);
    }

    /// The current average (0 before the first sample).
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

/// Counters of one (service, method).
#[derive(Debug)]
pub(crate) struct MethodStats {
    /// Moving average of one invocation's CPU time, in seconds (the sum of
    /// its segments).
    pub(crate) cpu: Ewma,
    /// Total CPU time, nanoseconds.
    pub(crate) cpu_ns: AtomicU64,
    /// Completed invocations.
    pub(crate) completed: AtomicU64,
    /// Invocations that failed.
    pub(crate) failed: AtomicU64,
    /// Whether the partitioning policy currently treats it as long.
    pub(crate) long: AtomicBool,
    /// `cpu_ns` at the last review (to compute recent shares).
    pub(crate) reviewed_ns: AtomicU64,
    /// Latency histogram (placement to answer), exported on `/metrics`.
    pub(crate) latency: metrics::Histogram,
    /// The same latencies in fixed buckets, cumulative, for
    /// `/admin/status` (`pyrosome top` takes percentiles of the difference
    /// between two snapshots: the latency of the last interval).
    pub(crate) latency_buckets: LatencyBuckets,
}

impl Default for MethodStats {
    fn default() -> Self {
        MethodStats {
            cpu: Ewma::default(),
            cpu_ns: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            long: AtomicBool::new(false),
            reviewed_ns: AtomicU64::new(0),
            latency: metrics::Histogram::noop(),
            latency_buckets: LatencyBuckets::default(),
        }
    }
}

impl MethodStats {
    /// Records a finished invocation and its total CPU time.
    pub(crate) fn finished(&self, cpu: Duration, ok: bool) {
        self.cpu.record(cpu.as_secs_f64());
        self.completed.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Adds CPU time of one segment.
    pub(crate) fn charge(&self, cpu: Duration) {
        self.cpu_ns
            .fetch_add(cpu.as_nanos() as u64, Ordering::Relaxed);
    }

    pub(crate) fn is_long(&self) -> bool {
        self.long.load(Ordering::Relaxed)
    }
}

/// The stats of every method of one service, fixed when the service is
/// loaded (a reload that changes its methods makes a new `ServiceStats`),
/// so lookups take no lock.
#[derive(Debug, Default)]
pub(crate) struct ServiceStats {
    methods: HashMap<String, Arc<MethodStats>>,
    /// Stands in for methods not in the map (cannot happen for placed
    /// invocations; kept so lookups never fail).
    other: Arc<MethodStats>,
}

impl ServiceStats {
    /// Stats for `methods` of `service`; those `previous` (the stats of the
    /// code a reload replaces) has too are carried over, so counters keep
    /// counting across reloads.
    pub(crate) fn new(
        service: &str,
        methods: impl IntoIterator<Item = String>,
        previous: Option<&ServiceStats>,
    ) -> ServiceStats {
        ServiceStats {
            methods: methods
                .into_iter()
                .map(|m| {
                    if let Some(old) = previous.and_then(|p| p.methods.get(&m)) {
                        return (m, old.clone());
                    }
                    let latency = metrics::histogram!(
                        "pyrosome_invocation_duration_seconds",
                        "service" => service.to_owned(),
                        "method" => m.clone()
                    );
                    let stats = MethodStats {
                        latency,
                        ..MethodStats::default()
                    };
                    (m, Arc::new(stats))
                })
                .collect(),
            other: Arc::default(),
        }
    }

    pub(crate) fn method(&self, name: &str) -> &Arc<MethodStats> {
        self.methods.get(name).unwrap_or(&self.other)
    }

    pub(crate) fn methods(&self) -> impl Iterator<Item = (&str, &MethodStats)> {
        self.methods.iter().map(|(k, v)| (k.as_str(), &**v))
    }
}

/// Sub-buckets per doubling of latency: each bucket spans a factor of
/// 2^(1/4) ≈ 1.19, so a percentile read from the buckets (the geometric
/// middle of its bucket) is within ±9 % of the true value.
const SUB_BUCKETS: u32 = 4;
/// The smallest octave kept apart: latencies under 2^10 ns (~1 µs) share
/// the first bucket.
const MIN_OCTAVE: u32 = 10;
/// The largest: latencies from 2^41 ns (~37 minutes) share the last one.
const MAX_OCTAVE: u32 = 41;
/// Number of latency buckets.
pub const LATENCY_BUCKETS: usize = ((MAX_OCTAVE - MIN_OCTAVE + 1) * SUB_BUCKETS) as usize;

/// The bucket of a latency of `ns` nanoseconds.
fn bucket_of(ns: u64) -> usize {
    let ns = ns.max(1);
    let octave = 63 - ns.leading_zeros();
    if octave < MIN_OCTAVE {
        return 0;
    }
    if octave > MAX_OCTAVE {
        return LATENCY_BUCKETS - 1;
    }
    let sub = (ns >> (octave - 2)) & u64::from(SUB_BUCKETS - 1);
    ((octave - MIN_OCTAVE) * SUB_BUCKETS) as usize + sub as usize
}

/// The range of latencies, in nanoseconds, bucket `index` counts:
/// `[low, high)`.
pub fn latency_bucket_bounds(index: usize) -> (u64, u64) {
    let index = index.min(LATENCY_BUCKETS - 1) as u32;
    let octave = index / SUB_BUCKETS + MIN_OCTAVE;
    let sub = u64::from(index % SUB_BUCKETS);
    let unit = 1u64 << (octave - 2);
    let low = if index == 0 { 0 } else { (4 + sub) * unit };
    (low, (5 + sub) * unit)
}

/// Cumulative latency counts in fixed logarithmic buckets, recorded
/// lock-free (one relaxed add per answered invocation).
#[derive(Debug)]
pub(crate) struct LatencyBuckets {
    counts: Box<[AtomicU64]>,
}

impl Default for LatencyBuckets {
    fn default() -> Self {
        LatencyBuckets {
            counts: (0..LATENCY_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl LatencyBuckets {
    pub(crate) fn record(&self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn snapshot(&self) -> LatencyCounts {
        LatencyCounts {
            buckets: self
                .counts
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let n = c.load(Ordering::Relaxed);
                    (n > 0).then_some((i, n))
                })
                .collect(),
        }
    }
}

/// A snapshot of a method's latency counts (placement to answer): the
/// non-empty buckets as `[index, count]` pairs, index ascending, counts
/// since the method was first loaded. Bucket `i` holds latencies in
/// [`latency_bucket_bounds`]`(i)`. Two snapshots give the latencies of the
/// interval between them ([`LatencyCounts::since`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct LatencyCounts {
    /// `(bucket index, count)`, index ascending, counts nonzero.
    pub buckets: Vec<(usize, u64)>,
}

impl LatencyCounts {
    /// Invocations counted.
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }

    /// The counts added since `earlier` (a snapshot of the same method
    /// taken before this one); a bucket that went down (the counters were
    /// reset: another server) counts as its whole value.
    pub fn since(&self, earlier: &LatencyCounts) -> LatencyCounts {
        let old = |i: usize| {
            earlier
                .buckets
                .iter()
                .find(|(j, _)| *j == i)
                .map_or(0, |(_, n)| *n)
        };
        LatencyCounts {
            buckets: self
                .buckets
                .iter()
                .filter_map(|&(i, n)| {
                    let before = old(i);
                    let d = if n >= before { n - before } else { n };
                    (d > 0).then_some((i, d))
                })
                .collect(),
        }
    }

    /// The `q` quantile (0..=1) in nanoseconds: the geometric middle of the
    /// bucket holding it; `None` when nothing was counted.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        // The rank of the quantile, 1-based: the smallest count c with
        // c >= q * total.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                let (low, high) = latency_bucket_bounds(i);
                return Some(if low == 0 {
                    high as f64 / 2.0
                } else {
                    (low as f64 * high as f64).sqrt()
                });
            }
        }
        None
    }
}

/// Busy time of one worker (or backfill thread), accounted as it accrues:
/// a run in progress counts up to now (`busy_ns_at`), not only once it
/// ends, so a worker inside a 20 ms segment reads as busy.
#[derive(Debug, Default)]
pub(crate) struct WorkerStats {
    /// Nanoseconds spent in finished runs of instances and tasks.
    pub(crate) busy_ns: AtomicU64,
    /// When the run in progress started (nanoseconds since the scheduler's
    /// epoch, plus one), or 0 between runs.
    since: AtomicU64,
    /// Runnables started so far; odd while one runs (see `monitor.rs`).
    pub(crate) runs: AtomicU64,
}

impl WorkerStats {
    /// A run starts at `now` (nanoseconds since the epoch).
    pub(crate) fn begin(&self, now: u64) {
        self.since.store(now + 1, Ordering::Release);
    }

    /// The run in progress ends at `now`.
    pub(crate) fn end(&self, now: u64) {
        let since = self.since.swap(0, Ordering::AcqRel);
        if since > 0 {
            // Cleared before it is added: a reader never counts it twice
            // (see `busy_ns_at`).
            self.busy_ns
                .fetch_add(now.saturating_sub(since - 1), Ordering::Release);
        }
    }

    /// Busy nanoseconds up to `now`, the run in progress included.
    pub(crate) fn busy_ns_at(&self, now: u64) -> u64 {
        let done = self.busy_ns.load(Ordering::Acquire);
        let since = self.since.load(Ordering::Acquire);
        done + if since > 0 {
            now.saturating_sub(since - 1)
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_latency_in_order() {
        let mut last = 0;
        for ns in [
            0u64,
            1,
            1023,
            1024,
            1279,
            1280,
            5_000,
            1_000_000,
            1 << 41,
            u64::MAX,
        ] {
            let b = bucket_of(ns);
            assert!(b >= last, "{ns} ns in bucket {b} after {last}");
            last = b;
            let (low, high) = latency_bucket_bounds(b);
            if b > 0 && b < LATENCY_BUCKETS - 1 {
                assert!(low <= ns && ns < high, "{ns} not in [{low}, {high})");
            }
        }
        assert_eq!(bucket_of(1279), bucket_of(1024));
        assert_ne!(bucket_of(1280), bucket_of(1279));
        assert_eq!(bucket_of(u64::MAX), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_an_interval_come_from_the_difference() {
        let b = LatencyBuckets::default();
        for _ in 0..1000 {
            b.record(Duration::from_micros(100));
        }
        let before = b.snapshot();
        for _ in 0..98 {
            b.record(Duration::from_millis(2));
        }
        for _ in 0..2 {
            b.record(Duration::from_millis(50));
        }
        let after = b.snapshot();
        // Since start, the median is 100 µs; in the interval, 2 ms.
        let near = |got: Option<f64>, want: f64| {
            let got = got.expect("a quantile");
            assert!((got / want - 1.0).abs() < 0.1, "{got} vs {want}");
        };
        near(after.quantile(0.5), 100_000.0);
        let interval = after.since(&before);
        assert_eq!(interval.total(), 100);
        near(interval.quantile(0.5), 2_000_000.0);
        near(interval.quantile(0.98), 2_000_000.0);
        near(interval.quantile(0.99), 50_000_000.0);
        assert_eq!(before.since(&before).quantile(0.5), None);
    }

    #[test]
    fn ewma_starts_at_the_first_sample_and_follows_shifts() {
        let e = Ewma::default();
        assert_eq!(e.get(), 0.0);
        e.record(10.0);
        assert_eq!(e.get(), 10.0);
        for _ in 0..100 {
            e.record(2.0);
        }
        assert!((e.get() - 2.0).abs() < 0.01, "{}", e.get());
    }

    #[test]
    fn busy_time_accrues_during_a_run() {
        let w = WorkerStats::default();
        assert_eq!(w.busy_ns_at(100), 0);
        w.begin(1_000);
        assert_eq!(w.busy_ns_at(1_500), 500, "counted while it runs");
        assert_eq!(w.busy_ns_at(4_000), 3_000);
        w.end(5_000);
        assert_eq!(w.busy_ns_at(9_000), 4_000, "idle time is not counted");
        w.begin(10_000);
        w.end(10_250);
        assert_eq!(w.busy_ns_at(20_000), 4_250);
    }
}
