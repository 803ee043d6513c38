//! The daemon samples batch by batch (to cancel between batches and meter each); this must
//! give exactly the flows of the pipeline's one-call generation, so that a job run by the
//! daemon and by `netdiffd generate` with the same seed and settings agree.

mod service_support;

use netdiffd::model::checkpoint::load_model;
use netdiffd::model::SampleSettings;
use netdiffd::pipeline::{generate, ClassMix, JobSettings};
use netdiffd::repair::RepairSettings;
use netdiffd::service::generation::{generate_in_batches, GenerationObserver};
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Count {
    batches: usize,
    repaired: usize,
}

impl GenerationObserver for Count {
    fn batch_sampled(&mut self, _flows: usize, _seconds: f64) {
        self.batches += 1;
    }
    fn flow_repaired(&mut self, _class: &str, _flow: &netdiffd::repair::RepairedFlow) {
        self.repaired += 1;
    }
}

#[test]
fn batch_by_batch_generation_equals_the_pipeline_and_can_be_cancelled() {
    let model = load_model(&service_support::tiny_model(), &candle_core::Device::Cpu).unwrap();
    let mix: ClassMix = "ftp_mail=2,dns=1".parse().unwrap();
    let settings = JobSettings {
        flows: 11,
        sample: SampleSettings {
            steps: 4,
            batch: 3,
            seed: 99,
            ..SampleSettings::default()
        },
        repair: RepairSettings::default(),
        mean_flow_gap_ns: Some(5_000_000),
    };
    let whole = generate(&model, &mix, &settings).unwrap();
    let mut count = Count::default();
    let batched = generate_in_batches(
        &model,
        &mix,
        &settings,
        &CancellationToken::new(),
        &mut count,
    )
    .unwrap()
    .unwrap();
    assert_eq!(count.batches, 4);
    assert_eq!(count.repaired, batched.flows.len());
    assert_eq!(whole.flows.len(), batched.flows.len());
    for ((ca, a), (cb, b)) in whole.flows.iter().zip(&batched.flows) {
        assert_eq!(ca, cb);
        assert_eq!(a.packets, b.packets);
    }

    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let r = generate_in_batches(&model, &mix, &settings, &cancelled, &mut Count::default());
    assert!(r.unwrap().is_none());
}
