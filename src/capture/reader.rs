//! The capture file reader: classic pcap (µs and ns, either byte order) and pcapng (per-interface
//! link type and timestamp resolution, any number of sections).

mod input;
mod pcap;
mod pcapng;

use super::error::{CaptureError, CaptureErrorKind};
use super::Frame;
use input::Input;
use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::path::Path;

/// Largest captured length a record may claim; larger ones are corrupt (libpcap's own bound for
/// the largest link types is 256 KiB).
pub const MAX_RECORD_LEN: u32 = 256 * 1024;

/// The container format of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic pcap with microsecond timestamps.
    PcapMicro,
    /// Classic pcap with nanosecond timestamps.
    PcapNano,
    /// pcapng.
    Pcapng,
}

#[derive(Debug)]
enum Container {
    Pcap(pcap::Pcap),
    Pcapng(pcapng::Pcapng),
}

/// Streams the frames of one capture file. After the end of the file or the first error it
/// yields nothing more.
pub struct CaptureReader {
    input: Input,
    container: Container,
    records: u64,
    done: bool,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.input.path())
            .field("format", &self.format())
            .field("records", &self.records)
            .finish()
    }
}

impl CaptureReader {
    /// Opens `path` and reads its file header (pcap) or first section header (pcapng).
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let file = File::open(path).map_err(|e| CaptureError {
            path: path.to_path_buf(),
            record: None,
            offset: 0,
            kind: CaptureErrorKind::Io(e),
        })?;
        Self::from_reader(BufReader::with_capacity(1 << 16, file), path)
    }

    /// Reads a capture from any byte stream; `name` is used in error messages.
    pub fn from_reader(
        input: impl Read + Send + 'static,
        name: &Path,
    ) -> Result<CaptureReader, CaptureError> {
        let mut probe = Input::new(Box::new(input), name);
        let mut magic = [0u8; 4];
        let got = probe.fill(&mut magic, None)?;
        if got == 0 {
            return Err(probe.err(None, 0, CaptureErrorKind::Empty));
        }
        if got < magic.len() {
            let kind = CaptureErrorKind::Truncated {
                what: "magic number",
                need: 4,
                have: got as u64,
            };
            return Err(probe.err(None, 0, kind));
        }
        // Put the magic back in front so each container parses its header from offset 0.
        let rest = probe.into_inner();
        let mut input = Input::new(Box::new(Cursor::new(magic).chain(rest)), name);
        let container = if u32::from_le_bytes(magic) == pcapng::SHB {
            Container::Pcapng(pcapng::Pcapng::open(&mut input)?)
        } else {
            Container::Pcap(pcap::Pcap::open(&mut input)?)
        };
        Ok(CaptureReader {
            input,
            container,
            records: 0,
            done: false,
        })
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        match &self.container {
            Container::Pcap(p) if p.nano() => CaptureFormat::PcapNano,
            Container::Pcap(_) => CaptureFormat::PcapMicro,
            Container::Pcapng(_) => CaptureFormat::Pcapng,
        }
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        self.input.path()
    }

    /// Packet records read so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Reads the next frame into `frame` (reusing its buffer); `Ok(false)` at the end of the
    /// file, and on every call after an error.
    pub fn read_into(&mut self, frame: &mut Frame) -> Result<bool, CaptureError> {
        if self.done {
            return Ok(false);
        }
        let record = self.records + 1;
        let got = match &mut self.container {
            Container::Pcap(p) => p.next(&mut self.input, record, frame),
            Container::Pcapng(p) => p.next(&mut self.input, record, frame),
        };
        match got {
            Ok(true) => self.records = record,
            Ok(false) | Err(_) => self.done = true,
        }
        got
    }
}

impl Iterator for CaptureReader {
    type Item = Result<Frame, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut f = Frame::default();
        match self.read_into(&mut f) {
            Ok(true) => Some(Ok(f)),
            Ok(false) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl std::iter::FusedIterator for CaptureReader {}
