//! IPv6 fixed header view (RFC 8200). netdiffd encodes the fixed header for nPrint
//! compatibility; it does not walk extension headers.

use super::{be16, need, IpProtocol, WireError};
use std::net::Ipv6Addr;

/// Length of the IPv6 fixed header.
pub const HEADER_LEN: usize = 40;

/// Where each field of the IPv6 fixed header sits, in bytes from the start of the header.
pub mod field {
    use crate::wire::Field;

    /// Version (high nibble), traffic class and flow label.
    pub const VER_TC_FLOW: Field = 0..4;
    /// Payload length: bytes after the fixed header.
    pub const LENGTH: Field = 4..6;
    /// Next header.
    pub const NXT_HDR: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC_ADDR: Field = 8..24;
    /// Destination address.
    pub const DST_ADDR: Field = 24..40;
}

/// A view of an IPv6 packet over a byte buffer.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` after checking version 6 and a complete fixed header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need("IPv6", buffer.as_ref().len(), HEADER_LEN)?;
        let v = buffer.as_ref()[field::VER_TC_FLOW.start] >> 4;
        if v != 6 {
            return Err(WireError::Malformed {
                proto: "IPv6",
                field: "version",
                value: u32::from(v),
            });
        }
        Ok(Ipv6Packet { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// The 40 header bytes.
    pub fn header(&self) -> &[u8] {
        &self.b()[..HEADER_LEN]
    }
    /// Payload length field.
    pub fn payload_len(&self) -> u16 {
        be16(self.b(), field::LENGTH)
    }
    /// Next header (the upper-layer protocol when there are no extension headers).
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.b()[field::NXT_HDR])
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }
    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[field::SRC_ADDR]);
        Ipv6Addr::from(a)
    }
    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.b()[field::DST_ADDR]);
        Ipv6Addr::from(a)
    }
    /// Bytes after the fixed header, bounded by the payload length and the buffer.
    pub fn payload(&self) -> &[u8] {
        let b = self.b();
        let end = (HEADER_LEN + usize::from(self.payload_len())).min(b.len());
        &b[HEADER_LEN..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_version_and_length() {
        let mut b = [0u8; 48];
        b[0] = 0x60;
        b[5] = 8;
        b[6] = 17;
        b[23] = 1;
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.next_header(), IpProtocol::Udp);
        assert_eq!(p.payload().len(), 8);
        assert_eq!(p.src_addr(), "::1".parse::<Ipv6Addr>().unwrap());
        assert!(Ipv6Packet::new_checked(&b[..39]).is_err());
        b[0] = 0x40;
        assert!(Ipv6Packet::new_checked(&b[..]).is_err());
    }
}
