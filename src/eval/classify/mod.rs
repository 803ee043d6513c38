//! Classifiers for the ML part of the evaluation: CART decision trees and random forests on
//! nPrint features, whose values are only -1 (vacant), 0 and 1.
//!
//! Written here rather than taken from a general crate because of the data's shape: a flow is
//! K × 1024 ternary values (16,384 for K = 16), so general tree learners that pre-sort every
//! column for every tree (n × p indices: 1.3 GB for 10,000 flows) or scan all rows at every
//! node do not fit the time and memory budget. With ternary values a split is one of two
//! thresholds (x ≤ -1, x ≤ 0), and the best one is found from a 3 × classes count table in one
//! pass over the node's rows.

mod forest;
mod matrix;
mod metrics;
mod tree;

pub use forest::{ForestParams, RandomForest};
pub use matrix::{active_features, flow_bits, FeatureMatrix};
pub use metrics::{accuracy, label_scores, macro_f1, mean_f1, LabelScore};
pub use tree::{DecisionTree, TreeParams};

/// A classifier kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassifierKind {
    /// A random forest ([`RandomForest`]).
    RandomForest,
    /// One fully grown CART tree over all features ([`DecisionTree`]).
    DecisionTree,
}

impl ClassifierKind {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ClassifierKind::RandomForest => "random forest",
            ClassifierKind::DecisionTree => "decision tree",
        }
    }
}

/// Trains a classifier of `kind` on rows `train` of `x` (duplicates count once) with labels `y` (indexed by row, values
/// below `n_classes`) and predicts rows `test`.
pub fn fit_predict(
    kind: ClassifierKind,
    x: &FeatureMatrix,
    y: &[u16],
    n_classes: usize,
    train: &[u32],
    test: &[u32],
    forest: &ForestParams,
) -> Vec<u16> {
    // Training on a copy of just the training rows and the columns that vary keeps the
    // columns short enough to stay in cache while the trees grow.
    let mut train: Vec<u32> = train.to_vec();
    train.sort_unstable();
    train.dedup();
    let features = active_features(x, &train);
    let xc = x.select(&train, &features);
    let yc: Vec<u16> = train
        .iter()
        .map(|&r| y.get(r as usize).copied().unwrap_or(u16::MAX))
        .collect();
    let rows: Vec<u32> = (0..train.len() as u32).collect();
    let cols: Vec<u32> = (0..features.len() as u32).collect();
    match kind {
        ClassifierKind::RandomForest => {
            let mut f = RandomForest::fit(&xc, &yc, n_classes, &rows, &cols, forest);
            f.remap_features(&features);
            test.iter().map(|&r| f.predict_row(x, r as usize)).collect()
        }
        ClassifierKind::DecisionTree => {
            let params = TreeParams {
                seed: forest.seed,
                ..TreeParams::default()
            };
            let mut t = DecisionTree::fit(&xc, &yc, n_classes, &rows, &cols, &params);
            t.remap_features(&features);
            test.iter().map(|&r| t.predict_row(x, r as usize)).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes told apart by column 3 (vacant vs set) and by columns 5+6 together (XOR),
    /// with noise columns; both learners must be perfect on held-out rows.
    #[test]
    fn separable_data_is_learned_exactly() {
        let mut rows = Vec::new();
        let mut y = Vec::new();
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as i64
        };
        for i in 0..200 {
            let class = (i % 3) as u16;
            let mut r: Vec<i8> = (0..10).map(|_| (next() % 3 - 1) as i8).collect();
            match class {
                0 => r[3] = -1,
                1 => {
                    r[3] = 1;
                    r[5] = 1;
                    r[6] = 0;
                }
                _ => {
                    r[3] = 1;
                    r[5] = 0;
                    r[6] = 1;
                }
            }
            rows.extend(r);
            y.push(class);
        }
        let x = FeatureMatrix::from_row_major(rows, 200, 10).unwrap();
        let train: Vec<u32> = (0..150).collect();
        let test: Vec<u32> = (150..200).collect();
        let truth: Vec<u16> = test.iter().map(|&r| y[r as usize]).collect();
        for kind in [ClassifierKind::RandomForest, ClassifierKind::DecisionTree] {
            let pred = fit_predict(kind, &x, &y, 3, &train, &test, &ForestParams::default());
            assert_eq!(accuracy(&truth, &pred), 1.0, "{kind:?}");
            assert_eq!(macro_f1(&truth, &pred), 1.0, "{kind:?}");
        }
    }
}
