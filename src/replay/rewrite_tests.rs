use super::*;
use crate::wire::ipv4::Ipv4Repr;
use crate::wire::tcp::TcpRepr;
use crate::wire::udp::UdpRepr;

/// An Ethernet frame holding a TCP or UDP packet with a short payload, checksums correct.
fn frame(proto: IpProtocol, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let payload = b"hello, test bed";
    let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
    let tcp = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq: 0,
        ack: 0,
        flags: 0,
        window: 0,
        urgent: 0,
        options: &[],
    };
    let udp = UdpRepr {
        src_port: sport,
        dst_port: dport,
        payload_len: payload.len(),
    };
    let l4_len = if proto == IpProtocol::Tcp {
        tcp.buffer_len()
    } else {
        udp.buffer_len()
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: proto,
        payload_len: l4_len + payload.len(),
        tos: 0,
        ident: 7,
        dont_frag: true,
        ttl: 64,
    };
    let mut p = vec![0u8; ip.buffer_len() + ip.payload_len];
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut p[..]));
    let seg = &mut p[ip.buffer_len()..];
    seg[l4_len..].copy_from_slice(payload);
    if proto == IpProtocol::Tcp {
        let mut t = TcpPacket::new_unchecked(seg);
        tcp.emit(&mut t);
        t.fill_checksum(src, dst);
    } else {
        let mut u = UdpPacket::new_unchecked(seg);
        udp.emit(&mut u);
        u.fill_checksum(src, dst);
    }
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&p);
    f
}

fn assert_checksums_valid(f: &[u8]) {
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        checksum::verify_v4(ip.src_addr(), ip.dst_addr(), ip.protocol(), ip.payload()),
        0
    );
}

fn cfg() -> RewriteConfig {
    RewriteConfig::default()
}

#[test]
fn pnat_keeps_host_bits_and_fixes_checksums() {
    let mut c = cfg();
    c.pnat = vec!["10.0.0.0/8:198.18.0.0/16".parse().unwrap()];
    let mut rw = Rewriter::new(c);
    for proto in [IpProtocol::Tcp, IpProtocol::Udp] {
        let mut f = frame(proto, [10, 1, 2, 3], [8, 8, 8, 8], 1234, 53);
        rw.apply(&mut f, true, 0);
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.src_addr(), Ipv4Addr::new(198, 18, 2, 3));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(8, 8, 8, 8));
        assert_checksums_valid(&f);
    }
}

#[test]
fn ports_ttl_and_unique_ip_per_loop() {
    let mut c = cfg();
    c.pnat = vec!["10.0.0.0/8:198.18.0.0/24".parse().unwrap()];
    c.portmap = vec!["53:5353".parse().unwrap()];
    c.ttl = Some("-10".parse().unwrap());
    c.unique_ip = true;
    let mut rw = Rewriter::new(c);
    let mut f = frame(IpProtocol::Udp, [10, 0, 0, 255], [192, 0, 2, 9], 53, 40000);
    rw.apply(&mut f, true, 3);
    let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
    // Inside the mapped /24 the loop number wraps in the host part; outside it is added.
    assert_eq!(ip.src_addr(), Ipv4Addr::new(198, 18, 0, 2));
    assert_eq!(ip.dst_addr(), Ipv4Addr::new(192, 0, 2, 12));
    assert_eq!(ip.ttl(), 54);
    let u = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((u.src_port(), u.dst_port()), (5353, 40000));
    assert_checksums_valid(&f);
}

#[test]
fn macs_follow_flow_direction() {
    let mut c = cfg();
    c.smac = Some("02:00:00:00:00:aa,02:00:00:00:00:bb".parse().unwrap());
    c.dmac = Some("02:00:00:00:00:bb,02:00:00:00:00:aa".parse().unwrap());
    let mut rw = Rewriter::new(c);
    let mut req = frame(IpProtocol::Tcp, [10, 0, 0, 1], [10, 0, 0, 2], 40000, 80);
    let mut resp = frame(IpProtocol::Tcp, [10, 0, 0, 2], [10, 0, 0, 1], 80, 40000);
    let before = resp.clone();
    rw.apply(&mut req, true, 0);
    rw.apply(&mut resp, true, 0);
    assert_eq!(&req[0..12], &[2, 0, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0, 0xaa]);
    assert_eq!(&resp[0..12], &[2, 0, 0, 0, 0, 0xaa, 2, 0, 0, 0, 0, 0xbb]);
    // MAC-only rewriting leaves the IP packet alone.
    assert_eq!(&resp[12..], &before[12..]);
}

#[test]
fn truncated_segment_gets_an_incremental_checksum() {
    let mut c = cfg();
    c.pnat = vec!["10.0.0.0/8:172.16.0.0/12".parse().unwrap()];
    c.portmap = vec!["80:8080".parse().unwrap()];
    let full = frame(IpProtocol::Tcp, [10, 9, 8, 7], [10, 1, 1, 1], 80, 5555);
    let mut whole = full.clone();
    Rewriter::new(c.clone()).apply(&mut whole, true, 0);
    let mut cut = full[..full.len() - 5].to_vec();
    Rewriter::new(c).apply(&mut cut, true, 0);
    // The incremental update must give the same checksum as the full recomputation.
    assert_eq!(&cut[..], &whole[..cut.len()]);
}

#[test]
fn udp_without_checksum_stays_without() {
    let mut c = cfg();
    c.pnat = vec!["10.0.0.0/8:172.16.0.0/12".parse().unwrap()];
    let mut f = frame(IpProtocol::Udp, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2);
    UdpPacket::new_unchecked(&mut f[14 + 20..]).set_checksum(0);
    Rewriter::new(c).apply(&mut f, true, 0);
    assert_eq!(UdpPacket::new_unchecked(&f[14 + 20..]).checksum(), 0);
}

#[test]
fn parse_errors_name_the_value() {
    assert!("02:00:00:00:00"
        .parse::<MacPair>()
        .unwrap_err()
        .to_string()
        .contains("02:00:00:00:00"));
    assert!("10.0.0.0/33:1.0.0.0/8".parse::<CidrMap>().is_err());
    assert!("80".parse::<PortMap>().is_err());
    assert!("+300".parse::<TtlRule>().is_err());
    assert_eq!("+3".parse::<TtlRule>().unwrap(), TtlRule::Add(3));
    let c: Ipv4Cidr = "10.1.2.3/8".parse().unwrap();
    assert_eq!(c.network, Ipv4Addr::new(10, 0, 0, 0));
}
