//! `netdiffd baseline` and `netdiffd eval` end to end on two small corpus classes (dns and
//! ftp_mail, every capture file of each): the report has its three parts with numbers in
//! range, identical traffic is at distance 0, the marginals baseline beats uniform random
//! values, baseline output passes the compliance checks, and a copy of the training files is
//! at distance 0 in-distribution and exactly at the real-vs-real floor on held-out files. Expected flow counts come from the
//! corpus manifest (Wireshark's IPv4 conversations per file).

mod common;

use common::netdiffd;
use netdiffd::check::{check_capture, CheckOptions};
use netdiffd::flows::{flows_from_capture, FlowSettings};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Flows per capture file of `class` by MANIFEST.csv's `flows` column (IPv4 TCP/UDP
/// conversations and ICMP query conversations, as Wireshark's conversation tables count them),
/// keyed by file name. The manifest must list exactly the captures in the class folder, the
/// ones the tests copy.
fn manifest_flows(class: &str) -> BTreeMap<String, u64> {
    let text = std::fs::read_to_string(corpus().join("MANIFEST.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (cc, fc, nc) = (col("class"), col("file"), col("flows"));
    let rows: BTreeMap<String, u64> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[cc] == class)
        .map(|f| {
            let name = Path::new(f[fc]).file_name().unwrap().to_str().unwrap();
            (name.to_string(), f[nc].parse().unwrap())
        })
        .collect();
    let in_folder: BTreeSet<String> = std::fs::read_dir(corpus().join(class))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        rows.keys().cloned().collect::<BTreeSet<_>>(),
        in_folder,
        "{class}: MANIFEST.csv and the folder list different captures"
    );
    rows
}

