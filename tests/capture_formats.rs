//! The capture reader on real files: the format samples of `../shared/reference/formats/` (see
//! its README), the corpus, and libpcap reading the same files.

mod capture_build;

use capture_build::{pcap_record, read, Ng};
use netdiffd::capture::{CaptureErrorKind, CaptureFormat, CaptureReader, Frame, LinkType};
use std::path::{Path, PathBuf};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

fn formats() -> PathBuf {
    shared().join("reference/formats")
}

fn read_all(path: &Path) -> Vec<Frame> {
    let frames: Result<Vec<Frame>, _> = CaptureReader::open(path).unwrap().collect();
    frames.unwrap_or_else(|e| panic!("{e}"))
}

/// (file, packets) rows of the corpus MANIFEST.csv.
fn corpus() -> Vec<(PathBuf, usize)> {
    let dir = shared().join("corpus");
    let text = std::fs::read_to_string(dir.join("MANIFEST.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (fc, pc) = (col("file"), col("packets"));
    let rows: Vec<(PathBuf, usize)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (dir.join(f[fc]), f[pc].parse().unwrap())
        })
        .collect();
    assert!(rows.len() >= 20, "corpus manifest has {} rows", rows.len());
    rows
}

/// The readable samples: (file, container, link type, packets), as the formats README lists them.
const SUPPORTED: &[(&str, CaptureFormat, LinkType, usize)] = &[
    (
        "zoom_p2p.pcapng",
        CaptureFormat::Pcapng,
        LinkType::Ethernet,
        763,
    ),
    (
        "http2.pcapng",
        CaptureFormat::Pcapng,
        LinkType::LinuxSll,
        10,
    ),
    ("bjnp.pcap", CaptureFormat::PcapMicro, LinkType::Raw, 10),
    (
        "http-crash-content-disposition.pcap",
        CaptureFormat::PcapMicro,
        LinkType::Raw,
        9,
    ),
    (
        "ossfuzz_seed_fake_traces_1.pcapng",
        CaptureFormat::Pcapng,
        LinkType::Ipv4,
        21,
    ),
    ("nats.pcap", CaptureFormat::PcapMicro, LinkType::Null, 27),
    ("openwire.pcapng", CaptureFormat::Pcapng, LinkType::Null, 43),
];

#[test]
fn supported_samples_read_completely() {
    for &(file, format, link, packets) in SUPPORTED {
        let path = formats().join(file);
        let reader = CaptureReader::open(&path).unwrap();
        assert_eq!(reader.format(), format, "{file}");
        let frames = read_all(&path);
        assert_eq!(frames.len(), packets, "{file}");
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.record, i as u64 + 1, "{file}");
            assert_eq!(f.link, link, "{file} record {}", f.record);
            assert!(f.orig_len as usize >= f.data.len(), "{file}");
            assert!(!f.data.is_empty(), "{file} record {}", f.record);
        }
    }
}

