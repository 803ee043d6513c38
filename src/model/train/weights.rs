//! The trained variables: seeded initialisation, snapshots and the EMA of the weights.

use crate::model::checkpoint::ModelError;
use crate::model::normal;
use crate::seed::{self, salt};
use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use std::collections::HashMap;

/// The variables' names, sorted (the order initialisation draws them in).
pub(super) fn sorted_names(vm: &VarMap) -> Vec<String> {
    let mut v: Vec<String> = vm
        .data()
        .lock()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The variable called `name`.
pub(super) fn var(vm: &VarMap, name: &str) -> Result<Var, ModelError> {
    vm.data()
        .lock()
        .map_err(|_| ModelError::Device("variable map poisoned".into()))?
        .get(name)
        .cloned()
        .ok_or_else(|| ModelError::Device(format!("no variable {name}")))
}

/// Seeded initialisation: weights N(0, 1/fan_in), layer-norm gains 1, biases 0, the output
/// layer 0 (the untrained network predicts no noise), embeddings N(0, 0.02).
pub(super) fn init_weights(
    vm: &VarMap,
    names: &[String],
    seed: u64,
    device: &Device,
) -> Result<(), ModelError> {
    let mut rng = seed::rng(seed, salt::INIT_WEIGHTS, 0);
    for name in names {
        let v = var(vm, name)?;
        let dims = v.as_tensor().dims().to_vec();
        let n: usize = dims.iter().product();
        let vals: Vec<f32> = if name.contains("ln") && name.ends_with("weight") {
            vec![1.0; n]
        } else if name.ends_with("bias") || name.starts_with("output.") {
            vec![0.0; n]
        } else {
            let std = if name == "pos" || name.starts_with("class") {
                0.02
            } else {
                1.0 / (dims[dims.len() - 1] as f32).sqrt()
            };
            (0..n).map(|_| normal(&mut rng) * std).collect()
        };
        v.set(&Tensor::from_vec(vals, dims, device)?)?;
    }
    Ok(())
}

/// A detached copy of every variable.
pub(super) fn snapshot(vm: &VarMap) -> Result<HashMap<String, Tensor>, ModelError> {
    let d = vm
        .data()
        .lock()
        .map_err(|_| ModelError::Device("variable map poisoned".into()))?;
    d.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?.detach())))
        .collect()
}

/// Moves the EMA `ema` towards the variables by `1 − decay`.
pub(super) fn update_ema(
    ema: &mut HashMap<String, Tensor>,
    vm: &VarMap,
    decay: f64,
) -> Result<(), ModelError> {
    let d = vm
        .data()
        .lock()
        .map_err(|_| ModelError::Device("variable map poisoned".into()))?;
    for (k, v) in d.iter() {
        if let Some(e) = ema.get_mut(k) {
            // Detached: an EMA tensor that tracked its operations would keep every earlier
            // EMA alive through the graph (16 MB a step for the default network).
            *e = ((&*e * decay)? + (v.as_tensor().detach() * (1.0 - decay))?)?.detach();
        }
    }
    Ok(())
}
