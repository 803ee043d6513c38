use super::*;

fn frame(proto: u8, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let l4_len = if proto == ip_proto::TCP { 20 } else { 8 };
    let payload = b"hello, test bed";
    let total = 20 + l4_len + payload.len();
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let mut ip = vec![0x45, 0, 0, total as u8, 0, 7, 0x40, 0, 64, proto, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let mut l4 = vec![0u8; l4_len];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    if proto == ip_proto::TCP {
        l4[12] = 0x50;
    } else {
        l4[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    }
    l4.extend_from_slice(payload);
    let c = checksum::compute_v4(src.into(), dst.into(), proto, &l4);
    let at = if proto == ip_proto::TCP { 16 } else { 6 };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    let mut p = Ipv4Packet::new_unchecked(&mut ip[..]);
    p.fill_checksum();
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
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
    for proto in [ip_proto::TCP, ip_proto::UDP] {
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
    let mut f = frame(ip_proto::UDP, [10, 0, 0, 255], [192, 0, 2, 9], 53, 40000);
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
    let mut req = frame(ip_proto::TCP, [10, 0, 0, 1], [10, 0, 0, 2], 40000, 80);
    let mut resp = frame(ip_proto::TCP, [10, 0, 0, 2], [10, 0, 0, 1], 80, 40000);
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
    let full = frame(ip_proto::TCP, [10, 9, 8, 7], [10, 1, 1, 1], 80, 5555);
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
    let mut f = frame(ip_proto::UDP, [10, 0, 0, 1], [10, 0, 0, 2], 1, 2);
    f[14 + 20 + 6] = 0;
    f[14 + 20 + 7] = 0;
    Rewriter::new(c).apply(&mut f, true, 0);
    assert_eq!(&f[40..42], &[0, 0]);
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
