//! Length calibration: the network draws a packet's total length bit by bit, and class by class
//! it commits too often to the common values. Teams' TCP segments carry over 1,000 payload bytes
//! in a quarter of the real packets and in 4 % of the sampled ones; 94 % of its TCP payloads are
//! a multiple of 4 bytes. When a card is made it keeps, for each protocol and direction of a
//! class, quantiles of the payload lengths of its templates' real flows and, once the model is
//! trained, quantiles of the payload lengths the model itself samples (for TCP also segments
//! with PSH apart from those without, where each kind has enough of them: the template holds
//! the flags, and a pushed segment carries data); sampling then maps each
//! packet's payload length through the model's quantiles onto the real ones (quantile mapping,
//! as [time calibration](super::calibration) does for gaps). A longer payload stays longer, the
//! class's payloads together follow its real ones, and lengths between two real quantiles are
//! drawn between them instead of ending in the network's rounded bits.
//!
//! A flow's first [`LENGTH_POSITIONS`] packets are also calibrated position by position: there a
//! protocol fixes lengths by where a message sits (a BitTorrent peer's 68-byte handshake, a TLS
//! client hello, an SSH banner), the network learned them so, and a map fitted to the class's
//! whole distribution moved them wherever that distribution differs from the real one.
//!
//! Where the map spreads one of the model's lengths over several real ones (the network draws
//! one voice-packet size for every call, the real calls use two codecs, 172-byte and 93-103-byte
//! payloads, on the same port), each packet used to take its own place in that spread, so every
//! generated call sent both codecs' packets, about half and half. A group also records how far
//! its real flows keep to a level of their own (`flow_share`, from the intra-flow correlation
//! of the payloads' ranks), and each generated flow draws one level: a packet takes the flow's
//! place in the spread with that share and its own otherwise, so a call keeps one codec and the
//! class's payloads together still follow the real ones.

use super::template::{
    byte, nibble, word, IP_HEADER_LENGTH, IP_PROTOCOL, IP_TOTAL_LENGTH, TCP_DATA_OFFSET, TCP_FLAGS,
    UDP_PORTS,
};
use crate::nprint::layout::{Bit, MODEL_WIDTH};
use crate::wire::tcp::flags;
use crate::wire::IpProtocol;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Quantile intervals a group keeps: its lengths at 0, 1/64, …, 64/64 of its payloads.
pub const LENGTH_QUANTILES: usize = 64;
/// Payloads a group needs for its quantiles to mean something; a smaller group is left as the
/// network draws it.
const MIN_PAYLOADS: usize = 64;
/// Leading packets of a flow with groups of their own, position by position (where there are
/// enough of a kind at a position); the classifiers read a flow's first 16 packets too.
pub const LENGTH_POSITIONS: usize = 16;
/// Payloads a group of one leading position needs: fewer than a class-wide group, since a
/// class of few flows (BitTorrent's 25, SSH's 12) has no more payloads of a kind at a position
/// than flows, and a protocol's message there is mostly one length or a few.
const MIN_LEADING_PAYLOADS: usize = 8;

/// Model-layout position of the UDP length (after the two ports).
const UDP_LENGTH: usize = UDP_PORTS + 32;

/// The payload lengths of one protocol and direction of a class (for TCP, of its segments with
/// PSH or of those without): the real flows' quantiles and the model's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthGroup {
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP).
    pub protocol: u8,
    /// Packets sent by the flow's responder.
    pub backward: bool,
    /// For TCP, the segments with the PSH flag (a sender's last segment of a write: never
    /// empty), or those without; None for all of the direction's packets (the one group of UDP
    /// and ICMP, and TCP's fallback where a kind has too few).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psh: Option<bool>,
    /// For a group of one leading packet of a flow, its row (below [`LENGTH_POSITIONS`]); None
    /// for the class's packets at every position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u16>,
    /// Quantiles of the real payload lengths ([`LENGTH_QUANTILES`] + 1 values, ascending).
    pub real: Vec<u16>,
    /// Quantiles of the sampled payload lengths, as many; empty until the model has been
    /// sampled (and for a group it sampled too few packets of).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sampled: Vec<u16>,
    /// The share of a generated flow's payloads in the group that take the flow's own level
    /// (the square root of the intra-flow correlation of the real payloads' ranks, so that two
    /// generated payloads of a flow correlate as two real ones do); None where the real flows
    /// say nothing of it (fewer than two of them with two payloads in the group, or payloads
    /// all of one length) and in cards of earlier versions: each payload on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_share: Option<f32>,
}

