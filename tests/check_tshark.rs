//! `netdiffd check` against tshark (checksum validation on) on every corpus capture and on
//! NetDiffusion's repaired sample: bad-checksum counts per protocol, malformed packets, the
//! TCP findings both tools make, and retransmissions whose bytes differ from the data they
//! overlap (judged here from tshark's dissection of every segment). When tshark is missing
//! these tests skip, except under CI=true, where they fail.

use netdiffd::check::{check_capture, CheckOptions, CheckReport, Rule};
use netdiffd::eval::tshark::CHECKSUM_PREFS;
use std::collections::HashMap;
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
            "_ws.malformed.reassembly",
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
        // checks (the frame's last protocol); application-layer ones do not, and neither do
        // TCP reassembly errors: they are about tshark's reassembly of the payload stream
        // (a retransmission that straddles the end of a PDU it already reassembled, whatever
        // its bytes), not about the segment's headers. Retransmitted bytes are compared in
        // `conflicting_overlaps_agree_with_the_bytes_tshark_dissects`.
        let last = protos.last().copied().unwrap_or("");
        let exception = !get(5).is_empty()
            && get(6).is_empty()
            && matches!(last, "ip" | "tcp" | "udp" | "icmp");
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

/// The corpus captures, sorted (as `netdiffd dataset` finds them).
fn corpus_files() -> Vec<PathBuf> {
    netdiffd::corpus::list_captures(&root().join("corpus")).expect("the corpus")
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

/// One TCP segment as tshark dissects it.
struct Segment {
    frame: u64,
    /// tshark's stream index and the sending endpoint: one flow direction.
    direction: (String, String, String),
    seq: u32,
    syn: bool,
    fin: bool,
    rst: bool,
    /// Payload length on the wire.
    len: u32,
    /// Payload bytes in the capture.
    payload: Vec<u8>,
    /// tshark stopped on a reassembly error in this frame.
    reassembly_error: bool,
}

/// The TCP segments of a capture whose outer network layer is IPv4, in capture order.
fn tcp_segments(path: &Path) -> Vec<Segment> {
    let rows = tshark_fields(
        path,
        &[
            "frame.protocols",
            "frame.number",
            "tcp.stream",
            "ip.src",
            "tcp.srcport",
            "tcp.seq_raw",
            "tcp.len",
            "tcp.payload",
            "tcp.flags.syn",
            "tcp.flags.fin",
            "tcp.flags.reset",
            "_ws.malformed.reassembly",
        ],
        "f",
    );
    let mut segs = Vec::new();
    for row in rows {
        let get = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
        let protos: Vec<&str> = get(0).split(':').collect();
        let Some(net) = protos
            .iter()
            .position(|p| matches!(*p, "ip" | "ipv6" | "arp"))
        else {
            continue;
        };
        if protos[net] != "ip" || protos.get(net + 1) != Some(&"tcp") || get(5).is_empty() {
            continue;
        }
        let flag = |i: usize| matches!(get(i), "1" | "True");
        let hex: String = get(7).chars().filter(|c| *c != ':').collect();
        let payload = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("payload hex"))
            .collect();
        segs.push(Segment {
            frame: get(1).parse().expect("frame number"),
            direction: (get(2).into(), get(3).into(), get(4).into()),
            seq: get(5).parse().expect("raw sequence number"),
            syn: flag(8),
            fin: flag(9),
            rst: flag(10),
            len: get(6).parse().unwrap_or(0),
            payload,
            reassembly_error: !get(11).is_empty(),
        });
    }
    segs
}

/// What a segment's payload meets in sequence space its direction sent before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overlap {
    /// Earlier bytes, all equal.
    Same,
    /// Earlier bytes, some different.
    Conflicting,
}

/// Each segment whose payload overlaps bytes its direction sent before, compared with the
/// first bytes sent for each sequence number over the whole capture. Keep-alive probes (at
/// most one byte, one below the next sequence number, no SYN or FIN) and RST payloads are not
/// stream data; SYN data starts after the SYN's own sequence number.
fn overlaps(segs: &[Segment]) -> Vec<(u64, Overlap)> {
    struct Sent {
        bytes: HashMap<u32, u8>,
        next: u32,
    }
    let mut sent: HashMap<&(String, String, String), Sent> = HashMap::new();
    let mut out = Vec::new();
    for s in segs {
        let end = s
            .seq
            .wrapping_add(s.len)
            .wrapping_add(u32::from(s.syn) + u32::from(s.fin));
        let dir = sent.entry(&s.direction).or_insert(Sent {
            bytes: HashMap::new(),
            next: end,
        });
        let keep_alive = !s.syn && !s.fin && s.len <= 1 && s.seq.wrapping_add(1) == dir.next;
        if (end.wrapping_sub(dir.next) as i32) > 0 {
            dir.next = end;
        }
        if s.rst || keep_alive {
            continue;
        }
        let start = s.seq.wrapping_add(u32::from(s.syn));
        let mut found = None;
        for (k, b) in s.payload.iter().enumerate() {
            let at = start.wrapping_add(k as u32);
            match dir.bytes.get(&at) {
                Some(old) if old != b => found = Some(Overlap::Conflicting),
                Some(_) => {
                    found.get_or_insert(Overlap::Same);
                }
                None => {
                    dir.bytes.insert(at, *b);
                }
            }
        }
        if let Some(o) = found {
            out.push((s.frame, o));
        }
    }
    out
}

#[test]
fn conflicting_overlaps_agree_with_the_bytes_tshark_dissects() {
    if !have_tshark() {
        return;
    }
    let all = CheckOptions {
        max_examples: usize::MAX,
        ..CheckOptions::default()
    };
    let reference = root().join("reference/netdiffusion/repaired_netflix_5.pcap");
    let mut files = corpus_files();
    assert!(files.len() >= 20, "corpus not found");
    files.push(reference.clone());
    let mut disagreements = Vec::new();
    let mut corpus_conflicts = 0;
    let mut corpus_same = 0;
    let mut reassembly_errors = 0;
    for f in &files {
        let segs = tcp_segments(f);
        let found = overlaps(&segs);
        let want: Vec<u64> = found
            .iter()
            .filter(|(_, o)| *o == Overlap::Conflicting)
            .map(|(frame, _)| *frame)
            .collect();
        let r = check_capture(f, &all).unwrap();
        let got: Vec<u64> = r
            .rules
            .get(&Rule::TcpConflictingOverlap)
            .map(|t| t.examples.iter().map(|e| e.record).collect())
            .unwrap_or_default();
        if got != want {
            disagreements.push(format!(
                "{}: conflicting overlaps in frames {want:?} by tshark's bytes, netdiffd {got:?}",
                f.display()
            ));
        }
        if *f != reference {
            corpus_conflicts += want.len();
            corpus_same += found.len() - want.len();
        }
        // tshark's reassembly errors are retransmissions: the comparison above judges their
        // bytes (the verdicts test leaves them out of the malformed count).
        for s in segs.iter().filter(|s| s.reassembly_error) {
            reassembly_errors += 1;
            assert!(
                found.iter().any(|(frame, _)| *frame == s.frame),
                "{} frame {}: reassembly error on a segment that overlaps nothing sent before",
                f.display(),
                s.frame
            );
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // Not vacuous: the corpus has retransmissions with other bytes (webex, whatsapp) among
    // many with the same bytes, and tshark's reassembly errors on some of the latter.
    assert!(corpus_conflicts > 0, "no conflicting overlap in the corpus");
    assert!(corpus_same > 10 * corpus_conflicts, "{corpus_same}");
    assert!(reassembly_errors > 0);
}
