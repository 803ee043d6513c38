//! Dissection of a captured frame into its link, network and transport headers.

use super::{Frame, LinkType, SkipReason};
use crate::wire::icmp::IcmpPacket;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use crate::wire::{be16, IpProtocol, WireError};

use super::network::{family_ethertype, loopback_family, SLL2_HEADER_LEN, SLL_HEADER_LEN};
use crate::wire::ethernet::{
    field as eth_field, is_vlan_tpid, vlan_field, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
    HEADER_LEN as ETH_HEADER_LEN, MAX_VLAN_TAGS, VLAN_TAG_LEN,
};

/// The network-layer header of a dissected frame.
#[derive(Debug, Clone, Copy)]
pub enum L3<'a> {
    /// IPv4 (header and options complete in the capture).
    V4(Ipv4Packet<&'a [u8]>),
    /// IPv6 fixed header.
    V6(Ipv6Packet<&'a [u8]>),
}

/// The transport-layer header of a dissected frame.
#[derive(Debug, Clone, Copy)]
pub enum L4<'a> {
    /// TCP (header and options complete in the capture).
    Tcp(TcpPacket<&'a [u8]>),
    /// UDP.
    Udp(UdpPacket<&'a [u8]>),
    /// ICMP (IPv4).
    Icmp(IcmpPacket<&'a [u8]>),
}

impl L4<'_> {
    /// The transport header bytes as they appear in the packet.
    pub fn header(&self) -> &[u8] {
        match self {
            L4::Tcp(t) => t.header(),
            L4::Udp(u) => u.header(),
            L4::Icmp(i) => i.header(),
        }
    }
    /// The IP protocol.
    pub fn proto(&self) -> IpProtocol {
        match self {
            L4::Tcp(_) => IpProtocol::Tcp,
            L4::Udp(_) => IpProtocol::Udp,
            L4::Icmp(_) => IpProtocol::Icmp,
        }
    }
    /// Source and destination ports (0 for ICMP).
    pub fn ports(&self) -> (u16, u16) {
        match self {
            L4::Tcp(t) => (t.src_port(), t.dst_port()),
            L4::Udp(u) => (u.src_port(), u.dst_port()),
            L4::Icmp(_) => (0, 0),
        }
    }
}

/// A frame split into its headers.
#[derive(Debug, Clone, Copy)]
pub struct Dissected<'a> {
    /// The 14-byte Ethernet header, when the frame has one.
    pub eth: Option<&'a [u8]>,
    /// Network layer.
    pub l3: L3<'a>,
    /// Transport layer.
    pub l4: L4<'a>,
    /// Payload bytes present in the capture.
    pub payload: &'a [u8],
    /// Payload length the IP and transport headers claim.
    pub payload_len: usize,
}

fn wire_skip(e: WireError) -> SkipReason {
    match e {
        WireError::Truncated { .. } => SkipReason::Truncated,
        WireError::Malformed { .. } => SkipReason::Malformed,
    }
}

/// Splits `frame` into headers, or says why it cannot be used.
pub fn dissect(frame: &Frame) -> Result<Dissected<'_>, SkipReason> {
    let data = &frame.data[..];
    let (eth, ethertype, l3) = match frame.link {
        LinkType::Ethernet => {
            if data.len() < ETH_HEADER_LEN {
                return Err(SkipReason::Truncated);
            }
            let mut ty = be16(data, eth_field::ETHERTYPE);
            let mut at = ETH_HEADER_LEN;
            let mut tags = 0;
            while is_vlan_tpid(ty) {
                tags += 1;
                if tags > MAX_VLAN_TAGS {
                    return Err(SkipReason::Malformed);
                }
                if data.len() < at + VLAN_TAG_LEN {
                    return Err(SkipReason::Truncated);
                }
                ty = be16(&data[at..], vlan_field::ETHERTYPE);
                at += VLAN_TAG_LEN;
            }
            (Some(&data[..ETH_HEADER_LEN]), ty, &data[at..])
        }
        LinkType::LinuxSll => {
            if data.len() < SLL_HEADER_LEN {
                return Err(SkipReason::Truncated);
            }
            (
                None,
                u16::from_be_bytes([data[14], data[15]]),
                &data[SLL_HEADER_LEN..],
            )
        }
        LinkType::LinuxSll2 => {
            if data.len() < SLL2_HEADER_LEN {
                return Err(SkipReason::Truncated);
            }
            (
                None,
                u16::from_be_bytes([data[0], data[1]]),
                &data[SLL2_HEADER_LEN..],
            )
        }
        LinkType::Raw => match data.first().map(|b| b >> 4) {
            Some(4) => (None, ETHERTYPE_IPV4, data),
            Some(6) => (None, ETHERTYPE_IPV6, data),
            Some(_) => return Err(SkipReason::Malformed),
            None => return Err(SkipReason::Truncated),
        },
        LinkType::Ipv4 => (None, ETHERTYPE_IPV4, data),
        LinkType::Ipv6 => (None, ETHERTYPE_IPV6, data),
        LinkType::Null | LinkType::Loop => {
            if data.len() < 4 {
                return Err(SkipReason::Truncated);
            }
            let family = loopback_family(frame.link, [data[0], data[1], data[2], data[3]]);
            let ty =
                family_ethertype(family).ok_or(SkipReason::NonIp(family.min(0xffff) as u16))?;
            (None, ty, &data[4..])
        }
        LinkType::Other(_) => return Err(SkipReason::Malformed),
    };
    match ethertype {
        ETHERTYPE_IPV4 => dissect_ipv4(eth, l3),
        ETHERTYPE_IPV6 => dissect_ipv6(eth, l3),
        ETHERTYPE_ARP => Err(SkipReason::Arp),
        len if len <= 1500 && frame.link == LinkType::Ethernet => Err(SkipReason::Llc),
        other => Err(SkipReason::NonIp(other)),
    }
}

