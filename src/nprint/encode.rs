//! Encoding a dissected packet as nPrint bits, exactly as the nPrint tool does: each enabled
//! block holds the header's bytes MSB first, a block whose header is absent is all fill, and the
//! IPv4 and TCP blocks copy the real header (options included, up to IHL·4 or data offset·4) and
//! fill the rest of their 60 bytes.

use super::layout::{Bit, Block, Layout};
use crate::capture::{Dissected, L3, L4};

/// A run of a row: header bytes to spell out bit by bit, or a number of fill bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Real bytes.
    Bytes(&'a [u8]),
    /// Bytes with no header behind them (each becomes 8 fill values).
    Fill(usize),
}

/// Appends the segments of one packet's row under `layout` to `out`.
pub fn segments<'a>(layout: &Layout, pkt: &Dissected<'a>, out: &mut Vec<Segment<'a>>) {
    for block in layout.block_iter() {
        let width = match block {
            Block::Payload => layout.payload_bytes,
            b => b.bytes(),
        };
        let bytes: &'a [u8] = match (block, pkt.l3, pkt.l4) {
            (Block::Eth, ..) => pkt.eth.unwrap_or(&[]),
            (Block::Ipv4, L3::V4(ip), _) => ip.into_inner_header(),
            (Block::Ipv6, L3::V6(ip), _) => ip.into_inner_header(),
            (Block::Tcp, _, L4::Tcp(t)) => t.into_inner_header(),
            (Block::Udp, _, L4::Udp(u)) => u.into_inner_header(),
            (Block::Icmp, _, L4::Icmp(i)) => i.into_inner_header(),
            (Block::Payload, ..) => {
                let n = pkt
                    .payload_len
                    .min(pkt.payload.len())
                    .min(layout.payload_bytes);
                &pkt.payload[..n]
            }
            _ => &[],
        };
        push_block(bytes, width, out);
    }
}

/// Appends a block `width` bytes wide: `bytes` (cut to the width), then fill for the rest.
pub(super) fn push_block<'a>(bytes: &'a [u8], width: usize, out: &mut Vec<Segment<'a>>) {
    let bytes = &bytes[..bytes.len().min(width)];
    if !bytes.is_empty() {
        out.push(Segment::Bytes(bytes));
    }
    if bytes.len() < width {
        out.push(Segment::Fill(width - bytes.len()));
    }
}

/// Appends the bits of `segs` to `out`, writing `fill` for fill bytes.
pub fn segments_to_bits(segs: &[Segment<'_>], fill: Bit, out: &mut Vec<Bit>) {
    for s in segs {
        match *s {
            Segment::Bytes(b) => {
                for &byte in b {
                    for j in (0..8).rev() {
                        out.push(((byte >> j) & 1) as Bit);
                    }
                }
            }
            Segment::Fill(n) => out.extend(std::iter::repeat_n(fill, n * 8)),
        }
    }
}

/// Appends the row of `pkt` under `layout` to `out` (vacant positions get `fill`).
pub fn encode_packet(layout: &Layout, pkt: &Dissected<'_>, fill: Bit, out: &mut Vec<Bit>) {
    let mut segs = Vec::with_capacity(8);
    segments(layout, pkt, &mut segs);
    segments_to_bits(&segs, fill, out);
}

/// Helpers giving the header slice with the buffer's own lifetime (the views' `header()`
/// borrows the view).
trait IntoInnerHeader<'a> {
    fn into_inner_header(self) -> &'a [u8];
}

impl<'a> IntoInnerHeader<'a> for crate::wire::ipv4::Ipv4Packet<&'a [u8]> {
    fn into_inner_header(self) -> &'a [u8] {
        let n = self.header_len();
        &self.into_inner()[..n]
    }
}
impl<'a> IntoInnerHeader<'a> for crate::wire::ipv6::Ipv6Packet<&'a [u8]> {
    fn into_inner_header(self) -> &'a [u8] {
        &self.into_inner()[..crate::wire::ipv6::HEADER_LEN]
    }
}
impl<'a> IntoInnerHeader<'a> for crate::wire::tcp::TcpPacket<&'a [u8]> {
    fn into_inner_header(self) -> &'a [u8] {
        let n = self.header_len();
        &self.into_inner()[..n]
    }
}
impl<'a> IntoInnerHeader<'a> for crate::wire::udp::UdpPacket<&'a [u8]> {
    fn into_inner_header(self) -> &'a [u8] {
        &self.into_inner()[..crate::wire::udp::HEADER_LEN]
    }
}
impl<'a> IntoInnerHeader<'a> for crate::wire::icmp::IcmpPacket<&'a [u8]> {
    fn into_inner_header(self) -> &'a [u8] {
        &self.into_inner()[..crate::wire::icmp::HEADER_LEN]
    }
}
