//! `netdiffd check` as a binary, on NetDiffusion's repaired sample: every documented defect is
//! found. Expectations are derived from the file's bytes here, with the wire views only (not
//! the checker), so a checker that misses or invents a defect fails.

use netdiffd::capture::{CaptureReader, Frame, LinkType};
use netdiffd::wire::checksum::verify_v4;
use netdiffd::wire::ipv4::Ipv4Packet;
use netdiffd::wire::tcp::{flags, parse_options, TcpOption, TcpPacket};
use netdiffd::wire::IpProtocol;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/netdiffusion/repaired_netflix_5.pcap")
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .args(args)
        .output()
        .expect("run netdiffd");
    (
        out.status.code().expect("exit status"),
        String::from_utf8(out.stdout).expect("utf-8 output"),
    )
}

fn json_report(path: &Path) -> (i32, Value) {
    let (code, out) = run(&["check", "--json", path.to_str().unwrap()]);
    (code, serde_json::from_str(&out).expect("JSON report"))
}

fn count(j: &Value, rule: &str) -> u64 {
    j["rules"][rule]["count"]
        .as_u64()
        .unwrap_or_else(|| panic!("rule {rule} missing from the report"))
}

/// One TCP segment of the sample, read with the wire views.
struct Seg {
    src: std::net::Ipv4Addr,
    seq: u32,
    ack: u32,
    flags: u16,
    len: u32,
    options: Result<Vec<TcpOption<'static>>, ()>,
    checksum_ok: bool,
    payload: Vec<u8>,
}

fn segments(frames: &[Frame]) -> Vec<Seg> {
    frames
        .iter()
        .map(|f| {
            assert_eq!(f.link, LinkType::Raw);
            let ip = Ipv4Packet::new_checked(&f.data[..]).unwrap();
            assert_eq!(ip.protocol(), IpProtocol::Tcp);
            let seg = ip.payload();
            let t = TcpPacket::new_checked(seg).unwrap();
            let options = parse_options(t.options())
                .map(|o| {
                    o.into_iter()
                        .filter_map(|o| match o {
                            TcpOption::Mss(v) => Some(TcpOption::Mss(v)),
                            TcpOption::WindowScale(v) => Some(TcpOption::WindowScale(v)),
                            _ => None,
                        })
                        .collect()
                })
                .map_err(|_| ());
            Seg {
                src: ip.src_addr(),
                seq: t.seq(),
                ack: t.ack(),
                flags: t.flags(),
                len: (seg.len() - t.header_len()) as u32,
                options,
                checksum_ok: verify_v4(ip.src_addr(), ip.dst_addr(), IpProtocol::Tcp, seg) == 0,
                payload: seg[t.header_len()..].to_vec(),
            }
        })
        .collect()
}

