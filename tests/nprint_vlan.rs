//! `netdiffd encode` on VLAN-tagged captures. The nPrint tool does not decode 802.1Q/802.1ad
//! tags: it reads any Ethernet frame whose EtherType is not IPv4 or IPv6 from its first byte as
//! an IP header, so a tagged frame gives no row, or a row of misread bytes when its destination
//! MAC address begins with the hex digit 4 or 6. By default `encode` writes what the tool writes
//! (checked against the tool's real output in `tests/data/nprint-vlan/`, and against the tool
//! itself where it can be built here); `--decode-vlan` encodes the packets inside the tags.

mod common;

use common::netdiffd;
use netdiffd::capture::{dissect, CaptureReader, LinkType, SkipReason};
use netdiffd::nprint::tool::{encode_capture, encode_capture_with, EncodeRun, Extensions};
use netdiffd::nprint::{CsvOptions, IndexColumn, Layout};
use netdiffd::packets::{PcapWriter, TsResolution};
use netdiffd::wire::ethernet::is_vlan_tpid;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shared() -> PathBuf {
    manifest().join("../shared")
}

fn data() -> PathBuf {
    manifest().join("tests/data/nprint-vlan")
}

/// The captures with VLAN tags: two real ones from the corpus and `misread.pcap`.
fn capture(stem: &str) -> PathBuf {
    match stem {
        "zoom" => shared().join("corpus/zoom/zoom.pcap"),
        "smtp-starttls" => shared().join("corpus/ftp_mail/smtp-starttls.pcap"),
        "misread" => data().join("misread.pcap"),
        other => panic!("no capture {other}"),
    }
}

fn work_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nprint-vlan-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rows(csv: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = csv.split(|&b| b == b'\n').collect();
    assert_eq!(v.pop(), Some(&b""[..]), "the CSV ends with a line end");
    v.remove(0);
    v
}

/// Options of the reference files, by file-name suffix (commands in the data folder's README).
fn options(suffix: &str) -> CsvOptions {
    match suffix {
        // -4 -t -u -i
        "ipv4" => CsvOptions::default(),
        // -F -1 -4 -6 -t -u -i -p 0
        "netdiffusion" => CsvOptions {
            layout: Layout::NETDIFFUSION,
            ..CsvOptions::default()
        },
        // -e -4 -6 -t -u -i -p 4 -O 4 -R
        "eth-flow" => CsvOptions {
            layout: Layout {
                eth: true,
                payload_bytes: 4,
                ..Layout::NETDIFFUSION
            },
            index: IndexColumn::Flow,
            relative_ts: true,
            ..CsvOptions::default()
        },
        other => panic!("unknown reference suffix {other}"),
    }
}

#[test]
fn default_output_is_the_nprint_tools_on_tagged_captures() {
    let refs = common::reference_csvs(&data());
    assert_eq!(refs.len(), 4, "reference files in {}", data().display());
    for (name, stem, suffix, want) in &refs {
        let run = EncodeRun {
            csv: options(suffix),
            count: 0,
        };
        let (summary, got) = encode_capture(&capture(stem), &run, Vec::new(), |_| {}).unwrap();
        assert_eq!(summary.encoded, rows(want).len() as u64, "{name}: rows");
        assert!(
            got == *want,
            "{name}: first difference on line {}",
            common::first_difference(&got, want)
        );
    }
    // The tagged frames of the corpus captures are the ones skipped, by their outer TPID.
    let run = EncodeRun::default();
    let (zoom, _) = encode_capture(&capture("zoom"), &run, Vec::new(), |_| {}).unwrap();
    assert_eq!(zoom.frames, 781);
    assert_eq!(zoom.skipped.get(SkipReason::NonIp(0x8100)), 81);
    assert_eq!(zoom.skipped.get(SkipReason::NonIp(0x8899)), 3);
    let (smtp, _) = encode_capture(&capture("smtp-starttls"), &run, Vec::new(), |_| {}).unwrap();
    assert_eq!((smtp.frames, smtp.encoded), (69, 36));
    assert_eq!(smtp.skipped.get(SkipReason::NonIp(0x8100)), 33);
}

