//! One run of the engine: the passes over the files, waiting for due times, batching frames
//! that are due, rewriting them and handing them to the sender.

use super::config::{CatchUp, Pace, ReplayConfig};
use super::engine::{nanos, ReplayHandle};
use super::rewrite::Rewriter;
use super::sender::{FrameSink, SendTally};
use super::source::{
    Chunk, FlowCounter, Input, PacketMeta, OVERSIZE, SECONDARY, SKIP, TRUNCATED, UNFRAMEABLE,
};
use super::stats::{LatenessHistogram, ReplayCounters, SendLog, StopReason};
use super::sys;
use super::timing::{Schedule, Waiter, Wake};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Sets the thread's timer slack for the run and puts the old value back after it.
pub(super) struct TimerSlack(Option<u64>);

impl TimerSlack {
    pub(super) fn set(slack: Duration) -> TimerSlack {
        let old = sys::timer_slack_ns();
        if old.is_some() {
            sys::set_timer_slack_ns(nanos(slack));
        }
        TimerSlack(old)
    }
}

impl Drop for TimerSlack {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            sys::set_timer_slack_ns(old);
        }
    }
}

/// Runs the thread under SCHED_FIFO and puts its old policy back after the run.
pub(super) struct Realtime(sys::SchedState);

impl Realtime {
    pub(super) fn enter(priority: u8) -> Option<Realtime> {
        let old = sys::sched_state()?;
        sys::set_realtime(i32::from(priority.clamp(1, 99))).ok()?;
        Some(Realtime(old))
    }
}

impl Drop for Realtime {
    fn drop(&mut self) {
        let _ = sys::set_sched(self.0);
    }
}

/// A frame waiting to be handed to the sender.
#[derive(Debug, Clone, Copy)]
struct Pending {
    meta: PacketMeta,
    /// When it is due, after any re-anchoring (0 at top speed).
    due: u64,
    /// When it was due on the schedule before any re-anchoring.
    scheduled: u64,
}

/// The state of one run.
pub(super) struct Run<'a> {
    cfg: &'a ReplayConfig,
    waiter: Waiter,
    timed: bool,
    /// The thread runs under SCHED_FIFO: spin at most half of each gap.
    realtime: bool,
    /// Due time of the previous packet.
    last_due: u64,
    deadline: Option<u64>,
    handle: ReplayHandle,
    sinks: Sinks<'a>,
    ethernet_out: bool,
    rewriter: Rewriter,
    scratch: Vec<Vec<u8>>,
    pending: Vec<Pending>,
    next_anchor: u64,
    attempted: u64,
    pub(super) lateness: LatenessHistogram,
    pub(super) first_send: Option<u64>,
    pub(super) last_send: u64,
    pub(super) final_drift: i64,
    pub(super) flows: FlowCounter,
    /// Index of the file being replayed.
    file: usize,
    /// When each frame left, when asked for.
    pub(super) send_log: Option<SendLog>,
    /// Monotonic ns to UTC ns.
    utc_offset: i128,
    /// Send times the log holds, all loops and files together.
    logged: usize,
}

/// Where frames go: one sink, or two for an inline replay (server-side frames on the second).
pub(super) struct Sinks<'a> {
    pub(super) primary: &'a mut dyn FrameSink,
    pub(super) secondary: Option<&'a mut dyn FrameSink>,
}

/// Most send times a log keeps (8 bytes each): later loops are not recorded.
const MAX_LOGGED_FRAMES: usize = 1 << 26;

type Step = Result<(), StopReason>;

