//! The capture file reader: classic pcap (µs and ns, either byte order) and pcapng (per-interface
//! link type and timestamp resolution).

use super::error::{CaptureError, CaptureErrorKind};
use super::linktype::{linktype_name, LinkType};
use super::Frame;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

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

/// Streams the frames of one capture file.
pub struct CaptureReader {
    path: PathBuf,
    input: Box<dyn Read + Send>,
    offset: u64,
    records: u64,
    format: CaptureFormat,
    swapped: bool,
    link: LinkType,
}

impl std::fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("records", &self.records)
            .finish()
    }
}

impl CaptureReader {
    /// Opens `path` and reads its file header.
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
        let mut r = CaptureReader {
            path: name.to_path_buf(),
            input: Box::new(input),
            offset: 0,
            records: 0,
            format: CaptureFormat::PcapMicro,
            swapped: false,
            link: LinkType::Ethernet,
        };
        let mut hdr = [0u8; 24];
        let got = r.read_up_to(&mut hdr)?;
        if got == 0 {
            return Err(r.err(None, CaptureErrorKind::Empty));
        }
        if got < 4 {
            return Err(r.err(
                None,
                CaptureErrorKind::Truncated {
                    what: "file header",
                    need: 24,
                    have: got as u64,
                },
            ));
        }
        let magic = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
        match magic {
            0xa1b2c3d4 => {}
            0xd4c3b2a1 => r.swapped = true,
            0xa1b23c4d => r.format = CaptureFormat::PcapNano,
            0x4d3cb2a1 => {
                r.format = CaptureFormat::PcapNano;
                r.swapped = true
            }
            other => return Err(r.err(None, CaptureErrorKind::BadMagic(other))),
        }
        if got < 24 {
            return Err(r.err(
                None,
                CaptureErrorKind::Truncated {
                    what: "file header",
                    need: 24,
                    have: got as u64,
                },
            ));
        }
        let major = r.u16_at(&hdr, 4);
        let minor = r.u16_at(&hdr, 6);
        if major != 2 {
            return Err(r.err(None, CaptureErrorKind::Version { major, minor }));
        }
        let lt = r.u32_at(&hdr, 20) & 0x0fff_ffff;
        r.link = LinkType::from_number(lt);
        if !r.link.is_supported() {
            return Err(r.err(
                None,
                CaptureErrorKind::UnsupportedLinkType {
                    number: lt,
                    name: linktype_name(lt),
                },
            ));
        }
        r.offset = 24;
        Ok(r)
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Packet records read so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// Reads the next frame into `frame` (reusing its buffer); `Ok(false)` at the end of the file.
    pub fn read_into(&mut self, frame: &mut Frame) -> Result<bool, CaptureError> {
        let mut rec = [0u8; 16];
        let start = self.offset;
        let got = self.read_up_to(&mut rec)?;
        if got == 0 {
            return Ok(false);
        }
        let record = self.records + 1;
        if got < 16 {
            return Err(self.err_at(
                Some(record),
                start,
                CaptureErrorKind::Truncated {
                    what: "record header",
                    need: 16,
                    have: got as u64,
                },
            ));
        }
        let sec = u64::from(self.u32_at(&rec, 0));
        let frac = u64::from(self.u32_at(&rec, 4));
        let caplen = self.u32_at(&rec, 8);
        let origlen = self.u32_at(&rec, 12);
        if caplen > MAX_RECORD_LEN {
            return Err(self.err_at(
                Some(record),
                start,
                CaptureErrorKind::BadLength {
                    what: "captured",
                    len: u64::from(caplen),
                    why: "larger than 256 KiB",
                },
            ));
        }
        frame.data.resize(caplen as usize, 0);
        let got = self.read_up_to_vec(frame)?;
        if got < caplen as usize {
            return Err(self.err_at(
                Some(record),
                start,
                CaptureErrorKind::Truncated {
                    what: "packet data",
                    need: u64::from(caplen),
                    have: got as u64,
                },
            ));
        }
        let frac_ns = match self.format {
            CaptureFormat::PcapNano => frac,
            _ => frac * 1000,
        };
        self.records = record;
        frame.record = record;
        frame.ts_ns = sec * 1_000_000_000 + frac_ns;
        frame.orig_len = origlen.max(caplen);
        frame.link = self.link;
        Ok(true)
    }

    fn read_up_to_vec(&mut self, frame: &mut Frame) -> Result<usize, CaptureError> {
        let mut buf = std::mem::take(&mut frame.data);
        let r = self.read_up_to(&mut buf);
        frame.data = buf;
        r
    }

    fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, CaptureError> {
        let mut n = 0;
        while n < buf.len() {
            match self.input.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.err(Some(self.records + 1), CaptureErrorKind::Io(e))),
            }
        }
        self.offset += n as u64;
        Ok(n)
    }

    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.swapped {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.swapped {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    fn err(&self, record: Option<u64>, kind: CaptureErrorKind) -> CaptureError {
        self.err_at(record, self.offset, kind)
    }

    fn err_at(&self, record: Option<u64>, offset: u64, kind: CaptureErrorKind) -> CaptureError {
        CaptureError {
            path: self.path.clone(),
            record,
            offset,
            kind,
        }
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
