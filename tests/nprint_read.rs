//! The nPrint CSV reader and NetDiffusion image reader/writer against the reference files in
//! `shared/reference/` (outputs of the nPrint tool and NetDiffusion's own files), plus synthetic
//! inputs for edge cases and hostile inputs.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use netdiffd::nprint::image::{read_png_with, Quantiser};
use netdiffd::nprint::layout::{
    field_in_block, netdiffusion_image_columns, standard_to_model, MODEL_WIDTH,
    NETDIFFUSION_IMAGE_ROWS, NETDIFFUSION_IMAGE_WIDTH, STANDARD_WIDTH,
};
use netdiffd::nprint::{
    parse_csv, read_csv, read_png, write_png, Bit, Block, FlowImage, ImageError, Layout,
    NprintReadError, NprintTable, VACANT,
};

fn reference(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference")
        .join(dir)
}

fn netdiffusion(file: &str) -> PathBuf {
    reference("netdiffusion").join(file)
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn parse_bytes(bytes: &[u8]) -> Result<NprintTable, NprintReadError> {
    parse_csv(bytes, Path::new("test.csv"))
}

/// A deliberately naive oracle: splits every line into owned strings and checks each cell
/// against the table, looking columns up by name in `Layout::column_names()`.
fn check_against_naive_parse(text: &[u8], t: &NprintTable) {
    let text = std::str::from_utf8(text).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let names = t.layout.column_names();
    let pos: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut covered = vec![false; names.len()];
    for h in &header {
        if let Some(&p) = pos.get(h) {
            covered[p] = true;
        }
    }
    let mut rows = 0;
    for (r, line) in lines.enumerate() {
        let row = t.row(r);
        for (h, cell) in header.iter().zip(line.split(',')) {
            if let Some(&p) = pos.get(h) {
                let want: f64 = cell.parse().unwrap();
                assert_eq!(f64::from(row[p]), want, "row {r} column {h}");
            }
        }
        for (p, &c) in covered.iter().enumerate() {
            if !c {
                assert_eq!(row[p], VACANT, "row {r}: column {} has no header", names[p]);
            }
        }
        rows += 1;
    }
    assert_eq!(rows, t.rows);
    assert_eq!(t.bits.len(), t.rows * t.layout.width());
}

#[test]
fn real_flow_1024_loads() {
    let path = netdiffusion("real_flow_1024.nprint");
    let t = read_csv(&path).unwrap();
    assert_eq!(t.rows, 1024);
    assert_eq!(t.layout, Layout::NETDIFFUSION);
    assert_eq!(t.index_name.as_deref(), Some("src_ip"));
    let index = t.index.as_ref().unwrap();
    assert_eq!(index.len(), 1024);
    assert!(index
        .iter()
        .all(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok()));
    assert_eq!(t.rts_us, None);
    assert_eq!(t.abs_ts, None);
    check_against_naive_parse(&std::fs::read(&path).unwrap(), &t);
    // Every packet of this TCP flow has IPv4 version 4 and a TCP header.
    let std_rows = t.to_standard();
    assert_eq!(std_rows.len(), 1024 * STANDARD_WIDTH);
    let tcp = Layout::STANDARD.offset(Block::Tcp).unwrap();
    for row in std_rows.chunks_exact(STANDARD_WIDTH) {
        assert_eq!(&row[..4], &[0, 1, 0, 0]);
        assert_ne!(row[tcp], VACANT);
    }
}

#[test]
fn netdiffusion_image_layout_files_load() {
    for file in ["column_example.nprint", "generated_netflix_5.nprint"] {
        let path = netdiffusion(file);
        let t = read_csv(&path).unwrap();
        assert_eq!(t.rows, 1024, "{file}");
        assert_eq!(t.layout, Layout::NETDIFFUSION, "{file}");
        assert_eq!(t.index_name.as_deref(), Some(""), "{file}");
        let index = t.index.as_ref().unwrap();
        let expected: Vec<String> = (0..1024).map(|i| i.to_string()).collect();
        assert_eq!(index, &expected, "{file}: pandas index counts rows");
        check_against_naive_parse(&std::fs::read(&path).unwrap(), &t);
        // The image layout has no address columns: they read as vacant.
        for name in ["ipv4_src", "ipv4_dst", "ipv6_src", "ipv6_dst"] {
            let block = Block::of_prefix(name).unwrap();
            let (start, bits) = field_in_block(block, name).unwrap();
            let at = t.layout.offset(block).unwrap() + start;
            for r in 0..t.rows {
                assert!(
                    t.row(r)[at..at + bits].iter().all(|&b| b == VACANT),
                    "{file} {name}"
                );
            }
        }
    }
}

#[test]
fn repaired_flow_loads() {
    let path = netdiffusion("repaired_netflix_5.nprint");
    let t = read_csv(&path).unwrap();
    assert_eq!(t.rows, 1024);
    assert_eq!(t.layout, Layout::NETDIFFUSION);
    assert_eq!(t.index_name.as_deref(), Some("src_ip"));
    check_against_naive_parse(&std::fs::read(&path).unwrap(), &t);
    assert_eq!(t.to_model().len(), 1024 * MODEL_WIDTH);
}

#[test]
fn every_nprint_tool_output_loads() {
    let dir = reference("nprint");
    let mut by_capture: HashMap<String, Vec<(String, NprintTable)>> = HashMap::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".csv.gz") else {
            continue;
        };
        let (capture, variant) = stem.split_once('.').unwrap();
        let bytes = gunzip(&path);
        let t = parse_csv(&bytes[..], &path).unwrap();
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(t.rows, newlines - 1, "{name}");
        assert!(t.rows > 0, "{name}");
        check_against_naive_parse(&bytes, &t);
        match variant {
            "netdiffusion" => {
                assert_eq!(t.layout, Layout::NETDIFFUSION, "{name}");
                assert_eq!(t.index_name.as_deref(), Some("src_ip"), "{name}");
                assert_eq!(t.rts_us, None, "{name}");
            }
            "ipv4-rts" => {
                assert_eq!(t.layout, Layout::STANDARD, "{name}");
                assert_eq!(t.index_name.as_deref(), Some("src_ip"), "{name}");
                let rts = t.rts_us.as_ref().unwrap();
                assert_eq!(rts.len(), t.rows, "{name}");
                assert_eq!(rts[0], 0, "{name}: the first packet has no predecessor");
                assert!(rts.iter().all(|&v| v >= 0), "{name}");
                assert!(rts.iter().any(|&v| v > 0), "{name}");
            }
            "ipv4-flow" => {
                assert_eq!(t.layout, Layout::STANDARD, "{name}");
                assert_eq!(t.index_name.as_deref(), Some("flow"), "{name}");
                let index = t.index.as_ref().unwrap();
                assert_eq!(index.len(), t.rows);
                // `src_dst_sport_dport_proto`; the tool writes NULL ports and protocol for ICMP.
                for flow in index {
                    let parts: Vec<&str> = flow.split('_').collect();
                    assert_eq!(parts.len(), 5, "{name}: {flow}");
                    assert!(
                        parts[0].parse::<std::net::Ipv4Addr>().is_ok(),
                        "{name}: {flow}"
                    );
                    assert!(["TCP", "UDP", "NULL"].contains(&parts[4]), "{name}: {flow}");
                }
            }
            other => panic!("unexpected reference variant {other}"),
        }
        by_capture
            .entry(capture.to_owned())
            .or_default()
            .push((name, t));
        files += 1;
    }
    assert_eq!(files, 27);
    // The three option sets encode the same packets: their standard projections agree.
    for (capture, tables) in &by_capture {
        assert_eq!(tables.len(), 3, "{capture}");
        let first = tables[0].1.to_standard();
        for (name, t) in &tables[1..] {
            assert!(
                t.to_standard() == first,
                "{name} differs from {}",
                tables[0].0
            );
        }
    }
}

