//! A CART classification tree (Gini impurity) over ternary features.

use super::FeatureMatrix;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How a tree grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeParams {
    /// Features drawn at each node (`None`: all of them, a plain decision tree). When none of
    /// the drawn ones splits the node, more are drawn, as in the usual random forest.
    pub max_features: Option<usize>,
    /// Nodes with fewer rows are leaves.
    pub min_samples_split: usize,
    /// Nodes this deep are leaves.
    pub max_depth: usize,
    /// Seed of the feature draws.
    pub seed: u64,
}

impl Default for TreeParams {
    /// Fully grown over all features.
    fn default() -> Self {
        TreeParams {
            max_features: None,
            min_samples_split: 2,
            max_depth: 64,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Leaf(u16),
    /// Rows with value ≤ `threshold` go left.
    Split {
        feature: u32,
        threshold: i8,
        left: u32,
        right: u32,
    },
}

/// A trained tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionTree {
    nodes: Vec<Node>,
}

/// A node waiting to be grown.
struct Pending {
    node: usize,
    rows: Vec<u32>,
    features: Vec<u32>,
    depth: usize,
}

/// The best split found at a node.
struct Best {
    score: f64,
    feature: u32,
    threshold: i8,
}

/// Reusable buffers of one fit.
struct Scratch {
    /// Global class → class index within the node (u16::MAX: absent).
    local_of: Vec<u16>,
    /// Local class of each row of the node.
    local: Vec<u16>,
    /// Row count per (value, local class).
    counts: Vec<u32>,
    /// Per column: whether it varies over the node's rows.
    varies: Vec<u8>,
}

impl DecisionTree {
    /// Grows a tree on `rows` of `x` (labels `y` by row, below `n_classes`), considering the
    /// columns `features`.
    pub fn fit(
        x: &FeatureMatrix,
        y: &[u16],
        n_classes: usize,
        rows: &[u32],
        features: &[u32],
        params: &TreeParams,
    ) -> DecisionTree {
        let with_columns;
        let x = if x.has_columns() {
            x
        } else {
            with_columns = x.clone().with_columns();
            &with_columns
        };
        let mut rng = StdRng::seed_from_u64(params.seed);
        let mut tree = DecisionTree {
            nodes: vec![Node::Leaf(0)],
        };
        let mut scratch = Scratch {
            local_of: vec![u16::MAX; n_classes.max(1)],
            local: Vec::new(),
            counts: Vec::new(),
            varies: Vec::new(),
        };
        // Rows in ascending order make every column read below a forward sweep.
        let mut rows: Vec<u32> = rows
            .iter()
            .copied()
            .filter(|&r| {
                (r as usize) < x.rows()
                    && (y.get(r as usize).copied().unwrap_or(u16::MAX) as usize) < n_classes
            })
            .collect();
        rows.sort_unstable();
        let mut stack = vec![Pending {
            node: 0,
            rows,
            features: features.to_vec(),
            depth: 0,
        }];
        while let Some(mut p) = stack.pop() {
            let (majority, classes) = class_summary(y, &p.rows, n_classes);
            let leaf = classes <= 1
                || p.rows.len() < params.min_samples_split.max(2)
                || p.depth >= params.max_depth;
            let best = if leaf {
                None
            } else {
                best_split(x, y, &mut p, params, &mut scratch, &mut rng)
            };
            let Some(best) = best else {
                tree.nodes[p.node] = Node::Leaf(majority);
                continue;
            };
            let col = x.column(best.feature as usize);
            let (l_rows, r_rows): (Vec<u32>, Vec<u32>) = p
                .rows
                .iter()
                .partition(|&&r| col[r as usize] <= best.threshold);
            let left = tree.nodes.len();
            tree.nodes.push(Node::Leaf(majority));
            tree.nodes.push(Node::Leaf(majority));
            tree.nodes[p.node] = Node::Split {
                feature: best.feature,
                threshold: best.threshold,
                left: left as u32,
                right: left as u32 + 1,
            };
            stack.push(Pending {
                node: left + 1,
                rows: r_rows,
                features: p.features.clone(),
                depth: p.depth + 1,
            });
            stack.push(Pending {
                node: left,
                rows: l_rows,
                features: p.features,
                depth: p.depth + 1,
            });
        }
        tree
    }

    /// The class predicted for row `r` of `x`.
    pub fn predict_row(&self, x: &FeatureMatrix, r: usize) -> u16 {
        let mut at = 0usize;
        // A tree of n nodes is at most n deep; the bound keeps a malformed tree from looping.
        for _ in 0..=self.nodes.len() {
            match self.nodes.get(at) {
                Some(Node::Leaf(c)) => return *c,
                Some(Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                }) => {
                    at = if x.get(r, *feature as usize) <= *threshold {
                        *left as usize
                    } else {
                        *right as usize
                    };
                }
                None => break,
            }
        }
        0
    }

