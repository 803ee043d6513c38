//! `[[schedule]]` entries: each submits its job every interval or on its cron expression. A run
//! whose previous run is still going (or that finds the queue full) is skipped and counted,
//! not stacked. The loop also sends systemd's watchdog keep-alive, so a stuck runtime is
//! noticed.

use super::config::ScheduleEntry;
use super::jobs::{JobId, SubmitError};
use super::notify::watchdog_interval;
use super::state::Shared;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Longest sleep of the loop when nothing is due (it wakes earlier on reload and stop).
const IDLE: Duration = Duration::from_secs(3600);

struct Entry {
    spec: ScheduleEntry,
    cron: Option<croner::Cron>,
    due: Instant,
    last_job: Option<JobId>,
}

impl Entry {
    fn new(spec: ScheduleEntry, now: Instant) -> Entry {
        let cron = spec
            .cron
            .as_deref()
            .and_then(|c| croner::Cron::from_str(c).ok());
        let mut e = Entry {
            spec,
            cron,
            due: now,
            last_job: None,
        };
        e.due = e.next_after(now);
        e
    }

    /// When the entry runs next after a run due at `previous`.
    fn next_after(&self, previous: Instant) -> Instant {
        let now = Instant::now();
        if let Some(every) = self.spec.every {
            let next = previous + every;
            return if next <= now { now + every } else { next };
        }
        let Some(cron) = &self.cron else {
            return now + IDLE;
        };
        let wall = chrono::Local::now();
        match cron.find_next_occurrence(&wall, false) {
            Ok(at) => now + (at - wall).to_std().unwrap_or_default(),
            Err(_) => now + IDLE,
        }
    }

    fn same_timing(&self, other: &ScheduleEntry) -> bool {
        self.spec.name == other.name
            && self.spec.every == other.every
            && self.spec.cron == other.cron
    }
}

/// Rebuilds the entries from the active configuration; entries whose name and timing did not
/// change keep their next run time.
fn rebuild(shared: &Shared, old: Vec<Entry>) -> Vec<Entry> {
    let now = Instant::now();
    let mut old = old;
    shared
        .active()
        .config
        .schedule
        .iter()
        .filter(|s| s.enabled)
        .map(|s| match old.iter().position(|e| e.same_timing(s)) {
            Some(i) => {
                let mut e = old.swap_remove(i);
                e.spec = s.clone();
                e
            }
            None => Entry::new(s.clone(), now),
        })
        .collect()
}

/// Runs the schedules and the watchdog until the daemon stops.
pub async fn run(shared: Arc<Shared>) {
    let mut changed = shared.schedules_changed.subscribe();
    let watchdog = watchdog_interval().filter(|_| shared.notifier.enabled());
    let mut next_watchdog = Instant::now();
    let mut entries = rebuild(&shared, Vec::new());
    log_entries(&entries);
    loop {
        let now = Instant::now();
        if let Some(every) = watchdog {
            if next_watchdog <= now {
                shared.notifier.watchdog();
                next_watchdog = now + every;
            }
        }
        for e in entries.iter_mut().filter(|e| e.due <= now) {
            fire(&shared, e);
            e.due = e.next_after(e.due);
        }
        let mut wake = entries.iter().map(|e| e.due).min().unwrap_or(now + IDLE);
        if watchdog.is_some() {
            wake = wake.min(next_watchdog);
        }
        tokio::select! {
            _ = shared.stop.cancelled() => break,
            r = changed.changed() => {
                if r.is_err() {
                    break;
                }
                entries = rebuild(&shared, entries);
                log_entries(&entries);
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

fn log_entries(entries: &[Entry]) {
    for e in entries {
        let timing = match (&e.spec.every, &e.spec.cron) {
            (Some(d), _) => format!("every {}", humantime::format_duration(*d)),
            (_, Some(c)) => format!("cron {c:?}"),
            _ => String::new(),
        };
        log::info!("schedule {}: {timing}", e.spec.name);
    }
}

fn fire(shared: &Shared, e: &mut Entry) {
    let m = &shared.metrics;
    let name = e.spec.name.as_str();
    if let Some(job) = e.last_job.and_then(|id| shared.jobs.get(id)) {
        let state = job.state();
        if !state.is_finished() {
            m.schedule_skipped.with_label_values(&[name]).inc();
            log::warn!(
                "schedule {name}: skipped, its previous job {} is still {}",
                job.id,
                state.name()
            );
            return;
        }
    }
    let active = shared.active();
    let spec = match e.spec.request().resolve(&active.config, &active.model.card) {
        Ok(s) => s,
        Err(err) => {
            m.schedule_skipped.with_label_values(&[name]).inc();
            log::error!("schedule {name}: {err}");
            return;
        }
    };
    let limits = &active.config.limits;
    match shared.jobs.submit(
        format!("schedule:{name}"),
        spec,
        limits.queue_length,
        limits.job_history,
    ) {
        Ok(job) => {
            e.last_job = Some(job.id);
            m.schedule_runs.with_label_values(&[name]).inc();
        }
        Err(SubmitError::QueueFull { capacity }) => {
            m.schedule_skipped.with_label_values(&[name]).inc();
            log::warn!("schedule {name}: skipped, the queue is full ({capacity} jobs)");
        }
        Err(SubmitError::Closed) => {}
    }
}
