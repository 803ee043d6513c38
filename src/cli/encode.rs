//! `netdiffd encode`: capture → nPrint CSV.

use super::output::{progress_bar, Output};
use anyhow::{bail, Context};
use netdiffd::nprint::tool::{encode_capture_with, EncodeRun, Extensions};
use netdiffd::nprint::{CsvOptions, IndexColumn, Layout};
use std::path::PathBuf;

/// Options of `netdiffd encode`. The one-letter options are the nPrint tool's, with its
/// meanings, so `netdiffd encode` can replace `nprint` in existing pipelines.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "With no block option (-e -4 -6 -t -u -i -p) the row holds -4 -t -u -i, \
netdiffd's standard 1088-bit layout. NetDiffusion's option set is -4 -6 -t -u -i -p 0.

VLAN tags: like the nPrint tool, encode does not decode 802.1Q/802.1ad tags by default. The tool \
checks an Ethernet frame's EtherType only for IPv4 or IPv6 and reads any other frame from its \
first byte as an IP header, so a tagged frame gives no row, or (when its destination MAC begins \
with the hex digit 4 or 6) a row of misread bytes; encode writes exactly the same. \
--decode-vlan encodes the IPv4/IPv6 packet inside the tags instead: more rows than the tool \
writes, no longer its output."
)]
pub struct EncodeArgs {
    /// Capture file to encode (pcap or pcapng).
    #[arg(value_name = "IN", required_unless_present = "pcap_file")]
    pub input: Option<PathBuf>,
    /// Capture file to encode (the nPrint tool's spelling of IN).
    #[arg(
        short = 'P',
        long = "pcap-file",
        value_name = "FILE",
        conflicts_with = "input"
    )]
    pub pcap_file: Option<PathBuf>,
    /// Output CSV file (written whole or not at all); stdout when absent or `-`.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Output CSV file (the nPrint tool's spelling of -o).
    #[arg(
        short = 'W',
        long = "write-file",
        value_name = "FILE",
        conflicts_with = "output"
    )]
    pub write_file: Option<PathBuf>,
    /// Include the Ethernet header block (112 bits).
    #[arg(short = 'e', long = "eth")]
    pub eth: bool,
    /// Include the IPv4 header block (480 bits, options space included).
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,
    /// Include the IPv6 header block (320 bits).
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Include the TCP header block (480 bits, options space included).
    #[arg(short = 't', long = "tcp")]
    pub tcp: bool,
    /// Include the UDP header block (64 bits).
    #[arg(short = 'u', long = "udp")]
    pub udp: bool,
    /// Include the ICMP header block (64 bits).
    #[arg(short = 'i', long = "icmp")]
    pub icmp: bool,
    /// Include N bytes of payload per packet.
    #[arg(short = 'p', long = "payload", value_name = "N", default_value_t = 0)]
    pub payload: usize,
    /// Add the `rts` column: microseconds since the previous encoded packet.
    #[arg(short = 'R', long = "relative-timestamps")]
    pub relative_ts: bool,
    /// Add the `tv_sec,tv_usec` columns: absolute capture time.
    #[arg(short = 'A', long = "absolute-timestamps")]
    pub absolute_ts: bool,
    /// Index column: 0 src_ip, 1 dst_ip, 2 src_prt, 3 dst_prt, 4 flow, 5 tx_mac (the 802.11
    /// transmitter: NULL on every link netdiffd reads, as in the tool).
    #[arg(short = 'O', long = "index", value_name = "N", default_value_t = 0)]
    pub index: u32,
    /// Value written for vacant bits.
    #[arg(short = 'F', long = "fill", value_name = "N", default_value_t = -1, allow_hyphen_values = true)]
    pub fill: i8,
    /// Encode only the packets among the first N frames (0 = all); skipped frames count, as in
    /// the nPrint tool.
    #[arg(short = 'c', long = "count", value_name = "N", default_value_t = 0)]
    pub count: u64,
    /// Decode 802.1Q/802.1ad VLAN tags and encode the packets inside them. Not an nPrint option:
    /// without it tagged frames are read as the nPrint tool reads them (skipped, or misread
    /// when the destination MAC begins with 4 or 6), so the CSV is the tool's; with it the CSV
    /// has a row for every tagged IPv4/IPv6 TCP, UDP or ICMP packet, unlike the tool's.
    #[arg(long = "decode-vlan", visible_alias = "vlan")]
    pub decode_vlan: bool,
    /// Decode the link headers the nPrint tool does not know — Linux cooked v2 (SLL2), BSD and
    /// OpenBSD loopback — and encode the packets inside. Not an nPrint option: without it such
    /// frames are read as the tool reads them, from their first byte, so the CSV is the tool's
    /// (no rows); with it every IPv4/IPv6 TCP, UDP or ICMP packet gets its row.
    #[arg(long = "decode-links")]
    pub decode_links: bool,
    /// Print nothing but errors (no progress bar, no summary).
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

impl EncodeArgs {
    fn layout(&self) -> Layout {
        let l = Layout {
            eth: self.eth,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            tcp: self.tcp,
            udp: self.udp,
            icmp: self.icmp,
            payload_bytes: self.payload,
        };
        if l.width() == 0 {
            Layout::STANDARD
        } else {
            l
        }
    }
}

/// Runs `netdiffd encode`.
pub fn run(a: &EncodeArgs) -> anyhow::Result<i32> {
    let input = a
        .input
        .as_ref()
        .or(a.pcap_file.as_ref())
        .context("no input capture given")?;
    let Some(index) = IndexColumn::from_number(a.index) else {
        bail!("-O {}: index must be 0 (src_ip) … 5 (tx_mac)", a.index);
    };
    let run = EncodeRun {
        csv: CsvOptions {
            layout: a.layout(),
            index,
            relative_ts: a.relative_ts,
            absolute_ts: a.absolute_ts,
            fill: a.fill,
        },
        count: a.count,
    };
    let out_path = a.output.as_ref().or(a.write_file.as_ref());
    let size = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(size / 100, "frames (est.)");
    if a.quiet || size < (8 << 20) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    // A capture file is opened (and dropped) before the output, so that an input that cannot
    // be read leaves no output folder behind; a pipe is read once, below.
    if std::fs::metadata(input).map_or(true, |m| m.is_file()) {
        netdiffd::capture::CaptureReader::open(input)?;
    }
    let out = Output::open(out_path.map(|p| p.as_path()))?;
    let ext = Extensions {
        decode_vlan: a.decode_vlan,
        decode_links: a.decode_links,
    };
    let (summary, out) = encode_capture_with(input, &run, ext, out, |n| bar.set_position(n))?;
    out.commit().with_context(|| match out_path {
        Some(p) => format!("writing {}", p.display()),
        None => "writing to stdout".into(),
    })?;
    bar.finish_and_clear();
    if !a.quiet {
        eprintln!(
            "{}: {} frames, {} encoded, {} skipped ({})",
            input.display(),
            summary.frames,
            summary.encoded,
            summary.skipped.total(),
            summary.skipped
        );
    }
    Ok(0)
}
