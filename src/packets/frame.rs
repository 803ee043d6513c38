//! Frame construction.

use crate::capture::LinkType;

/// How an IPv4 packet is framed on the wire and in pcap files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Ethernet II with these MAC addresses (for the client → server direction; the other
    /// direction swaps them).
    Ethernet {
        /// Client-side MAC.
        client_mac: [u8; 6],
        /// Server-side MAC.
        server_mac: [u8; 6],
    },
    /// Raw IP (LINKTYPE_RAW, 101).
    RawIp,
}

impl Default for Framing {
    /// Ethernet with locally administered test-bed MACs.
    fn default() -> Self {
        Framing::Ethernet {
            client_mac: [0x02, 0x00, 0x00, 0x00, 0x00, 0x01],
            server_mac: [0x02, 0x00, 0x00, 0x00, 0x00, 0x02],
        }
    }
}

impl Framing {
    /// The pcap link type of frames built this way.
    pub fn link_type(&self) -> LinkType {
        match self {
            Framing::Ethernet { .. } => LinkType::Ethernet,
            Framing::RawIp => LinkType::Raw,
        }
    }

    /// Appends the link header for an IPv4 packet travelling client → server (`forward`) or
    /// back.
    pub fn push_header(&self, forward: bool, out: &mut Vec<u8>) {
        if let Framing::Ethernet {
            client_mac,
            server_mac,
        } = self
        {
            let (src, dst) = if forward {
                (client_mac, server_mac)
            } else {
                (server_mac, client_mac)
            };
            out.extend_from_slice(dst);
            out.extend_from_slice(src);
            out.extend_from_slice(&0x0800u16.to_be_bytes());
        }
    }
}

pub use crate::wire::mac::parse_mac;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethernet_header_swaps_by_direction() {
        let f = Framing::default();
        let mut a = Vec::new();
        f.push_header(true, &mut a);
        let mut b = Vec::new();
        f.push_header(false, &mut b);
        assert_eq!(a.len(), 14);
        assert_eq!(&a[0..6], &b[6..12]);
        assert_eq!(&a[12..], &[0x08, 0x00]);
        let mut r = Vec::new();
        Framing::RawIp.push_header(true, &mut r);
        assert!(r.is_empty());
    }
}
