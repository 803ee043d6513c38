//! The corpus: labelled real captures as training sets, the evaluation and the baselines read
//! them, with one rule for listing captures, one policy for the manifest and one builder of a
//! class's statistics ([`hints`]). It sits beside [`crate::flows`], below every stage that
//! learns from real traffic.
//!
//! A corpus is a folder of class folders, `CORPUS/<class>/<capture>`, optionally with a
//! `CORPUS/MANIFEST.csv` giving each class its macro group (columns `class` and `macro`, any
//! others ignored).
//!
//! **Listing** ([`list_captures`]): every file below the folder, at any depth, whose name ends
//! in `.pcap`, `.pcapng` or `.cap` (any case), sorted by path (component by component, so a
//! class's captures are together and classes come in name order). Symbolic links are followed;
//! a folder reached twice (through a link) is read once. A capture file given instead of a
//! folder is the whole list. A folder without any capture is an error
//! ([`CorpusError::NoCaptures`]).
//!
//! **Manifest** ([`manifest_groups`], [`read_manifest`]): a corpus without `MANIFEST.csv` has
//! no groups (each class is its own group; callers say so). A manifest that is there must be
//! valid: a CSV file (double-quoted fields allowed, no line breaks inside them) whose header
//! names `class` and `macro`, with at least one row, every row giving both, and no class put in
//! two groups; otherwise reading it fails with [`CorpusError::Manifest`] naming the line.

pub mod hints;

pub use hints::{ClassHints, HintsBuilder, MAX_IAT_SAMPLES, MAX_SERVER_PORTS};

use crate::flows::Labels;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Name of a corpus's manifest, in the corpus folder.
pub const MANIFEST: &str = "MANIFEST.csv";

/// File name endings read as captures (compared without regard to case).
pub const CAPTURE_EXTENSIONS: [&str; 3] = ["pcap", "pcapng", "cap"];

/// Errors reading a corpus: each names the file or folder at fault.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A folder that holds no capture file.
    #[error("{0}: no capture files (.pcap, .pcapng, .cap) found")]
    NoCaptures(PathBuf),
    /// A capture whose class is unknown (no folder name, not in the labels file).
    #[error("{0}: no class label (put it in a folder named after its class, or list it in the labels CSV)")]
    Unlabelled(PathBuf),
    /// A manifest that is not valid.
    #[error("{path}: line {line}: {why}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// One corpus folder given twice (under any spelling).
    #[error("corpus folder {given} is given twice (also as {first})")]
    GivenTwice {
        /// The second spelling.
        given: PathBuf,
        /// The first.
        first: PathBuf,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CorpusError + '_ {
    move |source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `path`'s name ends in a capture extension.
pub fn is_capture_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| CAPTURE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The captures at `path`: the file itself, or every capture below the folder, sorted (the
/// listing rule of the [module](self)).
pub fn list_captures(path: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if !seen.insert(dir.canonicalize().map_err(io(&dir))?) {
            continue;
        }
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let p = entry.map_err(io(&dir))?.path();
            // Followed through links; a name that is no capture may dangle unnoticed.
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => stack.push(p),
                Ok(_) if is_capture_name(&p) => out.push(p),
                Ok(_) => {}
                Err(e) if is_capture_name(&p) => return Err(io(&p)(e)),
                Err(_) => {}
            }
        }
    }
    if out.is_empty() {
        return Err(CorpusError::NoCaptures(path.to_path_buf()));
    }
    out.sort();
    Ok(out)
}

/// Each of `files` with its class by `labels`; a capture without a class is an error.
pub fn label_captures(
    files: &[PathBuf],
    labels: &Labels,
) -> Result<Vec<(PathBuf, String)>, CorpusError> {
    files
        .iter()
        .map(|f| match labels.label_for(f) {
            Some(l) => Ok((f.clone(), l)),
            None => Err(CorpusError::Unlabelled(f.clone())),
        })
        .collect()
}

/// The corpus folder `path` belongs to: the folder itself, or for a capture file
/// (`<corpus>/<class>/<file>`) the folder two levels up (`None` when it has none).
pub fn corpus_folder(path: &Path) -> Option<PathBuf> {
    if path.is_dir() {
        return Some(path.to_path_buf());
    }
    path.parent().and_then(Path::parent).map(Path::to_path_buf)
}

