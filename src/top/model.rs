//! What `pyrosome top` shows, computed from two successive snapshots of
//! `/admin/status`: pure functions, no terminal.
//!
//! Every counter in a snapshot is cumulative since the server started, so a
//! rate is the difference between two snapshots over the difference of
//! their `uptime_seconds` (the server's clock, not the viewer's: a slow
//! answer does not distort a rate), and a percentile is taken over the
//! latency buckets added between them (the last interval, not since start).
//! With one snapshot only, the interval is "since start" (the counters
//! against zero).

use serde::Deserialize;

use crate::scheduler::{LatencyCounts, MethodStatus, PartitionChange, Status};
use crate::store::StoreStats;

/// The body of `GET /admin/status`.
#[derive(Clone, Debug, Deserialize)]
pub struct Snapshot {
    /// The app's name.
    pub app: String,
    /// The JavaScript engine.
    pub engine: String,
    /// The app's store, if it declares stores.
    pub store: Option<StoreStats>,
    /// The scheduler.
    #[serde(flatten)]
    pub scheduler: Status,
}

/// One worker's row.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerRow {
    /// Its index.
    pub index: usize,
    /// Share of the interval it spent running instances and tasks, 0..=1.
    pub busy: f64,
    /// Whether it takes long-class work.
    pub long: bool,
    /// Instances it ran last (all services).
    pub instances: usize,
}

/// One service's row.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRow {
    /// Its name.
    pub name: String,
    /// Running instances (both classes).
    pub instances: usize,
    /// Of which long-class.
    pub long_instances: usize,
    /// Whether a spare isolate is ready (not counted in `instances`).
    pub spare: bool,
    /// Instances per worker that last ran them, `(worker, count)` by
    /// worker; instances never run yet are left out.
    pub placement: Vec<(usize, usize)>,
    /// Invocations in flight.
    pub in_flight: usize,
    /// Messages queued in its mailboxes.
    pub queued: usize,
    /// Instances of replaced code still finishing.
    pub draining: usize,
    /// Invocations answered per second (all methods).
    pub rate: f64,
}

/// One method's row.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodRow {
    /// The service.
    pub service: String,
    /// The method (`@fetch` for HTTP).
    pub method: String,
    /// Invocations answered per second.
    pub rate: f64,
    /// Failed invocations per second.
    pub errors: f64,
    /// Median latency over the interval, milliseconds (`None`: no answer
    /// in the interval).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency over the interval, milliseconds.
    pub p99_ms: Option<f64>,
    /// Run time per answered invocation over the interval, milliseconds
    /// (the scheduler's accounting: the time its segments ran); the moving
    /// average when nothing was answered in the interval.
    pub cpu_ms: f64,
    /// Whether it is classified long.
    pub long: bool,
}

/// The partitioning state.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// Whether partitioning is on.
    pub enabled: bool,
    /// Workers that take long work.
    pub long_workers: usize,
    /// Workers in all.
    pub workers: usize,
    /// Smoothed share of CPU time of long methods.
    pub long_share: f64,
    /// Class changes since start.
    pub changes: u64,
    /// The latest changes, newest first.
    pub log: Vec<PartitionChange>,
}

/// The store's rates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoreRates {
    /// Commits per second.
    pub commits: f64,
    /// Fsynced commits per second.
    pub durable_commits: f64,
    /// Write batches per second.
    pub batches: f64,
    /// Bytes written per second.
    pub bytes: f64,
}

/// Everything on the screen, derived from the snapshots.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// The app's name.
    pub app: String,
    /// The engine.
    pub engine: String,
    /// The server's uptime, seconds.
    pub uptime: f64,
    /// The interval the rates cover, seconds; `None` when they cover the
    /// time since start (one snapshot so far).
    pub interval: Option<f64>,
    /// Per worker.
    pub workers: Vec<WorkerRow>,
    /// Per service, by name.
    pub services: Vec<ServiceRow>,
    /// Per method, by service then method.
    pub methods: Vec<MethodRow>,
    /// Partitioning.
    pub partition: Partition,
    /// The store, if the app has one.
    pub store: Option<StoreRates>,
    /// Runnables waiting for a worker.
    pub queue_depth: usize,
    /// Workers asleep.
    pub sleeping_workers: usize,
    /// Isolates discarded for a fault, since start.
    pub faults: u64,
    /// Invocations refused as overloaded, since start.
    pub overloads: u64,
}

