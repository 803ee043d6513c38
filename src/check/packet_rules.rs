//! Intra-packet rules for the IPv4 header, and the hand-off to the transport rules. Yields the
//! facts the inter-packet rules need.

use super::transport_rules::{check_icmp, check_tcp, check_udp};
use super::{Rule, Sink};
use crate::wire::checksum;
use crate::wire::ipv4::{field, Ipv4Packet, MIN_HEADER_LEN};
use crate::wire::{be16, tcp, IpProtocol};
use std::fmt;
use std::net::Ipv4Addr;

/// A packet's addresses, protocol and ports (0 where the protocol has none or they are
/// unknown), as the packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Endpoints {
    pub proto: IpProtocol,
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

impl fmt::Display for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.proto {
            IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Icmp => self.proto.to_string(),
            _ => "IPv4".into(),
        };
        if matches!(self.proto, IpProtocol::Tcp | IpProtocol::Udp) {
            write!(
                f,
                "{name} {}:{} -> {}:{}",
                self.src, self.sport, self.dst, self.dport
            )
        } else {
            write!(f, "{name} {} -> {}", self.src, self.dst)
        }
    }
}

/// What the TCP flow rules need of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpFacts<'a> {
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    /// Payload length the IPv4 total length claims.
    pub payload_len: u32,
    /// Bytes of TCP options (header length less 20).
    pub options_len: u32,
    /// On a SYN, the MSS it offers (536, the default, when it carries no MSS option); None
    /// where the capture cut its options.
    pub syn_mss: Option<u16>,
    /// The payload bytes in the capture (fewer than `payload_len` when the capture cut the
    /// packet).
    pub payload: &'a [u8],
}

/// The transport part of [`PacketFacts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport<'a> {
    Tcp(TcpFacts<'a>),
    Udp,
    /// ICMP, with the identifier when the message is an echo request or reply.
    Icmp {
        echo_ident: Option<u16>,
    },
    /// Another IP protocol (only the IPv4 header was checked).
    Other,
}

/// A checked packet, as the inter-packet rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketFacts<'a> {
    pub ends: Endpoints,
    pub ttl: u8,
    pub ident: u16,
    pub transport: Transport<'a>,
}

/// Where a packet's bytes stand relative to what was on the wire.
pub(crate) struct Extent<'a> {
    /// Captured bytes from the IPv4 header on.
    pub bytes: &'a [u8],
    /// Bytes of the packet on the wire from the IPv4 header on (more than `bytes.len()` when
    /// the capture cut the frame).
    pub wire_len: usize,
}

/// The outcome of the intra-packet rules for one IPv4 packet.
pub(crate) enum Checked<'a> {
    /// Checked; `Some` when the headers were sound enough to place it in a flow.
    Done(Option<PacketFacts<'a>>),
    /// The capture cut the packet inside its IPv4 header: not checked.
    CutByCapture,
}

