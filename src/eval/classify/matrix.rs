//! Feature matrices: one row per flow, stored row by row and, for training, column by column
//! too (a node's split search reads one column for many rows).

use crate::flows::Flow;
use crate::nprint::flow_packet_row;
use crate::nprint::layout::{standard_to_model, MODEL_WIDTH, STANDARD_WIDTH, VACANT};

/// Rows × columns of values -1, 0, 1, kept both row-major (for whole-row sweeps and
/// prediction) and column-major (for split searches).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeatureMatrix {
    rows: usize,
    cols: usize,
    by_row: Vec<i8>,
    data: Vec<i8>,
}

impl FeatureMatrix {
    /// From row-major values, both layouts; `None` when `data` is not `rows × cols` long.
    pub fn from_row_major(data: Vec<i8>, rows: usize, cols: usize) -> Option<FeatureMatrix> {
        Some(FeatureMatrix::rows_only(data, rows, cols)?.with_columns())
    }

    /// From row-major values, without the column-major copy (enough for [`Self::select`],
    /// [`Self::row`] and prediction; trees add the columns when they need them).
    pub fn rows_only(data: Vec<i8>, rows: usize, cols: usize) -> Option<FeatureMatrix> {
        if rows.checked_mul(cols)? != data.len() {
            return None;
        }
        Some(FeatureMatrix {
            rows,
            cols,
            by_row: data,
            data: Vec::new(),
        })
    }

    /// Whether the column-major copy exists.
    pub fn has_columns(&self) -> bool {
        self.data.len() == self.by_row.len()
    }

    /// This matrix with the column-major copy built.
    pub fn with_columns(mut self) -> FeatureMatrix {
        if self.has_columns() {
            return self;
        }
        let (rows, cols) = (self.rows, self.cols);
        let data = &self.by_row;
        let mut out = vec![0i8; data.len()];
        // Blocks of rows keep both the reads and the writes within a few cache lines.
        const BLOCK: usize = 64;
        for r0 in (0..rows).step_by(BLOCK) {
            let r1 = (r0 + BLOCK).min(rows);
            for c in 0..cols {
                for r in r0..r1 {
                    out[c * rows + r] = data[r * cols + c];
                }
            }
        }
        self.data = out;
        self
    }

    /// The sub-matrix of `rows` (in that order) and `cols` (in that order).
    pub fn select(&self, rows: &[u32], cols: &[u32]) -> FeatureMatrix {
        let mut data = Vec::with_capacity(rows.len() * cols.len());
        for &r in rows {
            let row = self.row(r as usize);
            data.extend(
                cols.iter()
                    .map(|&c| row.get(c as usize).copied().unwrap_or(VACANT)),
            );
        }
        FeatureMatrix::from_row_major(data, rows.len(), cols.len()).unwrap_or_default()
    }

    /// Row `r` (empty when out of range).
    pub fn row(&self, r: usize) -> &[i8] {
        self.by_row
            .get(r * self.cols..(r + 1) * self.cols)
            .unwrap_or(&[])
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Column `c` (empty when out of range or without the column-major copy).
    pub fn column(&self, c: usize) -> &[i8] {
        self.data
            .get(c * self.rows..(c + 1) * self.rows)
            .unwrap_or(&[])
    }

    /// The value at row `r`, column `c` (vacant when out of range).
    pub fn get(&self, r: usize, c: usize) -> i8 {
        if c >= self.cols {
            return VACANT;
        }
        self.row(r).get(c).copied().unwrap_or(VACANT)
    }
}

/// Appends a flow's features: the model-layout values (IPv4 without addresses, TCP, UDP, ICMP:
/// 1024 a packet) of its first `k` packets, vacant rows after its last packet.
pub fn flow_bits(flow: &Flow, k: usize, out: &mut Vec<i8>) {
    let start = out.len();
    let mut row = Vec::with_capacity(STANDARD_WIDTH);
    for p in flow.packets.iter().take(k) {
        row.clear();
        flow_packet_row(p, &mut row);
        standard_to_model(&row, out);
    }
    out.resize(start + k * MODEL_WIDTH, VACANT);
}

/// The columns whose value varies over `rows` (a constant column can never split them).
pub fn active_features(x: &FeatureMatrix, rows: &[u32]) -> Vec<u32> {
    let Some(&first) = rows.first() else {
        return Vec::new();
    };
    let first = x.row(first as usize);
    let mut varies = vec![0u8; first.len()];
    for &r in &rows[1..] {
        let row = x.row(r as usize);
        let n = row.len().min(first.len());
        for j in 0..n {
            varies[j] |= u8::from(row[j] != first[j]);
        }
    }
    (0..varies.len())
        .filter(|&c| varies[c] != 0)
        .map(|c| c as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_and_finds_varying_columns() {
        let x = FeatureMatrix::from_row_major(vec![1, 0, -1, 1, 1, -1], 2, 3).unwrap();
        assert_eq!(x.column(0), &[1, 1]);
        assert_eq!(x.column(1), &[0, 1]);
        assert_eq!(x.get(1, 2), -1);
        assert_eq!(x.get(5, 0), VACANT);
        assert_eq!(active_features(&x, &[0, 1]), vec![1]);
        assert_eq!(active_features(&x, &[0]), Vec::<u32>::new());
        assert!(FeatureMatrix::from_row_major(vec![1, 0], 2, 3).is_none());
        let sub = x.select(&[1, 0], &[2, 1]);
        assert_eq!((sub.rows(), sub.cols()), (2, 2));
        assert_eq!(sub.column(0), &[-1, -1]);
        assert_eq!(sub.column(1), &[1, 0]);
    }
}
