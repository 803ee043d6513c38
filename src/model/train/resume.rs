//! Training checkpoints in `MODEL_DIR/checkpoint/`: the variables, their EMA and the run's
//! state (steps done, loss curve, seconds), written so that a crash leaves the previous
//! checkpoint whole, and read back to resume.

use super::weights::{snapshot, sorted_names, var};
use crate::model::checkpoint::ModelError;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

/// Name of the checkpoint folder in a model directory.
pub(super) const CHECKPOINT_DIR: &str = "checkpoint";

/// A run's state at a checkpoint (`state.json`).
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct CheckpointState {
    /// Steps done.
    pub step: usize,
    /// The loss curve so far: (step, mean loss of the interval ending there).
    pub curve: Vec<(usize, f32)>,
    /// Wall-clock seconds of training up to the checkpoint, over every resumed run.
    #[serde(default)]
    pub seconds: f64,
}

/// Writes a checkpoint to `dir`.
pub(super) fn save_checkpoint(
    dir: &Path,
    state: &CheckpointState,
    vm: &VarMap,
    ema: &HashMap<String, Tensor>,
) -> Result<(), ModelError> {
    let io = |source| ModelError::Io {
        path: dir.into(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp_w = dir.join(".weights.tmp");
    let tmp_e = dir.join(".ema.tmp");
    candle_core::safetensors::save(&snapshot(vm)?, &tmp_w)?;
    candle_core::safetensors::save(ema, &tmp_e)?;
    std::fs::rename(&tmp_w, dir.join("weights.safetensors")).map_err(io)?;
    std::fs::rename(&tmp_e, dir.join("ema.safetensors")).map_err(io)?;
    let state = serde_json::to_string(state).unwrap_or_default();
    let mut f = crate::atomic_file::AtomicFile::create(&dir.join("state.json")).map_err(io)?;
    std::io::Write::write_all(&mut f, state.as_bytes()).map_err(io)?;
    f.commit().map_err(io)?;
    Ok(())
}

/// A checkpoint read back: the state and the EMA.
pub(super) type Resumed = (CheckpointState, HashMap<String, Tensor>);

/// Reads the checkpoint in `dir` into the variables of `vm`, checking every tensor fits.
pub(super) fn load_checkpoint(
    dir: &Path,
    vm: &VarMap,
    device: &Device,
) -> Result<Resumed, ModelError> {
    let sp = dir.join("state.json");
    let text = std::fs::read_to_string(&sp).map_err(|source| ModelError::Io {
        path: sp.clone(),
        source,
    })?;
    let state: CheckpointState = serde_json::from_str(&text).map_err(|e| ModelError::Card {
        path: sp.clone(),
        why: e.to_string(),
    })?;
    let wpath = dir.join("weights.safetensors");
    let weights =
        candle_core::safetensors::load(&wpath, device).map_err(|e| ModelError::Mismatch {
            path: wpath.clone(),
            why: e.to_string(),
        })?;
    let epath = dir.join("ema.safetensors");
    let ema = candle_core::safetensors::load(&epath, device).map_err(|e| ModelError::Mismatch {
        path: epath.clone(),
        why: e.to_string(),
    })?;
    for name in sorted_names(vm) {
        let v = var(vm, &name)?;
        let w = weights.get(&name).ok_or_else(|| ModelError::Mismatch {
            path: wpath.clone(),
            why: format!("tensor {name} is missing"),
        })?;
        if w.dims() != v.as_tensor().dims() || !ema.contains_key(&name) {
            return Err(ModelError::Mismatch {
                path: wpath.clone(),
                why: format!("tensor {name} does not fit the model"),
            });
        }
        v.set(w)?;
    }
    Ok((state, ema))
}
