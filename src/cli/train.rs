//! `netdiffd train`: a training set → a model directory.

use super::output::progress_bar;
use anyhow::{bail, Context};
use netdiffd::model::train::TIME_CALIBRATION_FLOWS;
use netdiffd::model::{
    device_for, rebuild_card, train, Dataset, ModelCard, ModelConfig, TrainOutput, TrainSettings,
};
use std::path::PathBuf;
use std::time::Instant;

/// Options of `netdiffd train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Training-set file from `netdiffd dataset`.
    #[arg(value_name = "DATA")]
    pub data: PathBuf,
    /// Model directory to write (card.json, model.safetensors, checkpoint/).
    #[arg(short = 'o', long = "output", value_name = "MODEL_DIR")]
    pub output: PathBuf,
    /// Optimiser steps.
    #[arg(long, default_value_t = 4000)]
    pub steps: usize,
    /// Windows per step.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Transformer width.
    #[arg(long, default_value_t = 128)]
    pub d_model: usize,
    /// Transformer blocks.
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save a checkpoint every N steps.
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: usize,
    /// Flows of each class the finished model samples at least to calibrate its times and
    /// payload lengths (a class of short flows samples more, up to 16 times as many, to count
    /// about 1,024 gaps; for the lengths of a flow's first 16 packets, position by position, a
    /// class samples up to four times as many, the extra ones one window long); 0: no
    /// calibration, times and lengths as the network chooses them.
    #[arg(long, default_value_t = TIME_CALIBRATION_FLOWS)]
    pub calibration_flows: usize,
    /// Continue from MODEL_DIR/checkpoint if present.
    #[arg(long, conflicts_with = "card_only")]
    pub resume: bool,
    /// Train nothing: make the card of the model in MODEL_DIR anew from DATA for the weights
    /// already there (templates, flow arrivals, repair hints, calibrations), drawn with the seed
    /// the model was trained with. DATA must have the model's classes, in its order: for a
    /// training set with more captures of them, or a longer --max-flow-packets. The options of
    /// the network and the optimiser are not used.
    #[arg(long)]
    pub card_only: bool,
    /// Device: auto, cpu or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
}

/// Runs `netdiffd train`.
pub fn run(a: &TrainArgs) -> anyhow::Result<i32> {
    if a.steps == 0 || a.steps > 10_000_000 {
        bail!("--steps must be 1..=10000000, got {}", a.steps);
    }
    if a.batch_size == 0 || a.batch_size > 4096 {
        bail!("--batch-size must be 1..=4096, got {}", a.batch_size);
    }
    if a.calibration_flows > 4096 {
        bail!(
            "--calibration-flows must be 0..=4096, got {}",
            a.calibration_flows
        );
    }
    if !(a.lr > 0.0 && a.lr < 1.0) {
        bail!("--lr must be in (0, 1), got {}", a.lr);
    }
    let ds = Dataset::load(&a.data)?;
    if a.card_only {
        let device = device_for(&a.device)?;
        let started = Instant::now();
        let card = rebuild_card(
            &ds,
            &a.output,
            &a.data.to_string_lossy(),
            a.calibration_flows,
            &device,
        )?;
        eprintln!(
            "card of {} made anew from {}: {} templates over {} classes",
            a.output.display(),
            a.data.display(),
            card.classes
                .iter()
                .map(|c| c.templates.len())
                .sum::<usize>(),
            card.classes.len()
        );
        report_calibration(&card, "card and calibration", started);
        return Ok(0);
    }
    let cfg = ModelConfig {
        max_packets: ds.max_packets,
        d_model: a.d_model,
        layers: a.layers,
        heads: a.heads,
        ..ModelConfig::cpu_default(ds.classes.len())
    };
    cfg.validate()
        .map_err(anyhow::Error::msg)
        .context("model configuration")?;
    let device = device_for(&a.device)?;
    let settings = TrainSettings {
        steps: a.steps,
        batch_size: a.batch_size,
        learning_rate: a.lr,
        checkpoint_every: a.checkpoint_every,
        seed: a.seed,
        time_calibration_flows: a.calibration_flows,
        ..TrainSettings::default()
    };
    let bar = progress_bar(a.steps as u64, "steps");
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] {pos}/{len} {msg} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut avg = 0f32;
    let card = train(
        &ds,
        &cfg,
        &settings,
        TrainOutput {
            dir: &a.output,
            dataset_name: &a.data.to_string_lossy(),
            resume: a.resume,
        },
        &device,
        |r| {
            avg = if r.step % 100 == 1 {
                r.loss
            } else {
                0.98 * avg + 0.02 * r.loss
            };
            bar.set_position(r.step as u64);
            bar.set_message(format!("loss {avg:.4}"));
            if !bar.is_hidden() {
                return;
            }
            if r.step % 100 == 0 {
                eprintln!(
                    "step {} loss {avg:.4} ({:.2} steps/s)",
                    r.step,
                    r.step as f64 / started.elapsed().as_secs_f64()
                );
            }
        },
    )?;
    bar.finish_and_clear();
    eprintln!(
        "trained {} steps in {:.0} s on {:?}: final loss {:.4}, {} parameters → {}",
        card.training.steps,
        card.training.seconds,
        device,
        card.training.final_loss,
        card.weights.params,
        a.output.display()
    );
    report_calibration(&card, "training and calibration", started);
    Ok(0)
}

/// Says how many sampled flows calibrated the card and how long the run (`what` it did) took.
fn report_calibration(card: &ModelCard, what: &str, started: Instant) {
    let calibrated: usize = card
        .classes
        .iter()
        .filter_map(|c| c.time_calibration.as_ref())
        .map(|t| t.flows)
        .sum();
    if calibrated > 0 {
        eprintln!(
            "times calibrated on {calibrated} sampled flows (this run, {what}: {:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }
}
