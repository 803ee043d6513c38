//! Frames to send, from capture files: loaded whole into one arena (`--preload`), or read in
//! chunks as the replay goes. Either way each frame is framed for the interface and checked
//! against its MTU once, when it is read.

use super::error::ReplayError;
use super::iface::{IfaceFraming, InterfaceInfo};
use super::link::{self, Framing};
use super::split::{Side, SplitPlan, Splitter};
use crate::capture::{dissect, CaptureReader, Frame, L3};
use crate::wire::IpProtocol;
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The capture cut this frame short; it is sent as captured.
pub(crate) const TRUNCATED: u8 = 1;
/// Larger than the interface takes; not sent.
pub(crate) const OVERSIZE: u8 = 2;
/// No IP packet to re-frame for the interface; not sent.
pub(crate) const UNFRAMEABLE: u8 = 4;
/// Inline replay: leaves on the second interface (the flow's server side).
pub(crate) const SECONDARY: u8 = 8;
/// Inline replay: a tcpprep cache file says not to send it.
pub(crate) const SKIP: u8 = 16;

/// Where one frame is in an arena, and what is known about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PacketMeta {
    /// Index of the frame in its capture file, from 0.
    pub(crate) index: u64,
    pub(crate) ts_ns: u64,
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) flags: u8,
}

/// Frames stored back to back.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    pub(crate) data: Vec<u8>,
    pub(crate) meta: Vec<PacketMeta>,
}

impl Arena {
    fn clear(&mut self) {
        self.data.clear();
        self.meta.clear();
    }
}

/// A run of frames handed to the engine.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) meta: &'a [PacketMeta],
}

impl<'a> Chunk<'a> {
    pub(crate) fn bytes(&self, m: &PacketMeta) -> &'a [u8] {
        &self.data[m.start..m.start + m.len]
    }
}

/// A flow: protocol and its two endpoints, the lower one first.
type FlowKey = (IpProtocol, (IpAddr, u16), (IpAddr, u16));

/// Distinct flows (5-tuples, both directions as one).
#[derive(Debug, Default)]
pub(crate) struct FlowCounter {
    seen: HashSet<FlowKey>,
}

impl FlowCounter {
    fn add(&mut self, frame: &Frame) {
        let Ok(d) = dissect(frame) else { return };
        let (src, dst) = match d.l3 {
            L3::V4(ip) => (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr())),
            L3::V6(ip) => (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr())),
        };
        let (sp, dp) = d.l4.ports();
        let (a, b) = ((src, sp), (dst, dp));
        self.seen.insert((d.l4.proto(), a.min(b), a.max(b)));
    }

    pub(crate) fn len(&self) -> u64 {
        self.seen.len() as u64
    }
}

/// How frames of one file are prepared for the interface.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Preparer {
    framing: Framing,
    ethernet_out: bool,
    mtu: usize,
}

impl Preparer {
    fn push(
        &self,
        frame: &Frame,
        index: u64,
        side: Side,
        arena: &mut Arena,
        scratch: &mut Vec<u8>,
    ) {
        let mut flags = match side {
            Side::Primary => 0,
            Side::Secondary => SECONDARY,
            Side::Skip => SKIP,
        };
        if (frame.orig_len as usize) > frame.data.len() {
            flags |= TRUNCATED;
        }
        let bytes: &[u8] = match self.framing {
            Framing::AsIs => &frame.data,
            f => {
                if link::reframe(f, frame.link, &frame.data, scratch) {
                    scratch
                } else {
                    flags |= UNFRAMEABLE;
                    &[]
                }
            }
        };
        let header = if self.ethernet_out {
            link::ethernet_header_len(bytes)
        } else {
            0
        };
        let bytes = if bytes.len() > self.mtu + header {
            flags |= OVERSIZE;
            &[]
        } else {
            bytes
        };
        let start = arena.data.len();
        arena.data.extend_from_slice(bytes);
        arena.meta.push(PacketMeta {
            index,
            ts_ns: frame.ts_ns,
            start,
            len: bytes.len(),
            flags,
        });
    }
}

/// One capture file, checked and ready to replay.
#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) path: PathBuf,
    pub(crate) preparer: Preparer,
    pub(crate) preloaded: Option<Arena>,
    pub(crate) flows: Option<u64>,
    split: SplitPlan,
}

