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
    let rows = netdiffd::nprint::flow_rows(&flow.packets);
    let dirs: Vec<_> = flow.packets.iter().map(|p| p.direction).collect();
    let iat: Vec<_> = flow.packets.iter().map(|p| p.iat_ns).collect();
    let input = FlowInput {
        directions: Some(&dirs),
        iat_ns: Some(&iat),
        ..FlowInput::bare(&rows)
    };
    let settings = RepairSettings {
        start_ns: flow.packets[0].ts_ns,
        ..RepairSettings::default()
    };
    repair_flow(&input, &settings, index).expect("real flows repair")
}

/// Writes `flows` to a temporary capture, asserts that `check --strict` passes and tshark
/// reports no error, and removes it.
fn assert_strict_and_tshark_clean(what: &str, flows: &[RepairedFlow]) {
    let out = tmp(&format!("{}.pcap", what.replace(' ', "-")));
    written_strict_and_tshark_clean(what, flows, &out);
    std::fs::remove_file(&out).unwrap();
}

/// Writes `flows` to `out` and asserts that `check --strict` passes and tshark reports no
/// error; the frames written and tshark's summary come back.
fn written_strict_and_tshark_clean(
    what: &str,
    flows: &[RepairedFlow],
    out: &Path,
) -> (u64, common::Expert) {
    let n = write_flows(out, flows, &Framing::default(), TsResolution::Micro).unwrap();
    assert!(n > 0, "{what}: nothing written");
    let options = CheckOptions {
        strict: true,
        ..CheckOptions::default()
    };
    let report = check_capture(out, &options).unwrap();
    assert!(report.passed(), "{what}: {report}");
    let e = common::tshark_expert_transport(out);
    assert_eq!(
        e.errors,
        0,
        "{what}: tshark errors: {:#?}",
        e.in_section("Errors")
    );
    (n, e)
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
        let (n, e) = written_strict_and_tshark_clean(file, &repaired, &out);
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
        let tcp = p.transport_header();
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
            let rows = netdiffd::nprint::flow_rows(&f.packets);
            let row = |i: usize| &rows[i * 1088..(i + 1) * 1088];
            let syn_first = row(0)[480 + 110] == 1 && row(0)[480 + 107] == 0;
            let fin_seen = (0..f.packets.len()).any(|i| row(i)[480 + 111] == 1);
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

/// TCP flags of a repaired flow's packets, with each packet's sequence and acknowledgement
/// numbers.
fn repaired_tcp(flow: &RepairedFlow) -> Vec<(u16, u32, u32)> {
    use netdiffd::wire::ipv4::Ipv4Packet;
    use netdiffd::wire::tcp::TcpPacket;
    flow.packets
        .iter()
        .map(|p| {
            let ip = Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            (tcp.flags(), tcp.seq(), tcp.ack())
        })
        .collect()
}

/// The TCP flows of a lab-corpus capture, each with its index among all the capture's flows.
fn lab_tcp_flows(file: &str) -> Vec<(usize, Flow)> {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/lab-corpus");
    let (flows, _) = flows_from_capture(&lab.join(file), FlowSettings::default(), None).unwrap();
    flows
        .into_iter()
        .enumerate()
        .filter(|(_, f)| f.key.proto == IpProtocol::Tcp)
        .collect()
}

/// The first `packets` packets of the lab's first bulk download (its first TCP flow).
fn first_download(packets: usize) -> Flow {
    let (_, mut flow) = lab_tcp_flows("bulk_download/bulk01.pcap")
        .into_iter()
        .next()
        .expect("a download");
    flow.packets.truncate(packets);
    flow
}

/// TCP flags of a real flow's packets.
fn real_flags(flow: &Flow) -> Vec<u16> {
    flow.packets
        .iter()
        .map(|p| {
            let tcp = p.transport_header();
            u16::from(tcp[13]) | (u16::from(tcp[12] & 1) << 8)
        })
        .collect()
}

/// Real port scans of closed ports (SYN answered by RST-ACK) and SYN floods of an open port
/// (SYN, SYN-ACK, then the client's RST) keep their resets through repair, which must not
/// complete their handshakes; the output passes `check --strict` and tshark without errors.
#[test]
fn refused_and_aborted_handshakes_stay_so() {
    use netdiffd::wire::tcp::flags::{ACK, RST, SYN};
    let (mut refused, mut aborted) = (0, 0);
    let mut repaired = Vec::new();
    for file in ["portscan/ps06.pcap", "syn_flood/syn01.pcap"] {
        for (i, f) in lab_tcp_flows(file).into_iter().take(400) {
            let real = real_flags(&f);
            let r = repair_real(&f, i as u64);
            let got = repaired_tcp(&r);
            if real == [SYN, RST | ACK] {
                refused += 1;
                assert_eq!(got.len(), 2, "{file} flow {i}: {got:?}");
                let (syn_seq, refusal) = (got[0].1, got[1]);
                assert_eq!(refusal.0, RST | ACK, "{file} flow {i}: {got:?}");
                assert_eq!(refusal.1, 0, "a refusal has sequence number 0");
                assert_eq!(
                    refusal.2,
                    syn_seq.wrapping_add(1),
                    "it acknowledges the SYN"
                );
                assert_eq!(r.packets[1].direction, netdiffd::flows::Direction::Backward);
            } else if real == [SYN, SYN | ACK, RST] {
                aborted += 1;
                let f: Vec<u16> = got.iter().map(|g| g.0).collect();
                assert_eq!(f, [SYN, SYN | ACK, RST], "{file} flow {i}");
                assert_eq!(
                    got[2].1,
                    got[0].1.wrapping_add(1),
                    "the RST follows the SYN"
                );
            }
            repaired.push(r);
        }
    }
    assert!(
        refused >= 100 && aborted >= 100,
        "{refused} refused, {aborted} aborted"
    );
    assert_strict_and_tshark_clean("resets", &repaired);
}

/// Real scans that open no connection stay probes through repair: nmap's FIN, Xmas and Null
/// probes of ps04 (each answered by a closed port's RST-ACK or by nothing) and the ACK scan of
/// ps03 (each ACK answered by an RST). No handshake is made for them under the default `always`
/// policy; each probe keeps its exact flags and carries no data; a stealth probe acknowledges
/// nothing and its answer is an RST-ACK with sequence number 0 acknowledging it (its FIN takes
/// one sequence number); an ACK probe's RST takes its sequence number from the probe's
/// acknowledgement. The output passes `check --strict` and tshark without errors.
#[test]
fn scan_probes_stay_probes() {
    use netdiffd::flows::Direction;
    use netdiffd::wire::tcp::flags::{ACK, FIN, PSH, RST, URG};
    use netdiffd::wire::{ipv4::Ipv4Packet, tcp::TcpPacket};
    let mut seen = std::collections::BTreeMap::new();
    let mut repaired = Vec::new();
    for file in ["portscan/ps04.pcap", "portscan/ps03.pcap"] {
        for (i, f) in lab_tcp_flows(file) {
            let real = real_flags(&f);
            let stealth = real[0] & !(FIN | PSH | URG) == 0;
            if !stealth && real != [ACK, RST] {
                continue;
            }
            let r = repair_real(&f, i as u64);
            let got = repaired_tcp(&r);
            assert_eq!(got.len(), real.len(), "{file} flow {i}: {real:?} → {got:?}");
            let (flags, seq, ack) = got[0];
            assert_eq!(flags, real[0], "{file} flow {i}: the probe's flags");
            let ip = Ipv4Packet::new_checked(&r.packets[0].bytes[..]).unwrap();
            let data = TcpPacket::new_checked(ip.payload())
                .unwrap()
                .payload()
                .len();
            assert_eq!(data, 0, "{file} flow {i}: a probe carries no data");
            assert_eq!(r.packets[0].direction, Direction::Forward);
            if stealth {
                assert_eq!(ack, 0, "a stealth probe acknowledges nothing");
            }
            if let Some(&(answer, answer_seq, answer_ack)) = got.get(1) {
                assert_eq!(r.packets[1].direction, Direction::Backward);
                if stealth {
                    assert_eq!(real[1], RST | ACK, "{file} flow {i}");
                    assert_eq!(answer, RST | ACK, "{file} flow {i}");
                    assert_eq!(answer_seq, 0, "the answer has sequence number 0");
                    let consumed = u32::from(flags & FIN != 0);
                    assert_eq!(answer_ack, seq.wrapping_add(consumed), "{file} flow {i}");
                } else {
                    assert_eq!(answer, RST, "{file} flow {i}");
                    assert_eq!(answer_seq, ack, "the RST takes the probe's acknowledgement");
                }
            }
            *seen.entry(real[0]).or_insert(0) += 1;
            repaired.push(r);
        }
    }
    // FIN, Xmas (FIN, PSH, URG), Null and ACK probes, each by the hundred.
    let kinds: Vec<u16> = seen.keys().copied().collect();
    assert_eq!(kinds, [0, FIN, ACK, FIN | PSH | URG], "{seen:?}");
    assert!(seen.values().all(|&n| n >= 100), "{seen:?}");
    assert_strict_and_tshark_clean("probes", &repaired);
}

/// A server port the generator held from a real flow is kept even where the class's list of
/// common ports does not hold it: ps06's SYN scan reaches hundreds of ports, and each repaired
/// flow reaches its own (forward packets to it, backward packets from it), where without the
/// held port every flow falls back to the class's most common port.
#[test]
fn a_held_server_port_is_kept() {
    use netdiffd::flows::Direction;
    use netdiffd::repair::ClassHints;
    use netdiffd::wire::{ipv4::Ipv4Packet, tcp::TcpPacket};
    let hints = ClassHints {
        server_ports: vec![443],
        ..ClassHints::default()
    };
    let mut ports = std::collections::BTreeSet::new();
    for (i, f) in lab_tcp_flows("portscan/ps06.pcap").into_iter().take(400) {
        let rows = netdiffd::nprint::flow_rows(&f.packets);
        let dirs: Vec<_> = f.packets.iter().map(|p| p.direction).collect();
        let repair = |server_port| {
            let input = FlowInput {
                directions: Some(&dirs),
                hints: Some(&hints),
                server_port,
                ..FlowInput::bare(&rows)
            };
            repair_flow(&input, &RepairSettings::default(), i as u64).unwrap()
        };
        let real = f.key.server_port;
        assert_eq!(
            repair(None).key.server_port,
            443,
            "flow {i} without a held port"
        );
        let r = repair(Some(real));
        assert_eq!(r.key.server_port, real, "flow {i}");
        for p in &r.packets {
            let ip = Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            let port = match p.direction {
                Direction::Forward => tcp.dst_port(),
                Direction::Backward => tcp.src_port(),
            };
            assert_eq!(port, real, "flow {i}: {:?} packet", p.direction);
        }
        ports.insert(real);
    }
    assert!(ports.len() >= 100, "ps06 scans {} ports", ports.len());
}

/// Real ICMP flows keep the kind of each message through repair: echo and timestamp queries
/// (nmap's host discovery in a lab port scan) with a timestamp's 12 bytes of data, and
/// destination-unreachable errors (zoom's port and host unreachables, the scan's) with their
/// codes, each quoting a whole IPv4 datagram sent by the error's receiver to its sender. The
/// output passes `check --strict` and tshark without errors.
#[test]
fn icmp_queries_and_errors_keep_their_kind() {
    use netdiffd::wire::ipv4::Ipv4Packet;
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/lab-corpus");
    let mut seen = std::collections::BTreeSet::new();
    let mut repaired = Vec::new();
    for path in [
        corpus("zoom/zoom_p2p.pcap"),
        corpus("zoom/zoom.pcap"),
        lab.join("portscan/ps01.pcap"),
    ] {
        let (flows, _) = flows_from_capture(&path, FlowSettings::default(), None).unwrap();
        for (i, f) in flows
            .iter()
            .enumerate()
            .filter(|(_, f)| f.key.proto == IpProtocol::Icmp)
        {
            let r = repair_real(f, i as u64);
            assert_eq!(r.packets.len(), f.packets.len(), "{path:?} flow {i}");
            for (k, (real, got)) in f.packets.iter().zip(&r.packets).enumerate() {
                let want = (real.transport_header()[0], real.transport_header()[1]);
                let ip = Ipv4Packet::new_checked(&got.bytes[..]).unwrap();
                let icmp = ip.payload();
                assert_eq!((icmp[0], icmp[1]), want, "{path:?} flow {i} packet {k}");
                seen.insert(want);
                let data = &icmp[8..];
                match want.0 {
                    13 | 14 => assert_eq!(data.len(), 12, "a timestamp message's data"),
                    3 | 11 => {
                        let quoted = Ipv4Packet::new_checked(data).unwrap();
                        assert_eq!(usize::from(quoted.total_len()), data.len());
                        assert_eq!(
                            (quoted.src_addr(), quoted.dst_addr()),
                            (ip.dst_addr(), ip.src_addr()),
                            "the quoted datagram went from the error's receiver to its sender"
                        );
                    }
                    _ => {}
                }
            }
            repaired.push(r);
        }
    }
    for kind in [(8, 0), (0, 0), (13, 0), (14, 0), (3, 3), (3, 10)] {
        assert!(seen.contains(&kind), "no ICMP {kind:?} among {seen:?}");
    }
    assert_strict_and_tshark_clean("icmp", &repaired);
}

/// A real TCP packet's flags, window and option bytes.
fn tcp_of(p: &netdiffd::flows::FlowPacket) -> (u16, u16, Vec<u8>) {
    let t = netdiffd::wire::tcp::TcpPacket::new_checked(p.transport_header().to_vec()).unwrap();
    (t.flags(), t.window(), t.options().to_vec())
}

/// A complete TCP connection of the lab web capture (its SYN and SYN-ACK are a Linux stack's).
fn lab_web_connection() -> Flow {
    lab_tcp_flows("web_browse/web01.pcap")
        .into_iter()
        .map(|(_, f)| f)
        .find(|f| f.packets.len() > 2 && tcp_of(&f.packets[0]).0 == netdiffd::wire::tcp::flags::SYN)
        .expect("web01 has a complete TCP flow")
}

/// The TCP flows of 8 packets or more of Instagram's capture that began mid-connection (no
/// SYN first).
fn instagram_mid_connection_flows() -> Vec<Flow> {
    let (flows, _) = flows_from_capture(
        &corpus("instagram/instagram.pcap"),
        FlowSettings::default(),
        None,
    )
    .unwrap();
    flows
        .into_iter()
        .filter(|f| f.key.proto == IpProtocol::Tcp && f.packets.len() >= 8)
        .filter(|f| tcp_of(&f.packets[0]).0 & netdiffd::wire::tcp::flags::SYN == 0)
        .collect()
}

/// A handshake repair makes for a flow captured from its middle (most of Instagram's flows
/// began before their capture) offers the opening it is given — a real Linux SYN and SYN-ACK
/// of a lab web capture: their windows, MSS and window shifts — instead of the first data
/// segments' windows and options (no MSS; a window that the real connection scaled). The
/// output passes `check --strict` and tshark.
/// A SYN as a test reads it: its window, MSS and window shift.
type SynSeen = (u16, (Option<u16>, Option<u8>));

#[test]
fn a_made_handshake_offers_the_given_opening() {
    use netdiffd::repair::{Opening, SynOffer};
    use netdiffd::wire::tcp::{flags, parse_options, TcpOption};
    use netdiffd::wire::{ipv4::Ipv4Packet, tcp::TcpPacket};
    let web = lab_web_connection();
    let offer = |p| {
        let (_, window, options) = tcp_of(p);
        SynOffer { window, options }
    };
    let opening = Opening {
        client: offer(&web.packets[0]),
        server: offer(&web.packets[1]),
    };
    let asked = |o: &[u8]| {
        let opts = parse_options(o).unwrap();
        let mss = opts.iter().find_map(|o| match o {
            TcpOption::Mss(m) => Some(*m),
            _ => None,
        });
        let shift = opts.iter().find_map(|o| match o {
            TcpOption::WindowScale(s) => Some(*s),
            _ => None,
        });
        (mss, shift)
    };
    let want = [&opening.client, &opening.server].map(|s| (s.window, asked(&s.options)));
    assert!(want
        .iter()
        .all(|(_, (mss, shift))| mss.is_some() && shift.is_some()));
    let mid: Vec<Flow> = instagram_mid_connection_flows()
        .into_iter()
        .take(8)
        .collect();
    assert!(
        mid.len() >= 4,
        "instagram has {} mid-connection flows",
        mid.len()
    );
    let mut repaired = Vec::new();
    for (i, f) in mid.into_iter().enumerate() {
        let rows = netdiffd::nprint::flow_rows(&f.packets);
        let dirs: Vec<_> = f.packets.iter().map(|p| p.direction).collect();
        let repair = |openings| {
            let input = FlowInput {
                directions: Some(&dirs),
                openings,
                ..FlowInput::bare(&rows)
            };
            repair_flow(&input, &RepairSettings::default(), i as u64).unwrap()
        };
        let syns = |r: &RepairedFlow| -> Vec<SynSeen> {
            r.packets[..2]
                .iter()
                .map(|p| {
                    let ip = Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
                    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
                    assert!(tcp.flags() & flags::SYN != 0, "flow {i}: a handshake");
                    (tcp.window(), asked(tcp.options()))
                })
                .collect()
        };
        let with = repair(std::slice::from_ref(&opening));
        assert_eq!(syns(&with), want, "flow {i} with the opening");
        // The handshake comes ahead of the flow's own packets, which all stay: the client's
        // ACK, then the real first segment with its payload.
        let payload = |b: &[u8]| {
            let ip = Ipv4Packet::new_checked(b).unwrap();
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            (tcp.flags(), ip.payload().len() - tcp.header_len())
        };
        assert_eq!(with.packets.len(), f.packets.len() + 3, "flow {i}");
        assert_eq!(payload(&with.packets[2].bytes), (flags::ACK, 0), "flow {i}");
        let first = &f.packets[0];
        let real_first = usize::from(first.total_len()) - first.headers.len();
        assert_eq!(payload(&with.packets[3].bytes).1, real_first, "flow {i}");
        // Without: the SYN takes the first data segment's window and the SYN-ACK the server's
        // first one's, and their options offer no MSS.
        let without = syns(&repair(&[]));
        let server_first = f
            .packets
            .iter()
            .find(|p| p.direction == netdiffd::flows::Direction::Backward)
            .unwrap_or(first);
        let data_windows = vec![tcp_of(first).1, tcp_of(server_first).1];
        assert_eq!(
            without.iter().map(|s| s.0).collect::<Vec<_>>(),
            data_windows,
            "flow {i} without"
        );
        repaired.push(with);
    }
    assert_strict_and_tshark_clean("openings", &repaired);
}

/// Real flows whose capture began one packet into the handshake (their first packet the
/// server's SYN-ACK) get the client's SYN alone ahead: the flow's own SYN-ACK answers it with
/// the server's real window and options, and every real packet stays, in its own direction.
#[test]
fn a_flow_opening_with_its_syn_ack_gets_only_the_syn_ahead() {
    use netdiffd::flows::Direction;
    use netdiffd::wire::ipv4::Ipv4Packet;
    use netdiffd::wire::tcp::{flags, parse_options, TcpOption, TcpPacket};
    let mut repaired = Vec::new();
    for file in ["instagram/instagram.pcap", "gaming/steam.pcap"] {
        let (flows, _) = flows_from_capture(&corpus(file), FlowSettings::default(), None).unwrap();
        let opened_late: Vec<&Flow> = flows
            .iter()
            .filter(|f| f.key.proto == IpProtocol::Tcp && f.packets.len() >= 2)
            .filter(|f| {
                tcp_of(&f.packets[0]).0 & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK
            })
            .collect();
        assert!(
            !opened_late.is_empty(),
            "{file} has a flow opening with its SYN-ACK"
        );
        for f in opened_late {
            let r = repair_real(f, repaired.len() as u64);
            let what = format!("{file}, flow of {} packets", f.packets.len());
            let seen: Vec<(u16, u16, Vec<u8>, usize, Direction)> = r
                .packets
                .iter()
                .map(|p| {
                    let ip = Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
                    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
                    let payload = ip.payload().len() - tcp.header_len();
                    (
                        tcp.flags(),
                        tcp.window(),
                        tcp.options().to_vec(),
                        payload,
                        p.direction,
                    )
                })
                .collect();
            assert_eq!(seen.len(), f.packets.len() + 1, "{what}: one packet ahead");
            assert_eq!(seen[0].0, flags::SYN, "{what}: a bare SYN first");
            assert_eq!(seen[0].4, Direction::Forward, "{what}: from the client");
            let (syn_ack, window, options) = tcp_of(&f.packets[0]);
            assert_eq!(seen[1].0, syn_ack, "{what}: the real SYN-ACK next");
            assert_eq!(seen[1].4, Direction::Backward, "{what}: from the server");
            // Its offer: the real window and options, timestamps aside (the SYN-ACK echoes the
            // made SYN's clock).
            fn without_ts(o: &[u8]) -> Vec<TcpOption<'_>> {
                parse_options(o)
                    .unwrap()
                    .into_iter()
                    .filter(|o| !matches!(o, TcpOption::Timestamps(..)))
                    .collect()
            }
            let tsval = |o: &[u8]| {
                parse_options(o).unwrap().into_iter().find_map(|o| match o {
                    TcpOption::Timestamps(tsval, tsecr) => Some((tsval, tsecr)),
                    _ => None,
                })
            };
            assert_eq!(
                (seen[1].1, without_ts(&seen[1].2)),
                (window, without_ts(&options)),
                "{what}: its offer"
            );
            if let Some((_, echoed)) = tsval(&seen[1].2) {
                assert_eq!(
                    Some(echoed),
                    tsval(&seen[0].2).map(|t| t.0),
                    "{what}: TSecr"
                );
            }
            // The real packets after it keep their directions and (all but a few repair must
            // change) their payload lengths.
            let kept = f.packets[1..]
                .iter()
                .zip(&seen[2..])
                .filter(|(p, s)| {
                    p.direction == s.4 && usize::from(p.total_len()) - p.headers.len() == s.3
                })
                .count();
            assert!(
                kept * 10 >= (f.packets.len() - 1) * 9,
                "{what}: {kept} of {} real packets kept",
                f.packets.len() - 1
            );
            repaired.push(r);
        }
    }
    assert_strict_and_tshark_clean("syn-ack first", &repaired);
}

