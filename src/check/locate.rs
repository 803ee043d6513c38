//! Finds the IPv4 header of a frame, including frames whose headers are too broken for
//! [`dissect`] (a bad IHL, a short TCP header, a fragment): those are exactly the packets the
//! checker must report rather than skip.

use crate::capture::{dissect, Frame, LinkType, SkipReason, L3};

const ETHERTYPE_IPV4: u16 = 0x0800;
const VLAN_TAGS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
const MAX_VLAN_TAGS: usize = 8;

/// Byte offset of the IPv4 header in `frame`, or why the frame holds no IPv4 packet.
pub(crate) fn ipv4_offset(frame: &Frame) -> Result<usize, SkipReason> {
    match dissect(frame) {
        Ok(d) => match d.l3 {
            L3::V4(ip) => Ok(frame.data.len() - ip.into_inner().len()),
            L3::V6(_) => Err(SkipReason::Ipv6),
        },
        Err(
            reason @ (SkipReason::Truncated
            | SkipReason::Malformed
            | SkipReason::Fragment
            | SkipReason::OtherL4(_)),
        ) => link_offset(frame).ok_or(reason),
        Err(reason) => Err(reason),
    }
}

/// The offset after the link header when the link header says IPv4 (for raw IP: anything
/// but IPv6, so a bad version nibble is reported as such).
fn link_offset(frame: &Frame) -> Option<usize> {
    let d = &frame.data;
    let be16 = |at: usize| Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]));
    match frame.link {
        LinkType::Ethernet => {
            let mut at = 12;
            let mut ty = be16(at)?;
            let mut tags = 0;
            while VLAN_TAGS.contains(&ty) && tags < MAX_VLAN_TAGS {
                at += 4;
                tags += 1;
                ty = be16(at)?;
            }
            (ty == ETHERTYPE_IPV4).then_some(at + 2)
        }
        LinkType::LinuxSll => (be16(14)? == ETHERTYPE_IPV4).then_some(16),
        LinkType::LinuxSll2 => (be16(0)? == ETHERTYPE_IPV4).then_some(20),
        LinkType::Raw => (d.first()? >> 4 != 6).then_some(0),
        LinkType::Ipv4 => Some(0),
        LinkType::Null | LinkType::Loop => {
            let raw = [*d.first()?, *d.get(1)?, *d.get(2)?, *d.get(3)?];
            let family_v4 = u32::from_le_bytes(raw) == 2 || u32::from_be_bytes(raw) == 2;
            family_v4.then_some(4)
        }
        LinkType::Ipv6 | LinkType::Other(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(payload: &[u8]) -> Frame {
        let mut data = vec![0u8; 12];
        data.extend_from_slice(&[0x81, 0x00, 0, 1, 0x08, 0x00]);
        data.extend_from_slice(payload);
        Frame {
            link: LinkType::Ethernet,
            data,
            ..Frame::default()
        }
    }

    #[test]
    fn finds_broken_ipv4_behind_a_vlan_tag() {
        // IHL 4: dissect rejects it, the checker must still see it.
        let mut ip = vec![0x44, 0, 0, 20];
        ip.resize(20, 0);
        assert_eq!(ipv4_offset(&eth(&ip)), Ok(18));
    }

    #[test]
    fn non_ip_keeps_its_reason() {
        let mut f = eth(&[0; 28]);
        f.data[16] = 0x08;
        f.data[17] = 0x06;
        assert_eq!(ipv4_offset(&f), Err(SkipReason::Arp));
        let raw6 = Frame {
            link: LinkType::Raw,
            data: vec![0x60; 40],
            ..Frame::default()
        };
        assert_eq!(ipv4_offset(&raw6), Err(SkipReason::Ipv6));
        let raw5 = Frame {
            link: LinkType::Raw,
            data: vec![0x55; 40],
            ..Frame::default()
        };
        assert_eq!(ipv4_offset(&raw5), Ok(0));
    }
}
