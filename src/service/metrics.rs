//! Prometheus metrics of the daemon (prefix `netdiffd_`, base units, `_total` counters), plus
//! the process collector's `process_*` metrics.

use prometheus::{
    exponential_buckets, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric the daemon exports, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `netdiffd_build_info{version,revision,device}` = 1.
    pub build_info: IntGaugeVec,
    /// `netdiffd_model_loaded`: 1 once a model is resident.
    pub model_loaded: IntGauge,
    /// `netdiffd_model_info{classes,params}` = 1.
    pub model_info: IntGaugeVec,
    /// `netdiffd_jobs_total{state}`: jobs submitted, and jobs that ended done, failed or
    /// cancelled.
    pub jobs_total: IntCounterVec,
    /// `netdiffd_jobs_rejected_total{reason}`: submissions refused (queue full, bad request…).
    pub jobs_rejected: IntCounterVec,
    /// `netdiffd_jobs_running`.
    pub jobs_running: IntGauge,
    /// `netdiffd_job_queue_length`.
    pub queue_length: IntGauge,
    /// `netdiffd_job_duration_seconds{stage}`: time in each stage of finished jobs.
    pub job_stage_seconds: HistogramVec,
    /// `netdiffd_schedule_runs_total{schedule}`.
    pub schedule_runs: IntCounterVec,
    /// `netdiffd_schedule_skipped_total{schedule}`: runs skipped because the previous one was
    /// still going (or the queue was full).
    pub schedule_skipped: IntCounterVec,
    /// `netdiffd_flows_generated_total{class}`.
    pub flows_generated: IntCounterVec,
    /// `netdiffd_generation_seconds`: per sampling batch.
    pub generation_seconds: Histogram,
    /// `netdiffd_generation_flows_per_second`: of the last batch.
    pub generation_flows_per_second: Gauge,
    /// `netdiffd_repair_bits_changed_ratio`: per flow.
    pub repair_bits_changed: Histogram,
    /// `netdiffd_repair_rules_applied_total{rule}`.
    pub repair_rules: IntCounterVec,
    /// `netdiffd_packets_sent_total{interface}`.
    pub packets_sent: IntCounterVec,
    /// `netdiffd_bytes_sent_total{interface}`.
    pub bytes_sent: IntCounterVec,
    /// `netdiffd_send_errors_total{interface,reason}`.
    pub send_errors: IntCounterVec,
    /// `netdiffd_send_retries_total{interface,reason}`.
    pub send_retries: IntCounterVec,
    /// `netdiffd_send_late_packets_total{interface}`: packets sent after the late threshold.
    pub send_late: IntCounterVec,
    /// `netdiffd_send_lateness_seconds`: how late each frame of a timed replay went out.
    pub send_lateness: Histogram,
    /// `netdiffd_replay_drift_seconds{interface}`: schedule drift at the last frame of the
    /// last replay.
    pub replay_drift: GaugeVec,
    /// `netdiffd_replays_running{interface}`.
    pub replays_running: IntGaugeVec,
    /// `netdiffd_config_last_reload_successful`.
    pub reload_ok: IntGauge,
    /// `netdiffd_config_last_reload_success_timestamp_seconds`.
    pub reload_ok_time: Gauge,
    /// `netdiffd_config_reloads_total{result}`.
    pub reloads: IntCounterVec,
    /// `netdiffd_http_requests_total{route,code}`.
    pub http_requests: IntCounterVec,
    /// `netdiffd_http_request_duration_seconds{route}`.
    pub http_duration: HistogramVec,
}

/// 1 µs … 100 ms in 1-2.5-5 steps.
const LATENESS_BUCKETS: [f64; 16] = [
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2,
    5e-2, 0.1,
];

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("netdiffd")
}

fn hopts(name: &str, help: &str, buckets: Vec<f64>) -> HistogramOpts {
    HistogramOpts::new(name, help)
        .namespace("netdiffd")
        .buckets(buckets)
}

