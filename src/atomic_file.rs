//! Files that appear whole or not at all: data goes to a temporary file beside the target,
//! which [`AtomicFile::commit`] syncs and renames over it. Dropped without commit, the temporary
//! file is removed. A target that already exists and is not a regular file (`/dev/null`, a FIFO,
//! `/dev/stdout`) is written straight through instead: renaming over it would replace the device
//! with a plain file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// A buffered writer to a temporary file that becomes `target` on commit.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    /// The temporary file; `None` when writing straight to a special file.
    temp: Option<PathBuf>,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary file for `target` in the same folder, making the folder first when
    /// it does not exist.
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: not a file path", target.display()),
                )
            })?;
        match std::fs::metadata(target) {
            Ok(m) if m.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{}: is a folder, not a file", target.display()),
                ))
            }
            Ok(m) if !m.is_file() => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(target)
                    .map_err(|e| {
                        io::Error::new(e.kind(), format!("opening {}: {e}", target.display()))
                    })?;
                return Ok(AtomicFile {
                    target: target.to_path_buf(),
                    temp: None,
                    out: Some(BufWriter::with_capacity(1 << 20, file)),
                });
            }
            _ => {}
        }
        // Every command treats an output in a folder that does not exist alike: it is made.
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                io::Error::new(e.kind(), format!("creating folder {}: {e}", dir.display()))
            })?;
        }
        let temp = target.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&temp)
            .map_err(|e| io::Error::new(e.kind(), format!("creating {}: {e}", temp.display())))?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp: Some(temp),
            out: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("file already committed"))
    }

    /// Flushes, syncs and renames the temporary file over the target.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("file already committed"))?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        if let Some(temp) = &self.temp {
            file.sync_all()?;
            drop(file);
            std::fs::rename(temp, &self.target)?;
        }
        Ok(self.target.clone())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (Some(_), Some(temp)) = (self.out.take(), &self.temp) {
            let _ = std::fs::remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appears_only_on_commit_and_leaves_nothing_when_dropped() {
        let dir = crate::test_dir("atomic");
        let t = dir.join("a.csv");
        let mut f = AtomicFile::create(&t).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!t.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&t).unwrap(), b"hello");
        let mut g = AtomicFile::create(&dir.join("b.csv")).unwrap();
        g.write_all(b"partial").unwrap();
        drop(g);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_device_is_written_through_and_a_folder_refused() {
        let null = Path::new("/dev/null");
        let mut f = AtomicFile::create(null).unwrap();
        f.write_all(b"discarded").unwrap();
        f.commit().unwrap();
        let m = std::fs::metadata(null).unwrap();
        assert!(!m.is_file(), "/dev/null must stay a device");
        let dir = crate::test_dir("atomic-dir");
        let e = AtomicFile::create(&dir).unwrap_err();
        assert!(e.to_string().contains("is a folder"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
