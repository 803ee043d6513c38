//! Errors of the capture reader: each names the file, and where it applies the record number
//! and byte offset.

use std::fmt;
use std::path::PathBuf;

/// What went wrong reading a capture file.
#[derive(Debug, thiserror::Error)]
pub enum CaptureErrorKind {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is empty.
    #[error("file is empty")]
    Empty,
    /// The first bytes are neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng file (magic number 0x{0:08x})")]
    BadMagic(u32),
    /// A file or section header with a version this reader does not know.
    #[error("unsupported format version {major}.{minor}")]
    Version {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// The file ends inside a header or record.
    #[error("truncated {what}: need {need} bytes, only {have} left")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// A record or block length that cannot be right.
    #[error("{what} length {len} is invalid ({why})")]
    BadLength {
        /// What carries the length.
        what: &'static str,
        /// The value found.
        len: u64,
        /// Why it is rejected.
        why: &'static str,
    },
    /// A link type netdiffd cannot dissect.
    #[error("unsupported link type {number} ({name})")]
    UnsupportedLinkType {
        /// LINKTYPE number.
        number: u32,
        /// Its name, or "unknown".
        name: &'static str,
    },
    /// A pcapng packet that refers to an interface no IDB declared.
    #[error("packet refers to interface {0}, which the section does not declare")]
    UnknownInterface(u32),
    /// A pcapng option or field that is malformed.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// An error reading a capture file, with its location.
#[derive(Debug)]
pub struct CaptureError {
    /// The file.
    pub path: PathBuf,
    /// 1-based number of the packet record being read when the error occurred; in pcapng that
    /// is the next packet record even when the failing block is another kind. `None` for errors
    /// in the file header or the first section header.
    pub record: Option<u64>,
    /// Byte offset in the file where the failing header or record starts.
    pub offset: u64,
    /// What went wrong.
    pub kind: CaptureErrorKind,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(r) = self.record {
            write!(f, ": record {r}")?;
        }
        write!(f, " (offset {}): {}", self.offset, self.kind)
    }
}

// The Display above already says what the kind says; reporting the kind again as the source
// would print every message twice in an error chain.
impl std::error::Error for CaptureError {}