#[test]
fn unsupported_link_types_are_named() {
    for (file, number, name) in [
        ("dlt_ppp.pcap", 9, "PPP"),
        ("BGP_redist.pcap", 104, "Cisco HDLC"),
    ] {
        let path = formats().join(file);
        let err = CaptureReader::open(&path).unwrap_err();
        match err.kind {
            CaptureErrorKind::UnsupportedLinkType { number: n, name: m } => {
                assert_eq!((n, m), (number, name), "{file}");
            }
            ref other => panic!("{file}: {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(file), "{msg}");
        assert!(msg.contains(&format!("link type {number}")), "{msg}");
    }
}

/// The fuzzer-made sample is a format 2.0 nanosecond pcap, whose record headers hold the original
/// length before the captured one: its one record has 197 of 524 501 bytes, and 2 stray bytes
/// follow it. libpcap reads it the same way.
#[test]
fn fuzzer_made_sample_reads_one_record_then_fails_truncated() {
    let path = formats().join("fuzz-2021-10-13.pcap");
    let mut reader = CaptureReader::open(&path).unwrap();
    assert_eq!(reader.format(), CaptureFormat::PcapNano);
    let first = reader.next().unwrap().unwrap();
    assert_eq!(
        (first.record, first.data.len(), first.orig_len),
        (1, 197, 524_501)
    );
    assert_eq!(first.link, LinkType::Null);
    assert_eq!(first.ts_ns, 980_658_802 * 1_000_000_000 + 1_882_137_472);
    let _ = netdiffd::capture::dissect(&first);
    let err = reader.next().unwrap().unwrap_err();
    assert!(
        matches!(
            err.kind,
            CaptureErrorKind::Truncated {
                what: "record header",
                need: 16,
                have: 2
            }
        ),
        "{err}"
    );
    assert_eq!((err.record, err.offset), (Some(2), 24 + 16 + 197));
    assert!(
        err.to_string().contains("fuzz-2021-10-13.pcap: record 2"),
        "{err}"
    );
    assert!(reader.next().is_none(), "the reader stops after an error");

    let mut lib = pcap::Capture::from_file_with_precision(&path, pcap::Precision::Nano).unwrap();
    let p = lib.next_packet().unwrap();
    assert_eq!((p.data, p.header.len), (&first.data[..], first.orig_len));
    assert!(lib.next_packet().is_err());
}

#[test]
fn pcapng_matches_its_pcap_conversion() {
    let ng = read_all(&formats().join("zoom_p2p.pcapng"));
    let classic = read_all(&shared().join("corpus/zoom/zoom_p2p.pcap"));
    assert_eq!(ng.len(), 763);
    assert_eq!(ng.len(), classic.len());
    for (a, b) in ng.iter().zip(&classic) {
        assert_eq!(a.record, b.record);
        assert_eq!(a.data, b.data, "record {}", a.record);
        assert_eq!(a.orig_len, b.orig_len, "record {}", a.record);
        assert_eq!(a.link, b.link);
        assert_eq!(a.ts_ns / 1000, b.ts_ns / 1000, "record {}", a.record);
    }
}

#[test]
fn corpus_reads_with_the_manifest_packet_counts() {
    for (path, packets) in corpus() {
        assert_eq!(read_all(&path).len(), packets, "{}", path.display());
    }
}

/// Frames as libpcap gives them: (bytes, timestamp in ns, original length).
fn libpcap_frames(path: &Path) -> Vec<(Vec<u8>, u64, u32)> {
    let mut cap = pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).unwrap();
    let mut out = Vec::new();
    loop {
        match cap.next_packet() {
            Ok(p) => {
                let ts = p.header.ts;
                let ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_usec as u64;
                out.push((p.data.to_vec(), ns, p.header.len));
            }
            Err(pcap::Error::NoMorePackets) => return out,
            Err(e) => panic!("libpcap on {}: {e}", path.display()),
        }
    }
}

#[test]
fn frames_match_libpcap() {
    let mut files: Vec<PathBuf> = corpus().into_iter().map(|(p, _)| p).collect();
    files.extend(SUPPORTED.iter().map(|(f, ..)| formats().join(f)));
    for path in files {
        let ours = read_all(&path);
        let theirs = libpcap_frames(&path);
        let name = path.display();
        assert_eq!(ours.len(), theirs.len(), "{name}");
        for (a, (data, ts, len)) in ours.iter().zip(&theirs) {
            assert_eq!(&a.data, data, "{name} record {}", a.record);
            assert_eq!(a.ts_ns, *ts, "{name} record {}", a.record);
            assert_eq!(a.orig_len, *len, "{name} record {}", a.record);
        }
    }
}

/// Synthetic pcapng: sections in both byte orders, interfaces with their own link types,
/// resolutions (10^-6 by default, 10^-9, 2^-20) and offsets, every packet block kind, and blocks
/// the reader skips.
#[test]
fn pcapng_sections_interfaces_and_packet_blocks() {
    let d = |n: u8, len: usize| vec![n; len];
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[])
        .idb(228, 0, &[(9, &[9])])
        .block(4, &[1, 0, 4, 0, 10, 0, 0, 1, 0, 0, 0, 0])
        .block(5, &[0; 12])
        .block(0x0000_0bad, &[1, 2, 3])
        .block(0x0000_000a, &[0; 4])
        .epb(0, 1_700_000_000_123_456, &d(1, 61))
        .epb(1, 1_700_000_000_123_456_789, &d(2, 20))
        .section(true)
        .idb(113, 0, &[(9, &[0x80 | 20]), (14, &1_000i64.to_be_bytes())])
        .epb(0, (5 << 20) + 1, &d(3, 33))
        .pb(0, 3 << 20, &d(4, 40))
        .section(false)
        .idb(0, 64, &[])
        .spb(100, &d(5, 64))
        .spb(5, &d(6, 5));
    // Version 1.2 of the first section is accepted like 1.0.
    ng.bytes[14] = 2;
    let file = capture_build::TempFile::new("sections", &ng.bytes);
    assert_eq!(
        CaptureReader::open(file.path()).unwrap().format(),
        CaptureFormat::Pcapng
    );
    let (frames, err) = read("sections", &ng.bytes);
    assert!(err.is_none(), "{err:?}");
    let got: Vec<(u64, LinkType, u64, usize, u32, u8)> = frames
        .iter()
        .map(|f| {
            (
                f.record,
                f.link,
                f.ts_ns,
                f.data.len(),
                f.orig_len,
                f.data[0],
            )
        })
        .collect();
    let want = vec![
        (1, LinkType::Ethernet, 1_700_000_000_123_456_000, 61, 61, 1),
        (2, LinkType::Ipv4, 1_700_000_000_123_456_789, 20, 20, 2),
        // 2^-20 s is 953.67 ns: the fraction is cut to whole nanoseconds, as libpcap does.
        (3, LinkType::LinuxSll, 1_005_000_000_953, 33, 33, 3),
        (4, LinkType::LinuxSll, 1_003_000_000_000, 40, 40, 4),
        // Simple Packet Blocks: no timestamp, captured length bounded by the snapshot length.
        (5, LinkType::Null, 0, 64, 100, 5),
        (6, LinkType::Null, 0, 5, 5, 6),
    ];
    assert_eq!(got, want);
    assert!(frames
        .iter()
        .all(|f| f.data.iter().all(|&b| b == f.data[0])));
}

