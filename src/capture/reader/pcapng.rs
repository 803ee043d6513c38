//! pcapng: sections, each a Section Header Block followed by Interface Description Blocks and
//! packet blocks; every interface has its own link type and timestamp resolution.

use super::input::{Endian, Input};
use super::MAX_RECORD_LEN;
use crate::capture::error::{CaptureError, CaptureErrorKind};
use crate::capture::linktype::{linktype_name, LinkType};
use crate::capture::Frame;

/// Block type of the Section Header Block, also the file's magic number (same in either order).
pub(super) const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Largest block accepted; real blocks hold one packet of at most 256 KiB plus options.
const MAX_BLOCK_LEN: u32 = 16 << 20;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
const NS_PER_SEC: u128 = 1_000_000_000;

/// Smallest total length of a block of each type (type, length, fixed fields, trailing length).
fn min_block_len(btype: u32) -> u32 {
    match btype {
        SHB => 28,
        IDB => 20,
        EPB | PB => 32,
        SPB => 16,
        _ => 12,
    }
}

#[derive(Debug)]
struct Interface {
    link: u32,
    snaplen: u32,
    /// Timestamp units per second (10^n or 2^n).
    units_per_sec: u128,
    /// Seconds added to every timestamp.
    offset_s: i64,
}

/// The fixed fields of a packet block, whichever of the three kinds it is.
struct Packet {
    interface: u32,
    ts: u64,
    caplen: u32,
    origlen: u32,
    /// Where the packet bytes start in the block body.
    data_at: usize,
}

/// Reading state of a pcapng file: the current section's byte order and interfaces.
#[derive(Debug)]
pub(super) struct Pcapng {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// Body of the current block: after the type and length (and byte-order magic for a Section
    /// Header Block), before the trailing length.
    body: Vec<u8>,
}

impl Pcapng {
    /// Reads the first Section Header Block.
    pub(super) fn open(input: &mut Input) -> Result<Pcapng, CaptureError> {
        let mut p = Pcapng {
            endian: Endian::Little,
            interfaces: Vec::new(),
            body: Vec::new(),
        };
        // The caller saw the Section Header Block type as the magic number, so this is one.
        let Some((SHB, start)) = p.read_block(input, None)? else {
            let kind = CaptureErrorKind::Malformed("section header block");
            return Err(input.err(None, 0, kind));
        };
        p.section(input, None, start)?;
        Ok(p)
    }

    /// Reads blocks up to the next packet, which becomes record number `record`; `Ok(false)` at
    /// the end of the file.
    pub(super) fn next(
        &mut self,
        input: &mut Input,
        record: u64,
        frame: &mut Frame,
    ) -> Result<bool, CaptureError> {
        let rec = Some(record);
        loop {
            let Some((btype, start)) = self.read_block(input, rec)? else {
                return Ok(false);
            };
            let fail = |kind| input.err(rec, start, kind);
            let packet = match btype {
                SHB => {
                    self.section(input, rec, start)?;
                    continue;
                }
                IDB => {
                    let iface = self.interface().map_err(fail)?;
                    self.interfaces.push(iface);
                    continue;
                }
                EPB | PB => self.packet(btype).map_err(fail)?,
                SPB => self.simple_packet().map_err(fail)?,
                _ => continue,
            };
            self.emit(&packet, record, frame).map_err(fail)?;
            return Ok(true);
        }
    }

