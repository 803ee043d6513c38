//! The replay engine as the daemon uses it: a library call on a thread (inside the sending
//! namespace of a veth test bed), cancelled from another thread, its counters read while it
//! runs. Needs root (CI runs as root with CI=true, where a missing test bed fails the test).

mod replay_support;

use netdiffd::replay::{Pace, ReplayConfig, ReplayError, Replayer, SenderKind, StopReason};
use replay_support::*;
use std::time::Duration;

#[test]
fn cancel_from_another_thread_stops_at_a_packet_boundary() {
    let Some(bed) = Testbed::new() else { return };
    let file = paced_capture("cancel.pcap", 5000, 1_000_000);
    let cfg = ReplayConfig::new(bed.if_tx.clone(), vec![file.to_path_buf()]);
    let cap = bed.capture();
    let (handle_tx, handle_rx) = std::sync::mpsc::channel();
    let worker = bed.in_tx_namespace(move || {
        let r = Replayer::prepare(cfg).expect("prepare");
        handle_tx.send(r.handle()).unwrap();
        r.run()
    });
    let handle = handle_rx.recv().unwrap();
    while handle.counters().snapshot().packets < 100 {
        std::thread::sleep(Duration::from_millis(2));
    }
    handle.cancel();
    let report = worker.join().unwrap();
    let got = cap.finish();
    assert_eq!(report.stop, StopReason::Cancelled);
    assert_eq!(
        report.counters.packets,
        got.len() as u64,
        "reported = arrived"
    );
    assert_eq!(report.counters, handle.counters().snapshot());
    assert!(
        (100..1000).contains(&got.len()),
        "{} frames before the cancel took",
        got.len()
    );
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, f)| seq_of(&f.data) == i as u64),
        "order"
    );
}

/// Replays `file` at top speed through `sender` (preloaded or not) from the sending namespace.
fn top_speed_run(
    bed: &Testbed,
    file: &std::path::Path,
    sender: SenderKind,
    preload: bool,
) -> netdiffd::replay::ReplayReport {
    let mut cfg = ReplayConfig::new(bed.if_tx.clone(), vec![file.to_path_buf()]);
    cfg.pace = Pace::TopSpeed;
    cfg.preload = preload;
    cfg.sender = sender;
    bed.in_tx_namespace(move || Replayer::prepare(cfg).expect("prepare").run())
        .join()
        .unwrap()
}

#[test]
fn every_sender_delivers_every_frame_in_order_at_top_speed() {
    let Some(bed) = Testbed::new() else { return };
    let n = 20_000u64;
    let frames: Vec<(u64, Vec<u8>)> = (0..n).map(|i| (i, udp_frame(i, 64))).collect();
    let file = write_pcap("top.pcap", 1, &frames);
    for sender in [SenderKind::Xdp, SenderKind::Mmsg, SenderKind::Pcap] {
        let cap = bed.capture();
        let report = top_speed_run(&bed, &file, sender, true);
        let got = cap.finish();
        assert_eq!(report.stop, StopReason::Completed);
        assert_eq!(report.counters.packets, n, "{sender:?}");
        assert_eq!(report.sender, sender.name());
        assert_eq!(got.len() as u64, n, "{sender:?}: frames received");
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, f)| seq_of(&f.data) == i as u64),
            "{sender:?}: order"
        );
        assert!(
            got.iter().zip(&frames).all(|(g, (_, f))| &g.data == f),
            "{sender:?}: bytes"
        );
    }
}

#[test]
fn every_sender_counts_a_frame_shorter_than_its_link_header_as_failed() {
    let Some(bed) = Testbed::new() else { return };
    let mut frames: Vec<(u64, Vec<u8>)> = (0..100u64).map(|i| (i, udp_frame(i, 64))).collect();
    // A capture cut to 10 bytes: not even an Ethernet header.
    frames[50].1.truncate(10);
    let file = write_pcap("short.pcap", 1, &frames);
    for sender in [SenderKind::Xdp, SenderKind::Mmsg, SenderKind::Pcap] {
        let cap = bed.capture();
        let report = top_speed_run(&bed, &file, sender, false);
        let got = cap.finish();
        assert_eq!(report.stop, StopReason::Completed, "{sender:?}");
        assert_eq!(report.counters.failed, 1, "{sender:?}");
        assert_eq!(report.counters.packets, 99, "{sender:?}");
        let want: Vec<u64> = (0..100).filter(|&i| i != 50).collect();
        let seqs: Vec<u64> = got.iter().map(|f| seq_of(&f.data)).collect();
        assert_eq!(seqs, want, "{sender:?}: what arrived");
    }
}

#[test]
fn with_no_carrier_the_af_xdp_sender_counts_every_frame_as_failed() {
    let Some(bed) = Testbed::new() else { return };
    let frames: Vec<(u64, Vec<u8>)> = (0..300u64).map(|i| (i, udp_frame(i, 64))).collect();
    let file = write_pcap("nocarrier.pcap", 1, &frames);
    bed.set_rx_up(false);
    let report = top_speed_run(&bed, &file, SenderKind::Xdp, false);
    bed.set_rx_up(true);
    // The kernel refuses each frame (NET_XMIT_DROP) but takes it off the ring: nothing stalls.
    assert_eq!(report.stop, StopReason::Completed);
    assert_eq!(report.counters.failed, 300, "{report:?}");
    assert_eq!(report.counters.packets, 0);
    assert_eq!(report.counters.bytes, 0);
}

#[test]
fn prepare_refuses_what_cannot_work() {
    let Some(bed) = Testbed::new() else { return };
    let file = paced_capture("refuse.pcap", 3, 1000);
    let absent = ReplayConfig::new("ndr-absent1", vec![file.to_path_buf()]);
    let (iface, path) = (bed.if_tx.clone(), file.to_path_buf());
    let results = bed
        .in_tx_namespace(move || {
            let a = Replayer::prepare(absent).map(|_| ()).unwrap_err();
            let mut bad_batch = ReplayConfig::new(iface, vec![path]);
            bad_batch.batch = 0;
            let b = Replayer::prepare(bad_batch).map(|_| ()).unwrap_err();
            (a, b)
        })
        .join()
        .unwrap();
    assert!(
        matches!(results.0, ReplayError::InterfaceNotFound { ref iface } if iface == "ndr-absent1")
    );
    assert!(matches!(
        results.1,
        ReplayError::InvalidSetting { what: "batch", .. }
    ));
}
