//! One training batch: class-balanced windows (a class first, then a window of it), each with
//! its loss weights (populated positions and the side channels; everything when the structure
//! is dropped), noised at a random timestep of the schedule.

use super::TrainSettings;
use crate::model::config::ModelConfig;
use crate::model::dataset::Window;
use crate::model::encoding::window_values;
use crate::model::normal;
use crate::model::schedule::NoiseSchedule;
use crate::model::template::{no_structure, Template};
use crate::nprint::layout::MODEL_WIDTH;
use rand::rngs::StdRng;
use rand::Rng;

/// One training batch, as flat vectors.
pub(super) struct Batch {
    /// Noisy values, `batch × rows × channels`.
    pub x_t: Vec<f32>,
    /// Structure conditioning, `batch × rows × (MODEL_WIDTH + 1)`.
    pub structure: Vec<f32>,
    /// Clean values, the network's target.
    pub target: Vec<f32>,
    /// Loss weight of each value.
    pub weight: Vec<f32>,
    /// Timestep of each window.
    pub t: Vec<f32>,
    /// Class of each window (the null class where it was dropped).
    pub class: Vec<u32>,
}

impl Batch {
    /// Draws a batch from `by_class` (the training windows of each class) with `rng`.
    pub fn draw(
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
            // Every window weighs the same in the loss, however many packets it has: else the
            // one- and two-packet windows of scans, floods and DNS weigh 1/64 of a long flow's,
            // and their classes' rare flags (a scan's RST-ACK) are not learned.
            let total: f32 = b.weight[start..].iter().sum();
            if total > 0.0 {
                b.weight[start..].iter_mut().for_each(|w| *w /= total);
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
