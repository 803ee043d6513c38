//! The daemon's configuration: one TOML file overridden by `NETDIFFD_<SECTION>__<KEY>`
//! environment variables and by command-line flags. Unknown keys and bad values are errors
//! that name the key and the file.

use super::request::{MixSpec, OutputRequest, ReplayRequest};
use crate::repair::{HandshakePolicy, Ipv4Cidr, PayloadFill};
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Prefix of the environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "NETDIFFD";

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed, or a key holds a bad value.
    #[error("configuration {file}: {detail}")]
    Invalid {
        /// The configuration file.
        file: PathBuf,
        /// What is wrong, naming the key.
        detail: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(file: &Path, key: &str, why: impl std::fmt::Display) -> ConfigError {
        ConfigError::Invalid {
            file: file.to_path_buf(),
            detail: format!("key `{key}`: {why}"),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[model]`: the model the daemon keeps resident.
    #[serde(default)]
    pub model: ModelSection,
    /// `[generate]`: defaults of generation jobs.
    #[serde(default)]
    pub generate: GenerateSection,
    /// `[repair]`: how generated flows are made protocol-compliant.
    #[serde(default)]
    pub repair: RepairSection,
    /// `[replay]`: where and how jobs replay, and how their frames are addressed.
    #[serde(default)]
    pub replay: ReplaySection,
    /// `[output]`: the spool directory and its retention.
    #[serde(default)]
    pub output: OutputSection,
    /// `[api]`: the HTTP API listener and its authentication.
    #[serde(default)]
    pub api: ApiSection,
    /// `[metrics]`: where Prometheus metrics are served.
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[limits]`: bounds on the queue and on what one job may ask for.
    #[serde(default)]
    pub limits: LimitsSection,
    /// `[log]`: log verbosity.
    #[serde(default)]
    pub log: LogSection,
    /// `[[schedule]]`: jobs run on an interval or a cron expression.
    #[serde(default)]
    pub schedule: Vec<ScheduleEntry>,
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// Model directory (card.json + model.safetensors); relative paths are taken from the
    /// working directory.
    pub path: PathBuf,
    /// `auto`, `cpu` or `cuda:N`.
    pub device: String,
    /// DDIM sampling steps.
    pub steps: usize,
    /// Classifier-free guidance scale (1 = off).
    pub guidance: f64,
    /// Flows per sampling batch (also the unit of cancellation and of the per-batch metrics).
    pub batch: usize,
    /// Generate the packet structure too instead of taking it from a real flow of the class.
    pub free_structure: bool,
    /// Generate each packet's kind too — TCP flags, direction, a SYN's window and options, IPv4
    /// marks — instead of keeping the real flow's.
    pub generate_kinds: bool,
    /// Take every real flow's structure at its own length, instead of a long one at a length
    /// drawn around it within its class's spread.
    pub exact_lengths: bool,
}

impl Default for ModelSection {
    /// The sampling settings `netdiffd generate` uses, so that the daemon's traffic is the
    /// traffic the evaluation measured.
    fn default() -> Self {
        let s = crate::model::SampleSettings::default();
        ModelSection {
            path: PathBuf::from("models/default"),
            device: "auto".into(),
            steps: s.steps,
            guidance: s.guidance,
            batch: s.batch,
            free_structure: s.free_structure,
            generate_kinds: s.generate_kinds,
            exact_lengths: s.exact_lengths,
        }
    }
}

/// `[generate]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateSection {
    /// Mix used when a request names none.
    pub mix: Option<MixSpec>,
    /// Flows of a job that names no count.
    pub flows: usize,
    /// Seed of a job that names none; unset draws a fresh seed for every job.
    pub seed: Option<u64>,
    /// Mean gap between flow starts (exponentially distributed), overriding each class's
    /// learned flow arrivals; unset: the arrivals of the model card.
    #[serde(deserialize_with = "opt_duration")]
    pub flow_gap: Option<Duration>,
}

impl Default for GenerateSection {
    fn default() -> Self {
        GenerateSection {
            mix: None,
            flows: 100,
            seed: None,
            flow_gap: None,
        }
    }
}

/// `[repair]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepairSection {
    /// TCP opening: `always` or `as-generated`.
    #[serde(deserialize_with = "parsed")]
    pub handshake: HandshakePolicy,
    /// Payload bytes: `zeros` or `pattern:HEX`.
    #[serde(deserialize_with = "parsed")]
    pub payload: PayloadFill,
    /// Largest IPv4 packet of the test bed.
    pub mtu: u16,
}

impl Default for RepairSection {
    fn default() -> Self {
        RepairSection {
            handshake: HandshakePolicy::Always,
            payload: PayloadFill::Zeros,
            mtu: 1500,
        }
    }
}

