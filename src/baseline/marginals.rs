//! Per-position frequencies of each nPrint value.

use crate::flows::Flow;
use crate::nprint::flow_packet_row;
use crate::nprint::layout::{Bit, STANDARD_WIDTH, VACANT};
use rand::Rng;

/// Bits of the IPv4 addresses in the standard layout, left vacant as the model leaves them.
pub const ADDRESS_BITS: std::ops::Range<usize> = 96..160;

/// For each packet position below `positions` (and one pooled table for all later positions),
/// how often each of the 1088 standard-layout values is -1, 0 and 1.
#[derive(Debug, Clone, PartialEq)]
pub struct BitMarginals {
    positions: usize,
    /// `counts[p][bit]` = occurrences of -1, 0, 1.
    counts: Vec<Vec<[u32; 3]>>,
}

impl BitMarginals {
    /// Counts the values of `flows` (their packets' standard-layout rows).
    pub fn fit<'a>(flows: impl IntoIterator<Item = &'a Flow>, positions: usize) -> BitMarginals {
        let positions = positions.max(1);
        let mut counts = vec![vec![[0u32; 3]; STANDARD_WIDTH]; positions + 1];
        let mut row = Vec::with_capacity(STANDARD_WIDTH);
        for f in flows {
            for (i, p) in f.packets.iter().enumerate() {
                row.clear();
                flow_packet_row(p, &mut row);
                let table = &mut counts[i.min(positions)];
                for (c, &b) in table.iter_mut().zip(&row) {
                    c[(b.clamp(-1, 1) + 1) as usize] += 1;
                }
            }
        }
        BitMarginals { positions, counts }
    }

    /// The frequencies of -1, 0, 1 of `bit` at packet position `pos` (all vacant when no real
    /// packet was seen there).
    pub fn probabilities(&self, pos: usize, bit: usize) -> [f64; 3] {
        let c = self
            .counts
            .get(pos.min(self.positions))
            .and_then(|t| t.get(bit))
            .copied()
            .unwrap_or([0; 3]);
        let n: u32 = c.iter().sum();
        if n == 0 {
            return [1.0, 0.0, 0.0];
        }
        c.map(|x| f64::from(x) / f64::from(n))
    }

    /// Appends one packet row for position `pos`, each value drawn independently; addresses
    /// vacant.
    pub fn sample_row(&self, pos: usize, rng: &mut impl Rng, out: &mut Vec<Bit>) {
        let table = &self.counts[pos.min(self.positions)];
        for (bit, c) in table.iter().enumerate() {
            if ADDRESS_BITS.contains(&bit) {
                out.push(VACANT);
                continue;
            }
            let n = c[0] + c[1] + c[2];
            if n == 0 {
                out.push(VACANT);
                continue;
            }
            let u = rng.random_range(0..n);
            out.push(if u < c[0] {
                -1
            } else if u < c[0] + c[1] {
                0
            } else {
                1
            });
        }
    }
}
