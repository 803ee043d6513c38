//! nPrint CSV output, byte for byte as the nPrint tool writes it: a header of the index column,
//! the optional `rts` / `tv_sec,tv_usec` columns and the bit columns, then one line a packet with
//! values `-1`, `0`, `1` separated by commas and `\n` line ends.
//!
//! Rows are spelled from header bytes through a table of pre-formatted text (16 bytes of
//! `b,b,b,b,b,b,b,b,` a header byte) and from pre-formatted runs of fill values ([`RowText`]),
//! so a row costs a few copies into the output buffer.

use super::encode::Segment;
use super::layout::{Bit, Layout};
use std::io::{self, Write};

/// The index column the nPrint tool's `-O` option selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexColumn {
    /// `-O 0`: source IP address.
    #[default]
    SrcIp,
    /// `-O 1`: destination IP address.
    DstIp,
    /// `-O 2`: source port.
    SrcPort,
    /// `-O 3`: destination port.
    DstPort,
    /// `-O 4`: flow 5-tuple `src_dst_sport_dport_PROTO`.
    Flow,
    /// `-O 5`: transmitter MAC address.
    TxMac,
}

impl IndexColumn {
    /// The index for an `-O` number.
    pub fn from_number(n: u32) -> Option<IndexColumn> {
        Some(match n {
            0 => IndexColumn::SrcIp,
            1 => IndexColumn::DstIp,
            2 => IndexColumn::SrcPort,
            3 => IndexColumn::DstPort,
            4 => IndexColumn::Flow,
            5 => IndexColumn::TxMac,
            _ => return None,
        })
    }

    /// The header name of the column.
    pub fn name(self) -> &'static str {
        match self {
            IndexColumn::SrcIp => "src_ip",
            IndexColumn::DstIp => "dst_ip",
            IndexColumn::SrcPort => "src_prt",
            IndexColumn::DstPort => "dst_prt",
            IndexColumn::Flow => "flow",
            IndexColumn::TxMac => "tx_mac",
        }
    }
}

/// What a CSV file holds besides the bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// Blocks of each row.
    pub layout: Layout,
    /// Index column.
    pub index: IndexColumn,
    /// `rts` column (`-R`): microseconds since the previous packet.
    pub relative_ts: bool,
    /// `tv_sec,tv_usec` columns (`-A`).
    pub absolute_ts: bool,
    /// Value of vacant positions (`-F`, -1 by default).
    pub fill: Bit,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            layout: Layout::STANDARD,
            index: IndexColumn::SrcIp,
            relative_ts: false,
            absolute_ts: false,
            fill: -1,
        }
    }
}

/// Writes nPrint CSV rows to any writer.
pub struct CsvWriter<W: Write> {
    out: W,
    text: RowText,
    line: Vec<u8>,
}

/// "b,b,b,b,b,b,b,b," for every byte value: 16 bytes each.
static BYTE_TEXT: [[u8; 16]; 256] = {
    let mut t = [[0u8; 16]; 256];
    let mut v = 0;
    while v < 256 {
        let mut j = 0;
        while j < 8 {
            t[v][2 * j] = if (v >> (7 - j)) & 1 == 1 { b'1' } else { b'0' };
            t[v][2 * j + 1] = b',';
            j += 1;
        }
        v += 1;
    }
    t
};

/// The header line of a CSV file with `opts` (index column, timestamp columns, bit columns),
/// `\n` included.
pub fn header_line(opts: &CsvOptions) -> String {
    let mut header = String::with_capacity(opts.layout.width() * 12);
    header.push_str(opts.index.name());
    if opts.relative_ts {
        header.push_str(",rts");
    }
    if opts.absolute_ts {
        header.push_str(",tv_sec,tv_usec");
    }
    for c in opts.layout.column_names() {
        header.push(',');
        header.push_str(&c);
    }
    header.push('\n');
    header
}

/// Spells rows as text: the prefix fields, then each header byte through [`BYTE_TEXT`] and each
/// run of fill bytes as one copy of pre-formatted fill values.
#[derive(Debug, Clone)]
pub struct RowText {
    /// Text of one fill byte: eight times `<fill>,`.
    unit: usize,
    /// Fill text for up to `fill.len() / unit` bytes.
    fill: Vec<u8>,
}

