//! `netdiffd repair`: a generated flow (nPrint CSV or NetDiffusion PNG, any generator's) →
//! a protocol-compliant pcap.

use super::matrix_input;
use super::shared_args::{FramingArgs, TestBedArgs};
use anyhow::Context;
use netdiffd::packets::{write_flows, TsResolution};
use netdiffd::repair::{repair_flow, FlowInput, RepairSettings};
use std::path::PathBuf;

/// Options of `netdiffd repair`.
#[derive(Debug, clap::Args)]
pub struct RepairArgs {
    /// The generated flow: nPrint CSV (any index column and blocks) or NetDiffusion PNG.
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Output pcap (written whole or not at all).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
    /// Seed of the random choices (addresses, fallbacks); same seed, same output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Test-bed addressing and repair policies.
    #[command(flatten)]
    pub testbed: TestBedArgs,
    /// Write UDP checksums as 0 (none) instead of computing them.
    #[arg(long)]
    pub udp_checksum_zero: bool,
    /// Largest IPv4 packet.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..))]
    pub mtu: u16,
    /// Output framing.
    #[command(flatten)]
    pub framing: FramingArgs,
    /// Gap between packets (µs) when the input carries no timing.
    #[arg(long, default_value_t = 1000)]
    pub gap_us: u64,
    /// Write nanosecond timestamps (default: microseconds).
    #[arg(long)]
    pub nanoseconds: bool,
    /// Print the repair report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `netdiffd repair`.
pub fn run(a: &RepairArgs) -> anyhow::Result<i32> {
    let m = matrix_input::load(&a.input)?;
    let framing = a.framing.framing()?;
    let times = m.times(a.testbed.start_ns, a.gap_us.saturating_mul(1000));
    let iat: Vec<u64> = (0..m.n)
        .map(|i| if i == 0 { 0 } else { times[i] - times[i - 1] })
        .collect();
    let settings = RepairSettings {
        udp_checksum_zero: a.udp_checksum_zero,
        mtu: a.mtu,
        start_ns: times.first().copied().unwrap_or(a.testbed.start_ns),
        default_gap_ns: a.gap_us.saturating_mul(1000),
        seed: a.seed,
        ..a.testbed.repair_settings()
    };
    let has_timing = m.abs_ns.is_some() || m.gaps_ns.is_some();
    let input = FlowInput {
        iat_ns: has_timing.then_some(iat.as_slice()),
        ..FlowInput::bare(&m.rows)
    };
    let flow = repair_flow(&input, &settings, 0)
        .with_context(|| format!("repairing {}", a.input.display()))?;
    let res = if a.nanoseconds {
        TsResolution::Nano
    } else {
        TsResolution::Micro
    };
    let n = write_flows(&a.output, std::slice::from_ref(&flow), &framing, res)
        .with_context(|| format!("writing {}", a.output.display()))?;
    let r = &flow.report;
    if a.json {
        let v = serde_json::json!({
            "input": a.input, "output": a.output, "flow": flow.key.to_string(),
            "rows_in": r.rows_in, "packets_out": r.packets_out,
            "changed_ratio": r.changed_ratio(), "content_changed_ratio": r.content_changed_ratio(),
            "fields": r.fields, "rules_applied": r.rules_applied,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        eprintln!(
            "{}: {} rows → {n} packets ({}) in {}; bits changed {:.1} % ({:.1} % without checksums)",
            a.input.display(),
            r.rows_in,
            flow.key,
            a.output.display(),
            100.0 * r.changed_ratio(),
            100.0 * r.content_changed_ratio()
        );
    }
    Ok(0)
}
