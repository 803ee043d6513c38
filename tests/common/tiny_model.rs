//! The tiny two-class training setup shared by the model and the daemon tests (each includes
//! this file with `#[path]`): real corpus captures linked into a folder per class, their
//! training set, and a small network configuration.

use netdiffd::corpus::list_captures;
use netdiffd::flows::Labels;
use netdiffd::model::dataset::{Dataset, DatasetSettings};
use netdiffd::model::{ModelConfig, TrainSettings};
use std::path::Path;

/// Links `dns_ambiguous_names.pcap` (class `dns`) and `smtp.pcap` (class `ftp_mail`) from the
/// corpus into `dir/<class>/`.
pub fn link_tiny_corpus(dir: &Path) {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    for (class, file) in [
        ("dns", "dns/dns_ambiguous_names.pcap"),
        ("ftp_mail", "ftp_mail/smtp.pcap"),
    ] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        let src = shared.join(file).canonicalize().expect("corpus capture");
        std::os::unix::fs::symlink(
            src,
            dir.join(class).join(Path::new(file).file_name().unwrap()),
        )
        .unwrap();
    }
}

/// The training set of the corpus in `dir`: windows of 8 packets, nothing held out.
pub fn tiny_dataset(dir: &Path) -> Dataset {
    tiny_dataset_with(
        dir,
        DatasetSettings {
            max_packets: 8,
            holdout_one_file_per_class: false,
            ..DatasetSettings::default()
        },
    )
}

/// The training set of the corpus in `dir` made with `settings`.
#[allow(dead_code)] // not every test binary including this file makes one
pub fn tiny_dataset_with(dir: &Path, settings: DatasetSettings) -> Dataset {
    let files = list_captures(dir).unwrap();
    Dataset::build(
        dir,
        &files,
        &Labels::from_folders(),
        &Default::default(),
        &settings,
        |_| {},
    )
    .unwrap()
}

/// A network small enough to train in seconds.
pub fn tiny_config(classes: usize) -> ModelConfig {
    ModelConfig {
        max_packets: 8,
        d_model: 32,
        layers: 1,
        heads: 2,
        mlp_ratio: 2,
        timesteps: 100,
        ..ModelConfig::cpu_default(classes)
    }
}

/// Training settings for the tiny network: `steps` steps of 8 windows, seeded, no checkpoints.
pub fn tiny_train_settings(steps: usize) -> TrainSettings {
    TrainSettings {
        steps,
        batch_size: 8,
        learning_rate: 3e-3,
        warmup: 5,
        checkpoint_every: 0,
        seed: 5,
        ..TrainSettings::default()
    }
}
