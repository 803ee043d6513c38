//! Generation for the daemon: the same flows as [`crate::pipeline::generate`] (same seeds,
//! same order, same start times), sampled one batch at a time so that a job can be cancelled
//! between batches and every batch feeds the metrics.

use crate::model::{sample, LoadedModel};
use crate::pipeline::{ClassMix, JobError, JobOutput, JobSettings, MAX_FLOWS};
use crate::repair::{repair_flow, FlowInput, RepairSettings};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a running generation reports.
pub trait GenerationObserver {
    /// A batch of `flows` flows was sampled in `seconds`.
    fn batch_sampled(&mut self, _flows: usize, _seconds: f64) {}
    /// Sampling is done; repair begins.
    fn repairing(&mut self) {}
    /// One flow of class `class` was repaired.
    fn flow_repaired(&mut self, _class: &str, _flow: &crate::repair::RepairedFlow) {}
}

/// Generates and repairs like [`crate::pipeline::generate`]; `Ok(None)` when `cancel` fired
/// between batches.
pub fn generate_in_batches(
    model: &LoadedModel,
    mix: &ClassMix,
    settings: &JobSettings,
    cancel: &CancellationToken,
    observer: &mut impl GenerationObserver,
) -> Result<Option<JobOutput>, JobError> {
    if settings.flows == 0 || settings.flows > MAX_FLOWS {
        return Err(JobError::Setting(format!(
            "flows must be 1..={MAX_FLOWS}, got {}",
            settings.flows
        )));
    }
    let max_steps = model.card.config.timesteps;
    if settings.sample.steps == 0 || settings.sample.steps > max_steps {
        return Err(JobError::Setting(format!(
            "steps must be 1..={max_steps}, got {}",
            settings.sample.steps
        )));
    }
    if !(0.0..=20.0).contains(&settings.sample.guidance) {
        return Err(JobError::Setting(format!(
            "guidance must be within 0..=20, got {}",
            settings.sample.guidance
        )));
    }
    let idx: Vec<usize> = mix
        .0
        .iter()
        .map(|(name, _)| model.card.class_index(name).map_err(JobError::Mix))
        .collect::<Result<_, _>>()?;
    let classes: Vec<usize> = mix
        .assign(settings.flows, settings.sample.seed)
        .into_iter()
        .map(|i| idx[i])
        .collect();
    let batch = settings.sample.batch.max(1);
    let t = Instant::now();
    let mut generated = Vec::with_capacity(classes.len());
    for (n, chunk) in classes.chunks(batch).enumerate() {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let tb = Instant::now();
        // Flow i is seeded by the seed and i whatever batch it is in, so sampling batch by
        // batch gives the flows one call over all of them would.
        let flows = sample(model, chunk, (n * batch) as u64, &settings.sample)?;
        observer.batch_sampled(chunk.len(), tb.elapsed().as_secs_f64());
        generated.extend(flows);
    }
    let sample_seconds = t.elapsed().as_secs_f64();
    if cancel.is_cancelled() {
        return Ok(None);
    }
    observer.repairing();
    let t = Instant::now();
    let mut rng = StdRng::seed_from_u64(settings.sample.seed ^ 0xf10);
    let mut start = settings.repair.start_ns;
    let mut flows = Vec::with_capacity(generated.len());
    for (i, g) in generated.iter().enumerate() {
        if g.is_empty() {
            continue;
        }
        let class = &model.card.classes[g.class];
        let rs = RepairSettings {
            start_ns: start,
            seed: settings.sample.seed,
            ..settings.repair.clone()
        };
        let input = FlowInput {
            rows: &g.rows,
            directions: Some(&g.directions),
            iat_ns: Some(&g.iat_ns),
            hints: Some(&class.hints),
        };
        let r = repair_flow(&input, &rs, i as u64)
            .map_err(|source| JobError::Repair { index: i, source })?;
        observer.flow_repaired(&class.name, &r);
        flows.push((class.name.clone(), r));
        let u: f64 = rng.random::<f64>().max(1e-12);
        start = start.saturating_add((-(u.ln()) * settings.mean_flow_gap_ns as f64) as u64);
    }
    Ok(Some(JobOutput {
        flows,
        sample_seconds,
        repair_seconds: t.elapsed().as_secs_f64(),
    }))
}
