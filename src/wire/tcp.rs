//! TCP header view (RFC 9293) with option parsing.

use super::{be16, be32, checksum, need, put16, put32, IpProtocol, WireError};
use std::net::Ipv4Addr;

/// Length of a TCP header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Longest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// Where each field of the TCP header sits, in bytes from the start of the header.
pub mod field {
    use crate::wire::Field;

    /// Source port.
    pub const SRC_PORT: Field = 0..2;
    /// Destination port.
    pub const DST_PORT: Field = 2..4;
    /// Sequence number.
    pub const SEQ_NUM: Field = 4..8;
    /// Acknowledgement number.
    pub const ACK_NUM: Field = 8..12;
    /// Data offset (the high nibble, header length in 32-bit words), the reserved bits and the
    /// flags (the low 9 bits; see [`flags`](super::flags)).
    pub const FLAGS: Field = 12..14;
    /// Window size.
    pub const WIN_SIZE: Field = 14..16;
    /// Checksum.
    pub const CHECKSUM: Field = 16..18;
    /// Urgent pointer.
    pub const URGENT: Field = 18..20;
    /// Options, from the end of the fixed header to the end of the header (data offset × 4).
    pub const OPTIONS: usize = 20;
}

/// TCP flag bits as they sit in the low 9 bits of [`field::FLAGS`].
pub mod flags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
    /// URG.
    pub const URG: u16 = 0x020;
    /// ECE.
    pub const ECE: u16 = 0x040;
    /// CWR.
    pub const CWR: u16 = 0x080;
    /// NS (nonce sum, RFC 3540; now reserved).
    pub const NS: u16 = 0x100;

    /// A SYN that opens a connection: SYN without ACK (a client's first packet).
    pub fn is_bare_syn(f: u16) -> bool {
        f & (SYN | ACK) == SYN
    }

    /// A server's answer to a SYN that opens the connection: SYN and ACK without RST.
    pub fn is_syn_ack(f: u16) -> bool {
        f & (SYN | ACK | RST) == SYN | ACK
    }
}

/// A view of a TCP segment over a byte buffer.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without checks; accessors may panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps `buffer` after checking that the data offset is at least 5 and the whole header
    /// (options included) is inside it.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need("TCP", buffer.as_ref().len(), MIN_HEADER_LEN)?;
        let p = TcpPacket { buffer };
        if p.header_len() < MIN_HEADER_LEN {
            return Err(WireError::Malformed {
                proto: "TCP",
                field: "data offset",
                value: (p.header_len() / 4) as u32,
            });
        }
        need("TCP", p.buffer.as_ref().len(), p.header_len())?;
        Ok(p)
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// Source port.
    pub fn src_port(&self) -> u16 {
        be16(self.b(), field::SRC_PORT)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), field::DST_PORT)
    }
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        be32(self.b(), field::SEQ_NUM)
    }
    /// Acknowledgement number.
    pub fn ack(&self) -> u32 {
        be32(self.b(), field::ACK_NUM)
    }
    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::FLAGS.start] >> 4) * 4
    }
    /// The three reserved bits.
    pub fn reserved(&self) -> u8 {
        (self.b()[field::FLAGS.start] >> 1) & 0x07
    }
    /// Flags (see [`flags`]), NS included.
    pub fn flags(&self) -> u16 {
        be16(self.b(), field::FLAGS) & 0x01ff
    }
    /// True when every bit of `f` is set.
    pub fn has(&self, f: u16) -> bool {
        self.flags() & f == f
    }
    /// Window size.
    pub fn window(&self) -> u16 {
        be16(self.b(), field::WIN_SIZE)
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }
    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        be16(self.b(), field::URGENT)
    }
    /// Header bytes, options included.
    pub fn header(&self) -> &[u8] {
        &self.b()[..self.header_len()]
    }
    /// Option bytes.
    pub fn options(&self) -> &[u8] {
        &self.b()[field::OPTIONS..self.header_len()]
    }
    /// Bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    /// Sets the ports.
    pub fn set_ports(&mut self, src: u16, dst: u16) {
        put16(self.bm(), field::SRC_PORT, src);
        put16(self.bm(), field::DST_PORT, dst);
    }
    /// Sets the sequence number.
    pub fn set_seq(&mut self, v: u32) {
        put32(self.bm(), field::SEQ_NUM, v);
    }
    /// Sets the acknowledgement number.
    pub fn set_ack(&mut self, v: u32) {
        put32(self.bm(), field::ACK_NUM, v);
    }
    /// Sets the header length in bytes (a multiple of 4), clears the reserved bits and sets the
    /// flags.
    pub fn set_header_len_and_flags(&mut self, header_len: usize, f: u16) {
        let v = (((header_len / 4) as u16 & 0x0f) << 12) | (f & 0x01ff);
        put16(self.bm(), field::FLAGS, v);
    }
    /// Sets the window size.
    pub fn set_window(&mut self, v: u16) {
        put16(self.bm(), field::WIN_SIZE, v);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.bm(), field::CHECKSUM, v);
    }
    /// Sets the urgent pointer.
    pub fn set_urgent(&mut self, v: u16) {
        put16(self.bm(), field::URGENT, v);
    }
    /// Computes the checksum under the IPv4 pseudo-header of `src` and `dst` over the whole
    /// buffer (header and payload: the buffer must hold exactly the segment) and stores it.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::compute_v4(src, dst, IpProtocol::Tcp, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A TCP header as plain values, its options as bytes: what [`TcpRepr::emit`] writes into a
