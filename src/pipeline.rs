//! The generation job shared by `netdiffd generate` and the daemon: a class mix in, sampled
//! flows repaired into protocol-compliant packets out, starting as each class's flows start in
//! its training captures (or at an overriding exponential pace), so that many flows interleave
//! on the wire.

use crate::flows::FlowKey;
use crate::model::arrivals::{exponential, HostDraw};
use crate::model::checkpoint::CardClass;
use crate::model::template::{SynOptions, Template};
use crate::model::{sample_with, GeneratedFlow, LoadedModel, ModelError, SampleSettings};
use crate::repair::{
    repair_flow, FlowInput, Opening, RepairError, RepairSettings, RepairedFlow, SynOffer,
};
use crate::seed::salt;
use crate::truth::GroundTruth;
use crate::wire::IpProtocol;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::time::Instant;

/// Largest number of flows one job may ask for.
pub const MAX_FLOWS: usize = 1_000_000;

/// Errors of a generation job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The class mix is not usable.
    #[error("mix: {0}")]
    Mix(String),
    /// A setting out of range.
    #[error("{0}")]
    Setting(String),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Repair failed on a generated flow.
    #[error("repairing generated flow {index}: {source}")]
    Repair {
        /// Flow index.
        index: usize,
        /// The cause.
        source: RepairError,
    },
}

/// A class mix such as `netflix=3,portscan=1`: relative weights of classes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassMix(pub Vec<(String, u32)>);

impl std::str::FromStr for ClassMix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = match part.split_once('=') {
                Some((n, w)) => {
                    let w: u32 = w.trim().parse().map_err(|_| {
                        format!("weight of {n:?} must be a whole number, found {w:?}")
                    })?;
                    (n.trim(), w)
                }
                None => (part, 1),
            };
            if name.is_empty() {
                return Err(format!("empty class name in {s:?}"));
            }
            if v.iter().any(|(n, _): &(String, u32)| n == name) {
                return Err(format!("class {name:?} appears twice"));
            }
            v.push((name.to_string(), w));
        }
        if v.is_empty() {
            return Err("no class given (expected e.g. netflix=3,portscan=1)".into());
        }
        if v.iter().map(|(_, w)| u64::from(*w)).sum::<u64>() == 0 {
            return Err("the weights sum to zero".into());
        }
        Ok(ClassMix(v))
    }
}

impl std::fmt::Display for ClassMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(n, w)| format!("{n}={w}")).collect();
        write!(f, "{}", parts.join(","))
    }
}

impl ClassMix {
    /// The class of each of `n` flows: counts proportional to the weights (largest remainder),
    /// classes interleaved in a seeded order.
    pub fn assign(&self, n: usize, seed: u64) -> Vec<usize> {
        let total: u64 = self.0.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut counts: Vec<(usize, u64, u64)> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, (_, w))| {
                let exact = n as u64 * u64::from(*w);
                (i, exact / total, exact % total)
            })
            .collect();
        let mut left = n as u64 - counts.iter().map(|c| c.1).sum::<u64>();
        let mut order: Vec<usize> = (0..counts.len()).collect();
        order.sort_by(|&a, &b| counts[b].2.cmp(&counts[a].2).then(a.cmp(&b)));
        for i in order {
            if left == 0 {
                break;
            }
            counts[i].1 += 1;
            left -= 1;
        }
        let mut out: Vec<usize> = counts
            .iter()
            .flat_map(|&(i, c, _)| std::iter::repeat_n(i, c as usize))
            .collect();
        crate::seed::shuffle(&mut out, &mut crate::seed::rng(seed, salt::CLASS_ORDER, 0));
        out
    }
}

/// Settings of a generation job.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// Flows to generate.
    pub flows: usize,
    /// Sampling.
    pub sample: SampleSettings,
    /// Repair (start time, addressing, policies); its seed is replaced by the sampling seed.
    pub repair: RepairSettings,
    /// Flow starts: `None` draws each class's gaps between flow starts from its learned
    /// arrivals (the model card's); `Some(mean)` overrides them with one exponential mean (ns)
    /// for every class.
    pub mean_flow_gap_ns: Option<u64>,
}

/// What a job produced.
#[derive(Debug)]
pub struct JobOutput {
    /// The repaired flows, with their class names.
    pub flows: Vec<(String, RepairedFlow)>,
    /// Seconds spent sampling (repair of the batches not counted).
    pub sample_seconds: f64,
    /// Seconds spent repairing, batch by batch.
    pub repair_seconds: f64,
}

