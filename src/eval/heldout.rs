//! The similarity figures that say what a number means: each synthetic set against the real
//! flows of held-out capture files (traffic no generator was fitted on), next to a real-vs-real
//! floor (the real training files against the same held-out files, same machinery), the ratio
//! of each set to that floor, and each set against the real training flows (in-distribution,
//! the figure NetDiffusion publishes).
//!
//! Only classes with a held-out *file* take part in the held-out comparison (a class with two
//! or more captures, one of them held out, and training flows left): a time split of a single
//! capture would compare a capture with itself.

use super::dataset::FlowSet;
use super::distance::Distances;
use super::flow_features::FlowFeature;
use super::report::d3;
use super::similarity::{compare_sets, profiles_by_class, Profile, SetSimilarity};
use super::split::{ClassSplit, Split, SplitMethod};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Name of the floor row: the real training files compared with the held-out files.
pub const FLOOR_NAME: &str = "real training files (floor)";

/// NetDiffusion's published in-distribution figure: mean header-field JSD (paper, Table 3).
pub const PAPER_IN_DISTRIBUTION_JSD: f64 = 0.04;

/// Profiles per class of the real flows, split as the evaluation splits them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RealProfiles {
    /// Every class's training flows.
    pub train: BTreeMap<String, Profile>,
    /// The held-out flows of the classes with a held-out file (see [`file_holdout_classes`]).
    pub held_out: BTreeMap<String, Profile>,
}

impl RealProfiles {
    /// Profiles `real` as `split` divides it.
    pub fn of(real: &FlowSet, split: &Split) -> RealProfiles {
        let classes = file_holdout_classes(&split.classes);
        let pick = |idx: &[usize]| -> Vec<usize> {
            idx.iter()
                .copied()
                .filter(|&i| i < real.flows.len())
                .collect()
        };
        let train = profiles_by_class(pick(&split.train).into_iter().map(|i| &real.flows[i]));
        let held_out = profiles_by_class(
            pick(&split.test)
                .into_iter()
                .map(|i| &real.flows[i])
                .filter(|f| f.label.as_ref().is_some_and(|l| classes.contains(l))),
        );
        RealProfiles { train, held_out }
    }

    /// The classes of the held-out comparison: held-out flows and training flows both present.
    pub fn held_out_classes(&self) -> Vec<String> {
        self.held_out
            .keys()
            .filter(|c| self.train.contains_key(*c))
            .cloned()
            .collect()
    }
}

/// Classes split by whole files with flows on both sides of the split.
pub fn file_holdout_classes(split: &BTreeMap<String, ClassSplit>) -> Vec<String> {
    split
        .iter()
        .filter(|(_, s)| s.method == SplitMethod::File && s.train > 0 && s.test > 0)
        .map(|(c, _)| c.clone())
        .collect()
}

/// One set's figures divided by the floor's (JSD), over the classes the set was compared on.
/// A ratio is left out where the floor is 0 or either side has no figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetRatios {
    /// The synthetic set.
    pub set: String,
    /// Classes the ratios are over (the held-out classes the set has flows of).
    pub classes: Vec<String>,
    /// Mean header-field JSD over the floor's.
    pub fields_mean: Option<f64>,
    /// Mean flow-feature JSD over the floor's.
    pub flow_mean: Option<f64>,
    /// Per header field.
    pub per_field: BTreeMap<&'static str, f64>,
    /// Per flow feature.
    pub per_flow_feature: BTreeMap<&'static str, f64>,
}

/// The headline comparison: every set and the floor against the real held-out files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldOutSimilarity {
    /// Classes compared (a held-out file and training flows); empty when no class has both.
    pub classes: Vec<String>,
    /// The real training files of those classes against their held-out files.
    pub floor: SetSimilarity,
    /// Each synthetic set against the held-out files (same order as `similarity`).
    pub sets: Vec<SetSimilarity>,
    /// Each set's JSD over the floor's (same order as `sets`).
    pub ratios: Vec<SetRatios>,
}

/// Each synthetic set against the real training flows of its classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InDistribution {
    /// NetDiffusion's published figure (header fields, JSD), for comparison.
    pub paper_fields_jsd: f64,
    /// One per synthetic set (same order as `similarity`).
    pub sets: Vec<SetSimilarity>,
}

