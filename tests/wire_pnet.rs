//! pnet_packet (libpnet's packet crate) as an independent oracle for netdiffd's hand-written
//! `wire` views: every IPv4 packet of every capture in the corpus, and of a generated job, is
//! read by both and compared field by field (IPv4, TCP with its options, UDP, ICMP), checksums
//! computed by both. Headers that are not whole (a TCP data offset below 5 or past the captured
//! bytes, an IPv4 header length likewise; older pnet releases panicked on them, 0.35 reads them
//! without a word) are checked in the bytes first: such packets are counted apart, netdiffd's
//! `new_checked` must reject them (without a panic), and pnet is asked only for their fixed
//! fields. What pnet does with them is pinned in
//! `pnet_behaviours_docs_wire_md_cites`; docs/wire.md says why `src/wire` stays hand-written.

use netdiffd::capture::{
    dissect, network_layer, CaptureReader, Dissected, Frame, LinkType, SkipReason, L3, L4,
};
use netdiffd::wire::checksum;
use netdiffd::wire::icmp::IcmpPacket;
use netdiffd::wire::ipv4::Ipv4Packet;
use netdiffd::wire::tcp::{self, TcpOption, TcpPacket};
use netdiffd::wire::udp::UdpPacket;
use netdiffd::wire::IpProtocol;
use pnet_packet::icmp::{echo_reply, echo_request};
use pnet_packet::Packet as _;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

const ETHERTYPE_IPV4: u16 = 0x0800;

/// Field mismatches kept in full for the failure message (all are counted).
const SHOWN_MISMATCHES: usize = 40;

/// What the oracle compared, and where it disagreed.
#[derive(Debug, Default)]
struct Oracle {
    /// Frames read.
    frames: u64,
    /// Frames whose link header announces something other than IPv4, by what.
    not_ipv4: BTreeMap<String, u64>,
    /// IPv4 headers compared (netdiffd's `new_checked` accepted them).
    ipv4: u64,
    /// Of which with IP options.
    ipv4_with_options: u64,
    /// IPv4 headers netdiffd rejects (short, version, IHL below 5 or past the bytes): guarded.
    ipv4_guarded: u64,
    /// IPv4 headers compared whose datagram is a later fragment or another protocol.
    ipv4_no_transport: u64,
    /// TCP segments compared.
    tcp: u64,
    /// Of which with options.
    tcp_with_options: u64,
    /// Segments whose options both parsed and compared option by option (netdiffd's strict
    /// parser accepted them).
    tcp_options_strict: u64,
    /// Segments whose options netdiffd's strict parser rejects: compared by the lenient walk.
    tcp_options_lenient: u64,
    /// TCP segments under 20 bytes (pnet declines them too).
    tcp_guarded_short: u64,
    /// TCP segments with a data offset below 5: guarded, fixed fields only.
    tcp_guarded_offset_low: u64,
    /// TCP segments whose header (data offset) runs past the captured bytes: guarded.
    tcp_guarded_offset_past: u64,
    /// UDP datagrams compared.
    udp: u64,
    /// ICMP messages compared.
    icmp: u64,
    /// Of which echo requests or replies (identifier and sequence compared).
    icmp_echo: u64,
    /// UDP or ICMP headers cut short by the capture: guarded.
    l4_guarded_short: u64,
    /// Individual values compared.
    fields: u64,
    /// Values that differ.
    mismatch_count: u64,
    /// The first [`SHOWN_MISMATCHES`] of them.
    mismatches: Vec<String>,
}

impl Oracle {
    fn eq<T: PartialEq + Debug>(&mut self, at: &str, field: &str, ours: T, pnet: T) {
        self.fields += 1;
        if ours != pnet {
            self.mismatch(at, format!("{field}: netdiffd {ours:?}, pnet {pnet:?}"));
        }
    }

    fn mismatch(&mut self, at: &str, what: String) {
        self.mismatch_count += 1;
        if self.mismatches.len() < SHOWN_MISMATCHES {
            self.mismatches.push(format!("{at}: {what}"));
        }
    }