/// `[replay]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplaySection {
    /// Interfaces jobs may replay onto; a request naming another gets 403.
    pub interfaces: Vec<String>,
    /// Interface of a replay that names none.
    pub interface: String,
    /// Inline replay by default: the server side's interface (in `interfaces`); client-side
    /// frames leave on `interface`.
    pub iface2: Option<String>,
    /// Destination MAC of replayed frames, or CLIENT,SERVER per side (e.g. the two ports of a
    /// device under test).
    pub dmac: Option<String>,
    /// Source MAC of replayed frames, or CLIENT,SERVER per side.
    pub smac: Option<String>,
    /// Default pacing: captured timing divided by this factor.
    pub multiplier: Option<String>,
    /// Default pacing: constant packets per second.
    pub pps: Option<String>,
    /// Default pacing: constant megabits per second.
    pub mbps: Option<String>,
    /// Default pacing: as fast as the interface takes.
    pub topspeed: bool,
    /// Default number of loops.
    #[serde(rename = "loop")]
    pub loops: u64,
    /// Longest gap between two packets; longer idle gaps are cut to this.
    #[serde(deserialize_with = "opt_duration")]
    pub max_sleep: Option<Duration>,
    /// `auto` (AF_XDP where it opens, else mmsg), `xdp` (AF_XDP), `mmsg` (batched AF_PACKET)
    /// or `pcap` (libpcap).
    pub sender: String,
    /// Source MAC of client → server frames (and destination of the replies).
    #[serde(deserialize_with = "mac")]
    pub client_mac: [u8; 6],
    /// Source MAC of server → client frames.
    #[serde(deserialize_with = "mac")]
    pub server_mac: [u8; 6],
    /// Client addresses of generated flows.
    #[serde(deserialize_with = "parsed")]
    pub client_pool: Ipv4Cidr,
    /// Server addresses of generated flows.
    #[serde(deserialize_with = "parsed")]
    pub server_pool: Ipv4Cidr,
}

impl Default for ReplaySection {
    fn default() -> Self {
        ReplaySection {
            interfaces: vec!["lo".into()],
            interface: "lo".into(),
            iface2: None,
            dmac: None,
            smac: None,
            multiplier: None,
            pps: None,
            mbps: None,
            topspeed: false,
            loops: 1,
            max_sleep: Some(Duration::from_secs(1)),
            sender: "auto".into(),
            client_mac: [0x02, 0, 0, 0, 0, 0x01],
            server_mac: [0x02, 0, 0, 0, 0, 0x02],
            client_pool: Ipv4Cidr {
                network: std::net::Ipv4Addr::new(198, 18, 0, 0),
                prefix: 16,
            },
            server_pool: Ipv4Cidr {
                network: std::net::Ipv4Addr::new(198, 19, 0, 0),
                prefix: 16,
            },
        }
    }
}

/// `[output]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSection {
    /// Where job pcaps are written (created when missing).
    pub spool: PathBuf,
    /// Job pcaps kept in the spool (newest first); older ones are removed.
    pub keep_files: usize,
    /// Job pcaps older than this are removed.
    #[serde(deserialize_with = "duration")]
    pub max_age: Duration,
    /// Write nanosecond timestamps instead of microsecond ones.
    pub nanosecond_timestamps: bool,
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection {
            spool: PathBuf::from("spool"),
            keep_files: 100,
            max_age: Duration::from_secs(7 * 24 * 3600),
            nanosecond_timestamps: false,
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Listen address of the HTTP API.
    #[serde(deserialize_with = "parsed")]
    pub listen: SocketAddr,
    /// File holding the bearer token `/v1` requests must carry; unset: no authentication.
    pub token_file: Option<PathBuf>,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            token_file: None,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// A listener of its own for the metrics; unset serves them on the API listener.
    #[serde(deserialize_with = "opt_parsed")]
    pub listen: Option<SocketAddr>,
    /// Path of the metrics.
    pub path: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: None,
            path: "/metrics".into(),
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Jobs waiting to run; a submission beyond gets 429.
    pub queue_length: usize,
    /// Jobs running at once (read at start only).
    pub concurrent_jobs: usize,
    /// Most flows one job may ask for.
    pub max_flows_per_job: usize,
    /// Most packets one job may generate (flows × the model's longest flow).
    pub max_packets_per_job: u64,
    /// Most loops one replay may ask for.
    pub max_loops: u64,
    /// Longest a replay may run.
    #[serde(deserialize_with = "duration")]
    pub max_replay_duration: Duration,
    /// Finished jobs remembered for `GET /v1/jobs`.
    pub job_history: usize,
    /// How long a stop waits for running jobs before exiting anyway.
    #[serde(deserialize_with = "duration")]
    pub stop_timeout: Duration,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            queue_length: 16,
            concurrent_jobs: 1,
            max_flows_per_job: 10_000,
            max_packets_per_job: 5_000_000,
            max_loops: 1000,
            max_replay_duration: Duration::from_secs(3600),
            job_history: 1000,
            stop_timeout: Duration::from_secs(4),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// `error`, `warn`, `info`, `debug` or `trace`.
    #[serde(deserialize_with = "parsed")]
    pub level: log::LevelFilter,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: log::LevelFilter::Info,
        }
    }
}

