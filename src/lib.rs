//! netdiffd: learns what real traffic of a class looks like, generates synthetic flows with a
//! diffusion model, repairs them into protocol-compliant packets and replays them.
//!
//! Data walks one way through the stages: [`capture`] → [`flows`] → [`nprint`] → [`model`] →
//! [`repair`] → [`packets`] → [`replay`]. [`wire`] holds the packet header views every stage shares;
//! [`corpus`] reads the labelled real captures every stage that learns from real traffic uses.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod atomic_file;
pub mod baseline;
pub mod capture;
pub mod check;
pub mod corpus;
pub mod eval;
pub mod flows;
pub mod model;
pub mod nprint;
pub mod packets;
pub mod pipeline;
pub mod repair;
pub mod replay;
mod rule_enum;
pub mod seed;
pub mod service;
pub mod truth;
pub mod wire;

/// A scratch folder for unit tests, `netdiffd-TAG-PID-N` under the system's temporary folder,
/// made fresh and removed with everything in it when the test drops it, passed or failed.
#[cfg(test)]
pub(crate) fn test_dir(tag: &str) -> test_scratch::TestDir {
    test_scratch::TestDir::new(tag)
}

#[cfg(test)]
pub(crate) mod test_scratch {
    use std::ops::Deref;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static NEXT: AtomicUsize = AtomicUsize::new(0);

    /// A unit test's scratch folder, removed on drop ([`test_dir`](crate::test_dir)).
    pub struct TestDir(PathBuf);

    impl TestDir {
        pub fn new(tag: &str) -> TestDir {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("netdiffd-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TestDir(dir)
        }
    }

    impl Deref for TestDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl AsRef<Path> for TestDir {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A file in a scratch folder of its own that goes with it on drop; reads as its path.
    pub struct TestFile {
        path: PathBuf,
        _dir: TestDir,
    }

    impl TestFile {
        /// The path `name` will have in a new scratch folder tagged `tag`.
        pub fn new(tag: &str, name: &str) -> TestFile {
            let dir = TestDir::new(tag);
            TestFile {
                path: dir.join(name),
                _dir: dir,
            }
        }
    }

    impl Deref for TestFile {
        type Target = PathBuf;
        fn deref(&self) -> &PathBuf {
            &self.path
        }
    }
}
