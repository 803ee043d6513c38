//! `netdiffd replay`: tcpreplay's command line on netdiffd's replay engine.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use netdiffd::replay::{
    CatchUp, CidrMap, IfaceFraming, Ipv4Cidr, MacPair, Pace, PortMap, Rate, ReplayConfig,
    ReplayReport, Replayer, RewriteConfig, SenderKind, SideSplit, StopReason, TtlRule,
    DEFAULT_REALTIME_PRIORITY,
};
use netdiffd::truth::{GroundTruth, LabelsFormat};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Replay capture files onto a network interface.
///
/// Timing follows the capture unless --multiplier, --pps, --mbps or --topspeed says otherwise.
/// Durations take a unit (ns, us, ms, s; a bare number is seconds). Ctrl-C stops at a packet
/// boundary and prints the statistics.
#[derive(Debug, Args)]
#[command(
    override_usage = "netdiffd replay [OPTIONS] --iface <IF> <FILE>...\n       netdiffd replay --listnics"
)]
pub struct ReplayArgs {
    /// Capture files (pcap), replayed one after the other.
    #[arg(value_name = "FILE", required_unless_present = "listnics")]
    pub files: Vec<PathBuf>,

    /// Interface to send on; with --intf2, the first (primary) one, where the client side of
    /// each flow leaves.
    #[arg(
        short = 'i',
        long = "iface",
        visible_alias = "intf1",
        value_name = "IF",
        required_unless_present = "listnics"
    )]
    pub iface: Option<String>,
    /// List the interfaces one can replay onto (name, index, MAC, MTU, state, addresses), one
    /// line each, and exit; needs no FILE, no --iface and no privileges.
    #[arg(long, exclusive = true)]
    pub listnics: bool,
    /// Inline replay: the second (secondary) interface, where the server side of each flow
    /// leaves, in one schedule with the first (tcpreplay's -I). The split is by flow (the side
    /// that sent a flow's first packet is its client) unless --cachefile, --cidr or --port-split
    /// says otherwise.
    #[arg(short = 'I', long = "intf2", value_name = "IF")]
    pub intf2: Option<String>,
    /// Inline replay: split as this tcpprep cache file says (made by `tcpprep` for the one
    /// capture replayed).
    #[arg(
        short = 'c',
        long,
        value_name = "FILE",
        requires = "intf2",
        group = "split"
    )]
    pub cachefile: Option<PathBuf>,
    /// Inline replay: tcpprep's CIDR split: frames whose source is in one of these networks
    /// leave on the first interface, others on the second (comma-separated).
    #[arg(
        long,
        value_name = "NET,...",
        value_delimiter = ',',
        requires = "intf2",
        group = "split"
    )]
    pub cidr: Vec<Ipv4Cidr>,
    /// Inline replay: tcpprep's port split: frames to a port below 1024 leave on the first
    /// interface, frames from one on the second.
    #[arg(long, requires = "intf2", group = "split")]
    pub port_split: bool,
    /// Write the ground truth of the replayed flows to FILE (.csv or .jsonl): one record a
    /// flow with its class, 5-tuple, Community ID, packets and bytes per direction, times in
    /// the capture, and when and on which interface it left, per loop.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// The class written in the ground truth [default: unknown].
    #[arg(long, value_name = "NAME", requires = "labels")]
    pub class: Option<String>,

    /// Replay at X times the captured speed (fractions allowed).
    #[arg(short = 'x', long, value_name = "X", group = "pace")]
    pub multiplier: Option<Rate>,
    /// Replay at a constant N packets per second (fractions allowed).
    #[arg(short = 'p', long, value_name = "N", group = "pace")]
    pub pps: Option<Rate>,
    /// Replay at a constant N megabits per second (layer 2).
    #[arg(short = 'M', long, value_name = "N", group = "pace")]
    pub mbps: Option<Rate>,
    /// Replay as fast as possible.
    #[arg(short = 't', long, group = "pace")]
    pub topspeed: bool,

    /// Replay the files N times; 0 repeats until stopped.
    #[arg(short = 'l', long = "loop", value_name = "N", default_value_t = 1)]
    pub loops: u64,
    /// Pause between loops.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub loop_delay: Option<Duration>,
    /// Stop after N packets.
    #[arg(short = 'L', long, value_name = "N")]
    pub limit: Option<u64>,
    /// Stop after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Cut any gap between two packets to at most this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_sleep: Option<Duration>,
    /// tcpreplay's spelling of --loop-delay, in milliseconds.
    #[arg(
        long = "loopdelay-ms",
        value_name = "MS",
        conflicts_with = "loop_delay"
    )]
    pub loopdelay_ms: Option<u64>,
    /// tcpreplay's spelling of --max-sleep, in milliseconds.
    #[arg(long = "maxsleep", value_name = "MS", conflicts_with = "max_sleep")]
    pub maxsleep_ms: Option<u64>,
    /// Load every frame into memory before sending.
    #[arg(short = 'K', long, visible_alias = "preload-pcap")]
    pub preload: bool,

    /// How frames are sent: pcap (libpcap, one system call per frame), mmsg (batched AF_PACKET
    /// sendmmsg, Linux), xdp (AF_XDP in copy mode, Linux) or auto (xdp where it opens, else
    /// mmsg) [default: auto on Linux, else pcap].
    #[arg(long, value_enum)]
    pub sender: Option<SenderArg>,
    /// Most frames handed to the sender at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub batch: usize,
    /// With the mmsg sender, hand frames straight to the driver, past the interface's queueing
    /// discipline (PACKET_QDISC_BYPASS; the xdp sender always does, so auto picks mmsg).
    #[arg(long)]
    pub qdisc_bypass: bool,
    /// Retries of a frame the kernel refuses with ENOBUFS/EAGAIN before it counts as failed.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_retries: u32,
    /// Stop sleeping this long before a packet is due and spin the rest [default: 100us].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub spin_margin: Option<Duration>,
    /// Timer slack asked of the kernel while replaying [default: 1us].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timer_slack: Option<Duration>,
    /// A packet sent later than this counts as late [default: 100us].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub late_threshold: Option<Duration>,
    /// SCHED_FIFO priority of the sending thread in timed modes, when permitted (CAP_SYS_NICE);
    /// 0 keeps the normal scheduler.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_REALTIME_PRIORITY,
          value_parser = clap::value_parser!(u8).range(0..=99))]
    pub rt_priority: u8,
    /// After a late packet: burst (keep the schedule, send what is due back to back) or
    /// reanchor (shift the schedule by the lateness).
    #[arg(long, value_enum, default_value_t = CatchUpArg::Burst)]
    pub catch_up: CatchUpArg,

    /// Source MAC, or CLIENT,SERVER for each direction of a flow (the client sent its first
    /// packet).
    #[arg(long, visible_alias = "enet-smac", value_name = "MAC[,MAC]")]
    pub smac: Option<MacPair>,
    /// Destination MAC, or CLIENT,SERVER for each direction; also the destination of the
    /// Ethernet header built for raw-IP or Linux-cooked captures.
    #[arg(long, visible_alias = "enet-dmac", value_name = "MAC[,MAC]")]
    pub dmac: Option<MacPair>,
    /// Map IPv4 addresses of one network into another, keeping host bits (repeatable or
    /// comma-separated), e.g. 10.0.0.0/8:198.18.0.0/15.
    #[arg(long, value_name = "FROM:TO", value_delimiter = ',')]
    pub pnat: Vec<CidrMap>,
    /// Add the loop number to every IPv4 address so each loop makes new flows.
    #[arg(long)]
    pub unique_ip: bool,
    /// Map TCP/UDP ports (repeatable or comma-separated), e.g. 80:8080.
    #[arg(long, value_name = "FROM:TO", value_delimiter = ',')]
    pub portmap: Vec<PortMap>,
    /// Set (N), raise (+N) or lower (-N) the IPv4 TTL.
    #[arg(long, value_name = "[+|-]N", allow_hyphen_values = true)]
    pub ttl: Option<TtlRule>,
    /// Recompute IPv4/TCP/UDP checksums of every frame, even unchanged ones.
    #[arg(long)]
    pub fixcsum: bool,

    /// Print the statistics as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--sender` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SenderArg {
    /// libpcap.
    Pcap,
    /// AF_PACKET sendmmsg.
    Mmsg,
    /// AF_XDP, copy mode.
    Xdp,
    /// xdp where it opens, else mmsg.
    Auto,
}

