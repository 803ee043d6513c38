//! Stage 4, model: a diffusion model built for packet matrices. It learns the classes of the
//! user's own captures (dataset building, training) and generates new flows (sampling) with
//! class and structure conditioning and learned directions and timing. See
//! `../shared/design/model.md`.

pub mod arrivals;
pub mod calibration;
pub mod checkpoint;
pub mod config;
pub mod counters;
pub mod dataset;
pub mod denoiser;
pub mod encoding;
pub mod lengths;
pub mod port_times;
pub mod sample;
pub mod schedule;
pub mod template;
pub mod train;
pub mod windows;

pub use checkpoint::{device_for, load_card, load_model, LoadedModel, ModelCard, ModelError};
pub use config::ModelConfig;
pub use dataset::{Dataset, DatasetError, DatasetSettings, Split};
pub use sample::{sample, sample_with, GeneratedFlow, SampleSettings};
pub use schedule::{Ddim, NoiseSchedule};
pub use train::{rebuild_card, train, StepReport, TrainOutput, TrainSettings, Trainer};

use rand::Rng;

/// A 64-bit FNV-1a hash of a window's values, to find exact copies of training windows.
pub fn layout_hash(bits: &[crate::nprint::Bit]) -> u64 {
    bits.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b as u8)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A standard normal draw (Box-Muller), so that every random number of training and sampling
/// comes from the seeded generator.
pub(crate) fn normal(rng: &mut impl Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}
