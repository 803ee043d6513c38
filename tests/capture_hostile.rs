//! The capture reader on broken and hostile files: each fails with the right error kind, names
//! the file and, inside the records, the record number; nothing panics.

mod capture_build;

use capture_build::{pcap_header, pcap_record, read, read_err, Ng};
use netdiffd::capture::{CaptureErrorKind as K, CaptureReader};
use std::io::Cursor;
use std::path::Path;

const ETH: u32 = 1;
const PPP: u16 = 9;

/// A minimal Ethernet + IPv4 + UDP frame.
fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 12];
    p.extend_from_slice(&[0x08, 0x00]);
    p.extend_from_slice(&[
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    p.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 8, 0, 0]);
    p
}

fn good_pcap(records: usize) -> Vec<u8> {
    let mut f = pcap_header(ETH);
    let p = packet();
    for i in 0..records {
        f.extend(pcap_record(
            1_600_000_000 + i as u32,
            5,
            p.len() as u32,
            p.len() as u32,
            &p,
        ));
    }
    f
}

#[test]
fn zero_length_file_is_empty() {
    let (_, err, msg) = read_err("empty", &[]);
    assert!(matches!(err.kind, K::Empty), "{msg}");
    assert_eq!(err.record, None);
    assert!(msg.contains("empty"), "{msg}");
}

#[test]
fn three_byte_file_is_truncated() {
    let (_, err, msg) = read_err("three", &[0xd4, 0xc3, 0xb2]);
    assert!(
        matches!(
            err.kind,
            K::Truncated {
                what: "magic number",
                need: 4,
                have: 3
            }
        ),
        "{msg}"
    );
}

#[test]
fn bad_magic_is_reported_with_its_value() {
    let (_, err, msg) = read_err(
        "gif",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    );
    assert!(matches!(err.kind, K::BadMagic(0x3846_4947)), "{msg}");
    assert!(msg.contains("0x38464947"), "{msg}");
}

#[test]
fn truncated_file_header() {
    let (_, err, msg) = read_err("short-header", &pcap_header(ETH)[..14]);
    assert!(
        matches!(
            err.kind,
            K::Truncated {
                what: "file header",
                need: 24,
                have: 14
            }
        ),
        "{msg}"
    );
    assert_eq!((err.record, err.offset), (None, 0));
}

#[test]
fn unsupported_pcap_versions() {
    let mut f = good_pcap(1);
    f[4] = 3;
    let (_, err, msg) = read_err("version3", &f);
    assert!(
        matches!(err.kind, K::Version { major: 3, minor: 4 }),
        "{msg}"
    );
    let mut ng = Ng::new(false);
    ng.bytes[12] = 2;
    let (_, err, msg) = read_err("ng-version2", &ng.bytes);
    assert!(
        matches!(err.kind, K::Version { major: 2, minor: 0 }),
        "{msg}"
    );
}

#[test]
fn truncated_record_header_names_the_record() {
    let mut f = good_pcap(2);
    f.extend_from_slice(&[0; 7]);
    let (frames, err, msg) = read_err("short-record", &f);
    assert_eq!(frames.len(), 2);
    assert!(
        matches!(
            err.kind,
            K::Truncated {
                what: "record header",
                need: 16,
                have: 7
            }
        ),
        "{msg}"
    );
    let offset = 24 + 2 * (16 + packet().len() as u64);
    assert_eq!((err.record, err.offset), (Some(3), offset));
    assert!(msg.contains("record 3"), "{msg}");
}

#[test]
fn truncated_packet_data_names_the_record() {
    let mut f = good_pcap(1);
    f.extend(pcap_record(1, 0, 100, 100, &[0xaa; 40]));
    let (frames, err, msg) = read_err("short-data", &f);
    assert_eq!(frames.len(), 1);
    assert!(
        matches!(
            err.kind,
            K::Truncated {
                what: "packet data",
                need: 100,
                have: 40
            }
        ),
        "{msg}"
    );
    assert_eq!(err.record, Some(2));
    assert!(msg.contains("record 2"), "{msg}");
}

#[test]
fn four_gigabyte_captured_length_is_rejected() {
    let mut f = pcap_header(ETH);
    f.extend(pcap_record(1, 0, u32::MAX, u32::MAX, &[0; 64]));
    let (_, err, msg) = read_err("caplen-4g", &f);
    assert!(
        matches!(
            err.kind,
            K::BadLength {
                what: "captured",
                len: 0xffff_ffff,
                ..
            }
        ),
        "{msg}"
    );
    assert_eq!((err.record, err.offset), (Some(1), 24));
    assert!(msg.contains("record 1"), "{msg}");
}

#[test]
fn unknown_pcap_link_types() {
    for (tag, number, name) in [("lt4242", 4242, "unknown"), ("user0", 147, "user-defined")] {
        let (_, err, msg) = read_err(tag, &pcap_header(number));
        match err.kind {
            K::UnsupportedLinkType { number: n, name: m } => {
                assert_eq!(n, number);
                assert!(m.contains(name), "{m}");
            }
            ref other => panic!("{tag}: {other:?}"),
        }
        assert!(msg.contains(&format!("link type {number}")), "{msg}");
        assert_eq!(err.record, None);
    }
}