impl RowText {
    /// Row text for vacant value `fill` and rows of `layout`.
    pub fn new(fill: Bit, layout: &Layout) -> RowText {
        let one = format!("{fill},");
        let unit = one.len() * 8;
        // The longest fill run a row can have: a whole block.
        let run = layout.payload_bytes.clamp(60, 4096);
        RowText {
            unit,
            fill: one.repeat(8 * run).into_bytes(),
        }
    }

    /// Length in bytes of the row's text, line end included.
    pub fn row_len(&self, prefix: &[&str], segs: &[Segment<'_>]) -> usize {
        let mut n: usize = prefix.iter().map(|p| p.len() + 1).sum();
        for s in segs {
            n += match *s {
                Segment::Bytes(b) => b.len() * 16,
                Segment::Fill(k) => k * self.unit,
            };
        }
        n
    }

    /// Writes the row's text into `dst`, which must be exactly [`RowText::row_len`] bytes long.
    pub fn write_into(&self, dst: &mut [u8], prefix: &[&str], segs: &[Segment<'_>]) {
        let mut o = 0;
        for p in prefix {
            dst[o..o + p.len()].copy_from_slice(p.as_bytes());
            o += p.len();
            dst[o] = b',';
            o += 1;
        }
        for s in segs {
            match *s {
                Segment::Bytes(b) => {
                    let d = &mut dst[o..o + b.len() * 16];
                    for (c, &byte) in d.chunks_exact_mut(16).zip(b) {
                        c.copy_from_slice(&BYTE_TEXT[usize::from(byte)]);
                    }
                    o += b.len() * 16;
                }
                Segment::Fill(k) => {
                    let mut left = k * self.unit;
                    while left > 0 {
                        let n = left.min(self.fill.len());
                        dst[o..o + n].copy_from_slice(&self.fill[..n]);
                        o += n;
                        left -= n;
                    }
                }
            }
        }
        debug_assert_eq!(o, dst.len());
        if let Some(last) = dst[..o].last_mut() {
            *last = b'\n';
        }
    }

    /// Appends the row's text to `line`.
    pub fn push(&self, line: &mut Vec<u8>, prefix: &[&str], segs: &[Segment<'_>]) {
        let at = line.len();
        line.resize(at + self.row_len(prefix, segs), 0);
        self.write_into(&mut line[at..], prefix, segs);
    }
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header line for `opts` and returns the writer.
    pub fn new(mut out: W, opts: &CsvOptions) -> io::Result<CsvWriter<W>> {
        out.write_all(header_line(opts).as_bytes())?;
        Ok(CsvWriter {
            out,
            text: RowText::new(opts.fill, &opts.layout),
            line: Vec::with_capacity(64 * 1024),
        })
    }

    /// Writes one row: the prefix fields (index and timestamps, already formatted) then the bits
    /// of `segs`.
    pub fn write_row(&mut self, prefix: &[&str], segs: &[Segment<'_>]) -> io::Result<()> {
        self.line.clear();
        self.text.push(&mut self.line, prefix, segs);
        self.out.write_all(&self.line)
    }

    /// Writes one row from bit values already in layout order.
    pub fn write_bits(&mut self, prefix: &[&str], bits: &[Bit]) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        for p in prefix {
            line.extend_from_slice(p.as_bytes());
            line.push(b',');
        }
        for &b in bits {
            match b {
                1 => line.extend_from_slice(b"1,"),
                0 => line.extend_from_slice(b"0,"),
                -1 => line.extend_from_slice(b"-1,"),
                other => {
                    line.extend_from_slice(other.to_string().as_bytes());
                    line.push(b',');
                }
            }
        }
        if let Some(last) = line.last_mut() {
            *last = b'\n';
        }
        self.out.write_all(line)
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_spells_msb_first() {
        assert_eq!(&BYTE_TEXT[0x45], b"0,1,0,0,0,1,0,1,");
        assert_eq!(&BYTE_TEXT[0xff], b"1,1,1,1,1,1,1,1,");
    }

    #[test]
    fn rows_end_with_newline_and_fill_uses_setting() {
        let opts = CsvOptions {
            fill: 0,
            ..CsvOptions::default()
        };
        let mut w = CsvWriter::new(Vec::new(), &opts).unwrap();
        w.write_row(&["1.2.3.4"], &[Segment::Bytes(&[0x80]), Segment::Fill(1)])
            .unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        let line = out.lines().nth(1).unwrap();
        assert_eq!(line, "1.2.3.4,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0");
        assert!(out.starts_with("src_ip,ipv4_ver_0,"));
    }
}
