//! What a replay does: inputs, pacing, limits, timing settings, sender and rewriting.

use super::rewrite::RewriteConfig;
use super::split::SideSplit;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// A positive decimal number held exactly as `num / den` (den a power of ten), so rate and
/// schedule arithmetic stays in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    num: u128,
    den: u128,
}

/// Why a decimal rate could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid number '{value}': {why}")]
pub struct RateParseError {
    value: String,
    why: &'static str,
}

const MAX_FRACTION_DIGITS: usize = 9;
const MAX_INTEGER_DIGITS: usize = 15;

impl Rate {
    /// The rate `n` (a whole number, at least 1).
    pub fn whole(n: u64) -> Rate {
        Rate {
            num: u128::from(n.max(1)),
            den: 1,
        }
    }

    /// `x * den / num` rounded down: `x` divided by this rate, saturating at `u128::MAX`.
    pub(crate) fn divide(&self, x: u128) -> u128 {
        match x.checked_mul(self.den) {
            Some(v) => v / self.num,
            None => (x / self.num).saturating_mul(self.den),
        }
    }

    /// The value as a float, for reports only.
    pub fn as_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

impl FromStr for Rate {
    type Err = RateParseError;

    fn from_str(s: &str) -> Result<Rate, RateParseError> {
        let err = |why| RateParseError {
            value: s.to_string(),
            why,
        };
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(err("expected a number such as 2, 0.5 or 1000"));
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                "expected a positive decimal number such as 2, 0.5 or 1000",
            ));
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        if int.len() > MAX_INTEGER_DIGITS {
            return Err(err("too large"));
        }
        if frac.len() > MAX_FRACTION_DIGITS {
            return Err(err("more than 9 digits after the point"));
        }
        let digits = format!("{int}{frac}");
        let num: u128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| err("too large"))?
        };
        if num == 0 {
            return Err(err("must be greater than zero"));
        }
        Ok(Rate {
            num,
            den: 10u128.pow(frac.len() as u32),
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.num / self.den;
        let frac = self.num % self.den;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let width = self.den.ilog10() as usize;
        let digits = format!("{frac:0width$}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// When each packet is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Captured timing divided by a multiplier (1 = as captured).
    Captured {
        /// Speed-up factor.
        multiplier: Rate,
    },
    /// A constant packet rate (packets per second).
    Pps(Rate),
    /// A constant layer-2 bit rate (megabits per second).
    Mbps(Rate),
    /// As fast as the sender goes.
    TopSpeed,
}

impl Default for Pace {
    fn default() -> Self {
        Pace::Captured {
            multiplier: Rate::whole(1),
        }
    }
}

/// What to do after a packet went out late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// Keep the schedule: later packets that are already due go out back to back (tcpreplay).
    #[default]
    Burst,
    /// Move the schedule by the lateness, so the gaps after a late packet stay as captured.
    Reanchor,
}

/// How frames reach the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderKind {
    /// libpcap's `pcap_sendpacket`: one system call per frame; portable.
    Pcap,
    /// An AF_PACKET socket and `sendmmsg`: up to 256 frames per system call (Linux).
    Mmsg,
    /// An AF_XDP socket in copy mode: frames on a shared ring, no socket message per frame
    /// (Linux, 64-bit).
    Xdp,
    /// The fastest sender that opens on the interface: xdp, else mmsg (Linux).
    Auto,
}

impl SenderKind {
    /// The default: the fastest batched sender that opens where they exist (AF_XDP measured
    /// 1.1-1.3 x the `sendmmsg` sender's top speed and that one 1.9 x the libpcap sender's, see
    /// docs/benchmarks.md), libpcap elsewhere.
    pub fn platform_default() -> SenderKind {
        if cfg!(target_os = "linux") {
            SenderKind::Auto
        } else {
            SenderKind::Pcap
        }
    }

