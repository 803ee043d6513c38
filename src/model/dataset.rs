//! Training sets: labelled captures → windows of flow matrices in the model layout, with
//! directions, inter-arrival times, classes and a split by capture file. Stored as one
//! safetensors file whose metadata holds the description (classes, files, hashes, split).

use crate::capture::SkipCounts;
use crate::corpus::label_captures;
use crate::flows::{flows_from_capture, Direction, FlowSettings, Labels};
use crate::nprint::flow_packet_row;
use crate::nprint::layout::{standard_to_model, Bit, MODEL_WIDTH, STANDARD_WIDTH};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Format version of dataset files.
pub const DATASET_VERSION: u32 = 2;

/// The host number of windows read from a set made before hosts were recorded.
pub const UNKNOWN_HOST: u32 = u32::MAX;

/// Errors building, writing or reading a training set.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A capture could not be read.
    #[error(transparent)]
    Capture(#[from] crate::capture::CaptureError),
    /// The labels file is bad.
    #[error(transparent)]
    Labels(#[from] crate::flows::LabelError),
    /// The corpus could not be read (a capture without a class, a bad manifest, …).
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    /// Nothing to learn from.
    #[error("{0}")]
    Empty(String),
    /// The dataset file is not one this version reads.
    #[error("{path}: not a netdiffd dataset: {why}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Packets kept of a flow by default: the height of NetDiffusion's flow images.
pub const DEFAULT_MAX_FLOW_PACKETS: usize = 1024;

/// Which split a capture file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// Used for training.
    Train,
    /// Kept out of training, for evaluation.
    Holdout,
}

/// One capture file of the corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureFile {
    /// Path as given (relative to the corpus folder when built from one).
    pub path: String,
    /// Class label.
    pub class: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Flows found.
    pub flows: usize,
    /// Windows made from them.
    pub windows: usize,
    /// Split.
    pub split: Split,
    /// Frames skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
}

/// One class of the training set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassEntry {
    /// Class name.
    pub name: String,
    /// Macro group (from the corpus manifest), if known.
    pub macro_group: Option<String>,
    /// Training windows.
    pub train_windows: usize,
    /// Held-out windows.
    pub holdout_windows: usize,
}

/// A window of up to `max_packets` packets of one flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Class index.
    pub class: usize,
    /// Index of the capture file in [`Dataset::files`].
    pub file: usize,
    /// Packets in the window.
    pub len: usize,
    /// `len × 1024` model-layout values (-1 vacant, 0, 1).
    pub bits: Vec<Bit>,
    /// Per packet: true when backward (server → client).
    pub backward: Vec<bool>,
    /// Per packet: nanoseconds since the previous packet of the flow (0 for the first).
    pub iat_ns: Vec<u64>,
    /// Server port of the flow (0 for ICMP).
    pub server_port: u16,
    /// Which of its capture's hosts the flow's client and server are: hosts numbered in the
    /// order they first appear in the capture's flows, no address kept ([`UNKNOWN_HOST`] in
    /// sets made before hosts were recorded). Flow arrivals learn from them how often a class's
    /// flows come from, and go to, a host that an earlier flow of the capture had.
    pub hosts: [u32; 2],
    /// The flow the window belongs to (numbered across the set; a flow's windows are
    /// consecutive and in order).
    pub flow: usize,
    /// Capture time of the flow's first packet (ns since the epoch): flow arrivals are learned
    /// from the gaps between flow starts of one capture file.
    pub flow_start_ns: u64,
}

impl Window {
    /// Its packets' directions and gaps to the previous packet of the flow (the first window's
    /// first gap is 0), in order: what [`crate::corpus::HintsBuilder`] takes.
    pub fn packets(&self) -> impl Iterator<Item = (Direction, u64)> + '_ {
        self.backward.iter().zip(&self.iat_ns).map(|(&b, &t)| {
            let d = if b {
                Direction::Backward
            } else {
                Direction::Forward
            };
            (d, t)
        })
    }

    /// Its packets in order: each one's model-layout values and whether it was sent backward.
    pub fn rows(&self) -> impl Iterator<Item = (&[Bit], bool)> + '_ {
        let backward = self
            .backward
            .iter()
            .copied()
            .chain(std::iter::repeat(false));
        self.bits
            .chunks_exact(MODEL_WIDTH)
            .take(self.len)
            .zip(backward)
    }
}

