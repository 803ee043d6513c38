//! How much of a held-out figure is sampling noise: each synthetic set's flows resampled with
//! replacement, class by class (a bootstrap), and the held-out comparison made again for every
//! resample. The report gives the range the middle 90 % of the resamples fall in, for each
//! set's figures and for the difference between the first set (the model's) and each other
//! one: a difference whose range holds 0 is one a new draw of the same size could reverse.
//!
//! Only the synthetic side is resampled: the held-out files are the fixed yardstick of the
//! run (another capture would move them as well, by an amount no resampling of one capture
//! can tell).

use super::heldout::{only, RealProfiles};
use super::similarity::{compare_sets, Profile, SetSimilarity};
use crate::flows::Flow;
use rand::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Resamples a run draws of each set.
pub const RESAMPLES: usize = 200;

/// Share of the resamples left out on each side of a range (5 %: the middle 90 % remain).
const TAIL: f64 = 0.05;

/// The range the middle 90 % of the resamples' values fall in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Range {
    /// The 5th percentile.
    pub low: f64,
    /// The 95th percentile.
    pub high: f64,
}

impl Range {
    /// The range of `values`; `None` when there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Range> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Some(Range {
            low: at(TAIL),
            high: at(1.0 - TAIL),
        })
    }

    /// Whether the range holds 0 (for a difference: the sign is not settled).
    pub fn holds_zero(&self) -> bool {
        self.low <= 0.0 && self.high >= 0.0
    }
}

/// The ranges of one set's held-out figures (JSD), or of one difference between two sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranges {
    /// The set (or `A − B` for a difference).
    pub name: String,
    /// Mean header-field JSD.
    pub fields_mean: Option<Range>,
    /// Mean flow-feature JSD.
    pub flow_mean: Option<Range>,
    /// Per flow feature.
    pub per_flow_feature: BTreeMap<&'static str, Range>,
}

/// The held-out figures of every set under resampling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldOutSpread {
    /// Resamples drawn of each set.
    pub resamples: usize,
    /// Each set's figures (same order as the held-out comparison's sets).
    pub sets: Vec<Ranges>,
    /// The first set's figures less each other set's (positive: the first set is further
    /// from the held-out files).
    pub differences: Vec<Ranges>,
}

/// The figures of one resample that the ranges are made of.
#[derive(Debug, Clone, Default)]
struct Figures {
    fields_mean: Option<f64>,
    flow_mean: Option<f64>,
    per_flow_feature: BTreeMap<&'static str, f64>,
}

impl Figures {
    fn of(s: &SetSimilarity) -> Figures {
        Figures {
            fields_mean: s.fields_mean.map(|d| d.jsd),
            flow_mean: s.flow_mean.map(|d| d.jsd),
            per_flow_feature: s
                .per_flow_feature
                .iter()
                .map(|(k, d)| (*k, d.jsd))
                .collect(),
        }
    }

    /// `self − other`, figure by figure, where both have it.
    fn minus(&self, other: &Figures) -> Figures {
        Figures {
            fields_mean: self.fields_mean.zip(other.fields_mean).map(|(a, b)| a - b),
            flow_mean: self.flow_mean.zip(other.flow_mean).map(|(a, b)| a - b),
            per_flow_feature: self
                .per_flow_feature
                .iter()
                .filter_map(|(k, a)| Some((*k, a - other.per_flow_feature.get(k)?)))
                .collect(),
        }
    }
}

fn ranges(name: String, draws: &[Figures]) -> Ranges {
    let mut per: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    for f in draws {
        for (k, v) in &f.per_flow_feature {
            per.entry(k).or_default().push(*v);
        }
    }
    Ranges {
        name,
        fields_mean: Range::of(draws.iter().filter_map(|f| f.fields_mean).collect()),
        flow_mean: Range::of(draws.iter().filter_map(|f| f.flow_mean).collect()),
        per_flow_feature: per
            .into_iter()
            .filter_map(|(k, v)| Some((k, Range::of(v)?)))
            .collect(),
    }
}

