//! Inline replay across two interfaces: which interface each frame leaves on. Frames from a
//! flow's client side leave on the first (tcpreplay's primary, `-i`), frames from its server
//! side on the second (secondary, `-I`), decided by flow, by a tcpprep cache file, or by
//! tcpprep's CIDR or port rules.

use super::clients::FirstSender;
use super::error::ReplayError;
use super::rewrite::Ipv4Cidr;
use crate::capture::{dissect, network_layer, Frame, L3};
use crate::wire::ethernet::ETHERTYPE_IPV4;
use crate::wire::ipv4;
use crate::wire::IpProtocol;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How an inline replay splits frames between its two interfaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SideSplit {
    /// By flow: the side that sent a flow's first packet is its client, and its frames leave on
    /// the first interface. What netdiffd generates opens from the client side, so this is the
    /// known side of generated traffic. Frames of no IP flow leave on the first interface.
    #[default]
    Flow,
    /// A tcpprep cache file (format 04, as `tcpprep --cachefile` writes it) for the one capture
    /// replayed: each frame's interface, or that it is not sent.
    CacheFile(PathBuf),
    /// tcpprep's CIDR mode: IPv4 frames whose source address is in one of these networks leave
    /// on the first interface, all other frames on the second.
    Cidr(Vec<Ipv4Cidr>),
    /// tcpprep's port mode: TCP and UDP frames to a server port (below 1024) leave on the first
    /// interface, all other frames on the second.
    Port,
}

impl SideSplit {
    /// The mode's name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            SideSplit::Flow => "flow",
            SideSplit::CacheFile(_) => "cachefile",
            SideSplit::Cidr(_) => "cidr",
            SideSplit::Port => "port",
        }
    }
}

/// What a tcpprep cache file says of each packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpprepCache {
    /// Packets the cache describes.
    pub packets: u64,
    /// The comment tcpprep embedded (its command line, unless told otherwise).
    pub comment: String,
    data: Vec<u8>,
}

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first interface (client side).
    Primary,
    /// The second interface (server side).
    Secondary,
    /// Not sent (a cache file said so).
    Skip,
}

const MAGIC: &[u8; 8] = b"tcpprep\0";
const HEADER_LEN: usize = 8 + 4 + 8 + 2 + 2;

impl TcpprepCache {
    /// Reads the cache file at `path`.
    pub fn read(path: &Path) -> Result<TcpprepCache, ReplayError> {
        let bytes = std::fs::read(path).map_err(|e| ReplayError::InvalidSetting {
            what: "cache file",
            why: format!("{}: {e}", path.display()),
        })?;
        Self::parse(&bytes).map_err(|why| ReplayError::InvalidSetting {
            what: "cache file",
            why: format!("{}: {why}", path.display()),
        })
    }

    /// Parses a cache file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<TcpprepCache, String> {
        if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
            return Err("not a tcpprep cache file (no `tcpprep` magic)".into());
        }
        let version = String::from_utf8_lossy(&bytes[8..12])
            .trim_end_matches('\0')
            .to_string();
        if version != "04" {
            return Err(format!(
                "cache file version {version:?} is not supported (tcpprep 4.x writes 04)"
            ));
        }
        let packets = u64::from_be_bytes(bytes[12..20].try_into().unwrap_or_default());
        let per_byte = u16::from_be_bytes([bytes[20], bytes[21]]);
        if per_byte != 4 {
            return Err(format!(
                "{per_byte} packets per byte (tcpprep writes 4, two bits a packet)"
            ));
        }
        let comment_len = usize::from(u16::from_be_bytes([bytes[22], bytes[23]]));
        let data_at = HEADER_LEN + comment_len;
        let need = packets.div_ceil(4);
        if bytes.len() < data_at || ((bytes.len() - data_at) as u64) < need {
            return Err(format!(
                "cut short: {packets} packets need {need} bytes of data after the header"
            ));
        }
        Ok(TcpprepCache {
            packets,
            comment: String::from_utf8_lossy(&bytes[HEADER_LEN..data_at]).into_owned(),
            data: bytes[data_at..data_at + need as usize].to_vec(),
        })
    }

    /// Where packet `index` (from 0) goes; packets past the cache's end are not sent.
    pub fn side(&self, index: u64) -> Side {
        if index >= self.packets {
            return Side::Skip;
        }
        let byte = self.data[(index / 4) as usize];
        let bits = (byte >> ((index % 4) * 2)) & 0b11;
        match (bits & 0b10 != 0, bits & 0b01 != 0) {
            (false, _) => Side::Skip,
            (true, true) => Side::Primary,
            (true, false) => Side::Secondary,
        }
    }
}

/// Decides frame by frame, for one pass over one capture.
#[derive(Debug)]
pub(crate) enum Splitter {
    /// Single-interface replay: every frame on the first.
    None,
    /// By flow: the first sender of each conversation is its client.
    Flow(FirstSender<(IpAddr, u16)>),
    Cache(Arc<TcpprepCache>),
    Cidr(Arc<Vec<Ipv4Cidr>>),
    Port,
}

type Endpoints = (IpProtocol, (IpAddr, u16), (IpAddr, u16));

/// What a split needs, prepared once per capture.
#[derive(Debug, Clone)]
pub(crate) enum SplitPlan {
    None,
    Flow,
    Cache(Arc<TcpprepCache>),
    Cidr(Arc<Vec<Ipv4Cidr>>),
    Port,
}

