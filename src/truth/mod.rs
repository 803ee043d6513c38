//! Ground truth: one record a flow of a pcap — class, addresses, Community ID, packets and bytes
//! per direction, times in the pcap and, after a replay, when the flow left and on which
//! interface — so that the alerts of an IDS or the verdicts of a firewall can be scored.
//!
//! Records come from generated flows (class known, see [`GroundTruth::from_generated`]) or from
//! any capture through the flow stage ([`GroundTruth::from_capture`]); a replay adds its send
//! times with [`GroundTruth::add_replay_loop`]. [`GroundTruth::write`] writes CSV or JSON Lines,
//! chosen by the file's extension, atomically.

mod build;
mod record;
mod write;

pub use build::UNKNOWN_CLASS;
pub use record::{FlowRecord, SentTimes};
pub use write::{read_json_lines, LabelsError, LabelsFormat, CSV_COLUMNS};

use crate::flows::Direction;

/// Which flow a frame of the pcap belongs to, and which side sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef {
    /// Index into [`GroundTruth::records`].
    pub flow: u32,
    /// Which way the frame travels within its flow.
    pub direction: Direction,
}

/// The ground truth of one pcap: its flow records and, per frame, the flow it belongs to.
#[derive(Debug, Clone, Default)]
pub struct GroundTruth {
    /// One record a flow, in order of the flow's first packet.
    pub records: Vec<FlowRecord>,
    /// Per frame of the pcap (in file order): its flow, or `None` for frames in no flow
    /// (IPv6, ARP and the other frames the flow stage skips).
    pub frames: Vec<Option<FrameRef>>,
}

impl GroundTruth {
    /// Adds one replay loop: `sent_utc_ns[i]` is when frame `i` of the pcap left (UTC, ns since
    /// the Unix epoch; 0 when it was not sent) and `on_second[i]` whether it left on `iface2`
    /// rather than `iface` (missing entries: on `iface`).
    pub fn add_replay_loop(
        &mut self,
        loop_index: u64,
        sent_utc_ns: &[u64],
        on_second: &[bool],
        iface: &str,
        iface2: Option<&str>,
    ) {
        let mut span: Vec<Option<(u64, u64)>> = vec![None; self.records.len()];
        for (i, (frame, &t)) in self.frames.iter().zip(sent_utc_ns).enumerate() {
            let (Some(f), true) = (frame, t > 0) else {
                continue;
            };
            let r = &mut self.records[f.flow as usize];
            let side_iface = match (iface2, on_second.get(i).copied().unwrap_or(false)) {
                (Some(second), true) => second,
                _ => iface,
            };
            let slot = match f.direction {
                Direction::Forward => &mut r.client_iface,
                Direction::Backward => &mut r.server_iface,
            };
            if slot.is_none() {
                *slot = Some(side_iface.to_string());
            }
            let s = &mut span[f.flow as usize];
            *s = Some(match *s {
                None => (t, t),
                Some((a, b)) => (a.min(t), b.max(t)),
            });
        }
        for (r, s) in self.records.iter_mut().zip(span) {
            if let Some((first_ns, last_ns)) = s {
                r.sent.push(SentTimes {
                    loop_index,
                    first_ns,
                    last_ns,
                });
            }
        }
    }

    /// Per frame, whether it comes from its flow's server side (`None` for frames in no flow):
    /// what an inline replay needs to pick the interface.
    pub fn server_side(&self) -> Vec<Option<bool>> {
        self.frames
            .iter()
            .map(|f| f.map(|f| f.direction == Direction::Backward))
            .collect()
    }
}