/// A counter's increase per second; a counter that went down (another
/// server answered) counts from zero.
fn per_second(now: f64, before: f64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    let delta = if now >= before { now - before } else { now };
    delta / seconds
}

/// The stats between `prev` (the snapshot before, if any) and `cur`. A
/// `prev` from a later or another server (its uptime is not before
/// `cur`'s) is ignored.
pub fn derive(prev: Option<&Snapshot>, cur: &Snapshot) -> Stats {
    let s = &cur.scheduler;
    let prev = prev.filter(|p| p.scheduler.uptime_seconds < s.uptime_seconds);
    let seconds = match prev {
        Some(p) => s.uptime_seconds - p.scheduler.uptime_seconds,
        None => s.uptime_seconds,
    };
    let ps = prev.map(|p| &p.scheduler);

    let mut per_worker = vec![0usize; s.workers];
    for svc in &s.services {
        for i in &svc.placement {
            if let Some(n) = i.worker.and_then(|w| per_worker.get_mut(w)) {
                *n += 1;
            }
        }
    }
    let workers = s
        .worker_busy_seconds
        .iter()
        .enumerate()
        .map(|(index, &busy)| {
            let before = ps
                .and_then(|p| p.worker_busy_seconds.get(index))
                .copied()
                .unwrap_or(0.0);
            WorkerRow {
                index,
                busy: per_second(busy, before, seconds).clamp(0.0, 1.0),
                long: s.partitioning && index < s.long_workers,
                instances: per_worker.get(index).copied().unwrap_or(0),
            }
        })
        .collect();

    let find_method = |service: &str, method: &str| -> Option<&MethodStatus> {
        ps?.services
            .iter()
            .find(|x| x.name == service)?
            .methods
            .iter()
            .find(|m| m.name == method)
    };
    let empty = LatencyCounts::default();
    let mut methods = Vec::new();
    let mut services = Vec::new();
    for svc in &s.services {
        let mut service_rate = 0.0;
        for m in &svc.methods {
            let before = find_method(&svc.name, &m.name);
            let completed = per_second(
                m.completed as f64,
                before.map_or(0.0, |b| b.completed as f64),
                seconds,
            );
            let answered = completed * seconds;
            let cpu_seconds = per_second(
                m.cpu_seconds,
                before.map_or(0.0, |b| b.cpu_seconds),
                seconds,
            ) * seconds;
            let latency = m.latency.since(before.map_or(&empty, |b| &b.latency));
            service_rate += completed;
            methods.push(MethodRow {
                service: svc.name.clone(),
                method: m.name.clone(),
                rate: completed,
                errors: per_second(
                    m.failed as f64,
                    before.map_or(0.0, |b| b.failed as f64),
                    seconds,
                ),
                p50_ms: latency.quantile(0.5).map(|ns| ns / 1e6),
                p99_ms: latency.quantile(0.99).map(|ns| ns / 1e6),
                cpu_ms: if answered >= 0.5 {
                    cpu_seconds / answered * 1000.0
                } else {
                    m.avg_cpu_ms
                },
                long: m.long,
            });
        }
        let mut placement: Vec<(usize, usize)> = Vec::new();
        for w in svc.placement.iter().filter_map(|i| i.worker) {
            match placement.iter_mut().find(|(x, _)| *x == w) {
                Some((_, n)) => *n += 1,
                None => placement.push((w, 1)),
            }
        }
        placement.sort_unstable();
        services.push(ServiceRow {
            name: svc.name.clone(),
            instances: svc.instances,
            long_instances: svc.long_instances,
            spare: svc.spare,
            placement,
            in_flight: svc.in_flight,
            queued: svc.queued,
            draining: svc.draining,
            rate: service_rate,
        });
    }

    let store = cur.store.map(|now| {
        let before = prev.and_then(|p| p.store).unwrap_or_default();
        let rate = |a: u64, b: u64| per_second(a as f64, b as f64, seconds);
        StoreRates {
            commits: rate(now.commits, before.commits),
            durable_commits: rate(now.durable_commits, before.durable_commits),
            batches: rate(now.batches, before.batches),
            bytes: rate(now.bytes, before.bytes),
        }
    });

    Stats {
        app: cur.app.clone(),
        engine: cur.engine.clone(),
        uptime: s.uptime_seconds,
        interval: prev.map(|_| seconds),
        workers,
        services,
        methods,
        partition: Partition {
            enabled: s.partitioning,
            long_workers: s.long_workers,
            workers: s.workers,
            long_share: s.long_cpu_share,
            changes: s.partition_changes,
            log: s.partition_log.iter().rev().cloned().collect(),
        },
        store,
        queue_depth: s.queue_depth,
        sleeping_workers: s.sleeping_workers,
        faults: s.faults,
        overloads: s.overloads,
    }
}