/// What a running generation job reports, batch by batch and flow by flow (the daemon's
/// progress and metrics).
pub trait GenerationObserver {
    /// A batch of `flows` flows was sampled in `seconds`.
    fn batch_sampled(&mut self, _flows: usize, _seconds: f64) {}
    /// Every batch is sampled and repaired (each as soon as it was sampled); what is left is
    /// the job's output.
    fn repairing(&mut self) {}
    /// One flow of class `class` was repaired.
    fn flow_repaired(&mut self, _class: &str, _flow: &RepairedFlow) {}
}

struct Silent;
impl GenerationObserver for Silent {}

/// Generates `settings.flows` flows of the classes of `mix` with `model`, and repairs them.
pub fn generate(
    model: &LoadedModel,
    mix: &ClassMix,
    settings: &JobSettings,
) -> Result<JobOutput, JobError> {
    generate_observed(model, mix, settings, &|| false, &mut Silent)?
        .ok_or_else(|| JobError::Setting("generation stopped without being cancelled".into()))
}

/// As [`generate`], reporting progress to `observer` and stopping between sampling batches
/// (and before repair) when `cancelled()` says so; `Ok(None)` then.
pub fn generate_observed(
    model: &LoadedModel,
    mix: &ClassMix,
    settings: &JobSettings,
    cancelled: &dyn Fn() -> bool,
    observer: &mut dyn GenerationObserver,
) -> Result<Option<JobOutput>, JobError> {
    if settings.flows == 0 || settings.flows > MAX_FLOWS {
        return Err(JobError::Setting(format!(
            "flows must be 1..={MAX_FLOWS}, got {}",
            settings.flows
        )));
    }
    let max_steps = model.card.config.timesteps;
    if settings.sample.steps == 0 || settings.sample.steps > max_steps {
        return Err(JobError::Setting(format!(
            "steps must be 1..={max_steps}, got {}",
            settings.sample.steps
        )));
    }
    if !(0.0..=20.0).contains(&settings.sample.guidance) {
        return Err(JobError::Setting(format!(
            "guidance must be within 0..=20, got {}",
            settings.sample.guidance
        )));
    }
    let idx: Vec<usize> = mix
        .0
        .iter()
        .map(|(name, _)| model.card.class_index(name).map_err(JobError::Mix))
        .collect::<Result<_, _>>()?;
    let classes: Vec<usize> = mix
        .assign(settings.flows, settings.sample.seed)
        .into_iter()
        .map(|i| idx[i])
        .collect();
    if cancelled() {
        return Ok(None);
    }
    // Start times are drawn in flow order, before sampling, so that they do not depend on the
    // order batches finish in.
    let mut starts = FlowStarts::new(model, settings);
    let start_ns: Vec<u64> = classes.iter().map(|&c| starts.next(c)).collect();
    let mut hosts = FlowHosts::new(model, settings);
    let hosts: Vec<Option<[Ipv4Addr; 2]>> = classes.iter().map(|&c| hosts.next(c)).collect();
    let openings: Vec<Vec<Opening>> = model.card.classes.iter().map(class_openings).collect();
    // Every flow of the job has a 5-tuple of its own, and every ICMP flow a host pair of its
    // own: flows between the same hosts to the same server port would otherwise be one flow
    // to a device's logs and to the ground truth (ICMP flows even with other identifiers:
    // Community IDs take an ICMP flow's type and code, flow tables its identifier or none).
    let mut identities = HashSet::new();
    let t = Instant::now();
    let mut repair_seconds = 0.0;
    let mut repaired: Vec<Option<(String, RepairedFlow)>> = vec![None; classes.len()];
    // Each batch is repaired as soon as it is sampled and its generated rows dropped, so that a
    // job of long flows never holds the generated form of all its flows at once.
    let mut on_batch = |batch: Vec<(usize, GeneratedFlow)>, seconds: f64| {
        observer.batch_sampled(batch.len(), seconds);
        let t = Instant::now();
        for (i, g) in batch {
            if g.is_empty() {
                continue; // free structure may end a flow before its first packet
            }
            let class = &model.card.classes[g.class];
            let rs = RepairSettings {
                start_ns: start_ns[i],
                seed: settings.sample.seed,
                ..settings.repair.clone()
            };
            let mut input = FlowInput {
                directions: Some(&g.directions),
                iat_ns: Some(&g.iat_ns),
                hints: Some(&class.hints),
                server_port: g.server_port,
                hosts: hosts[i],
                openings: &openings[g.class],
                ..FlowInput::bare(&g.rows)
            };
            let mut r = repair_flow(&input, &rs, i as u64)
                .map_err(|source| JobError::Repair { index: i, source })?;
            // Taken: the next client port up, as a client's stack gives its next connection;
            // where a host pair's ports run out (an ICMP flow has none), a client of its own;
            // where the pools are too small for that too, the flow shares its identity.
            let mut tries = 0u64;
            while !identities.insert(identity(&r.key)) && tries < 2 * MAX_PORT_TRIES {
                tries += 1;
                if r.key.proto == IpProtocol::Icmp || tries > MAX_PORT_TRIES {
                    let nth = (i as u64) << 20 | tries;
                    let seed = crate::seed::derive(settings.sample.seed, salt::FLOW_HOSTS, nth);
                    input.hosts = Some([rs.client_pool.host(seed), r.key.server]);
                    input.client_port = None;
                } else {
                    input.client_port = Some(next_client_port(r.key.client_port));
                }
                r = repair_flow(&input, &rs, i as u64)
                    .map_err(|source| JobError::Repair { index: i, source })?;
            }
            observer.flow_repaired(&class.name, &r);
            repaired[i] = Some((class.name.clone(), r));
        }
        repair_seconds += t.elapsed().as_secs_f64();
        Ok::<bool, JobError>(!cancelled())
    };
    if !sample_with(model, &classes, 0, &settings.sample, &mut on_batch)? {
        return Ok(None);
    }
    observer.repairing();
    let sample_seconds = t.elapsed().as_secs_f64() - repair_seconds;
    let flows = repaired.into_iter().flatten().collect();
    Ok(Some(JobOutput {
        flows,
        sample_seconds,
        repair_seconds,
    }))
}

