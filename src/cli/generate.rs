//! `netdiffd generate`: sample flows of a class mix from a model, repair them, write a pcap
//! (and nPrint CSV / PNG renderings on request).

use super::shared_args::{FramingArgs, TestBedArgs};
use anyhow::{bail, Context};
use netdiffd::model::{device_for, load_model, SampleSettings};
use netdiffd::nprint::layout::STANDARD_WIDTH;
use netdiffd::nprint::{write_png, CsvOptions, CsvWriter, FlowImage};
use netdiffd::packets::{write_flows, TsResolution};
use netdiffd::pipeline::{generate, ground_truth, ClassMix, JobSettings};
use netdiffd::truth::LabelsFormat;
use std::path::PathBuf;
use std::time::Instant;

/// Options of `netdiffd generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Model directory (card.json + model.safetensors).
    #[arg(long, default_value = "models/default")]
    pub model: PathBuf,
    /// Class mix: relative weights, e.g. netflix=3,portscan=1 (a bare name weighs 1).
    #[arg(long)]
    pub mix: ClassMix,
    /// Flows to generate.
    #[arg(long, default_value_t = 10)]
    pub flows: usize,
    /// Output pcap (written whole or not at all).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// DDIM steps.
    #[arg(long, default_value_t = SampleSettings::default().steps)]
    pub steps: usize,
    /// Classifier-free guidance scale (1 = off; above 1 doubles the sampling work).
    #[arg(long, default_value_t = SampleSettings::default().guidance)]
    pub guidance: f64,
    /// Generate the structure too, instead of taking it from a real flow of the class.
    #[arg(long)]
    pub free_structure: bool,
    /// Generate each packet's kind too — TCP flags, direction, a SYN's window and options, IPv4
    /// marks (TTL, type of service, don't-fragment) — instead of keeping those of the real flow
    /// whose structure the generated flow takes
    #[arg(long)]
    pub generate_kinds: bool,
    /// Take every real flow's structure at its own length, instead of a long one (32 packets
    /// or more) at a length drawn around it within its class's spread of lengths
    #[arg(long)]
    pub exact_lengths: bool,
    /// Flows per sampling batch.
    #[arg(long, default_value_t = SampleSettings::default().batch)]
    pub batch: usize,
    /// Seed: the same seed, model and options give the same output.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device: auto, cpu or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Test-bed addressing and repair policies.
    #[command(flatten)]
    pub testbed: TestBedArgs,
    /// Output framing.
    #[command(flatten)]
    pub framing: FramingArgs,
    /// Mean gap between flow starts, in ms, exponentially distributed, for every class. By
    /// default each class's flows start as in its training captures (learned gaps between flow
    /// starts, bursts of parallel connections included).
    #[arg(long)]
    pub flow_gap_ms: Option<f64>,
    /// Packets of the previous window that each later window of a long flow starts from.
    #[arg(long, default_value_t = SampleSettings::default().context)]
    pub context: usize,
    /// Cut every generated flow after this many packets (by default a flow is as long as the
    /// real flow whose structure it takes).
    #[arg(long, value_name = "N")]
    pub max_flow_packets: Option<usize>,
    /// Also write the flows' packets as the pcap has them (repaired) as nPrint CSV, one row a
    /// packet, its class in the first column.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Also render the first repaired flow as a PNG.
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Also write the ground truth (.csv or .jsonl): one record a flow with its class, group,
    /// 5-tuple, Community ID, packets and bytes per direction and times in the pcap.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
}

/// Runs `netdiffd generate`.
pub fn run(a: &GenerateArgs) -> anyhow::Result<i32> {
    if a.flow_gap_ms
        .is_some_and(|g| !(0.0..=3_600_000.0).contains(&g))
    {
        bail!("--flow-gap-ms must be within 0..=3600000");
    }
    if a.max_flow_packets == Some(0) {
        bail!("--max-flow-packets must be at least 1");
    }
    if a.batch == 0 || a.batch > 1024 {
        bail!("--batch must be 1..=1024");
    }
    if let Some(l) = &a.labels {
        LabelsFormat::probe(l)?;
    }
    let device = device_for(&a.device)?;
    let t = Instant::now();
    let model = load_model(&a.model, &device)
        .with_context(|| format!("loading model {}", a.model.display()))?;
    let load_s = t.elapsed().as_secs_f64();
    let framing = a.framing.framing()?;
    let settings = JobSettings {
        flows: a.flows,
        sample: SampleSettings {
            steps: a.steps,
            guidance: a.guidance,
            free_structure: a.free_structure,
            generate_kinds: a.generate_kinds,
            batch: a.batch,
            seed: a.seed,
            context: a.context,
            max_flow_packets: a.max_flow_packets,
            exact_lengths: a.exact_lengths,
        },
        repair: a.testbed.repair_settings(),
        mean_flow_gap_ns: a.flow_gap_ms.map(|g| (g * 1e6) as u64),
    };
    let out = generate(&model, &a.mix, &settings)?;
    let flows: Vec<_> = out.flows.iter().map(|(_, f)| f.clone()).collect();
    let n = write_flows(&a.output, &flows, &framing, TsResolution::Micro)
        .with_context(|| format!("writing {}", a.output.display()))?;
    if let Some(labels) = &a.labels {
        ground_truth(&model, &out.flows, &a.output).write(labels)?;
    }
    if let Some(csv) = &a.csv {
        let file = netdiffd::atomic_file::AtomicFile::create(csv)?;
        let mut w = CsvWriter::new(file, &CsvOptions::default())?;
        for (class, f) in &out.flows {
            for p in &f.packets {
                let fr = netdiffd::capture::Frame {
                    link: netdiffd::capture::LinkType::Raw,
                    data: p.bytes.clone(),
                    ..Default::default()
                };
                if let Ok(d) = netdiffd::capture::dissect(&fr) {
                    let mut segs = Vec::new();
                    netdiffd::nprint::segments(&CsvOptions::default().layout, &d, &mut segs);
                    w.write_row(&[class.as_str()], &segs)?;
                }
            }
        }
        w.finish()?.commit()?;
    }
    if let (Some(png), Some((_, f))) = (&a.png, out.flows.first()) {
        let mut rows = Vec::with_capacity(f.packets.len() * STANDARD_WIDTH);
        for p in f.packets.iter().take(1024) {
            let fr = netdiffd::capture::Frame {
                link: netdiffd::capture::LinkType::Raw,
                data: p.bytes.clone(),
                ..Default::default()
            };
            if let Ok(d) = netdiffd::capture::dissect(&fr) {
                netdiffd::nprint::encode_packet(
                    &netdiffd::nprint::Layout::STANDARD,
                    &d,
                    -1,
                    &mut rows,
                );
            }
        }
        write_png(
            png,
            &FlowImage::from_standard_rows(&rows, rows.len() / STANDARD_WIDTH)?,
        )?;
    }
    let packets: usize = flows.iter().map(|f| f.packets.len()).sum();
    let secs = out.sample_seconds + out.repair_seconds;
    eprintln!(
        "{} flows ({}), {n} packets → {}; model load {load_s:.2} s, sampling {:.2} s, repair {:.3} s ({:.0} packets/s)",
        flows.len(),
        a.mix,
        a.output.display(),
        out.sample_seconds,
        out.repair_seconds,
        packets as f64 / secs.max(1e-9)
    );
    Ok(0)
}
