//! The noise schedule and the DDIM sampler, in the shape of candle's `ddim.rs`: one
//! [`NoiseSchedule`] (the cosine ᾱ_t of the training timesteps) whose `add_noise` training uses
//! for the forward process, and one [`Ddim`] (the timesteps a sampling job visits, with `step`
//! and `add_noise`) built once a job. The network predicts x₀, and sampling is deterministic
//! (η = 0).

use super::config::ModelConfig;
use candle_core::Tensor;

/// The cosine noise schedule (Nichol & Dhariwal 2021): ᾱ(t) for t = 0..T.
#[derive(Debug, Clone)]
pub struct NoiseSchedule {
    /// ᾱ_t, the share of signal left after t steps, for t in 0..T (ᾱ_0 is step 1's).
    alpha_bar: Vec<f64>,
}

impl NoiseSchedule {
    /// The schedule's name in a model card.
    pub const NAME: &'static str = "cosine";

    /// The schedule of a model: cosine over its [`ModelConfig::timesteps`].
    pub fn new(cfg: &ModelConfig) -> NoiseSchedule {
        NoiseSchedule::cosine(cfg.timesteps)
    }

    /// The cosine schedule over `timesteps` steps.
    pub fn cosine(timesteps: usize) -> NoiseSchedule {
        let s = 0.008;
        let f = |t: f64| {
            ((t / timesteps as f64 + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2)
                .cos()
                .powi(2)
        };
        let f0 = f(0.0);
        let alpha_bar = (1..=timesteps)
            .map(|t| (f(t as f64) / f0).clamp(1e-5, 0.9999))
            .collect();
        NoiseSchedule { alpha_bar }
    }

    /// Number of training timesteps.
    pub fn len(&self) -> usize {
        self.alpha_bar.len()
    }

    /// True when the schedule has no timesteps.
    pub fn is_empty(&self) -> bool {
        self.alpha_bar.is_empty()
    }

    /// ᾱ_t, the share of signal left at timestep `t`.
    pub fn alpha_bar(&self, t: usize) -> f64 {
        self.alpha_bar[t]
    }

    /// x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·noise, on tensors.
    pub fn add_noise(&self, x0: &Tensor, noise: &Tensor, t: usize) -> candle_core::Result<Tensor> {
        let ab = self.alpha_bar[t];
        (x0 * ab.sqrt())? + (noise * (1.0 - ab).sqrt())?
    }

    /// x_t of each of the clean values `x0`, appended to `out`, on the CPU (a training batch is
    /// built as flat vectors): `noise` is called once a value, in order.
    pub fn add_noise_to(
        &self,
        x0: &[f32],
        t: usize,
        mut noise: impl FnMut() -> f32,
        out: &mut Vec<f32>,
    ) {
        let ab = self.alpha_bar[t];
        let (sa, sn) = (ab.sqrt() as f32, (1.0 - ab).sqrt() as f32);
        out.extend(x0.iter().map(|&v| sa * v + sn * noise()));
    }
}

/// Deterministic DDIM over a [`NoiseSchedule`]: the timesteps a sampling job visits, from the
/// noisiest down to 0, and the update from one to the next.
#[derive(Debug, Clone)]
pub struct Ddim {
    schedule: NoiseSchedule,
    timesteps: Vec<usize>,
}

impl Ddim {
    /// DDIM in `steps` steps (clamped to 1..=T) over the schedule of `cfg`.
    pub fn new(cfg: &ModelConfig, steps: usize) -> Ddim {
        let schedule = NoiseSchedule::new(cfg);
        let timesteps = ddim_timesteps(cfg.timesteps, steps.clamp(1, cfg.timesteps));
        Ddim {
            schedule,
            timesteps,
        }
    }

    /// The timesteps visited, from the noisiest (T − 1) down to 0, evenly spaced.
    pub fn timesteps(&self) -> &[usize] {
        &self.timesteps
    }

    /// The schedule under the steps.
    pub fn schedule(&self) -> &NoiseSchedule {
        &self.schedule
    }

    /// x_t of clean values `x0` with `noise`, as [`NoiseSchedule::add_noise`].
    pub fn add_noise(&self, x0: &Tensor, noise: &Tensor, t: usize) -> candle_core::Result<Tensor> {
        self.schedule.add_noise(x0, noise, t)
    }

    /// One DDIM update (η = 0): from `sample` at timestep `t` and the network's clean values
    /// `x0` to the sample at the next timestep visited (the clean values themselves after the
    /// last one).
    pub fn step(&self, x0: &Tensor, t: usize, sample: &Tensor) -> candle_core::Result<Tensor> {
        let ab = self.schedule.alpha_bar(t);
        let ab_prev = self
            .timesteps
            .iter()
            .find(|&&s| s < t)
            .map_or(1.0, |&s| self.schedule.alpha_bar(s));
        let (sa, sn) = (ab.sqrt(), (1.0 - ab).sqrt());
        let eps = ((sample - (x0 * sa)?)? / sn.max(1e-4))?;
        (x0 * ab_prev.sqrt())? + (&eps * (1.0 - ab_prev).sqrt())?
    }
}

/// The timesteps DDIM visits, from the noisiest (T − 1) down to 0, evenly spaced.
fn ddim_timesteps(timesteps: usize, steps: usize) -> Vec<usize> {
    if steps <= 1 {
        return vec![timesteps - 1];
    }
    (0..steps)
        .map(|i| (timesteps - 1) * (steps - 1 - i) / (steps - 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_decreases_from_one_to_zero() {
        let s = NoiseSchedule::cosine(1000);
        assert_eq!(s.len(), 1000);
        assert!(s.alpha_bar(0) > 0.999);
        assert!(s.alpha_bar(999) < 0.001);
        assert!(s.alpha_bar.windows(2).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn ddim_runs_from_the_noisiest_step_down_to_zero() {
        assert_eq!(ddim_timesteps(1000, 4), vec![999, 666, 333, 0]);
        assert_eq!(ddim_timesteps(1000, 1), vec![999]);
        let s = ddim_timesteps(1000, 20);
        assert!(s.windows(2).all(|w| w[0] > w[1]));
        let cfg = ModelConfig::cpu_default(1);
        assert_eq!(Ddim::new(&cfg, 0).timesteps(), &[999]);
        assert_eq!(Ddim::new(&cfg, 5000).timesteps().len(), 1000);
    }

    #[test]
    fn the_last_step_gives_the_clean_values() {
        let d = Ddim::new(&ModelConfig::cpu_default(1), 3);
        let dev = candle_core::Device::Cpu;
        let x0 = Tensor::new(&[0.5f32, -1.0], &dev).unwrap();
        let x = Tensor::new(&[0.1f32, 0.2], &dev).unwrap();
        let out = d.step(&x0, 0, &x).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(out, vec![0.5, -1.0]);
    }

    #[test]
    fn tensor_and_cpu_noising_agree() {
        let s = NoiseSchedule::cosine(100);
        let dev = candle_core::Device::Cpu;
        let (x0, n) = (vec![1.0f32, -1.0, 0.0], vec![0.3f32, -0.7, 1.1]);
        let mut cpu = Vec::new();
        let mut it = n.iter().copied();
        s.add_noise_to(&x0, 40, || it.next().unwrap(), &mut cpu);
        let t = s
            .add_noise(
                &Tensor::new(x0.as_slice(), &dev).unwrap(),
                &Tensor::new(n.as_slice(), &dev).unwrap(),
                40,
            )
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (a, b) in cpu.iter().zip(&t) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
