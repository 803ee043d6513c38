//! The spool directory: where job pcaps are written (whole or not at all), and their
//! retention by count and age. Only files named like the daemon's own are ever removed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const PREFIX: &str = "netdiffd-job-";
const SUFFIX: &str = ".pcap";
/// What a job's ground-truth file adds to the pcap's name in place of [`SUFFIX`].
const LABELS_SUFFIX: &str = ".flows.jsonl";

/// Why the spool cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("spool directory {path} (key `output.spool`): {error}")]
pub struct SpoolError {
    /// The directory.
    pub path: PathBuf,
    /// The cause.
    pub error: std::io::Error,
}

/// Creates the spool directory when missing and checks that it is writable; removes temporary
/// files that an earlier run left behind when it was killed mid-write.
pub fn prepare(dir: &Path) -> Result<(), SpoolError> {
    let err = |error| SpoolError {
        path: dir.to_path_buf(),
        error,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let probe = dir.join(format!(".netdiffd-probe.{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(err)?;
    let _ = std::fs::remove_file(&probe);
    for entry in std::fs::read_dir(dir).map_err(err)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!(".{PREFIX}")) && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// The pcap path of a job: unique across restarts (it carries the submission time).
pub fn job_path(dir: &Path, id: u64, submitted: SystemTime) -> PathBuf {
    let t = chrono::DateTime::<chrono::Utc>::from(submitted);
    dir.join(format!(
        "{PREFIX}{}-{id}{SUFFIX}",
        t.format("%Y%m%dT%H%M%S%.3fZ")
    ))
}

/// The ground-truth (labels) file beside a job's pcap.
pub fn labels_path(pcap: &Path) -> PathBuf {
    let name = pcap
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(SUFFIX).unwrap_or(&name);
    pcap.with_file_name(format!("{stem}{LABELS_SUFFIX}"))
}

/// Removes job files (pcaps, and labels files on their own count) beyond the newest `keep` and those older than `max_age`, except
/// `in_use`; returns how many were removed.
pub fn prune(dir: &Path, keep: usize, max_age: Duration, in_use: &[PathBuf]) -> usize {
    let labels_in_use: Vec<PathBuf> = in_use.iter().map(|p| labels_path(p)).collect();
    prune_kind(dir, SUFFIX, keep, max_age, in_use)
        + prune_kind(dir, LABELS_SUFFIX, keep, max_age, &labels_in_use)
}

fn prune_kind(
    dir: &Path,
    suffix: &str,
    keep: usize,
    max_age: Duration,
    in_use: &[PathBuf],
) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut files: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(PREFIX) && name.ends_with(suffix)
        })
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            Some((modified, e.path()))
        })
        .filter(|(_, p)| !in_use.contains(p))
        .collect();
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let now = SystemTime::now();
    let mut removed = 0;
    for (i, (modified, path)) in files.iter().enumerate() {
        let old = now.duration_since(*modified).unwrap_or_default() > max_age;
        if (i >= keep || old) && std::fs::remove_file(path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_keeps_the_newest_and_only_touches_job_files() {
        let dir = std::env::temp_dir().join(format!("netdiffd-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        prepare(&dir).unwrap();
        std::fs::write(dir.join(format!(".{PREFIX}x.pcap.1.tmp")), b"").unwrap();
        std::fs::write(dir.join("other.pcap"), b"").unwrap();
        let mut paths = Vec::new();
        for i in 0..4u64 {
            let p = job_path(&dir, i, SystemTime::UNIX_EPOCH + Duration::from_secs(i));
            std::fs::write(&p, b"x").unwrap();
            let t = SystemTime::now() - Duration::from_secs(100 - i);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
            paths.push(p);
        }
        prepare(&dir).unwrap();
        assert!(!dir.join(format!(".{PREFIX}x.pcap.1.tmp")).exists());
        assert_eq!(
            prune(&dir, 2, Duration::from_secs(3600), &[paths[0].clone()]),
            1
        );
        assert!(paths[0].exists() && !paths[1].exists() && paths[2].exists() && paths[3].exists());
        assert_eq!(prune(&dir, 10, Duration::from_secs(98), &[]), 2);
        assert!(paths[3].exists() && dir.join("other.pcap").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
