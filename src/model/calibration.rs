//! Time calibration: the network says which time bin each gap falls in, and its bins, class by
//! class, are spread wider than the class's real gaps (a port scan's SYN-to-RST gap is 10-100
//! ms in 95 % of the real flows and in 64 % of the sampled ones). When a card is made, the model
//! samples some flows of each class and the card keeps how often it chose each bin; sampling
//! then maps a chosen bin through the quantiles of that count onto those of the class's real
//! gaps (quantile mapping). The order of a flow's gaps is the network's — a longer gap stays
//! longer — while the class's gaps together follow the real ones.

use super::checkpoint::{LoadedModel, ModelError};
use super::encoding::{iat_bin, TIME_BINS};
use super::lengths::{LengthCounts, LENGTH_POSITIONS};
use super::port_times::PortTimes;
use super::sample::{sample, GeneratedFlow, SampleSettings};
use super::windows::WindowCounts;
use crate::flows::Direction;
use crate::nprint::layout::{standard_to_model, Bit, MODEL_WIDTH, STANDARD_WIDTH};
use serde::{Deserialize, Serialize};

/// How often the model itself chose each time bin for a class, counted over flows it sampled
/// when the card was made (every gap after a flow's first packet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeCalibration {
    /// Flows sampled.
    pub flows: usize,
    /// DDIM steps they were sampled with.
    pub steps: usize,
    /// Gaps per time bin ([`TIME_BINS`] counts).
    pub sampled_bins: Vec<u64>,
}

impl TimeCalibration {
    /// Why the calibration cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.sampled_bins.len() != TIME_BINS {
            return Err(format!(
                "time_calibration has {} bins, this build uses {TIME_BINS}",
                self.sampled_bins.len()
            ));
        }
        Ok(())
    }
}

/// A monotone map from the model's time bins to the class's real ones: a bin's share of the
/// sampled gaps is a slice of [0, 1) (its quantiles), and a point of that slice goes to the real
/// bin at that quantile of the real gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct BinMap {
    /// Cumulative shares of the sampled gaps, bin by bin (last one 1).
    sampled: Vec<f64>,
    /// Cumulative shares of the real gaps, bin by bin (last one 1).
    real: Vec<f64>,
    /// The last real bin holding gaps: no point maps past it.
    last_real: usize,
}

fn cumulative(counts: &[u64]) -> Option<Vec<f64>> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let mut acc = 0u64;
    Some(
        counts
            .iter()
            .map(|&c| {
                acc += c;
                acc as f64 / total as f64
            })
            .collect(),
    )
}

impl BinMap {
    /// The map from `sampled` bin counts to `real` ones; `None` when either is empty or they
    /// have different numbers of bins.
    pub fn new(sampled: &[u64], real: &[u64]) -> Option<BinMap> {
        if sampled.len() != real.len() {
            return None;
        }
        let real = cumulative(real)?;
        Some(BinMap {
            sampled: cumulative(sampled)?,
            last_real: real.iter().position(|&c| c >= 1.0).unwrap_or(0),
            real,
        })
    }

    /// The real bin for the model's bin `bin` at `u` in [0, 1) within the bin's slice. A bin the
    /// model never chose while calibrating has an empty slice and goes to the real bin at its
    /// place.
    pub fn map(&self, bin: usize, u: f64) -> usize {
        let bin = bin.min(self.sampled.len() - 1);
        let lo = if bin == 0 { 0.0 } else { self.sampled[bin - 1] };
        let q = lo + (self.sampled[bin] - lo) * u.clamp(0.0, 1.0);
        // The first real bin whose cumulative share passes q; never an empty bin past the last
        // real gap.
        self.real
            .iter()
            .position(|&c| c > q)
            .unwrap_or(self.last_real)
            .min(self.last_real)
    }
}

/// Gaps a class's calibration aims to count: a class of short flows samples more of them.
pub const CALIBRATION_GAPS: usize = 1024;
/// The most flows a class samples for its calibration, as a multiple of the least.
const MAX_FLOWS_FACTOR: usize = 16;
/// Flows of a class whose leading packets' lengths are counted, position by position, for its
/// [length calibration](super::lengths), as a multiple of the least calibration flows (128 by
/// default): its calibration flows, and as many more as it lacks, sampled one window long (the
/// leading packets are all in the first window, which a longer flow's are denoised in just the
/// same).
pub const LEADING_FLOWS_FACTOR: usize = 4;

