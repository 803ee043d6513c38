//! One flow's ground-truth record.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// When a flow's first and last frame left in one replay loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentTimes {
    /// Loop number, from 0.
    #[serde(rename = "loop")]
    pub loop_index: u64,
    /// UTC time the flow's first frame left, ns since the Unix epoch.
    pub first_ns: u64,
    /// UTC time the flow's last frame left, ns since the Unix epoch.
    pub last_ns: u64,
}

/// The ground truth of one flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// Index of the flow in its pcap, in order of first packet, from 0.
    pub flow: u64,
    /// The pcap's file name.
    pub capture: String,
    /// Traffic class (`unknown` when the capture says nothing).
    pub class: String,
    /// The class's group (e.g. `video_streaming`), empty when unknown.
    pub group: String,
    /// IP protocol: `tcp`, `udp` or `icmp`.
    pub proto: String,
    /// Client address: the side that sent the flow's first packet.
    pub client: Ipv4Addr,
    /// Client port (ICMP: the first packet's type, as Zeek's `id.orig_p`).
    pub client_port: u16,
    /// Server address.
    pub server: Ipv4Addr,
    /// Server port (ICMP: the first packet's code, as Zeek's `id.resp_p`).
    pub server_port: u16,
    /// Community ID v1, seed 0 (`1:` and base64): the flow hash Suricata, Zeek, Arkime and
    /// Elastic put in their records.
    pub community_id: String,
    /// Packets from the client.
    pub client_packets: u64,
    /// IP bytes (headers included, link layer excluded) from the client.
    pub client_bytes: u64,
    /// Packets from the server.
    pub server_packets: u64,
    /// IP bytes from the server.
    pub server_bytes: u64,
    /// Time of the flow's first packet in the pcap, ns since the Unix epoch.
    pub first_ts_ns: u64,
    /// Time of the flow's last packet in the pcap, ns since the Unix epoch.
    pub last_ts_ns: u64,
    /// After a replay: the interface the client's frames left on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_iface: Option<String>,
    /// After a replay: the interface the server's frames left on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_iface: Option<String>,
    /// After a replay: when the flow left, one entry a loop in which any of its frames left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<SentTimes>,
}

impl FlowRecord {
    /// Packets in both directions.
    pub fn packets(&self) -> u64 {
        self.client_packets + self.server_packets
    }
}