/// The entries of `map` whose class is in `classes`.
pub(super) fn only(
    map: &BTreeMap<String, Profile>,
    classes: &[String],
) -> BTreeMap<String, Profile> {
    map.iter()
        .filter(|(c, _)| classes.contains(c))
        .map(|(c, p)| (c.clone(), p.clone()))
        .collect()
}

/// The floor over `classes`: their training files against their held-out files.
fn floor_over(real: &RealProfiles, classes: &[String]) -> SetSimilarity {
    compare_sets(
        FLOOR_NAME,
        &only(&real.held_out, classes),
        &only(&real.train, classes),
    )
}

/// `set / floor`, when the floor is above 0.
fn ratio(set: f64, floor: f64) -> Option<f64> {
    let r = set / floor;
    (floor > 0.0 && r.is_finite()).then_some(r)
}

fn mean_ratio(set: Option<Distances>, floor: Option<Distances>) -> Option<f64> {
    ratio(set?.jsd, floor?.jsd)
}

fn ratio_map(
    set: &BTreeMap<&'static str, Distances>,
    floor: &BTreeMap<&'static str, Distances>,
) -> BTreeMap<&'static str, f64> {
    set.iter()
        .filter_map(|(k, d)| Some((*k, ratio(d.jsd, floor.get(k)?.jsd)?)))
        .collect()
}

/// The ratios of `set` (a held-out comparison) to the floor over the same classes.
pub fn ratios(set: &SetSimilarity, real: &RealProfiles) -> SetRatios {
    let classes: Vec<String> = set.classes.iter().map(|c| c.class.clone()).collect();
    let floor = floor_over(real, &classes);
    SetRatios {
        set: set.set.clone(),
        fields_mean: mean_ratio(set.fields_mean, floor.fields_mean),
        flow_mean: mean_ratio(set.flow_mean, floor.flow_mean),
        per_field: ratio_map(&set.per_field, &floor.per_field),
        per_flow_feature: ratio_map(&set.per_flow_feature, &floor.per_flow_feature),
        classes,
    }
}

/// Compares the floor and every set (name, profiles per class) with the held-out files.
pub fn held_out_similarity(
    real: &RealProfiles,
    sets: &[(String, BTreeMap<String, Profile>)],
) -> HeldOutSimilarity {
    let classes = real.held_out_classes();
    let held = only(&real.held_out, &classes);
    let compared: Vec<SetSimilarity> = sets
        .iter()
        .map(|(name, p)| compare_sets(name, &held, &only(p, &classes)))
        .collect();
    HeldOutSimilarity {
        floor: floor_over(real, &classes),
        ratios: compared.iter().map(|s| ratios(s, real)).collect(),
        sets: compared,
        classes,
    }
}

/// Compares every set with the real training flows of its classes.
pub fn in_distribution(
    real: &RealProfiles,
    sets: &[(String, BTreeMap<String, Profile>)],
) -> InDistribution {
    InDistribution {
        paper_fields_jsd: PAPER_IN_DISTRIBUTION_JSD,
        sets: sets
            .iter()
            .map(|(name, p)| compare_sets(name, &real.train, p))
            .collect(),
    }
}

/// `0.123` or `–`.
fn num(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |v| format!("{v:.3}"))
}

/// `0.123 (1.85×)`: a JSD with its ratio to the floor.
fn with_ratio(v: Option<f64>, r: Option<f64>) -> String {
    match (v, r) {
        (None, _) => "–".to_string(),
        (Some(v), Some(r)) => format!("{v:.3} ({r:.2}×)"),
        (Some(v), None) => format!("{v:.3} (–)"),
    }
}

