//! Community ID v1 flow hashes (corelight/community-id-spec), for IPv4 flows: the identifier
//! Zeek, Suricata, Wireshark and most flow tools attach to a flow, so that generated flows can
//! be matched against those tools' logs.
//!
//! The hash is SHA-1 over: the 2-byte seed, the source and destination addresses, the protocol
//! byte, one zero pad byte and, for protocols with ports (TCP, UDP, SCTP, ICMP, ICMPv6), the
//! source and destination ports, all in network order. The endpoints are ordered so that the
//! smaller (address, port) comes first, which makes both directions of a flow hash alike. ICMP
//! has no ports: its type stands in for the source port and its code for the destination port,
//! except that for request/reply types (echo, timestamp, information, router solicitation and
//! advertisement, address mask) the destination "port" is the counterpart type, so that request
//! and reply share one id. Other ICMP messages are one-way: their endpoints are never reordered.
//! The digest is written in base64 after the version prefix `1:`.

use crate::wire::IpProtocol;
use sha1::{Digest, Sha1};
use std::net::Ipv4Addr;

/// IP protocols whose Community ID covers the ports (ICMP and ICMPv6 with their port
/// equivalents), as the spec lists them.
const PORT_PROTOS: [IpProtocol; 5] = [
    IpProtocol::Icmp,
    IpProtocol::Tcp,
    IpProtocol::Udp,
    IpProtocol::Icmpv6,
    IpProtocol::Sctp,
];

/// ICMP request/reply type pairs (Zeek's mapping, which the spec adopts).
const ICMP_PAIRS: [(u8, u8); 5] = [(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)];
/// ICMPv6 request/reply type pairs.
const ICMP6_PAIRS: [(u8, u8); 6] = [
    (128, 129),
    (130, 131),
    (133, 134),
    (135, 136),
    (139, 140),
    (144, 145),
];

/// One flow's identity as Community ID v1 sees it (IPv4; TCP, UDP, ICMP and SCTP with ports,
/// others hashed without ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommunityIdInput {
    /// IP protocol.
    pub proto: IpProtocol,
    /// Source address of the packet (or of the flow's client).
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port (ICMP: the message type).
    pub src_port: u16,
    /// Destination port (ICMP: the message code).
    pub dst_port: u16,
}

impl CommunityIdInput {
    /// An ICMP packet from `src` to `dst` with message `icmp_type` and `icmp_code`.
    pub fn icmp(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, icmp_code: u8) -> Self {
        CommunityIdInput {
            proto: IpProtocol::Icmp,
            src,
            dst,
            src_port: icmp_type.into(),
            dst_port: icmp_code.into(),
        }
    }

    /// A packet of protocol `proto` (TCP, UDP, SCTP; any other protocol's ports are ignored)
    /// from `src`:`sport` to `dst`:`dport`.
    pub fn transport(
        proto: IpProtocol,
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        dport: u16,
    ) -> Self {
        CommunityIdInput {
            proto,
            src,
            dst,
            src_port: sport,
            dst_port: dport,
        }
    }
}

/// The counterpart type of an ICMP (or ICMPv6) request/reply type, if it has one.
fn icmp_counterpart(pairs: &[(u8, u8)], msg_type: u16) -> Option<u16> {
    pairs.iter().find_map(|&(a, b)| match msg_type {
        t if t == u16::from(a) => Some(u16::from(b)),
        t if t == u16::from(b) => Some(u16::from(a)),
        _ => None,
    })
}

