//! Class labels of capture files: the name of the folder a capture sits in, or a labels CSV of
//! `file,label` lines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Errors reading a labels CSV.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The labels file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line without two fields.
    #[error("{path}: line {line}: expected `file,label`, found {found:?}")]
    BadLine {
        /// The labels file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line.
        found: String,
    },
}

/// Where labels come from.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    map: Option<HashMap<String, String>>,
}

impl Labels {
    /// Labels from each capture's folder name.
    pub fn from_folders() -> Labels {
        Labels { map: None }
    }

    /// Labels from a CSV of `file,label` lines (a `file,label` header line is allowed; `file`
    /// may be a path or a bare file name, matched against the capture's path and file name).
    pub fn from_csv(path: &Path) -> Result<Labels, LabelError> {
        let text = std::fs::read_to_string(path).map_err(|source| LabelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut map = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || (i == 0 && line == "file,label") {
                continue;
            }
            match line.split_once(',') {
                Some((f, l)) if !f.trim().is_empty() && !l.trim().is_empty() => {
                    map.insert(f.trim().to_string(), l.trim().to_string());
                }
                _ => {
                    return Err(LabelError::BadLine {
                        path: path.to_path_buf(),
                        line: i + 1,
                        found: line.to_string(),
                    })
                }
            }
        }
        Ok(Labels { map: Some(map) })
    }

    /// The label of the capture at `capture`, if any.
    pub fn label_for(&self, capture: &Path) -> Option<String> {
        match &self.map {
            None => capture
                .parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| !n.is_empty()),
            Some(map) => {
                let full = capture.to_string_lossy();
                if let Some(l) = map.get(full.as_ref()) {
                    return Some(l.clone());
                }
                if let Some((_, l)) = map.iter().find(|(k, _)| full.ends_with(k.as_str())) {
                    return Some(l.clone());
                }
                let name = capture.file_name()?.to_string_lossy();
                map.get(name.as_ref()).cloned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_and_csv_labels() {
        assert_eq!(
            Labels::from_folders()
                .label_for(Path::new("/c/netflix/a.pcap"))
                .as_deref(),
            Some("netflix")
        );
        let p = std::env::temp_dir().join(format!("netdiffd-labels-{}.csv", std::process::id()));
        std::fs::write(&p, "file,label\nzoom/zoom.pcap,zoom\nx.pcap, scan \n").unwrap();
        let l = Labels::from_csv(&p).unwrap();
        assert_eq!(
            l.label_for(Path::new("/d/zoom/zoom.pcap")).as_deref(),
            Some("zoom")
        );
        assert_eq!(
            l.label_for(Path::new("/elsewhere/x.pcap")).as_deref(),
            Some("scan")
        );
        assert_eq!(l.label_for(Path::new("/elsewhere/y.pcap")), None);
        std::fs::write(&p, "just-one-field\n").unwrap();
        let e = Labels::from_csv(&p).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        std::fs::remove_file(&p).unwrap();
    }
}