/// A class's length calibration: one group per protocol and direction with enough packets, for
/// TCP one per PSH or not too, and one per kind and direction at each leading position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthCalibration {
    /// The groups, by protocol and kind, then direction, then position.
    pub groups: Vec<LengthGroup>,
}

/// A packet's group but its direction: protocol number, and for TCP whether PSH is set (None:
/// every packet of the protocol).
type Kind = (u8, Option<bool>);

/// A group's key: the kind, whether sent backward, and the leading position (None: any).
type Key = (Kind, bool, Option<u16>);

impl LengthGroup {
    fn key(&self) -> Key {
        ((self.protocol, self.psh), self.backward, self.position)
    }
}

/// The payload of one packet (a model-layout row) and its kind: TCP (but a SYN's or a
/// reset's, which carry none whatever the class), UDP and ICMP; None for other rows.
fn payload_of(row: &[Bit]) -> Option<(Kind, u16)> {
    let proto = byte(&row[IP_PROTOCOL..IP_PROTOCOL + 8]);
    let ip = u16::from(nibble(&row[IP_HEADER_LENGTH..IP_HEADER_LENGTH + 4])) * 4;
    let (transport, psh) = match IpProtocol::from(proto) {
        IpProtocol::Tcp => {
            let f = u16::from(byte(&row[TCP_FLAGS]));
            if f & (flags::SYN | flags::RST) != 0 {
                return None;
            }
            let doff = u16::from(nibble(&row[TCP_DATA_OFFSET..TCP_DATA_OFFSET + 4]));
            (doff * 4, Some(f & flags::PSH != 0))
        }
        IpProtocol::Udp | IpProtocol::Icmp => (8, None),
        _ => return None,
    };
    let total = word(&row[IP_TOTAL_LENGTH..IP_TOTAL_LENGTH + 16]);
    Some(((proto, psh), total.saturating_sub(ip + transport)))
}

/// Writes `value` into the 16 bits of `row` from `first`, most significant first.
pub(super) fn put_word(row: &mut [Bit], first: usize, value: u16) {
    for (i, b) in row[first..first + 16].iter_mut().enumerate() {
        *b = Bit::from(value & (1 << (15 - i)) != 0);
    }
}

/// Gives the packet of `row` a payload of `payload` bytes: its IPv4 total length and, for UDP,
/// its UDP length.
fn set_payload(row: &mut [Bit], proto: u8, old: u16, payload: u16) {
    let total = word(&row[IP_TOTAL_LENGTH..IP_TOTAL_LENGTH + 16]);
    let headers = total.saturating_sub(old);
    let total = headers.saturating_add(payload);
    put_word(row, IP_TOTAL_LENGTH, total);
    if IpProtocol::from(proto) == IpProtocol::Udp {
        put_word(row, UDP_LENGTH, 8u16.saturating_add(payload));
    }
}

/// The leading position a flow's row `row` has a group for, if any.
fn leading(row: usize) -> Option<u16> {
    (row < LENGTH_POSITIONS).then_some(row as u16)
}

/// Payload lengths counted by group, each with the flow it came from, to be turned into
/// quantiles (and, for real flows, into the groups' flow shares).
#[derive(Debug, Default)]
pub struct LengthCounts {
    groups: BTreeMap<Key, Vec<(u32, u16)>>,
    flow: u32,
}

impl LengthCounts {
    /// Starts counting the payloads of the next flow.
    pub fn next_flow(&mut self) {
        self.flow += 1;
    }

    /// Counts the payload of a model-layout row, the flow's row `position`, sent in the
    /// direction `backward` says: in its kind's and its protocol's groups, and in its
    /// position's group when it is a leading packet.
    pub fn push(&mut self, row: &[Bit], backward: bool, position: usize) {
        if let Some((kind, len)) = payload_of(row) {
            let at = (self.flow, len);
            if kind.1.is_some() {
                self.groups
                    .entry((kind, backward, None))
                    .or_default()
                    .push(at);
            }
            self.groups
                .entry(((kind.0, None), backward, None))
                .or_default()
                .push(at);
            self.add_leading(kind, len, backward, position);
        }
    }

    /// Counts the payload of a model-layout row in its position's group only (nothing past the
    /// leading positions): for flows sampled to calibrate their first packets, which would
    /// weigh a class's leading packets above its others in the class-wide groups.
    pub fn push_leading(&mut self, row: &[Bit], backward: bool, position: usize) {
        if let Some((kind, len)) = payload_of(row) {
            self.add_leading(kind, len, backward, position);
        }
    }

