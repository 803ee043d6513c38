//! `netdiffd replay` end to end: the real binary sends on one end of a veth pair between two
//! private network namespaces, and a capture on the other end checks what arrived.
//! Needs root (CI runs as root with CI=true, where a missing test bed fails the test).

mod replay_support;

use replay_support::*;
use std::time::{Duration, Instant};

fn assert_same_frames(got: &[Captured], want: &[Vec<u8>]) {
    assert_eq!(got.len(), want.len(), "frames received");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(&g.data, w, "frame {i} differs");
    }
}

#[test]
fn corpus_capture_arrives_complete_in_order_and_identical() {
    let Some(bed) = Testbed::new() else { return };
    let file = corpus("ftp_mail/smtp.pcap");
    let want = frames_of(&file);
    for sender in ["xdp", "mmsg", "pcap"] {
        let cap = bed.capture();
        let report = json_ok(&bed.replay(&["--sender", sender, "--json", file.to_str().unwrap()]));
        let got = cap.finish();
        assert_same_frames(&got, &want);
        assert_eq!(report["packets"], want.len());
        assert_eq!(report["failed"], 0);
        assert_eq!(report["sender"], sender);
        assert_eq!(report["stop"]["reason"], "completed");
    }
}

#[test]
fn auto_picks_af_xdp_and_gives_way_to_mmsg_where_it_cannot_open() {
    let Some(bed) = Testbed::new() else { return };
    let file = corpus("ftp_mail/smtp.pcap");
    let path = file.to_str().unwrap();
    let want = frames_of(&file);
    let report = json_ok(&bed.replay(&["-t", "--json", path]));
    assert_eq!(report["sender"], "xdp", "the default on Linux");
    // AF_XDP always bypasses the queueing discipline; asking for the bypass setting names mmsg.
    let report = json_ok(&bed.replay(&["-t", "--qdisc-bypass", "--json", path]));
    assert_eq!(report["sender"], "mmsg");
    // A 9000-byte MTU does not fit AF_XDP's 4096-byte buffers.
    bed.set_mtu(9000);
    let out = bed.replay(&["-t", "--sender", "xdp", path]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MTU 9000") && err.contains("use the mmsg sender"),
        "{err}"
    );
    let cap = bed.capture();
    let out = bed.replay(&["-t", "--json", path]);
    let report = json_ok(&out);
    assert_same_frames(&cap.finish(), &want);
    assert_eq!(report["sender"], "mmsg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("note: AF_XDP sender unavailable, using mmsg"),
        "{err}"
    );
}

#[test]
fn limit_and_loop_do_what_they_say() {
    let Some(bed) = Testbed::new() else { return };
    let file = corpus("dns/dns_ambiguous_names.pcap");
    let want = frames_of(&file);

    let cap = bed.capture();
    let text = stdout_ok(&bed.replay(&["--topspeed", "--limit", "7", file.to_str().unwrap()]));
    assert_same_frames(&cap.finish(), &want[..7]);
    assert!(text.contains("Actual: 7 packets"), "{text}");
    assert!(text.contains("stopped: packet limit reached"), "{text}");

    let cap = bed.capture();
    let report =
        json_ok(&bed.replay(&["-t", "-K", "--loop", "3", "--json", file.to_str().unwrap()]));
    let thrice: Vec<Vec<u8>> = want.iter().cycle().take(want.len() * 3).cloned().collect();
    assert_same_frames(&cap.finish(), &thrice);
    assert_eq!(report["loops"], 3);
}

#[test]
fn duration_stops_the_replay_on_time() {
    let Some(bed) = Testbed::new() else { return };
    let file = paced_capture("duration.pcap", 5000, 1_000_000);
    let cap = bed.capture();
    let started = Instant::now();
    let report = json_ok(&bed.replay(&["--duration", "300ms", "--json", file.to_str().unwrap()]));
    let took = started.elapsed();
    let got = cap.finish();
    assert_eq!(report["stop"]["reason"], "duration");
    assert_eq!(report["packets"], got.len());
    // 300 ms at 1 kpps; never more, and fewer only when a loaded machine stalled the sender.
    assert!(
        (30..=302).contains(&got.len()),
        "{} frames: {report}",
        got.len()
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, f)| seq_of(&f.data) == i as u64),
        "order"
    );
}