/// buffer and [`TcpRepr::parse`] reads from a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags (see [`flags`]), NS included.
    pub flags: u16,
    /// Window size.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Option bytes, padding included: a multiple of 4 bytes, at most 40.
    pub options: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Reads the header of `segment` (a view that passed `new_checked`, which is all a header
    /// needs to parse). The reserved bits are not carried (receivers ignore them), nor is the
    /// checksum, which is not verified.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        segment: &TcpPacket<&'a T>,
    ) -> Result<TcpRepr<'a>, WireError> {
        let bytes: &'a [u8] = T::as_ref(segment.buffer);
        let options =
            bytes
                .get(field::OPTIONS..segment.header_len())
                .ok_or(WireError::Truncated {
                    proto: "TCP",
                    need: segment.header_len(),
                    have: bytes.len(),
                })?;
        Ok(TcpRepr {
            src_port: segment.src_port(),
            dst_port: segment.dst_port(),
            seq: segment.seq(),
            ack: segment.ack(),
            flags: segment.flags(),
            window: segment.window(),
            urgent: segment.urgent(),
            options,
        })
    }

    /// Header length in bytes: 20 and the options.
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len()
    }

    /// Bytes [`emit`](Self::emit) writes: the header, options included (the payload follows
    /// it).
    pub fn buffer_len(&self) -> usize {
        self.header_len()
    }

    /// Writes the header and its options into the first [`buffer_len`](Self::buffer_len) bytes
    /// of `segment`, reserved bits and checksum zero; the payload bytes are left as they are.
    /// Once the payload is in place, [`TcpPacket::fill_checksum`] computes the checksum.
    /// Panics when the buffer is shorter than the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, segment: &mut TcpPacket<T>) {
        debug_assert!(self.options.len().is_multiple_of(4) && self.header_len() <= MAX_HEADER_LEN);
        segment.set_ports(self.src_port, self.dst_port);
        segment.set_seq(self.seq);
        segment.set_ack(self.ack);
        segment.set_header_len_and_flags(self.header_len(), self.flags);
        segment.set_window(self.window);
        segment.set_checksum(0);
        segment.set_urgent(self.urgent);
        segment.bm()[field::OPTIONS..self.header_len()].copy_from_slice(self.options);
    }
}

/// Option kinds.
pub mod option_kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No-operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMPS: u8 = 8;
}

/// One parsed TCP option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list; the rest is padding.
    Eol,
    /// Padding.
    Nop,
    /// Maximum segment size.
    Mss(u16),
    /// Window scale shift.
    WindowScale(u8),
    /// SACK permitted.
    SackPermitted,
    /// SACK blocks as (left, right) edges.
    Sack(Vec<(u32, u32)>),
    /// Timestamp value and echo reply.
    Timestamps(u32, u32),
    /// Any other option: kind and data.
    Unknown(u8, &'a [u8]),
}

