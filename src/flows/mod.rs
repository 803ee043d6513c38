//! Stage 2, flows: group IPv4 packets into bidirectional flows (TCP and UDP by 5-tuple, ICMP by
//! address pair and echo identifier), split by idle and active timeouts and by TCP connection
//! reuse, and keep per packet its direction, inter-arrival time, payload length and its IPv4 and
//! transport headers. The flow stage encodes nothing: a stage that needs a packet's nPrint row
//! asks [`crate::nprint::flow_packet_row`] for it.

mod community_id;
mod labels;
mod table;

pub use community_id::{community_id, CommunityIdInput};
pub use labels::{LabelError, Labels};
pub use table::{flows_from_capture, FlowTable};

use crate::wire::IpProtocol;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Which way a packet travels within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    /// From the client (the side that opened the flow) to the server.
    Forward,
    /// From the server to the client.
    Backward,
}

impl Direction {
    /// The other way.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::Forward => Direction::Backward,
            Direction::Backward => Direction::Forward,
        }
    }
}

/// Whether the sender of a flow's first packet is its client, read from that packet alone: a
/// TCP SYN's sender is the client and a SYN-ACK's (SYN with ACK) the server; an ICMP echo
/// reply's sender is the server, any other ICMP message's the client; otherwise (a capture
/// begun mid-flow) the side on a well-known port (below 1024) sending to a higher one is the
/// server. The flow table reads a capture's flows so, and repair a flow's rows when it is not
/// told their directions. `ports` are the packet's source and destination ports.
pub fn first_sender_is_client(
    proto: IpProtocol,
    tcp_flags: u16,
    icmp_type: u8,
    ports: [u16; 2],
) -> bool {
    use crate::wire::tcp::flags;
    match proto {
        IpProtocol::Tcp if tcp_flags & flags::SYN != 0 => tcp_flags & flags::ACK == 0,
        IpProtocol::Icmp => icmp_type != crate::wire::icmp::kind::ECHO_REPLY,
        _ => !(ports[0] < 1024 && ports[1] >= 1024),
    }
}

/// The identity of a flow, oriented client → server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// IP protocol (TCP, UDP or ICMP).
    pub proto: IpProtocol,
    /// Client address.
    pub client: Ipv4Addr,
    /// Client port (ICMP: the echo identifier, 0 for other messages).
    pub client_port: u16,
    /// Server address.
    pub server: Ipv4Addr,
    /// Server port (ICMP: the echo identifier, 0 for other messages).
    pub server_port: u16,
}

#[cfg(test)]
impl FlowKey {
    /// Some TCP flow's key, 10.0.0.1:1 → 10.0.0.2:2, for tests whose flows' identity does not
    /// matter.
    pub(crate) fn test_tcp() -> FlowKey {
        FlowKey {
            proto: IpProtocol::Tcp,
            client: Ipv4Addr::new(10, 0, 0, 1),
            client_port: 1,
            server: Ipv4Addr::new(10, 0, 0, 2),
            server_port: 2,
        }
    }
}

impl std::fmt::Display for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.proto {
            IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Icmp => self.proto.to_string(),
            _ => "?".into(),
        };
        write!(
            f,
            "{p} {}:{} -> {}:{}",
            self.client, self.client_port, self.server, self.server_port
        )
    }
}

/// One packet of a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowPacket {
    /// Index of the frame in its capture file (0-based, every frame counted, skipped ones too).
    pub frame: u64,
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Nanoseconds since the flow's previous packet (0 for the first).
    pub iat_ns: u64,
    /// Direction within the flow.
    pub direction: Direction,
    /// Payload length the headers claim.
    pub payload_len: u32,
    /// The packet's IPv4 header (options included) followed by its transport header (TCP
    /// with its options, or the 8 bytes of UDP or ICMP), as captured.
    pub headers: Vec<u8>,
}

