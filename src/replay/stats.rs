//! Run statistics: live counters the daemon can read while a replay runs, the lateness
//! histogram, and the end-of-run report in tcpreplay's words (plus lateness and drift), as text
//! or JSON.

use serde::Serialize;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters updated as the replay runs; read them from any thread.
#[derive(Debug, Default)]
pub struct ReplayCounters {
    /// Frames the kernel accepted.
    pub packets: AtomicU64,
    /// Bytes of those frames.
    pub bytes: AtomicU64,
    /// Frames that could not be sent (errors, retries exhausted, oversize, unframeable).
    pub failed: AtomicU64,
    /// Frames larger than the interface MTU plus link header (also in `failed`).
    pub oversize: AtomicU64,
    /// Frames with no IP packet where the link header had to be replaced (also in `failed`).
    pub unframeable: AtomicU64,
    /// Frames the capture had cut short (sent as captured).
    pub truncated: AtomicU64,
    /// Send retries after ENOBUFS.
    pub retried_enobufs: AtomicU64,
    /// Send retries after EAGAIN.
    pub retried_eagain: AtomicU64,
    /// Frames sent later than the late threshold.
    pub late: AtomicU64,
    /// Loops completed.
    pub loops: AtomicU64,
    /// Inline replay: frames the kernel accepted on the second interface (also in `packets`).
    pub secondary_packets: AtomicU64,
    /// Inline replay: bytes of those frames (also in `bytes`).
    pub secondary_bytes: AtomicU64,
    /// Inline replay: frames that failed on the second interface (also in `failed`).
    pub secondary_failed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterSnapshot {
    /// Frames the kernel accepted.
    pub packets: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames that could not be sent.
    pub failed: u64,
    /// Frames larger than the interface takes.
    pub oversize: u64,
    /// Frames that could not be given the interface's framing.
    pub unframeable: u64,
    /// Frames the capture had cut short.
    pub truncated: u64,
    /// Retries after ENOBUFS.
    pub retried_enobufs: u64,
    /// Retries after EAGAIN.
    pub retried_eagain: u64,
    /// Late frames.
    pub late: u64,
    /// Loops completed.
    pub loops: u64,
    /// Inline replay: frames sent on the second interface (also in `packets`).
    pub secondary_packets: u64,
    /// Inline replay: bytes sent on the second interface (also in `bytes`).
    pub secondary_bytes: u64,
    /// Inline replay: frames that failed on the second interface (also in `failed`).
    pub secondary_failed: u64,
}

impl SendLog {
    /// Loop by loop, the send times of file `file`'s frames and, per frame, whether it left on
    /// the second interface: what ground truth takes from a replay.
    pub fn of_file(&self, file: usize) -> impl Iterator<Item = (u64, &[u64], &[bool])> + '_ {
        let second = self.secondary.get(file).map_or(&[][..], Vec::as_slice);
        self.loops.iter().enumerate().filter_map(move |(l, files)| {
            files
                .get(file)
                .map(|sent| (l as u64, sent.as_slice(), second))
        })
    }
}

/// What went out on one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IfaceTally {
    /// Interface name.
    pub iface: String,
    /// Which side of the flows it carried: `client` (first interface) or `server` (second).
    pub side: &'static str,
    /// Frames the kernel accepted.
    pub packets: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames that could not be sent (sender refusals only).
    pub failed: u64,
}

/// When each frame left, for ground truth: `loops[l][f][i]` is the UTC time (ns since the Unix
/// epoch) at which frame `i` of file `f` left in loop `l`, 0 when it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendLog {
    /// Per loop, per file, per frame.
    pub loops: Vec<Vec<Vec<u64>>>,
    /// Per file, per frame: it left on the second interface of an inline replay (as first sent).
    pub secondary: Vec<Vec<bool>>,
    /// Recording stopped early to bound memory (later loops are not in `loops`).
    pub truncated: bool,
}

impl ReplayCounters {
    /// Reads every counter.
    pub fn snapshot(&self) -> CounterSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterSnapshot {
            packets: r(&self.packets),
            bytes: r(&self.bytes),
            failed: r(&self.failed),
            oversize: r(&self.oversize),
            unframeable: r(&self.unframeable),
            truncated: r(&self.truncated),
            retried_enobufs: r(&self.retried_enobufs),
            retried_eagain: r(&self.retried_eagain),
            late: r(&self.late),
            loops: r(&self.loops),
            secondary_packets: r(&self.secondary_packets),
            secondary_bytes: r(&self.secondary_bytes),
            secondary_failed: r(&self.secondary_failed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Sub-buckets per power of two: values are kept to within 1/32 (about 3 %).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Log-linear histogram of lateness in nanoseconds: fixed memory, about 3 % resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatenessHistogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for LatenessHistogram {
    fn default() -> Self {
        LatenessHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

impl LatenessHistogram {
    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros();
        let mantissa = (v >> (exp - SUB_BITS)) & (SUB - 1);
        ((exp - SUB_BITS + 1) as u64 * SUB + mantissa) as usize
    }

    /// The smallest value in bucket `i` and the bucket's width.
    fn bounds(i: usize) -> (u64, u64) {
        let i = i as u64;
        if i < SUB {
            return (i, 1);
        }
        let exp = i / SUB - 1 + u64::from(SUB_BITS);
        let shift = exp - u64::from(SUB_BITS);
        ((SUB + i % SUB) << shift, 1 << shift)
    }

    /// Counts one value.
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
    }

    /// Values counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Largest value counted (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Every value counted, as (value, how many): each bucket that holds any, represented by its
    /// middle (never above the maximum), from the smallest up.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(i, &c)| {
                let (lo, width) = Self::bounds(i);
                ((lo + width / 2).min(self.max), c)
            })
    }

