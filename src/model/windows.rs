//! Window calibration: the network draws a TCP segment's window bit by bit, and part of what it
//! draws is no window a real packet of the class has — its rounded bits (4,095 where the real
//! servers advertise 4,096; 15, 31, 127, 8,191) or values between the class's few real ones.
//! As with [payload lengths](super::lengths), a card keeps, for each direction of a class,
//! quantiles of the windows of its templates' real segments and, once the model is trained,
//! of the windows the model itself samples; sampling maps each segment's window through the
//! model's quantiles onto the real ones. Unlike a length, a window is not drawn between two
//! real quantiles: it takes the nearest one, a window some real segment of the class had. A
//! flow keeps one place within a spread for all its segments (the flow's level), so a
//! connection that advertises one window keeps to one real value instead of hopping among the
//! values the spread covers. SYNs are left alone (a template holds their window with their
//! options: a stack's fingerprint), and so are resets (a stack's own rule decides theirs).
//!
//! A flow's first [`LENGTH_POSITIONS`] packets have groups of their own too, position by
//! position, as their lengths do: the segment after a handshake advertises what the client's
//! stack offers every connection (63 in every one of the lab's 486 web-browsing flows that
//! have a third packet), a value the class-wide map, placing the network's draw among all the
//! class's windows, gave to 30 % of them.

use super::lengths::{check_quantiles, put_word, quantiles, share_of, LENGTH_POSITIONS};
use super::template::{byte, word, IP_PROTOCOL, TCP_FLAGS, TCP_WINDOW};
use crate::nprint::layout::{Bit, MODEL_WIDTH};
use crate::wire::tcp::flags;
use crate::wire::IpProtocol;
use serde::{Deserialize, Serialize};

/// Windows a direction needs for its quantiles to mean something; a direction with fewer is
/// left as the network draws it.
const MIN_WINDOWS: usize = 64;
/// Windows a group of one leading position needs (as many as a leading length group: a class
/// of few flows has no more segments at a position).
const MIN_LEADING_WINDOWS: usize = 8;

/// The windows of one direction of a class's TCP segments (SYNs and resets apart): the real
/// flows' quantiles and the model's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowGroup {
    /// Segments sent by the flow's responder.
    pub backward: bool,
    /// The flow's packet (0-based, below [`LENGTH_POSITIONS`]) the group is for; None for the
    /// class's segments at every position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u16>,
    /// Quantiles of the real windows (65 values, ascending: the same count as lengths').
    pub real: Vec<u16>,
    /// Quantiles of the sampled windows, as many; empty until the model has been sampled (and
    /// for a direction it sampled too few segments of).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sampled: Vec<u16>,
}

/// A class's window calibration: a group for each direction with enough segments, and for each
/// direction and leading position with enough.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowCalibration {
    /// The groups, forward first, each direction's class-wide group before its positions'.
    pub groups: Vec<WindowGroup>,
}

/// The window of the TCP segment of a model-layout row, when it is neither a SYN nor a reset.
fn window_of(row: &[Bit]) -> Option<u16> {
    if IpProtocol::from(byte(&row[IP_PROTOCOL..IP_PROTOCOL + 8])) != IpProtocol::Tcp {
        return None;
    }
    let f = u16::from(byte(&row[TCP_FLAGS]));
    (f & (flags::SYN | flags::RST) == 0).then(|| word(&row[TCP_WINDOW..TCP_WINDOW + 16]))
}

/// A group's key: whether sent backward, and the leading position (None: any).
type Key = (bool, Option<u16>);

/// Windows counted by direction, and by direction and leading position, to be turned into
/// quantiles.
#[derive(Debug)]
pub struct WindowCounts {
    all: [Vec<u16>; 2],
    leading: [Vec<Vec<u16>>; 2],
}

impl Default for WindowCounts {
    fn default() -> Self {
        let positions = || vec![Vec::new(); LENGTH_POSITIONS];
        WindowCounts {
            all: [Vec::new(), Vec::new()],
            leading: [positions(), positions()],
        }
    }
}

impl WindowCounts {
    /// Counts the window of a model-layout row, the flow's row `position`, sent in the
    /// direction `backward` says: in its direction's group, and in its position's when it is a
    /// leading packet.
    pub fn push(&mut self, row: &[Bit], backward: bool, position: usize) {
        if let Some(w) = window_of(row) {
            self.all[usize::from(backward)].push(w);
            self.add_leading(w, backward, position);
        }
    }

    /// Counts the window of a model-layout row in its position's group only: for flows sampled
    /// to calibrate their first packets, which would skew the direction's group.
    pub fn push_leading(&mut self, row: &[Bit], backward: bool, position: usize) {
        if let Some(w) = window_of(row) {
            self.add_leading(w, backward, position);
        }
    }