/// `--catch-up` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CatchUpArg {
    /// Keep the schedule.
    Burst,
    /// Shift the schedule.
    Reanchor,
}

/// Parses a duration: a decimal number with a unit (ns, us, µs, ms, s); a bare number is
/// seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit_ns: u128 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "" | "s" => 1_000_000_000,
        other => return Err(format!("unknown unit '{other}' (use ns, us, ms or s)")),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty())
        || frac.len() > 9
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("'{s}' is not a duration such as 10ms or 1.5s"));
    }
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| format!("'{s}' is too large"))?
    };
    let frac_value: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().unwrap_or(0)
    };
    let ns = int
        .checked_mul(unit_ns)
        .and_then(|v| v.checked_add(frac_value * unit_ns / 10u128.pow(frac.len() as u32)))
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| format!("'{s}' is too large"))?;
    Ok(Duration::from_nanos(ns))
}

impl ReplayArgs {
    /// The interface to send on (clap requires it unless --listnics is given).
    fn iface(&self) -> &str {
        self.iface.as_deref().unwrap_or_default()
    }

    /// The engine configuration these options ask for.
    pub fn to_config(&self) -> ReplayConfig {
        let mut c = ReplayConfig::new(self.iface().to_string(), self.files.clone());
        c.iface2 = self.intf2.clone();
        c.split = if let Some(f) = &self.cachefile {
            SideSplit::CacheFile(f.clone())
        } else if !self.cidr.is_empty() {
            SideSplit::Cidr(self.cidr.clone())
        } else if self.port_split {
            SideSplit::Port
        } else {
            SideSplit::Flow
        };
        c.record_send_times = self.labels.is_some();
        c.pace = if self.topspeed {
            Pace::TopSpeed
        } else if let Some(r) = self.pps {
            Pace::Pps(r)
        } else if let Some(r) = self.mbps {
            Pace::Mbps(r)
        } else {
            Pace::Captured {
                multiplier: self.multiplier.unwrap_or(Rate::whole(1)),
            }
        };
        c.loops = self.loops;
        c.loop_delay = self
            .loop_delay
            .or(self.loopdelay_ms.map(Duration::from_millis))
            .unwrap_or(Duration::ZERO);
        c.limit = self.limit;
        c.duration = self.duration;
        c.max_sleep = self
            .max_sleep
            .or(self.maxsleep_ms.map(Duration::from_millis));
        c.preload = self.preload;
        if let Some(s) = self.sender {
            c.sender = match s {
                SenderArg::Pcap => SenderKind::Pcap,
                SenderArg::Mmsg => SenderKind::Mmsg,
                SenderArg::Xdp => SenderKind::Xdp,
                SenderArg::Auto => SenderKind::Auto,
            };
        }
        c.batch = self.batch;
        c.max_retries = self.max_retries;
        c.qdisc_bypass = self.qdisc_bypass;
        c.spin_margin = self.spin_margin.unwrap_or(c.spin_margin);
        c.timer_slack = self.timer_slack.unwrap_or(c.timer_slack);
        c.late_threshold = self.late_threshold.unwrap_or(c.late_threshold);
        c.realtime_priority = (self.rt_priority > 0).then_some(self.rt_priority);
        c.catch_up = match self.catch_up {
            CatchUpArg::Burst => CatchUp::Burst,
            CatchUpArg::Reanchor => CatchUp::Reanchor,
        };
        c.rewrite = RewriteConfig {
            smac: self.smac,
            dmac: self.dmac,
            pnat: self.pnat.clone(),
            unique_ip: self.unique_ip,
            portmap: self.portmap.clone(),
            ttl: self.ttl,
            fix_checksums: self.fixcsum,
        };
        c
    }
}

