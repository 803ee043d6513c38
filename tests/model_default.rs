//! The shipped default model (`models/default`): it loads, generates on the CPU traffic that
//! `netdiffd check` and tshark accept, and does not copy its training flows.

mod common;

use netdiffd::corpus::list_captures;
use netdiffd::flows::Labels;
use netdiffd::model::dataset::{Dataset, DatasetSettings};
use netdiffd::model::layout_hash;
use netdiffd::model::{load_model, sample, SampleSettings};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generate_netflix_and_portscan_passes_check_and_tshark() {
    let out = std::env::temp_dir().join(format!("netdiffd-default-{}.pcap", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .current_dir(root())
        .args([
            "generate",
            "--model",
            "models/default",
            "--mix",
            "netflix=1,portscan=1",
            "--flows",
            "20",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "generate failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = common::assert_check_strict_passes(&out);
    assert!(
        report.contains("20 flows") || report.contains("in 20 flows"),
        "{report}"
    );
    let e = common::tshark_expert(&out);
    assert_eq!(e.errors, 0, "{:#?}", e.in_section("Errors"));
    std::fs::remove_file(&out).unwrap();
}

#[test]
fn no_generated_flow_copies_a_training_flow() {
    let model = load_model(&root().join("models/default"), &candle_core::Device::Cpu).unwrap();
    // Every window of both corpora the model learned from, cut as the dataset cuts them.
    let l = model.card.config.max_packets;
    let settings = DatasetSettings {
        max_packets: l,
        ..DatasetSettings::default()
    };
    let mut training: HashSet<u64> = HashSet::new();
    for name in ["../shared/corpus", "../shared/lab-corpus"] {
        let corpus = root().join(name);
        let ds = Dataset::build(
            &corpus,
            &list_captures(&corpus).unwrap(),
            &Labels::from_folders(),
            &Default::default(),
            &settings,
            |_| {},
        )
        .unwrap();
        training.extend(ds.windows.iter().map(|w| layout_hash(&w.bits)));
    }
    let n_classes = model.card.classes.len();
    let classes: Vec<usize> = (0..1000).map(|i| i % n_classes).collect();
    let flows = sample(
        &model,
        &classes,
        0,
        &SampleSettings {
            batch: 25,
            seed: 11,
            // Two windows at most (the second one chained with context), to keep the test short.
            max_flow_packets: Some(2 * l),
            ..SampleSettings::default()
        },
    )
    .unwrap();
    assert_eq!(flows.len(), 1000);
    // A copy is a generated window equal to a training window, cut at the same packets.
    let mut copies = 0;
    let mut windows = 0;
    for f in &flows {
        for rows in f.rows.chunks(1088 * l) {
            let mut bits = Vec::with_capacity(l * 1024);
            for row in rows.chunks_exact(1088) {
                netdiffd::nprint::layout::standard_to_model(row, &mut bits);
            }
            windows += 1;
            copies += usize::from(training.contains(&layout_hash(&bits)));
        }
    }
    assert!(windows > 1000, "long flows make more than one window");
    assert_eq!(
        copies, 0,
        "{copies} of {windows} windows of 1000 generated flows are exact copies of training windows"
    );
}
