//! How windows become the model's numbers and back: header values as ±1 (0 for vacant),
//! direction as ±1, inter-arrival time on a log scale in [-1, 1] (structure templates are in
//! [`template`](super::template)).

use super::dataset::Window;
use crate::nprint::layout::{Bit, MODEL_WIDTH, VACANT};

/// The largest inter-arrival time the scale covers (100 s, in µs); longer gaps saturate.
const IAT_MAX_US: f64 = 1e8;

/// Inter-arrival time bins: the log scale `ln(1 + µs)` from 0 to `ln(1 + IAT_MAX_US)` cut into
/// this many equal bins (each about 2.2× wide), given to the network as a thermometer code.
pub const TIME_BINS: usize = 24;

/// Side channels per packet: the direction, then the time bins.
pub const SIDE_CHANNELS: usize = 1 + TIME_BINS;

fn log_span() -> f64 {
    (1.0 + IAT_MAX_US).ln()
}

/// The time bin of an inter-arrival time (0 for back-to-back packets, `TIME_BINS - 1` for
/// the longest gaps).
pub fn iat_bin(ns: u64) -> usize {
    let u = (1.0 + ns as f64 / 1000.0).ln() / log_span();
    ((u * TIME_BINS as f64) as usize).min(TIME_BINS - 1)
}

/// Writes the thermometer code of an inter-arrival time: the first `bin` values +1, the rest
/// −1. Each value is a yes/no question ("is the gap past bin k?"), which the network answers
/// by sign as it does header bits; one continuous value would be pulled to the mean of
/// several modes by the squared-error loss.
pub fn encode_iat(ns: u64, out: &mut [f32]) {
    let bin = iat_bin(ns);
    for (k, v) in out.iter_mut().take(TIME_BINS).enumerate() {
        *v = if k < bin { 1.0 } else { -1.0 };
    }
}

/// The time bin a thermometer code says (inverse of [`encode_iat`] up to the bin): the number
/// of its positive values, so a code that is not monotone still decodes. [`GapsByBin::place`]
/// or [`iat_of_bin`] then gives the time.
pub fn decoded_bin(values: &[f32]) -> usize {
    values.iter().take(TIME_BINS).filter(|&&v| v > 0.0).count()
}

/// A class's real inter-arrival times sorted into the time bins, to place a decoded time within
/// its bin as the class's real gaps lie there: the network says which bin (each about 2.2×
/// wide), the class's gaps in that bin say where in it. A bin without real gaps falls back to
/// [`iat_of_bin`].
#[derive(Debug, Clone, Default)]
pub struct GapsByBin(Vec<Vec<u64>>);

impl GapsByBin {
    /// Sorts `gaps_ns` (a class's inter-arrival samples) into the bins.
    pub fn new(gaps_ns: &[u64]) -> GapsByBin {
        let mut bins = vec![Vec::new(); TIME_BINS];
        for &g in gaps_ns {
            bins[iat_bin(g)].push(g);
        }
        for b in &mut bins {
            b.sort_unstable();
        }
        GapsByBin(bins)
    }

    /// How many of the class's gaps each bin holds ([`TIME_BINS`] counts).
    pub fn counts(&self) -> Vec<u64> {
        self.0.iter().map(|b| b.len() as u64).collect()
    }

    /// A time in bin `bin`: the real gap at quantile `jitter` (in [0, 1)) of the class's gaps
    /// in that bin, else [`iat_of_bin`].
    pub fn place(&self, bin: usize, jitter: f64) -> u64 {
        match self.0.get(bin) {
            Some(g) if !g.is_empty() => {
                let i = (jitter.clamp(0.0, 1.0) * g.len() as f64) as usize;
                g[i.min(g.len() - 1)]
            }
            _ => iat_of_bin(bin, jitter),
        }
    }
}

/// A time within bin `bin`, placed by `jitter` in [0, 1) on the log scale.
pub fn iat_of_bin(bin: usize, jitter: f64) -> u64 {
    let u = (bin as f64 + jitter.clamp(0.0, 1.0)) / TIME_BINS as f64 * log_span();
    ((u.exp() - 1.0) * 1000.0).round().max(0.0) as u64
}

