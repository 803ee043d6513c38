//! Fitting a capture's link type to the interface's framing: Ethernet captures go to Ethernet
//! interfaces as they are; captures without an Ethernet header (raw IP, BSD loopback, Linux
//! cooked) get one built from the destination MAC given for rewriting (and the source MAC given,
//! or the interface's own); onto a raw-IP interface, link headers are stripped.

use super::error::ReplayError;
use super::iface::{IfaceFraming, InterfaceInfo};
use crate::capture::LinkType;
use crate::wire::ethernet::{
    field as eth_field, is_vlan_tpid, ETHERTYPE_IPV4, ETHERTYPE_IPV6, HEADER_LEN as ETH_HEADER_LEN,
    MAX_VLAN_TAGS, VLAN_TAG_LEN,
};
use std::path::Path;

/// How frames of one capture are made fit for the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Sent as captured.
    AsIs,
    /// The link header is replaced by an Ethernet header with these addresses.
    AddEthernet {
        /// Source MAC.
        src: [u8; 6],
        /// Destination MAC.
        dst: [u8; 6],
    },
    /// The link header is removed, leaving the IP packet.
    StripToIp,
}

/// Chooses the framing for a capture of link type `capture` sent on `iface`.
pub(crate) fn plan(
    path: &Path,
    capture: LinkType,
    iface: &InterfaceInfo,
    smac: Option<[u8; 6]>,
    dmac: Option<[u8; 6]>,
) -> Result<Framing, ReplayError> {
    let mismatch = |hint| ReplayError::LinkMismatch {
        path: path.to_path_buf(),
        capture,
        iface: iface.name.clone(),
        iface_kind: iface.framing.to_string(),
        hint,
    };
    match (iface.framing, capture) {
        (IfaceFraming::Ethernet, LinkType::Ethernet) => Ok(Framing::AsIs),
        (IfaceFraming::Ethernet, _) => {
            let dst = dmac.ok_or_else(|| {
                mismatch("give --dmac (and optionally --smac) to replace the link header with an Ethernet header")
            })?;
            let src = smac.or(iface.mac).unwrap_or([0x02, 0, 0, 0, 0, 0x01]);
            Ok(Framing::AddEthernet { src, dst })
        }
        (IfaceFraming::RawIp, LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6) => Ok(Framing::AsIs),
        (IfaceFraming::RawIp, _) => Ok(Framing::StripToIp),
        (IfaceFraming::Other(_), _) => Err(mismatch(
            "netdiffd sends on Ethernet and raw-IP interfaces only",
        )),
    }
}

/// The EtherType and the offset of the IP packet in a frame of link type `link`; `None` when
/// the frame is too short or carries no IP.
fn network_layer(link: LinkType, data: &[u8]) -> Option<(u16, usize)> {
    crate::capture::network_layer(link, data).filter(|&(ethertype, at)| {
        at <= data.len() && matches!(ethertype, ETHERTYPE_IPV4 | ETHERTYPE_IPV6)
    })
}

/// Length of the link header of an Ethernet frame, VLAN tags included (for the MTU check).
pub(crate) fn ethernet_header_len(data: &[u8]) -> usize {
    let mut at = eth_field::ETHERTYPE.start;
    let mut tags = 0;
    while tags < MAX_VLAN_TAGS
        && data
            .get(at..at + 2)
            .is_some_and(|b| is_vlan_tpid(u16::from_be_bytes([b[0], b[1]])))
    {
        tags += 1;
        at += VLAN_TAG_LEN;
    }
    ETH_HEADER_LEN + tags * VLAN_TAG_LEN
}

/// Writes frame `data` (link type `link`) framed as `framing` into `out`; false when it cannot
/// be (no IP packet in a frame that must be re-framed). `AsIs` copies the frame.
pub(crate) fn reframe(framing: Framing, link: LinkType, data: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    match framing {
        Framing::AsIs => {
            out.extend_from_slice(data);
            true
        }
        Framing::AddEthernet { src, dst } => match network_layer(link, data) {
            Some((ethertype, at)) => {
                out.extend_from_slice(&dst);
                out.extend_from_slice(&src);
                out.extend_from_slice(&ethertype.to_be_bytes());
                out.extend_from_slice(&data[at..]);
                true
            }
            None => false,
        },
        Framing::StripToIp => match network_layer(link, data) {
            Some((_, at)) => {
                out.extend_from_slice(&data[at..]);
                true
            }
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(framing: IfaceFraming) -> InterfaceInfo {
        InterfaceInfo {
            name: "t0".into(),
            index: 9,
            mtu: 1500,
            framing,
            mac: Some([2, 0, 0, 0, 0, 9]),
            carrier: Some(true),
        }
    }

    #[test]
    fn raw_ip_onto_ethernet_needs_a_destination_mac() {
        let p = Path::new("x.pcap");
        let e = plan(p, LinkType::Raw, &iface(IfaceFraming::Ethernet), None, None).unwrap_err();
        assert!(e.to_string().contains("--dmac"), "{e}");
        let f = plan(
            p,
            LinkType::Raw,
            &iface(IfaceFraming::Ethernet),
            None,
            Some([2, 0, 0, 0, 0, 7]),
        )
        .unwrap();
        assert_eq!(
            f,
            Framing::AddEthernet {
                src: [2, 0, 0, 0, 0, 9],
                dst: [2, 0, 0, 0, 0, 7]
            }
        );
        assert_eq!(
            plan(
                p,
                LinkType::Ethernet,
                &iface(IfaceFraming::Ethernet),
                None,
                None
            )
            .unwrap(),
            Framing::AsIs
        );
        assert_eq!(
            plan(
                p,
                LinkType::Ethernet,
                &iface(IfaceFraming::RawIp),
                None,
                None
            )
            .unwrap(),
            Framing::StripToIp
        );
        assert!(plan(
            p,
            LinkType::Ethernet,
            &iface(IfaceFraming::Other(801)),
            None,
            None
        )
        .is_err());
    }

    #[test]
    fn reframes_cooked_and_tagged_frames() {
        let ip = [
            0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        let mut out = Vec::new();
        let framing = Framing::AddEthernet {
            src: [1; 6],
            dst: [2; 6],
        };
        assert!(reframe(framing, LinkType::LinuxSll, &sll, &mut out));
        assert_eq!(&out[..6], &[2; 6]);
        assert_eq!(&out[6..12], &[1; 6]);
        assert_eq!(&out[12..14], &[0x08, 0x00]);
        assert_eq!(&out[14..], &ip);

        let mut tagged = vec![0u8; 12];
        tagged.extend_from_slice(&[0x81, 0x00, 0, 5, 0x08, 0x00]);
        tagged.extend_from_slice(&ip);
        assert_eq!(ethernet_header_len(&tagged), 18);
        assert!(reframe(
            Framing::StripToIp,
            LinkType::Ethernet,
            &tagged,
            &mut out
        ));
        assert_eq!(out, ip);

        let arp = [0u8; 12]
            .iter()
            .chain(&[0x08, 0x06, 0, 1])
            .copied()
            .collect::<Vec<u8>>();
        assert!(!reframe(
            Framing::StripToIp,
            LinkType::Ethernet,
            &arp,
            &mut out
        ));
    }
}
