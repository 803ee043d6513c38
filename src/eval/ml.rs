//! Part 2 of the evaluation, ML usefulness: classifiers trained and tested on real and synthetic
//! flows (features: the nPrint values of each flow's first K packets), with class (micro) and
//! class-group (macro) labels.
//!
//! Scenarios ([`Scenario`]), all tested on held-out real flows unless named otherwise:
//! - `real→real`: trained on the real training flows.
//! - `synthetic→real` (TSTR): trained on all flows of the synthetic set.
//! - `real→synthetic`: the real-trained model tested on all flows of the synthetic set.
//! - `mix r`: per class, a share r of the real training flows replaced by synthetic flows of
//!   the class (as many as the set has, at most r·n), so the training set keeps its size;
//!   r = 0 is `real→real`.
//! - `balance`: the real training flows plus synthetic flows for every class smaller than the
//!   largest, up to the largest class's count (as far as the set has flows of the class).

use super::classify::{
    accuracy, fit_predict, flow_bits, label_scores, mean_f1, ClassifierKind, FeatureMatrix,
    ForestParams,
};
use super::dataset::{ClassGroups, FlowSet};
pub use super::scenario::Scenario;
use super::split::Split;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;

/// Mixing rates of synthetic flows in the training set.
pub const MIX_RATES: [f64; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];

/// Default of [`MlSettings::max_train_per_class`].
pub const DEFAULT_MAX_TRAIN_PER_CLASS: usize = 2000;

/// Settings of the ML part.
#[derive(Debug, Clone, PartialEq)]
pub struct MlSettings {
    /// Packets per flow in the features.
    pub k: usize,
    /// Forest settings (its seed also seeds the sampling of the scenarios).
    pub forest: ForestParams,
    /// Classifiers to run.
    pub classifiers: Vec<ClassifierKind>,
    /// Real training flows a class may bring to a classifier (a seeded sample of them when it
    /// has more): a flood of 20,000 one-packet flows teaches no more than 2,000 do, and would
    /// make every forest of the run ten times slower.
    pub max_train_per_class: usize,
}

impl Default for MlSettings {
    /// K = 16, a 100-tree forest and a decision tree.
    fn default() -> Self {
        MlSettings {
            k: 16,
            forest: ForestParams::default(),
            classifiers: vec![ClassifierKind::RandomForest, ClassifierKind::DecisionTree],
            max_train_per_class: DEFAULT_MAX_TRAIN_PER_CLASS,
        }
    }
}

/// Which labels a classifier learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelLevel {
    /// Class groups (the paper's macro labels).
    Macro,
    /// Classes (the paper's micro labels).
    Micro,
}

/// One trained-and-tested classifier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MlResult {
    /// The synthetic set involved (`real` for real→real).
    pub set: String,
    /// Scenario (serialised by its name, [`Scenario::as_str`]).
    pub scenario: Scenario,
    /// Share of synthetic flows in training, for the mixing scenarios.
    pub mix_rate: Option<f64>,
    /// Labels learned.
    pub labels: LabelLevel,
    /// Classifier.
    pub classifier: ClassifierKind,
    /// Training flows.
    pub train_flows: usize,
    /// Test flows.
    pub test_flows: usize,
    /// Share of test flows classified right.
    pub accuracy: f64,
    /// Mean per-label F1.
    pub macro_f1: f64,
    /// Each label's scores, by label name (every label in the test's truth or predictions).
    pub per_label: Vec<LabelResult>,
}

/// One label's scores in one [`MlResult`]: where a macro-F1 comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelResult {
    /// The class (micro labels) or class group (macro labels).
    pub label: String,
    /// Test flows whose truth is the label.
    pub test_flows: usize,
    /// Test flows classified as the label.
    pub predicted_flows: usize,
    /// The label's F1.
    pub f1: f64,
    /// The label its test flows were most often mistaken for, if any was.
    pub mistaken_for: Option<String>,
    /// How many of its test flows were mistaken for that label.
    pub mistaken_flows: usize,
}

/// The ML part's results.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct MlReport {
    /// Packets per flow in the features.
    pub k: usize,
    /// Trees per forest.
    pub trees: usize,
    /// Every result.
    pub results: Vec<MlResult>,
    /// Why the part was cut short, if it was.
    pub notes: Vec<String>,
}

impl MlReport {
    /// The result of `scenario` on `set`.
    pub fn find(
        &self,
        set: &str,
        scenario: Scenario,
        labels: LabelLevel,
        classifier: ClassifierKind,
    ) -> Option<&MlResult> {
        self.results.iter().find(|r| {
            r.set == set
                && r.scenario == scenario
                && r.labels == labels
                && r.classifier == classifier
        })
    }
}

