//! The evaluation report: one serialisable structure, written as `report.json` and rendered as
//! `report.md`.

use super::classify::ClassifierKind;
use super::compliance::Compliance;
use super::dataset::CaptureFile;
use super::distance::Distances;
use super::flow_features::FlowFeature;
use super::heldout::{held_files, HeldOutSimilarity, InDistribution};
use super::ml::{LabelLevel, MlReport, MlResult, Scenario};
use super::run::BaselineFlows;
use super::similarity::SetSimilarity;
use super::split::ClassSplit;
use super::spread::HeldOutSpread;
use super::EvalError;
use crate::atomic_file::AtomicFile;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// The paper's Table 3 (mean over fields: JSD, TVD, Hellinger), for comparison.
pub const PAPER_TABLE3: [(&str, [f64; 3]); 3] = [
    ("NetDiffusion (paper)", [0.04, 0.04, 0.05]),
    ("NetShare (paper)", [0.16, 0.16, 0.18]),
    ("random (paper)", [0.82, 0.99, 0.95]),
];
/// The paper's Table 4 accuracies (macro, micro): synthetic→real and real→synthetic.
pub const PAPER_TABLE4: [(Scenario, [f64; 2]); 2] = [
    (Scenario::SyntheticToReal, [0.738, 0.262]),
    (Scenario::RealToSynthetic, [0.542, 0.249]),
];

/// A traffic set as read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetSummary {
    /// Name.
    pub name: String,
    /// Where it was read from.
    pub path: String,
    /// Its captures.
    pub files: Vec<CaptureFile>,
    /// Flows.
    pub flows: usize,
    /// Packets in those flows.
    pub packets: usize,
    /// Flows per class.
    pub classes: BTreeMap<String, usize>,
}

/// The run's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Packets per flow in the ML features.
    pub k: usize,
    /// Trees per forest.
    pub trees: usize,
    /// Seed.
    pub seed: u64,
    /// Hold-out rule (`auto` or the files).
    pub holdout: String,
    /// Packet positions with their own table in the marginals baseline.
    pub baseline_positions: usize,
    /// How many flows of a class the baselines generated (`synthetic` or `training` in JSON).
    pub baseline_flows: BaselineFlows,
    /// Whether tshark ran.
    pub tshark: bool,
}

/// Everything `netdiffd eval` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// Settings.
    pub settings: Settings,
    /// The real traffic.
    pub real: SetSummary,
    /// The synthetic sets (the given one first, then the baselines).
    pub synthetic: Vec<SetSummary>,
    /// The train/test split per class.
    pub split: BTreeMap<String, ClassSplit>,
    /// Class → group.
    pub groups: BTreeMap<String, String>,
    /// Part 1: each set against all real flows of its classes (training and held-out files).
    pub similarity: Vec<SetSimilarity>,
    /// Part 1, the headline: each set and the real training files (the floor) against the
    /// held-out capture files, with each set's ratio to the floor.
    pub held_out: HeldOutSimilarity,
    /// Part 1: the held-out figures of each set under resampling of its flows, and of the
    /// differences between the first set and the others.
    pub held_out_spread: HeldOutSpread,
    /// Part 1: each set against the real training flows of its classes.
    pub in_distribution: InDistribution,
    /// Part 2.
    pub ml: MlReport,
    /// Part 3 (the real traffic first).
    pub compliance: Vec<Compliance>,
    /// PNG files drawn, relative to the output folder.
    pub plots: Vec<String>,
    /// Seconds per stage.
    pub timings_s: BTreeMap<String, f64>,
}

/// `JSD / TVD / Hellinger` to three places, or `–`.
pub(super) fn d3(d: Option<&Distances>) -> String {
    d.map_or("–".to_string(), |d| {
        format!("{:.3} / {:.3} / {:.3}", d.jsd, d.tvd, d.hellinger)
    })
}