fn dissect_ipv4<'a>(eth: Option<&'a [u8]>, bytes: &'a [u8]) -> Result<Dissected<'a>, SkipReason> {
    let ip = Ipv4Packet::new_checked(bytes).map_err(wire_skip)?;
    if ip.frag_offset() != 0 {
        return Err(SkipReason::Fragment);
    }
    let end = usize::from(ip.total_len()).clamp(ip.header_len(), bytes.len());
    let seg = &bytes[ip.header_len()..end];
    let claimed = ip.claimed_payload_len();
    let (l4, hdr_len) = transport(ip.protocol(), seg)?;
    let payload = &seg[hdr_len.min(seg.len())..];
    Ok(Dissected {
        eth,
        l3: L3::V4(ip),
        l4,
        payload,
        payload_len: claimed.saturating_sub(hdr_len),
    })
}

fn dissect_ipv6<'a>(eth: Option<&'a [u8]>, bytes: &'a [u8]) -> Result<Dissected<'a>, SkipReason> {
    let ip = Ipv6Packet::new_checked(bytes).map_err(wire_skip)?;
    let hl = crate::wire::ipv6::HEADER_LEN;
    let seg = &bytes[hl..(hl + usize::from(ip.payload_len())).min(bytes.len())];
    // As the nPrint tool does: the next header must be the transport itself, and protocol 1
    // (ICMP for IPv4) is what counts as ICMP.
    let (l4, hdr_len) = transport(ip.next_header(), seg)?;
    let payload = &seg[hdr_len.min(seg.len())..];
    Ok(Dissected {
        eth,
        l3: L3::V6(ip),
        l4,
        payload,
        payload_len: usize::from(ip.payload_len()).saturating_sub(hdr_len),
    })
}

