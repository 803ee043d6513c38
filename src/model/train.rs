//! Training: the denoising objective with an x₀-predicting network (the clean values from the
//! noisy ones), on populated positions plus the direction
//! and timing channels, class-balanced batches, AdamW with warm-up, an EMA of the weights,
//! classifier-free guidance dropout, free-structure dropout, checkpoints and resume. Every random
//! draw comes from a generator seeded by (seed, step), so a run is reproducible and a resumed
//! run draws the same batches as an uninterrupted one. A run is a [`Trainer`] (step,
//! checkpoint, finish); [`train`] drives one from start to end.

use super::arrivals::FlowArrivals;
use super::calibration::calibrate;
use super::checkpoint::{load_model, save_card, CardClass, LoadedModel, ModelCard, ModelError};
use super::config::ModelConfig;
use super::counters::{CounterFirsts, FreshCounters};
use super::dataset::{Dataset, Split, Window};
use super::lengths::{LengthCalibration, LengthCounts};
use super::port_times::PortTimes;
use super::sample::SampleSettings;
use super::template::Template;
use super::windows::{WindowCalibration, WindowCounts};
use crate::corpus::HintsBuilder;
use candle_core::Device;
use rand::rngs::StdRng;
use std::collections::BTreeMap;
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
    /// Flows of each class the finished model samples at least to calibrate its times
    /// ([`calibration`](super::calibration)); 0 leaves the card without calibration.
    pub time_calibration_flows: usize,
}

/// Flows of each class a finished model samples at least to calibrate its times, by default.
pub const TIME_CALIBRATION_FLOWS: usize = 32;

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
            time_calibration_flows: TIME_CALIBRATION_FLOWS,
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
/// [`TrainSettings::checkpoint_every`] steps; the finished model then samples
/// [`TrainSettings::time_calibration_flows`] flows a class to calibrate its times.
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
    let mut card = trainer.finish()?;
    if settings.time_calibration_flows > 0 {
        // The model as it was written (f16 weights), sampled as `generate` samples it.
        let mut m = load_model(output.dir, device)?;
        calibrate_card(&mut m, &mut card, settings.time_calibration_flows)?;
        save_card(output.dir, &card)?;
    }
    Ok(card)
}

/// Makes the card of the model in `dir` anew from `ds`, for the weights already there and
/// without a step of training: templates, flow arrivals, repair hints and (with
/// `calibration_flows` above 0) the calibrations, as [`train`] makes them at the end of a run
/// and drawn with the seed the model was trained with. For a change of the training set that
/// keeps its classes — more captures of them, a longer `max_flow_packets` — or of how cards are
/// made. The classes of `ds` must be the card's, in its order (the network embeds them by
/// index), and its windows as long as the network's.
pub fn rebuild_card(
    ds: &Dataset,
    dir: &Path,
    dataset_name: &str,
    calibration_flows: usize,
    device: &Device,
) -> Result<ModelCard, ModelError> {
    // The model as written (its weights checked against its card), sampled as `generate`
    // samples it; the card in `dir` is replaced once the new one is whole.
    let mut m = load_model(dir, device)?;
    let mut card = m.card.clone();
    let refuse = |why: String| ModelError::SetMismatch {
        model: dir.into(),
        why,
    };
    let ours: Vec<&str> = card.classes.iter().map(|c| c.name.as_str()).collect();
    let theirs: Vec<&str> = ds.classes.iter().map(|c| c.name.as_str()).collect();
    if ours != theirs {
        return Err(refuse(format!(
            "its classes ({}) are not the model's ({}): a card made anew keeps the network's \
             classes; train a new model for others",
            theirs.join(", "),
            ours.join(", ")
        )));
    }
    if ds.max_packets != card.config.max_packets {
        return Err(refuse(format!(
            "its windows are {} packets, the network's {}",
            ds.max_packets, card.config.max_packets
        )));
    }
    let by_class = training_windows_by_class(ds).map_err(refuse)?;
    card.classes = card_classes(ds, &by_class, card.training.seed);
    card.corpus = ds.files.clone();
    card.training.dataset = dataset_name.into();
    m.card = card.clone();
    calibrate_card(&mut m, &mut card, calibration_flows)?;
    save_card(dir, &card)?;
    Ok(card)
}

