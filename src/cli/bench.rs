//! `netdiffd bench`: measures the speed of pipeline stages on inputs built from the corpus, and
//! prints figures for docs/benchmarks.md.

use anyhow::{bail, Context};
use candle_core::Device;
use netdiffd::capture::{CaptureReader, Frame, LinkType};
use netdiffd::model::{load_model, SampleSettings};
use netdiffd::nprint::tool::{encode_capture, EncodeRun};
use netdiffd::nprint::{read_csv, CsvOptions, Layout};
use netdiffd::packets::{PcapWriter, TsResolution};
use netdiffd::pipeline::{generate, ClassMix, JobSettings};
use netdiffd::repair::{repair_flow, FlowInput, RepairSettings};
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
    /// Model directory for `generate`.
    #[arg(long, default_value = "models/default")]
    pub model: PathBuf,
    /// Class mix for `generate`.
    #[arg(long, default_value = "netflix=1,teams=1,webex=1,zoom=1")]
    pub mix: String,
    /// Flows per run for `generate`.
    #[arg(long, default_value_t = 32)]
    pub flows: usize,
    /// Runs to make; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// Benchmarks.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BenchTarget {
    /// nPrint encoding with NetDiffusion's options (-4 -6 -t -u -i -p 0), CSV to a file.
    Encode,
    /// Repair of NetDiffusion's generated 1024-packet flow (one core).
    Repair,
    /// Sampling and repair with a model (--model), at 10 (the default) and 20 DDIM steps.
    Generate,
}

/// Runs `netdiffd bench`.
pub fn run(a: &BenchArgs) -> anyhow::Result<i32> {
    if a.runs == 0 || a.packets == 0 {
        bail!("--runs and --packets must be at least 1");
    }
    match a.what {
        BenchTarget::Encode => bench_encode(a),
        BenchTarget::Repair => bench_repair(a),
        BenchTarget::Generate => bench_generate(a),
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
    // The same run into a sink: the encoder's own cost, without the file system's.
    let mut sink_times = Vec::new();
    for _ in 0..a.runs {
        let t = Instant::now();
        encode_capture(&input, &run, std::io::sink(), |_| {})?;
        sink_times.push(t.elapsed().as_secs_f64());
    }
    sink_times.sort_by(|x, y| x.total_cmp(y));
    let sink_median = sink_times[sink_times.len() / 2];
    println!(
        "encode to a sink (no file): median {sink_median:.3} s => {:.0} packets/s",
        encoded as f64 / sink_median
    );
    let _ = std::fs::remove_file(&output);
    let _ = std::fs::remove_file(&input);
    Ok(0)
}

fn bench_repair(a: &BenchArgs) -> anyhow::Result<i32> {
    let path = a
        .corpus
        .join("../reference/netdiffusion/generated_netflix_5.nprint");
    let table = read_csv(&path).context("reading nPrint CSV")?;
    let rows = table.to_standard();
    let input = FlowInput::bare(&rows);
    let settings = RepairSettings::default();
    let reps = 20;
    let mut times = Vec::new();
    let mut packets = 0;
    for r in 0..a.runs {
        let t = Instant::now();
        for i in 0..reps {
            packets = repair_flow(&input, &settings, (r * reps + i) as u64)?
                .packets
                .len();
        }
        times.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    times.sort_by(|x, y| x.total_cmp(y));
    let median = times[times.len() / 2];
    println!(
        "repair {} ({} rows → {packets} packets): median {:.2} ms a flow over {} runs of {reps} \
         => {:.0} packets/s on one core",
        path.display(),
        table.rows,
        median * 1e3,
        a.runs,
        packets as f64 / median
    );
    Ok(0)
}

fn bench_generate(a: &BenchArgs) -> anyhow::Result<i32> {
    let model = load_model(&a.model, &Device::Cpu)
        .with_context(|| format!("loading {}", a.model.display()))?;
    let mix: ClassMix = a.mix.parse().map_err(anyhow::Error::msg)?;
    println!(
        "model {} ({} parameters, {} packets a window), mix {mix}, {} flows a run, {} runs, CPU",
        a.model.display(),
        model.card.weights.params,
        model.card.config.max_packets,
        a.flows,
        a.runs
    );
    for steps in [10, 20] {
        let mut rates = Vec::new();
        for r in 0..a.runs {
            let settings = JobSettings {
                flows: a.flows,
                sample: SampleSettings {
                    steps,
                    seed: r as u64,
                    ..SampleSettings::default()
                },
                repair: RepairSettings::default(),
                mean_flow_gap_ns: Some(10_000_000),
            };
            let t = Instant::now();
            let out = generate(&model, &mix, &settings)?;
            let secs = t.elapsed().as_secs_f64();
            let packets: usize = out.flows.iter().map(|(_, f)| f.packets.len()).sum();
            rates.push((
                out.flows.len() as f64 / secs,
                packets as f64 / secs,
                out.repair_seconds / secs,
            ));
        }
        rates.sort_by(|x, y| x.1.total_cmp(&y.1));
        let (f, p, share) = rates[rates.len() / 2];
        println!("{steps} steps: {f:.1} flows/s, {p:.0} packets/s of repaired traffic (repair {:.1} % of the time), median of {}", share * 100.0, a.runs);
    }
    Ok(0)
}

/// Writes `count` Ethernet frames taken from the corpus captures (as [`netdiffd::corpus`] lists
/// them), repeated in order with timestamps shifted so that time keeps increasing.
fn build_input(corpus: &Path, count: u64, out: &Path) -> anyhow::Result<u64> {
    let mut frames: Vec<Frame> = Vec::new();
    let files = netdiffd::corpus::list_captures(corpus)
        .with_context(|| format!("reading corpus folder {}", corpus.display()))?;
    for f in &files {
        for fr in CaptureReader::open(f)? {
            let fr = fr?;
            if fr.link == LinkType::Ethernet {
                frames.push(fr);
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
