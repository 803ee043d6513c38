//! Whole flows from a tiny model: a class whose templates are 300-packet TCP flows (the first
//! 300 packets of real lab downloads) yields flows far longer than the network's 16-packet
//! window, each with one handshake, one sequence space per direction and time that only moves
//! forward, and the traffic passes `check --strict` and tshark; a class of flows of several
//! lengths yields flows at lengths around them, each still whole.

mod common;

use common::TempDir;

use netdiffd::capture::CaptureReader;
use netdiffd::flows::{flows_from_capture, Direction, FlowSettings};
use netdiffd::wire::ipv4::Ipv4Packet;
use netdiffd::wire::tcp::{flags, TcpPacket};
use netdiffd::wire::IpProtocol;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A TCP connection's key: client address and port, server address and port.
type ConnKey = (u32, u16, u32, u16);

/// One TCP packet of the generated capture, as the test reads it.
struct Seen {
    ts_ns: u64,
    forward: bool,
    ttl: u8,
    seq: u32,
    flags: u16,
    payload: u32,
}

/// The TCP packets of `pcap`, by connection (keyed by the client's port; the first packet of a
/// connection is its client's); other packets are left out.
fn connections(pcap: &Path) -> HashMap<ConnKey, Vec<Seen>> {
    let mut by: HashMap<ConnKey, Vec<Seen>> = HashMap::new();
    for frame in CaptureReader::open(pcap).unwrap() {
        let frame = frame.unwrap();
        let ip = Ipv4Packet::new_checked(&frame.data[14..]).expect("IPv4");
        if ip.protocol() != IpProtocol::Tcp {
            continue;
        }
        let tcp = TcpPacket::new_checked(ip.payload()).expect("TCP");
        let (a, b) = (
            (u32::from(ip.src_addr()), tcp.src_port()),
            (u32::from(ip.dst_addr()), tcp.dst_port()),
        );
        let fwd_key = (a.0, a.1, b.0, b.1);
        let back_key = (b.0, b.1, a.0, a.1);
        let (key, forward) = if by.contains_key(&back_key) {
            (back_key, false)
        } else {
            (fwd_key, true)
        };
        by.entry(key).or_default().push(Seen {
            ts_ns: frame.ts_ns,
            forward,
            ttl: ip.ttl(),
            seq: tcp.seq(),
            flags: tcp.flags(),
            payload: (tcp.payload().len()) as u32,
        });
    }
    by
}

/// Links `captures` into `DIR/corpus/CLASS`, builds a dataset of 16-packet windows (plus
/// `dataset_args`) and trains a tiny model on it for `steps` steps into `DIR/model`; returns its
/// card.
fn tiny_model(
    dir: &Path,
    class: &str,
    captures: &[PathBuf],
    dataset_args: &[&str],
    steps: &str,
) -> serde_json::Value {
    let class_dir = dir.join("corpus").join(class);
    std::fs::create_dir_all(&class_dir).unwrap();
    for c in captures {
        let c = c.canonicalize().unwrap();
        std::os::unix::fs::symlink(&c, class_dir.join(c.file_name().unwrap())).unwrap();
    }
    let p = |s: &str| dir.join(s).to_string_lossy().into_owned();
    let mut args = vec!["dataset".to_string(), p("corpus")];
    args.extend(["--max-packets", "16", "--no-holdout"].map(String::from));
    args.extend(dataset_args.iter().map(|s| s.to_string()));
    args.extend(["-o".to_string(), p("train.data")]);
    common::netdiffd_ok(&args);
    common::netdiffd_ok(&[
        "train",
        &p("train.data"),
        "-o",
        &p("model"),
        "--steps",
        steps,
        "--d-model",
        "32",
        "--layers",
        "1",
        "--heads",
        "2",
        "--checkpoint-every",
        "0",
        "--device",
        "cpu",
    ]);
    serde_json::from_str(&std::fs::read_to_string(dir.join("model/card.json")).unwrap()).unwrap()
}

