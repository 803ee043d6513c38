//! Repair of real corpus flows: the output passes tshark with zero errors, and on complete real
//! flows repair changes few generated bits.

mod common;

use netdiffd::check::{check_capture, CheckOptions};
use netdiffd::flows::{flows_from_capture, Flow, FlowSettings};
use netdiffd::packets::{write_flows, Framing, TsResolution};
use netdiffd::repair::{repair_flow, FlowInput, RepairReport, RepairSettings, RepairedFlow};
use netdiffd::wire::IpProtocol;
use std::path::{Path, PathBuf};

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(rel)
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("netdiffd-test-{}-{name}", std::process::id()))
}

fn repair_real(flow: &Flow, index: u64) -> RepairedFlow {
    let rows: Vec<i8> = flow
        .packets
        .iter()
        .flat_map(|p| p.bits.iter().copied())
        .collect();
    let dirs: Vec<_> = flow.packets.iter().map(|p| p.direction).collect();
    let iat: Vec<_> = flow.packets.iter().map(|p| p.iat_ns).collect();
    let input = FlowInput {
        rows: &rows,
        directions: Some(&dirs),
        iat_ns: Some(&iat),
        hints: None,
    };
    let settings = RepairSettings {
        start_ns: flow.packets[0].ts_ns,
        ..RepairSettings::default()
    };
    repair_flow(&input, &settings, index).expect("real flows repair")
}

#[test]
fn repaired_corpus_flows_pass_tshark_with_zero_errors() {
    for file in [
        "netflix/netflix.pcap",
        "teams/teams.pcap",
        "tunnel/icmp-tunnel.pcap",
        "dns/dns_ambiguous_names.pcap",
    ] {
        let (flows, _) = flows_from_capture(&corpus(file), FlowSettings::default(), None).unwrap();
        let repaired: Vec<_> = flows
            .iter()
            .enumerate()
            .map(|(i, f)| repair_real(f, i as u64))
            .collect();
        let out = tmp(&format!("{}.pcap", file.replace('/', "_")));
        let n = write_flows(&out, &repaired, &Framing::default(), TsResolution::Micro).unwrap();
        assert!(n > 0);
        let report = check_capture(
            &out,
            &CheckOptions {
                strict: true,
                ..CheckOptions::default()
            },
        )
        .unwrap();
        assert!(report.passed(), "{file}: {report}");
        let e = common::tshark_expert_transport(&out);
        assert_eq!(
            e.errors,
            0,
            "{file}: tshark errors: {:#?}",
            e.in_section("Errors")
        );
        let warns: Vec<_> = e
            .in_section("Warns")
            .into_iter()
            .chain(e.in_section("Warnings"))
            .collect();
        println!("{file}: {n} frames, tshark warnings: {warns:?}");
        std::fs::remove_file(&out).unwrap();
    }
}

/// True when the capture holds every segment of the flow: no packet starts beyond the next
/// sequence number its side was due to send.
fn no_capture_gaps(f: &Flow) -> bool {
    let mut next: [Option<u32>; 2] = [None, None];
    for p in &f.packets {
        let mut tcp = Vec::new();
        netdiffd::nprint::decode::bits_to_bytes(&p.bits[480..960], &mut tcp);
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        let syn_fin = u32::from(tcp[13] & 0x03 != 0);
        let d = usize::from(p.direction == netdiffd::flows::Direction::Backward);
        if let Some(n) = next[d] {
            if (seq.wrapping_sub(n) as i32) > 0 {
                return false;
            }
        }
        let end = seq.wrapping_add(p.payload_len + syn_fin);
        if next[d].is_none_or(|n| (end.wrapping_sub(n) as i32) > 0) {
            next[d] = Some(end);
        }
    }
    true
}

#[test]
fn complete_real_flows_change_few_bits() {
    let mut total = RepairReport::default();
    let mut flows_used = 0;
    for file in [
        "netflix/netflix.pcap",
        "webex/webex.pcap",
        "ftp_mail/smtp.pcap",
        "weibo/weibo.pcap",
    ] {
        let (flows, _) = flows_from_capture(&corpus(file), FlowSettings::default(), None).unwrap();
        for (i, f) in flows.iter().enumerate() {
            let b = &f.packets[0].bits;
            let syn_first = b[480 + 110] == 1 && b[480 + 107] == 0;
            let fin_seen = f.packets.iter().any(|p| p.bits[480 + 111] == 1);
            if f.key.proto == IpProtocol::Tcp && syn_first && fin_seen && no_capture_gaps(f) {
                total.merge(&repair_real(f, i as u64).report);
                flows_used += 1;
            }
        }
    }
    let mut worst: Vec<_> = total
        .fields
        .iter()
        .map(|(k, v)| (k, v.changed as f64 / v.compared.max(1) as f64))
        .collect();
    worst.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "{flows_used} complete flows; changed {:.4} (content {:.4}); worst fields {:?}",
        total.changed_ratio(),
        total.content_changed_ratio(),
        &worst[..8]
    );
    let rules: Vec<_> = total
        .rules_applied
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    println!("rules applied: {}", rules.join(", "));
    println!("| field | bits changed | bits compared | ratio |\n| --- | ---: | ---: | ---: |");
    for (k, v) in &total.fields {
        if v.changed > 0 {
            println!(
                "| {k} | {} | {} | {:.2} % |",
                v.changed,
                v.compared,
                100.0 * v.changed as f64 / v.compared as f64
            );
        }
    }
    assert!(flows_used >= 20, "{flows_used}");
    // Content fields of complete real flows come through almost untouched.
    let content = total.content_changed_ratio();
    assert!(content < 0.05, "content changed ratio {content}");
    // Sequence and acknowledgement numbers follow the real ones except where a segment was
    // clamped to the MTU or dropped after the close.
    for f in [
        "tcp_seq",
        "tcp_ackn",
        "ipv4_ttl",
        "ipv4_tos",
        "tcp_wsize",
        "tcp_sprt",
        "tcp_dprt",
    ] {
        let c = total.fields[f];
        let r = c.changed as f64 / c.compared as f64;
        assert!(r < 0.08, "{f}: {r}");
    }
}