/// The training windows of each class of `ds`, in class order; an error naming the first
/// class that has none.
pub(crate) fn training_windows_by_class(ds: &Dataset) -> Result<Vec<Vec<&Window>>, String> {
    let by_class: Vec<Vec<&Window>> = (0..ds.classes.len())
        .map(|c| ds.split(Split::Train).filter(|w| w.class == c).collect())
        .collect();
    match by_class.iter().position(|v| v.is_empty()) {
        Some(c) => Err(format!(
            "class {} has no training windows",
            ds.classes[c].name
        )),
        None => Ok(by_class),
    }
}

/// Calibrates the times and lengths of `m` on `flows` sampled flows a class at least and
/// copies them into `card`, the card `m` holds as written (one read back may differ from it in
/// a float's last digit); nothing when `flows` is 0.
fn calibrate_card(
    m: &mut LoadedModel,
    card: &mut ModelCard,
    flows: usize,
) -> Result<(), ModelError> {
    if flows == 0 {
        return Ok(());
    }
    let sampling = SampleSettings {
        seed: crate::seed::derive(card.training.seed, crate::seed::salt::TIME_CALIBRATION, 0),
        // The calibration compares the model's flows with the real ones they take the
        // structure of, length for length.
        exact_lengths: true,
        ..SampleSettings::default()
    };
    calibrate(m, flows, &sampling)?;
    for (c, sampled) in card.classes.iter_mut().zip(&m.card.classes) {
        c.time_calibration = sampled.time_calibration.clone();
        c.length_calibration = sampled.length_calibration.clone();
        c.window_calibration = sampled.window_calibration.clone();
        c.port_times = sampled.port_times.clone();
    }
    Ok(())
}

/// Up to `n` flows (indices into `files`, which gives each flow's capture file), drawn evenly
/// across the files: one random flow of each file in turn (files in random order), until `n`
/// are drawn or none is left. A class's captures are often unlike each other (another tool,
/// network or year); drawn uniformly over flows, the capture with the most flows would give
/// nearly every template.
fn spread_over_captures(files: &[usize], n: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut by_file: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &file) in files.iter().enumerate() {
        by_file.entry(file).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by_file.into_values().collect();
    for group in groups.iter_mut() {
        crate::seed::shuffle(group, rng);
    }
    crate::seed::shuffle(&mut groups, rng);
    let mut out = Vec::with_capacity(n.min(files.len()));
    for round in 0.. {
        if out.len() >= n || groups.iter().all(|g| g.len() <= round) {
            break;
        }
        for group in &groups {
            if let Some(&i) = group.get(round) {
                if out.len() < n {
                    out.push(i);
                }
            }
        }
    }
    out
}

/// Up to `n` of a class's training flows (indices into `files`, which gives each flow's capture
/// file) for its templates: half drawn evenly across the captures ([`spread_over_captures`]),
/// so that a capture of few flows is not left out, and the rest uniformly over the remaining
/// flows, so that the templates also follow the class's distribution of flows — what the
/// real-vs-real floor pools. Drawn all one way or all the other, each measured worse
/// (docs/evaluation.md, "Earlier models and candidates").
fn draw_templates(files: &[usize], n: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut out = spread_over_captures(files, n / 2, rng);
    let taken: std::collections::HashSet<usize> = out.iter().copied().collect();
    let mut rest: Vec<usize> = (0..files.len()).filter(|i| !taken.contains(i)).collect();
    crate::seed::shuffle(&mut rest, rng);
    out.extend(rest.into_iter().take(n - n / 2));
    out
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
            let files: Vec<usize> = flows.iter().map(|f| f[0].file).collect();
            let drawn = draw_templates(&files, TEMPLATES, &mut rng);
            // Sampled lengths and windows are calibrated on those of the flows the templates
            // come from, which are what the generated flows' kinds and directions follow.
            let mut real_lengths = LengthCounts::default();
            let mut real_windows = WindowCounts::default();
            for &i in &drawn {
                real_lengths.next_flow();
                let rows = flows[i].iter().flat_map(|w| w.rows());
                for (position, (row, backward)) in rows.enumerate() {
                    real_lengths.push(row, backward, position);
                    real_windows.push(row, backward, position);
                }
            }
            let templates = drawn
                .into_iter()
                .map(|i| Template::of_flow(flows[i].iter().copied()))
                .collect();
            // Each port's real gaps, from every training flow of the class as the class-wide
            // calibration's (every gap after a flow's first packet: a later window keeps its
            // first packet's gap); ICMP flows have no port.
            let mut port_times = PortTimes::default();
            for f in flows.iter().filter(|f| f[0].server_port != 0) {
                let gaps = f.iter().flat_map(|w| w.iat_ns[..w.len].iter().copied());
                port_times.add_real(f[0].server_port, gaps.skip(1));
            }
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
                time_calibration: None,
                length_calibration: LengthCalibration::of_real(real_lengths),
                window_calibration: WindowCalibration::of_real(real_windows),
                fresh_counters: Some(fresh_counters(&flows)),
                port_times: Some(port_times.pruned()),
            }
        })
        .collect()
}

