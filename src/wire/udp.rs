//! UDP header view (RFC 768).

use super::{be16, need, put16, WireError};

/// UDP header length.
pub const HEADER_LEN: usize = 8;

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
        be16(self.b(), 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        be16(self.b(), 2)
    }
    /// Length field (header + data).
    pub fn len(&self) -> u16 {
        be16(self.b(), 4)
    }
    /// True when the length field is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checksum field (0 = none).
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 6)
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
        put16(b, 0, src);
        put16(b, 2, dst);
        put16(b, 4, len);
        put16(b, 6, checksum);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 6, v);
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
}