impl EvalReport {
    /// Writes `report.json` and `report.md` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), EvalError> {
        let json = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        for (name, text) in [("report.json", json), ("report.md", self.to_markdown())] {
            let path = dir.join(name);
            let mut f = AtomicFile::create(&path).map_err(|e| EvalError::io(&path, e))?;
            f.write_all(text.as_bytes())
                .map_err(|e| EvalError::io(&path, e))?;
            f.commit().map_err(|e| EvalError::io(&path, e))?;
        }
        Ok(())
    }

    /// The report as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let st = &self.settings;
        let _ = writeln!(s, "# netdiffd evaluation report\n");
        let _ = writeln!(
            s,
            "Real traffic: `{}` ({} flows, {} packets). K = {}, {} trees, seed {}, hold-out {}, tshark {}.\n",
            self.real.path,
            self.real.flows,
            self.real.packets,
            st.k,
            st.trees,
            st.seed,
            st.holdout,
            if st.tshark { "on" } else { "not run" }
        );
        self.data_md(&mut s);
        if self
            .synthetic
            .iter()
            .any(|x| x.name.starts_with("baseline-"))
        {
            let _ = writeln!(
                s,
                "Each baseline generated {} (the data table's columns).\n",
                match st.baseline_flows {
                    BaselineFlows::LikeSynthetic => {
                        "as many flows of a class as the synthetic set has of it, so that both \
                         carry the same sampling noise and bring the same number of flows to the \
                         classifiers (the class's training flow count where the synthetic set has \
                         none)"
                    }
                    BaselineFlows::Training => {
                        "as many flows of a class as the class has real training flows"
                    }
                }
            );
        }
        self.similarity_md(&mut s);
        self.ml_md(&mut s);
        self.compliance_md(&mut s);
        if !self.plots.is_empty() {
            let _ = writeln!(s, "## Plots\n");
            for p in &self.plots {
                let _ = writeln!(s, "![{p}]({p})\n");
            }
        }
        let _ = writeln!(s, "## Timings\n");
        let _ = writeln!(s, "| stage | seconds |\n| --- | ---: |");
        for (k, v) in &self.timings_s {
            let _ = writeln!(s, "| {k} | {v:.2} |");
        }
        s
    }

    fn data_md(&self, s: &mut String) {
        let _ = writeln!(s, "## Data\n");
        let _ = writeln!(
            s,
            "| class | group | real flows | split | train | test | held out | {} |",
            self.synthetic
                .iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let _ = writeln!(
            s,
            "| --- | --- | ---: | --- | ---: | ---: | --- |{}",
            " ---: |".repeat(self.synthetic.len())
        );
        for (class, n) in &self.real.classes {
            let sp = self.split.get(class);
            let method = sp.map_or("–".to_string(), |x| {
                serde_json::to_value(x.method)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            });
            let held = held_files(&self.split, class);
            let synth: Vec<String> = self
                .synthetic
                .iter()
                .map(|x| x.classes.get(class).copied().unwrap_or(0).to_string())
                .collect();
            let _ = writeln!(
                s,
                "| {class} | {} | {n} | {method} | {} | {} | {held} | {} |",
                self.groups.get(class).map_or("", String::as_str),
                sp.map_or(0, |x| x.train),
                sp.map_or(0, |x| x.test),
                synth.join(" | ")
            );
        }
        let _ = writeln!(s);
    }

    fn similarity_md(&self, s: &mut String) {
        let _ = writeln!(s, "## 1. Statistical similarity\n");
        let _ = writeln!(
            s,
            "Distances between real and synthetic distributions per class (JSD in bits / TVD / \
             Hellinger, each 0 = identical … 1 = disjoint), averaged over fields, then over \
             classes. Lower is better.\n"
        );
        self.held_out.write_markdown(s, &self.split);
        let features: Vec<&'static str> = FlowFeature::ALL.iter().map(|f| f.name()).collect();
        self.held_out_spread.write_markdown(s, &features);
        self.in_distribution.write_markdown(s);
        let _ = writeln!(
            s,
            "### Against all real flows (training and held-out files)\n"
        );
        let _ = writeln!(
            s,
            "| set | header fields | flow features | classes compared | real classes missing |\n| --- | --- | --- | ---: | --- |"
        );
        for x in &self.similarity {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                x.set,
                d3(x.fields_mean.as_ref()),
                d3(x.flow_mean.as_ref()),
                x.classes.len(),
                x.missing_classes.join(", ")
            );
        }
        for (name, v) in PAPER_TABLE3 {
            let _ = writeln!(
                s,
                "| {name} | {:.2} / {:.2} / {:.2} | – | – | |",
                v[0], v[1], v[2]
            );
        }
        let _ = writeln!(s);
        if self.similarity.is_empty() {
            return;
        }
        let header: Vec<&str> = self.similarity.iter().map(|x| x.set.as_str()).collect();
        let _ = writeln!(
            s,
            "### Per field and feature (against all real flows; mean over classes)\n"
        );
        let _ = writeln!(
            s,
            "| field | {} |\n| --- |{}",
            header.join(" | "),
            " --- |".repeat(header.len())
        );
        let mut names: Vec<&str> = Vec::new();
        for x in &self.similarity {
            for k in x.per_field.keys().chain(x.per_flow_feature.keys()) {
                if !names.contains(k) {
                    names.push(k);
                }
            }
        }
        for n in names {
            let cells: Vec<String> = self
                .similarity
                .iter()
                .map(|x| d3(x.per_field.get(n).or_else(|| x.per_flow_feature.get(n))))
                .collect();
            let _ = writeln!(s, "| {n} | {} |", cells.join(" | "));
        }
        let _ = writeln!(
            s,
            "\n### Per class (against all real flows; header fields; flow features)\n"
        );
        let _ = writeln!(
            s,
            "| class | {} |\n| --- |{}",
            header.join(" | "),
            " --- |".repeat(header.len())
        );
        for class in self.real.classes.keys() {
            let cells: Vec<String> = self
                .similarity
                .iter()
                .map(|x| {
                    x.classes
                        .iter()
                        .find(|c| &c.class == class)
                        .map_or("–".to_string(), |c| {
                            format!(
                                "{}; {}",
                                d3(c.fields_mean.as_ref()),
                                d3(c.flow_mean.as_ref())
                            )
                        })
                })
                .collect();
            let _ = writeln!(s, "| {class} | {} |", cells.join(" | "));
        }
        let _ = writeln!(s);
    }

    fn ml_md(&self, s: &mut String) {
        let ml = &self.ml;
        let _ = writeln!(s, "## 2. ML usefulness\n");
        let _ = writeln!(
            s,
            "Features: the nPrint values (addresses dropped) of each flow's first {} packets; \
             labels: class groups (macro) and classes (micro). Real test flows are the held-out \
             ones. Accuracy (macro-F1 in brackets).\n",
            ml.k
        );
        for n in &ml.notes {
            let _ = writeln!(s, "- {n}");
        }
        let mut kinds: Vec<_> = ml.results.iter().map(|r| r.classifier).collect();
        kinds.sort();
        kinds.dedup();
        let mut cols = Vec::new();
        for level in [LabelLevel::Macro, LabelLevel::Micro] {
            for k in &kinds {
                cols.push((level, *k));
            }
        }
        let lvl = |l: LabelLevel| {
            if l == LabelLevel::Macro {
                "macro"
            } else {
                "micro"
            }
        };
        let _ = writeln!(
            s,
            "| set | scenario | train | test | {} |\n| --- | --- | ---: | ---: |{}",
            cols.iter()
                .map(|(l, k)| format!("{} {}", lvl(*l), k.name()))
                .collect::<Vec<_>>()
                .join(" | "),
            " ---: |".repeat(cols.len())
        );
        let mut seen: Vec<(&str, Scenario)> = Vec::new();
        for r in &ml.results {
            if seen.contains(&(r.set.as_str(), r.scenario)) {
                continue;
            }
            seen.push((&r.set, r.scenario));
            let cells: Vec<String> = cols
                .iter()
                .map(|(l, k)| {
                    ml.find(&r.set, r.scenario, *l, *k)
                        .map_or("–".to_string(), |x| {
                            format!("{:.3} ({:.3})", x.accuracy, x.macro_f1)
                        })
                })
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                r.set,
                r.scenario,
                r.train_flows,
                r.test_flows,
                cells.join(" | ")
            );
        }
        let _ = writeln!(s, "\nThe paper's Table 4 (accuracy, macro / micro):\n");
        for (name, v) in PAPER_TABLE4 {
            let _ = writeln!(s, "- {name}: {:.3} / {:.3}", v[0], v[1]);
        }
        let _ = writeln!(s);
        self.ml_per_class_md(s, &kinds);
    }

    /// Where the micro macro-F1s come from: each class's F1 on the held-out real flows when
    /// trained on real flows and on each set, with what its flows were most often taken for.
    fn ml_per_class_md(&self, s: &mut String, kinds: &[ClassifierKind]) {
        let ml = &self.ml;
        let mut cols: Vec<(&MlResult, String)> = Vec::new();
        for &k in kinds {
            let trained = std::iter::once(("real", Scenario::RealToReal)).chain(
                self.synthetic
                    .iter()
                    .map(|set| (set.name.as_str(), Scenario::SyntheticToReal)),
            );
            for (set, scenario) in trained {
                if let Some(r) = ml.find(set, scenario, LabelLevel::Micro, k) {
                    cols.push((r, format!("{set} ({})", k.name())));
                }
            }
        }
        let Some((first, _)) = cols.first() else {
            return;
        };
        let _ = writeln!(
            s,
            "### Per class (micro labels, F1 on the held-out real flows)\n\n\
             Each column a classifier trained on one set; in brackets the class its held-out flows \
             were most often taken for, and how many.\n"
        );
        let _ = writeln!(
            s,
            "| class | held-out flows | {} |\n| --- | ---: |{}",
            cols.iter()
                .map(|(_, h)| h.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
            " --- |".repeat(cols.len())
        );
        for l in first.per_label.iter().filter(|l| l.test_flows > 0) {
            let cells: Vec<String> = cols
                .iter()
                .map(|(r, _)| {
                    r.per_label
                        .iter()
                        .find(|x| x.label == l.label)
                        .map_or("–".to_string(), |x| match &x.mistaken_for {
                            Some(m) => format!("{:.3} ({m} {})", x.f1, x.mistaken_flows),
                            None => format!("{:.3}", x.f1),
                        })
                })
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} |",
                l.label,
                l.test_flows,
                cells.join(" | ")
            );
        }
        let _ = writeln!(s);
    }

    fn compliance_md(&self, s: &mut String) {
        let _ = writeln!(s, "## 3. Protocol compliance\n");
        let _ = writeln!(
            s,
            "`netdiffd check` (default severities) and tshark's expert info with checksum \
             validation on, payloads decoded as data.\n"
        );
        let _ = writeln!(
            s,
            "| set | files | packets | flows | check errors | check warnings | malformed packets | tshark errors | tshark warnings | tshark warnings other than RST |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for c in &self.compliance {
            let (te, tw, tr) = c.tshark.as_ref().map_or(
                ("–".to_string(), "–".to_string(), "–".to_string()),
                |t| {
                    (
                        t.errors.to_string(),
                        t.warnings.to_string(),
                        t.warnings_besides_resets().to_string(),
                    )
                },
            );
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {te} | {tw} | {tr} |",
                c.set, c.files, c.packets, c.flows, c.errors, c.warnings, c.malformed_packets
            );
        }
        let _ = writeln!(s);
        for c in &self.compliance {
            let _ = writeln!(s, "### {}\n", c.set);
            if c.rules.is_empty() {
                let _ = writeln!(s, "- check: no rule broken");
            }
            for (rule, n) in &c.rules {
                let _ = writeln!(s, "- check `{rule}`: {n}");
            }
            if let Some(t) = &c.tshark {
                for (k, n) in &t.error_kinds {
                    let _ = writeln!(s, "- tshark error {k}: {n}");
                }
                for (k, n) in &t.warning_kinds {
                    let _ = writeln!(s, "- tshark warning {k}: {n}");
                }
            }
            let _ = writeln!(s);
        }
    }
}