/// Resamples each set (name, flows) `resamples` times, class by class, and compares every
/// resample with the held-out files of `real`'s held-out classes. Seeded by `seed`.
pub fn held_out_spread(
    real: &RealProfiles,
    sets: &[(String, Vec<&Flow>)],
    resamples: usize,
    seed: u64,
) -> HeldOutSpread {
    let classes = real.held_out_classes();
    let held = only(&real.held_out, &classes);
    let draws: Vec<Vec<Figures>> = sets
        .iter()
        .enumerate()
        .map(|(i, (name, flows))| {
            // One profile a flow, so that a resample is a sum of profiles.
            let mut by_class: BTreeMap<&str, Vec<Profile>> = BTreeMap::new();
            for f in flows {
                if let Some(c) = f.label.as_deref().filter(|c| held.contains_key(*c)) {
                    by_class
                        .entry(c)
                        .or_default()
                        .push(Profile::of(std::iter::once(*f)));
                }
            }
            let mut rng = crate::seed::rng(seed, crate::seed::salt::EVAL_RESAMPLES, i as u64);
            (0..resamples)
                .map(|_| {
                    let resampled: BTreeMap<String, Profile> = by_class
                        .iter()
                        .map(|(c, profiles)| {
                            let mut p = Profile::default();
                            for _ in 0..profiles.len() {
                                p.merge(&profiles[rng.random_range(0..profiles.len())]);
                            }
                            (c.to_string(), p)
                        })
                        .collect();
                    Figures::of(&compare_sets(name, &held, &resampled))
                })
                .collect()
        })
        .collect();
    let names: Vec<&String> = sets.iter().map(|(n, _)| n).collect();
    HeldOutSpread {
        resamples,
        sets: names
            .iter()
            .zip(&draws)
            .map(|(n, d)| ranges(n.to_string(), d))
            .collect(),
        differences: names
            .iter()
            .zip(&draws)
            .skip(1)
            .map(|(n, d)| {
                let diff: Vec<Figures> = draws[0].iter().zip(d).map(|(a, b)| a.minus(b)).collect();
                ranges(format!("{} − {n}", names[0]), &diff)
            })
            .collect(),
    }
}

/// `0.270–0.288`, or `–`.
fn range_cell(r: Option<&Range>) -> String {
    r.map_or("–".to_string(), |r| format!("{:.3}–{:.3}", r.low, r.high))
}

/// `+0.004 … +0.021 (worse)`, `−0.012 … +0.006 (not settled)`, or `–`.
fn difference_cell(r: Option<&Range>) -> String {
    r.map_or("–".to_string(), |r| {
        let verdict = if r.holds_zero() {
            "not settled"
        } else if r.low > 0.0 {
            "further"
        } else {
            "closer"
        };
        format!("{:+.3} … {:+.3} ({verdict})", r.low, r.high)
    })
}