    fn add_leading(&mut self, window: u16, backward: bool, position: usize) {
        if let Some(at) = self.leading[usize::from(backward)].get_mut(position) {
            at.push(window);
        }
    }

    /// Each group with enough windows, with its quantiles, in the calibration's order.
    fn kept(self) -> impl Iterator<Item = (Key, Vec<u16>)> {
        let WindowCounts { all, leading } = self;
        all.into_iter()
            .zip(leading)
            .zip([false, true])
            .flat_map(|((all, leading), backward)| {
                let positions = leading
                    .into_iter()
                    .enumerate()
                    .map(|(p, v)| (Some(p as u16), v, MIN_LEADING_WINDOWS));
                std::iter::once((None, all, MIN_WINDOWS))
                    .chain(positions)
                    .filter(|(_, v, least)| v.len() >= *least)
                    .map(move |(position, mut v, _)| {
                        v.sort_unstable();
                        ((backward, position), quantiles(&v))
                    })
            })
    }
}

impl WindowCalibration {
    /// The real side of a class's calibration, from the segments of its templates' real flows;
    /// None when neither direction has enough of them.
    pub fn of_real(counts: WindowCounts) -> Option<WindowCalibration> {
        let groups: Vec<WindowGroup> = counts
            .kept()
            .map(|((backward, position), real)| WindowGroup {
                backward,
                position,
                real,
                sampled: Vec::new(),
            })
            .collect();
        (!groups.is_empty()).then_some(WindowCalibration { groups })
    }

    /// Forgets the model's side (so that sampling draws windows as the network does).
    pub fn clear_sampled(&mut self) {
        for g in &mut self.groups {
            g.sampled.clear();
        }
    }

    /// Sets the model's side from the windows it sampled; a group it sampled too few of stays
    /// without.
    pub fn set_sampled(&mut self, counts: WindowCounts) {
        let mut by: std::collections::HashMap<Key, Vec<u16>> = counts.kept().collect();
        for g in &mut self.groups {
            g.sampled = by.remove(&(g.backward, g.position)).unwrap_or_default();
        }
    }

    /// Why the calibration cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for g in &self.groups {
            let side = if g.backward { "backward" } else { "forward" };
            let name = match g.position {
                None => format!("window_calibration group {side}"),
                Some(p) => format!("window_calibration group {side} at packet {p}"),
            };
            if g.position
                .is_some_and(|p| usize::from(p) >= LENGTH_POSITIONS)
            {
                return Err(format!(
                    "{name}: this build calibrates the first {LENGTH_POSITIONS} packets by position"
                ));
            }
            if !seen.insert((g.backward, g.position)) {
                return Err(format!("{name}: given twice"));
            }
            check_quantiles(&name, &g.real, &g.sampled)?;
        }
        Ok(())
    }
}

/// A class's monotone maps from the model's windows to real ones, by direction, and by
/// direction and leading position.
#[derive(Debug, Clone)]
pub struct WindowMap {
    all: [Option<WindowGroup>; 2],
    leading: [Vec<Option<WindowGroup>>; 2],
}

impl WindowMap {
    /// The maps of the groups of `c` that have both sides; None when none has.
    pub fn new(c: &WindowCalibration) -> Option<WindowMap> {
        let mut map = WindowMap {
            all: [None, None],
            leading: [vec![None; LENGTH_POSITIONS], vec![None; LENGTH_POSITIONS]],
        };
        let mut any = false;
        for g in &c.groups {
            if g.sampled.is_empty() || g.sampled.len() != g.real.len() {
                continue;
            }
            let side = usize::from(g.backward);
            let slot = match g.position {
                None => &mut map.all[side],
                Some(p) => match map.leading[side].get_mut(usize::from(p)) {
                    Some(slot) => slot,
                    None => continue,
                },
            };
            *slot = Some(g.clone());
            any = true;
        }
        any.then_some(map)
    }

