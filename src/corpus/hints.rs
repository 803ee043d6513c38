//! A class's fallback statistics ("hints"), measured on its real flows: what repair uses where a
//! generated flow says nothing (directions, gaps, the server port). One builder with one policy
//! serves the model (fed its training windows) and the baselines (fed real flows), so both
//! meet repair with the same kind of knowledge:
//!
//! - **direction chain**: P(next forward | previous forward) and P(next forward | previous
//!   backward) over consecutive packets of a flow, add-one smoothed (no pair gives 0.5);
//! - **inter-arrival samples**: every gap between consecutive packets of a flow (not a flow's
//!   first packet), at most [`MAX_IAT_SAMPLES`] kept, evenly spaced over them in the order
//!   they were added;
//! - **server ports**: one count per flow, at most [`MAX_SERVER_PORTS`] kept, most common
//!   first (ties by the lower port); ICMP flows (and port 0) are not counted.

use crate::flows::{Direction, Flow};
use std::collections::HashMap;

/// Inter-arrival samples a class keeps at most.
pub const MAX_IAT_SAMPLES: usize = 1024;
/// Server ports a class keeps at most.
pub const MAX_SERVER_PORTS: usize = 16;

/// Per-class knowledge used where the generated flow says nothing (fallbacks). Model cards
/// store it as it is serialised here.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ClassHints {
    /// P(next packet is forward | previous forward), P(next forward | previous backward).
    pub direction_chain: Option<[f64; 2]>,
    /// Inter-arrival times (ns) observed in the class, sampled when the flow has no timing.
    pub iat_samples_ns: Vec<u64>,
    /// Server ports seen in the class, most common first.
    pub server_ports: Vec<u16>,
}

/// Builds a class's [`ClassHints`] flow by flow (the policy of the [module](self)).
#[derive(Debug, Clone, Default)]
pub struct HintsBuilder {
    /// `pairs[previous backward][next backward]`: consecutive packet pairs.
    pairs: [[u64; 2]; 2],
    iats: Vec<u64>,
    ports: HashMap<u16, u64>,
}

impl HintsBuilder {
    /// An empty builder.
    pub fn new() -> HintsBuilder {
        HintsBuilder::default()
    }

    /// Adds one flow: its server port (0 for ICMP: not counted) and its packets in order, each
    /// with its direction and its gap to the flow's previous packet (the first one's is
    /// ignored).
    pub fn push_flow_packets(
        &mut self,
        server_port: u16,
        packets: impl IntoIterator<Item = (Direction, u64)>,
    ) {
        let mut prev: Option<Direction> = None;
        for (d, iat_ns) in packets {
            if let Some(p) = prev {
                let back = |d: Direction| usize::from(d == Direction::Backward);
                self.pairs[back(p)][back(d)] += 1;
                self.iats.push(iat_ns);
            }
            prev = Some(d);
        }
        if server_port != 0 {
            *self.ports.entry(server_port).or_insert(0) += 1;
        }
    }

    /// Adds a flow of the flow stage.
    pub fn push_flow(&mut self, flow: &Flow) {
        let port = if flow.key.proto == crate::wire::IpProtocol::Icmp {
            0
        } else {
            flow.key.server_port
        };
        self.push_flow_packets(port, flow.packets.iter().map(|p| (p.direction, p.iat_ns)));
    }

    /// The hints of every flow added.
    pub fn finish(self) -> ClassHints {
        let share = |[same, other]: [u64; 2]| (same as f64 + 1.0) / ((same + other) as f64 + 2.0);
        let [[ff, fb], [bf, bb]] = self.pairs;
        let n = self.iats.len();
        let iat_samples_ns = if n > MAX_IAT_SAMPLES {
            (0..MAX_IAT_SAMPLES)
                .map(|i| self.iats[i * n / MAX_IAT_SAMPLES])
                .collect()
        } else {
            self.iats
        };
        let mut ports: Vec<(u16, u64)> = self.ports.into_iter().collect();
        ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ClassHints {
            direction_chain: Some([share([ff, fb]), share([bf, bb])]),
            iat_samples_ns,
            server_ports: ports
                .into_iter()
                .take(MAX_SERVER_PORTS)
                .map(|(p, _)| p)
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Backward as B, Forward as F};

    #[test]
    fn one_policy() {
        let mut h = HintsBuilder::new();
        // F→B, B→B, B→F: ff 0, fb 1, bb 1, bf 1.
        h.push_flow_packets(443, [(F, 0), (B, 10), (B, 20), (F, 30)]);
        h.push_flow_packets(0, [(F, 99)]);
        h.push_flow_packets(53, [(F, 0)]);
        h.push_flow_packets(443, []);
        let c = h.finish();
        assert_eq!(c.direction_chain, Some([1.0 / 3.0, 2.0 / 4.0]));
        assert_eq!(c.iat_samples_ns, vec![10, 20, 30]);
        assert_eq!(c.server_ports, vec![443, 53]);
        assert_eq!(
            HintsBuilder::new().finish().direction_chain,
            Some([0.5, 0.5])
        );
    }

    #[test]
    fn samples_evenly_spaced_and_ports_capped() {
        let mut h = HintsBuilder::new();
        let n = 3 * MAX_IAT_SAMPLES as u64;
        h.push_flow_packets(1, (0..=n).map(|i| (F, i)));
        for p in 2..40u16 {
            h.push_flow_packets(p, []);
        }
        let c = h.finish();
        assert_eq!(c.iat_samples_ns.len(), MAX_IAT_SAMPLES);
        assert_eq!(&c.iat_samples_ns[..3], &[1, 4, 7]);
        assert_eq!(c.server_ports.len(), MAX_SERVER_PORTS);
        assert_eq!(c.server_ports[0], 1);
    }

    #[test]
    fn the_shipped_card_form_still_reads() {
        let json = r#"{"direction_chain":[0.25,0.5],"iat_samples_ns":[1,2],"server_ports":[443]}"#;
        let h: ClassHints = serde_json::from_str(json).unwrap();
        assert_eq!(h.server_ports, vec![443]);
        assert_eq!(serde_json::to_string(&h).unwrap(), json);
    }
}
