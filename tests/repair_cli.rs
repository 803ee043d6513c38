//! `netdiffd repair` on NetDiffusion's own generated flow, as CSV and as PNG: tshark finds no
//! error, its warnings are of kinds real corpus captures show too, and tcpreplay sends every
//! packet onto a veth in a namespace the test creates.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel)
}

fn repair(input: &Path, out: &Path) {
    common::netdiffd_ok(&[
        std::ffi::OsStr::new("repair"),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
}

/// Kinds of tshark warnings (protocol and summary) that real corpus captures show.
fn corpus_warning_kinds() -> BTreeSet<(String, String)> {
    let mut kinds = BTreeSet::new();
    for f in [
        "netflix/netflix.pcap",
        "teams/teams.pcap",
        "webex/webex.pcap",
        "instagram/instagram.pcap",
    ] {
        for r in common::tshark_expert(&shared("corpus").join(f)).in_section("Warns") {
            kinds.insert((r.2.clone(), r.3.clone()));
        }
    }
    kinds
}

#[test]
fn netdiffusion_generated_flow_repairs_to_clean_traffic() {
    let known = corpus_warning_kinds();
    let net = common::NetnsVeth::create("rp");
    for input in ["generated_netflix_5.nprint", "generated_netflix_5.png"] {
        let out = std::env::temp_dir().join(format!(
            "netdiffd-repair-{}-{input}.pcap",
            std::process::id()
        ));
        repair(&shared("reference/netdiffusion").join(input), &out);
        let e = common::tshark_expert(&out);
        assert_eq!(e.errors, 0, "{input}: {:#?}", e.in_section("Errors"));
        for w in e.in_section("Warns") {
            assert!(
                known.contains(&(w.2.clone(), w.3.clone())),
                "{input}: warning {w:?} not seen in real captures"
            );
        }
        let frames = netdiffd::capture::CaptureReader::open(&out)
            .unwrap()
            .count() as u64;
        assert!(frames > 0);
        if let Some(net) = &net {
            let (ok, failed) = common::tcpreplay(net, &net.tx, &out);
            assert_eq!((ok, failed), (frames, 0), "{input}: tcpreplay");
        }
        std::fs::remove_file(&out).unwrap();
    }
}