#[test]
fn captured_timing_has_no_drift() {
    let Some(bed) = Testbed::new() else { return };
    let n = 1000u64;
    let file = paced_capture("gap1ms.pcap", n, 1_000_000);
    let cap = bed.capture();
    let report = json_ok(&bed.replay(&["--json", file.to_str().unwrap()]));
    let got = cap.finish();
    assert_eq!(got.len() as u64, n);
    // Each frame's offset from its schedule (frame i at t0 + i ms). Drift is how far the
    // schedule slid between the first and the last hundred frames, each hundred's median,
    // scaled from the 900 ms between their middles to the capture's 999 ms: a single frame late
    // at the very end (a scheduler hiccup on a 2-core machine) is not drift; it counts among
    // the gap errors below like any other frame.
    let t0 = got[0].ts_ns;
    let offsets: Vec<i64> = got
        .iter()
        .enumerate()
        .map(|(i, f)| (f.ts_ns - t0) as i64 - (i as u64 * 1_000_000) as i64)
        .collect();
    let median_of = |s: &[i64]| {
        let mut s = s.to_vec();
        s.sort_unstable();
        s[s.len() / 2]
    };
    let slid = median_of(&offsets[offsets.len() - 100..]) - median_of(&offsets[..100]);
    let drift = slid * 999 / 900;
    let mut gap_err: Vec<u64> = got
        .windows(2)
        .map(|w| (w[1].ts_ns - w[0].ts_ns).abs_diff(1_000_000))
        .collect();
    gap_err.sort_unstable();
    let median = gap_err[gap_err.len() / 2];
    let p99 = gap_err[gap_err.len() * 99 / 100];
    eprintln!("drift {drift} ns, gap error median {median} ns, p99 {p99} ns");
    // Loose bounds for noisy CI machines; anchoring leaves no room for accumulated drift.
    assert!(drift.abs() < 1_000_000, "drift {drift} ns over 1 s");
    assert!(median < 100_000, "median gap error {median} ns");
    assert!(p99 < 2_000_000, "p99 gap error {p99} ns");
    let lateness = &report["lateness"];
    assert_eq!(lateness["samples"], n);
    assert!(
        lateness["final_drift_ns"].as_i64().unwrap().abs() < 1_000_000,
        "{lateness}"
    );
    // Sleeping, not spinning, through 1 ms gaps.
    let cpu = report["cpu_ns"].as_u64().unwrap();
    let wall = report["wall_ns"].as_u64().unwrap();
    assert!(cpu * 2 < wall, "cpu {cpu} ns in {wall} ns");
}

#[test]
fn rewriting_reaches_the_wire_with_valid_checksums() {
    let Some(bed) = Testbed::new() else { return };
    let file = corpus("ftp_mail/smtp.pcap");
    let original = frames_of(&file);
    let cap = bed.capture();
    let args = [
        "-t",
        "--smac",
        "02:00:00:00:00:0a,02:00:00:00:00:0b",
        "--dmac",
        "02:00:00:00:00:0b,02:00:00:00:00:0a",
        "--pnat",
        "0.0.0.0/0:198.18.0.0/16",
        "--portmap",
        "25:2525",
        "--ttl",
        "33",
        file.to_str().unwrap(),
    ];
    stdout_ok(&bed.replay(&args));
    let got = cap.finish();
    assert_eq!(got.len(), original.len());
    let client_ip = original[0][26..30].to_vec();
    for (i, (g, o)) in got.iter().zip(&original).enumerate() {
        let g = &g.data;
        assert_eq!(g.len(), o.len(), "frame {i} length");
        let from_client = o[26..30] == client_ip[..];
        let (src, dst) = if from_client {
            (0x0a, 0x0b)
        } else {
            (0x0b, 0x0a)
        };
        assert_eq!(
            &g[0..12],
            &[2, 0, 0, 0, 0, dst, 2, 0, 0, 0, 0, src],
            "frame {i} MACs"
        );
        let ip = netdiffd::wire::ipv4::Ipv4Packet::new_checked(&g[14..]).unwrap();
        assert!(ip.verify_checksum(), "frame {i} IPv4 checksum");
        assert_eq!(ip.ttl(), 33);
        assert_eq!(ip.src_addr().octets()[..2], [198, 18]);
        assert_eq!(ip.src_addr().octets()[2..], o[28..30]);
        assert_eq!(ip.dst_addr().octets()[2..], o[32..34]);
        let tcp = netdiffd::wire::tcp::TcpPacket::new_checked(ip.payload()).unwrap();
        let ports = (tcp.src_port(), tcp.dst_port());
        assert!(
            ports.0 == 2525 || ports.1 == 2525,
            "frame {i} ports {ports:?}"
        );
        let ok = netdiffd::wire::checksum::verify_v4(
            ip.src_addr(),
            ip.dst_addr(),
            netdiffd::wire::IpProtocol::Tcp,
            ip.payload(),
        );
        assert_eq!(ok, 0, "frame {i} TCP checksum");
        let hl = 14 + ip.header_len() + tcp.header_len();
        assert_eq!(&g[hl..], &o[hl..], "frame {i} payload");
    }
}

