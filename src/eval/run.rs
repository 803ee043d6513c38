//! Running the whole evaluation.

use super::compliance::{compliance, Compliance};
use super::dataset::{load_flow_set, ClassGroups, FlowSet};
use super::heldout::{held_out_similarity, in_distribution, RealProfiles};
use super::ml::{evaluate_ml, MlSettings};
use super::plot;
use super::report::{EvalReport, SetSummary, Settings};
use super::similarity::{compare_sets, profiles_by_class};
use super::split::{split, Holdout};
use super::spread::{held_out_spread, RESAMPLES};
use super::tshark::tshark_available;
use super::EvalError;
use crate::baseline::{write_per_class, BaselineKind, ClassModel, DEFAULT_POSITIONS};
use crate::flows::{Flow, FlowSettings, Labels};
use crate::repair::RepairSettings;
use crate::seed::salt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Real traffic: a capture or a folder of them.
    pub real: PathBuf,
    /// Labels of the real captures.
    pub real_labels: Labels,
    /// Synthetic traffic, if any: a capture or a folder of them.
    pub synthetic: Option<PathBuf>,
    /// Labels of the synthetic captures.
    pub synthetic_labels: Labels,
    /// Output folder (report, plots, baseline captures).
    pub out: PathBuf,
    /// Generate and score the baselines too.
    pub baselines: bool,
    /// How many flows of a class each baseline generates.
    pub baseline_flows: BaselineFlows,
    /// Which real data is held out for testing.
    pub holdout: Holdout,
    /// Class → group map for macro labels.
    pub groups: ClassGroups,
    /// ML settings (K, forest size, classifiers, seed).
    pub ml: MlSettings,
    /// Seed of the baselines.
    pub seed: u64,
    /// Run tshark in the compliance part (when it is installed).
    pub tshark: bool,
    /// Draw the PNG plots.
    pub plots: bool,
}

impl EvalConfig {
    /// Defaults for the given real and synthetic traffic and output folder.
    pub fn new(real: &Path, synthetic: Option<&Path>, out: &Path) -> EvalConfig {
        EvalConfig {
            real: real.to_path_buf(),
            real_labels: Labels::from_folders(),
            synthetic: synthetic.map(Path::to_path_buf),
            synthetic_labels: Labels::from_folders(),
            out: out.to_path_buf(),
            baselines: false,
            baseline_flows: BaselineFlows::LikeSynthetic,
            holdout: Holdout::Auto,
            groups: ClassGroups::default(),
            ml: MlSettings::default(),
            seed: 0,
            tshark: true,
            plots: true,
        }
    }
}

/// How many flows of a class a baseline generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum BaselineFlows {
    /// As many as the synthetic set has of the class (so that a baseline and the synthetic set
    /// carry the same sampling noise in their distributions and bring the same number of
    /// flows to the classifiers); the class's training flow count for a class the synthetic set
    /// lacks, or when there is no synthetic set.
    #[default]
    #[serde(rename = "synthetic")]
    LikeSynthetic,
    /// As many as the class has real training flows.
    #[serde(rename = "training")]
    Training,
}

impl std::str::FromStr for BaselineFlows {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "synthetic" => Ok(BaselineFlows::LikeSynthetic),
            "training" => Ok(BaselineFlows::Training),
            other => Err(format!(
                "unknown baseline size {other:?} (synthetic | training)"
            )),
        }
    }
}

fn summary(set: &FlowSet, path: &Path) -> SetSummary {
    SetSummary {
        name: set.name.clone(),
        path: path.display().to_string(),
        files: set.files.clone(),
        flows: set.flows.len(),
        packets: set.flows.iter().map(|f| f.packets.len()).sum(),
        classes: set.class_counts(),
    }
}

/// Fits each baseline per class on the real training flows, generates `flows_of(class)` flows
/// (the class's training flow count where it says none), writes them under
/// `out/baselines/<kind>/<class>/baseline.pcap` and reads them back as a labelled set.
fn baselines(
    real: &FlowSet,
    train: &[usize],
    flows_of: &BTreeMap<String, usize>,
    out: &Path,
    seed: u64,
) -> Result<Vec<(FlowSet, PathBuf)>, EvalError> {
    let mut by_class: BTreeMap<String, Vec<&Flow>> = BTreeMap::new();
    for &i in train {
        if let Some(l) = &real.flows[i].label {
            by_class.entry(l.clone()).or_default().push(&real.flows[i]);
        }
    }
    let mut sets = Vec::new();
    for kind in BaselineKind::ALL {
        let dir = out.join("baselines").join(kind.name());
        let mut generated = BTreeMap::new();
        for (ci, (class, flows)) in by_class.iter().enumerate() {
            let model = ClassModel::fit(kind, class, flows, DEFAULT_POSITIONS)?;
            let settings = RepairSettings {
                seed,
                ..RepairSettings::default()
            };
            let class_seed = crate::seed::derive(seed, salt::STREAM, ci as u64);
            generated.insert(
                class.clone(),
                model.generate(
                    flows_of.get(class).copied().unwrap_or(flows.len()),
                    &settings,
                    class_seed,
                )?,
            );
        }
        write_per_class(&dir, &generated)?;
        let name = format!("baseline-{}", kind.name());
        let set = load_flow_set(
            &name,
            &dir,
            &Labels::from_folders(),
            FlowSettings::default(),
        )?;
        sets.push((set, dir));
    }
    Ok(sets)
}

