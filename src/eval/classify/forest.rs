//! A random forest: trees grown on bootstrap samples, √p features drawn at each node, majority
//! vote. Trees are grown on all cores; tree i always draws from the streams the seed derives
//! for index i, so the result does not depend on the number of threads, and forests of two
//! seeds share no tree (with `seed + i`, seed 1's trees were seed 0's shifted by one).

use super::tree::{DecisionTree, TreeParams};
use super::FeatureMatrix;
use crate::seed::salt;
use rand::Rng;

/// How a forest grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForestParams {
    /// Number of trees.
    pub trees: usize,
    /// Seed.
    pub seed: u64,
    /// Threads (0: as many as the machine has).
    pub threads: usize,
}

impl Default for ForestParams {
    /// 100 trees, seed 0, every core.
    fn default() -> Self {
        ForestParams {
            trees: 100,
            seed: 0,
            threads: 0,
        }
    }
}

/// A trained forest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomForest {
    trees: Vec<DecisionTree>,
    n_classes: usize,
}

impl RandomForest {
    /// Grows a forest on `rows` of `x` (labels `y` by row, below `n_classes`) over the columns
    /// `features`.
    pub fn fit(
        x: &FeatureMatrix,
        y: &[u16],
        n_classes: usize,
        rows: &[u32],
        features: &[u32],
        params: &ForestParams,
    ) -> RandomForest {
        let n_trees = params.trees.max(1);
        let threads = match params.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        }
        .clamp(1, n_trees);
        let max_features = ((features.len() as f64).sqrt().ceil() as usize).max(1);
        let grow = |i: usize| {
            let i = i as u64;
            let mut rng = crate::seed::rng(params.seed, salt::FOREST_BOOTSTRAP, i);
            let sample: Vec<u32> = if rows.is_empty() {
                Vec::new()
            } else {
                (0..rows.len())
                    .map(|_| rows[rng.random_range(0..rows.len())])
                    .collect()
            };
            let tp = TreeParams {
                max_features: Some(max_features),
                seed: crate::seed::derive(params.seed, salt::FOREST_FEATURES, i),
                ..TreeParams::default()
            };
            DecisionTree::fit(x, y, n_classes, &sample, features, &tp)
        };
        let mut trees: Vec<Option<DecisionTree>> = vec![None; n_trees];
        std::thread::scope(|s| {
            for (t, chunk) in trees.chunks_mut(n_trees.div_ceil(threads)).enumerate() {
                let grow = &grow;
                let base = t * n_trees.div_ceil(threads);
                s.spawn(move || {
                    for (j, slot) in chunk.iter_mut().enumerate() {
                        *slot = Some(grow(base + j));
                    }
                });
            }
        });
        RandomForest {
            trees: trees.into_iter().flatten().collect(),
            n_classes,
        }
    }

    /// The class most trees vote for at row `r` (lowest class on ties).
    pub fn predict_row(&self, x: &FeatureMatrix, r: usize) -> u16 {
        let mut votes = vec![0u32; self.n_classes.max(1)];
        for t in &self.trees {
            let c = t.predict_row(x, r) as usize;
            if let Some(v) = votes.get_mut(c) {
                *v += 1;
            }
        }
        (0..votes.len())
            .max_by(|&a, &b| votes[a].cmp(&votes[b]).then(b.cmp(&a)))
            .unwrap_or(0) as u16
    }

    /// Renames the split features of every tree (see [`DecisionTree::remap_features`]).
    pub fn remap_features(&mut self, map: &[u32]) {
        self.trees.iter_mut().for_each(|t| t.remap_features(map));
    }

    /// Number of trees.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// True when the forest has no tree (never, once fitted).
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_forest_whatever_the_thread_count() {
        let flat: Vec<i8> = (0..60).map(|i| ((i * 7 + i / 5) % 3) as i8 - 1).collect();
        let x = FeatureMatrix::from_row_major(flat, 12, 5).unwrap();
        let y: Vec<u16> = (0..12).map(|i| (i % 2) as u16).collect();
        let rows: Vec<u32> = (0..12).collect();
        let feats: Vec<u32> = (0..5).collect();
        let p = |threads| ForestParams {
            trees: 9,
            seed: 3,
            threads,
        };
        let a = RandomForest::fit(&x, &y, 2, &rows, &feats, &p(1));
        let b = RandomForest::fit(&x, &y, 2, &rows, &feats, &p(4));
        assert_eq!(a, b);
        assert_eq!(a.len(), 9);
    }

    #[test]
    fn forests_of_neighbouring_seeds_share_no_tree() {
        // Labels unrelated to the features: each tree fits its own bootstrap's noise.
        let hash = |i: u64| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) % 3;
        let flat: Vec<i8> = (0..400).map(|i| hash(i) as i8 - 1).collect();
        let x = FeatureMatrix::from_row_major(flat, 40, 10).unwrap();
        let y: Vec<u16> = (0..40).map(|i| hash(1000 + i) as u16).collect();
        let rows: Vec<u32> = (0..40).collect();
        let feats: Vec<u32> = (0..10).collect();
        let fit = |seed| {
            let p = ForestParams {
                trees: 20,
                seed,
                threads: 1,
            };
            RandomForest::fit(&x, &y, 3, &rows, &feats, &p).trees
        };
        let (a, b) = (fit(0), fit(1));
        let shared = a.iter().filter(|t| b.contains(t)).count();
        assert!(shared <= 2, "{shared} of 20 trees alike for seeds 0 and 1");
        assert_eq!(fit(0), a, "a seed grows the same forest again");
    }
}