/// The class groups of the corpus folder `dir` from its `MANIFEST.csv`: `None` when the
/// corpus has none, an error when it has one that is not valid (the manifest policy of the
/// [module](self)).
pub fn manifest_groups(dir: &Path) -> Result<Option<BTreeMap<String, String>>, CorpusError> {
    let path = dir.join(MANIFEST);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_manifest(&path, &text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(&path)(e)),
    }
}

/// The class → group map of the manifest at `path`, which must be there and valid.
pub fn read_manifest(path: &Path) -> Result<BTreeMap<String, String>, CorpusError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    parse_manifest(path, &text)
}

/// The fields of one CSV line: separated by commas, double quotes around a field keep its
/// commas, `""` inside them is one quote; each field trimmed.
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field).trim().to_string()),
            c => field.push(c),
        }
    }
    out.push(field.trim().to_string());
    out
}

fn parse_manifest(path: &Path, text: &str) -> Result<BTreeMap<String, String>, CorpusError> {
    let bad = |line: usize, why: String| CorpusError::Manifest {
        path: path.to_path_buf(),
        line,
        why,
    };
    let mut lines = text.lines().enumerate();
    let header = csv_fields(lines.next().map_or("", |(_, l)| l));
    let col = |name: &str| header.iter().position(|c| c == name);
    let (Some(ci), Some(mi)) = (col("class"), col("macro")) else {
        return Err(bad(1, "no `class` and `macro` columns".into()));
    };
    let mut groups = BTreeMap::new();
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f = csv_fields(line);
        let (class, group) = match (f.get(ci), f.get(mi)) {
            (Some(c), Some(g)) if !c.is_empty() && !g.is_empty() => (c.clone(), g.clone()),
            _ => return Err(bad(i + 1, "missing class or macro value".into())),
        };
        match groups.get(&class) {
            Some(g) if *g != group => {
                return Err(bad(
                    i + 1,
                    format!(
                        "class {class} in group {group}, but in group {g} on line {}",
                        first_line[&class]
                    ),
                ))
            }
            Some(_) => {}
            None => {
                first_line.insert(class.clone(), i + 1);
                groups.insert(class, group);
            }
        }
    }
    if groups.is_empty() {
        return Err(bad(1, "no class rows".into()));
    }
    Ok(groups)
}

/// The captures of one or more corpus folders, ready for a training set.
#[derive(Debug, Clone, Default)]
pub struct CorpusSources {
    /// Every capture, corpus by corpus, each sorted.
    pub files: Vec<PathBuf>,
    /// Class → macro group, from the corpora's manifests.
    pub groups: BTreeMap<String, String>,
    /// The folder paths are reported relative to: the one corpus, or the nearest folder that
    /// holds them all.
    pub root: PathBuf,
    /// Things worth telling the user (a corpus without a manifest; which group won where
    /// manifests disagree).
    pub notes: Vec<String>,
}

/// Gathers the captures and manifests of the corpus folders `dirs`. A folder given twice is an
/// error; where two manifests give one class different groups, the rule is stated and applied:
/// the first corpus that names the class decides, and a note says so.
pub fn gather(dirs: &[PathBuf]) -> Result<CorpusSources, CorpusError> {
    let mut out = CorpusSources::default();
    let mut seen: Vec<(PathBuf, &Path)> = Vec::new();
    let mut group_from: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in dirs {
        let canonical = dir.canonicalize().map_err(io(dir))?;
        if let Some((_, first)) = seen.iter().find(|(c, _)| *c == canonical) {
            return Err(CorpusError::GivenTwice {
                given: dir.clone(),
                first: first.to_path_buf(),
            });
        }
        seen.push((canonical, dir));
        out.files.extend(list_captures(dir)?);
        let Some(groups) = manifest_groups(dir)? else {
            out.notes.push(format!(
                "{}: no {MANIFEST}, so its classes have no macro group",
                dir.display()
            ));
            continue;
        };
        for (class, group) in groups {
            match out.groups.get(&class) {
                Some(g) if *g != group => out.notes.push(format!(
                    "class {class}: {} says group {group}, {} said {g}; keeping {g} (the first corpus decides)",
                    dir.join(MANIFEST).display(),
                    group_from[&class].join(MANIFEST).display()
                )),
                Some(_) => {}
                None => {
                    group_from.insert(class.clone(), dir.clone());
                    out.groups.insert(class, group);
                }
            }
        }
    }
    out.root = match dirs {
        [one] => one.clone(),
        _ => common_ancestor(&seen.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>()),
    };
    Ok(out)
}

