//! ICMP (for IPv4) header view (RFC 792): type, code, checksum and the 4-byte rest of header.

use super::{be16, checksum, need, put16, WireError};

/// Length of the fixed ICMP header netdiffd encodes (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = 8;

/// Where each field of the ICMP header sits, in bytes from the start of the header.
pub mod field {
    use crate::wire::Field;

    /// Message type.
    pub const TYPE: usize = 0;
    /// Message code.
    pub const CODE: usize = 1;
    /// Checksum over the whole message.
    pub const CHECKSUM: Field = 2..4;
    /// The rest of the header: its meaning depends on the type.
    pub const REST: Field = 4..8;
    /// Echo identifier (echo request and reply).
    pub const ECHO_IDENT: Field = 4..6;
    /// Echo sequence number (echo request and reply).
    pub const ECHO_SEQNO: Field = 6..8;
}

/// ICMP message types.
pub mod kind {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Router advertisement (RFC 1256).
    pub const ROUTER_ADVERTISEMENT: u8 = 9;
    /// Router solicitation (RFC 1256).
    pub const ROUTER_SOLICITATION: u8 = 10;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP_REQUEST: u8 = 13;
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
}

/// True for an ICMP type/code pair in current use (`check`'s rule, and the errors repair keeps):
/// the types of RFC 792 and RFC 1256 still in use (source quench, information and address-mask
/// messages are deprecated by RFC 6633 and RFC 6918), with the codes IANA lists for them.
pub fn type_code_valid(msg_type: u8, code: u8) -> bool {
    use kind::*;
    match msg_type {
        ECHO_REPLY | ECHO_REQUEST => code == 0,
        DEST_UNREACHABLE => code <= 15,
        REDIRECT => code <= 3,
        ROUTER_ADVERTISEMENT => matches!(code, 0 | 16),
        ROUTER_SOLICITATION => code == 0,
        TIME_EXCEEDED => code <= 1,
        PARAMETER_PROBLEM => code <= 2,
        TIMESTAMP_REQUEST | TIMESTAMP_REPLY => code == 0,
        _ => false,
    }
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
        self.b()[field::TYPE]
    }
    /// Message code.
    pub fn code(&self) -> u8 {
        self.b()[field::CODE]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        be16(self.b(), field::CHECKSUM)
    }
    /// Echo identifier (bytes 4-5 of the header).
    pub fn echo_ident(&self) -> u16 {
        be16(self.b(), field::ECHO_IDENT)
    }
    /// Echo sequence number (bytes 6-7).
    pub fn echo_seq(&self) -> u16 {
        be16(self.b(), field::ECHO_SEQNO)
    }
    /// The rest-of-header word (bytes 4-7), whatever the type.
    pub fn rest(&self) -> [u8; 4] {
        let b = self.b();
        let at = field::REST.start;
        [b[at], b[at + 1], b[at + 2], b[at + 3]]
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
        b[field::TYPE] = msg_type;
        b[field::CODE] = code;
        b[field::REST].copy_from_slice(&rest);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    /// Computes the checksum over the whole buffer (header and data: the buffer must hold
    /// exactly the message) and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// An ICMP header as plain values: what [`IcmpRepr::emit`] writes into a buffer and
/// [`IcmpRepr::parse`] reads from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpRepr {
    /// Echo request (type 8, code 0).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
    },
    /// Echo reply (type 0, code 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
    },
    /// Any other message, an echo with a code other than 0 included.
    Other {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
        /// The rest-of-header word.
        rest: [u8; 4],
    },
}

impl IcmpRepr {
    /// Reads the header of `message` (a view that passed `new_checked`, which is all a header
    /// needs to parse). The checksum is not carried, nor verified.
    pub fn parse<T: AsRef<[u8]>>(message: &IcmpPacket<T>) -> Result<IcmpRepr, WireError> {
        let (ident, seq_no) = (message.echo_ident(), message.echo_seq());
        Ok(match (message.msg_type(), message.code()) {
            (kind::ECHO_REQUEST, 0) => IcmpRepr::EchoRequest { ident, seq_no },
            (kind::ECHO_REPLY, 0) => IcmpRepr::EchoReply { ident, seq_no },
            (msg_type, code) => IcmpRepr::Other {
                msg_type,
                code,
                rest: message.rest(),
            },
        })
    }

    /// Bytes [`emit`](Self::emit) writes: the 8-byte header (the data follows it).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 8 bytes of `message`, checksum 0; the data bytes are
    /// left as they are. Once they are in place, [`IcmpPacket::fill_checksum`] computes the
    /// checksum. Panics when the buffer is shorter than the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, message: &mut IcmpPacket<T>) {
        let echo = |ident: u16, seq_no: u16| {
            let (i, s) = (ident.to_be_bytes(), seq_no.to_be_bytes());
            [i[0], i[1], s[0], s[1]]
        };
        let (msg_type, code, rest) = match *self {
            IcmpRepr::EchoRequest { ident, seq_no } => (kind::ECHO_REQUEST, 0, echo(ident, seq_no)),
            IcmpRepr::EchoReply { ident, seq_no } => (kind::ECHO_REPLY, 0, echo(ident, seq_no)),
            IcmpRepr::Other {
                msg_type,
                code,
                rest,
            } => (msg_type, code, rest),
        };
        message.set_fields(msg_type, code, rest);
        message.set_checksum(0);
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

    #[test]
    fn repr_round_trips_and_fills_the_checksum() {
        let b = [8u8, 0, 0xf7, 0xfd, 0x12, 0x34, 0x00, 0x02];
        let repr = IcmpRepr::parse(&IcmpPacket::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(
            repr,
            IcmpRepr::EchoRequest {
                ident: 0x1234,
                seq_no: 2
            }
        );
        let mut out = [0xaau8; 8];
        let mut m = IcmpPacket::new_unchecked(&mut out[..]);
        repr.emit(&mut m);
        m.fill_checksum();
        assert_eq!(out[..2], b[..2]);
        assert_eq!(out[field::CHECKSUM], [0xe5, 0xc9]);
        assert_eq!(out[field::REST], b[field::REST]);
        assert_eq!(checksum::checksum(&out), 0);
        let unreachable = [3u8, 1, 0, 0, 0, 0, 0x05, 0xdc];
        let repr = IcmpRepr::parse(&IcmpPacket::new_checked(&unreachable[..]).unwrap()).unwrap();
        assert!(
            matches!(repr, IcmpRepr::Other { msg_type: 3, code: 1, rest } if rest == [0, 0, 5, 0xdc])
        );
    }
}