/// Told no directions, repair reads who sent each packet as the flow table reads a capture: on
/// every TCP and UDP flow of two real captures (flows that begin with a SYN, with a SYN-ACK, or
/// mid-connection from either side) it finds the directions the flow table found.
#[test]
fn repair_reads_directions_as_the_flow_table_does() {
    let mut compared = 0;
    let mut server_first = 0;
    for file in ["instagram/instagram.pcap", "gaming/steam.pcap"] {
        let (flows, _) = flows_from_capture(&corpus(file), FlowSettings::default(), None).unwrap();
        for (i, f) in flows.iter().enumerate() {
            if f.key.proto == IpProtocol::Icmp || f.packets.len() < 2 {
                continue;
            }
            let rows = netdiffd::nprint::flow_rows(&f.packets);
            let dirs: Vec<_> = f.packets.iter().map(|p| p.direction).collect();
            let told = FlowInput {
                directions: Some(&dirs),
                ..FlowInput::bare(&rows)
            };
            let settings = RepairSettings::default();
            let dirs_of = |input: &FlowInput<'_>| -> Vec<_> {
                let r = repair_flow(input, &settings, i as u64).unwrap();
                r.packets.iter().map(|p| p.direction).collect()
            };
            assert_eq!(
                dirs_of(&FlowInput::bare(&rows)),
                dirs_of(&told),
                "{file}, flow {i} ({:?})",
                f.key
            );
            compared += 1;
            server_first += usize::from(dirs[0] == netdiffd::flows::Direction::Backward);
        }
    }
    assert!(compared >= 30, "{compared} flows compared");
    assert!(
        server_first >= 3,
        "{server_first} flows begin with a server's packet"
    );
}