    /// Reads one block into `self.body`; returns its type and starting offset, `None` at the
    /// end of the file.
    fn read_block(
        &mut self,
        input: &mut Input,
        rec: Option<u64>,
    ) -> Result<Option<(u32, u64)>, CaptureError> {
        let start = input.offset();
        let mut head = [0u8; 12];
        let got = input.fill(&mut head[..8], rec)?;
        if got == 0 {
            return Ok(None);
        }
        let fail = |input: &Input, kind| Err(input.err(rec, start, kind));
        let truncated = |what, need, have: usize| CaptureErrorKind::Truncated {
            what,
            need,
            have: have as u64,
        };
        if got < 8 {
            return fail(input, truncated("block header", 8, got));
        }
        let mut head_len = 8;
        if u32::from_le_bytes([head[0], head[1], head[2], head[3]]) == SHB {
            let got = input.fill(&mut head[8..], rec)?;
            if got < 4 {
                return fail(input, truncated("section header", 12, 8 + got));
            }
            self.endian = match u32::from_le_bytes([head[8], head[9], head[10], head[11]]) {
                BYTE_ORDER_MAGIC => Endian::Little,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => Endian::Big,
                _ => {
                    return fail(
                        input,
                        CaptureErrorKind::Malformed("section byte-order magic"),
                    )
                }
            };
            head_len = 12;
        }
        let btype = self.endian.u32(&head, 0).unwrap_or(0);
        let len = self.endian.u32(&head, 4).unwrap_or(0);
        let why = if !len.is_multiple_of(4) {
            Some("not a multiple of 4")
        } else if len < min_block_len(btype) {
            Some("smaller than the minimum for its block type")
        } else if len > MAX_BLOCK_LEN {
            Some("larger than 16 MiB")
        } else {
            None
        };
        if let Some(why) = why {
            return fail(
                input,
                CaptureErrorKind::BadLength {
                    what: "block",
                    len: len.into(),
                    why,
                },
            );
        }
        let rest = u64::from(len) - head_len as u64;
        let got = input.read_vec(rest, &mut self.body, rec)?;
        if (got as u64) < rest {
            return fail(input, truncated("block", len.into(), head_len + got));
        }
        let body_len = self.body.len() - 4;
        let trailer = self.endian.u32(&self.body, body_len).unwrap_or(0);
        if trailer != len {
            let why = "differs from the leading block length";
            let kind = CaptureErrorKind::BadLength {
                what: "trailing block",
                len: trailer.into(),
                why,
            };
            return fail(input, kind);
        }
        self.body.truncate(body_len);
        Ok(Some((btype, start)))
    }

    /// Starts a new section from the Section Header Block in `self.body`.
    fn section(&mut self, input: &Input, rec: Option<u64>, start: u64) -> Result<(), CaptureError> {
        let major = self.endian.u16(&self.body, 0).unwrap_or(0);
        let minor = self.endian.u16(&self.body, 2).unwrap_or(0);
        if major != 1 {
            return Err(input.err(rec, start, CaptureErrorKind::Version { major, minor }));
        }
        self.interfaces.clear();
        Ok(())
    }

    /// Parses the Interface Description Block in `self.body`.
    fn interface(&self) -> Result<Interface, CaptureErrorKind> {
        let e = self.endian;
        let bad = || CaptureErrorKind::Malformed("interface description block");
        let link = u32::from(e.u16(&self.body, 0).ok_or_else(bad)?);
        let snaplen = e.u32(&self.body, 4).ok_or_else(bad)?;
        let mut iface = Interface {
            link,
            snaplen,
            units_per_sec: 1_000_000,
            offset_s: 0,
        };
        let mut opts = self.body.get(8..).unwrap_or(&[]);
        let bad = |what| CaptureErrorKind::Malformed(what);
        while !opts.is_empty() {
            let code = e.u16(opts, 0).ok_or_else(|| bad("interface option"))?;
            let len = usize::from(e.u16(opts, 2).ok_or_else(|| bad("interface option"))?);
            if code == OPT_END {
                break;
            }
            let value = opts
                .get(4..4 + len)
                .ok_or_else(|| bad("interface option"))?;
            match (code, value) {
                (OPT_IF_TSRESOL, &[v]) => iface.units_per_sec = tsresol(v)?,
                (OPT_IF_TSRESOL, _) => return Err(bad("if_tsresol option")),
                (OPT_IF_TSOFFSET, _) if len == 8 => {
                    let off = e.u64(value, 0).ok_or_else(|| bad("if_tsoffset option"))?;
                    // The option is a signed 64-bit count of seconds.
                    iface.offset_s = off as i64;
                }
                (OPT_IF_TSOFFSET, _) => return Err(bad("if_tsoffset option")),
                _ => {}
            }
            opts = opts.get(4 + len.next_multiple_of(4)..).unwrap_or(&[]);
        }
        Ok(iface)
    }

