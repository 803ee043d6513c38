//! Shared by the daemon's integration tests: a tiny trained model, the real `netdiffd serve`
//! process with a test configuration and a notification socket the test binds, a small
//! HTTP/1.1 client, and readers for the Prometheus text format.
#![allow(dead_code)]

use netdiffd::model::checkpoint::load_model;
use netdiffd::model::{train, TrainOutput};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[path = "../common/scratch.rs"]
mod scratch;
#[path = "../common/tiny_model.rs"]
mod tiny_model;
pub use scratch::TempDir;
use tiny_model::{link_tiny_corpus, tiny_config, tiny_dataset, tiny_train_settings};

static MODEL: Mutex<Option<PathBuf>> = Mutex::new(None);

/// A tiny model of two classes (`dns`, `ftp_mail`) trained on real corpus captures; trained
/// once and kept under the target directory for later test runs.
pub fn tiny_model() -> PathBuf {
    let mut cached = MODEL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = cached.as_ref() {
        return p.clone();
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("service-tiny-model");
    if load_model(&dir, &candle_core::Device::Cpu).is_err() {
        train_tiny(&dir);
    }
    *cached = Some(dir.clone());
    dir
}

fn train_tiny(out: &Path) {
    let corpus = TempDir::new("corpus");
    link_tiny_corpus(&corpus.0);
    let ds = tiny_dataset(&corpus.0);
    let config = tiny_config(2);
    let ts = tiny_train_settings(20);
    let _ = std::fs::remove_dir_all(out);
    train(
        &ds,
        &config,
        &ts,
        TrainOutput {
            dir: out,
            dataset_name: "tiny",
            resume: false,
        },
        &candle_core::Device::Cpu,
        |_| {},
    )
    .unwrap();
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test configuration: the tiny model, a spool in `dir`, the API on `port`, then `extra`
/// TOML (sections that the defaults do not cover).
pub fn config_text(model: &Path, dir: &Path, port: u16, extra: &str) -> String {
    format!(
        r#"[model]
path = "{}"
device = "cpu"
steps = 4

[output]
spool = "{}"

[api]
listen = "127.0.0.1:{port}"

{extra}
"#,
        model.display(),
        dir.join("spool").display()
    )
}

/// `netdiffd serve` running as a child process.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub dir: TempDir,
    pub config: PathBuf,
    pub notify: UnixDatagram,
    pub log: PathBuf,
    pub token: Option<String>,
}

impl Daemon {
    /// Writes `config` (see [`config_text`]) and starts the daemon on it; does not wait.
    pub fn spawn_with(dir: TempDir, port: u16, config: &str, env: &[(&str, &str)]) -> Daemon {
        let path = dir.0.join("netdiffd.toml");
        std::fs::write(&path, config).unwrap();
        let sock = dir.0.join("notify.sock");
        let notify = UnixDatagram::bind(&sock).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let log = dir.0.join("netdiffd.log");
        let child = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
            .args(["serve", "--config"])
            .arg(&path)
            .env("NOTIFY_SOCKET", &sock)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start netdiffd serve");
        Daemon {
            child,
            port,
            dir,
            config: path,
            notify,
            log,
            token: None,
        }
    }

    /// Starts a daemon on the tiny model with `extra` configuration and waits for READY=1.
    pub fn start(tag: &str, extra: &str) -> Daemon {
        let dir = TempDir::new(tag);
        let port = free_port();
        let text = config_text(&tiny_model(), &dir.0, port, extra);
        let mut d = Daemon::spawn_with(dir, port, &text, &[]);
        d.wait_for_notification("READY=1", Duration::from_secs(30));
        d
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn spool(&self) -> PathBuf {
        self.dir.0.join("spool")
    }

    /// Waits until a notification containing `what` arrives; returns every message read.
    pub fn wait_for_notification(&mut self, what: &str, timeout: Duration) -> Vec<String> {
        let start = Instant::now();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "netdiffd exited ({status}) before {what}; log:\n{}",
                    self.log_text()
                );
            }
            if let Ok(n) = self.notify.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let found = msg.lines().any(|l| l == what) || msg.contains(what);
                seen.push(msg);
                if found {
                    return seen;
                }
            }
        }
        panic!(
            "no {what} within {timeout:?} (got {seen:?}); log:\n{}",
            self.log_text()
        );
    }

    /// True while the process runs.
    pub fn child_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One HTTP request to the daemon's API.
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        http(self.port, method, path, body, self.token.as_deref())
    }

    /// `POST /v1/jobs` with `body`.
    pub fn submit(&self, body: &str) -> Resp {
        self.http("POST", "/v1/jobs", Some(body))
    }

    /// Polls `GET /v1/jobs/{id}` until the job has finished; returns its status.
    pub fn wait_job(&self, id: u64, timeout: Duration) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let r = self.http("GET", &format!("/v1/jobs/{id}"), None);
            assert_eq!(r.status, 200, "{}", r.body);
            let v = r.json();
            if matches!(v["state"].as_str(), Some("done" | "failed" | "cancelled")) {
                return v;
            }
            assert!(
                start.elapsed() < timeout,
                "job {id} not finished in {timeout:?}: {v}\nlog:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The metrics text.
    pub fn metrics(&self) -> String {
        let r = self.http("GET", "/metrics", None);
        assert_eq!(r.status, 200);
        r.body
    }

    /// Sends `signal` to the daemon.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid with a valid signal number.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "netdiffd did not exit within {timeout:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port` (`Connection: close`).
pub fn http(port: u16, method: &str, path: &str, body: Option<&str>, token: Option<&str>) -> Resp {
    try_http(port, method, path, body, token).expect("HTTP request")
}

/// As [`http`], returning I/O errors instead of panicking.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&b[start..(start + size).min(b.len())]);
        b = &b[(start + size + 2).min(b.len())..];
    }
    out
}

