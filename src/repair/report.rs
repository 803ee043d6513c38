//! What repair changed: per field, how many generated bits differ in the repaired packet.

use super::rules::Rule;
use crate::nprint::layout::{Bit, Block, VACANT};
use std::collections::BTreeMap;

/// Checksum fields, recomputed over the assigned addresses.
pub const CHECKSUM_FIELDS: [&str; 4] = ["ipv4_cksum", "tcp_cksum", "udp_cksum", "icmp_cksum"];

/// Changed and compared bit counts of one field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    /// Bits whose value differs between the generated and the repaired row.
    pub changed: u64,
    /// Bits compared (populated in either row).
    pub compared: u64,
}

/// Per-flow account of a repair.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RepairReport {
    /// Generated rows read (before padding).
    pub rows_in: usize,
    /// Packets written.
    pub packets_out: usize,
    /// Changes by field name (`ipv4_ttl`, `tcp_seq`, …); addresses are assigned by the test
    /// bed and not compared.
    pub fields: BTreeMap<&'static str, FieldChange>,
    /// How often each repair rule had to act (serialised by rule name).
    pub rules_applied: BTreeMap<Rule, u64>,
}

impl RepairReport {
    /// Counts one application of `rule`.
    pub fn applied(&mut self, rule: Rule) {
        *self.rules_applied.entry(rule).or_insert(0) += 1;
    }

    /// Compares a generated and a repaired row (standard layout) field by field.
    pub fn compare_rows(&mut self, generated: &[Bit], repaired: &[Bit]) {
        let mut at = 0;
        for block in [Block::Ipv4, Block::Tcp, Block::Udp, Block::Icmp] {
            for field in block.fields() {
                let end = at + field.bits;
                if field.name != "ipv4_src" && field.name != "ipv4_dst" {
                    let mut fc = FieldChange::default();
                    for (g, r) in generated[at..end].iter().zip(&repaired[at..end]) {
                        if *g != VACANT || *r != VACANT {
                            fc.compared += 1;
                            fc.changed += u64::from(g != r);
                        }
                    }
                    let e = self.fields.entry(field.name).or_default();
                    e.changed += fc.changed;
                    e.compared += fc.compared;
                }
                at = end;
            }
        }
    }

    /// Adds another report's counts.
    pub fn merge(&mut self, other: &RepairReport) {
        self.rows_in += other.rows_in;
        self.packets_out += other.packets_out;
        for (k, v) in &other.fields {
            let e = self.fields.entry(k).or_default();
            e.changed += v.changed;
            e.compared += v.compared;
        }
        for (k, v) in &other.rules_applied {
            *self.rules_applied.entry(*k).or_insert(0) += v;
        }
    }

    /// Share of compared bits that changed, over all fields.
    pub fn changed_ratio(&self) -> f64 {
        self.ratio_where(|_| true)
    }

    /// Share of compared bits that changed, over the fields that carry generated content: the
    /// checksums are left out, since they are recomputed over the test bed's addresses and so
    /// change in about half their bits whatever the flow.
    pub fn content_changed_ratio(&self) -> f64 {
        self.ratio_where(|name| !CHECKSUM_FIELDS.contains(&name))
    }

    fn ratio_where(&self, keep: impl Fn(&str) -> bool) -> f64 {
        let (c, n) = self
            .fields
            .iter()
            .filter(|(k, _)| keep(k))
            .fold((0u64, 0u64), |(c, n), (_, f)| {
                (c + f.changed, n + f.compared)
            });
        if n == 0 {
            0.0
        } else {
            c as f64 / n as f64
        }
    }
}
