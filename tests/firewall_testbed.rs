//! A stateful firewall under test: three parties on one host — the daemon replaying inline
//! from its own namespace, a Linux router with nftables and conntrack (strict TCP window
//! tracking) between its two interfaces — and a class-mixed job of the shipped model driven
//! through it. Asserted from the nftables counters and captures on both sides: generated
//! traffic trips no `ct state invalid` drop but on ICMP errors (a destination unreachable or
//! time exceeded about a datagram conntrack never saw is invalid to it, generated or real, and
//! a generated error quotes a datagram of no other flow) and on port scans' stealth probes (a
//! FIN, Null or Xmas probe opens no connection, and its answer belongs to none), exactly the
//! flows the policy allows
//! arrive on the far side (matched to the ground truth by Community ID), and the daemon's
//! per-interface counters equal what the firewall received. Real corpus flows that open with a handshake are
//! replayed through the same firewall and their figure is reported beside it. Needs root;
//! under CI=true it fails when the test bed cannot be made.

mod service_support;
// Both supports include tests/common/netns.rs (each test binary takes the support it needs);
// this test needs the daemon's and the firewall bed's, so the file is here twice.
#[allow(clippy::duplicate_mod)]
mod testbed_support;

use netdiffd::capture::{CaptureReader, Frame, L4};
use netdiffd::flows::{flows_from_capture, FlowSettings};
use netdiffd::packets::{PcapWriter, TsResolution};
use netdiffd::truth::FlowRecord;
use service_support::{config_text, free_port, metric, Daemon, TempDir};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use testbed_support::{
    corpus_files, enter_netns, frame_cid, on_ci, Captured, InlineBed, D1_MAC, D2_MAC,
};

/// The policy under test: UDP only to and from ports 53 and 443 (both directions of a refused
/// flow are dropped by it, so its server side never reads as unsolicited); everything else is
/// left to conntrack, whose invalid ICMP errors (unrelated to any connection it tracks) and
/// invalid stealth probes (TCP without SYN, ACK and RST: a port scan's FIN, Null and Xmas probes)
/// and their answers (a closed port's RST-ACK, sequence number 0) are counted apart from every
/// other invalid packet.
const RULESET: &str = "table inet fw {
  counter invalid {}
  counter refused {}
  counter unrelated {}
  counter probes {}
  chain forward_filter {
    type filter hook forward priority 0; policy accept;
    meta l4proto udp udp dport != { 53, 443 } udp sport != { 53, 443 } counter name refused drop
    icmp type { destination-unreachable, time-exceeded } ct state invalid counter name unrelated drop
    tcp flags & (syn | ack | rst) == 0 ct state invalid counter name probes drop
    tcp flags & (syn | rst | ack) == rst | ack tcp sequence 0 ct state invalid counter name probes drop
    ct state invalid counter name invalid drop
    ct state established,related accept
  }
}
";

fn allowed(r: &FlowRecord) -> bool {
    r.proto != "udp" || [53, 443].contains(&r.client_port) || [53, 443].contains(&r.server_port)
}

/// The Community IDs of the flows whose offered packets hold an IPv4 packet `marks` says is
/// of the kind sought, and how many such packets were offered.
fn flows_marked(
    offered: [&[Captured]; 2],
    marks: impl Fn(&netdiffd::wire::ipv4::Ipv4Packet<&[u8]>) -> bool,
) -> (HashSet<String>, u64) {
    use netdiffd::wire::ipv4::Ipv4Packet;
    let (mut cids, mut packets) = (HashSet::new(), 0);
    for f in offered.into_iter().flatten() {
        let Some(ip) = f
            .data
            .get(14..)
            .and_then(|b| Ipv4Packet::new_checked(b).ok())
        else {
            continue;
        };
        if marks(&ip) {
            packets += 1;
            if let Some((cid, _)) = frame_cid(&f.data) {
                cids.insert(cid);
            }
        }
    }
    (cids, packets)
}

