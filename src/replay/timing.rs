//! Packet due times and waiting for them.
//!
//! Every due time is an offset from one anchor instant, computed from the packet's position in
//! the capture (never by adding up per-packet sleeps), in integer nanoseconds with 128-bit
//! arithmetic. Waiting sleeps on an absolute `CLOCK_MONOTONIC` deadline until shortly before the
//! due time and spins the rest.

use super::config::Pace;
use super::sys;
use std::sync::atomic::{AtomicBool, Ordering};

const NS_PER_SEC: u128 = 1_000_000_000;
/// Nanoseconds per byte at 1 Mb/s, times the 8 bits of a byte: 8 × 1000.
const NS_BITS_PER_MBPS: u128 = 8_000;
/// Longest single sleep, so a cancel request is seen within this time.
const MAX_SLEEP_SLICE_NS: u64 = 20_000_000;

/// Computes each packet's due offset (ns from the anchor) for one pass over one capture.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pace: Pace,
    max_gap_ns: Option<u128>,
    index: u128,
    bytes: u128,
    prev_ts: Option<u64>,
    capture_elapsed_ns: u128,
    prev_nominal: u128,
    removed_ns: u128,
}

impl Schedule {
    /// A schedule for `pace`, cutting any gap longer than `max_gap_ns`.
    pub(crate) fn new(pace: Pace, max_gap_ns: Option<u64>) -> Schedule {
        Schedule {
            pace,
            max_gap_ns: max_gap_ns.map(u128::from),
            index: 0,
            bytes: 0,
            prev_ts: None,
            capture_elapsed_ns: 0,
            prev_nominal: 0,
            removed_ns: 0,
        }
    }

    fn nominal(&self) -> u128 {
        match self.pace {
            Pace::Captured { multiplier } => multiplier.divide(self.capture_elapsed_ns),
            Pace::Pps(rate) => rate.divide(self.index.saturating_mul(NS_PER_SEC)),
            Pace::Mbps(rate) => rate.divide(self.bytes.saturating_mul(NS_BITS_PER_MBPS)),
            Pace::TopSpeed => 0,
        }
    }

    /// The due offset of the next packet, captured at `ts_ns` with `len` bytes on the wire.
    pub(crate) fn next(&mut self, ts_ns: u64, len: usize) -> u64 {
        if let Some(prev) = self.prev_ts {
            // A timestamp that goes backwards is a zero gap.
            self.capture_elapsed_ns += u128::from(ts_ns.saturating_sub(prev));
        }
        self.prev_ts = Some(ts_ns);
        let offset = self.advance_to_nominal();
        self.index += 1;
        self.bytes += len as u128;
        offset
    }

    /// Where the packet after the last one would be due: the anchor of a pass that follows
    /// this one without a gap (for captured timing, the last packet's due offset).
    pub(crate) fn end_offset(&mut self) -> u64 {
        if matches!(self.pace, Pace::Captured { .. }) {
            return saturate(self.prev_nominal - self.removed_ns);
        }
        self.advance_to_nominal()
    }

    fn advance_to_nominal(&mut self) -> u64 {
        let nominal = self.nominal().max(self.prev_nominal);
        if let Some(max) = self.max_gap_ns {
            let gap = nominal - self.prev_nominal;
            if gap > max {
                self.removed_ns += gap - max;
            }
        }
        self.prev_nominal = nominal;
        saturate(nominal - self.removed_ns)
    }
}

fn saturate(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The due time has come; the clock read this.
    Due(u64),
    /// The stop deadline came first.
    Deadline,
    /// Cancellation was requested.
    Cancelled,
}

/// Sleeps and spins until due times, and reads the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waiter {
    /// Default spin margin: stop sleeping this long before a due time and spin.
    pub(crate) spin_margin_ns: u64,
}

impl Waiter {
    /// Now on the monotonic clock.
    pub(crate) fn now(&self) -> u64 {
        sys::monotonic_ns()
    }

