//! Runs jobs: takes them off the queue as slots free up, and walks each through its stages —
//! generate and repair (on a blocking thread), write the pcap (atomically), replay (on a
//! thread of its own) — watching for cancellation between stages, batches and packets.

use super::generation::{generate_in_batches, GenerationObserver};
use super::jobs::{Job, JobState};
use super::metrics::Metrics;
use super::replay_job;
use super::spool;
use super::state::{Active, Shared};
use crate::model::SampleSettings;
use crate::packets::{write_flows, Framing, TsResolution};
use crate::pipeline::{ground_truth, JobSettings};
use crate::repair::RepairSettings;
use crate::truth::{GroundTruth, LabelsFormat};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

/// Time of a job's first packet in its pcap: the CLI's default, so that `netdiffd generate`
/// with the same seed and settings writes the same file.
const START_NS: u64 = 1_700_000_000_000_000_000;

/// Takes jobs off the queue and runs up to `slots` at once, until the daemon stops.
pub async fn dispatch(shared: Arc<Shared>, slots: usize, tracker: TaskTracker) {
    let slots = Arc::new(Semaphore::new(slots));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shared.stop.cancelled() => break,
        };
        let job = tokio::select! {
            j = shared.jobs.next() => j,
            _ = shared.stop.cancelled() => None,
        };
        let Some(job) = job else { break };
        tracker.spawn(run_job(Arc::clone(&shared), job, permit));
    }
}

enum End {
    Cancelled,
    Failed(String),
}

async fn run_job(shared: Arc<Shared>, job: Arc<Job>, _slot: OwnedSemaphorePermit) {
    let active = shared.active();
    let m = &shared.metrics;
    m.jobs_running.inc();
    log::info!(
        "job {} ({}): {} flows of {}",
        job.id,
        job.source,
        job.spec.flows,
        job.spec.mix
    );
    let result = if job.cancel.is_cancelled() {
        Err(End::Cancelled)
    } else {
        stages(&shared, &active, &job).await
    };
    let (state, error) = match result {
        Ok(()) => (JobState::Done, None),
        Err(End::Cancelled) => (JobState::Cancelled, None),
        Err(End::Failed(e)) => (JobState::Failed, Some(e)),
    };
    let (pcap, labels) = {
        let mut p = job.progress();
        p.error = error.clone();
        p.replay = None;
        // The ground truth of a finished job stays (it is what scores the device); that of a
        // job that did not finish goes with its pcap.
        let labels = p
            .labels
            .clone()
            .filter(|_| state != JobState::Done && !p.pcap_kept);
        if labels.is_some() {
            p.labels = None;
        }
        (p.pcap.clone().filter(|_| !p.pcap_kept), labels)
    };
    for path in pcap.iter().chain(labels.iter()) {
        let _ = std::fs::remove_file(path);
    }
    job.set_state(state);
    m.jobs_running.dec();
    m.jobs_total.with_label_values(&[state.name()]).inc();
    record_stage_times(&shared, &job);
    match &error {
        Some(e) => log::warn!("job {} failed: {e}", job.id),
        None => log::info!("job {} {}", job.id, state.name()),
    }
    shared.notifier.status(&format!(
        "running; job {} {}; {} queued, {} running",
        job.id,
        state.name(),
        shared.jobs.queued(),
        m.jobs_running.get()
    ));
    let out = &active.config.output;
    let in_use = shared.jobs.pcaps_in_use();
    let removed = spool::prune(&out.spool, out.keep_files, out.max_age, &in_use);
    if removed > 0 {
        log::debug!("spool: removed {removed} old job files");
    }
}

/// Writes a job's ground truth (whole or not at all) on a blocking thread; gives it back.
async fn write_labels(truth: GroundTruth, path: &std::path::Path) -> Result<GroundTruth, End> {
    let target = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        truth
            .write_as(&target, LabelsFormat::JsonLines)
            .map(|()| truth)
    })
    .await
    .map_err(|e| End::Failed(format!("writing the ground truth stopped: {e}")))?
    .map_err(|e| End::Failed(e.to_string()))
}

fn record_stage_times(shared: &Shared, job: &Job) {
    let p = job.progress();
    let mut total = 0.0;
    for (stage, secs) in &p.stage_seconds {
        total += secs;
        shared
            .metrics
            .job_stage_seconds
            .with_label_values(&[stage.name()])
            .observe(*secs);
    }
    shared
        .metrics
        .job_stage_seconds
        .with_label_values(&["total"])
        .observe(total);
}

/// Feeds a job's progress and the metrics as its flows are sampled and repaired.
struct JobObserver<'a> {
    metrics: &'a Metrics,
    job: &'a Job,
    sampled: usize,
}

