//! The nPrint tool's job, done the same way: a capture file in, nPrint CSV out, with the same
//! rows, columns and values for the same options.

use super::csv_write::{CsvOptions, CsvWriter, IndexColumn};
use super::encode::segments;
use crate::capture::{dissect, CaptureError, CaptureReader, Dissected, Frame, SkipCounts, L3, L4};
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

/// Options of one encoding run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodeRun {
    /// CSV content options.
    pub csv: CsvOptions,
    /// Stop after this many encoded packets (`-c`; 0 = all).
    pub count: u64,
}

/// What an encoding run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodeSummary {
    /// Frames read from the capture.
    pub frames: u64,
    /// Rows written.
    pub encoded: u64,
    /// Frames skipped, by reason.
    pub skipped: SkipCounts,
}

/// Errors of an encoding run.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Reading the capture failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing the output failed.
    #[error("writing nPrint output: {0}")]
    Write(#[from] std::io::Error),
}

/// Encodes the capture at `input` into `out` as the nPrint tool would; `progress` is called with
/// the number of frames read every 4096 frames.
pub fn encode_capture<W: Write>(
    input: &Path,
    run: &EncodeRun,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<(EncodeSummary, W), EncodeError> {
    let mut reader = CaptureReader::open(input)?;
    let mut writer = CsvWriter::new(out, &run.csv)?;
    let mut summary = EncodeSummary::default();
    let mut frame = Frame::default();
    let mut prev_us: Option<u64> = None;
    let mut index = String::with_capacity(64);
    let (mut rts, mut sec, mut usec) = (String::new(), String::new(), String::new());
    while reader.read_into(&mut frame)? {
        summary.frames += 1;
        if summary.frames % 4096 == 0 {
            progress(summary.frames);
        }
        let pkt = match dissect(&frame) {
            Ok(p) => p,
            Err(reason) => {
                summary.skipped.add(reason);
                continue;
            }
        };
        if run.count != 0 && summary.encoded >= run.count {
            break;
        }
        index.clear();
        write_index(&mut index, run.csv.index, &pkt);
        let mut prefix: [&str; 4] = [&index, "", "", ""];
        let mut n = 1;
        let us = frame.ts_ns / 1000;
        if run.csv.relative_ts {
            rts.clear();
            let d = prev_us.map_or(0, |p| us as i64 - p as i64);
            let _ = write!(rts, "{d}");
            prefix[n] = &rts;
            n += 1;
        }
        prev_us = Some(us);
        if run.csv.absolute_ts {
            sec.clear();
            usec.clear();
            let _ = write!(sec, "{}", us / 1_000_000);
            let _ = write!(usec, "{}", us % 1_000_000);
            prefix[n] = &sec;
            prefix[n + 1] = &usec;
            n += 2;
        }
        let mut segs = Vec::with_capacity(16);
        segments(&run.csv.layout, &pkt, &mut segs);
        writer.write_row(&prefix[..n], &segs)?;
        summary.encoded += 1;
    }
    progress(summary.frames);
    let out = writer.finish()?;
    Ok((summary, out))
}

/// Formats the index column of `pkt` as the nPrint tool does ("NULL" where a field is absent).
pub fn write_index(s: &mut String, index: IndexColumn, pkt: &Dissected<'_>) {
    let addr = |s: &mut String, src: bool| {
        let _ = match pkt.l3 {
            L3::V4(ip) => write!(s, "{}", if src { ip.src_addr() } else { ip.dst_addr() }),
            L3::V6(ip) => write!(s, "{}", if src { ip.src_addr() } else { ip.dst_addr() }),
        };
    };
    let port = |s: &mut String, src: bool| {
        let _ = match pkt.l4 {
            L4::Icmp(_) => write!(s, "NULL"),
            l4 => {
                let (a, b) = l4.ports();
                write!(s, "{}", if src { a } else { b })
            }
        };
    };
    match index {
        IndexColumn::SrcIp => addr(s, true),
        IndexColumn::DstIp => addr(s, false),
        IndexColumn::SrcPort => port(s, true),
        IndexColumn::DstPort => port(s, false),
        IndexColumn::Flow => {
            addr(s, true);
            s.push('_');
            addr(s, false);
            s.push('_');
            port(s, true);
            s.push('_');
            port(s, false);
            s.push_str(match pkt.l4 {
                L4::Tcp(_) => "_TCP",
                L4::Udp(_) => "_UDP",
                L4::Icmp(_) => "_NULL",
            });
        }
        IndexColumn::TxMac => match pkt.eth {
            Some(e) if e.len() >= 12 => {
                let m = &e[6..12];
                let _ = write!(
                    s,
                    "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    m[0], m[1], m[2], m[3], m[4], m[5]
                );
            }
            _ => s.push_str("NULL"),
        },
    }
}
