//! The daemon's metrics as the real Prometheus tools read them: `promtool check metrics` finds
//! nothing to say about `/metrics` after a job, and a real Prometheus server, scraping a test
//! daemon on 127.0.0.1 every second, answers every expression of the shipped Grafana dashboard
//! (etc/grafana/netdiffd.json) with data after a job, a refused request and a schedule run —
//! and `increase()` sees the first event of series that exist at zero from the start.
//!
//! The tools come from Debian's `prometheus` package (.ci/install-deps installs it); the jobs
//! replay onto `lo`, which needs root. Under CI=true a missing tool or root fails the tests;
//! elsewhere they are skipped with a printed reason.

mod service_support;

use service_support::{config_text, free_port, on_ci, tiny_model, try_http, Daemon, TempDir};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// True when `tool --version` runs.
fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True when the test can run: `tools` exist and we are root (to replay onto `lo`). Otherwise
/// fails under CI=true, and says why and returns false elsewhere.
fn can_run(tools: &[&str]) -> bool {
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| !have(t))
        .map(|t| format!("{t} not found (Debian package prometheus)"))
        .collect();
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("not root (the jobs replay onto lo)".into());
    }
    if missing.is_empty() {
        return true;
    }
    let why = missing.join("; ");
    assert!(!on_ci(), "under CI: {why} (.ci/install-deps installs it)");
    eprintln!("SKIPPED: {why}");
    false
}

/// A job that replays onto `lo` at a constant rate, so that every replay metric (lateness,
/// drift, packets, bytes) gets values.
const REPLAY_JOB: &str = r#"{"mix": {"dns": 1, "ftp_mail": 1}, "flows": 6, "seed": 3, "replay": {"iface": "lo", "pps": 2000}}"#;

/// Submits `body`, expects 202, waits for the job and expects it done.
fn run_job(d: &Daemon, body: &str) -> serde_json::Value {
    let r = d.submit(body);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_u64().unwrap();
    let v = d.wait_job(id, Duration::from_secs(120));
    assert_eq!(v["state"], "done", "{v}\nlog:\n{}", d.log_text());
    v
}

