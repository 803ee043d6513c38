//! Where the network layer starts in a frame of each link type, without judging what is there:
//! shared by dissection, the checker (which must find broken headers too) and replay's
//! re-framing.

use super::LinkType;
use crate::wire::ethernet::{
    field as eth_field, is_vlan_tpid, ETHERTYPE_IPV4, ETHERTYPE_IPV6, MAX_VLAN_TAGS, VLAN_TAG_LEN,
};

/// Length of a Linux cooked (SLL) header.
pub(crate) const SLL_HEADER_LEN: usize = 16;
/// Length of a Linux cooked v2 (SLL2) header.
pub(crate) const SLL2_HEADER_LEN: usize = 20;

/// The address family of a BSD loopback header: network byte order for LINKTYPE_LOOP, the
/// capturing host's order for LINKTYPE_NULL (either is accepted).
pub(crate) fn loopback_family(link: LinkType, raw: [u8; 4]) -> u32 {
    let le = u32::from_le_bytes(raw);
    if link != LinkType::Loop && le < 256 {
        le
    } else {
        u32::from_be_bytes(raw)
    }
}

/// The EtherType of a BSD address family: IPv4, or IPv6 under any BSD's number; `None` for
/// the rest.
pub(crate) fn family_ethertype(family: u32) -> Option<u16> {
    match family {
        2 => Some(ETHERTYPE_IPV4),
        10 | 24 | 28 | 30 => Some(ETHERTYPE_IPV6),
        _ => None,
    }
}

/// The EtherType announced by the link header of `data` (a frame of link type `link`) and the
/// offset where the network layer starts; `None` when the link header is cut short, an
/// Ethernet frame has more than [`MAX_VLAN_TAGS`] tags, a raw-IP packet is neither version 4
/// nor 6, or a loopback family is not IP. The offset may lie past the end of a short frame.
pub fn network_layer(link: LinkType, data: &[u8]) -> Option<(u16, usize)> {
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match link {
        LinkType::Ethernet => {
            let mut at = eth_field::ETHERTYPE.start;
            let mut ty = be16(at)?;
            let mut tags = 0;
            while is_vlan_tpid(ty) {
                tags += 1;
                if tags > MAX_VLAN_TAGS {
                    return None;
                }
                at += VLAN_TAG_LEN;
                ty = be16(at)?;
            }
            Some((ty, at + 2))
        }
        LinkType::LinuxSll => Some((be16(14)?, SLL_HEADER_LEN)),
        LinkType::LinuxSll2 => Some((be16(0)?, SLL2_HEADER_LEN)),
        LinkType::Raw => match data.first()? >> 4 {
            4 => Some((ETHERTYPE_IPV4, 0)),
            6 => Some((ETHERTYPE_IPV6, 0)),
            _ => None,
        },
        LinkType::Ipv4 => Some((ETHERTYPE_IPV4, 0)),
        LinkType::Ipv6 => Some((ETHERTYPE_IPV6, 0)),
        LinkType::Null | LinkType::Loop => {
            let raw: [u8; 4] = data.get(..4)?.try_into().ok()?;
            Some((family_ethertype(loopback_family(link, raw))?, 4))
        }
        LinkType::Other(_) => None,
    }
}
