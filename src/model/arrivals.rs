//! Flow arrivals: when a class's flows start, learned from the training captures. The gaps
//! between consecutive flow starts of one capture file carry both the pace of sessions and the
//! bursts of parallel connections a client opens at once (gaps near zero); drawing them again
//! gives generated traffic the class's concurrency instead of one exponential mean.

use super::dataset::Window;
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
}

impl FlowArrivals {
    /// Learns the arrivals of one class from its training windows (in dataset order: a flow's
    /// windows consecutive, flows of a file together), keeping a seeded sample of the gaps.
    pub fn learn<'a>(windows: impl IntoIterator<Item = &'a Window>, rng: &mut impl Rng) -> Self {
        // (file, start, end) of every flow.
        let mut flows: Vec<(usize, u64, u64)> = Vec::new();
        let mut last_flow = None;
        for w in windows {
            // A window's gaps move the flow's clock on (a flow's first gap is 0).
            let elapsed: u64 = w.iat_ns.iter().sum();
            match flows.last_mut() {
                Some(f) if last_flow == Some(w.flow) => f.2 = f.2.saturating_add(elapsed),
                _ => {
                    flows.push((w.file, w.flow_start_ns, w.flow_start_ns + elapsed));
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
}
