//! Shared by the inline-replay, firewall and flow-meter tests: two private network namespaces
//! joined by two veth pairs — the replayer's `r1`/`r2` in `ns_r`, the device side's `d1`/`d2`
//! in `ns_d` — removed again on drop. `ns_d` is left as a plain receiver, or made a stateful
//! firewall router (IP forwarding, nftables, conntrack with strict TCP window tracking) that
//! forwards what arrives on `d1` out of `d2` and back, by input interface.
//!
//! Nothing is sent outside the namespaces made here: neither namespace has a route to anywhere
//! else, and the firewall's only next hops are the replayer's own interfaces.
#![allow(dead_code)]

use std::process::Command;
use std::sync::{Mutex, MutexGuard};

#[path = "../common/netns.rs"]
mod netns;
#[allow(unused_imports)]
pub use netns::{
    disable_ipv6_in, enter_netns, ip, on_ci, say_skipped, set_up_or_skip, unique_id, Captured,
    OwnedNamespaces, PeerCapture,
};

/// One bed at a time: replays must not share the two cores with another replay.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The replayer's and the device's interfaces, with fixed MACs.
pub struct InlineBed {
    pub ns_r: String,
    pub ns_d: String,
    pub r1: String,
    pub r2: String,
    pub d1: String,
    pub d2: String,
    namespaces: OwnedNamespaces,
    _turn: MutexGuard<'static, ()>,
}

pub const R1_MAC: &str = "02:00:00:00:0a:01";
pub const R2_MAC: &str = "02:00:00:00:0a:02";
pub const D1_MAC: &str = "02:00:00:00:0d:01";
pub const D2_MAC: &str = "02:00:00:00:0d:02";