/// The file names held out for `class`, comma-separated.
pub(super) fn held_files(split: &BTreeMap<String, ClassSplit>, class: &str) -> String {
    split.get(class).map_or(String::new(), |s| {
        s.held_out_files
            .iter()
            .map(|f| {
                Path::new(f)
                    .file_name()
                    .map_or(f.clone(), |n| n.to_string_lossy().into_owned())
            })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

impl HeldOutSimilarity {
    /// Writes the held-out section of `report.md`; `split` names the held-out files.
    pub fn write_markdown(&self, s: &mut String, split: &BTreeMap<String, ClassSplit>) {
        let _ = writeln!(s, "### Against held-out captures (headline)\n");
        if self.classes.is_empty() {
            let _ = writeln!(
                s,
                "No class has a held-out capture file with training flows beside it (a class \
                 needs two or more captures for a file hold-out), so there is no held-out \
                 comparison and no real-vs-real floor in this run.\n"
            );
            return;
        }
        let _ = writeln!(
            s,
            "Each set against the real flows of the held-out capture files only, for the {} \
             class(es) with a held-out file: {}. The floor row compares the real training files \
             of the same classes with the same held-out files, by the same fields, features and \
             means: how far one real capture of a class is from another. In brackets: the set's \
             JSD over the floor's (about 1 = as close to unseen traffic as another real capture \
             is). JSD in bits, mean over fields, then classes.\n",
            self.classes.len(),
            self.classes
                .iter()
                .map(|c| format!("{c} ({})", held_files(split, c)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.ratio_table(s);
        self.distances_table(s);
        self.class_table(s, split);
    }

    fn ratio_table(&self, s: &mut String) {
        let features: Vec<&'static str> = FlowFeature::ALL.iter().map(|f| f.name()).collect();
        let _ = writeln!(
            s,
            "| set | classes | header fields | flow features | {} |\n| --- | ---: | --- | --- |{}",
            features.join(" | "),
            " --- |".repeat(features.len())
        );
        let f = &self.floor;
        let cells: Vec<String> = features
            .iter()
            .map(|n| num(f.per_flow_feature.get(n).map(|d| d.jsd)))
            .collect();
        let _ = writeln!(
            s,
            "| {FLOOR_NAME} | {} | {} | {} | {} |",
            f.classes.len(),
            num(f.fields_mean.map(|d| d.jsd)),
            num(f.flow_mean.map(|d| d.jsd)),
            cells.join(" | ")
        );
        for (x, r) in self.sets.iter().zip(&self.ratios) {
            let cells: Vec<String> = features
                .iter()
                .map(|n| {
                    with_ratio(
                        x.per_flow_feature.get(n).map(|d| d.jsd),
                        r.per_flow_feature.get(n).copied(),
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                x.set,
                x.classes.len(),
                with_ratio(x.fields_mean.map(|d| d.jsd), r.fields_mean),
                with_ratio(x.flow_mean.map(|d| d.jsd), r.flow_mean),
                cells.join(" | ")
            );
        }
        let _ = writeln!(s);
        self.first_over_others(s, &features);
        let partial: Vec<&SetSimilarity> = self
            .sets
            .iter()
            .filter(|x| !x.missing_classes.is_empty())
            .collect();
        for x in &partial {
            let _ = writeln!(
                s,
                "- {} has no flow of {}: its ratios are to the floor over the classes it has.",
                x.set,
                x.missing_classes.join(", ")
            );
        }
        if !partial.is_empty() {
            let _ = writeln!(s);
        }
    }

    /// One line a set after the first: the first set's JSD over that set's, for the means and
    /// each flow feature (below 1: the first set is the closer to the held-out files).
    fn first_over_others(&self, s: &mut String, features: &[&'static str]) {
        let Some((first, others)) = self.sets.split_first() else {
            return;
        };
        let times = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{r:.2}×"));
        for other in others {
            // The first set's JSD over the other's, as each set's over the floor's.
            let per_feature = ratio_map(&first.per_flow_feature, &other.per_flow_feature);
            let cells: Vec<String> = features
                .iter()
                .map(|f| format!("{f} {}", times(per_feature.get(f).copied())))
                .collect();
            let _ = writeln!(
                s,
                "- {} over {}: header fields {}, flow features {}, {}.",
                first.set,
                other.set,
                times(mean_ratio(first.fields_mean, other.fields_mean)),
                times(mean_ratio(first.flow_mean, other.flow_mean)),
                cells.join(", ")
            );
        }
        if !others.is_empty() {
            let _ = writeln!(s);
        }
    }

    fn distances_table(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "All three distances (JSD / TVD / Hellinger):\n\n| set | header fields | flow features |\n| --- | --- | --- |"
        );
        for x in std::iter::once(&self.floor).chain(&self.sets) {
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                x.set,
                d3(x.fields_mean.as_ref()),
                d3(x.flow_mean.as_ref())
            );
        }
        let _ = writeln!(s);
    }

    fn class_table(&self, s: &mut String, split: &BTreeMap<String, ClassSplit>) {
        let names: Vec<&str> = std::iter::once(&self.floor)
            .chain(&self.sets)
            .map(|x| x.set.as_str())
            .collect();
        let _ = writeln!(
            s,
            "Per class (JSD: header fields; flow features):\n\n| class | held out | {} |\n| --- | --- |{}",
            names.join(" | "),
            " --- |".repeat(names.len())
        );
        for class in &self.classes {
            let cells: Vec<String> = std::iter::once(&self.floor)
                .chain(&self.sets)
                .map(|x| {
                    x.classes
                        .iter()
                        .find(|c| &c.class == class)
                        .map_or("–".to_string(), |c| {
                            format!(
                                "{}; {}",
                                num(c.fields_mean.map(|d| d.jsd)),
                                num(c.flow_mean.map(|d| d.jsd))
                            )
                        })
                })
                .collect();
            let _ = writeln!(
                s,
                "| {class} | {} | {} |",
                held_files(split, class),
                cells.join(" | ")
            );
        }
        let _ = writeln!(s);
    }
}

impl InDistribution {
    /// Writes the in-distribution section of `report.md`.
    pub fn write_markdown(&self, s: &mut String) {
        let _ = writeln!(s, "### In-distribution (against the real training flows)\n");
        let _ = writeln!(
            s,
            "Each set against the real training flows of its classes (every class with training \
             flows): the traffic a generator was fitted on. This is the kind of figure \
             NetDiffusion publishes (paper: {:.2} (header fields, JSD)); it rewards copying the \
             training data, so read it beside the held-out table above. JSD, mean over fields, \
             then classes.\n",
            self.paper_fields_jsd
        );
        let _ = writeln!(
            s,
            "| set | classes | header fields | flow features |\n| --- | ---: | --- | --- |"
        );
        for x in &self.sets {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                x.set,
                x.classes.len(),
                num(x.fields_mean.map(|d| d.jsd)),
                num(x.flow_mean.map(|d| d.jsd))
            );
        }
        let _ = writeln!(
            s,
            "| NetDiffusion (paper) | – | {:.2} | – |\n",
            self.paper_fields_jsd
        );
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::flows::{Flow, FlowKey, FlowPacket};
    use std::path::PathBuf;

    /// A flow of `class` from `file` with one packet per total length in `lengths`, 1 ms apart.
    pub(in crate::eval) fn flow(class: &str, file: &str, lengths: &[u16]) -> Flow {
        let packets = lengths
            .iter()
            .enumerate()
            .map(|(i, &tl)| FlowPacket {
                frame: i as u64,
                ts_ns: i as u64 * 1_000_000,
                iat_ns: if i == 0 { 0 } else { 1_000_000 },
                ..FlowPacket::with_headers(tl, crate::wire::IpProtocol::Tcp, &[0; 20])
            })
            .collect();
        Flow {
            key: FlowKey::test_tcp(),
            label: Some(class.to_string()),
            source: PathBuf::from(file),
            packets,
        }
    }

    fn class_split(method: SplitMethod, train: usize, test: usize, held: &[&str]) -> ClassSplit {
        ClassSplit {
            method,
            train,
            test,
            held_out_files: held.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// Class `a`: `a1` trains, `a2` is held out; class `b`: one file, split by time.
    fn corpus() -> (FlowSet, Split) {
        let flows = vec![
            flow("a", "a1", &[60, 60, 1500]),
            flow("a", "a1", &[60, 1500]),
            flow("a", "a2", &[60, 60, 60, 60]),
            flow("a", "a2", &[1500]),
            flow("b", "b1", &[40, 40]),
            flow("b", "b1", &[40, 90, 90]),
        ];
        let mut classes = BTreeMap::new();
        classes.insert(
            "a".to_string(),
            class_split(SplitMethod::File, 2, 2, &["x/a2"]),
        );
        classes.insert("b".to_string(), class_split(SplitMethod::Time, 1, 1, &[]));
        let split = Split {
            train: vec![0, 1, 4],
            test: vec![2, 3, 5],
            classes,
        };
        let set = FlowSet {
            name: "real".to_string(),
            flows,
            files: Vec::new(),
        };
        (set, split)
    }

    #[test]
    fn a_copy_of_the_training_files_is_at_the_floor() {
        let (real, split) = corpus();
        let rp = RealProfiles::of(&real, &split);
        assert_eq!(rp.held_out_classes(), vec!["a".to_string()]);
        assert_eq!(rp.train.len(), 2, "every class's training flows");
        let copy = profiles_by_class(split.train.iter().map(|&i| &real.flows[i]));
        let other = profiles_by_class([&real.flows[3], &real.flows[5]]);
        let sets = vec![("copy".to_string(), copy), ("other".to_string(), other)];
        let h = held_out_similarity(&rp, &sets);
        assert_eq!(h.classes, vec!["a".to_string()]);
        let floor = h.floor.fields_mean.unwrap().jsd;
        assert!(floor > 0.0, "a1 and a2 differ: {floor}");
        // The copy of the training files is the floor, exactly.
        assert_eq!(h.sets[0].fields_mean, h.floor.fields_mean);
        assert_eq!(h.sets[0].flow_mean, h.floor.flow_mean);
        assert_eq!(h.ratios[0].fields_mean, Some(1.0));
        assert_eq!(h.ratios[0].flow_mean, Some(1.0));
        assert!(h.ratios[0].per_flow_feature.values().all(|&r| r == 1.0));
        // Class b (time split) is in no held-out comparison, not even as unknown.
        assert!(h.sets.iter().all(|s| s.unknown_classes.is_empty()));
        assert_eq!(h.sets[0].classes.len(), 1);
        // Set "other" holds only the held-out file's 1500-byte packet: further than the floor.
        assert!(h.ratios[1].fields_mean.unwrap() > 1.0, "{:?}", h.ratios[1]);
        // In-distribution: the copy is the training data.
        let d = in_distribution(&rp, &sets);
        assert_eq!(d.sets[0].fields_mean.unwrap().jsd, 0.0);
        assert_eq!(d.sets[0].classes.len(), 2);
        assert_eq!(d.paper_fields_jsd, 0.04);
        let mut md = String::new();
        h.write_markdown(&mut md, &split.classes);
        assert!(md.contains(&format!("| {FLOOR_NAME} | 1 |")), "{md}");
        assert!(md.contains("(1.00×)"), "{md}");
        assert!(md.contains("a (a2)"), "{md}");
        // "other" is further than "copy", so copy's JSD over other's is below 1.
        let line = md
            .lines()
            .find(|l| l.starts_with("- copy over other: header fields 0."))
            .unwrap_or_else(|| panic!("{md}"));
        assert!(line.contains("packets_per_flow "), "{line}");
    }

    #[test]
    fn no_file_holdout_means_no_table() {
        let (real, mut split) = corpus();
        split
            .classes
            .insert("a".to_string(), class_split(SplitMethod::Time, 2, 2, &[]));
        let rp = RealProfiles::of(&real, &split);
        let sets = vec![("s".to_string(), rp.train.clone())];
        let h = held_out_similarity(&rp, &sets);
        assert!(h.classes.is_empty());
        assert!(h.sets[0].classes.is_empty());
        assert_eq!(h.floor.fields_mean, None);
        assert_eq!(h.ratios[0].fields_mean, None);
        let mut md = String::new();
        h.write_markdown(&mut md, &split.classes);
        assert!(md.contains("No class has a held-out capture file"), "{md}");
        assert!(!md.contains("| set |"), "{md}");
    }

    #[test]
    fn ratio_needs_a_floor_above_zero() {
        assert_eq!(ratio(0.2, 0.1), Some(2.0));
        assert_eq!(ratio(0.2, 0.0), None);
        assert_eq!(ratio(0.0, 0.0), None);
        assert_eq!(with_ratio(Some(0.25), Some(2.5)), "0.250 (2.50×)");
        assert_eq!(with_ratio(Some(0.25), None), "0.250 (–)");
        assert_eq!(with_ratio(None, Some(1.0)), "–");
    }
}
