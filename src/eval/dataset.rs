//! Loading labelled traffic for evaluation: every capture under a folder (or one capture file),
//! each labelled by its folder name or a labels CSV, cut into flows; and the class → group map
//! (macro labels) from a corpus `MANIFEST.csv` or the command line.
//!
//! Synthetic traffic is labelled the same way as real traffic: one folder per class
//! (`OUT/<class>/*.pcap`), or a labels CSV.

use super::EvalError;
use crate::flows::{flows_from_capture, Flow, FlowSettings, Labels};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name endings read as captures.
const CAPTURE_EXTENSIONS: [&str; 3] = ["pcap", "pcapng", "cap"];

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

/// The capture files at `path`: the file itself, or every capture below the folder, sorted.
pub fn list_captures(path: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let meta = std::fs::metadata(path).map_err(|e| EvalError::io(path, e))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| EvalError::io(&dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| EvalError::io(&dir, e))?;
            let p = entry.path();
            let ft = entry.file_type().map_err(|e| EvalError::io(&p, e))?;
            if ft.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| CAPTURE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(EvalError::NoCaptures(path.to_path_buf()));
    }
    Ok(out)
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
    for file in list_captures(path)? {
        let label = labels
            .label_for(&file)
            .ok_or_else(|| EvalError::Unlabelled(file.clone()))?;
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

    /// Reads the `class` and `macro` columns of a corpus manifest.
    pub fn from_manifest(path: &Path) -> Result<ClassGroups, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        let mut lines = text.lines().enumerate();
        let bad = |line: usize, why: &str| EvalError::Manifest {
            path: path.to_path_buf(),
            line,
            why: why.to_string(),
        };
        let (_, header) = lines.next().ok_or_else(|| bad(1, "empty file"))?;
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        let ci = cols.iter().position(|c| *c == "class");
        let mi = cols.iter().position(|c| *c == "macro");
        let (Some(ci), Some(mi)) = (ci, mi) else {
            return Err(bad(1, "no `class` and `macro` columns"));
        };
        let mut m = BTreeMap::new();
        for (i, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            match (f.get(ci), f.get(mi)) {
                (Some(c), Some(g)) if !c.is_empty() && !g.is_empty() => {
                    m.insert(c.to_string(), g.to_string());
                }
                _ => return Err(bad(i + 1, "missing class or macro value")),
            }
        }
        Ok(ClassGroups(m))
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
        let p = dir.join("MANIFEST.csv");
        std::fs::write(
            &p,
            "class,macro,file\nnetflix,video,a.pcap\ndns,infra,b.pcap\n",
        )
        .unwrap();
        let g = ClassGroups::from_manifest(&p).unwrap();
        assert_eq!(g.group_of("netflix"), "video");
        assert_eq!(g.group_of("unknown"), "unknown");
        let g = g.extended(ClassGroups::parse("dns=other, ssh=infra").unwrap());
        assert_eq!(g.group_of("dns"), "other");
        assert_eq!(g.group_of("ssh"), "infra");
        assert!(ClassGroups::parse("dns").is_err());
        std::fs::write(&p, "file,label\n").unwrap();
        assert!(ClassGroups::from_manifest(&p).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_captures_is_an_error() {
        let dir = crate::test_dir("empty");
        assert!(matches!(list_captures(&dir), Err(EvalError::NoCaptures(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
