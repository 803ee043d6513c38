//! Each rule on small hand-built packets, and correct traffic that must break none.

use super::*;
use crate::capture::{Frame, LinkType};
use crate::wire::checksum::checksum;
use crate::wire::icmp::IcmpPacket;
use crate::wire::ipv4::{field, Ipv4Packet, Ipv4Repr};
use crate::wire::tcp::flags::{ACK, FIN, PSH, RST, SYN, URG};
use crate::wire::tcp::{TcpPacket, TcpRepr};
use crate::wire::udp::UdpPacket;
use crate::wire::IpProtocol;
use std::net::Ipv4Addr;

const C: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const S: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const MSS_WS_SACKOK: [u8; 12] = [2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0];

/// Fills the checksum of the first 20 bytes, whatever the IHL says (tests break it on purpose).
fn fill_ip_checksum(ip: &mut [u8]) {
    ip[field::CHECKSUM].fill(0);
    let c = checksum(&ip[..20]);
    ip[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
}

/// Recomputes the transport checksum of a 20-byte-header IPv4 packet, when it has room for one.
fn fill_l4_checksum(ip: &mut [u8]) {
    let p = Ipv4Packet::new_unchecked(&ip[..]);
    let (src, dst, proto) = (p.src_addr(), p.dst_addr(), p.protocol());
    let seg = &mut ip[20..];
    match proto {
        IpProtocol::Tcp if seg.len() >= 18 => TcpPacket::new_unchecked(seg).fill_checksum(src, dst),
        IpProtocol::Udp if seg.len() >= 8 => UdpPacket::new_unchecked(seg).fill_checksum(src, dst),
        IpProtocol::Icmp if seg.len() >= 4 => IcmpPacket::new_unchecked(seg).fill_checksum(),
        _ => {}
    }
}

fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, ident: u16, l4: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: proto,
        payload_len: l4.len(),
        tos: 0,
        ident,
        dont_frag: true,
        ttl: 64,
    };
    let mut p = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Ipv4Packet::new_unchecked(&mut p[..]));
    p.extend_from_slice(l4);
    fill_l4_checksum(&mut p);
    p
}

/// A TCP segment header (with `opts`, padded by the caller to 4 bytes) and zero payload.
fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, fl: u16, opts: &[u8], len: usize) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq,
        ack,
        flags: fl,
        window: 64240,
        urgent: 0,
        options: opts,
    };
    let mut t = vec![0u8; repr.buffer_len() + len];
    repr.emit(&mut TcpPacket::new_unchecked(&mut t[..]));
    t
}

fn frame(ip: Vec<u8>, ts_ns: u64) -> Frame {
    Frame {
        record: 0,
        ts_ns,
        orig_len: ip.len() as u32,
        link: LinkType::Raw,
        data: ip,
    }
}

/// Builds a well-behaved TCP connection packet by packet: sequence and acknowledgement
/// numbers, IP IDs and times as a correct stack would set them.
struct Conn {
    seq: [u32; 2],
    id: [u16; 2],
    ts: u64,
    frames: Vec<Frame>,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            seq: [1000, 5_000_000],
            id: [100, 7000],
            ts: 1_700_000_000_000_000_000,
            frames: Vec::new(),
        }
    }

    /// Sends from the client (`dir` 0) or the server (1).
    fn send(&mut self, dir: usize, fl: u16, opts: &[u8], len: usize) -> &mut Conn {
        let (src, dst, sp, dp) = if dir == 0 {
            (C, S, 40000, 443)
        } else {
            (S, C, 443, 40000)
        };
        let ack = if fl & ACK != 0 { self.seq[1 - dir] } else { 0 };
        let seg = tcp(sp, dp, self.seq[dir], ack, fl, opts, len);
        self.seq[dir] = self.seq[dir]
            .wrapping_add(len as u32)
            .wrapping_add(u32::from(fl & SYN != 0) + u32::from(fl & FIN != 0));
        let ip = ipv4(src, dst, IpProtocol::Tcp, self.id[dir], &seg);
        self.id[dir] = self.id[dir].wrapping_add(1);
        self.ts += 1_000_000;
        self.frames.push(frame(ip, self.ts));
        self
    }

    fn full() -> Conn {
        let mut c = Conn::new();
        c.send(0, SYN, &MSS_WS_SACKOK, 0)
            .send(1, SYN | ACK, &MSS_WS_SACKOK, 0)
            .send(0, ACK, &[], 0)
            .send(0, ACK | PSH, &[], 300)
            .send(1, ACK, &[], 0)
            .send(1, ACK, &[], 1448)
            .send(1, ACK | PSH, &[], 500)
            .send(0, ACK, &[], 0)
            .send(0, FIN | ACK, &[], 0)
            .send(1, FIN | ACK, &[], 0)
            .send(0, ACK, &[], 0);
        c
    }
}

