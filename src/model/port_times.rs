//! Time calibration by server port. A class's flows can keep different clocks on different
//! ports: a call's RTP stream sends a packet every 20 ms on one port while its RTCP reports go
//! every 5 s on the next, its video stream bursts a frame's packets back to back on a third. The
//! class-wide map of the [time calibration](super::calibration) moves the network's time bins
//! onto the class's gaps all together, so a voice flow took some of the video's bursts and of
//! the reports' pauses (generated lab RTP flows lasted 0.02 s or 50-90 s, the real ones 24-29
//! s). The card therefore also counts, per server port of the class, the time bins of every
//! training flow to it and of the flows the model samples to calibrate, and sampling
//! maps a flow's bins through its port's counts where both sides counted enough gaps over
//! enough real flows; the flows of the class's other ports keep the class-wide map.

use super::calibration::BinMap;
use super::encoding::{iat_bin, TIME_BINS};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Gaps a side of a port must count before the port has a map of its own (as many as a
/// position group of the length calibration must count payloads): a call's RTCP reports, five
/// gaps a flow, are few but all alike.
pub const MIN_PORT_GAPS: u64 = 8;

/// Real flows a port must have before it has a map of its own: a port only one flow reached (an
/// FTP data connection's passive port) would otherwise give sampling that flow's own clock.
pub const MIN_PORT_FLOWS: u32 = 2;

/// Gaps a port's real flows must have on average before the port has a map of its own: a clock
/// is a property of a flow that keeps sending. A port whose flows are one exchange each (a port
/// scan's probe and its answer, a DNS query) has no pace of its own to keep, only its few
/// flows' round trips — a scan's next capture will have others — and keeps the class's map.
pub const MIN_GAPS_PER_FLOW: u64 = 4;

/// Whether a port whose real flows are `flows` with `gaps` gaps in all may have a map.
fn keeps_a_clock(flows: u32, gaps: u64) -> bool {
    flows >= MIN_PORT_FLOWS && gaps >= MIN_PORT_GAPS && gaps >= MIN_GAPS_PER_FLOW * u64::from(flows)
}

/// Per server port, how many gaps of each time bin the class's training flows had and the
/// model chose while calibrating (ICMP flows, which have no port, are not counted).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PortTimes {
    /// Per server port, the real flows' gaps per time bin ([`TIME_BINS`] counts).
    pub real: BTreeMap<u16, Vec<u64>>,
    /// Per server port, how many real flows the counts come from.
    pub real_flows: BTreeMap<u16, u32>,
    /// Per server port, the model's gaps per time bin; empty until the card is calibrated.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sampled: BTreeMap<u16, Vec<u64>>,
}

/// Adds the time bins of `gaps_ns` to the counts of `port`.
fn add(counts: &mut BTreeMap<u16, Vec<u64>>, port: u16, gaps_ns: impl Iterator<Item = u64>) {
    let bins = counts.entry(port).or_insert_with(|| vec![0; TIME_BINS]);
    for g in gaps_ns {
        bins[iat_bin(g)] += 1;
    }
}

impl PortTimes {
    /// Counts the gaps of a real flow to `port` (every gap after its first packet).
    pub fn add_real(&mut self, port: u16, gaps_ns: impl Iterator<Item = u64>) {
        add(&mut self.real, port, gaps_ns);
        *self.real_flows.entry(port).or_insert(0) += 1;
    }

    /// Counts the gaps of a flow the model sampled to `port`, where the real flows had that
    /// port.
    pub fn add_sampled(&mut self, port: u16, gaps_ns: impl Iterator<Item = u64>) {
        if self.real.contains_key(&port) {
            add(&mut self.sampled, port, gaps_ns);
        }
    }

    /// Keeps only the ports that can have a map of their own (as [`PortTimes::maps`] decides
    /// by the real side): a port scan's or a peer-to-peer class's thousand ports of
    /// a flow or two would fill the card for nothing.
    pub fn pruned(mut self) -> PortTimes {
        let keep: std::collections::BTreeSet<u16> = self
            .real
            .iter()
            .filter(|(port, bins)| {
                let flows = self.real_flows.get(port).copied().unwrap_or(0);
                keeps_a_clock(flows, bins.iter().sum())
            })
            .map(|(port, _)| *port)
            .collect();
        self.real.retain(|p, _| keep.contains(p));
        self.real_flows.retain(|p, _| keep.contains(p));
        self.sampled.retain(|p, _| keep.contains(p));
        self
    }

    /// Forgets the model's counts (before they are made again).
    pub fn clear_sampled(&mut self) {
        self.sampled.clear();
    }

