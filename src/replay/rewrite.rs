//! Rewriting frames for the test bed: MAC addresses per direction, IPv4 addresses by CIDR
//! mapping (tcprewrite's pseudo-NAT), unique addresses per loop, ports and TTL. IPv4, TCP and
//! UDP checksums are recomputed after any change to what they cover (fully when the whole
//! segment is in the frame, incrementally per RFC 1624 when the capture cut it short).

use super::clients::FirstSender;
use super::link::ethernet_header_len;
use crate::wire::checksum;
use crate::wire::ethernet::{field as eth_field, ETHERTYPE_IPV4};
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::udp::{self, UdpPacket};
use crate::wire::{be16, Field, IpProtocol};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

pub use crate::wire::cidr::Ipv4Cidr;

/// Why a rewrite setting could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{value}': expected {expected}")]
pub struct RewriteParseError {
    what: &'static str,
    value: String,
    expected: &'static str,
}

fn parse_err(what: &'static str, value: &str, expected: &'static str) -> RewriteParseError {
    RewriteParseError {
        what,
        value: value.to_string(),
        expected,
    }
}

/// One MAC address for each direction of a flow: the client's packets (the side that sent a
/// flow's first packet) get `primary`, the server's `secondary` (or `primary` if none is given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacPair {
    /// For packets from the client side (and non-IP frames).
    pub primary: [u8; 6],
    /// For packets from the server side.
    pub secondary: Option<[u8; 6]>,
}

/// Parses a MAC address such as `02:00:00:00:00:01` (the one parser of [`crate::wire::mac`]).
pub fn parse_mac(s: &str) -> Result<[u8; 6], RewriteParseError> {
    crate::wire::mac::parse_mac(s)
        .map_err(|_| parse_err("MAC address", s, "six hex bytes such as 02:00:00:00:00:01"))
}

impl FromStr for MacPair {
    type Err = RewriteParseError;
    fn from_str(s: &str) -> Result<MacPair, RewriteParseError> {
        let values: Vec<&str> = s.split(',').collect();
        if values.len() > 2 {
            return Err(parse_err(
                "MAC list",
                s,
                "one MAC, or two as CLIENT,SERVER (the first for the client side, the second for the server side)",
            ));
        }
        let (a, b) = (values[0], values.get(1).copied());
        Ok(MacPair {
            primary: parse_mac(a)?,
            secondary: b.map(parse_mac).transpose()?,
        })
    }
}

/// Maps addresses of one network into another, keeping the host bits (tcprewrite `--pnat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CidrMap {
    /// Addresses in this network are rewritten...
    pub from: Ipv4Cidr,
    /// ...into this one.
    pub to: Ipv4Cidr,
}

impl CidrMap {
    fn map(&self, a: Ipv4Addr) -> Option<Ipv4Addr> {
        self.from.contains(a).then(|| {
            let host = u32::from(a) & !self.to.mask();
            Ipv4Addr::from(u32::from(self.to.network) | host)
        })
    }
}

impl FromStr for CidrMap {
    type Err = RewriteParseError;
    fn from_str(s: &str) -> Result<CidrMap, RewriteParseError> {
        let (f, t) = s.split_once(':').ok_or_else(|| {
            parse_err(
                "address mapping",
                s,
                "FROM/LEN:TO/LEN such as 10.0.0.0/8:198.18.0.0/15",
            )
        })?;
        let net = |v: &str| {
            v.parse::<Ipv4Cidr>()
                .map_err(|_| parse_err("IPv4 network", v, "ADDRESS/PREFIX such as 10.0.0.0/8"))
        };
        Ok(CidrMap {
            from: net(f)?,
            to: net(t)?,
        })
    }
}

/// A port rewrite: `from` becomes `to`, as source or destination port of TCP and UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMap {
    /// Port to replace.
    pub from: u16,
    /// Replacement.
    pub to: u16,
}

impl FromStr for PortMap {
    type Err = RewriteParseError;
    fn from_str(s: &str) -> Result<PortMap, RewriteParseError> {
        let err = || parse_err("port mapping", s, "FROM:TO such as 80:8080");
        let (f, t) = s.split_once(':').ok_or_else(err)?;
        Ok(PortMap {
            from: f.parse().map_err(|_| err())?,
            to: t.parse().map_err(|_| err())?,
        })
    }
}

/// A TTL rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlRule {
    /// Set every TTL to this.
    Set(u8),
    /// Add this, saturating at 255.
    Add(u8),
    /// Subtract this, saturating at 1.
    Sub(u8),
}

impl FromStr for TtlRule {
    type Err = RewriteParseError;
    fn from_str(s: &str) -> Result<TtlRule, RewriteParseError> {
        let err = || parse_err("TTL", s, "N, +N or -N with N in 0..=255");
        let n = |t: &str| t.parse::<u8>().map_err(|_| err());
        match s.as_bytes().first() {
            Some(b'+') => Ok(TtlRule::Add(n(&s[1..])?)),
            Some(b'-') => Ok(TtlRule::Sub(n(&s[1..])?)),
            _ => Ok(TtlRule::Set(n(s)?)),
        }
    }
}

