//! The daemon's life against the real process: readiness on a notification socket, reloads
//! on SIGHUP (a good configuration takes effect, a broken one is refused and the old one
//! kept), a clean stop on SIGTERM, and refusing to start without a usable model or
//! configuration.

mod service_support;

use service_support::{config_text, free_port, metric, tiny_model, Daemon, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SIGHUP: i32 = 1;
const SIGTERM: i32 = 15;

fn jobs_from(d: &Daemon, source: &str) -> usize {
    d.http("GET", "/v1/jobs?limit=1000", None).json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["source"] == source)
        .count()
}

#[test]
fn sighup_applies_a_good_configuration_and_keeps_the_old_one_on_a_bad_one() {
    let mut d = Daemon::start("reload", "");
    assert_eq!(
        metric(&d.metrics(), "netdiffd_config_last_reload_successful", ""),
        Some(1.0)
    );
    let base = std::fs::read_to_string(&d.config).unwrap();

    // A new schedule: it runs once the reload is done.
    let with_schedule = format!(
        "{base}\n[[schedule]]\nname = \"tick\"\nevery = \"1s\"\nmix = \"dns\"\nflows = 2\n"
    );
    std::fs::write(&d.config, &with_schedule).unwrap();
    d.signal(SIGHUP);
    let seen = d.wait_for_notification("READY=1", Duration::from_secs(10));
    assert!(
        seen.iter()
            .any(|m| m.contains("RELOADING=1") && m.contains("MONOTONIC_USEC=")),
        "{seen:?}"
    );
    let start = Instant::now();
    while jobs_from(&d, "schedule:tick") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the new schedule never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = d.metrics();
    assert_eq!(
        metric(&m, "netdiffd_config_last_reload_successful", ""),
        Some(1.0)
    );
    assert_eq!(
        metric(&m, "netdiffd_config_reloads_total", r#"result="success""#),
        Some(1.0)
    );
    assert!(metric(&m, "netdiffd_schedule_runs_total", r#"schedule="tick""#) >= Some(1.0));

    // A broken file: refused, the reason logged, the old configuration (and schedule) kept.
    std::fs::write(
        &d.config,
        format!("{with_schedule}\n[limits]\nqueue_lenght = 3\n"),
    )
    .unwrap();
    d.signal(SIGHUP);
    d.wait_for_notification("READY=1", Duration::from_secs(10));
    let m = d.metrics();
    assert_eq!(
        metric(&m, "netdiffd_config_last_reload_successful", ""),
        Some(0.0)
    );
    assert_eq!(
        metric(&m, "netdiffd_config_reloads_total", r#"result="failure""#),
        Some(1.0)
    );
    let log = d.log_text();
    assert!(
        log.contains("reload failed")
            && log.contains("queue_lenght")
            && log.contains("netdiffd.toml"),
        "{log}"
    );
    let before = jobs_from(&d, "schedule:tick");
    let start = Instant::now();
    while jobs_from(&d, "schedule:tick") == before {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the old schedule stopped"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A schedule naming a class the model does not know is refused too.
    std::fs::write(
        &d.config,
        base.clone() + "\n[[schedule]]\nname = \"z\"\nevery = \"1s\"\nmix = \"zoom\"\n",
    )
    .unwrap();
    d.signal(SIGHUP);
    d.wait_for_notification("READY=1", Duration::from_secs(10));
    assert!(d.log_text().contains("schedule[0].mix"), "{}", d.log_text());

    // The model moved: a reload loads it from the new place; a missing one is refused.
    let moved = d.dir.0.join("model2");
    std::fs::create_dir_all(&moved).unwrap();
    for f in ["card.json", "model.safetensors"] {
        std::fs::copy(tiny_model().join(f), moved.join(f)).unwrap();
    }
    let model_line = format!("path = \"{}\"", tiny_model().display());
    let relocated = base.replace(&model_line, &format!("path = \"{}\"", moved.display()));
    std::fs::write(&d.config, &relocated).unwrap();
    d.signal(SIGHUP);
    d.wait_for_notification("READY=1", Duration::from_secs(10));
    assert!(
        d.log_text()
            .contains(&format!("model {} loaded", moved.display())),
        "{}",
        d.log_text()
    );
    let gone = base.replace(&model_line, "path = \"/nonexistent/model\"");
    std::fs::write(&d.config, &gone).unwrap();
    d.signal(SIGHUP);
    d.wait_for_notification("READY=1", Duration::from_secs(10));
    assert!(
        d.log_text().contains("/nonexistent/model"),
        "{}",
        d.log_text()
    );
    assert_eq!(d.http("GET", "/v1/classes", None).status, 200);

    // And a good one again.
    std::fs::write(&d.config, &base).unwrap();
    d.signal(SIGHUP);
    d.wait_for_notification("READY=1", Duration::from_secs(10));
    assert_eq!(
        metric(&d.metrics(), "netdiffd_config_last_reload_successful", ""),
        Some(1.0)
    );

    d.signal(SIGTERM);
    d.wait_for_notification("STOPPING=1", Duration::from_secs(5));
    let status = d.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{}", d.log_text());
}

/// Runs `netdiffd serve` on `config` and expects it to refuse to start; returns its stderr.
fn refuses(dir: &Path, config: &str) -> String {
    let path = dir.join("refuse.toml");
    std::fs::write(&path, config).unwrap();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn refuses_to_start_without_a_usable_model_or_configuration() {
    let dir = TempDir::new("refuse");
    let port = free_port();
    let missing = dir.0.join("no-model");
    let e = refuses(&dir.0, &config_text(&missing, &dir.0, port, ""));
    assert!(
        e.contains("no-model") && e.contains("card.json") && e.contains("model.path"),
        "{e}"
    );

    // A model whose weights do not match its card.
    let broken = dir.0.join("broken-model");
    std::fs::create_dir_all(&broken).unwrap();
    for f in ["card.json", "model.safetensors"] {
        std::fs::copy(tiny_model().join(f), broken.join(f)).unwrap();
    }
    let mut w = std::fs::read(broken.join("model.safetensors")).unwrap();
    let at = w.len() - 10;
    w[at] ^= 0xff;
    std::fs::write(broken.join("model.safetensors"), w).unwrap();
    let e = refuses(&dir.0, &config_text(&broken, &dir.0, port, ""));
    assert!(e.contains("SHA-256") && e.contains("broken-model"), "{e}");

    let e = refuses(
        &dir.0,
        &config_text(&tiny_model(), &dir.0, port, "[replay]\nloop = \"many\"\n"),
    );
    assert!(
        e.contains("replay.loop") && e.contains("refuse.toml"),
        "{e}"
    );

    // The port taken: a clear message naming the key.
    let holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let e = refuses(&dir.0, &config_text(&tiny_model(), &dir.0, port, ""));
    assert!(
        e.contains("api.listen") && e.contains(&port.to_string()),
        "{e}"
    );
    drop(holder);

    // An environment override with a bad value names the variable's key.
    let path = dir.0.join("env.toml");
    std::fs::write(&path, config_text(&tiny_model(), &dir.0, port, "")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .args(["serve", "--config"])
        .arg(&path)
        .env("NETDIFFD_LIMITS__MAX_LOOPS", "lots")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        e.contains("limits.max_loops") && e.contains("environment"),
        "{e}"
    );

    // --check loads everything and says so.
    let out = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .args(["serve", "--check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
}

#[test]
fn environment_overrides_a_metrics_listener_the_watchdog_and_a_clean_stop() {
    let dir = TempDir::new("env");
    let port = free_port();
    let other = free_port();
    let metrics_port = free_port();
    let text = config_text(
        &tiny_model(),
        &dir.0,
        port,
        &format!("[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n"),
    );
    let mut d = Daemon::spawn_with(
        dir,
        other,
        &text,
        &[
            (
                "NETDIFFD_API__LISTEN",
                format!("127.0.0.1:{other}").as_str(),
            ),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    d.wait_for_notification("READY=1", Duration::from_secs(30));
    assert_eq!(d.http("GET", "/readyz", None).status, 200);
    d.wait_for_notification("WATCHDOG=1", Duration::from_secs(2));
    d.wait_for_notification("WATCHDOG=1", Duration::from_secs(1));
    let r = service_support::http(metrics_port, "GET", "/metrics", None, None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("netdiffd_build_info{"), "{}", r.body);
    assert_eq!(d.http("GET", "/metrics", None).status, 404);
    d.signal(SIGTERM);
    d.wait_for_notification("STOPPING=1", Duration::from_secs(5));
    let status = d.wait_exit(Duration::from_secs(5));
    assert_eq!(status.code(), Some(0), "{}", d.log_text());
    assert!(d.log_text().contains("stopped"));
}
