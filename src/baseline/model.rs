//! A baseline fitted to one class, and writing generated flows as one pcap per class.

use super::marginals::ADDRESS_BITS;
use super::{BaselineError, BaselineKind, BitMarginals, MAX_ROWS};
use crate::corpus::{ClassHints, HintsBuilder};
use crate::flows::Flow;
use crate::nprint::layout::{Bit, STANDARD_WIDTH, VACANT};
use crate::packets::{write_flows, Framing, TsResolution};
use crate::repair::{repair_flow, FlowInput, RepairSettings, RepairedFlow};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Gap between the start times of consecutive generated flows of a class.
const FLOW_START_GAP_NS: u64 = 10_000_000;

/// A baseline generator for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassModel {
    /// The class.
    pub class: String,
    /// Which baseline.
    pub kind: BaselineKind,
    /// Real flow lengths (packets, at most [`MAX_ROWS`]) to draw from.
    pub lengths: Vec<usize>,
    /// Value frequencies (marginals only).
    pub marginals: Option<BitMarginals>,
    /// Repair hints (marginals only: the random baseline knows nothing of the class).
    pub hints: Option<ClassHints>,
}

impl ClassModel {
    /// Fits a `kind` baseline of `class` on its real `flows`.
    pub fn fit(
        kind: BaselineKind,
        class: &str,
        flows: &[&Flow],
        positions: usize,
    ) -> Result<ClassModel, BaselineError> {
        let lengths: Vec<usize> = flows
            .iter()
            .map(|f| f.packets.len().min(MAX_ROWS))
            .filter(|&n| n > 0)
            .collect();
        if lengths.is_empty() {
            return Err(BaselineError::NoFlows(class.to_string()));
        }
        let (marginals, hints) = match kind {
            BaselineKind::Random => (None, None),
            BaselineKind::Marginals => (
                Some(BitMarginals::fit(flows.iter().copied(), positions)),
                Some({
                    let mut hints = HintsBuilder::new();
                    flows.iter().for_each(|f| hints.push_flow(f));
                    hints.finish()
                }),
            ),
        };
        Ok(ClassModel {
            class: class.to_string(),
            kind,
            lengths,
            marginals,
            hints,
        })
    }

    /// One generated flow matrix: standard-layout rows, addresses vacant.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<Bit> {
        let n = self.lengths[rng.random_range(0..self.lengths.len())];
        let mut rows = Vec::with_capacity(n * STANDARD_WIDTH);
        for pos in 0..n {
            match &self.marginals {
                Some(m) => m.sample_row(pos, rng, &mut rows),
                None => {
                    for bit in 0..STANDARD_WIDTH {
                        rows.push(if ADDRESS_BITS.contains(&bit) {
                            VACANT
                        } else {
                            rng.random_range(-1i8..=1)
                        });
                    }
                }
            }
        }
        rows
    }

    /// Generates and repairs `n` flows. Flow i starts `i` × 10 ms after `settings.start_ns`.
    pub fn generate(
        &self,
        n: usize,
        settings: &RepairSettings,
        seed: u64,
    ) -> Result<Vec<RepairedFlow>, BaselineError> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let rows = self.sample(&mut rng);
            let input = FlowInput {
                hints: self.hints.as_ref(),
                ..FlowInput::bare(&rows)
            };
            let s = RepairSettings {
                start_ns: settings
                    .start_ns
                    .saturating_add(FLOW_START_GAP_NS.saturating_mul(i as u64)),
                seed: crate::seed::derive(settings.seed, seed, 0),
                ..settings.clone()
            };
            let flow =
                repair_flow(&input, &s, i as u64).map_err(|source| BaselineError::Repair {
                    class: self.class.clone(),
                    index: i,
                    source,
                })?;
            out.push(flow);
        }
        Ok(out)
    }
}

