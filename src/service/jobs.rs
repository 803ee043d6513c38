//! Jobs and the bounded queue: every job the daemon knows (queued, running, and a bounded
//! history of finished ones), the waiting ones in submission order, and each job's progress.

use super::metrics::Metrics;
use super::request::JobSpec;
use crate::replay::{ReplayHandle, ReplayReport};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A job's number, unique while the daemon runs.
pub type JobId = u64;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting in the queue.
    Queued,
    /// Sampling flows from the model.
    Generating,
    /// Flows sampled and repaired (batch by batch, while generating); writing the pcap.
    Repairing,
    /// Sending the pcap onto the interface.
    Replaying,
    /// Finished.
    Done,
    /// Ended with an error.
    Failed,
    /// Cancelled (by `DELETE`, or by a stop).
    Cancelled,
}

impl JobState {
    /// True for done, failed and cancelled.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }

    /// The state's name, as in the API and the metrics.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Generating => "generating",
            JobState::Repairing => "repairing",
            JobState::Replaying => "replaying",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// What changes as a job runs.
#[derive(Debug)]
pub struct Progress {
    /// Current state.
    pub state: JobState,
    /// When the current state began.
    pub state_since: Instant,
    /// Seconds spent in each finished state, in order.
    pub stage_seconds: Vec<(JobState, f64)>,
    /// When the job left the queue.
    pub started_at: Option<SystemTime>,
    /// When it finished.
    pub finished_at: Option<SystemTime>,
    /// Flows sampled from the model so far.
    pub flows_sampled: usize,
    /// Flows repaired so far (sampled flows without packets are dropped).
    pub flows_generated: usize,
    /// Frames written to the pcap.
    pub packets_written: u64,
    /// The job's pcap, once written.
    pub pcap: Option<PathBuf>,
    /// Whether the pcap stays in the spool.
    pub pcap_kept: bool,
    /// The job's ground truth (labels file), once written; it stays in the spool.
    pub labels: Option<PathBuf>,
    /// The replay's handle while it runs (cancel, live counters).
    pub replay: Option<ReplayHandle>,
    /// The replay's report once it ended.
    pub replay_report: Option<ReplayReport>,
    /// Why it failed.
    pub error: Option<String>,
}

/// One job.
#[derive(Debug)]
pub struct Job {
    /// Its number.
    pub id: JobId,
    /// `api` or `schedule:NAME`.
    pub source: String,
    /// What it does.
    pub spec: JobSpec,
    /// When it was submitted.
    pub submitted_at: SystemTime,
    /// Cancelled by `DELETE` or by a stop.
    pub cancel: CancellationToken,
    progress: Mutex<Progress>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these plain records inconsistent.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Job {
    /// The job's progress, locked.
    pub fn progress(&self) -> MutexGuard<'_, Progress> {
        lock(&self.progress)
    }

    /// The current state.
    pub fn state(&self) -> JobState {
        self.progress().state
    }

    /// Moves to `state`, recording the time spent in the previous one.
    pub fn set_state(&self, state: JobState) {
        let mut p = self.progress();
        if p.state == state || p.state.is_finished() {
            return;
        }
        let spent = p.state_since.elapsed().as_secs_f64();
        let prev = p.state;
        p.stage_seconds.push((prev, spent));
        p.state = state;
        p.state_since = Instant::now();
        if prev == JobState::Queued {
            p.started_at = Some(SystemTime::now());
        }
        if state.is_finished() {
            p.finished_at = Some(SystemTime::now());
        }
    }