/// The flows holding an ICMP error (destination unreachable, time exceeded), and how many.
fn icmp_error_flows(offered: [&[Captured]; 2]) -> (HashSet<String>, u64) {
    use netdiffd::wire::IpProtocol;
    flows_marked(offered, |ip| {
        ip.protocol() == IpProtocol::Icmp && matches!(ip.payload().first(), Some(3 | 11))
    })
}

/// The flows that are stealth probes, holding a TCP segment with neither SYN, ACK nor RST (a
/// FIN, Null or Xmas probe, which belongs to no connection), and how many such segments.
fn probe_flows(offered: [&[Captured]; 2]) -> (HashSet<String>, u64) {
    use netdiffd::wire::tcp::{flags, TcpPacket};
    use netdiffd::wire::IpProtocol;
    flows_marked(offered, |ip| {
        ip.protocol() == IpProtocol::Tcp
            && TcpPacket::new_checked(ip.payload())
                .is_ok_and(|t| t.flags() & (flags::SYN | flags::ACK | flags::RST) == 0)
    })
}

fn by_cid(frames: &[Captured]) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for f in frames {
        if let Some((c, _)) = frame_cid(&f.data) {
            *m.entry(c).or_default() += 1;
        }
    }
    m
}

/// Every flow the policy allows that did not pass the firewall whole, each packet as it was
/// offered on either side (arrival time, side, [`tcp_summary`]) and whether it passed: what a
/// failure needs to tell a reordered arrival from a packet the firewall rejects on its own.
fn lost_packets(records: &[FlowRecord], [oc, os, pc, ps]: [&[Captured]; 4]) -> String {
    let allowed: HashSet<&str> = records
        .iter()
        .filter(|r| allowed(r))
        .map(|r| r.community_id.as_str())
        .collect();
    let passed: HashSet<&[u8]> = pc.iter().chain(ps).map(|f| ip_packet(&f.data)).collect();
    let mut offered: Vec<(u64, &str, &Captured)> = oc
        .iter()
        .map(|f| (f.ts_ns, "client", f))
        .chain(os.iter().map(|f| (f.ts_ns, "server", f)))
        .collect();
    offered.sort_by_key(|o| o.0);
    let mut flows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut lossy = HashSet::new();
    for (ts, side, f) in &offered {
        let Some((cid, _)) = frame_cid(&f.data).filter(|(c, _)| allowed.contains(c.as_str()))
        else {
            continue;
        };
        let through = passed.contains(ip_packet(&f.data));
        if !through {
            lossy.insert(cid.clone());
        }
        flows.entry(cid).or_default().push(format!(
            "  {} {ts} {side} {}",
            if through { ">" } else { "x" },
            tcp_summary(&f.data)
        ));
    }
    flows
        .into_iter()
        .filter(|(cid, _)| lossy.contains(cid))
        .take(5)
        .map(|(cid, lines)| format!("{cid}\n{}\n", lines.join("\n")))
        .collect()
}

/// The IPv4 packet of an Ethernet frame from its source address on: the firewall rewrites the
/// link header and decrements the TTL (and with it the header checksum) of what it forwards.
fn ip_packet(frame: &[u8]) -> &[u8] {
    frame.get(14 + 12..).unwrap_or_default()
}

/// `src > dst`, the TTL and, for TCP, `flags seq ack win`; then the IP length.
fn tcp_summary(frame: &[u8]) -> String {
    let ip_bytes = frame.get(14..).unwrap_or_default();
    let Ok(ip) = netdiffd::wire::ipv4::Ipv4Packet::new_checked(ip_bytes) else {
        return "not IPv4".into();
    };
    let l4 = ip_bytes.get(ip.header_len()..).unwrap_or_default();
    let port = |at: usize| {
        l4.get(at..at + 2)
            .map_or(0, |p| u16::from_be_bytes([p[0], p[1]]))
    };
    let ends = format!(
        "{}:{} > {}:{} ttl {}",
        ip.src_addr(),
        port(0),
        ip.dst_addr(),
        port(2),
        ip.ttl()
    );
    match netdiffd::wire::tcp::TcpPacket::new_checked(l4) {
        Ok(t) if ip.protocol() == netdiffd::wire::IpProtocol::Tcp => format!(
            "{ends} flags {:#04x} seq {} ack {} win {} len {}",
            t.flags(),
            t.seq(),
            t.ack(),
            t.window(),
            ip.total_len()
        ),
        _ => format!("{ends} {:?} len {}", ip.protocol(), ip.total_len()),
    }
}