/// The `1:…` base64 Community ID with seed `seed` (0 = the default everyone uses).
pub fn community_id(input: &CommunityIdInput, seed: u16) -> String {
    let has_ports = PORT_PROTOS.contains(&input.proto);
    let (mut sport, mut dport, mut one_way) = (input.src_port, input.dst_port, false);
    let pairs: &[(u8, u8)] = match input.proto {
        IpProtocol::Icmp => &ICMP_PAIRS,
        IpProtocol::Icmpv6 => &ICMP6_PAIRS,
        _ => &[],
    };
    if matches!(input.proto, IpProtocol::Icmp | IpProtocol::Icmpv6) {
        match icmp_counterpart(pairs, sport) {
            Some(other) => dport = other,
            None => one_way = true,
        }
    }
    let (mut src, mut dst) = (input.src, input.dst);
    let ordered = one_way || src < dst || (src == dst && has_ports && sport < dport);
    if !ordered {
        std::mem::swap(&mut src, &mut dst);
        std::mem::swap(&mut sport, &mut dport);
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(src.octets());
    h.update(dst.octets());
    h.update([input.proto.into(), 0]);
    if has_ports {
        h.update(sport.to_be_bytes());
        h.update(dport.to_be_bytes());
    }
    format!("1:{}", base64(&h.finalize()))
}

/// Standard base64 (RFC 4648 alphabet, `=` padding).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// The IPv4 cases of the spec repository's baseline (baseline/baseline_deflt.json and
    /// baseline_seed1.json): proto, source, destination, ports, id with seed 0, id with seed 1.
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    const BASELINE: &[(u8, &str, &str, Option<(u16, u16)>, &str, &str)] = &[
        (1, "192.168.0.89", "192.168.0.1", Some((8, 0)), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
        (1, "192.168.0.1", "192.168.0.89", Some((0, 8)), "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
        (1, "10.0.0.1", "10.0.0.2", Some((11, 0)), "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20="),
        (132, "192.168.170.8", "192.168.170.56", Some((7, 7)), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="),
        (132, "192.168.170.56", "192.168.170.8", Some((7, 7)), "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="),
        (6, "128.232.110.120", "66.35.250.204", Some((34855, 80)), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
        (6, "66.35.250.204", "128.232.110.120", Some((80, 34855)), "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
        (17, "192.168.1.52", "8.8.8.8", Some((54585, 53)), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
        (17, "8.8.8.8", "192.168.1.52", Some((53, 54585)), "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
        (46, "10.1.12.1", "10.1.12.2", None, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="),
        (46, "10.1.12.2", "10.1.12.1", None, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=", "1:rYir8gphR31noO9iDRQmF/BteEI="),
    ];

    #[test]
    fn community_id_spec_baseline() {
        for &(proto, src, dst, ports, seed0, seed1) in BASELINE {
            let input = match (proto, ports) {
                (1, Some((t, c))) => CommunityIdInput::icmp(ip(src), ip(dst), t as u8, c as u8),
                (_, p) => {
                    let (sp, dp) = p.unwrap_or((0, 0));
                    CommunityIdInput::transport(proto.into(), ip(src), sp, ip(dst), dp)
                }
            };
            assert_eq!(community_id(&input, 0), seed0, "{input:?} seed 0");
            assert_eq!(community_id(&input, 1), seed1, "{input:?} seed 1");
        }
    }

    #[test]
    fn community_id_ignores_ports_of_portless_protocols() {
        let a = CommunityIdInput::transport(
            IpProtocol::from(46),
            ip("10.1.12.1"),
            1234,
            ip("10.1.12.2"),
            80,
        );
        assert_eq!(community_id(&a, 0), "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=");
    }

    #[test]
    fn community_id_icmp_request_reply_pairs_share_an_id() {
        let (a, b) = (ip("192.0.2.7"), ip("198.51.100.3"));
        for (req, rep) in ICMP_PAIRS {
            let fwd = community_id(&CommunityIdInput::icmp(a, b, req, 0), 0);
            let back = community_id(&CommunityIdInput::icmp(b, a, rep, 0), 0);
            assert_eq!(fwd, back, "ICMP types {req}/{rep}");
            // The code does not matter for paired types (the counterpart type replaces it).
            assert_eq!(fwd, community_id(&CommunityIdInput::icmp(a, b, req, 5), 0));
        }
        // One-way messages keep their direction: the reversed tuple is another id.
        let unreach = community_id(&CommunityIdInput::icmp(b, a, 3, 1), 0);
        assert_ne!(
            unreach,
            community_id(&CommunityIdInput::icmp(a, b, 3, 1), 0)
        );
    }

    #[test]
    fn community_id_orders_same_address_by_port() {
        let a = ip("127.0.0.1");
        let x = community_id(
            &CommunityIdInput::transport(IpProtocol::Tcp, a, 40000, a, 80),
            0,
        );
        let y = community_id(
            &CommunityIdInput::transport(IpProtocol::Tcp, a, 80, a, 40000),
            0,
        );
        assert_eq!(x, y);
    }

    #[test]
    fn community_id_base64_matches_rfc4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0xfd, 0x00]), "//79AA==");
    }
}