#[test]
fn to_model_drops_addresses_of_the_standard_projection() {
    let t = read_csv(netdiffusion("real_flow_1024.nprint")).unwrap();
    let std_rows = t.to_standard();
    let mut expected = Vec::new();
    for row in std_rows.chunks_exact(STANDARD_WIDTH) {
        standard_to_model(row, &mut expected);
    }
    assert_eq!(t.to_model(), expected);
}

#[test]
fn shuffled_columns_without_index_read_the_same() {
    let bytes = gunzip(&reference("nprint").join("quic046.ipv4-rts.csv.gz"));
    let text = std::str::from_utf8(&bytes).unwrap();
    let ordered = parse_bytes(&bytes).unwrap();
    // Drop the index, move rts last, reverse the bit columns, use CRLF.
    let mut out = String::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split(',').collect();
        let mut v: Vec<&str> = cells[2..].iter().rev().copied().collect();
        v.push(cells[1]);
        out.push_str(&v.join(","));
        out.push_str("\r\n");
    }
    let shuffled = parse_bytes(out.as_bytes()).unwrap();
    assert_eq!(shuffled.layout, ordered.layout);
    assert_eq!(shuffled.bits, ordered.bits);
    assert_eq!(shuffled.rts_us, ordered.rts_us);
    assert_eq!(shuffled.index_name, None);
    assert_eq!(shuffled.index, None);
}

