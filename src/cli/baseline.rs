//! `netdiffd baseline`: synthetic flows from a baseline generator (uniform random values, or
//! per-class independent bit marginals) fitted on real flows, repaired into a pcap.

use anyhow::{bail, Context};
use netdiffd::baseline::{write_per_class, BaselineKind, ClassModel, DEFAULT_POSITIONS};
use netdiffd::eval::dataset::load_flow_set;
use netdiffd::flows::{Flow, FlowSettings, Labels};
use netdiffd::packets::{write_flows, Framing, TsResolution};
use netdiffd::pipeline::ClassMix;
use netdiffd::repair::{RepairSettings, RepairedFlow};
use netdiffd::seed::salt;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Options of `netdiffd baseline`.
#[derive(Debug, clap::Args)]
#[command(after_help = "With -o a folder (no .pcap ending), each class goes to \
OUT/<class>/baseline.pcap, the layout `netdiffd eval --synthetic OUT` labels by folder.")]
pub struct BaselineArgs {
    /// Which baseline: `marginals` or `random`.
    #[arg(long)]
    pub kind: BaselineKind,
    /// Real traffic to fit on: a capture, or a folder of class folders.
    #[arg(long, value_name = "DIR_OR_PCAP")]
    pub real: PathBuf,
    /// Labels CSV for the real captures (default: folder names).
    #[arg(long, value_name = "CSV")]
    pub labels: Option<PathBuf>,
    /// Classes and weights, e.g. `netflix=3,portscan=1` (a bare name weighs 1), as `generate`
    /// takes them: the flows are shared out by weight.
    #[arg(long, value_name = "CLASS[=W],…", conflicts_with = "all_classes")]
    pub mix: Option<ClassMix>,
    /// Every class of the real traffic, flows shared out in proportion to its real flows.
    #[arg(long)]
    pub all_classes: bool,
    /// Flows in all (default: as many as the chosen classes have real flows).
    #[arg(long, value_name = "N")]
    pub flows: Option<usize>,
    /// Seed; same seed, same output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output: a .pcap file (all classes together) or a folder (one pcap per class).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: PathBuf,
}

/// Shares `total` out by `weights` (largest remainders, so the counts add up to `total`).
fn share_out(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut n: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - n[b] as f64).total_cmp(&(exact[a] - n[a] as f64)));
    let missing = total.saturating_sub(n.iter().sum());
    for &i in order.iter().take(missing) {
        n[i] += 1;
    }
    n
}

/// Runs `netdiffd baseline`.
pub fn run(a: &BaselineArgs) -> anyhow::Result<i32> {
    let labels = match &a.labels {
        Some(p) => Labels::from_csv(p)?,
        None => Labels::from_folders(),
    };
    let real = load_flow_set("real", &a.real, &labels, FlowSettings::default())?;
    let counts = real.class_counts();
    let weights: Vec<(String, f64)> = match (&a.mix, a.all_classes) {
        (Some(m), _) => {
            m.0.iter()
                .map(|(c, w)| (c.clone(), f64::from(*w)))
                .collect()
        }
        (None, true) => counts.iter().map(|(c, &n)| (c.clone(), n as f64)).collect(),
        (None, false) => bail!("give --mix CLASS=W,… or --all-classes"),
    };
    for (c, _) in &weights {
        if !counts.contains_key(c) {
            bail!(
                "class {c:?} has no real flows in {} (classes: {})",
                a.real.display(),
                counts.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
    }
    let total = a
        .flows
        .unwrap_or_else(|| weights.iter().map(|(c, _)| counts[c]).sum());
    let per_class = share_out(total, &weights.iter().map(|w| w.1).collect::<Vec<_>>());
    let settings = RepairSettings {
        seed: a.seed,
        ..RepairSettings::default()
    };
    let mut generated: BTreeMap<String, Vec<RepairedFlow>> = BTreeMap::new();
    for (i, ((class, _), &n)) in weights.iter().zip(&per_class).enumerate() {
        let flows: Vec<&Flow> = real.of_class(class).collect();
        let model = ClassModel::fit(a.kind, class, &flows, DEFAULT_POSITIONS)?;
        let seed = netdiffd::seed::derive(a.seed, salt::STREAM, i as u64);
        generated.insert(class.clone(), model.generate(n, &settings, seed)?);
    }
    let is_file = a
        .output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("pcap"));
    if is_file {
        let all: Vec<RepairedFlow> = generated.into_values().flatten().collect();
        let n = write_flows(&a.output, &all, &Framing::default(), TsResolution::Micro)
            .with_context(|| format!("writing {}", a.output.display()))?;
        eprintln!("{} flows, {n} packets → {}", all.len(), a.output.display());
    } else {
        let files = write_per_class(&a.output, &generated)?;
        for (f, (c, fl)) in files.iter().zip(&generated) {
            eprintln!("{c}: {} flows → {}", fl.len(), f.display());
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        assert_eq!(share_out(10, &[3.0, 1.0]), vec![8, 2]);
        assert_eq!(share_out(7, &[1.0, 1.0, 1.0]).iter().sum::<usize>(), 7);
    }
}
