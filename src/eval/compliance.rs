//! Part 3 of the evaluation, protocol compliance: `netdiffd check` violations by rule and
//! tshark's expert errors and warnings by kind, summed over the captures of a traffic set.

use super::tshark::{tshark_expert, Expert, TRANSPORT_ONLY};
use super::EvalError;
use crate::check::{check_capture, CheckOptions, CheckReport};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// tshark's findings over a set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TsharkSummary {
    /// Error-severity items.
    pub errors: u64,
    /// Warning-severity items.
    pub warnings: u64,
    /// Errors per kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// Warnings per kind.
    pub warning_kinds: BTreeMap<String, u64>,
}

/// tshark's summary of the warning it gives every RST segment, real or generated.
const RESET_WARNING: &str = "Connection reset (RST)";

impl TsharkSummary {
    /// Warnings other than tshark's note of each reset: resets are how real port scans, SYN
    /// floods and aborted transfers end, so a class's traffic has them whenever its real
    /// traffic does.
    pub fn warnings_besides_resets(&self) -> u64 {
        let resets: u64 = self
            .warning_kinds
            .iter()
            .filter(|(k, _)| k.contains(RESET_WARNING))
            .map(|(_, n)| n)
            .sum();
        self.warnings.saturating_sub(resets)
    }
}

/// Compliance of one traffic set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Compliance {
    /// The set.
    pub set: String,
    /// Captures checked.
    pub files: usize,
    /// IPv4 packets checked.
    pub packets: u64,
    /// Flows seen by the flow rules.
    pub flows: u64,
    /// Violations of error-level rules.
    pub errors: u64,
    /// Violations of warning-level rules (strict mode would count them as errors).
    pub warnings: u64,
    /// Packets that broke a malformation rule.
    pub malformed_packets: u64,
    /// Violations per rule name.
    pub rules: BTreeMap<String, u64>,
    /// tshark's verdict (transport layers, payloads read as data), when tshark ran.
    pub tshark: Option<TsharkSummary>,
}

/// What one capture gave.
type FileResult = Result<(CheckReport, Option<Expert>), EvalError>;

fn check_file(f: &Path, with_tshark: bool) -> FileResult {
    let report = check_capture(f, &CheckOptions::default())?;
    let expert = if with_tshark {
        Some(
            tshark_expert(f, &TRANSPORT_ONLY).map_err(|e| EvalError::Tshark {
                path: f.to_path_buf(),
                why: e.to_string(),
            })?,
        )
    } else {
        None
    };
    Ok((report, expert))
}

/// Checks every capture in `files`, several at a time (tshark is a process per file); runs
/// tshark on them too when `with_tshark`.
pub fn compliance(
    set: &str,
    files: &[PathBuf],
    with_tshark: bool,
) -> Result<Compliance, EvalError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, files.len().max(1));
    let mut results: Vec<Option<FileResult>> = (0..files.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let per = files.len().div_ceil(threads).max(1);
        for (chunk, out) in files.chunks(per).zip(results.chunks_mut(per)) {
            s.spawn(move || {
                for (f, slot) in chunk.iter().zip(out.iter_mut()) {
                    *slot = Some(check_file(f, with_tshark));
                }
            });
        }
    });
    let mut c = Compliance {
        set: set.to_string(),
        files: files.len(),
        tshark: with_tshark.then(TsharkSummary::default),
        ..Compliance::default()
    };
    for r in results.into_iter().flatten() {
        let (report, expert) = r?;
        add_check(&mut c, &report);
        if let (Some(t), Some(e)) = (c.tshark.as_mut(), expert) {
            t.errors += e.errors;
            t.warnings += e.warnings;
            for (k, n) in e.kinds("Errors") {
                *t.error_kinds.entry(k).or_insert(0) += n;
            }
            for section in ["Warns", "Warnings"] {
                for (k, n) in e.kinds(section) {
                    *t.warning_kinds.entry(k).or_insert(0) += n;
                }
            }
        }
    }
    Ok(c)
}

fn add_check(c: &mut Compliance, r: &CheckReport) {
    c.packets += r.packets_checked;
    c.flows += r.flows;
    c.errors += r.errors();
    c.warnings += r.warnings();
    c.malformed_packets += r.malformed_packets;
    for (rule, t) in &r.rules {
        *c.rules.entry(rule.name().to_string()).or_insert(0) += t.count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_counted_apart_from_other_warnings() {
        let t = TsharkSummary {
            warnings: 12,
            warning_kinds: BTreeMap::from([
                ("TCP Sequence: Connection reset (RST)".to_string(), 9),
                ("TCP Sequence: TCP Zero Window segment".to_string(), 3),
            ]),
            ..TsharkSummary::default()
        };
        assert_eq!(t.warnings_besides_resets(), 3);
        assert_eq!(TsharkSummary::default().warnings_besides_resets(), 0);
    }
}
