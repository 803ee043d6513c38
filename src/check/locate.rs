//! Finds the IPv4 header of a frame, including frames whose headers are too broken for
//! [`dissect`] (a bad IHL, a short TCP header, a fragment): those are exactly the packets the
//! checker must report rather than skip.

use crate::capture::{dissect, Frame, LinkType, SkipReason, L3};

use crate::wire::ethernet::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};

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
        ) => match network_layer(frame) {
            Some((off, ETHERTYPE_IPV4)) => Ok(off),
            Some((_, ETHERTYPE_IPV6)) => Err(SkipReason::Ipv6),
            _ => Err(reason),
        },
        Err(reason) => Err(reason),
    }
}

/// The offset after the link header and the EtherType it announces (for raw IP: IPv6 for
/// version 6, else IPv4, so a bad version nibble is reported as such).
fn network_layer(frame: &Frame) -> Option<(usize, u16)> {
    if frame.link == LinkType::Raw {
        let ty = match frame.data.first()? >> 4 {
            6 => ETHERTYPE_IPV6,
            _ => ETHERTYPE_IPV4,
        };
        return Some((0, ty));
    }
    crate::capture::network_layer(frame.link, &frame.data).map(|(ty, at)| (at, ty))
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
