//! Sampling: batched DDIM with class conditioning (classifier-free guidance when the scale is
//! not 1) and structure conditioning from a template of the class, or free structure. Every
//! flow's noise comes from its own seed, so a flow does not depend on the batch it ran in.

use super::checkpoint::{LoadedModel, ModelError};
use super::config::Schedule;
use super::encoding::{decode_iat, no_structure, quantise_row, Template};
use super::normal;
use crate::flows::Direction;
use crate::nprint::layout::{model_to_standard, Bit, MODEL_WIDTH};
use candle_core::Tensor;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Sampling settings.
#[derive(Debug, Clone)]
pub struct SampleSettings {
    /// DDIM steps.
    pub steps: usize,
    /// Classifier-free guidance scale (1 = conditional only; above 1 doubles the work).
    pub guidance: f64,
    /// Generate the structure too instead of taking it from a template.
    pub free_structure: bool,
    /// Flows per batch.
    pub batch: usize,
    /// Seed; flow `i` uses `seed` and `i`.
    pub seed: u64,
}

impl Default for SampleSettings {
    fn default() -> Self {
        SampleSettings {
            steps: 10,
            guidance: 1.0,
            free_structure: false,
            batch: 8,
            seed: 0,
        }
    }
}

/// A generated flow, ready for repair.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedFlow {
    /// Class index.
    pub class: usize,
    /// Packets in the standard layout (1088 values each; addresses vacant).
    pub rows: Vec<Bit>,
    /// Per-packet directions.
    pub directions: Vec<Direction>,
    /// Per-packet gaps since the previous packet (ns).
    pub iat_ns: Vec<u64>,
}

impl GeneratedFlow {
    /// Number of packets.
    pub fn len(&self) -> usize {
        self.directions.len()
    }
    /// True when the flow has no packets.
    pub fn is_empty(&self) -> bool {
        self.directions.is_empty()
    }
}

/// Generates one flow for each entry of `classes` (class indices of the model's card); flow
/// `i` is seeded by `settings.seed` and `first_index + i`.
pub fn sample(
    m: &LoadedModel,
    classes: &[usize],
    first_index: u64,
    settings: &SampleSettings,
) -> Result<Vec<GeneratedFlow>, ModelError> {
    Ok(sample_with(m, classes, first_index, settings, &mut |_, _| true)?.unwrap_or_default())
}