/// Runs `program ARGS` inside namespace `ns`; its standard output, or why it failed.
pub fn in_ns(ns: &str, program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Writes `value` to the sysctl file `path` inside namespace `ns`.
pub fn sysctl(ns: &str, path: &str, value: &str) -> Result<(), String> {
    in_ns(ns, "sh", &["-c", &format!("echo {value} > {path}")]).map(|_| ())
}

impl InlineBed {
    /// Makes the namespaces and the two veth pairs, all up. When that is impossible (not root,
    /// no iproute2), fails the test under CI=true and otherwise returns `None` after saying why.
    pub fn new() -> Option<InlineBed> {
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = unique_id();
        let (ns_r, ns_d) = (format!("ndi-{id}-r"), format!("ndi-{id}-d"));
        let bed = InlineBed {
            namespaces: OwnedNamespaces(vec![ns_r.clone(), ns_d.clone()]),
            ns_r,
            ns_d,
            r1: format!("ndi{id}r1"),
            r2: format!("ndi{id}r2"),
            d1: format!("ndi{id}d1"),
            d2: format!("ndi{id}d2"),
            _turn: turn,
        };
        set_up_or_skip(bed, InlineBed::set_up)
    }

    fn set_up(&self) -> Result<(), String> {
        self.namespaces.create()?;
        for (r, rmac, d, dmac) in [
            (&self.r1, R1_MAC, &self.d1, D1_MAC),
            (&self.r2, R2_MAC, &self.d2, D2_MAC),
        ] {
            ip(&[
                "link", "add", r, "netns", &self.ns_r, "address", rmac, "type", "veth", "peer",
                "name", d, "netns", &self.ns_d, "address", dmac,
            ])?;
            ip(&["-n", &self.ns_r, "link", "set", r, "up"])?;
            ip(&["-n", &self.ns_d, "link", "set", d, "up"])?;
        }
        Ok(())
    }

    /// Makes `ns_d` a stateful firewall router: what arrives on `d1` leaves on `d2` towards the
    /// replayer's `r2` and the other way round (policy routing by input interface, so any
    /// address works), conntrack with strict window tracking, and the nftables `ruleset`.
    /// Fails the test under CI=true when the tools are missing; otherwise returns why.
    pub fn make_firewall(&self, ruleset: &str) -> Result<(), String> {
        let ns = &self.ns_d;
        sysctl(ns, "/proc/sys/net/ipv4/ip_forward", "1")?;
        for conf in ["all", "default", &self.d1, &self.d2] {
            sysctl(
                ns,
                &format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter"),
                "0",
            )?;
            sysctl(
                ns,
                &format!("/proc/sys/net/ipv4/conf/{conf}/send_redirects"),
                "0",
            )?;
        }
        // Link-local next hops with permanent neighbour entries: the replayer's interfaces
        // answer no ARP.
        let hops = [
            (
                &self.d2,
                "169.254.2.1/30",
                "169.254.2.2",
                R2_MAC,
                &self.d1,
                "100",
            ),
            (
                &self.d1,
                "169.254.1.1/30",
                "169.254.1.2",
                R1_MAC,
                &self.d2,
                "200",
            ),
        ];
        for (out, addr, hop, mac, from, table) in hops {
            ip(&["-n", ns, "addr", "add", addr, "dev", out])?;
            ip(&[
                "-n",
                ns,
                "neigh",
                "replace",
                hop,
                "lladdr",
                mac,
                "dev",
                out,
                "nud",
                "permanent",
            ])?;
            ip(&[
                "-n", ns, "route", "add", "default", "via", hop, "dev", out, "onlink", "table",
                table,
            ])?;
            ip(&["-n", ns, "rule", "add", "iif", from, "lookup", table])?;
        }
        let file = std::env::temp_dir().join(format!("{ns}.nft"));
        std::fs::write(&file, ruleset).map_err(|e| e.to_string())?;
        let loaded = in_ns(ns, "nft", &["-f", &file.display().to_string()]);
        let _ = std::fs::remove_file(&file);
        loaded?;
        sysctl(
            ns,
            "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal",
            "0",
        )?;
        Ok(())
    }

    /// The packet count of the named nftables counter in table `inet fw`.
    pub fn nft_counter(&self, name: &str) -> u64 {
        let out = in_ns(&self.ns_d, "nft", &["list", "counter", "inet", "fw", name])
            .unwrap_or_else(|e| panic!("{e}"));
        out.split_whitespace()
            .skip_while(|w| *w != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {out}"))
    }

    /// Resets every nftables counter of table `inet fw` and flushes conntrack.
    pub fn reset_firewall_state(&self) {
        in_ns(
            &self.ns_d,
            "nft",
            &["reset", "counters", "table", "inet", "fw"],
        )
        .unwrap();
        let _ = in_ns(&self.ns_d, "conntrack", &["-F"]);
    }

    /// Starts capturing what arrives on `iface` of namespace `ns`.
    pub fn capture(ns: &str, iface: &str) -> PeerCapture {
        PeerCapture::start(ns, iface, 65536)
    }
}

/// True for an Ethernet/IPv4 frame (the kernel of a namespace sends nothing else once IPv6 is
/// off, except ARP, which this excludes).
pub fn is_ipv4(frame: &[u8]) -> bool {
    frame.len() >= 34 && frame[12..14] == [0x08, 0x00]
}

/// The shared corpus of real captures.
pub fn corpus() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Every capture of the corpus, sorted (as `netdiffd dataset` finds them).
pub fn corpus_files() -> Vec<std::path::PathBuf> {
    netdiffd::corpus::list_captures(&corpus()).expect("the corpus")
}

/// The Community ID of an Ethernet/IPv4 frame and its source address (the crate's function,
/// itself checked against the reference implementation in tests/community_id.rs).
pub fn frame_cid(frame: &[u8]) -> Option<(String, std::net::Ipv4Addr)> {
    use netdiffd::flows::{community_id, CommunityIdInput};
    use netdiffd::wire::ipv4::Ipv4Packet;
    use netdiffd::wire::IpProtocol;
    if !is_ipv4(frame) {
        return None;
    }
    let ip = Ipv4Packet::new_checked(&frame[14..]).ok()?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let l4 = frame[14..].get(ip.header_len()..ip.header_len() + 4)?;
    let input = match ip.protocol() {
        IpProtocol::Icmp => CommunityIdInput::icmp(src, dst, l4[0], l4[1]),
        p => CommunityIdInput::transport(
            p,
            src,
            u16::from_be_bytes([l4[0], l4[1]]),
            dst,
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
    };
    Some((community_id(&input, 0), src))
}

/// `netdiffd generate` of `flows` flows of `mix` with the shipped model into `pcap`, with its
/// ground truth in `labels`; the records.
pub fn generate_job(
    mix: &str,
    flows: usize,
    seed: u64,
    pcap: &std::path::Path,
    labels: &std::path::Path,
) -> Vec<netdiffd::truth::FlowRecord> {
    let out = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["generate", "--mix", mix, "--flows", &flows.to_string()])
        .args(["--seed", &seed.to_string(), "-o"])
        .arg(pcap)
        .arg("--labels")
        .arg(labels)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    netdiffd::truth::read_labels(labels).unwrap()
}

impl InlineBed {
    /// `netdiffd replay ARGS` run inside the replayer's namespace.
    pub fn replay(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns_r,
                env!("CARGO_BIN_EXE_netdiffd"),
                "replay",
            ])
            .args(args)
            .output()
            .unwrap()
    }
}
