//! Measurements of the daemon for docs/benchmarks.md ("Daemon"): memory and idle CPU, API
//! latency under 100 concurrent clients, and the latency from a job's submission to its first
//! frame on the wire. Run as root (the last one uses a veth pair in a private namespace), one
//! measurement at a time:
//!
//!     BENCH_MODEL=DIR cargo bench --bench service [-- NAME...]
//!
//! NAME: `memory`, `api`, `job` (all three without one). BENCH_MODEL: a model directory; the
//! tiny test model without it. Everything stays on 127.0.0.1 and on the veth pair; each
//! measurement is bounded in count and time.

#[path = "../tests/service_support/mod.rs"]
mod service_support;

use service_support::{config_text, free_port, is_test_bed_frame, Daemon, TempDir, Veth};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime};

fn model() -> std::path::PathBuf {
    std::env::var_os("BENCH_MODEL")
        .map(Into::into)
        .unwrap_or_else(service_support::tiny_model)
}

fn start(tag: &str, extra: &str) -> Daemon {
    let dir = TempDir::new(tag);
    let port = free_port();
    let text = config_text(&model(), &dir.0, port, extra).replace("steps = 4\n", "steps = 20\n");
    let mut d = Daemon::spawn_with(dir, port, &text, &[]);
    d.wait_for_notification("READY=1", Duration::from_secs(120));
    d
}

fn first_class(d: &Daemon) -> String {
    let classes = d.http("GET", "/v1/classes", None).json();
    classes["classes"][0]["name"].as_str().unwrap().to_string()
}

/// (resident set in bytes, user+system CPU ticks) of `pid`.
fn proc_stats(pid: i32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    (rss_kb * 1024, ticks)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn memory_and_idle_cpu() {
    let d = start("bench-idle", "");
    std::thread::sleep(Duration::from_secs(2));
    let (rss, t0) = proc_stats(d.pid());
    let idle = Duration::from_secs(20);
    std::thread::sleep(idle);
    let (_, t1) = proc_stats(d.pid());
    let hz = 100.0; // USER_HZ on Linux
    println!(
        "model {}: RSS after start {:.1} MiB; CPU while idle {:.3} % of a core over {} s",
        model().display(),
        rss as f64 / 1048576.0,
        (t1 - t0) as f64 / hz / idle.as_secs_f64() * 100.0,
        idle.as_secs()
    );
    let r = d.submit(&format!(
        r#"{{"mix": "{}", "flows": 20, "seed": 1}}"#,
        first_class(&d)
    ));
    assert_eq!(r.status, 202, "{}", r.body);
    d.wait_job(r.json()["id"].as_u64().unwrap(), Duration::from_secs(600));
    let (rss, _) = proc_stats(d.pid());
    println!("RSS after a 20-flow job: {:.1} MiB", rss as f64 / 1048576.0);
}

/// One GET on a kept-alive connection; returns the status.
fn get(stream: &mut BufReader<TcpStream>, path: &str) -> u16 {
    write!(
        stream.get_mut(),
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    .unwrap();
    let mut line = String::new();
    stream.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut len = 0;
    loop {
        line.clear();
        stream.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    status
}

/// 100 clients each sending 200 `GET /v1/jobs/{id}` on a kept-alive connection.
fn hammer(port: u16, id: u64) -> String {
    let (clients, per_client) = (100, 200);
    let t = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            std::thread::spawn(move || {
                let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_nodelay(true).unwrap();
                let mut s = BufReader::new(s);
                let mut lat = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let t = Instant::now();
                    assert_eq!(get(&mut s, &format!("/v1/jobs/{id}")), 200);
                    lat.push(t.elapsed().as_secs_f64());
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<f64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let wall = t.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    format!(
        "{clients} clients × {per_client} requests (kept-alive): {:.0} req/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len() as f64 / wall,
        quantile(&all, 0.5) * 1e3,
        quantile(&all, 0.99) * 1e3,
        all[all.len() - 1] * 1e3
    )
}

fn api_latency_with_100_concurrent_clients() {
    let d = start("bench-api", "");
    let class = first_class(&d);
    let r = d.submit(&format!(r#"{{"mix": "{class}", "flows": 2, "seed": 1}}"#));
    let id = r.json()["id"].as_u64().unwrap();
    d.wait_job(id, Duration::from_secs(600));
    println!("GET /v1/jobs/{{id}}, daemon idle: {}", hammer(d.port, id));
    let r = d.submit(&format!(r#"{{"mix": "{class}", "flows": 200, "seed": 2}}"#));
    let busy = r.json()["id"].as_u64().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let during = hammer(d.port, busy);
    let state = d.http("GET", &format!("/v1/jobs/{busy}"), None).json()["state"].clone();
    println!(
        "GET /v1/jobs/{{id}}, while a 200-flow job generates (state after: {state}): {during}"
    );
    d.http("DELETE", &format!("/v1/jobs/{busy}"), None);
}

fn job_latency_to_the_first_packet_on_the_wire() {
    let Some(bed) = Veth::new() else { return };
    // Models trained briefly make some datagrams larger than 1500 bytes; let them through.
    bed.set_mtu(65535);
    let extra = format!(
        "[replay]\ninterfaces = [\"{0}\"]\ninterface = \"{0}\"\ntopspeed = true\n",
        bed.host_if
    );
    let d = start("bench-job", &extra);
    let class = first_class(&d);
    for flows in [1, 10, 100] {
        let mut latencies = Vec::new();
        for run in 0..3 {
            let cap = bed.capture();
            let t0 = SystemTime::now();
            let r = d.submit(&format!(
                r#"{{"mix": "{class}", "flows": {flows}, "seed": {run}, "replay": {{}}}}"#
            ));
            assert_eq!(r.status, 202, "{}", r.body);
            let v = d.wait_job(r.json()["id"].as_u64().unwrap(), Duration::from_secs(900));
            let frames = cap.finish();
            assert_eq!(v["state"], "done", "{v}");
            let first = frames
                .iter()
                .find(|f| is_test_bed_frame(&f.data))
                .unwrap_or_else(|| panic!("no frame arrived ({} captured): {v}", frames.len()));
            let t0 = t0
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            latencies.push((first.ts_ns.saturating_sub(t0)) as f64 / 1e6);
            assert_eq!(v["state"], "done");
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "{flows} flow(s) of {class}: submission → first frame at the peer, median of 3: {:.1} ms (runs {latencies:.1?})",
            latencies[1]
        );
    }
}

fn main() {
    // `cargo bench` passes flags of its own (`--bench`); names are the other arguments.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let all: [(&str, fn()); 3] = [
        ("memory", memory_and_idle_cpu),
        ("api", api_latency_with_100_concurrent_clients),
        ("job", job_latency_to_the_first_packet_on_the_wire),
    ];
    for (name, measure) in all {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            println!("== {name}");
            measure();
        }
    }
}
