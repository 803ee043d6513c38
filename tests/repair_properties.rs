//! Property tests of repair: whatever the generator hands over — uniform noise, real flows
//! with bits flipped, real flows with vacant bits scattered or removed — the repaired flow
//! obeys the protocol rules, and tshark finds no error in it.

mod common;

use netdiffd::capture::{dissect, Frame, LinkType, L3, L4};
use netdiffd::check::{check_capture, CheckOptions};
use netdiffd::flows::{flows_from_capture, Flow, FlowPacket, FlowSettings};
use netdiffd::nprint::layout::STANDARD_WIDTH;
use netdiffd::nprint::Bit;
use netdiffd::packets::{write_flows, Framing, TsResolution};
use netdiffd::repair::{repair_flow, FlowInput, RepairSettings, RepairedFlow};
use netdiffd::wire::checksum;
use netdiffd::wire::IpProtocol;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

fn corpus_flows() -> Vec<Flow> {
    let mut all = Vec::new();
    for f in [
        "netflix/netflix.pcap",
        "teams/teams.pcap",
        "tunnel/icmp-tunnel.pcap",
        "dns/dns_ambiguous_names.pcap",
    ] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus")
            .join(f);
        let (flows, _) = flows_from_capture(&p, FlowSettings::default(), None).unwrap();
        all.extend(flows.into_iter().filter(|f| f.packets.len() >= 2));
    }
    all
}

fn rows_of(f: &Flow, max: usize) -> Vec<Bit> {
    netdiffd::nprint::flow_rows(f.packets.iter().take(max))
}

/// A real flow's first 64 packets repaired as the generator's output would be, with nothing
/// but the rows (seed 1, flow 0).
fn repair_real(f: &Flow) -> RepairedFlow {
    let rows = rows_of(f, 64);
    let input = FlowInput::bare(&rows);
    repair_flow(&input, &settings(1), 0).unwrap()
}

/// The rules a repaired flow must obey, checked packet by packet with the wire views.
fn assert_compliant(flow: &RepairedFlow, what: &str) {
    assert!(!flow.packets.is_empty(), "{what}: no packets");
    let mut last_ts = 0;
    for (i, p) in flow.packets.iter().enumerate() {
        let at = format!("{what}: packet {i}");
        assert!(p.ts_ns > last_ts, "{at}: time not increasing");
        last_ts = p.ts_ns;
        let fr = Frame {
            link: LinkType::Raw,
            data: p.bytes.clone(),
            ..Frame::default()
        };
        let d = dissect(&fr).unwrap_or_else(|r| panic!("{at}: does not dissect: {r}"));
        let L3::V4(ip) = d.l3 else {
            panic!("{at}: not IPv4")
        };
        assert!(ip.verify_checksum(), "{at}: IPv4 checksum");
        assert_eq!(
            usize::from(ip.total_len()),
            p.bytes.len(),
            "{at}: total length"
        );
        assert!(
            p.bytes.len() <= 1500,
            "{at}: {} bytes, over the 1500-byte MTU",
            p.bytes.len()
        );
        assert!(ip.ttl() >= 1, "{at}: TTL");
        assert!(
            !ip.more_frags() && ip.frag_offset() == 0,
            "{at}: fragment bits"
        );
        assert_eq!(ip.protocol(), flow.key.proto, "{at}: one protocol per flow");
        let seg = &p.bytes[ip.header_len()..];
        match d.l4 {
            L4::Tcp(t) => {
                assert_eq!(
                    checksum::verify_v4(ip.src_addr(), ip.dst_addr(), IpProtocol::Tcp, seg),
                    0,
                    "{at}: TCP checksum"
                );
                assert_eq!(t.reserved(), 0, "{at}: reserved bits");
                netdiffd::wire::tcp::parse_options(t.options())
                    .unwrap_or_else(|e| panic!("{at}: options {e}"));
            }
            L4::Udp(u) => {
                assert_eq!(usize::from(u.len()), seg.len(), "{at}: UDP length");
                assert_eq!(
                    checksum::verify_v4(ip.src_addr(), ip.dst_addr(), IpProtocol::Udp, seg),
                    0,
                    "{at}: UDP checksum"
                );
            }
            L4::Icmp(c) => {
                // The messages repair builds: echo, timestamp, destination unreachable and
                // time exceeded, each with its body.
                let (ty, code) = (c.msg_type(), c.code());
                assert!(
                    [0, 8, 13, 14, 3, 11].contains(&ty)
                        && netdiffd::wire::icmp::type_code_valid(ty, code),
                    "{at}: ICMP type {ty} code {code}"
                );
                assert_eq!(checksum::checksum(seg), 0, "{at}: ICMP checksum");
                let data = &seg[8..];
                match ty {
                    13 | 14 => assert_eq!(data.len(), 12, "{at}: timestamp data"),
                    3 | 11 => {
                        let quoted = netdiffd::wire::ipv4::Ipv4Packet::new_checked(data)
                            .unwrap_or_else(|e| panic!("{at}: quoted datagram: {e}"));
                        assert!(quoted.verify_checksum(), "{at}: quoted IPv4 checksum");
                        assert_eq!(usize::from(quoted.total_len()), data.len(), "{at}: quote");
                    }
                    _ => {}
                }
            }
        }
    }
}

