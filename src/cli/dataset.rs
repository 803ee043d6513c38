//! `netdiffd dataset`: labelled captures → a training set file.

use super::output::progress_bar;
use anyhow::{bail, Context};
use netdiffd::corpus::gather;
use netdiffd::flows::{FlowSettings, Labels};
use netdiffd::model::dataset::{Dataset, DatasetSettings, Split, DEFAULT_MAX_FLOW_PACKETS};
use std::path::PathBuf;

/// Options of `netdiffd dataset`.
#[derive(Debug, clap::Args)]
pub struct DatasetArgs {
    /// Corpus folders: one sub-folder per class holding its captures (or any folder of
    /// captures with --labels); every .pcap/.pcapng/.cap below the folder is read, and a
    /// MANIFEST.csv in it gives the classes' macro groups. Several corpora make one training
    /// set; where their manifests give a class different groups, the first corpus decides (and
    /// a note says so).
    #[arg(value_name = "CORPUS_DIR", required = true)]
    pub corpus: Vec<PathBuf>,
    /// Output training-set file (safetensors with a JSON description).
    #[arg(short = 'o', long = "output", value_name = "DATA")]
    pub output: PathBuf,
    /// Labels CSV (`file,label` lines) instead of folder names.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Packets per window; longer flows are cut into windows.
    #[arg(long, default_value_t = 64)]
    pub max_packets: usize,
    /// Packets kept of each flow (its first ones): the longest flow the model learns and
    /// generates.
    #[arg(long, default_value_t = DEFAULT_MAX_FLOW_PACKETS)]
    pub max_flow_packets: usize,
    /// Flow idle timeout in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub idle_timeout: f64,
    /// Flow active timeout in seconds.
    #[arg(long, default_value_t = 1800.0)]
    pub active_timeout: f64,
    /// Hold out nothing by default rule (otherwise each class with ≥ 2 captures holds out its
    /// last file, for evaluation).
    #[arg(long)]
    pub no_holdout: bool,
    /// Capture files to hold out (paths relative to the corpus, or file names).
    #[arg(long, value_delimiter = ',')]
    pub holdout: Vec<String>,
}

/// Runs `netdiffd dataset`.
pub fn run(a: &DatasetArgs) -> anyhow::Result<i32> {
    if !(1..=1024).contains(&a.max_packets) {
        bail!("--max-packets must be 1..=1024, got {}", a.max_packets);
    }
    if !(a.idle_timeout > 0.0 && a.active_timeout > 0.0) {
        bail!("timeouts must be positive");
    }
    let sources = gather(&a.corpus)?;
    for n in &sources.notes {
        eprintln!("netdiffd: note: {n}");
    }
    let files = &sources.files;
    let names: Vec<String> = a.corpus.iter().map(|c| c.display().to_string()).collect();
    let labels = match &a.labels {
        Some(p) => Labels::from_csv(p)?,
        None => Labels::from_folders(),
    };
    let settings = DatasetSettings {
        max_packets: a.max_packets,
        max_flow_packets: a.max_flow_packets,
        flows: FlowSettings {
            idle_timeout_ns: (a.idle_timeout * 1e9) as u64,
            active_timeout_ns: (a.active_timeout * 1e9) as u64,
        },
        holdout_one_file_per_class: !a.no_holdout,
        holdout_files: a.holdout.clone(),
    };
    let bar = progress_bar(files.len() as u64, "captures");
    let ds = Dataset::build(
        &sources.root,
        files,
        &labels,
        &sources.groups,
        &settings,
        |_| bar.inc(1),
    )?;
    bar.finish_and_clear();
    ds.save(&a.output)
        .with_context(|| format!("writing {}", a.output.display()))?;
    let train = ds.split(Split::Train).count();
    let held = ds.split(Split::Holdout).count();
    eprintln!(
        "{}: {} classes, {} captures, {train} training windows, {held} held-out windows (max {} packets) → {}",
        names.join(" + "),
        ds.classes.len(),
        ds.files.len(),
        ds.max_packets,
        a.output.display()
    );
    for c in &ds.classes {
        eprintln!(
            "  {:<12} {:>5} train {:>5} held out  ({})",
            c.name,
            c.train_windows,
            c.holdout_windows,
            c.macro_group.as_deref().unwrap_or("-")
        );
    }
    Ok(0)
}
