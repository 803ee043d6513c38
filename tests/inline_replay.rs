//! Inline replay across two interfaces (tcpreplay's `-i A -I B`): the split agrees with the
//! real tcpprep's cache files and modes, each frame leaves on its side in one schedule, the
//! ground truth names the interfaces and times, and bad settings get clear errors. The
//! namespace cases need root (and fail under CI=true when the bed cannot be made).

#[path = "common/scratch.rs"]
mod scratch;
mod testbed_support;

use scratch::TempDir;

use netdiffd::replay::{split_sides, Ipv4Cidr, Side, SideSplit, TcpprepCache};
use netdiffd::truth::{read_labels, FlowRecord};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use testbed_support::{
    corpus, corpus_files, frame_cid, generate_job, in_ns, InlineBed, D1_MAC, D2_MAC,
};

/// Runs the real tcpprep with `args` on `pcap`; the cache file, or `None` when tcpprep refuses
/// the capture (a link type it does not take).
fn tcpprep(pcap: &Path, args: &[&str], cache: &Path) -> Option<PathBuf> {
    let out = Command::new("tcpprep")
        .args(args)
        .arg(format!("--pcap={}", pcap.display()))
        .arg(format!("--cachefile={}", cache.display()))
        .output()
        .expect("tcpprep (Debian package tcpreplay) must be installed");
    out.status.success().then(|| cache.to_path_buf())
}