/// Which per-connection counters the class's real `flows` start anew on every connection.
fn fresh_counters(flows: &[&[&Window]]) -> FreshCounters {
    let mut firsts = CounterFirsts::default();
    for f in flows {
        firsts.next_flow();
        for (row, backward) in f.iter().flat_map(|w| w.rows()) {
            firsts.push(row, backward);
        }
    }
    firsts.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The capture of each flow of a class: one capture of 1,000 flows and four small ones (3,
    /// 2, 1, 1 flows).
    fn one_big_capture_and_four_small() -> Vec<usize> {
        let mut files = vec![0usize; 1000];
        files.extend([1, 1, 1, 2, 2, 3, 4]);
        files
    }

    /// Asserts that `got` holds `n` flows, none twice.
    fn assert_n_distinct(got: &[usize], n: usize) {
        assert_eq!(got.len(), n);
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), n, "no flow twice");
    }

    #[test]
    fn templates_spread_over_every_capture_before_any_gives_a_second() {
        let files = one_big_capture_and_four_small();
        let mut rng = crate::seed::rng(1, 0, 0);
        let got = spread_over_captures(&files, 64, &mut rng);
        assert_n_distinct(&got, 64);
        // All 7 flows of the small captures are drawn; the big one gives the rest.
        assert_eq!(got.iter().filter(|&&i| files[i] != 0).count(), 7);
        // With room for 5, each capture gives one.
        let five = spread_over_captures(&files, 5, &mut rng);
        let caps: HashSet<usize> = five.iter().map(|&i| files[i]).collect();
        assert_eq!(caps.len(), 5, "{five:?}");
        // More room than flows: every flow once.
        assert_eq!(spread_over_captures(&files[995..], 64, &mut rng).len(), 12);
    }

    #[test]
    fn templates_are_half_spread_over_captures_and_half_drawn_over_flows() {
        let files = one_big_capture_and_four_small();
        let mut rng = crate::seed::rng(1, 0, 0);
        let mut small = 0;
        for _ in 0..100 {
            let got = draw_templates(&files, 64, &mut rng);
            assert_n_distinct(&got, 64);
            // The even half takes all 7 small-capture flows, leaving none for the other half.
            let n = got.iter().filter(|&&i| files[i] != 0).count();
            assert_eq!(n, 7, "{got:?}");
            small += got[32..].iter().filter(|&&i| files[i] != 0).count();
        }
        assert_eq!(
            small, 0,
            "nothing is left of the small captures for the second half"
        );
        // Two captures of 500 flows each: half even (16 each), half over flows.
        let files: Vec<usize> = (0..1000).map(|i| usize::from(i >= 500)).collect();
        let got = draw_templates(&files, 64, &mut rng);
        assert_eq!(got[..32].iter().filter(|&&i| files[i] == 0).count(), 16);
        // More room than flows: every flow once.
        let mut all = draw_templates(&files[990..], 64, &mut rng);
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