    /// The job as the API shows it.
    pub fn status(&self) -> JobStatus {
        let p = self.progress();
        let live = p.replay.as_ref().map(|h| h.counters().snapshot());
        let replay = p.replay_report.as_ref().map(|r| r.to_json()).or_else(|| {
            live.map(|c| serde_json::json!({ "packets": c.packets, "bytes": c.bytes, "failed": c.failed }))
        });
        let mut stages: BTreeMap<&'static str, f64> = BTreeMap::new();
        for (s, secs) in &p.stage_seconds {
            *stages.entry(s.name()).or_default() += secs;
        }
        if !p.state.is_finished() {
            *stages.entry(p.state.name()).or_default() += p.state_since.elapsed().as_secs_f64();
        }
        JobStatus {
            id: self.id,
            state: p.state,
            source: self.source.clone(),
            mix: self.spec.mix.to_string(),
            flows: self.spec.flows,
            seed: self.spec.seed,
            replay: self.spec.replay.as_ref().map(|r| ReplayView {
                iface: r.iface.clone(),
                iface2: r.iface2.clone(),
                pace: pace_text(&r.pace),
                loops: r.loops,
            }),
            submitted_at: rfc3339(self.submitted_at),
            started_at: p.started_at.map(rfc3339),
            finished_at: p.finished_at.map(rfc3339),
            seconds: stages,
            flows_sampled: p.flows_sampled,
            flows_generated: p.flows_generated,
            packets_written: p.packets_written,
            packets_sent: p
                .replay_report
                .as_ref()
                .map(|r| r.counters.packets)
                .or(live.map(|c| c.packets))
                .unwrap_or(0),
            pcap: p.pcap.as_ref().map(|f| f.display().to_string()),
            pcap_kept: p.pcap_kept,
            labels: p.labels.as_ref().map(|f| f.display().to_string()),
            replay_report: replay,
            error: p.error.clone(),
        }
    }
}

fn pace_text(p: &crate::replay::Pace) -> String {
    match p {
        crate::replay::Pace::Captured { multiplier } => format!("multiplier {multiplier}"),
        crate::replay::Pace::Pps(r) => format!("{r} pps"),
        crate::replay::Pace::Mbps(r) => format!("{r} Mbps"),
        crate::replay::Pace::TopSpeed => "topspeed".into(),
    }
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// How a replay of a job is set up, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayView {
    /// Interface (the client side's in an inline replay).
    pub iface: String,
    /// Inline replay: the server side's interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface2: Option<String>,
    /// Pacing in words.
    pub pace: String,
    /// Loops.
    #[serde(rename = "loop")]
    pub loops: u64,
}

/// A job as `GET /v1/jobs/{id}` returns it.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// Number.
    pub id: JobId,
    /// State.
    pub state: JobState,
    /// `api` or `schedule:NAME`.
    pub source: String,
    /// Class mix.
    pub mix: String,
    /// Flows asked for.
    pub flows: usize,
    /// Seed used.
    pub seed: u64,
    /// Replay settings.
    pub replay: Option<ReplayView>,
    /// Submission time (RFC 3339, UTC).
    pub submitted_at: String,
    /// When it left the queue.
    pub started_at: Option<String>,
    /// When it finished.
    pub finished_at: Option<String>,
    /// Seconds spent per state.
    pub seconds: BTreeMap<&'static str, f64>,
    /// Flows sampled from the model so far.
    pub flows_sampled: usize,
    /// Flows repaired so far.
    pub flows_generated: usize,
    /// Frames written to the pcap.
    pub packets_written: u64,
    /// Frames sent so far (all loops).
    pub packets_sent: u64,
    /// The pcap's path.
    pub pcap: Option<String>,
    /// Whether the pcap stays in the spool.
    pub pcap_kept: bool,
    /// The ground truth's path (JSON Lines, one record a flow; `GET /v1/jobs/{id}/flows`).
    pub labels: Option<String>,
    /// The replay's report (live counters while it runs).
    pub replay_report: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Why a job was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    /// The queue holds as many jobs as it may.
    QueueFull {
        /// The bound.
        capacity: usize,
    },
    /// The daemon is stopping.
    Closed,
}

/// What `DELETE /v1/jobs/{id}` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// No such job.
    NotFound,
    /// The job had already finished, in this state.
    AlreadyFinished(JobState),
    /// It was waiting: it is now cancelled.
    Dequeued,
    /// It was running: it stops at the next batch or packet boundary.
    Stopping,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: JobId,
    all: BTreeMap<JobId, Arc<Job>>,
    queue: VecDeque<Arc<Job>>,
    closed: bool,
}

/// Every job, and the queue of waiting ones.
pub struct Jobs {
    inner: Mutex<Inner>,
    wake: Notify,
    metrics: Metrics,
    stop: CancellationToken,
}

impl Jobs {
    /// An empty table; jobs' cancellation tokens are children of `stop`.
    pub fn new(metrics: Metrics, stop: CancellationToken) -> Jobs {
        Jobs {
            inner: Mutex::new(Inner::default()),
            wake: Notify::new(),
            metrics,
            stop,
        }
    }