/// Generates `flows` flows of `mix` (with `extra` options) with the model `tiny_model` made in
/// `dir`, into `dir/out`, and returns that path.
fn generate_tiny(dir: &Path, mix: &str, flows: &str, extra: &[&str], out: &str) -> PathBuf {
    let (model, pcap) = (dir.join("model"), dir.join(out));
    let mut args = vec!["generate", "--model", model.to_str().unwrap(), "--mix", mix];
    args.extend(["--flows", flows]);
    args.extend(extra);
    args.extend(["-o", pcap.to_str().unwrap()]);
    common::netdiffd_ok(&args);
    pcap
}

fn lab(class: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/lab-corpus")
        .join(class)
        .join(file)
}

/// Three of the lab's bulk downloads (five flows of 1,001-1,835 packets).
fn lab_downloads() -> Vec<PathBuf> {
    ["bulk01.pcap", "bulk02.pcap", "bulk03.pcap"]
        .iter()
        .map(|f| lab("bulk_download", f))
        .collect()
}

#[test]
fn a_class_of_300_packet_tcp_flows_yields_whole_coherent_flows() {
    let dir = TempDir::new("long");
    let bulk = lab_downloads();
    let card = tiny_model(&dir.0, "bulk", &bulk, &["--max-flow-packets", "300"], "40");
    // Every template is a whole 300-packet TCP flow.
    let templates = card["classes"][0]["templates"].as_array().unwrap();
    assert_eq!(templates.len(), 5, "five real flows of 300+ packets");
    for t in templates {
        let shapes: usize = template_packets(t)
            .map(|s| s.split_once('*').map_or(1, |(_, n)| n.parse().unwrap()))
            .sum();
        assert_eq!(shapes, 300, "{t}");
        assert!(template_packets(t).all(|s| s.starts_with("6.")));
    }

    let pcap = generate_tiny(&dir.0, "bulk=1", "4", &["--seed", "3"], "long.pcap");
    let conns = connections(&pcap);
    assert_eq!(conns.len(), 4, "four connections");
    for (key, pkts) in &conns {
        assert!(pkts.len() > 64, "{key:?}: only {} packets", pkts.len());
        assert_one_connection(key, pkts);
    }

    // Flow arrivals: the gaps between the class's flow starts are gaps learned from the
    // captures (two downloads of one file, a few seconds apart), not the 10 ms exponential
    // default the override keeps.
    let learned: Vec<u64> = card["classes"][0]["arrivals"]["gap_samples_ns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(!learned.is_empty());
    let mut starts: Vec<u64> = conns.values().map(|c| c[0].ts_ns).collect();
    starts.sort_unstable();
    for w in starts.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            learned.iter().any(|&g| g.abs_diff(gap) <= 2_000),
            "gap {gap} ns between flow starts is none of the learned {learned:?}"
        );
    }

    common::assert_check_strict_passes(&pcap);
    let e = common::tshark_expert(&pcap);
    assert_eq!(e.errors, 0, "{:#?}", e.in_section("Errors"));
    assert_eq!(e.warnings, 0, "{:#?}", e.in_section("Warnings"));
}