#[test]
fn decode_vlan_encodes_the_packets_inside_the_tags() {
    let dir = work_dir("decode");
    for stem in ["zoom", "smtp-starttls"] {
        // Which frames are tagged, and the same frames with their tags taken out.
        let untagged = dir.join(format!("{stem}-untagged.pcap"));
        let mut w = PcapWriter::create(&untagged, LinkType::Ethernet, TsResolution::Micro).unwrap();
        let mut tagged = Vec::new();
        for f in CaptureReader::open(&capture(stem)).unwrap() {
            let f = f.unwrap();
            let mut at = 12;
            while is_vlan_tpid(u16::from_be_bytes([f.data[at], f.data[at + 1]])) {
                at += 4;
            }
            tagged.push(at > 12);
            if at > 12 {
                // The rest of the pipeline decodes tags, as before.
                assert!(dissect(&f).is_ok(), "{stem}: frame {} dissects", f.record);
                let mut plain = f.data[..12].to_vec();
                plain.extend_from_slice(&f.data[at..]);
                w.write(f.ts_ns, &plain).unwrap();
            }
        }
        w.commit().unwrap();
        let n_tagged = tagged.iter().filter(|&&t| t).count() as u64;
        assert!(n_tagged >= 33, "{stem}: {n_tagged} tagged frames");

        let run = EncodeRun {
            csv: options("netdiffusion"),
            count: 0,
        };
        let decode = Extensions {
            decode_vlan: true,
            ..Extensions::default()
        };
        let (plain_summary, plain) =
            encode_capture(&capture(stem), &run, Vec::new(), |_| {}).unwrap();
        let (summary, all) =
            encode_capture_with(&capture(stem), &run, decode, Vec::new(), |_| {}).unwrap();
        let (_, inner) = encode_capture(&untagged, &run, Vec::new(), |_| {}).unwrap();
        assert_eq!(summary.encoded, plain_summary.encoded + n_tagged, "{stem}");
        assert_eq!(summary.skipped.get(SkipReason::NonIp(0x8100)), 0);

        // Rows of untagged frames are the default output's; rows of tagged frames are those of
        // the same frames without tags. (Every frame of these captures but three 0x8899 frames
        // of zoom.pcap gives a row.)
        let all_rows = rows(&all);
        let (mut from_tagged, mut from_plain) = (Vec::new(), Vec::new());
        let mut r = all_rows.iter();
        let reader = CaptureReader::open(&capture(stem)).unwrap();
        for (f, is_tagged) in reader.zip(&tagged) {
            let f = f.unwrap();
            if u16::from_be_bytes([f.data[12], f.data[13]]) == 0x8899 {
                continue;
            }
            let row = *r.next().unwrap();
            if *is_tagged {
                from_tagged.push(row);
            } else {
                from_plain.push(row);
            }
        }
        assert!(r.next().is_none());
        assert_eq!(from_plain, rows(&plain), "{stem}: untagged rows");
        assert_eq!(from_tagged, rows(&inner), "{stem}: tagged rows");
        assert!(from_tagged.iter().all(|row| !row.starts_with(b"NULL")));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_command_line_option_and_its_help() {
    let help = netdiffd(&["encode", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--decode-vlan"), "{help}");
    assert!(help.contains("VLAN tags: like the nPrint tool"), "{help}");

    let dir = work_dir("cli");
    let input = capture("smtp-starttls");
    let input = input.to_str().unwrap();
    let count = |args: &[&str], out: &Path| {
        let o = netdiffd(&[&["encode", "-P", input, "-W", out.to_str().unwrap()], args].concat());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let csv = std::fs::read(out).unwrap();
        let ipv6 = rows(&csv)
            .iter()
            .filter(|r| r.starts_with(b"2003:"))
            .count();
        (
            rows(&csv).len(),
            ipv6,
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let opts = ["-4", "-6", "-t", "-u", "-i", "-p", "0"];
    let (n, v6, stderr) = count(&opts, &dir.join("plain.csv"));
    assert_eq!((n, v6), (36, 0));
    assert!(stderr.contains("non-ip(0x8100)=33"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.join("plain.csv")).unwrap(),
        common::gunzip(&data().join("smtp-starttls.netdiffusion.csv.gz"))
    );
    for flag in ["--decode-vlan", "--vlan"] {
        let (n, v6, _) = count(&[&opts[..], &[flag]].concat(), &dir.join("decoded.csv"));
        assert_eq!((n, v6), (69, 33), "{flag}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The nPrint tool built from `shared/reference/nprint-src` with its `build.sh`, cached under
/// the target folder; `None` (with the reason printed) where it cannot be built here.
fn nprint_tool() -> Option<PathBuf> {
    static TOOL: OnceLock<Option<PathBuf>> = OnceLock::new();
    TOOL.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let cache = tmp.join("nprint-1.2.1");
        if cache.join("nprint").is_file() {
            return Some(cache.join("nprint"));
        }
        let build = tmp.join(format!("nprint-build-{}", std::process::id()));
        let status = Command::new(shared().join("reference/nprint-src/build.sh"))
            .arg(&build)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // build.sh can report success without a binary (when autoreconf is missing).
        if !matches!(status, Ok(s) if s.success()) || !build.join("nprint").is_file() {
            let _ = std::fs::remove_dir_all(&build);
            eprintln!(
                "the nPrint tool could not be built (build.sh needs autoconf automake libtool \
                 libpcap-dev g++): comparing with its stored output only"
            );
            return None;
        }
        // Another test process may have put its build in place first.
        if std::fs::rename(&build, &cache).is_err() {
            let _ = std::fs::remove_dir_all(&build);
        }
        cache.join("nprint").is_file().then(|| cache.join("nprint"))
    })
    .clone()
}

#[test]
fn same_output_as_the_nprint_tool_built_here() {
    let Some(tool) = nprint_tool() else {
        return;
    };
    let dir = work_dir("live");
    let option_sets: [&[&str]; 7] = [
        &["-4", "-6", "-t", "-u", "-i", "-p", "0"],
        &["-4", "-t", "-u", "-i"],
        &[
            "-e", "-4", "-6", "-t", "-u", "-i", "-p", "4", "-O", "4", "-R",
        ],
        &["-e", "-4", "-t", "-O", "5", "-A"],
        &["-4", "-6", "-t", "-u", "-i", "-O", "1", "-c", "20"],
        &["-e", "-6", "-t", "-u", "-i", "-O", "2", "-p", "8"],
        &["-4", "-u", "-O", "3", "-F", "0"],
    ];
    let mut failures = Vec::new();
    for stem in ["misread", "zoom", "smtp-starttls"] {
        let input = capture(stem);
        for (i, opts) in option_sets.iter().enumerate() {
            let theirs = dir.join(format!("{stem}-{i}.nprint.csv"));
            let ours = dir.join(format!("{stem}-{i}.netdiffd.csv"));
            let pre = ["-P", input.to_str().unwrap(), "-W"];
            let t = Command::new(&tool)
                .args(pre)
                .arg(&theirs)
                .args(*opts)
                .output()
                .unwrap();
            assert!(t.status.success(), "nprint {opts:?}");
            let o = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
                .args(["encode", "-q"])
                .args(pre)
                .arg(&ours)
                .args(*opts)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let (want, got) = (
                std::fs::read(&theirs).unwrap(),
                std::fs::read(&ours).unwrap(),
            );
            if want != got {
                failures.push(format!(
                    "{stem} {opts:?}: first difference on line {}",
                    common::first_difference(&got, &want)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    std::fs::remove_dir_all(&dir).unwrap();
}