fn transport(proto: IpProtocol, seg: &[u8]) -> Result<(L4<'_>, usize), SkipReason> {
    match proto {
        IpProtocol::Tcp => {
            let t = TcpPacket::new_checked(seg).map_err(wire_skip)?;
            Ok((L4::Tcp(t), t.header_len()))
        }
        IpProtocol::Udp => {
            let u = UdpPacket::new_checked(seg).map_err(wire_skip)?;
            Ok((L4::Udp(u), crate::wire::udp::HEADER_LEN))
        }
        IpProtocol::Icmp => {
            let i = IcmpPacket::new_checked(seg).map_err(wire_skip)?;
            Ok((L4::Icmp(i), crate::wire::icmp::HEADER_LEN))
        }
        other => Err(SkipReason::OtherL4(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_frame(ethertype: u16, tags: &[u16], l3: &[u8]) -> Frame {
        let mut d = vec![0u8; 12];
        for t in tags {
            d.extend_from_slice(&t.to_be_bytes());
            d.extend_from_slice(&[0, 7]);
        }
        d.extend_from_slice(&ethertype.to_be_bytes());
        d.extend_from_slice(l3);
        Frame {
            link: LinkType::Ethernet,
            data: d,
            ..Frame::default()
        }
    }

    fn udp_ipv4() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 30, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 10, 0, 0, 0xab, 0xcd]);
        p
    }

    #[test]
    fn ethernet_with_stacked_vlan_tags() {
        let f = eth_frame(0x0800, &[0x8100, 0x8100], &udp_ipv4());
        let d = dissect(&f).unwrap();
        assert!(matches!(d.l4, L4::Udp(_)));
        assert_eq!(d.l4.ports(), (5000, 53));
        assert_eq!(d.payload, &[0xab, 0xcd]);
        assert_eq!(d.payload_len, 2);
        assert_eq!(d.eth.unwrap().len(), 14);
    }

    #[test]
    fn skips_with_reasons() {
        assert_eq!(
            dissect(&eth_frame(0x0806, &[], &[0; 28])).unwrap_err(),
            SkipReason::Arp
        );
        assert_eq!(
            dissect(&eth_frame(0x88cc, &[], &[0; 28])).unwrap_err(),
            SkipReason::NonIp(0x88cc)
        );
        let mut igmp = udp_ipv4();
        igmp[9] = 2;
        assert_eq!(
            dissect(&eth_frame(0x0800, &[], &igmp)).unwrap_err(),
            SkipReason::OtherL4(IpProtocol::Unknown(2))
        );
        let mut frag = udp_ipv4();
        frag[7] = 1;
        assert_eq!(
            dissect(&eth_frame(0x0800, &[], &frag)).unwrap_err(),
            SkipReason::Fragment
        );
        let short = udp_ipv4();
        assert_eq!(
            dissect(&eth_frame(0x0800, &[], &short[..24])).unwrap_err(),
            SkipReason::Truncated
        );
        assert_eq!(
            dissect(&Frame {
                link: LinkType::Ethernet,
                data: vec![0; 5],
                ..Frame::default()
            })
            .unwrap_err(),
            SkipReason::Truncated
        );
    }

    #[test]
    fn null_loopback_either_byte_order_and_sll() {
        let mut le = vec![2, 0, 0, 0];
        le.extend_from_slice(&udp_ipv4());
        let f = Frame {
            link: LinkType::Null,
            data: le,
            ..Frame::default()
        };
        assert!(dissect(&f).is_ok());
        let mut be = vec![0, 0, 0, 2];
        be.extend_from_slice(&udp_ipv4());
        let f = Frame {
            link: LinkType::Null,
            data: be,
            ..Frame::default()
        };
        assert!(dissect(&f).is_ok());
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&udp_ipv4());
        let f = Frame {
            link: LinkType::LinuxSll,
            data: sll,
            ..Frame::default()
        };
        assert!(dissect(&f).unwrap().eth.is_none());
    }
}
