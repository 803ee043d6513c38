//! The IP protocol field (IPv4 protocol, IPv6 next header) as a type.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// An upper-layer protocol as the IPv4 protocol field (or the IPv6 next header) names it: the
/// ones netdiffd handles by name, any other by its number.
///
/// It converts to and from the protocol number (`From<u8>`, `u8::from`), and compares, orders
/// and hashes as that number, so `IpProtocol::Unknown(6)` equals `IpProtocol::Tcp` and a sorted
/// list of protocols is in protocol-number order. It serialises as the number, so a serialised
/// struct keeps the form it had when the field was a `u8`. Build one with `From<u8>` (as every
/// view does) or a named variant: a `match` on the named variants takes 6 to be `Tcp`, never
/// `Unknown(6)`.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(from = "u8", into = "u8")]
pub enum IpProtocol {
    /// ICMP for IPv4 (1).
    Icmp,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP for IPv6 (58).
    Icmpv6,
    /// SCTP (132), which Community ID hashes with its ports.
    Sctp,
    /// Any other protocol number.
    Unknown(u8),
}

impl IpProtocol {
    /// The protocol number.
    pub const fn number(self) -> u8 {
        match self {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Icmpv6 => 58,
            IpProtocol::Sctp => 132,
            IpProtocol::Unknown(n) => n,
        }
    }

    /// The lower-case name ground-truth records (labels files) write: `tcp`, `udp`, `icmp`,
    /// `icmpv6`, `sctp`; `None` for a protocol without a name, which they write as its number.
    pub const fn keyword(self) -> Option<&'static str> {
        match self.canonical() {
            IpProtocol::Icmp => Some("icmp"),
            IpProtocol::Tcp => Some("tcp"),
            IpProtocol::Udp => Some("udp"),
            IpProtocol::Icmpv6 => Some("icmpv6"),
            IpProtocol::Sctp => Some("sctp"),
            IpProtocol::Unknown(_) => None,
        }
    }

    /// The same protocol with a named variant wherever one exists (`Unknown(6)` is `Tcp`).
    const fn canonical(self) -> IpProtocol {
        match self.number() {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            58 => IpProtocol::Icmpv6,
            132 => IpProtocol::Sctp,
            n => IpProtocol::Unknown(n),
        }
    }
}

impl From<u8> for IpProtocol {
    fn from(n: u8) -> Self {
        IpProtocol::Unknown(n).canonical()
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        p.number()
    }
}

impl PartialEq for IpProtocol {
    fn eq(&self, other: &Self) -> bool {
        self.number() == other.number()
    }
}

impl Eq for IpProtocol {}

impl PartialOrd for IpProtocol {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IpProtocol {
    fn cmp(&self, other: &Self) -> Ordering {
        self.number().cmp(&other.number())
    }
}

impl Hash for IpProtocol {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.number().hash(state);
    }
}

/// The conventional upper-case name (`TCP`, `UDP`, `ICMP`, `ICMPv6`, `SCTP`) as flow keys,
/// compliance reports and decode errors write it; the number for any other protocol.
impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.canonical() {
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Icmpv6 => f.write_str("ICMPv6"),
            IpProtocol::Sctp => f.write_str("SCTP"),
            IpProtocol::Unknown(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn numbers_round_trip_and_name_the_known_protocols() {
        for n in 0..=u8::MAX {
            assert_eq!(u8::from(IpProtocol::from(n)), n);
        }
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert!(matches!(IpProtocol::from(17), IpProtocol::Udp));
        assert!(matches!(IpProtocol::from(1), IpProtocol::Icmp));
        assert!(matches!(IpProtocol::from(2), IpProtocol::Unknown(2)));
        let shown: Vec<String> = [1u8, 6, 17, 58, 132, 2]
            .map(|n| IpProtocol::from(n).to_string())
            .into();
        assert_eq!(shown, ["ICMP", "TCP", "UDP", "ICMPv6", "SCTP", "2"]);
        assert_eq!(IpProtocol::Tcp.keyword(), Some("tcp"));
        assert_eq!(IpProtocol::Unknown(17).keyword(), Some("udp"));
        assert_eq!(IpProtocol::Unknown(47).keyword(), None);
    }

    #[test]
    fn compares_orders_hashes_and_serialises_as_the_number() {
        assert_eq!(IpProtocol::Unknown(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::Unknown(6).to_string(), "TCP");
        let mut v = vec![IpProtocol::Udp, IpProtocol::Tcp, IpProtocol::Unknown(2)];
        v.sort();
        assert_eq!(v, [2, 6, 17].map(IpProtocol::from));
        let set: HashSet<IpProtocol> = [IpProtocol::Tcp, IpProtocol::Unknown(6)].into();
        assert_eq!(set.len(), 1);
        assert_eq!(serde_json::to_string(&IpProtocol::Udp).unwrap(), "17");
        let p: IpProtocol = serde_json::from_str("1").unwrap();
        assert!(matches!(p, IpProtocol::Icmp));
    }
}
