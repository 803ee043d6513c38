//! [`Trainer`]: a training run as an object the caller drives, step by step, with checkpoints
//! when it wants them, and a finish that writes the model directory.

use super::batch::Batch;
use super::resume::{load_checkpoint, save_checkpoint, CheckpointState, CHECKPOINT_DIR};
use super::weights::{init_weights, snapshot, sorted_names, update_ema};
use super::{card_classes, StepReport, TrainOutput, TrainSettings};
use crate::model::checkpoint::{
    save_model, ModelCard, ModelError, TrainingRecord, WeightsRecord, FORMAT_VERSION,
    LAYOUT_VERSION,
};
use crate::model::config::ModelConfig;
use crate::model::dataset::{Dataset, Window};
use crate::model::denoiser::Denoiser;
use crate::model::schedule::NoiseSchedule;
use crate::nprint::layout::MODEL_WIDTH;
use crate::seed::{self, salt};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

/// Steps the loss curve averages over, one point each.
const CURVE_INTERVAL: usize = 50;
/// Last steps whose mean loss is the card's final loss.
const FINAL_LOSS_STEPS: usize = 100;

/// A training run on the training split of a dataset: the network, its optimiser and EMA, and
/// where the run is. Every step draws its batch from a generator seeded by the run's seed and
/// the step, so a resumed run draws the same batches as an uninterrupted one.
pub struct Trainer<'a> {
    ds: &'a Dataset,
    cfg: &'a ModelConfig,
    settings: &'a TrainSettings,
    out: &'a std::path::Path,
    dataset_name: &'a str,
    device: Device,
    by_class: Vec<Vec<&'a Window>>,
    varmap: VarMap,
    model: Denoiser,
    opt: AdamW,
    schedule: NoiseSchedule,
    ema: HashMap<String, Tensor>,
    /// Steps done (a resumed run starts at its checkpoint's).
    step: usize,
    curve: Vec<(usize, f32)>,
    recent: VecDeque<f32>,
    interval: f32,
    seconds_before: f64,
    started: Instant,
}

