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
mod score;
mod write;

pub use build::UNKNOWN_CLASS;
pub use record::{FlowRecord, SentTimes};
pub use score::{score, ClassScore, FlowScore, Score, Verdict};
pub use write::{read_json_lines, read_labels, LabelsError, LabelsFormat, CSV_COLUMNS};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_loops_give_each_flow_its_times_and_interfaces() {
        let base = FlowRecord {
            flow: 0,
            capture: "c.pcap".into(),
            class: "x".into(),
            group: String::new(),
            proto: "udp".into(),
            client: "198.18.0.1".parse().unwrap(),
            client_port: 5000,
            server: "198.19.0.1".parse().unwrap(),
            server_port: 53,
            community_id: String::new(),
            client_packets: 2,
            client_bytes: 0,
            server_packets: 1,
            server_bytes: 0,
            first_ts_ns: 0,
            last_ts_ns: 0,
            client_iface: None,
            server_iface: None,
            sent: Vec::new(),
        };
        let mut t = GroundTruth {
            records: vec![base.clone(), FlowRecord { flow: 1, ..base }],
            frames: vec![
                Some(FrameRef {
                    flow: 0,
                    direction: Direction::Forward,
                }),
                None,
                Some(FrameRef {
                    flow: 1,
                    direction: Direction::Forward,
                }),
                Some(FrameRef {
                    flow: 0,
                    direction: Direction::Backward,
                }),
                Some(FrameRef {
                    flow: 0,
                    direction: Direction::Forward,
                }),
            ],
        };
        t.add_replay_loop(
            0,
            &[100, 0, 0, 300, 250],
            &[false, false, false, true, false],
            "a",
            Some("b"),
        );
        t.add_replay_loop(1, &[500, 0, 510, 0, 0], &[], "a", Some("b"));
        let r = &t.records[0];
        assert_eq!(
            (r.client_iface.as_deref(), r.server_iface.as_deref()),
            (Some("a"), Some("b"))
        );
        assert_eq!(
            r.sent,
            [
                SentTimes {
                    loop_index: 0,
                    first_ns: 100,
                    last_ns: 300
                },
                SentTimes {
                    loop_index: 1,
                    first_ns: 500,
                    last_ns: 500
                },
            ]
        );
        // Flow 1 left only in loop 1, and its server side never.
        let r = &t.records[1];
        assert_eq!(
            r.sent,
            [SentTimes {
                loop_index: 1,
                first_ns: 510,
                last_ns: 510
            }]
        );
        assert_eq!(r.server_iface, None);
        assert_eq!(
            t.server_side(),
            [Some(false), None, Some(false), Some(true), Some(false)]
        );
    }
}