    /// Counts a payload of `kind` in its position's group, when `position` is a leading one.
    fn add_leading(&mut self, kind: Kind, len: u16, backward: bool, position: usize) {
        if let Some(pos) = leading(position) {
            self.groups
                .entry((kind, backward, Some(pos)))
                .or_default()
                .push((self.flow, len));
        }
    }

    /// The groups of at least [`MIN_PAYLOADS`] payloads ([`MIN_LEADING_PAYLOADS`] for a
    /// leading position's), each with its payloads (with their flows) and their lengths sorted.
    fn kept(self) -> impl Iterator<Item = (Key, Vec<(u32, u16)>, Vec<u16>)> {
        self.groups
            .into_iter()
            .filter(|((_, _, position), v)| {
                v.len()
                    >= if position.is_some() {
                        MIN_LEADING_PAYLOADS
                    } else {
                        MIN_PAYLOADS
                    }
            })
            .map(|(k, by_flow)| {
                let mut sorted: Vec<u16> = by_flow.iter().map(|&(_, len)| len).collect();
                sorted.sort_unstable();
                (k, by_flow, sorted)
            })
    }
}

/// The [`LENGTH_QUANTILES`] + 1 quantiles of ascending, non-empty `sorted` lengths.
pub(super) fn quantiles(sorted: &[u16]) -> Vec<u16> {
    let n = sorted.len() - 1;
    (0..=LENGTH_QUANTILES)
        .map(|j| sorted[j * n / LENGTH_QUANTILES])
        .collect()
}

/// The share of a flow's payloads that keep to the flow's own level: the square root of the
/// intra-flow correlation (one-way ANOVA estimate, ICC(1)) of the payloads' mid-ranks in the
/// group (`sorted`), over the flows with two or more payloads; None where fewer than two flows
/// have two or where the ranks do not vary.
fn flow_share(sorted: &[u16], by_flow: &[(u32, u16)]) -> Option<f32> {
    let n = sorted.len() as f64;
    let rank = |len: u16| {
        let below = sorted.partition_point(|&s| s < len);
        let upto = sorted.partition_point(|&s| s <= len);
        (below + upto) as f64 / (2.0 * n)
    };
    let mut flows: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
    for &(flow, len) in by_flow {
        flows.entry(flow).or_default().push(rank(len));
    }
    flows.retain(|_, r| r.len() >= 2);
    let groups = flows.len() as f64;
    let total: f64 = flows.values().map(|r| r.len() as f64).sum();
    if groups < 2.0 || total <= groups {
        return None;
    }
    let grand = flows.values().flatten().sum::<f64>() / total;
    let (mut between, mut within, mut sum_sq_sizes) = (0.0, 0.0, 0.0);
    for r in flows.values() {
        let k = r.len() as f64;
        let mean = r.iter().sum::<f64>() / k;
        between += k * (mean - grand).powi(2);
        within += r.iter().map(|x| (x - mean).powi(2)).sum::<f64>();
        sum_sq_sizes += k * k;
    }
    let msb = between / (groups - 1.0);
    let msw = within / (total - groups);
    let n0 = (total - sum_sq_sizes / total) / (groups - 1.0);
    let denominator = msb + (n0 - 1.0) * msw;
    if denominator <= 1e-12 {
        return None;
    }
    let icc = ((msb - msw) / denominator).clamp(0.0, 1.0);
    Some(icc.sqrt() as f32)
}

impl LengthCalibration {
    /// The real side of a class's calibration, from the payloads of its templates' real flows;
    /// None when no group has enough of them.
    pub fn of_real(counts: LengthCounts) -> Option<LengthCalibration> {
        let groups: Vec<LengthGroup> = counts
            .kept()
            .map(
                |(((protocol, psh), backward, position), by_flow, sorted)| LengthGroup {
                    protocol,
                    backward,
                    psh,
                    position,
                    real: quantiles(&sorted),
                    sampled: Vec::new(),
                    flow_share: flow_share(&sorted, &by_flow),
                },
            )
            .collect();
        (!groups.is_empty()).then_some(LengthCalibration { groups })
    }

    /// Forgets the model's side (so that sampling draws lengths as the network does).
    pub fn clear_sampled(&mut self) {
        for g in &mut self.groups {
            g.sampled.clear();
        }
    }

    /// Sets the model's side from the payloads it sampled; a group it sampled too few of stays
    /// without.
    pub fn set_sampled(&mut self, counts: LengthCounts) {
        let mut q: BTreeMap<Key, Vec<u16>> = counts
            .kept()
            .map(|(k, _, sorted)| (k, quantiles(&sorted)))
            .collect();
        for g in &mut self.groups {
            g.sampled = q.remove(&g.key()).unwrap_or_default();
        }
    }

