//! The encoder reproduces the nPrint tool's output byte for byte for every reference file in
//! `../shared/reference/nprint/` (same capture, same options; see that folder's README).

use flate2::read::GzDecoder;
use netdiffd::nprint::tool::{encode_capture, EncodeRun};
use netdiffd::nprint::{CsvOptions, IndexColumn, Layout};
use std::io::Read;
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn find_capture(stem: &str) -> PathBuf {
    let corpus = shared().join("corpus");
    for class in std::fs::read_dir(&corpus).expect("corpus folder") {
        let p = class.unwrap().path().join(format!("{stem}.pcap"));
        if p.exists() {
            return p;
        }
    }
    panic!("no capture named {stem}.pcap in {}", corpus.display());
}

fn options(suffix: &str) -> CsvOptions {
    match suffix {
        // nprint -P IN.pcap -F -1 -4 -6 -t -u -i -p 0 -W OUT.csv
        "netdiffusion" => CsvOptions {
            layout: Layout::NETDIFFUSION,
            ..CsvOptions::default()
        },
        // nprint -P IN.pcap -4 -t -u -i -R -W OUT.csv
        "ipv4-rts" => CsvOptions {
            relative_ts: true,
            ..CsvOptions::default()
        },
        // nprint -P IN.pcap -4 -t -u -i -O 4 -W OUT.csv
        "ipv4-flow" => CsvOptions {
            index: IndexColumn::Flow,
            ..CsvOptions::default()
        },
        other => panic!("unknown reference suffix {other}"),
    }
}

#[test]
fn all_reference_files_match_byte_for_byte() {
    let dir = shared().join("reference/nprint");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".csv.gz"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        27,
        "expected 27 reference files in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let base = name.trim_end_matches(".csv.gz");
        let (stem, suffix) = base.split_once('.').unwrap();
        let mut expected = Vec::new();
        GzDecoder::new(std::fs::File::open(f).unwrap())
            .read_to_end(&mut expected)
            .unwrap();
        let run = EncodeRun {
            csv: options(suffix),
            count: 0,
        };
        let (summary, got) = encode_capture(&find_capture(stem), &run, Vec::new(), |_| {}).unwrap();
        let rows = expected.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
        assert_eq!(summary.encoded, rows, "{name}: row count");
        if got != expected {
            let line = got
                .split(|&b| b == b'\n')
                .zip(expected.split(|&b| b == b'\n'))
                .position(|(a, b)| a != b)
                .map_or(0, |l| l + 1);
            failures.push(format!("{name}: first difference on line {line}"));
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
}