/// Gap between flow starts of a class that has no learned arrivals (its training captures
/// held one flow), when no override is given.
pub const FALLBACK_FLOW_GAP_NS: u64 = 10_000_000;

/// When each flow of a job starts: one clock per class, advanced by the class's learned gaps
/// (or the override's exponential gaps), so that every class keeps its own pace and
/// parallelism and the classes interleave. A class's first flow starts a fraction of one gap
/// after the job's start, so the classes do not all open at the same instant.
struct FlowStarts<'a> {
    model: &'a LoadedModel,
    override_ns: Option<u64>,
    origin: u64,
    clocks: HashMap<usize, u64>,
    rng: StdRng,
}

impl<'a> FlowStarts<'a> {
    fn new(model: &'a LoadedModel, settings: &JobSettings) -> Self {
        FlowStarts {
            model,
            override_ns: settings.mean_flow_gap_ns,
            origin: settings.repair.start_ns,
            clocks: HashMap::new(),
            rng: crate::seed::rng(settings.sample.seed, salt::FLOW_STARTS, 0),
        }
    }

    /// The start time of the class's next flow.
    fn next(&mut self, class: usize) -> u64 {
        let gap = match self.override_ns {
            Some(mean) => exponential(mean, &mut self.rng),
            None => self.model.card.classes[class]
                .arrivals
                .next_gap(FALLBACK_FLOW_GAP_NS, &mut self.rng),
        };
        match self.clocks.get_mut(&class) {
            Some(clock) => {
                *clock = clock.saturating_add(gap);
                *clock
            }
            None => {
                let first = self
                    .origin
                    .saturating_add((gap as f64 * self.rng.random::<f64>()) as u64);
                self.clocks.insert(class, first);
                first
            }
        }
    }
}

/// The openings of a class's templates that recorded one (a real SYN and SYN-ACK each, as
/// often as its templates hold it), for the handshakes repair makes where a flow was generated
/// from a template of a connection's middle: its SYNs then offer a real stack's window and
/// options, not a data segment's.
fn class_openings(class: &CardClass) -> Vec<Opening> {
    let offer = |(window, options): (u16, SynOptions)| SynOffer {
        window,
        options: options.bytes(),
    };
    class
        .templates
        .iter()
        .filter_map(Template::opening)
        .map(|[client, server]| Opening {
            client: offer(client),
            server: offer(server),
        })
        .collect()
}