/// tcpprep's own reading of a cache file (`--print-info`).
fn tcpprep_print(cache: &Path) -> Vec<Side> {
    let out = Command::new("tcpprep")
        .arg(format!("--print-info={}", cache.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter_map(|l| l.split_once(" -> ").map(|(_, s)| s.trim().to_string()))
        .map(|s| match s.as_str() {
            "Primary" => Side::Primary,
            "Secondary" => Side::Secondary,
            _ => Side::Skip,
        })
        .collect()
}

#[test]
fn cache_files_and_splits_agree_with_the_real_tcpprep() {
    let dir = TempDir::new("inline");
    let cidrs = "10.0.0.0/8,192.168.0.0/16,172.16.0.0/12";
    let nets: Vec<Ipv4Cidr> = cidrs.split(',').map(|c| c.parse().unwrap()).collect();
    let (mut compared, mut frames, mut secondary) = (0, 0, 0);
    for f in corpus_files() {
        for (mode, args, ours) in [
            ("cidr", vec!["--cidr", cidrs], SideSplit::Cidr(nets.clone())),
            ("port", vec!["--port"], SideSplit::Port),
        ] {
            let cache = dir.join(format!("{mode}.cache"));
            let Some(cache) = tcpprep(&f, &args, &cache) else {
                continue;
            };
            let theirs = tcpprep_print(&cache);
            let read = split_sides(&f, &SideSplit::CacheFile(cache.clone())).unwrap();
            assert_eq!(read, theirs, "{}: cache file read differently", f.display());
            let parsed = TcpprepCache::read(&cache).unwrap();
            assert_eq!(parsed.packets as usize, theirs.len());
            let split = split_sides(&f, &ours).unwrap();
            let differ: Vec<(usize, Side, Side)> = split
                .iter()
                .zip(&theirs)
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| (i + 1, *a, *b))
                .take(5)
                .collect();
            assert!(
                differ.is_empty() && split.len() == theirs.len(),
                "{}: {mode} split differs from tcpprep at frames (number, ours, tcpprep's): {differ:?}",
                f.display()
            );
            compared += 1;
            frames += theirs.len();
            secondary += theirs.iter().filter(|s| **s == Side::Secondary).count();
        }
    }
    eprintln!("{compared} cache files, {frames} frames ({secondary} secondary) compared");
    assert!(compared >= 60, "only {compared} cache files compared");
    assert!(secondary > 1000 && secondary < frames);
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn each_frame_leaves_on_the_side_the_tcpprep_cache_names() {
    let dir = TempDir::new("inline");
    let Some(bed) = InlineBed::new() else { return };
    let pcap = corpus().join("ftp_mail/smtp-starttls.pcap");
    let cache = tcpprep(&pcap, &["--auto=first"], &dir.join("first.cache")).unwrap();
    let sides = tcpprep_print(&cache);
    let c1 = InlineBed::capture(&bed.ns_d, &bed.d1);
    let c2 = InlineBed::capture(&bed.ns_d, &bed.d2);
    let out = bed.replay(&[
        "-i",
        &bed.r1,
        "-I",
        &bed.r2,
        "--cachefile",
        &cache.display().to_string(),
        "--pps",
        "2000",
        pcap.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (got1, got2) = (c1.finish(), c2.finish());
    let mut reader = netdiffd::capture::CaptureReader::open(&pcap).unwrap();
    let mut frame = netdiffd::capture::Frame::default();
    let (mut want1, mut want2) = (Vec::new(), Vec::new());
    let mut i = 0;
    while reader.read_into(&mut frame).unwrap() {
        match sides[i] {
            Side::Primary => want1.push(frame.data.clone()),
            Side::Secondary => want2.push(frame.data.clone()),
            Side::Skip => {}
        }
        i += 1;
    }
    assert!(!want1.is_empty() && !want2.is_empty());
    let data = |c: &[testbed_support::Captured]| -> Vec<Vec<u8>> {
        c.iter().map(|f| f.data.clone()).collect()
    };
    assert_eq!(data(&got1), want1, "first interface");
    assert_eq!(data(&got2), want2, "second interface");
    // One schedule: across the two interfaces the frames arrive in the capture's order.
    let mut arrivals: Vec<(u64, Vec<u8>)> = got1
        .iter()
        .chain(&got2)
        .map(|f| (f.ts_ns, f.data.clone()))
        .collect();
    arrivals.sort_by_key(|a| a.0);
    let mut reader = netdiffd::capture::CaptureReader::open(&pcap).unwrap();
    let mut order = Vec::new();
    while reader.read_into(&mut frame).unwrap() {
        order.push(frame.data.clone());
    }
    let arrived: Vec<Vec<u8>> = arrivals.into_iter().map(|a| a.1).collect();
    assert_eq!(
        arrived, order,
        "frames crossed the two interfaces out of order"
    );
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains("cachefile split"), "{report}");
}

#[test]
fn generated_flows_split_by_flow_with_per_side_macs_and_ground_truth() {
    let dir = TempDir::new("inline");
    let Some(bed) = InlineBed::new() else { return };
    let pcap = dir.join("gen.pcap");
    let gen_labels = dir.join("gen.csv");
    let generated = generate_job(
        "netflix=2,dns=1,zoom=1,portscan=1",
        40,
        5,
        &pcap,
        &gen_labels,
    );
    assert_eq!(generated.len(), 40);
    let csv = std::fs::read_to_string(&gen_labels).unwrap();
    assert!(csv.starts_with("flow,capture,class,group,proto,"), "{csv}");
    assert_eq!(csv.lines().count(), 41, "one header and one row a flow");

    let labels = dir.join("replayed.jsonl");
    let c1 = InlineBed::capture(&bed.ns_d, &bed.d1);
    let c2 = InlineBed::capture(&bed.ns_d, &bed.d2);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let dmac = format!("{D1_MAC},{D2_MAC}");
    let out = bed.replay(&[
        "-i",
        &bed.r1,
        "-I",
        &bed.r2,
        "--enet-dmac",
        &dmac,
        "--pps",
        "5000",
        "--labels",
        labels.to_str().unwrap(),
        "--class",
        "mixed",
        pcap.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let (got1, got2) = (c1.finish(), c2.finish());
    let records = read_labels(&labels).unwrap();
    assert_eq!(
        records.len(),
        40,
        "the flow stage finds every generated flow"
    );
    let by_cid: HashMap<&str, &FlowRecord> = records
        .iter()
        .map(|r| (r.community_id.as_str(), r))
        .collect();
    let mut seen: HashMap<(String, bool), u64> = HashMap::new();
    for (frames, second, mac) in [(&got1, false, D1_MAC), (&got2, true, D2_MAC)] {
        for f in frames.iter().filter(|f| testbed_support::is_ipv4(&f.data)) {
            let dst: Vec<String> = f.data[..6].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(
                dst.join(":"),
                mac,
                "destination MAC of a frame on side {second}"
            );
            let (cid, src) = frame_cid(&f.data).unwrap();
            let r = by_cid
                .get(cid.as_str())
                .unwrap_or_else(|| panic!("frame of no labelled flow: {cid}"));
            // Client frames leave on the first interface, server frames on the second.
            assert_eq!(src == r.server, second, "flow {} frame from {src}", r.flow);
            *seen.entry((cid, second)).or_default() += 1;
        }
    }
    for r in &records {
        assert_eq!(r.class, "mixed");
        let cid = r.community_id.clone();
        assert_eq!(
            seen.get(&(cid.clone(), false)).copied().unwrap_or(0),
            r.client_packets
        );
        assert_eq!(
            seen.get(&(cid, true)).copied().unwrap_or(0),
            r.server_packets
        );
        assert_eq!(r.client_iface.as_deref(), Some(bed.r1.as_str()));
        if r.server_packets > 0 {
            assert_eq!(r.server_iface.as_deref(), Some(bed.r2.as_str()));
        }
        assert_eq!(r.sent.len(), 1, "one loop");
        let s = r.sent[0];
        assert!(before <= s.first_ns && s.first_ns <= s.last_ns && s.last_ns <= after);
    }
}

#[test]
fn bad_inline_settings_are_named() {
    let dir = TempDir::new("inline");
    let Some(bed) = InlineBed::new() else { return };
    let pcap = corpus().join("dns/avast_securedns.pcap");
    let p = pcap.to_str().unwrap();
    let same = bed.replay(&["-i", &bed.r1, "-I", &bed.r1, p]);
    assert!(!same.status.success());
    assert!(
        stderr(&same).contains("also the first interface"),
        "{}",
        stderr(&same)
    );

    let other = corpus().join("ftp_mail/smtp-starttls.pcap");
    let cache = tcpprep(&other, &["--port"], &dir.join("other.cache")).unwrap();
    let wrong = bed.replay(&[
        "-i",
        &bed.r1,
        "-I",
        &bed.r2,
        "--cachefile",
        cache.to_str().unwrap(),
        p,
    ]);
    assert!(!wrong.status.success());
    let e = stderr(&wrong);
    let ours = split_sides(&pcap, &SideSplit::Port).unwrap().len();
    let theirs = TcpprepCache::read(&cache).unwrap().packets;
    assert!(
        e.contains(&format!("{theirs} packets")) && e.contains(&format!("holds {ours}")),
        "{e}"
    );

    let three = bed.replay(&[
        "-i",
        &bed.r1,
        "-I",
        &bed.r2,
        "--enet-dmac",
        "2:0:0:0:0:1,2:0:0:0:0:2,2:0:0:0:0:3",
        p,
    ]);
    assert!(!three.status.success());
    assert!(stderr(&three).contains("MAC list"), "{}", stderr(&three));

    let missing = bed.replay(&["-i", &bed.r1, "-I", "ndi-nope", p]);
    assert!(
        stderr(&missing).contains("ndi-nope"),
        "{}",
        stderr(&missing)
    );

    let unwritable = bed.replay(&[
        "-i",
        &bed.r1,
        "--labels",
        "/proc/netdiffd/x.csv",
        "--topspeed",
        p,
    ]);
    assert!(!unwritable.status.success());
    assert!(
        stderr(&unwritable).contains("/proc/netdiffd"),
        "{}",
        stderr(&unwritable)
    );
    // Nothing is left at the labels path.
    let _ = in_ns(&bed.ns_r, "true", &[]);
    assert!(!Path::new("/proc/netdiffd/x.csv").exists());
}
