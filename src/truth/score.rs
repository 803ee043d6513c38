//! Scoring a device under test against the ground truth: which offered flows arrived beyond it
//! whole, in part, or not at all, counted by Community ID and direction in captures taken on
//! its far sides, and summed per class.

use super::FlowRecord;
use crate::capture::{dissect, CaptureError, CaptureReader, Frame, L3, L4};
use crate::flows::{community_id, CommunityIdInput};
use crate::wire::IpProtocol;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// What became of one offered flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every packet of both directions arrived.
    Passed,
    /// Some packets arrived, not all.
    Partial,
    /// No packet arrived.
    Blocked,
}

/// One flow's offered and arrived packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowScore {
    /// The flow's index in its pcap.
    pub flow: u64,
    /// Its class.
    pub class: String,
    /// Its Community ID.
    pub community_id: String,
    /// Packets offered from the client and from the server.
    pub offered: [u64; 2],
    /// Packets of each direction seen in the captures.
    pub arrived: [u64; 2],
    /// The outcome.
    pub verdict: Verdict,
}

/// Flows of one class by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClassScore {
    /// Flows offered.
    pub offered: u64,
    /// Flows that arrived whole.
    pub passed: u64,
    /// Flows that arrived in part.
    pub partial: u64,
    /// Flows of which nothing arrived.
    pub blocked: u64,
    /// Packets offered.
    pub packets_offered: u64,
    /// Packets that arrived.
    pub packets_arrived: u64,
}

/// The score of a device: per flow and per class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Score {
    /// One entry a flow of the ground truth.
    pub flows: Vec<FlowScore>,
    /// Per class, in name order.
    pub classes: BTreeMap<String, ClassScore>,
    /// Frames in the captures that belong to no offered flow.
    pub unmatched_frames: u64,
}

/// The Community ID of a dissected IPv4 packet and its source endpoint.
fn frame_identity(frame: &Frame) -> Option<(String, (std::net::Ipv4Addr, u16))> {
    let d = dissect(frame).ok()?;
    let L3::V4(ip) = d.l3 else { return None };
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let (input, sport) = match d.l4 {
        L4::Icmp(i) => (CommunityIdInput::icmp(src, dst, i.msg_type(), i.code()), 0),
        l4 => {
            let (sp, dp) = l4.ports();
            (
                CommunityIdInput::transport(l4.proto(), src, sp, dst, dp),
                sp,
            )
        }
    };
    Some((community_id(&input, 0), (src, sport)))
}

/// True when a record's protocol names ICMP (records have no ports for it).
fn is_icmp(proto: &str) -> bool {
    IpProtocol::Icmp.keyword() == Some(proto)
}

/// Scores `records` against what the captures at `captures` saw beyond the device.
pub fn score(records: &[FlowRecord], captures: &[&Path]) -> Result<Score, CaptureError> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        index.entry(r.community_id.as_str()).or_insert(i);
    }
    let mut arrived = vec![[0u64; 2]; records.len()];
    let mut unmatched = 0;
    for path in captures {
        let mut reader = CaptureReader::open(path)?;
        let mut frame = Frame::default();
        while reader.read_into(&mut frame)? {
            let Some((cid, (src, sport))) = frame_identity(&frame) else {
                continue;
            };
            match index.get(cid.as_str()) {
                Some(&i) => {
                    let r = &records[i];
                    let from_client =
                        src == r.client && (is_icmp(&r.proto) || sport == r.client_port);
                    arrived[i][usize::from(!from_client)] += 1;
                }
                None => unmatched += 1,
            }
        }
    }
    let mut out = Score {
        unmatched_frames: unmatched,
        ..Score::default()
    };
    for (r, got) in records.iter().zip(arrived) {
        let offered = [r.client_packets, r.server_packets];
        let verdict = if got == [0, 0] {
            Verdict::Blocked
        } else if got[0] >= offered[0] && got[1] >= offered[1] {
            Verdict::Passed
        } else {
            Verdict::Partial
        };
        let c = out.classes.entry(r.class.clone()).or_default();
        c.offered += 1;
        match verdict {
            Verdict::Passed => c.passed += 1,
            Verdict::Partial => c.partial += 1,
            Verdict::Blocked => c.blocked += 1,
        }
        c.packets_offered += offered[0] + offered[1];
        c.packets_arrived += got[0] + got[1];
        out.flows.push(FlowScore {
            flow: r.flow,
            class: r.class.clone(),
            community_id: r.community_id.clone(),
            offered,
            arrived: got,
            verdict,
        });
    }
    Ok(out)
}
