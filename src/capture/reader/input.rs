//! The byte source under a capture reader: counts the offset, reads short at the end of the file
//! instead of failing, and turns positions into located errors.

use super::super::error::{CaptureError, CaptureErrorKind};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Byte order of a capture file or pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endian {
    Little,
    Big,
}

impl Endian {
    pub(super) fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let v: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u16::from_le_bytes(v),
            Endian::Big => u16::from_be_bytes(v),
        })
    }

    pub(super) fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let v: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u32::from_le_bytes(v),
            Endian::Big => u32::from_be_bytes(v),
        })
    }

    pub(super) fn u64(self, b: &[u8], at: usize) -> Option<u64> {
        let v: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(match self {
            Endian::Little => u64::from_le_bytes(v),
            Endian::Big => u64::from_be_bytes(v),
        })
    }
}

/// A byte stream with its position and the name used in errors.
pub(super) struct Input {
    inner: Box<dyn Read + Send>,
    offset: u64,
    path: PathBuf,
}

impl Input {
    pub(super) fn new(inner: Box<dyn Read + Send>, path: &Path) -> Input {
        Input {
            inner,
            offset: 0,
            path: path.to_path_buf(),
        }
    }

    /// The underlying stream, positioned where this input stopped.
    pub(super) fn into_inner(self) -> Box<dyn Read + Send> {
        self.inner
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Byte offset of the next byte to be read.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads until `buf` is full or the input ends; returns the count read.
    pub(super) fn fill(
        &mut self,
        buf: &mut [u8],
        record: Option<u64>,
    ) -> Result<usize, CaptureError> {
        let mut n = 0;
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_err(record, e)),
            }
        }
        self.offset += n as u64;
        Ok(n)
    }

    /// Replaces the contents of `buf` with up to `len` bytes; returns the count read. The buffer
    /// grows only as bytes arrive, so a huge claimed length on a short input allocates little.
    pub(super) fn read_vec(
        &mut self,
        len: u64,
        buf: &mut Vec<u8>,
        record: Option<u64>,
    ) -> Result<usize, CaptureError> {
        buf.clear();
        match Read::by_ref(&mut self.inner).take(len).read_to_end(buf) {
            Ok(n) => {
                self.offset += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.io_err(record, e)),
        }
    }

    pub(super) fn err(
        &self,
        record: Option<u64>,
        offset: u64,
        kind: CaptureErrorKind,
    ) -> CaptureError {
        CaptureError {
            path: self.path.clone(),
            record,
            offset,
            kind,
        }
    }

    fn io_err(&self, record: Option<u64>, e: std::io::Error) -> CaptureError {
        self.err(record, self.offset, CaptureErrorKind::Io(e))
    }
}