/// Runs the evaluation and writes `report.md`, `report.json` and the plots to `cfg.out`.
pub fn evaluate(cfg: &EvalConfig) -> Result<EvalReport, EvalError> {
    if cfg.synthetic.is_none() && !cfg.baselines {
        return Err(EvalError::NothingToEvaluate);
    }
    std::fs::create_dir_all(&cfg.out).map_err(|e| EvalError::io(&cfg.out, e))?;
    let t_all = Instant::now();
    let mut timings = BTreeMap::new();
    let mut lap = |name: &str, t: &mut Instant| {
        timings.insert(name.to_string(), t.elapsed().as_secs_f64());
        *t = Instant::now();
    };
    let mut t = Instant::now();
    let real = load_flow_set("real", &cfg.real, &cfg.real_labels, FlowSettings::default())?;
    let mut sets: Vec<(FlowSet, PathBuf)> = Vec::new();
    if let Some(p) = &cfg.synthetic {
        let s = load_flow_set(
            "synthetic",
            p,
            &cfg.synthetic_labels,
            FlowSettings::default(),
        )?;
        sets.push((s, p.clone()));
    }
    let split = split(&real, &cfg.holdout)?;
    lap("load", &mut t);
    if cfg.baselines {
        let flows_of = match (cfg.baseline_flows, sets.first()) {
            (BaselineFlows::LikeSynthetic, Some((synthetic, _))) => synthetic.class_counts(),
            _ => BTreeMap::new(),
        };
        sets.extend(baselines(
            &real,
            &split.train,
            &flows_of,
            &cfg.out,
            cfg.seed,
        )?);
        lap("baselines", &mut t);
    }

    let real_profiles = profiles_by_class(&real.flows);
    let synth_profiles: Vec<_> = sets
        .iter()
        .map(|(s, _)| (s.name.clone(), profiles_by_class(&s.flows)))
        .collect();
    let similarity: Vec<_> = synth_profiles
        .iter()
        .map(|(name, p)| compare_sets(name, &real_profiles, p))
        .collect();
    let split_profiles = RealProfiles::of(&real, &split);
    let held_out = held_out_similarity(&split_profiles, &synth_profiles);
    let set_flows: Vec<(String, Vec<&Flow>)> = sets
        .iter()
        .map(|(s, _)| (s.name.clone(), s.flows.iter().collect()))
        .collect();
    let held_out_spread = held_out_spread(&split_profiles, &set_flows, RESAMPLES, cfg.seed);
    let in_distribution = in_distribution(&split_profiles, &synth_profiles);
    lap("similarity", &mut t);

    let set_refs: Vec<&FlowSet> = sets.iter().map(|(s, _)| s).collect();
    let ml = evaluate_ml(&real, &split, &set_refs, &cfg.groups, &cfg.ml);
    lap("ml", &mut t);

    let with_tshark = cfg.tshark && tshark_available();
    let files = |s: &FlowSet| s.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
    let mut comp: Vec<Compliance> = vec![compliance("real", &files(&real), with_tshark)?];
    for (s, _) in &sets {
        comp.push(compliance(&s.name, &files(s), with_tshark)?);
    }
    lap("compliance", &mut t);

    let mut report = EvalReport {
        settings: Settings {
            k: cfg.ml.k,
            trees: cfg.ml.forest.trees,
            seed: cfg.seed,
            holdout: match &cfg.holdout {
                Holdout::Auto => "auto".to_string(),
                Holdout::Files(f) => f.join(","),
            },
            baseline_positions: DEFAULT_POSITIONS,
            baseline_flows: cfg.baseline_flows,
            tshark: with_tshark,
        },
        real: summary(&real, &cfg.real),
        synthetic: sets.iter().map(|(s, p)| summary(s, p)).collect(),
        split: split.classes.clone(),
        groups: real
            .classes()
            .into_iter()
            .map(|c| {
                let g = cfg.groups.group_of(&c).to_string();
                (c, g)
            })
            .collect(),
        similarity,
        held_out,
        held_out_spread,
        in_distribution,
        ml,
        compliance: comp,
        plots: Vec::new(),
        timings_s: BTreeMap::new(),
    };
    if cfg.plots {
        report.plots = plot::draw_all(&cfg.out, &report, &real_profiles, &synth_profiles)?;
        lap("plots", &mut t);
    }
    timings.insert("total".to_string(), t_all.elapsed().as_secs_f64());
    report.timings_s = timings;
    report.write(&cfg.out)?;
    Ok(report)
}