/// A side's segments carry no more than the MSS its peer's SYN offered, less their own TCP
/// options, and a SYN keeps an MSS below 536 (an old stack's 512) or above the test bed's (a
/// loopback stack's 65,495): real Instagram flows that began mid-connection, opened with a lab
/// client's SYN whose MSS is set to 512, 1,200 or 65,495.
#[test]
fn segments_keep_within_the_peers_mss() {
    use netdiffd::flows::Direction;
    use netdiffd::repair::{Opening, Rule, SynOffer};
    use netdiffd::wire::ipv4::Ipv4Packet;
    use netdiffd::wire::tcp::{flags, option_kind, options_lenient, TcpPacket};
    let web = lab_web_connection();
    let with_mss = |p, mss: u16| {
        let (_, window, mut options) = tcp_of(p);
        let at = options.iter().position(|&k| k == option_kind::MSS).unwrap();
        options[at + 2..at + 4].copy_from_slice(&mss.to_be_bytes());
        SynOffer { window, options }
    };
    let mid = instagram_mid_connection_flows();
    let mut repaired = Vec::new();
    let mut cut = 0;
    for mss in [512u16, 1200, 65_495] {
        let opening = Opening {
            client: with_mss(&web.packets[0], mss),
            server: with_mss(&web.packets[1], 1460),
        };
        for (i, f) in mid.iter().enumerate() {
            let rows = netdiffd::nprint::flow_rows(&f.packets);
            let dirs: Vec<_> = f.packets.iter().map(|p| p.direction).collect();
            let input = FlowInput {
                directions: Some(&dirs),
                openings: std::slice::from_ref(&opening),
                ..FlowInput::bare(&rows)
            };
            let index = repaired.len() as u64;
            let r = repair_flow(&input, &RepairSettings::default(), index).unwrap();
            let mut largest_to_client = 0;
            for p in &r.packets {
                let ip = Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
                let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
                let data_and_options = ip.payload().len() - 20;
                if tcp.flags() & flags::SYN != 0 && p.direction == Direction::Forward {
                    let offered = options_lenient(tcp.options()).find_map(|(k, d)| {
                        (k == option_kind::MSS).then(|| u16::from_be_bytes([d[0], d[1]]))
                    });
                    assert_eq!(offered, Some(mss), "flow {i}: the SYN keeps its MSS");
                }
                if p.direction == Direction::Backward && tcp.flags() & flags::SYN == 0 {
                    largest_to_client = largest_to_client.max(data_and_options);
                }
            }
            assert!(
                largest_to_client <= usize::from(mss),
                "flow {i}, MSS {mss}: a server segment of {largest_to_client} bytes"
            );
            cut += r
                .report
                .rules_applied
                .get(&Rule::TcpMssBound)
                .copied()
                .unwrap_or(0);
            repaired.push(r);
        }
    }
    assert!(cut > 0, "no server segment needed cutting");
    assert_strict_and_tshark_clean("mss", &repaired);
}

