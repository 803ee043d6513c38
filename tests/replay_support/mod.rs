//! Shared by the replay integration tests: a veth pair between two private network namespaces
//! (removed again on drop, even when a test fails), a capture on the receiving end, test
//! captures, and the corpus.
//!
//! Nothing is ever sent outside the namespaces made here: the sending end of the veth pair lives
//! in its own namespace with no addresses and no routes.
#![allow(dead_code)]

use netdiffd::capture::LinkType;
use netdiffd::packets::{PcapWriter, TsResolution};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

#[path = "../common/scratch.rs"]
mod scratch;
use scratch::TempFile;

/// One test bed at a time: timing checks must not share the two cores with another replay.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Two namespaces joined by a veth pair: frames sent on `if_tx` in `ns_tx` arrive on `if_rx`
/// in `ns_rx`.
pub struct Testbed {
    pub ns_tx: String,
    pub ns_rx: String,
    pub if_tx: String,
    pub if_rx: String,
    namespaces: OwnedNamespaces,
    _turn: MutexGuard<'static, ()>,
}

impl Testbed {
    /// Makes the namespaces and the veth pair. When that is impossible (not root, no iproute2),
    /// fails the test under CI=true and otherwise returns `None` after saying why.
    pub fn new() -> Option<Testbed> {
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = unique_id();
        let (ns_tx, ns_rx) = (format!("ndr-{id}-tx"), format!("ndr-{id}-rx"));
        let bed = Testbed {
            namespaces: OwnedNamespaces(vec![ns_tx.clone(), ns_rx.clone()]),
            ns_tx,
            ns_rx,
            if_tx: format!("ndr{id}t"),
            if_rx: format!("ndr{id}r"),
            _turn: turn,
        };
        set_up_or_skip(bed, Testbed::set_up)
    }

    fn set_up(&self) -> Result<(), String> {
        self.namespaces.create()?;
        ip(&[
            "link",
            "add",
            &self.if_tx,
            "netns",
            &self.ns_tx,
            "type",
            "veth",
            "peer",
            "name",
            &self.if_rx,
            "netns",
            &self.ns_rx,
        ])?;
        ip(&["-n", &self.ns_tx, "link", "set", &self.if_tx, "up"])?;
        ip(&["-n", &self.ns_rx, "link", "set", &self.if_rx, "up"])
    }

    /// The command `netdiffd replay -i IF_TX ARGS...` inside the sending namespace.
    fn replay_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.ns_tx,
            env!("CARGO_BIN_EXE_netdiffd"),
            "replay",
            "-i",
            &self.if_tx,
        ])
        .args(args);
        c
    }

    /// `netdiffd replay -i IF_TX ARGS...` run inside the sending namespace.
    pub fn replay(&self, args: &[&str]) -> Output {
        self.replay_command(args).output().expect("run netdiffd")
    }

    /// The same, as a child process still running.
    pub fn spawn_replay(&self, args: &[&str]) -> std::process::Child {
        self.replay_command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run netdiffd")
    }

    /// Starts capturing what arrives on the receiving end; returns once the capture is open.
    pub fn capture(&self) -> PeerCapture {
        PeerCapture::start(&self.ns_rx, &self.if_rx, 2048)
    }

    /// Sets the MTU of both ends.
    pub fn set_mtu(&self, mtu: u32) {
        let mtu = mtu.to_string();
        ip(&["-n", &self.ns_tx, "link", "set", &self.if_tx, "mtu", &mtu]).expect("set MTU");
        ip(&["-n", &self.ns_rx, "link", "set", &self.if_rx, "mtu", &mtu]).expect("set MTU");
    }

    /// Runs `f` on a thread inside the sending namespace.
    pub fn in_tx_namespace<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let ns = self.ns_tx.clone();
        std::thread::spawn(move || {
            enter_netns(&ns).expect("enter the sending namespace");
            f()
        })
    }

    /// Brings the receiving end down or up, and waits (up to 5 s) until the sending end has
    /// lost or regained its carrier (the kernel notices that asynchronously).
    pub fn set_rx_up(&self, up: bool) {
        ip(&[
            "-n",
            &self.ns_rx,
            "link",
            "set",
            &self.if_rx,
            if up { "up" } else { "down" },
        ])
        .unwrap();
        for _ in 0..100 {
            let out = Command::new("ip")
                .args(["-n", &self.ns_tx, "link", "show", &self.if_tx])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("NO-CARRIER") != up {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not {} its carrier",
            self.if_tx,
            if up { "regain" } else { "lose" }
        );
    }
}

#[path = "../common/netns.rs"]
mod netns;
#[allow(unused_imports)]
pub use netns::{
    disable_ipv6_in, enter_netns, ip, on_ci, set_up_or_skip, unique_id, Captured, OwnedNamespaces,
    PeerCapture,
};

/// An Ethernet/IPv4/UDP frame of `len` bytes (at least 60) whose payload starts with `seq`.
pub fn udp_frame(seq: u64, len: usize) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let ip_len = (len - 14) as u16;
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
    ];
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    let csum = !fold(
        ip.chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum(),
    );
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x27, 0x10, 0, 9]);
    f.extend_from_slice(&(ip_len - 20).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&seq.to_be_bytes());
    f.resize(len, 0);
    f
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The sequence number `udp_frame` put in a frame.
pub fn seq_of(frame: &[u8]) -> u64 {
    u64::from_be_bytes(frame[42..50].try_into().unwrap())
}

/// Writes a nanosecond pcap of link type `linktype` named `name` in a scratch folder of its
/// own, which goes when the file is dropped.
pub fn write_pcap(name: &str, linktype: u32, frames: &[(u64, Vec<u8>)]) -> TempFile {
    let file = TempFile::new("replay", name);
    let mut w =
        PcapWriter::create(&file, LinkType::from_number(linktype), TsResolution::Nano).unwrap();
    for (ts, data) in frames {
        w.write(*ts, data).unwrap();
    }
    w.commit().unwrap();
    file
}

/// A capture of `n` 64-byte UDP frames `gap_ns` apart.
pub fn paced_capture(name: &str, n: u64, gap_ns: u64) -> TempFile {
    let frames: Vec<(u64, Vec<u8>)> = (0..n)
        .map(|i| (1_700_000_000_000_000_000 + i * gap_ns, udp_frame(i, 64)))
        .collect();
    write_pcap(name, 1, &frames)
}

/// A corpus file (shared/corpus beside the crate).
pub fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(rel)
}

/// Every frame of a capture file, in order.
pub fn frames_of(path: &Path) -> Vec<Vec<u8>> {
    netdiffd::capture::CaptureReader::open(path)
        .unwrap()
        .map(|f| f.unwrap().data)
        .collect()
}

/// The stdout of a finished run as text, after checking that it succeeded.
pub fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "netdiffd failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON report of a finished `--json` run.
pub fn json_ok(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout_ok(out)).expect("JSON report")
}
