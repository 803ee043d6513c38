//! Flow arrivals: when a class's flows start, learned from the training captures. The gaps
//! between consecutive flow starts of one capture file carry both the pace of sessions and the
//! bursts of parallel connections a client opens at once (gaps near zero); drawing them again
//! gives generated traffic the class's concurrency instead of one exponential mean. Which hosts
//! the flows of a capture share carries its sessions: one scanner sweeping one target's ports,
//! a client opening connection after connection to the same servers, a flood from ever new
//! sources; drawing them again gives a generated scan one scanner and one target.

use super::dataset::{Window, UNKNOWN_HOST};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Gaps longer than this between two flow starts are pauses of the capture (a merged file, a
/// client left idle), not the pace of the class; they are not learned.
pub const MAX_LEARNED_GAP_NS: u64 = 60_000_000_000;

/// Gap samples kept per class in the card.
const GAP_SAMPLES: usize = 512;

/// A class's flow arrival process, as stored in the model card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowArrivals {
    /// Gaps between consecutive flow starts within one capture file (ns), a sample of them.
    pub gap_samples_ns: Vec<u64>,
    /// Mean number of the class's flows open when one of its flows starts (itself included),
    /// in the training captures: how much the class runs in parallel.
    pub mean_concurrency: f64,
    /// How the class's flows share hosts (None in cards made before it was learned, and for
    /// classes whose captures hold one flow each: every flow then gets hosts of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_reuse: Option<HostReuse>,
}

/// How a class's flows share hosts in its training captures: of the flows after a capture's
/// first, the share whose client an earlier flow of the capture already had, and the share
/// whose server. A port scan is near 1 and 1 (one scanner, one target), browsing near 1 and
/// below (one client, some servers again), a flood of spoofed sources near 0 and 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HostReuse {
    /// Share of flows from a client seen before.
    pub client: f64,
    /// Share of flows to a server seen before.
    pub server: f64,
}

impl HostReuse {
    /// Refuses shares that are not within 0..=1 (a damaged card), naming the field.
    pub fn check(&self) -> Result<(), String> {
        for (side, share) in [("client", self.client), ("server", self.server)] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "arrivals.host_reuse.{side} is {share}, not a share within 0..=1"
                ));
            }
        }
        Ok(())
    }

    /// Learns the shares from each flow's capture file, start time and host numbers.
    fn learn(flows: &[(usize, u64, u64, [u32; 2])]) -> Option<HostReuse> {
        if flows.iter().any(|f| f.3.contains(&UNKNOWN_HOST)) {
            return None;
        }
        let mut seen: [std::collections::HashSet<u32>; 2] = Default::default();
        let (mut later, mut again) = (0usize, [0usize; 2]);
        for (i, f) in flows.iter().enumerate() {
            if i == 0 || flows[i - 1].0 != f.0 {
                seen.iter_mut().for_each(|s| s.clear());
            } else {
                later += 1;
            }
            for side in 0..2 {
                if !seen[side].insert(f.3[side]) {
                    again[side] += 1;
                }
            }
        }
        (later > 0).then(|| HostReuse {
            client: again[0] as f64 / later as f64,
            server: again[1] as f64 / later as f64,
        })
    }
}

/// Draws one side's hosts for a class's generated flows, flow after flow: with the learned
/// share a flow takes the host of an earlier flow picked at random (so each host as likely as
/// the flows it had, as a scanner's or a busy server's), else a new host.
#[derive(Debug, Clone, Default)]
pub struct HostDraw {
    /// The host number of each flow drawn so far.
    flows: Vec<u32>,
    /// Hosts drawn so far (numbered 0, 1, … in order).
    hosts: u32,
}

impl HostDraw {
    /// The next flow's host number: an earlier one, or `hosts()` before the call for a new one.
    pub fn next(&mut self, share: f64, rng: &mut impl Rng) -> u32 {
        let h = if !self.flows.is_empty() && rng.random::<f64>() < share {
            self.flows[rng.random_range(0..self.flows.len())]
        } else {
            self.hosts += 1;
            self.hosts - 1
        };
        self.flows.push(h);
        h
    }