/// One `[[schedule]]` entry: a job spec run every interval or on a cron expression.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleEntry {
    /// Unique name (a metric label and part of the job's source).
    pub name: String,
    /// Run every this long (first run one interval after start or reload).
    #[serde(default, deserialize_with = "opt_duration")]
    pub every: Option<Duration>,
    /// Run on this cron expression (5 fields, local time).
    pub cron: Option<String>,
    /// Off switch that keeps the entry in the file.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Class mix; unset uses `[generate] mix`.
    pub mix: Option<MixSpec>,
    /// Flows; unset uses `[generate] flows`.
    pub flows: Option<usize>,
    /// Seed; unset draws a fresh seed every run.
    pub seed: Option<u64>,
    /// Replay settings (`{}` takes `[replay]`'s); unset writes a pcap only.
    pub replay: Option<ReplayRequest>,
    /// Whether to keep the pcap in the spool after the replay.
    pub output: Option<OutputRequest>,
}

fn yes() -> bool {
    true
}

impl Config {
    /// Reads `file`, then the environment overrides, then `overrides` (key, value) pairs
    /// (from command-line flags), and checks every value.
    pub fn load(file: &Path, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
        let invalid = |detail: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            detail,
        };
        if !file.is_file() {
            return Err(invalid("no such file".into()));
        }
        let mut builder = config::Config::builder()
            .add_source(config::File::from(file).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("replay.interfaces"),
            );
        for (key, value) in overrides {
            builder = builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|e| invalid(e.to_string()))?;
        }
        let cfg: Config = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| invalid(format!("{e}{}", env_note())))?;
        cfg.validate(file)?;
        Ok(cfg)
    }
}

/// Names the environment overrides in force, for errors that may come from one of them.
fn env_note() -> String {
    let prefix = format!("{ENV_PREFIX}_");
    let vars: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with(&prefix))
        .collect();
    if vars.is_empty() {
        String::new()
    } else {
        format!(" (environment overrides in force: {})", vars.join(", "))
    }
}

fn parsed<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s = String::deserialize(d)?;
    s.parse()
        .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}")))
}

fn opt_parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e}"))),
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s)
        .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e} (e.g. 500ms, 10s, 5m, 7d)")))
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() || s == "off" => Ok(None),
        Some(s) => humantime::parse_duration(&s)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e} (e.g. 500ms, 10s, 5m, 7d)"))),
    }
}

fn mac<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 6], D::Error> {
    let s = String::deserialize(d)?;
    crate::wire::mac::parse_mac(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("netdiffd-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("netdiffd.toml");
        std::fs::write(&file, text).unwrap();
        let r = Config::load(&file, &[]);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn defaults_load_and_are_safe() {
        let c = load("").unwrap();
        assert_eq!(c.api.listen.ip().to_string(), "127.0.0.1");
        assert_eq!(c.replay.interfaces, ["lo"]);
        assert_eq!(c.replay.client_pool.network.octets()[..2], [198, 18]);
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_key_and_file() {
        let e = load("[model]\npth = \"x\"\n").unwrap_err().to_string();
        assert!(e.contains("pth") && e.contains("netdiffd.toml"), "{e}");
        let e = load("[replay]\nclient_pool = \"10.0.0.0/40\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("replay.client_pool") && e.contains("10.0.0.0/40"),
            "{e}"
        );
        let e = load("[limits]\nqueue_length = -3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.queue_length"), "{e}");
        let e = load("[output]\nmax_age = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("output.max_age"), "{e}");
        let e = load("[replay]\ninterface = \"eth9\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("replay.interface") && e.contains("eth9"), "{e}");
        let e = load("[[schedule]]\nname = \"a\"\nevery = \"1m\"\nmix = \"x=1\"\nflows = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("schedule[0].flows"), "{e}");
        let e = load("[[schedule]]\nname = \"a\"\ncron = \"61 * * * *\"\nmix = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("schedule[0].cron"), "{e}");
        let e = load("[[schedule]]\nname = \"a\"\nevery = \"1m\"\nmix = \"x\"\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = load("[metrics]\npath = \"/healthz\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metrics.path"), "{e}");
        let e = load("[metrics]\npath = \"/m/{x}\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("metrics.path"), "{e}");
        let e = load("[limits]\nconcurrent_jobs = 100000000000\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("limits.concurrent_jobs"), "{e}");
        let e = load("[[schedule]]\nname = \"a\"\nevery = \"900years\"\nmix = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("schedule[0].every"), "{e}");
        let e = load("[replay]\nsender = \"dpdk\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("replay.sender") && e.contains("dpdk"), "{e}");
        for sender in ["auto", "xdp", "mmsg", "pcap"] {
            let c = load(&format!("[replay]\nsender = \"{sender}\"\n")).unwrap();
            assert_eq!(c.replay.sender, sender);
        }
    }
}