impl<'a> Trainer<'a> {
    /// A run of `settings` training a network of `cfg` on `ds`, initialised from the seed, or
    /// from `output.dir/checkpoint` when `output.resume` says so and there is one.
    pub fn new(
        ds: &'a Dataset,
        cfg: &'a ModelConfig,
        settings: &'a TrainSettings,
        output: TrainOutput<'a>,
        device: &Device,
    ) -> Result<Trainer<'a>, ModelError> {
        let out = output.dir;
        cfg.validate().map_err(|why| ModelError::Card {
            path: out.into(),
            why,
        })?;
        let by_class = super::training_windows_by_class(ds).map_err(|why| ModelError::Card {
            path: out.into(),
            why,
        })?;
        let started = Instant::now();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = Denoiser::new(cfg, vb)?;
        let names = sorted_names(&varmap);
        init_weights(&varmap, &names, settings.seed, device)?;
        let ckpt = out.join(CHECKPOINT_DIR);
        let mut ema = snapshot(&varmap)?;
        let mut state = CheckpointState {
            step: 0,
            curve: Vec::new(),
            seconds: 0.0,
        };
        if output.resume && ckpt.join("state.json").exists() {
            (state, ema) = load_checkpoint(&ckpt, &varmap, device)?;
        }
        let params = ParamsAdamW {
            lr: settings.learning_rate,
            weight_decay: settings.weight_decay,
            ..ParamsAdamW::default()
        };
        let opt = AdamW::new(varmap.all_vars(), params)?;
        Ok(Trainer {
            ds,
            cfg,
            settings,
            out,
            dataset_name: output.dataset_name,
            device: device.clone(),
            by_class,
            varmap,
            model,
            opt,
            schedule: NoiseSchedule::new(cfg),
            ema,
            step: state.step,
            curve: state.curve,
            recent: VecDeque::new(),
            interval: 0.0,
            seconds_before: state.seconds,
            started,
        })
    }

    /// Steps done so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// Runs the next optimiser step and reports it; `None` once [`TrainSettings::steps`] are
    /// done.
    pub fn step(&mut self) -> Result<Option<StepReport>, ModelError> {
        let (step, settings, cfg) = (self.step, self.settings, self.cfg);
        if step >= settings.steps {
            return Ok(None);
        }
        let mut rng = seed::rng(settings.seed, salt::STREAM, step as u64);
        self.opt.set_learning_rate(learning_rate(settings, step));
        let batch = Batch::draw(&self.by_class, cfg, settings, &self.schedule, &mut rng);
        let (b, l, device) = (settings.batch_size, cfg.max_packets, &self.device);
        let x_t = Tensor::from_vec(batch.x_t, (b, l, cfg.channels()), device)?;
        let structure = Tensor::from_vec(batch.structure, (b, l, MODEL_WIDTH + 1), device)?;
        let target = Tensor::from_vec(batch.target, (b, l, cfg.channels()), device)?;
        let weight = Tensor::from_vec(batch.weight, (b, l, cfg.channels()), device)?;
        let t = Tensor::from_vec(batch.t, b, device)?;
        let class = Tensor::from_vec(batch.class, b, device)?;
        let x0 = self.model.forward(&x_t, &structure, &t, &class, false)?;
        let err = ((x0 - target)?.sqr()? * &weight)?;
        let loss = (err.sum_all()? / weight.sum_all()?.clamp(1.0, f64::MAX)?)?;
        self.opt.backward_step(&loss)?;
        let lv = loss.to_scalar::<f32>()?;
        let decay = settings
            .ema_decay
            .min((1.0 + step as f64) / (10.0 + step as f64));
        update_ema(&mut self.ema, &self.varmap, decay)?;
        self.recent.push_back(lv);
        if self.recent.len() > FINAL_LOSS_STEPS {
            self.recent.pop_front();
        }
        self.interval += lv;
        if (step + 1) % CURVE_INTERVAL == 0 {
            self.curve
                .push((step + 1, self.interval / CURVE_INTERVAL as f32));
            self.interval = 0.0;
        }
        self.step = step + 1;
        Ok(Some(StepReport {
            step: self.step,
            loss: lv,
        }))
    }

    /// True when the settings ask for a checkpoint after the step just done: every
    /// [`TrainSettings::checkpoint_every`] steps, except after the last ([`Trainer::finish`]
    /// writes that one).
    pub fn checkpoint_due(&self) -> bool {
        let every = self.settings.checkpoint_every;
        self.step < self.settings.steps
            && every > 0
            && self.step > 0
            && self.step.is_multiple_of(every)
    }

    /// Writes a checkpoint of the run as it is to `MODEL_DIR/checkpoint/`.
    pub fn checkpoint(&self) -> Result<(), ModelError> {
        let state = CheckpointState {
            step: self.step,
            curve: self.curve.clone(),
            seconds: self.seconds(),
        };
        save_checkpoint(&self.checkpoint_dir(), &state, &self.varmap, &self.ema)
    }

    /// Ends the run: writes the model directory (card and EMA weights) and a last checkpoint,
    /// and returns the card.
    pub fn finish(self) -> Result<ModelCard, ModelError> {
        let settings = self.settings;
        // A resumed run with no step left reports the last recorded interval's loss.
        let final_loss = if self.recent.is_empty() {
            self.curve.last().map_or(0.0, |c| c.1)
        } else {
            self.recent.iter().sum::<f32>() / self.recent.len() as f32
        };
        let mut card = ModelCard {
            format_version: FORMAT_VERSION,
            layout_version: LAYOUT_VERSION,
            netdiffd_version: env!("CARGO_PKG_VERSION").into(),
            config: self.cfg.clone(),
            schedule: NoiseSchedule::NAME.into(),
            classes: card_classes(self.ds, &self.by_class, settings.seed),
            corpus: self.ds.files.clone(),
            training: TrainingRecord {
                steps: settings.steps,
                batch_size: settings.batch_size,
                learning_rate: settings.learning_rate,
                seed: settings.seed,
                final_loss,
                loss_curve: self.curve.clone(),
                // Every run's time: a resumed run adds its own to the checkpoint's.
                seconds: self.seconds(),
                dataset: self.dataset_name.into(),
            },
            weights: WeightsRecord {
                file: String::new(),
                sha256: String::new(),
                dtype: String::new(),
                params: 0,
            },
            evaluation: serde_json::Value::Null,
        };
        save_model(self.out, &mut card, &self.ema)?;
        let dir = self.checkpoint_dir();
        let state = CheckpointState {
            step: settings.steps,
            curve: self.curve,
            seconds: card.training.seconds,
        };
        save_checkpoint(&dir, &state, &self.varmap, &self.ema)?;
        Ok(card)
    }

    /// Seconds of training so far, earlier runs of a resumed one included.
    fn seconds(&self) -> f64 {
        self.seconds_before + self.started.elapsed().as_secs_f64()
    }

    fn checkpoint_dir(&self) -> PathBuf {
        self.out.join(CHECKPOINT_DIR)
    }
}

/// Share of the peak learning rate left at the last step.
const FINAL_LR_SHARE: f64 = 0.1;

/// The learning rate of `step`: a linear warm-up to [`TrainSettings::learning_rate`], then a
/// cosine decay to [`FINAL_LR_SHARE`] of it at the last step.
fn learning_rate(settings: &TrainSettings, step: usize) -> f64 {
    let warmup = settings.warmup.max(1);
    let rise = ((step + 1) as f64 / warmup as f64).min(1.0);
    let decay_steps = settings.steps.saturating_sub(warmup).max(1);
    let progress = (step.saturating_sub(warmup) as f64 / decay_steps as f64).min(1.0);
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
    settings.learning_rate * rise * (FINAL_LR_SHARE + (1.0 - FINAL_LR_SHARE) * cosine)
}

#[cfg(test)]
mod lr_tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_a_tenth() {
        let s = TrainSettings {
            steps: 1200,
            warmup: 200,
            learning_rate: 1e-3,
            ..TrainSettings::default()
        };
        assert!((learning_rate(&s, 0) - 1e-3 / 200.0).abs() < 1e-12);
        assert!((learning_rate(&s, 199) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(&s, 700) - 0.55e-3).abs() < 1e-9);
        assert!((learning_rate(&s, 1199) - 1e-4).abs() < 2e-7);
        let mut last = f64::MAX;
        for step in 199..1200 {
            let lr = learning_rate(&s, step);
            assert!(lr <= last, "step {step}: {lr} after {last}");
            last = lr;
        }
    }
}
