//! `netdiffd score`: how a device under test treated the flows it was offered — the ground
//! truth of a replay joined by Community ID to captures taken beyond the device.

use anyhow::Context;
use netdiffd::truth::{read_labels, score, Verdict};
use std::path::PathBuf;

/// Options of `netdiffd score`.
#[derive(Debug, clap::Args)]
pub struct ScoreArgs {
    /// Ground truth of the offered flows (.csv or .jsonl, as `generate`/`replay --labels` or
    /// the daemon's spool wrote it).
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,
    /// Captures taken beyond the device (one a side for an inline device).
    #[arg(value_name = "CAPTURE", required = true)]
    pub captures: Vec<PathBuf>,
    /// Draw offered against passed, partial and blocked flows per class as a PNG.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Print the score as JSON (per flow and per class).
    #[arg(long)]
    pub json: bool,
}

/// Runs `netdiffd score`.
pub fn run(a: &ScoreArgs) -> anyhow::Result<i32> {
    let records = read_labels(&a.labels)?;
    let captures: Vec<&std::path::Path> = a.captures.iter().map(PathBuf::as_path).collect();
    let s = score(&records, &captures)?;
    if let Some(png) = &a.png {
        netdiffd::eval::plot::score_chart(png, &s)
            .with_context(|| format!("drawing {}", png.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(0);
    }
    println!(
        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "class", "offered", "passed", "partial", "blocked", "pkts sent", "pkts seen"
    );
    for (class, c) in &s.classes {
        println!(
            "{:<16} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}",
            class, c.offered, c.passed, c.partial, c.blocked, c.packets_offered, c.packets_arrived
        );
    }
    let partial = s
        .flows
        .iter()
        .filter(|f| f.verdict == Verdict::Partial)
        .count();
    println!(
        "{} flows; {partial} arrived in part; {} captured frames of no offered flow",
        s.flows.len(),
        s.unmatched_frames
    );
    Ok(0)
}
