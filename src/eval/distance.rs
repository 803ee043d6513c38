//! Distances between two discrete distributions: Jensen-Shannon divergence (base 2), total
//! variation distance and Hellinger distance. All three lie in 0..=1: 0 for identical
//! distributions, 1 for distributions with disjoint support.

use serde::Serialize;
use std::collections::BTreeMap;

/// Counts of observed values (already binned) of one field or feature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: BTreeMap<u64, u64>,
    total: u64,
}

impl Histogram {
    /// Adds one observation of bin `key`.
    pub fn add(&mut self, key: u64) {
        *self.counts.entry(key).or_insert(0) += 1;
        self.total += 1;
    }

    /// Adds every observation of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (&k, &c) in &other.counts {
            *self.counts.entry(k).or_insert(0) += c;
        }
        self.total += other.total;
    }

    /// Number of observations.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The bins with their counts, in key order.
    pub fn counts(&self) -> &BTreeMap<u64, u64> {
        &self.counts
    }

    /// Share of the observations in bin `key` (0 when empty).
    pub fn share(&self, key: u64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        self.counts.get(&key).copied().unwrap_or(0) as f64 / self.total as f64
    }
}

/// The three distances between two distributions.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Distances {
    /// Jensen-Shannon divergence in bits (log base 2): 0..=1.
    pub jsd: f64,
    /// Total variation distance, half the L1 distance: 0..=1.
    pub tvd: f64,
    /// Hellinger distance, sqrt(1 - Bhattacharyya coefficient): 0..=1.
    pub hellinger: f64,
}

impl Distances {
    /// The largest value of each distance (disjoint supports).
    pub const MAX: Distances = Distances {
        jsd: 1.0,
        tvd: 1.0,
        hellinger: 1.0,
    };

    /// The element-wise mean of `items`; `None` when there are none.
    pub fn mean<'a>(items: impl IntoIterator<Item = &'a Distances>) -> Option<Distances> {
        let mut sum = Distances::default();
        let mut n = 0usize;
        for d in items {
            sum.jsd += d.jsd;
            sum.tvd += d.tvd;
            sum.hellinger += d.hellinger;
            n += 1;
        }
        (n > 0).then(|| Distances {
            jsd: sum.jsd / n as f64,
            tvd: sum.tvd / n as f64,
            hellinger: sum.hellinger / n as f64,
        })
    }
}

/// Distances between two probability vectors over the same bins. Each vector is normalised
/// to sum 1 first; `None` when either has no mass, or when the lengths differ.
pub fn distances(p: &[f64], q: &[f64]) -> Option<Distances> {
    if p.len() != q.len() {
        return None;
    }
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    if sp <= 0.0 || sq <= 0.0 || !sp.is_finite() || !sq.is_finite() {
        return None;
    }
    let mut jsd = 0.0;
    let mut l1 = 0.0;
    let mut bc = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        let (a, b) = (a.max(0.0) / sp, b.max(0.0) / sq);
        let m = 0.5 * (a + b);
        if a > 0.0 {
            jsd += 0.5 * a * (a / m).log2();
        }
        if b > 0.0 {
            jsd += 0.5 * b * (b / m).log2();
        }
        l1 += (a - b).abs();
        bc += (a * b).sqrt();
    }
    // Rounding can push the sums a hair outside 0..=1.
    Some(Distances {
        jsd: jsd.clamp(0.0, 1.0),
        tvd: (0.5 * l1).clamp(0.0, 1.0),
        hellinger: (1.0 - bc).max(0.0).sqrt().min(1.0),
    })
}

