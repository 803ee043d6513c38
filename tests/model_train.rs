//! The model end to end on a tiny scale: a small network trained for a few dozen steps on a few
//! real corpus flows learns (its loss falls), is saved and reloaded, generates the same flows
//! for the same seed, and refuses damaged model files with a clear error.

use candle_core::Device;
use netdiffd::eval::distance::{compare, Histogram};
use netdiffd::model::checkpoint::{
    load_card, load_model, save_card, LoadedModel, ModelError, CARD_FILE, FORMAT_VERSION,
    WEIGHTS_FILE,
};
use netdiffd::model::dataset::DatasetSettings;
use netdiffd::model::encoding::iat_bin;
use netdiffd::model::train::TIME_CALIBRATION_FLOWS;
use netdiffd::model::{rebuild_card, sample, train, SampleSettings, TrainOutput};
use netdiffd::pipeline::{generate, ClassMix, JobError, JobSettings};
use netdiffd::repair::RepairSettings;
use std::path::PathBuf;

#[path = "common/tiny_model.rs"]
mod tiny_model;
use tiny_model::{
    link_tiny_corpus, tiny_config, tiny_dataset, tiny_dataset_with, tiny_train_settings,
};

#[path = "common/scratch.rs"]
mod scratch;
use scratch::TempDir;

/// A corpus of two classes made of links to real captures.
fn tiny_corpus(tag: &str) -> TempDir {
    let dir = TempDir::new(&format!("model-{tag}"));
    link_tiny_corpus(&dir);
    dir
}

fn trained(tag: &str) -> (TempDir, PathBuf, Vec<f32>) {
    let corpus = tiny_corpus(tag);
    let ds = tiny_dataset(&corpus.0);
    assert_eq!(ds.classes.len(), 2);
    let out = corpus.0.join("model");
    let ts = tiny_train_settings(100);
    let mut losses = Vec::new();
    let card = train(
        &ds,
        &tiny_config(2),
        &ts,
        TrainOutput {
            dir: &out,
            dataset_name: "tiny",
            resume: false,
        },
        &Device::Cpu,
        |r| losses.push(r.loss),
    )
    .unwrap();
    assert_eq!(card.training.steps, 100);
    assert_eq!(losses.len(), 100);
    (corpus, out, losses)
}

#[test]
fn loss_falls_and_reloaded_model_generates_the_same_flows() {
    let (_dir, model_dir, losses) = trained("learn");
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[90..].iter().sum::<f32>() / 10.0;
    assert!(
        last < 0.8 * first,
        "loss did not fall: first 10 steps {first:.4}, last 10 {last:.4}"
    );

    let s = SampleSettings {
        steps: 8,
        seed: 42,
        batch: 3,
        ..SampleSettings::default()
    };
    let a = load_model(&model_dir, &Device::Cpu).unwrap();
    let flows_a = sample(&a, &[0, 1, 1, 0], 0, &s).unwrap();
    let b = load_model(&model_dir, &Device::Cpu).unwrap();
    let flows_b = sample(&b, &[0, 1, 1, 0], 0, &s).unwrap();
    assert!(
        flows_a == flows_b,
        "same seed, same model: the flows differ"
    );
    let other = sample(&b, &[0, 1, 1, 0], 0, &SampleSettings { seed: 43, ..s }).unwrap();
    assert!(flows_a != other, "another seed gave the same flows");
    for f in &flows_a {
        assert!(!f.is_empty());
        assert_eq!(f.rows.len(), f.len() * 1088);
    }

    // The whole job: unknown classes are named with the known ones.
    let job = JobSettings {
        flows: 4,
        sample: SampleSettings::default(),
        repair: RepairSettings::default(),
        mean_flow_gap_ns: Some(1_000_000),
    };
    let err = generate(&a, &"zoom=1".parse::<ClassMix>().unwrap(), &job).unwrap_err();
    assert!(matches!(err, JobError::Mix(_)));
    let msg = err.to_string();
    assert!(
        msg.contains("zoom") && msg.contains("dns") && msg.contains("ftp_mail"),
        "{msg}"
    );
    let out = generate(&a, &"dns=1,ftp_mail=1".parse::<ClassMix>().unwrap(), &job).unwrap();
    assert_eq!(out.flows.len(), 4);
    assert!(generate(
        &a,
        &"dns=1".parse::<ClassMix>().unwrap(),
        &JobSettings {
            flows: 0,
            ..job.clone()
        }
    )
    .is_err());
    assert!(generate(
        &a,
        &"dns=1".parse::<ClassMix>().unwrap(),
        &JobSettings {
            sample: SampleSettings {
                steps: 0,
                ..SampleSettings::default()
            },
            ..job
        }
    )
    .is_err());
}