impl Input {
    /// Opens `path`, checks that it has packets of a link type the interface can take, and
    /// loads it whole when `preload`.
    pub(crate) fn open(
        path: &Path,
        iface: &InterfaceInfo,
        smac: Option<[u8; 6]>,
        dmac: Option<[u8; 6]>,
        preload: bool,
        split: SplitPlan,
    ) -> Result<Input, ReplayError> {
        let mut reader = open_reader(path)?;
        let mut first = Frame::default();
        if !reader.read_into(&mut first)? {
            return Err(ReplayError::EmptyCapture {
                path: path.to_path_buf(),
            });
        }
        let framing = link::plan(path, first.link, iface, smac, dmac)?;
        let ethernet_out = iface.framing == IfaceFraming::Ethernet;
        let preparer = Preparer {
            framing,
            ethernet_out,
            mtu: iface.mtu as usize,
        };
        let mut input = Input {
            path: path.to_path_buf(),
            preparer,
            preloaded: None,
            flows: None,
            split,
        };
        if let Some(cached) = input.split.cache_packets() {
            let mut frames = 1u64;
            while reader.read_into(&mut first)? {
                frames += 1;
            }
            if frames != cached {
                return Err(ReplayError::InvalidSetting {
                    what: "cache file",
                    why: format!(
                        "it describes {cached} packets but {} holds {frames}: it was made for another capture",
                        path.display()
                    ),
                });
            }
            reader = open_reader(path)?;
            reader.read_into(&mut first)?;
        }
        if preload {
            let mut arena = Arena::default();
            let mut flows = FlowCounter::default();
            let mut scratch = Vec::new();
            let mut splitter = input.split.splitter();
            let mut frame = first;
            let mut index = 0u64;
            loop {
                flows.add(&frame);
                let side = splitter.side(index, &frame);
                preparer.push(&frame, index, side, &mut arena, &mut scratch);
                index += 1;
                if !reader.read_into(&mut frame)? {
                    break;
                }
            }
            input.flows = Some(flows.len());
            input.preloaded = Some(arena);
        }
        Ok(input)
    }

    /// Frames of the preloaded file that will not be sent: (oversize, unframeable).
    pub(crate) fn unsendable(&self) -> (u64, u64) {
        let Some(a) = &self.preloaded else {
            return (0, 0);
        };
        let count = |flag| a.meta.iter().filter(|m| m.flags & flag != 0).count() as u64;
        (count(OVERSIZE), count(UNFRAMEABLE))
    }

    /// A fresh pass over the file's frames.
    pub(crate) fn source(&self) -> Result<Source<'_>, ReplayError> {
        Ok(match &self.preloaded {
            Some(arena) => Source::Preloaded { arena, pos: 0 },
            None => Source::Streaming(Box::new(Streaming {
                reader: open_reader(&self.path)?,
                frame: Frame::default(),
                chunk: Arena::default(),
                scratch: Vec::new(),
                preparer: self.preparer,
                splitter: self.split.splitter(),
                index: 0,
            })),
        })
    }
}

fn open_reader(path: &Path) -> Result<CaptureReader, ReplayError> {
    CaptureReader::open(path).map_err(|e| match e.kind {
        crate::capture::CaptureErrorKind::Empty => ReplayError::EmptyCapture {
            path: path.to_path_buf(),
        },
        _ => ReplayError::Capture(e),
    })
}

/// State of a pass that reads the file as it goes.
#[derive(Debug)]
pub(crate) struct Streaming {
    reader: CaptureReader,
    frame: Frame,
    chunk: Arena,
    scratch: Vec<u8>,
    preparer: Preparer,
    splitter: Splitter,
    index: u64,
}

/// One pass over one file's frames.
#[derive(Debug)]
pub(crate) enum Source<'a> {
    /// From the preloaded arena.
    Preloaded { arena: &'a Arena, pos: usize },
    /// From the file.
    Streaming(Box<Streaming>),
}

impl Source<'_> {
    /// The next up to `max` frames; `None` at the end. `flows` counts the flows of what is read
    /// from the file.
    pub(crate) fn next_chunk(
        &mut self,
        max: usize,
        flows: Option<&mut FlowCounter>,
    ) -> Result<Option<Chunk<'_>>, ReplayError> {
        match self {
            Source::Preloaded { arena, pos } => {
                let end = (*pos + max).min(arena.meta.len());
                let meta = &arena.meta[*pos..end];
                *pos = end;
                Ok((!meta.is_empty()).then_some(Chunk {
                    data: &arena.data,
                    meta,
                }))
            }
            Source::Streaming(s) => {
                s.chunk.clear();
                let mut flows = flows;
                while s.chunk.meta.len() < max && s.reader.read_into(&mut s.frame)? {
                    if let Some(f) = flows.as_deref_mut() {
                        f.add(&s.frame);
                    }
                    let side = s.splitter.side(s.index, &s.frame);
                    s.preparer
                        .push(&s.frame, s.index, side, &mut s.chunk, &mut s.scratch);
                    s.index += 1;
                }
                Ok((!s.chunk.meta.is_empty()).then_some(Chunk {
                    data: &s.chunk.data,
                    meta: &s.chunk.meta,
                }))
            }
        }
    }
}