    /// Renames the split features: feature `i` becomes `map[i]` (for a tree grown on a
    /// matrix of selected columns, to predict on the full matrix).
    pub fn remap_features(&mut self, map: &[u32]) {
        for n in &mut self.nodes {
            if let Node::Split { feature, .. } = n {
                *feature = map.get(*feature as usize).copied().unwrap_or(*feature);
            }
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for a tree without nodes (never, once fitted).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The most frequent class (lowest on ties) and the number of classes present.
fn class_summary(y: &[u16], rows: &[u32], n_classes: usize) -> (u16, usize) {
    let mut counts = vec![0u32; n_classes.max(1)];
    for &r in rows {
        counts[y[r as usize] as usize] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count();
    let best = (0..counts.len())
        .max_by(|&a, &b| counts[a].cmp(&counts[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    (best as u16, present)
}

/// Σ c² / n of a count vector: larger means purer (Gini impurity is 1 − this / n).
fn purity(counts: impl Iterator<Item = u32>) -> (f64, u32) {
    let (mut sq, mut n) = (0.0, 0u32);
    for c in counts {
        sq += f64::from(c) * f64::from(c);
        n += c;
    }
    (if n == 0 { 0.0 } else { sq / f64::from(n) }, n)
}

/// Finds the split with the largest impurity decrease, drawing features in random order until
/// `max_features` have been tried and one of them splits. Features constant at this node are
/// dropped from `p.features` first: they are constant in every descendant too.
fn best_split(
    x: &FeatureMatrix,
    y: &[u16],
    p: &mut Pending,
    params: &TreeParams,
    s: &mut Scratch,
    rng: &mut StdRng,
) -> Option<Best> {
    // Local class ids keep the count table as small as the node's class set.
    let mut n_local = 0u16;
    s.local.clear();
    for &r in &p.rows {
        let g = y[r as usize] as usize;
        if s.local_of[g] == u16::MAX {
            s.local_of[g] = n_local;
            n_local += 1;
        }
        s.local.push(s.local_of[g]);
    }
    for &r in &p.rows {
        s.local_of[y[r as usize] as usize] = u16::MAX;
    }
    let l = n_local as usize;
    s.counts.clear();
    s.counts.resize(3 * l, 0);
    let mut parent = vec![0u32; l];
    for &c in &s.local {
        parent[c as usize] += 1;
    }
    let (parent_purity, _) = purity(parent.iter().copied());
    // Which columns vary over the node's rows, in one sweep over the rows (row-major, so it
    // vectorises): far cheaper than finding the constant ones column by column, and deep in
    // a tree most columns are constant.
    let first = x.row(p.rows[0] as usize);
    s.varies.clear();
    s.varies.resize(first.len(), 0);
    for &r in &p.rows[1..] {
        let row = x.row(r as usize);
        let n = row.len().min(first.len());
        let (row, first, varies) = (&row[..n], &first[..n], &mut s.varies[..n]);
        for j in 0..n {
            varies[j] |= u8::from(row[j] != first[j]);
        }
    }
    let varies = &s.varies;
    p.features
        .retain(|&f| varies.get(f as usize).is_some_and(|&v| v != 0));
    let want = params.max_features.unwrap_or(usize::MAX).max(1);
    let mut best: Option<Best> = None;
    let end = p.features.len();
    for i in 0..end {
        // Every feature left varies, so each one drawn counts as tried.
        if i >= want && best.is_some() {
            break;
        }
        if params.max_features.is_some() {
            let j = rng.random_range(i..end);
            p.features.swap(i, j);
        }
        let f = p.features[i];
        let col = x.column(f as usize);
        s.counts.iter_mut().for_each(|c| *c = 0);
        for (&r, &c) in p.rows.iter().zip(&s.local) {
            let v = col[r as usize].clamp(-1, 1);
            s.counts[(v + 1) as usize * l + c as usize] += 1;
        }
        let (neg, rest) = s.counts.split_at(l);
        let (zero, _) = rest.split_at(l);
        for threshold in [-1i8, 0] {
            let left = |k: usize| {
                if threshold == -1 {
                    neg[k]
                } else {
                    neg[k] + zero[k]
                }
            };
            let (pl, nl) = purity((0..l).map(left));
            let (pr, nr) = purity((0..l).map(|k| parent[k] - left(k)));
            if nl == 0 || nr == 0 {
                continue;
            }
            let score = pl + pr;
            if score > parent_purity + 1e-9 && best.as_ref().is_none_or(|b| score > b.score) {
                best = Some(Best {
                    score,
                    feature: f,
                    threshold,
                });
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_until_pure_and_predicts_training_rows() {
        // Class = 2·[c0 == 1] + [c1 != -1]: needs both columns; c2 is noise.
        let rows: Vec<[i8; 3]> = vec![
            [1, -1, 0],
            [1, 0, 1],
            [1, 1, -1],
            [0, -1, 1],
            [-1, 0, 0],
            [0, 1, 1],
            [-1, -1, -1],
        ];
        let y: Vec<u16> = rows
            .iter()
            .map(|r| 2 * u16::from(r[0] == 1) + u16::from(r[1] != -1))
            .collect();
        let flat: Vec<i8> = rows.iter().flatten().copied().collect();
        let x = FeatureMatrix::from_row_major(flat, rows.len(), 3).unwrap();
        let all: Vec<u32> = (0..rows.len() as u32).collect();
        let t = DecisionTree::fit(&x, &y, 4, &all, &[0, 1, 2], &TreeParams::default());
        for (r, &c) in y.iter().enumerate() {
            assert_eq!(t.predict_row(&x, r), c, "row {r}");
        }
        // A single class gives a single leaf.
        let t = DecisionTree::fit(&x, &[1; 7], 2, &all, &[0, 1, 2], &TreeParams::default());
        assert_eq!(t.len(), 1);
        assert_eq!(t.predict_row(&x, 0), 1);
    }
}