/// The time bins of the gaps of `n` flows of `class` sampled from `m`.
fn sampled_time_bins(m: &LoadedModel, class: usize, n: usize) -> Histogram {
    let s = SampleSettings {
        seed: 9,
        ..SampleSettings::default()
    };
    let mut h = Histogram::default();
    for flow in sample(m, &vec![class; n], 0, &s).unwrap() {
        for &gap in flow.iat_ns.iter().skip(1) {
            h.add(iat_bin(gap) as u64);
        }
    }
    h
}

#[test]
fn sampled_times_are_calibrated_to_the_real_gaps() {
    let (_dir, model_dir, _) = trained("calibration");
    let calibrated = load_model(&model_dir, &Device::Cpu).unwrap();
    let mut raw = load_model(&model_dir, &Device::Cpu).unwrap();
    for c in &mut raw.card.classes {
        let t = c
            .time_calibration
            .take()
            .expect("a trained card calibrates its times");
        assert!(t.flows >= TIME_CALIBRATION_FLOWS, "{}: {t:?}", c.name);
        assert!(t.sampled_bins.iter().sum::<u64>() > 0, "{}: {t:?}", c.name);
    }
    for (class, c) in calibrated.card.classes.iter().enumerate() {
        let mut real = Histogram::default();
        for &gap in &c.hints.iat_samples_ns {
            real.add(iat_bin(gap) as u64);
        }
        let jsd = |m: &LoadedModel| {
            compare(&real, &sampled_time_bins(m, class, 300))
                .unwrap()
                .jsd
        };
        let (with, without) = (jsd(&calibrated), jsd(&raw));
        eprintln!(
            "{}: time bins JSD {with:.3} calibrated, {without:.3} not",
            c.name
        );
        // The tiny network's own times are far from the class's; mapped through the calibration
        // (counted on other flows of the same network) they follow the real gaps.
        assert!(
            with < 0.5 * without && with < 0.1,
            "{}: time bins JSD {with:.3} calibrated, {without:.3} not",
            c.name
        );
    }
}

/// Edits class `class` of the card in the model copy `d` as JSON, writes the card, and asserts
/// that loading the model fails with a card error naming the class and saying `says`; the
/// edited card comes back.
fn refused_class_edit(
    d: &std::path::Path,
    class: usize,
    says: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) -> serde_json::Value {
    let mut card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(CARD_FILE)).unwrap()).unwrap();
    let name = card["classes"][class]["name"].as_str().unwrap().to_string();
    edit(&mut card["classes"][class]);
    std::fs::write(d.join(CARD_FILE), card.to_string()).unwrap();
    let e = load_model(d, &Device::Cpu).err().expect("must fail");
    assert!(
        matches!(e, ModelError::Card { .. })
            && e.to_string().contains(&name)
            && e.to_string().contains(says),
        "{e}"
    );
    card
}

/// The card of the model in `d` with calibration `field` of one `group` whose real quantiles
/// are too few, then out of order, is refused (`says` names the group); with the field removed
/// from every class it loads, and `absent` holds for each of its classes.
fn checked_and_optional(
    d: &std::path::Path,
    field: &str,
    group: serde_json::Value,
    says: &str,
    absent: impl Fn(&netdiffd::model::checkpoint::CardClass) -> bool,
) {
    let with = |real: Vec<u16>| {
        let mut g = group.clone();
        g["real"] = serde_json::json!(real);
        serde_json::json!({ "groups": [g] })
    };
    refused_class_edit(d, 0, &format!("{says}: 2 real quantiles"), |c| {
        c[field] = with(vec![1, 2]);
    });
    let mut card = refused_class_edit(
        d,
        0,
        &format!("{says}: real quantiles not in ascending order"),
        |c| c[field] = with((0..=64).rev().collect()),
    );
    for c in card["classes"].as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove(field);
    }
    std::fs::write(d.join(CARD_FILE), card.to_string()).unwrap();
    let m = load_model(d, &Device::Cpu).unwrap();
    assert!(m.card.classes.iter().all(absent));
}