/// Distances between two histograms over the union of their bins. `None` when both are empty;
/// the maximum when exactly one is (what one side has, the other never produces).
pub fn compare(real: &Histogram, synthetic: &Histogram) -> Option<Distances> {
    match (real.total == 0, synthetic.total == 0) {
        (true, true) => None,
        (true, false) | (false, true) => Some(Distances::MAX),
        (false, false) => {
            let keys: Vec<u64> = real
                .counts
                .keys()
                .chain(synthetic.counts.keys())
                .copied()
                .collect::<std::collections::BTreeSet<u64>>()
                .into_iter()
                .collect();
            let p: Vec<f64> = keys.iter().map(|&k| real.share(k)).collect();
            let q: Vec<f64> = keys.iter().map(|&k| synthetic.share(k)).collect();
            distances(&p, &q)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn half_half_against_certain() {
        // P = [0.5, 0.5], Q = [1, 0], M = [0.75, 0.25].
        // KL(P||M) = 0.5·log2(0.5/0.75) + 0.5·log2(0.5/0.25) = 0.5·(-0.58496) + 0.5·1 = 0.20752
        // KL(Q||M) = log2(1/0.75) = 0.41504;  JSD = (0.20752 + 0.41504) / 2 = 0.31128.
        // TVD = (|0.5-1| + |0.5-0|) / 2 = 0.5.
        // BC = sqrt(0.5·1) + 0 = 0.70711;  H = sqrt(1 - 0.70711) = 0.54120.
        let d = distances(&[0.5, 0.5], &[1.0, 0.0]).unwrap();
        assert!(close(d.jsd, 0.31128), "{d:?}");
        assert!(close(d.tvd, 0.5), "{d:?}");
        assert!(close(d.hellinger, 0.54120), "{d:?}");
    }

    #[test]
    fn three_bins_by_hand() {
        // P = [0.2, 0.3, 0.5], Q = [0.5, 0.3, 0.2], M = [0.35, 0.3, 0.35].
        // KL(P||M) = 0.2·log2(0.2/0.35) + 0 + 0.5·log2(0.5/0.35)
        //          = 0.2·(-0.80735) + 0.5·0.51457 = 0.09582; KL(Q||M) is the same by symmetry.
        // JSD = 0.09582. TVD = (0.3 + 0 + 0.3) / 2 = 0.3.
        // BC = sqrt(0.1) + 0.3 + sqrt(0.1) = 0.93246; H = sqrt(0.06754) = 0.25989.
        let d = distances(&[2.0, 3.0, 5.0], &[5.0, 3.0, 2.0]).unwrap();
        assert!(close(d.jsd, 0.09582), "{d:?}");
        assert!(close(d.tvd, 0.3), "{d:?}");
        assert!(close(d.hellinger, 0.25989), "{d:?}");
    }

    #[test]
    fn identical_is_zero_disjoint_is_one() {
        let d = distances(&[0.1, 0.4, 0.5], &[1.0, 4.0, 5.0]).unwrap();
        assert!(d.jsd.abs() < 1e-12 && d.tvd.abs() < 1e-12 && d.hellinger.abs() < 1e-6);
        let d = distances(&[1.0, 1.0, 0.0, 0.0], &[0.0, 0.0, 3.0, 1.0]).unwrap();
        assert_eq!(d, Distances::MAX);
    }

    #[test]
    fn histograms_compare_over_the_union_of_bins() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        assert_eq!(compare(&a, &b), None);
        a.add(7);
        assert_eq!(compare(&a, &b), Some(Distances::MAX));
        // a = {7: 1/2, 9: 1/2}, b = {7: 1}: the [0.5, 0.5] vs [1, 0] case.
        a.add(9);
        b.add(7);
        b.add(7);
        let d = compare(&a, &b).unwrap();
        assert!(close(d.jsd, 0.31128) && close(d.tvd, 0.5), "{d:?}");
        assert_eq!(distances(&[1.0], &[0.5, 0.5]), None);
        assert_eq!(distances(&[0.0, 0.0], &[0.5, 0.5]), None);
    }

    #[test]
    fn mean_of_distances() {
        let m = Distances::mean(&[Distances::MAX, Distances::default()]).unwrap();
        assert_eq!((m.jsd, m.tvd, m.hellinger), (0.5, 0.5, 0.5));
        assert_eq!(Distances::mean(&[]), None);
    }
}
