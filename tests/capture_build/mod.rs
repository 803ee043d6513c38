//! Builders for synthetic capture files, shared by the capture tests: pcap headers and records,
//! pcapng blocks in either byte order, and temporary files that remove themselves.
#![allow(dead_code)]

use netdiffd::capture::{CaptureError, CaptureReader, Frame};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A pcap file header (format 2.4, µs, little-endian) with link type `link`.
pub fn pcap_header(link: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    h.extend_from_slice(&2u16.to_le_bytes());
    h.extend_from_slice(&4u16.to_le_bytes());
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&65535u32.to_le_bytes());
    h.extend_from_slice(&link.to_le_bytes());
    h
}

/// A little-endian pcap record header claiming `caplen`/`origlen`, followed by `data`.
pub fn pcap_record(sec: u32, usec: u32, caplen: u32, origlen: u32, data: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    for v in [sec, usec, caplen, origlen] {
        r.extend_from_slice(&v.to_le_bytes());
    }
    r.extend_from_slice(data);
    r
}

/// A pcapng file under construction.
pub struct Ng {
    big: bool,
    /// The bytes so far.
    pub bytes: Vec<u8>,
}

impl Ng {
    /// A file that starts with a version 1.0 section in big-endian (`big`) or little-endian order.
    pub fn new(big: bool) -> Ng {
        let mut ng = Ng {
            big,
            bytes: Vec::new(),
        };
        ng.section(big);
        ng
    }

    pub fn u16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    pub fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// Starts a new section (Section Header Block, version 1.0, unknown section length).
    pub fn section(&mut self, big: bool) -> &mut Ng {
        self.big = big;
        let mut body = self.u32(0x1a2b_3c4d).to_vec();
        body.extend_from_slice(&self.u16(1));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&[0xff; 8]);
        self.block(0x0a0d_0d0a, &body)
    }

    /// Appends a block of type `btype` with `body` padded to 4 bytes.
    pub fn block(&mut self, btype: u32, body: &[u8]) -> &mut Ng {
        let padded = body.len().next_multiple_of(4);
        let len = (padded + 12) as u32;
        self.raw_block(btype, len, body, len)
    }

    /// Appends a block with the given leading and trailing lengths, whatever they are.
    pub fn raw_block(&mut self, btype: u32, len: u32, body: &[u8], trailer: u32) -> &mut Ng {
        let head = [self.u32(btype), self.u32(len)].concat();
        self.bytes.extend_from_slice(&head);
        self.bytes.extend_from_slice(body);
        self.bytes.resize(
            self.bytes.len() + body.len().next_multiple_of(4) - body.len(),
            0,
        );
        let t = self.u32(trailer);
        self.bytes.extend_from_slice(&t);
        self
    }

    /// The options area for `opts` (code, value), with the end-of-options marker.
    pub fn options(&self, opts: &[(u16, &[u8])]) -> Vec<u8> {
        let mut o = Vec::new();
        for (code, value) in opts {
            o.extend_from_slice(&self.u16(*code));
            o.extend_from_slice(&self.u16(value.len() as u16));
            o.extend_from_slice(value);
            o.resize(o.len().next_multiple_of(4), 0);
        }
        if !opts.is_empty() {
            o.extend_from_slice(&[0; 4]);
        }
        o
    }

    /// Appends an Interface Description Block.
    pub fn idb(&mut self, link: u16, snaplen: u32, opts: &[(u16, &[u8])]) -> &mut Ng {
        let mut body = self.u16(link).to_vec();
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&self.u32(snaplen));
        body.extend_from_slice(&self.options(opts));
        self.block(1, &body)
    }

    /// The body of an Enhanced Packet Block that claims `caplen` and holds `data`.
    pub fn epb_body(&self, iface: u32, ts: u64, caplen: u32, origlen: u32, data: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        for v in [iface, (ts >> 32) as u32, ts as u32, caplen, origlen] {
            body.extend_from_slice(&self.u32(v));
        }
        body.extend_from_slice(data);
        body
    }

    /// Appends an Enhanced Packet Block with the whole of `data` captured.
    pub fn epb(&mut self, iface: u32, ts: u64, data: &[u8]) -> &mut Ng {
        let body = self.epb_body(iface, ts, data.len() as u32, data.len() as u32, data);
        self.block(6, &body)
    }

    /// Appends a Simple Packet Block.
    pub fn spb(&mut self, origlen: u32, data: &[u8]) -> &mut Ng {
        let mut body = self.u32(origlen).to_vec();
        body.extend_from_slice(data);
        self.block(3, &body)
    }

    /// Appends an obsolete Packet Block with the whole of `data` captured.
    pub fn pb(&mut self, iface: u16, ts: u64, data: &[u8]) -> &mut Ng {
        let mut body = self.u16(iface).to_vec();
        body.extend_from_slice(&self.u16(0));
        for v in [
            (ts >> 32) as u32,
            ts as u32,
            data.len() as u32,
            data.len() as u32,
        ] {
            body.extend_from_slice(&self.u32(v));
        }
        body.extend_from_slice(data);
        self.block(2, &body)
    }
}

/// A file under the temporary directory with a unique name, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// Writes `bytes` to a new file whose name contains `tag`.
    pub fn new(tag: &str, bytes: &[u8]) -> TempFile {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("netdiffd-capture-{}-{n}-{tag}.cap", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads `bytes` from a temporary file: the frames read, and the error that ended reading, if
/// any (from opening or from a record). Checks that the reader yields nothing after the end.
pub fn read(tag: &str, bytes: &[u8]) -> (Vec<Frame>, Option<CaptureError>) {
    let file = TempFile::new(tag, bytes);
    let mut reader = match CaptureReader::open(file.path()) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut frames = Vec::new();
    let mut error = None;
    for item in reader.by_ref() {
        match item {
            Ok(f) => frames.push(f),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert!(
        reader.next().is_none(),
        "{tag}: the reader yields nothing after its end"
    );
    (frames, error)
}

/// Reads `bytes` that must fail; returns the frames before the error, the error and its message.
pub fn read_err(tag: &str, bytes: &[u8]) -> (Vec<Frame>, CaptureError, String) {
    let (frames, err) = read(tag, bytes);
    let err = err.unwrap_or_else(|| panic!("{tag}: read without error"));
    let msg = err.to_string();
    assert!(
        msg.contains(tag),
        "{tag}: message does not name the file: {msg}"
    );
    (frames, err, msg)
}