/// Applies the IPv4 rules, then the transport rules of the protocol.
pub(crate) fn check_ipv4<'a>(x: &Extent<'a>, sink: &mut Sink<'_>) -> Checked<'a> {
    let b = x.bytes;
    if b.len() < MIN_HEADER_LEN {
        if x.wire_len > b.len() {
            return Checked::CutByCapture;
        }
        sink.hit(Rule::Ipv4HeaderLength, || {
            format!("packet of {} bytes cannot hold an IPv4 header", b.len())
        });
        return Checked::Done(None);
    }
    let version = b[field::VER_IHL] >> 4;
    if version != 4 {
        sink.hit(Rule::Ipv4Version, || format!("version {version}"));
        return Checked::Done(None);
    }
    let ihl = usize::from(b[field::VER_IHL] & 0x0f) * 4;
    if ihl < MIN_HEADER_LEN {
        sink.hit(Rule::Ipv4HeaderLength, || {
            format!("IHL {} below 5", ihl / 4)
        });
        return Checked::Done(None);
    }
    if ihl > b.len() {
        if ihl <= x.wire_len {
            return Checked::CutByCapture;
        }
        sink.hit(Rule::Ipv4HeaderLength, || {
            format!("{ihl}-byte header in a {}-byte packet", x.wire_len)
        });
        return Checked::Done(None);
    }
    let ip = Ipv4Packet::new_unchecked(b);
    // TCP and UDP headers alike begin with the two ports.
    let ports = match (ip.protocol(), b.get(ihl..ihl + tcp::field::DST_PORT.end)) {
        (IpProtocol::Tcp | IpProtocol::Udp, Some(p)) => {
            (be16(p, tcp::field::SRC_PORT), be16(p, tcp::field::DST_PORT))
        }
        _ => (0, 0),
    };
    sink.set_ends(Endpoints {
        proto: ip.protocol(),
        src: ip.src_addr(),
        sport: ports.0,
        dst: ip.dst_addr(),
        dport: ports.1,
    });
    let total = usize::from(ip.total_len());
    if !ip.verify_checksum() {
        sink.hit(Rule::Ipv4Checksum, || {
            let mut h = ip.header().to_vec();
            h[field::CHECKSUM].fill(0);
            format!(
                "checksum 0x{:04x}, should be 0x{:04x}",
                ip.checksum(),
                checksum::checksum(&h)
            )
        });
    }
    if ip.ttl() == 0 {
        sink.hit(Rule::Ipv4TtlZero, || "TTL 0".into());
    }
    let fragment = ip.more_frags() || ip.frag_offset() != 0;
    if fragment {
        sink.hit(Rule::Ipv4Fragment, || {
            format!(
                "MF {} offset {}",
                u8::from(ip.more_frags()),
                ip.frag_offset()
            )
        });
    }
    if ip.reserved_flag() {
        sink.hit(Rule::Ipv4ReservedFlag, || "reserved flag set".into());
    }
    if total < ihl {
        sink.hit(Rule::Ipv4TotalLength, || {
            format!("total length {total} below the {ihl}-byte header")
        });
        return Checked::Done(None);
    }
    if total > x.wire_len {
        sink.hit(Rule::Ipv4TotalLength, || {
            format!(
                "total length {total} exceeds the {} bytes the frame carries",
                x.wire_len
            )
        });
        return Checked::Done(None);
    }
    if ip.frag_offset() != 0 {
        // A later fragment: no transport header to check or to place in a flow.
        return Checked::Done(None);
    }
    let seg = Segment {
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        bytes: &b[ihl..total.min(b.len())],
        claimed_len: total - ihl,
        verifiable: !fragment,
    };
    let transport = match ip.protocol() {
        IpProtocol::Tcp => check_tcp(&seg, sink).map(Transport::Tcp),
        IpProtocol::Udp => check_udp(&seg, sink).map(|()| Transport::Udp),
        IpProtocol::Icmp => check_icmp(&seg, sink).map(|echo_ident| Transport::Icmp { echo_ident }),
        _ => Some(Transport::Other),
    };
    Checked::Done(transport.map(|transport| PacketFacts {
        ends: sink.ends().unwrap_or(Endpoints {
            proto: ip.protocol(),
            src: ip.src_addr(),
            sport: 0,
            dst: ip.dst_addr(),
            dport: 0,
        }),
        ttl: ip.ttl(),
        ident: ip.ident(),
        transport,
    }))
}

/// The transport segment of an IPv4 packet.
pub(crate) struct Segment<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// The captured part of the segment (up to the IPv4 total length).
    pub bytes: &'a [u8],
    /// The segment length the IPv4 total length claims.
    pub claimed_len: usize,
    /// False for a first fragment, whose checksum covers bytes not in this packet.
    pub verifiable: bool,
}

impl Segment<'_> {
    /// True when every byte of the segment is in the capture and its checksum can be verified.
    pub fn complete(&self) -> bool {
        self.verifiable && self.bytes.len() == self.claimed_len
    }
}