/// `netdiffd check` (strict: warnings count) finds no violation in any of the flows, and
/// tshark finds no error in the capture that holds them all.
fn check_sample_with_tshark(flows: &[RepairedFlow], name: &str) {
    let out: PathBuf =
        std::env::temp_dir().join(format!("netdiffd-prop-{}-{name}.pcap", std::process::id()));
    write_flows(&out, flows, &Framing::default(), TsResolution::Micro).unwrap();
    let opts = CheckOptions {
        strict: true,
        ..CheckOptions::default()
    };
    let report = check_capture(&out, &opts).unwrap();
    assert!(report.passed(), "{name}: check found violations:\n{report}");
    let packets: usize = flows.iter().map(|f| f.packets.len()).sum();
    assert_eq!(
        report.packets_checked as usize, packets,
        "{name}: every packet checked"
    );
    let e = common::tshark_expert_transport(&out);
    assert_eq!(
        e.errors,
        0,
        "{name}: tshark errors {:#?}",
        e.in_section("Errors")
    );
    std::fs::remove_file(&out).unwrap();
}

fn settings(seed: u64) -> RepairSettings {
    RepairSettings {
        seed,
        start_ns: 1_700_000_000_000_000_000 + seed * 10_000_000_000,
        ..RepairSettings::default()
    }
}

/// Repairs bare generated rows (no directions, timing or hints) with the settings of `case`,
/// and checks the result is compliant; `what` names the case in failures.
fn repair_checked(rows: &[Bit], case: u64, what: &str) -> RepairedFlow {
    let input = FlowInput::bare(rows);
    let f = repair_flow(&input, &settings(case), case).unwrap();
    assert_compliant(&f, what);
    f
}

#[test]
fn uniform_random_matrices() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut repaired = Vec::new();
    for case in 0..60u64 {
        let n = rng.random_range(1..=64);
        let vacant_too = case % 2 == 0;
        let rows: Vec<Bit> = (0..n * STANDARD_WIDTH)
            .map(|_| {
                if vacant_too {
                    rng.random_range(-1..=1)
                } else {
                    rng.random_range(0..=1)
                }
            })
            .collect();
        repaired.push(repair_checked(&rows, case, &format!("random case {case}")));
    }
    check_sample_with_tshark(&repaired, "random");
}

#[test]
fn corpus_flows_with_flipped_bits() {
    let flows = corpus_flows();
    let mut rng = StdRng::seed_from_u64(2);
    let mut repaired = Vec::new();
    for case in 0..60u64 {
        let f = &flows[rng.random_range(0..flows.len())];
        let mut rows = rows_of(f, 128);
        let rate = rng.random_range(0.05..=0.30);
        for b in rows.iter_mut() {
            if *b != -1 && rng.random::<f64>() < rate {
                *b = 1 - *b;
            }
        }
        let what = format!("flipped case {case} ({}, rate {rate:.2})", f.key);
        repaired.push(repair_checked(&rows, case, &what));
    }
    check_sample_with_tshark(&repaired, "flipped");
}

#[test]
fn corpus_flows_with_vacant_bits_scattered_or_removed() {
    let flows = corpus_flows();
    let mut rng = StdRng::seed_from_u64(3);
    let mut repaired = Vec::new();
    for case in 0..60u64 {
        let f = &flows[rng.random_range(0..flows.len())];
        let mut rows = rows_of(f, 128);
        if case % 2 == 0 {
            // Vacant bits scattered over populated positions.
            for b in rows.iter_mut() {
                if rng.random::<f64>() < 0.1 {
                    *b = -1;
                }
            }
        } else {
            // Vacant positions filled: blocks that should be absent look populated.
            for b in rows.iter_mut() {
                if *b == -1 && rng.random::<f64>() < 0.5 {
                    *b = rng.random_range(0..=1);
                }
            }
        }
        // A vacant first row would be padding: keep at least one populated bit.
        rows[0] = 0;
        let what = format!("vacancy case {case} ({})", f.key);
        repaired.push(repair_checked(&rows, case, &what));
    }
    check_sample_with_tshark(&repaired, "vacancy");
}

