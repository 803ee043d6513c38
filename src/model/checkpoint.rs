//! Model directories: `card.json` (what the model is, how it was made, its templates and
//! fallback statistics) and `model.safetensors` (the EMA weights, f16). Loading checks every
//! part and names exactly what is wrong with a bad file.

use super::arrivals::FlowArrivals;
use super::calibration::TimeCalibration;
use super::config::ModelConfig;
use super::counters::FreshCounters;
use super::dataset::CaptureFile;
use super::denoiser::Denoiser;
use super::lengths::LengthCalibration;
use super::port_times::PortTimes;
use super::template::Template;
use super::windows::WindowCalibration;
use crate::corpus::ClassHints;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Version of the card and weights format this build reads and writes (2: inter-arrival times
/// as a thermometer code of [`TIME_BINS`](super::encoding::TIME_BINS) values, whole-flow
/// templates, learned flow arrivals).
pub const FORMAT_VERSION: u32 = 2;
/// Version of the model layout (1024 values a packet: IPv4 without addresses, TCP, UDP, ICMP).
pub const LAYOUT_VERSION: u32 = 1;
/// Name of the card file in a model directory.
pub const CARD_FILE: &str = "card.json";
/// Name of the weights file in a model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Errors loading or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The card is not valid JSON of the expected shape.
    #[error("{path}: bad model card: {why}")]
    Card {
        /// The card file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The card or weights are of another format version.
    #[error("{path}: {what} version {found}, this build reads {expected} (retrain the model with this build: netdiffd dataset, then netdiffd train)")]
    Version {
        /// The file.
        path: PathBuf,
        /// Which version.
        what: &'static str,
        /// Found.
        found: u32,
        /// Expected.
        expected: u32,
    },
    /// The weights file does not match the card (hash, tensors or shapes).
    #[error("{path}: weights do not match the card: {why}")]
    Mismatch {
        /// The weights file.
        path: PathBuf,
        /// What differs.
        why: String,
    },
    /// A training set that the model in a directory cannot take (its card made anew from it).
    #[error("{model}: the training set does not fit this model: {why}")]
    SetMismatch {
        /// The model directory.
        model: PathBuf,
        /// What differs.
        why: String,
    },
    /// A tensor operation failed.
    #[error("model computation: {0}")]
    Candle(#[from] candle_core::Error),
    /// A device that this build or machine cannot use.
    #[error("device {0}")]
    Device(String),
}

/// One class the model knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardClass {
    /// Class name.
    pub name: String,
    /// Macro group.
    pub macro_group: Option<String>,
    /// Training windows of the class.
    pub train_windows: usize,
    /// Training flows of the class.
    pub train_flows: usize,
    /// Structure templates: the packet shapes of real training flows, whole (up to the
    /// dataset's `max_flow_packets`).
    pub templates: Vec<Template>,
    /// When the class's flows start, learned from the training captures.
    pub arrivals: FlowArrivals,
    /// Fallback statistics for repair.
    pub hints: ClassHints,
    /// The model's own time bins, counted when the card was made, to calibrate sampled times
    /// against the class's real gaps (absent in cards made before it existed: times as the
    /// network chose them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_calibration: Option<TimeCalibration>,
    /// The payload lengths of the class's templates' real flows and of the model's own samples,
    /// by protocol, direction and kind of TCP segment, and for a flow's first packets by
    /// position too, to calibrate sampled lengths (absent in cards made before it existed:
    /// lengths as the network chose them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_calibration: Option<LengthCalibration>,
    /// The TCP windows of the class's templates' real flows and of the model's own samples, by
    /// direction, to calibrate sampled windows (absent in cards made before it existed:
    /// windows as the network chose them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_calibration: Option<WindowCalibration>,
    /// Which per-connection counters (sequence numbers, timestamps, IP identifications) the
    /// class's real flows start anew on every connection, for sampling to start them anew too
    /// (absent in cards made before it existed: counters as the network draws them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fresh_counters: Option<FreshCounters>,
    /// The time bins of the class's training flows and of the model's own samples by server
    /// port, to calibrate each port's times apart (absent in cards made before it existed: the
    /// class-wide time calibration alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_times: Option<PortTimes>,
}

/// How the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Optimiser steps.
    pub steps: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Seed.
    pub seed: u64,
    /// Mean loss over the last 100 steps.
    pub final_loss: f32,
    /// (step, mean loss of the preceding interval).
    pub loss_curve: Vec<(usize, f32)>,
    /// Wall-clock seconds of training.
    pub seconds: f64,
    /// The dataset file trained on.
    pub dataset: String,
}