/// Writes each class's flows to `dir/<class>/baseline.pcap` (Ethernet, microseconds), the
/// folder-per-class layout that labels synthetic traffic; returns the files written.
pub fn write_per_class(
    dir: &Path,
    flows: &BTreeMap<String, Vec<RepairedFlow>>,
) -> Result<Vec<PathBuf>, BaselineError> {
    let mut written = Vec::new();
    for (class, fl) in flows {
        let sub = dir.join(class);
        std::fs::create_dir_all(&sub).map_err(|source| BaselineError::Io {
            path: sub.clone(),
            source,
        })?;
        let path = sub.join("baseline.pcap");
        write_flows(&path, fl, &Framing::default(), TsResolution::Micro).map_err(|source| {
            BaselineError::Io {
                path: path.clone(),
                source,
            }
        })?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{Direction, FlowKey, FlowPacket};
    use std::net::Ipv4Addr;

    /// A UDP flow to port 53 of `packets`, 1 µs apart, alternately forward and backward.
    fn flow(packets: &[FlowPacket]) -> Flow {
        Flow {
            key: FlowKey {
                proto: crate::wire::IpProtocol::Udp,
                client: Ipv4Addr::new(10, 0, 0, 1),
                client_port: 5000,
                server: Ipv4Addr::new(10, 0, 0, 2),
                server_port: 53,
            },
            label: Some("x".into()),
            source: PathBuf::new(),
            packets: packets
                .iter()
                .enumerate()
                .map(|(i, p)| FlowPacket {
                    frame: i as u64,
                    ts_ns: i as u64 * 1000,
                    iat_ns: if i == 0 { 0 } else { 1000 },
                    direction: if i % 2 == 0 {
                        Direction::Forward
                    } else {
                        Direction::Backward
                    },
                    ..p.clone()
                })
                .collect(),
        }
    }

    /// A TCP packet to `dst_port` (bits 496..512 of the standard row).
    fn tcp(dst_port: u16) -> FlowPacket {
        let mut t = [0u8; 20];
        t[2..4].copy_from_slice(&dst_port.to_be_bytes());
        t[12] = 0x50;
        FlowPacket::with_headers(40, crate::wire::IpProtocol::Tcp, &t)
    }

    /// A UDP packet: its row has the TCP block vacant.
    fn udp() -> FlowPacket {
        FlowPacket::with_headers(28, crate::wire::IpProtocol::Udp, &[0, 1, 0, 53, 0, 8, 0, 0])
    }

    #[test]
    fn marginals_reproduce_frequencies_and_lengths() {
        // Bit 500 (TCP destination port 0x0800): always 1 at position 0; at position 1, 0 in
        // one flow (port 0) and -1 in the other (a UDP packet: no TCP block).
        let f1 = flow(&[tcp(0x0800), tcp(0)]);
        let f2 = flow(&[tcp(0x0800), udp()]);
        let m = ClassModel::fit(BaselineKind::Marginals, "x", &[&f1, &f2], 8).unwrap();
        let bm = m.marginals.as_ref().unwrap();
        assert_eq!(bm.probabilities(0, 500), [0.0, 0.0, 1.0]);
        assert_eq!(bm.probabilities(1, 500), [0.5, 0.5, 0.0]);
        assert_eq!(bm.probabilities(5, 500), [1.0, 0.0, 0.0]);
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = [0usize; 3];
        for _ in 0..200 {
            let rows = m.sample(&mut rng);
            assert_eq!(rows.len(), 2 * STANDARD_WIDTH);
            assert_eq!(rows[500], 1);
            assert!(rows[ADDRESS_BITS].iter().all(|&v| v == VACANT));
            seen[(rows[STANDARD_WIDTH + 500] + 1) as usize] += 1;
        }
        assert_eq!(seen[2], 0);
        assert!(seen[0] > 60 && seen[1] > 60, "{seen:?}");
        let hints = m.hints.as_ref().unwrap();
        assert_eq!(hints.server_ports, vec![53]);
        // Every flow goes forward then backward: P(fwd | fwd) = (0 + 1) / (2 + 2), smoothed.
        assert_eq!(hints.direction_chain, Some([0.25, 0.5]));
    }

    #[test]
    fn random_baseline_uses_all_three_values_and_repairs() {
        let f = flow(&[udp(), udp(), udp()]);
        let m = ClassModel::fit(BaselineKind::Random, "x", &[&f], 8).unwrap();
        let mut rng = StdRng::seed_from_u64(2);
        let rows = m.sample(&mut rng);
        assert_eq!(rows.len(), 3 * STANDARD_WIDTH);
        for v in [-1i8, 0, 1] {
            let share = rows.iter().filter(|&&b| b == v).count() as f64 / rows.len() as f64;
            assert!(share > 0.25, "value {v}: {share}");
        }
        let flows = m.generate(4, &RepairSettings::default(), 9).unwrap();
        assert_eq!(flows.len(), 4);
        assert!(flows.iter().all(|f| !f.packets.is_empty()));
        assert!(ClassModel::fit(BaselineKind::Random, "y", &[], 8).is_err());
    }
}
