//! A class's fallback statistics for repair, measured on its real flows.

use crate::flows::{Direction, Flow};
use crate::repair::ClassHints;
use std::collections::HashMap;

/// Inter-arrival samples kept at most (evenly spaced over all of them).
const MAX_IAT_SAMPLES: usize = 10_000;
/// Server ports kept at most.
const MAX_SERVER_PORTS: usize = 16;

/// Direction chain, inter-arrival samples and server ports (most common first, ICMP flows
/// left out) of `flows`.
pub fn class_hints<'a>(flows: impl IntoIterator<Item = &'a Flow>) -> ClassHints {
    let (mut ff, mut fb, mut bf, mut bb) = (0u64, 0u64, 0u64, 0u64);
    let mut iats = Vec::new();
    let mut ports: HashMap<u16, u64> = HashMap::new();
    for f in flows {
        for w in f.packets.windows(2) {
            match (w[0].direction, w[1].direction) {
                (Direction::Forward, Direction::Forward) => ff += 1,
                (Direction::Forward, Direction::Backward) => fb += 1,
                (Direction::Backward, Direction::Forward) => bf += 1,
                (Direction::Backward, Direction::Backward) => bb += 1,
            }
        }
        iats.extend(f.packets.iter().skip(1).map(|p| p.iat_ns));
        if f.key.proto != crate::wire::IpProtocol::Icmp {
            *ports.entry(f.key.server_port).or_insert(0) += 1;
        }
    }
    let share = |a: u64, b: u64| {
        if a + b == 0 {
            0.5
        } else {
            a as f64 / (a + b) as f64
        }
    };
    let iat_samples_ns = if iats.len() > MAX_IAT_SAMPLES {
        (0..MAX_IAT_SAMPLES)
            .map(|i| iats[i * iats.len() / MAX_IAT_SAMPLES])
            .collect()
    } else {
        iats
    };
    let mut ports: Vec<(u16, u64)> = ports.into_iter().collect();
    ports.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ClassHints {
        direction_chain: Some([share(ff, fb), share(bf, bb)]),
        iat_samples_ns,
        server_ports: ports
            .into_iter()
            .take(MAX_SERVER_PORTS)
            .map(|(p, _)| p)
            .collect(),
    }
}
