//! Protocol-compliance checking (`netdiffd check`): applies intra-packet rules (IPv4, TCP, UDP
//! and ICMP headers, options, lengths, checksums) and inter-packet rules (per flow, in capture
//! order: timestamps, TTL and IP ID per direction, the TCP state machine, the bytes of
//! retransmitted TCP segments, ICMP echo identifiers) and counts violations per [`Rule`].
//!
//! [`check_capture`] reads a capture file; [`Checker`] and [`check_frames`] check frames built
//! in memory (repaired flows before they are written). Frames that hold no IPv4 packet (IPv6,
//! ARP, other EtherTypes) and packets the capture cut inside their IPv4 header are skipped and
//! counted by reason. Checksums of packets the capture cut short are counted as unverified,
//! never as wrong. Every rule has a [`Severity`]: the check fails when an error-level rule is
//! broken, or in strict mode any rule.

mod error;
mod flow_rules;
mod locate;
mod overlap;
mod packet_rules;
mod report;
mod rules;
mod tcp_option_rules;
mod transport_rules;

pub use error::CheckError;
pub use report::{CheckReport, Example, Tally};
pub use rules::{Rule, Severity};
pub use tcp_option_rules::MAX_WINDOW_SHIFT;

use crate::capture::{CaptureReader, Frame};
use crate::flows::FlowSettings;
use flow_rules::FlowRules;
use packet_rules::{check_ipv4, Checked, Endpoints, Extent};
use std::path::Path;

/// How to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOptions {
    /// Count warning-level rules as errors (for judging repaired output, which must keep TTL
    /// constant, increment IP IDs and never send stale ACKs).
    pub strict: bool,
    /// Examples kept per rule.
    pub max_examples: usize,
    /// A gap longer than this (ns) between two packets of a flow starts a new flow, as in
    /// the flow stage.
    pub idle_timeout_ns: u64,
}

impl Default for CheckOptions {
    /// Not strict, 5 examples per rule, the flow stage's idle timeout.
    fn default() -> Self {
        CheckOptions {
            strict: false,
            max_examples: 5,
            idle_timeout_ns: FlowSettings::default().idle_timeout_ns,
        }
    }
}

/// Checks frames one at a time, in capture order.
#[derive(Debug)]
pub struct Checker {
    max_examples: usize,
    report: CheckReport,
    flows: FlowRules,
    prev_ts: Option<u64>,
}

impl Checker {
    /// A checker with nothing seen yet.
    pub fn new(opts: &CheckOptions) -> Checker {
        Checker {
            max_examples: opts.max_examples,
            report: CheckReport {
                strict: opts.strict,
                ..CheckReport::default()
            },
            flows: FlowRules::new(opts.idle_timeout_ns),
            prev_ts: None,
        }
    }

    /// Checks the next frame. Its `record` names it in examples (its position when 0).
    pub fn add(&mut self, frame: &Frame) {
        self.report.frames += 1;
        let record = if frame.record == 0 {
            self.report.frames
        } else {
            frame.record
        };
        let off = match locate::ipv4_offset(frame) {
            Ok(off) => off,
            Err(reason) => return self.report.skipped.add(reason),
        };
        let bytes = &frame.data[off..];
        let extent = Extent {
            bytes,
            wire_len: (frame.orig_len as usize)
                .saturating_sub(off)
                .max(bytes.len()),
        };
        let mut sink = Sink::new(&mut self.report, self.max_examples, record);
        let facts = match check_ipv4(&extent, &mut sink) {
            Checked::CutByCapture => {
                return self
                    .report
                    .skipped
                    .add(crate::capture::SkipReason::Truncated)
            }
            Checked::Done(facts) => facts,
        };
        if let Some(prev) = self.prev_ts {
            if frame.ts_ns < prev {
                sink.hit(Rule::TimestampDecreasing, || {
                    format!("time {} ns after {prev} ns", frame.ts_ns)
                });
            }
        }
        self.prev_ts = Some(frame.ts_ns);
        if let Some(p) = facts {
            self.flows.add(&p, frame.ts_ns, &mut sink);
        }
        let malformed = sink.malformed;
        self.report.packets_checked += 1;
        self.report.malformed_packets += u64::from(malformed);
    }

    /// Applies the whole-flow rules and returns the report.
    pub fn finish(mut self) -> CheckReport {
        let mut sink = Sink::new(&mut self.report, self.max_examples, 0);
        self.flows.finish(&mut sink);
        self.report
    }
}

/// Checks a list of frames in order (e.g. repaired flows before they are written).
pub fn check_frames<'a>(
    frames: impl IntoIterator<Item = &'a Frame>,
    opts: &CheckOptions,
) -> CheckReport {
    let mut c = Checker::new(opts);
    for f in frames {
        c.add(f);
    }
    c.finish()
}

/// Reads and checks the capture at `path`.
pub fn check_capture(path: &Path, opts: &CheckOptions) -> Result<CheckReport, CheckError> {
    let mut reader = CaptureReader::open(path)?;
    let mut c = Checker::new(opts);
    let mut frame = Frame::default();
    while reader.read_into(&mut frame)? {
        c.add(&frame);
    }
    let mut report = c.finish();
    report.source = Some(path.to_path_buf());
    Ok(report)
}

/// Where rules report violations for the packet being checked.
pub(crate) struct Sink<'r> {
    report: &'r mut CheckReport,
    max_examples: usize,
    record: u64,
    ends: Option<Endpoints>,
    malformed: bool,
}

impl<'r> Sink<'r> {
    fn new(report: &'r mut CheckReport, max_examples: usize, record: u64) -> Sink<'r> {
        Sink {
            report,
            max_examples,
            record,
            ends: None,
            malformed: false,
        }
    }

    /// Records a violation of `rule` by the current packet.
    pub(crate) fn hit(&mut self, rule: Rule, detail: impl FnOnce() -> String) {
        let (record, ends) = (self.record, self.ends);
        self.malformed |= rule.is_malformation();
        self.report.record(rule, self.max_examples, || Example {
            record,
            flow: ends.map_or_else(|| "?".to_string(), |e| e.to_string()),
            detail: detail(),
        });
    }

    /// Records a violation found for another packet (whole-flow rules).
    pub(crate) fn hit_at(
        &mut self,
        rule: Rule,
        record: u64,
        ends: Endpoints,
        detail: impl FnOnce() -> String,
    ) {
        self.report.record(rule, self.max_examples, || Example {
            record,
            flow: ends.to_string(),
            detail: detail(),
        });
    }

    pub(crate) fn record(&self) -> u64 {
        self.record
    }

    pub(crate) fn set_ends(&mut self, e: Endpoints) {
        self.ends = Some(e);
    }

    pub(crate) fn set_ports(&mut self, sport: u16, dport: u16) {
        if let Some(e) = &mut self.ends {
            e.sport = sport;
            e.dport = dport;
        }
    }

    pub(crate) fn ends(&self) -> Option<Endpoints> {
        self.ends
    }

    pub(crate) fn unverified(&mut self) {
        self.report.checksums_unverified += 1;
    }

    pub(crate) fn new_flow(&mut self) {
        self.report.flows += 1;
    }
}

#[cfg(test)]
mod tests;
