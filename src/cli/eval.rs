//! `netdiffd eval`: how close synthetic traffic is to real traffic (statistics), whether it
//! helps a classifier (ML), and whether tools accept it (compliance); report in Markdown and
//! JSON with PNG plots.

use netdiffd::eval::classify::{ClassifierKind, ForestParams};
use netdiffd::eval::dataset::ClassGroups;
use netdiffd::eval::distance::Distances;
use netdiffd::eval::ml::{MlSettings, DEFAULT_MAX_TRAIN_PER_CLASS};
use netdiffd::eval::report::EvalReport;
use netdiffd::eval::split::Holdout;
use netdiffd::eval::{evaluate, BaselineFlows, EvalConfig};
use netdiffd::flows::Labels;
use std::path::{Path, PathBuf};

/// Options of `netdiffd eval`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Captures are labelled by the name of the folder they sit in (real and \
synthetic alike: OUT/<class>/*.pcap), or by a labels CSV of `file,label` lines. Class groups \
(macro labels) come from a MANIFEST.csv beside the real captures (columns class, macro) and \
--groups."
)]
pub struct EvalArgs {
    /// Real traffic: a capture, or a folder of class folders.
    #[arg(long, value_name = "DIR_OR_PCAP")]
    pub real: PathBuf,
    /// Synthetic traffic: a capture, or a folder of class folders.
    #[arg(long, value_name = "DIR_OR_PCAP")]
    pub synthetic: Option<PathBuf>,
    /// Output folder for report.md, report.json, the plots and baseline captures.
    #[arg(long, short = 'o', value_name = "DIR", default_value = "eval-report")]
    pub out: PathBuf,
    /// Also generate and score the baselines (uniform random values; per-class bit marginals),
    /// fitted on the real training flows.
    #[arg(long)]
    pub baselines: bool,
    /// How many flows of a class the baselines generate: `synthetic` (as many as the synthetic
    /// set has of the class, so both carry the same sampling noise; the training count where it
    /// has none) or `training` (as many as the class's real training flows).
    #[arg(long, value_name = "SIZE", default_value = "synthetic")]
    pub baseline_flows: BaselineFlows,
    /// Real capture files to hold out for testing (names or paths), comma-separated.
    #[arg(
        long,
        value_name = "F1,F2",
        value_delimiter = ',',
        conflicts_with = "holdout"
    )]
    pub holdout_files: Vec<String>,
    /// Hold-out rule: `auto` (one file per class with several; the last 30 % of flows by time
    /// for single-file classes).
    #[arg(long, value_name = "RULE", default_value = "auto", value_parser = ["auto"])]
    pub holdout: String,
    /// Real training flows a class brings to the classifiers at most (a seeded sample of a
    /// class that has more)
    #[arg(long, default_value_t = DEFAULT_MAX_TRAIN_PER_CLASS)]
    pub max_train_per_class: usize,
    /// Packets per flow in the ML features.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub k: u16,
    /// Trees per random forest.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..))]
    pub trees: u16,
    /// Seed of the baselines, the samplings and the forests.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Labels CSV for the real captures (`file,label`).
    #[arg(long, value_name = "CSV")]
    pub labels: Option<PathBuf>,
    /// Labels CSV for the synthetic captures.
    #[arg(long, value_name = "CSV")]
    pub synthetic_labels: Option<PathBuf>,
    /// Class groups for macro labels, `class=group,…` (added to the manifest's).
    #[arg(long, value_name = "MAP")]
    pub groups: Option<String>,
    /// Skip the decision tree (random forest only).
    #[arg(long)]
    pub no_tree: bool,
    /// Do not run tshark in the compliance part.
    #[arg(long)]
    pub no_tshark: bool,
    /// Do not draw plots.
    #[arg(long)]
    pub no_plots: bool,
}

fn labels(csv: &Option<PathBuf>) -> anyhow::Result<Labels> {
    Ok(match csv {
        Some(p) => Labels::from_csv(p)?,
        None => Labels::from_folders(),
    })
}

/// The groups of the real traffic's corpus manifest (see [`ClassGroups::of_corpus`]); a corpus
/// without one has none (classes are their own groups unless --groups says otherwise), and a
/// note says so.
fn manifest_groups(real: &Path) -> anyhow::Result<ClassGroups> {
    Ok(match ClassGroups::of_corpus(real)? {
        Some(g) => g,
        None => {
            eprintln!(
                "netdiffd: note: no MANIFEST.csv for {}: a class is its own group unless --groups gives one",
                real.display()
            );
            ClassGroups::default()
        }
    })
}

/// Runs `netdiffd eval`.
pub fn run(a: &EvalArgs) -> anyhow::Result<i32> {
    let mut groups = manifest_groups(&a.real)?;
    if let Some(g) = &a.groups {
        groups = groups.extended(ClassGroups::parse(g)?);
    }
    let mut cfg = EvalConfig::new(&a.real, a.synthetic.as_deref(), &a.out);
    cfg.real_labels = labels(&a.labels)?;
    cfg.synthetic_labels = labels(&a.synthetic_labels)?;
    cfg.baselines = a.baselines;
    cfg.baseline_flows = a.baseline_flows;
    cfg.holdout = if a.holdout_files.is_empty() {
        Holdout::Auto
    } else {
        Holdout::Files(a.holdout_files.clone())
    };
    cfg.groups = groups;
    cfg.seed = a.seed;
    cfg.tshark = !a.no_tshark;
    cfg.plots = !a.no_plots;
    let mut classifiers = vec![ClassifierKind::RandomForest];
    if !a.no_tree {
        classifiers.push(ClassifierKind::DecisionTree);
    }
    cfg.ml = MlSettings {
        k: usize::from(a.k),
        forest: ForestParams {
            trees: usize::from(a.trees),
            seed: a.seed,
            threads: 0,
        },
        classifiers,
        max_train_per_class: a.max_train_per_class,
    };
    let report = evaluate(&cfg)?;
    eprintln!(
        "{} real flows, {} synthetic set(s); report in {} ({:.1} s)",
        report.real.flows,
        report.synthetic.len(),
        a.out.join("report.md").display(),
        report.timings_s.get("total").copied().unwrap_or(0.0)
    );
    for s in &report.similarity {
        if let Some(d) = s.fields_mean {
            eprintln!(
                "  {}: header fields JSD {:.3} TVD {:.3} Hellinger {:.3}",
                s.set, d.jsd, d.tvd, d.hellinger
            );
        }
    }
    print_held_out(&report);
    Ok(0)
}

/// A JSD figure, or `–`.
fn jsd(d: Option<Distances>) -> String {
    d.map_or("–".to_string(), |d| format!("{:.3}", d.jsd))
}

/// The headline figures: each set against the held-out captures with its ratio to the
/// real-vs-real floor, and in-distribution beside the paper's figure.
fn print_held_out(report: &EvalReport) {
    let h = &report.held_out;
    if h.classes.is_empty() {
        eprintln!("  held-out comparison: no class has a held-out capture file");
    } else {
        eprintln!(
            "  against held-out captures ({}), header fields / flow features JSD:",
            h.classes.join(", ")
        );
        eprintln!(
            "    {}: {} / {}",
            h.floor.set,
            jsd(h.floor.fields_mean),
            jsd(h.floor.flow_mean)
        );
        let r = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.2}×"));
        for (s, q) in h.sets.iter().zip(&h.ratios) {
            eprintln!(
                "    {}: {} ({}) / {} ({})",
                s.set,
                jsd(s.fields_mean),
                r(q.fields_mean),
                jsd(s.flow_mean),
                r(q.flow_mean)
            );
        }
    }
    let d = &report.in_distribution;
    for s in &d.sets {
        eprintln!(
            "  {}: in-distribution header fields JSD {} (paper: {:.2} (header fields, JSD))",
            s.set,
            jsd(s.fields_mean),
            d.paper_fields_jsd
        );
    }
}