fn test_bed_frames(frames: &[Captured]) -> u64 {
    frames
        .iter()
        .filter(|f| frame_cid(&f.data).is_some())
        .count() as u64
}

fn make_bed() -> Option<InlineBed> {
    let bed = InlineBed::new()?;
    match bed.make_firewall(RULESET) {
        Ok(()) => Some(bed),
        Err(why) if on_ci() => panic!("cannot make the firewall under CI: {why}"),
        Err(why) => {
            testbed_support::say_skipped(&format!(
                "cannot make the firewall ({why}); run as root with nftables"
            ));
            None
        }
    }
}

/// The daemon's whole ground truth of job `id`, page by page.
fn job_flows(d: &Daemon, id: u64) -> Vec<FlowRecord> {
    let mut out = Vec::new();
    let mut path = format!("/v1/jobs/{id}/flows?limit=100");
    loop {
        let r = d.http("GET", &path, None);
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        for f in v["flows"].as_array().unwrap() {
            out.push(serde_json::from_value(f.clone()).unwrap());
        }
        match v["next"].as_str() {
            Some(next) => path = next.to_string(),
            None => {
                assert_eq!(v["total"].as_u64(), Some(out.len() as u64));
                return out;
            }
        }
    }
}

/// The frames of the flows of `pcap` whose first packet is a TCP SYN, written to `out`; the
/// number of such flows and of flows that start mid-stream.
fn handshake_flows(pcap: &Path, out: &Path) -> (usize, usize) {
    let (flows, _) = flows_from_capture(pcap, FlowSettings::default(), None).unwrap();
    let mut reader = CaptureReader::open(pcap).unwrap();
    let mut frames = Vec::new();
    let mut frame = Frame::default();
    while reader.read_into(&mut frame).unwrap() {
        frames.push(frame.clone());
    }
    let opens_with_syn = |i: u64| {
        netdiffd::capture::dissect(&frames[i as usize]).is_ok_and(|d| match d.l4 {
            L4::Tcp(t) => t.flags() & 0x12 == 0x02,
            _ => false,
        })
    };
    let (mut keep, mut mid) = (HashSet::new(), 0);
    let mut started = 0;
    for f in flows
        .iter()
        .filter(|f| f.key.proto == netdiffd::wire::IpProtocol::Tcp)
    {
        if opens_with_syn(f.packets[0].frame) {
            started += 1;
            keep.extend(f.packets.iter().map(|p| p.frame));
        } else {
            mid += 1;
        }
    }
    if started > 0 {
        let mut w = PcapWriter::create(out, frames[0].link, TsResolution::Nano).unwrap();
        for (i, f) in frames.iter().enumerate() {
            if keep.contains(&(i as u64)) {
                w.write(f.ts_ns, &f.data).unwrap();
            }
        }
        w.commit().unwrap();
    }
    (started, mid)
}

#[test]
fn generated_traffic_through_a_stateful_firewall() {
    let Some(bed) = make_bed() else { return };
    // The daemon and its HTTP client live in the replayer's namespace.
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(&bed.ns_r).unwrap();
            run_generated(&bed);
            run_real(&bed);
        });
    });
}