impl<'a> Run<'a> {
    /// A run of `cfg` that starts at `start` (monotonic ns) and sends through `sink`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        cfg: &'a ReplayConfig,
        waiter: Waiter,
        realtime: bool,
        deadline: Option<u64>,
        handle: ReplayHandle,
        sinks: Sinks<'a>,
        ethernet_out: bool,
        start: u64,
    ) -> Run<'a> {
        let utc_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        Run {
            cfg,
            waiter,
            timed: cfg.pace != Pace::TopSpeed,
            realtime,
            last_due: 0,
            deadline,
            handle,
            sinks,
            ethernet_out,
            rewriter: Rewriter::new(cfg.rewrite.clone()),
            scratch: vec![Vec::new(); cfg.batch],
            pending: Vec::with_capacity(cfg.batch),
            next_anchor: start,
            attempted: 0,
            lateness: LatenessHistogram::default(),
            first_send: None,
            last_send: start,
            final_drift: 0,
            flows: FlowCounter::default(),
            file: 0,
            send_log: cfg.record_send_times.then(SendLog::default),
            utc_offset: utc_now - i128::from(waiter.now()),
            logged: 0,
        }
    }

    fn counters(&self) -> &ReplayCounters {
        &self.handle.counters
    }

    pub(super) fn all_loops(&mut self, inputs: &[Input]) -> StopReason {
        let mut loop_index = 0u64;
        loop {
            for (file, input) in inputs.iter().enumerate() {
                self.file = file;
                if let Err(stop) = self.pass(input, loop_index) {
                    return stop;
                }
            }
            loop_index += 1;
            self.counters().loops.store(loop_index, Ordering::Relaxed);
            if self.cfg.loops != 0 && loop_index >= self.cfg.loops {
                return StopReason::Completed;
            }
            if !self.cfg.loop_delay.is_zero() {
                let target = self
                    .next_anchor
                    .max(self.waiter.now())
                    .saturating_add(nanos(self.cfg.loop_delay));
                if let Err(stop) = self.wait(target) {
                    return stop;
                }
                self.next_anchor = target;
            }
        }
    }

    fn wait(&self, due: u64) -> Result<u64, StopReason> {
        let mut margin = self.waiter.spin_margin_ns;
        if self.realtime {
            // A realtime thread that spins through whole gaps would keep every normal task off
            // its core (and run into the kernel's realtime throttling).
            margin = margin.min(due.saturating_sub(self.last_due) / 2);
        }
        match self
            .waiter
            .wait_until(due, self.deadline, &self.handle.cancel, margin)
        {
            Wake::Due(now) => Ok(now),
            Wake::Deadline => Err(StopReason::Duration),
            Wake::Cancelled => Err(StopReason::Cancelled),
        }
    }

    /// One pass over one file.
    fn pass(&mut self, input: &Input, loop_index: u64) -> Step {
        let mut source = input
            .source()
            .map_err(|e| StopReason::Failed(e.to_string()))?;
        let mut schedule = Schedule::new(self.cfg.pace, self.cfg.max_sleep.map(nanos));
        let mut anchor: Option<u64> = None;
        let mut shift = 0u64;
        let count_flows = loop_index == 0 && input.flows.is_none();
        let mut flows = std::mem::take(&mut self.flows);
        let result = loop {
            let chunk = match source.next_chunk(self.cfg.batch, count_flows.then_some(&mut flows)) {
                Ok(Some(c)) => c,
                Ok(None) => break Ok(()),
                Err(e) => break Err(StopReason::Failed(e.to_string())),
            };
            let step = self.chunk(chunk, loop_index, &mut schedule, &mut anchor, &mut shift);
            let flushed = self.flush(chunk, loop_index);
            if let Err(stop) = step.and(flushed) {
                break Err(stop);
            }
        };
        self.flows = flows;
        if let Some(a) = anchor {
            self.next_anchor = a
                .saturating_add(shift)
                .saturating_add(schedule.end_offset());
        }
        result
    }

    fn chunk(
        &mut self,
        chunk: Chunk<'_>,
        loop_index: u64,
        schedule: &mut Schedule,
        anchor: &mut Option<u64>,
        shift: &mut u64,
    ) -> Step {
        for m in chunk.meta {
            if self.handle.is_cancelled() {
                return Err(StopReason::Cancelled);
            }
            if self.cfg.limit.is_some_and(|l| self.attempted >= l) {
                return Err(StopReason::Limit);
            }
            if m.flags & SKIP != 0 {
                // A cache file said not to send it: it keeps its place in the schedule.
                schedule.next(m.ts_ns, 0);
                continue;
            }
            if m.flags & (OVERSIZE | UNFRAMEABLE) != 0 {
                let c = self.counters();
                ReplayCounters::add(&c.failed, 1);
                ReplayCounters::add(
                    if m.flags & OVERSIZE != 0 {
                        &c.oversize
                    } else {
                        &c.unframeable
                    },
                    1,
                );
                schedule.next(m.ts_ns, 0);
                continue;
            }
            if m.flags & TRUNCATED != 0 {
                ReplayCounters::add(&self.counters().truncated, 1);
            }
            let offset = schedule.next(m.ts_ns, m.len);
            if self.pending.len() >= self.cfg.batch {
                self.flush(chunk, loop_index)?;
            }
            let (due, scheduled) = if self.timed {
                let a = *anchor.get_or_insert_with(|| self.next_anchor.max(self.waiter.now()));
                let scheduled = a.saturating_add(offset);
                let due = scheduled.saturating_add(*shift);
                let mut now = self.waiter.now();
                if due > now {
                    self.flush(chunk, loop_index)?;
                    now = self.wait(due)?;
                }
                self.last_due = due;
                let late = now - due;
                if self.cfg.catch_up == CatchUp::Reanchor && late > nanos(self.cfg.late_threshold) {
                    // Later packets keep their captured gaps to this one.
                    *shift += late;
                }
                (due, scheduled)
            } else {
                (0, 0)
            };
            self.pending.push(Pending {
                meta: *m,
                due,
                scheduled,
            });
            self.attempted += 1;
        }
        Ok(())
    }

    /// Hands the pending frames to the sender (runs of one side at a time, in order, for an
    /// inline replay) and counts the outcome.
    fn flush(&mut self, chunk: Chunk<'_>, loop_index: u64) -> Step {
        if self.pending.is_empty() {
            return Ok(());
        }
        let rewriting = self.rewriter.is_active();
        let inline = self.sinks.secondary.is_some();
        if rewriting {
            for (p, buf) in self.pending.iter().zip(self.scratch.iter_mut()) {
                buf.clear();
                buf.extend_from_slice(chunk.bytes(&p.meta));
                let side = inline.then_some(p.meta.flags & SECONDARY != 0);
                self.rewriter
                    .apply_side(buf, self.ethernet_out, loop_index, side);
            }
        }
        let frames: Vec<&[u8]> = if rewriting {
            self.scratch[..self.pending.len()]
                .iter()
                .map(Vec::as_slice)
                .collect()
        } else {
            self.pending.iter().map(|p| chunk.bytes(&p.meta)).collect()
        };
        let sent_at = self.waiter.now();
        self.first_send.get_or_insert(sent_at);
        let mut tally = SendTally::default();
        let mut result = Ok(());
        let mut start = 0;
        while start < frames.len() && result.is_ok() {
            let secondary = inline && self.pending[start].meta.flags & SECONDARY != 0;
            let end = if inline {
                start
                    + self.pending[start..]
                        .iter()
                        .take_while(|p| (p.meta.flags & SECONDARY != 0) == secondary)
                        .count()
            } else {
                frames.len()
            };
            let mut part = SendTally::default();
            result = match (&mut self.sinks.secondary, secondary) {
                (Some(s), true) => s.send_batch(&frames[start..end], &mut part),
                _ => self
                    .sinks
                    .primary
                    .send_batch(&frames[start..end], &mut part),
            };
            if secondary {
                let c = &self.handle.counters;
                ReplayCounters::add(&c.secondary_packets, part.sent);
                ReplayCounters::add(&c.secondary_bytes, part.bytes);
                ReplayCounters::add(&c.secondary_failed, part.failed);
            }
            tally.sent += part.sent;
            tally.bytes += part.bytes;
            tally.failed += part.failed;
            tally.retried_enobufs += part.retried_enobufs;
            tally.retried_eagain += part.retried_eagain;
            start = end;
        }
        self.last_send = self.waiter.now();
        self.log_sent(loop_index, sent_at);
        if self.timed {
            let threshold = nanos(self.cfg.late_threshold);
            let mut late = 0;
            for p in &self.pending {
                let lateness = sent_at.saturating_sub(p.due);
                self.lateness.record(lateness);
                late += u64::from(lateness > threshold);
            }
            ReplayCounters::add(&self.handle.counters.late, late);
            if let Some(last) = self.pending.last() {
                self.final_drift = sent_at as i64 - last.scheduled as i64;
            }
        }
        self.pending.clear();
        let c = &self.handle.counters;
        ReplayCounters::add(&c.packets, tally.sent);
        ReplayCounters::add(&c.bytes, tally.bytes);
        ReplayCounters::add(&c.failed, tally.failed);
        ReplayCounters::add(&c.retried_enobufs, tally.retried_enobufs);
        ReplayCounters::add(&c.retried_eagain, tally.retried_eagain);
        result.map_err(|e| StopReason::Failed(e.to_string()))?;
        if self.deadline.is_some_and(|d| self.last_send >= d) {
            return Err(StopReason::Duration);
        }
        Ok(())
    }

    /// Notes the UTC time the pending frames left, when the run keeps a send log.
    fn log_sent(&mut self, loop_index: u64, sent_at: u64) {
        let Some(log) = self.send_log.as_mut() else {
            return;
        };
        if log.truncated {
            return;
        }
        let l = loop_index as usize;
        while log.loops.len() <= l {
            log.loops.push(Vec::new());
        }
        let files = &mut log.loops[l];
        while files.len() <= self.file {
            files.push(Vec::new());
        }
        let utc = (i128::from(sent_at) + self.utc_offset).max(1) as u64;
        let logged = self.logged;
        while log.secondary.len() <= self.file {
            log.secondary.push(Vec::new());
        }
        let sides = &mut log.secondary[self.file];
        for p in &self.pending {
            let i = p.meta.index as usize;
            if i >= sides.len() && logged + i < MAX_LOGGED_FRAMES {
                sides.resize(i + 1, false);
            }
            if let Some(s) = sides.get_mut(i) {
                *s = p.meta.flags & SECONDARY != 0;
            }
        }
        let frames = &mut log.loops[l][self.file];
        for p in &self.pending {
            let i = p.meta.index as usize;
            if i >= frames.len() {
                if logged + i + 1 - frames.len() > MAX_LOGGED_FRAMES {
                    log.truncated = true;
                    return;
                }
                self.logged += i + 1 - frames.len();
                frames.resize(i + 1, 0);
            }
            frames[i] = utc;
        }
    }
}