/// All flows of the evaluation as one feature matrix with both label levels.
struct Data {
    x: FeatureMatrix,
    micro: Vec<u16>,
    macro_: Vec<u16>,
    /// Class names by micro label.
    classes: Vec<String>,
    /// Group names by macro label.
    group_names: Vec<String>,
    /// Rows of each synthetic set.
    set_rows: Vec<Vec<u32>>,
}

impl Data {
    fn build(real: &FlowSet, sets: &[&FlowSet], groups: &ClassGroups, k: usize) -> Data {
        let all = || {
            real.flows
                .iter()
                .chain(sets.iter().flat_map(|s| s.flows.iter()))
        };
        let label = |f: &crate::flows::Flow| f.label.clone().unwrap_or_default();
        let mut classes: Vec<String> = all().map(label).collect();
        classes.sort();
        classes.dedup();
        let mut group_names: Vec<String> = classes
            .iter()
            .map(|c| groups.group_of(c).to_string())
            .collect();
        group_names.sort();
        group_names.dedup();
        let class_id: BTreeMap<&str, u16> = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i as u16))
            .collect();
        let group_id: BTreeMap<&str, u16> = group_names
            .iter()
            .enumerate()
            .map(|(i, g)| (g.as_str(), i as u16))
            .collect();
        let width = k * crate::nprint::layout::MODEL_WIDTH;
        let n = all().count();
        let mut flat = Vec::with_capacity(n * width);
        let (mut micro, mut macro_) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for f in all() {
            flow_bits(f, k, &mut flat);
            let c = label(f);
            micro.push(class_id.get(c.as_str()).copied().unwrap_or(0));
            macro_.push(group_id.get(groups.group_of(&c)).copied().unwrap_or(0));
        }
        let x = FeatureMatrix::rows_only(flat, n, width).unwrap_or_default();
        let mut set_rows = Vec::new();
        let mut at = real.flows.len() as u32;
        for s in sets {
            set_rows.push((at..at + s.flows.len() as u32).collect());
            at += s.flows.len() as u32;
        }
        Data {
            x,
            micro,
            macro_,
            classes,
            group_names,
            set_rows,
        }
    }

    /// Each flow's label at `level`, and the labels' names.
    fn labels(&self, level: LabelLevel) -> (&[u16], &[String]) {
        match level {
            LabelLevel::Micro => (&self.micro, &self.classes),
            LabelLevel::Macro => (&self.macro_, &self.group_names),
        }
    }
}

/// A training set and the test sets its model is scored on.
struct Job {
    train: Vec<u32>,
    /// (set, scenario, rows) of each test.
    tests: Vec<(String, Scenario, Vec<u32>)>,
}

/// Rows grouped by class (micro label).
fn by_class(rows: &[u32], micro: &[u16]) -> BTreeMap<u16, Vec<u32>> {
    let mut m: BTreeMap<u16, Vec<u32>> = BTreeMap::new();
    for &r in rows {
        m.entry(micro[r as usize]).or_default().push(r);
    }
    m
}

fn mixed_training(
    real_train: &[u32],
    synth: &[u32],
    micro: &[u16],
    rate: f64,
    rng: &mut StdRng,
) -> Vec<u32> {
    let synth_by = by_class(synth, micro);
    let mut out = Vec::new();
    for (c, mut real_rows) in by_class(real_train, micro) {
        let mut s = synth_by.get(&c).cloned().unwrap_or_default();
        s.shuffle(rng);
        real_rows.shuffle(rng);
        let m = ((rate * real_rows.len() as f64).round() as usize).min(s.len());
        out.extend_from_slice(&s[..m]);
        out.extend_from_slice(&real_rows[..real_rows.len() - m]);
    }
    out.sort_unstable();
    out
}

fn balanced_training(
    real_train: &[u32],
    synth: &[u32],
    micro: &[u16],
    rng: &mut StdRng,
) -> Vec<u32> {
    let real_by = by_class(real_train, micro);
    let synth_by = by_class(synth, micro);
    let target = real_by.values().map(Vec::len).max().unwrap_or(0);
    let mut out = real_train.to_vec();
    for (c, rows) in &real_by {
        let mut s = synth_by.get(c).cloned().unwrap_or_default();
        s.shuffle(rng);
        out.extend(s.into_iter().take(target - rows.len()));
    }
    out.sort_unstable();
    out
}

