//! Prometheus metrics: the process-wide recorder and the `/metrics` text.
//!
//! Latency histograms are recorded as invocations finish (through handles
//! the scheduler creates once per method); counters and gauges that the
//! scheduler already keeps as atomics are copied into the recorder when
//! `/metrics` is scraped, so the hot path pays nothing for them.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::scheduler::Status;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often recorded histogram samples are folded into their buckets. The
/// exporter buffers samples until then; without upkeep the buffer grows
/// for as long as nobody scrapes `/metrics`.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the Prometheus recorder (once per process; later calls and a
/// recorder installed by someone else are fine) and its upkeep thread.
pub fn install() {
    HANDLE.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => {
            let upkeep = handle.clone();
            let started = std::thread::Builder::new()
                .name("pyrosome-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = started {
                tracing::warn!("metrics upkeep thread did not start: {e}");
            }
            Some(handle)
        }
        Err(e) => {
            tracing::warn!("metrics are disabled: {e}");
            None
        }
    });
}

/// The Prometheus text exposition of everything, with the scheduler's
/// counters from `status`.
pub fn render(status: &Status) -> String {
    use metrics::{counter, gauge};
    for (i, busy) in status.worker_busy_seconds.iter().enumerate() {
        gauge!("pyrosome_worker_busy_seconds_total", "worker" => i.to_string()).set(*busy);
    }
    gauge!("pyrosome_workers").set(status.workers as f64);
    gauge!("pyrosome_long_workers").set(status.long_workers as f64);
    gauge!("pyrosome_run_queue_depth").set(status.queue_depth as f64);
    gauge!("pyrosome_sleeping_workers").set(status.sleeping_workers as f64);
    gauge!("pyrosome_long_cpu_share").set(status.long_cpu_share);
    counter!("pyrosome_isolate_faults_total").absolute(status.faults);
    counter!("pyrosome_overloaded_total").absolute(status.overloads);
    counter!("pyrosome_partition_changes_total").absolute(status.partition_changes);
    for s in &status.services {
        let svc = s.name.clone();
        gauge!("pyrosome_instances", "service" => svc.clone()).set(s.instances as f64);
        gauge!("pyrosome_long_instances", "service" => svc.clone()).set(s.long_instances as f64);
        gauge!("pyrosome_in_flight", "service" => svc.clone()).set(s.in_flight as f64);
        gauge!("pyrosome_mailbox_depth", "service" => svc.clone()).set(s.queued as f64);
        counter!("pyrosome_replications_total", "service" => svc.clone()).absolute(s.replications);
        for m in &s.methods {
            let labels = [("service", svc.clone()), ("method", m.name.clone())];
            counter!("pyrosome_invocations_total", &labels).absolute(m.completed);
            counter!("pyrosome_invocation_errors_total", &labels).absolute(m.failed);
            gauge!("pyrosome_invocation_cpu_seconds_total", &labels).set(m.cpu_seconds);
            gauge!("pyrosome_method_long", &labels).set(if m.long { 1.0 } else { 0.0 });
        }
    }
    match HANDLE.get() {
        Some(Some(handle)) => handle.render(),
        _ => String::from("# metrics are disabled\n"),
    }
}