fn check(frames: &[Frame]) -> CheckReport {
    check_frames(frames, &CheckOptions::default())
}

/// Asserts that `rule` and no other rule is broken, `n` times.
fn only(r: &CheckReport, rule: Rule, n: u64) {
    let broken: Vec<(Rule, u64)> = r.rules.iter().map(|(k, t)| (*k, t.count)).collect();
    assert_eq!(broken, vec![(rule, n)], "{r}");
}

/// Asserts that `rule` and no other error-level rule is broken, `n` times (a packet whose
/// headers cannot be walked leaves a gap in its direction's IP IDs, a warning).
fn only_error(r: &CheckReport, rule: Rule, n: u64) {
    let broken: Vec<(Rule, u64)> = r
        .rules
        .iter()
        .filter(|(k, _)| k.severity() == Severity::Error)
        .map(|(k, t)| (*k, t.count))
        .collect();
    assert_eq!(broken, vec![(rule, n)], "{r}");
}

fn edit(frames: &mut [Frame], i: usize, f: impl FnOnce(&mut Vec<u8>)) {
    f(&mut frames[i].data);
    fill_ip_checksum(&mut frames[i].data);
}

fn edit_l4(frames: &mut [Frame], i: usize, f: impl FnOnce(&mut Vec<u8>)) {
    edit(frames, i, |p| {
        f(p);
        fill_l4_checksum(p);
    });
}

#[test]
fn correct_tcp_connection_breaks_no_rule_even_strict() {
    let c = Conn::full();
    let strict = CheckOptions {
        strict: true,
        ..CheckOptions::default()
    };
    let r = check_frames(&c.frames, &strict);
    assert!(r.rules.is_empty(), "{r}");
    assert_eq!((r.packets_checked, r.flows, r.exit_code()), (11, 1, 0));
}

#[test]
fn correct_udp_and_icmp_break_no_rule() {
    let mut frames = Vec::new();
    for i in 0..4u16 {
        let mut u = vec![0u8; 8 + 20];
        u[0..2].copy_from_slice(&5353u16.to_be_bytes());
        u[2..4].copy_from_slice(&53u16.to_be_bytes());
        u[4..6].copy_from_slice(&28u16.to_be_bytes());
        let (src, dst) = if i % 2 == 0 { (C, S) } else { (S, C) };
        if i % 2 == 1 {
            u.swap(0, 2);
            u.swap(1, 3);
        }
        let ts = 100 + 10 * u64::from(i);
        frames.push(frame(ipv4(src, dst, IpProtocol::Udp, 10 + i / 2, &u), ts));
        let mut m = vec![
            if i % 2 == 0 { 8 } else { 0 },
            0,
            0,
            0,
            0x12,
            0x34,
            0,
            i as u8,
        ];
        m.extend_from_slice(&[0xab; 16]);
        frames.push(frame(
            ipv4(src, dst, IpProtocol::Icmp, 20 + i / 2, &m),
            ts + 5,
        ));
    }
    let r = check(&frames);
    assert!(r.rules.is_empty(), "{r}");
    assert_eq!(r.flows, 2);
}

#[test]
fn ipv4_header_rules() {
    let mut f = Conn::full().frames;
    for i in 0..f.len() {
        edit(&mut f, i, |p| p[8] = 0);
    }
    only(&check(&f), Rule::Ipv4TtlZero, 11);

    let mut f = Conn::full().frames;
    edit(&mut f, 1, |p| p[6] |= 0x80);
    only(&check(&f), Rule::Ipv4ReservedFlag, 1);

    let mut f = Conn::full().frames;
    edit(&mut f, 1, |p| p[6] |= 0x20);
    only(&check(&f), Rule::Ipv4Fragment, 1);

    let mut f = Conn::full().frames;
    f[2].data[11] ^= 1;
    only(&check(&f), Rule::Ipv4Checksum, 1);

    let mut f = Conn::full().frames;
    f[2].data[0] = 0x55;
    only_error(&check(&f), Rule::Ipv4Version, 1);

    let mut f = Conn::full().frames;
    edit(&mut f, 2, |p| p[0] = 0x44);
    only_error(&check(&f), Rule::Ipv4HeaderLength, 1);

    let mut f = Conn::full().frames;
    edit(&mut f, 2, |p| p[0] = 0x4f); // a 60-byte header in a 40-byte packet
    only_error(&check(&f), Rule::Ipv4HeaderLength, 1);

    let mut f = Conn::full().frames;
    edit(&mut f, 2, |p| p[2..4].copy_from_slice(&19u16.to_be_bytes()));
    only_error(&check(&f), Rule::Ipv4TotalLength, 1);

    let mut f = Conn::full().frames;
    edit(&mut f, 2, |p| p[2..4].copy_from_slice(&41u16.to_be_bytes()));
    only_error(&check(&f), Rule::Ipv4TotalLength, 1);
}