/// Writes a window's values (`len` packets, padded to `l` rows of `MODEL_WIDTH + SIDE_CHANNELS`).
pub fn window_values(w: &Window, l: usize, out: &mut Vec<f32>) {
    let c = MODEL_WIDTH + SIDE_CHANNELS;
    let start = out.len();
    out.resize(start + l * c, 0.0);
    let rows = &mut out[start..];
    for p in 0..w.len.min(l) {
        let row = &mut rows[p * c..(p + 1) * c];
        for (v, &b) in row[..MODEL_WIDTH]
            .iter_mut()
            .zip(&w.bits[p * MODEL_WIDTH..])
        {
            *v = match b {
                1 => 1.0,
                0 => -1.0,
                _ => 0.0,
            };
        }
        row[MODEL_WIDTH] = if w.backward[p] { -1.0 } else { 1.0 };
        encode_iat(w.iat_ns[p], &mut row[MODEL_WIDTH + 1..]);
    }
}

/// Turns a predicted clean row back into model-layout bits: with a template, populated
/// positions take the sign and the rest are vacant; without, values near 0 are vacant.
pub fn quantise_row(values: &[f32], populated: Option<&[bool]>, out: &mut Vec<Bit>) {
    for (i, &v) in values[..MODEL_WIDTH].iter().enumerate() {
        let b = match populated {
            Some(m) if !m[i] => VACANT,
            Some(_) => Bit::from(v >= 0.0),
            None if v > 1.0 / 3.0 => 1,
            None if v < -1.0 / 3.0 => 0,
            None => VACANT,
        };
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_by_bin() {
        let counts = GapsByBin::new(&[0, 0, 1_000_000, 100_000_000_000]).counts();
        assert_eq!(counts.len(), TIME_BINS);
        assert_eq!(counts.iter().sum::<u64>(), 4);
        assert_eq!(counts[0], 2);
        assert_eq!(counts[TIME_BINS - 1], 1);
        assert_eq!(counts[iat_bin(1_000_000)], 1);
    }

    #[test]
    fn iat_thermometer_code_round_trips_within_its_bin() {
        let mut v = [0f32; TIME_BINS];
        encode_iat(0, &mut v);
        assert!(v.iter().all(|&x| x == -1.0));
        assert_eq!(iat_of_bin(decoded_bin(&v), 0.0), 0);
        encode_iat(u64::MAX, &mut v);
        assert_eq!(v.iter().filter(|&&x| x > 0.0).count(), TIME_BINS - 1);
        let width = log_span() / TIME_BINS as f64;
        for ns in [1_000u64, 250_000, 40_000_000, 3_000_000_000] {
            encode_iat(ns, &mut v);
            assert_eq!(v.iter().filter(|&&x| x > 0.0).count(), iat_bin(ns));
            // Decoded anywhere in its bin, the time is within one bin width on the log scale.
            for jitter in [0.0, 0.5, 0.999] {
                let back = iat_of_bin(decoded_bin(&v), jitter) as f64;
                let d = ((1.0 + back / 1000.0).ln() - (1.0 + ns as f64 / 1000.0).ln()).abs();
                assert!(d <= width + 1e-9, "{ns} -> {back}");
            }
        }
        // Later bins mean longer gaps.
        assert!(iat_bin(1_000) < iat_bin(1_000_000) && iat_bin(1_000_000) < iat_bin(1_000_000_000));
    }

    #[test]
    fn decoded_times_lie_where_the_class_gaps_lie_in_their_bin() {
        let gaps: Vec<u64> = vec![
            900, 5_000, 5_200, 5_300, 250_000, 260_000, 40_000_000, 41_000_000,
        ];
        let g = GapsByBin::new(&gaps);
        for &x in &gaps {
            let bin = iat_bin(x);
            let mine: Vec<u64> = gaps
                .iter()
                .copied()
                .filter(|&y| iat_bin(y) == bin)
                .collect();
            let mut last = 0;
            for jitter in [0.0, 0.3, 0.6, 0.999] {
                let t = g.place(bin, jitter);
                // One of the class's own gaps of that bin, rising with the quantile.
                assert!(mine.contains(&t), "bin {bin}: {t} not among {mine:?}");
                assert!(t >= last);
                last = t;
            }
            assert_eq!(g.place(bin, 0.0), *mine.iter().min().unwrap());
            assert_eq!(g.place(bin, 0.999), *mine.iter().max().unwrap());
        }
        // A bin the class has no gap in: placed on the log scale within the bin.
        let empty = iat_bin(3_000_000_000);
        assert!(gaps.iter().all(|&y| iat_bin(y) != empty));
        for jitter in [0.1, 0.5, 0.9] {
            assert_eq!(g.place(empty, jitter), iat_of_bin(empty, jitter));
            assert_eq!(iat_bin(g.place(empty, jitter)), empty);
        }
    }
}