    /// Queues a job unless `capacity` jobs already wait; forgets the oldest finished jobs
    /// beyond `history`.
    pub fn submit(
        &self,
        source: String,
        spec: JobSpec,
        capacity: usize,
        history: usize,
    ) -> Result<Arc<Job>, SubmitError> {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return Err(SubmitError::Closed);
        }
        if inner.queue.len() >= capacity {
            return Err(SubmitError::QueueFull { capacity });
        }
        inner.next_id += 1;
        let job = Arc::new(Job {
            id: inner.next_id,
            source,
            spec,
            submitted_at: SystemTime::now(),
            cancel: self.stop.child_token(),
            progress: Mutex::new(Progress {
                state: JobState::Queued,
                state_since: Instant::now(),
                stage_seconds: Vec::new(),
                started_at: None,
                finished_at: None,
                flows_sampled: 0,
                flows_generated: 0,
                packets_written: 0,
                pcap: None,
                pcap_kept: false,
                labels: None,
                replay: None,
                replay_report: None,
                error: None,
            }),
        });
        inner.all.insert(job.id, Arc::clone(&job));
        inner.queue.push_back(Arc::clone(&job));
        self.metrics.queue_length.set(inner.queue.len() as i64);
        self.metrics
            .jobs_total
            .with_label_values(&["submitted"])
            .inc();
        forget_old(&mut inner, history);
        drop(inner);
        self.wake.notify_one();
        Ok(job)
    }

    /// The next job to run, waiting for one; `None` once the table is closed.
    pub async fn next(&self) -> Option<Arc<Job>> {
        loop {
            let notified = self.wake.notified();
            {
                let mut inner = lock(&self.inner);
                if inner.closed {
                    return None;
                }
                if let Some(job) = inner.queue.pop_front() {
                    self.metrics.queue_length.set(inner.queue.len() as i64);
                    return Some(job);
                }
            }
            notified.await;
        }
    }

    /// Cancels job `id`.
    pub fn cancel(&self, id: JobId) -> CancelOutcome {
        let mut inner = lock(&self.inner);
        let Some(job) = inner.all.get(&id).cloned() else {
            return CancelOutcome::NotFound;
        };
        let state = job.state();
        if state.is_finished() {
            return CancelOutcome::AlreadyFinished(state);
        }
        job.cancel.cancel();
        if let Some(pos) = inner.queue.iter().position(|j| j.id == id) {
            inner.queue.remove(pos);
            self.metrics.queue_length.set(inner.queue.len() as i64);
            drop(inner);
            job.set_state(JobState::Cancelled);
            self.metrics
                .jobs_total
                .with_label_values(&["cancelled"])
                .inc();
            return CancelOutcome::Dequeued;
        }
        CancelOutcome::Stopping
    }

    /// Stops accepting jobs and cancels the waiting ones; running ones are cancelled through
    /// the stop token.
    pub fn close(&self) {
        let mut inner = lock(&self.inner);
        inner.closed = true;
        let waiting: Vec<Arc<Job>> = inner.queue.drain(..).collect();
        self.metrics.queue_length.set(0);
        drop(inner);
        for job in waiting {
            job.set_state(JobState::Cancelled);
            self.metrics
                .jobs_total
                .with_label_values(&["cancelled"])
                .inc();
        }
        self.wake.notify_waiters();
    }

    /// Job `id`.
    pub fn get(&self, id: JobId) -> Option<Arc<Job>> {
        lock(&self.inner).all.get(&id).cloned()
    }

    /// The newest `limit` jobs, newest first, optionally only those in `state`.
    pub fn list(&self, limit: usize, state: Option<JobState>) -> Vec<Arc<Job>> {
        let inner = lock(&self.inner);
        inner
            .all
            .values()
            .rev()
            .filter(|j| state.is_none_or(|s| j.state() == s))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Jobs waiting to run.
    pub fn queued(&self) -> usize {
        lock(&self.inner).queue.len()
    }

    /// Paths of the pcaps of jobs not yet finished (retention keeps them).
    pub fn pcaps_in_use(&self) -> Vec<PathBuf> {
        let inner = lock(&self.inner);
        inner
            .all
            .values()
            .filter(|j| !j.state().is_finished())
            .filter_map(|j| j.progress().pcap.clone())
            .collect()
    }
}

fn forget_old(inner: &mut Inner, history: usize) {
    let finished: Vec<JobId> = inner
        .all
        .values()
        .filter(|j| j.state().is_finished())
        .map(|j| j.id)
        .collect();
    if finished.len() > history {
        for id in &finished[..finished.len() - history] {
            inner.all.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        JobSpec {
            mix: "a".parse().unwrap(),
            flows: 1,
            seed: 0,
            replay: None,
            keep_pcap: true,
        }
    }

    #[tokio::test]
    async fn queue_is_bounded_in_order_and_cancellable() {
        let jobs = Jobs::new(Metrics::new().unwrap(), CancellationToken::new());
        let a = jobs.submit("api".into(), spec(), 2, 10).unwrap();
        let b = jobs.submit("api".into(), spec(), 2, 10).unwrap();
        assert_eq!(
            jobs.submit("api".into(), spec(), 2, 10).unwrap_err(),
            SubmitError::QueueFull { capacity: 2 }
        );
        assert_eq!(jobs.cancel(a.id), CancelOutcome::Dequeued);
        assert_eq!(a.state(), JobState::Cancelled);
        assert_eq!(
            jobs.cancel(a.id),
            CancelOutcome::AlreadyFinished(JobState::Cancelled)
        );
        assert_eq!(jobs.next().await.unwrap().id, b.id);
        assert_eq!(jobs.cancel(b.id), CancelOutcome::Stopping);
        assert!(b.cancel.is_cancelled());
        assert_eq!(jobs.cancel(99), CancelOutcome::NotFound);
        jobs.close();
        assert!(jobs.next().await.is_none());
        assert_eq!(
            jobs.submit("api".into(), spec(), 2, 10).unwrap_err(),
            SubmitError::Closed
        );
    }

    #[test]
    fn history_is_bounded() {
        let jobs = Jobs::new(Metrics::new().unwrap(), CancellationToken::new());
        for _ in 0..5 {
            let j = jobs.submit("api".into(), spec(), 10, 2).unwrap();
            jobs.cancel(j.id);
        }
        let j = jobs.submit("api".into(), spec(), 10, 2).unwrap();
        assert_eq!(jobs.list(100, None).len(), 3);
        assert_eq!(jobs.list(100, Some(JobState::Queued))[0].id, j.id);
    }
}