/// How to build a training set.
#[derive(Debug, Clone)]
pub struct DatasetSettings {
    /// Packets per window.
    pub max_packets: usize,
    /// Packets kept of each flow (its first ones); the longest flow the model generates.
    pub max_flow_packets: usize,
    /// Flow splitting.
    pub flows: FlowSettings,
    /// Hold out, for each class with at least two capture files, its last file (by name).
    pub holdout_one_file_per_class: bool,
    /// Capture files (paths relative to the corpus, or file names) to hold out.
    pub holdout_files: Vec<String>,
}

impl Default for DatasetSettings {
    fn default() -> Self {
        DatasetSettings {
            max_packets: 64,
            max_flow_packets: DEFAULT_MAX_FLOW_PACKETS,
            flows: FlowSettings::default(),
            holdout_one_file_per_class: true,
            holdout_files: Vec::new(),
        }
    }
}

/// A training set.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Packets per window.
    pub max_packets: usize,
    /// Packets kept of each flow.
    pub max_flow_packets: usize,
    /// Classes, sorted by name.
    pub classes: Vec<ClassEntry>,
    /// Capture files.
    pub files: Vec<CaptureFile>,
    /// Windows.
    pub windows: Vec<Window>,
}

#[derive(Serialize, Deserialize)]
struct Description {
    version: u32,
    max_packets: usize,
    max_flow_packets: usize,
    classes: Vec<ClassEntry>,
    files: Vec<CaptureFile>,
    window_class: Vec<usize>,
    window_file: Vec<usize>,
    window_len: Vec<usize>,
    window_server_port: Vec<u16>,
    /// Client and server host numbers a window (absent in sets made before them).
    #[serde(default)]
    window_hosts: Vec<[u32; 2]>,
    window_flow: Vec<usize>,
    window_flow_start_ns: Vec<u64>,
}

fn sha256_hex(path: &Path) -> Result<String, DatasetError> {
    let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
        path: path.into(),
        source,
    })?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

impl Dataset {
    /// Builds a training set from `files` (labelled by `labels`), with paths reported relative to
    /// `root`.
    pub fn build(
        root: &Path,
        files: &[PathBuf],
        labels: &Labels,
        groups: &BTreeMap<String, String>,
        settings: &DatasetSettings,
        mut progress: impl FnMut(&Path),
    ) -> Result<Dataset, DatasetError> {
        if settings.max_packets == 0 {
            return Err(DatasetError::Empty("max_packets must be at least 1".into()));
        }
        if !(1..=super::template::MAX_TEMPLATE_PACKETS).contains(&settings.max_flow_packets) {
            return Err(DatasetError::Empty(format!(
                "max_flow_packets must be 1..={}, got {}",
                super::template::MAX_TEMPLATE_PACKETS,
                settings.max_flow_packets
            )));
        }
        let labelled = label_captures(files, labels)?;
        if labelled.is_empty() {
            return Err(DatasetError::Empty(format!(
                "no capture files under {}",
                root.display()
            )));
        }
        let mut class_names: Vec<String> = labelled.iter().map(|(_, l)| l.clone()).collect();
        class_names.sort();
        class_names.dedup();
        // Hold out the last file (by name) of every class that has two or more.
        let mut holdout: Vec<bool> = labelled
            .iter()
            .map(|(p, _)| {
                settings.holdout_files.iter().any(|h| {
                    let s = p.to_string_lossy();
                    s.ends_with(h.as_str())
                        || p.file_name().is_some_and(|n| n.to_string_lossy() == *h)
                })
            })
            .collect();
        if settings.holdout_one_file_per_class {
            for c in &class_names {
                let idx: Vec<usize> = (0..labelled.len())
                    .filter(|&i| &labelled[i].1 == c)
                    .collect();
                if idx.len() >= 2 {
                    holdout[*idx.last().expect("two or more")] = true;
                }
            }
        }
        let mut ds = Dataset {
            max_packets: settings.max_packets,
            max_flow_packets: settings.max_flow_packets,
            classes: class_names
                .iter()
                .map(|n| ClassEntry {
                    name: n.clone(),
                    macro_group: groups.get(n).cloned(),
                    train_windows: 0,
                    holdout_windows: 0,
                })
                .collect(),
            files: Vec::new(),
            windows: Vec::new(),
        };
        let mut row = Vec::with_capacity(STANDARD_WIDTH);
        for (fi, (path, label)) in labelled.iter().enumerate() {
            progress(path);
            let class = class_names
                .iter()
                .position(|c| c == label)
                .expect("class listed");
            let (flows, skipped) = flows_from_capture(path, settings.flows, Some(label.clone()))?;
            let before = ds.windows.len();
            let mut host_numbers: HashMap<std::net::Ipv4Addr, u32> = HashMap::new();
            let mut host = |addr| {
                let next = host_numbers.len() as u32;
                *host_numbers.entry(addr).or_insert(next)
            };
            for f in &flows {
                let hosts = [host(f.key.client), host(f.key.server)];
                let flow = ds.windows.last().map_or(0, |w| w.flow + 1);
                let kept = &f.packets[..f.packets.len().min(settings.max_flow_packets)];
                let flow_start_ns = kept.first().map_or(0, |p| p.ts_ns);
                for (k, chunk) in kept.chunks(settings.max_packets).enumerate() {
                    let mut bits = Vec::with_capacity(chunk.len() * MODEL_WIDTH);
                    for p in chunk {
                        row.clear();
                        flow_packet_row(p, &mut row);
                        standard_to_model(&row, &mut bits);
                    }
                    // A later window keeps its first packet's gap: sampling gives the network the
                    // end of the previous window as context, whose times are real gaps.
                    let mut iat: Vec<u64> = chunk.iter().map(|p| p.iat_ns).collect();
                    if k == 0 {
                        iat[0] = 0;
                    }
                    ds.windows.push(Window {
                        class,
                        file: fi,
                        len: chunk.len(),
                        bits,
                        backward: chunk
                            .iter()
                            .map(|p| p.direction == Direction::Backward)
                            .collect(),
                        iat_ns: iat,
                        server_port: if f.key.proto == crate::wire::IpProtocol::Icmp {
                            0
                        } else {
                            f.key.server_port
                        },
                        hosts,
                        flow,
                        flow_start_ns,
                    });
                }
            }
            let n = ds.windows.len() - before;
            let split = if holdout[fi] {
                Split::Holdout
            } else {
                Split::Train
            };
            match split {
                Split::Train => ds.classes[class].train_windows += n,
                Split::Holdout => ds.classes[class].holdout_windows += n,
            }
            let rel = path
                .strip_prefix(root)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            ds.files.push(CaptureFile {
                path: rel,
                class: label.clone(),
                sha256: sha256_hex(path)?,
                flows: flows.len(),
                windows: n,
                split,
                skipped: skip_map(&skipped),
            });
        }
        if let Some(c) = ds.classes.iter().find(|c| c.train_windows == 0) {
            return Err(DatasetError::Empty(format!(
                "class {} has no training flows (all its files are held out or hold no IPv4 flows)",
                c.name
            )));
        }
        Ok(ds)
    }