/// Flows to sample for a class whose templates are `lens` packets long: at least `least`, more
/// when they would count fewer than [`CALIBRATION_GAPS`] gaps, at most `MAX_FLOWS_FACTOR` times
/// `least`.
fn flows_for(lens: impl Iterator<Item = usize>, least: usize) -> usize {
    let (n, packets) = lens.fold((0usize, 0usize), |(n, p), l| (n + 1, p + l));
    if n == 0 || least == 0 {
        return least;
    }
    // Gaps a flow brings on average (one per packet after the first).
    let gaps_per_flow = (packets - n) as f64 / n as f64;
    let want = (CALIBRATION_GAPS as f64 / gaps_per_flow.max(1e-9)).ceil() as usize;
    want.clamp(least, least * MAX_FLOWS_FACTOR)
}

/// Samples flows of every class of `m` with `settings` — at least `least` a class, more for a
/// class of short flows ([`CALIBRATION_GAPS`]) — its calibrations set aside so that the counts
/// are the network's own, and gives every class of its card the counts: of time bins, and of
/// payload lengths for its [length calibration](super::lengths) where the card has its real
/// side (for the leading packets of [`LEADING_FLOWS_FACTOR`] times `least` flows a class).
pub fn calibrate(
    m: &mut LoadedModel,
    least: usize,
    settings: &SampleSettings,
) -> Result<(), ModelError> {
    let mut order = Vec::new();
    let mut flows = Vec::new();
    for (c, class) in m.card.classes.iter_mut().enumerate() {
        class.time_calibration = None;
        if let Some(l) = &mut class.length_calibration {
            l.clear_sampled();
        }
        if let Some(w) = &mut class.window_calibration {
            w.clear_sampled();
        }
        if let Some(p) = &mut class.port_times {
            p.clear_sampled();
        }
        let n = flows_for(class.templates.iter().map(|t| t.len()), least);
        order.extend(std::iter::repeat_n(c, n));
        flows.push(n);
    }
    let mut counts = vec![vec![0u64; TIME_BINS]; flows.len()];
    let mut lengths: Vec<LengthCounts> = flows.iter().map(|_| LengthCounts::default()).collect();
    let mut windows: Vec<WindowCounts> = flows.iter().map(|_| WindowCounts::default()).collect();
    let mut row = Vec::with_capacity(MODEL_WIDTH);
    // The first `upto` packets of `flow`, each in the model layout with whether it was sent
    // backward and its row.
    let mut count_lengths =
        |flow: &GeneratedFlow, upto: usize, count: &mut dyn FnMut(&[Bit], bool, usize)| {
            let rows = flow.rows.chunks_exact(STANDARD_WIDTH).zip(&flow.directions);
            for (position, (std_row, &d)) in rows.take(upto).enumerate() {
                row.clear();
                standard_to_model(std_row, &mut row);
                count(&row, d == Direction::Backward, position);
            }
        };
    let mut ports: Vec<Option<PortTimes>> = m
        .card
        .classes
        .iter()
        .map(|c| c.port_times.clone())
        .collect();
    for flow in sample(m, &order, 0, settings)? {
        for &gap in flow.iat_ns.iter().skip(1) {
            counts[flow.class][iat_bin(gap)] += 1;
        }
        if let (Some(p), Some(port)) = (&mut ports[flow.class], flow.server_port) {
            p.add_sampled(port, flow.iat_ns.iter().copied().skip(1));
        }
        let (class, class_windows) = (&mut lengths[flow.class], &mut windows[flow.class]);
        count_lengths(&flow, usize::MAX, &mut |r, backward, p| {
            class.push(r, backward, p);
            class_windows.push(r, backward, p);
        });
    }
    let leading: Vec<usize> = m
        .card
        .classes
        .iter()
        .zip(&flows)
        .enumerate()
        .filter(|(_, (class, _))| class.length_calibration.is_some())
        .flat_map(|(c, (_, &n))| {
            std::iter::repeat_n(c, (least * LEADING_FLOWS_FACTOR).saturating_sub(n))
        })
        .collect();
    if !leading.is_empty() {
        let window = m.card.config.max_packets;
        let one_window = SampleSettings {
            max_flow_packets: Some(settings.max_flow_packets.map_or(window, |n| n.min(window))),
            ..settings.clone()
        };
        for flow in sample(m, &leading, order.len() as u64, &one_window)? {
            let (class, class_windows) = (&mut lengths[flow.class], &mut windows[flow.class]);
            count_lengths(&flow, LENGTH_POSITIONS, &mut |r, backward, p| {
                class.push_leading(r, backward, p);
                class_windows.push_leading(r, backward, p);
            });
        }
    }
    let classes = m
        .card
        .classes
        .iter_mut()
        .zip(counts)
        .zip(lengths)
        .zip(windows)
        .zip(ports);
    for (((((c, sampled_bins), lengths), windows), ports), flows) in classes.zip(flows) {
        c.port_times = ports;
        c.time_calibration = Some(TimeCalibration {
            flows,
            steps: settings.steps,
            sampled_bins,
        });
        if let Some(l) = &mut c.length_calibration {
            l.set_sampled(lengths);
        }
        if let Some(w) = &mut c.window_calibration {
            w.set_sampled(windows);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn equal_counts_map_every_bin_to_itself() {
        let counts = [0, 5, 10, 0, 3, 2];
        let m = BinMap::new(&counts, &counts).unwrap();
        for (bin, &c) in counts.iter().enumerate() {
            if c > 0 {
                for u in [0.0, 0.3, 0.999] {
                    assert_eq!(m.map(bin, u), bin, "bin {bin} u {u}");
                }
            }
        }
    }

    #[test]
    fn bins_drawn_as_sampled_come_out_as_real() {
        // The model spreads its bins wide; the real gaps sit in two bins.
        let sampled = [10, 10, 10, 10, 20, 20, 10, 10];
        let real = [0, 0, 0, 0, 60, 40, 0, 0];
        let m = BinMap::new(&sampled, &real).unwrap();
        let total: u64 = sampled.iter().sum();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut out = [0u64; 8];
        let n = 20_000;
        for _ in 0..n {
            // A bin drawn from the sampled counts, then mapped.
            let mut x = rng.random_range(0..total);
            let bin = sampled
                .iter()
                .position(|&c| {
                    let hit = x < c;
                    x = x.saturating_sub(c);
                    hit
                })
                .unwrap();
            out[m.map(bin, rng.random())] += 1;
        }
        for (bin, &want) in real.iter().enumerate() {
            let got = out[bin] as f64 / n as f64;
            assert!((got - want as f64 / 100.0).abs() < 0.02, "bin {bin}: {got}");
        }
    }

    #[test]
    fn the_map_keeps_the_order_of_gaps() {
        let m = BinMap::new(&[3, 1, 4, 1, 5, 9, 2, 6], &[2, 7, 1, 8, 2, 8, 1, 8]).unwrap();
        for u in [0.0, 0.5, 0.99] {
            let mapped: Vec<usize> = (0..8).map(|b| m.map(b, u)).collect();
            assert!(mapped.windows(2).all(|w| w[0] <= w[1]), "{mapped:?}");
        }
        // Past the last real gap nothing is chosen; before the first real one neither.
        let m = BinMap::new(&[1, 1, 1, 1], &[0, 1, 1, 0]).unwrap();
        for b in 0..4 {
            for u in [0.0, 0.5, 0.99] {
                assert!((1..=2).contains(&m.map(b, u)), "bin {b} u {u}");
            }
        }
    }

    #[test]
    fn no_counts_no_map() {
        assert!(BinMap::new(&[0, 0], &[1, 2]).is_none());
        assert!(BinMap::new(&[1, 2], &[0, 0]).is_none());
        assert!(BinMap::new(&[1, 2], &[1, 2, 3]).is_none());
    }

    #[test]
    fn a_calibration_of_another_bin_count_is_refused() {
        let c = TimeCalibration {
            flows: 4,
            steps: 10,
            sampled_bins: vec![1; TIME_BINS - 1],
        };
        let why = c.check().unwrap_err();
        assert!(why.contains(&format!("{}", TIME_BINS - 1)), "{why}");
        let ok = TimeCalibration {
            sampled_bins: vec![1; TIME_BINS],
            ..c
        };
        assert!(ok.check().is_ok());
    }

    #[test]
    fn classes_of_short_flows_sample_more_of_them() {
        // Two-packet flows: one gap each.
        assert_eq!(flows_for([2, 2, 2].into_iter(), 32), 32 * MAX_FLOWS_FACTOR);
        assert_eq!(flows_for([2, 2].into_iter(), 128), CALIBRATION_GAPS);
        // Long flows: the least is plenty.
        assert_eq!(flows_for([300, 1000].into_iter(), 32), 32);
        // Single packets (no gap at all), no templates, no calibration asked.
        assert_eq!(flows_for([1, 1].into_iter(), 8), 8 * MAX_FLOWS_FACTOR);
        assert_eq!(flows_for(std::iter::empty(), 8), 8);
        assert_eq!(flows_for([2].into_iter(), 0), 0);
    }
}