    /// Hosts drawn so far.
    pub fn hosts(&self) -> u32 {
        self.hosts
    }
}

impl FlowArrivals {
    /// Learns the arrivals of one class from its training windows (in dataset order: a flow's
    /// windows consecutive, flows of a file together), keeping a seeded sample of the gaps.
    pub fn learn<'a>(windows: impl IntoIterator<Item = &'a Window>, rng: &mut impl Rng) -> Self {
        // (file, start, end, hosts) of every flow.
        let mut flows: Vec<(usize, u64, u64, [u32; 2])> = Vec::new();
        let mut last_flow = None;
        for w in windows {
            // A window's gaps move the flow's clock on (a flow's first gap is 0).
            let elapsed: u64 = w.iat_ns.iter().sum();
            match flows.last_mut() {
                Some(f) if last_flow == Some(w.flow) => f.2 = f.2.saturating_add(elapsed),
                _ => {
                    flows.push((w.file, w.flow_start_ns, w.flow_start_ns + elapsed, w.hosts));
                    last_flow = Some(w.flow);
                }
            }
        }
        flows.sort_unstable();
        let mut gaps = Vec::new();
        let mut open_sum = 0usize;
        // Ends of the file's flows started so far and still open (a min-heap): a flood of
        // 100,000 flows in one file stays a sweep, not a comparison of every pair.
        let mut open: BinaryHeap<Reverse<u64>> = BinaryHeap::new();
        for (i, f) in flows.iter().enumerate() {
            if i > 0 && flows[i - 1].0 == f.0 {
                let gap = f.1 - flows[i - 1].1;
                if gap <= MAX_LEARNED_GAP_NS {
                    gaps.push(gap);
                }
            } else {
                open.clear();
            }
            // Flows of the same file started before this one and still open at its start.
            while open.peek().is_some_and(|Reverse(end)| *end <= f.1) {
                open.pop();
            }
            open_sum += 1 + open.len();
            open.push(Reverse(f.2));
        }
        crate::seed::shuffle(&mut gaps, rng);
        gaps.truncate(GAP_SAMPLES);
        FlowArrivals {
            gap_samples_ns: gaps,
            mean_concurrency: if flows.is_empty() {
                0.0
            } else {
                open_sum as f64 / flows.len() as f64
            },
            host_reuse: HostReuse::learn(&flows),
        }
    }

    /// The gap before the class's next flow start: a learned gap when there are any, else an
    /// exponential draw of mean `fallback_mean_ns`.
    pub fn next_gap(&self, fallback_mean_ns: u64, rng: &mut impl Rng) -> u64 {
        match self.gap_samples_ns.len() {
            0 => exponential(fallback_mean_ns, rng),
            n => self.gap_samples_ns[rng.random_range(0..n)],
        }
    }
}

