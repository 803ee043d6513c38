//! Helpers shared by the integration tests: tshark's verdicts on a capture.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// tshark's expert-info summary of a capture, with checksum validation on.
#[derive(Debug, Default)]
pub struct Expert {
    /// Number of error-severity items.
    pub errors: u64,
    /// Number of warning-severity items.
    pub warnings: u64,
    /// (section, group, protocol, summary, count) rows.
    pub rows: Vec<(String, String, String, String, u64)>,
}

impl Expert {
    /// Rows of one section ("Errors", "Warnings", ...).
    pub fn in_section(&self, section: &str) -> Vec<&(String, String, String, String, u64)> {
        self.rows.iter().filter(|r| r.0 == section).collect()
    }
}

/// Runs tshark on `path` with IPv4/TCP/UDP checksum validation on and reads `-z expert`.
/// Panics when tshark is missing: the tests that call this need it.
pub fn tshark_expert(path: &Path) -> Expert {
    run_tshark(path, &[])
}

/// As [`tshark_expert`], with every TCP and UDP payload decoded as plain data: the verdict on
/// the link, network and transport layers alone. Repaired payloads are filler bytes of the
/// encoded length, which application dissectors (DHCP, DNS, ...) may rightly call malformed.
pub fn tshark_expert_transport(path: &Path) -> Expert {
    run_tshark(
        path,
        &[
            "-d",
            "udp.port==1-65535,data",
            "-d",
            "tcp.port==1-65535,data",
        ],
    )
}

fn run_tshark(path: &Path, extra: &[&str]) -> Expert {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(extra)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-q",
            "-z",
            "expert",
        ])
        .output()
        .expect("tshark must be installed (Debian package tshark)");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_expert(&String::from_utf8_lossy(&out.stdout))
}

fn parse_expert(text: &str) -> Expert {
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
            let proto = parts.next().unwrap_or("").to_string();
            let summary = parts.collect::<Vec<_>>().join(" ");
            e.rows.push((section.clone(), group, proto, summary, count));
        }
    }
    e
}