#[test]
fn reference_sample_fails_with_each_documented_defect() {
    let frames: Vec<Frame> = CaptureReader::open(&reference())
        .unwrap()
        .map(|f| f.unwrap())
        .collect();
    let segs = segments(&frames);
    let (code, j) = json_report(&reference());
    assert_eq!(code, 1, "error-level rules are broken: exit status 1");
    assert_eq!(j["passed"], false);
    assert_eq!(j["packets_checked"].as_u64(), Some(frames.len() as u64));

    // Wrong TCP checksums: exactly the segments whose checksum does not verify.
    let bad_sums = segs.iter().filter(|s| !s.checksum_ok).count() as u64;
    assert!(bad_sums > 0);
    assert_eq!(count(&j, "tcp-checksum"), bad_sums);

    // Zero timestamps: the sample has one flow, every packet at time 0.
    assert!(frames.iter().all(|f| f.ts_ns == 0));
    assert_eq!(count(&j, "timestamps-zero"), 1);

    // Window-scale shifts over 14.
    let big_shift = segs
        .iter()
        .filter(|s| {
            s.options.as_ref().is_ok_and(|o| {
                o.iter()
                    .any(|o| matches!(o, TcpOption::WindowScale(v) if *v > 14))
            })
        })
        .count() as u64;
    assert!(big_shift > 0);
    assert!(count(&j, "tcp-window-scale") >= big_shift);

    // MSS on segments without SYN (cleanly parsed options only, so a lower bound).
    let mss_late = segs
        .iter()
        .filter(|s| s.flags & flags::SYN == 0)
        .filter(|s| {
            s.options
                .as_ref()
                .is_ok_and(|o| o.iter().any(|o| matches!(o, TcpOption::Mss(_))))
        })
        .count() as u64;
    assert!(mss_late > 0);
    assert!(count(&j, "tcp-syn-only-option") >= mss_late);

    // Malformed options (SACK running past the options among them).
    let bad_opts = segs.iter().filter(|s| s.options.is_err()).count() as u64;
    assert!(bad_opts > 0);
    assert!(count(&j, "tcp-options") >= bad_opts);

    // SYN or FIN consuming no sequence space: the same side's next segment starts at
    // seq + len of the flagged one.
    let mut no_space = 0;
    for (i, s) in segs.iter().enumerate() {
        if s.flags & (flags::SYN | flags::FIN) == 0 || s.flags & flags::RST != 0 {
            continue;
        }
        if let Some(next) = segs[i + 1..].iter().find(|n| n.src == s.src) {
            if next.seq == s.seq.wrapping_add(s.len) && next.seq != s.seq {
                no_space += 1;
            }
        }
    }
    assert!(no_space > 0);
    assert!(count(&j, "tcp-syn-fin-sequence") > 0);

    // ACKs that do not match: pointing at the start of the peer's last segment.
    let mut stale = 0;
    for (i, s) in segs.iter().enumerate() {
        let peer_last = segs[..i]
            .iter()
            .rev()
            .find(|p| p.src != s.src && (p.len > 0 || p.flags & (flags::SYN | flags::FIN) != 0));
        if s.flags & flags::ACK != 0 && peer_last.is_some_and(|p| p.seq == s.ack) {
            stale += 1;
        }
    }
    assert!(stale > 0);
    assert!(count(&j, "tcp-ack-stale") > 0);
    // The SYN-ACK acknowledges the client's ISN itself.
    assert_eq!(segs[1].ack, segs[0].seq);
    assert!(count(&j, "tcp-syn-fin-not-acked") > 0);

    // Payload over sequence space the same side sent before, with other bytes than the first
    // ones sent there (SYN data follows the SYN's own number; RST payloads and one-byte
    // keep-alive probes below the next sequence number are not stream data).
    let mut first_sent: HashMap<(std::net::Ipv4Addr, u32), u8> = HashMap::new();
    let mut next: HashMap<std::net::Ipv4Addr, u32> = HashMap::new();
    let mut conflicting = 0;
    for s in &segs {
        let (syn, fin) = (s.flags & flags::SYN != 0, s.flags & flags::FIN != 0);
        let end = s.seq.wrapping_add(s.len + u32::from(syn) + u32::from(fin));
        let n = next.entry(s.src).or_insert(end);
        let keep_alive = !syn && !fin && s.len <= 1 && s.seq.wrapping_add(1) == *n;
        if (end.wrapping_sub(*n) as i32) > 0 {
            *n = end;
        }
        if s.flags & flags::RST != 0 || keep_alive {
            continue;
        }
        let start = s.seq.wrapping_add(u32::from(syn));
        let mut differs = false;
        for (k, b) in s.payload.iter().enumerate() {
            let at = (s.src, start.wrapping_add(k as u32));
            differs |= *first_sent.entry(at).or_insert(*b) != *b;
        }
        conflicting += u64::from(differs);
    }
    assert!(conflicting > 0);
    assert_eq!(count(&j, "tcp-conflicting-overlap"), conflicting);

    // RSTs mid-flow.
    assert!(segs[..segs.len() - 1]
        .iter()
        .any(|s| s.flags & flags::RST != 0));
    assert!(count(&j, "tcp-packet-after-rst") > 0);
}

#[test]
fn table_output_names_rules_and_strict_fails_on_warnings() {
    let (code, out) = run(&["check", reference().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("tcp-checksum") && out.contains("FAIL"),
        "{out}"
    );

    // A real capture with only warning-level findings passes unless strict.
    let smtp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ftp_mail/smtp.pcap");
    let (code, j) = json_report(&smtp);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["errors"], 0);
    let warnings = j["warnings"].as_u64().unwrap();
    let (strict_code, _) = run(&["check", "--strict", smtp.to_str().unwrap()]);
    assert_eq!(strict_code, if warnings > 0 { 1 } else { 0 });
}

#[test]
fn unreadable_input_exits_2() {
    let (code, _) = run(&["check", "/nonexistent/capture.pcap"]);
    assert_eq!(code, 2);
    let not_pcap = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let (code, _) = run(&["check", not_pcap.to_str().unwrap()]);
    assert_eq!(code, 2);
}