/// As [`sample`], calling `after_batch(flows, seconds)` after each batch; when it returns false
/// sampling stops and the result is `None` (a caller's cancellation between batches).
pub fn sample_with(
    m: &LoadedModel,
    classes: &[usize],
    first_index: u64,
    settings: &SampleSettings,
    after_batch: &mut dyn FnMut(usize, f64) -> bool,
) -> Result<Option<Vec<GeneratedFlow>>, ModelError> {
    let cfg = &m.card.config;
    if let Some(&c) = classes.iter().find(|&&c| c >= cfg.classes) {
        return Err(ModelError::Device(format!(
            "class index {c} out of range (model has {})",
            cfg.classes
        )));
    }
    let steps = settings.steps.clamp(1, cfg.timesteps);
    let schedule = Schedule::cosine(cfg.timesteps);
    let (l, ch) = (cfg.max_packets, cfg.channels());
    // Each flow's template and noise come from its own generator. Flows are then sampled in
    // batches of similar template length, each batch only as many packets long as its longest
    // template (rows past a template are padding the network need not compute).
    struct Pending {
        index: usize,
        class: usize,
        template: Option<Template>,
        rng: StdRng,
    }
    let mut pending: Vec<Pending> = classes
        .iter()
        .enumerate()
        .map(|(i, &class)| {
            let mut rng = StdRng::seed_from_u64(
                settings.seed ^ (first_index + i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
            );
            let tpls = &m.card.classes[class].templates;
            let template = if settings.free_structure || tpls.is_empty() {
                None
            } else {
                Some(tpls[rng.random_range(0..tpls.len())].clone())
            };
            Pending {
                index: i,
                class,
                template,
                rng,
            }
        })
        .collect();
    let rows_needed = |p: &Pending| p.template.as_ref().map_or(l, |t| t.len().min(l));
    pending.sort_by_key(|p| (std::cmp::Reverse(rows_needed(p)), p.index));
    let mut out: Vec<Option<GeneratedFlow>> = vec![None; classes.len()];
    for chunk in pending.chunks_mut(settings.batch.max(1)) {
        let started = std::time::Instant::now();
        let b = chunk.len();
        let l = chunk.iter().map(&rows_needed).max().unwrap_or(l);
        let mut x = Vec::with_capacity(b * l * ch);
        let mut structure = Vec::with_capacity(b * l * (MODEL_WIDTH + 1));
        let mut templates: Vec<Option<Template>> = Vec::with_capacity(b);
        for p in chunk.iter_mut() {
            match &p.template {
                Some(t) => t.structure(l, &mut structure),
                None => no_structure(l, &mut structure),
            }
            templates.push(p.template.clone());
            x.extend((0..l * ch).map(|_| normal(&mut p.rng)));
        }
        let indices: Vec<usize> = chunk.iter().map(|p| p.index).collect();
        let chunk: Vec<usize> = chunk.iter().map(|p| p.class).collect();
        let dev = &m.device;
        let structure = Tensor::from_vec(structure, (b, l, MODEL_WIDTH + 1), dev)?;
        let cond: Vec<u32> = chunk.iter().map(|&c| c as u32).collect();
        let guided = (settings.guidance - 1.0).abs() > 1e-9;
        let (structure_in, class_in) = if guided {
            let null = vec![cfg.classes as u32; b];
            (
                Tensor::cat(&[&structure, &structure], 0)?,
                Tensor::from_vec([cond, null].concat(), 2 * b, dev)?,
            )
        } else {
            (structure.clone(), Tensor::from_vec(cond, b, dev)?)
        };
        let keep = structure_keep(&templates, l, ch, dev)?;
        let mut x = Tensor::from_vec(x, (b, l, ch), dev)?;
        let ts = ddim_steps(cfg.timesteps, steps);
        let mut x0 = x.clone();
        for (i, &t) in ts.iter().enumerate() {
            let ab = schedule.alpha_bar[t];
            let ab_prev = if i + 1 < ts.len() {
                schedule.alpha_bar[ts[i + 1]]
            } else {
                1.0
            };
            let x_in = if guided {
                Tensor::cat(&[&x, &x], 0)?
            } else {
                x.clone()
            };
            let t_in = Tensor::from_vec(vec![t as f32; x_in.dim(0)?], x_in.dim(0)?, dev)?;
            let x0_pred = m
                .denoiser
                .forward(&x_in, &structure_in, &t_in, &class_in, true)?;
            x0 = if guided {
                let c = x0_pred.narrow(0, 0, b)?;
                let u = x0_pred.narrow(0, b, b)?;
                (&u + ((c - &u)? * settings.guidance)?)?.clamp(-1f32, 1f32)?
            } else {
                x0_pred
            };
            let (sa, sn) = (ab.sqrt(), (1.0 - ab).sqrt());
            if let Some(k) = &keep {
                x0 = (&x0 * k)?;
            }
            let eps = ((&x - (&x0 * sa)?)? / sn.max(1e-4))?;
            x = ((&x0 * ab_prev.sqrt())? + (&eps * (1.0 - ab_prev).sqrt())?)?;
        }
        let values: Vec<f32> = x0.flatten_all()?.to_vec1()?;
        for (i, tpl) in templates.iter().enumerate() {
            out[indices[i]] = Some(decode_flow(
                &values[i * l * ch..(i + 1) * l * ch],
                chunk[i],
                tpl.as_ref(),
                l,
                ch,
            ));
        }
        if !after_batch(b, started.elapsed().as_secs_f64()) {
            return Ok(None);
        }
    }
    Ok(Some(out.into_iter().flatten().collect()))
}

/// The diffusion steps DDIM visits, from the noisiest (T − 1) down to 0, evenly spaced.
fn ddim_steps(timesteps: usize, steps: usize) -> Vec<usize> {
    if steps <= 1 {
        return vec![timesteps - 1];
    }
    (0..steps)
        .map(|i| (timesteps - 1) * (steps - 1 - i) / (steps - 1))
        .collect()
}

/// For template-conditioned flows, a 0/1 tensor that keeps populated positions and zeroes the
/// rest (known vacancies are not left to the network); `None` when no flow has a template.
fn structure_keep(
    templates: &[Option<Template>],
    l: usize,
    ch: usize,
    dev: &candle_core::Device,
) -> Result<Option<Tensor>, ModelError> {
    if templates.iter().all(|t| t.is_none()) {
        return Ok(None);
    }
    let mut k = vec![1f32; templates.len() * l * ch];
    for (i, t) in templates.iter().enumerate() {
        let Some(t) = t else { continue };
        for p in 0..l {
            let row = &mut k[(i * l + p) * ch..(i * l + p + 1) * ch];
            if p >= t.len() {
                row.fill(0.0);
                continue;
            }
            for (v, pop) in row[..MODEL_WIDTH].iter_mut().zip(t.populated(p)) {
                *v = f32::from(u8::from(pop));
            }
        }
    }
    Ok(Some(Tensor::from_vec(k, (templates.len(), l, ch), dev)?))
}

fn decode_flow(
    values: &[f32],
    class: usize,
    tpl: Option<&Template>,
    l: usize,
    ch: usize,
) -> GeneratedFlow {
    let mut rows = Vec::new();
    let mut directions = Vec::new();
    let mut iat_ns = Vec::new();
    let mut model_row = Vec::with_capacity(MODEL_WIDTH);
    for p in 0..l {
        if tpl.is_some_and(|t| p >= t.len()) {
            break;
        }
        let v = &values[p * ch..(p + 1) * ch];
        model_row.clear();
        let pop = tpl.map(|t| t.populated(p));
        quantise_row(v, pop.as_deref(), &mut model_row);
        if tpl.is_none() && model_row.iter().all(|&b| b == -1) {
            break; // free structure: an all-vacant row ends the flow
        }
        model_to_standard(&model_row, &mut rows);
        directions.push(if v[MODEL_WIDTH] >= 0.0 {
            Direction::Forward
        } else {
            Direction::Backward
        });
        iat_ns.push(if p == 0 {
            0
        } else {
            decode_iat(v[MODEL_WIDTH + 1])
        });
    }
    GeneratedFlow {
        class,
        rows,
        directions,
        iat_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddim_runs_from_the_noisiest_step_down_to_zero() {
        assert_eq!(ddim_steps(1000, 4), vec![999, 666, 333, 0]);
        assert_eq!(ddim_steps(1000, 1), vec![999]);
        let s = ddim_steps(1000, 20);
        assert!(s.windows(2).all(|w| w[0] > w[1]));
    }
}