/// The nearest folder that holds every path of `paths` (absolute paths).
fn common_ancestor(paths: &[PathBuf]) -> PathBuf {
    let mut root = paths.first().cloned().unwrap_or_default();
    while !paths.iter().all(|p| p.starts_with(&root)) {
        if !root.pop() {
            break;
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    #[test]
    fn captures_at_any_depth_sorted_links_followed_once() {
        let dir = crate::test_dir("corpus-list");
        for f in [
            "b/2.pcap",
            "b/1.PCAPNG",
            "a/x.cap",
            "a/deep/y.pcap",
            "top.pcap",
        ] {
            touch(&dir.join(f));
        }
        touch(&dir.join("a/notes.txt"));
        touch(&dir.join(MANIFEST));
        // A link back up is read once; a link to a class folder elsewhere is followed.
        std::os::unix::fs::symlink(&dir, dir.join("b/loop")).unwrap();
        let other = crate::test_dir("corpus-list-other");
        touch(&other.join("c/z.pcap"));
        std::os::unix::fs::symlink(other.join("c"), dir.join("c")).unwrap();
        let got: Vec<String> = list_captures(&dir)
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "a/deep/y.pcap",
                "a/x.cap",
                "b/1.PCAPNG",
                "b/2.pcap",
                "c/z.pcap",
                "top.pcap"
            ]
        );
        let one = dir.join("b/2.pcap");
        assert_eq!(list_captures(&one).unwrap(), vec![one.clone()]);
        assert_eq!(corpus_folder(&one), Some(dir.to_path_buf()));
        let empty = dir.join("a/deep/empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            list_captures(&empty),
            Err(CorpusError::NoCaptures(p)) if p == empty
        ));
        assert!(matches!(
            list_captures(&dir.join("missing")),
            Err(CorpusError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&other).unwrap();
    }

    #[test]
    fn one_manifest_policy() {
        let dir = crate::test_dir("corpus-manifest");
        assert_eq!(
            manifest_groups(&dir).unwrap(),
            None,
            "no manifest, no groups"
        );
        let m = dir.join(MANIFEST);
        std::fs::write(
            &m,
            "class,macro,file,notes\nnetflix,video,a.pcap,\"x, y\"\n\ndns,infra,b.pcap,z\nnetflix,video,c.pcap,\n",
        )
        .unwrap();
        let g = manifest_groups(&dir).unwrap().unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g["netflix"], "video");
        assert_eq!(g["dns"], "infra");
        let fails = |text: &str, line: usize, why: &str| {
            std::fs::write(&m, text).unwrap();
            match manifest_groups(&dir) {
                Err(CorpusError::Manifest {
                    path,
                    line: l,
                    why: w,
                }) => {
                    assert_eq!((path, l), (m.clone(), line), "{text:?}");
                    assert!(w.contains(why), "{text:?}: {w}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        };
        fails("", 1, "no `class` and `macro` columns");
        fails("file,label\na,b\n", 1, "no `class` and `macro` columns");
        fails("class,macro\n", 1, "no class rows");
        fails("class,macro\ndns,infra\nssh\n", 3, "missing class or macro");
        fails("class,macro\ndns,\n", 2, "missing class or macro");
        fails(
            "class,macro\ndns,infra\nssh,infra\ndns,other\n",
            4,
            "in group infra on line 2",
        );
        assert!(matches!(
            read_manifest(&dir.join("nothing.csv")),
            Err(CorpusError::Io { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn csv_fields_keep_quoted_commas() {
        assert_eq!(
            csv_fields("a, b ,\"c,d\",\"e\"\"f\""),
            ["a", "b", "c,d", "e\"f"]
        );
        assert_eq!(csv_fields(""), [""]);
    }

    #[test]
    fn unlabelled_capture_is_named() {
        let labels = Labels::from_folders();
        let f = PathBuf::from("x.pcap");
        assert!(matches!(
            label_captures(std::slice::from_ref(&f), &labels),
            Err(CorpusError::Unlabelled(p)) if p == f
        ));
        let g = PathBuf::from("dns/y.pcap");
        assert_eq!(
            label_captures(std::slice::from_ref(&g), &labels).unwrap(),
            vec![(g, "dns".to_string())]
        );
    }
}