/// A real SYN offering an MSS of 512 (an FTP client's, `ftp_mail/ftp-start-tls.pcap`) keeps it
/// through repair, and the server's segments, 512 bytes at most in the capture, stay within it.
#[test]
fn a_real_syn_offering_512_keeps_it() {
    use netdiffd::flows::Direction;
    use netdiffd::wire::ipv4::Ipv4Packet;
    use netdiffd::wire::tcp::{flags, offered_mss, TcpPacket};
    let (flows, _) = flows_from_capture(
        &corpus("ftp_mail/ftp-start-tls.pcap"),
        FlowSettings::default(),
        None,
    )
    .unwrap();
    let flow = flows
        .iter()
        .find(|f| {
            let (flags_of, _, options) = tcp_of(&f.packets[0]);
            flags::is_bare_syn(flags_of) && offered_mss(&options) == 512
        })
        .expect("the capture's FTP control connection offers an MSS of 512");
    let r = repair_real(flow, 0);
    let mut server_data = 0;
    for p in &r.packets {
        let ip = Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
        let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
        if tcp.flags() & flags::SYN != 0 && p.direction == Direction::Forward {
            assert_eq!(offered_mss(tcp.options()), 512, "the SYN keeps its MSS");
        }
        if p.direction == Direction::Backward && tcp.flags() & flags::SYN == 0 {
            let data_and_options = ip.payload().len() - 20;
            assert!(
                data_and_options <= 512,
                "a server segment of {data_and_options}"
            );
            server_data += ip.payload().len() - tcp.header_len();
        }
    }
    assert!(server_data > 2 * 512, "the server sent {server_data} bytes");
    assert_strict_and_tshark_clean("mss 512", std::slice::from_ref(&r));
}

