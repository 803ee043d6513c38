//! Helpers shared by the integration tests: tshark's verdicts on a capture (run and parsed by
//! the library's `eval::tshark`, in the tuple form these tests use), and scratch folders that
//! go when the test is done with them.
#![allow(dead_code)]

mod netns;
mod scratch;

#[allow(unused_imports)]
pub use scratch::{TempDir, TempFile};

use std::path::Path;
use std::process::Command;

/// Runs `netdiffd ARGS` (the binary under test) and returns its exit status and output.
pub fn netdiffd<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `netdiffd ARGS`, asserts that it succeeded (naming the command and what it printed)
/// and returns its standard output.
pub fn netdiffd_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let o = netdiffd(args);
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        o.status.success(),
        "netdiffd {shown:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `netdiffd check --strict` on `path`, asserts that no rule is broken (exit status 0)
/// and returns the report it printed.
pub fn assert_check_strict_passes(path: &Path) -> String {
    let check = Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .args(["check", "--strict"])
        .arg(path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout).into_owned();
    assert_eq!(check.status.code(), Some(0), "{report}");
    report
}

/// tshark's expert-info summary of a capture, with checksum validation on.
#[derive(Debug, Default)]
pub struct Expert {
    /// Number of error-severity items.
    pub errors: u64,
    /// Number of warning-severity items.
    pub warnings: u64,
    /// (section, group, protocol, summary, count) rows.
    pub rows: Vec<(String, String, String, String, u64)>,
}

impl Expert {
    /// Rows of one section ("Errors", "Warnings", ...).
    pub fn in_section(&self, section: &str) -> Vec<&(String, String, String, String, u64)> {
        self.rows.iter().filter(|r| r.0 == section).collect()
    }
}

/// Runs tshark on `path` with IPv4/TCP/UDP checksum validation on and reads `-z expert`.
/// Panics when tshark is missing: the tests that call this need it.
pub fn tshark_expert(path: &Path) -> Expert {
    run_tshark(path, &[])
}

/// As [`tshark_expert`], with every TCP and UDP payload decoded as plain data: the verdict on
/// the link, network and transport layers alone. Repaired payloads are filler bytes of the
/// encoded length, which application dissectors (DHCP, DNS, ...) may rightly call malformed.
pub fn tshark_expert_transport(path: &Path) -> Expert {
    run_tshark(path, &netdiffd::eval::tshark::TRANSPORT_ONLY)
}

fn run_tshark(path: &Path, extra: &[&str]) -> Expert {
    let e = netdiffd::eval::tshark::tshark_expert(path, extra)
        .unwrap_or_else(|e| panic!("tshark must be installed (Debian package tshark): {e}"));
    Expert {
        errors: e.errors,
        warnings: e.warnings,
        rows: e
            .rows
            .into_iter()
            .map(|r| (r.section, r.group, r.protocol, r.summary, r.count))
            .collect(),
    }
}

/// A network namespace with a veth pair inside it, removed on drop. Creating it needs root
/// (CAP_SYS_ADMIN, CAP_NET_ADMIN); where that fails, the test fails under CI=true and is
/// skipped with a printed reason elsewhere (`None`).
pub struct NetnsVeth {
    /// Namespace name.
    pub ns: String,
    /// The end packets are sent on.
    pub tx: String,
    /// The peer end.
    pub rx: String,
    namespaces: netns::OwnedNamespaces,
}

impl NetnsVeth {
    /// Creates a namespace with veth pair `<tag>a` / `<tag>b` inside, both up.
    pub fn create(tag: &str) -> Option<NetnsVeth> {
        let ns = format!("ndd-{tag}-{}", netns::unique_id());
        let n = NetnsVeth {
            namespaces: netns::OwnedNamespaces(vec![ns.clone()]),
            ns,
            tx: format!("{tag}a"),
            rx: format!("{tag}b"),
        };
        netns::set_up_or_skip(n, |n| {
            n.namespaces.create()?;
            netns::ip(&[
                "-n", &n.ns, "link", "add", &n.tx, "type", "veth", "peer", "name", &n.rx,
            ])?;
            netns::ip(&["-n", &n.ns, "link", "set", &n.tx, "up"])?;
            netns::ip(&["-n", &n.ns, "link", "set", &n.rx, "up"])
        })
    }

    /// A command run inside the namespace.
    pub fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }
}

/// Runs tcpreplay at top speed on `iface` inside `net` and returns (successful, failed) packets.
pub fn tcpreplay(net: &NetnsVeth, iface: &str, pcap: &Path) -> (u64, u64) {
    let out = net
        .exec("tcpreplay")
        .args(["-i", iface, "-t"])
        .arg(pcap)
        .output()
        .expect("tcpreplay must be installed (Debian package tcpreplay)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tcpreplay failed: {text}");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|r| r.trim().parse::<u64>()))
            .unwrap_or_else(|| panic!("no `{name}` in tcpreplay output: {text}"))
            .unwrap()
    };
    (field("Successful packets:"), field("Failed packets:"))
}

/// The contents of a gzip-compressed file (the nPrint tool's reference outputs).
pub fn gunzip(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut v,
    )
    .unwrap();
    v
}

/// The reference CSVs of a test data folder, `STEM.SUFFIX.csv.gz`, sorted by name: (file name,
/// stem, suffix, contents).
pub fn reference_csvs(dir: &Path) -> Vec<(String, String, String, Vec<u8>)> {
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".csv.gz"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let (stem, suffix) = name.trim_end_matches(".csv.gz").split_once('.').unwrap();
            (
                name.clone(),
                stem.to_string(),
                suffix.to_string(),
                gunzip(f),
            )
        })
        .collect()
}

/// The 1-based line where two CSVs first differ (0 when one is a prefix of the other).
pub fn first_difference(got: &[u8], want: &[u8]) -> usize {
    got.split(|&b| b == b'\n')
        .zip(want.split(|&b| b == b'\n'))
        .position(|(a, b)| a != b)
        .map_or(0, |l| l + 1)
}