#[test]
fn promtool_finds_nothing_to_say_about_the_metrics_after_a_job() {
    if !can_run(&["promtool"]) {
        return;
    }
    let d = Daemon::start(
        "promtool",
        "[[schedule]]\nname = \"tick\"\nevery = \"1h\"\nmix = \"dns\"\nflows = 2\n",
    );
    let job = run_job(&d, REPLAY_JOB);
    assert!(job["packets_sent"].as_u64().unwrap() > 0, "{job}");
    assert_eq!(d.submit(r#"{"mix": "zoom"}"#).status, 422);
    let text = d.metrics();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = promtool.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let out = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics ({}):\n{said}",
        out.status
    );
    // What promtool read is what was meant: the process start time is this daemon's (not 0),
    // the renamed repair histogram has the job's flows.
    let started = service_support::metric(&text, "process_start_time_seconds", "").unwrap();
    let now = unix_now();
    assert!(
        started > now - 300.0 && started <= now,
        "{started} vs {now}"
    );
    assert_eq!(
        service_support::metric(&text, "netdiffd_repair_header_changed_ratio_count", ""),
        job["flows_generated"].as_f64()
    );
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A Prometheus server on 127.0.0.1, scraping one target every second, its storage in a
/// temporary directory. Stopped on drop.
struct Prometheus {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, job: &str, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        let mut p = Prometheus { child, port, log };
        let start = Instant::now();
        loop {
            if let Ok(r) = try_http(port, "GET", "/-/ready", None, None) {
                if r.status == 200 {
                    return p;
                }
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", p.log_text());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "prometheus not ready in 60 s:\n{}",
                p.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The result of an instant query (`/api/v1/query`): its `data.result` array.
    fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/query?query={}", percent_encode(expr));
        let r = try_http(self.port, "GET", &path, None, None).expect("query prometheus");
        assert_eq!(r.status, 200, "{expr}: {}", r.body);
        let v = r.json();
        assert_eq!(v["status"], "success", "{expr}: {v}");
        match &v["data"]["result"] {
            serde_json::Value::Array(a) => a.clone(),
            // A scalar or string result: one value.
            other => vec![serde_json::json!({ "value": other })],
        }
    }

    /// The value of the first sample `expr` returns, if any.
    fn value(&self, expr: &str) -> Option<f64> {
        self.query(expr)
            .first()
            .and_then(|s| s["value"][1].as_str().and_then(|v| v.parse().ok()))
    }

    /// Waits until `expr`'s first value satisfies `ok`; returns it.
    fn wait_for(&self, expr: &str, ok: impl Fn(f64) -> bool, timeout: Duration) -> f64 {
        let start = Instant::now();
        loop {
            if let Some(v) = self.value(expr).filter(|v| ok(*v)) {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "{expr} = {:?} after {timeout:?}; prometheus log:\n{}",
                self.value(expr),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every PromQL expression of the dashboard (`expr` of the panels' targets), and its template
/// variables' `label_values(SELECTOR, LABEL)` queries.
fn dashboard_queries() -> (Vec<String>, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("etc/grafana/netdiffd.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard["panels"], &mut exprs);
    let variables = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["type"] == "query")
        .map(|v| v["query"]["query"].as_str().unwrap().to_string())
        .collect();
    (exprs, variables)
}

#[test]
fn a_real_prometheus_answers_every_dashboard_expression() {
    if !can_run(&["prometheus"]) {
        return;
    }
    let (exprs, variables) = dashboard_queries();
    assert!(exprs.len() >= 20, "{exprs:?}");
    assert!(
        exprs
            .iter()
            .filter(|e| e.contains("process_"))
            .all(|e| e.contains(r#"job=~"$job""#) && e.contains(r#"instance=~"$instance""#)),
        "{exprs:?}"
    );
    // Counter rates over Grafana's $__rate_interval, not a fixed window.
    for e in &exprs {
        assert!(!e.contains("[1m]"), "{e}");
        for (i, _) in e.match_indices("rate(") {
            let call = &e[i..i + e[i..].find(')').unwrap()];
            assert!(
                !call.contains("_total[") || call.ends_with("[$__rate_interval]"),
                "{e}"
            );
        }
    }

    // Prometheus first, so that it scrapes the daemon from its start: the series that exist
    // at zero then let increase() see the first job, rejection and schedule run.
    let prom_dir = TempDir::new("prometheus");
    let daemon_dir = TempDir::new("prometheus-daemon");
    let port = free_port();
    let target = format!("127.0.0.1:{port}");
    let prom = Prometheus::start(&prom_dir.0, "netdiffd", &target);
    // Its first scrape of a new target comes some seconds after it is ready (target discovery
    // sends updates every 5 s): wait for it (up = 0, nothing listens yet).
    let sel = r#"job="netdiffd""#;
    prom.wait_for(
        &format!("up{{{sel}}}"),
        |v| v == 0.0,
        Duration::from_secs(30),
    );
    let text = config_text(
        &tiny_model(),
        &daemon_dir.0,
        port,
        "[[schedule]]\nname = \"tick\"\nevery = \"4s\"\nmix = \"dns\"\nflows = 2\n",
    );
    let mut d = Daemon::spawn_with(daemon_dir, port, &text, &[]);
    d.wait_for_notification("READY=1", Duration::from_secs(30));
    let scraped = |expr: &str| {
        prom.wait_for(expr, |v| v >= 1.0, Duration::from_secs(30));
    };
    // Scraped at least twice before anything happens.
    scraped(&format!("sum_over_time(up{{{sel}}}[1m]) >= 2"));

    // A refused request, a job that replays, and a schedule run.
    assert_eq!(d.submit(r#"{"mix": {"zoom": 1}}"#).status, 422);
    run_job(&d, REPLAY_JOB);
    let start = Instant::now();
    while d.http("GET", "/v1/jobs?state=done&limit=1000", None).json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["source"] != "schedule:tick")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no schedule run done; log:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    scraped(&format!(
        r#"netdiffd_schedule_runs_total{{{sel},schedule="tick"}}"#
    ));
    scraped(&format!(
        r#"netdiffd_jobs_total{{{sel},state="done"}} >= 2"#
    ));
    scraped(&format!(
        r#"netdiffd_packets_sent_total{{{sel},interface="lo"}} > 0"#
    ));
    // The first event of each is an increase, because the series was there at 0 before it.
    for first in [
        r#"netdiffd_jobs_rejected_total{reason="unknown_class"}"#,
        r#"netdiffd_schedule_runs_total{schedule="tick"}"#,
        r#"netdiffd_jobs_total{state="done"}"#,
        r#"netdiffd_flows_generated_total{class="dns"}"#,
        r#"netdiffd_packets_sent_total{interface="lo"}"#,
    ] {
        let v = prom.value(&format!("increase({first}[5m])"));
        assert!(
            v.is_some_and(|v| v > 0.0),
            "increase({first}[5m]) = {v:?}: {:?}",
            prom.query(&format!("{first}[5m]"))
        );
    }
    let started = prom.value(&format!("process_start_time_seconds{{{sel}}}"));
    let now = unix_now();
    assert!(
        started.is_some_and(|s| s > now - 600.0 && s <= now),
        "{started:?} vs {now}"
    );

    // Every expression of the dashboard, as Grafana would send it for this daemon.
    let concrete = |e: &str| {
        e.replace("$__rate_interval", "30s")
            .replace("$job", "netdiffd")
            .replace("$instance", &target)
    };
    let mut empty = Vec::new();
    for e in &exprs {
        let q = concrete(e);
        let start = Instant::now();
        let mut result = prom.query(&q);
        while result.is_empty() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(500));
            result = prom.query(&q);
        }
        if result.is_empty() {
            empty.push(q);
        }
    }
    for v in &variables {
        // label_values(SELECTOR, LABEL): the label's values among the selector's series.
        let inner = v
            .strip_prefix("label_values(")
            .and_then(|v| v.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{v}"));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let q = concrete(&format!("group by ({}) ({selector})", label.trim()));
        let result = prom.query(&q);
        if result.is_empty() {
            empty.push(q);
        }
    }
    assert!(
        empty.is_empty(),
        "no data for:\n{}\nmetrics:\n{}",
        empty.join("\n"),
        d.metrics()
    );
    // A few values that must be what happened.
    let lateness = prom
        .value(&concrete(
            "histogram_quantile(0.99, sum by (le) (rate(netdiffd_send_lateness_seconds_bucket[15m])))",
        ))
        .unwrap();
    assert!(lateness.is_finite() && lateness >= 0.0, "{lateness}");
    let rejected = prom
        .value(r#"sum(netdiffd_jobs_rejected_total{reason="unknown_class"})"#)
        .unwrap();
    assert_eq!(rejected, 1.0);
    d.signal(15);
    assert_eq!(d.wait_exit(Duration::from_secs(10)).code(), Some(0));
}
