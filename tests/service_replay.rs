//! The daemon end to end on a veth pair (needs root; fails under CI=true when the test bed
//! cannot be made): a job generates, repairs, writes and replays, the frames arrive at the
//! peer, and `/metrics` agrees with what arrived; DELETE stops a replay at a packet boundary;
//! SIGTERM during a long replay exits 0 within 5 s and leaves nothing half-written.

mod service_support;

use service_support::{is_test_bed_frame, metric, Daemon, Veth};
use std::time::{Duration, Instant, SystemTime};

const SIGTERM: i32 = 15;

fn replay_config(bed: &Veth, pace: &str) -> String {
    format!(
        "[replay]\ninterfaces = [\"{0}\"]\ninterface = \"{0}\"\n{pace}\n",
        bed.host_if
    )
}

fn wait_replaying(d: &Daemon, id: u64) {
    let start = Instant::now();
    loop {
        let v = d.http("GET", &format!("/v1/jobs/{id}"), None).json();
        if v["state"] == "replaying" && v["packets_sent"].as_u64() > Some(0) {
            return;
        }
        assert!(
            !matches!(v["state"].as_str(), Some("done" | "failed" | "cancelled")),
            "{v}"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "{v}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_job_replays_onto_a_veth_and_the_metrics_match_what_arrived() {
    let Some(bed) = Veth::new() else { return };
    let d = Daemon::start("e2e", &replay_config(&bed, "pps = \"4000\""));
    let capture = bed.capture();
    let submitted = SystemTime::now();
    let r = d.submit(
        r#"{"mix": {"dns": 1, "ftp_mail": 1}, "flows": 30, "seed": 3, "replay": {"loop": 2}, "output": {"pcap": true}}"#,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_u64().unwrap();
    let v = d.wait_job(id, Duration::from_secs(60));
    let frames = capture.finish();
    assert_eq!(v["state"], "done", "{v}\n{}", d.log_text());

    let written = v["packets_written"].as_u64().unwrap();
    let sent = v["packets_sent"].as_u64().unwrap();
    assert!(written > 0);
    // Frames over the veth's MTU are not sent and are counted as errors (the tiny model makes
    // some oversized UDP datagrams).
    let oversize = v["replay_report"]["oversize"].as_u64().unwrap();
    assert_eq!(sent + oversize, 2 * written, "{v}");
    let ours: Vec<_> = frames
        .iter()
        .filter(|f| is_test_bed_frame(&f.data))
        .collect();
    assert_eq!(
        ours.len(),
        frames.len(),
        "frames other than the job's arrived"
    );
    assert_eq!(ours.len() as u64, sent, "frames at the peer vs sent");
    let pcap = std::path::PathBuf::from(v["pcap"].as_str().unwrap());
    let file: Vec<Vec<u8>> = netdiffd::capture::CaptureReader::open(&pcap)
        .unwrap()
        .map(|f| f.unwrap().data)
        .collect();
    let arrived: Vec<&Vec<u8>> = ours.iter().map(|f| &f.data).collect();
    let sendable: Vec<&Vec<u8>> = file.iter().filter(|f| f.len() <= 1514).collect();
    assert!(
        arrived
            .iter()
            .zip(sendable.iter().chain(&sendable))
            .all(|(a, b)| a == b),
        "the frames that arrived are not those of the job's pcap, in order"
    );

    let m = d.metrics();
    let label = format!("interface=\"{}\"", bed.host_if);
    assert_eq!(
        metric(&m, "netdiffd_packets_sent_total", &label),
        Some(sent as f64)
    );
    let bytes: usize = ours.iter().map(|f| f.data.len()).sum();
    assert_eq!(
        metric(&m, "netdiffd_bytes_sent_total", &label),
        Some(bytes as f64)
    );
    assert_eq!(metric(&m, "netdiffd_replays_running", &label), Some(0.0));
    if oversize > 0 {
        let l = format!("interface=\"{}\",reason=\"oversize\"", bed.host_if);
        assert_eq!(
            metric(&m, "netdiffd_send_errors_total", &l),
            Some(oversize as f64)
        );
    }
    // One lateness observation per frame sent, none above the largest the job reported.
    assert_eq!(
        metric(&m, "netdiffd_send_lateness_seconds_count", ""),
        Some(sent as f64)
    );
    let max_s = v["replay_report"]["lateness"]["max_ns"].as_f64().unwrap() / 1e9;
    let sum_s = metric(&m, "netdiffd_send_lateness_seconds_sum", "").unwrap();
    assert!(
        sum_s <= max_s * sent as f64 + 1e-12,
        "{sum_s} vs max {max_s}"
    );
    let first = ours[0].ts_ns as f64 / 1e9;
    let t0 = submitted
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    eprintln!(
        "job latency (submission → first frame at the peer): {:.1} ms for {} flows, {written} packets",
        (first - t0) * 1e3,
        v["flows_generated"]
    );

    // DELETE during a replay: it stops at a packet boundary, the job says cancelled.
    let r = d.submit(r#"{"mix": "dns", "flows": 5, "replay": {"loop": 1000, "pps": 500}}"#);
    let id = r.json()["id"].as_u64().unwrap();
    wait_replaying(&d, id);
    let r = d.http("DELETE", &format!("/v1/jobs/{id}"), None);
    assert_eq!(r.status, 202, "{}", r.body);
    let t = Instant::now();
    let v = d.wait_job(id, Duration::from_secs(5));
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(v["state"], "cancelled", "{v}");
    assert_eq!(v["replay_report"]["stop"]["reason"], "cancelled", "{v}");
    assert!(v["pcap_kept"] == false && !std::path::Path::new(v["pcap"].as_str().unwrap()).exists());
}

#[test]
fn sigterm_during_a_long_replay_exits_zero_within_5s_and_leaves_no_partial_files() {
    let Some(bed) = Veth::new() else { return };
    let mut d = Daemon::start("term", &replay_config(&bed, "pps = \"200\""));
    let r = d.submit(r#"{"mix": "ftp_mail", "flows": 8, "replay": {"loop": 1000}}"#);
    let id = r.json()["id"].as_u64().unwrap();
    let queued = d.submit(r#"{"mix": "dns", "flows": 8}"#);
    assert_eq!(queued.status, 202);
    wait_replaying(&d, id);
    let t = Instant::now();
    d.signal(SIGTERM);
    d.wait_for_notification("STOPPING=1", Duration::from_secs(5));
    let status = d.wait_exit(Duration::from_secs(5));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{}", d.log_text());
    let left: Vec<String> = std::fs::read_dir(d.spool())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter()
            .all(|n| !n.starts_with('.') && !n.ends_with(".tmp")),
        "{left:?}"
    );
    assert!(
        left.is_empty(),
        "the cancelled replay's pcap was not removed: {left:?}"
    );
}
