//! Classification scores.

use std::collections::{BTreeMap, BTreeSet};

/// Share of predictions equal to the truth (0 for no rows).
pub fn accuracy(truth: &[u16], pred: &[u16]) -> f64 {
    if truth.is_empty() || truth.len() != pred.len() {
        return 0.0;
    }
    let right = truth.iter().zip(pred).filter(|(a, b)| a == b).count();
    right as f64 / truth.len() as f64
}

/// One label's scores in a test: how often it was true, how often predicted, its F1, and the
/// label its true rows were most often mistaken for.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelScore {
    /// The label.
    pub label: u16,
    /// Rows whose truth is the label.
    pub support: usize,
    /// Rows predicted as the label.
    pub predicted: usize,
    /// F1 of the label (0 when it is never right).
    pub f1: f64,
    /// The wrong label predicted most often for the label's rows, and for how many (the lowest
    /// label among equals); `None` when every row of the label was right.
    pub mistaken_for: Option<(u16, usize)>,
}

/// The scores of every label in the truth or the predictions, by label (a label never
/// predicted and never true is not listed).
pub fn label_scores(truth: &[u16], pred: &[u16]) -> Vec<LabelScore> {
    if truth.is_empty() || truth.len() != pred.len() {
        return Vec::new();
    }
    // confusion[(t, p)] = rows of truth t predicted p.
    let mut confusion: BTreeMap<(u16, u16), usize> = BTreeMap::new();
    for (&t, &p) in truth.iter().zip(pred) {
        *confusion.entry((t, p)).or_default() += 1;
    }
    let labels: BTreeSet<u16> = truth.iter().chain(pred).copied().collect();
    labels
        .into_iter()
        .map(|c| {
            let tp = confusion.get(&(c, c)).copied().unwrap_or(0);
            let support: usize = confusion
                .iter()
                .filter(|((t, _), _)| *t == c)
                .map(|(_, n)| n)
                .sum();
            let predicted: usize = confusion
                .iter()
                .filter(|((_, p), _)| *p == c)
                .map(|(_, n)| n)
                .sum();
            let denom = support + predicted;
            let f1 = if denom > 0 {
                2.0 * tp as f64 / denom as f64
            } else {
                0.0
            };
            let mistaken_for = confusion
                .iter()
                .filter(|((t, p), _)| *t == c && *p != c)
                .map(|((_, p), &n)| (*p, n))
                .fold(None, |best: Option<(u16, usize)>, (p, n)| match best {
                    Some((_, m)) if m >= n => best,
                    _ => Some((p, n)),
                });
            LabelScore {
                label: c,
                support,
                predicted,
                f1,
                mistaken_for,
            }
        })
        .collect()
}

/// Unweighted mean of the per-label F1 scores over the labels in the truth or the
/// predictions (a label never predicted and never true is not counted).
pub fn macro_f1(truth: &[u16], pred: &[u16]) -> f64 {
    mean_f1(&label_scores(truth, pred))
}

/// Unweighted mean of the scores' F1 (0 for none).
pub fn mean_f1(scores: &[LabelScore]) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.iter().map(|s| s.f1).sum::<f64>() / scores.len() as f64
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

    #[test]
    fn label_scores_by_hand() {
        // truth 0 0 0 1 1 2, pred 0 2 2 1 0 1.
        // label 0: support 3, predicted 2, tp 1 → F1 2/5, mistaken for 2 twice.
        // label 1: support 2, predicted 2, tp 1 → F1 1/2, mistaken for 0 once.
        // label 2: support 1, predicted 2, tp 0 → F1 0, mistaken for 1 once.
        let s = label_scores(&[0, 0, 0, 1, 1, 2], &[0, 2, 2, 1, 0, 1]);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].label, s[0].support, s[0].predicted), (0, 3, 2));
        assert!((s[0].f1 - 0.4).abs() < 1e-12);
        assert_eq!(s[0].mistaken_for, Some((2, 2)));
        assert!((s[1].f1 - 0.5).abs() < 1e-12);
        assert_eq!(s[1].mistaken_for, Some((0, 1)));
        assert_eq!(s[2].f1, 0.0);
        assert_eq!(s[2].mistaken_for, Some((1, 1)));
        assert!((mean_f1(&s) - 0.3).abs() < 1e-12);
        // A label only predicted counts with F1 0 and no support; an all-right label has no
        // mistake.
        let s = label_scores(&[4, 4], &[4, 5]);
        assert_eq!(s[0].mistaken_for, Some((5, 1)));
        assert_eq!(
            (s[1].label, s[1].support, s[1].predicted, s[1].f1),
            (5, 0, 1, 0.0)
        );
        assert_eq!(label_scores(&[3], &[3])[0].mistaken_for, None);
    }
}
