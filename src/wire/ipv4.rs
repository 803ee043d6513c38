//! IPv4 header view (RFC 791).

use super::{be16, checksum, need, put16, IpProtocol, WireError};
use std::net::Ipv4Addr;

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Longest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

/// Where each field of the IPv4 header sits, in bytes from the start of the header.
pub mod field {
    use crate::wire::Field;

    /// Version (high nibble) and IHL, the header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// Type of service: DSCP (high 6 bits) and ECN (low 2 bits).
    pub const TOS: usize = 1;
    /// Total length of the datagram, header included.
    pub const LENGTH: Field = 2..4;
    /// Identification.
    pub const IDENT: Field = 4..6;
    /// Flags (reserved, DF, MF; the top 3 bits) and fragment offset (the low 13 bits).
    pub const FLG_OFF: Field = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Upper-layer protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Field = 10..12;
    /// Source address.
    pub const SRC_ADDR: Field = 12..16;
    /// Destination address.
    pub const DST_ADDR: Field = 16..20;
    /// Options, from the end of the fixed header to the end of the header (IHL × 4).
    pub const OPTIONS: usize = 20;
}

/// A view of an IPv4 packet over a byte buffer.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without checks; accessors may panic on a short buffer.
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after checking that it holds a version-4 header whose IHL is at least 5
    /// and whose whole header (options included) is inside the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        need("IPv4", b.len(), MIN_HEADER_LEN)?;
        let p = Ipv4Packet { buffer };
        if p.version() != 4 {
            return Err(WireError::Malformed {
                proto: "IPv4",
                field: "version",
                value: u32::from(p.version()),
            });
        }
        if p.header_len() < MIN_HEADER_LEN {
            return Err(WireError::Malformed {
                proto: "IPv4",
                field: "ihl",
                value: (p.header_len() / 4) as u32,
            });
        }
        need("IPv4", p.buffer.as_ref().len(), p.header_len())?;
        Ok(p)
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// IP version (4).
    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::VER_IHL] & 0x0f) * 4
    }
    /// Type of service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }
    /// Total length field.
    pub fn total_len(&self) -> u16 {
        be16(self.b(), field::LENGTH)
    }
    /// Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.b(), field::IDENT)
    }
    /// Reserved flag bit.
    pub fn reserved_flag(&self) -> bool {
        self.b()[field::FLG_OFF.start] & 0x80 != 0
    }
    /// Don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.b()[field::FLG_OFF.start] & 0x40 != 0
    }
    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.b()[field::FLG_OFF.start] & 0x20 != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.b(), field::FLG_OFF) & 0x1fff
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }
    /// Upper-layer protocol.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.b()[field::PROTOCOL])
    }
    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        addr(&self.b()[field::SRC_ADDR])
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr(&self.b()[field::DST_ADDR])
    }
    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        &self.b()[..self.header_len()]
    }
    /// The options bytes (empty when IHL is 5).
    pub fn options(&self) -> &[u8] {
        &self.b()[field::OPTIONS..self.header_len()]
    }
    /// True when the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }
    /// The bytes after the header, up to the total length or the end of the buffer, whichever
    /// comes first (captures may cut packets short or pad them).
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let end = usize::from(self.total_len()).clamp(self.header_len(), b.len());
        &b[self.header_len()..end]
    }
    /// Bytes the total length claims beyond the header (0 when it claims less than the header).
    pub fn claimed_payload_len(&self) -> usize {
        usize::from(self.total_len()).saturating_sub(self.header_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn bm(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }
    /// Sets version 4 and the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.bm()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    /// Sets the type of service byte.
    pub fn set_tos(&mut self, v: u8) {
        self.bm()[field::TOS] = v;
    }
    /// Sets the total length.
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.bm(), field::LENGTH, v);
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        put16(self.bm(), field::IDENT, v);
    }
    /// Sets the flags (reserved, DF, MF) and the fragment offset.
    pub fn set_flags_and_offset(&mut self, reserved: bool, df: bool, mf: bool, offset: u16) {
        let v = (u16::from(reserved) << 15)
            | (u16::from(df) << 14)
            | (u16::from(mf) << 13)
            | (offset & 0x1fff);
        put16(self.bm(), field::FLG_OFF, v);
    }
    /// Sets the time to live.
    pub fn set_ttl(&mut self, v: u8) {
        self.bm()[field::TTL] = v;
    }
    /// Sets the upper-layer protocol.
    pub fn set_protocol(&mut self, v: IpProtocol) {
        self.bm()[field::PROTOCOL] = v.into();
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.bm()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.bm()[field::DST_ADDR].copy_from_slice(&a.octets());
    }
    /// Recomputes the header checksum over the header as it stands.
    pub fn fill_checksum(&mut self) {
        put16(self.bm(), field::CHECKSUM, 0);
        let c = checksum::checksum(self.header());
        put16(self.bm(), field::CHECKSUM, c);
    }
}

