//! Stage 1, capture: read pcap and pcapng files into [`Frame`]s with nanosecond timestamps, and
//! dissect each frame's link, network and transport headers ([`dissect`]). Frames the pipeline
//! cannot use are skipped with a [`SkipReason`] and counted in [`SkipCounts`].

mod dissect;
mod error;
mod linktype;
mod network;
mod reader;

pub use dissect::{dissect, Dissected, L3, L4};
pub use error::{CaptureError, CaptureErrorKind};
pub use linktype::LinkType;
pub use network::network_layer;
pub(crate) use network::SLL_HEADER_LEN;
pub use reader::{CaptureFormat, CaptureReader};

use crate::wire::IpProtocol;
use std::collections::BTreeMap;
use std::fmt;

/// One captured frame as stored in a capture file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frame {
    /// 1-based record number of this frame among the file's packet records.
    pub record: u64,
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length of the frame on the wire (may exceed `data.len()` when the capture cut it).
    pub orig_len: u32,
    /// Link-layer type of the interface that captured it.
    pub link: LinkType,
    /// Captured bytes, starting with the link-layer header.
    pub data: Vec<u8>,
}

/// Why a frame was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// An IPv6 packet (netdiffd models IPv4).
    Ipv6,
    /// ARP.
    Arp,
    /// Another non-IP payload; the EtherType (or protocol) is given.
    NonIp(u16),
    /// An IEEE 802.3 frame with an LLC header (length instead of EtherType: STP, CDP, ...).
    Llc,
    /// An IPv4 protocol other than TCP, UDP and ICMP.
    OtherL4(IpProtocol),
    /// A later fragment of a fragmented IPv4 datagram (no transport header in it).
    Fragment,
    /// The capture cut the frame inside a header it needs.
    Truncated,
    /// A header field that makes the packet unparseable (IP version, header length).
    Malformed,
    /// A tunnel encapsulation netdiffd does not parse.
    Tunnel,
    /// A frame whose link header the nPrint tool does not know (Linux cooked v2, BSD or OpenBSD
    /// loopback), read as the tool reads it: from its first byte, where no IP header starts.
    LinkNotRead,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Ipv6 => write!(f, "ipv6"),
            SkipReason::Arp => write!(f, "arp"),
            SkipReason::NonIp(t) => write!(f, "non-ip(0x{t:04x})"),
            SkipReason::Llc => write!(f, "llc"),
            SkipReason::OtherL4(p) => write!(f, "ip-proto-{}", u8::from(*p)),
            SkipReason::Fragment => write!(f, "ipv4-fragment"),
            SkipReason::Truncated => write!(f, "truncated-header"),
            SkipReason::Malformed => write!(f, "malformed-header"),
            SkipReason::Tunnel => write!(f, "tunnel"),
            SkipReason::LinkNotRead => write!(f, "link-header-not-read"),
        }
    }
}

/// Counts of skipped frames by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipCounts(pub BTreeMap<SkipReason, u64>);

impl SkipCounts {
    /// Counts one more frame skipped for `reason`.
    pub fn add(&mut self, reason: SkipReason) {
        *self.0.entry(reason).or_insert(0) += 1;
    }
    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &SkipCounts) {
        for (r, n) in &other.0 {
            *self.0.entry(*r).or_insert(0) += n;
        }
    }
    /// Total frames skipped.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
    /// Count for one reason.
    pub fn get(&self, reason: SkipReason) -> u64 {
        self.0.get(&reason).copied().unwrap_or(0)
    }
    /// The counts as a JSON object keyed by reason name.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(r, n)| (r.to_string(), serde_json::Value::from(*n)))
                .collect(),
        )
    }
}

impl fmt::Display for SkipCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "none");
        }
        let parts: Vec<String> = self.0.iter().map(|(r, n)| format!("{r}={n}")).collect();
        write!(f, "{}", parts.join(" "))
    }
}
