//! Prometheus metrics of the daemon (prefix `netdiffd_`, base units, `_total` counters), plus
//! the process collector's `process_*` metrics.
//!
//! Every labelled series whose label values are known in advance exists (at zero) from the
//! start — rejection reasons, job states and stages, repair rules, reload results — and those
//! that come from the configuration or the model (interfaces with their send error and retry
//! reasons, schedules, classes) from the moment it is loaded or reloaded, so that `rate()` and
//! `increase()` see the first event.

use super::config::Config;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    exponential_buckets, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::time::SystemTime;

/// Why a job submission was refused: the `reason` label of `netdiffd_jobs_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Malformed JSON, a wrong type, an unknown field, a bad value, a size over a limit.
    BadRequest,
    /// A class the model does not know.
    UnknownClass,
    /// An interface outside `replay.interfaces`.
    InterfaceNotAllowed,
    /// The queue holds `limits.queue_length` jobs.
    QueueFull,
    /// The daemon is stopping.
    Stopping,
}

impl RejectReason {
    /// Every reason, in the order the documentation lists them.
    pub const ALL: [RejectReason; 5] = [
        RejectReason::BadRequest,
        RejectReason::UnknownClass,
        RejectReason::InterfaceNotAllowed,
        RejectReason::QueueFull,
        RejectReason::Stopping,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::BadRequest => "bad_request",
            RejectReason::UnknownClass => "unknown_class",
            RejectReason::InterfaceNotAllowed => "interface_not_allowed",
            RejectReason::QueueFull => "queue_full",
            RejectReason::Stopping => "stopping",
        }
    }
}

/// `state` labels of `netdiffd_jobs_total`.
pub const JOB_STATES: [&str; 4] = ["submitted", "done", "failed", "cancelled"];

/// `stage` labels of `netdiffd_job_duration_seconds` (the job states a job passes through,
/// and the total).
pub const JOB_STAGES: [&str; 5] = ["queued", "generating", "repairing", "replaying", "total"];

/// `reason` labels of `netdiffd_send_errors_total`.
pub const SEND_ERROR_REASONS: [&str; 3] = ["send", "oversize", "unframeable"];

/// `reason` labels of `netdiffd_send_retries_total`.
pub const SEND_RETRY_REASONS: [&str; 2] = ["enobufs", "eagain"];

/// `result` labels of `netdiffd_config_reloads_total`.
pub const RELOAD_RESULTS: [&str; 2] = ["success", "failure"];

/// Name of the process start time, which this module exports itself.
const START_TIME: &str = "process_start_time_seconds";

/// The `process_*` metrics: the prometheus crate's process collector (CPU, memory, file
/// descriptors, threads, all from `/proc/self`), except its `process_start_time_seconds`,
/// which it computes from the boot time in `/proc/stat` and so exports as 0 where that file
/// is hidden (systemd's `ProcSubset=pid`, which the shipped unit sets). In its place: the time
/// the daemon started, taken from the wall clock when the metrics were set up at startup.
struct ProcessMetrics {
    #[cfg(target_os = "linux")]
    inner: prometheus::process_collector::ProcessCollector,
    start_time: Gauge,
}

impl ProcessMetrics {
    fn new(started: SystemTime) -> Result<ProcessMetrics, prometheus::Error> {
        let start_time = Gauge::with_opts(Opts::new(
            START_TIME,
            "Start time of the process since unix epoch in seconds.",
        ))?;
        start_time.set(
            started
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        );
        Ok(ProcessMetrics {
            #[cfg(target_os = "linux")]
            inner: prometheus::process_collector::ProcessCollector::for_self(),
            start_time,
        })
    }
}