#[test]
fn subset_of_blocks_and_float_values() {
    let csv = "Unnamed: 0,udp_len_15,tv_sec,tv_usec,udp_sport_0\n\
               0,1.0,1700000000,250000,-1.0\n\
               1,0.0,1700000001,0,1\n\n\n";
    let t = parse_bytes(csv.as_bytes()).unwrap();
    let layout = Layout {
        udp: true,
        ipv4: false,
        tcp: false,
        icmp: false,
        ..Layout::STANDARD
    };
    assert_eq!(t.layout, layout);
    assert_eq!(t.rows, 2);
    assert_eq!(t.index_name.as_deref(), Some("Unnamed: 0"));
    assert_eq!(
        t.abs_ts,
        Some(vec![(1_700_000_000, 250_000), (1_700_000_001, 0)])
    );
    let (len_start, _) = field_in_block(Block::Udp, "udp_len").unwrap();
    assert_eq!(t.row(0)[len_start + 15], 1);
    assert_eq!(t.row(1)[len_start + 15], 0);
    assert_eq!(t.row(1)[0], 1);
    assert_eq!(t.row(0).iter().filter(|&&b| b != VACANT).count(), 1);
    // Projected to the standard layout, the UDP block lands after IPv4 and TCP.
    let std_rows = t.to_standard();
    let udp = Layout::STANDARD.offset(Block::Udp).unwrap();
    assert_eq!(std_rows[STANDARD_WIDTH + udp], 1);
    assert_eq!(std_rows[udp + len_start + 15], 1);
    assert_eq!(std_rows.iter().filter(|&&b| b != VACANT).count(), 3);
}