/// Buckets from `start` growing by `factor`, `count` of them (the arguments are constants, so
/// the fallback never happens).
fn buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    exponential_buckets(start, factor, count).unwrap_or_else(|_| vec![start])
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let icv =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let m = IntCounterVec::new(opts(name, help), labels)?;
                registry.register(Box::new(m.clone()))?;
                Ok(m)
            };
        let igv =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
                let m = IntGaugeVec::new(opts(name, help), labels)?;
                registry.register(Box::new(m.clone()))?;
                Ok(m)
            };
        let ig = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let m = IntGauge::with_opts(opts(name, help))?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let g = |name: &str, help: &str| -> Result<Gauge, prometheus::Error> {
            let m = Gauge::with_opts(opts(name, help))?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let h = |name: &str, help: &str, b: Vec<f64>| -> Result<Histogram, prometheus::Error> {
            let m = Histogram::with_opts(hopts(name, help, b))?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let hv = |name: &str,
                  help: &str,
                  b: Vec<f64>,
                  labels: &[&str]|
         -> Result<HistogramVec, prometheus::Error> {
            let m = HistogramVec::new(hopts(name, help, b), labels)?;
            registry.register(Box::new(m.clone()))?;
            Ok(m)
        };
        let replay_drift = GaugeVec::new(
            opts("replay_drift_seconds", "Schedule drift at the last frame of the last replay on the interface (positive: behind)."),
            &["interface"],
        )?;
        registry.register(Box::new(replay_drift.clone()))?;
        let m = Metrics {
            build_info: igv("build_info", "Version, source revision and model device of this netdiffd; always 1.", &["version", "revision", "device"])?,
            model_loaded: ig("model_loaded", "1 when a model is resident.")?,
            model_info: igv("model_info", "Classes and parameters of the resident model; always 1.", &["classes", "params"])?,
            jobs_total: icv("jobs_total", "Jobs by state reached: submitted, done, failed, cancelled.", &["state"])?,
            jobs_rejected: icv("jobs_rejected_total", "Job submissions refused, by reason.", &["reason"])?,
            jobs_running: ig("jobs_running", "Jobs running now.")?,
            queue_length: ig("job_queue_length", "Jobs waiting to run.")?,
            job_stage_seconds: hv("job_duration_seconds", "Time finished jobs spent in each stage (queued, generating, repairing, replaying, total).", buckets(0.001, 2.0, 24), &["stage"])?,
            schedule_runs: icv("schedule_runs_total", "Jobs started by each schedule.", &["schedule"])?,
            schedule_skipped: icv("schedule_skipped_total", "Schedule runs skipped because the previous run was still going or the queue was full.", &["schedule"])?,
            flows_generated: icv("flows_generated_total", "Flows generated and repaired, by class.", &["class"])?,
            generation_seconds: h("generation_seconds", "Time to sample one batch of flows.", buckets(0.001, 2.0, 20))?,
            generation_flows_per_second: g("generation_flows_per_second", "Flows per second of the last sampling batch.")?,
            repair_bits_changed: h("repair_bits_changed_ratio", "Share of a generated flow's header bits that repair changed, per flow.", vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0])?,
            repair_rules: icv("repair_rules_applied_total", "Repair rules applied, by rule.", &["rule"])?,
            packets_sent: icv("packets_sent_total", "Frames the kernel accepted, by interface.", &["interface"])?,
            bytes_sent: icv("bytes_sent_total", "Bytes of those frames, by interface.", &["interface"])?,
            send_errors: icv("send_errors_total", "Frames that could not be sent, by interface and reason (send, oversize, unframeable).", &["interface", "reason"])?,
            send_retries: icv("send_retries_total", "Send retries, by interface and reason (enobufs, eagain).", &["interface", "reason"])?,
            send_late: icv("send_late_packets_total", "Frames sent later than the late threshold (100 µs), by interface.", &["interface"])?,
            send_lateness: h("send_lateness_seconds", "How late each frame of a timed replay went out.", LATENESS_BUCKETS.to_vec())?,
            replay_drift,
            replays_running: igv("replays_running", "Replays running now, by interface.", &["interface"])?,
            reload_ok: ig("config_last_reload_successful", "1 when the last configuration (re)load succeeded.")?,
            reload_ok_time: g("config_last_reload_success_timestamp_seconds", "Time of the last successful configuration (re)load, seconds since the Unix epoch.")?,
            reloads: icv("config_reloads_total", "Configuration reloads, by result (success, failure).", &["result"])?,
            http_requests: icv("http_requests_total", "API requests, by route and status code.", &["route", "code"])?,
            http_duration: hv("http_request_duration_seconds", "API request handling time, by route.", buckets(0.0001, 2.0, 18), &["route"])?,
            registry,
        };
        #[cfg(target_os = "linux")]
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        for state in ["submitted", "done", "failed", "cancelled"] {
            m.jobs_total.with_label_values(&[state]);
        }
        m.reloads.with_label_values(&["success"]);
        m.reloads.with_label_values(&["failure"]);
        Ok(m)
    }

    /// Makes the per-interface series exist (at zero) for every allowed interface, so that
    /// rates start from a known value.
    pub fn touch_interfaces(&self, interfaces: &[String]) {
        for i in interfaces {
            self.packets_sent.with_label_values(&[i]);
            self.bytes_sent.with_label_values(&[i]);
            self.send_late.with_label_values(&[i]);
            self.replays_running.with_label_values(&[i]);
        }
    }

    /// The names of every metric family this registry exports (those of the process
    /// collector included), whether or not it has samples yet.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .registry
            .gather()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        for desc in self.collectors_descs() {
            if !names.contains(&desc) {
                names.push(desc);
            }
        }
        names
    }

    fn collectors_descs(&self) -> Vec<String> {
        use prometheus::core::Collector;
        let collectors: Vec<&dyn Collector> = vec![
            &self.build_info,
            &self.model_loaded,
            &self.model_info,
            &self.jobs_total,
            &self.jobs_rejected,
            &self.jobs_running,
            &self.queue_length,
            &self.job_stage_seconds,
            &self.schedule_runs,
            &self.schedule_skipped,
            &self.flows_generated,
            &self.generation_seconds,
            &self.generation_flows_per_second,
            &self.repair_bits_changed,
            &self.repair_rules,
            &self.packets_sent,
            &self.bytes_sent,
            &self.send_errors,
            &self.send_retries,
            &self.send_late,
            &self.send_lateness,
            &self.replay_drift,
            &self.replays_running,
            &self.reload_ok,
            &self.reload_ok_time,
            &self.reloads,
            &self.http_requests,
            &self.http_duration,
        ];
        collectors
            .iter()
            .flat_map(|c| c.desc().into_iter().map(|d| d.fq_name.clone()))
            .collect()
    }

    /// The metrics in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail on I/O; a collector error leaves the text empty.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_named_in_the_design_is_exported() {
        let m = Metrics::new().unwrap();
        m.touch_interfaces(&["lo".into()]);
        m.build_info.with_label_values(&["v", "r", "cpu"]).set(1);
        m.model_info.with_label_values(&["2", "10"]).set(1);
        m.schedule_skipped.with_label_values(&["s"]).inc();
        m.flows_generated.with_label_values(&["dns"]).inc();
        m.repair_rules.with_label_values(&["r"]).inc();
        m.send_errors.with_label_values(&["lo", "send"]).inc();
        m.send_retries.with_label_values(&["lo", "enobufs"]).inc();
        m.replay_drift.with_label_values(&["lo"]).set(0.0);
        let text = m.render();
        for name in [
            "netdiffd_build_info",
            "netdiffd_model_loaded",
            "netdiffd_model_info",
            "netdiffd_jobs_total",
            "netdiffd_jobs_running",
            "netdiffd_job_queue_length",
            "netdiffd_schedule_skipped_total",
            "netdiffd_flows_generated_total",
            "netdiffd_generation_seconds",
            "netdiffd_generation_flows_per_second",
            "netdiffd_repair_bits_changed_ratio",
            "netdiffd_repair_rules_applied_total",
            "netdiffd_packets_sent_total",
            "netdiffd_bytes_sent_total",
            "netdiffd_send_errors_total",
            "netdiffd_send_retries_total",
            "netdiffd_send_lateness_seconds",
            "netdiffd_replay_drift_seconds",
            "netdiffd_config_last_reload_successful",
            "netdiffd_config_last_reload_success_timestamp_seconds",
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
        ] {
            assert!(
                text.contains(&format!("\n{name}")) || text.starts_with(name),
                "{name} missing"
            );
        }
    }
}
