//! Materialising the planned packets: IPv4, TCP/UDP/ICMP headers with correct lengths and
//! checksums, payloads of the planned length, and the per-field change report.

use super::generated::GeneratedRow;
use super::icmp::{IcmpPacketPlan, Message};
use super::report::RepairReport;
use super::tcp::TcpPlan;
use super::{PacketPlan, RepairSettings, RepairedPacket, Side};
use crate::capture::{dissect, Frame, LinkType};
use crate::flows::Direction;
use crate::nprint::layout::Bit;
use crate::nprint::{encode_packet, Layout};
use crate::wire::icmp::IcmpPacket;
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::tcp::{TcpPacket, TcpRepr};
use crate::wire::udp::{self, UdpPacket, UdpRepr};
use crate::wire::IpProtocol;

#[allow(clippy::too_many_arguments)]
pub(super) fn build_packets(
    rows: &[GeneratedRow],
    plans: &[PacketPlan],
    tcp: Option<&[TcpPlan]>,
    proto: IpProtocol,
    sides: &[Side; 2],
    settings: &RepairSettings,
    report: &mut RepairReport,
    generated_bits: &[&[Bit]],
) -> Vec<RepairedPacket> {
    // IP IDs per direction: each side's first packet keeps its generated ID, and every later
    // packet of that side takes the next one (a per-host counter, as the repair note asks).
    let mut ip_ids = [sides[0].ip_id, sides[1].ip_id];
    let mut icmp_seq: u16 = rows.first().map(|r| r.icmp().echo_seq()).unwrap_or(0);
    let mut originate = 0u32;
    let mut out = Vec::with_capacity(plans.len());
    let mut bits = Vec::with_capacity(Layout::STANDARD.width());
    for (i, plan) in plans.iter().enumerate() {
        let d = usize::from(plan.direction == Direction::Backward);
        let (me, peer) = (&sides[d], &sides[1 - d]);
        let tcp_header = match (proto, tcp) {
            (IpProtocol::Tcp, Some(t)) => Some(TcpRepr {
                src_port: me.port,
                dst_port: peer.port,
                seq: t[i].seq,
                ack: t[i].ack,
                flags: t[i].flags,
                window: t[i].window,
                urgent: 0,
                options: &t[i].options,
            }),
            _ => None,
        };
        // UDP and ICMP headers are both 8 bytes.
        let l4_len = tcp_header.map_or(udp::HEADER_LEN, |t| t.buffer_len());
        let g = rows[i].ip();
        let ip_header = Ipv4Repr {
            src_addr: me.addr,
            dst_addr: peer.addr,
            protocol: proto,
            payload_len: l4_len + plan.payload_len,
            tos: g.tos(),
            ident: ip_ids[d],
            dont_frag: g.dont_frag(),
            ttl: me.ttl,
        };
        ip_ids[d] = ip_ids[d].wrapping_add(1);
        let ip_len = ip_header.buffer_len();
        let mut pkt = vec![0u8; ip_len + ip_header.payload_len];
        settings.payload_fill.fill(&mut pkt[ip_len + l4_len..]);
        let seg = &mut pkt[ip_len..];
        match tcp_header {
            Some(t) => {
                let mut h = TcpPacket::new_unchecked(seg);
                t.emit(&mut h);
                h.fill_checksum(me.addr, peer.addr);
            }
            None if proto == IpProtocol::Udp => {
                let mut h = UdpPacket::new_unchecked(seg);
                UdpRepr {
                    src_port: me.port,
                    dst_port: peer.port,
                    payload_len: plan.payload_len,
                }
                .emit(&mut h);
                if !settings.udp_checksum_zero {
                    h.fill_checksum(me.addr, peer.addr);
                }
            }
            None => {
                let (message, _) = Message::of(&rows[i]);
                let request = plan.direction == Direction::Forward;
                let query = !matches!(message, Message::Error { .. });
                if request && query && i > 0 {
                    icmp_seq = icmp_seq.wrapping_add(1);
                }
                let ms_of_day = (plan.ts_ns / 1_000_000 % 86_400_000) as u32;
                if request && message == Message::Timestamp {
                    originate = ms_of_day;
                }
                let header = IcmpPacketPlan {
                    message,
                    request,
                    me,
                    peer,
                    ident: me.port,
                    seq_no: icmp_seq,
                    ms_of_day,
                    originate,
                    mtu: settings.mtu,
                }
                .header(&mut seg[l4_len..]);
                let mut h = IcmpPacket::new_unchecked(seg);
                header.emit(&mut h);
                h.fill_checksum();
            }
        }
        ip_header.emit(&mut Ipv4Packet::new_unchecked(&mut pkt[..]));

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