    /// Parses an Enhanced Packet Block or an obsolete Packet Block in `self.body`.
    fn packet(&self, btype: u32) -> Result<Packet, CaptureErrorKind> {
        let (e, b) = (self.endian, &self.body[..]);
        let bad = || CaptureErrorKind::Malformed("packet block");
        let field = |at| e.u32(b, at).ok_or_else(bad);
        let interface = match btype {
            EPB => field(0)?,
            // The obsolete Packet Block has a 16-bit interface id and a 16-bit drop count.
            _ => e.u16(b, 0).map(u32::from).ok_or_else(bad)?,
        };
        let ts = u64::from(field(4)?) << 32 | u64::from(field(8)?);
        Ok(Packet {
            interface,
            ts,
            caplen: field(12)?,
            origlen: field(16)?,
            data_at: 20,
        })
    }

    /// Parses the Simple Packet Block in `self.body`: interface 0, no timestamp, and a captured
    /// length that only the block length and the interface's snapshot length tell.
    fn simple_packet(&self) -> Result<Packet, CaptureErrorKind> {
        let bad = CaptureErrorKind::Malformed("simple packet block");
        let origlen = self.endian.u32(&self.body, 0).ok_or(bad)?;
        let iface = self
            .interfaces
            .first()
            .ok_or(CaptureErrorKind::UnknownInterface(0))?;
        let room = u32::try_from(self.body.len().saturating_sub(4)).unwrap_or(u32::MAX);
        let mut caplen = origlen.min(room);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen);
        }
        Ok(Packet {
            interface: 0,
            ts: 0,
            caplen,
            origlen,
            data_at: 4,
        })
    }

    /// Fills `frame` from a parsed packet block.
    fn emit(&self, p: &Packet, record: u64, frame: &mut Frame) -> Result<(), CaptureErrorKind> {
        let iface = self
            .interfaces
            .get(p.interface as usize)
            .ok_or(CaptureErrorKind::UnknownInterface(p.interface))?;
        let link = LinkType::from_number(iface.link);
        if !link.is_supported() {
            let name = linktype_name(iface.link);
            return Err(CaptureErrorKind::UnsupportedLinkType {
                number: iface.link,
                name,
            });
        }
        if p.caplen > MAX_RECORD_LEN {
            let why = "larger than 256 KiB";
            return Err(CaptureErrorKind::BadLength {
                what: "captured",
                len: p.caplen.into(),
                why,
            });
        }
        let data = self
            .body
            .get(p.data_at..p.data_at + p.caplen as usize)
            .ok_or(CaptureErrorKind::BadLength {
                what: "captured",
                len: p.caplen.into(),
                why: "larger than its block",
            })?;
        frame.ts_ns = timestamp_ns(iface, p.ts)?;
        frame.record = record;
        frame.orig_len = p.origlen.max(p.caplen);
        frame.link = link;
        frame.data.clear();
        frame.data.extend_from_slice(data);
        Ok(())
    }
}

/// Units per second for an `if_tsresol` value: 10^v, or 2^(v & 0x7f) when the top bit is set.
fn tsresol(v: u8) -> Result<u128, CaptureErrorKind> {
    let units = if v & 0x80 != 0 {
        1u128.checked_shl(u32::from(v & 0x7f))
    } else {
        10u128.checked_pow(u32::from(v))
    };
    units.ok_or(CaptureErrorKind::Malformed("if_tsresol option"))
}

/// A timestamp in the interface's units, converted to nanoseconds since the epoch.
fn timestamp_ns(iface: &Interface, ts: u64) -> Result<u64, CaptureErrorKind> {
    // u64 ticks × 10^9 < 2^94, so the product fits u128; the offset in ns fits i128 likewise.
    let ns = u128::from(ts) * NS_PER_SEC / iface.units_per_sec;
    let ns = ns as i128 + i128::from(iface.offset_s) * NS_PER_SEC as i128;
    u64::try_from(ns).map_err(|_| CaptureErrorKind::Malformed("timestamp (out of range)"))
}
