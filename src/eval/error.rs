//! Errors of the evaluation: each names the file, class or value at fault.

use std::path::PathBuf;

/// What went wrong evaluating synthetic traffic.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A capture could not be read.
    #[error(transparent)]
    Capture(#[from] crate::capture::CaptureError),
    /// A labels CSV could not be read.
    #[error(transparent)]
    Labels(#[from] crate::flows::LabelError),
    /// The check of a capture failed to run.
    #[error(transparent)]
    Check(#[from] crate::check::CheckError),
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Captures could not be listed or labelled, or a manifest is not valid.
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    /// A held-out file name that matches no real capture.
    #[error("held-out file {0:?} matches no real capture")]
    UnknownHoldout(String),
    /// A class → group line that does not parse.
    #[error("class group {0:?}: expected CLASS=GROUP")]
    BadGroup(String),
    /// Nothing to evaluate.
    #[error("nothing to evaluate: give synthetic traffic, baselines, or both")]
    NothingToEvaluate,
    /// A baseline could not be built.
    #[error(transparent)]
    Baseline(#[from] crate::baseline::BaselineError),
    /// A plot could not be drawn.
    #[error("plot {path}: {why}")]
    Plot {
        /// The PNG being drawn.
        path: PathBuf,
        /// What failed.
        why: String,
    },
    /// tshark ran but failed.
    #[error("tshark on {path}: {why}")]
    Tshark {
        /// The capture.
        path: PathBuf,
        /// What failed.
        why: String,
    },
}

impl EvalError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> EvalError {
        EvalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