    /// Waits until `due`, unless `deadline` (when given) comes first or `cancel` is set;
    /// sleeps until `spin_margin_ns` before the target and spins from there.
    pub(crate) fn wait_until(
        &self,
        due: u64,
        deadline: Option<u64>,
        cancel: &AtomicBool,
        spin_margin_ns: u64,
    ) -> Wake {
        let (target, is_deadline) = match deadline {
            Some(d) if d < due => (d, true),
            _ => (due, false),
        };
        loop {
            let now = sys::monotonic_ns();
            if now >= target {
                return if is_deadline {
                    Wake::Deadline
                } else {
                    Wake::Due(now)
                };
            }
            if cancel.load(Ordering::Relaxed) {
                return Wake::Cancelled;
            }
            let remaining = target - now;
            if remaining > spin_margin_ns {
                let wake = (target - spin_margin_ns).min(now + MAX_SLEEP_SLICE_NS);
                sys::sleep_until_ns(wake);
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::config::Rate;

    fn offsets(pace: Pace, max_gap: Option<u64>, pkts: &[(u64, usize)]) -> Vec<u64> {
        let mut s = Schedule::new(pace, max_gap);
        pkts.iter().map(|&(ts, len)| s.next(ts, len)).collect()
    }

    #[test]
    fn captured_timing_is_anchored_and_exact() {
        let pkts: Vec<(u64, usize)> = (0..1000).map(|i| (5_000 + i * 333, 60)).collect();
        let o = offsets(Pace::default(), None, &pkts);
        assert_eq!(o[0], 0);
        assert_eq!(o[999], 999 * 333);
        let half = Pace::Captured {
            multiplier: "3".parse().unwrap(),
        };
        let o = offsets(half, None, &pkts);
        // Each offset is floor(elapsed / 3), so rounding never accumulates.
        assert_eq!(o[999], 999 * 333 / 3);
        assert_eq!(o[1], 111);
    }

    #[test]
    fn backwards_timestamp_is_a_zero_gap() {
        let o = offsets(
            Pace::default(),
            None,
            &[(1000, 1), (3000, 1), (2000, 1), (2500, 1)],
        );
        assert_eq!(o, vec![0, 2000, 2000, 2500]);
    }

    #[test]
    fn pps_and_mbps_use_packet_index_and_bytes_before() {
        let pps = Pace::Pps("0.5".parse().unwrap());
        assert_eq!(
            offsets(pps, None, &[(0, 1), (0, 1), (0, 1)]),
            vec![0, 2_000_000_000, 4_000_000_000]
        );
        let pps = Pace::Pps(Rate::whole(3));
        assert_eq!(offsets(pps, None, &[(0, 1); 4])[3], 1_000_000_000);
        // 1000 bytes at 8 Mb/s take 1 ms.
        let mbps = Pace::Mbps(Rate::whole(8));
        assert_eq!(
            offsets(mbps, None, &[(0, 1000), (0, 500), (0, 1)]),
            vec![0, 1_000_000, 1_500_000]
        );
    }

    #[test]
    fn max_gap_cuts_long_gaps_only() {
        let o = offsets(
            Pace::default(),
            Some(1000),
            &[(0, 1), (500, 1), (10_500, 1), (11_000, 1)],
        );
        assert_eq!(o, vec![0, 500, 1500, 2000]);
    }

    #[test]
    fn end_offset_continues_constant_rates() {
        let mut s = Schedule::new(Pace::Pps(Rate::whole(1000)), None);
        s.next(0, 1);
        s.next(0, 1);
        assert_eq!(s.end_offset(), 2_000_000);
        let mut s = Schedule::new(Pace::default(), None);
        s.next(100, 1);
        s.next(700, 1);
        assert_eq!(s.end_offset(), 600);
    }

    #[test]
    fn huge_timestamps_do_not_overflow() {
        let slow = Pace::Captured {
            multiplier: "0.000000001".parse().unwrap(),
        };
        let o = offsets(slow, None, &[(0, 1), (u64::MAX, 1)]);
        assert_eq!(o[1], u64::MAX);
    }

    #[test]
    fn waiter_returns_at_or_after_due_and_honours_cancel() {
        let w = Waiter {
            spin_margin_ns: 50_000,
        };
        let cancel = AtomicBool::new(false);
        let due = w.now() + 2_000_000;
        match w.wait_until(due, None, &cancel, w.spin_margin_ns) {
            Wake::Due(t) => assert!(t >= due),
            other => panic!("unexpected {other:?}"),
        }
        let far = w.now() + 10_000_000_000;
        assert_eq!(
            w.wait_until(far, Some(w.now() + 1_000_000), &cancel, 0),
            Wake::Deadline
        );
        cancel.store(true, Ordering::Relaxed);
        assert_eq!(w.wait_until(far, None, &cancel, 0), Wake::Cancelled);
    }
}