/// An exponential draw of mean `mean_ns`.
pub fn exponential(mean_ns: u64, rng: &mut impl Rng) -> u64 {
    let u: f64 = rng.random::<f64>().max(1e-12);
    (-(u.ln()) * mean_ns as f64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn window(file: usize, flow: usize, start_s: u64, iat_s: &[u64]) -> Window {
        Window {
            class: 0,
            file,
            len: iat_s.len(),
            bits: Vec::new(),
            backward: vec![false; iat_s.len()],
            iat_ns: iat_s.iter().map(|s| s * 1_000_000_000).collect(),
            server_port: 80,
            hosts: [0, 1],
            flow,
            flow_start_ns: start_s * 1_000_000_000,
        }
    }

    #[test]
    fn gaps_and_concurrency_come_from_flow_starts_of_each_file() {
        let s = 1_000_000_000;
        // File 0: flows at 0 s (lasting 10 s, in two windows), 1 s (1 s long) and 100 s.
        // File 1: flows at 5 s and 7 s. The 99 s pause is not a learned gap; nor is anything
        // across files.
        let ws = [
            window(0, 0, 0, &[0, 4]),
            window(0, 0, 0, &[3, 3]),
            window(0, 1, 1, &[0, 1]),
            window(0, 2, 100, &[0]),
            window(1, 3, 5, &[0]),
            window(1, 4, 7, &[0]),
        ];
        let a = FlowArrivals::learn(&ws, &mut StdRng::seed_from_u64(1));
        let mut g = a.gap_samples_ns.clone();
        g.sort_unstable();
        assert_eq!(g, vec![s, 2 * s]);
        // Open at each start: 1, 2 (the 10 s flow is open at 1 s), 1, 1, 1.
        assert!((a.mean_concurrency - 6.0 / 5.0).abs() < 1e-12);
        let mut rng = StdRng::seed_from_u64(2);
        for _ in 0..20 {
            assert!(g.contains(&a.next_gap(123, &mut rng)));
        }
        let none = FlowArrivals::default();
        let mean = (0..4000)
            .map(|_| none.next_gap(1000, &mut rng))
            .sum::<u64>()
            / 4000;
        assert!((900..1100).contains(&mean), "{mean}");
    }

    #[test]
    fn host_reuse_is_learned_from_each_captures_later_flows() {
        let at = |file, flow, start, hosts| Window {
            hosts,
            ..window(file, flow, start, &[0])
        };
        // File 0: one client; servers 1, 2, 1 again, 3. File 1: three clients, one server.
        // Later flows: 3 + 2; from a client seen before: 3 + 0; to a server seen before: 1 + 2.
        let ws = [
            at(0, 0, 0, [0, 1]),
            at(0, 1, 1, [0, 2]),
            at(0, 2, 2, [0, 1]),
            at(0, 3, 3, [0, 3]),
            at(1, 4, 0, [0, 1]),
            at(1, 5, 1, [2, 1]),
            at(1, 6, 2, [3, 1]),
        ];
        let mut rng = StdRng::seed_from_u64(1);
        let r = FlowArrivals::learn(&ws, &mut rng).host_reuse.unwrap();
        assert_eq!((r.client, r.server), (3.0 / 5.0, 3.0 / 5.0));
        // Flows learned out of order in a file are taken in start order: the first flow of
        // file 1 (at 0 s) is listed last.
        let shuffled = [ws[5].clone(), ws[6].clone(), ws[4].clone()];
        let r = FlowArrivals::learn(&shuffled, &mut rng).host_reuse.unwrap();
        assert_eq!((r.client, r.server), (0.0, 1.0));
        // Nothing to learn from files of one flow each, nor from sets without host numbers.
        assert_eq!(FlowArrivals::learn(&ws[3..5], &mut rng).host_reuse, None);
        let unknown = [ws[0].clone(), at(0, 1, 1, [0, UNKNOWN_HOST])];
        assert_eq!(FlowArrivals::learn(&unknown, &mut rng).host_reuse, None);
    }

    #[test]
    fn hosts_are_drawn_again_with_the_learned_share() {
        let mut rng = StdRng::seed_from_u64(3);
        let draw = |share: f64, rng: &mut StdRng| {
            let mut d = HostDraw::default();
            let hosts: Vec<u32> = (0..1000).map(|_| d.next(share, rng)).collect();
            (d.hosts(), hosts)
        };
        assert_eq!(draw(1.0, &mut rng), (1, vec![0; 1000]));
        assert_eq!(draw(0.0, &mut rng), (1000, (0..1000).collect()));
        let (n, hosts) = draw(0.7, &mut rng);
        assert!((250..350).contains(&n), "{n} hosts for 1000 flows at 0.7");
        assert!(hosts.iter().all(|&h| h < n));
        // Hosts that had many flows get more: the first host more than any later one.
        let of = |h| hosts.iter().filter(|&&x| x == h).count();
        assert!(of(0) > of(n / 2), "{} vs {}", of(0), of(n / 2));
    }
}
