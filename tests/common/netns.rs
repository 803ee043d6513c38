//! Network-namespace helpers shared by the replay and the daemon test supports (each includes
//! this file with `#[path]`): running `ip`, the CI rule, and a libpcap capture on a thread
//! inside a namespace.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

static NEXT_BED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A name part unique to this test process and this bed (`<pid>x<n>`), short enough for
/// interface names (at most 15 bytes with a few letters around it).
pub fn unique_id() -> String {
    format!(
        "{}x{}",
        std::process::id() % 100_000,
        NEXT_BED.fetch_add(1, Ordering::Relaxed)
    )
}

/// The network namespaces of one test bed, named up front and made by [`create`]; dropping
/// this deletes them, and with them every veth end inside (so the pairs too), even when a test
/// fails.
///
/// [`create`]: OwnedNamespaces::create
pub struct OwnedNamespaces(pub Vec<String>);

impl OwnedNamespaces {
    /// Makes every namespace, with IPv6 off (the kernel would send neighbour discovery of its
    /// own) and the loopback up.
    pub fn create(&self) -> Result<(), String> {
        for ns in &self.0 {
            ip(&["netns", "add", ns])?;
            disable_ipv6_in(ns)?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }
}

impl Drop for OwnedNamespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Runs `ip ARGS`, returning its error output when it fails.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// True under CI=true, where tests that need root must fail rather than skip.
pub fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A test bed once `set_up` has made it; when that is impossible (not root, no iproute2), fails
/// the test under CI=true and otherwise says why and returns `None` (dropping `bed` removes
/// what was made).
pub fn set_up_or_skip<T>(bed: T, set_up: impl FnOnce(&T) -> Result<(), String>) -> Option<T> {
    match set_up(&bed) {
        Ok(()) => Some(bed),
        Err(why) if on_ci() => panic!("cannot set up the veth test bed under CI: {why}"),
        Err(why) => {
            say_skipped(&format!(
                "cannot set up the veth test bed ({why}); run as root"
            ));
            None
        }
    }
}

/// Says on the terminal that a test is skipped and why: written to the process's standard
/// error directly, which the test harness does not capture, so the run shows it.
pub fn say_skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {why}");
}

/// Writes 1 to the sysctl file `path`; a file that does not exist (a kernel without that
/// feature) needs nothing.
pub fn sysctl_on(path: &str) -> Result<(), String> {
    match std::fs::write(path, "1") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

/// Turns IPv6 off in namespace `ns`, for interfaces made later too: the kernel would otherwise
/// send neighbour discovery frames of its own.
pub fn disable_ipv6_in(ns: &str) -> Result<(), String> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter_netns(&ns).map_err(|e| format!("setns {ns}: {e}"))?;
        for conf in ["all", "default"] {
            // Files under /proc/sys/net belong to the network namespace of the thread opening
            // them.
            sysctl_on(&format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6"))
                .map_err(|e| format!("{e} in {ns}"))?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| "IPv6 setup thread panicked".to_string())?
}

/// Moves the calling thread into network namespace `ns`.
pub fn enter_netns(ns: &str) -> std::io::Result<()> {
    let f = File::open(Path::new("/var/run/netns").join(ns))?;
    // SAFETY: `f` is an open network-namespace file for the duration of the call; setns only
    // changes the calling thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A frame as captured on the receiving end.
#[derive(Debug, Clone)]
pub struct Captured {
    pub ts_ns: u64,
    pub data: Vec<u8>,
}

/// A libpcap capture running on a thread inside the receiving namespace.
pub struct PeerCapture {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Vec<Captured>, String>>,
}

impl PeerCapture {
    /// Starts capturing on `iface` inside `ns`, frames cut at `snaplen` bytes. Immediate mode
    /// uses fixed ring slots sized by the snap length, so a small one gives many slots.
    pub fn start(ns: &str, iface: &str, snaplen: i32) -> PeerCapture {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (ns, iface, flag) = (ns.to_string(), iface.to_string(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let opened = (|| -> Result<pcap::Capture<pcap::Active>, String> {
                enter_netns(&ns).map_err(|e| format!("setns {ns}: {e}"))?;
                let cap = pcap::Capture::from_device(iface.as_str())
                    .and_then(|c| {
                        c.immediate_mode(true)
                            .precision(pcap::Precision::Nano)
                            .snaplen(snaplen)
                            .buffer_size(64 << 20)
                            .open()
                    })
                    .and_then(|c| c.setnonblock())
                    .map_err(|e| format!("open capture on {iface}: {e}"))?;
                cap.direction(pcap::Direction::In)
                    .map_err(|e| e.to_string())?;
                Ok(cap)
            })();
            let mut cap = match opened {
                Ok(c) => {
                    ready_tx.send(Ok(())).unwrap();
                    c
                }
                Err(e) => {
                    ready_tx.send(Err(e.clone())).unwrap();
                    return Err(e);
                }
            };
            let mut frames = Vec::new();
            loop {
                match cap.next_packet() {
                    Ok(p) => frames.push(Captured {
                        ts_ns: p.header.ts.tv_sec as u64 * 1_000_000_000
                            + p.header.ts.tv_usec as u64,
                        data: p.data.to_vec(),
                    }),
                    // Non-blocking: nothing there yet. The kernel stamps frames as they arrive,
                    // so reading them a little later changes no timestamp.
                    Err(pcap::Error::TimeoutExpired) if flag.load(Ordering::Relaxed) => {
                        return Ok(frames)
                    }
                    Err(pcap::Error::TimeoutExpired) => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        });
        ready_rx
            .recv()
            .unwrap()
            .expect("capture on the receiving end");
        PeerCapture { stop, thread }
    }

    /// Waits for frames still in flight, stops, and returns what arrived.
    pub fn finish(self) -> Vec<Captured> {
        std::thread::sleep(Duration::from_millis(300));
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap().expect("capture")
    }
}