/// Asserts that `pkts` are one coherent TCP connection: the client's SYN first and one SYN a
/// side, one sequence space a side (every segment starts within the bytes already sent — a new
/// segment exactly at the end, a retransmission inside — never past a gap or at a fresh
/// start), and time that only moves forward.
fn assert_one_connection(key: &ConnKey, pkts: &[Seen]) {
    assert!(pkts[0].forward && pkts[0].flags & flags::SYN != 0);
    for forward in [true, false] {
        let side: Vec<&Seen> = pkts.iter().filter(|s| s.forward == forward).collect();
        let syns = side.iter().filter(|s| s.flags & flags::SYN != 0).count();
        assert_eq!(syns, 1, "{key:?} forward={forward}: {syns} SYNs");
        let isn = side[0].seq;
        let mut end = 0u32;
        for s in &side {
            let off = s.seq.wrapping_sub(isn);
            assert!(
                off <= end,
                "{key:?} forward={forward}: segment at +{off} past the stream end +{end}"
            );
            let len = s.payload
                + u32::from(s.flags & flags::SYN != 0)
                + u32::from(s.flags & flags::FIN != 0);
            end = end.max(off + len);
        }
    }
    assert!(pkts.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
}

#[test]
fn a_class_of_long_flows_yields_lengths_between_its_templates() {
    // The lab's downloads (their first 1,200 packets at most: 1,001-1,200 packets a flow). A
    // generated flow takes a real flow's structure at a length drawn around the real one's:
    // its opening and teardown as they were, its middle cut short or continued, so a class's
    // lengths spread between and around its real flows' instead of repeating them.
    let dir = TempDir::new("sized");
    let bulk = lab_downloads();
    let card = tiny_model(&dir.0, "bulk", &bulk, &["--max-flow-packets", "1200"], "10");
    let kinds = flag_kinds(&template_kinds(&card));
    let lengths: Vec<usize> = kinds.iter().map(Vec::len).collect();
    let longest = *lengths.iter().max().unwrap();
    assert!(
        lengths.iter().any(|&n| n < longest),
        "templates of several lengths: {lengths:?}"
    );
    // The teardown of a template: from its first FIN or RST among its last 8 packets.
    fn teardown(t: &[(bool, u16)]) -> &[(bool, u16)] {
        let from = t.len() - 8;
        &t[(from..t.len())
            .find(|&i| t[i].1 & (flags::FIN | flags::RST) != 0)
            .unwrap_or(t.len())..]
    }
    let flows_of = |extra: &[&str], out: &str| -> Vec<(ConnKey, Vec<(bool, u16)>)> {
        let mut args = vec!["--seed", "5"];
        args.extend(extra);
        let pcap = generate_tiny(&dir.0, "bulk=1", "6", &args, out);
        common::assert_check_strict_passes(&pcap);
        let e = common::tshark_expert(&pcap);
        assert_eq!(e.errors, 0, "{:#?}", e.in_section("Errors"));
        assert_eq!(e.warnings, 0, "{:#?}", e.in_section("Warnings"));
        let conns = connections(&pcap);
        assert_eq!(conns.len(), 6, "six connections");
        conns
            .into_iter()
            .map(|(key, pkts)| {
                assert_one_connection(&key, &pkts);
                (key, pkts.iter().map(|s| (s.forward, s.flags)).collect())
            })
            .collect()
    };
    let mut new_lengths = 0;
    for (key, got) in flows_of(&[], "sized.pcap") {
        assert!(
            (32..=longest).contains(&got.len()),
            "{key:?}: {} packets, templates {lengths:?}",
            got.len()
        );
        // A template's opening and its teardown, with its middle between.
        assert!(
            kinds
                .iter()
                .any(|t| got[..16] == t[..16] && got.ends_with(teardown(t))),
            "{key:?}: opening {:?} and end {:?} are no template's",
            &got[..16],
            &got[got.len() - 4..]
        );
        new_lengths += usize::from(!lengths.contains(&got.len()));
    }
    assert!(
        new_lengths >= 4,
        "{new_lengths} of 6 flows at a length no real flow had ({lengths:?})"
    );
    // Taken at their own lengths, every flow is a template's, packet kind for packet kind.
    for (key, got) in flows_of(&["--exact-lengths"], "exact.pcap") {
        assert!(kinds.contains(&got), "{key:?}: {} packets", got.len());
    }
}

/// One packet of a template as the tests read it: sent by the client, TCP flags, TTL.
type TemplatePacket = (bool, u16, u8);

/// A card template's packets as written (`shape*run`), without the flow's `:port`.
fn template_packets(t: &serde_json::Value) -> impl Iterator<Item = &str> {
    t.as_str()
        .unwrap()
        .split_whitespace()
        .filter(|p| !p.starts_with(':'))
}

/// Each template's packets as (sent by the client, TCP flags).
fn flag_kinds(templates: &[Vec<TemplatePacket>]) -> Vec<Vec<(bool, u16)>> {
    templates
        .iter()
        .map(|t| t.iter().map(|&(fwd, f, _)| (fwd, f)).collect())
        .collect()
}

/// The packet sequences of a card's templates, read from their strings.
fn template_kinds(card: &serde_json::Value) -> Vec<Vec<TemplatePacket>> {
    card["classes"][0]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let mut kinds = Vec::new();
            for part in template_packets(t) {
                let (shape, run) = part
                    .split_once('*')
                    .map_or((part, 1), |(s, n)| (s, n.parse().unwrap()));
                // proto.ihl.l4.flags.dir, a SYN's option layout after them, then @ttl.tos.df.
                let (shape, marks) = shape
                    .split_once('@')
                    .unwrap_or_else(|| panic!("template packet {part} records its IPv4 marks"));
                let v: Vec<u16> = shape
                    .split('.')
                    .take(5)
                    .map(|x| x.parse().unwrap())
                    .collect();
                assert_eq!(v.len(), 5, "template packet {part} records its kind");
                let ttl: u8 = marks.split('.').next().unwrap().parse().unwrap();
                kinds.extend(std::iter::repeat_n((v[4] == 0, v[3], ttl), run));
            }
            kinds
        })
        .collect()
}