#[test]
fn payload_columns_size_the_payload_block() {
    let t = parse_bytes(b"payload_bit_9,tcp_fin_0,payload_bit_2\n1,0,0\n").unwrap();
    assert_eq!(t.layout.payload_bytes, 2);
    assert!(t.layout.tcp);
    assert_eq!(t.row(0)[480 + 9], 1);
    assert_eq!(t.row(0)[480 + 2], 0);
    assert_eq!(t.row(0).iter().filter(|&&b| b != VACANT).count(), 3);
    let err = parse_bytes(b"payload_bit_524280\n1\n").unwrap_err();
    assert!(
        matches!(err, NprintReadError::PayloadTooWide { .. }),
        "{err}"
    );
    // One column must not make a row thousands of bits wide: at most a byte per column.
    let err = parse_bytes(b"payload_bit_17,payload_bit_0\n1,1\n").unwrap_err();
    assert!(
        matches!(err, NprintReadError::SparsePayload { bytes: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("payload_bit_17"), "{err}");
    let header: Vec<String> = (0..24).map(|i| format!("payload_bit_{i}")).collect();
    let t = parse_bytes(format!("{}\n", header.join(",")).as_bytes()).unwrap();
    assert_eq!(t.layout.payload_bytes, 3);
}

#[test]
fn header_only_is_an_empty_table_and_empty_file_is_an_error() {
    let t = parse_bytes(b"src_ip,rts,ipv4_ver_0\n").unwrap();
    assert_eq!(t.rows, 0);
    assert!(t.bits.is_empty());
    assert_eq!(t.rts_us, Some(vec![]));
    assert_eq!(t.index, Some(vec![]));
    assert!(t.to_model().is_empty());
    let err = parse_bytes(b"").unwrap_err();
    assert!(matches!(err, NprintReadError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("test.csv"), "{err}");
}

fn err_of(csv: &str) -> String {
    parse_bytes(csv.as_bytes()).unwrap_err().to_string()
}

#[test]
fn bad_values_name_file_line_column_and_value() {
    let e = err_of("src_ip,ipv4_ver_0,ipv4_ver_1\n1.2.3.4,0,1\n1.2.3.4,0,2\n");
    for part in ["test.csv", "line 3", "ipv4_ver_1", "`2`"] {
        assert!(e.contains(part), "{e} lacks {part}");
    }
    let e = err_of("src_ip,ipv4_ver_0\r\n1.2.3.4,\r\n");
    assert!(
        e.contains("line 2") && e.contains("ipv4_ver_0") && e.contains("``"),
        "{e}"
    );
    let e = err_of("src_ip,rts,ipv4_ver_0\n1.2.3.4,12x,0\n");
    assert!(
        e.contains("line 2") && e.contains("rts") && e.contains("12x"),
        "{e}"
    );
    let long = format!("ipv4_ver_0\n{}\n", "9".repeat(10_000));
    assert!(err_of(&long).len() < 300, "long values are truncated");
}

#[test]
fn ragged_rows_are_errors() {
    let e = err_of("src_ip,ipv4_ver_0,ipv4_ver_1\n1.2.3.4,0,1\n1.2.3.4,0\n");
    for part in ["test.csv", "line 3", "expected 3", "found 2"] {
        assert!(e.contains(part), "{e} lacks {part}");
    }
    let e = err_of("ipv4_ver_0,ipv4_ver_1\n0,1,1\n");
    assert!(e.contains("line 2") && e.contains("found 3"), "{e}");
    let e = err_of("ipv4_ver_0\n0\n\n1\n");
    assert!(e.contains("line 3") && e.contains("found 0"), "{e}");
}

#[test]
fn bad_headers_are_errors() {
    let e = err_of("src_ip,ipv4_ver_0,bogus_1\n");
    assert!(e.contains("`bogus_1`") && e.contains("column 3"), "{e}");
    // Out of range for the field, non-canonical indices, misplaced index columns.
    for bad in [
        "ipv4_ver_4",
        "tcp_seq_01",
        "tcp_seq_",
        "tcp_seq",
        "src_ip",
        "Unnamed: 0",
        "",
    ] {
        let e = parse_bytes(format!("ipv4_ver_0,{bad}\n").as_bytes()).unwrap_err();
        assert!(
            matches!(e, NprintReadError::UnknownColumn { .. }),
            "{bad}: {e}"
        );
    }
    let e = err_of("src_ip,ipv4_ver_0,ipv4_ver_0\n");
    assert!(e.contains("duplicate") && e.contains("ipv4_ver_0"), "{e}");
    let e = err_of("rts,rts,ipv4_ver_0\n");
    assert!(e.contains("duplicate") && e.contains("rts"), "{e}");
    let e = err_of("tv_sec,ipv4_ver_0\n");
    assert!(e.contains("tv_usec"), "{e}");
    let e = err_of("src_ip,rts\n");
    assert!(e.contains("no bit columns"), "{e}");
    let e = parse_bytes(b"\xff\xfe,ipv4_ver_0\n").unwrap_err();
    assert!(matches!(e, NprintReadError::HeaderNotUtf8 { .. }), "{e}");
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let e = read_csv("/nonexistent/flow.nprint")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/flow.nprint"), "{e}");
}

// ---- images ----

fn image_columns_of(t: &NprintTable) -> Vec<usize> {
    let names = t.layout.column_names();
    let pos: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    netdiffusion_image_columns()
        .iter()
        .map(|c| pos[c.as_str()])
        .collect()
}

#[test]
fn reference_images_load() {
    for file in ["generated_netflix_5.png", "quantised_netflix_5.png"] {
        let img = read_png(netdiffusion(file)).unwrap();
        assert_eq!(img.rows, NETDIFFUSION_IMAGE_ROWS, "{file}");
        assert_eq!(
            img.bits.len(),
            NETDIFFUSION_IMAGE_ROWS * NETDIFFUSION_IMAGE_WIDTH
        );
        assert!(img.bits.iter().all(|b| (-1..=1).contains(b)));
        assert_eq!(img.to_model().len(), img.packets() * MODEL_WIDTH);
        assert_eq!(img.to_standard().len(), img.packets() * STANDARD_WIDTH);
    }
}

#[test]
fn quantised_image_matches_the_generated_nprint() {
    // NetDiffusion wrote generated_netflix_5.nprint from the quantised image: every pixel of
    // every one of the 1024 rows matches, column by column.
    let img = read_png(netdiffusion("quantised_netflix_5.png")).unwrap();
    let t = read_csv(netdiffusion("generated_netflix_5.nprint")).unwrap();
    assert_eq!(t.rows, img.rows);
    let cols = image_columns_of(&t);
    for r in 0..t.rows {
        let row = t.row(r);
        let from_csv: Vec<Bit> = cols.iter().map(|&c| row[c]).collect();
        assert_eq!(
            &from_csv[..],
            &img.bits[r * 1088..(r + 1) * 1088],
            "row {r}"
        );
    }
    // The model projections therefore agree too.
    assert_eq!(t.to_model(), img.to_model());
}

#[test]
fn quantising_the_generated_image() {
    let raw = netdiffusion("generated_netflix_5.png");
    let quantised = read_png(netdiffusion("quantised_netflix_5.png")).unwrap();
    // NetDiffusion's own rule reproduces its quantised image exactly.
    let theirs = read_png_with(&raw, Quantiser::NetDiffusion).unwrap();
    assert_eq!(theirs, quantised);
    // Nearest-colour quantisation agrees on about 94.4 % of pixels. NetDiffusion's rule is
    // biased to red (any r > 0 with g < 160 and b < 100 is red), so every disagreement is a
    // pixel it called red that is nearer to green or blue.
    let nearest = read_png(&raw).unwrap();
    let total = nearest.bits.len();
    let mut same = 0;
    for (&n, &q) in nearest.bits.iter().zip(&quantised.bits) {
        if n == q {
            same += 1;
        } else {
            assert_eq!(q, 1, "nearest {n}, NetDiffusion {q}");
        }
    }
    let share = same as f64 / total as f64;
    assert!(share >= 0.94, "nearest-colour agreement {share}");
    assert!(
        share < 1.0,
        "the two rules are expected to differ on this image"
    );
}

fn write_rgb(path: &Path, width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut data = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            data.extend_from_slice(&pixel(x, y));
        }
    }
    enc.write_header().unwrap().write_image_data(&data).unwrap();
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("nprint_read")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn colour_of(b: Bit) -> [u8; 3] {
    match b {
        1 => [255, 0, 0],
        0 => [0, 255, 0],
        _ => [0, 0, 255],
    }
}

#[test]
fn write_then_read_round_trips_and_pads() {
    let dir = scratch("round_trip");
    let quantised = read_png(netdiffusion("quantised_netflix_5.png")).unwrap();
    let out = dir.join("flow.png");
    write_png(&out, &quantised).unwrap();
    assert_eq!(read_png(&out).unwrap(), quantised);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("flow.png")],
        "no temporary file is left"
    );

    // A short flow from real packets: padded to 1024 blue rows, 8-bit RGB.
    let t = read_csv(netdiffusion("real_flow_1024.nprint")).unwrap();
    let model = t.to_model();
    let n = 5;
    let img = FlowImage::from_model_rows(&model[..n * MODEL_WIDTH], n).unwrap();
    write_png(&out, &img).unwrap();
    let info = png::Decoder::new(std::fs::File::open(&out).unwrap())
        .read_info()
        .unwrap();
    let info = info.info();
    assert_eq!((info.width, info.height), (1088, 1024));
    assert_eq!(
        (info.color_type, info.bit_depth),
        (png::ColorType::Rgb, png::BitDepth::Eight)
    );
    let back = read_png(&out).unwrap();
    assert_eq!(back.rows, 1024);
    assert_eq!(back.packets(), n);
    assert!(back.bits[n * 1088..].iter().all(|&b| b == VACANT));
    assert_eq!(back.to_model(), &model[..n * MODEL_WIDTH]);

    // From the standard layout: addresses come back vacant, everything else unchanged.
    let std_rows = t.to_standard();
    let img = FlowImage::from_standard_rows(&std_rows[..n * STANDARD_WIDTH], n).unwrap();
    let round = img.to_standard();
    for (r, (a, b)) in round
        .chunks(STANDARD_WIDTH)
        .zip(std_rows.chunks(STANDARD_WIDTH))
        .enumerate()
    {
        assert!(a[96..160].iter().all(|&x| x == VACANT), "row {r}");
        assert_eq!(&a[..96], &b[..96], "row {r}");
        assert_eq!(&a[160..], &b[160..], "row {r}");
    }
}