    /// The name used on the command line, in the configuration and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SenderKind::Pcap => "pcap",
            SenderKind::Mmsg => "mmsg",
            SenderKind::Xdp => "xdp",
            SenderKind::Auto => "auto",
        }
    }

    /// The sender called `name` (as [`name`](Self::name) writes it).
    pub fn from_name(name: &str) -> Option<SenderKind> {
        [
            SenderKind::Pcap,
            SenderKind::Mmsg,
            SenderKind::Xdp,
            SenderKind::Auto,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// Everything a replay run needs to know.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Interface to send on; in an inline replay, the first (primary, client side) one.
    pub iface: String,
    /// Inline replay: the second (secondary, server side) interface. Each frame leaves on one
    /// of the two as `split` decides, in one schedule.
    pub iface2: Option<String>,
    /// How an inline replay splits frames between the interfaces.
    pub split: SideSplit,
    /// Record when each frame left (UTC), for ground truth: [`ReplayReport::send_log`](super::ReplayReport).
    pub record_send_times: bool,
    /// Capture files, replayed one after the other in each loop.
    pub files: Vec<PathBuf>,
    /// When packets are due.
    pub pace: Pace,
    /// How many times to replay the files; 0 repeats until stopped.
    pub loops: u64,
    /// Pause between loops.
    pub loop_delay: Duration,
    /// Stop after this many packets.
    pub limit: Option<u64>,
    /// Stop after this much time.
    pub duration: Option<Duration>,
    /// Longest gap between two packets; longer ones are cut to this (idle compression).
    pub max_sleep: Option<Duration>,
    /// Load every frame into memory before sending the first.
    pub preload: bool,
    /// How long before a packet's due time the engine stops sleeping and spins.
    pub spin_margin: Duration,
    /// Timer slack asked of the kernel for the sending thread while it runs.
    pub timer_slack: Duration,
    /// A packet sent more than this after its due time counts as late.
    pub late_threshold: Duration,
    /// What to do after a late packet.
    pub catch_up: CatchUp,
    /// In timed modes, run the sending thread under SCHED_FIFO at this priority (1..=99) while
    /// it replays, when the system allows (CAP_SYS_NICE); `None` keeps the normal scheduler.
    /// Under SCHED_FIFO the engine never spins for more than half of a gap, so a fast schedule
    /// cannot monopolise a core.
    pub realtime_priority: Option<u8>,
    /// How frames reach the interface.
    pub sender: SenderKind,
    /// Most frames handed to the sender at once (top speed, or packets already due).
    pub batch: usize,
    /// With the mmsg sender, hand frames straight to the driver, past the queueing discipline
    /// (the xdp sender always does; `auto` picks mmsg when this is asked for).
    pub qdisc_bypass: bool,
    /// Retries of one frame when the kernel says ENOBUFS or EAGAIN, before it counts as failed.
    pub max_retries: u32,
    /// Address, port and TTL rewriting.
    pub rewrite: RewriteConfig,
}

/// Default spin margin: at 1 ms gaps it measured the lowest p99 lateness (3 µs) for 10 % of a
/// core; 50 µs halved the CPU but let p99 rise to 4-13 µs (docs/benchmarks.md).
pub const DEFAULT_SPIN_MARGIN: Duration = Duration::from_micros(100);

/// Default SCHED_FIFO priority of the sending thread in timed modes: above every normal task,
/// low among realtime ones (kernel threads that use SCHED_FIFO run at 50).
pub const DEFAULT_REALTIME_PRIORITY: u8 = 10;

impl ReplayConfig {
    /// The same configuration with another sender.
    pub fn with_sender(&self, sender: SenderKind) -> ReplayConfig {
        ReplayConfig {
            sender,
            ..self.clone()
        }
    }

    /// A configuration with tcpreplay's defaults: captured timing, one loop, no limits.
    pub fn new(iface: impl Into<String>, files: Vec<PathBuf>) -> ReplayConfig {
        ReplayConfig {
            iface: iface.into(),
            iface2: None,
            split: SideSplit::default(),
            record_send_times: false,
            files,
            pace: Pace::default(),
            loops: 1,
            loop_delay: Duration::ZERO,
            limit: None,
            duration: None,
            max_sleep: None,
            preload: false,
            spin_margin: DEFAULT_SPIN_MARGIN,
            timer_slack: Duration::from_micros(1),
            late_threshold: Duration::from_micros(100),
            catch_up: CatchUp::default(),
            realtime_priority: Some(DEFAULT_REALTIME_PRIORITY),
            sender: SenderKind::platform_default(),
            batch: 64,
            qdisc_bypass: false,
            max_retries: 100,
            rewrite: RewriteConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_names_round_trip() {
        for k in [
            SenderKind::Pcap,
            SenderKind::Mmsg,
            SenderKind::Xdp,
            SenderKind::Auto,
        ] {
            assert_eq!(SenderKind::from_name(k.name()), Some(k));
        }
        assert_eq!(SenderKind::from_name("MMSG"), None);
        assert_eq!(SenderKind::from_name(""), None);
    }

    #[test]
    fn parses_decimals_exactly() {
        let r: Rate = "2.5".parse().unwrap();
        assert_eq!(r.divide(1000), 400);
        let r: Rate = "0.001".parse().unwrap();
        assert_eq!(r.divide(3), 3000);
        assert_eq!(
            "1000".parse::<Rate>().unwrap().divide(1_000_000_000),
            1_000_000
        );
        assert_eq!("007.50".parse::<Rate>().unwrap().to_string(), "7.5");
        assert_eq!(".5".parse::<Rate>().unwrap().to_string(), "0.5");
    }

    #[test]
    fn rejects_zero_negative_and_junk() {
        for bad in [
            "0",
            "0.000",
            "-1",
            "1e3",
            "",
            ".",
            "abc",
            "1.0000000001",
            "nan",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn divide_saturates_instead_of_overflowing() {
        let r: Rate = "0.000000001".parse().unwrap();
        assert_eq!(r.divide(u128::MAX), u128::MAX);
    }
}
