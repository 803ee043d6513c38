//! ICMP messages of repaired flows: each packet keeps the kind of message it was generated as
//! — an echo or timestamp query (request from the client, reply from the server), or an error
//! (destination unreachable, time exceeded) quoting the datagram that caused it — and gets the
//! body that kind carries.

use super::generated::GeneratedRow;
use super::Side;
use crate::wire::icmp::{kind, type_code_valid, IcmpRepr};
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::udp::{self, UdpPacket, UdpRepr};
use crate::wire::{ipv4, IpProtocol};

/// The data of a timestamp message: originate, receive and transmit timestamps.
const TIMESTAMP_DATA: usize = 12;
/// Destination unreachable's "fragmentation needed" code, which carries the next-hop MTU.
const FRAG_NEEDED: u8 = 4;
/// The least an error quotes: the datagram's IPv4 header and its first 8 bytes.
const MIN_QUOTE: usize = ipv4::MIN_HEADER_LEN + 8;
/// The most an error carries after its header: an ICMP error is at most 576 bytes (RFC 1812
/// 4.3.2.3), less its IPv4 and ICMP headers.
const MAX_QUOTE: usize = 576 - ipv4::MIN_HEADER_LEN - 8;

/// The kind of ICMP message a packet is built as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Message {
    /// Echo request (from the client) or reply (from the server).
    Echo,
    /// Timestamp request or reply.
    Timestamp,
    /// An error about a UDP datagram the receiver of the error had sent: destination
    /// unreachable (type 3, codes 0-15) or time exceeded (type 11, codes 0-1).
    Error {
        /// ICMP type.
        msg_type: u8,
        /// ICMP code.
        code: u8,
    },
}

impl Message {
    /// The message a generated row asks for, and whether it was kept: a type and code repair
    /// does not build becomes an echo.
    pub(super) fn of(row: &GeneratedRow) -> (Message, bool) {
        let h = row.icmp();
        match (h.msg_type(), h.code()) {
            (kind::ECHO_REQUEST | kind::ECHO_REPLY, 0) => (Message::Echo, true),
            (kind::TIMESTAMP_REQUEST | kind::TIMESTAMP_REPLY, 0) => (Message::Timestamp, true),
            (t @ (kind::DEST_UNREACHABLE | kind::TIME_EXCEEDED), code)
                if type_code_valid(t, code) =>
            {
                (Message::Error { msg_type: t, code }, true)
            }
            _ => (Message::Echo, false),
        }
    }

    /// The data length the message carries, from the generated one: a timestamp's 12 bytes;
    /// for an error the quoted datagram, at least its header and 8 bytes and at most what
    /// keeps the error within 576 bytes; an echo's as generated. `max` is what the MTU
    /// leaves.
    pub(super) fn data_len(self, generated: usize, max: usize) -> usize {
        match self {
            Message::Echo => generated,
            Message::Timestamp => TIMESTAMP_DATA,
            Message::Error { .. } => generated.clamp(MIN_QUOTE, MAX_QUOTE.min(max)),
        }
    }
}

/// One ICMP packet to write.
pub(super) struct IcmpPacketPlan<'a> {
    /// Its message kind.
    pub message: Message,
    /// Sent by the client (a request).
    pub request: bool,
    /// The sending side and its peer.
    pub me: &'a Side,
    /// The receiving side.
    pub peer: &'a Side,
    /// Query identifier and sequence number.
    pub ident: u16,
    /// Query sequence number.
    pub seq_no: u16,
    /// Milliseconds since midnight UT of this packet (timestamp messages).
    pub ms_of_day: u32,
    /// The originate timestamp of the request a timestamp reply answers.
    pub originate: u32,
    /// The next-hop MTU a "fragmentation needed" error announces.
    pub mtu: u16,
}

impl IcmpPacketPlan<'_> {
    /// The header to emit, and writes the message's data into `data` (its length already
    /// decided by [`Message::data_len`]): a timestamp's three times, an error's quoted UDP
    /// datagram (from the error's receiver to its sender, checksums correct); an echo's data
    /// is left as filled.
    pub(super) fn header(&self, data: &mut [u8]) -> IcmpRepr {
        let (ident, seq_no) = (self.ident, self.seq_no);
        let query = |t: u8| {
            let (i, s) = (ident.to_be_bytes(), seq_no.to_be_bytes());
            IcmpRepr::Other {
                msg_type: t,
                code: 0,
                rest: [i[0], i[1], s[0], s[1]],
            }
        };
        match self.message {
            Message::Echo if self.request => IcmpRepr::EchoRequest { ident, seq_no },
            Message::Echo => IcmpRepr::EchoReply { ident, seq_no },
            Message::Timestamp => {
                let (originate, received) = if self.request {
                    (self.ms_of_day, 0)
                } else {
                    (self.originate, self.ms_of_day)
                };
                if data.len() >= TIMESTAMP_DATA {
                    data[0..4].copy_from_slice(&originate.to_be_bytes());
                    data[4..8].copy_from_slice(&received.to_be_bytes());
                    data[8..12].copy_from_slice(&received.to_be_bytes());
                }
                query(if self.request {
                    kind::TIMESTAMP_REQUEST
                } else {
                    kind::TIMESTAMP_REPLY
                })
            }
            Message::Error { msg_type, code } => {
                self.quote(data);
                let mut rest = [0u8; 4];
                if (msg_type, code) == (kind::DEST_UNREACHABLE, FRAG_NEEDED) {
                    rest[2..].copy_from_slice(&self.mtu.to_be_bytes());
                }
                IcmpRepr::Other {
                    msg_type,
                    code,
                    rest,
                }
            }
        }
    }

    /// Writes the datagram an error quotes: a UDP datagram the error's receiver sent to its
    /// sender (ports the flow's identifiers), whole, so that its lengths agree with the quote.
    fn quote(&self, data: &mut [u8]) {
        if data.len() < MIN_QUOTE {
            return;
        }
        let ip = Ipv4Repr {
            src_addr: self.peer.addr,
            dst_addr: self.me.addr,
            protocol: IpProtocol::Udp,
            payload_len: data.len() - ipv4::MIN_HEADER_LEN,
            tos: 0,
            ident: self.peer.ip_id,
            dont_frag: true,
            ttl: self.peer.ttl,
        };
        let (ip_hdr, segment) = data.split_at_mut(ipv4::MIN_HEADER_LEN);
        let payload_len = segment.len() - udp::HEADER_LEN;
        let mut u = UdpPacket::new_unchecked(segment);
        UdpRepr {
            src_port: self.peer.port.max(1),
            dst_port: self.me.port.max(1),
            payload_len,
        }
        .emit(&mut u);
        u.fill_checksum(self.peer.addr, self.me.addr);
        ip.emit(&mut Ipv4Packet::new_unchecked(ip_hdr));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lengths_follow_the_message() {
        let error = Message::Error {
            msg_type: 3,
            code: 3,
        };
        assert_eq!(Message::Timestamp.data_len(0, 1472), 12);
        assert_eq!(Message::Echo.data_len(56, 1472), 56);
        assert_eq!(error.data_len(0, 1472), 28);
        assert_eq!(error.data_len(1400, 1472), 548);
        assert_eq!(error.data_len(100, 1472), 100);
    }
}
