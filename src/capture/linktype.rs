//! Link-layer header types (the DLT/LINKTYPE numbers of tcpdump.org).

use std::fmt;

/// Link types the capture stage understands, plus the raw number of any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LinkType {
    /// BSD loopback: a 4-byte address family in host byte order (LINKTYPE_NULL, 0).
    Null,
    /// Ethernet II, with 802.1Q / 802.1ad tags allowed (1).
    #[default]
    Ethernet,
    /// Raw IP, version from the first nibble (101; DLT_RAW is 12 or 14 on some BSDs).
    Raw,
    /// OpenBSD loopback: the address family in network byte order (108).
    Loop,
    /// Linux cooked capture v1 (113).
    LinuxSll,
    /// Raw IPv4 (228).
    Ipv4,
    /// Raw IPv6 (229).
    Ipv6,
    /// Linux cooked capture v2 (276).
    LinuxSll2,
    /// Any other link type, unsupported.
    Other(u32),
}

impl LinkType {
    /// The link type for a LINKTYPE number as found in a file header.
    pub fn from_number(n: u32) -> LinkType {
        match n {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::Raw,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The LINKTYPE number written to files.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(n) => n,
        }
    }

    /// True for the link types netdiffd can dissect.
    pub fn is_supported(self) -> bool {
        !matches!(self, LinkType::Other(_))
    }
}

/// A name for a LINKTYPE number, for error messages.
pub fn linktype_name(n: u32) -> &'static str {
    match n {
        0 => "BSD loopback (NULL)",
        1 => "Ethernet",
        6 => "IEEE 802.5 Token Ring",
        7 => "ARCNET",
        8 => "SLIP",
        9 => "PPP",
        10 => "FDDI",
        11 => "ATM RFC 1483",
        12 | 14 | 101 => "raw IP",
        50 => "PPP in HDLC-like framing",
        51 => "PPP over Ethernet",
        104 => "Cisco HDLC",
        105 => "IEEE 802.11",
        107 => "Frame Relay",
        108 => "OpenBSD loopback",
        113 => "Linux cooked (SLL)",
        117 => "OpenBSD pflog",
        119 => "Prism 802.11",
        127 => "IEEE 802.11 radiotap",
        143 => "DOCSIS",
        147..=162 => "user-defined (DLT_USER0-15)",
        163 => "AVS 802.11",
        187 => "Bluetooth HCI H4",
        192 => "PPI",
        195 => "IEEE 802.15.4",
        197 => "Endace ERF",
        220 => "Linux USB",
        228 => "raw IPv4",
        229 => "raw IPv6",
        239 => "Linux netfilter NFLOG",
        251 => "Bluetooth LE link layer",
        276 => "Linux cooked v2 (SLL2)",
        _ => "unknown",
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.number();
        write!(f, "{} ({n})", linktype_name(n))
    }
}