    /// Why the counts cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        for (side, counts) in [("real", &self.real), ("sampled", &self.sampled)] {
            if let Some((port, bins)) = counts.iter().find(|(_, b)| b.len() != TIME_BINS) {
                return Err(format!(
                    "port_times: {side} port {port} has {} bins, this build uses {TIME_BINS}",
                    bins.len()
                ));
            }
        }
        Ok(())
    }

    /// The maps sampling uses: one for each port of [`MIN_PORT_FLOWS`] real flows of
    /// [`MIN_GAPS_PER_FLOW`] gaps on average whose real and sampled gaps both count
    /// [`MIN_PORT_GAPS`]. Flows to other ports keep the class-wide
    /// map, whose real side is every training flow's gaps: the templates' flows alone, drawn
    /// half evenly over the class's captures, would give the many scattered ports of a port
    /// scan or a peer-to-peer class another clock than the class's.
    pub fn maps(&self) -> PortMaps {
        let enough = |b: &[u64]| b.iter().sum::<u64>() >= MIN_PORT_GAPS;
        let flows = |port: &u16| self.real_flows.get(port).copied().unwrap_or(0);
        let by_port = self
            .real
            .iter()
            .filter(|(port, real)| keeps_a_clock(flows(port), real.iter().sum()))
            .filter_map(|(port, real)| {
                let sampled = self.sampled.get(port).filter(|s| enough(s))?;
                Some((*port, BinMap::new(sampled, real)?))
            })
            .collect();
        PortMaps { by_port }
    }
}

/// A class's time maps by server port ([`PortTimes::maps`]).
#[derive(Debug, Clone, Default)]
pub struct PortMaps {
    by_port: HashMap<u16, BinMap>,
}

impl PortMaps {
    /// The map for a flow to `port`; `None` for a flow without a port or to a port without a map
    /// of its own (the class-wide map applies).
    pub fn get(&self, port: Option<u16>) -> Option<&BinMap> {
        self.by_port.get(&port?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` gaps of `ns` each.
    fn gaps(n: usize, ns: u64) -> impl Iterator<Item = u64> {
        std::iter::repeat_n(ns, n)
    }

    #[test]
    fn each_port_keeps_its_own_clock() {
        // Real: port 20100 every 20 ms, 20101 every 5 s. The model mixed them up: both ports
        // got some 20 ms and some 5 s gaps, and a burst of 10 µs ones.
        let mut t = PortTimes::default();
        for _ in 0..2 {
            t.add_real(20100, gaps(500, 20_000_000));
            t.add_real(20101, gaps(20, 5_000_000_000));
        }
        for port in [20100, 20101] {
            t.add_sampled(port, gaps(600, 20_000_000));
            t.add_sampled(port, gaps(100, 10_000));
            t.add_sampled(port, gaps(50, 5_000_000_000));
        }
        assert!(t.check().is_ok());
        let maps = t.maps();
        let (ms20, s5) = (iat_bin(20_000_000), iat_bin(5_000_000_000));
        for bin in [iat_bin(10_000), ms20, s5] {
            for u in [0.0, 0.5, 0.99] {
                assert_eq!(maps.get(Some(20100)).unwrap().map(bin, u), ms20);
                assert_eq!(maps.get(Some(20101)).unwrap().map(bin, u), s5);
            }
        }
        // No port (ICMP), or a port no group has and no rest to fall back on: the class map.
        assert!(maps.get(None).is_none());
        assert!(maps.get(Some(9)).is_none());
    }

    #[test]
    fn a_port_needs_enough_gaps_and_flows_of_its_own() {
        // Port 1: two flows of 10 gaps; port 9: one flow of 100; port 7: two flows of 3; port
        // 443: forty flows of one gap (a scan's probe and answer).
        let mut t = PortTimes::default();
        for (port, flows, n) in [(1, 2, 10), (9, 1, 100), (7, 2, 3), (443, 40, 1)] {
            for _ in 0..flows {
                t.add_real(port, gaps(n, 1_000_000));
            }
            t.add_sampled(port, gaps(flows * n, 1_000));
        }
        assert_eq!(t.real_flows[&9], 1);
        let maps = t.clone().pruned().maps();
        let own = maps.get(Some(1)).expect("two flows and 20 gaps a side");
        assert_eq!(own.map(iat_bin(1_000), 0.5), iat_bin(1_000_000));
        assert!(
            maps.get(Some(9)).is_none(),
            "one flow's port keeps the class map"
        );
        assert!(maps.get(Some(7)).is_none(), "6 gaps are too few");
        assert!(
            maps.get(Some(443)).is_none(),
            "one exchange a flow keeps no clock"
        );
        assert!(maps.get(Some(8080)).is_none(), "a port no real flow had");
        let pruned = t.clone().pruned();
        assert_eq!(
            pruned.real.keys().collect::<Vec<_>>(),
            vec![&1],
            "only port 1 can map"
        );
        assert_eq!(pruned.sampled.keys().collect::<Vec<_>>(), vec![&1]);
        t.add_sampled(8080, gaps(5, 1_000));
        assert!(!t.sampled.contains_key(&8080), "no real flow had 8080");
        // Uncalibrated counts give no map at all.
        t.clear_sampled();
        assert!(t.maps().get(Some(1)).is_none());
    }

    #[test]
    fn a_malformed_count_is_refused() {
        let mut t = PortTimes::default();
        t.real.insert(53, vec![1; 3]);
        assert!(t.check().unwrap_err().contains("real port 53 has 3 bins"));
    }
}