/// Runs `netdiffd replay`: prepares, sends, prints the statistics.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    if args.listnics {
        print!("{}", list_nics());
        return Ok(());
    }
    let truths = match &args.labels {
        Some(path) => {
            LabelsFormat::probe(path)?;
            let truths = args
                .files
                .iter()
                .map(|f| {
                    GroundTruth::from_capture(f, args.class.as_deref(), None)
                        .with_context(|| format!("reading the flows of {}", f.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Some((path, truths))
        }
        None => None,
    };
    let replayer = Replayer::prepare(args.to_config())?;
    for w in replayer.warnings() {
        eprintln!("netdiffd: warning: {w}");
    }
    for n in replayer.notes() {
        eprintln!("netdiffd: note: {n}");
    }
    let cancel = replayer.handle().cancel_flag();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while the first is being honoured ends the process at once.
        signal_hook::flag::register_conditional_shutdown(signal, 130, cancel.clone())
            .and_then(|_| signal_hook::flag::register(signal, cancel.clone()))
            .context("cannot install the Ctrl-C handler")?;
    }
    let report = replayer.run();
    if let Some((path, truths)) = truths {
        write_labels(path, truths, &report, args)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{report}");
    }
    if let StopReason::Failed(e) = &report.stop {
        bail!("replay on {} stopped early: {e}", args.iface());
    }
    Ok(())
}

/// `--listnics`: the interfaces of this network namespace (pnet_datalink, no privileges
/// needed), one line each: name, index, MAC, MTU and framing (`-` where unknown), state and
/// addresses.
fn list_nics() -> String {
    use std::fmt::Write as _;
    let mut nics = pnet_datalink::interfaces();
    nics.sort_by_key(|n| n.index);
    let mut out = String::from("Available network interfaces:\n");
    for n in &nics {
        let mac = n.mac.map_or_else(|| "-".to_string(), |m| m.to_string());
        // The kernel's ioctls answer for interfaces that are up; sysfs for the others.
        let sysfs = |what: &str| {
            std::fs::read_to_string(format!("/sys/class/net/{}/{what}", n.name))
                .ok()
                .and_then(|v| v.trim().parse::<u32>().ok())
        };
        let (mtu, framing) = match netdiffd::replay::InterfaceInfo::probe(&n.name) {
            Ok(info) => (Some(info.mtu), Some(info.framing)),
            Err(_) => (
                sysfs("mtu"),
                sysfs("type")
                    .and_then(|t| u16::try_from(t).ok())
                    .map(IfaceFraming::from_arphrd),
            ),
        };
        let mtu = mtu.map_or_else(|| "-".to_string(), |m| m.to_string());
        let framing = framing.map_or_else(|| "-".to_string(), |f| f.to_string().replace(' ', "-"));
        let mut state = vec![if n.is_up() { "up" } else { "down" }];
        if n.is_running() {
            state.push("running");
        }
        if n.is_loopback() {
            state.push("loopback");
        }
        let addrs: Vec<String> = n.ips.iter().map(ToString::to_string).collect();
        let addrs = if addrs.is_empty() {
            "-".to_string()
        } else {
            addrs.join(",")
        };
        let _ = writeln!(
            out,
            "{:<15} index {:<3} mac {mac} mtu {mtu} framing {framing} state {} addrs {addrs}",
            n.name,
            n.index,
            state.join(",")
        );
    }
    out
}

/// Adds the replay's send times to the ground truth of each file and writes them all.
fn write_labels(
    path: &Path,
    mut truths: Vec<GroundTruth>,
    report: &ReplayReport,
    args: &ReplayArgs,
) -> anyhow::Result<()> {
    if let Some(log) = &report.send_log {
        for (f, t) in truths.iter_mut().enumerate() {
            for (l, sent, on_second) in log.of_file(f) {
                t.add_replay_loop(l, sent, on_second, args.iface(), args.intf2.as_deref());
            }
        }
        if log.truncated {
            eprintln!(
                "netdiffd: note: send times recorded for the first {} loops only (memory bound)",
                log.loops.len()
            );
        }
    }
    let mut all = GroundTruth::default();
    for t in truths {
        all.records.extend(t.records);
    }
    all.write(path)?;
    eprintln!(
        "netdiffd: ground truth of {} flows written to {}",
        all.records.len(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        replay: ReplayArgs,
    }

    fn config(args: &[&str]) -> Result<ReplayConfig, clap::Error> {
        use clap::Parser;
        let argv = ["replay", "-i", "eth9"]
            .iter()
            .chain(args)
            .chain(&["x.pcap"]);
        Cli::try_parse_from(argv).map(|c| c.replay.to_config())
    }

    #[test]
    fn tcpreplay_spellings_mean_the_same() {
        let a = config(&["--loopdelay-ms", "250", "--maxsleep", "20"]).unwrap();
        let b = config(&["--loop-delay", "250ms", "--max-sleep", "20ms"]).unwrap();
        assert_eq!(a.loop_delay, Duration::from_millis(250));
        assert_eq!((a.loop_delay, a.max_sleep), (b.loop_delay, b.max_sleep));
        assert!(config(&["--maxsleep", "20", "--max-sleep", "1s"]).is_err());
        let inline = config(&["-I", "eth8", "--cidr", "10.0.0.0/8,192.0.2.1"]).unwrap();
        assert_eq!(inline.iface2.as_deref(), Some("eth8"));
        assert_eq!(
            inline.split,
            SideSplit::Cidr(vec![
                "10.0.0.0/8".parse().unwrap(),
                "192.0.2.1/32".parse().unwrap()
            ])
        );
        assert!(
            config(&["--cidr", "10.0.0.0/8"]).is_err(),
            "a split needs -I"
        );
        assert!(config(&["-I", "eth8", "--port-split", "--cidr", "10.0.0.0/8"]).is_err());
    }

    #[test]
    fn listnics_stands_alone() {
        use clap::Parser;
        let c = Cli::try_parse_from(["replay", "--listnics"]).unwrap();
        assert!(c.replay.listnics && c.replay.files.is_empty() && c.replay.iface.is_none());
        assert!(Cli::try_parse_from(["replay", "--listnics", "-i", "lo"]).is_err());
        assert!(Cli::try_parse_from(["replay", "--listnics", "x.pcap"]).is_err());
        assert!(
            Cli::try_parse_from(["replay", "x.pcap"]).is_err(),
            "--iface is required"
        );
        assert!(
            Cli::try_parse_from(["replay", "-i", "lo"]).is_err(),
            "FILE is required"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("0.000001ms"), Ok(Duration::from_nanos(1)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }
}
