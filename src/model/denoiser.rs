//! The denoiser: a transformer over the packets of a window. Each packet's noisy values (1024
//! header values, direction, inter-arrival time bins) and its structure conditioning (which positions
//! are populated) are projected to `d_model`, the diffusion step and the class are embedded and
//! added, and the network predicts the clean values x₀ (through tanh, so within [-1, 1]).
//!
//! Why x₀ and not ε or v: a packet's 1049 values pass through a `d_model`-wide bottleneck, which
//! cannot carry 1049 independent noise values. An ε- or v-predicting network needs that per-value
//! detail to cancel the noise in x_t, so at mid noise levels the noise leaks into its estimate of
//! x₀ and sampling drifts (constant fields such as the IPv4 version come out inverted). An
//! x₀-predicting network only has to say what the clean bits are — confidently where the class
//! and structure determine them, near 0 where they are free (sequence numbers, checksums) —
//! which is the choice of Bit Diffusion (Chen et al., 2023) for binary data.
//!
//! Two code paths compute the same function: the differentiable one for training (`softmax`,
//! `layer_norm_slow`, whose backward passes exist in candle) and the fused one for sampling
//! (`softmax_last_dim`, `layer_norm`, which have no backward pass).

use super::config::ModelConfig;
use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{embedding, linear, Embedding, Init, Linear, VarBuilder};

/// Structure-conditioning values per packet: the populated-position mask and a flag saying
/// whether a mask is given at all (free-structure generation gives none).
pub fn structure_channels(cfg: &ModelConfig) -> usize {
    cfg.bits + 1
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

impl LayerNorm {
    fn new(dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(LayerNorm {
            weight: vb.get_with_hints(dim, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(dim, "bias", Init::Const(0.0))?,
        })
    }
    fn forward(&self, x: &Tensor, fused: bool) -> Result<Tensor> {
        if fused {
            candle_nn::ops::layer_norm(x, &self.weight, &self.bias, 1e-5)
        } else {
            candle_nn::ops::layer_norm_slow(x, &self.weight, &self.bias, 1e-5)
        }
    }
}

struct Attention {
    qkv: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        Ok(Attention {
            qkv: linear(cfg.d_model, 3 * cfg.d_model, vb.pp("qkv"))?,
            out: linear(cfg.d_model, cfg.d_model, vb.pp("out"))?,
            heads: cfg.heads,
            head_dim: cfg.d_model / cfg.heads,
        })
    }

    fn forward(&self, x: &Tensor, fused: bool) -> Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, l, 3, self.heads, self.head_dim))?;
        let qkv = qkv.permute((2, 0, 3, 1, 4))?; // (3, B, H, L, hd)
        let q = qkv.get(0)?.contiguous()?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let att = (q.matmul(&k.t()?)? * scale)?;
        let att = if fused {
            candle_nn::ops::softmax_last_dim(&att)?
        } else {
            candle_nn::ops::softmax(&att, D::Minus1)?
        };
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
        self.out.forward(&y)
    }
}

struct Block {
    ln1: LayerNorm,
    attn: Attention,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl Block {
    fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let hidden = cfg.d_model * cfg.mlp_ratio;
        Ok(Block {
            ln1: LayerNorm::new(cfg.d_model, vb.pp("ln1"))?,
            attn: Attention::new(cfg, vb.pp("attn"))?,
            ln2: LayerNorm::new(cfg.d_model, vb.pp("ln2"))?,
            fc1: linear(cfg.d_model, hidden, vb.pp("fc1"))?,
            fc2: linear(hidden, cfg.d_model, vb.pp("fc2"))?,
        })
    }

    fn forward(&self, x: &Tensor, cond: &Tensor, fused: bool) -> Result<Tensor> {
        let x = x.broadcast_add(cond)?;
        let x = (&x + self.attn.forward(&self.ln1.forward(&x, fused)?, fused)?)?;
        let h = self.fc1.forward(&self.ln2.forward(&x, fused)?)?.silu()?;
        &x + self.fc2.forward(&h)?
    }
}

/// The denoising network.
pub struct Denoiser {
    cfg: ModelConfig,
    input: Linear,
    pos: Tensor,
    time1: Linear,
    time2: Linear,
    class: Embedding,
    blocks: Vec<Block>,
    ln_out: LayerNorm,
    output: Linear,
}

impl Denoiser {
    /// Builds the network's variables under `vb`.
    pub fn new(cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let d = cfg.d_model;
        let blocks = (0..cfg.layers)
            .map(|i| Block::new(cfg, vb.pp(format!("block{i}"))))
            .collect::<Result<_>>()?;
        Ok(Denoiser {
            cfg: cfg.clone(),
            input: linear(cfg.channels() + structure_channels(cfg), d, vb.pp("input"))?,
            pos: vb.get_with_hints(
                (cfg.max_packets, d),
                "pos",
                Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            )?,
            time1: linear(d, d, vb.pp("time1"))?,
            time2: linear(d, d, vb.pp("time2"))?,
            class: embedding(cfg.classes + 1, d, vb.pp("class"))?,
            blocks,
            ln_out: LayerNorm::new(d, vb.pp("ln_out"))?,
            output: linear(d, cfg.channels(), vb.pp("output"))?,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Predicts the clean values x₀ for `x_t` (B, L, channels) given the structure conditioning
    /// (B, L, bits + 1), the diffusion steps `t` (B, as f32 values 0..T) and the classes
    /// (B, u32; `classes` is the null class). `fused` selects the sampling kernels.
    pub fn forward(
        &self,
        x_t: &Tensor,
        structure: &Tensor,
        t: &Tensor,
        class: &Tensor,
        fused: bool,
    ) -> Result<Tensor> {
        let (_, l, _) = x_t.dims3()?;
        let h = self
            .input
            .forward(&Tensor::cat(&[x_t, structure], D::Minus1)?)?;
        let h = h.broadcast_add(&self.pos.narrow(0, 0, l)?)?;
        let temb = self.time2.forward(
            &self
                .time1
                .forward(&timestep_embedding(t, self.cfg.d_model)?)?
                .silu()?,
        )?;
        let cond = (temb + self.class.forward(class)?)?.unsqueeze(1)?; // (B, 1, d)
        let mut h = h;
        for b in &self.blocks {
            h = b.forward(&h, &cond, fused)?;
        }
        self.output
            .forward(&self.ln_out.forward(&h, fused)?)?
            .tanh()
    }
}

/// Sinusoidal embedding of diffusion steps `t` (B) into `dim` values.
fn timestep_embedding(t: &Tensor, dim: usize) -> Result<Tensor> {
    let half = dim / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10_000f32.ln()) * i as f32 / half as f32).exp())
        .collect();
    let freqs = Tensor::from_vec(freqs, (1, half), t.device())?;
    let args = t
        .to_dtype(DType::F32)?
        .unsqueeze(1)?
        .broadcast_mul(&freqs)?;
    Tensor::cat(&[args.cos()?, args.sin()?], D::Minus1)
}