#[test]
fn generated_flows_keep_their_templates_packet_kinds() {
    // A lab port scan: nearly every SYN is answered by an RST-ACK (closed ports). A tiny model
    // trained for a few steps could not have learned that; the flows keep their real
    // templates' flags and directions, and repair keeps the refusal.
    let dir = TempDir::new("kinds");
    let card = tiny_model(&dir.0, "scan", &[lab("portscan", "ps06.pcap")], &[], "10");
    let templates = template_kinds(&card);
    let kinds = flag_kinds(&templates);
    let refused = vec![(true, flags::SYN), (false, flags::RST | flags::ACK)];
    assert!(
        kinds.iter().filter(|k| **k == refused).count() * 10 >= kinds.len() * 9,
        "the scan's templates are mostly SYN, RST-ACK: {kinds:?}"
    );
    // The scanner's SYNs leave with random TTLs (nmap: 37-58 here), the target's RSTs with 63.
    let syn_ttls: std::collections::HashSet<u8> = templates
        .iter()
        .filter_map(|t| t.first())
        .map(|p| p.2)
        .collect();
    assert!(syn_ttls.len() >= 10, "the SYNs' TTLs: {syn_ttls:?}");
    let pcap = generate_tiny(&dir.0, "scan", "30", &[], "scan.pcap");
    // The capture's one ping gives a template too; every other flow is a TCP connection.
    let conns = connections(&pcap);
    assert!(
        conns.len() >= 25,
        "{} TCP connections of 30 flows",
        conns.len()
    );
    let mut generated_syn_ttls = std::collections::HashSet::new();
    for (key, pkts) in &conns {
        let got: Vec<(bool, u16)> = pkts.iter().map(|s| (s.forward, s.flags)).collect();
        assert!(kinds.contains(&got), "{key:?}: {got:?} is no template's");
        // Each side's TTL is one its template's packets of that side carried (repair gives a
        // side one TTL): the tiny network could not have drawn the scanner's random TTLs.
        let side_ttls = |t: &[TemplatePacket], forward: bool| -> Vec<u8> {
            t.iter().filter(|p| p.0 == forward).map(|p| p.2).collect()
        };
        assert!(
            templates.iter().any(|t| t.len() == pkts.len()
                && t.iter()
                    .zip(pkts)
                    .all(|(tp, s)| (tp.0, tp.1) == (s.forward, s.flags))
                && pkts
                    .iter()
                    .all(|s| side_ttls(t, s.forward).contains(&s.ttl))),
            "{key:?}: TTLs {:?} are no template's",
            pkts.iter().map(|s| s.ttl).collect::<Vec<_>>()
        );
        generated_syn_ttls.insert(pkts[0].ttl);
    }
    assert!(
        generated_syn_ttls.len() >= 5,
        "the generated SYNs' TTLs spread as the templates' do: {generated_syn_ttls:?}"
    );
    common::assert_check_strict_passes(&pcap);
}