/// Why option bytes do not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// An option's length byte is missing, below 2, or runs past the options.
    #[error("option kind {kind} at offset {offset} has bad length {len}")]
    BadLength {
        /// Option kind.
        kind: u8,
        /// Offset of the option within the option bytes.
        offset: usize,
        /// Its length byte (0 when missing).
        len: usize,
    },
    /// A known option with a length other than its fixed one.
    #[error("option kind {kind} at offset {offset} must be {expected} bytes, is {len}")]
    WrongSize {
        /// Option kind.
        kind: u8,
        /// Offset within the option bytes.
        offset: usize,
        /// Length found.
        len: usize,
        /// Length required.
        expected: usize,
    },
}

/// The MSS a side assumes of a peer whose SYN offered none (RFC 9293 3.7.1): every IPv4 host
/// takes 576-byte datagrams.
pub const DEFAULT_MSS: u16 = 536;

/// The least MSS a SYN may offer and be taken at its word: Linux's `TCP_MIN_MSS`, below which
/// its stack neither advertises nor clamps. A real SYN may offer less than [`DEFAULT_MSS`] (old
/// stacks' 512, tunnels' clamped values); a value below this one is no stack's.
pub const MIN_MSS: u16 = 88;

/// The MSS a SYN with option bytes `opts` offers, read leniently: its MSS option's value, else
/// [`DEFAULT_MSS`].
pub fn offered_mss(opts: &[u8]) -> u16 {
    options_lenient(opts)
        .find_map(|(kind, data)| match (kind, data) {
            (option_kind::MSS, &[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
            _ => None,
        })
        .unwrap_or(DEFAULT_MSS)
}

/// Walks option bytes leniently, as a receiver or a reader of generated bits must: yields each
/// option's kind and data (NOP with no data), and stops at EOL, at a missing or too small
/// length byte, or at an option that runs past the end. Unlike [`parse_options`] it never fails.
pub fn options_lenient(opts: &[u8]) -> OptionsLenient<'_> {
    OptionsLenient { opts, at: 0 }
}

/// The iterator of [`options_lenient`].
#[derive(Debug, Clone)]
pub struct OptionsLenient<'a> {
    opts: &'a [u8],
    at: usize,
}

impl<'a> Iterator for OptionsLenient<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let kind = *self.opts.get(self.at)?;
        match kind {
            option_kind::EOL => {
                self.at = self.opts.len();
                None
            }
            option_kind::NOP => {
                self.at += 1;
                Some((kind, &[]))
            }
            _ => {
                let len = usize::from(*self.opts.get(self.at + 1)?);
                let data = (len >= 2)
                    .then(|| self.opts.get(self.at + 2..self.at + len))
                    .flatten();
                match data {
                    Some(d) => {
                        self.at += len;
                        Some((kind, d))
                    }
                    None => {
                        self.at = self.opts.len();
                        None
                    }
                }
            }
        }
    }
}

/// Parses option bytes strictly: every option must have a valid length, known kinds their exact
/// size, SACK a whole number of blocks. Parsing stops at EOL.
pub fn parse_options(opts: &[u8]) -> Result<Vec<TcpOption<'_>>, OptionError> {
    let mut out = Vec::new();
    parse_options_into(opts, &mut out)?;
    Ok(out)
}