#[test]
fn ethernet_padding_is_not_a_length_error_and_snaplen_cuts_are_unverified() {
    let mut f = Conn::full().frames;
    f[2].data.extend_from_slice(&[0; 6]);
    f[2].orig_len += 6;
    assert!(check(&f).rules.is_empty());

    let mut f = Conn::full().frames;
    f[3].data.truncate(60);
    let r = check(&f);
    assert!(r.rules.is_empty(), "{r}");
    assert_eq!(r.checksums_unverified, 1);

    let mut f = Conn::full().frames;
    f[3].data.truncate(10);
    let r = check(&f);
    assert_eq!(r.skipped.get(crate::capture::SkipReason::Truncated), 1);
    assert_eq!(r.packets_checked, 10);
}

#[test]
fn tcp_header_rules() {
    let mut f = Conn::full().frames;
    edit(&mut f, 2, |p| p[32] = 0x40);
    only_error(&check(&f), Rule::TcpDataOffset, 1);

    let mut f = Conn::full().frames;
    edit(&mut f, 2, |p| p[32] = 0x60); // 24-byte header in a 20-byte segment
    only_error(&check(&f), Rule::TcpDataOffset, 1);

    let mut f = Conn::full().frames;
    edit_l4(&mut f, 2, |p| p[32] |= 0x02);
    only(&check(&f), Rule::TcpReservedBits, 1);

    let mut f = Conn::full().frames;
    edit_l4(&mut f, 3, |p| p[39] = 1);
    only(&check(&f), Rule::TcpUrgentPointer, 1);
    let mut f = Conn::full().frames;
    edit_l4(&mut f, 3, |p| {
        p[39] = 1;
        p[33] |= URG as u8;
    });
    assert!(check(&f).rules.is_empty());

    let mut f = Conn::full().frames;
    f[3].data[37] ^= 0x10;
    only(&check(&f), Rule::TcpChecksum, 1);
}

#[test]
fn tcp_flag_combinations() {
    for extra in [FIN, RST] {
        let mut f = Conn::full().frames;
        edit_l4(&mut f, 0, |p| p[33] |= extra as u8);
        let r = check(&f);
        assert_eq!(r.count(Rule::TcpFlagCombination), 1, "{r}");
    }
}

/// A connection whose SYN carries `opts` (and whose later packet 3 carries `late`).
fn with_options(syn_opts: &[u8], late: &[u8]) -> Vec<Frame> {
    let mut c = Conn::new();
    c.send(0, SYN, syn_opts, 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, ACK, late, 0)
        .send(0, FIN | ACK, &[], 0)
        .send(1, FIN | ACK, &[], 0)
        .send(0, ACK, &[], 0);
    c.frames
}

#[test]
fn tcp_option_rules() {
    // SACK whose length runs past the options.
    only(
        &check(&with_options(&[5, 10, 0, 0, 1, 1, 1, 1], &[])),
        Rule::TcpOptions,
        1,
    );
    // Window scale of length 4; echo option (kind 6) of length 4.
    only(
        &check(&with_options(&[3, 4, 7, 0], &[])),
        Rule::TcpOptions,
        1,
    );
    only(
        &check(&with_options(&[6, 4, 0, 0], &[])),
        Rule::TcpOptions,
        1,
    );
    // Unknown kinds of any length are fine; so is zero padding after EOL.
    assert!(check(&with_options(&[99, 4, 1, 2, 0, 0, 0, 0], &[]))
        .rules
        .is_empty());
    only(
        &check(&with_options(&[1, 0, 0, 5], &[])),
        Rule::TcpOptionPadding,
        1,
    );
    only(
        &check(&with_options(&[1, 3, 3, 15], &[])),
        Rule::TcpWindowScale,
        1,
    );
    assert!(check(&with_options(&[1, 3, 3, 14], &[])).rules.is_empty());
    for late in [[2, 4, 5, 0xb4], [1, 3, 3, 7], [4, 2, 1, 1]] {
        only(&check(&with_options(&[], &late)), Rule::TcpSynOnlyOption, 1);
    }
    // Timestamps and SACK blocks belong on any segment.
    let ts = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0];
    assert!(check(&with_options(&ts, &ts)).rules.is_empty());
}