    /// Why the calibration cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        for g in &self.groups {
            let name = format!(
                "length_calibration group {} {}{}{}",
                IpProtocol::from(g.protocol),
                if g.backward { "backward" } else { "forward" },
                match g.psh {
                    Some(true) => " PSH",
                    Some(false) => " without PSH",
                    None => "",
                },
                match g.position {
                    Some(p) => format!(" at packet {p}"),
                    None => String::new(),
                }
            );
            if g.position
                .is_some_and(|p| usize::from(p) >= LENGTH_POSITIONS)
            {
                return Err(format!(
                    "{name}: this build calibrates the first {LENGTH_POSITIONS} packets by position"
                ));
            }
            check_quantiles(&name, &g.real, &g.sampled)?;
            if let Some(share) = g.flow_share.filter(|s| !(0.0..=1.0).contains(s)) {
                return Err(format!("{name}: flow_share {share} outside 0..1"));
            }
        }
        Ok(())
    }
}

/// Why a group called `name` with `real` and `sampled` quantiles (none: not sampled yet) cannot
/// be used, if it cannot: [`LENGTH_QUANTILES`] + 1 of each, in ascending order.
pub(super) fn check_quantiles(name: &str, real: &[u16], sampled: &[u16]) -> Result<(), String> {
    for (side, q) in [("real", real), ("sampled", sampled)] {
        if side == "sampled" && q.is_empty() {
            continue;
        }
        if q.len() != LENGTH_QUANTILES + 1 {
            return Err(format!(
                "{name}: {} {side} quantiles, this build uses {}",
                q.len(),
                LENGTH_QUANTILES + 1
            ));
        }
        if q.windows(2).any(|w| w[0] > w[1]) {
            return Err(format!("{name}: {side} quantiles not in ascending order"));
        }
    }
    Ok(())
}

/// The payload at `q` in [0, 1] of the quantiles `qs`, drawn linearly between the two around it.
fn at_quantile(qs: &[u16], q: f64) -> u16 {
    let k = (qs.len() - 1) as f64;
    let t = q.clamp(0.0, 1.0) * k;
    let j = (t as usize).min(qs.len() - 2);
    let (a, b) = (f64::from(qs[j]), f64::from(qs[j + 1]));
    (a + (b - a) * (t - j as f64)).round() as u16
}

/// The share of payloads below `x` and up to `x` by the quantiles `qs`: the slice of [0, 1]
/// that `x` takes (a point where `x` falls between two quantiles).
pub(super) fn share_of(qs: &[u16], x: u16) -> (f64, f64) {
    let k = (qs.len() - 1) as f64;
    let below = qs.partition_point(|&s| s < x);
    let upto = qs.partition_point(|&s| s <= x);
    if upto > below {
        // x is a quantile (an atom of the lengths where several are).
        return (below as f64 / k, (upto - 1) as f64 / k);
    }
    if below == 0 {
        return (0.0, 0.0);
    }
    if below == qs.len() {
        return (1.0, 1.0);
    }
    let (a, b) = (f64::from(qs[below - 1]), f64::from(qs[below]));
    let at = ((below - 1) as f64 + (f64::from(x) - a) / (b - a)) / k;
    (at, at)
}

/// A class's monotone maps from the model's payload lengths to the real ones, by group.
#[derive(Debug, Clone)]
pub struct LengthMap(BTreeMap<Key, LengthGroup>);

impl LengthMap {
    /// The maps of the groups of `c` that have both sides; None when none has.
    pub fn new(c: &LengthCalibration) -> Option<LengthMap> {
        let groups: BTreeMap<_, _> = c
            .groups
            .iter()
            .filter(|g| !g.sampled.is_empty() && g.real.len() == g.sampled.len())
            .map(|g| (g.key(), g.clone()))
            .collect();
        (!groups.is_empty()).then_some(LengthMap(groups))
    }

    /// The real payload length for the model's `len` in the group, at `u` in [0, 1) within the
    /// slice of the model's payloads it takes.
    fn map(g: &LengthGroup, len: u16, u: f64) -> u16 {
        let (lo, hi) = share_of(&g.sampled, len);
        at_quantile(&g.real, lo + (hi - lo) * u)
    }

