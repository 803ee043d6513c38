//! The replay stage of a job: the replay engine on a thread of its own, its live counters
//! copied into the metrics while it runs, and cancellation through its handle.

use super::config::Config;
use super::jobs::Job;
use super::metrics::Metrics;
use super::request::ReplaySpec;
use crate::replay::{
    CounterSnapshot, LatenessHistogram, ReplayConfig, ReplayReport, Replayer, SenderKind,
};
use prometheus::Histogram;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often live counters are copied into the metrics.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// The engine's settings for replaying `file` as `spec` says.
pub fn replay_config(spec: &ReplaySpec, file: &Path, cfg: &Config) -> ReplayConfig {
    let mut rc = ReplayConfig::new(spec.iface.clone(), vec![file.to_path_buf()]);
    rc.iface2 = spec.iface2.clone();
    rc.rewrite.dmac = spec.dmac;
    rc.rewrite.smac = spec.smac;
    rc.record_send_times = true;
    rc.pace = spec.pace;
    rc.loops = spec.loops;
    rc.max_sleep = cfg.replay.max_sleep;
    rc.duration = Some(cfg.limits.max_replay_duration);
    rc.sender =
        SenderKind::from_name(&cfg.replay.sender).unwrap_or_else(SenderKind::platform_default);
    rc
}

/// Replays `file` for `job`; returns the engine's report, or why it could not start.
pub async fn run(
    job: &Arc<Job>,
    rc: ReplayConfig,
    metrics: &Metrics,
) -> Result<ReplayReport, String> {
    let iface = rc.iface.clone();
    let iface2 = rc.iface2.clone();
    let replayer = tokio::task::spawn_blocking(move || Replayer::prepare(rc))
        .await
        .map_err(|e| format!("replay setup stopped: {e}"))?
        .map_err(|e| e.to_string())?;
    for w in replayer.warnings() {
        log::warn!("job {}: {w}", job.id);
    }
    for n in replayer.notes() {
        log::info!("job {}: {n}", job.id);
    }
    let handle = replayer.handle();
    job.progress().replay = Some(handle.clone());
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    let lateness = metrics.send_lateness.clone();
    std::thread::Builder::new()
        .name(format!("replay-job-{}", job.id))
        .spawn(move || {
            let report = replayer.run();
            if let Some(h) = &report.lateness_histogram {
                observe_each(&lateness, h);
            }
            let _ = tx.send(report);
        })
        .map_err(|e| format!("cannot start the replay thread: {e}"))?;
    let running: Vec<_> = std::iter::once(&iface)
        .chain(iface2.as_ref())
        .map(|i| metrics.replays_running.with_label_values(&[i]))
        .collect();
    running.iter().for_each(|g| g.inc());
    let mut published = CounterSnapshot::default();
    let mut tick = tokio::time::interval(PUBLISH_EVERY);
    let mut cancel_sent = false;
    let report = loop {
        tokio::select! {
            report = &mut rx => break report,
            _ = job.cancel.cancelled(), if !cancel_sent => {
                handle.cancel();
                cancel_sent = true;
            }
            _ = tick.tick() => {
                let now = handle.counters().snapshot();
                publish_sides(metrics, &iface, iface2.as_deref(), &published, &now);
                published = now;
            }
        }
    };
    running.iter().for_each(|g| g.dec());
    let report = report.map_err(|_| "the replay thread ended without a report".to_string())?;
    publish_sides(
        metrics,
        &iface,
        iface2.as_deref(),
        &published,
        &report.counters,
    );
    if let Some(l) = &report.lateness {
        metrics
            .replay_drift
            .with_label_values(&[&iface])
            .set(l.final_drift_ns as f64 / 1e9);
    }
    Ok(report)
}

/// Adds every frame's lateness to the histogram (on the replay's own thread: a long replay has
/// millions of frames).
fn observe_each(histogram: &Histogram, lateness: &LatenessHistogram) {
    let local = histogram.local();
    for (ns, count) in lateness.buckets() {
        let seconds = ns as f64 / 1e9;
        for _ in 0..count {
            local.observe(seconds);
        }
    }
    local.flush();
}

/// What went out on one side of an inline replay: the second interface's own counters, or
/// the first's (the rest; lateness, retries and framing failures count there).
fn side_view(s: &CounterSnapshot, second: bool) -> CounterSnapshot {
    if second {
        CounterSnapshot {
            packets: s.secondary_packets,
            bytes: s.secondary_bytes,
            failed: s.secondary_failed,
            ..CounterSnapshot::default()
        }
    } else {
        CounterSnapshot {
            packets: s.packets - s.secondary_packets,
            bytes: s.bytes - s.secondary_bytes,
            failed: s.failed - s.secondary_failed,
            secondary_packets: 0,
            secondary_bytes: 0,
            secondary_failed: 0,
            ..*s
        }
    }
}

/// Publishes what each interface of the replay gained since `before`.
fn publish_sides(
    m: &Metrics,
    iface: &str,
    iface2: Option<&str>,
    before: &CounterSnapshot,
    now: &CounterSnapshot,
) {
    publish(m, iface, &side_view(before, false), &side_view(now, false));
    if let Some(i2) = iface2 {
        publish(m, i2, &side_view(before, true), &side_view(now, true));
    }
}

/// Adds what the counters gained since `before` to the metrics.
fn publish(m: &Metrics, iface: &str, before: &CounterSnapshot, now: &CounterSnapshot) {
    let d = |a: u64, b: u64| a.saturating_sub(b);
    m.packets_sent
        .with_label_values(&[iface])
        .inc_by(d(now.packets, before.packets));
    m.bytes_sent
        .with_label_values(&[iface])
        .inc_by(d(now.bytes, before.bytes));
    m.send_late
        .with_label_values(&[iface])
        .inc_by(d(now.late, before.late));
    let other = |s: &CounterSnapshot| s.failed.saturating_sub(s.oversize + s.unframeable);
    for (reason, n) in [
        ("send", d(other(now), other(before))),
        ("oversize", d(now.oversize, before.oversize)),
        ("unframeable", d(now.unframeable, before.unframeable)),
    ] {
        if n > 0 {
            m.send_errors.with_label_values(&[iface, reason]).inc_by(n);
        }
    }
    for (reason, n) in [
        ("enobufs", d(now.retried_enobufs, before.retried_enobufs)),
        ("eagain", d(now.retried_eagain, before.retried_eagain)),
    ] {
        if n > 0 {
            m.send_retries.with_label_values(&[iface, reason]).inc_by(n);
        }
    }
}