fn udp_frame(udp_len: u16, payload: usize) -> Frame {
    let mut u = vec![0u8; 8 + payload];
    u[0..2].copy_from_slice(&5353u16.to_be_bytes());
    u[2..4].copy_from_slice(&53u16.to_be_bytes());
    u[4..6].copy_from_slice(&udp_len.to_be_bytes());
    frame(ipv4(C, S, IpProtocol::Udp, 1, &u), 1)
}

#[test]
fn udp_rules() {
    assert!(check(&[udp_frame(12, 4)]).rules.is_empty());
    assert_eq!(check(&[udp_frame(10, 4)]).count(Rule::UdpLength), 1);
    let mut f = udp_frame(12, 4);
    f.data[26] ^= 0x01;
    only(&check(&[f]), Rule::UdpChecksum, 1);
    let mut f = udp_frame(12, 4);
    f.data[26] = 0;
    f.data[27] = 0;
    assert!(check(&[f]).rules.is_empty(), "checksum 0 means none");
    let mut short = ipv4(C, S, IpProtocol::Udp, 1, &[0, 53, 0, 53, 0]);
    fill_ip_checksum(&mut short);
    only(&check(&[frame(short, 1)]), Rule::UdpLength, 1);
}

fn icmp_frame(ty: u8, code: u8, ident: u16) -> Frame {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&ident.to_be_bytes());
    m.extend_from_slice(&[0, 1, 9, 9, 9]);
    frame(ipv4(C, S, IpProtocol::Icmp, 1, &m), 1)
}

#[test]
fn icmp_rules() {
    for (t, c) in [(8, 0), (0, 0), (3, 3), (3, 15), (11, 0), (11, 1), (12, 0)] {
        assert!(check(&[icmp_frame(t, c, 7)]).rules.is_empty(), "{t}/{c}");
    }
    for (t, c) in [(8, 1), (3, 16), (11, 2), (4, 0), (17, 0), (42, 0)] {
        only(&check(&[icmp_frame(t, c, 7)]), Rule::IcmpTypeCode, 1);
    }
    let mut f = icmp_frame(8, 0, 7);
    f.data[22] ^= 0xff;
    only(&check(&[f]), Rule::IcmpChecksum, 1);
    let mut short = ipv4(C, S, IpProtocol::Icmp, 1, &[8, 0, 0, 0]);
    fill_ip_checksum(&mut short);
    only(&check(&[frame(short, 1)]), Rule::IcmpLength, 1);

    let mut two = vec![icmp_frame(8, 0, 7), icmp_frame(8, 0, 8)];
    edit(&mut two, 1, |p| {
        p[4..6].copy_from_slice(&2u16.to_be_bytes())
    });
    two[1].ts_ns = 2;
    only(&check(&two), Rule::IcmpEchoIdentChanged, 1);
}

#[test]
fn timestamp_rules() {
    let mut f = Conn::full().frames;
    for fr in &mut f {
        fr.ts_ns = 0;
    }
    only(&check(&f), Rule::TimestampsZero, 1);
    let mut f = Conn::full().frames;
    f.swap(4, 5);
    let r = check(&f);
    assert_eq!(r.count(Rule::TimestampDecreasing), 1, "{r}");
}

#[test]
fn ttl_and_ip_id_are_warnings() {
    let mut f = Conn::full().frames;
    edit(&mut f, 3, |p| p[8] = 63);
    let r = check(&f);
    only(&r, Rule::TtlChanged, 2); // changed, then changed back
    assert_eq!(r.exit_code(), 0);
    let mut f = Conn::full().frames;
    edit(&mut f, 3, |p| p[4..6].copy_from_slice(&9u16.to_be_bytes()));
    let r = check(&f);
    only(&r, Rule::IpIdNotIncrementing, 2);
    let strict = CheckOptions {
        strict: true,
        ..CheckOptions::default()
    };
    assert_eq!(check_frames(&f, &strict).exit_code(), 1);
}