/// Parses option bytes as [`parse_options`] does, appending each option to `out` as it goes, so
/// the options before a malformed one are kept when it returns an error.
pub fn parse_options_into<'a>(
    opts: &'a [u8],
    out: &mut Vec<TcpOption<'a>>,
) -> Result<(), OptionError> {
    use option_kind::*;
    let mut i = 0;
    while i < opts.len() {
        let kind = opts[i];
        match kind {
            EOL => {
                out.push(TcpOption::Eol);
                break;
            }
            NOP => {
                out.push(TcpOption::Nop);
                i += 1;
                continue;
            }
            _ => {}
        }
        let len = usize::from(*opts.get(i + 1).unwrap_or(&0));
        if len < 2 || i + len > opts.len() {
            return Err(OptionError::BadLength {
                kind,
                offset: i,
                len,
            });
        }
        let data = &opts[i + 2..i + len];
        let exact = |expected: usize| {
            if len == expected {
                Ok(())
            } else {
                Err(OptionError::WrongSize {
                    kind,
                    offset: i,
                    len,
                    expected,
                })
            }
        };
        let opt = match kind {
            MSS => {
                exact(4)?;
                TcpOption::Mss(be16(data, 0..2))
            }
            WINDOW_SCALE => {
                exact(3)?;
                TcpOption::WindowScale(data[0])
            }
            SACK_PERMITTED => {
                exact(2)?;
                TcpOption::SackPermitted
            }
            SACK => {
                if (len - 2) % 8 != 0 || len == 2 {
                    return Err(OptionError::WrongSize {
                        kind,
                        offset: i,
                        len,
                        expected: 10,
                    });
                }
                TcpOption::Sack(
                    data.chunks_exact(8)
                        .map(|c| (be32(c, 0..4), be32(c, 4..8)))
                        .collect(),
                )
            }
            TIMESTAMPS => {
                exact(10)?;
                TcpOption::Timestamps(be32(data, 0..4), be32(data, 4..8))
            }
            _ => TcpOption::Unknown(kind, data),
        };
        out.push(opt);
        i += len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_and_syn_options() {
        // SYN with MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
        let mut seg = vec![
            0xc3, 0x50, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0, 0, 0, 0, 0,
        ];
        seg.extend_from_slice(&[
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        let t = TcpPacket::new_checked(&seg[..]).unwrap();
        assert_eq!(t.src_port(), 50000);
        assert_eq!(t.dst_port(), 443);
        assert_eq!(t.header_len(), 40);
        assert!(t.has(flags::SYN));
        assert!(!t.has(flags::ACK));
        let o = parse_options(t.options()).unwrap();
        assert_eq!(
            o,
            vec![
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps(9, 0),
                TcpOption::Nop,
                TcpOption::WindowScale(7)
            ]
        );
    }

    #[test]
    fn lenient_walk_skips_option_data_and_stops_at_trouble() {
        // A SACK block whose edges hold the bytes 8, 10 is not a timestamp option.
        let opts = [
            1, 1, 5, 10, 0, 8, 10, 0, 0, 0, 0, 0, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 0,
        ];
        let kinds: Vec<(u8, usize)> = options_lenient(&opts).map(|(k, d)| (k, d.len())).collect();
        assert_eq!(kinds, [(1, 0), (1, 0), (5, 8), (8, 8)]);
        assert_eq!(
            options_lenient(&[2, 1, 5, 180]).count(),
            0,
            "length below 2"
        );
        assert_eq!(
            options_lenient(&[1, 3, 9, 0]).count(),
            1,
            "runs past the end"
        );
        assert_eq!(options_lenient(&[0, 2, 4]).count(), 0, "EOL");
    }

    #[test]
    fn rejects_bad_options_and_short_headers() {
        assert!(parse_options(&[2, 4, 5]).is_err()); // runs past the end
        assert!(parse_options(&[3, 4, 7, 0]).is_err()); // window scale of length 4
        assert!(parse_options(&[5, 6, 0, 0, 0, 0]).is_err()); // SACK not a whole block
        assert!(parse_options(&[8, 1]).is_err()); // length below 2
        assert_eq!(
            parse_options(&[1, 0, 99, 99]).unwrap(),
            vec![TcpOption::Nop, TcpOption::Eol]
        );
        let mut seg = [0u8; 20];
        seg[12] = 0x40; // data offset 4
        assert!(TcpPacket::new_checked(&seg[..]).is_err());
        seg[12] = 0x60; // data offset 6 in a 20-byte buffer
        assert!(TcpPacket::new_checked(&seg[..]).is_err());
        assert!(TcpPacket::new_checked(&seg[..19]).is_err());
    }

    #[test]
    fn repr_round_trips_and_fills_the_checksum() {
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 19, 0, 1));
        let repr = TcpRepr {
            src_port: 50000,
            dst_port: 443,
            seq: 1,
            ack: 2,
            flags: flags::SYN | flags::ACK,
            window: 64240,
            urgent: 0,
            options: &[2, 4, 0x05, 0xb4, 1, 1, 4, 2],
        };
        let mut buf = [0xeeu8; 31];
        let mut seg = TcpPacket::new_unchecked(&mut buf[..]);
        repr.emit(&mut seg);
        seg.fill_checksum(src, dst);
        assert_eq!(buf[repr.buffer_len()..], [0xee; 3], "payload untouched");
        let seg = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(seg.header_len(), 28);
        assert_eq!(TcpRepr::parse(&seg).unwrap(), repr);
        assert_eq!(checksum::verify_v4(src, dst, IpProtocol::Tcp, &buf), 0);
    }
}
