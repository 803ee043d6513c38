//! Encode → decode over every capture of the corpus: for every IPv4 TCP/UDP/ICMP packet the
//! decoded IP and transport headers and the lengths are identical to the captured ones; every
//! other frame is accounted for by a skip reason.

use netdiffd::capture::{dissect, CaptureReader, SkipCounts, L3};
use netdiffd::nprint::decode::decode_row;
use netdiffd::nprint::{encode_packet, Layout};
use std::path::{Path, PathBuf};

fn captures() -> Vec<PathBuf> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut v = Vec::new();
    for class in std::fs::read_dir(&corpus).unwrap() {
        let class = class.unwrap().path();
        if class.is_dir() {
            for f in std::fs::read_dir(&class).unwrap() {
                let f = f.unwrap().path();
                if f.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                    v.push(f);
                }
            }
        }
    }
    v.sort();
    v
}

#[test]
fn encode_decode_round_trip_over_the_corpus() {
    let files = captures();
    assert!(files.len() >= 25, "corpus has {} captures", files.len());
    let (mut total, mut checked, mut ipv6) = (0u64, 0u64, 0u64);
    let mut skipped = SkipCounts::default();
    for path in &files {
        for frame in CaptureReader::open(path).unwrap() {
            let frame = frame.unwrap();
            total += 1;
            let pkt = match dissect(&frame) {
                Ok(p) => p,
                Err(r) => {
                    skipped.add(r);
                    continue;
                }
            };
            let ip = match pkt.l3 {
                L3::V4(ip) => ip,
                L3::V6(_) => {
                    ipv6 += 1;
                    continue;
                }
            };
            let mut bits = Vec::new();
            encode_packet(&Layout::STANDARD, &pkt, -1, &mut bits);
            let d = decode_row(&bits)
                .unwrap_or_else(|e| panic!("{}: record {}: {e}", path.display(), frame.record));
            let at = format!("{} record {}", path.display(), frame.record);
            assert_eq!(d.ip_header, ip.header(), "{at}: IPv4 header");
            assert_eq!(d.l4_header, pkt.l4.header(), "{at}: transport header");
            assert_eq!(d.total_len(), ip.total_len(), "{at}: total length");
            assert_eq!(d.payload_len, pkt.payload_len, "{at}: payload length");
            checked += 1;
        }
    }
    println!(
        "frames {total}, IPv4 TCP/UDP/ICMP round-tripped {checked}, IPv6 {ipv6}, skipped {skipped}"
    );
    assert_eq!(checked + ipv6 + skipped.total(), total);
    // The corpus is about 14,000 frames, almost all IPv4.
    assert!(checked > 13_000, "only {checked} packets checked");
}
