//! ICMP (for IPv4) header view (RFC 792): type, code, checksum and the 4-byte rest of header.

use super::{be16, need, put16, WireError};

/// Length of the fixed ICMP header netdiffd encodes (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = 8;

/// ICMP message types.
pub mod kind {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
}

/// A view of an ICMP message over a byte buffer.
#[derive(Debug, Clone, Copy)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps `buffer` without checks.
    pub fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }
    /// Wraps `buffer` after checking it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        need("ICMP", buffer.as_ref().len(), HEADER_LEN)?;
        Ok(IcmpPacket { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }
    /// Message type.
    pub fn msg_type(&self) -> u8 {
        self.b()[0]
    }
    /// Message code.
    pub fn code(&self) -> u8 {
        self.b()[1]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), 2)
    }
    /// Echo identifier (bytes 4-5 of the header).
    pub fn echo_ident(&self) -> u16 {
        be16(self.b(), 4)
    }
    /// Echo sequence number (bytes 6-7).
    pub fn echo_seq(&self) -> u16 {
        be16(self.b(), 6)
    }
    /// True for echo request and reply, the messages that carry an identifier.
    pub fn is_echo(&self) -> bool {
        matches!(self.msg_type(), kind::ECHO_REQUEST | kind::ECHO_REPLY)
    }
    /// The 8 header bytes.
    pub fn header(&self) -> &[u8] {
        &self.b()[..HEADER_LEN]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    /// Sets type, code and the rest-of-header word.
    pub fn set_fields(&mut self, msg_type: u8, code: u8, rest: [u8; 4]) {
        let b = self.buffer.as_mut();
        b[0] = msg_type;
        b[1] = code;
        b[4..8].copy_from_slice(&rest);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_fields() {
        let b = [8u8, 0, 0xf7, 0xfd, 0x12, 0x34, 0x00, 0x02];
        let i = IcmpPacket::new_checked(&b[..]).unwrap();
        assert!(i.is_echo());
        assert_eq!(i.echo_ident(), 0x1234);
        assert_eq!(i.echo_seq(), 2);
        assert!(IcmpPacket::new_checked(&b[..7]).is_err());
    }
}