/// Synthetic classic pcap in big-endian order with nanoseconds, and the length order of format
/// 2.3 files (either order; the smaller length is the captured one).
#[test]
fn pcap_big_endian_nanoseconds_and_old_length_order() {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_3c4du32.to_be_bytes());
    f.extend_from_slice(&[0, 2, 0, 3]);
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_be_bytes());
    f.extend_from_slice(&101u32.to_be_bytes());
    let rec = |sec: u32, ns: u32, a: u32, b: u32, data: &[u8]| {
        let mut r = Vec::new();
        for v in [sec, ns, a, b] {
            r.extend_from_slice(&v.to_be_bytes());
        }
        r.extend_from_slice(data);
        r
    };
    f.extend(rec(7, 999_999_999, 4, 90, &[0x45; 4]));
    f.extend(rec(8, 1, 90, 6, &[0x46; 6]));
    let file = capture_build::TempFile::new("be-ns", &f);
    let reader = CaptureReader::open(file.path()).unwrap();
    assert_eq!(reader.format(), CaptureFormat::PcapNano);
    let frames: Vec<Frame> = reader.map(Result::unwrap).collect();
    let got: Vec<(u64, usize, u32, LinkType)> = frames
        .iter()
        .map(|f| (f.ts_ns, f.data.len(), f.orig_len, f.link))
        .collect();
    assert_eq!(
        got,
        vec![
            (7_999_999_999, 4, 90, LinkType::Raw),
            (8_000_000_001, 6, 90, LinkType::Raw)
        ]
    );
    // The same records in a little-endian µs file of format 2.4 read as written.
    let mut f = capture_build::pcap_header(1);
    f.extend(pcap_record(7, 5, 4, 90, &[0; 4]));
    let (frames, err) = read("le-us", &f);
    assert!(err.is_none());
    assert_eq!((frames[0].ts_ns, frames[0].orig_len), (7_000_005_000, 90));
}