impl SplitPlan {
    /// The plan for `split`, or none for a single-interface replay.
    pub(crate) fn new(split: Option<&SideSplit>) -> Result<SplitPlan, ReplayError> {
        Ok(match split {
            None => SplitPlan::None,
            Some(SideSplit::Flow) => SplitPlan::Flow,
            Some(SideSplit::CacheFile(p)) => SplitPlan::Cache(Arc::new(TcpprepCache::read(p)?)),
            Some(SideSplit::Cidr(c)) => SplitPlan::Cidr(Arc::new(c.clone())),
            Some(SideSplit::Port) => SplitPlan::Port,
        })
    }

    /// A fresh splitter for one pass.
    pub(crate) fn splitter(&self) -> Splitter {
        match self {
            SplitPlan::None => Splitter::None,
            SplitPlan::Flow => Splitter::Flow(FirstSender::default()),
            SplitPlan::Cache(c) => Splitter::Cache(Arc::clone(c)),
            SplitPlan::Cidr(c) => Splitter::Cidr(Arc::clone(c)),
            SplitPlan::Port => Splitter::Port,
        }
    }

    /// The cache file's packet count, when the split reads one.
    pub(crate) fn cache_packets(&self) -> Option<u64> {
        match self {
            SplitPlan::Cache(c) => Some(c.packets),
            _ => None,
        }
    }
}

impl Splitter {
    /// Where frame `index` of the capture, `frame`, goes.
    pub(crate) fn side(&mut self, index: u64, frame: &Frame) -> Side {
        match self {
            Splitter::None => Side::Primary,
            Splitter::Cache(c) => c.side(index),
            Splitter::Flow(clients) => {
                let Some((proto, src, dst)) = endpoints(frame) else {
                    return Side::Primary;
                };
                if clients.is_client(proto, src, dst) {
                    Side::Primary
                } else {
                    Side::Secondary
                }
            }
            Splitter::Cidr(nets) => {
                let source = network_layer(frame.link, &frame.data)
                    .filter(|(ty, _)| *ty == ETHERTYPE_IPV4)
                    .and_then(|(_, at)| frame.data.get(at..)?.get(ipv4::field::SRC_ADDR))
                    .map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3]));
                // tcpprep calls matching sources servers and the rest (IPv6 and frames that
                // are not IP too) clients, and sends servers on the primary interface.
                match source {
                    Some(a) if nets.iter().any(|n| n.contains(a)) => Side::Primary,
                    _ => Side::Secondary,
                }
            }
            Splitter::Port => match dissect(frame).map(|d| (d.l4.proto(), d.l4.ports())) {
                // tcpprep: TCP and UDP to a server port come from the client; everything else
                // (other ports, other protocols, frames that are not IP) counts as the server's.
                Ok((IpProtocol::Tcp | IpProtocol::Udp, (_, dport))) if dport < 1024 => {
                    Side::Primary
                }
                _ => Side::Secondary,
            },
        }
    }
}

fn endpoints(frame: &Frame) -> Option<Endpoints> {
    let d = dissect(frame).ok()?;
    let (src, dst) = match d.l3 {
        L3::V4(ip) => (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr())),
        L3::V6(ip) => (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr())),
    };
    let (sp, dp) = d.l4.ports();
    Some((d.l4.proto(), (src, sp), (dst, dp)))
}

/// Where each frame of the capture at `path` goes under `split`, in file order: what an
/// inline replay does with it, without sending anything (tcpprep's `--print-info` view).
pub fn split_sides(path: &Path, split: &SideSplit) -> Result<Vec<Side>, ReplayError> {
    let plan = SplitPlan::new(Some(split))?;
    let mut splitter = plan.splitter();
    let mut reader = crate::capture::CaptureReader::open(path)?;
    let mut frame = Frame::default();
    let mut sides = Vec::new();
    while reader.read_into(&mut frame)? {
        sides.push(splitter.side(sides.len() as u64, &frame));
    }
    if let Some(cached) = plan.cache_packets() {
        if cached != sides.len() as u64 {
            return Err(ReplayError::InvalidSetting {
                what: "cache file",
                why: format!(
                    "it describes {cached} packets but {} holds {}: it was made for another capture",
                    path.display(),
                    sides.len()
                ),
            });
        }
    }
    Ok(sides)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(packets: u64, data: &[u8]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(b"04\0\0");
        b.extend_from_slice(&packets.to_be_bytes());
        b.extend_from_slice(&4u16.to_be_bytes());
        b.extend_from_slice(&3u16.to_be_bytes());
        b.extend_from_slice(b"abc");
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn cache_bits_two_a_packet_low_first() {
        // 0b10_00_10_11: packet 0 primary, 1 secondary, 2 skip, 3 secondary; 4 primary.
        let c = TcpprepCache::parse(&cache(5, &[0b1000_1011, 0b11])).unwrap();
        assert_eq!(c.comment, "abc");
        let sides: Vec<Side> = (0..6).map(|i| c.side(i)).collect();
        use Side::*;
        assert_eq!(sides, [Primary, Secondary, Skip, Secondary, Primary, Skip]);
    }

    #[test]
    fn bad_cache_files_say_why() {
        assert!(TcpprepCache::parse(b"nope").unwrap_err().contains("magic"));
        let mut v3 = cache(1, &[3]);
        v3[8..12].copy_from_slice(b"03\0\0");
        assert!(TcpprepCache::parse(&v3).unwrap_err().contains("03"));
        let short = cache(9, &[0xff]);
        assert!(TcpprepCache::parse(&short)
            .unwrap_err()
            .contains("cut short"));
    }
}
