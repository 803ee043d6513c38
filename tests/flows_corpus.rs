//! Flow building on the real corpus, checked against the corpus manifest (Wireshark's IPv4
//! conversation tables) and against the properties flows must have.

use netdiffd::capture::CaptureReader;
use netdiffd::flows::{flows_from_capture, Direction, FlowSettings};
use netdiffd::wire::IpProtocol;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// (file, flows, duration_s) rows of MANIFEST.csv.
fn manifest() -> Vec<(String, usize, f64)> {
    let text = std::fs::read_to_string(corpus().join("MANIFEST.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (fc, nc, dc) = (col("file"), col("flows"), col("duration_s"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[fc].to_string(),
                f[nc].parse().unwrap(),
                f[dc].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn every_frame_is_in_a_flow_or_counted_as_skipped() {
    for (file, _, _) in manifest() {
        let path = corpus().join(&file);
        let frames = CaptureReader::open(&path).unwrap().count() as u64;
        let (flows, skipped) = flows_from_capture(&path, FlowSettings::default(), None).unwrap();
        let in_flows: u64 = flows.iter().map(|f| f.packets.len() as u64).sum();
        assert_eq!(
            in_flows + skipped.total(),
            frames,
            "{file}: skipped {skipped}"
        );
        for f in &flows {
            assert!(!f.packets.is_empty());
            assert_eq!(
                f.packets[0].iat_ns, 0,
                "{file}: first packet of a flow has no gap"
            );
            for p in &f.packets {
                assert_eq!(netdiffd::nprint::flow_rows([p]).len(), 1088);
            }
        }
    }
}

#[test]
fn conversations_match_the_manifest_for_short_captures() {
    // Captures shorter than the idle timeout: no timeout splits, so the distinct endpoint sets
    // of our flows are Wireshark's conversations (ICMP errors excluded, as in the manifest).
    let mut checked = 0;
    for (file, expected, duration) in manifest() {
        if duration >= 120.0 || file.starts_with("zoom/") {
            continue; // zoom.pcap's GTP tunnel packets are skipped here, counted there
        }
        let (flows, _) =
            flows_from_capture(&corpus().join(&file), FlowSettings::default(), None).unwrap();
        let conv: HashSet<_> = flows
            .iter()
            .filter(|f| !(f.key.proto == IpProtocol::Icmp && f.key.client_port == 0))
            .map(|f| {
                let a = (f.key.client, f.key.client_port);
                let b = (f.key.server, f.key.server_port);
                (f.key.proto, a.min(b), a.max(b))
            })
            .collect();
        assert_eq!(conv.len(), expected, "{file}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} captures checked");
}

#[test]
fn long_gaps_split_sessions() {
    let settings = FlowSettings::default();
    for file in [
        "zoom/zoom.pcap",
        "instagram/instagram.pcap",
        "ssh/ssh.pcap",
        "quic/quic.pcap",
    ] {
        let (flows, _) = flows_from_capture(&corpus().join(file), settings, None).unwrap();
        for f in &flows {
            assert!(f.duration_ns() <= settings.active_timeout_ns + settings.idle_timeout_ns);
            for p in &f.packets[1..] {
                assert!(
                    p.iat_ns <= settings.idle_timeout_ns,
                    "{file}: {} gap {}",
                    f.key,
                    p.iat_ns
                );
            }
        }
    }
}

#[test]
fn port_scan_probes_are_short_forward_flows() {
    let (flows, _) = flows_from_capture(
        &corpus().join("portscan/synscan.pcap"),
        FlowSettings::default(),
        Some("portscan".into()),
    )
    .unwrap();
    assert!(flows.len() > 1900, "{} flows", flows.len());
    // The manifest: no flow of 8 packets or more; open ports see a few SYN-ACK retransmissions.
    assert!(flows.iter().all(|f| f.packets.len() < 8));
    let short = flows.iter().filter(|f| f.packets.len() <= 2).count();
    assert!(
        short * 100 >= flows.len() * 99,
        "{short} of {} flows ≤ 2 packets",
        flows.len()
    );
    assert!(flows.iter().all(|f| f.label.as_deref() == Some("portscan")));
    // The first packet of every probe is the scanner's SYN, sent by the client.
    let syn_first = flows
        .iter()
        .filter(|f| {
            let b = netdiffd::nprint::flow_rows([&f.packets[0]]);
            // tcp_syn is bit 480 + 110 of the standard layout; tcp_ackf is 480 + 107.
            b[480 + 110] == 1 && b[480 + 107] == 0
        })
        .count();
    assert!(syn_first > 1900);
    for f in flows.iter().filter(|f| f.packets.len() == 2) {
        assert_eq!(f.packets[0].direction, Direction::Forward);
        assert_eq!(f.packets[1].direction, Direction::Backward);
    }
}