/// Where the weights are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightsRecord {
    /// File name in the model directory.
    pub file: String,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Stored precision.
    pub dtype: String,
    /// Number of parameters.
    pub params: usize,
}

/// The model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Card and weights format version.
    pub format_version: u32,
    /// Model layout version.
    pub layout_version: u32,
    /// netdiffd version that wrote it.
    pub netdiffd_version: String,
    /// Network hyper-parameters.
    pub config: ModelConfig,
    /// Noise schedule name.
    pub schedule: String,
    /// Classes, in the order of the class embedding.
    pub classes: Vec<CardClass>,
    /// Capture files of the dataset, with hashes and split.
    pub corpus: Vec<CaptureFile>,
    /// Training record.
    pub training: TrainingRecord,
    /// Weights file.
    pub weights: WeightsRecord,
    /// Evaluation figures (free-form, filled by evaluation runs).
    #[serde(default)]
    pub evaluation: serde_json::Value,
}

impl ModelCard {
    /// Index of class `name`, or an error listing the known classes.
    pub fn class_index(&self, name: &str) -> Result<usize, String> {
        self.classes
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.classes.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "unknown class {name:?}; the model knows {}",
                    known.join(", ")
                )
            })
    }
}

/// A model loaded for sampling.
pub struct LoadedModel {
    /// Its card.
    pub card: ModelCard,
    /// The network.
    pub denoiser: Denoiser,
    /// The device it lives on.
    pub device: Device,
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parameter names and shapes of a network with `cfg`.
pub fn expected_tensors(cfg: &ModelConfig) -> Result<HashMap<String, Vec<usize>>, ModelError> {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    Denoiser::new(cfg, vb)?;
    let data = vm
        .data()
        .lock()
        .map_err(|_| ModelError::Device("variable map poisoned".into()))?;
    Ok(data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().dims().to_vec()))
        .collect())
}

/// Writes `weights` (converted to f16) and `card` into `dir` (each file atomically); fills the
/// card's weights record.
pub fn save_model(
    dir: &Path,
    card: &mut ModelCard,
    weights: &HashMap<String, Tensor>,
) -> Result<(), ModelError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let half: HashMap<String, Tensor> = weights
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.to_dtype(DType::F16)?)))
        .collect::<Result<_, candle_core::Error>>()?;
    let wpath = dir.join(WEIGHTS_FILE);
    let tmp = dir.join(format!(".{WEIGHTS_FILE}.{}.tmp", std::process::id()));
    candle_core::safetensors::save(&half, &tmp)?;
    let bytes = std::fs::read(&tmp).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &wpath).map_err(io(&wpath))?;
    card.weights = WeightsRecord {
        file: WEIGHTS_FILE.into(),
        sha256: hex_sha256(&bytes),
        dtype: "f16".into(),
        params: weights.values().map(|t| t.elem_count()).sum(),
    };
    save_card(dir, card)
}

/// Writes `card` into `dir` atomically (the weights it names are not touched).
pub fn save_card(dir: &Path, card: &ModelCard) -> Result<(), ModelError> {
    let cpath = dir.join(CARD_FILE);
    let io = |source| ModelError::Io {
        path: cpath.clone(),
        source,
    };
    let text = serde_json::to_string_pretty(card).map_err(|e| ModelError::Card {
        path: cpath.clone(),
        why: e.to_string(),
    })?;
    let mut f = crate::atomic_file::AtomicFile::create(&cpath).map_err(io)?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(io)?;
    f.commit().map_err(io)?;
    Ok(())
}