/// The value of the sample `name{labels}` (labels written as in the text, e.g.
/// `interface="lo"`; empty for none) in Prometheus text.
pub fn metric(text: &str, name: &str, labels: &str) -> Option<f64> {
    let want = if labels.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{labels}}}")
    };
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        (key == want).then(|| value.parse().ok())?
    })
}

/// The names of every metric family in Prometheus text.
pub fn metric_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// A veth pair: `host_if` in this (the root) network namespace, where the daemon replays
/// onto it, and `peer_if` in the private namespace `ns`, where the test captures. Nothing
/// reaches any other network: the pair joins only these two ends, neither has an address, and
/// IPv6 is off on both. Removed on drop.
pub struct Veth {
    pub ns: String,
    pub host_if: String,
    pub peer_if: String,
    namespaces: OwnedNamespaces,
}

impl Veth {
    /// Makes the namespace and the pair. When that is impossible (not root, no iproute2),
    /// fails the test under CI=true and otherwise returns `None` after saying why.
    pub fn new() -> Option<Veth> {
        let id = unique_id();
        let ns = format!("nds-{id}");
        let bed = Veth {
            namespaces: OwnedNamespaces(vec![ns.clone()]),
            ns,
            host_if: format!("nds{id}h"),
            peer_if: format!("nds{id}p"),
        };
        set_up_or_skip(bed, Veth::set_up)
    }

    fn set_up(&self) -> Result<(), String> {
        self.namespaces.create()?;
        ip(&[
            "link",
            "add",
            &self.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &self.peer_if,
            "netns",
            &self.ns,
        ])?;
        sysctl_on(&format!(
            "/proc/sys/net/ipv6/conf/{}/disable_ipv6",
            self.host_if
        ))?;
        ip(&["link", "set", &self.host_if, "up"])?;
        ip(&["-n", &self.ns, "link", "set", &self.peer_if, "up"])
    }

    /// Sets the MTU of both ends.
    pub fn set_mtu(&self, mtu: u32) {
        let mtu = mtu.to_string();
        ip(&["link", "set", &self.host_if, "mtu", &mtu]).unwrap();
        ip(&["-n", &self.ns, "link", "set", &self.peer_if, "mtu", &mtu]).unwrap();
    }

    /// Starts capturing what arrives at the peer; returns once the capture is open.
    pub fn capture(&self) -> PeerCapture {
        PeerCapture::start(&self.ns, &self.peer_if, 65536)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        // The host end is in the root namespace; the namespace goes with `namespaces`.
        let _ = ip(&["link", "del", &self.host_if]);
    }
}

#[path = "../common/netns.rs"]
mod netns;
#[allow(unused_imports)]
pub use netns::{
    disable_ipv6_in, enter_netns, ip, on_ci, set_up_or_skip, sysctl_on, unique_id, Captured,
    OwnedNamespaces, PeerCapture,
};

/// True for an Ethernet/IPv4 frame whose source is in the test-bed range 198.18.0.0/15.
pub fn is_test_bed_frame(frame: &[u8]) -> bool {
    frame.len() >= 34
        && frame[12..14] == [0x08, 0x00]
        && frame[26] == 198
        && (frame[27] & 0xfe) == 18
}