/// What a template's SYN or SYN-ACK offers, as the tests read it: SYN-ACK or not, its option
/// kinds in order (to the end of the list), its window, and the MSS and window shift values.
type SynOffer = (bool, Vec<u8>, u16, Option<u32>, Option<u32>);

/// The SYNs and SYN-ACKs of a card's templates, read from their strings:
/// `proto.ihl.l4.flags.dir.layout~window@marks`, the layout's options `kind:len[=value]`.
fn template_syn_offers(card: &serde_json::Value) -> Vec<SynOffer> {
    let mut out = Vec::new();
    for t in card["classes"][0]["templates"].as_array().unwrap() {
        for part in template_packets(t) {
            let shape = part.split('*').next().unwrap();
            let shape = shape.split('@').next().unwrap();
            let v: Vec<&str> = shape.split('.').collect();
            if let [_, _, _, flags, _, layout_window] = v[..] {
                let (layout, window) = layout_window
                    .split_once('~')
                    .unwrap_or_else(|| panic!("template SYN {part} records its window"));
                let (mut kinds, mut mss, mut shift) = (Vec::new(), None, None);
                for o in layout.split('-') {
                    let (o, value) = o.split_once('=').map_or((o, None), |(o, v)| (o, Some(v)));
                    let k: u8 = o.split(':').next().unwrap().parse().unwrap();
                    if k == 0 {
                        break;
                    }
                    let value = value.map(|v| v.parse::<u32>().unwrap());
                    match k {
                        2 => mss = value,
                        3 => shift = value,
                        _ => {}
                    }
                    kinds.push(k);
                }
                let synack = flags.parse::<u16>().unwrap() & flags::ACK != 0;
                out.push((synack, kinds, window.parse().unwrap(), mss, shift));
            }
        }
    }
    out
}

#[test]
fn generated_syns_offer_their_templates_options() {
    // Real HTTPS connections from macOS: the SYN offers window 65535 and MSS, NOP, window scale,
    // NOP, NOP, timestamps, SACK permitted (not the order repair rebuilds options in), the
    // SYN-ACK MSS, SACK permitted, timestamps, NOP, window scale. A tiny model trained for a few
    // steps generates option bytes that do not parse; the flows keep their templates' windows,
    // option layouts and values, and so negotiate timestamps, which every later segment carries.
    let dir = TempDir::new("syn");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/https");
    let captures: Vec<PathBuf> = ["443-curl.pcap", "443-firefox.pcap", "443-git.pcap"]
        .iter()
        .map(|f| corpus.join(f))
        .collect();
    let card = tiny_model(&dir.0, "https", &captures, &[], "10");
    let offers = template_syn_offers(&card);
    assert!(
        offers.iter().any(|o| !o.0) && offers.iter().any(|o| o.0),
        "the templates record SYN and SYN-ACK layouts: {offers:?}"
    );
    assert!(
        offers.iter().all(|o| o.3.is_some() && o.4.is_some()),
        "every template SYN records its MSS and shift: {offers:?}"
    );
    let pcap = generate_tiny(&dir.0, "https", "12", &[], "https.pcap");
    let (mut syns, mut later) = (0, 0);
    for frame in CaptureReader::open(&pcap).unwrap() {
        let frame = frame.unwrap();
        let ip = Ipv4Packet::new_checked(&frame.data[14..]).expect("IPv4");
        let tcp = TcpPacket::new_checked(ip.payload()).expect("TCP");
        let options: Vec<(u8, &[u8])> =
            netdiffd::wire::tcp::options_lenient(tcp.options()).collect();
        let kinds: Vec<u8> = options.iter().map(|(k, _)| *k).collect();
        if tcp.flags() & flags::SYN != 0 {
            syns += 1;
            let value = |kind: u8| {
                options
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, d)| d.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)))
            };
            // The stack's fingerprint: window, option order, MSS and shift, all one
            // template's (the network, drawing their bits, gave shifts no real SYN offered).
            let offer = (
                tcp.flags() & flags::ACK != 0,
                kinds.clone(),
                tcp.window(),
                value(2),
                value(3),
            );
            assert!(
                offers.contains(&offer),
                "SYN offers {offer:?}, no template's: {offers:?}"
            );
        } else if tcp.flags() & flags::RST == 0 {
            later += 1;
            assert!(
                kinds.contains(&8),
                "a segment without timestamps: {kinds:?}"
            );
        }
    }
    assert!(
        syns >= 20 && later > syns,
        "{syns} SYNs, {later} later segments"
    );
    common::assert_check_strict_passes(&pcap);
}

