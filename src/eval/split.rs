//! Splitting real flows into training and held-out test flows by capture file, never by packet.
//!
//! `auto`: a class with two or more capture files holds out the file whose flow count is
//! closest to 30 % of the class's flows (ties: the later file name); a class with a single file
//! holds out the last 30 % of its flows by start time (whole flows, at least one when the class
//! has two or more flows) — a time split, since no other file exists. A class with one flow is
//! training only. With a list of files, exactly those files are held out.

use super::dataset::FlowSet;
use super::EvalError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Share of a class held out.
pub const HOLDOUT_SHARE: f64 = 0.3;

/// Which real data is held out for testing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holdout {
    /// The rule in the module documentation.
    Auto,
    /// These files (matched by path, path suffix or file name).
    Files(Vec<String>),
}

/// How a class was split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitMethod {
    /// Whole capture files held out.
    File,
    /// The class's only file split by flow start time.
    Time,
    /// Nothing held out.
    TrainOnly,
}

/// The split of one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassSplit {
    /// How.
    pub method: SplitMethod,
    /// Training flows.
    pub train: usize,
    /// Test flows.
    pub test: usize,
    /// Files held out.
    pub held_out_files: Vec<String>,
}

/// Indices into a flow set's flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Training flows.
    pub train: Vec<usize>,
    /// Held-out test flows.
    pub test: Vec<usize>,
    /// Per class.
    pub classes: BTreeMap<String, ClassSplit>,
}

fn matches(file: &Path, pattern: &str) -> bool {
    let full = file.to_string_lossy();
    full == pattern
        || full.ends_with(&format!("/{pattern}"))
        || file
            .file_name()
            .is_some_and(|n| n.to_string_lossy() == pattern)
}

/// Splits `real` as `holdout` says.
pub fn split(real: &FlowSet, holdout: &Holdout) -> Result<Split, EvalError> {
    let mut test_flag = vec![false; real.flows.len()];
    let mut classes = BTreeMap::new();
    if let Holdout::Files(names) = holdout {
        for n in names {
            if !real.files.iter().any(|f| matches(&f.path, n)) {
                return Err(EvalError::UnknownHoldout(n.clone()));
            }
        }
    }
    for class in real.classes() {
        let idx: Vec<usize> = (0..real.flows.len())
            .filter(|&i| real.flows[i].label.as_deref() == Some(class.as_str()))
            .collect();
        let files: Vec<&Path> = real
            .files
            .iter()
            .filter(|f| f.label == class)
            .map(|f| f.path.as_path())
            .collect();
        let held: Vec<&Path> = match holdout {
            Holdout::Files(names) => files
                .iter()
                .copied()
                .filter(|f| names.iter().any(|n| matches(f, n)))
                .collect(),
            Holdout::Auto if files.len() >= 2 => {
                let target = HOLDOUT_SHARE * idx.len() as f64;
                let count = |f: &Path| idx.iter().filter(|&&i| real.flows[i].source == f).count();
                files
                    .iter()
                    .copied()
                    .filter(|f| count(f) > 0 && count(f) < idx.len())
                    .min_by(|a, b| {
                        let da = (count(a) as f64 - target).abs();
                        let db = (count(b) as f64 - target).abs();
                        da.total_cmp(&db).then(b.cmp(a))
                    })
                    .into_iter()
                    .collect()
            }
            Holdout::Auto => Vec::new(),
        };
        let method = if !held.is_empty() {
            for &i in &idx {
                test_flag[i] = held.contains(&real.flows[i].source.as_path());
            }
            SplitMethod::File
        } else if matches!(holdout, Holdout::Auto) && idx.len() >= 2 {
            let mut by_time = idx.clone();
            by_time.sort_by_key(|&i| (real.flows[i].packets.first().map(|p| p.ts_ns), i));
            let n_test = ((HOLDOUT_SHARE * idx.len() as f64).round() as usize).max(1);
            for &i in &by_time[idx.len() - n_test..] {
                test_flag[i] = true;
            }
            SplitMethod::Time
        } else {
            SplitMethod::TrainOnly
        };
        let test = idx.iter().filter(|&&i| test_flag[i]).count();
        classes.insert(
            class.clone(),
            ClassSplit {
                method,
                train: idx.len() - test,
                test,
                held_out_files: held.iter().map(|p| p.display().to_string()).collect(),
            },
        );
    }
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..real.flows.len()).partition(|&i| test_flag[i]);
    Ok(Split {
        train,
        test,
        classes,
    })
}