#[test]
fn index_column_and_short_images() {
    let dir = scratch("index_column");
    let quantised = read_png(netdiffusion("quantised_netflix_5.png")).unwrap();
    let rows = 300;
    let path = dir.join("conditioning.png");
    write_rgb(&path, 1089, rows, |x, y| {
        if x == 0 {
            [(y % 256) as u8, 17, 200]
        } else {
            colour_of(quantised.bits[y as usize * 1088 + x as usize - 1])
        }
    });
    let img = read_png(&path).unwrap();
    assert_eq!(img.rows, rows as usize);
    assert_eq!(img.bits, quantised.bits[..rows as usize * 1088]);
}

#[test]
fn sixteen_bit_grey_and_noisy_pixels_quantise() {
    let dir = scratch("sixteen_bit");
    let path = dir.join("grey16.png");
    let file = std::fs::File::create(&path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 1088, 2);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Sixteen);
    let data = vec![0xffu8; 1088 * 2 * 2];
    enc.write_header().unwrap().write_image_data(&data).unwrap();
    // White is equally far from all three colours; ties go to 1.
    let img = read_png(&path).unwrap();
    assert_eq!(img.rows, 2);
    assert!(img.bits.iter().all(|&b| b == 1));

    let noisy = dir.join("noisy.png");
    write_rgb(&noisy, 1088, 3, |x, _| match x % 3 {
        0 => [200, 40, 30],
        1 => [20, 180, 90],
        _ => [10, 60, 170],
    });
    let img = read_png(&noisy).unwrap();
    let expected: Vec<Bit> = (0..3 * 1088).map(|i| [1, 0, -1][(i % 1088) % 3]).collect();
    assert_eq!(img.bits, expected);
}

