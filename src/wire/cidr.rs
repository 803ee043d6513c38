//! IPv4 networks in CIDR form: the one type and parser for address pools, rewriting maps and
//! inline-replay splits.

use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network, e.g. `198.18.0.0/15`; host bits are cleared when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// Network address (host bits zero).
    pub network: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix: u8,
}

/// Why a CIDR string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid IPv4 network {0:?} (expected ADDRESS/PREFIX such as 198.18.0.0/15, or one address)"
)]
pub struct CidrError(pub String);

impl FromStr for Ipv4Cidr {
    type Err = CidrError;
    /// `ADDRESS/PREFIX`, or a bare address meaning that one host (`/32`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || CidrError(s.to_string());
        let (a, p) = s.trim().split_once('/').unwrap_or((s.trim(), "32"));
        let addr: Ipv4Addr = a.trim().parse().map_err(|_| err())?;
        let prefix: u8 = p.trim().parse().map_err(|_| err())?;
        if prefix > 32 {
            return Err(err());
        }
        Ok(Ipv4Cidr::new(addr, prefix))
    }
}

impl std::fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Ipv4Cidr {
    /// The network of `addr` with `prefix` bits (host bits cleared; prefixes above 32 read as 32).
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Ipv4Cidr {
        let prefix = prefix.min(32);
        Ipv4Cidr {
            network: Ipv4Addr::from(u32::from(addr) & Self::mask_of(prefix)),
            prefix,
        }
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix.min(32)))
        }
    }

    /// The network mask as a number.
    pub fn mask(&self) -> u32 {
        Self::mask_of(self.prefix)
    }

    /// Number of usable host addresses (network and broadcast excluded for prefixes < 31).
    pub fn hosts(&self) -> u64 {
        let size = 1u64 << (32 - u32::from(self.prefix));
        if self.prefix >= 31 {
            size
        } else {
            size - 2
        }
    }

    /// The `i`-th usable host address (wrapping), so a pool can be drawn from by index.
    pub fn host(&self, i: u64) -> Ipv4Addr {
        let first = if self.prefix >= 31 { 0 } else { 1 };
        let off = first + (i % self.hosts()) as u32;
        Ipv4Addr::from(u32::from(self.network).wrapping_add(off))
    }

    /// True when `a` is inside the network.
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask() == u32::from(self.network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_networks_and_single_hosts_alike_everywhere() {
        let c: Ipv4Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!((c.network, c.prefix), (Ipv4Addr::new(10, 0, 0, 0), 8));
        assert_eq!(c.to_string(), "10.0.0.0/8");
        let h: Ipv4Cidr = "192.0.2.7".parse().unwrap();
        assert_eq!(h.to_string(), "192.0.2.7/32");
        assert!(
            h.contains(Ipv4Addr::new(192, 0, 2, 7)) && !h.contains(Ipv4Addr::new(192, 0, 2, 8))
        );
        let any: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains(Ipv4Addr::new(8, 8, 8, 8)));
        let pool: Ipv4Cidr = "198.18.0.0/30".parse().unwrap();
        assert_eq!(pool.hosts(), 2);
        assert_eq!(pool.host(0), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(pool.host(3), Ipv4Addr::new(198, 18, 0, 2));
        for bad in ["10.0.0.0/33", "10.0.0/8", "x", "", "10.0.0.0/"] {
            let e = bad.parse::<Ipv4Cidr>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
