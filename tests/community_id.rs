//! Community ID v1 of every flow of the corpus, checked against Corelight's reference
//! implementation (the `communityid` Python package, installed by .ci/install-deps).
//!
//! Every capture of every class folder is read with the crate's own capture reader, dissector
//! and flow table; each TCP and UDP flow is hashed in both directions (which must agree), each
//! ICMP flow with the type and code of its first packet (and, for request/reply types, also as
//! the counterpart message coming back, which must agree too). All those tuples, plus the
//! spec's published IPv4 vectors, go to the reference implementation in one `python3`
//! invocation, and every id must match. Without python3 or the package the test is skipped with
//! a printed reason, except under CI=true, where it fails.

use netdiffd::capture::{dissect, CaptureReader, L3, L4};
use netdiffd::flows::{community_id, flows_from_capture, CommunityIdInput, Direction};
use netdiffd::flows::{Flow, FlowSettings};
use netdiffd::wire::IpProtocol;
use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Reads JSON lines `{"p", "s", "d", "sp", "dp"}` and writes one Community ID (seed 0) a line.
const ORACLE: &str = r#"
import json, sys
try:
    import communityid
except ImportError:
    sys.exit(3)
cid = communityid.CommunityID(seed=0)
make = {
    6: communityid.FlowTuple.make_tcp,
    17: communityid.FlowTuple.make_udp,
    1: communityid.FlowTuple.make_icmp,
}
out = []
for line in sys.stdin:
    t = json.loads(line)
    out.append(cid.calc(make[t["p"]](t["s"], t["d"], t["sp"], t["dp"])))
sys.stdout.write("\n".join(out) + "\n")
"#;

/// The spec's baseline IPv4 vectors for the three protocols (seed 0).
const SPEC_VECTORS: [(u8, &str, &str, u16, u16, &str); 3] = [
    (
        6,
        "128.232.110.120",
        "66.35.250.204",
        34855,
        80,
        "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
    ),
    (
        17,
        "192.168.1.52",
        "8.8.8.8",
        54585,
        53,
        "1:d/FP5EW3wiY1vCndhwleRRKHowQ=",
    ),
    (
        1,
        "192.168.0.89",
        "192.168.0.1",
        8,
        0,
        "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
    ),
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus")
}

