//! `netdiffd encode` on link types other than Ethernet and on IPv4 fragments, against the nPrint
//! tool's real output (`tests/data/nprint-links/`, README there). The tool skips a Linux cooked
//! v1 header and knows no other: it reads a BSD/OpenBSD loopback or Linux cooked v2 frame from
//! its first byte (no row), takes any frame whose bytes 12-13 read 0x0800 or 0x86DD for Ethernet,
//! and reads a later IPv4 fragment's first bytes as a transport header. By default `encode`
//! writes what the tool writes; `--decode-links` encodes the packets inside the link headers.

mod common;

use common::gunzip;
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/nprint-links")
}

/// Rows of a CSV (lines after the header).
fn rows(csv: &[u8]) -> usize {
    csv.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() - 1
}

/// The options of the reference files, by file-name suffix (commands in the README).
fn options(suffix: &str) -> &'static [&'static str] {
    match suffix {
        "default" => &["-4", "-6", "-t", "-u", "-i"],
        "eth-flow" => &[
            "-e", "-4", "-6", "-t", "-u", "-i", "-p", "4", "-O", "4", "-R",
        ],
        other => panic!("unknown reference suffix {other}"),
    }
}

/// `netdiffd encode CAPTURE OPTIONS EXTRA -W OUT`, returning the CSV it wrote.
fn encode(capture: &Path, opts: &[&str], extra: &[&str], name: &str) -> Vec<u8> {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nprint-links-{name}.csv"));
    let mut args = vec!["encode".to_string(), capture.to_string_lossy().into_owned()];
    args.extend(opts.iter().chain(extra).map(|s| s.to_string()));
    args.extend(["-q".into(), "-W".into(), out.to_string_lossy().into_owned()]);
    common::netdiffd_ok(&args);
    let got = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    got
}

#[test]
fn default_output_is_the_nprint_tools_on_other_links_and_fragments() {
    let refs = common::reference_csvs(&data());
    assert_eq!(refs.len(), 11, "reference files in {}", data().display());
    for (name, stem, suffix, want) in &refs {
        let got = encode(
            &data().join(format!("{stem}.pcap")),
            options(suffix),
            &[],
            name,
        );
        assert!(
            got == *want,
            "{name}: {} rows against the tool's {}, first difference on line {}",
            rows(&got),
            rows(want),
            common::first_difference(&got, want)
        );
    }
    // What the references say, so that a regenerated set cannot silently say nothing: the
    // loopback and cooked v2 frames give no row, each fragment gives one, and one packet from
    // 8.0.69.x is misread into a row.
    let count = |f: &str| rows(&gunzip(&data().join(f)));
    assert_eq!(count("ethernet.default.csv.gz"), 48);
    for f in ["null", "loop", "sll2"] {
        assert_eq!(count(&format!("{f}.default.csv.gz")), 0, "{f}");
    }
    assert!(count("fragments.default.csv.gz") >= 40);
    assert_eq!(count("raw-8-0.default.csv.gz"), 1);
}

#[test]
fn decode_links_encodes_the_packets_inside_as_the_tool_does_on_ethernet() {
    // Without -e the rows do not depend on the link: the packets inside a loopback or cooked v2
    // header encode as the tool encodes the same packets in their Ethernet frames.
    let want = gunzip(&data().join("ethernet.default.csv.gz"));
    for f in ["null", "loop", "sll2"] {
        let got = encode(
            &data().join(format!("{f}.pcap")),
            options("default"),
            &["--decode-links"],
            f,
        );
        assert!(
            got == want,
            "{f}: {} rows, want {}",
            rows(&got),
            rows(&want)
        );
    }
}
