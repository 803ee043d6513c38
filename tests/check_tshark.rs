//! `netdiffd check` against tshark (checksum validation on) on every corpus capture and on
//! NetDiffusion's repaired sample: bad-checksum counts per protocol, malformed packets, and the
//! TCP findings both tools make. When tshark is missing these tests skip, except under CI=true,
//! where they fail.

use netdiffd::check::{check_capture, CheckOptions, CheckReport, Rule};
use netdiffd::eval::tshark::CHECKSUM_PREFS;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Expert messages of tshark that say an IPv4/TCP/UDP/ICMP header cannot be walked as declared.
const LENGTH_MESSAGES: [&str; 8] = [
    "option length",
    "length byte past end of options",
    "too-short option length",
    "Bogus IP length",
    "Bogus IP header length",
    "Bad length value",
    "Bogus TCP header length",
    "IPv4 total length exceeds packet length",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("shared")
}

/// True when tshark runs; false (skip) when it does not, unless CI=true.
fn have_tshark() -> bool {
    let ok = Command::new("tshark")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "tshark is required under CI"
        );
        eprintln!("tshark not found: skipping");
    }
    ok
}

/// One row per frame: the requested fields, first occurrence of each, tab-separated.
fn tshark_fields(path: &Path, fields: &[&str], occurrence: &str) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(path).args(CHECKSUM_PREFS);
    cmd.args(["-T", "fields", "-E", "separator=/t", "-E", "aggregator=|"]);
    cmd.args(["-E", &format!("occurrence={occurrence}")]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(out.status.success(), "tshark failed on {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// tshark's verdicts for one capture, counted over frames whose outer network layer is IPv4.
#[derive(Debug, Default, PartialEq, Eq)]
struct Verdicts {
    bad_ip: u64,
    bad_tcp: u64,
    bad_udp: u64,
    bad_icmp: u64,
    malformed: u64,
}

fn tshark_verdicts(path: &Path) -> Verdicts {
    let rows = tshark_fields(
        path,
        &[
            "frame.protocols",
            "ip.checksum.status",
            "tcp.checksum.status",
            "udp.checksum.status",
            "icmp.checksum.status",
            "_ws.malformed",
        ],
        "f",
    );
    let messages = tshark_fields(path, &["_ws.expert.message"], "a");
    let mut v = Verdicts::default();
    for (row, msgs) in rows.iter().zip(&messages) {
        let get = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
        let protos: Vec<&str> = get(0).split(':').collect();
        let Some(net) = protos
            .iter()
            .position(|p| matches!(*p, "ip" | "ipv6" | "arp"))
        else {
            continue;
        };
        if protos[net] != "ip" {
            continue;
        }
        // Only the outer transport is checked (not the headers quoted inside ICMP errors).
        let transport = protos.get(net + 1).copied().unwrap_or("");
        let bad = |i: usize| u64::from(get(i) == "0");
        v.bad_ip += bad(1);
        match transport {
            "tcp" => v.bad_tcp += bad(2),
            "udp" => v.bad_udp += bad(3),
            "icmp" => v.bad_icmp += bad(4),
            _ => {}
        }
        // A dissection exception counts when it stopped the dissection in a layer netdiffd
        // checks (the frame's last protocol); application-layer ones do not.
        let last = protos.last().copied().unwrap_or("");
        let exception = !get(5).is_empty() && matches!(last, "ip" | "tcp" | "udp" | "icmp");
        let all_msgs = msgs.first().map(String::as_str).unwrap_or("");
        let length_error = LENGTH_MESSAGES.iter().any(|m| all_msgs.contains(m));
        v.malformed += u64::from(exception || length_error);
    }
    v
}

fn ours(r: &CheckReport) -> Verdicts {
    Verdicts {
        bad_ip: r.count(Rule::Ipv4Checksum),
        bad_tcp: r.count(Rule::TcpChecksum),
        bad_udp: r.count(Rule::UdpChecksum),
        bad_icmp: r.count(Rule::IcmpChecksum),
        malformed: r.malformed_packets,
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for class in std::fs::read_dir(root().join("corpus")).unwrap() {
        let class = class.unwrap().path();
        if !class.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&class).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "pcap") {
                files.push(f);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn checksum_and_malformed_verdicts_agree_with_tshark_on_the_corpus() {
    if !have_tshark() {
        return;
    }
    let files = corpus_files();
    assert!(files.len() >= 20, "corpus not found");
    let mut disagreements = Vec::new();
    let mut bad_total = 0;
    for f in &files {
        let theirs = tshark_verdicts(f);
        let r = check_capture(f, &CheckOptions::default()).unwrap();
        let mine = ours(&r);
        bad_total += theirs.bad_ip + theirs.bad_tcp + theirs.bad_udp + theirs.bad_icmp;
        if mine != theirs {
            disagreements.push(format!(
                "{}: tshark {theirs:?}, netdiffd {mine:?}",
                f.display()
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // The corpus has checksum-offload artefacts and ICMP without checksums: the comparison
    // is not vacuous.
    assert!(bad_total > 1000, "{bad_total}");
}

#[test]
fn reference_sample_verdicts_agree_with_tshark() {
    if !have_tshark() {
        return;
    }
    let path = root().join("reference/netdiffusion/repaired_netflix_5.pcap");
    let r = check_capture(&path, &CheckOptions::default()).unwrap();
    let theirs = tshark_verdicts(&path);
    assert!(theirs.bad_tcp > 0 && theirs.malformed > 0, "{theirs:?}");
    assert_eq!(ours(&r), theirs);

    let per_frame = tshark_fields(
        &path,
        &["_ws.expert.message", "tcp.flags.res", "tcp.flags.urg"],
        "a",
    );
    let with = |needle: &str| {
        per_frame
            .iter()
            .filter(|row| row.first().is_some_and(|m| m.contains(needle)))
            .count() as u64
    };
    assert_eq!(
        r.count(Rule::TcpWindowScale),
        with("Window scale shift exceeds 14")
    );
    assert_eq!(
        r.count(Rule::TcpOptionPadding),
        with("Non-zero header padding")
    );
    assert_eq!(
        r.count(Rule::TcpUrgentPointer),
        with("urgent pointer field is nonzero while the URG flag is not set")
    );
    let mss_late = with("non-SYN packet does contain a MSS option");
    assert!(mss_late > 0);
    assert!(r.count(Rule::TcpSynOnlyOption) >= mss_late);
    let reserved = per_frame
        .iter()
        .filter(|row| {
            row.get(1)
                .is_some_and(|v| !v.is_empty() && v != "0" && v != "False")
        })
        .count() as u64;
    assert!(reserved > 0);
    assert_eq!(r.count(Rule::TcpReservedBits), reserved);
    let rsts = with("Connection reset (RST)");
    assert!(rsts > 1);
    assert!(r.count(Rule::TcpPacketAfterRst) > 0);
}
