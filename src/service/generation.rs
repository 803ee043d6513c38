//! Generation for the daemon: [`crate::pipeline::generate_observed`] with the job's
//! cancellation token, so that a job can be cancelled between sampling batches and every batch
//! feeds the metrics.

use crate::model::LoadedModel;
use crate::pipeline::{generate_observed, ClassMix, JobError, JobOutput, JobSettings};
use tokio_util::sync::CancellationToken;

pub use crate::pipeline::GenerationObserver;

/// Generates and repairs like [`crate::pipeline::generate`]; `Ok(None)` when `cancel` fired
/// between batches.
pub fn generate_in_batches(
    model: &LoadedModel,
    mix: &ClassMix,
    settings: &JobSettings,
    cancel: &CancellationToken,
    observer: &mut impl GenerationObserver,
) -> Result<Option<JobOutput>, JobError> {
    generate_observed(model, mix, settings, &|| cancel.is_cancelled(), observer)
}
