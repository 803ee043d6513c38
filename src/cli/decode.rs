//! `netdiffd decode`: nPrint CSV → pcap, without repair (the bits as they are).

use super::matrix_input;
use super::shared_args::FramingArgs;
use anyhow::{bail, Context};
use netdiffd::nprint::decode::{decode_row, DecodeError};
use netdiffd::nprint::layout::STANDARD_WIDTH;
use netdiffd::packets::{PcapWriter, TsResolution};
use netdiffd::repair::PayloadFill;
use netdiffd::wire::ipv4::Ipv4Packet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Options of `netdiffd decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// nPrint CSV to decode (any index column, rts / tv_sec,tv_usec optional).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// Output pcap (written whole or not at all).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
    /// Output framing (the client is the first packet's sender).
    #[command(flatten)]
    pub framing: FramingArgs,
    /// Time of the first packet, ns since the Unix epoch, when the file has no absolute times.
    #[arg(long, default_value_t = 1_700_000_000_000_000_000)]
    pub start_ns: u64,
    /// Gap between packets (µs) when the file has neither `rts` nor absolute times.
    #[arg(long, default_value_t = 1000)]
    pub gap_us: u64,
    /// Payload bytes: `zeros` or `pattern:HEX`.
    #[arg(long, default_value = "zeros")]
    pub payload: PayloadFill,
    /// Write nanosecond timestamps (default: microseconds).
    #[arg(long)]
    pub nanoseconds: bool,
    /// Skip rows that do not decode instead of failing (they are counted).
    #[arg(long)]
    pub skip_bad_rows: bool,
}

/// Runs `netdiffd decode`.
pub fn run(a: &DecodeArgs) -> anyhow::Result<i32> {
    let m = matrix_input::load(&a.input)?;
    let framing = a.framing.framing()?;
    let times = m.times(a.start_ns, a.gap_us.saturating_mul(1000));
    let res = if a.nanoseconds {
        TsResolution::Nano
    } else {
        TsResolution::Micro
    };
    let mut w = PcapWriter::create(&a.output, framing.link_type(), res)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let mut first_src: Option<Ipv4Addr> = None;
    let (mut written, mut bad, mut padding) = (0u64, 0u64, 0u64);
    let mut frame = Vec::with_capacity(2048);
    for (i, row) in m.rows.chunks_exact(STANDARD_WIDTH).enumerate() {
        let p = match decode_row(row) {
            Ok(p) => p,
            Err(DecodeError::Vacant) => {
                padding += 1;
                continue;
            }
            Err(e) if a.skip_bad_rows => {
                bad += 1;
                eprintln!("{}: row {}: {e} (skipped)", a.input.display(), i + 1);
                continue;
            }
            Err(e) => bail!("{}: row {}: {e}", a.input.display(), i + 1),
        };
        let src = Ipv4Packet::new_unchecked(&p.ip_header[..]).src_addr();
        let forward = *first_src.get_or_insert(src) == src;
        frame.clear();
        framing.push_header(forward, &mut frame);
        frame.extend_from_slice(&p.ip_header);
        frame.extend_from_slice(&p.l4_header);
        a.payload.push(p.payload_len, &mut frame);
        w.write(times[i], &frame)?;
        written += 1;
    }
    w.commit()
        .with_context(|| format!("writing {}", a.output.display()))?;
    eprintln!(
        "{}: {} rows, {written} packets written to {}, {padding} padding rows, {bad} bad rows skipped",
        a.input.display(),
        m.n,
        a.output.display()
    );
    Ok(0)
}
