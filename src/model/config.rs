//! Model hyper-parameters (the noise schedule they set is in [`super::schedule`]).

use serde::{Deserialize, Serialize};

pub use super::encoding::SIDE_CHANNELS;

/// Hyper-parameters of the denoiser (stored in the model card).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Packets per window (flows are cut into windows of this many packets).
    pub max_packets: usize,
    /// Header values per packet (the 1024-value model layout).
    pub bits: usize,
    /// Width of the transformer.
    pub d_model: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Hidden width of each block's MLP, as a multiple of `d_model`.
    pub mlp_ratio: usize,
    /// Number of classes (the null class for guidance is one more).
    pub classes: usize,
    /// Diffusion steps of the training schedule.
    pub timesteps: usize,
}

impl ModelConfig {
    /// The CPU default: small enough to train on two cores in under an hour and to sample
    /// hundreds of packets a second.
    pub fn cpu_default(classes: usize) -> ModelConfig {
        ModelConfig {
            max_packets: 64,
            bits: crate::nprint::layout::MODEL_WIDTH,
            d_model: 128,
            layers: 4,
            heads: 4,
            mlp_ratio: 4,
            classes,
            timesteps: 1000,
        }
    }

    /// Values per packet the network predicts: the bits plus the side channels.
    pub fn channels(&self) -> usize {
        self.bits + SIDE_CHANNELS
    }

    /// Checks the numbers make a network.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_packets == 0 || self.max_packets > 1024 {
            return Err(format!("max_packets {} outside 1..=1024", self.max_packets));
        }
        if self.d_model == 0 || self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return Err(format!(
                "d_model {} is not a multiple of heads {}",
                self.d_model, self.heads
            ));
        }
        if self.layers == 0 || self.layers > 64 || self.mlp_ratio == 0 || self.mlp_ratio > 16 {
            return Err(format!(
                "layers {} / mlp_ratio {} out of range",
                self.layers, self.mlp_ratio
            ));
        }
        if self.classes == 0 {
            return Err("the model needs at least one class".into());
        }
        if self.bits != crate::nprint::layout::MODEL_WIDTH {
            return Err(format!(
                "bits {} is not the model layout's {}",
                self.bits,
                crate::nprint::layout::MODEL_WIDTH
            ));
        }
        if !(10..=10_000).contains(&self.timesteps) {
            return Err(format!("timesteps {} outside 10..=10000", self.timesteps));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_problem() {
        let mut c = ModelConfig::cpu_default(3);
        assert!(c.validate().is_ok());
        c.heads = 3;
        assert!(c.validate().unwrap_err().contains("heads"));
    }
}
