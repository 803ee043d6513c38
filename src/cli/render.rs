//! `netdiffd render`: a flow as a picture in NetDiffusion's image layout (1088 × 1024; red 1,
//! green 0, blue vacant).

use super::matrix_input;
use anyhow::{bail, Context};
use netdiffd::flows::{flows_from_capture, FlowSettings};
use netdiffd::nprint::layout::{NETDIFFUSION_IMAGE_ROWS, STANDARD_WIDTH};
use netdiffd::nprint::{write_png, FlowImage};
use std::path::PathBuf;

/// Options of `netdiffd render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// A capture (pcap/pcapng), an nPrint CSV, or a NetDiffusion PNG.
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Output PNG (written whole or not at all).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "OUT",
        required_unless_present = "list"
    )]
    pub output: Option<PathBuf>,
    /// For a capture: which flow (by position in start-time order, see --list); default the
    /// flow with the most packets.
    #[arg(long)]
    pub flow: Option<usize>,
    /// For a capture: list its flows and exit.
    #[arg(long)]
    pub list: bool,
}

fn is_capture(p: &std::path::Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "pcap" | "pcapng" | "cap"))
}

/// Runs `netdiffd render`.
pub fn run(a: &RenderArgs) -> anyhow::Result<i32> {
    let (rows, what) = if is_capture(&a.input) {
        let (flows, skipped) = flows_from_capture(&a.input, FlowSettings::default(), None)?;
        if a.list {
            for (i, f) in flows.iter().enumerate() {
                println!("{i}\t{}\t{} packets", f.key, f.packets.len());
            }
            eprintln!("{} flows; skipped frames: {skipped}", flows.len());
            return Ok(0);
        }
        if flows.is_empty() {
            bail!(
                "{}: no IPv4 TCP/UDP/ICMP flows (skipped: {skipped})",
                a.input.display()
            );
        }
        let i = match a.flow {
            Some(i) if i < flows.len() => i,
            Some(i) => bail!(
                "--flow {i}: the capture has {} flows (0..{})",
                flows.len(),
                flows.len() - 1
            ),
            None => (0..flows.len())
                .max_by_key(|&i| (flows[i].packets.len(), usize::MAX - i))
                .unwrap_or(0),
        };
        let f = &flows[i];
        let rows = netdiffd::nprint::flow_rows(f.packets.iter().take(NETDIFFUSION_IMAGE_ROWS));
        (
            rows,
            format!("flow {i} ({}, {} packets)", f.key, f.packets.len()),
        )
    } else {
        if a.list {
            bail!("--list applies to captures");
        }
        let m = matrix_input::load(&a.input)?;
        let n = m.n.min(NETDIFFUSION_IMAGE_ROWS);
        (
            m.rows[..n * STANDARD_WIDTH].to_vec(),
            format!("{} rows", m.n),
        )
    };
    let n = rows.len() / STANDARD_WIDTH;
    let out = a.output.as_ref().context("--output is required")?;
    let img = FlowImage::from_standard_rows(&rows, n)?;
    write_png(out, &img)?;
    eprintln!(
        "{}: {what} rendered to {} ({n} packet rows)",
        a.input.display(),
        out.display()
    );
    Ok(0)
}