/// A fresh folder with `dns/` and `ftp_mail/` holding copies of the corpus captures.
fn real_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netdiffd-eval-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for class in ["dns", "ftp_mail"] {
        std::fs::create_dir_all(dir.join("real").join(class)).unwrap();
        for e in std::fs::read_dir(corpus().join(class)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(
                &p,
                dir.join("real").join(class).join(p.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    dir
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn set<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["similarity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["set"] == name)
        .unwrap_or_else(|| panic!("no similarity for {name}"))
}

fn in_unit(x: &Value) -> f64 {
    let f = x.as_f64().unwrap_or_else(|| panic!("not a number: {x}"));
    assert!((0.0..=1.0).contains(&f), "{f} outside 0..=1");
    f
}

#[test]
fn eval_of_marginals_baseline_against_two_classes() {
    let dir = real_dir("two");
    let real = dir.join("real");
    let synth = dir.join("synth");
    let out = dir.join("report");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    common::netdiffd_ok(&[
        "baseline",
        "--kind",
        "marginals",
        "--real",
        &s(&real),
        "--all-classes",
        "--seed",
        "4",
        "-o",
        &s(&synth),
    ]);
    // One pcap per class, as many flows as the class has real flows.
    for class in ["dns", "ftp_mail"] {
        let want: u64 = manifest_flows(class).values().sum();
        let f = synth.join(class).join("baseline.pcap");
        let (flows, _) = flows_from_capture(&f, FlowSettings::default(), None).unwrap();
        assert_eq!(flows.len() as u64, want, "{class}");
    }
    // `eval` of the synthetic set with the baselines into `to`, with `extra` options.
    let eval = |to: &Path, extra: &[&str]| {
        let mut args = vec![
            "eval".to_string(),
            "--real".into(),
            s(&real),
            "--synthetic".into(),
            s(&synth),
            "--baselines".into(),
            "-o".into(),
            s(to),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        common::netdiffd_ok(&args);
    };
    eval(
        &out,
        &[
            "--trees",
            "15",
            "--k",
            "8",
            "--groups",
            "dns=naming,ftp_mail=transfer",
        ],
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for section in [
        "## 1. Statistical similarity",
        "## 2. ML usefulness",
        "## 3. Protocol compliance",
        "NetDiffusion (paper) | 0.04 / 0.04 / 0.05",
    ] {
        assert!(md.contains(section), "report.md lacks {section:?}");
    }
    let v = read_json(&out.join("report.json"));

    // Data: both classes split by whole files.
    for class in ["dns", "ftp_mail"] {
        let sp = &v["split"][class];
        assert_eq!(sp["method"], "file", "{class}: {sp}");
        assert_eq!(sp["held_out_files"].as_array().unwrap().len(), 1);
        assert!(sp["test"].as_u64().unwrap() >= 1);
    }

    // Part 1: every distance in range; the marginals (given, and regenerated on the training
    // files) are closer to the real traffic than uniform random values.
    let mean_jsd = |name: &str| in_unit(&set(&v, name)["fields_mean"]["jsd"]);
    for name in ["synthetic", "baseline-marginals", "baseline-random"] {
        let x = set(&v, name);
        for k in ["jsd", "tvd", "hellinger"] {
            in_unit(&x["fields_mean"][k]);
            in_unit(&x["flow_mean"][k]);
        }
        assert_eq!(x["classes"].as_array().unwrap().len(), 2, "{name}");
    }
    assert!(mean_jsd("synthetic") < mean_jsd("baseline-random"));
    assert!(mean_jsd("baseline-marginals") < mean_jsd("baseline-random"));
    // The baselines generated as many flows of a class as the synthetic set has (here every
    // real flow of the class), not the class's training flows.
    let summary = |name: &str| {
        v["synthetic"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap()["classes"]
            .clone()
    };
    for class in ["dns", "ftp_mail"] {
        let want: u64 = manifest_flows(class).values().sum();
        assert_eq!(summary("synthetic")[class].as_u64(), Some(want), "{class}");
        assert!(
            v["split"][class]["train"].as_u64().unwrap() < want,
            "{class}"
        );
        for name in ["baseline-marginals", "baseline-random"] {
            assert_eq!(summary(name)[class].as_u64(), Some(want), "{name} {class}");
        }
    }
    // Lengths are drawn from the real ones, so packets per flow is close for every set.
    let ppf = in_unit(&set(&v, "synthetic")["per_flow_feature"]["packets_per_flow"]["tvd"]);
    assert!(ppf < 0.5, "packets-per-flow TVD {ppf}");

    // Part 2: the scenarios ran on the held-out flows, scores in range.
    let results = v["ml"]["results"].as_array().unwrap();
    let find = |set: &str, scenario: &str| {
        results
            .iter()
            .filter(|r| r["set"] == set && r["scenario"] == scenario)
            .collect::<Vec<_>>()
    };
    let rr = find("real", "real→real");
    assert_eq!(rr.len(), 4, "macro and micro, forest and tree");
    let test_flows: u64 = ["dns", "ftp_mail"]
        .iter()
        .map(|c| v["split"][c]["test"].as_u64().unwrap())
        .sum();
    for r in &rr {
        assert_eq!(r["test_flows"].as_u64().unwrap(), test_flows);
        in_unit(&r["accuracy"]);
        in_unit(&r["macro_f1"]);
    }
    // Every result says where its macro-F1 comes from: each label's F1 (their mean is the
    // macro-F1), its test flows (all of them, once), and what its flows were taken for.
    for r in results {
        let labels = r["per_label"].as_array().unwrap();
        assert!(!labels.is_empty(), "{r}");
        let mean = labels.iter().map(|l| in_unit(&l["f1"])).sum::<f64>() / labels.len() as f64;
        assert!((mean - in_unit(&r["macro_f1"])).abs() < 1e-9, "{r}");
        let flows = |k: &str| labels.iter().map(|l| l[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(
            flows("test_flows"),
            r["test_flows"].as_u64().unwrap(),
            "{r}"
        );
        assert_eq!(
            flows("predicted_flows"),
            r["test_flows"].as_u64().unwrap(),
            "{r}"
        );
        for l in labels {
            let (f1, wrong) = (in_unit(&l["f1"]), l["mistaken_flows"].as_u64().unwrap());
            assert_eq!(l["mistaken_for"].is_null(), wrong == 0, "{l}");
            assert!(wrong <= l["test_flows"].as_u64().unwrap(), "{l}");
            if f1 == 1.0 {
                assert_eq!(wrong, 0, "{l}");
            }
        }
    }
    let real_micro = rr.iter().find(|r| r["labels"] == "micro").unwrap();
    let names: Vec<&str> = real_micro["per_label"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    for class in ["dns", "ftp_mail"] {
        assert!(names.contains(&class), "{names:?}");
    }
    assert!(
        md.contains("### Per class (micro labels"),
        "the per-class table"
    );
    for scenario in ["synthetic→real", "real→synthetic", "mix 0.4", "balance"] {
        assert_eq!(find("synthetic", scenario).len(), 4, "{scenario}");
    }
    assert_eq!(find("baseline-random", "synthetic→real").len(), 4);
    // Mixing at rate 1 trains on synthetic flows only: the same training set size as real→real.
    let mix1 = &find("synthetic", "mix 1.0")[0];
    assert_eq!(mix1["train_flows"], rr[0]["train_flows"]);

    // Part 3: repaired baseline traffic breaks no error-level rule; the real traffic is there
    // as the anchor row.
    let comp = v["compliance"].as_array().unwrap();
    assert_eq!(comp[0]["set"], "real");
    for c in &comp[1..] {
        assert_eq!(c["errors"], 0, "{c}");
        assert!(c["packets"].as_u64().unwrap() > 0);
        if let Some(t) = c["tshark"].as_object() {
            assert_eq!(t["errors"], 0, "{c}");
        }
    }

    // Plots: PNG files named in the report.
    let plots = v["plots"].as_array().unwrap();
    assert!(plots.len() >= 4, "{plots:?}");
    for p in plots {
        let bytes = std::fs::read(out.join(p.as_str().unwrap())).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(md.contains(p.as_str().unwrap()));
    }

    // Asked to, the baselines generate as many flows of a class as it has training flows.
    let sized = dir.join("sized");
    eval(
        &sized,
        &["--baseline-flows", "training", "--no-plots", "--no-tshark"],
    );
    let w = read_json(&sized.join("report.json"));
    assert_eq!(w["settings"]["baseline_flows"], "training");
    for class in ["dns", "ftp_mail"] {
        let train = &w["split"][class]["train"];
        for x in &w["synthetic"].as_array().unwrap()[1..] {
            assert_eq!(&x["classes"][class], train, "{} {class}", x["name"]);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn identical_traffic_is_at_distance_zero() {
    let dir = real_dir("same");
    let real = dir.join("real");
    let out = dir.join("report");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    common::netdiffd_ok(&[
        "eval",
        "--real",
        &s(&real),
        "--synthetic",
        &s(&real),
        "-o",
        &s(&out),
        "--trees",
        "5",
        "--holdout-files",
        "smtp.pcap,avast_securedns.pcap",
        "--no-tshark",
        "--no-plots",
    ]);
    let v = read_json(&out.join("report.json"));
    let x = set(&v, "synthetic");
    for c in x["classes"].as_array().unwrap() {
        for item in c["fields"]
            .as_array()
            .unwrap()
            .iter()
            .chain(c["flow_features"].as_array().unwrap())
        {
            if let Some(d) = item["distances"].as_object() {
                for k in ["jsd", "tvd", "hellinger"] {
                    let f = d[k].as_f64().unwrap();
                    assert!(f.abs() < 1e-6, "{} {}: {k} = {f}", c["class"], item["name"]);
                }
            }
        }
    }
    // The held-out file's flows are the test flows, every other file's the training flows.
    for (class, held_out) in [("ftp_mail", "smtp.pcap"), ("dns", "avast_securedns.pcap")] {
        let sp = &v["split"][class];
        let files = sp["held_out_files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{class}: {sp}");
        assert!(files[0].as_str().unwrap().ends_with(held_out), "{sp}");
        let flows = manifest_flows(class);
        let test = flows[held_out];
        let train = flows.values().sum::<u64>() - test;
        assert!(train > 0 && test > 0);
        assert_eq!(sp["train"], train, "{class}: flows of the other files");
        assert_eq!(sp["test"], test, "{class}: flows of {held_out}");
    }
    // The compliance of the same captures is the same as the real row.
    let comp = v["compliance"].as_array().unwrap();
    assert_eq!(comp[0]["rules"], comp[1]["rules"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn baseline_to_one_pcap_by_weights_and_errors() {
    let dir = real_dir("mix");
    let real = dir.join("real");
    let pcap = dir.join("mixed.pcap");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    common::netdiffd_ok(&[
        "baseline",
        "--kind",
        "random",
        "--real",
        &s(&real),
        "--mix",
        "dns=3,ftp_mail=1",
        "--flows",
        "8",
        "-o",
        &s(&pcap),
    ]);
    let (flows, _) = flows_from_capture(&pcap, FlowSettings::default(), None).unwrap();
    assert_eq!(flows.len(), 8);
    // A bare class weighs 1, as `generate --mix` takes it.
    let bare = dir.join("bare.pcap");
    common::netdiffd_ok(&[
        "baseline",
        "--kind",
        "random",
        "--real",
        &s(&real),
        "--mix",
        "dns",
        "--flows",
        "3",
        "-o",
        &s(&bare),
    ]);
    let (flows, _) = flows_from_capture(&bare, FlowSettings::default(), None).unwrap();
    assert_eq!(flows.len(), 3);
    let r = check_capture(&pcap, &CheckOptions::default()).unwrap();
    assert!(r.passed(), "{r}");

    let bad = netdiffd(&[
        "baseline",
        "--kind",
        "marginals",
        "--real",
        &s(&real),
        "--mix",
        "netflix=1",
        "-o",
        &s(&pcap),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("netflix"));
    let none = netdiffd(&["eval", "--real", &s(&real), "-o", &s(&dir.join("r"))]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("nothing to evaluate"));
    let unknown = netdiffd(&[
        "eval",
        "--real",
        &s(&real),
        "--baselines",
        "--holdout-files",
        "nope.pcap",
        "-o",
        &s(&dir.join("r")),
    ]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nope.pcap"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The held-out comparison of a "synthetic" set that is a copy of the real training files of
/// dns and ftp_mail (every file but the held-out one) plus one held-out-free single-file class:
/// in-distribution it is the training data (JSD exactly 0), on the held-out files it is exactly
/// the floor (ratio 1), and the floor itself is above 0 (two real captures of a class differ).
#[test]
fn copy_of_training_files_is_at_the_floor() {
    let dir = real_dir("floor");
    let real = dir.join("real");
    // A single-file class: no held-out file, so it must stay out of the held-out comparison.
    std::fs::create_dir_all(real.join("facebook")).unwrap();
    std::fs::copy(
        corpus().join("facebook/facebook.pcap"),
        real.join("facebook/facebook.pcap"),
    )
    .unwrap();
    let held_out = [("dns", "avast_securedns.pcap"), ("ftp_mail", "smtp.pcap")];
    let synth = dir.join("synth");
    for (class, held) in held_out {
        std::fs::create_dir_all(synth.join(class)).unwrap();
        for name in manifest_flows(class).keys().filter(|n| *n != held) {
            std::fs::copy(real.join(class).join(name), synth.join(class).join(name)).unwrap();
        }
    }
    let out = dir.join("report");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    common::netdiffd_ok(&[
        "eval",
        "--real",
        &s(&real),
        "--synthetic",
        &s(&synth),
        "-o",
        &s(&out),
        "--trees",
        "3",
        "--k",
        "4",
        "--no-tree",
        "--holdout-files",
        "smtp.pcap,avast_securedns.pcap",
        "--no-tshark",
        "--no-plots",
    ]);
    let v = read_json(&out.join("report.json"));
    let h = &v["held_out"];
    assert_eq!(h["classes"], serde_json::json!(["dns", "ftp_mail"]), "{h}");
    let floor = &h["floor"];
    assert_eq!(floor["set"], "real training files (floor)");
    let sets = h["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 1);
    let synthetic = &sets[0];
    assert_eq!(synthetic["set"], "synthetic");
    for x in [floor, synthetic] {
        let classes: Vec<&str> = x["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["class"].as_str().unwrap())
            .collect();
        assert_eq!(classes, ["dns", "ftp_mail"], "{}", x["set"]);
        assert_eq!(x["unknown_classes"], serde_json::json!([]), "{}", x["set"]);
    }
    // The floor compares the other files' flows with the held-out file's, per class.
    for (i, (class, held)) in held_out.iter().enumerate() {
        let flows = manifest_flows(class);
        let c = &floor["classes"][i];
        assert_eq!(c["real_flows"].as_u64().unwrap(), flows[*held], "{class}");
        let train = flows.values().sum::<u64>() - flows[*held];
        assert_eq!(c["synthetic_flows"].as_u64().unwrap(), train, "{class}");
        assert_eq!(
            synthetic["classes"][i]["synthetic_flows"],
            c["synthetic_flows"]
        );
    }
    for mean in ["fields_mean", "flow_mean"] {
        let f = in_unit(&floor[mean]["jsd"]);
        assert!(
            f > 0.0,
            "floor {mean} JSD is 0: two real captures of a class differ"
        );
        assert_eq!(
            synthetic[mean], floor[mean],
            "{mean}: the copy is the floor"
        );
        assert_eq!(h["ratios"][0][mean].as_f64(), Some(1.0), "{mean} ratio");
    }
    let ratios = &h["ratios"][0];
    assert_eq!(ratios["set"], "synthetic");
    let per_feature = ratios["per_flow_feature"].as_object().unwrap();
    for feature in [
        "packets_per_flow",
        "bytes_per_flow",
        "duration",
        "inter_arrival",
    ] {
        assert_eq!(per_feature[feature].as_f64(), Some(1.0), "{feature}");
    }
    // In-distribution: the copy against the training flows of its classes is identical.
    let d = &v["in_distribution"];
    assert_eq!(d["paper_fields_jsd"].as_f64(), Some(0.04));
    let ind = &d["sets"][0];
    assert_eq!(
        ind["fields_mean"]["jsd"].as_f64(),
        Some(0.0),
        "{}",
        ind["fields_mean"]
    );
    assert_eq!(
        ind["flow_mean"]["jsd"].as_f64(),
        Some(0.0),
        "{}",
        ind["flow_mean"]
    );
    assert_eq!(ind["classes"].as_array().unwrap().len(), 2);
    assert_eq!(ind["missing_classes"], serde_json::json!(["facebook"]));
    // Against all real flows the copy is not at 0: the held-out files are in that comparison.
    assert!(in_unit(&set(&v, "synthetic")["fields_mean"]["jsd"]) > 0.0);

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for text in [
        "### Against held-out captures (headline)",
        "dns (avast_securedns.pcap), ftp_mail (smtp.pcap)",
        "| real training files (floor) | 2 |",
        "(1.00×)",
        "paper: 0.04 (header fields, JSD)",
        "### Against all real flows",
    ] {
        assert!(md.contains(text), "report.md lacks {text:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without a class of two or more captures there is no held-out file: report.md says so and
/// report.json has the held-out fields, empty.
#[test]
fn no_held_out_file_is_said_not_tabled() {
    let dir = std::env::temp_dir().join(format!("netdiffd-eval-nofile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let real = dir.join("real");
    std::fs::create_dir_all(real.join("facebook")).unwrap();
    std::fs::copy(
        corpus().join("facebook/facebook.pcap"),
        real.join("facebook/facebook.pcap"),
    )
    .unwrap();
    let out = dir.join("report");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    common::netdiffd_ok(&[
        "eval",
        "--real",
        &s(&real),
        "--synthetic",
        &s(&real),
        "-o",
        &s(&out),
        "--trees",
        "3",
        "--k",
        "4",
        "--no-tree",
        "--no-tshark",
        "--no-plots",
    ]);
    let v = read_json(&out.join("report.json"));
    assert_eq!(v["split"]["facebook"]["method"], "time");
    let h = &v["held_out"];
    assert_eq!(h["classes"], serde_json::json!([]));
    assert_eq!(h["floor"]["fields_mean"], Value::Null);
    assert_eq!(h["ratios"][0]["fields_mean"], Value::Null);
    assert_eq!(h["sets"][0]["classes"], serde_json::json!([]));
    // The time split's training flows are still the in-distribution reference.
    let ind = &v["in_distribution"]["sets"][0];
    assert_eq!(ind["classes"].as_array().unwrap().len(), 1);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("No class has a held-out capture file"), "{md}");
    assert!(!md.contains("| real training files (floor) |"), "{md}");
    std::fs::remove_dir_all(&dir).unwrap();
}