#[test]
fn repair_is_deterministic_for_a_seed() {
    let flows = corpus_flows();
    let rows = rows_of(&flows[0], 64);
    let input = FlowInput::bare(&rows);
    let a = repair_flow(&input, &settings(7), 3).unwrap();
    let b = repair_flow(&input, &settings(7), 3).unwrap();
    let c = repair_flow(&input, &settings(8), 3).unwrap();
    assert_eq!(a.packets, b.packets);
    assert_ne!(a.key, c.key, "another seed draws other addresses");
}

#[test]
fn each_side_keeps_its_first_ip_id_and_counts_up_from_it() {
    let ip_id = |p: &FlowPacket| {
        let h = p.ipv4_header();
        u16::from_be_bytes([h[4], h[5]])
    };
    let flows: Vec<Flow> = corpus_flows()
        .into_iter()
        .filter(|f| f.key.proto == IpProtocol::Udp)
        .take(6)
        .collect();
    assert!(flows.len() >= 3);
    for f in &flows {
        let r = repair_real(f);
        assert_eq!(
            r.packets.len(),
            f.packets.len().min(64),
            "UDP keeps every packet"
        );
        for side in [
            r.packets[0].direction,
            r.packets
                .iter()
                .map(|p| p.direction)
                .find(|d| *d != r.packets[0].direction)
                .unwrap_or(r.packets[0].direction),
        ] {
            let at: Vec<usize> = (0..r.packets.len())
                .filter(|&i| r.packets[i].direction == side)
                .collect();
            let ids: Vec<u16> = at
                .iter()
                .map(|&i| u16::from_be_bytes([r.packets[i].bytes[4], r.packets[i].bytes[5]]))
                .collect();
            assert_eq!(
                ids[0],
                ip_id(&f.packets[at[0]]),
                "{}: first IP ID of a side",
                f.key
            );
            assert!(
                ids.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
                "{}: {ids:?}",
                f.key
            );
        }
    }
}

#[test]
fn a_side_sent_with_ttl_1_is_given_a_routable_ttl() {
    // Real SSDP and mDNS flows (multicast, link-scoped with TTL 1) and flows with ordinary
    // TTLs.
    let ttl = |p: &FlowPacket| p.ipv4_header()[8];
    let mut flows = corpus_flows();
    let telegram =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/telegram/telegram.pcap");
    flows.extend(
        flows_from_capture(&telegram, FlowSettings::default(), None)
            .unwrap()
            .0,
    );
    let low: Vec<&Flow> = flows.iter().filter(|f| ttl(&f.packets[0]) == 1).collect();
    // Flows whose packets all carry one TTL: whatever the sides, that TTL is theirs.
    let ordinary: Vec<&Flow> = flows
        .iter()
        .filter(|f| {
            let t = ttl(&f.packets[0]);
            t >= 2 && f.packets.iter().take(64).all(|p| ttl(p) == t)
        })
        .collect();
    assert!(low.len() >= 2, "{} real flows open with TTL 1", low.len());
    assert!(ordinary.len() >= 20, "{} flows of one TTL", ordinary.len());
    for (f, raised) in low
        .iter()
        .map(|f| (f, true))
        .chain(ordinary.iter().take(20).map(|f| (f, false)))
    {
        let r = repair_real(f);
        let first = ttl(&f.packets[0]);
        let out = r.packets[0].bytes[8];
        let rule = r
            .report
            .rules_applied
            .get(&netdiffd::repair::Rule::TtlRaised)
            .copied();
        if raised {
            assert!(out >= 2, "{}: TTL {out} kept", f.key);
            assert!(
                rule.is_some_and(|n| n >= 1),
                "{}: {:?}",
                f.key,
                r.report.rules_applied
            );
        } else {
            assert_eq!(out, first, "{}: an ordinary TTL is kept", f.key);
            assert_eq!(rule, None, "{}", f.key);
        }
    }
}