#[test]
fn raw_ip_capture_is_given_an_ethernet_header() {
    let Some(bed) = Testbed::new() else { return };
    let packets: Vec<(u64, Vec<u8>)> = (0..5u64)
        .map(|i| (i * 1000, udp_frame(i, 80)[14..].to_vec()))
        .collect();
    let file = write_pcap("raw.pcap", 101, &packets);
    let refused = bed.replay(&[file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--dmac"));

    let cap = bed.capture();
    stdout_ok(&bed.replay(&["--dmac", "02:00:00:00:00:99", file.to_str().unwrap()]));
    let got = cap.finish();
    assert_eq!(got.len(), 5);
    for (g, (_, p)) in got.iter().zip(&packets) {
        assert_eq!(&g.data[0..6], &[2, 0, 0, 0, 0, 0x99]);
        assert_eq!(&g.data[12..14], &[0x08, 0x00]);
        assert_eq!(&g.data[14..], &p[..]);
    }
}

#[test]
fn oversize_frames_are_counted_and_the_rest_delivered() {
    let Some(bed) = Testbed::new() else { return };
    // The corpus's ssh capture holds frames larger than a 1500-byte MTU allows.
    let file = corpus("ssh/ssh.pcap");
    let all = frames_of(&file);
    let fitting: Vec<Vec<u8>> = all.iter().filter(|f| f.len() <= 1514).cloned().collect();
    let oversize = all.len() - fitting.len();
    assert!(oversize > 0);
    let cap = bed.capture();
    let out = bed.replay(&["-t", "-K", "--json", file.to_str().unwrap()]);
    let report = json_ok(&out);
    assert_same_frames(&cap.finish(), &fitting);
    assert_eq!(report["oversize"], oversize);
    assert_eq!(report["failed"], oversize);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("larger than"),
        "warning expected"
    );
}

#[test]
fn bad_setups_fail_before_sending_with_clear_errors() {
    let Some(bed) = Testbed::new() else { return };
    let file = paced_capture("errors.pcap", 3, 1000);
    let f = file.to_str().unwrap();
    let run_err = |args: &[&str]| {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &bed.ns_tx,
                env!("CARGO_BIN_EXE_netdiffd"),
                "replay",
            ])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let absent = run_err(&["-i", "ndr-absent0", f]);
    assert!(
        absent.contains("interface ndr-absent0 does not exist"),
        "{absent}"
    );

    let empty = write_pcap("empty.pcap", 1, &[]);
    let e = run_err(&["-i", &bed.if_tx, empty.to_str().unwrap()]);
    assert!(e.contains("empty.pcap") && e.contains("no packets"), "{e}");

    let no_perm = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &bed.ns_tx,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .args([
            env!("CARGO_BIN_EXE_netdiffd"),
            "replay",
            "-i",
            &bed.if_tx,
            f,
        ])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&no_perm.stderr);
    assert_eq!(no_perm.status.code(), Some(2), "{e}");
    assert!(e.contains("CAP_NET_RAW"), "{e}");

    bed.set_rx_up(false);
    let out = bed.replay(&["-t", f]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no carrier"),
        "{out:?}"
    );
    bed.set_rx_up(true);

    let cap = bed.capture();
    std::process::Command::new("ip")
        .args(["-n", &bed.ns_tx, "link", "set", &bed.if_tx, "down"])
        .status()
        .unwrap();
    let e = run_err(&["-i", &bed.if_tx, f]);
    assert!(
        e.contains(&format!("interface {} is down", bed.if_tx)),
        "{e}"
    );
    assert!(cap.finish().is_empty(), "nothing may be sent");
}

#[test]
fn interrupt_stops_at_a_packet_boundary_and_reports_what_was_sent() {
    let Some(bed) = Testbed::new() else { return };
    let file = paced_capture("interrupt.pcap", 5000, 1_000_000);
    let cap = bed.capture();
    let child = bed.spawn_replay(&["--json", file.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(400));
    // SAFETY: kill(2) with the pid of a child this test started and still owns.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "kill -INT");
    let out = child.wait_with_output().unwrap();
    let report = json_ok(&out);
    let got = cap.finish();
    assert_eq!(report["stop"]["reason"], "cancelled");
    assert_eq!(report["packets"], got.len());
    assert!((50..5000).contains(&got.len()), "{}", got.len());
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, f)| seq_of(&f.data) == i as u64),
        "order"
    );
}
