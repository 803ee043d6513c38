//! nDPI's `ndpiReader` as an independent flow meter: on a generated job of 240 flows — read
//! from the pcap, and live on the far side of a veth pair while the job is replayed — it
//! reports the same flows, with the same packet counts in each direction, as the ground truth
//! that `generate --labels` wrote. The live case needs root (and fails under CI=true when the
//! test bed cannot be made).

#[path = "common/scratch.rs"]
mod scratch;
mod testbed_support;

use netdiffd::truth::FlowRecord;
use scratch::TempDir;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;
use testbed_support::{generate_job, InlineBed};

/// A flow as ndpiReader prints it: protocol, first sender `addr:port`, the other side, and the
/// packets each way.
type Meter = BTreeMap<(String, String, String), (u64, u64)>;

/// Reads the flow lines of `ndpiReader -v 2` (`N  TCP a:p <-> b:q [...][3 pkts/... <-> 2
/// pkts/...]`; `->` when only one side spoke).
fn parse_ndpi(text: &str) -> Meter {
    let mut flows = Meter::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some(n), Some(proto)) = (words.next(), words.next()) else {
            continue;
        };
        if n.parse::<u64>().is_err() || !["TCP", "UDP", "ICMP"].contains(&proto) {
            continue;
        }
        let (Some(a), Some(_arrow), Some(b)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let counts: Vec<u64> = line
            .split('[')
            .find(|part| part.contains(" pkts/"))
            .map(|part| {
                part.split_whitespace()
                    .filter_map(|w| w.strip_suffix("pkts/").or(w.split("pkts/").next()))
                    .filter_map(|w| w.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let c2s = counts.first().copied().unwrap_or(0);
        let s2c = counts.get(1).copied().unwrap_or(0);
        flows.insert(
            (proto.to_string(), a.to_string(), b.to_string()),
            (c2s, s2c),
        );
    }
    flows
}

/// The ground truth written as ndpiReader would print it.
fn expected(records: &[FlowRecord]) -> Meter {
    records
        .iter()
        .map(|r| {
            // ndpiReader prints ICMP flows with ports 0.
            let end = |addr: std::net::Ipv4Addr, port: u16| {
                let port = if r.proto == "icmp" { 0 } else { port };
                format!("{addr}:{port}")
            };
            (
                (
                    r.proto.to_uppercase(),
                    end(r.client, r.client_port),
                    end(r.server, r.server_port),
                ),
                (r.client_packets, r.server_packets),
            )
        })
        .collect()
}

fn ndpi_reader() -> Command {
    let probe = Command::new("ndpiReader").arg("-h").output();
    assert!(
        probe.is_ok(),
        "ndpiReader (Debian package libndpi-bin) must be installed"
    );
    Command::new("ndpiReader")
}

fn compare(what: &str, ours: &Meter, theirs: &Meter) {
    let missing: Vec<_> = ours.keys().filter(|k| !theirs.contains_key(*k)).collect();
    let extra: Vec<_> = theirs.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: flows only in the ground truth {missing:?}, only in ndpiReader's {extra:?}"
    );
    for (k, v) in ours {
        assert_eq!(theirs[k], *v, "{what}: packets each way of {k:?}");
    }
}

#[test]
fn ndpi_reader_counts_the_same_flows_as_the_ground_truth() {
    let dir = TempDir::new("meter");
    let pcap = dir.join("job.pcap");
    let records = generate_job(
        "netflix=2,teams=1,dns=1,zoom=1,portscan=1,tunnel=1",
        240,
        11,
        &pcap,
        &dir.join("job.jsonl"),
    );
    assert_eq!(records.len(), 240);
    let ours = expected(&records);
    assert_eq!(ours.len(), 240, "5-tuples are unique within a job");

    let out = ndpi_reader()
        .arg("-i")
        .arg(&pcap)
        .args(["-v", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let offline = parse_ndpi(&String::from_utf8_lossy(&out.stdout));
    compare("ndpiReader on the pcap", &ours, &offline);

    // Live, on the far side of a veth pair while the job replays onto the near side.
    let Some(bed) = InlineBed::new() else { return };
    let meter = Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.ns_d,
            "ndpiReader",
            "-i",
            &bed.d1,
            "-s",
            "8",
            "-v",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let replay = bed.replay(&["-i", &bed.r1, "--pps", "3000", pcap.to_str().unwrap()]);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let live = meter.wait_with_output().unwrap();
    let live = parse_ndpi(&String::from_utf8_lossy(&live.stdout));
    compare("ndpiReader live on the far side", &ours, &live);
}
