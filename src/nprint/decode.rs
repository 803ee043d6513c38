//! Decoding nPrint bits back into header bytes: the IPv4 header (with the options its IHL
//! covers), the transport header its protocol field names, and the payload length the total
//! length implies. Decoding does not repair: the bytes are what the bits say (vacant bits read
//! as 0), so encode → decode gives back the same headers.

use super::layout::{Bit, Block, Layout, STANDARD_WIDTH, VACANT};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::IpProtocol;

/// Why a row cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The row has the wrong number of values for the standard layout.
    #[error("row has {0} values, the standard layout has 1088")]
    Width(usize),
    /// Every value of the row is vacant (padding, not a packet).
    #[error("row is all vacant (padding)")]
    Vacant,
    /// The IPv4 version/IHL bits are vacant.
    #[error("row has no IPv4 header (its version and header-length bits are vacant)")]
    NoIpv4,
    /// A header-length field below the minimum.
    #[error("{field} is {value}, below the minimum of 5 words")]
    ShortHeader {
        /// `ipv4_hl` or `tcp_doff`.
        field: &'static str,
        /// The value.
        value: u8,
    },
    /// The protocol field names a protocol the layout cannot carry.
    #[error("ipv4_proto is {}, not TCP (6), UDP (17) or ICMP (1)", u8::from(*.0))]
    Protocol(IpProtocol),
    /// The protocol's block is vacant.
    #[error("ipv4_proto is {} but the {block} block is vacant", u8::from(*proto))]
    MissingTransport {
        /// Protocol.
        proto: IpProtocol,
        /// Block name.
        block: &'static str,
    },
}

/// Header bytes of one decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPacket {
    /// The IPv4 header, options included.
    pub ip_header: Vec<u8>,
    /// The transport header, options included.
    pub l4_header: Vec<u8>,
    /// IP protocol of the transport header.
    pub proto: IpProtocol,
    /// Payload bytes the IPv4 total length implies beyond both headers.
    pub payload_len: usize,
}

impl DecodedPacket {
    /// The IPv4 total length field.
    pub fn total_len(&self) -> u16 {
        Ipv4Packet::new_unchecked(&self.ip_header[..]).total_len()
    }
}

/// Packs `bits` (MSB first; vacant reads as 0) into bytes.
pub fn bits_to_bytes(bits: &[Bit], out: &mut Vec<u8>) {
    for chunk in bits.chunks(8) {
        let mut b = 0u8;
        for (j, &v) in chunk.iter().enumerate() {
            if v == 1 {
                b |= 0x80 >> j;
            }
        }
        out.push(b);
    }
}

fn is_vacant(bits: &[Bit]) -> bool {
    bits.iter().all(|&b| b == VACANT)
}

fn nibble(bits: &[Bit]) -> u8 {
    bits.iter()
        .take(4)
        .fold(0u8, |acc, &b| (acc << 1) | u8::from(b == 1))
}

/// Decodes one row of the standard layout (1088 values).
pub fn decode_row(row: &[Bit]) -> Result<DecodedPacket, DecodeError> {
    if row.len() != STANDARD_WIDTH {
        return Err(DecodeError::Width(row.len()));
    }
    if is_vacant(row) {
        return Err(DecodeError::Vacant);
    }
    let l = Layout::STANDARD;
    let block = |b: Block| {
        let at = l.offset(b).expect("standard layout has every block");
        &row[at..at + l.block_bits(b)]
    };
    let ipv4 = block(Block::Ipv4);
    if is_vacant(&ipv4[..8]) {
        return Err(DecodeError::NoIpv4);
    }
    let ihl = nibble(&ipv4[4..8]);
    if ihl < 5 {
        return Err(DecodeError::ShortHeader {
            field: "ipv4_hl",
            value: ihl,
        });
    }
    let mut ip_header = Vec::with_capacity(60);
    bits_to_bytes(&ipv4[..usize::from(ihl) * 32], &mut ip_header);
    let ip = Ipv4Packet::new_unchecked(&ip_header[..]);
    let proto = ip.protocol();
    let (name, l4bits) = match proto {
        IpProtocol::Tcp => ("TCP", block(Block::Tcp)),
        IpProtocol::Udp => ("UDP", block(Block::Udp)),
        IpProtocol::Icmp => ("ICMP", block(Block::Icmp)),
        other => return Err(DecodeError::Protocol(other)),
    };
    if is_vacant(&l4bits[..32]) {
        return Err(DecodeError::MissingTransport { proto, block: name });
    }
    let l4_len = if proto == IpProtocol::Tcp {
        let doff = nibble(&l4bits[96..100]);
        if doff < 5 {
            return Err(DecodeError::ShortHeader {
                field: "tcp_doff",
                value: doff,
            });
        }
        usize::from(doff) * 4
    } else {
        8
    };
    let mut l4_header = Vec::with_capacity(l4_len);
    bits_to_bytes(&l4bits[..l4_len * 8], &mut l4_header);
    let total = usize::from(ip.total_len());
    let payload_len = total.saturating_sub(ip_header.len() + l4_len);
    Ok(DecodedPacket {
        ip_header,
        l4_header,
        proto,
        payload_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{dissect, Frame, LinkType};
    use crate::nprint::encode_packet;

    fn tcp_packet() -> Vec<u8> {
        let mut p = vec![
            0x46, 0, 0, 52, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 0, 0,
        ];
        p.extend_from_slice(&[
            0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 7, 0, 0, 0, 9, 0x60, 0x18, 0x10, 0, 0, 0, 0, 0,
        ]);
        p.extend_from_slice(&[2, 4, 5, 0xb4]);
        p.extend_from_slice(&[0xaa; 4]);
        p
    }

    #[test]
    fn encode_then_decode_gives_the_headers_back() {
        let data = tcp_packet();
        let f = Frame {
            link: LinkType::Raw,
            data: data.clone(),
            ..Frame::default()
        };
        let d = dissect(&f).unwrap();
        let mut bits = Vec::new();
        encode_packet(&Layout::STANDARD, &d, -1, &mut bits);
        let p = decode_row(&bits).unwrap();
        assert_eq!(p.ip_header, &data[..24]);
        assert_eq!(p.l4_header, &data[24..48]);
        assert_eq!(p.payload_len, 4);
        assert_eq!(p.total_len(), 52);
    }

    #[test]
    fn bad_rows_give_reasons() {
        assert_eq!(decode_row(&[0; 10]), Err(DecodeError::Width(10)));
        assert_eq!(decode_row(&[VACANT; 1088]), Err(DecodeError::Vacant));
        let mut r = vec![VACANT; 1088];
        r[1000] = 1;
        assert_eq!(decode_row(&r), Err(DecodeError::NoIpv4));
        let mut r = vec![0; 1088];
        r[1] = 1; // version 4, IHL 0
        assert!(matches!(
            decode_row(&r),
            Err(DecodeError::ShortHeader { .. })
        ));
        r[5] = 1;
        r[7] = 1; // IHL 5, protocol 0
        assert_eq!(
            decode_row(&r),
            Err(DecodeError::Protocol(IpProtocol::Unknown(0)))
        );
    }
}
