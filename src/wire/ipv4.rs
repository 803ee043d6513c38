//! IPv4 header view (RFC 791).

use super::{be16, checksum, need, put16, WireError};
use std::net::Ipv4Addr;

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Longest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

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
        self.b()[0] >> 4
    }
    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[0] & 0x0f) * 4
    }
    /// Type of service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.b()[1]
    }
    /// Total length field.
    pub fn total_len(&self) -> u16 {
        be16(self.b(), 2)
    }
    /// Identification field.
    pub fn ident(&self) -> u16 {
        be16(self.b(), 4)
    }
    /// Reserved flag bit.
    pub fn reserved_flag(&self) -> bool {
        self.b()[6] & 0x80 != 0
    }
    /// Don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.b()[6] & 0x40 != 0
    }
    /// More-fragments flag.
    pub fn more_frags(&self) -> bool {
        self.b()[6] & 0x20 != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.b(), 6) & 0x1fff
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.b()[8]
    }
    /// Upper-layer protocol number.
    pub fn protocol(&self) -> u8 {
        self.b()[9]
    }
    /// Header checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 10)
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = self.b();
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }
    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        &self.b()[..self.header_len()]
    }
    /// The options bytes (empty when IHL is 5).
    pub fn options(&self) -> &[u8] {
        &self.b()[MIN_HEADER_LEN..self.header_len()]
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
        self.bm()[0] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    /// Sets the type of service byte.
    pub fn set_tos(&mut self, v: u8) {
        self.bm()[1] = v;
    }
    /// Sets the total length.
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.bm(), 2, v);
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        put16(self.bm(), 4, v);
    }
    /// Sets the flags (reserved, DF, MF) and the fragment offset.
    pub fn set_flags_and_offset(&mut self, reserved: bool, df: bool, mf: bool, offset: u16) {
        let v = (u16::from(reserved) << 15)
            | (u16::from(df) << 14)
            | (u16::from(mf) << 13)
            | (offset & 0x1fff);
        put16(self.bm(), 6, v);
    }
    /// Sets the time to live.
    pub fn set_ttl(&mut self, v: u8) {
        self.bm()[8] = v;
    }
    /// Sets the protocol number.
    pub fn set_protocol(&mut self, v: u8) {
        self.bm()[9] = v;
    }
    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.bm()[12..16].copy_from_slice(&a.octets());
    }
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.bm()[16..20].copy_from_slice(&a.octets());
    }
    /// Recomputes the header checksum over the header as it stands.
    pub fn fill_checksum(&mut self) {
        put16(self.bm(), 10, 0);
        let c = checksum::checksum(self.header());
        put16(self.bm(), 10, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn reads_fields() {
        let p = Ipv4Packet::new_checked(&HDR[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert!(p.verify_checksum());
        assert!(p.payload().is_empty());
        assert_eq!(p.claimed_payload_len(), 0x73 - 20);
    }

    #[test]
    fn rejects_short_and_bad_headers() {
        assert!(matches!(
            Ipv4Packet::new_checked(&HDR[..19]),
            Err(WireError::Truncated {
                need: 20,
                have: 19,
                ..
            })
        ));
        let mut v6 = HDR;
        v6[0] = 0x65;
        assert!(matches!(
            Ipv4Packet::new_checked(&v6[..]),
            Err(WireError::Malformed {
                field: "version",
                ..
            })
        ));
        let mut ihl = HDR;
        ihl[0] = 0x44;
        assert!(Ipv4Packet::new_checked(&ihl[..]).is_err());
        let mut opts = HDR;
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
        p.set_protocol(6);
        p.set_src_addr(Ipv4Addr::new(198, 18, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 19, 0, 1));
        p.fill_checksum();
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.ident(), 7);
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 19, 0, 1));
    }
}
