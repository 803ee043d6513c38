//! The result of a check: violations counted per rule with the first few examples, and what was
//! checked and skipped. Printed as a table ([`fmt::Display`]) or as JSON ([`CheckReport::to_json`]).

use super::rules::{Rule, Severity};
use crate::capture::SkipCounts;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// One recorded violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// 1-based record number of the packet in the capture (or position in the frame list).
    pub record: u64,
    /// The packet's endpoints, e.g. `TCP 10.0.0.1:40000 -> 10.0.0.2:443`.
    pub flow: String,
    /// What exactly is wrong.
    pub detail: String,
}

/// Violations of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// How many times the rule was broken (per packet; per flow for flow-wide rules).
    pub count: u64,
    /// The first violations, at most [`super::CheckOptions::max_examples`].
    pub examples: Vec<Example>,
}

/// The outcome of checking one capture or one list of frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The capture file, when one was read.
    pub source: Option<PathBuf>,
    /// Whether warning-level rules count as errors.
    pub strict: bool,
    /// Frames read.
    pub frames: u64,
    /// IPv4 packets checked.
    pub packets_checked: u64,
    /// Frames not checked, by reason (IPv6, ARP, other protocols, cut by the capture inside a
    /// header).
    pub skipped: SkipCounts,
    /// Checksums that could not be verified because the capture cut the packet short.
    pub checksums_unverified: u64,
    /// Flows (connections) seen by the inter-packet rules.
    pub flows: u64,
    /// Checked packets that broke at least one malformation rule ([`Rule::is_malformation`]).
    pub malformed_packets: u64,
    /// Violations per rule; rules never broken are absent.
    pub rules: BTreeMap<Rule, Tally>,
}

impl CheckReport {
    /// Times `rule` was broken.
    pub fn count(&self, rule: Rule) -> u64 {
        self.rules.get(&rule).map_or(0, |t| t.count)
    }

    /// The effective severity of `rule` in this report (warnings are errors in strict mode).
    pub fn severity(&self, rule: Rule) -> Severity {
        if self.strict {
            Severity::Error
        } else {
            rule.severity()
        }
    }

    /// Violations of error-level rules.
    pub fn errors(&self) -> u64 {
        self.total(Severity::Error)
    }

    /// Violations of warning-level rules.
    pub fn warnings(&self) -> u64 {
        self.total(Severity::Warning)
    }

    fn total(&self, s: Severity) -> u64 {
        self.rules
            .iter()
            .filter(|(r, _)| self.severity(**r) == s)
            .map(|(_, t)| t.count)
            .sum()
    }

    /// True when no error-level rule is broken.
    pub fn passed(&self) -> bool {
        self.errors() == 0
    }

    /// The process exit status for this report: 0 passed, 1 failed.
    pub fn exit_code(&self) -> i32 {
        if self.passed() {
            0
        } else {
            1
        }
    }

    pub(crate) fn record(&mut self, rule: Rule, max_examples: usize, ex: impl FnOnce() -> Example) {
        let t = self.rules.entry(rule).or_default();
        t.count += 1;
        if t.examples.len() < max_examples {
            t.examples.push(ex());
        }
    }

    /// The report as JSON: totals, skip reasons, and every rule (broken or not) with its
    /// severity, description, count and examples.
    pub fn to_json(&self) -> Value {
        let rules: serde_json::Map<String, Value> = Rule::ALL
            .iter()
            .map(|&r| {
                let t = self.rules.get(&r).cloned().unwrap_or_default();
                let examples: Vec<Value> = t
                    .examples
                    .iter()
                    .map(|e| json!({"record": e.record, "flow": e.flow, "detail": e.detail}))
                    .collect();
                let v = json!({
                    "severity": self.severity(r).name(),
                    "description": r.description(),
                    "count": t.count,
                    "examples": examples,
                });
                (r.name().to_string(), v)
            })
            .collect();
        json!({
            "file": self.source.as_ref().map(|p| p.display().to_string()),
            "strict": self.strict,
            "passed": self.passed(),
            "errors": self.errors(),
            "warnings": self.warnings(),
            "frames": self.frames,
            "packets_checked": self.packets_checked,
            "skipped": self.skipped.to_json(),
            "skipped_total": self.skipped.total(),
            "checksums_unverified": self.checksums_unverified,
            "flows": self.flows,
            "malformed_packets": self.malformed_packets,
            "rules": Value::Object(rules),
        })
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.source {
            writeln!(f, "{}", p.display())?;
        }
        writeln!(
            f,
            "{} frames, {} IPv4 packets checked in {} flows, {} skipped ({}), {} checksums \
             unverified (capture cut the packet)",
            self.frames,
            self.packets_checked,
            self.flows,
            self.skipped.total(),
            self.skipped,
            self.checksums_unverified
        )?;
        if self.rules.is_empty() {
            writeln!(f, "no rule broken")?;
        } else {
            writeln!(
                f,
                "{:<26} {:<8} {:>8}  rule",
                "violation", "severity", "count"
            )?;
            for (r, t) in &self.rules {
                writeln!(
                    f,
                    "{:<26} {:<8} {:>8}  {}",
                    r.name(),
                    self.severity(*r).name(),
                    t.count,
                    r.description()
                )?;
            }
            writeln!(f)?;
            for (r, t) in &self.rules {
                for e in &t.examples {
                    writeln!(f, "  {} #{} {}: {}", r.name(), e.record, e.flow, e.detail)?;
                }
            }
        }
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        write!(
            f,
            "{verdict}: {} errors, {} warnings",
            self.errors(),
            self.warnings()
        )
    }
}
