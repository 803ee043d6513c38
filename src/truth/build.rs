//! Building ground truth from generated flows or from any capture.

use super::{FlowRecord, FrameRef, GroundTruth};
use crate::capture::CaptureError;
use crate::flows::{
    community_id, flows_from_capture, CommunityIdInput, Direction, Flow, FlowKey, FlowSettings,
};
use crate::packets::frame_order;
use crate::repair::RepairedFlow;
use crate::wire::icmp;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::IpProtocol;
use std::path::Path;

/// The class given to flows of a capture nobody labelled.
pub const UNKNOWN_CLASS: &str = "unknown";

/// The name of an IP protocol as records write it: its keyword, else its number.
fn proto_name(proto: IpProtocol) -> String {
    proto
        .keyword()
        .map_or_else(|| u8::from(proto).to_string(), str::to_string)
}

/// The record's ports and Community ID: transport ports, or for ICMP the first packet's type
/// and code.
fn identity(key: &FlowKey, icmp: Option<(u8, u8)>) -> (u16, u16, String) {
    let (cp, sp, input) = match (key.proto, icmp) {
        (IpProtocol::Icmp, Some((t, c))) => (
            u16::from(t),
            u16::from(c),
            CommunityIdInput::icmp(key.client, key.server, t, c),
        ),
        _ => (
            key.client_port,
            key.server_port,
            CommunityIdInput::transport(
                key.proto,
                key.client,
                key.client_port,
                key.server,
                key.server_port,
            ),
        ),
    };
    (cp, sp, community_id(&input, 0))
}

#[allow(clippy::too_many_arguments)]
fn record(
    flow: u64,
    capture: &str,
    class: &str,
    group: &str,
    key: &FlowKey,
    icmp: Option<(u8, u8)>,
    packets: impl Iterator<Item = (Direction, u64, u64)>,
) -> FlowRecord {
    let (client_port, server_port, community_id) = identity(key, icmp);
    let mut r = FlowRecord {
        flow,
        capture: capture.to_string(),
        class: class.to_string(),
        group: group.to_string(),
        proto: proto_name(key.proto),
        client: key.client,
        client_port,
        server: key.server,
        server_port,
        community_id,
        client_packets: 0,
        client_bytes: 0,
        server_packets: 0,
        server_bytes: 0,
        first_ts_ns: u64::MAX,
        last_ts_ns: 0,
        client_iface: None,
        server_iface: None,
        sent: Vec::new(),
    };
    for (direction, ts, bytes) in packets {
        match direction {
            Direction::Forward => {
                r.client_packets += 1;
                r.client_bytes += bytes;
            }
            Direction::Backward => {
                r.server_packets += 1;
                r.server_bytes += bytes;
            }
        }
        r.first_ts_ns = r.first_ts_ns.min(ts);
        r.last_ts_ns = r.last_ts_ns.max(ts);
    }
    if r.first_ts_ns == u64::MAX {
        r.first_ts_ns = 0;
    }
    r
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl GroundTruth {
    /// The ground truth of generated flows as [`write_flows`](crate::packets::write_flows)
    /// writes them to the pcap named `capture`: `flows` holds each flow's class, its group, and
    /// the repaired flow.
    pub fn from_generated(capture: &str, flows: &[(&str, &str, &RepairedFlow)]) -> GroundTruth {
        let records = flows
            .iter()
            .enumerate()
            .map(|(i, (class, group, f))| {
                let icmp = (f.key.proto == IpProtocol::Icmp)
                    .then(|| f.packets.first())
                    .flatten()
                    .and_then(|p| {
                        let ip = Ipv4Packet::new_checked(&p.bytes[..]).ok()?;
                        let l4 = ip.payload();
                        Some((*l4.get(icmp::field::TYPE)?, *l4.get(icmp::field::CODE)?))
                    });
                let packets = f
                    .packets
                    .iter()
                    .map(|p| (p.direction, p.ts_ns, p.bytes.len() as u64));
                record(i as u64, capture, class, group, &f.key, icmp, packets)
            })
            .collect();
        let refs: Vec<&RepairedFlow> = flows.iter().map(|(_, _, f)| *f).collect();
        let frames = frame_order(&refs)
            .into_iter()
            .map(|(f, p)| {
                Some(FrameRef {
                    flow: f as u32,
                    direction: refs[f].packets[p].direction,
                })
            })
            .collect();
        GroundTruth { records, frames }
    }

    /// The ground truth of the capture at `path`, flows from the flow stage with its default
    /// timeouts; every flow gets `class` (or [`UNKNOWN_CLASS`]) and `group`.
    pub fn from_capture(
        path: &Path,
        class: Option<&str>,
        group: Option<&str>,
    ) -> Result<GroundTruth, CaptureError> {
        let (flows, _skipped) = flows_from_capture(path, FlowSettings::default(), None)?;
        Ok(Self::from_flows(
            &file_name(path),
            &flows,
            class.unwrap_or(UNKNOWN_CLASS),
            group.unwrap_or(""),
        ))
    }

    /// The ground truth of `flows`, the flows of one capture called `capture` in order of
    /// their first packet.
    pub fn from_flows(capture: &str, flows: &[Flow], class: &str, group: &str) -> GroundTruth {
        let frames_len = flows
            .iter()
            .flat_map(|f| f.packets.iter().map(|p| p.frame + 1))
            .max()
            .unwrap_or(0);
        let mut frames = vec![None; frames_len as usize];
        let mut records = Vec::with_capacity(flows.len());
        for (i, f) in flows.iter().enumerate() {
            let icmp = (f.key.proto == IpProtocol::Icmp)
                .then(|| f.packets.first())
                .flatten()
                .map(|p| match p.transport_header() {
                    [kind, code, ..] => (*kind, *code),
                    _ => (0, 0),
                });
            let packets = f
                .packets
                .iter()
                .map(|p| (p.direction, p.ts_ns, u64::from(p.total_len())));
            records.push(record(
                i as u64, capture, class, group, &f.key, icmp, packets,
            ));
            for p in &f.packets {
                frames[p.frame as usize] = Some(FrameRef {
                    flow: i as u32,
                    direction: p.direction,
                });
            }
        }
        GroundTruth { records, frames }
    }
}