#[test]
fn damaged_model_files_fail_with_clear_errors() {
    let (dir, model_dir, _) = trained("damage");
    let copy = |name: &str| {
        let d = dir.0.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in [CARD_FILE, WEIGHTS_FILE] {
            std::fs::copy(model_dir.join(f), d.join(f)).unwrap();
        }
        d
    };
    // A flipped byte in the weights: the hash no longer matches the card.
    let d = copy("flipped");
    let mut w = std::fs::read(d.join(WEIGHTS_FILE)).unwrap();
    let at = w.len() - 10;
    w[at] ^= 0xff;
    std::fs::write(d.join(WEIGHTS_FILE), &w).unwrap();
    let e = load_model(&d, &Device::Cpu).err().expect("must fail");
    assert!(matches!(e, ModelError::Mismatch { .. }), "{e}");
    assert!(
        e.to_string().contains("SHA-256") && e.to_string().contains(WEIGHTS_FILE),
        "{e}"
    );

    // A truncated card.
    let d = copy("truncated");
    let card = std::fs::read(d.join(CARD_FILE)).unwrap();
    std::fs::write(d.join(CARD_FILE), &card[..card.len() / 2]).unwrap();
    let e = load_model(&d, &Device::Cpu).err().expect("must fail");
    assert!(
        matches!(e, ModelError::Card { .. }) && e.to_string().contains(CARD_FILE),
        "{e}"
    );

    // Another format version.
    let d = copy("version");
    let text = std::fs::read_to_string(d.join(CARD_FILE))
        .unwrap()
        .replacen(
            &format!("\"format_version\": {FORMAT_VERSION}"),
            "\"format_version\": 99",
            1,
        );
    std::fs::write(d.join(CARD_FILE), text).unwrap();
    let e = load_model(&d, &Device::Cpu).err().expect("must fail");
    assert!(matches!(e, ModelError::Version { found: 99, .. }), "{e}");

    // A card whose network is not the one in the weights (hash kept right).
    let d = copy("shape");
    let text = std::fs::read_to_string(d.join(CARD_FILE))
        .unwrap()
        .replacen("\"d_model\": 32", "\"d_model\": 64", 1);
    std::fs::write(d.join(CARD_FILE), text).unwrap();
    let e = load_model(&d, &Device::Cpu).err().expect("must fail");
    assert!(
        matches!(e, ModelError::Mismatch { .. }) && e.to_string().contains("shape"),
        "{e}"
    );

    // A time calibration of another number of bins: refused, the class named; without one the
    // card loads (cards made before calibration).
    let d = copy("calibration");
    let mut card = refused_class_edit(&d, 1, "time_calibration has 3 bins", |c| {
        c["time_calibration"]["sampled_bins"] = serde_json::json!([1, 2, 3]);
    });
    for c in card["classes"].as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("time_calibration");
    }
    std::fs::write(d.join(CARD_FILE), card.to_string()).unwrap();
    let m = load_model(&d, &Device::Cpu).unwrap();
    assert!(m.card.classes.iter().all(|c| c.time_calibration.is_none()));

    // IPv4 marks: a bad one is refused, the packet named; without them (cards made before the
    // marks) the card loads with its packets' other kinds.
    let d = copy("marks");
    let text = std::fs::read_to_string(d.join(CARD_FILE)).unwrap();
    assert!(text.contains('@'), "a card made now records IPv4 marks");
    std::fs::write(d.join(CARD_FILE), text.replacen('@', "@300.", 1)).unwrap();
    let e = load_model(&d, &Device::Cpu).err().expect("must fail");
    assert!(
        matches!(e, ModelError::Card { .. })
            && e.to_string().contains(CARD_FILE)
            && e.to_string().contains("bad IPv4 marks in packet shape")
            && e.to_string().contains("@300."),
        "{e}"
    );
    std::fs::write(d.join(CARD_FILE), &text).unwrap();
    let mut card = load_card(&d).unwrap();
    for t in card.classes.iter_mut().flat_map(|c| &mut c.templates) {
        for shape in &mut t.shapes {
            if let Some(kind) = &mut shape.3 {
                kind.ip = None;
            }
        }
    }
    save_card(&d, &card).unwrap();
    assert!(!std::fs::read_to_string(d.join(CARD_FILE))
        .unwrap()
        .contains('@'));
    let m = load_model(&d, &Device::Cpu).unwrap();
    let kinds: Vec<_> = m
        .card
        .classes
        .iter()
        .flat_map(|c| &c.templates)
        .flat_map(|t| &t.shapes)
        .map(|s| s.3.expect("the kind is kept"))
        .collect();
    assert!(!kinds.is_empty() && kinds.iter().all(|k| k.ip.is_none()));

    // Server ports: a bad one is refused, the port named; without them (cards made before the
    // ports) the card loads with the same packets and no port to hold.
    let d = copy("ports");
    let mut card = load_card(&d).unwrap();
    let port = card
        .classes
        .iter()
        .flat_map(|c| &c.templates)
        .find_map(|t| t.server_port)
        .expect("a card made now records its templates' server ports");
    let text = std::fs::read_to_string(d.join(CARD_FILE)).unwrap();
    let written = format!("\":{port} ");
    assert!(text.contains(&written), "written as {written:?}");
    std::fs::write(d.join(CARD_FILE), text.replacen(&written, "\":65536 ", 1)).unwrap();
    let e = load_model(&d, &Device::Cpu).err().expect("must fail");
    assert!(
        matches!(e, ModelError::Card { .. }) && e.to_string().contains(":65536"),
        "{e}"
    );
    let before: Vec<_> = card.classes.iter().map(|c| c.templates.clone()).collect();
    for t in card.classes.iter_mut().flat_map(|c| &mut c.templates) {
        t.server_port = None;
    }
    save_card(&d, &card).unwrap();
    let m = load_model(&d, &Device::Cpu).unwrap();
    for (c, old) in m.card.classes.iter().zip(&before) {
        for (t, o) in c.templates.iter().zip(old) {
            assert_eq!((&t.shapes, t.server_port), (&o.shapes, None));
        }
    }

    // Length and window quantiles: a group of another number of them, or out of order, is
    // refused, the class, group and side named; without them the card loads (cards made before
    // them).
    checked_and_optional(
        &copy("lengths"),
        "length_calibration",
        serde_json::json!({"protocol": 17, "backward": true}),
        "UDP backward",
        |c| c.length_calibration.is_none(),
    );
    checked_and_optional(
        &copy("windows"),
        "window_calibration",
        serde_json::json!({"backward": false}),
        "window_calibration group forward",
        |c| c.window_calibration.is_none(),
    );
    // A window group for a packet past the ones this build calibrates by position.
    refused_class_edit(
        &copy("window-position"),
        0,
        "window_calibration group forward at packet 16: this build calibrates the first 16",
        |c| {
            let real: Vec<u16> = (0..=64).collect();
            c["window_calibration"] = serde_json::json!({
                "groups": [{"backward": false, "position": 16, "real": real}]
            });
        },
    );

    // Fresh counters that are no yes or no: refused as the card's JSON, naming the value;
    // without them a class loads and keeps every counter as the network draws it.
    let d = copy("counters");
    let mut card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join(CARD_FILE)).unwrap()).unwrap();
    assert!(
        card["classes"][0]["fresh_counters"].is_object(),
        "training records the fresh counters"
    );
    card["classes"][0]["fresh_counters"]["seq"] = serde_json::json!(["yes", true]);
    std::fs::write(d.join(CARD_FILE), card.to_string()).unwrap();
    let e = load_model(&d, &Device::Cpu).err().expect("must fail");
    assert!(
        matches!(e, ModelError::Card { .. }) && e.to_string().contains("\"yes\""),
        "{e}"
    );
    for c in card["classes"].as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("fresh_counters");
    }
    std::fs::write(d.join(CARD_FILE), card.to_string()).unwrap();
    let m = load_model(&d, &Device::Cpu).unwrap();
    assert!(m.card.classes.iter().all(|c| c.fresh_counters.is_none()));

    // Host sharing that is no share: refused, the class and field named.
    refused_class_edit(&copy("hosts"), 0, "host_reuse.client is 1.5", |c| {
        c["arrivals"]["host_reuse"] = serde_json::json!({"client": 1.5, "server": 0.5});
    });

    // A missing weights file.
    let d = copy("missing");
    std::fs::remove_file(d.join(WEIGHTS_FILE)).unwrap();
    let e = load_model(&d, &Device::Cpu).err().expect("must fail");
    assert!(
        matches!(e, ModelError::Io { .. }) && e.to_string().contains(WEIGHTS_FILE),
        "{e}"
    );
}