impl GenerationObserver for JobObserver<'_> {
    fn batch_sampled(&mut self, flows: usize, seconds: f64) {
        self.sampled += flows;
        self.job.progress().flows_sampled = self.sampled;
        self.metrics.generation_seconds.observe(seconds);
        self.metrics
            .generation_flows_per_second
            .set(flows as f64 / seconds.max(1e-9));
    }

    fn repairing(&mut self) {
        self.job.set_state(JobState::Repairing);
    }

    fn flow_repaired(&mut self, class: &str, flow: &crate::repair::RepairedFlow) {
        self.job.progress().flows_generated += 1;
        let m = self.metrics;
        m.flows_generated.with_label_values(&[class]).inc();
        m.repair_bits_changed.observe(flow.report.changed_ratio());
        for (rule, n) in &flow.report.rules_applied {
            m.repair_rules.with_label_values(&[rule.name()]).inc_by(*n);
        }
    }
}

async fn stages(shared: &Arc<Shared>, active: &Arc<Active>, job: &Arc<Job>) -> Result<(), End> {
    let cfg = &active.config;
    job.set_state(JobState::Generating);
    let settings = JobSettings {
        flows: job.spec.flows,
        sample: SampleSettings {
            steps: cfg.model.steps,
            guidance: cfg.model.guidance,
            free_structure: cfg.model.free_structure,
            generate_kinds: cfg.model.generate_kinds,
            exact_lengths: cfg.model.exact_lengths,
            batch: cfg.model.batch,
            seed: job.spec.seed,
            ..SampleSettings::default()
        },
        repair: RepairSettings {
            client_pool: cfg.replay.client_pool,
            server_pool: cfg.replay.server_pool,
            handshake: cfg.repair.handshake,
            payload_fill: cfg.repair.payload.clone(),
            mtu: cfg.repair.mtu,
            start_ns: START_NS,
            ..RepairSettings::default()
        },
        mean_flow_gap_ns: cfg
            .generate
            .flow_gap
            .map(|g| u64::try_from(g.as_nanos()).unwrap_or(u64::MAX)),
    };
    let (model, job2, metrics) = (
        Arc::clone(&active.model),
        Arc::clone(job),
        shared.metrics.clone(),
    );
    let output = tokio::task::spawn_blocking(move || {
        let mut observer = JobObserver {
            metrics: &metrics,
            job: &job2,
            sampled: 0,
        };
        generate_in_batches(
            &model,
            &job2.spec.mix,
            &settings,
            &job2.cancel,
            &mut observer,
        )
    })
    .await
    .map_err(|e| End::Failed(format!("generation stopped: {e}")))?
    .map_err(|e| End::Failed(format!("generation: {e}")))?
    .ok_or(End::Cancelled)?;
    if output.flows.is_empty() {
        return Err(End::Failed("the model generated no packets".into()));
    }
    if job.cancel.is_cancelled() {
        return Err(End::Cancelled);
    }
    let path = spool::job_path(&cfg.output.spool, job.id, job.submitted_at);
    let mut truth = ground_truth(&active.model, &output.flows, &path);
    let flows: Vec<_> = output.flows.into_iter().map(|(_, f)| f).collect();
    let labels = spool::labels_path(&path);
    truth = write_labels(truth, &labels).await?;
    job.progress().labels = Some(labels.clone());
    let framing = Framing::Ethernet {
        client_mac: cfg.replay.client_mac,
        server_mac: cfg.replay.server_mac,
    };
    let resolution = if cfg.output.nanosecond_timestamps {
        TsResolution::Nano
    } else {
        TsResolution::Micro
    };
    let target = path.clone();
    let written =
        tokio::task::spawn_blocking(move || write_flows(&target, &flows, &framing, resolution))
            .await
            .map_err(|e| End::Failed(format!("writing stopped: {e}")))?
            .map_err(|e| End::Failed(format!("writing {}: {e}", path.display())))?;
    {
        let mut p = job.progress();
        p.packets_written = written;
        p.pcap = Some(path.clone());
        p.pcap_kept = job.spec.keep_pcap;
    }
    let Some(spec) = &job.spec.replay else {
        return Ok(());
    };
    if job.cancel.is_cancelled() {
        return Err(End::Cancelled);
    }
    job.set_state(JobState::Replaying);
    let rc = replay_job::replay_config(spec, &path, cfg);
    let mut report = replay_job::run(job, rc, &shared.metrics)
        .await
        .map_err(|e| End::Failed(format!("replay on {}: {e}", spec.iface)))?;
    if let Some(log) = report.send_log.take() {
        for (l, sent, on_second) in log.of_file(0) {
            truth.add_replay_loop(l, sent, on_second, &spec.iface, spec.iface2.as_deref());
        }
        write_labels(truth, &labels).await?;
    }
    let stop = report.stop.clone();
    let (sent, failed) = (report.counters.packets, report.counters.failed);
    job.progress().replay_report = Some(report);
    if sent == 0 && failed > 0 && stop == crate::replay::StopReason::Completed {
        return Err(End::Failed(format!(
            "replay on {}: none of the {failed} frames could be sent (see replay_report)",
            spec.iface
        )));
    }
    match stop {
        crate::replay::StopReason::Cancelled => Err(End::Cancelled),
        crate::replay::StopReason::Failed(e) => {
            Err(End::Failed(format!("replay on {}: {e}", spec.iface)))
        }
        _ => Ok(()),
    }
}
