//! Materialising the planned packets: IPv4, TCP/UDP/ICMP headers with correct lengths and
//! checksums, payloads of the planned length, and the per-field change report.

use super::generated::GeneratedRow;
use super::report::RepairReport;
use super::tcp::TcpPlan;
use super::{PacketPlan, RepairSettings, RepairedPacket, Side};
use crate::capture::{dissect, Frame, LinkType};
use crate::flows::Direction;
use crate::nprint::layout::Bit;
use crate::nprint::{encode_packet, Layout};
use crate::wire::checksum;
use crate::wire::icmp::{kind as icmp_kind, IcmpPacket};
use crate::wire::ip_proto;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;

#[allow(clippy::too_many_arguments)]
pub(super) fn build_packets(
    rows: &[GeneratedRow],
    plans: &[PacketPlan],
    tcp: Option<&[TcpPlan]>,
    proto: u8,
    sides: &[Side; 2],
    settings: &RepairSettings,
    report: &mut RepairReport,
    generated_bits: &[&[Bit]],
) -> Vec<RepairedPacket> {
    // IP IDs per direction: each side's first packet keeps its generated ID, and every later
    // packet of that side takes the next one (a per-host counter, as the repair note asks).
    let mut ip_ids = [sides[0].ip_id, sides[1].ip_id];
    let mut icmp_seq: u16 = rows
        .first()
        .map(|r| u16::from_be_bytes([r.icmp[6], r.icmp[7]]))
        .unwrap_or(0);
    let mut out = Vec::with_capacity(plans.len());
    let mut bits = Vec::with_capacity(Layout::STANDARD.width());
    for (i, plan) in plans.iter().enumerate() {
        let d = usize::from(plan.direction == Direction::Backward);
        let (me, peer) = (&sides[d], &sides[1 - d]);
        let l4_len = match (proto, tcp) {
            (ip_proto::TCP, Some(t)) => 20 + t[i].options.len(),
            _ => 8,
        };
        let total = 20 + l4_len + plan.payload_len;
        let mut pkt = vec![0u8; total];
        settings.payload_fill.fill(&mut pkt[20 + l4_len..]);
        {
            let seg = &mut pkt[20..];
            match (proto, tcp) {
                (ip_proto::TCP, Some(t)) => {
                    let t = &t[i];
                    seg[20..l4_len].copy_from_slice(&t.options);
                    let mut h = TcpPacket::new_unchecked(&mut seg[..]);
                    h.set_ports(me.port, peer.port);
                    h.set_seq(t.seq);
                    h.set_ack(t.ack);
                    h.set_header_len_and_flags(l4_len, t.flags);
                    h.set_window(t.window);
                    h.set_urgent(0);
                    h.set_checksum(0);
                    let c = checksum::compute_v4(me.addr, peer.addr, ip_proto::TCP, seg);
                    TcpPacket::new_unchecked(&mut seg[..]).set_checksum(c);
                }
                (ip_proto::UDP, _) => {
                    let len = (8 + plan.payload_len) as u16;
                    UdpPacket::new_unchecked(&mut seg[..]).set_fields(me.port, peer.port, len, 0);
                    if !settings.udp_checksum_zero {
                        let c = checksum::compute_v4(me.addr, peer.addr, ip_proto::UDP, seg);
                        // A computed 0 is sent as 0xffff (RFC 768).
                        let c = if c == 0 { 0xffff } else { c };
                        UdpPacket::new_unchecked(&mut seg[..]).set_checksum(c);
                    }
                }
                _ => {
                    let request = plan.direction == Direction::Forward;
                    if request && i > 0 {
                        icmp_seq = icmp_seq.wrapping_add(1);
                    }
                    let t = if request {
                        icmp_kind::ECHO_REQUEST
                    } else {
                        icmp_kind::ECHO_REPLY
                    };
                    let id = me.port.to_be_bytes();
                    let sq = icmp_seq.to_be_bytes();
                    let mut h = IcmpPacket::new_unchecked(&mut seg[..]);
                    h.set_fields(t, 0, [id[0], id[1], sq[0], sq[1]]);
                    h.set_checksum(0);
                    let c = checksum::checksum(seg);
                    IcmpPacket::new_unchecked(&mut seg[..]).set_checksum(c);
                }
            }
        }
        {
            let g = rows[i].ip();
            let mut ip = Ipv4Packet::new_unchecked(&mut pkt[..]);
            ip.set_version_and_header_len(20);
            ip.set_tos(g.tos());
            ip.set_total_len(total as u16);
            ip.set_ident(ip_ids[d]);
            ip_ids[d] = ip_ids[d].wrapping_add(1);
            ip.set_flags_and_offset(false, g.dont_frag(), false, 0);
            ip.set_ttl(me.ttl);
            ip.set_protocol(proto);
            ip.set_src_addr(me.addr);
            ip.set_dst_addr(peer.addr);
            ip.fill_checksum();
        }

        let frame = Frame {
            link: LinkType::Raw,
            data: pkt,
            ..Frame::default()
        };
        if let Ok(p) = dissect(&frame) {
            bits.clear();
            encode_packet(&Layout::STANDARD, &p, -1, &mut bits);
            report.compare_rows(generated_bits[i], &bits);
        }
        out.push(RepairedPacket {
            ts_ns: plan.ts_ns,
            direction: plan.direction,
            bytes: frame.data,
        });
    }
    out
}