/// `train --card-only`: the card made anew from another training set of the same classes takes
/// that set's flows (templates no longer than its `max_flow_packets`) and files, keeps the
/// weights and the training record, and is calibrated; made anew from the set the model was
/// trained on, it is the card training wrote; a set of other classes or window length is
/// refused, naming them.
#[test]
fn a_card_made_anew_takes_the_new_set_and_keeps_the_weights() {
    let (dir, model_dir, _) = trained("card");
    let trained_card = load_card(&model_dir).unwrap();
    let weights = std::fs::read(model_dir.join(WEIGHTS_FILE)).unwrap();
    let longest = |c: &netdiffd::model::ModelCard| {
        c.classes
            .iter()
            .flat_map(|k| k.templates.iter().map(|t| t.len()))
            .max()
            .unwrap()
    };
    assert!(
        longest(&trained_card) > 4,
        "the tiny corpus has flows of 5+ packets"
    );

    let short = tiny_dataset_with(
        &dir.0,
        DatasetSettings {
            max_packets: 8,
            max_flow_packets: 4,
            holdout_one_file_per_class: false,
            ..DatasetSettings::default()
        },
    );
    let card = rebuild_card(
        &short,
        &model_dir,
        "short",
        TIME_CALIBRATION_FLOWS,
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(longest(&card), 4);
    assert_eq!(card.training.dataset, "short");
    assert_eq!(card.training.steps, trained_card.training.steps);
    assert_eq!(card.weights, trained_card.weights);
    assert!(card.classes.iter().all(|c| c.time_calibration.is_some()));
    assert_eq!(
        std::fs::read(model_dir.join(WEIGHTS_FILE)).unwrap(),
        weights
    );
    // Written, and the model loads and samples with it.
    let m = load_model(&model_dir, &Device::Cpu).unwrap();
    assert_eq!(m.card.training.dataset, "short");
    let s = SampleSettings {
        steps: 4,
        ..SampleSettings::default()
    };
    let flows = sample(&m, &[0, 1], 0, &s).unwrap();
    assert!(
        flows.iter().all(|f| f.len() <= 4),
        "flows follow the short templates"
    );

    // From the set it was trained on: the card training wrote, templates and calibration alike.
    let again = rebuild_card(
        &tiny_dataset(&dir.0),
        &model_dir,
        "tiny",
        TIME_CALIBRATION_FLOWS,
        &Device::Cpu,
    )
    .unwrap();
    for (a, b) in again.classes.iter().zip(&trained_card.classes) {
        assert_eq!(a.templates, b.templates, "class {}", a.name);
        assert_eq!(a.time_calibration, b.time_calibration, "class {}", a.name);
    }

    // Other classes, or windows of another length: refused, the card left as it was.
    let one_class = dir.0.join("one-class");
    std::fs::create_dir_all(one_class.join("dns")).unwrap();
    for entry in std::fs::read_dir(dir.0.join("dns")).unwrap() {
        let p = entry.unwrap().path();
        std::os::unix::fs::symlink(
            p.canonicalize().unwrap(),
            one_class.join("dns").join(p.file_name().unwrap()),
        )
        .unwrap();
    }
    let before = std::fs::read(model_dir.join(CARD_FILE)).unwrap();
    let e = rebuild_card(&tiny_dataset(&one_class), &model_dir, "x", 0, &Device::Cpu)
        .expect_err("other classes");
    assert!(
        matches!(e, ModelError::SetMismatch { .. })
            && e.to_string().contains("(dns)")
            && e.to_string().contains("(dns, ftp_mail)"),
        "{e}"
    );
    let wide = tiny_dataset_with(
        &dir.0,
        DatasetSettings {
            max_packets: 16,
            holdout_one_file_per_class: false,
            ..DatasetSettings::default()
        },
    );
    let e = rebuild_card(&wide, &model_dir, "x", 0, &Device::Cpu).expect_err("other windows");
    assert!(e.to_string().contains("16 packets, the network's 8"), "{e}");
    assert_eq!(std::fs::read(model_dir.join(CARD_FILE)).unwrap(), before);
}
