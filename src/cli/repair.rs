//! `netdiffd repair`: a generated flow (nPrint CSV or NetDiffusion PNG, any generator's) →
//! a protocol-compliant pcap.

use super::decode::framing;
use super::matrix_input;
use anyhow::Context;
use netdiffd::packets::{write_flows, TsResolution};
use netdiffd::repair::{
    repair_flow, FlowInput, HandshakePolicy, Ipv4Cidr, PayloadFill, RepairSettings,
};
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
    /// TCP opening: `always` (SYN, SYN-ACK, ACK) or `as-generated`.
    #[arg(long, default_value = "always")]
    pub handshake: HandshakePolicy,
    /// Pool of client addresses.
    #[arg(long, default_value = "198.18.0.0/16")]
    pub client_pool: Ipv4Cidr,
    /// Pool of server addresses.
    #[arg(long, default_value = "198.19.0.0/16")]
    pub server_pool: Ipv4Cidr,
    /// Payload bytes: `zeros` or `pattern:HEX`.
    #[arg(long, default_value = "zeros")]
    pub payload: PayloadFill,
    /// Write UDP checksums as 0 (none) instead of computing them.
    #[arg(long)]
    pub udp_checksum_zero: bool,
    /// Largest IPv4 packet.
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..))]
    pub mtu: u16,
    /// Link layer of the output: `ethernet` or `raw` (raw IPv4).
    #[arg(long, default_value = "ethernet", value_parser = ["ethernet", "raw"])]
    pub link: String,
    /// Client MAC (Ethernet output).
    #[arg(long, default_value = "02:00:00:00:00:01")]
    pub client_mac: String,
    /// Server MAC (Ethernet output).
    #[arg(long, default_value = "02:00:00:00:00:02")]
    pub server_mac: String,
    /// Time of the first packet, ns since the Unix epoch (when the input has no absolute times).
    #[arg(long, default_value_t = 1_700_000_000_000_000_000)]
    pub start_ns: u64,
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
    let framing = framing(&a.link, &a.client_mac, &a.server_mac)?;
    let times = m.times(a.start_ns, a.gap_us.saturating_mul(1000));
    let iat: Vec<u64> = (0..m.n)
        .map(|i| if i == 0 { 0 } else { times[i] - times[i - 1] })
        .collect();
    let settings = RepairSettings {
        client_pool: a.client_pool,
        server_pool: a.server_pool,
        handshake: a.handshake,
        payload_fill: a.payload.clone(),
        udp_checksum_zero: a.udp_checksum_zero,
        mtu: a.mtu,
        start_ns: times.first().copied().unwrap_or(a.start_ns),
        default_gap_ns: a.gap_us.saturating_mul(1000),
        seed: a.seed,
    };
    let has_timing = m.abs_ns.is_some() || m.gaps_ns.is_some();
    let input = FlowInput {
        rows: &m.rows,
        directions: None,
        iat_ns: has_timing.then_some(iat.as_slice()),
        hints: None,
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
