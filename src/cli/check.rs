//! `netdiffd check`: protocol-compliance report for a capture.

use netdiffd::check::{check_capture, CheckOptions};
use std::path::PathBuf;

/// Options of `netdiffd check`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when no error-level rule is broken, 1 when one is \
(with --strict: any rule), 2 when the capture cannot be read."
)]
pub struct CheckArgs {
    /// Capture file to check (pcap or pcapng).
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
    /// Print the report as JSON (rule name -> severity, count, examples; totals; skips).
    #[arg(long)]
    pub json: bool,
    /// Count warning-level rules (TTL changes, IP IDs, stale ACKs, echo identifiers) as
    /// errors, as repaired output must satisfy them.
    #[arg(long)]
    pub strict: bool,
    /// Examples kept per rule.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub examples: usize,
}

/// Runs `netdiffd check`; the exit status says whether the capture passed.
pub fn run(a: &CheckArgs) -> anyhow::Result<i32> {
    let opts = CheckOptions {
        strict: a.strict,
        max_examples: a.examples,
        ..CheckOptions::default()
    };
    let report = check_capture(&a.input, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        println!("{report}");
    }
    Ok(report.exit_code())
}