/// A little-endian pcapng file with one Ethernet interface and one packet on it.
fn good_ng() -> Ng {
    let mut ng = Ng::new(false);
    ng.idb(ETH as u16, 0, &[]).epb(0, 1, &packet());
    ng
}

#[test]
fn pcapng_block_lengths_0_7_and_2_to_the_31() {
    for (tag, len, why) in [
        ("len0", 0u32, "smaller"),
        ("len7", 7, "multiple of 4"),
        ("len2g", 1 << 31, "16 MiB"),
    ] {
        let mut ng = good_ng();
        let at = ng.bytes.len() as u64;
        ng.raw_block(6, len, &[0; 32], len);
        let (frames, err, msg) = read_err(tag, &ng.bytes);
        assert_eq!(frames.len(), 1, "{tag}");
        match err.kind {
            K::BadLength {
                what: "block",
                len: l,
                why: w,
            } => {
                assert_eq!(l, u64::from(len), "{tag}");
                assert!(w.contains(why), "{tag}: {w}");
            }
            ref other => panic!("{tag}: {other:?}"),
        }
        assert_eq!((err.record, err.offset), (Some(2), at), "{tag}");
        assert!(msg.contains("record 2"), "{msg}");
    }
}

#[test]
fn pcapng_section_header_with_bad_length() {
    let mut ng = good_ng();
    ng.bytes[4..8].copy_from_slice(&7u32.to_le_bytes());
    let (_, err, msg) = read_err("shb-len7", &ng.bytes);
    assert!(
        matches!(
            err.kind,
            K::BadLength {
                what: "block",
                len: 7,
                ..
            }
        ),
        "{msg}"
    );
    assert_eq!((err.record, err.offset), (None, 0));
}

#[test]
fn pcapng_block_smaller_than_its_type_allows() {
    let mut ng = good_ng();
    ng.raw_block(6, 16, &[0; 4], 16);
    let (_, err, msg) = read_err("epb-len16", &ng.bytes);
    assert!(
        matches!(err.kind, K::BadLength { what: "block", len: 16, why } if why.contains("minimum")),
        "{msg}"
    );
}

#[test]
fn pcapng_trailing_length_mismatch() {
    let mut ng = good_ng();
    let body = ng.epb_body(0, 2, 4, 4, &[1, 2, 3, 4]);
    ng.raw_block(6, 36, &body, 40);
    let (frames, err, msg) = read_err("trailer", &ng.bytes);
    assert_eq!(frames.len(), 1);
    assert!(
        matches!(
            err.kind,
            K::BadLength {
                what: "trailing block",
                len: 40,
                ..
            }
        ),
        "{msg}"
    );
    assert_eq!(err.record, Some(2));
}

#[test]
fn pcapng_bad_byte_order_magic() {
    let mut ng = good_ng();
    ng.bytes[8..12].copy_from_slice(&[1, 2, 3, 4]);
    let (_, err, msg) = read_err("bom", &ng.bytes);
    assert!(
        matches!(err.kind, K::Malformed(w) if w.contains("byte-order")),
        "{msg}"
    );
}

#[test]
fn pcapng_packet_on_undeclared_interface() {
    let mut ng = good_ng();
    ng.epb(5, 2, &packet());
    let (frames, err, msg) = read_err("iface5", &ng.bytes);
    assert_eq!(frames.len(), 1);
    assert!(matches!(err.kind, K::UnknownInterface(5)), "{msg}");
    assert!(
        msg.contains("interface 5") && msg.contains("record 2"),
        "{msg}"
    );
}

#[test]
fn pcapng_interfaces_are_per_section() {
    let mut ng = good_ng();
    ng.section(true).epb(0, 2, &packet());
    let (frames, err, msg) = read_err("new-section", &ng.bytes);
    assert_eq!(frames.len(), 1);
    assert!(matches!(err.kind, K::UnknownInterface(0)), "{msg}");
}

#[test]
fn pcapng_simple_packet_without_interface() {
    let mut ng = Ng::new(false);
    ng.spb(4, &[1, 2, 3, 4]);
    let (_, err, msg) = read_err("spb-no-idb", &ng.bytes);
    assert!(matches!(err.kind, K::UnknownInterface(0)), "{msg}");
    assert_eq!(err.record, Some(1));
}

