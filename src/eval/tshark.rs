//! tshark's verdict on a capture: its expert-info summary (`-z expert`) with IPv4, TCP and UDP
//! checksum validation on, parsed into counts per section and kind. Tests and `netdiffd eval`
//! share this one implementation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why tshark gave no verdict.
#[derive(Debug, thiserror::Error)]
pub enum TsharkError {
    /// tshark could not be started (not installed).
    #[error("cannot run tshark: {0}")]
    Missing(std::io::Error),
    /// tshark ran and failed.
    #[error("tshark failed on {path}: {stderr}")]
    Failed {
        /// The capture.
        path: PathBuf,
        /// What tshark printed on stderr.
        stderr: String,
    },
}

/// One line of an expert-info section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpertRow {
    /// Section: `Errors`, `Warns`, `Notes`, `Chats`, …
    pub section: String,
    /// Expert group (`Checksum`, `Malformed`, `Sequence`, …).
    pub group: String,
    /// Protocol (`TCP`, `IPv4`, …).
    pub protocol: String,
    /// The message.
    pub summary: String,
    /// How often it occurred.
    pub count: u64,
}

impl ExpertRow {
    /// The message without bracketed per-packet details (`Bad checksum [should be 0x4587]` →
    /// `Bad checksum`), so that rows of one kind count together.
    pub fn kind(&self) -> String {
        let mut out = String::new();
        let mut depth = 0usize;
        for ch in self.summary.chars() {
            match ch {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                c if depth == 0 => out.push(c),
                _ => {}
            }
        }
        format!("{} {}: {}", self.protocol, self.group, out.trim())
    }
}

/// tshark's expert-info summary of a capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expert {
    /// Number of error-severity items.
    pub errors: u64,
    /// Number of warning-severity items.
    pub warnings: u64,
    /// Every row of every section.
    pub rows: Vec<ExpertRow>,
}

impl Expert {
    /// Rows of one section (`Errors`, `Warns`, …).
    pub fn in_section(&self, section: &str) -> Vec<&ExpertRow> {
        self.rows.iter().filter(|r| r.section == section).collect()
    }

    /// Counts per [`ExpertRow::kind`] in `section`.
    pub fn kinds(&self, section: &str) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for r in self.in_section(section) {
            *m.entry(r.kind()).or_insert(0) += r.count;
        }
        m
    }
}

/// Whether `tshark -v` runs.
pub fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// tshark preferences that make it verify the IPv4, TCP and UDP checksums (it does not by
/// default).
pub const CHECKSUM_PREFS: [&str; 6] = [
    "-o",
    "ip.check_checksum:TRUE",
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
];

/// Runs tshark on `path` with checksum validation on; `extra` options go before the rest (e.g.
/// `-d udp.port==1-65535,data` to judge the transport layers alone).
pub fn tshark_expert(path: &Path, extra: &[&str]) -> Result<Expert, TsharkError> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(extra)
        .args(CHECKSUM_PREFS)
        .args(["-q", "-z", "expert"])
        .output()
        .map_err(TsharkError::Missing)?;
    if !out.status.success() {
        return Err(TsharkError::Failed {
            path: path.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(parse_expert(&String::from_utf8_lossy(&out.stdout)))
}

/// Options that make tshark decode every TCP and UDP payload as plain data: repaired payloads
/// are filler bytes, which application dissectors (DNS, DHCP, …) may rightly call malformed.
pub const TRANSPORT_ONLY: [&str; 4] = [
    "-d",
    "udp.port==1-65535,data",
    "-d",
    "tcp.port==1-65535,data",
];

/// Parses the text of `tshark -q -z expert`: section headers `Errors (N)`, `Warns (N)`, … and
/// rows `count group protocol summary`.
pub fn parse_expert(text: &str) -> Expert {
    let mut e = Expert::default();
    let mut section = String::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some((name, rest)) = t.split_once(" (") {
            if let Some(n) = rest.strip_suffix(')').and_then(|n| n.parse::<u64>().ok()) {
                if !name.contains(' ') {
                    section = name.to_string();
                    match name {
                        "Errors" => e.errors = n,
                        "Warnings" | "Warns" => e.warnings = n,
                        _ => {}
                    }
                    continue;
                }
            }
        }
        let mut parts = t.split_whitespace();
        if let Some(count) = parts.next().and_then(|c| c.parse::<u64>().ok()) {
            let group = parts.next().unwrap_or("").to_string();
            let protocol = parts.next().unwrap_or("").to_string();
            let summary = parts.collect::<Vec<_>>().join(" ");
            e.rows.push(ExpertRow {
                section: section.clone(),
                group,
                protocol,
                summary,
                count,
            });
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sections_and_rows() {
        let text = "\nErrors (3)\n=============\n   Frequency      Group           Protocol  Summary\n\
                    \x20          1   Checksum                TCP  Bad checksum [should be 0x4587]\n\
                    \x20          2   Checksum                TCP  Bad checksum [should be 0x510c]\n\n\
                    Warns (5)\n=============\n   Frequency      Group           Protocol  Summary\n\
                    \x20          5   Sequence                TCP  Previous segment(s) not captured\n";
        let e = parse_expert(text);
        assert_eq!((e.errors, e.warnings), (3, 5));
        assert_eq!(e.rows.len(), 3);
        assert_eq!(e.in_section("Errors").len(), 2);
        let kinds = e.kinds("Errors");
        assert_eq!(kinds.get("TCP Checksum: Bad checksum"), Some(&3));
        assert_eq!(
            e.kinds("Warns")
                .get("TCP Sequence: Previous segment(s) not captured"),
            Some(&5)
        );
        assert_eq!(parse_expert(""), Expert::default());
    }
}
