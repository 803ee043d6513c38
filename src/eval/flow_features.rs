//! Per-flow features for the similarity measures, binned: packets and bytes per flow and
//! direction changes in powers of two, duration and inter-arrival times in half-decades of
//! microseconds, the forward share of packets in tenths.

use crate::flows::{Direction, Flow};

/// A flow-level feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowFeature {
    /// Packets in the flow.
    Packets,
    /// Bytes in the flow (sum of the IPv4 total lengths).
    Bytes,
    /// Last packet time minus first.
    Duration,
    /// Time since the previous packet of the flow (one value per packet after the first).
    InterArrival,
    /// How often the direction flips from one packet to the next.
    DirectionChanges,
    /// Share of the packets sent client → server.
    ForwardShare,
}

impl FlowFeature {
    /// Every flow feature, in report order.
    pub const ALL: [FlowFeature; 6] = [
        FlowFeature::Packets,
        FlowFeature::Bytes,
        FlowFeature::Duration,
        FlowFeature::InterArrival,
        FlowFeature::DirectionChanges,
        FlowFeature::ForwardShare,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            FlowFeature::Packets => "packets_per_flow",
            FlowFeature::Bytes => "bytes_per_flow",
            FlowFeature::Duration => "duration",
            FlowFeature::InterArrival => "inter_arrival",
            FlowFeature::DirectionChanges => "direction_changes",
            FlowFeature::ForwardShare => "forward_share",
        }
    }

    /// How a bin key reads in plots and reports.
    pub fn bin_label(self, key: u64) -> String {
        match self {
            FlowFeature::Packets | FlowFeature::Bytes | FlowFeature::DirectionChanges => {
                match key {
                    0 => "0".to_string(),
                    k => format!("{}-{}", 1u128 << (k - 1), (1u128 << k) - 1),
                }
            }
            FlowFeature::Duration | FlowFeature::InterArrival => match key {
                0 => "<1µs".to_string(),
                k => format!("≥{}", time_label(10f64.powf((k - 1) as f64 / 2.0))),
            },
            FlowFeature::ForwardShare => format!("{:.1}", key as f64 / 10.0),
        }
    }

    /// Adds the binned values of this feature for `flow` to `out`.
    pub fn values(self, flow: &Flow, out: &mut Vec<u64>) {
        let p = &flow.packets;
        match self {
            FlowFeature::Packets => out.push(log2_bin(p.len() as u64)),
            FlowFeature::Bytes => {
                let bytes: u64 = p.iter().map(|pk| u64::from(pk.total_len())).sum();
                out.push(log2_bin(bytes));
            }
            FlowFeature::Duration => out.push(half_decade_us_bin(flow.duration_ns())),
            FlowFeature::InterArrival => {
                out.extend(p.iter().skip(1).map(|pk| half_decade_us_bin(pk.iat_ns)))
            }
            FlowFeature::DirectionChanges => {
                let changes = p
                    .windows(2)
                    .filter(|w| w[0].direction != w[1].direction)
                    .count();
                out.push(log2_bin(changes as u64));
            }
            FlowFeature::ForwardShare => {
                if !p.is_empty() {
                    let fwd = p
                        .iter()
                        .filter(|pk| pk.direction == Direction::Forward)
                        .count();
                    out.push(((10 * fwd) / p.len()).min(9) as u64);
                }
            }
        }
    }
}

/// A duration in µs as `3.2ms`, `100µs`, `1s`.
fn time_label(us: f64) -> String {
    let (v, unit) = if us >= 1e6 {
        (us / 1e6, "s")
    } else if us >= 1e3 {
        (us / 1e3, "ms")
    } else {
        (us, "µs")
    };
    if v < 9.95 && (v - v.round()).abs() > 0.05 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// 0 for 0, else 1 + floor(log2 x): 1 → 1, 2..3 → 2, 4..7 → 3, …
pub fn log2_bin(x: u64) -> u64 {
    u64::from(64 - x.leading_zeros())
}

/// 0 below 1 µs, else 1 + floor(2·log10(µs)): half-decades, so 1-3.16 µs → 1, 3.16-10 µs → 2,
/// 10-31.6 µs → 3, …
pub fn half_decade_us_bin(ns: u64) -> u64 {
    let us = ns as f64 / 1000.0;
    if us < 1.0 {
        0
    } else {
        1 + (2.0 * us.log10()).floor() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::{FlowKey, FlowPacket};

    fn packet(ts_ns: u64, iat_ns: u64, direction: Direction, tl: u16) -> FlowPacket {
        FlowPacket {
            ts_ns,
            iat_ns,
            direction,
            ..FlowPacket::with_headers(tl, crate::wire::IpProtocol::Tcp, &[0; 20])
        }
    }

    #[test]
    fn features_of_a_hand_built_flow() {
        use Direction::*;
        let flow = Flow {
            key: FlowKey::test_tcp(),
            label: None,
            source: Default::default(),
            packets: vec![
                packet(0, 0, Forward, 60),
                packet(500, 500, Backward, 60),
                packet(20_500, 20_000, Forward, 1500),
                packet(2_020_500, 2_000_000, Forward, 40),
            ],
        };
        let v = |f: FlowFeature| {
            let mut out = Vec::new();
            f.values(&flow, &mut out);
            out
        };
        assert_eq!(v(FlowFeature::Packets), vec![3]); // 4 = 2^2 → bin 3
        assert_eq!(v(FlowFeature::Bytes), vec![11]); // 1660: 1024..2047 → bin 11
                                                     // 2020.5 µs: 2·log10 = 6.61 → bin 7.
        assert_eq!(v(FlowFeature::Duration), vec![7]);
        // 0.5 µs → 0; 20 µs: 2·1.30 = 2.6 → 3; 2000 µs: 2·3.30 = 6.6 → 7.
        assert_eq!(v(FlowFeature::InterArrival), vec![0, 3, 7]);
        assert_eq!(v(FlowFeature::DirectionChanges), vec![2]); // 2 changes → bin 2
        assert_eq!(v(FlowFeature::ForwardShare), vec![7]); // 3/4 → 7
    }

    #[test]
    fn bins() {
        assert_eq!(log2_bin(0), 0);
        assert_eq!(log2_bin(1), 1);
        assert_eq!(log2_bin(7), 3);
        assert_eq!(log2_bin(8), 4);
        assert_eq!(half_decade_us_bin(999), 0);
        assert_eq!(half_decade_us_bin(1_000), 1);
        assert_eq!(half_decade_us_bin(10_000), 3);
        assert_eq!(FlowFeature::Packets.bin_label(3), "4-7");
        assert_eq!(FlowFeature::ForwardShare.bin_label(5), "0.5");
        // Bin 8 starts at 10^3.5 µs = 3.16 ms; bin 13 at 10^6 µs = 1 s.
        assert_eq!(FlowFeature::InterArrival.bin_label(8), "≥3.2ms");
        assert_eq!(FlowFeature::Duration.bin_label(13), "≥1s");
        assert_eq!(FlowFeature::Duration.bin_label(3), "≥10µs");
    }
}
