//! The read path's speed, netdiffd's `wire` views against pnet_packet's, over every IPv4
//! packet of the corpus: every header field read and the TCP options walked (docs/wire.md
//! quotes it). `cargo bench --bench wire` (needs `../shared/corpus`).

use netdiffd::capture::{network_layer, CaptureReader};
use netdiffd::wire::icmp::IcmpPacket;
use netdiffd::wire::ipv4::Ipv4Packet;
use netdiffd::wire::tcp::{self, TcpPacket};
use netdiffd::wire::udp::UdpPacket;
use netdiffd::wire::IpProtocol;
use pnet_packet::Packet as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

/// Every IPv4 packet (from its IPv4 header on) of every corpus capture.
fn corpus_ipv4_packets() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let files = netdiffd::corpus::list_captures(&dir)
        .unwrap_or_else(|e| panic!("the corpus at {} is needed: {e}", dir.display()));
    let mut out = Vec::new();
    for path in files {
        for frame in CaptureReader::open(&path).unwrap() {
            let frame = frame.unwrap();
            if let Some((0x0800, offset)) = network_layer(frame.link, &frame.data) {
                if let Some(ip) = frame.data.get(offset..).filter(|b| b.len() >= 20) {
                    out.push(ip.to_vec());
                }
            }
        }
    }
    out
}

fn main() {
    let packets = corpus_ipv4_packets();
    let rounds = 50;
    let ours = |p: &[u8]| -> u64 {
        let Ok(ip) = Ipv4Packet::new_checked(p) else {
            return 0;
        };
        let mut acc = u64::from(ip.ttl()) + u64::from(ip.ident()) + u64::from(ip.checksum());
        acc += u64::from(u32::from(ip.src_addr()) ^ u32::from(ip.dst_addr()));
        let seg = ip.payload();
        match ip.protocol() {
            IpProtocol::Tcp => {
                if let Ok(t) = TcpPacket::new_checked(seg) {
                    acc += u64::from(t.seq()) + u64::from(t.ack()) + u64::from(t.flags());
                    acc += u64::from(t.src_port()) + u64::from(t.window());
                    for (k, d) in tcp::options_lenient(t.options()) {
                        acc += u64::from(k) + d.len() as u64;
                    }
                    acc += t.payload().len() as u64;
                }
            }
            IpProtocol::Udp => {
                if let Ok(u) = UdpPacket::new_checked(seg) {
                    acc += u64::from(u.src_port()) + u64::from(u.len()) + u64::from(u.checksum());
                }
            }
            IpProtocol::Icmp => {
                if let Ok(i) = IcmpPacket::new_checked(seg) {
                    acc += u64::from(i.msg_type()) + u64::from(i.checksum());
                }
            }
            _ => {}
        }
        acc
    };
    let theirs = |p: &[u8], collect_options: bool| -> u64 {
        let Some(ip) = pnet_packet::ipv4::Ipv4Packet::new(p) else {
            return 0;
        };
        let mut acc = u64::from(ip.get_ttl())
            + u64::from(ip.get_identification())
            + u64::from(ip.get_checksum());
        acc += u64::from(u32::from(ip.get_source()) ^ u32::from(ip.get_destination()));
        let seg = ip.payload();
        match ip.get_next_level_protocol().0 {
            6 => {
                if let Some(t) = pnet_packet::tcp::TcpPacket::new(seg) {
                    acc += u64::from(t.get_sequence()) + u64::from(t.get_acknowledgement());
                    acc += u64::from(t.get_flags()) + u64::from(t.get_source());
                    acc += u64::from(t.get_window());
                    if collect_options {
                        for o in t.get_options() {
                            acc += u64::from(o.number.0) + o.data.len() as u64;
                        }
                    } else {
                        for o in t.get_options_iter() {
                            acc += u64::from(o.get_number().0) + o.payload().len() as u64;
                        }
                    }
                    acc += t.payload().len() as u64;
                }
            }
            17 => {
                if let Some(u) = pnet_packet::udp::UdpPacket::new(seg) {
                    acc += u64::from(u.get_source())
                        + u64::from(u.get_length())
                        + u64::from(u.get_checksum());
                }
            }
            1 => {
                if let Some(i) = pnet_packet::icmp::IcmpPacket::new(seg) {
                    acc += u64::from(i.get_icmp_type().0) + u64::from(i.get_checksum());
                }
            }
            _ => {}
        }
        acc
    };
    let n = (packets.len() * rounds) as f64;
    let time = |f: &dyn Fn(&[u8]) -> u64| {
        let start = Instant::now();
        let mut acc = 0u64;
        for _ in 0..rounds {
            for p in &packets {
                acc = acc.wrapping_add(f(black_box(p)));
            }
        }
        black_box(acc);
        start.elapsed().as_nanos() as f64 / n
    };
    for round in 0..2 {
        let a = time(&ours);
        let b = time(&|p| theirs(p, false));
        let c = time(&|p| theirs(p, true));
        println!(
            "round {round}: {} packets × {rounds}: netdiffd wire {a:.1} ns/packet, pnet with \
             get_options_iter {b:.1} ns/packet, pnet with get_options {c:.1} ns/packet",
            packets.len()
        );
    }
}