/// Which hosts each flow of a job runs between, per class as its flows shared hosts in its
/// training captures (learned shares, [`HostDraw`]): a generated port scan is one scanner
/// sweeping one target, a brute force one attacker's connections to one server, a flood of
/// spoofed sources new sources throughout. Each host is an address drawn from its pool. None
/// for classes of cards that learned no sharing: repair draws both addresses for each flow.
struct FlowHosts<'a> {
    model: &'a LoadedModel,
    pools: [crate::repair::Ipv4Cidr; 2],
    /// Per class and side, the draw and the address of each host drawn.
    drawn: HashMap<usize, [(HostDraw, Vec<Ipv4Addr>); 2]>,
    rng: StdRng,
}

impl<'a> FlowHosts<'a> {
    fn new(model: &'a LoadedModel, settings: &JobSettings) -> Self {
        FlowHosts {
            model,
            pools: [settings.repair.client_pool, settings.repair.server_pool],
            drawn: HashMap::new(),
            rng: crate::seed::rng(settings.sample.seed, salt::FLOW_HOSTS, 0),
        }
    }

    /// The client and server of the class's next flow.
    fn next(&mut self, class: usize) -> Option<[Ipv4Addr; 2]> {
        let reuse = self.model.card.classes[class].arrivals.host_reuse?;
        let drawn = self.drawn.entry(class).or_default();
        let mut out = [Ipv4Addr::UNSPECIFIED; 2];
        for (side, share) in [reuse.client, reuse.server].into_iter().enumerate() {
            let (draw, addrs) = &mut drawn[side];
            let h = draw.next(share, &mut self.rng) as usize;
            if h == addrs.len() {
                addrs.push(self.pools[side].host(self.rng.random::<u64>()));
            }
            out[side] = addrs[h];
        }
        Some(out)
    }
}

/// What no two flows of a job may share: the 5-tuple, and for ICMP the host pair.
fn identity(key: &FlowKey) -> FlowKey {
    match key.proto {
        IpProtocol::Icmp => FlowKey {
            client_port: 0,
            server_port: 0,
            ..*key
        },
        _ => *key,
    }
}

/// Client ports tried for a flow whose 5-tuple another flow of the job has, before it gets a
/// client address of its own.
const MAX_PORT_TRIES: u64 = 64;

/// The client port after `port`, within the ephemeral range 1024-65535 (an ICMP query's
/// identifier too).
fn next_client_port(port: u16) -> u16 {
    if (1024..u16::MAX).contains(&port) {
        port + 1
    } else {
        1024
    }
}

/// The ground truth of a job's flows as [`write_flows`](crate::packets::write_flows) writes
/// them to `pcap`: each flow's class and the class's group from the model card.
pub fn ground_truth(
    model: &LoadedModel,
    flows: &[(String, RepairedFlow)],
    pcap: &std::path::Path,
) -> GroundTruth {
    let group = |class: &str| {
        model
            .card
            .classes
            .iter()
            .find(|c| c.name == class)
            .and_then(|c| c.macro_group.as_deref())
            .unwrap_or("")
    };
    let list: Vec<(&str, &str, &RepairedFlow)> = flows
        .iter()
        .map(|(c, f)| (c.as_str(), group(c), f))
        .collect();
    let name = pcap
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    GroundTruth::from_generated(&name, &list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parsing_and_assignment() {
        let m: ClassMix = "netflix=3, portscan=1".parse().unwrap();
        let a = m.assign(8, 1);
        assert_eq!(a.iter().filter(|&&c| c == 0).count(), 6);
        assert_eq!(a.iter().filter(|&&c| c == 1).count(), 2);
        let b: ClassMix = "a=1,b=1,c=1".parse().unwrap();
        let counts: Vec<usize> = (0..3)
            .map(|c| b.assign(10, 0).iter().filter(|&&x| x == c).count())
            .collect();
        assert_eq!(counts.iter().sum::<usize>(), 10);
        assert!(counts.iter().all(|&c| c == 3 || c == 4));
        assert!("a=0,b=0".parse::<ClassMix>().unwrap_err().contains("zero"));
        assert!("a=x"
            .parse::<ClassMix>()
            .unwrap_err()
            .contains("whole number"));
        assert!("a,a".parse::<ClassMix>().unwrap_err().contains("twice"));
        assert!("".parse::<ClassMix>().is_err());
        assert_eq!(
            "zoom".parse::<ClassMix>().unwrap().0,
            vec![("zoom".to_string(), 1)]
        );
    }
}