fn run_generated(bed: &InlineBed) {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let dir = TempDir::new("firewall");
    let port = free_port();
    let extra = format!(
        "[replay]\ninterfaces = [\"{r1}\", \"{r2}\"]\ninterface = \"{r1}\"\niface2 = \"{r2}\"\n\
         dmac = \"{D1_MAC},{D2_MAC}\"\npps = \"4000\"\n",
        r1 = bed.r1,
        r2 = bed.r2
    );
    let text = config_text(&model, &dir.0, port, &extra);
    let mut d = Daemon::spawn_with(dir, port, &text, &[]);
    d.wait_for_notification("READY=1", Duration::from_secs(60));
    let offered_client = InlineBed::capture(&bed.ns_d, &bed.d1);
    let offered_server = InlineBed::capture(&bed.ns_d, &bed.d2);
    let passed_client = InlineBed::capture(&bed.ns_r, &bed.r2);
    let passed_server = InlineBed::capture(&bed.ns_r, &bed.r1);
    let r = d.submit(
        r#"{"mix": "netflix=2,teams=1,dns=1,zoom=1,portscan=1,tunnel=1", "flows": 300, "seed": 9, "replay": {}}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_u64().unwrap();
    let v = d.wait_job(id, Duration::from_secs(300));
    let (oc, os) = (offered_client.finish(), offered_server.finish());
    let (pc, ps) = (passed_client.finish(), passed_server.finish());
    assert_eq!(v["state"], "done", "{v}\n{}", d.log_text());
    let records = job_flows(&d, id);
    assert_eq!(records.len() as u64, v["flows_generated"].as_u64().unwrap());

    // The daemon's per-interface counters equal what the firewall received on each side.
    let m = d.metrics();
    let sent = |i: &str| {
        metric(
            &m,
            "netdiffd_packets_sent_total",
            &format!("interface=\"{i}\""),
        )
        .unwrap() as u64
    };
    let client_total: u64 = records.iter().map(|r| r.client_packets).sum();
    let server_total: u64 = records.iter().map(|r| r.server_packets).sum();
    assert!(client_total > 0 && server_total > 0);
    assert_eq!(sent(&bed.r1), test_bed_frames(&oc), "client side");
    assert_eq!(sent(&bed.r2), test_bed_frames(&os), "server side");
    assert_eq!(sent(&bed.r1), client_total);
    assert_eq!(sent(&bed.r2), server_total);

    // No generated packet is out of state, but for the ICMP errors, which relate to no
    // connection the firewall saw, and the port scans' stealth probes and their answers, which
    // open none (invalid to conntrack, as real ones are).
    let (error_flows, error_packets) = icmp_error_flows([&oc, &os]);
    assert_eq!(bed.nft_counter("unrelated"), error_packets);
    let (probes, probe_segments) = probe_flows([&oc, &os]);
    assert!(
        probes.len() >= 2 && probe_segments == probes.len() as u64,
        "the port scans hold stealth probes, one segment each: {probes:?}, {probe_segments}"
    );
    let probe_packets: u64 = records
        .iter()
        .filter(|r| probes.contains(&r.community_id))
        .map(|r| r.packets())
        .sum();
    assert!(probe_packets > probe_segments, "some probes are answered");
    assert_eq!(bed.nft_counter("probes"), probe_packets);
    let invalid = bed.nft_counter("invalid");
    assert_eq!(
        invalid,
        0,
        "generated packets the firewall found invalid; the flows that lost packets, as offered \
         to it (> passed, x dropped):\n{}",
        lost_packets(&records, [&oc, &os, &pc, &ps])
    );

    // Exactly the allowed flows arrive, whole, on the far sides.
    let (through_c, through_s) = (by_cid(&pc), by_cid(&ps));
    let mut refused_packets = 0;
    let mut per_class: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in &records {
        let got = (
            through_c.get(&r.community_id).copied().unwrap_or(0),
            through_s.get(&r.community_id).copied().unwrap_or(0),
        );
        let e = per_class.entry(r.class.as_str()).or_default();
        e.0 += 1;
        if error_flows.contains(&r.community_id) {
            assert_eq!(got, (0, 0), "unrelated ICMP errors {r:?}");
        } else if probes.contains(&r.community_id) {
            assert_eq!(got, (0, 0), "stealth probe {r:?}");
        } else if allowed(r) {
            assert_eq!(
                got,
                (r.client_packets, r.server_packets),
                "allowed flow {r:?}; the flows that lost packets, as offered (> passed, x \
                 dropped):\n{}",
                lost_packets(&records, [&oc, &os, &pc, &ps])
            );
            e.1 += 1;
        } else {
            assert_eq!(got, (0, 0), "refused flow {r:?}");
            refused_packets += r.packets();
        }
        assert_eq!(r.client_iface.as_deref(), Some(bed.r1.as_str()));
    }
    assert_eq!(bed.nft_counter("refused"), refused_packets);
    let refused = records.iter().filter(|r| !allowed(r)).count();
    assert!(refused > 0 && refused < records.len(), "{refused} refused");
    eprintln!(
        "generated: {} flows, {refused} refused by policy, invalid drops {invalid}, {} flows of \
         unrelated ICMP errors ({error_packets} packets), {} stealth probes ({probe_packets} \
         packets)",
        records.len(),
        error_flows.len(),
        probes.len()
    );

    // `netdiffd score` on the same captures and the spool's labels file agrees class by class.
    let work = TempDir::new("firewall-score");
    let mut pcaps = Vec::new();
    for (name, frames) in [("passed-client.pcap", &pc), ("passed-server.pcap", &ps)] {
        let path = work.0.join(name);
        let mut w = PcapWriter::create(
            &path,
            netdiffd::capture::LinkType::Ethernet,
            TsResolution::Nano,
        )
        .unwrap();
        for f in frames.iter() {
            w.write(f.ts_ns, &f.data).unwrap();
        }
        w.commit().unwrap();
        pcaps.push(path);
    }
    let labels = v["labels"].as_str().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .args(["score", "--json", "--labels", labels])
        .args(&pcaps)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let scored: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (class, (offered, passed)) in &per_class {
        let c = &scored["classes"][class];
        assert_eq!(c["offered"].as_u64(), Some(*offered), "{class}: {c}");
        assert_eq!(c["passed"].as_u64(), Some(*passed), "{class}: {c}");
        assert_eq!(
            c["blocked"].as_u64(),
            Some(offered - passed),
            "{class}: {c}"
        );
        assert_eq!(c["partial"].as_u64(), Some(0), "{class}: {c}");
    }
    for (class, (offered, passed)) in &per_class {
        eprintln!("  class {class}: offered {offered}, passed {passed}");
    }
}

fn run_real(bed: &InlineBed) {
    let work = TempDir::new("firewall-real");
    let (mut flows, mut packets, mut invalid) = (0, 0u64, 0u64);
    let mut mid_flow = Vec::new();
    let mut per_file = Vec::new();
    for f in corpus_files() {
        let out = work.0.join("handshake.pcap");
        let (started, mid) = handshake_flows(&f, &out);
        if mid > 0 {
            mid_flow.push(format!("{} ({mid} TCP flows)", f.display()));
        }
        if started == 0 {
            continue;
        }
        bed.reset_firewall_state();
        let dmac = format!("{D1_MAC},{D2_MAC}");
        let o = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
            .args(["replay", "-i", &bed.r1, "-I", &bed.r2, "--enet-dmac", &dmac])
            .args([
                "--pnat",
                "0.0.0.0/0:198.18.0.0/15",
                "--pps",
                "10000",
                "--json",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        flows += started;
        let sent = report["packets"].as_u64().unwrap();
        packets += sent;
        let here = bed.nft_counter("invalid");
        invalid += here;
        if here > 0 {
            per_file.push((here, sent, f.display().to_string()));
        }
    }
    per_file.sort_by(|a, b| b.cmp(a));
    eprintln!(
        "real corpus, TCP flows that open with a handshake: {flows} flows, {packets} packets, \
         invalid drops {invalid}"
    );
    for (here, sent, f) in per_file.iter().take(8) {
        eprintln!("  {here} invalid of {sent} packets: {f}");
    }
    eprintln!("captures with TCP flows that start mid-stream (listed apart):");
    for m in &mid_flow {
        eprintln!("  {m}");
    }
    assert!(flows > 100, "only {flows} real handshake flows");
}