impl fmt::Display for TtlRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TtlRule::Set(n) => write!(f, "{n}"),
            TtlRule::Add(n) => write!(f, "+{n}"),
            TtlRule::Sub(n) => write!(f, "-{n}"),
        }
    }
}

/// What to rewrite; the default rewrites nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewriteConfig {
    /// Source MAC per direction.
    pub smac: Option<MacPair>,
    /// Destination MAC per direction.
    pub dmac: Option<MacPair>,
    /// IPv4 network mappings, first match wins, applied to source and destination.
    pub pnat: Vec<CidrMap>,
    /// Add the loop number (0 for the first loop) to every IPv4 address, so each loop makes new
    /// flows; inside a `pnat` target network the sum wraps within that network.
    pub unique_ip: bool,
    /// Port mappings applied to TCP and UDP source and destination ports.
    pub portmap: Vec<PortMap>,
    /// TTL rewrite.
    pub ttl: Option<TtlRule>,
    /// Recompute IPv4, TCP and UDP checksums of every frame even when nothing changed.
    pub fix_checksums: bool,
}

impl RewriteConfig {
    /// True when any rewrite is asked for.
    pub fn is_active(&self) -> bool {
        self.smac.is_some() || self.dmac.is_some() || self.touches_ip()
    }

    fn touches_ip(&self) -> bool {
        !self.pnat.is_empty()
            || self.unique_ip
            || !self.portmap.is_empty()
            || self.ttl.is_some()
            || self.fix_checksums
    }

    fn per_direction(&self) -> bool {
        self.smac.is_some_and(|m| m.secondary.is_some())
            || self.dmac.is_some_and(|m| m.secondary.is_some())
    }
}

type Endpoint = (Ipv4Addr, u16);

/// Applies a [`RewriteConfig`] to frames, remembering which side started each flow.
#[derive(Debug, Default)]
pub struct Rewriter {
    cfg: RewriteConfig,
    clients: FirstSender<Endpoint>,
}

impl Rewriter {
    /// A rewriter for `cfg`.
    pub fn new(cfg: RewriteConfig) -> Rewriter {
        Rewriter {
            cfg,
            clients: FirstSender::default(),
        }
    }

    /// True when frames change at all.
    pub fn is_active(&self) -> bool {
        self.cfg.is_active()
    }

    /// Rewrites `frame` in place: an Ethernet frame when `ethernet`, else a bare IP packet.
    /// `loop_index` counts loops from 0.
    pub fn apply(&mut self, frame: &mut [u8], ethernet: bool, loop_index: u64) {
        self.apply_side(frame, ethernet, loop_index, None);
    }

    /// As [`apply`](Self::apply), with the frame's side already known (`Some(true)` for the
    /// server side, as an inline replay's split decided) instead of tracked by the rewriter.
    pub fn apply_side(
        &mut self,
        frame: &mut [u8],
        ethernet: bool,
        loop_index: u64,
        known_server_side: Option<bool>,
    ) {
        let l3 = if ethernet {
            ethernet_header_len(frame)
        } else {
            0
        };
        let is_ipv4 = if ethernet {
            l3 >= 2 && frame.get(l3 - 2..l3) == Some(&ETHERTYPE_IPV4.to_be_bytes()[..])
        } else {
            frame.first().is_some_and(|b| b >> 4 == 4)
        };
        let mut server_side = known_server_side.unwrap_or(false);
        if is_ipv4 && l3 <= frame.len() {
            if let Ok(ip) = Ipv4Packet::new_checked(&frame[l3..]) {
                if self.cfg.per_direction() && known_server_side.is_none() {
                    server_side = self.is_server_side(&ip);
                }
            }
            if self.cfg.touches_ip() {
                self.rewrite_ipv4(&mut frame[l3..], loop_index);
            }
        }
        if ethernet && frame.len() >= eth_field::SOURCE.end {
            let pick = |m: MacPair| {
                if server_side {
                    m.secondary.unwrap_or(m.primary)
                } else {
                    m.primary
                }
            };
            if let Some(d) = self.cfg.dmac {
                frame[eth_field::DESTINATION].copy_from_slice(&pick(d));
            }
            if let Some(s) = self.cfg.smac {
                frame[eth_field::SOURCE].copy_from_slice(&pick(s));
            }
        }
    }

    fn is_server_side(&mut self, ip: &Ipv4Packet<&[u8]>) -> bool {
        let (sp, dp) = ports(ip).unwrap_or((0, 0));
        !self
            .clients
            .is_client(ip.protocol(), (ip.src_addr(), sp), (ip.dst_addr(), dp))
    }

