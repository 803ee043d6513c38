//! `netdiffd dataset` on several corpora: one training set from both, a corpus folder given twice
//! refused, the stated rule where two manifests give a class different groups (the first corpus
//! decides, and the command says so), a corpus without a manifest noted and one with an invalid
//! manifest refused, and a class whose captures hold no usable frame named.

mod common;

use common::netdiffd;
use netdiffd::capture::LinkType;
use netdiffd::model::dataset::Dataset;
use netdiffd::packets::{PcapWriter, TsResolution};
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// A corpus folder of real captures (linked) with the manifest rows of those files.
fn corpus(dir: &Path, from: &str, class: &str, files: &[&str]) {
    std::fs::create_dir_all(dir.join(class)).unwrap();
    let manifest = std::fs::read_to_string(shared().join(from).join("MANIFEST.csv")).unwrap();
    let mut rows = vec![manifest.lines().next().unwrap().to_string()];
    for f in files {
        let rel = format!("{class}/{f}");
        std::os::unix::fs::symlink(shared().join(from).join(&rel), dir.join(&rel)).unwrap();
        rows.extend(
            manifest
                .lines()
                .filter(|l| l.split(',').nth(2) == Some(rel.as_str()))
                .map(str::to_string),
        );
    }
    assert_eq!(rows.len(), files.len() + 1, "manifest rows of {files:?}");
    std::fs::write(dir.join("MANIFEST.csv"), rows.join("\n") + "\n").unwrap();
}

#[test]
fn several_corpora_make_one_training_set_under_stated_rules() {
    let root = std::env::temp_dir().join(format!("netdiffd-dataset-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (a, b) = (root.join("nDPI"), root.join("lab"));
    corpus(
        &a,
        "corpus",
        "dns",
        &["avast_securedns.pcap", "dns_ambiguous_names.pcap"],
    );
    corpus(&b, "lab-corpus", "dns", &["dns01.pcap", "dns02.pcap"]);
    let out = root.join("ds.safetensors");
    let s = |p: &Path| p.to_str().unwrap().to_string();

    let o = netdiffd(&["dataset", &s(&a), &s(&b), "-o", &s(&out)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("class dns")
            && err.contains("benign_lab")
            && err.contains("first corpus decides"),
        "{err}"
    );
    let ds = Dataset::load(&out).unwrap();
    assert_eq!(ds.classes.len(), 1);
    assert_eq!(ds.classes[0].macro_group.as_deref(), Some("infrastructure"));
    let mut paths: Vec<&str> = ds.files.iter().map(|f| f.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "lab/dns/dns01.pcap",
            "lab/dns/dns02.pcap",
            "nDPI/dns/avast_securedns.pcap",
            "nDPI/dns/dns_ambiguous_names.pcap"
        ]
    );

    // The other order: the lab's group wins.
    let o = netdiffd(&["dataset", &s(&b), &s(&a), "-o", &s(&out)]);
    assert!(o.status.success());
    assert_eq!(
        Dataset::load(&out).unwrap().classes[0]
            .macro_group
            .as_deref(),
        Some("benign_lab")
    );

    // The same folder twice, under two spellings.
    let twice = format!("{}/../nDPI", a.display());
    let o = netdiffd(&["dataset", &s(&a), &twice, "-o", &s(&root.join("x"))]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("given twice") && err.contains(&twice), "{err}");

    // A class whose captures hold no usable frame (an ARP-only capture: an edge case, made here).
    let c = root.join("arp");
    std::fs::create_dir_all(c.join("quiet")).unwrap();
    let mut w = PcapWriter::create(
        &c.join("quiet/arp.pcap"),
        LinkType::Ethernet,
        TsResolution::Micro,
    )
    .unwrap();
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    w.write(1_000_000_000, &arp).unwrap();
    w.commit().unwrap();
    let o = netdiffd(&["dataset", &s(&a), &s(&c), "-o", &s(&root.join("y"))]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("class quiet"), "{err}");
    assert!(
        err.contains("no MANIFEST.csv"),
        "a corpus without one is noted: {err}"
    );
    assert!(!root.join("y").exists(), "nothing half-written");

    // A manifest that is there must be valid: one without a `macro` column is refused, named.
    std::fs::write(c.join("MANIFEST.csv"), "class,file\nquiet,quiet/arp.pcap\n").unwrap();
    let o = netdiffd(&["dataset", &s(&c), "-o", &s(&root.join("z"))]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&s(&c.join("MANIFEST.csv"))) && err.contains("line 1"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