    /// Maps the window of the segment of `row` (model layout), the flow's row `position`,
    /// sent in the direction `backward` says, onto the real quantile nearest its place among
    /// the model's windows of its position's group where it has one, else of its direction's;
    /// `level` in [0, 1) is the flow's place within the slice a window the model draws often
    /// takes.
    pub fn apply(&self, row: &mut [Bit], backward: bool, position: usize, level: f64) {
        debug_assert_eq!(row.len(), MODEL_WIDTH);
        let side = usize::from(backward);
        let leading = self.leading[side].get(position).and_then(Option::as_ref);
        let Some(g) = leading.or(self.all[side].as_ref()) else {
            return;
        };
        let Some(window) = window_of(row) else {
            return;
        };
        let (lo, hi) = share_of(&g.sampled, window);
        let q = lo + (hi - lo) * level.clamp(0.0, 1.0);
        let k = g.real.len() - 1;
        let mapped = g.real[((q * k as f64).round() as usize).min(k)];
        put_word(row, TCP_WINDOW, mapped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model-layout row of a TCP segment with `tcp_flags` and `window`.
    fn segment(tcp_flags: u8, window: u16) -> Vec<Bit> {
        let mut row = vec![Bit::from(false); MODEL_WIDTH];
        let mut put = |first: usize, bits: usize, value: u16| {
            for i in 0..bits {
                row[first + i] = Bit::from(value & (1 << (bits - 1 - i)) != 0);
            }
        };
        put(IP_PROTOCOL, 8, 6);
        put(TCP_FLAGS.start, 8, tcp_flags.into());
        put(TCP_WINDOW, 16, window);
        row
    }

    fn window(row: &[Bit]) -> u16 {
        word(&row[TCP_WINDOW..TCP_WINDOW + 16])
    }

    const ACK: u8 = flags::ACK as u8;
    /// A row past the leading positions: only its direction's group counts it.
    const ANY: usize = LENGTH_POSITIONS + 10;

    /// A calibration whose forward real windows are `real` and sampled ones `sampled`.
    fn calibration(real: &[u16], sampled: &[u16]) -> WindowCalibration {
        let counts = |ws: &[u16]| {
            let mut c = WindowCounts::default();
            for &w in ws {
                c.push(&segment(ACK, w), false, ANY);
            }
            c
        };
        let mut cal = WindowCalibration::of_real(counts(real)).expect("enough real windows");
        cal.set_sampled(counts(sampled));
        cal
    }

    #[test]
    fn windows_map_onto_real_ones_in_order() {
        // Real: 501 for half the segments, 4,096 for the rest; the network draws 501 and
        // 4,095 (its rounded bits) in the same shares.
        let real: Vec<u16> = [501; 100].into_iter().chain([4096; 100]).collect();
        let sampled: Vec<u16> = [501; 100].into_iter().chain([4095; 100]).collect();
        let cal = calibration(&real, &sampled);
        cal.check().unwrap();
        let map = WindowMap::new(&cal).unwrap();
        for (drawn, level, want) in [
            (4095, 0.5, 4096),
            (501, 0.2, 501),
            (600, 0.9, 501),
            (3000, 0.9, 4096),
        ] {
            let mut row = segment(ACK, drawn);
            map.apply(&mut row, false, ANY, level);
            assert_eq!(window(&row), want, "{drawn} at level {level}");
        }
        // Beyond the model's lowest and highest: the real extremes.
        for (drawn, want) in [(3, 501), (60_000, 4096)] {
            let mut row = segment(ACK, drawn);
            map.apply(&mut row, false, ANY, 0.5);
            assert_eq!(window(&row), want);
        }
    }

    #[test]
    fn every_mapped_window_is_a_real_one_and_order_is_kept() {
        let real: Vec<u16> = (0..300).map(|i| 1000 + (i % 7) * 300).collect();
        let sampled: Vec<u16> = (0..300).map(|i| 5 + i * 3).collect();
        let map = WindowMap::new(&calibration(&real, &sampled)).unwrap();
        let mut last = 0;
        for drawn in (0..1000).step_by(7) {
            let mut row = segment(ACK, drawn);
            map.apply(&mut row, false, ANY, 0.5);
            let w = window(&row);
            assert!(real.contains(&w), "{drawn} -> {w}");
            assert!(w >= last, "{drawn} -> {w} after {last}");
            last = w;
        }
    }

    #[test]
    fn a_flow_keeps_its_place_in_a_spread() {
        // The network draws one window where the real flows advertise one of four.
        let real: Vec<u16> = (0..400).map(|i| 500 + (i % 4)).collect();
        let map = WindowMap::new(&calibration(&real, &[501; 400])).unwrap();
        for level in [0.05, 0.4, 0.6, 0.95] {
            let got: Vec<u16> = (0..20)
                .map(|_| {
                    let mut row = segment(ACK, 501);
                    map.apply(&mut row, false, ANY, level);
                    window(&row)
                })
                .collect();
            assert!(got.iter().all(|&w| w == got[0]), "{level}: {got:?}");
        }
        let (mut low, mut high) = (segment(ACK, 501), segment(ACK, 501));
        map.apply(&mut low, false, ANY, 0.05);
        map.apply(&mut high, false, ANY, 0.95);
        assert_eq!((window(&low), window(&high)), (500, 503));
    }

    #[test]
    fn syns_resets_other_directions_and_protocols_are_left_alone() {
        let real = [4096u16; 100];
        let map = WindowMap::new(&calibration(&real, &[4095; 100])).unwrap();
        for f in [
            flags::SYN as u8,
            (flags::SYN | flags::ACK) as u8,
            flags::RST as u8,
        ] {
            let mut row = segment(f, 4095);
            map.apply(&mut row, false, ANY, 0.5);
            assert_eq!(window(&row), 4095, "flags {f:#x}");
        }
        // No backward group: the responder's windows stay as drawn.
        let mut row = segment(ACK, 4095);
        map.apply(&mut row, true, ANY, 0.5);
        assert_eq!(window(&row), 4095);
        let mut udp = segment(ACK, 4095);
        udp[IP_PROTOCOL + 3] = Bit::from(true); // 6 | 16 = 22: not TCP
        map.apply(&mut udp, false, ANY, 0.5);
        assert_eq!(window(&udp), 4095);
    }

    #[test]
    fn too_few_windows_make_no_group_and_bad_cards_are_named() {
        let mut few = WindowCounts::default();
        for _ in 0..MIN_WINDOWS - 1 {
            few.push(&segment(ACK, 100), true, ANY);
        }
        assert!(WindowCalibration::of_real(few).is_none());
        let mut cal = calibration(&[10; 100], &[20; 100]);
        cal.groups[0].sampled.reverse();
        cal.groups[0].sampled[0] = 30;
        let e = cal.check().unwrap_err();
        assert!(
            e.contains("window_calibration group forward: sampled"),
            "{e}"
        );
        let mut cal = calibration(&[10; 100], &[20; 100]);
        cal.groups[0].real.pop();
        assert!(cal.check().unwrap_err().contains("64 real quantiles"));
        let mut cal = calibration(&[10; 100], &[20; 100]);
        cal.groups.push(cal.groups[0].clone());
        assert!(cal.check().unwrap_err().contains("given twice"));
        // Without a sampled side there is no map.
        cal.clear_sampled();
        assert!(WindowMap::new(&cal).is_none());
    }

    #[test]
    fn leading_packets_map_through_their_positions_groups() {
        // Every real flow's third packet advertises 63; the class's windows at large spread
        // from 60 to 4,000. The network draws the third packet's window anywhere in its range.
        let (mut real, mut sampled) = (WindowCounts::default(), WindowCounts::default());
        for i in 0..40u16 {
            real.push(&segment(ACK, 63), false, 2);
            sampled.push(&segment(ACK, 60 + i), false, 2);
        }
        for i in 0..200u16 {
            real.push(&segment(ACK, 60 + i * 20), false, ANY);
            sampled.push(&segment(ACK, 50 + i * 20), false, ANY);
        }
        // Flows sampled for their first packets count at their positions only.
        let mut only_leading = WindowCounts::default();
        for _ in 0..100 {
            only_leading.push_leading(&segment(ACK, 9), false, 4);
        }
        assert_eq!(only_leading.kept().count(), 1);
        let mut cal = WindowCalibration::of_real(real).unwrap();
        cal.set_sampled(sampled);
        cal.check().unwrap();
        let at = |g: &WindowGroup| (g.backward, g.position);
        let keys: Vec<_> = cal.groups.iter().map(at).collect();
        assert_eq!(keys, [(false, None), (false, Some(2))]);
        let map = WindowMap::new(&cal).unwrap();
        for drawn in [60, 71, 80, 99] {
            let mut row = segment(ACK, drawn);
            map.apply(&mut row, false, 2, 0.5);
            assert_eq!(window(&row), 63, "{drawn} at the third packet");
        }
        // Another position has no group of its own: the direction's map.
        let mut row = segment(ACK, 2000);
        map.apply(&mut row, false, 3, 0.5);
        let w = window(&row);
        assert!(
            (1900..=2200).contains(&w) && w.is_multiple_of(20),
            "{w}: not the direction's map"
        );
        // A position past the leading ones, or given twice, is named.
        let mut bad = cal.clone();
        bad.groups[1].position = Some(LENGTH_POSITIONS as u16);
        let e = bad.check().unwrap_err();
        assert!(e.contains("group forward at packet 16: this build"), "{e}");
        let mut twice = cal.clone();
        twice.groups.push(twice.groups[1].clone());
        let e = twice.check().unwrap_err();
        assert!(e.contains("group forward at packet 2: given twice"), "{e}");
    }
}