impl FlowPacket {
    /// The IPv4 header: the first IHL × 4 bytes of [`headers`](Self::headers).
    pub fn ipv4_header(&self) -> &[u8] {
        let n = usize::from(self.headers.first().map_or(0, |b| b & 0x0f)) * 4;
        &self.headers[..n.min(self.headers.len())]
    }

    /// The transport header: what follows the IPv4 header in [`headers`](Self::headers).
    pub fn transport_header(&self) -> &[u8] {
        &self.headers[self.ipv4_header().len()..]
    }

    /// The IP protocol of the IPv4 header (protocol 0 when there is none).
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.ipv4_header().get(9).copied().unwrap_or(0))
    }

    /// The total length the IPv4 header claims (0 when there is none).
    pub fn total_len(&self) -> u16 {
        match self.ipv4_header() {
            [_, _, a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        }
    }

    /// A packet of protocol `proto` with a 20-byte IPv4 header claiming `total_len` bytes and
    /// the transport header `transport`, sent forward at time 0 (for unit tests).
    #[cfg(test)]
    pub(crate) fn with_headers(total_len: u16, proto: IpProtocol, transport: &[u8]) -> FlowPacket {
        let mut headers = vec![0u8; 20];
        headers[0] = 0x45;
        headers[2..4].copy_from_slice(&total_len.to_be_bytes());
        headers[8] = 64;
        headers[9] = u8::from(proto);
        headers.extend_from_slice(transport);
        FlowPacket {
            frame: 0,
            ts_ns: 0,
            iat_ns: 0,
            direction: Direction::Forward,
            payload_len: 0,
            headers,
        }
    }
}

/// A bidirectional flow with its class label.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// Identity, client → server.
    pub key: FlowKey,
    /// Class label, when known.
    pub label: Option<String>,
    /// The capture file it came from.
    pub source: PathBuf,
    /// Packets in capture order.
    pub packets: Vec<FlowPacket>,
}

impl Flow {
    /// Time from the first to the last packet, in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        match (self.packets.first(), self.packets.last()) {
            (Some(a), Some(b)) => b.ts_ns.saturating_sub(a.ts_ns),
            _ => 0,
        }
    }
}

/// Flow splitting settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSettings {
    /// A gap longer than this between two packets of a flow starts a new flow (ns).
    pub idle_timeout_ns: u64,
    /// A flow older than this is closed and the next packet starts a new one (ns).
    pub active_timeout_ns: u64,
}

impl Default for FlowSettings {
    /// 120 s idle and 30 min active, the usual flow-meter defaults: long enough for a
    /// streaming session's pauses, short enough that merged captures with day- or year-long
    /// gaps split into sessions.
    fn default() -> Self {
        FlowSettings {
            idle_timeout_ns: 120_000_000_000,
            active_timeout_ns: 1_800_000_000_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::icmp::kind;
    use crate::wire::tcp::flags;

    #[test]
    fn the_first_packet_says_who_the_client_is() {
        let tcp = |f, ports| first_sender_is_client(IpProtocol::Tcp, f, 0, ports);
        assert!(tcp(flags::SYN, [443, 50_000]), "a SYN is the client's");
        assert!(
            !tcp(flags::SYN | flags::ACK, [50_000, 443]),
            "a SYN-ACK the server's"
        );
        assert!(
            !tcp(flags::ACK, [443, 50_000]),
            "mid-stream: the well-known port serves"
        );
        assert!(tcp(flags::ACK, [50_000, 443]));
        assert!(
            tcp(flags::ACK, [5_000, 6_000]),
            "no well-known port: the sender"
        );
        let udp = |ports| first_sender_is_client(IpProtocol::Udp, 0, 0, ports);
        assert!(!udp([53, 40_000]));
        assert!(udp([40_000, 53]));
        let icmp = |t| first_sender_is_client(IpProtocol::Icmp, 0, t, [0, 0]);
        assert!(!icmp(kind::ECHO_REPLY));
        assert!(icmp(kind::ECHO_REQUEST));
    }
}
