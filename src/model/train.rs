//! Training: the denoising objective with an x₀-predicting network (the clean values from the
//! noisy ones), on populated positions plus the direction
//! and timing channels, class-balanced batches, AdamW with warm-up, an EMA of the weights,
//! classifier-free guidance dropout, free-structure dropout, checkpoints and resume. Every random
//! draw comes from a generator seeded by (seed, step), so a run is reproducible and a resumed
//! run draws the same batches as an uninterrupted one. A run is a [`Trainer`] (step,
//! checkpoint, finish); [`train`] drives one from start to end.

use super::arrivals::FlowArrivals;
use super::checkpoint::{CardClass, ModelCard, ModelError};
use super::config::ModelConfig;
use super::dataset::{Dataset, Window};
use super::template::Template;
use crate::corpus::HintsBuilder;
use candle_core::Device;
use rand::rngs::StdRng;
use std::path::Path;

mod batch;
mod resume;
mod trainer;
mod weights;

pub use trainer::Trainer;

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    /// Optimiser steps in all (a resumed run continues up to this number).
    pub steps: usize,
    /// Windows per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// EMA decay of the saved weights.
    pub ema_decay: f64,
    /// Probability of dropping the class (classifier-free guidance).
    pub class_dropout: f64,
    /// Probability of dropping the structure conditioning (free-structure generation).
    pub structure_dropout: f64,
    /// Warm-up steps of the learning rate.
    pub warmup: usize,
    /// Save a checkpoint every this many steps (0 = only at the end).
    pub checkpoint_every: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            steps: 4000,
            batch_size: 16,
            learning_rate: 1e-3,
            weight_decay: 0.01,
            ema_decay: 0.999,
            class_dropout: 0.1,
            structure_dropout: 0.1,
            warmup: 200,
            checkpoint_every: 500,
            seed: 0,
        }
    }
}

/// Progress of one step, for the caller's progress bar.
#[derive(Debug, Clone, Copy)]
pub struct StepReport {
    /// Step just done (1-based).
    pub step: usize,
    /// Its loss.
    pub loss: f32,
}

/// Where a training run writes its model, and what its card says the data was.
#[derive(Debug, Clone, Copy)]
pub struct TrainOutput<'a> {
    /// The model directory (card, weights, and `checkpoint/` while training).
    pub dir: &'a Path,
    /// The dataset's name for the model card.
    pub dataset_name: &'a str,
    /// Start from the checkpoint in `dir/checkpoint` when there is one.
    pub resume: bool,
}

/// Trains a model on the training split of `ds` and writes it where `output` says, reporting
/// every step to `progress`: a [`Trainer`] driven step by step, with a checkpoint every
/// [`TrainSettings::checkpoint_every`] steps.
pub fn train(
    ds: &Dataset,
    cfg: &ModelConfig,
    settings: &TrainSettings,
    output: TrainOutput<'_>,
    device: &Device,
    mut progress: impl FnMut(StepReport),
) -> Result<ModelCard, ModelError> {
    let mut trainer = Trainer::new(ds, cfg, settings, output, device)?;
    while let Some(report) = trainer.step()? {
        progress(report);
        if trainer.checkpoint_due() {
            trainer.checkpoint()?;
        }
    }
    trainer.finish()
}

/// Up to `n` of a class's `flows` training flows (indices), drawn uniformly without repeats:
/// the card's templates then follow the class's distribution of flows — what the real-vs-real
/// floor pools — whichever captures they come from.
fn draw_templates(flows: usize, n: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut all: Vec<usize> = (0..flows).collect();
    crate::seed::shuffle(&mut all, rng);
    all.truncate(n);
    all
}

/// Templates, flow arrivals and fallback statistics of every class, from its training windows.
fn card_classes(ds: &Dataset, by_class: &[Vec<&Window>], seed: u64) -> Vec<CardClass> {
    const TEMPLATES: usize = 256;
    let mut rng = crate::seed::rng(seed, crate::seed::salt::CARD_CLASSES, 0);
    ds.classes
        .iter()
        .enumerate()
        .map(|(c, entry)| {
            let ws = &by_class[c];
            // Whole flows: a flow's windows are consecutive in the set.
            let flows: Vec<&[&Window]> = ws.chunk_by(|a, b| a.flow == b.flow).collect();
            let templates = draw_templates(flows.len(), TEMPLATES, &mut rng)
                .into_iter()
                .map(|i| Template::of_flow(flows[i].iter().copied()))
                .collect();
            let arrivals = FlowArrivals::learn(ws.iter().copied(), &mut rng);
            let mut hints = HintsBuilder::new();
            for f in &flows {
                hints.push_flow_packets(f[0].server_port, f.iter().flat_map(|w| w.packets()));
            }
            CardClass {
                name: entry.name.clone(),
                macro_group: entry.macro_group.clone(),
                train_windows: ws.len(),
                train_flows: flows.len(),
                templates,
                arrivals,
                hints: hints.finish(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn templates_are_drawn_over_flows_without_repeats() {
        // A class of one capture of 1,000 flows and four small ones (7 flows in all).
        let mut rng = crate::seed::rng(1, 0, 0);
        let mut small = 0;
        for _ in 0..200 {
            let got = draw_templates(1007, 64, &mut rng);
            assert_eq!(got.len(), 64);
            assert_eq!(
                got.iter().collect::<HashSet<_>>().len(),
                64,
                "no flow twice"
            );
            assert!(got.iter().all(|&i| i < 1007));
            small += got.iter().filter(|&&i| i >= 1000).count();
        }
        // The small captures give their share of the class's flows (7 of 1,007: 89 of 12,800
        // draws expected), not the share of captures they are (4 of 5).
        assert!((40..150).contains(&small), "{small}");
        // More room than flows: every flow once; the same seed, the same draw.
        let mut all = draw_templates(12, 64, &mut rng);
        all.sort_unstable();
        assert_eq!(all, (0..12).collect::<Vec<_>>());
        let again = |seed| draw_templates(1007, 64, &mut crate::seed::rng(seed, 0, 0));
        assert_eq!(again(3), again(3));
    }
}
