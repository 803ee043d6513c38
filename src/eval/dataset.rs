//! Loading labelled traffic for evaluation: the captures of a folder (or one capture file) as
//! [`crate::corpus`] lists them, each labelled by its folder name or a labels CSV, cut into
//! flows; and the class → group map (macro labels) from a corpus `MANIFEST.csv` or the command
//! line.
//!
//! Synthetic traffic is labelled the same way as real traffic: one folder per class
//! (`OUT/<class>/*.pcap`), or a labels CSV.

use super::EvalError;
use crate::corpus::{label_captures, list_captures};
use crate::flows::{flows_from_capture, Flow, FlowSettings, Labels};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One capture file of a set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaptureFile {
    /// The file.
    pub path: PathBuf,
    /// Its class.
    pub label: String,
    /// Flows cut from it.
    pub flows: usize,
}

/// Labelled flows of one traffic set (the real corpus, a synthetic set, a baseline).
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    /// Name in reports (`real`, `synthetic`, `baseline-marginals`, …).
    pub name: String,
    /// Every flow; each has a label.
    pub flows: Vec<Flow>,
    /// The files read, in order.
    pub files: Vec<CaptureFile>,
}

impl FlowSet {
    /// The classes present, sorted.
    pub fn classes(&self) -> Vec<String> {
        let mut v: Vec<String> = self.flows.iter().filter_map(|f| f.label.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Flows of class `label`.
    pub fn of_class<'a>(&'a self, label: &'a str) -> impl Iterator<Item = &'a Flow> + 'a {
        self.flows
            .iter()
            .filter(move |f| f.label.as_deref() == Some(label))
    }

    /// Number of flows per class.
    pub fn class_counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for f in &self.flows {
            if let Some(l) = &f.label {
                *m.entry(l.clone()).or_insert(0) += 1;
            }
        }
        m
    }
}

/// Reads every capture at `path` into a labelled flow set named `name`.
pub fn load_flow_set(
    name: &str,
    path: &Path,
    labels: &Labels,
    settings: FlowSettings,
) -> Result<FlowSet, EvalError> {
    let mut set = FlowSet {
        name: name.to_string(),
        ..FlowSet::default()
    };
    for (file, label) in label_captures(&list_captures(path)?, labels)? {
        let (flows, _skipped) = flows_from_capture(&file, settings, Some(label.clone()))?;
        set.files.push(CaptureFile {
            path: file,
            label,
            flows: flows.len(),
        });
        set.flows
            .extend(flows.into_iter().filter(|f| !f.packets.is_empty()));
    }
    Ok(set)
}

/// Class → group (macro label) map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassGroups(pub BTreeMap<String, String>);

impl ClassGroups {
    /// The group of `class`; a class with no group is its own group.
    pub fn group_of<'a>(&'a self, class: &'a str) -> &'a str {
        self.0.get(class).map_or(class, |g| g.as_str())
    }

    /// The groups of the corpus `path` belongs to (the folder, or for a capture file the
    /// folder two up), from its `MANIFEST.csv`: `None` when it has none; an invalid manifest is
    /// an error.
    pub fn of_corpus(path: &Path) -> Result<Option<ClassGroups>, EvalError> {
        let Some(dir) = crate::corpus::corpus_folder(path) else {
            return Ok(None);
        };
        Ok(crate::corpus::manifest_groups(&dir)?.map(ClassGroups))
    }

    /// Parses `class=group,class=group`.
    pub fn parse(s: &str) -> Result<ClassGroups, EvalError> {
        let mut m = BTreeMap::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((c, g)) if !c.trim().is_empty() && !g.trim().is_empty() => {
                    m.insert(c.trim().to_string(), g.trim().to_string());
                }
                _ => return Err(EvalError::BadGroup(part.to_string())),
            }
        }
        Ok(ClassGroups(m))
    }

    /// This map with every entry of `other` added (other wins).
    pub fn extended(mut self, other: ClassGroups) -> ClassGroups {
        self.0.extend(other.0);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_from_manifest_and_command_line() {
        let dir = crate::test_dir("groups");
        assert_eq!(ClassGroups::of_corpus(&dir).unwrap(), None);
        let p = dir.join("MANIFEST.csv");
        std::fs::write(
            &p,
            "class,macro,file\nnetflix,video,a.pcap\ndns,infra,b.pcap\n",
        )
        .unwrap();
        let g = ClassGroups::of_corpus(&dir).unwrap().unwrap();
        assert_eq!(g.group_of("netflix"), "video");
        assert_eq!(g.group_of("unknown"), "unknown");
        // A capture file's corpus is two folders up.
        assert_eq!(
            ClassGroups::of_corpus(&dir.join("dns/b.pcap")).unwrap(),
            Some(g.clone())
        );
        let g = g.extended(ClassGroups::parse("dns=other, ssh=infra").unwrap());
        assert_eq!(g.group_of("dns"), "other");
        assert_eq!(g.group_of("ssh"), "infra");
        assert!(ClassGroups::parse("dns").is_err());
        std::fs::write(&p, "file,label\n").unwrap();
        assert!(matches!(
            ClassGroups::of_corpus(&dir),
            Err(EvalError::Corpus(
                crate::corpus::CorpusError::Manifest { .. }
            ))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_captures_is_an_error() {
        let dir = crate::test_dir("empty");
        let e = load_flow_set(
            "real",
            &dir,
            &Labels::from_folders(),
            FlowSettings::default(),
        );
        assert!(matches!(
            e,
            Err(EvalError::Corpus(crate::corpus::CorpusError::NoCaptures(_)))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
