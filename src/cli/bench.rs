//! `netdiffd bench`: measures the speed of pipeline stages on inputs built from the corpus, and
//! prints figures for docs/benchmarks.md.

use anyhow::{bail, Context};
use netdiffd::capture::{CaptureReader, Frame, LinkType};
use netdiffd::nprint::tool::{encode_capture, EncodeRun};
use netdiffd::nprint::{CsvOptions, Layout};
use netdiffd::packets::{PcapWriter, TsResolution};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Options of `netdiffd bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub what: BenchTarget,
    /// Corpus folder whose captures make the input.
    #[arg(long, default_value = "../shared/corpus")]
    pub corpus: PathBuf,
    /// Packets in the input (the corpus is repeated with shifted timestamps to reach it).
    #[arg(long, default_value_t = 269_560)]
    pub packets: u64,
    /// Folder for the input and output files.
    #[arg(long, default_value = "/tmp")]
    pub workdir: PathBuf,
    /// Runs to make; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// Benchmarks.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchTarget {
    /// nPrint encoding with NetDiffusion's options (-4 -6 -t -u -i -p 0), CSV to a file.
    Encode,
}

/// Runs `netdiffd bench`.
pub fn run(a: &BenchArgs) -> anyhow::Result<i32> {
    if a.runs == 0 || a.packets == 0 {
        bail!("--runs and --packets must be at least 1");
    }
    match a.what {
        BenchTarget::Encode => bench_encode(a),
    }
}

fn bench_encode(a: &BenchArgs) -> anyhow::Result<i32> {
    let input = a.workdir.join("netdiffd-bench-input.pcap");
    let frames = build_input(&a.corpus, a.packets, &input)?;
    let output = a.workdir.join("netdiffd-bench-output.csv");
    let run = EncodeRun {
        csv: CsvOptions {
            layout: Layout::NETDIFFUSION,
            ..CsvOptions::default()
        },
        count: 0,
    };
    let mut times = Vec::new();
    let mut encoded = 0;
    for _ in 0..a.runs {
        let t = Instant::now();
        let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&output)?);
        let (s, _) = encode_capture(&input, &run, file, |_| {})?;
        times.push(t.elapsed().as_secs_f64());
        encoded = s.encoded;
    }
    times.sort_by(|x, y| x.total_cmp(y));
    let median = times[times.len() / 2];
    let bytes = std::fs::metadata(&output)?.len();
    println!(
        "input: {} ({frames} frames built from {})",
        input.display(),
        a.corpus.display()
    );
    println!(
        "encode (NetDiffusion options, CSV to {}): {encoded} packets, {:.1} MB, median of {} runs {:.3} s \
         => {:.0} packets/s, {:.0} MB/s (runs: {:?})",
        output.display(),
        bytes as f64 / 1e6,
        a.runs,
        median,
        encoded as f64 / median,
        bytes as f64 / 1e6 / median,
        times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>()
    );
    let _ = std::fs::remove_file(&output);
    let _ = std::fs::remove_file(&input);
    Ok(0)
}

/// Writes `count` Ethernet frames taken from the corpus captures, repeated in order with
/// timestamps shifted so that time keeps increasing.
fn build_input(corpus: &Path, count: u64, out: &Path) -> anyhow::Result<u64> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut classes: Vec<_> = std::fs::read_dir(corpus)
        .with_context(|| format!("reading corpus folder {}", corpus.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    for class in classes {
        let mut files: Vec<_> = std::fs::read_dir(&class)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "pcap"))
        {
            for fr in CaptureReader::open(f)? {
                let fr = fr?;
                if fr.link == LinkType::Ethernet {
                    frames.push(fr);
                }
            }
        }
    }
    if frames.is_empty() {
        bail!("no Ethernet frames in {}", corpus.display());
    }
    let mut w = PcapWriter::create(out, LinkType::Ethernet, TsResolution::Micro)?;
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut written = 0;
    while written < count {
        for f in &frames {
            if written == count {
                break;
            }
            ts += 1000;
            w.write(ts, &f.data)?;
            written += 1;
        }
    }
    w.commit()?;
    Ok(written)
}