#[test]
fn pcapng_unsupported_link_type_only_when_a_packet_uses_it() {
    let mut ng = good_ng();
    ng.idb(PPP, 0, &[]);
    ng.epb(0, 2, &packet());
    let (frames, err) = read("ppp-unused", &ng.bytes);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 2);
    ng.epb(1, 3, &[0xff, 0x03, 0, 0x21]);
    let (frames, err, msg) = read_err("ppp-used", &ng.bytes);
    assert_eq!(frames.len(), 2);
    assert!(
        matches!(
            err.kind,
            K::UnsupportedLinkType {
                number: 9,
                name: "PPP"
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("PPP") && msg.contains("record 3"), "{msg}");
}

#[test]
fn pcapng_captured_length_beyond_its_block() {
    let mut ng = good_ng();
    let body = ng.epb_body(0, 2, 1000, 1000, &[0; 16]);
    ng.block(6, &body);
    let (_, err, msg) = read_err("caplen-block", &ng.bytes);
    assert!(
        matches!(err.kind, K::BadLength { what: "captured", len: 1000, why } if why.contains("block")),
        "{msg}"
    );
    assert_eq!(err.record, Some(2));
}

#[test]
fn pcapng_captured_length_beyond_the_record_limit() {
    let mut ng = good_ng();
    let big = vec![0u8; 300_000];
    ng.epb(0, 2, &big);
    let (_, err, msg) = read_err("caplen-300k", &ng.bytes);
    assert!(
        matches!(
            err.kind,
            K::BadLength {
                what: "captured",
                len: 300_000,
                ..
            }
        ),
        "{msg}"
    );
}

#[test]
fn pcapng_truncated_blocks_name_the_record() {
    let ng = good_ng();
    let full = ng.bytes.len();
    let mut cut = ng.bytes.clone();
    cut.truncate(full - 10);
    let (frames, err, msg) = read_err("cut-epb", &cut);
    assert!(frames.is_empty());
    assert!(
        matches!(err.kind, K::Truncated { what: "block", .. }),
        "{msg}"
    );
    assert!(msg.contains("record 1"), "{msg}");
    let mut cut = ng.bytes.clone();
    cut.extend_from_slice(&[6, 0, 0, 0, 64]);
    let (frames, err, msg) = read_err("cut-head", &cut);
    assert_eq!(frames.len(), 1);
    assert!(
        matches!(
            err.kind,
            K::Truncated {
                what: "block header",
                need: 8,
                have: 5
            }
        ),
        "{msg}"
    );
    assert_eq!((err.record, err.offset), (Some(2), full as u64));
}

#[test]
fn pcapng_malformed_interface_options() {
    let cases: [(&str, u16, &[u8]); 3] = [
        ("tsresol-len2", 9, &[6, 6]),
        ("tsresol-10e-50", 9, &[50]),
        ("tsoffset-len4", 14, &[0, 0, 0, 1]),
    ];
    for (tag, code, value) in cases {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[(code, value)]).epb(0, 1, &packet());
        let (_, err, msg) = read_err(tag, &ng.bytes);
        assert!(
            matches!(err.kind, K::Malformed(w) if w.contains("option")),
            "{msg}"
        );
        assert_eq!(err.record, Some(1), "{tag}");
    }
    let mut ng = Ng::new(false);
    let mut body = ng.u16(1).to_vec();
    body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    body.extend_from_slice(&[9, 0, 200, 0]);
    ng.block(1, &body).epb(0, 1, &packet());
    let (_, err, msg) = read_err("option-overrun", &ng.bytes);
    assert!(
        matches!(err.kind, K::Malformed("interface option")),
        "{msg}"
    );
}

#[test]
fn pcapng_timestamp_out_of_range() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[(9, &[0])]).epb(0, u64::MAX, &packet());
    let (_, err, msg) = read_err("ts-overflow", &ng.bytes);
    assert!(
        matches!(err.kind, K::Malformed(w) if w.contains("timestamp")),
        "{msg}"
    );
    let mut ng = Ng::new(false);
    ng.idb(1, 0, &[(14, &(-5i64).to_le_bytes())])
        .epb(0, 1_000_000, &packet());
    let (_, err, msg) = read_err("ts-negative", &ng.bytes);
    assert!(
        matches!(err.kind, K::Malformed(w) if w.contains("timestamp")),
        "{msg}"
    );
}

/// Every prefix of a valid file reads without panic: whole records, then at most a truncation
/// error (or none when the cut falls between records).
#[test]
fn every_prefix_of_valid_files_fails_cleanly() {
    let mut ng = good_ng();
    ng.idb(101, 128, &[(9, &[9]), (14, &100i64.to_le_bytes())])
        .block(4, &[0; 9])
        .spb(60, &[0x45; 60])
        .pb(1, 7, &[0x45; 20])
        .section(true)
        .idb(228, 0, &[(9, &[0x80 | 20])])
        .epb(0, 3 << 20, &[0x45; 20]);
    let total = 4;
    let samples = [good_pcap(3), ng.bytes.clone()];
    for file in &samples {
        for cut in 0..file.len() {
            let input = Cursor::new(file[..cut].to_vec());
            let frames = match CaptureReader::from_reader(input, Path::new("prefix")) {
                Ok(r) => r.collect::<Vec<_>>(),
                Err(e) => {
                    assert!(
                        matches!(e.kind, K::Empty | K::Truncated { .. }),
                        "{cut}: {e}"
                    );
                    continue;
                }
            };
            let errors: Vec<_> = frames.iter().filter_map(|f| f.as_ref().err()).collect();
            assert!(errors.len() <= 1, "{cut}");
            if let Some(e) = errors.first() {
                assert!(matches!(e.kind, K::Truncated { .. }), "{cut}: {e}");
                assert!(frames.last().unwrap().is_err(), "{cut}: error is last");
            }
            assert!(frames.len() <= total + 1);
        }
    }
}