/// How the methods table is sorted (`s` cycles).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// Highest rate first.
    #[default]
    Rate,
    /// Highest p99 first.
    P99,
    /// Highest run time per call first.
    Cpu,
    /// By service, then method.
    Name,
}

impl Sort {
    /// The next order.
    pub fn next(self) -> Sort {
        match self {
            Sort::Rate => Sort::P99,
            Sort::P99 => Sort::Cpu,
            Sort::Cpu => Sort::Name,
            Sort::Name => Sort::Rate,
        }
    }

    /// Its name in the header.
    pub fn label(self) -> &'static str {
        match self {
            Sort::Rate => "rate",
            Sort::P99 => "p99",
            Sort::Cpu => "cpu/call",
            Sort::Name => "name",
        }
    }

    /// Sorts `rows`; ties by name.
    pub fn apply(self, rows: &mut [MethodRow]) {
        let name = |a: &MethodRow, b: &MethodRow| {
            (a.service.as_str(), a.method.as_str()).cmp(&(b.service.as_str(), b.method.as_str()))
        };
        let desc = |x: f64, y: f64| y.total_cmp(&x);
        rows.sort_by(|a, b| {
            match self {
                Sort::Rate => desc(a.rate, b.rate),
                Sort::P99 => desc(a.p99_ms.unwrap_or(-1.0), b.p99_ms.unwrap_or(-1.0)),
                Sort::Cpu => desc(a.cpu_ms, b.cpu_ms),
                Sort::Name => std::cmp::Ordering::Equal,
            }
            .then_with(|| name(a, b))
        });
    }
}

/// The viewer's state: the last two snapshots and what failed.
#[derive(Debug, Default)]
pub struct Model {
    prev: Option<Snapshot>,
    cur: Option<Snapshot>,
    /// Why the last poll failed (shown until one succeeds).
    pub error: Option<String>,
}

impl Model {
    /// A new snapshot arrived.
    pub fn update(&mut self, snapshot: Snapshot) {
        self.prev = self.cur.take();
        self.cur = Some(snapshot);
        self.error = None;
    }

    /// A poll failed.
    pub fn failed(&mut self, error: String) {
        self.error = Some(error);
    }