impl Collector for ProcessMetrics {
    fn desc(&self) -> Vec<&Desc> {
        #[cfg(target_os = "linux")]
        let mut descs: Vec<&Desc> = self
            .inner
            .desc()
            .into_iter()
            .filter(|d| d.fq_name != START_TIME)
            .collect();
        #[cfg(not(target_os = "linux"))]
        let mut descs: Vec<&Desc> = Vec::new();
        descs.extend(self.start_time.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        #[cfg(target_os = "linux")]
        let mut families: Vec<MetricFamily> = self
            .inner
            .collect()
            .into_iter()
            .filter(|f| f.name() != START_TIME)
            .collect();
        #[cfg(not(target_os = "linux"))]
        let mut families: Vec<MetricFamily> = Vec::new();
        families.extend(self.start_time.collect());
        families
    }
}

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
    /// `netdiffd_repair_header_changed_ratio`: per flow, the share of its header bits that
    /// repair changed.
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
    /// Creates and registers every metric; the process start time is now.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        Metrics::started_at(SystemTime::now())
    }

    /// Creates and registers every metric, with `started` as the process start time.
    pub fn started_at(started: SystemTime) -> Result<Metrics, prometheus::Error> {
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
            repair_bits_changed: h("repair_header_changed_ratio", "Share of a generated flow's header bits that repair changed, per flow.", vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0])?,
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
        m.registry
            .register(Box::new(ProcessMetrics::new(started)?))?;
        for state in JOB_STATES {
            m.jobs_total.with_label_values(&[state]);
        }
        for reason in RejectReason::ALL {
            m.jobs_rejected.with_label_values(&[reason.label()]);
        }
        for stage in JOB_STAGES {
            m.job_stage_seconds.with_label_values(&[stage]);
        }
        for rule in crate::repair::Rule::ALL {
            m.repair_rules.with_label_values(&[rule.name()]);
        }
        for result in RELOAD_RESULTS {
            m.reloads.with_label_values(&[result]);
        }
        Ok(m)
    }

    /// Counts a refused job submission.
    pub fn reject(&self, reason: RejectReason) {
        self.jobs_rejected
            .with_label_values(&[reason.label()])
            .inc();
    }

    /// Makes the series that come from a configuration exist (at zero): those of every
    /// allowed interface and of every schedule. Called at start and after each reload (series
    /// of interfaces and schedules a reload removed stay, with their counts).
    pub fn touch_config(&self, config: &Config) {
        self.touch_interfaces(&config.replay.interfaces);
        for s in &config.schedule {
            self.schedule_runs.with_label_values(&[&s.name]);
            self.schedule_skipped.with_label_values(&[&s.name]);
        }
    }

    /// Makes the per-interface series exist (at zero) for every allowed interface — packets,
    /// bytes, late packets, running replays, and the send errors and retries by reason — so
    /// that rates start from a known value.
    pub fn touch_interfaces(&self, interfaces: &[String]) {
        for i in interfaces {
            self.packets_sent.with_label_values(&[i]);
            self.bytes_sent.with_label_values(&[i]);
            self.send_late.with_label_values(&[i]);
            self.replays_running.with_label_values(&[i]);
            for reason in SEND_ERROR_REASONS {
                self.send_errors.with_label_values(&[i, reason]);
            }
            for reason in SEND_RETRY_REASONS {
                self.send_retries.with_label_values(&[i, reason]);
            }
        }
    }

    /// Makes the per-class series of a model's classes exist (at zero).
    pub fn touch_classes<'a>(&self, classes: impl IntoIterator<Item = &'a str>) {
        for c in classes {
            self.flows_generated.with_label_values(&[c]);
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
            "netdiffd_repair_header_changed_ratio",
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
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("\n{name}")) || text.starts_with(name),
                "{name} missing"
            );
        }
    }

    /// The value of `name{labels}` in `text`.
    fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
        let want = if labels.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{labels}}}")
        };
        text.lines().find_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            (k == want).then(|| v.parse().ok())?
        })
    }

    #[test]
    fn labelled_series_exist_at_zero_from_the_start() {
        let m = Metrics::new().unwrap();
        let mut cfg = Config::default();
        cfg.replay.interfaces = vec!["lo".into(), "veth0".into()];
        cfg.schedule = toml_schedules(&["tick", "nightly"]);
        m.touch_config(&cfg);
        m.touch_classes(["dns", "zoom"]);
        let text = m.render();
        let zero = |name: &str, labels: String| {
            assert_eq!(
                sample(&text, name, &labels),
                Some(0.0),
                "{name}{{{labels}}}"
            );
        };
        for r in RejectReason::ALL {
            zero(
                "netdiffd_jobs_rejected_total",
                format!("reason=\"{}\"", r.label()),
            );
        }
        for s in JOB_STATES {
            zero("netdiffd_jobs_total", format!("state=\"{s}\""));
        }
        for s in JOB_STAGES {
            zero(
                "netdiffd_job_duration_seconds_count",
                format!("stage=\"{s}\""),
            );
        }
        for r in crate::repair::Rule::ALL {
            zero(
                "netdiffd_repair_rules_applied_total",
                format!("rule=\"{r}\""),
            );
        }
        for r in RELOAD_RESULTS {
            zero("netdiffd_config_reloads_total", format!("result=\"{r}\""));
        }
        for s in ["tick", "nightly"] {
            zero("netdiffd_schedule_runs_total", format!("schedule=\"{s}\""));
            zero(
                "netdiffd_schedule_skipped_total",
                format!("schedule=\"{s}\""),
            );
        }
        for c in ["dns", "zoom"] {
            zero("netdiffd_flows_generated_total", format!("class=\"{c}\""));
        }
        for i in ["lo", "veth0"] {
            for name in [
                "netdiffd_packets_sent_total",
                "netdiffd_bytes_sent_total",
                "netdiffd_send_late_packets_total",
                "netdiffd_replays_running",
            ] {
                zero(name, format!("interface=\"{i}\""));
            }
            for r in SEND_ERROR_REASONS {
                zero(
                    "netdiffd_send_errors_total",
                    format!("interface=\"{i}\",reason=\"{r}\""),
                );
            }
            for r in SEND_RETRY_REASONS {
                zero(
                    "netdiffd_send_retries_total",
                    format!("interface=\"{i}\",reason=\"{r}\""),
                );
            }
        }
    }

    fn toml_schedules(names: &[&str]) -> Vec<crate::service::config::ScheduleEntry> {
        names
            .iter()
            .map(|n| {
                serde_json::from_value(serde_json::json!({ "name": n, "every": "1m" })).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_process_start_time_is_the_daemons_not_zero() {
        let started = SystemTime::now();
        let m = Metrics::started_at(started).unwrap();
        let text = m.render();
        let at = sample(&text, "process_start_time_seconds", "").unwrap();
        let want = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((at - want).abs() < 1e-3, "{at} vs {want}");
        // Exported once (the crate's own, from /proc/stat, is left out).
        assert_eq!(
            text.matches("# TYPE process_start_time_seconds ").count(),
            1
        );
        assert!(m.names().iter().any(|n| n == "process_start_time_seconds"));
    }
}