/// The address in a 4-byte address field.
fn addr(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// An IPv4 header without options, as plain values: what [`Ipv4Repr::emit`] writes into a
/// buffer and [`Ipv4Repr::parse`] reads from a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Upper-layer protocol.
    pub protocol: IpProtocol,
    /// Bytes after the header: the total length less the 20-byte header.
    pub payload_len: usize,
    /// Type of service byte (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't-fragment flag.
    pub dont_frag: bool,
    /// Time to live.
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Reads the header of `packet` (a view that passed `new_checked`). It refuses what the
    /// representation cannot carry: options, the reserved or more-fragments flag, a fragment
    /// offset, a total length below the header. The checksum is not verified (see
    /// [`Ipv4Packet::verify_checksum`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Ipv4Repr, WireError> {
        let malformed = |field, value| WireError::Malformed {
            proto: "IPv4",
            field,
            value,
        };
        if packet.header_len() != MIN_HEADER_LEN {
            return Err(malformed("ihl", (packet.header_len() / 4) as u32));
        }
        if packet.reserved_flag() || packet.more_frags() || packet.frag_offset() != 0 {
            let flags_and_offset = be16(packet.b(), field::FLG_OFF);
            return Err(malformed("flags and offset", u32::from(flags_and_offset)));
        }
        let payload_len = usize::from(packet.total_len())
            .checked_sub(MIN_HEADER_LEN)
            .ok_or_else(|| malformed("total length", u32::from(packet.total_len())))?;
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len,
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            ttl: packet.ttl(),
        })
    }

    /// Bytes [`emit`](Self::emit) writes: the 20-byte header (the payload follows it).
    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Writes the header into the first [`buffer_len`](Self::buffer_len) bytes of `packet`
    /// (IHL 5, total length 20 + `payload_len`, no fragmentation), checksum filled; the payload
    /// bytes are left as they are. Panics when the buffer is shorter than the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - MIN_HEADER_LEN);
        packet.set_version_and_header_len(MIN_HEADER_LEN);
        packet.set_tos(self.tos);
        packet.set_total_len((MIN_HEADER_LEN + self.payload_len) as u16);
        packet.set_ident(self.ident);
        packet.set_flags_and_offset(false, self.dont_frag, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The well-known example IPv4 header (UDP, 192.168.0.1 → 192.168.0.199, checksum 0xb861).
    pub(crate) const EXAMPLE_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn reads_fields() {
        let p = Ipv4Packet::new_checked(&EXAMPLE_HEADER[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Udp);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert!(p.verify_checksum());
        assert!(p.payload().is_empty());
        assert_eq!(p.claimed_payload_len(), 0x73 - 20);
    }

    #[test]
    fn rejects_short_and_bad_headers() {
        assert!(matches!(
            Ipv4Packet::new_checked(&EXAMPLE_HEADER[..19]),
            Err(WireError::Truncated {
                need: 20,
                have: 19,
                ..
            })
        ));
        let mut v6 = EXAMPLE_HEADER;
        v6[0] = 0x65;
        assert!(matches!(
            Ipv4Packet::new_checked(&v6[..]),
            Err(WireError::Malformed {
                field: "version",
                ..
            })
        ));
        let mut ihl = EXAMPLE_HEADER;
        ihl[0] = 0x44;
        assert!(Ipv4Packet::new_checked(&ihl[..]).is_err());
        let mut opts = EXAMPLE_HEADER;
        opts[0] = 0x46; // claims 24 bytes of header in a 20-byte buffer
        assert!(matches!(
            Ipv4Packet::new_checked(&opts[..]),
            Err(WireError::Truncated { need: 24, .. })
        ));
    }

    #[test]
    fn setters_round_trip_and_checksum() {
        let mut buf = [0u8; 20];
        let mut p = Ipv4Packet::new_unchecked(&mut buf[..]);
        p.set_version_and_header_len(20);
        p.set_total_len(40);
        p.set_ident(7);
        p.set_flags_and_offset(false, true, false, 0);
        p.set_ttl(64);
        p.set_protocol(IpProtocol::Tcp);
        p.set_src_addr(Ipv4Addr::new(198, 18, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 19, 0, 1));
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.ident(), 7);
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 19, 0, 1));
    }

    #[test]
    fn repr_round_trips_the_example_header() {
        let p = Ipv4Packet::new_checked(&EXAMPLE_HEADER[..]).unwrap();
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.protocol, IpProtocol::Udp);
        assert_eq!(r.payload_len, 0x73 - 20);
        assert!(r.dont_frag);
        let mut buf = [0xffu8; 24];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(
            buf[..r.buffer_len()],
            EXAMPLE_HEADER,
            "checksum 0xb861 filled in too"
        );
        assert_eq!(buf[20..], [0xff; 4], "payload untouched");
    }

    #[test]
    fn repr_refuses_what_it_cannot_carry() {
        let mut frag = EXAMPLE_HEADER;
        frag[field::FLG_OFF.start] = 0x20; // more fragments
        assert!(Ipv4Repr::parse(&Ipv4Packet::new_checked(&frag[..]).unwrap()).is_err());
        let mut opts = [0u8; 24];
        opts[..20].copy_from_slice(&EXAMPLE_HEADER);
        opts[field::VER_IHL] = 0x46;
        assert!(Ipv4Repr::parse(&Ipv4Packet::new_checked(&opts[..]).unwrap()).is_err());
        let mut short = EXAMPLE_HEADER;
        short[field::LENGTH].copy_from_slice(&19u16.to_be_bytes());
        assert!(Ipv4Repr::parse(&Ipv4Packet::new_checked(&short[..]).unwrap()).is_err());
    }
}