    /// The value at quantile `q` (0..=1): the middle of its bucket, never above the maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        if rank >= self.total {
            return self.max;
        }
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, width) = Self::bounds(i);
                return (lo + width / 2).min(self.max);
            }
        }
        self.max
    }
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
pub enum StopReason {
    /// Every loop of every file was sent.
    Completed,
    /// The packet limit was reached.
    Limit,
    /// The time limit was reached.
    Duration,
    /// Cancellation was requested.
    Cancelled,
    /// Sending failed and could not go on.
    Failed(String),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::Completed => write!(f, "completed"),
            StopReason::Limit => write!(f, "packet limit reached"),
            StopReason::Duration => write!(f, "duration reached"),
            StopReason::Cancelled => write!(f, "cancelled"),
            StopReason::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// Lateness of sent frames against their due times (timed modes only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LatenessSummary {
    /// Frames measured.
    pub samples: u64,
    /// Median lateness, ns.
    pub p50_ns: u64,
    /// 99th percentile, ns.
    pub p99_ns: u64,
    /// Largest, ns.
    pub max_ns: u64,
    /// Frames later than the late threshold.
    pub late: u64,
    /// The threshold, ns.
    pub late_threshold_ns: u64,
    /// When the last frame went out, relative to when it was due on the run's schedule, ns.
    pub final_drift_ns: i64,
}

/// What a run did, as reported at its end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Interface sent on (the first one of an inline replay).
    pub iface: String,
    /// Inline replay: the second interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface2: Option<String>,
    /// Inline replay: how frames were split between the interfaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<&'static str>,
    /// What went out on each interface.
    pub interfaces: Vec<IfaceTally>,
    /// Sender used.
    pub sender: &'static str,
    /// Counters at the end.
    #[serde(flatten)]
    pub counters: CounterSnapshot,
    /// Time from the first frame sent to the last, ns.
    pub elapsed_ns: u64,
    /// Distinct flows (5-tuples, both directions together) in the first pass over the files.
    pub flows: u64,
    /// Time from the start of the run to its end (waits included), ns.
    pub wall_ns: u64,
    /// CPU time (user + system) the replaying thread used during the run, ns (the engine's own
    /// cost, whatever else the process does).
    pub cpu_ns: u64,
    /// The sending thread ran under SCHED_FIFO.
    pub realtime: bool,
    /// Lateness, when packets had due times.
    pub lateness: Option<LatenessSummary>,
    /// Every frame's lateness, when packets had due times (for metrics; not in the JSON).
    #[serde(skip)]
    pub lateness_histogram: Option<LatenessHistogram>,
    /// Why the run ended.
    pub stop: StopReason,
    /// When each frame left, when the configuration asked for it (not in the JSON).
    #[serde(skip)]
    pub send_log: Option<SendLog>,
}