    fn rewrite_ipv4(&self, bytes: &mut [u8], loop_index: u64) {
        let Ok(mut ip) = Ipv4Packet::new_checked(&mut *bytes) else {
            return;
        };
        let (old_src, old_dst) = (ip.src_addr(), ip.dst_addr());
        let new_src = self.map_addr(old_src, loop_index);
        let new_dst = self.map_addr(old_dst, loop_index);
        ip.set_src_addr(new_src);
        ip.set_dst_addr(new_dst);
        if let Some(rule) = self.cfg.ttl {
            let t = ip.ttl();
            ip.set_ttl(match rule {
                TtlRule::Set(n) => n,
                TtlRule::Add(n) => t.saturating_add(n),
                TtlRule::Sub(n) => t.saturating_sub(n).max(1),
            });
        }
        ip.fill_checksum();
        let (hl, proto, first_fragment) = (ip.header_len(), ip.protocol(), ip.frag_offset() == 0);
        let complete = ip.payload().len() == ip.claimed_payload_len();
        let seg_end = hl + ip.payload().len();
        if !first_fragment || !matches!(proto, IpProtocol::Tcp | IpProtocol::Udp) {
            return;
        }
        let seg = &mut bytes[hl..seg_end];
        let csum = if proto == IpProtocol::Tcp {
            tcp::field::CHECKSUM
        } else {
            udp::field::CHECKSUM
        };
        if seg.len() < csum.end {
            return;
        }
        let mut old_ports = [0u8; 4];
        old_ports.copy_from_slice(&seg[PORTS]);
        let map_port = |p: u16| {
            self.cfg
                .portmap
                .iter()
                .find(|m| m.from == p)
                .map_or(p, |m| m.to)
        };
        let sp = map_port(be16(seg, tcp::field::SRC_PORT));
        let dp = map_port(be16(seg, tcp::field::DST_PORT));
        if proto == IpProtocol::Tcp {
            if let Ok(mut t) = TcpPacket::new_checked(&mut *seg) {
                t.set_ports(sp, dp);
            }
        } else if let Ok(mut u) = UdpPacket::new_checked(&mut *seg) {
            u.set_ports(sp, dp);
        }
        let old_csum = be16(seg, csum.clone());
        if proto == IpProtocol::Udp && old_csum == 0 {
            return; // no checksum in this datagram
        }
        if complete {
            if proto == IpProtocol::Tcp {
                TcpPacket::new_unchecked(seg).fill_checksum(new_src, new_dst);
            } else {
                UdpPacket::new_unchecked(seg).fill_checksum(new_src, new_dst);
            }
            return;
        }
        let mut old = [0u8; 12];
        old[..4].copy_from_slice(&old_src.octets());
        old[4..8].copy_from_slice(&old_dst.octets());
        old[8..].copy_from_slice(&old_ports);
        let mut new = [0u8; 12];
        new[..4].copy_from_slice(&new_src.octets());
        new[4..8].copy_from_slice(&new_dst.octets());
        new[8..].copy_from_slice(&seg[PORTS]);
        let new_csum = checksum::update(old_csum, &old, &new);
        let new_csum = if proto == IpProtocol::Udp && new_csum == 0 {
            0xffff
        } else {
            new_csum
        };
        seg[csum].copy_from_slice(&new_csum.to_be_bytes());
    }

    fn map_addr(&self, a: Ipv4Addr, loop_index: u64) -> Ipv4Addr {
        let hit = self
            .cfg
            .pnat
            .iter()
            .find_map(|m| m.map(a).map(|n| (n, m.to)));
        let mapped = hit.map_or(a, |(n, _)| n);
        if !self.cfg.unique_ip || loop_index == 0 {
            return mapped;
        }
        let add = loop_index as u32;
        match hit {
            Some((_, net)) => {
                let host_mask = !net.mask();
                let host = (u32::from(mapped) & host_mask).wrapping_add(add) & host_mask;
                Ipv4Addr::from(u32::from(net.network) | host)
            }
            None => Ipv4Addr::from(u32::from(mapped).wrapping_add(add)),
        }
    }
}

/// The source and destination ports, which begin TCP and UDP headers alike.
const PORTS: Field = tcp::field::SRC_PORT.start..tcp::field::DST_PORT.end;

fn ports(ip: &Ipv4Packet<&[u8]>) -> Option<(u16, u16)> {
    if ip.frag_offset() != 0 || !matches!(ip.protocol(), IpProtocol::Tcp | IpProtocol::Udp) {
        return None;
    }
    let p = ip.payload();
    (p.len() >= PORTS.end).then(|| (be16(p, tcp::field::SRC_PORT), be16(p, tcp::field::DST_PORT)))
}

#[cfg(test)]
#[path = "rewrite_tests.rs"]
mod tests;
