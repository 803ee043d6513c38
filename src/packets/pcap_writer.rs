//! Classic pcap writing, atomic (see [`AtomicFile`]): a writer dropped without
//! [`PcapWriter::commit`] leaves nothing under the target name.

use crate::atomic_file::AtomicFile;
use crate::capture::LinkType;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Timestamp resolution of a written pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TsResolution {
    /// Microseconds (magic 0xa1b2c3d4), what every tool reads.
    #[default]
    Micro,
    /// Nanoseconds (magic 0xa1b23c4d).
    Nano,
}

/// Largest frame a record may hold.
const SNAPLEN: u32 = 262_144;

/// Writes a pcap file atomically.
#[derive(Debug)]
pub struct PcapWriter {
    out: AtomicFile,
    resolution: TsResolution,
    records: u64,
}

impl PcapWriter {
    /// Starts writing `target` (through a temporary file in the same folder).
    pub fn create(target: &Path, link: LinkType, resolution: TsResolution) -> io::Result<Self> {
        let mut out = AtomicFile::create(target)?;
        let magic: u32 = match resolution {
            TsResolution::Micro => 0xa1b2_c3d4,
            TsResolution::Nano => 0xa1b2_3c4d,
        };
        let mut hdr = Vec::with_capacity(24);
        hdr.extend_from_slice(&magic.to_le_bytes());
        hdr.extend_from_slice(&2u16.to_le_bytes());
        hdr.extend_from_slice(&4u16.to_le_bytes());
        hdr.extend_from_slice(&0i32.to_le_bytes());
        hdr.extend_from_slice(&0u32.to_le_bytes());
        hdr.extend_from_slice(&SNAPLEN.to_le_bytes());
        hdr.extend_from_slice(&link.number().to_le_bytes());
        out.write_all(&hdr)?;
        Ok(PcapWriter {
            out,
            resolution,
            records: 0,
        })
    }

    /// Appends one frame captured at `ts_ns` (nanoseconds since the Unix epoch).
    pub fn write(&mut self, ts_ns: u64, frame: &[u8]) -> io::Result<()> {
        if frame.len() > SNAPLEN as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "frame of {} bytes exceeds the {SNAPLEN}-byte snap length",
                    frame.len()
                ),
            ));
        }
        let secs = u32::try_from(ts_ns / 1_000_000_000).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("timestamp {ts_ns} ns after 2106"),
            )
        })?;
        let frac = match self.resolution {
            TsResolution::Micro => (ts_ns % 1_000_000_000) / 1000,
            TsResolution::Nano => ts_ns % 1_000_000_000,
        } as u32;
        let len = frame.len() as u32;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&frac.to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(frame)?;
        self.records += 1;
        Ok(())
    }

    /// Frames written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes, syncs and renames the temporary file over the target.
    pub fn commit(self) -> io::Result<PathBuf> {
        self.out.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureReader;

    #[test]
    fn writes_readable_file_only_on_commit() {
        let dir = crate::test_dir("pcapw");
        let target = dir.join("out.pcap");
        let mut w = PcapWriter::create(&target, LinkType::Raw, TsResolution::Nano).unwrap();
        w.write(1_700_000_000_123_456_789, &[0x45, 0, 0, 20])
            .unwrap();
        assert!(!target.exists(), "target must not appear before commit");
        w.commit().unwrap();
        let frames: Vec<_> = CaptureReader::open(&target)
            .unwrap()
            .map(|f| f.unwrap())
            .collect();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].ts_ns, 1_700_000_000_123_456_789);
        assert_eq!(frames[0].link, LinkType::Raw);

        let dropped = dir.join("dropped.pcap");
        let mut w = PcapWriter::create(&dropped, LinkType::Raw, TsResolution::Micro).unwrap();
        w.write(0, &[1, 2, 3]).unwrap();
        drop(w);
        assert!(!dropped.exists());
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "only the committed file remains");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
