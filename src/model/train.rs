//! Training: the denoising objective with an x₀-predicting network (the clean values from the
//! noisy ones), on populated positions plus the direction
//! and timing channels, class-balanced batches, AdamW with warm-up, an EMA of the weights,
//! classifier-free guidance dropout, free-structure dropout, checkpoints and resume. Every random
//! draw comes from a generator seeded by (seed, step), so a run is reproducible and a resumed
//! run draws the same batches as an uninterrupted one.

use super::arrivals::FlowArrivals;
use super::checkpoint::{
    save_model, CardClass, ModelCard, ModelError, TrainingRecord, WeightsRecord, FORMAT_VERSION,
    LAYOUT_VERSION,
};
use super::config::ModelConfig;
use super::dataset::{Dataset, Split, Window};
use super::denoiser::Denoiser;
use super::encoding::{no_structure, window_values, Template};
use super::normal;
use super::schedule::NoiseSchedule;
use crate::nprint::layout::MODEL_WIDTH;
use crate::repair::ClassHints;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::path::Path;

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

const CHECKPOINT_DIR: &str = "checkpoint";

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
/// every step to `progress`.
pub fn train(
    ds: &Dataset,
    cfg: &ModelConfig,
    settings: &TrainSettings,
    output: TrainOutput<'_>,
    device: &Device,
    mut progress: impl FnMut(StepReport),
) -> Result<ModelCard, ModelError> {
    let TrainOutput {
        dir: out,
        dataset_name,
        resume,
    } = output;
    cfg.validate().map_err(|why| ModelError::Card {
        path: out.into(),
        why,
    })?;
    let by_class: Vec<Vec<&Window>> = (0..ds.classes.len())
        .map(|c| ds.split(Split::Train).filter(|w| w.class == c).collect())
        .collect();
    if let Some(c) = by_class.iter().position(|v| v.is_empty()) {
        return Err(ModelError::Card {
            path: out.into(),
            why: format!("class {} has no training windows", ds.classes[c].name),
        });
    }
    let started = std::time::Instant::now();
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = Denoiser::new(cfg, vb)?;
    let names = sorted_names(&varmap);
    init_weights(&varmap, &names, settings.seed, device)?;
    let ckpt = out.join(CHECKPOINT_DIR);
    let mut start = 0;
    let mut ema: HashMap<String, Tensor> = snapshot(&varmap)?;
    let mut curve: Vec<(usize, f32)> = Vec::new();
    let mut seconds_before = 0.0;
    if resume && ckpt.join("state.json").exists() {
        let (state, e) = load_checkpoint(&ckpt, &varmap, device)?;
        start = state.step;
        ema = e;
        curve = state.curve;
        seconds_before = state.seconds;
    }
    let params = ParamsAdamW {
        lr: settings.learning_rate,
        weight_decay: settings.weight_decay,
        ..ParamsAdamW::default()
    };
    let mut opt = AdamW::new(varmap.all_vars(), params)?;
    let schedule = NoiseSchedule::new(cfg);
    let l = cfg.max_packets;
    let mut recent: Vec<f32> = Vec::new();
    let mut interval = 0f32;
    for step in start..settings.steps {
        let mut rng = StdRng::seed_from_u64(
            settings.seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let lr =
            settings.learning_rate * ((step + 1) as f64 / settings.warmup.max(1) as f64).min(1.0);
        opt.set_learning_rate(lr);
        let batch = Batch::draw(&by_class, cfg, settings, &schedule, &mut rng);
        let b = settings.batch_size;
        let x_t = Tensor::from_vec(batch.x_t, (b, l, cfg.channels()), device)?;
        let structure = Tensor::from_vec(batch.structure, (b, l, MODEL_WIDTH + 1), device)?;
        let target = Tensor::from_vec(batch.target, (b, l, cfg.channels()), device)?;
        let weight = Tensor::from_vec(batch.weight, (b, l, cfg.channels()), device)?;
        let t = Tensor::from_vec(batch.t, b, device)?;
        let class = Tensor::from_vec(batch.class, b, device)?;
        let x0 = model.forward(&x_t, &structure, &t, &class, false)?;
        let err = ((x0 - target)?.sqr()? * &weight)?;
        let loss = (err.sum_all()? / weight.sum_all()?.clamp(1.0, f64::MAX)?)?;
        opt.backward_step(&loss)?;
        let lv = loss.to_scalar::<f32>()?;
        update_ema(
            &mut ema,
            &varmap,
            settings
                .ema_decay
                .min((1.0 + step as f64) / (10.0 + step as f64)),
        )?;
        recent.push(lv);
        if recent.len() > 100 {
            recent.remove(0);
        }
        interval += lv;
        if (step + 1) % 50 == 0 {
            curve.push((step + 1, interval / 50.0));
            interval = 0.0;
        }
        progress(StepReport {
            step: step + 1,
            loss: lv,
        });
        let last = step + 1 == settings.steps;
        if !last && settings.checkpoint_every > 0 && (step + 1) % settings.checkpoint_every == 0 {
            let state = CheckpointState {
                step: step + 1,
                curve: curve.clone(),
                seconds: seconds_before + started.elapsed().as_secs_f64(),
            };
            save_checkpoint(&ckpt, &state, &varmap, &ema)?;
        }
    }
    // A resumed run with no step left reports the last recorded interval's loss.
    let final_loss = if recent.is_empty() {
        curve.last().map_or(0.0, |c| c.1)
    } else {
        recent.iter().sum::<f32>() / recent.len() as f32
    };
    let mut card = ModelCard {
        format_version: FORMAT_VERSION,
        layout_version: LAYOUT_VERSION,
        netdiffd_version: env!("CARGO_PKG_VERSION").into(),
        config: cfg.clone(),
        schedule: NoiseSchedule::NAME.into(),
        classes: card_classes(ds, &by_class, settings.seed),
        corpus: ds.files.clone(),
        training: TrainingRecord {
            steps: settings.steps,
            batch_size: settings.batch_size,
            learning_rate: settings.learning_rate,
            seed: settings.seed,
            final_loss,
            loss_curve: curve.clone(),
            // Every run's time: a resumed run adds its own to the checkpoint's.
            seconds: seconds_before + started.elapsed().as_secs_f64(),
            dataset: dataset_name.into(),
        },
        weights: WeightsRecord {
            file: String::new(),
            sha256: String::new(),
            dtype: String::new(),
            params: 0,
        },
        evaluation: serde_json::Value::Null,
    };
    save_model(out, &mut card, &ema)?;
    let state = CheckpointState {
        step: settings.steps,
        curve,
        seconds: card.training.seconds,
    };
    save_checkpoint(&ckpt, &state, &varmap, &ema)?;
    Ok(card)
}

/// One training batch, as flat vectors.
struct Batch {
    x_t: Vec<f32>,
    structure: Vec<f32>,
    target: Vec<f32>,
    weight: Vec<f32>,
    t: Vec<f32>,
    class: Vec<u32>,
}

impl Batch {
    fn draw(
        by_class: &[Vec<&Window>],
        cfg: &ModelConfig,
        s: &TrainSettings,
        sch: &NoiseSchedule,
        rng: &mut StdRng,
    ) -> Batch {
        let (l, c) = (cfg.max_packets, cfg.channels());
        let mut b = Batch {
            x_t: Vec::new(),
            structure: Vec::new(),
            target: Vec::new(),
            weight: Vec::new(),
            t: Vec::new(),
            class: Vec::new(),
        };
        let mut x0 = Vec::with_capacity(l * c);
        for _ in 0..s.batch_size {
            let class = rng.random_range(0..by_class.len());
            let w = by_class[class][rng.random_range(0..by_class[class].len())];
            x0.clear();
            window_values(w, l, &mut x0);
            let free = rng.random::<f64>() < s.structure_dropout;
            let start = b.weight.len();
            b.weight.resize(start + l * c, 0.0);
            if free {
                // Everything is to be generated, padding rows included (they end the flow).
                no_structure(l, &mut b.structure);
                b.weight[start..].fill(1.0);
            } else {
                let tpl = Template::of(w);
                tpl.structure(l, &mut b.structure);
                for p in 0..w.len.min(l) {
                    let row = &mut b.weight[start + p * c..start + (p + 1) * c];
                    for (wt, pop) in row[..MODEL_WIDTH].iter_mut().zip(tpl.populated(p)) {
                        *wt = f32::from(u8::from(pop));
                    }
                    row[MODEL_WIDTH..].fill(1.0);
                }
            }
            let t = rng.random_range(0..sch.len());
            b.target.extend_from_slice(&x0);
            sch.add_noise_to(&x0, t, || normal(rng), &mut b.x_t);
            b.t.push(t as f32);
            b.class.push(if rng.random::<f64>() < s.class_dropout {
                by_class.len() as u32
            } else {
                class as u32
            });
        }
        b
    }
}

fn sorted_names(vm: &VarMap) -> Vec<String> {
    let mut v: Vec<String> = vm
        .data()
        .lock()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn var(vm: &VarMap, name: &str) -> Result<Var, ModelError> {
    vm.data()
        .lock()
        .map_err(|_| ModelError::Device("variable map poisoned".into()))?
        .get(name)
        .cloned()
        .ok_or_else(|| ModelError::Device(format!("no variable {name}")))
}

/// Seeded initialisation: weights N(0, 1/fan_in), layer-norm gains 1, biases 0, the output
/// layer 0 (the untrained network predicts no noise), embeddings N(0, 0.02).
fn init_weights(
    vm: &VarMap,
    names: &[String],
    seed: u64,
    device: &Device,
) -> Result<(), ModelError> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
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

fn snapshot(vm: &VarMap) -> Result<HashMap<String, Tensor>, ModelError> {
    let d = vm
        .data()
        .lock()
        .map_err(|_| ModelError::Device("variable map poisoned".into()))?;
    d.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?.detach())))
        .collect()
}

