//! Errors of `netdiffd check`.

use crate::capture::CaptureError;

/// Why a capture could not be checked. Violations are not errors: they are the report.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The capture file could not be read; the error names the file, and the record where
    /// it applies.
    #[error(transparent)]
    Capture(#[from] CaptureError),
}