    /// Windows of the given split.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Window> {
        self.windows
            .iter()
            .filter(move |w| self.files[w.file].split == split)
    }

    /// Writes the set to `path` (atomically).
    pub fn save(&self, path: &Path) -> Result<(), DatasetError> {
        let l = self.max_packets;
        let n = self.windows.len();
        let mut bits = vec![0u8; n * l * MODEL_WIDTH];
        let mut dirs = vec![0u8; n * l];
        let mut iat = vec![0u8; n * l * 8];
        for (i, w) in self.windows.iter().enumerate() {
            for (j, &b) in w.bits.iter().enumerate() {
                bits[i * l * MODEL_WIDTH + j] = (b + 1) as u8;
            }
            for (j, &b) in w.backward.iter().enumerate() {
                dirs[i * l + j] = u8::from(b) + 1;
            }
            for (j, &t) in w.iat_ns.iter().enumerate() {
                iat[(i * l + j) * 8..(i * l + j + 1) * 8].copy_from_slice(&t.to_le_bytes());
            }
        }
        let desc = Description {
            version: DATASET_VERSION,
            max_packets: l,
            max_flow_packets: self.max_flow_packets,
            classes: self.classes.clone(),
            files: self.files.clone(),
            window_class: self.windows.iter().map(|w| w.class).collect(),
            window_file: self.windows.iter().map(|w| w.file).collect(),
            window_len: self.windows.iter().map(|w| w.len).collect(),
            window_server_port: self.windows.iter().map(|w| w.server_port).collect(),
            window_hosts: self.windows.iter().map(|w| w.hosts).collect(),
            window_flow: self.windows.iter().map(|w| w.flow).collect(),
            window_flow_start_ns: self.windows.iter().map(|w| w.flow_start_ns).collect(),
        };
        let fmt = |e: String| DatasetError::Format {
            path: path.into(),
            why: e,
        };
        let meta = HashMap::from([(
            "netdiffd-dataset".to_string(),
            serde_json::to_string(&desc).map_err(|e| fmt(e.to_string()))?,
        )]);
        let views = [
            (
                "bits",
                TensorView::new(Dtype::U8, vec![n, l, MODEL_WIDTH], &bits),
            ),
            ("directions", TensorView::new(Dtype::U8, vec![n, l], &dirs)),
            ("iat_ns", TensorView::new(Dtype::U64, vec![n, l], &iat)),
        ];
        let views: Vec<(&str, TensorView<'_>)> = views
            .into_iter()
            .map(|(k, v)| v.map(|v| (k, v)).map_err(|e| fmt(e.to_string())))
            .collect::<Result<_, _>>()?;
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| fmt(e.to_string()))?;
        let mut f =
            crate::atomic_file::AtomicFile::create(path).map_err(|source| DatasetError::Io {
                path: path.into(),
                source,
            })?;
        std::io::Write::write_all(&mut f, &bytes)
            .and_then(|_| f.commit().map(|_| ()))
            .map_err(|source| DatasetError::Io {
                path: path.into(),
                source,
            })
    }

    /// Reads a set written by [`Dataset::save`], checking every part.
    pub fn load(path: &Path) -> Result<Dataset, DatasetError> {
        let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
            path: path.into(),
            source,
        })?;
        let fmt = |why: String| DatasetError::Format {
            path: path.into(),
            why,
        };
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| fmt(e.to_string()))?;
        let (_, meta) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| fmt(e.to_string()))?;
        let text = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("netdiffd-dataset"))
            .ok_or_else(|| fmt("no netdiffd-dataset metadata".into()))?;
        let d: Description =
            serde_json::from_str(text).map_err(|e| fmt(format!("metadata: {e}")))?;
        if d.version != DATASET_VERSION {
            return Err(fmt(format!(
                "format version {} (this build reads {DATASET_VERSION})",
                d.version
            )));
        }
        let n = d.window_class.len();
        let l = d.max_packets;
        let get = |name: &str, dtype: Dtype, shape: Vec<usize>| {
            let t = st
                .tensor(name)
                .map_err(|e| fmt(format!("tensor {name}: {e}")))?;
            if t.dtype() != dtype || t.shape() != shape.as_slice() {
                return Err(fmt(format!(
                    "tensor {name} is {:?} {:?}, expected {dtype:?} {shape:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t.data())
        };
        let bits = get("bits", Dtype::U8, vec![n, l, MODEL_WIDTH])?;
        let dirs = get("directions", Dtype::U8, vec![n, l])?;
        let iat = get("iat_ns", Dtype::U64, vec![n, l])?;
        if d.window_file.len() != n
            || d.window_len.len() != n
            || d.window_server_port.len() != n
            || d.window_flow.len() != n
            || d.window_flow_start_ns.len() != n
            || !(d.window_hosts.is_empty() || d.window_hosts.len() == n)
        {
            return Err(fmt("window lists of different lengths".into()));
        }
        if d.window_flow
            .windows(2)
            .any(|w| w[1] < w[0] || w[1] > w[0] + 1)
        {
            return Err(fmt("window flow numbers out of order".into()));
        }
        let mut windows = Vec::with_capacity(n);
        for i in 0..n {
            let (class, file, len) = (d.window_class[i], d.window_file[i], d.window_len[i]);
            if class >= d.classes.len() || file >= d.files.len() || len == 0 || len > l {
                return Err(fmt(format!(
                    "window {i}: class {class}, file {file} or length {len} out of range"
                )));
            }
            let b = &bits[i * l * MODEL_WIDTH..(i * l + len) * MODEL_WIDTH];
            if b.iter().any(|&v| v > 2) {
                return Err(fmt(format!("window {i}: bit values outside -1..=1")));
            }
            windows.push(Window {
                class,
                file,
                len,
                bits: b.iter().map(|&v| v as i8 - 1).collect(),
                backward: dirs[i * l..i * l + len].iter().map(|&v| v == 2).collect(),
                iat_ns: (0..len)
                    .map(|j| {
                        let at = (i * l + j) * 8;
                        u64::from_le_bytes(iat[at..at + 8].try_into().expect("8 bytes"))
                    })
                    .collect(),
                server_port: d.window_server_port[i],
                hosts: d.window_hosts.get(i).copied().unwrap_or([UNKNOWN_HOST; 2]),
                flow: d.window_flow[i],
                flow_start_ns: d.window_flow_start_ns[i],
            });
        }
        Ok(Dataset {
            max_packets: l,
            max_flow_packets: d.max_flow_packets,
            classes: d.classes,
            files: d.files,
            windows,
        })
    }
}

fn skip_map(s: &SkipCounts) -> BTreeMap<String, u64> {
    s.0.iter().map(|(r, n)| (r.to_string(), *n)).collect()
}
