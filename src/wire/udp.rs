//! UDP header view (RFC 768).

use super::{be16, checksum, need, put16, IpProtocol, WireError};
use std::net::Ipv4Addr;

/// UDP header length.
pub const HEADER_LEN: usize = 8;

/// Where each field of the UDP header sits, in bytes from the start of the header.
pub mod field {
    use crate::wire::Field;

    /// Source port.
    pub const SRC_PORT: Field = 0..2;
    /// Destination port.
    pub const DST_PORT: Field = 2..4;
    /// Length of the datagram, header included.
    pub const LENGTH: Field = 4..6;
    /// Checksum (0: none).
    pub const CHECKSUM: Field = 6..8;
}

/// A view of a UDP datagram over a byte buffer.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without checks.
    pub fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }
    /// Wraps `buffer` after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need("UDP", buffer.as_ref().len(), HEADER_LEN)?;
        Ok(UdpPacket { buffer })
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
    /// Length field (header + data).
    pub fn len(&self) -> u16 {
        be16(self.b(), field::LENGTH)
    }
    /// True when the length field is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checksum field (0 = none).
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }
    /// The 8 header bytes.
    pub fn header(&self) -> &[u8] {
        &self.b()[..HEADER_LEN]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets ports, length and checksum.
    pub fn set_fields(&mut self, src: u16, dst: u16, len: u16, checksum: u16) {
        let b = self.buffer.as_mut();
        put16(b, field::SRC_PORT, src);
        put16(b, field::DST_PORT, dst);
        put16(b, field::LENGTH, len);
        put16(b, field::CHECKSUM, checksum);
    }
    /// Sets the ports.
    pub fn set_ports(&mut self, src: u16, dst: u16) {
        let b = self.buffer.as_mut();
        put16(b, field::SRC_PORT, src);
        put16(b, field::DST_PORT, dst);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    /// Computes the checksum under the IPv4 pseudo-header of `src` and `dst` over the whole
    /// buffer (header and data: the buffer must hold exactly the datagram) and stores it, a
    /// computed 0 as 0xffff (RFC 768: 0 means no checksum).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::compute_v4(src, dst, IpProtocol::Udp, self.buffer.as_ref());
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A UDP header as plain values: what [`UdpRepr::emit`] writes into a buffer and
/// [`UdpRepr::parse`] reads from a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Bytes after the header: the length field less the 8-byte header.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads the header of `datagram` (a view that passed `new_checked`). It refuses a length
    /// field below the header's 8 bytes; the checksum is not carried, nor verified.
    pub fn parse<T: AsRef<[u8]>>(datagram: &UdpPacket<T>) -> Result<UdpRepr, WireError> {
        let payload_len =
            usize::from(datagram.len())
                .checked_sub(HEADER_LEN)
                .ok_or(WireError::Malformed {
                    proto: "UDP",
                    field: "length",
                    value: u32::from(datagram.len()),
                })?;
        Ok(UdpRepr {
            src_port: datagram.src_port(),
            dst_port: datagram.dst_port(),
            payload_len,
        })
    }

    /// Bytes [`emit`](Self::emit) writes: the 8-byte header (the data follows it).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 8 bytes of `datagram`, length 8 + `payload_len` and
    /// checksum 0 (none); the data bytes are left as they are. Once they are in place,
    /// [`UdpPacket::fill_checksum`] computes the checksum. Panics when the buffer is shorter
    /// than the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, datagram: &mut UdpPacket<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        let len = (HEADER_LEN + self.payload_len) as u16;
        datagram.set_fields(self.src_port, self.dst_port, len, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_truncation() {
        let mut b = [0u8; 8];
        UdpPacket::new_unchecked(&mut b[..]).set_fields(5353, 53, 8, 0xbeef);
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (u.src_port(), u.dst_port(), u.len(), u.checksum()),
            (5353, 53, 8, 0xbeef)
        );
        assert!(UdpPacket::new_checked(&b[..7]).is_err());
    }

    #[test]
    fn repr_round_trips_and_fills_the_checksum() {
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let repr = UdpRepr {
            src_port: 40000,
            dst_port: 53,
            payload_len: 3,
        };
        let mut b = [0u8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3];
        let mut u = UdpPacket::new_unchecked(&mut b[..]);
        repr.emit(&mut u);
        assert_eq!(u.checksum(), 0);
        u.fill_checksum(src, dst);
        assert_eq!(b[repr.buffer_len()..], [1, 2, 3]);
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(UdpRepr::parse(&u), Ok(repr));
        assert_eq!(checksum::verify_v4(src, dst, IpProtocol::Udp, &b), 0);
        let mut short = b;
        short[field::LENGTH].copy_from_slice(&7u16.to_be_bytes());
        assert!(UdpRepr::parse(&UdpPacket::new_checked(&short[..]).unwrap()).is_err());
    }
}