impl ReplayReport {
    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

fn per_sec(n: f64, secs: f64) -> f64 {
    if secs > 0.0 {
        n / secs
    } else {
        0.0
    }
}

impl fmt::Display for ReplayReport {
    /// tcpreplay's end-of-run statistics, then netdiffd's own lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counters;
        let secs = self.elapsed_ns as f64 / 1e9;
        writeln!(
            f,
            "Actual: {} packets ({} bytes) sent in {:.6} seconds",
            c.packets, c.bytes, secs
        )?;
        let bps = per_sec(c.bytes as f64, secs);
        writeln!(
            f,
            "Rated: {:.1} Bps, {:.3} Mbps, {:.2} pps",
            bps,
            bps * 8.0 / 1e6,
            per_sec(c.packets as f64, secs)
        )?;
        writeln!(
            f,
            "Flows: {} flows, {:.2} fps",
            self.flows,
            per_sec(self.flows as f64, secs)
        )?;
        writeln!(f, "Statistics for network device: {}", self.iface)?;
        writeln!(f, "\tSuccessful packets:        {}", c.packets)?;
        writeln!(f, "\tFailed packets:            {}", c.failed)?;
        writeln!(f, "\tTruncated packets:         {}", c.truncated)?;
        writeln!(f, "\tRetried packets (ENOBUFS): {}", c.retried_enobufs)?;
        writeln!(f, "\tRetried packets (EAGAIN):  {}", c.retried_eagain)?;
        writeln!(f, "\tOversize packets:          {}", c.oversize)?;
        writeln!(f, "\tUnframeable packets:       {}", c.unframeable)?;
        if let Some(split) = self.split {
            writeln!(f, "Inline replay ({split} split):")?;
            for t in &self.interfaces {
                writeln!(
                    f,
                    "\t{} ({} side): {} packets, {} bytes, {} failed",
                    t.iface, t.side, t.packets, t.bytes, t.failed
                )?;
            }
        }
        let scheduler = if self.realtime {
            "SCHED_FIFO"
        } else {
            "normal"
        };
        writeln!(
            f,
            "Loops completed: {}; sender: {}; scheduler: {scheduler}; stopped: {}",
            c.loops, self.sender, self.stop
        )?;
        if let Some(l) = &self.lateness {
            writeln!(
                f,
                "Lateness: p50 {:.2} us, p99 {:.2} us, max {:.2} us; {} late (> {:.0} us); final drift {:.2} us",
                l.p50_ns as f64 / 1e3,
                l.p99_ns as f64 / 1e3,
                l.max_ns as f64 / 1e3,
                l.late,
                l.late_threshold_ns as f64 / 1e3,
                l.final_drift_ns as f64 / 1e3
            )?;
        }
        writeln!(
            f,
            "CPU time: {:.3} s ({:.1} % of one core)",
            self.cpu_ns as f64 / 1e9,
            per_sec(self.cpu_ns as f64 * 100.0, self.wall_ns as f64)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_within_resolution() {
        let mut h = LatenessHistogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 100);
        }
        let p50 = h.quantile(0.5) as f64;
        let p99 = h.quantile(0.99) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.04, "{p50}");
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.04, "{p99}");
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.len(), 10_000);
    }

    #[test]
    fn buckets_give_back_every_value_to_within_3_percent() {
        let mut h = LatenessHistogram::default();
        let values = [0u64, 7, 31, 32, 100, 1_000, 1_003, 65_000, 2_000_000];
        for v in values {
            h.record(v);
        }
        let buckets: Vec<(u64, u64)> = h.buckets().collect();
        assert_eq!(
            buckets.iter().map(|b| b.1).sum::<u64>(),
            values.len() as u64
        );
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0), "{buckets:?}");
        let mut expanded = buckets
            .iter()
            .flat_map(|&(v, c)| std::iter::repeat_n(v, c as usize));
        for v in values {
            let got = expanded.next().unwrap();
            assert!(
                got.abs_diff(v) as f64 <= v as f64 * 0.032,
                "{v} came back as {got}"
            );
        }
        assert_eq!(
            buckets.last().unwrap().0,
            2_000_000,
            "never above the maximum"
        );
    }

    #[test]
    fn histogram_small_and_extreme_values() {
        let mut h = LatenessHistogram::default();
        assert_eq!(h.quantile(0.5), 0);
        h.record(0);
        h.record(7);
        h.record(u64::MAX);
        assert_eq!(h.quantile(0.0), 0);
        assert_eq!(h.quantile(0.5), 7);
        assert_eq!(h.quantile(1.0), u64::MAX);
        for v in [31u64, 32, 33, 1 << 40, (1 << 40) + 12345] {
            let (lo, w) = LatenessHistogram::bounds(LatenessHistogram::index(v));
            assert!(lo <= v && v < lo + w, "{v}: [{lo}, {})", lo + w);
        }
    }

    #[test]
    fn text_report_has_tcpreplay_lines() {
        let r = ReplayReport {
            iface: "veth0".into(),
            iface2: None,
            split: None,
            interfaces: Vec::new(),
            send_log: None,
            sender: "mmsg",
            counters: CounterSnapshot {
                packets: 2000,
                bytes: 128_000,
                failed: 1,
                ..Default::default()
            },
            elapsed_ns: 2_000_000_000,
            flows: 10,
            wall_ns: 2_000_000_000,
            cpu_ns: 20_000_000,
            realtime: false,
            lateness: None,
            lateness_histogram: None,
            stop: StopReason::Completed,
        };
        let t = r.to_string();
        assert!(
            t.contains("Actual: 2000 packets (128000 bytes) sent in 2.000000 seconds"),
            "{t}"
        );
        assert!(
            t.contains("Rated: 64000.0 Bps, 0.512 Mbps, 1000.00 pps"),
            "{t}"
        );
        assert!(t.contains("Failed packets:            1"), "{t}");
        assert_eq!(r.to_json()["packets"], 2000);
        assert_eq!(r.to_json()["stop"]["reason"], "completed");
    }
}
