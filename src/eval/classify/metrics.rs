//! Classification scores.

use std::collections::BTreeSet;

/// Share of predictions equal to the truth (0 for no rows).
pub fn accuracy(truth: &[u16], pred: &[u16]) -> f64 {
    if truth.is_empty() || truth.len() != pred.len() {
        return 0.0;
    }
    let right = truth.iter().zip(pred).filter(|(a, b)| a == b).count();
    right as f64 / truth.len() as f64
}

/// Unweighted mean of the per-class F1 scores over the classes in the truth or the
/// predictions (a class never predicted and never true is not counted).
pub fn macro_f1(truth: &[u16], pred: &[u16]) -> f64 {
    if truth.is_empty() || truth.len() != pred.len() {
        return 0.0;
    }
    let classes: BTreeSet<u16> = truth.iter().chain(pred).copied().collect();
    let mut sum = 0.0;
    for &c in &classes {
        let tp = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| **t == c && **p == c)
            .count();
        let fp = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| **t != c && **p == c)
            .count();
        let fn_ = truth
            .iter()
            .zip(pred)
            .filter(|(t, p)| **t == c && **p != c)
            .count();
        let denom = 2 * tp + fp + fn_;
        if denom > 0 {
            sum += 2.0 * tp as f64 / denom as f64;
        }
    }
    sum / classes.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_by_hand() {
        // truth 0 0 1 1, pred 0 1 1 1: accuracy 3/4.
        // class 0: tp 1, fp 0, fn 1 → F1 = 2/3; class 1: tp 2, fp 1, fn 0 → F1 = 4/5.
        // macro F1 = (2/3 + 4/5) / 2 = 0.73333.
        let (t, p) = ([0, 0, 1, 1], [0, 1, 1, 1]);
        assert_eq!(accuracy(&t, &p), 0.75);
        assert!((macro_f1(&t, &p) - 0.733_333).abs() < 1e-5);
        assert_eq!(accuracy(&[], &[]), 0.0);
        assert_eq!(macro_f1(&[1], &[1, 2]), 0.0);
    }
}