fn update_ema(
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

#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointState {
    step: usize,
    curve: Vec<(usize, f32)>,
    /// Wall-clock seconds of training up to the checkpoint, over every resumed run.
    #[serde(default)]
    seconds: f64,
}

fn save_checkpoint(
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

type Resumed = (CheckpointState, HashMap<String, Tensor>);

fn load_checkpoint(dir: &Path, vm: &VarMap, device: &Device) -> Result<Resumed, ModelError> {
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

/// Templates, flow arrivals and fallback statistics of every class, from its training windows.
fn card_classes(ds: &Dataset, by_class: &[Vec<&Window>], seed: u64) -> Vec<CardClass> {
    const TEMPLATES: usize = 64;
    const IAT_SAMPLES: usize = 256;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7e3);
    ds.classes
        .iter()
        .enumerate()
        .map(|(c, entry)| {
            let ws = &by_class[c];
            // Whole flows: a flow's windows are consecutive in the set.
            let flows: Vec<&[&Window]> = ws.chunk_by(|a, b| a.flow == b.flow).collect();
            let mut idx: Vec<usize> = (0..flows.len()).collect();
            for i in (1..idx.len()).rev() {
                idx.swap(i, rng.random_range(0..=i));
            }
            let templates = idx
                .iter()
                .take(TEMPLATES)
                .map(|&i| Template::of_flow(flows[i].iter().copied()))
                .collect();
            let arrivals = FlowArrivals::learn(ws.iter().copied(), &mut rng);
            let (mut ff, mut fb, mut bf, mut bb) = (0f64, 0f64, 0f64, 0f64);
            let mut iats = Vec::new();
            let mut ports: HashMap<u16, usize> = HashMap::new();
            for w in ws {
                for p in 1..w.len {
                    match (w.backward[p - 1], w.backward[p]) {
                        (false, false) => ff += 1.0,
                        (false, true) => fb += 1.0,
                        (true, false) => bf += 1.0,
                        (true, true) => bb += 1.0,
                    }
                    iats.push(w.iat_ns[p]);
                }
                if w.server_port != 0 {
                    *ports.entry(w.server_port).or_insert(0) += 1;
                }
            }
            let chain = [(ff + 1.0) / (ff + fb + 2.0), (bf + 1.0) / (bf + bb + 2.0)];
            for i in (1..iats.len()).rev() {
                iats.swap(i, rng.random_range(0..=i));
            }
            iats.truncate(IAT_SAMPLES);
            let mut ports: Vec<(u16, usize)> = ports.into_iter().collect();
            ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            CardClass {
                name: entry.name.clone(),
                macro_group: entry.macro_group.clone(),
                train_windows: ws.len(),
                train_flows: flows.len(),
                templates,
                arrivals,
                hints: ClassHints {
                    direction_chain: Some(chain),
                    iat_samples_ns: iats,
                    server_ports: ports.into_iter().take(8).map(|p| p.0).collect(),
                },
            }
        })
        .collect()
}
