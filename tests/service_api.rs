//! The daemon's HTTP API against the real process: precise errors for bad input (and the
//! daemon keeps serving), the bounded queue under 200 concurrent submissions, bearer tokens,
//! a job that writes a pcap, and the shipped configuration and dashboard.

mod service_support;

use service_support::{http, metric, Daemon};
use std::time::Duration;

const LIMITS: &str = r#"
[limits]
max_flows_per_job = 500
max_packets_per_job = 3000
max_loops = 50
queue_length = 3
"#;

#[test]
fn bad_requests_get_precise_errors_and_the_daemon_keeps_serving() {
    let d = Daemon::start("api", LIMITS);
    let r = d.http("GET", "/v1/classes", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<String> = r.json()["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["dns", "ftp_mail"]);

    let check = |body: &str, status: u16, needles: &[&str]| {
        let r = d.submit(body);
        assert_eq!(r.status, status, "{body} → {}", r.body);
        let v = r.json();
        let text = v.to_string();
        for n in needles {
            assert!(text.contains(n), "{body} → {text} lacks {n}");
        }
        v
    };
    check(r#"{"mix": "#, 400, &["invalid JSON", "EOF"]);
    check("\u{0}\u{1}garbage", 400, &["invalid JSON"]);
    check(
        r#"{"mix": {"dns": 1}, "flows": "ten"}"#,
        400,
        &["flows", "invalid type"],
    );
    check(r#"{"mix": "dns", "colour": 1}"#, 400, &["colour"]);
    check(r#"{"mix": {"dns": 0}}"#, 400, &["mix", "zero"]);
    check(
        r#"{"mix": "dns", "replay": {"loop": 0}}"#,
        400,
        &["replay.loop"],
    );
    check(
        r#"{"mix": "dns", "replay": {"pps": -5}}"#,
        400,
        &["replay.pps"],
    );
    check(
        r#"{"mix": "dns", "replay": {"pps": 5, "topspeed": true}}"#,
        400,
        &["at most one"],
    );
    let v = check(r#"{"mix": {"dns": 1, "zoom": 2}}"#, 422, &["zoom"]);
    assert_eq!(v["known_classes"], serde_json::json!(["dns", "ftp_mail"]));
    assert_eq!(v["unknown_classes"], serde_json::json!(["zoom"]));
    let v = check(
        r#"{"mix": "dns", "replay": {"iface": "eth0"}}"#,
        403,
        &["eth0"],
    );
    assert_eq!(v["allowed_interfaces"], serde_json::json!(["lo"]));
    check(
        r#"{"mix": "dns", "replay": {"iface2": "eth1"}}"#,
        403,
        &["replay.iface2", "eth1"],
    );
    check(
        r#"{"mix": "dns", "replay": {"iface": "lo", "iface2": "lo"}}"#,
        400,
        &["replay.iface2", "two interfaces"],
    );
    check(
        r#"{"mix": "dns", "replay": {"dmac": "02:00:00:00:00:01,02:00:00:00:00:02,02:00:00:00:00:03"}}"#,
        400,
        &["replay.dmac", "MAC list"],
    );
    check(
        r#"{"mix": "dns", "replay": {"smac": "zz:00:00:00:00:01"}}"#,
        400,
        &["replay.smac"],
    );
    let v = check(
        r#"{"mix": "dns", "flows": 1000000000}"#,
        400,
        &["max_flows_per_job"],
    );
    assert_eq!(v["limit"], 500);
    // 400 flows of up to 8 packets may make 3200 packets, over the 3000 allowed.
    let v = check(
        r#"{"mix": "dns", "flows": 400}"#,
        400,
        &["max_packets_per_job"],
    );
    assert_eq!(v["limit"], 3000);
    let v = check(
        r#"{"mix": "dns", "replay": {"loop": 1000000}}"#,
        400,
        &["max_loops"],
    );
    assert_eq!(v["limit"], 50);
    check(r#"{"mix": "dns", "flows": 0}"#, 400, &["flows"]);
    let big = format!(r#"{{"mix": "dns", "pad": "{}"}}"#, "x".repeat(100_000));
    assert_eq!(d.submit(&big).status, 413);

    for (method, path, status) in [
        ("GET", "/v1/jobs/abc", 400),
        ("GET", "/v1/jobs/999", 404),
        ("GET", "/v1/jobs/999/flows", 404),
        ("GET", "/v1/jobs/x/flows", 400),
        ("DELETE", "/v1/jobs/999", 404),
        ("GET", "/v1/jobs?state=bogus", 400),
        ("GET", "/v1/jobs?limit=x", 400),
        ("GET", "/nowhere", 404),
    ] {
        let r = d.http(method, path, None);
        assert_eq!(r.status, status, "{method} {path} → {}", r.body);
        assert!(r.json()["error"].is_string(), "{}", r.body);
    }

    // After all that, a good job runs: generated, repaired, written whole to the spool.
    let r = d.submit(r#"{"mix": {"dns": 1, "ftp_mail": 1}, "flows": 6, "seed": 7}"#);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_u64().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/jobs/{id}").as_str())
    );
    let v = d.wait_job(id, Duration::from_secs(60));
    assert_eq!(v["state"], "done", "{v}");
    assert_eq!(v["seed"], 7);
    let pcap = std::path::PathBuf::from(v["pcap"].as_str().unwrap());
    assert!(pcap.starts_with(d.spool()), "{}", pcap.display());
    let frames = netdiffd::capture::CaptureReader::open(&pcap)
        .unwrap()
        .count() as u64;
    assert!(frames > 0);
    assert_eq!(v["packets_written"].as_u64().unwrap(), frames);

    // The ground truth beside the pcap, page by page, agrees with the pcap it describes.
    let labels = std::path::PathBuf::from(v["labels"].as_str().unwrap());
    assert!(labels.starts_with(d.spool()) && labels.exists());
    let total = v["flows_generated"].as_u64().unwrap();
    let mut records = Vec::new();
    let mut path = format!("/v1/jobs/{id}/flows?limit=4");
    loop {
        let page = d.http("GET", &path, None).json();
        assert_eq!(page["total"].as_u64(), Some(total), "{page}");
        records.extend(page["flows"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => path = next.to_string(),
            None => break,
        }
    }
    assert_eq!(records.len() as u64, total);
    let packets: u64 = records
        .iter()
        .map(|r| r["client_packets"].as_u64().unwrap() + r["server_packets"].as_u64().unwrap())
        .sum();
    assert_eq!(packets, frames);
    for r in &records {
        assert!(
            ["dns", "ftp_mail"].contains(&r["class"].as_str().unwrap()),
            "{r}"
        );
        assert!(r["community_id"].as_str().unwrap().starts_with("1:"), "{r}");
    }
    let r = d.http("GET", &format!("/v1/jobs/{id}/flows?offset=x"), None);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = d.http("DELETE", &format!("/v1/jobs/{id}"), None);
    assert_eq!(r.status, 409, "{}", r.body);
    let list = d.http("GET", "/v1/jobs?state=done", None).json();
    assert_eq!(list["jobs"][0]["id"], id);

    for path in ["/healthz", "/readyz"] {
        assert_eq!(d.http("GET", path, None).status, 200);
    }
    let m = d.metrics();
    assert_eq!(
        metric(&m, "netdiffd_jobs_total", r#"state="done""#),
        Some(1.0)
    );
    assert!(
        metric(
            &m,
            "netdiffd_jobs_rejected_total",
            r#"reason="unknown_class""#
        ) >= Some(1.0)
    );
    let flows: f64 = ["dns", "ftp_mail"]
        .iter()
        .filter_map(|c| {
            metric(
                &m,
                "netdiffd_flows_generated_total",
                &format!("class=\"{c}\""),
            )
        })
        .sum();
    assert_eq!(flows, v["flows_generated"].as_f64().unwrap());
    assert_eq!(metric(&m, "netdiffd_model_loaded", ""), Some(1.0));
    assert!(m.contains("netdiffd_generation_seconds_count"));
    assert!(m.contains("process_resident_memory_bytes"));
}

#[test]
fn a_full_queue_answers_429_and_200_concurrent_submissions_keep_the_bound() {
    let mut d = Daemon::start("queue", LIMITS);
    // One long job occupies the only slot, so submissions pile up in the queue.
    let long = d.submit(r#"{"mix": "dns", "flows": 370}"#);
    assert_eq!(long.status, 202, "{}", long.body);
    let port = d.port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(r) = service_support::try_http(
                    port,
                    "GET",
                    "/v1/jobs?state=queued&limit=1000",
                    None,
                    None,
                ) {
                    if r.status == 200 {
                        most = most.max(r.json()["jobs"].as_array().unwrap().len());
                    }
                }
            }
            most
        })
    };
    let clients: Vec<_> = (0..200)
        .map(|_| {
            std::thread::spawn(move || {
                let r = http(
                    port,
                    "POST",
                    "/v1/jobs",
                    Some(r#"{"mix": "ftp_mail", "flows": 2}"#),
                    None,
                );
                (r.status, r.header("retry-after").map(str::to_string))
            })
        })
        .collect();
    let results: Vec<(u16, Option<String>)> =
        clients.into_iter().map(|c| c.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let most_queued = watcher.join().unwrap();
    let accepted = results.iter().filter(|r| r.0 == 202).count();
    let refused: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert_eq!(accepted + refused.len(), 200, "{results:?}");
    assert!(accepted >= 1 && !refused.is_empty(), "{accepted} accepted");
    assert!(refused.iter().all(|r| r.1.as_deref() == Some("1")));
    assert!(
        most_queued <= 3,
        "{most_queued} jobs queued at once, the bound is 3"
    );
    let m = d.metrics();
    assert!(metric(&m, "netdiffd_job_queue_length", "").unwrap() <= 3.0);
    assert_eq!(
        metric(&m, "netdiffd_jobs_rejected_total", r#"reason="queue_full""#),
        Some(refused.len() as f64)
    );
    // Cancelling a waiting job takes it out of the queue at once.
    let queued = d.http("GET", "/v1/jobs?state=queued", None).json();
    if let Some(j) = queued["jobs"].as_array().unwrap().first() {
        let id = j["id"].as_u64().unwrap();
        let r = d.http("DELETE", &format!("/v1/jobs/{id}"), None);
        assert!(
            r.status == 200 || r.status == 202 || r.status == 409,
            "{}",
            r.body
        );
    }
    assert_eq!(d.http("GET", "/healthz", None).status, 200);
    assert!(d.child_alive());
}

#[test]
fn a_configured_bearer_token_is_enforced() {
    let dir = service_support::TempDir::new("token");
    let token_file = dir.0.join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let port = service_support::free_port();
    let text = service_support::config_text(&service_support::tiny_model(), &dir.0, port, "")
        .replace(
            "[api]\n",
            &format!("[api]\ntoken_file = \"{}\"\n", token_file.display()),
        );
    let mut d = Daemon::spawn_with(dir, port, &text, &[]);
    d.wait_for_notification("READY=1", Duration::from_secs(30));
    let r = d.http("GET", "/v1/jobs", None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert_eq!(
        http(port, "GET", "/v1/classes", None, Some("wrong")).status,
        401
    );
    assert_eq!(
        http(port, "POST", "/v1/jobs", Some("{}"), Some("s3cret-tokeX")).status,
        401
    );
    assert_eq!(
        http(port, "GET", "/v1/jobs", None, Some("s3cret-token")).status,
        200
    );
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(d.http("GET", open, None).status, 200, "{open}");
    }
}

#[test]
fn shipped_configuration_is_safe_and_the_dashboard_uses_exported_metrics() {
    use netdiffd::service::config::Config;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg = Config::load(&root.join("etc/netdiffd.toml"), &[]).unwrap();
    assert!(cfg.api.listen.ip().is_loopback(), "{}", cfg.api.listen);
    assert_eq!(cfg.replay.interfaces, ["lo"]);
    assert_eq!(cfg.replay.interface, "lo");
    let bench: netdiffd::repair::Ipv4Cidr = "198.18.0.0/15".parse().unwrap();
    for pool in [cfg.replay.client_pool, cfg.replay.server_pool] {
        assert!(
            bench.contains(pool.network) && pool.prefix >= 15,
            "{pool:?}"
        );
    }
    // The daemon samples as `netdiffd generate` does by default: the traffic the evaluation
    // measured, at the speed the benchmarks give.
    let d = netdiffd::model::SampleSettings::default();
    let m = &cfg.model;
    assert_eq!(
        (
            m.steps,
            m.guidance,
            m.batch,
            m.free_structure,
            m.generate_kinds,
            m.exact_lengths
        ),
        (
            d.steps,
            d.guidance,
            d.batch,
            d.free_structure,
            d.generate_kinds,
            d.exact_lengths
        )
    );
    assert!(!cfg.schedule.is_empty());
    for s in &cfg.schedule {
        let iface = s.replay.as_ref().and_then(|r| r.iface.clone());
        assert!(iface.is_none() || iface.as_deref() == Some("lo"));
    }
    assert_eq!(cfg.model.path, std::path::Path::new("models/default"));

    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("etc/grafana/netdiffd.json")).unwrap(),
    )
    .expect("dashboard is valid JSON");
    let exported = netdiffd::service::metrics::Metrics::new().unwrap().names();
    let mut used = Vec::new();
    collect_exprs(&dashboard, &mut used);
    assert!(used.len() >= 10, "{used:?}");
    for expr in &used {
        for name in metric_tokens(expr) {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|b| exported.iter().any(|e| e == b))
                .unwrap_or(&name);
            assert!(
                exported.iter().any(|e| e == base),
                "{name} in {expr:?} is not exported"
            );
        }
    }
}

fn collect_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

fn metric_tokens(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|t| t.starts_with("netdiffd_") || t.starts_with("process_"))
        .map(str::to_string)
        .collect()
}