/// A download's client advertising a window too small for the data the server sends before
/// its next ACK — as the network, drawing each window on its own, often does — gets its window
/// raised: the server's segments go out whole, as in the real download, where the window bound
/// would have cut them (a fifth of a generated download's server segments went out empty).
#[test]
fn windows_too_small_for_the_data_ahead_are_raised() {
    use netdiffd::flows::Direction;
    use netdiffd::repair::Rule;
    use netdiffd::wire::tcp::{flags, TcpPacket};
    let real = first_download(400);
    let server_bytes = |packets: &[(Direction, u32)]| -> u64 {
        packets
            .iter()
            .filter(|p| p.0 == Direction::Backward)
            .map(|p| u64::from(p.1))
            .sum()
    };
    let sent = |r: &RepairedFlow| -> Vec<(Direction, u32)> {
        r.packets
            .iter()
            .map(|p| {
                let ip = netdiffd::wire::ipv4::Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
                let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
                (p.direction, tcp.payload().len() as u32)
            })
            .collect()
    };
    let raised = |r: &RepairedFlow| {
        let rules = &r.report.rules_applied;
        rules.get(&Rule::TcpWindowRaised).copied().unwrap_or(0)
    };
    let want: Vec<(Direction, u32)> = real
        .packets
        .iter()
        .map(|p| (p.direction, p.payload_len))
        .collect();
    assert!(
        server_bytes(&want) > 300_000,
        "the download's first 400 packets"
    );
    // As captured, the client's windows hold the server's data: nothing raised, nothing cut.
    let as_real = repair_real(&real, 0);
    assert_eq!(raised(&as_real), 0);
    assert_eq!(server_bytes(&sent(&as_real)), server_bytes(&want));
    // Every client ACK after the handshake advertising 1 (1,024 bytes at the shift of 10).
    let mut small = real.clone();
    for p in small.packets.iter_mut().skip(2) {
        if p.direction == Direction::Forward {
            let at = p.ipv4_header().len() + 14;
            p.headers[at..at + 2].copy_from_slice(&1u16.to_be_bytes());
        }
    }
    let r = repair_real(&small, 0);
    assert!(raised(&r) > 50, "{} windows raised", raised(&r));
    assert_eq!(
        server_bytes(&sent(&r)),
        server_bytes(&want),
        "the server's data goes out whole"
    );
    let cut = r.report.rules_applied.get(&Rule::TcpWindowBound).copied();
    assert_eq!(cut, None, "no segment cut to a window");
    // Raised no further than the data ahead needs: below what the real client advertised.
    let windows = |r: &RepairedFlow| -> u64 {
        r.packets
            .iter()
            .filter(|p| p.direction == Direction::Forward)
            .map(|p| {
                let ip = netdiffd::wire::ipv4::Ipv4Packet::new_checked(&p.bytes[..]).unwrap();
                let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
                if tcp.flags() & flags::SYN != 0 {
                    0
                } else {
                    u64::from(tcp.window())
                }
            })
            .sum()
    };
    assert!(
        windows(&r) < windows(&as_real),
        "{} against {}",
        windows(&r),
        windows(&as_real)
    );
    assert_strict_and_tshark_clean("small-windows", &[r]);
}

