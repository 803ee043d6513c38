//! Reading a generated row: its blocks as bytes (vacant bits read as 0) and how populated
//! each block is.

use crate::nprint::layout::{Bit, Block, Layout, STANDARD_WIDTH, VACANT};
use crate::wire::icmp::IcmpPacket;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::udp::UdpPacket;

/// One generated packet's blocks as bytes.
#[derive(Debug, Clone)]
pub struct GeneratedRow {
    /// IPv4 block (60 bytes).
    pub ipv4: [u8; 60],
    /// TCP block (60 bytes).
    pub tcp: [u8; 60],
    /// UDP block.
    pub udp: [u8; 8],
    /// ICMP block.
    pub icmp: [u8; 8],
    /// Populated (non-vacant) bits in the TCP, UDP and ICMP blocks.
    pub populated: [usize; 3],
    /// Whether the IPv4 source and destination address bits are populated.
    pub has_addresses: bool,
}

fn pack<const N: usize>(bits: &[Bit]) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, chunk) in bits.chunks(8).take(N).enumerate() {
        let mut b = 0u8;
        for (j, &v) in chunk.iter().enumerate() {
            if v == 1 {
                b |= 0x80 >> j;
            }
        }
        out[i] = b;
    }
    out
}

impl GeneratedRow {
    /// Reads a standard-layout row (1088 values).
    pub fn read(row: &[Bit]) -> GeneratedRow {
        debug_assert_eq!(row.len(), STANDARD_WIDTH);
        let l = Layout::STANDARD;
        let block = |b: Block| {
            let at = l.offset(b).unwrap_or(0);
            &row[at..at + l.block_bits(b)]
        };
        let populated = |bits: &[Bit]| bits.iter().filter(|&&b| b != VACANT).count();
        let ip = block(Block::Ipv4);
        GeneratedRow {
            ipv4: pack(ip),
            tcp: pack(block(Block::Tcp)),
            udp: pack(block(Block::Udp)),
            icmp: pack(block(Block::Icmp)),
            populated: [
                populated(block(Block::Tcp)),
                populated(block(Block::Udp)),
                populated(block(Block::Icmp)),
            ],
            has_addresses: ip[96..160].iter().all(|&b| b != VACANT),
        }
    }

    /// The IPv4 block as a header view.
    pub fn ip(&self) -> Ipv4Packet<&[u8]> {
        Ipv4Packet::new_unchecked(&self.ipv4[..])
    }

    /// The TCP block as a header view.
    pub fn tcp(&self) -> TcpPacket<&[u8]> {
        TcpPacket::new_unchecked(&self.tcp[..])
    }

    /// The UDP block as a header view.
    pub fn udp(&self) -> UdpPacket<&[u8]> {
        UdpPacket::new_unchecked(&self.udp[..])
    }

    /// The ICMP block as a header view.
    pub fn icmp(&self) -> IcmpPacket<&[u8]> {
        IcmpPacket::new_unchecked(&self.icmp[..])
    }

    /// The generated TCP option bytes (up to the generated data offset, at most 40).
    pub fn tcp_options(&self) -> &[u8] {
        let end = self
            .tcp()
            .header_len()
            .clamp(tcp::MIN_HEADER_LEN, tcp::MAX_HEADER_LEN);
        &self.tcp[tcp::field::OPTIONS..end]
    }

    /// Payload length the generated lengths imply for a transport header of `l4_len` bytes:
    /// total length − IHL·4 − `l4_len`, never negative.
    pub fn payload_len(&self, l4_len: usize) -> usize {
        let ip = self.ip();
        usize::from(ip.total_len()).saturating_sub(ip.header_len().max(20) + l4_len)
    }
}

/// True when every value of `row` is vacant (padding).
pub fn is_vacant_row(row: &[Bit]) -> bool {
    row.iter().all(|&b| b == VACANT)
}