    /// What to show; `None` before the first snapshot.
    pub fn stats(&self) -> Option<Stats> {
        self.cur.as_ref().map(|c| derive(self.prev.as_ref(), c))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scheduler::{InstanceStatus, ServiceStatus};
    use std::time::Duration;

    /// Latency counts of `n` invocations of `latency` each.
    fn counts(samples: &[(u64, Duration)]) -> LatencyCounts {
        let b = crate::scheduler::LatencyBuckets::default();
        for &(n, latency) in samples {
            for _ in 0..n {
                b.record(latency);
            }
        }
        b.snapshot()
    }

    /// A snapshot of an app with services `front` (`@fetch`) and `back`
    /// (`greet`, `slow`) on 2 workers, at `uptime`, with `n` answered
    /// fetches so far.
    pub(crate) fn snapshot(uptime: f64, n: u64, latency: LatencyCounts) -> Snapshot {
        let method = |name: &str, completed: u64, cpu: f64, latency: LatencyCounts| MethodStatus {
            name: name.into(),
            completed,
            failed: completed / 100,
            avg_cpu_ms: 0.5,
            cpu_seconds: cpu,
            long: name == "slow",
            latency,
        };
        let instance = |id, worker, long| InstanceStatus {
            id,
            long,
            worker,
            in_flight: 1,
            queued: 0,
        };
        Snapshot {
            app: "shop".into(),
            engine: "quickjs".into(),
            store: Some(StoreStats {
                commits: n / 10,
                durable_commits: n / 20,
                batches: n / 5,
                bytes: n * 100,
            }),
            scheduler: Status {
                uptime_seconds: uptime,
                workers: 2,
                long_workers: 1,
                partitioning: true,
                queue_depth: 3,
                sleeping_workers: 1,
                worker_busy_seconds: vec![uptime * 0.25, uptime * 0.75],
                backfill_threads: 2,
                backfill_busy_seconds: vec![0.0, uptime * 0.1],
                short_cores: 0.6,
                long_cores: 0.4,
                long_cpu_share: 0.4,
                faults: 0,
                overloads: 2,
                partition_changes: 1,
                partition_log: vec![PartitionChange {
                    at_seconds: 1.5,
                    service: "back".into(),
                    method: "slow".into(),
                    long: true,
                    avg_cpu_ms: 25.0,
                }],
                services: vec![
                    ServiceStatus {
                        name: "back".into(),
                        instances: 3,
                        long_instances: 1,
                        replications: 2,
                        spare: false,
                        in_flight: 3,
                        queued: 0,
                        waiting: 0,
                        draining: 0,
                        placement: vec![
                            instance(1, Some(1), false),
                            instance(4, Some(1), false),
                            instance(5, Some(0), true),
                        ],
                        methods: vec![
                            method(
                                "greet",
                                n * 2,
                                n as f64 * 2.0 * 1e-4,
                                LatencyCounts::default(),
                            ),
                            method("slow", 0, 0.0, LatencyCounts::default()),
                        ],
                    },
                    ServiceStatus {
                        name: "front".into(),
                        instances: 1,
                        long_instances: 0,
                        replications: 0,
                        spare: true,
                        in_flight: 1,
                        queued: 0,
                        waiting: 0,
                        draining: 0,
                        placement: vec![instance(2, None, false)],
                        methods: vec![method("@fetch", n, n as f64 * 1e-3, latency)],
                    },
                ],
            },
        }
    }

    fn row<'a>(stats: &'a Stats, service: &str, method: &str) -> &'a MethodRow {
        stats
            .methods
            .iter()
            .find(|m| m.service == service && m.method == method)
            .expect("the method's row")
    }

    #[test]
    fn rates_are_differences_over_the_servers_interval() {
        let a = snapshot(10.0, 1000, LatencyCounts::default());
        let b = snapshot(12.0, 1500, LatencyCounts::default());
        let stats = derive(Some(&a), &b);
        assert_eq!(stats.interval, Some(2.0));
        let fetch = row(&stats, "front", "@fetch");
        assert_eq!(fetch.rate, 250.0);
        assert_eq!(fetch.errors, 2.5);
        // 500 answered in the interval, 0.5 s of CPU: 1 ms each.
        assert!((fetch.cpu_ms - 1.0).abs() < 1e-9, "{}", fetch.cpu_ms);
        assert_eq!(row(&stats, "back", "greet").rate, 500.0);
        // Nothing answered: the moving average stands in.
        assert_eq!(row(&stats, "back", "slow").cpu_ms, 0.5);
        assert!(row(&stats, "back", "slow").long);
        let back = &stats.services[0];
        assert_eq!(back.rate, 500.0);
        assert_eq!(back.placement, vec![(0, 1), (1, 2)]);
        assert_eq!(stats.services[1].placement, vec![]);
        let store = stats.store.expect("store rates");
        assert_eq!(store.commits, 25.0);
        assert_eq!(store.durable_commits, 12.5);
        assert_eq!(store.batches, 50.0);
        assert_eq!(store.bytes, 25_000.0);
    }

    #[test]
    fn worker_busy_share_is_of_the_interval() {
        let mut a = snapshot(10.0, 0, LatencyCounts::default());
        a.scheduler.worker_busy_seconds = vec![1.0, 9.0];
        let mut b = snapshot(12.0, 0, LatencyCounts::default());
        b.scheduler.worker_busy_seconds = vec![2.5, 9.2];
        let stats = derive(Some(&a), &b);
        let busy: Vec<f64> = stats.workers.iter().map(|w| w.busy).collect();
        assert!(
            (busy[0] - 0.75).abs() < 1e-9 && (busy[1] - 0.1).abs() < 1e-9,
            "{busy:?}"
        );
        assert!(stats.workers[0].long && !stats.workers[1].long);
        assert_eq!(stats.workers[1].instances, 2);
        assert_eq!(stats.workers[0].instances, 1);
    }

    #[test]
    fn percentiles_cover_the_last_interval_only() {
        let early = counts(&[(1000, Duration::from_micros(200))]);
        let later = counts(&[
            (1000, Duration::from_micros(200)),
            (90, Duration::from_millis(3)),
            (10, Duration::from_millis(40)),
        ]);
        let a = snapshot(10.0, 1000, early);
        let b = snapshot(11.0, 1100, later.clone());
        let fetch = row(&derive(Some(&a), &b), "front", "@fetch").clone();
        let near = |x: Option<f64>, want: f64| {
            let x = x.expect("a percentile");
            assert!((x / want - 1.0).abs() < 0.1, "{x} vs {want}");
        };
        near(fetch.p50_ms, 3.0);
        near(fetch.p99_ms, 40.0);
        // Since start (one snapshot), the median is the 0.2 ms majority.
        let first = row(&derive(None, &b), "front", "@fetch").clone();
        near(first.p50_ms, 0.2);
        // An interval with no answers has no percentile.
        let c = snapshot(12.0, 1100, later);
        assert_eq!(row(&derive(Some(&b), &c), "front", "@fetch").p50_ms, None);
    }

    #[test]
    fn first_snapshot_is_since_start_and_a_restart_is_not_a_negative_rate() {
        let a = snapshot(4.0, 400, LatencyCounts::default());
        let first = derive(None, &a);
        assert_eq!(first.interval, None);
        assert_eq!(row(&first, "front", "@fetch").rate, 100.0);
        // The server restarted between two polls: its uptime went back.
        let restarted = snapshot(2.0, 50, LatencyCounts::default());
        let stats = derive(Some(&a), &restarted);
        assert_eq!(stats.interval, None);
        assert_eq!(row(&stats, "front", "@fetch").rate, 25.0);
    }

    #[test]
    fn model_keeps_two_snapshots_and_partition_log_newest_first() {
        let mut model = Model::default();
        assert!(model.stats().is_none());
        model.failed("no server".into());
        assert_eq!(model.error.as_deref(), Some("no server"));
        model.update(snapshot(1.0, 10, LatencyCounts::default()));
        assert!(model.error.is_none());
        model.update(snapshot(2.0, 30, LatencyCounts::default()));
        let stats = model.stats().expect("stats");
        assert_eq!(row(&stats, "front", "@fetch").rate, 20.0);
        assert_eq!(stats.partition.log[0].method, "slow");
        assert_eq!(stats.partition.long_workers, 1);
    }

    #[test]
    fn sorts_by_rate_p99_cpu_and_name() {
        let mut a = snapshot(1.0, 10, counts(&[(10, Duration::from_millis(5))]));
        a.scheduler.services[0].methods[1].completed = 5;
        let mut rows = derive(None, &a).methods;
        Sort::Rate.apply(&mut rows);
        assert_eq!(rows[0].method, "greet");
        Sort::P99.apply(&mut rows);
        assert_eq!(rows[0].method, "@fetch");
        Sort::Name.apply(&mut rows);
        let names: Vec<&str> = rows.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(names, ["greet", "slow", "@fetch"]);
        assert_eq!(Sort::Name.next(), Sort::Rate);
    }

    #[test]
    fn a_real_status_body_parses() {
        let json = serde_json::json!({
            "app": "x", "engine": "v8", "store": null,
            "uptime_seconds": 1.0, "workers": 1, "long_workers": 0, "partitioning": false,
            "queue_depth": 0, "sleeping_workers": 1, "worker_busy_seconds": [0.5],
            "long_cpu_share": 0.0, "faults": 0, "overloads": 0, "partition_changes": 0,
            "partition_log": [],
            "services": [{"name": "s", "instances": 1, "long_instances": 0, "replications": 0,
                "in_flight": 0, "queued": 0, "draining": 0,
                "placement": [{"id": 1, "long": false, "worker": 0, "in_flight": 0, "queued": 0}],
                "methods": [{"name": "m", "completed": 4, "failed": 0, "avg_cpu_ms": 0.1,
                    "cpu_seconds": 0.001, "long": false, "latency": [[3, 4]]}]}]
        });
        let snap: Snapshot = serde_json::from_value(json).expect("parses");
        let stats = derive(None, &snap);
        assert_eq!(stats.methods[0].rate, 4.0);
        assert!(stats.methods[0].p50_ms.is_some());
        assert_eq!(stats.workers[0].busy, 0.5);
    }
}