/// Whether `python3` with the `communityid` package runs; false (skip) when not, except under
/// CI=true, where it panics.
fn oracle_available() -> bool {
    let why = match Command::new("python3")
        .args(["-c", "import communityid"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if o.status.success() => return true,
        Ok(o) => format!(
            "python3 cannot import communityid ({}); run .ci/install-deps or \
             `python3 -m pip install communityid`",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
                .trim()
        ),
        Err(e) => format!("python3 does not run ({e})"),
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the Community ID oracle is required under CI: {why}"
    );
    eprintln!("skipping the Community ID oracle test: {why}");
    false
}

/// Ids of `tuples` from the reference implementation, in order.
fn oracle_ids(tuples: &[CommunityIdInput]) -> Vec<String> {
    let mut input = String::new();
    for t in tuples {
        let line = serde_json::json!({
            "p": t.proto,
            "s": t.src.to_string(),
            "d": t.dst.to_string(),
            "sp": t.src_port,
            "dp": t.dst_port,
        });
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let mut child = Command::new("python3")
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written from another thread so that a full stdout pipe cannot block both sides.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python3 finishes");
    writer.join().unwrap().expect("tuples written to python3");
    assert!(
        out.status.success(),
        "the oracle failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = String::from_utf8(out.stdout)
        .expect("ASCII ids")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), tuples.len(), "one id a tuple from the oracle");
    ids
}

/// The counterpart of an ICMP request/reply type (spec, after Zeek), if it has one.
fn icmp_counterpart(t: u8) -> Option<u8> {
    const PAIRS: [(u8, u8); 5] = [(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)];
    PAIRS.iter().find_map(|&(a, b)| match t {
        _ if t == a => Some(b),
        _ if t == b => Some(a),
        _ => None,
    })
}

/// The class folders' captures, sorted (as `netdiffd dataset` finds them).
fn captures() -> Vec<PathBuf> {
    let root = corpus();
    netdiffd::corpus::list_captures(&root)
        .unwrap_or_else(|e| panic!("corpus missing at {}: {e}", root.display()))
}

/// (capture time, source, destination, echo identifier or 0) → (type, code) of the capture's
/// ICMP packets, the first packet winning where several share a key.
type IcmpIndex = HashMap<(u64, Ipv4Addr, Ipv4Addr, u16), (u8, u8)>;

fn icmp_index(path: &Path) -> IcmpIndex {
    let mut index = IcmpIndex::new();
    for frame in CaptureReader::open(path).unwrap() {
        let frame = frame.unwrap();
        let Ok(pkt) = dissect(&frame) else { continue };
        if let (L3::V4(ip), L4::Icmp(i)) = (pkt.l3, pkt.l4) {
            let id = if i.is_echo() { i.echo_ident() } else { 0 };
            index
                .entry((frame.ts_ns, ip.src_addr(), ip.dst_addr(), id))
                .or_insert((i.msg_type(), i.code()));
        }
    }
    index
}

/// A case for the oracle: the tuple, our id, and where it came from.
struct Case {
    tuple: CommunityIdInput,
    ours: String,
    origin: String,
}

/// The tuples of one flow, after checking that its two directions agree where they must.
fn flow_cases(flow: &Flow, icmp: &IcmpIndex, file: &str) -> Vec<Case> {
    let k = flow.key;
    let case = |tuple: CommunityIdInput, what: &str| Case {
        ours: community_id(&tuple, 0),
        tuple,
        origin: format!("{file}: {k} ({what})"),
    };
    match k.proto {
        IpProtocol::Tcp | IpProtocol::Udp => {
            let fwd = CommunityIdInput::transport(
                k.proto,
                k.client,
                k.client_port,
                k.server,
                k.server_port,
            );
            let back = CommunityIdInput::transport(
                k.proto,
                k.server,
                k.server_port,
                k.client,
                k.client_port,
            );
            let (fwd, back) = (case(fwd, "client->server"), case(back, "server->client"));
            assert_eq!(fwd.ours, back.ours, "{}: directions differ", fwd.origin);
            vec![fwd, back]
        }
        IpProtocol::Icmp => {
            let first = &flow.packets[0];
            let (src, dst) = match first.direction {
                Direction::Forward => (k.client, k.server),
                Direction::Backward => (k.server, k.client),
            };
            let (t, c) = *icmp
                .get(&(first.ts_ns, src, dst, k.client_port))
                .unwrap_or_else(|| panic!("{file}: {k}: first ICMP packet not found"));
            let fwd = case(CommunityIdInput::icmp(src, dst, t, c), "first packet");
            match icmp_counterpart(t) {
                Some(back_type) => {
                    let back = CommunityIdInput::icmp(dst, src, back_type, c);
                    let back = case(back, "counterpart back");
                    assert_eq!(fwd.ours, back.ours, "{}: directions differ", fwd.origin);
                    vec![fwd, back]
                }
                // One-way message: the reversed tuple is a different flow to the spec, but the
                // oracle still checks that we keep its order.
                None => {
                    let back = case(CommunityIdInput::icmp(dst, src, t, c), "one-way reversed");
                    vec![fwd, back]
                }
            }
        }
        p => panic!("{file}: {k}: unexpected protocol {p}"),
    }
}

#[test]
fn community_ids_of_the_corpus_match_the_reference_implementation() {
    if !oracle_available() {
        return;
    }
    let mut cases = Vec::new();
    let mut flows_per_proto: HashMap<u8, usize> = HashMap::new();
    let files = captures();
    assert!(!files.is_empty(), "no captures in {}", corpus().display());
    for path in &files {
        let file = path.strip_prefix(corpus()).unwrap().display().to_string();
        let (flows, _) = flows_from_capture(path, FlowSettings::default(), None).unwrap();
        let icmp = if flows.iter().any(|f| f.key.proto == IpProtocol::Icmp) {
            icmp_index(path)
        } else {
            IcmpIndex::new()
        };
        for flow in &flows {
            *flows_per_proto.entry(flow.key.proto.into()).or_default() += 1;
            cases.extend(flow_cases(flow, &icmp, &file));
        }
    }
    for (proto, src, dst, sport, dport, want) in SPEC_VECTORS {
        let tuple = CommunityIdInput::transport(
            proto.into(),
            src.parse().unwrap(),
            sport,
            dst.parse().unwrap(),
            dport,
        );
        let ours = community_id(&tuple, 0);
        assert_eq!(ours, want, "spec vector {tuple:?}");
        cases.push(Case {
            tuple,
            ours,
            origin: format!("spec vector {src} -> {dst}"),
        });
    }

    let ids = oracle_ids(&cases.iter().map(|c| c.tuple).collect::<Vec<_>>());
    let mismatches: Vec<String> = cases
        .iter()
        .zip(&ids)
        .filter(|(c, id)| c.ours != **id)
        .map(|(c, id)| format!("{}: ours {} reference {id}", c.origin, c.ours))
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} ids differ from the reference, first: {:#?}",
        mismatches.len(),
        cases.len(),
        &mismatches[..mismatches.len().min(10)]
    );

    let mut tuples_per_proto: HashMap<u8, usize> = HashMap::new();
    for c in &cases {
        *tuples_per_proto.entry(c.tuple.proto.into()).or_default() += 1;
    }
    eprintln!(
        "{} captures; flows TCP {} UDP {} ICMP {}; tuples checked TCP {} UDP {} ICMP {}",
        files.len(),
        flows_per_proto.get(&6).copied().unwrap_or(0),
        flows_per_proto.get(&17).copied().unwrap_or(0),
        flows_per_proto.get(&1).copied().unwrap_or(0),
        tuples_per_proto.get(&6).copied().unwrap_or(0),
        tuples_per_proto.get(&17).copied().unwrap_or(0),
        tuples_per_proto.get(&1).copied().unwrap_or(0),
    );
    // TCP and UDP must come from the corpus; ICMP may rest on the spec's echo vector alone.
    for (proto, name) in [(6, "TCP"), (17, "UDP")] {
        assert!(
            flows_per_proto.get(&proto).copied().unwrap_or(0) > 0,
            "the corpus has no {name} flow"
        );
    }
    if !flows_per_proto.contains_key(&1) {
        eprintln!("the corpus has no ICMP flow: ICMP is covered by the spec vector only");
    }
    assert!(tuples_per_proto.get(&1).copied().unwrap_or(0) > 0);
}
