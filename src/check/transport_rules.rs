//! Intra-packet rules for TCP, UDP and ICMP segments.

use super::packet_rules::{Segment, TcpFacts};
use super::tcp_option_rules::check_tcp_options;
use super::{Rule, Sink};
use crate::wire::checksum;
use crate::wire::icmp::{self, IcmpPacket, HEADER_LEN as ICMP_LEN};
use crate::wire::tcp::{self, flags, TcpPacket, MIN_HEADER_LEN as TCP_MIN};
use crate::wire::udp::{self, UdpPacket, HEADER_LEN as UDP_LEN};
use crate::wire::{be16, Field, IpProtocol};

/// Checks a TCP segment; its facts when the header can be walked.
pub(crate) fn check_tcp<'a>(seg: &Segment<'a>, sink: &mut Sink<'_>) -> Option<TcpFacts<'a>> {
    if seg.claimed_len < TCP_MIN {
        sink.hit(Rule::TcpDataOffset, || {
            format!(
                "IP payload of {} bytes cannot hold a TCP header",
                seg.claimed_len
            )
        });
        return None;
    }
    if seg.bytes.len() < TCP_MIN {
        sink.unverified();
        return None;
    }
    let t = TcpPacket::new_unchecked(seg.bytes);
    sink.set_ports(t.src_port(), t.dst_port());
    let hl = t.header_len();
    if hl < TCP_MIN {
        sink.hit(Rule::TcpDataOffset, || {
            format!("data offset {} below 5", hl / 4)
        });
        return None;
    }
    if hl > seg.claimed_len {
        sink.hit(Rule::TcpDataOffset, || {
            format!("{hl}-byte header in a {}-byte segment", seg.claimed_len)
        });
        return None;
    }
    let f = t.flags();
    let syn = f & flags::SYN != 0;
    if hl <= seg.bytes.len() {
        check_tcp_options(&seg.bytes[TCP_MIN..hl], syn, sink);
    }
    if t.reserved() != 0 {
        sink.hit(Rule::TcpReservedBits, || {
            format!("reserved bits 0b{:03b}", t.reserved())
        });
    }
    if t.urgent() != 0 && f & flags::URG == 0 {
        sink.hit(Rule::TcpUrgentPointer, || {
            format!("urgent pointer {} without URG", t.urgent())
        });
    }
    if syn && f & (flags::FIN | flags::RST) != 0 {
        sink.hit(Rule::TcpFlagCombination, || {
            let other = if f & flags::FIN != 0 { "FIN" } else { "RST" };
            format!("SYN with {other}")
        });
    }
    verify(
        seg,
        IpProtocol::Tcp,
        tcp::field::CHECKSUM,
        Rule::TcpChecksum,
        sink,
    );
    Some(TcpFacts {
        seq: t.seq(),
        ack: t.ack(),
        flags: f,
        payload_len: (seg.claimed_len - hl) as u32,
        options_len: (hl - TCP_MIN) as u32,
        // Unknown where the capture cut the SYN's options.
        syn_mss: seg
            .bytes
            .get(TCP_MIN..hl)
            .filter(|_| syn)
            .map(tcp::offered_mss),
        payload: seg.bytes.get(hl..).unwrap_or(&[]),
    })
}

/// Checks a UDP datagram; `Some` when its header is sound enough to place it in a flow.
pub(crate) fn check_udp(seg: &Segment<'_>, sink: &mut Sink<'_>) -> Option<()> {
    if seg.claimed_len < UDP_LEN {
        sink.hit(Rule::UdpLength, || {
            format!(
                "IP payload of {} bytes cannot hold a UDP header",
                seg.claimed_len
            )
        });
        return None;
    }
    if seg.bytes.len() < UDP_LEN {
        sink.unverified();
        return None;
    }
    let u = UdpPacket::new_unchecked(seg.bytes);
    sink.set_ports(u.src_port(), u.dst_port());
    let len = usize::from(u.len());
    if len != seg.claimed_len {
        sink.hit(Rule::UdpLength, || {
            format!("UDP length {len}, IP payload {}", seg.claimed_len)
        });
    }
    if u.checksum() != 0 {
        if (UDP_LEN..=seg.claimed_len).contains(&len) {
            let datagram = Segment {
                bytes: &seg.bytes[..len.min(seg.bytes.len())],
                claimed_len: len,
                ..*seg
            };
            verify(
                &datagram,
                IpProtocol::Udp,
                udp::field::CHECKSUM,
                Rule::UdpChecksum,
                sink,
            );
        } else {
            sink.unverified();
        }
    }
    Some(())
}

/// Checks an ICMP message; `Some(echo identifier)` when its header is sound.
pub(crate) fn check_icmp(seg: &Segment<'_>, sink: &mut Sink<'_>) -> Option<Option<u16>> {
    if seg.claimed_len < ICMP_LEN {
        sink.hit(Rule::IcmpLength, || {
            format!("ICMP message of {} bytes", seg.claimed_len)
        });
        return None;
    }
    if seg.bytes.len() < ICMP_LEN {
        sink.unverified();
        return None;
    }
    let i = IcmpPacket::new_unchecked(seg.bytes);
    let (ty, code) = (i.msg_type(), i.code());
    if !icmp::type_code_valid(ty, code) {
        sink.hit(Rule::IcmpTypeCode, || format!("type {ty} code {code}"));
    }
    if seg.complete() {
        if checksum::checksum(seg.bytes) != 0 {
            sink.hit(Rule::IcmpChecksum, || {
                let mut m = seg.bytes.to_vec();
                m[icmp::field::CHECKSUM].fill(0);
                format!(
                    "checksum 0x{:04x}, should be 0x{:04x}",
                    i.checksum(),
                    checksum::checksum(&m)
                )
            });
        }
    } else {
        sink.unverified();
    }
    Some(i.is_echo().then(|| i.echo_ident()))
}

/// Verifies a TCP or UDP checksum (in `field`) under the IPv4 pseudo-header.
fn verify(seg: &Segment<'_>, proto: IpProtocol, field: Field, rule: Rule, sink: &mut Sink<'_>) {
    if !seg.complete() {
        sink.unverified();
        return;
    }
    if checksum::verify_v4(seg.src, seg.dst, proto, seg.bytes) == 0 {
        return;
    }
    sink.hit(rule, || {
        let mut s = seg.bytes.to_vec();
        let stored = be16(&s, field.clone());
        s[field].fill(0);
        let mut should = checksum::compute_v4(seg.src, seg.dst, proto, &s);
        if proto == IpProtocol::Udp && should == 0 {
            should = 0xffff;
        }
        format!("checksum 0x{stored:04x}, should be 0x{should:04x}")
    });
}