impl HeldOutSpread {
    /// Writes the spread section of `report.md`.
    pub fn write_markdown(&self, s: &mut String, features: &[&'static str]) {
        if self.sets.is_empty() || self.sets.iter().all(|r| r.fields_mean.is_none()) {
            return;
        }
        let _ = writeln!(
            s,
            "Sampling spread: each set's flows resampled with replacement, class by class, {} \
             times, and compared with the held-out files again; the range the middle 90 % of \
             the resamples fall in (JSD). The differences are the first set's figure less the \
             other's in the same resample: \"further\" or \"closer\" when the whole range lies \
             on one side of 0, \"not settled\" when a new draw of as many flows could reverse \
             it. The held-out files themselves are not resampled.\n",
            self.resamples
        );
        let header = format!(
            "| set | header fields | flow features | {} |\n| --- | --- | --- |{}",
            features.join(" | "),
            " --- |".repeat(features.len())
        );
        let _ = writeln!(s, "{header}");
        let row = |r: &Ranges, cell: &dyn Fn(Option<&Range>) -> String| {
            let cells: Vec<String> = features
                .iter()
                .map(|f| cell(r.per_flow_feature.get(f)))
                .collect();
            format!(
                "| {} | {} | {} | {} |",
                r.name,
                cell(r.fields_mean.as_ref()),
                cell(r.flow_mean.as_ref()),
                cells.join(" | ")
            )
        };
        for r in &self.sets {
            let _ = writeln!(s, "{}", row(r, &range_cell));
        }
        for r in &self.differences {
            let _ = writeln!(s, "{}", row(r, &difference_cell));
        }
        let _ = writeln!(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::heldout::tests::flow;

    #[test]
    fn ranges_take_the_middle_ninety_percent() {
        let r = Range::of((0..=100).map(f64::from).collect()).unwrap();
        assert_eq!((r.low, r.high), (5.0, 95.0));
        assert!(Range::of(vec![]).is_none());
        assert!(Range::of(vec![f64::NAN]).is_none());
        assert!(Range {
            low: -0.1,
            high: 0.2
        }
        .holds_zero());
        assert!(!Range {
            low: 0.01,
            high: 0.2
        }
        .holds_zero());
        assert_eq!(
            difference_cell(Some(&Range {
                low: 0.01,
                high: 0.02
            })),
            "+0.010 … +0.020 (further)"
        );
        assert_eq!(
            difference_cell(Some(&Range {
                low: -0.02,
                high: 0.01
            })),
            "-0.020 … +0.010 (not settled)"
        );
    }

    #[test]
    fn resamples_tell_a_settled_difference_from_noise() {
        // Held out: class a's flows are all 60-byte packets. Set "near" copies them; set "far"
        // has 1500-byte packets only; set "mixed" has both kinds of flow.
        let held = [flow("a", "a2", &[60, 60]), flow("a", "a2", &[60])];
        let train = [flow("a", "a1", &[60, 1500])];
        let mut profiles = RealProfiles::default();
        profiles.held_out.insert("a".into(), Profile::of(&held));
        profiles.train.insert("a".into(), Profile::of(&train));
        let near: Vec<Flow> = (0..20).map(|_| flow("a", "s", &[60, 60])).collect();
        let far: Vec<Flow> = (0..20).map(|_| flow("a", "s", &[1500, 1500])).collect();
        let mixed: Vec<Flow> = (0..20)
            .map(|i| flow("a", "s", if i % 2 == 0 { &[60, 60] } else { &[1500, 1500] }))
            .collect();
        fn refs(v: &[Flow]) -> Vec<&Flow> {
            v.iter().collect()
        }
        let sets = vec![
            ("mixed".to_string(), refs(&mixed)),
            ("near".to_string(), refs(&near)),
            ("far".to_string(), refs(&far)),
            ("mixed again".to_string(), refs(&mixed)),
        ];
        let spread = held_out_spread(&profiles, &sets, 200, 1);
        assert_eq!(spread.resamples, 200);
        // A set of identical flows does not move under resampling.
        let near_range = spread.sets[1].fields_mean.unwrap();
        assert_eq!(near_range.low, near_range.high);
        // The mixed set does, around its own figure.
        let mixed_range = spread.sets[0].fields_mean.unwrap();
        assert!(mixed_range.low < mixed_range.high, "{mixed_range:?}");
        // Mixed is further than near and closer than far, whatever the resample; against an
        // identical set the difference is not settled.
        let d = &spread.differences;
        assert_eq!(d[0].name, "mixed − near");
        assert!(d[0].fields_mean.unwrap().low > 0.0, "{:?}", d[0]);
        assert!(d[1].fields_mean.unwrap().high < 0.0, "{:?}", d[1]);
        assert!(d[2].fields_mean.unwrap().holds_zero(), "{:?}", d[2]);
        let mut md = String::new();
        spread.write_markdown(&mut md, &["packets_per_flow"]);
        assert!(md.contains("| mixed − near | +"), "{md}");
        assert!(md.contains("(further)"), "{md}");
        assert!(md.contains("(closer)"), "{md}");
        assert!(md.contains("(not settled)"), "{md}");
    }
}