#[test]
fn hostile_images_are_errors() {
    let dir = scratch("hostile");
    let wide = dir.join("wide.png");
    write_rgb(&wide, 1000, 10, |_, _| [0, 0, 255]);
    let e = read_png(&wide).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Size {
                width: 1000,
                height: 10,
                ..
            }
        ),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("wide.png") && msg.contains("1000×10"), "{msg}");

    let tall = dir.join("tall.png");
    write_rgb(&tall, 1088, 1025, |_, _| [0, 0, 255]);
    let msg = read_png(&tall).unwrap_err().to_string();
    assert!(
        msg.contains("tall.png") && msg.contains("1088×1025"),
        "{msg}"
    );

    let junk = dir.join("junk.png");
    std::fs::write(&junk, b"src_ip,ipv4_ver_0\n1.2.3.4,0\n").unwrap();
    let e = read_png(&junk).unwrap_err();
    assert!(matches!(e, ImageError::Decode { bytes: 28, .. }), "{e}");
    assert!(
        e.to_string().contains("junk.png") && e.to_string().contains("28 bytes"),
        "{e}"
    );

    let bytes = std::fs::read(netdiffusion("quantised_netflix_5.png")).unwrap();
    for cut in [0, 8, 40, 100, bytes.len() / 2, bytes.len() - 12] {
        let truncated = dir.join(format!("truncated_{cut}.png"));
        std::fs::write(&truncated, &bytes[..cut]).unwrap();
        let e = read_png(&truncated).unwrap_err();
        assert!(matches!(e, ImageError::Decode { .. }), "cut {cut}: {e}");
        assert!(e.to_string().contains(&format!("{cut} bytes")), "{e}");
    }

    let e = read_png(dir.join("missing.png")).unwrap_err();
    assert!(e.to_string().contains("missing.png"), "{e}");
}

#[test]
fn bad_image_shapes_are_errors() {
    let model = vec![0; MODEL_WIDTH * 2];
    assert!(FlowImage::from_model_rows(&model, 3).is_err());
    assert!(FlowImage::from_model_rows(&model[1..], 2).is_err());
    let many = vec![VACANT; MODEL_WIDTH * 1025];
    assert!(matches!(
        FlowImage::from_model_rows(&many, 1025),
        Err(ImageError::Shape { .. })
    ));
    assert!(FlowImage::from_standard_rows(&model, 2).is_err());
    let dir = scratch("bad_shapes");
    let out = dir.join("bad.png");
    let bad = FlowImage {
        rows: 1,
        bits: vec![2; 1088],
    };
    assert!(matches!(
        write_png(&out, &bad),
        Err(ImageError::InvalidBit { value: 2, .. })
    ));
    let short = FlowImage {
        rows: 2,
        bits: vec![0; 1088],
    };
    assert!(matches!(
        write_png(&out, &short),
        Err(ImageError::Shape { .. })
    ));
    assert!(!out.exists());
    let empty = FlowImage {
        rows: 0,
        bits: vec![],
    };
    // A folder is no PNG path; a missing folder is made, as for every output.
    let e = write_png(&dir, &empty);
    assert!(matches!(e, Err(ImageError::Io { .. })), "{e:?}");
    assert!(format!("{}", e.unwrap_err()).contains(&dir.display().to_string()));
    let nested = dir.join("no/such/dir/x.png");
    write_png(&nested, &empty).unwrap();
    assert!(nested.is_file());
}
