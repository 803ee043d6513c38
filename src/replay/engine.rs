//! The replay engine: sends the frames of capture files through a [`FrameSink`] on a schedule,
//! counting as it goes, until done, limited or cancelled.

use super::config::{Pace, ReplayConfig};
use super::error::ReplayError;
use super::iface::{IfaceFraming, InterfaceInfo};
use super::run::{Realtime, Run, Sinks, TimerSlack};
use super::sender::{open_sender, FrameSink};
use super::source::Input;
use super::split::SplitPlan;
use super::stats::{IfaceTally, LatenessSummary, ReplayCounters, ReplayReport};
use super::sys;
use super::timing::Waiter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Most frames one batch may hold.
pub const MAX_BATCH: usize = 1024;

/// Stops a running replay and reads its counters, from any thread.
#[derive(Debug, Clone, Default)]
pub struct ReplayHandle {
    pub(super) cancel: Arc<AtomicBool>,
    pub(super) counters: Arc<ReplayCounters>,
}

impl ReplayHandle {
    /// Asks the replay to stop; it stops at the next packet boundary and reports what it sent.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
    /// True once cancellation was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
    /// The flag [`cancel`](Self::cancel) sets, for signal handlers that set a flag themselves.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }
    /// The live counters.
    pub fn counters(&self) -> &ReplayCounters {
        &self.counters
    }
}

/// A replay, checked and ready: interface probed, sender open, files opened (and loaded, with
/// `preload`). [`run`](Self::run) sends.
pub struct Replayer {
    config: ReplayConfig,
    inputs: Vec<Input>,
    sink: Box<dyn FrameSink>,
    sink2: Option<Box<dyn FrameSink>>,
    ethernet_out: bool,
    handle: ReplayHandle,
    warnings: Vec<String>,
    notes: Vec<String>,
}

impl std::fmt::Debug for Replayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replayer")
            .field("config", &self.config)
            .field("sender", &self.sink.name())
            .finish()
    }
}

impl Replayer {
    /// Checks the interface (present, up), the files (readable, not empty, of a link type the
    /// interface can take) and opens the configured sender; nothing is sent yet.
    pub fn prepare(config: ReplayConfig) -> Result<Replayer, ReplayError> {
        validate(&config)?;
        let iface = InterfaceInfo::probe(&config.iface)?;
        let iface2 = config
            .iface2
            .as_deref()
            .map(InterfaceInfo::probe)
            .transpose()?;
        if let Some(i2) = &iface2 {
            if i2.framing != iface.framing {
                return Err(ReplayError::InvalidSetting {
                    what: "second interface",
                    why: format!(
                        "{} and {} frame packets differently (one Ethernet, one not); an inline replay needs two of a kind",
                        iface.name, i2.name
                    ),
                });
            }
        }
        // Frames must fit both interfaces.
        let mut both = iface.clone();
        if let Some(i2) = &iface2 {
            both.mtu = both.mtu.min(i2.mtu);
        }
        let inputs = open_inputs(&config, &both)?;
        let mut notes = Vec::new();
        let sink = open_sender(&config, &iface, &mut notes)?;
        let sink2 = iface2
            .as_ref()
            .map(|i2| open_sender(&config, i2, &mut notes))
            .transpose()?;
        let mut r = Replayer::assemble(config, &both, inputs, sink);
        r.sink2 = sink2;
        r.notes = notes;
        for i in std::iter::once(&iface).chain(iface2.as_ref()) {
            if i.carrier == Some(false) {
                r.warnings.insert(
                    0,
                    format!("interface {} has no carrier: frames may go nowhere", i.name),
                );
            }
        }
        Ok(r)
    }

    /// Like [`prepare`](Self::prepare), but sends through `sink` to an interface described by
    /// `iface` (which is not probed): for embedding and tests.
    pub fn with_sink(
        config: ReplayConfig,
        iface: &InterfaceInfo,
        sink: Box<dyn FrameSink>,
    ) -> Result<Replayer, ReplayError> {
        validate(&config)?;
        let inputs = open_inputs(&config, iface)?;
        Ok(Replayer::assemble(config, iface, inputs, sink))
    }

    /// Like [`with_sink`](Self::with_sink), for an inline replay: server-side frames go
    /// through `sink2` (the configuration's `iface2` names it in reports).
    pub fn with_sinks(
        config: ReplayConfig,
        iface: &InterfaceInfo,
        sink: Box<dyn FrameSink>,
        sink2: Box<dyn FrameSink>,
    ) -> Result<Replayer, ReplayError> {
        let mut r = Replayer::with_sink(config, iface, sink)?;
        r.sink2 = Some(sink2);
        Ok(r)
    }

    fn assemble(
        config: ReplayConfig,
        iface: &InterfaceInfo,
        inputs: Vec<Input>,
        sink: Box<dyn FrameSink>,
    ) -> Replayer {
        let mut warnings = Vec::new();
        for input in &inputs {
            let (oversize, unframeable) = input.unsendable();
            if oversize > 0 {
                warnings.push(format!(
                    "{}: {oversize} frames are larger than {}'s MTU {} plus link header; they will not be sent",
                    input.path.display(),
                    iface.name,
                    iface.mtu
                ));
            }
            if unframeable > 0 {
                warnings.push(format!(
                    "{}: {unframeable} frames carry no IP packet to re-frame for {}; they will not be sent",
                    input.path.display(),
                    iface.name
                ));
            }
        }
        Replayer {
            ethernet_out: iface.framing == IfaceFraming::Ethernet,
            config,
            inputs,
            sink,
            sink2: None,
            handle: ReplayHandle::default(),
            warnings,
            notes: Vec::new(),
        }
    }