    /// Reads every frame of `path` and compares each IPv4 packet in it.
    fn capture(&mut self, path: &Path) {
        let reader = CaptureReader::open(path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let name = path.display().to_string();
        for frame in reader {
            let frame = frame.unwrap_or_else(|e| panic!("reading {name}: {e}"));
            self.frame(&format!("{name} #{}", frame.record), &frame);
        }
    }

    /// Compares one frame's IPv4 packet, if it holds one.
    fn frame(&mut self, at: &str, frame: &Frame) {
        self.frames += 1;
        let dissected = dissect(frame);
        let Some((ethertype, offset)) = network_layer(frame.link, &frame.data) else {
            *self.not_ipv4.entry("no network layer".into()).or_default() += 1;
            self.eq(at, "dissect rejects", dissected.is_err(), true);
            return;
        };
        if ethertype != ETHERTYPE_IPV4 {
            *self
                .not_ipv4
                .entry(format!("ethertype 0x{ethertype:04x}"))
                .or_default() += 1;
            return;
        }
        let bytes = frame.data.get(offset..).unwrap_or(&[]);
        self.ipv4_packet(at, bytes, dissected);
    }

    fn ipv4_packet(&mut self, at: &str, bytes: &[u8], d: Result<Dissected<'_>, SkipReason>) {
        let ihl = bytes.first().map_or(0, |b| usize::from(b & 0x0f));
        let whole = bytes.len() >= 20 && bytes[0] >> 4 == 4 && ihl >= 5 && ihl * 4 <= bytes.len();
        let ours = Ipv4Packet::new_checked(bytes);
        self.eq(at, "ipv4 new_checked accepts", ours.is_ok(), whole);
        let Ok(ip) = ours else {
            self.ipv4_guarded += 1;
            self.eq(at, "dissect rejects a broken IPv4 header", d.is_err(), true);
            return;
        };
        if let Ok(Dissected { l3: L3::V4(dv), .. }) = &d {
            self.eq(
                at,
                "dissect's IPv4 bytes",
                same(dv.into_inner(), bytes),
                true,
            );
        }
        let p = pnet_packet::ipv4::Ipv4Packet::new(bytes).expect("pnet reads any 20 bytes");
        self.ipv4_fields(at, &ip, &p);

        let seg = ip.payload();
        if ip.frag_offset() != 0 {
            self.ipv4_no_transport += 1;
            self.eq(at, "dissect skip", d.err(), Some(SkipReason::Fragment));
            return;
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        match ip.protocol() {
            IpProtocol::Tcp => self.tcp_segment(at, seg, d, src, dst),
            IpProtocol::Udp => self.udp_datagram(at, seg, d, src, dst),
            IpProtocol::Icmp => self.icmp_message(at, seg, d),
            other => {
                self.ipv4_no_transport += 1;
                self.eq(
                    at,
                    "dissect skip",
                    d.err(),
                    Some(SkipReason::OtherL4(other)),
                );
            }
        }
    }

    fn ipv4_fields(
        &mut self,
        at: &str,
        n: &Ipv4Packet<&[u8]>,
        p: &pnet_packet::ipv4::Ipv4Packet<'_>,
    ) {
        self.ipv4 += 1;
        if !n.options().is_empty() {
            self.ipv4_with_options += 1;
        }
        self.eq(at, "ipv4 version", n.version(), p.get_version());
        self.eq(
            at,
            "ipv4 ihl",
            n.header_len() / 4,
            usize::from(p.get_header_length()),
        );
        self.eq(at, "ipv4 dscp", n.tos() >> 2, p.get_dscp());
        self.eq(at, "ipv4 ecn", n.tos() & 3, p.get_ecn());
        self.eq(at, "ipv4 total length", n.total_len(), p.get_total_length());
        self.eq(at, "ipv4 identification", n.ident(), p.get_identification());
        let flags = u8::from(n.reserved_flag()) << 2
            | u8::from(n.dont_frag()) << 1
            | u8::from(n.more_frags());
        self.eq(at, "ipv4 flags", flags, p.get_flags());
        self.eq(
            at,
            "ipv4 fragment offset",
            n.frag_offset(),
            p.get_fragment_offset(),
        );
        self.eq(at, "ipv4 ttl", n.ttl(), p.get_ttl());
        self.eq(
            at,
            "ipv4 protocol",
            u8::from(n.protocol()),
            p.get_next_level_protocol().0,
        );
        self.eq(at, "ipv4 checksum", n.checksum(), p.get_checksum());
        self.eq(
            at,
            "ipv4 source",
            n.src_addr().octets(),
            p.get_source().octets(),
        );
        self.eq(
            at,
            "ipv4 destination",
            n.dst_addr().octets(),
            p.get_destination().octets(),
        );
        self.eq(at, "ipv4 options", n.options(), p.get_options_raw());
        self.eq(at, "ipv4 payload", n.payload(), p.payload());
        let mut header = n.header().to_vec();
        header[10..12].fill(0);
        self.eq(
            at,
            "ipv4 computed checksum",
            checksum::checksum(&header),
            pnet_packet::ipv4::checksum(p),
        );
    }

    fn tcp_segment(
        &mut self,
        at: &str,
        seg: &[u8],
        d: Result<Dissected<'_>, SkipReason>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) {
        // The guard: pnet's TcpPacket::new takes any 20 bytes whatever the data offset says.
        let offset = seg.get(12).map_or(0, |b| usize::from(b >> 4));
        let whole = seg.len() >= 20 && offset >= 5 && offset * 4 <= seg.len();
        let ours = TcpPacket::new_checked(seg);
        self.eq(at, "tcp new_checked accepts", ours.is_ok(), whole);
        if !whole {
            let reason = if seg.len() < 20 {
                self.tcp_guarded_short += 1;
                SkipReason::Truncated
            } else if offset < 5 {
                self.tcp_guarded_offset_low += 1;
                SkipReason::Malformed
            } else {
                self.tcp_guarded_offset_past += 1;
                SkipReason::Truncated
            };
            self.eq(at, "dissect skip", d.err(), Some(reason));
            self.eq(
                at,
                "pnet declines under 20 bytes",
                pnet_tcp(seg).is_none(),
                seg.len() < 20,
            );
            if let Some(p) = pnet_tcp(seg) {
                // Fixed fields only: both views have all 20 bytes of them.
                self.tcp_fixed_fields(at, &TcpPacket::new_unchecked(seg), &p);
            }
            return;
        }
        let Ok(Dissected { l4: L4::Tcp(t), .. }) = d else {
            self.mismatch(at, format!("dissect rejected a whole TCP segment: {d:?}"));
            return;
        };
        self.eq(at, "dissect's TCP bytes", same(t.into_inner(), seg), true);
        let p = pnet_tcp(seg).expect("a whole TCP header has 20 bytes");
        self.tcp += 1;
        self.tcp_fixed_fields(at, &t, &p);
        self.eq(at, "tcp option bytes", t.options(), p.get_options_raw());
        self.eq(at, "tcp payload", t.payload(), p.payload());
        if let Ok(dd) = &d {
            self.eq(at, "dissect's TCP payload", dd.payload, p.payload());
        }
        let mut zeroed = seg.to_vec();
        zeroed[16..18].fill(0);
        self.eq(
            at,
            "tcp computed checksum",
            checksum::compute_v4(src, dst, IpProtocol::Tcp, &zeroed),
            pnet_packet::tcp::ipv4_checksum(&p, &src, &dst),
        );
        if !t.options().is_empty() {
            self.tcp_with_options += 1;
            self.tcp_options(at, t.options(), &p);
        }
    }

    fn tcp_fixed_fields(
        &mut self,
        at: &str,
        t: &TcpPacket<&[u8]>,
        p: &pnet_packet::tcp::TcpPacket<'_>,
    ) {
        self.eq(at, "tcp source port", t.src_port(), p.get_source());
        self.eq(
            at,
            "tcp destination port",
            t.dst_port(),
            p.get_destination(),
        );
        self.eq(at, "tcp sequence", t.seq(), p.get_sequence());
        self.eq(at, "tcp acknowledgement", t.ack(), p.get_acknowledgement());
        self.eq(
            at,
            "tcp data offset",
            t.header_len() / 4,
            usize::from(p.get_data_offset()),
        );
        // pnet has 8 flag bits and 4 reserved ones, the NS bit (RFC 3540) the lowest of them.
        self.eq(at, "tcp flags", (t.flags() & 0xff) as u8, p.get_flags());
        let ns = u8::from(t.has(tcp::flags::NS));
        self.eq(
            at,
            "tcp reserved + NS",
            t.reserved() << 1 | ns,
            p.get_reserved(),
        );
        self.eq(at, "tcp window", t.window(), p.get_window());
        self.eq(at, "tcp checksum", t.checksum(), p.get_checksum());
        self.eq(at, "tcp urgent pointer", t.urgent(), p.get_urgent_ptr());
    }

    /// The parsed options: netdiffd's strict parser where it accepts the bytes, else its
    /// lenient walk, against pnet's option list (which goes on past EOL and past a bad length
    /// where netdiffd stops, so only netdiffd's part is compared).
    fn tcp_options(&mut self, at: &str, opts: &[u8], p: &pnet_packet::tcp::TcpPacket<'_>) {
        let pnet: Vec<(u8, Vec<u8>, Option<u8>)> = p
            .get_options_iter()
            .map(|o| {
                (
                    o.get_number().0,
                    o.payload().to_vec(),
                    o.get_length_raw().first().copied(),
                )
            })
            .collect();
        let ours: Vec<(u8, Vec<u8>)> = match tcp::parse_options(opts) {
            Ok(list) => {
                self.tcp_options_strict += 1;
                list.iter().map(kind_and_data).collect()
            }
            Err(_) => {
                self.tcp_options_lenient += 1;
                tcp::options_lenient(opts)
                    .map(|(k, d)| (k, d.to_vec()))
                    .collect()
            }
        };
        self.eq(
            at,
            "tcp options parsed (at least)",
            pnet.len() >= ours.len(),
            true,
        );
        for (i, ((kind, data), (pkind, pdata, plen))) in ours.iter().zip(&pnet).enumerate() {
            self.eq(at, &format!("tcp option {i} kind"), *kind, *pkind);
            self.eq(at, &format!("tcp option {i} data"), data, pdata);
            if *kind > 1 {
                self.eq(
                    at,
                    &format!("tcp option {i} length"),
                    Some(data.len() as u8 + 2),
                    *plen,
                );
            }
        }
    }

    fn udp_datagram(
        &mut self,
        at: &str,
        seg: &[u8],
        d: Result<Dissected<'_>, SkipReason>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) {
        let ours = UdpPacket::new_checked(seg);
        let p = pnet_packet::udp::UdpPacket::new(seg);
        self.eq(at, "udp new_checked accepts", ours.is_ok(), seg.len() >= 8);
        self.eq(at, "udp accepted by both", ours.is_ok(), p.is_some());
        let (
            Ok(Dissected {
                l4: L4::Udp(u),
                payload,
                ..
            }),
            Some(p),
        ) = (d, p)
        else {
            self.l4_guarded_short += 1;
            self.eq(at, "dissect skip", d.err(), Some(SkipReason::Truncated));
            return;
        };
        self.eq(at, "dissect's UDP bytes", same(u.into_inner(), seg), true);
        self.udp += 1;
        self.eq(at, "udp source port", u.src_port(), p.get_source());
        self.eq(
            at,
            "udp destination port",
            u.dst_port(),
            p.get_destination(),
        );
        self.eq(at, "udp length", u.len(), p.get_length());
        self.eq(at, "udp checksum", u.checksum(), p.get_checksum());
        self.eq(at, "udp payload", payload, p.payload());
        let mut zeroed = seg.to_vec();
        zeroed[6..8].fill(0);
        self.eq(
            at,
            "udp computed checksum",
            checksum::compute_v4(src, dst, IpProtocol::Udp, &zeroed),
            pnet_packet::udp::ipv4_checksum(&p, &src, &dst),
        );
    }

    fn icmp_message(&mut self, at: &str, seg: &[u8], d: Result<Dissected<'_>, SkipReason>) {
        let ours = IcmpPacket::new_checked(seg);
        self.eq(at, "icmp new_checked accepts", ours.is_ok(), seg.len() >= 8);
        let Ok(Dissected {
            l4: L4::Icmp(i),
            payload,
            ..
        }) = d
        else {
            self.l4_guarded_short += 1;
            self.eq(at, "dissect skip", d.err(), Some(SkipReason::Truncated));
            return;
        };
        self.eq(at, "dissect's ICMP bytes", same(i.into_inner(), seg), true);
        // pnet's ICMP header is 4 bytes (type, code, checksum); the rest is its payload.
        let p = pnet_packet::icmp::IcmpPacket::new(seg).expect("8 bytes hold pnet's 4");
        self.icmp += 1;
        self.eq(at, "icmp type", i.msg_type(), p.get_icmp_type().0);
        self.eq(at, "icmp code", i.code(), p.get_icmp_code().0);
        self.eq(at, "icmp checksum", i.checksum(), p.get_checksum());
        self.eq(
            at,
            "icmp rest of header",
            &i.header()[4..],
            &p.payload()[..4],
        );
        self.eq(at, "icmp payload", payload, &p.payload()[4..]);
        let mut zeroed = seg.to_vec();
        zeroed[2..4].fill(0);
        self.eq(
            at,
            "icmp computed checksum",
            checksum::checksum(&zeroed),
            pnet_packet::icmp::checksum(&p),
        );
        if i.is_echo() {
            self.icmp_echo += 1;
            let (ident, seq) = if i.msg_type() == 8 {
                let e = echo_request::EchoRequestPacket::new(seg).expect("8 bytes");
                (e.get_identifier(), e.get_sequence_number())
            } else {
                let e = echo_reply::EchoReplyPacket::new(seg).expect("8 bytes");
                (e.get_identifier(), e.get_sequence_number())
            };
            self.eq(at, "icmp echo identifier", i.echo_ident(), ident);
            self.eq(at, "icmp echo sequence", i.echo_seq(), seq);
        }
    }

    /// Fails with the mismatches, if any; prints the counts either way.
    fn report(&self, what: &str) {
        println!("{what}: {self:#?}");
        assert!(
            self.mismatch_count == 0,
            "{what}: {} of {} values differ between netdiffd's wire views and pnet_packet:\n{}",
            self.mismatch_count,
            self.fields,
            self.mismatches.join("\n")
        );
    }
}

fn pnet_tcp(seg: &[u8]) -> Option<pnet_packet::tcp::TcpPacket<'_>> {
    pnet_packet::tcp::TcpPacket::new(seg)
}

/// True when `a` is the very slice `b` (same bytes of the same frame).
fn same(a: &[u8], b: &[u8]) -> bool {
    std::ptr::eq(a, b)
}

/// A parsed netdiffd option as pnet lists it: kind and data bytes.
fn kind_and_data(o: &TcpOption<'_>) -> (u8, Vec<u8>) {
    use tcp::option_kind::*;
    match o {
        TcpOption::Eol => (EOL, vec![]),
        TcpOption::Nop => (NOP, vec![]),
        TcpOption::Mss(v) => (MSS, v.to_be_bytes().to_vec()),
        TcpOption::WindowScale(s) => (WINDOW_SCALE, vec![*s]),
        TcpOption::SackPermitted => (SACK_PERMITTED, vec![]),
        TcpOption::Sack(blocks) => (
            SACK,
            blocks
                .iter()
                .flat_map(|(l, r)| l.to_be_bytes().into_iter().chain(r.to_be_bytes()))
                .collect(),
        ),
        TcpOption::Timestamps(v, e) => (
            TIMESTAMPS,
            v.to_be_bytes().into_iter().chain(e.to_be_bytes()).collect(),
        ),
        TcpOption::Unknown(k, d) => (*k, d.to_vec()),
    }
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// The capture files of the corpus, sorted (as `netdiffd dataset` finds them).
fn corpus_captures() -> Vec<PathBuf> {
    let dir = corpus();
    netdiffd::corpus::list_captures(&dir)
        .unwrap_or_else(|e| panic!("the corpus at {} is needed: {e}", dir.display()))
}

#[test]
fn corpus_packets_read_the_same_by_pnet() {
    let files = corpus_captures();
    assert!(files.len() >= 50, "corpus captures found: {}", files.len());
    let mut o = Oracle::default();
    for f in &files {
        o.capture(f);
    }
    o.report(&format!("corpus ({} captures)", files.len()));
    assert!(o.ipv4 >= 10_000, "IPv4 packets compared: {}", o.ipv4);
    assert!(o.tcp >= 5_000 && o.udp >= 1_000 && o.icmp >= 10, "{o:#?}");
    assert!(o.tcp_options_strict >= 1_000, "{o:#?}");
    assert!(o.ipv4_with_options > 0 && o.icmp_echo > 0, "{o:#?}");
}

#[test]
fn generated_packets_read_the_same_by_pnet() {
    let out = std::env::temp_dir().join(format!("netdiffd-wire-pnet-{}.pcap", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["generate", "--model", "models/default"])
        .args(["--mix", "netflix=2,dns=1,zoom=1,portscan=1,tunnel=1"])
        .args(["--flows", "60", "-o"])
        .arg(&out)
        .output()
        .expect("run netdiffd generate");
    assert!(
        run.status.success(),
        "netdiffd generate failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut o = Oracle::default();
    o.capture(&out);
    let _ = std::fs::remove_file(&out);
    o.report("generated job (60 flows)");
    assert!(o.ipv4 >= 500, "IPv4 packets compared: {}", o.ipv4);
    assert_eq!(o.ipv4, o.frames, "a generated job is all IPv4: {o:#?}");
    assert!(o.tcp > 0 && o.udp > 0, "{o:#?}");
    assert_eq!(
        o.ipv4_guarded + o.tcp_guarded_offset_low + o.tcp_guarded_offset_past,
        0
    );
}

/// The IPv4 packets of every corpus frame, as raw-IP frames.
fn corpus_ipv4_packets() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for path in corpus_captures() {
        let name = path.display().to_string();
        for frame in CaptureReader::open(&path).unwrap() {
            let frame = frame.unwrap();
            if let Some((ETHERTYPE_IPV4, offset)) = network_layer(frame.link, &frame.data) {
                if let Some(ip) = frame.data.get(offset..).filter(|b| b.len() >= 20) {
                    out.push((format!("{name} #{}", frame.record), ip.to_vec()));
                }
            }
        }
    }
    out
}

/// Hostile variants of every corpus IPv4 packet (each TCP data offset, each IHL, short
/// captures, lying total lengths): what pnet would read past is guarded and counted, netdiffd
/// must reject exactly those without a panic, and every field read by both still agrees.
#[test]
fn hostile_variants_of_corpus_packets_read_the_same_or_are_rejected() {
    let packets = corpus_ipv4_packets();
    assert!(
        packets.len() >= 10_000,
        "corpus IPv4 packets: {}",
        packets.len()
    );
    let mut o = Oracle::default();
    let variant = |o: &mut Oracle, at: &str, what: &str, data: Vec<u8>| {
        let frame = Frame {
            link: LinkType::Raw,
            data,
            ..Frame::default()
        };
        o.frame(&format!("{at} ({what})"), &frame);
    };
    for (at, ip) in &packets {
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        for h in 0..16u8 {
            let mut v = ip.clone();
            v[0] = 0x40 | h;
            variant(&mut o, at, &format!("IHL {h}"), v);
        }
        for total in [0u16, 19, 21, 0xffff] {
            let mut v = ip.clone();
            v[2..4].copy_from_slice(&total.to_be_bytes());
            variant(&mut o, at, &format!("total length {total}"), v);
        }
        for cut in [4, 8, 12, 19] {
            if ihl + cut < ip.len() {
                variant(&mut o, at, &format!("cut {cut}"), ip[..ihl + cut].to_vec());
            }
        }
        if ip[9] == 6 && ip.len() >= ihl + 20 {
            for off in 0..16u8 {
                let mut v = ip.clone();
                v[ihl + 12] = off << 4 | (v[ihl + 12] & 0x0f);
                variant(&mut o, at, &format!("data offset {off}"), v);
            }
        }
    }
    o.report(&format!(
        "hostile variants of {} corpus packets",
        packets.len()
    ));
    assert!(o.frames >= 500_000, "variants: {}", o.frames);
    assert!(o.ipv4_guarded > 0 && o.l4_guarded_short > 0, "{o:#?}");
    assert!(o.tcp_guarded_short > 0, "{o:#?}");
    assert!(o.tcp_guarded_offset_low > 0, "{o:#?}");
    assert!(o.tcp_guarded_offset_past > 0, "{o:#?}");
    assert!(o.tcp_options_lenient > 0, "{o:#?}");
}

/// What pnet_packet 0.35 does with headers that are not whole, as docs/wire.md tells it: it
/// accepts them without a word, and its mutable views panic where the bytes do not fit.
#[test]
fn pnet_behaviours_docs_wire_md_cites() {
    use pnet_packet::ipv4::MutableIpv4Packet;
    use pnet_packet::tcp::{MutableTcpPacket, TcpOption as PnetOption};
    use std::panic::catch_unwind;

    // A data offset of 4 (16 bytes, less than the fixed header): pnet takes it and reads the
    // payload from byte 20; netdiffd rejects it.
    let mut seg = [0u8; 24];
    seg[12] = 0x40;
    seg[20] = 0xaa;
    let p = pnet_packet::tcp::TcpPacket::new(&seg[..]).expect("pnet takes it");
    assert_eq!(p.get_data_offset(), 4);
    assert!(p.get_options().is_empty());
    assert_eq!(p.payload(), &[0xaa, 0, 0, 0]);
    assert!(TcpPacket::new_checked(&seg[..]).is_err());

    // A data offset of 15 (60 bytes) in a 24-byte segment: pnet's options are the 4 bytes
    // that are there, an MSS option whose claimed length is cut is listed with what remains,
    // the payload is empty and nothing says the header is incomplete.
    let mut seg = [0u8; 24];
    seg[12] = 0xf0;
    seg[20..24].copy_from_slice(&[1, 1, 2, 4]);
    let p = pnet_packet::tcp::TcpPacket::new(&seg[..]).expect("pnet takes it");
    let opts = p.get_options();
    assert_eq!(opts.len(), 3);
    assert_eq!(
        (opts[2].number.0, opts[2].length.as_slice()),
        (2, &[4u8][..])
    );
    assert!(opts[2].data.is_empty(), "an MSS option without its value");
    assert!(p.payload().is_empty());
    assert!(TcpPacket::new_checked(&seg[..]).is_err());
    assert!(tcp::parse_options(&seg[20..]).is_err());

    // pnet reads on past EOL: the padding after it becomes options.
    let mut seg = [0u8; 24];
    seg[12] = 0x60;
    seg[20..24].copy_from_slice(&[0, 2, 4, 5]);
    let p = pnet_packet::tcp::TcpPacket::new(&seg[..]).unwrap();
    assert_eq!(p.get_options().len(), 2);
    assert_eq!(
        tcp::parse_options(&seg[20..]).unwrap(),
        vec![TcpOption::Eol]
    );

    // IPv4: version 6 and an IHL of 3 are taken as they are.
    let mut ip = [0u8; 24];
    ip[0] = 0x63;
    ip[3] = 24;
    let p = pnet_packet::ipv4::Ipv4Packet::new(&ip[..]).expect("pnet takes it");
    assert_eq!((p.get_version(), p.get_header_length()), (6, 3));
    assert_eq!(p.payload().len(), 4);
    assert!(Ipv4Packet::new_checked(&ip[..]).is_err());

    // The mutable views panic when what is written does not fit (the messages the panics
    // print are pnet's: an unwrap of None, `current_offset <= end`, a range out of bounds).
    let options_past_offset = catch_unwind(|| {
        let mut b = [0u8; 24];
        let mut t = MutableTcpPacket::new(&mut b[..]).unwrap();
        t.set_data_offset(5);
        t.set_options(&[PnetOption::mss(1460)]);
    });
    let options_past_buffer = catch_unwind(|| {
        let mut b = [0u8; 20];
        let mut t = MutableTcpPacket::new(&mut b[..]).unwrap();
        t.set_data_offset(6);
        t.set_options(&[PnetOption::mss(1460)]);
    });
    let tcp_payload_past_buffer = catch_unwind(|| {
        let mut b = [0u8; 24];
        let mut t = MutableTcpPacket::new(&mut b[..]).unwrap();
        t.set_data_offset(6);
        t.set_payload(&[1, 2, 3]);
    });
    let ip_payload_past_buffer = catch_unwind(|| {
        let mut b = [0u8; 24];
        let mut p = MutableIpv4Packet::new(&mut b[..]).unwrap();
        p.set_header_length(5);
        p.set_payload(&[1, 2, 3, 4, 5]);
    });
    assert!(
        options_past_offset.is_err(),
        "set_options past the data offset"
    );
    assert!(options_past_buffer.is_err(), "set_options past the buffer");
    assert!(
        tcp_payload_past_buffer.is_err(),
        "TCP set_payload past the buffer"
    );
    assert!(
        ip_payload_past_buffer.is_err(),
        "IPv4 set_payload past the buffer"
    );
}
