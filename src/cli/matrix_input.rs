//! Reading a flow matrix for the commands that take one: an nPrint CSV (any generator's) or a
//! NetDiffusion PNG, projected to the standard layout, with whatever timing it carries.

use anyhow::Context;
use netdiffd::nprint::layout::STANDARD_WIDTH;
use netdiffd::nprint::{read_csv, read_png, Bit};
use std::path::Path;

/// A flow matrix in the standard layout and the timing its file held.
pub struct MatrixInput {
    /// Row-major standard-layout bits.
    pub rows: Vec<Bit>,
    /// Number of rows.
    pub n: usize,
    /// Absolute times (ns since the epoch), from `tv_sec,tv_usec` columns.
    pub abs_ns: Option<Vec<u64>>,
    /// Gaps (ns) since the previous row, from an `rts` column.
    pub gaps_ns: Option<Vec<u64>>,
}

/// Loads `path`: a `.png` as a NetDiffusion image, anything else as nPrint CSV.
pub fn load(path: &Path) -> anyhow::Result<MatrixInput> {
    let is_png = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"));
    if is_png {
        let img = read_png(path)?;
        let rows = img.to_standard();
        let n = rows.len() / STANDARD_WIDTH;
        return Ok(MatrixInput {
            rows,
            n,
            abs_ns: None,
            gaps_ns: None,
        });
    }
    let t = read_csv(path).context("reading nPrint CSV")?;
    let abs_ns = t.abs_ts.as_ref().map(|v| {
        v.iter()
            .map(|&(s, us)| {
                (s.max(0) as u64).saturating_mul(1_000_000_000) + (us.max(0) as u64) * 1000
            })
            .collect()
    });
    let gaps_ns = t.rts_us.as_ref().map(|v| {
        v.iter()
            .map(|&us| (us.max(0) as u64).saturating_mul(1000))
            .collect()
    });
    Ok(MatrixInput {
        rows: t.to_standard(),
        n: t.rows,
        abs_ns,
        gaps_ns,
    })
}

impl MatrixInput {
    /// One time per row: absolute times when the file had them, else `start_ns` plus the `rts`
    /// gaps, else `start_ns` plus `gap_ns` per row. Never decreasing.
    pub fn times(&self, start_ns: u64, gap_ns: u64) -> Vec<u64> {
        if let Some(abs) = &self.abs_ns {
            let mut last = 0;
            return abs
                .iter()
                .map(|&t| {
                    last = t.max(last);
                    last
                })
                .collect();
        }
        let mut t = start_ns;
        (0..self.n)
            .map(|i| {
                if i > 0 {
                    let g = self.gaps_ns.as_ref().map_or(gap_ns, |g| g[i]);
                    t = t.saturating_add(g);
                }
                t
            })
            .collect()
    }
}