    /// A handle to cancel the run and read its counters.
    pub fn handle(&self) -> ReplayHandle {
        self.handle.clone()
    }

    /// Things the caller should tell the user before the run (no carrier, frames that will not
    /// be sent).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Things worth knowing that need no action (which sender gave way to which, and why).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Sends, and reports what was sent. A send error that cannot be retried ends the run with
    /// [`StopReason::Failed`]; the report still counts what went out before it.
    pub fn run(mut self) -> ReplayReport {
        let cfg = self.config.clone();
        let sender = self.sink.name();
        let _slack = TimerSlack::set(cfg.timer_slack);
        let timed = cfg.pace != Pace::TopSpeed;
        let realtime = cfg
            .realtime_priority
            .filter(|_| timed)
            .and_then(Realtime::enter);
        let waiter = Waiter {
            spin_margin_ns: nanos(cfg.spin_margin),
        };
        let cpu_start = sys::thread_cpu_ns();
        let start = waiter.now();
        let deadline = cfg.duration.map(|d| start.saturating_add(nanos(d)));
        let sinks = Sinks {
            primary: self.sink.as_mut(),
            secondary: match self.sink2.as_mut() {
                Some(s) => Some(s.as_mut()),
                None => None,
            },
        };
        let inline = sinks.secondary.is_some();
        let mut run = Run::new(
            &cfg,
            waiter,
            realtime.is_some(),
            deadline,
            self.handle.clone(),
            sinks,
            self.ethernet_out,
            start,
        );
        let stop = run.all_loops(&self.inputs);
        let preloaded_flows: u64 = self.inputs.iter().filter_map(|i| i.flows).sum();
        let elapsed = run
            .last_send
            .saturating_sub(run.first_send.unwrap_or(run.last_send));
        let counters = self.handle.counters.snapshot();
        let lateness = (timed && !run.lateness.is_empty()).then(|| LatenessSummary {
            samples: run.lateness.len(),
            p50_ns: run.lateness.quantile(0.5),
            p99_ns: run.lateness.quantile(0.99),
            max_ns: run.lateness.max(),
            late: counters.late,
            late_threshold_ns: nanos(cfg.late_threshold),
            final_drift_ns: run.final_drift,
        });
        let c = &counters;
        let mut interfaces = vec![IfaceTally {
            iface: cfg.iface.clone(),
            side: "client",
            packets: c.packets - c.secondary_packets,
            bytes: c.bytes - c.secondary_bytes,
            failed: c.failed - c.secondary_failed,
        }];
        if inline {
            interfaces.push(IfaceTally {
                iface: cfg.iface2.clone().unwrap_or_default(),
                side: "server",
                packets: c.secondary_packets,
                bytes: c.secondary_bytes,
                failed: c.secondary_failed,
            });
        }
        ReplayReport {
            iface: cfg.iface.clone(),
            iface2: cfg.iface2.clone().filter(|_| inline),
            split: inline.then(|| cfg.split.name()),
            interfaces,
            send_log: run.send_log.take(),
            sender,
            counters,
            elapsed_ns: elapsed,
            flows: preloaded_flows + run.flows.len(),
            wall_ns: sys::monotonic_ns().saturating_sub(start),
            realtime: realtime.is_some(),
            cpu_ns: sys::thread_cpu_ns().saturating_sub(cpu_start),
            lateness_histogram: lateness
                .is_some()
                .then(|| std::mem::take(&mut run.lateness)),
            lateness,
            stop,
        }
    }
}

fn validate(cfg: &ReplayConfig) -> Result<(), ReplayError> {
    if cfg.files.is_empty() {
        return Err(ReplayError::NoInput);
    }
    if let Some(i2) = &cfg.iface2 {
        if *i2 == cfg.iface {
            return Err(ReplayError::InvalidSetting {
                what: "second interface",
                why: format!("{i2} is also the first interface; an inline replay needs two"),
            });
        }
        if matches!(cfg.split, super::split::SideSplit::CacheFile(_)) && cfg.files.len() != 1 {
            return Err(ReplayError::InvalidSetting {
                what: "cache file",
                why: format!(
                    "a tcpprep cache file describes one capture, but {} were given",
                    cfg.files.len()
                ),
            });
        }
    }
    if cfg.batch == 0 || cfg.batch > MAX_BATCH {
        return Err(ReplayError::InvalidSetting {
            what: "batch",
            why: format!("{} is not in 1..={MAX_BATCH}", cfg.batch),
        });
    }
    Ok(())
}

fn open_inputs(cfg: &ReplayConfig, iface: &InterfaceInfo) -> Result<Vec<Input>, ReplayError> {
    let smac = cfg.rewrite.smac.map(|m| m.primary);
    let dmac = cfg.rewrite.dmac.map(|m| m.primary);
    let plan = SplitPlan::new(cfg.iface2.as_ref().map(|_| &cfg.split))?;
    cfg.files
        .iter()
        .map(|p| Input::open(p, iface, smac, dmac, cfg.preload, plan.clone()))
        .collect()
}

pub(super) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