    /// Maps the payload length of the packet of `row` (model layout), the flow's row
    /// `position`, sent in the direction `backward` says, through the map of its kind at its
    /// position where it has one, else its kind's, else its protocol's; a pushed segment is
    /// never left empty where the group has real data. `level` in [0, 1) is the flow's own
    /// place in a spread, which the packet takes with the group's flow share.
    pub fn apply(
        &self,
        row: &mut [Bit],
        backward: bool,
        position: usize,
        level: f64,
        rng: &mut impl Rng,
    ) {
        debug_assert_eq!(row.len(), MODEL_WIDTH);
        let Some((kind, len)) = payload_of(row) else {
            return;
        };
        let at = leading(position).map(|p| (kind, backward, Some(p)));
        let g = at
            .into_iter()
            .chain([(kind, backward, None), ((kind.0, None), backward, None)])
            .find_map(|k| self.0.get(&k));
        if let Some(g) = g {
            let u = match g.flow_share {
                Some(share) if rng.random::<f64>() < f64::from(share) => level,
                _ => rng.random(),
            };
            let mut mapped = Self::map(g, len, u);
            if mapped == 0 && kind.1 == Some(true) {
                // A pushed segment carries data (repair would otherwise drop its PSH): one of
                // the group's real lengths that are not empty, where it has any.
                let first = g.real.partition_point(|&v| v == 0);
                if first < g.real.len() {
                    let empty = first as f64 / (g.real.len() - 1) as f64;
                    let q = empty + (1.0 - empty) * rng.random::<f64>();
                    mapped = at_quantile(&g.real, q).max(1);
                }
            }
            if mapped != len {
                set_payload(row, kind.0, len, mapped);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A flow's row past the leading positions: the class-wide groups only.
    const LATE: usize = LENGTH_POSITIONS;

    /// A model-layout row of a packet of `proto` with `payload` bytes (20-byte IPv4 header,
    /// 32-byte TCP header with the ACK flag) and `flags` for TCP.
    fn row(proto: u8, tcp_flags: u8, payload: u16) -> Vec<Bit> {
        let mut r = vec![0 as Bit; MODEL_WIDTH];
        let bits = |r: &mut Vec<Bit>, first: usize, n: usize, v: u16| {
            for i in 0..n {
                r[first + i] = Bit::from(v & (1 << (n - 1 - i)) != 0);
            }
        };
        bits(&mut r, IP_HEADER_LENGTH, 4, 5);
        bits(&mut r, IP_PROTOCOL, 8, proto.into());
        let transport = match proto {
            6 => {
                bits(&mut r, TCP_DATA_OFFSET, 4, 8);
                bits(&mut r, TCP_FLAGS.start, 8, tcp_flags.into());
                32
            }
            _ => {
                bits(&mut r, UDP_LENGTH, 16, 8 + payload);
                8
            }
        };
        bits(&mut r, IP_TOTAL_LENGTH, 16, 20 + transport + payload);
        r
    }

    fn counts(proto: u8, backward: bool, lens: impl IntoIterator<Item = u16>) -> LengthCounts {
        let mut c = LengthCounts::default();
        for l in lens {
            c.push(&row(proto, 0x10, l), backward, LATE);
        }
        c
    }

    #[test]
    fn payloads_are_read_and_written_through_the_headers() {
        let r = row(6, 0x18, 100);
        assert_eq!(payload_of(&r), Some(((6, Some(true)), 100)));
        assert_eq!(payload_of(&row(6, 0x10, 0)), Some(((6, Some(false)), 0)));
        // A SYN and a reset carry no payload whatever their class: not counted.
        assert_eq!(payload_of(&row(6, 0x02, 0)), None);
        assert_eq!(payload_of(&row(6, 0x14, 0)), None);
        let mut u = row(17, 0, 30);
        assert_eq!(payload_of(&u), Some(((17, None), 30)));
        set_payload(&mut u, 17, 30, 1200);
        assert_eq!(payload_of(&u), Some(((17, None), 1200)));
        assert_eq!(word(&u[UDP_LENGTH..UDP_LENGTH + 16]), 1208);
        assert_eq!(word(&u[IP_TOTAL_LENGTH..IP_TOTAL_LENGTH + 16]), 1228);
        // Vacant bits (another protocol's block) are no payload.
        assert_eq!(payload_of(&vec![-1; MODEL_WIDTH]), None);
    }

    #[test]
    fn small_groups_get_no_quantiles() {
        assert!(LengthCalibration::of_real(counts(6, false, 0..MIN_PAYLOADS as u16 - 1)).is_none());
        let c = LengthCalibration::of_real(counts(17, true, 0..1000)).unwrap();
        assert_eq!(c.groups.len(), 1);
        let g = &c.groups[0];
        assert!(g.backward && g.protocol == 17 && g.psh.is_none());
        assert_eq!(g.real.len(), LENGTH_QUANTILES + 1);
        assert_eq!((g.real[0], g.real[LENGTH_QUANTILES]), (0, 999));
        assert!(g.sampled.is_empty());
        // No sampled side yet: no map.
        assert!(LengthMap::new(&c).is_none());
        // TCP: the kind's group and the protocol's.
        let c = LengthCalibration::of_real(counts(6, true, 0..1000)).unwrap();
        let kinds: Vec<_> = c.groups.iter().map(|g| g.psh).collect();
        assert_eq!(kinds, [None, Some(false)]);
        // A leading position needs fewer: a class of few flows has no more there than flows.
        let leading = |n: u16| {
            let mut c = LengthCounts::default();
            (0..n).for_each(|l| c.push_leading(&row(17, 0, l), false, 0));
            LengthCalibration::of_real(c)
        };
        assert!(leading(MIN_LEADING_PAYLOADS as u16 - 1).is_none());
        let c = leading(MIN_LEADING_PAYLOADS as u16).unwrap();
        assert_eq!(c.groups[0].position, Some(0));
    }

    /// The model samples lengths too small and on multiples of 4; the real ones are a mix of
    /// pure ACKs and full segments. Mapped, the sampled lengths follow the real shares.
    #[test]
    fn lengths_drawn_as_sampled_come_out_as_real() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let real: Vec<u16> = (0..4000)
            .map(|i| match i % 4 {
                0 | 1 => 0,
                2 => 1448,
                _ => rng.random_range(1..1448),
            })
            .collect();
        let sampled = |rng: &mut rand::rngs::StdRng| -> u16 {
            if rng.random_bool(0.6) {
                0
            } else {
                4 * rng.random_range(1..200)
            }
        };
        let model: Vec<u16> = (0..4000).map(|_| sampled(&mut rng)).collect();
        let mut c = LengthCalibration::of_real(counts(6, false, real)).unwrap();
        c.set_sampled(counts(6, false, model));
        assert!(c.check().is_ok());
        let map = LengthMap::new(&c).unwrap();
        let (mut zero, mut full, mut odd, n) = (0, 0, 0, 20_000);
        for _ in 0..n {
            let mut r = row(6, 0x10, sampled(&mut rng));
            map.apply(&mut r, false, LATE, 0.5, &mut rng);
            let (_, len) = payload_of(&r).unwrap();
            zero += usize::from(len == 0);
            full += usize::from(len == 1448);
            odd += usize::from(len % 4 != 0);
        }
        let share = |k: usize| k as f64 / n as f64;
        assert!((share(zero) - 0.5).abs() < 0.04, "zero {}", share(zero));
        assert!((share(full) - 0.25).abs() < 0.04, "full {}", share(full));
        assert!(share(odd) > 0.1, "odd lengths {}", share(odd));
        // The other direction has no group: left as it is.
        let mut r = row(6, 0x10, 40);
        map.apply(&mut r, true, LATE, 0.5, &mut rng);
        assert_eq!(payload_of(&r), Some(((6, Some(false)), 40)));
    }

    /// Pushed segments carry data; the model gives some of them none, and puts data on pure
    /// ACKs. Each kind is mapped onto its own real lengths.
    #[test]
    fn pushed_segments_and_acks_are_calibrated_apart() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut real = LengthCounts::default();
        let mut model = LengthCounts::default();
        for i in 0..2000u16 {
            real.push(&row(6, 0x10, if i % 10 < 7 { 0 } else { 1448 }), true, LATE);
            real.push(&row(6, 0x18, 100 + i % 400), true, LATE);
            model.push(
                &row(6, 0x10, if i % 2 == 0 { 0 } else { 500 + i % 900 }),
                true,
                LATE,
            );
            model.push(
                &row(6, 0x18, if i % 4 == 0 { 0 } else { i % 300 }),
                true,
                LATE,
            );
        }
        let mut c = LengthCalibration::of_real(real).unwrap();
        c.set_sampled(model);
        assert_eq!(c.groups.len(), 3, "PSH, no PSH, both");
        let map = LengthMap::new(&c).unwrap();
        let (mut acks_empty, mut pushed_empty, n) = (0, 0, 4000);
        for i in 0..n {
            let mut ack = row(6, 0x10, if i % 2 == 0 { 0 } else { 500 + i % 900 });
            map.apply(&mut ack, true, LATE, 0.5, &mut rng);
            acks_empty += usize::from(payload_of(&ack).unwrap().1 == 0);
            let mut pushed = row(6, 0x18, if i % 4 == 0 { 0 } else { i % 300 });
            map.apply(&mut pushed, true, LATE, 0.5, &mut rng);
            pushed_empty += usize::from(payload_of(&pushed).unwrap().1 == 0);
        }
        assert_eq!(pushed_empty, 0, "a pushed segment left empty");
        let share = acks_empty as f64 / n as f64;
        assert!((share - 0.7).abs() < 0.05, "ACKs without data {share}");
        // A kind with too few packets of its own goes through its protocol's map: pushed
        // segments of the model's full size become the direction's largest real ones, and one
        // the map would leave empty takes one of the direction's real non-empty lengths.
        let mut real = LengthCounts::default();
        let mut model = LengthCounts::default();
        for i in 0..200u16 {
            real.push(&row(6, 0x10, 0), false, LATE);
            model.push(&row(6, 0x10, 0), false, LATE);
            if i % 10 == 0 {
                real.push(&row(6, 0x18, 300), false, LATE);
                model.push(&row(6, 0x18, 1448), false, LATE);
            }
        }
        let mut c = LengthCalibration::of_real(real).unwrap();
        c.set_sampled(model);
        let map = LengthMap::new(&c).unwrap();
        let mut pushed = row(6, 0x18, 1448);
        map.apply(&mut pushed, false, LATE, 0.5, &mut rng);
        assert_eq!(payload_of(&pushed), Some(((6, Some(true)), 300)));
        let mut pushed = row(6, 0x18, 0);
        map.apply(&mut pushed, false, LATE, 0.5, &mut rng);
        assert_eq!(payload_of(&pushed), Some(((6, Some(true)), 300)));
    }

    /// A protocol's message at a fixed position (a 68-byte handshake as the client's first
    /// data) keeps its real length where the network drew it right, though the class-wide map,
    /// fitted to a distribution the network drew far from the real one, would move it.
    #[test]
    fn leading_packets_are_calibrated_by_position() {
        const AT: usize = 3;
        let mut real = LengthCounts::default();
        let mut model = LengthCounts::default();
        for i in 0..400u16 {
            real.push(&row(6, 0x18, 68), false, AT);
            model.push(&row(6, 0x18, 68), false, AT);
            // Later pushed segments: smaller real ones, the network's far larger.
            for j in 0..3 {
                real.push(&row(6, 0x18, 20 + (i + j) % 40), false, LATE);
            }
            model.push(&row(6, 0x18, 1000 + i % 400), false, LATE);
            model.push(&row(6, 0x18, 1000 + i % 400), false, LATE);
        }
        // Flows sampled for their leading packets only count there.
        let mut only_leading = LengthCounts::default();
        only_leading.push_leading(&row(6, 0x18, 68), false, AT);
        only_leading.push_leading(&row(6, 0x18, 68), false, LATE);
        assert_eq!(only_leading.groups.len(), 1);
        assert!(only_leading
            .groups
            .contains_key(&((6, Some(true)), false, Some(AT as u16))));
        let mut c = LengthCalibration::of_real(real).unwrap();
        c.set_sampled(model);
        assert!(c.check().is_ok());
        let at: Vec<_> = c.groups.iter().filter_map(|g| g.position).collect();
        assert_eq!(at, [AT as u16]);
        let map = LengthMap::new(&c).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for _ in 0..100 {
            let mut r = row(6, 0x18, 68);
            map.apply(&mut r, false, AT, 0.5, &mut rng);
            assert_eq!(payload_of(&r).unwrap().1, 68);
            // The same length elsewhere in the flow (a position without a group, or past the
            // leading ones) goes through the class-wide map: the network's 68 is its lowest
            // third, which the real ones fill with the later segments' smaller lengths.
            for p in [AT + 1, LATE] {
                let mut r = row(6, 0x18, 68);
                map.apply(&mut r, false, p, 0.5, &mut rng);
                let len = payload_of(&r).unwrap().1;
                assert!((20..60).contains(&len), "position {p}: {len}");
            }
        }
        // A position group past what this build calibrates is refused by name.
        c.groups.iter_mut().for_each(|g| {
            if g.position.is_some() {
                g.position = Some(LENGTH_POSITIONS as u16);
            }
        });
        let why = c.check().unwrap_err();
        assert!(why.contains("TCP forward PSH at packet 16"), "{why}");
    }

    #[test]
    fn the_map_keeps_the_order_of_lengths() {
        let mut c = LengthCalibration::of_real(counts(17, false, (0..500).map(|i| i * 3))).unwrap();
        c.set_sampled(counts(17, false, (0..500).map(|i| (i / 7) * 8)));
        let map = LengthMap::new(&c).unwrap();
        let g = map.0.values().next().unwrap();
        for u in [0.0, 0.5, 0.99] {
            let out: Vec<u16> = (0..600).map(|x| LengthMap::map(g, x, u)).collect();
            assert!(out.windows(2).all(|w| w[0] <= w[1]), "u {u}");
        }
    }

    #[test]
    fn bad_quantiles_are_refused_by_name() {
        let mut c = LengthCalibration::of_real(counts(17, true, 0..100)).unwrap();
        c.groups[0].real.pop();
        let why = c.check().unwrap_err();
        assert!(
            why.contains("UDP backward") && why.contains("64 real"),
            "{why}"
        );
        let mut c = LengthCalibration::of_real(counts(17, true, 0..100)).unwrap();
        c.groups[0].sampled = (0..=LENGTH_QUANTILES as u16).rev().collect();
        let why = c.check().unwrap_err();
        assert!(
            why.contains("sampled quantiles not in ascending order"),
            "{why}"
        );
    }

    /// UDP flows of `per_flow` payloads each, one flow a `lens` entry: the payloads of flow `i`
    /// come from `lens[i]` in turn.
    fn udp_flows(lens: &[Vec<u16>], per_flow: usize) -> LengthCounts {
        let mut c = LengthCounts::default();
        for flow in lens {
            c.next_flow();
            for j in 0..per_flow {
                c.push(&row(17, 0, flow[j % flow.len()]), false, LATE);
            }
        }
        c
    }

    #[test]
    fn flow_share_reads_how_far_flows_keep_to_a_level() {
        // Calls of two codecs: every flow sends one size.
        let calls: Vec<Vec<u16>> = (0..10)
            .map(|i| vec![if i % 2 == 0 { 172 } else { 100 }])
            .collect();
        let c = LengthCalibration::of_real(udp_flows(&calls, 40)).unwrap();
        let share = c.groups[0].flow_share.unwrap();
        assert!(share > 0.99, "{share}");
        // Every flow sends both sizes alike: no level of its own.
        let mixed: Vec<Vec<u16>> = (0..10).map(|_| vec![172, 100]).collect();
        let c = LengthCalibration::of_real(udp_flows(&mixed, 40)).unwrap();
        let share = c.groups[0].flow_share.unwrap();
        assert!(share < 0.2, "{share}");
        // One flow, or one size: nothing to say.
        let one = LengthCalibration::of_real(udp_flows(&[vec![172, 100, 50]], 80)).unwrap();
        assert_eq!(one.groups[0].flow_share, None);
        let same: Vec<Vec<u16>> = (0..10).map(|_| vec![172]).collect();
        let same = LengthCalibration::of_real(udp_flows(&same, 40)).unwrap();
        assert_eq!(same.groups[0].flow_share, None);
        let mut bad = same.clone();
        bad.groups[0].flow_share = Some(1.5);
        assert!(bad
            .check()
            .unwrap_err()
            .contains("flow_share 1.5 outside 0..1"));
    }

    #[test]
    fn a_flow_keeps_its_level_where_the_map_spreads_one_length() {
        // The model draws 172 for every call; the real calls are half 100-byte, half 172-byte.
        let calls: Vec<Vec<u16>> = (0..10)
            .map(|i| vec![if i % 2 == 0 { 172 } else { 100 }])
            .collect();
        let mut c = LengthCalibration::of_real(udp_flows(&calls, 40)).unwrap();
        c.set_sampled(udp_flows(&[vec![172]], 400));
        let map = LengthMap::new(&c).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        // (flows sending one size, flows' 172-byte payloads) over 200 flows of 30 packets.
        let mut run = |map: &LengthMap| {
            let (mut pure, mut big, mut all) = (0, 0, 0);
            for _ in 0..200 {
                let level: f64 = rng.random();
                let sizes: Vec<u16> = (0..30)
                    .map(|_| {
                        let mut r = row(17, 0, 172);
                        map.apply(&mut r, false, LATE, level, &mut rng);
                        payload_of(&r).unwrap().1
                    })
                    .collect();
                pure += usize::from(sizes.iter().all(|&l| l == sizes[0]));
                big += sizes.iter().filter(|&&l| l == 172).count();
                all += sizes.len();
            }
            (pure, big as f64 / all as f64)
        };
        let (pure, big) = run(&map);
        assert!(pure >= 190, "{pure} of 200 flows send one size");
        assert!((big - 0.5).abs() < 0.1, "share of 172-byte payloads {big}");
        // Without the share each payload takes its own place: every flow sends both.
        c.groups[0].flow_share = None;
        let (pure, big) = run(&LengthMap::new(&c).unwrap());
        assert_eq!(pure, 0, "{pure} of 200 flows send one size");
        assert!((big - 0.5).abs() < 0.1, "share of 172-byte payloads {big}");
    }
}