/// At most `cap` rows of each class from `rows` (a seeded sample where a class has more), in
/// their original order.
fn cap_per_class(rows: Vec<u32>, class_of: &[u16], cap: usize, rng: &mut StdRng) -> Vec<u32> {
    let mut by: std::collections::BTreeMap<u16, Vec<u32>> = Default::default();
    for r in rows {
        by.entry(class_of[r as usize]).or_default().push(r);
    }
    let mut out = Vec::new();
    for (_, mut v) in by {
        if v.len() > cap {
            for i in (1..v.len()).rev() {
                v.swap(i, rand::Rng::random_range(rng, 0..=i));
            }
            v.truncate(cap);
        }
        out.extend(v);
    }
    out.sort_unstable();
    out
}

/// Runs every scenario. `sets` are the synthetic sets; the first gets every scenario, the
/// others (baselines) the train/test swaps only.
pub fn evaluate_ml(
    real: &FlowSet,
    split: &Split,
    sets: &[&FlowSet],
    groups: &ClassGroups,
    settings: &MlSettings,
) -> MlReport {
    let mut report = MlReport {
        k: settings.k,
        trees: settings.forest.trees,
        ..MlReport::default()
    };
    if split.train.is_empty() {
        report.notes.push("no real training flows".to_string());
        return report;
    }
    let data = Data::build(real, sets, groups, settings.k.max(1));
    let mut rng = StdRng::seed_from_u64(settings.forest.seed);
    let real_train = cap_per_class(
        split.train.iter().map(|&i| i as u32).collect(),
        &data.micro,
        settings.max_train_per_class,
        &mut rng,
    );
    let real_test: Vec<u32> = split.test.iter().map(|&i| i as u32).collect();
    if real_test.is_empty() {
        report
            .notes
            .push("no held-out real flows: only real→synthetic is scored".to_string());
    }
    let real_tests = |set: &str, scenario: Scenario| {
        if real_test.is_empty() {
            Vec::new()
        } else {
            vec![(set.to_string(), scenario, real_test.clone())]
        }
    };
    let mut jobs = vec![Job {
        train: real_train.clone(),
        tests: real_tests("real", Scenario::RealToReal)
            .into_iter()
            .chain(
                sets.iter()
                    .zip(&data.set_rows)
                    .map(|(s, rows)| (s.name.clone(), Scenario::RealToSynthetic, rows.clone())),
            )
            .collect(),
    }];
    for (i, (s, rows)) in sets.iter().zip(&data.set_rows).enumerate() {
        if rows.is_empty() {
            continue;
        }
        jobs.push(Job {
            train: rows.clone(),
            tests: real_tests(&s.name, Scenario::SyntheticToReal),
        });
        if i > 0 || real_test.is_empty() {
            continue;
        }
        for &rate in MIX_RATES.iter().filter(|&&r| r > 0.0) {
            jobs.push(Job {
                train: mixed_training(&real_train, rows, &data.micro, rate, &mut rng),
                tests: real_tests(&s.name, Scenario::mix(rate)),
            });
        }
        jobs.push(Job {
            train: balanced_training(&real_train, rows, &data.micro, &mut rng),
            tests: real_tests(&s.name, Scenario::Balance),
        });
    }
    for job in &jobs {
        if job.tests.is_empty() {
            continue;
        }
        let all_test: Vec<u32> = job.tests.iter().flat_map(|t| t.2.iter().copied()).collect();
        for level in [LabelLevel::Macro, LabelLevel::Micro] {
            let (y, names) = data.labels(level);
            let name = |l: u16| names.get(l as usize).cloned().unwrap_or_default();
            for &kind in &settings.classifiers {
                let pred = fit_predict(
                    kind,
                    &data.x,
                    y,
                    names.len(),
                    &job.train,
                    &all_test,
                    &settings.forest,
                );
                let mut at = 0;
                for (set, scenario, rows) in &job.tests {
                    let p = &pred[at..at + rows.len()];
                    at += rows.len();
                    let truth: Vec<u16> = rows.iter().map(|&r| y[r as usize]).collect();
                    let scores = label_scores(&truth, p);
                    report.results.push(MlResult {
                        set: set.clone(),
                        scenario: *scenario,
                        mix_rate: scenario.mix_rate(),
                        labels: level,
                        classifier: kind,
                        train_flows: job.train.len(),
                        test_flows: rows.len(),
                        accuracy: accuracy(&truth, p),
                        macro_f1: mean_f1(&scores),
                        per_label: scores
                            .iter()
                            .map(|sc| LabelResult {
                                label: name(sc.label),
                                test_flows: sc.support,
                                predicted_flows: sc.predicted,
                                f1: sc.f1,
                                mistaken_for: sc.mistaken_for.map(|(l, _)| name(l)),
                                mistaken_flows: sc.mistaken_for.map_or(0, |(_, n)| n),
                            })
                            .collect(),
                    });
                }
            }
        }
    }
    report
}
