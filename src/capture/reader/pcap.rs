//! Classic pcap: a 24-byte file header, then 16-byte record headers each followed by the packet.

use super::input::{Endian, Input};
use super::MAX_RECORD_LEN;
use crate::capture::error::{CaptureError, CaptureErrorKind};
use crate::capture::linktype::{linktype_name, LinkType};
use crate::capture::Frame;

const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
/// The LINKTYPE number sits in the low 26 bits; the upper bits carry FCS information.
const LINKTYPE_MASK: u32 = 0x03ff_ffff;

/// State of a classic pcap file after its header.
#[derive(Debug)]
pub(super) struct Pcap {
    endian: Endian,
    nano: bool,
    link: LinkType,
    lengths: LengthOrder,
}

/// Where the captured and original lengths sit in a record header. Writers before format 2.3
/// put the original length first; 2.3 files may have either order (libpcap's reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LengthOrder {
    Normal,
    Swapped,
    /// Swapped when, read in the normal order, the captured length exceeds the original one.
    Maybe,
}

/// The endianness and nanosecond flag a pcap magic number stands for, if it is one.
pub(super) fn magic(m: [u8; 4]) -> Option<(Endian, bool)> {
    match u32::from_le_bytes(m) {
        0xa1b2_c3d4 => Some((Endian::Little, false)),
        0xd4c3_b2a1 => Some((Endian::Big, false)),
        0xa1b2_3c4d => Some((Endian::Little, true)),
        0x4d3c_b2a1 => Some((Endian::Big, true)),
        _ => None,
    }
}

impl Pcap {
    /// Reads the file header.
    pub(super) fn open(input: &mut Input) -> Result<Pcap, CaptureError> {
        let mut hdr = [0u8; FILE_HEADER_LEN];
        let got = input.fill(&mut hdr, None)?;
        let head = [hdr[0], hdr[1], hdr[2], hdr[3]];
        let Some((endian, nano)) = magic(head).filter(|_| got >= 4) else {
            let m = u32::from_le_bytes(head);
            return Err(input.err(None, 0, CaptureErrorKind::BadMagic(m)));
        };
        if got < FILE_HEADER_LEN {
            let kind = CaptureErrorKind::Truncated {
                what: "file header",
                need: FILE_HEADER_LEN as u64,
                have: got as u64,
            };
            return Err(input.err(None, 0, kind));
        }
        let field16 = |at| endian.u16(&hdr, at).unwrap_or(0);
        let (major, minor) = (field16(4), field16(6));
        let lengths = match (major, minor) {
            (2, 0..=2) => LengthOrder::Swapped,
            (2, 3) => LengthOrder::Maybe,
            (2, 4) => LengthOrder::Normal,
            _ => return Err(input.err(None, 0, CaptureErrorKind::Version { major, minor })),
        };
        let number = endian.u32(&hdr, 20).unwrap_or(0) & LINKTYPE_MASK;
        let link = LinkType::from_number(number);
        if !link.is_supported() {
            let kind = CaptureErrorKind::UnsupportedLinkType {
                number,
                name: linktype_name(number),
            };
            return Err(input.err(None, 20, kind));
        }
        Ok(Pcap {
            endian,
            nano,
            link,
            lengths,
        })
    }

    /// True when timestamps carry nanoseconds.
    pub(super) fn nano(&self) -> bool {
        self.nano
    }

    /// Reads record number `record` into `frame`; `Ok(false)` at the end of the file.
    pub(super) fn next(
        &mut self,
        input: &mut Input,
        record: u64,
        frame: &mut Frame,
    ) -> Result<bool, CaptureError> {
        let start = input.offset();
        let mut rec = [0u8; RECORD_HEADER_LEN];
        let got = input.fill(&mut rec, Some(record))?;
        if got == 0 {
            return Ok(false);
        }
        let fail = |input: &Input, kind| Err(input.err(Some(record), start, kind));
        if got < RECORD_HEADER_LEN {
            let need = RECORD_HEADER_LEN as u64;
            let what = "record header";
            return fail(
                input,
                CaptureErrorKind::Truncated {
                    what,
                    need,
                    have: got as u64,
                },
            );
        }
        let field = |at| u64::from(self.endian.u32(&rec, at).unwrap_or(0));
        let (sec, frac, mut caplen, mut origlen) = (field(0), field(4), field(8), field(12));
        let swap = match self.lengths {
            LengthOrder::Normal => false,
            LengthOrder::Swapped => true,
            LengthOrder::Maybe => caplen > origlen,
        };
        if swap {
            std::mem::swap(&mut caplen, &mut origlen);
        }
        if caplen > u64::from(MAX_RECORD_LEN) {
            let why = "larger than 256 KiB";
            return fail(
                input,
                CaptureErrorKind::BadLength {
                    what: "captured",
                    len: caplen,
                    why,
                },
            );
        }
        let got = input.read_vec(caplen, &mut frame.data, Some(record))?;
        if (got as u64) < caplen {
            let what = "packet data";
            return fail(
                input,
                CaptureErrorKind::Truncated {
                    what,
                    need: caplen,
                    have: got as u64,
                },
            );
        }
        let frac_ns = if self.nano { frac } else { frac * 1000 };
        frame.record = record;
        // Cannot overflow: u32 seconds in ns stay below 2^62, and u32 µs in ns below 2^42.
        frame.ts_ns = sec * 1_000_000_000 + frac_ns;
        frame.orig_len = origlen.max(caplen) as u32;
        frame.link = self.link;
        Ok(true)
    }
}