#[test]
fn generated_flows_reach_their_templates_server_ports() {
    // nmap's SYN scan of a lab host: each flow a SYN to its own port, answered by an RST-ACK
    // (closed) or a SYN-ACK (open). A tiny model trained for a few steps draws ports no scan
    // reached; the flows keep their templates' server ports, so a generated scan spreads over
    // the real scan's ports instead of falling back to the class's most common one.
    let dir = TempDir::new("port");
    let card = tiny_model(
        &dir.0,
        "portscan",
        &[lab("portscan", "ps06.pcap")],
        &[],
        "10",
    );
    let template_ports: std::collections::HashSet<u16> = card["classes"][0]["templates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| {
            t.as_str()?
                .strip_prefix(':')?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        template_ports.len() >= 50,
        "the templates record the scan's ports: {template_ports:?}"
    );
    let pcap = generate_tiny(&dir.0, "portscan", "60", &[], "scan.pcap");
    let mut reached = std::collections::HashSet::new();
    for frame in CaptureReader::open(&pcap).unwrap() {
        let frame = frame.unwrap();
        let ip = Ipv4Packet::new_checked(&frame.data[14..]).expect("IPv4");
        // Sent by a client (the default client pool, 198.18.0.0/16), to the server's port.
        if ip.protocol() != IpProtocol::Tcp || ip.src_addr().octets()[..2] != [198, 18] {
            continue;
        }
        let port = TcpPacket::new_checked(ip.payload()).unwrap().dst_port();
        assert!(
            template_ports.contains(&port),
            "a flow to port {port}, which no template's flow reached"
        );
        reached.insert(port);
    }
    assert!(
        reached.len() >= 30,
        "60 flows reached {} ports",
        reached.len()
    );
    common::assert_check_strict_passes(&pcap);
}

#[test]
fn pools_of_one_host_each_still_generate() {
    // A job keeps every flow's 5-tuple apart where the pools allow, ICMP flows on host pairs of
    // their own; with one client and one server the ICMP tunnel's flows cannot be kept apart,
    // and the job still ends, with every flow.
    let dir = TempDir::new("pools");
    let tunnel =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/tunnel/icmp-tunnel.pcap");
    tiny_model(
        &dir.0,
        "tunnel",
        &[tunnel],
        &["--max-flow-packets", "16"],
        "5",
    );
    let labels = dir.0.join("p.csv");
    let labels_arg = labels.to_str().unwrap();
    let pools = [
        "--client-pool",
        "192.0.2.1/32",
        "--server-pool",
        "192.0.2.2/32",
    ];
    let extra = [&pools[..], &["--labels", labels_arg]].concat();
    generate_tiny(&dir.0, "tunnel", "6", &extra, "p.pcap");
    let truth = std::fs::read_to_string(&labels).unwrap();
    let rows: Vec<Vec<&str>> = truth
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 6, "{truth}");
    assert!(
        rows.iter()
            .all(|f| f[4] == "icmp" && f[5] == "192.0.2.1" && f[7] == "192.0.2.2"),
        "{truth}"
    );
}