/// Sets the sequence (`seq`) or acknowledgement number of packet `i`.
fn set_num(f: &mut [Frame], i: usize, at: usize, v: u32) {
    edit_l4(f, i, |p| {
        p[20 + at..24 + at].copy_from_slice(&v.to_be_bytes())
    });
}

fn num(f: &[Frame], i: usize, at: usize) -> u32 {
    let d = &f[i].data[20 + at..24 + at];
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

#[test]
fn syn_and_fin_must_consume_sequence_space() {
    // The client's handshake ACK reuses the SYN's sequence number.
    let mut f = Conn::full().frames;
    let isn = num(&f, 0, 4);
    set_num(&mut f, 2, 4, isn);
    let r = check(&f);
    assert_eq!(r.count(Rule::TcpSynFinSequence), 1, "{r}");
    // The last ACK of the client after its FIN reuses the FIN's number.
    let mut f = Conn::full().frames;
    let fin_seq = num(&f, 8, 4);
    set_num(&mut f, 10, 4, fin_seq);
    let r = check(&f);
    assert_eq!(r.count(Rule::TcpSynFinSequence), 1, "{r}");
    // A retransmitted SYN is not a violation.
    let mut f = Conn::full().frames;
    let again = f[0].clone();
    f.insert(1, again);
    f[1].ts_ns += 1;
    let r = check(&f);
    assert_eq!(r.count(Rule::TcpSynFinSequence), 0, "{r}");
    assert_eq!(r.count(Rule::TcpUnexpectedSyn), 0, "{r}");
    assert_eq!(r.count(Rule::IpIdNotIncrementing), 1, "{r}");
}

#[test]
fn acks_are_checked_against_what_the_peer_sent() {
    // SYN-ACK acknowledging the ISN itself.
    let mut f = Conn::full().frames;
    let isn = num(&f, 0, 4);
    set_num(&mut f, 1, 8, isn);
    only(&check(&f), Rule::TcpSynFinNotAcked, 1);
    // ACK beyond the client's data.
    let mut f = Conn::full().frames;
    let a = num(&f, 4, 8);
    set_num(&mut f, 4, 8, a + 1);
    only(&check(&f), Rule::TcpAckBeyondSent, 1);
    // ACK pointing at the start of the client's last segment (a warning).
    let mut f = Conn::full().frames;
    let start = num(&f, 3, 4);
    set_num(&mut f, 4, 8, start);
    let r = check(&f);
    only(&r, Rule::TcpAckStale, 1);
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn unexpected_syn_rst_and_close_rules() {
    // A SYN-ACK in the middle of the data.
    let mut f = Conn::full().frames;
    edit_l4(&mut f, 4, |p| p[33] |= SYN as u8);
    let r = check(&f);
    assert_eq!(r.count(Rule::TcpUnexpectedSyn), 1, "{r}");

    // Data after a RST from the same side; the other side may still send.
    let mut c = Conn::new();
    c.send(0, SYN, &[], 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, ACK, &[], 0)
        .send(1, RST | ACK, &[], 0)
        .send(0, ACK | PSH, &[], 10)
        .send(1, ACK, &[], 0);
    only(&check(&c.frames), Rule::TcpPacketAfterRst, 1);

    // Data after the FIN of the same side.
    let mut c = Conn::new();
    c.send(0, SYN, &[], 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, FIN | ACK, &[], 0)
        .send(0, ACK | PSH, &[], 10);
    let r = check(&c.frames);
    assert_eq!(r.count(Rule::TcpDataAfterFin), 1, "{r}");

    // After the final ACK: a repeat of it is fine, new data is not, a RST is the answer.
    let mut c = Conn::full();
    c.send(0, ACK, &[], 0);
    assert!(check(&c.frames).rules.is_empty());
    c.send(1, ACK | PSH, &[], 5);
    let r = check(&c.frames);
    assert_eq!(r.count(Rule::TcpPacketAfterClose), 1, "{r}");
    assert_eq!(r.count(Rule::TcpDataAfterFin), 1, "{r}");
}

#[test]
fn a_new_connection_on_the_same_ports_after_close_is_a_new_flow() {
    let mut f = Conn::full().frames;
    let mut second = Conn::full().frames;
    for s in &mut second {
        s.ts_ns += 1_000_000_000;
        // New ISNs and IP IDs continue as a real stack's would.
        edit_l4(std::slice::from_mut(s), 0, |p| {
            let seq = u32::from_be_bytes([p[24], p[25], p[26], p[27]]).wrapping_add(77_777);
            p[24..28].copy_from_slice(&seq.to_be_bytes());
            if p[33] & ACK as u8 != 0 {
                let ack = u32::from_be_bytes([p[28], p[29], p[30], p[31]]).wrapping_add(77_777);
                p[28..32].copy_from_slice(&ack.to_be_bytes());
            }
        });
    }
    f.extend(second);
    let r = check(&f);
    assert_eq!(r.flows, 2);
    assert!(r.rules.is_empty(), "{r}");
}

#[test]
fn reports_keep_examples_and_json_lists_every_rule() {
    let mut f = Conn::full().frames;
    for fr in &mut f {
        fr.data[11] ^= 1;
    }
    let opts = CheckOptions {
        max_examples: 3,
        ..CheckOptions::default()
    };
    let r = check_frames(&f, &opts);
    let t = &r.rules[&Rule::Ipv4Checksum];
    assert_eq!((t.count, t.examples.len()), (11, 3));
    assert_eq!(t.examples[1].record, 2);
    assert!(t.examples[0]
        .flow
        .contains("10.0.0.1:40000 -> 10.0.0.2:443"));
    let j = r.to_json();
    assert_eq!(
        j["rules"].as_object().map(|m| m.len()),
        Some(Rule::ALL.len())
    );
    assert_eq!(j["rules"]["ipv4-checksum"]["count"], 11);
    assert_eq!(j["passed"], false);
    assert!(r.to_string().contains("ipv4-checksum"));
}

#[test]
fn no_panic_on_arbitrary_bytes() {
    let mut x: u32 = 12345;
    let mut frames = Vec::new();
    for n in 0..2000 {
        let mut d = Vec::new();
        for _ in 0..(n % 90) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            d.push(x as u8);
        }
        if n % 3 == 0 && !d.is_empty() {
            d[0] = 0x40 | (d[0] & 0x0f);
        }
        frames.push(Frame {
            record: 0,
            ts_ns: u64::from(x % 7),
            orig_len: d.len() as u32 + (x % 2),
            link: LinkType::Raw,
            data: d,
        });
    }
    let r = check(&frames);
    assert_eq!(r.frames, 2000);
}

/// Fills the TCP payload of packet `i` (20-byte IPv4 header) with `byte(k)` for its k-th byte.
fn set_payload(f: &mut [Frame], i: usize, byte: impl Fn(usize) -> u8) {
    edit_l4(f, i, |p| {
        let at = 20 + usize::from(p[32] >> 4) * 4;
        for (k, b) in p[at..].iter_mut().enumerate() {
            *b = byte(k);
        }
    });
}

/// Appends a copy of packet `i`, a millisecond after the last packet, edited by `f`.
fn resend(f: &mut Vec<Frame>, i: usize, edit_payload: impl Fn(usize) -> Option<u8>) {
    let mut copy = f[i].clone();
    copy.ts_ns = f.last().map_or(0, |l| l.ts_ns) + 1_000_000;
    f.push(copy);
    let last = f.len() - 1;
    let orig = f[i].data.clone();
    set_payload(f, last, |k| {
        let at = 20 + usize::from(orig[32] >> 4) * 4;
        edit_payload(k).unwrap_or(orig[at + k])
    });
}

/// The full connection with non-zero payload bytes that differ from segment to segment.
fn conn_with_payload() -> Vec<Frame> {
    let mut f = Conn::full().frames;
    for i in [3, 5, 6] {
        set_payload(&mut f, i, |k| (k * 7 + i) as u8 | 1);
    }
    f
}

/// The error-level rules broken, with their counts.
fn errors(r: &CheckReport) -> Vec<(Rule, u64)> {
    r.rules
        .iter()
        .filter(|(k, _)| k.severity() == Severity::Error)
        .map(|(k, t)| (*k, t.count))
        .collect()
}

#[test]
fn retransmissions_with_the_same_bytes_break_no_error_rule() {
    let mut f = conn_with_payload();
    assert!(check(&f).rules.is_empty(), "{}", check(&f));
    // The server's 1448-byte segment again, then the client's first data segment again (a
    // retransmission repeats an old IP ID and ACK: warnings only).
    resend(&mut f, 5, |_| None);
    resend(&mut f, 3, |_| None);
    let r = check(&f);
    assert_eq!(errors(&r), vec![], "{r}");
}

#[test]
fn a_retransmission_with_other_bytes_is_a_conflicting_overlap() {
    let mut f = conn_with_payload();
    resend(&mut f, 5, |k| (k == 1000).then_some(0));
    resend(&mut f, 6, |k| (k < 3).then_some(0));
    let r = check(&f);
    assert_eq!(errors(&r), vec![(Rule::TcpConflictingOverlap, 2)], "{r}");
    let ex = &r.rules[&Rule::TcpConflictingOverlap].examples;
    assert_eq!((ex[0].record, ex[1].record), (12, 13));
    let server_data = num(&f, 5, 4);
    assert_eq!(
        ex[0].detail,
        format!(
            "1 of 1448 bytes overlapping data sent before differ, the first at seq {}",
            server_data + 1000
        )
    );
    assert!(
        ex[1].detail.starts_with("3 of 500 bytes"),
        "{}",
        ex[1].detail
    );
    // The first bytes sent stay the reference: a third copy equal to the first is fine.
    resend(&mut f, 5, |_| None);
    assert_eq!(check(&f).count(Rule::TcpConflictingOverlap), 2);
}

#[test]
fn a_segment_straddling_old_and_new_data_is_compared_where_it_overlaps() {
    // The client re-sends the last 100 bytes of its first segment with 50 new ones: equal
    // where they overlap, so fine; the same with one overlapping byte changed is not.
    for (changed, want) in [(None, 0), (Some(10), 1)] {
        let mut c = Conn::new();
        c.send(0, SYN, &[], 0)
            .send(1, SYN | ACK, &[], 0)
            .send(0, ACK, &[], 0)
            .send(0, ACK | PSH, &[], 300);
        set_payload(&mut c.frames, 3, |k| k as u8);
        c.seq[0] = c.seq[0].wrapping_sub(100);
        c.send(0, ACK | PSH, &[], 150);
        set_payload(&mut c.frames, 4, |k| {
            if Some(k) == changed {
                0xff
            } else {
                (200 + k) as u8
            }
        });
        let r = check(&c.frames);
        assert_eq!(r.count(Rule::TcpConflictingOverlap), want, "{r}");
    }
}

#[test]
fn bytes_the_capture_cut_off_are_not_compared() {
    // The retransmission differs only in its last byte, which the capture cut off.
    let mut f = conn_with_payload();
    resend(&mut f, 6, |k| (k == 499).then_some(0));
    let last = f.len() - 1;
    let len = f[last].data.len();
    f[last].data.truncate(len - 1);
    let r = check(&f);
    assert_eq!(r.count(Rule::TcpConflictingOverlap), 0, "{r}");
    assert_eq!(r.checksums_unverified, 1);
    // Cut the original instead: the changed byte was never seen, so it is the reference now.
    let mut f = conn_with_payload();
    let len = f[6].data.len();
    f[6].data.truncate(len - 1);
    resend(&mut f, 6, |_| None);
    let last = f.len() - 1;
    // ... and the copy complete, with another last byte.
    f[last].data.push(0);
    edit_l4(&mut f, last, |_| {});
    let r = check(&f);
    assert_eq!(r.count(Rule::TcpConflictingOverlap), 0, "{r}");
}

#[test]
fn overlaps_are_found_across_the_sequence_number_wrap() {
    let mut c = Conn::new();
    c.seq[0] = u32::MAX - 200;
    c.send(0, SYN, &[], 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, ACK, &[], 0)
        .send(0, ACK | PSH, &[], 400);
    set_payload(&mut c.frames, 3, |k| (k % 251) as u8);
    let start = num(&c.frames, 3, 4);
    assert!(start.checked_add(400).is_none(), "the segment wraps");
    // 300 bytes from 50 bytes in: the byte at sequence number 20 (after the wrap) differs.
    c.seq[0] = start.wrapping_add(50);
    c.send(0, ACK | PSH, &[], 300);
    let at_20 = 20u32.wrapping_sub(start.wrapping_add(50)) as usize;
    set_payload(&mut c.frames, 4, |k| {
        if k == at_20 {
            0xee
        } else {
            ((k + 50) % 251) as u8
        }
    });
    let r = check(&c.frames);
    assert_eq!(errors(&r), vec![(Rule::TcpConflictingOverlap, 1)], "{r}");
    let ex = &r.rules[&Rule::TcpConflictingOverlap].examples[0];
    assert!(ex.detail.ends_with("the first at seq 20"), "{}", ex.detail);
}

#[test]
fn keep_alives_rst_payloads_and_syn_data_are_not_conflicts() {
    // A keep-alive probe: one garbage byte at the sequence number before the next.
    let mut c = Conn::new();
    c.send(0, SYN, &[], 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, ACK, &[], 0)
        .send(0, ACK | PSH, &[], 10)
        .send(1, ACK, &[], 0);
    set_payload(&mut c.frames, 3, |_| 0x55);
    c.seq[0] = c.seq[0].wrapping_sub(1);
    c.send(0, ACK, &[], 1);
    let r = check(&c.frames);
    assert_eq!(r.count(Rule::TcpConflictingOverlap), 0, "{r}");
    // The same byte as a real retransmission (one byte at an older position) conflicts.
    let mut c2 = Conn::new();
    c2.send(0, SYN, &[], 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, ACK, &[], 0)
        .send(0, ACK | PSH, &[], 10)
        .send(1, ACK, &[], 0);
    set_payload(&mut c2.frames, 3, |_| 0x55);
    c2.seq[0] = c2.seq[0].wrapping_sub(2);
    c2.send(0, ACK, &[], 1);
    assert_eq!(check(&c2.frames).count(Rule::TcpConflictingOverlap), 1);

    // A RST carrying diagnostic text over sequence space already sent.
    let mut c = Conn::new();
    c.send(0, SYN, &[], 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, ACK, &[], 0)
        .send(0, ACK | PSH, &[], 10);
    set_payload(&mut c.frames, 3, |_| 0x55);
    c.seq[0] = c.seq[0].wrapping_sub(10);
    c.send(0, RST | ACK, &[], 10);
    assert_eq!(check(&c.frames).count(Rule::TcpConflictingOverlap), 0);

    // SYN data sits after the SYN's own sequence number: a retransmission of it as a plain
    // segment at ISN + 1 matches, one at the ISN does not.
    for (shift, want) in [(1u32, 0), (0, 1)] {
        let mut c = Conn::new();
        c.send(0, SYN, &[], 20);
        set_payload(&mut c.frames, 0, |k| k as u8 + 1);
        let isn = num(&c.frames, 0, 4);
        c.send(1, SYN | ACK, &[], 0);
        c.seq[0] = isn.wrapping_add(shift);
        c.send(0, ACK | PSH, &[], 20);
        set_payload(&mut c.frames, 2, |k| k as u8 + 1);
        let r = check(&c.frames);
        assert_eq!(r.count(Rule::TcpConflictingOverlap), want, "{r}");
    }
}

#[test]
fn a_segment_beyond_the_peers_mss_is_a_warning() {
    // The client offers an MSS of 1,000; the server offers none, so the client may send 536
    // bytes a segment (RFC 9293 3.7.1). A segment's TCP options come out of the MSS.
    const MSS_1000: [u8; 4] = [2, 4, 0x03, 0xe8];
    const TWELVE_NOPS: [u8; 12] = [1; 12];
    let mut c = Conn::new();
    c.send(0, SYN, &MSS_1000, 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, ACK, &[], 0)
        .send(1, ACK, &[], 1000)
        .send(1, ACK, &TWELVE_NOPS, 988)
        .send(1, ACK, &TWELVE_NOPS, 989)
        .send(0, ACK, &[], 536)
        .send(0, ACK | PSH, &[], 537);
    let r = check(&c.frames);
    only(&r, Rule::TcpExceedsMss, 2);
    assert_eq!(Rule::TcpExceedsMss.severity(), Severity::Warning);
    let ex = &r.rules[&Rule::TcpExceedsMss].examples;
    assert_eq!((ex[0].record, ex[1].record), (6, 8));
    assert_eq!(
        ex[0].detail,
        "989 bytes of data and 12 of options, the peer's SYN offered an MSS of 1000"
    );
    assert!(ex[1].detail.ends_with("an MSS of 536"), "{}", ex[1].detail);
}

#[test]
fn a_syn_whose_options_the_capture_cut_offers_no_known_mss() {
    const MSS_1000: [u8; 4] = [2, 4, 0x03, 0xe8];
    let mut c = Conn::new();
    c.send(0, SYN, &MSS_1000, 0)
        .send(1, SYN | ACK, &[], 0)
        .send(0, ACK, &[], 0)
        .send(1, ACK, &[], 1200);
    assert_eq!(check(&c.frames).count(Rule::TcpExceedsMss), 1);
    // The capture kept the SYN's IPv4 and TCP headers but not its options.
    c.frames[0].data.truncate(40);
    let r = check(&c.frames);
    assert_eq!(r.count(Rule::TcpExceedsMss), 0, "{r}");
}