/// A generated reset before a flow's last packet becomes an ACK (a reset ends a connection),
/// and that ACK advertises its side's last window: the network draws a reset's window as resets
/// have them, and an ACK kept that window as if the receiver had run out of buffer. The last
/// packet's reset keeps its window of 0 (real stacks' resets carry 0; repair made it 1).
#[test]
fn a_reset_made_an_ack_advertises_its_sides_window() {
    use netdiffd::flows::Direction;
    use netdiffd::wire::tcp::{flags, TcpPacket};
    let mut flow = first_download(60);
    // The client's empty ACKs after the handshake, each made a reset with a window of 1.
    let acks: Vec<usize> = flow
        .packets
        .iter()
        .enumerate()
        .skip(3)
        .filter(|(_, p)| p.direction == Direction::Forward && p.payload_len == 0)
        .map(|(i, _)| i)
        .take(3)
        .collect();
    assert_eq!(acks.len(), 3, "the download's client ACKs");
    for &i in &acks {
        let p = &mut flow.packets[i];
        let at = p.ipv4_header().len();
        p.headers[at + 13] = (flags::RST | flags::ACK) as u8;
        p.headers[at + 14..at + 16].copy_from_slice(&1u16.to_be_bytes());
    }
    // And the flow's last packet a reset with a window of 0, as real stacks send theirs.
    let last = flow.packets.len() - 1;
    let p = &mut flow.packets[last];
    let at = p.ipv4_header().len();
    p.headers[at + 13] = (flags::RST | flags::ACK) as u8;
    p.headers[at + 14..at + 16].copy_from_slice(&0u16.to_be_bytes());
    let r = repair_real(&flow, 0);
    let tcp_of = |i: usize| {
        let ip = netdiffd::wire::ipv4::Ipv4Packet::new_checked(&r.packets[i].bytes[..]).unwrap();
        let t = TcpPacket::new_checked(ip.payload().to_vec()).unwrap();
        (t.flags(), t.window())
    };
    assert_eq!(
        r.packets.len(),
        flow.packets.len(),
        "no packet added or dropped"
    );
    for &i in &acks {
        let (f, window) = tcp_of(i);
        assert_eq!(f & flags::RST, 0, "packet {i} no longer resets");
        let before = (0..i)
            .rev()
            .find(|&j| {
                r.packets[j].direction == Direction::Forward && tcp_of(j).0 & flags::SYN == 0
            })
            .expect("a client segment before");
        assert_eq!(
            window,
            tcp_of(before).1,
            "packet {i} advertises the window of packet {before}"
        );
        assert!(window > 1, "packet {i}: {window}");
    }
    let (f, window) = tcp_of(last);
    assert_ne!(f & flags::RST, 0, "the last packet resets");
    assert_eq!(window, 0, "the reset keeps its window of 0");
    assert_strict_and_tshark_clean("reset-acks", &[r]);
}