/// Share of the packets sent in direction `forward` that carry a full segment (at least 1,400
/// payload bytes), over the first `n` packets of each connection of `conns` (each packet as
/// its direction, forward or not, and its payload length) with at least `n`.
fn full_segment_share(conns: &[Vec<(bool, u32)>], n: usize, forward: bool) -> f64 {
    let sent: Vec<u32> = conns
        .iter()
        .filter(|c| c.len() >= n)
        .flat_map(|c| &c[..n])
        .filter(|&&(f, _)| f == forward)
        .map(|&(_, payload)| payload)
        .collect();
    assert!(!sent.is_empty());
    sent.iter().filter(|&&p| p >= 1400).count() as f64 / sent.len() as f64
}

#[test]
fn generated_payload_lengths_follow_the_real_ones() {
    // The lab's bulk downloads: after the request the server sends full segments and the
    // client pure ACKs. A tiny model trained for a few steps sends full segments both ways; the
    // card's length calibration maps each direction's lengths onto the real flows' (its
    // templates', the first 300 packets of each download), and the same card without it leaves
    // them as drawn.
    let dir = TempDir::new("len");
    let bulk = lab_downloads();
    let mut card = tiny_model(&dir.0, "bulk", &bulk, &["--max-flow-packets", "300"], "10");
    let groups = card["classes"][0]["length_calibration"]["groups"]
        .as_array()
        .expect("a card made now calibrates lengths");
    assert!(groups.iter().any(|g| g["sampled"].is_array()), "{groups:?}");
    // The real downloads' first 300 packets, read with the flow splitter (the captures hold
    // ARP frames besides).
    let mut real = Vec::new();
    for f in &bulk {
        let (flows, _) = flows_from_capture(f, FlowSettings::default(), None).unwrap();
        real.extend(flows.iter().map(|flow| {
            let sent = flow.packets.iter();
            sent.map(|p| (p.direction == Direction::Forward, p.payload_len))
                .collect::<Vec<_>>()
        }));
    }
    let want = [true, false].map(|fwd| full_segment_share(&real, 300, fwd));
    assert!(
        want[0] < 0.1 && want[1] > 0.5,
        "the real downloads' server sends full segments, the client ACKs: {want:?}"
    );
    let with = generate_tiny(&dir.0, "bulk=1", "8", &["--seed", "3"], "with.pcap");
    card["classes"][0]
        .as_object_mut()
        .unwrap()
        .remove("length_calibration");
    std::fs::write(dir.0.join("model/card.json"), card.to_string()).unwrap();
    let without = generate_tiny(&dir.0, "bulk=1", "8", &["--seed", "3"], "without.pcap");
    let got = |pcap: &Path| {
        let conns: Vec<Vec<(bool, u32)>> = connections(pcap)
            .into_values()
            .map(|c| c.iter().map(|s| (s.forward, s.payload)).collect())
            .collect();
        [true, false].map(|fwd| full_segment_share(&conns, 64, fwd))
    };
    let off = |shares: [f64; 2]| [0, 1].map(|d| (shares[d] - want[d]).abs());
    let (with, without) = (got(&with), got(&without));
    // Client, server: the calibrated shares within 0.15 of the real ones, and nearer than the
    // uncalibrated ones.
    assert!(
        off(with).iter().all(|&d| d < 0.15),
        "calibrated {with:?}, real {want:?}"
    );
    assert!(
        off(with).iter().sum::<f64>() < off(without).iter().sum::<f64>(),
        "calibrated {with:?}, uncalibrated {without:?}, real {want:?}"
    );
    common::assert_check_strict_passes(&dir.0.join("with.pcap"));
}