/// Reads and checks a model card.
pub fn load_card(dir: &Path) -> Result<ModelCard, ModelError> {
    let path = dir.join(CARD_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    let card: ModelCard = serde_json::from_str(&text).map_err(|e| ModelError::Card {
        path: path.clone(),
        why: e.to_string(),
    })?;
    for (what, found, expected) in [
        ("format", card.format_version, FORMAT_VERSION),
        ("layout", card.layout_version, LAYOUT_VERSION),
    ] {
        if found != expected {
            return Err(ModelError::Version {
                path,
                what,
                found,
                expected,
            });
        }
    }
    card.config.validate().map_err(|why| ModelError::Card {
        path: path.clone(),
        why,
    })?;
    if card.classes.len() != card.config.classes {
        return Err(ModelError::Card {
            path,
            why: format!(
                "{} classes listed, config says {}",
                card.classes.len(),
                card.config.classes
            ),
        });
    }
    // Template strings are bounded by their parser (MAX_TEMPLATE_PACKETS); an empty one
    // would make an empty flow.
    if let Some(c) = card
        .classes
        .iter()
        .find(|c| c.templates.iter().any(|t| t.is_empty()))
    {
        return Err(ModelError::Card {
            path,
            why: format!("class {}: an empty template", c.name),
        });
    }
    for c in &card.classes {
        let calibration = c.time_calibration.as_ref().and_then(|t| t.check().err());
        let lengths = c.length_calibration.as_ref().and_then(|l| l.check().err());
        let windows = c.window_calibration.as_ref().and_then(|w| w.check().err());
        let hosts = c.arrivals.host_reuse.and_then(|h| h.check().err());
        let ports = c.port_times.as_ref().and_then(|p| p.check().err());
        if let Some(why) = calibration.or(lengths).or(windows).or(hosts).or(ports) {
            return Err(ModelError::Card {
                path,
                why: format!("class {}: {why}", c.name),
            });
        }
    }
    Ok(card)
}

/// Loads the model in `dir` onto `device`, checking the card, the weights' hash, and every
/// tensor's presence and shape.
pub fn load_model(dir: &Path, device: &Device) -> Result<LoadedModel, ModelError> {
    let card = load_card(dir)?;
    let wpath = dir.join(&card.weights.file);
    let bytes = std::fs::read(&wpath).map_err(|source| ModelError::Io {
        path: wpath.clone(),
        source,
    })?;
    let mismatch = |why: String| ModelError::Mismatch {
        path: wpath.clone(),
        why,
    };
    let hash = hex_sha256(&bytes);
    if hash != card.weights.sha256 {
        return Err(mismatch(format!(
            "SHA-256 {hash}, the card says {}",
            card.weights.sha256
        )));
    }
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| mismatch(format!("not a readable safetensors file: {e}")))?;
    let expected = expected_tensors(&card.config)?;
    for (name, shape) in &expected {
        match tensors.get(name) {
            None => return Err(mismatch(format!("tensor {name} is missing"))),
            Some(t) if t.dims() != shape.as_slice() => {
                return Err(mismatch(format!(
                    "tensor {name} has shape {:?}, the card's config needs {shape:?}",
                    t.dims()
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = tensors.keys().find(|k| !expected.contains_key(*k)) {
        return Err(mismatch(format!("unexpected tensor {extra}")));
    }
    let tensors: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| Ok((k, v.to_dtype(DType::F32)?.to_device(device)?)))
        .collect::<Result<_, candle_core::Error>>()?;
    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    let denoiser = Denoiser::new(&card.config, vb)?;
    Ok(LoadedModel {
        card,
        denoiser,
        device: device.clone(),
    })
}

/// Picks the device for `spec`: `cpu`, `cuda:N`, or `auto` (CUDA when built with the `cuda`
/// feature and a GPU is present, else the CPU).
pub fn device_for(spec: &str) -> Result<Device, ModelError> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if cfg!(feature = "cuda") {
                Ok(Device::cuda_if_available(0).unwrap_or(Device::Cpu))
            } else {
                Ok(Device::Cpu)
            }
        }
        s => {
            let Some(n) = s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                return Err(ModelError::Device(format!(
                    "{s:?}: expected auto, cpu or cuda:N"
                )));
            };
            if !cfg!(feature = "cuda") {
                return Err(ModelError::Device(format!(
                    "{s}: this netdiffd was built without the `cuda` feature (cargo build --release --features cuda)"
                )));
            }
            Device::new_cuda(n).map_err(|e| ModelError::Device(format!("{s}: {e}")))
        }
    }
}
