//! Scratch folders of the integration tests: each made fresh under the temporary folder and
//! removed, with everything in it, when the test that made it drops it, passed or failed.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A folder of its own under the temporary folder (`netdiffd-TAG-PID-N`), removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Makes a new, empty folder; a name taken already (another copy of this module in the
    /// same test binary counts from 0 too) is passed over.
    pub fn new(tag: &str) -> TempDir {
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("netdiffd-{tag}-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return TempDir(dir),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot make {}: {e}", dir.display()),
            }
        }
    }

    /// The path of `name` in the folder.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file named as the test names it, in a scratch folder of its own that goes with it on
/// drop; it reads as its path.
pub struct TempFile {
    path: PathBuf,
    _dir: TempDir,
}

impl TempFile {
    /// The path `name` will have in a new scratch folder (the file itself is the caller's to
    /// write).
    pub fn new(tag: &str, name: &str) -> TempFile {
        let dir = TempDir::new(tag);
        TempFile {
            path: dir.join(name),
            _dir: dir,
        }
    }
}

impl Deref for TempFile {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.path
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for TempFile {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}
