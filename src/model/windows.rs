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

use super::lengths::{check_quantiles, put_word, quantiles, share_of};
use super::template::{byte, word, IP_PROTOCOL, TCP_FLAGS, TCP_WINDOW};
use crate::nprint::layout::{Bit, MODEL_WIDTH};
use crate::wire::tcp::flags;
use crate::wire::IpProtocol;
use serde::{Deserialize, Serialize};

/// Windows a direction needs for its quantiles to mean something; a direction with fewer is
/// left as the network draws it.
const MIN_WINDOWS: usize = 64;

/// The windows of one direction of a class's TCP segments (SYNs and resets apart): the real
/// flows' quantiles and the model's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowGroup {
    /// Segments sent by the flow's responder.
    pub backward: bool,
    /// Quantiles of the real windows (65 values, ascending: the same count as lengths').
    pub real: Vec<u16>,
    /// Quantiles of the sampled windows, as many; empty until the model has been sampled (and
    /// for a direction it sampled too few segments of).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sampled: Vec<u16>,
}

/// A class's window calibration: a group for each direction with enough segments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowCalibration {
    /// The groups, forward first.
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

/// Windows counted by direction, to be turned into quantiles.
#[derive(Debug, Default)]
pub struct WindowCounts([Vec<u16>; 2]);

impl WindowCounts {
    /// Counts the window of a model-layout row sent in the direction `backward` says.
    pub fn push(&mut self, row: &[Bit], backward: bool) {
        if let Some(w) = window_of(row) {
            self.0[usize::from(backward)].push(w);
        }
    }

    /// Each direction with at least [`MIN_WINDOWS`] windows, with its quantiles.
    fn kept(self) -> impl Iterator<Item = (bool, Vec<u16>)> {
        self.0
            .into_iter()
            .zip([false, true])
            .filter(|(v, _)| v.len() >= MIN_WINDOWS)
            .map(|(mut v, backward)| {
                v.sort_unstable();
                (backward, quantiles(&v))
            })
    }
}

impl WindowCalibration {
    /// The real side of a class's calibration, from the segments of its templates' real flows;
    /// None when neither direction has enough of them.
    pub fn of_real(counts: WindowCounts) -> Option<WindowCalibration> {
        let groups: Vec<WindowGroup> = counts
            .kept()
            .map(|(backward, real)| WindowGroup {
                backward,
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

    /// Sets the model's side from the windows it sampled; a direction it sampled too few of
    /// stays without.
    pub fn set_sampled(&mut self, counts: WindowCounts) {
        let mut by: [Option<Vec<u16>>; 2] = [None, None];
        for (backward, q) in counts.kept() {
            by[usize::from(backward)] = Some(q);
        }
        for g in &mut self.groups {
            g.sampled = by[usize::from(g.backward)].take().unwrap_or_default();
        }
    }

    /// Why the calibration cannot be used, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        let mut seen = [false; 2];
        for g in &self.groups {
            let side = if g.backward { "backward" } else { "forward" };
            let name = format!("window_calibration group {side}");
            if std::mem::replace(&mut seen[usize::from(g.backward)], true) {
                return Err(format!("{name}: given twice"));
            }
            check_quantiles(&name, &g.real, &g.sampled)?;
        }
        Ok(())
    }
}

/// A class's monotone maps from the model's windows to real ones, by direction.
#[derive(Debug, Clone)]
pub struct WindowMap([Option<WindowGroup>; 2]);

impl WindowMap {
    /// The maps of the directions of `c` that have both sides; None when neither has.
    pub fn new(c: &WindowCalibration) -> Option<WindowMap> {
        let mut by = [None, None];
        for g in &c.groups {
            if !g.sampled.is_empty() && g.sampled.len() == g.real.len() {
                by[usize::from(g.backward)] = Some(g.clone());
            }
        }
        by.iter().any(Option::is_some).then_some(WindowMap(by))
    }

    /// Maps the window of the segment of `row` (model layout), sent in the direction
    /// `backward` says, onto the real quantile nearest its place among the model's windows;
    /// `level` in [0, 1) is the flow's place within the slice a window the model draws often
    /// takes.
    pub fn apply(&self, row: &mut [Bit], backward: bool, level: f64) {
        debug_assert_eq!(row.len(), MODEL_WIDTH);
        let Some(g) = &self.0[usize::from(backward)] else {
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

    /// A calibration whose forward real windows are `real` and sampled ones `sampled`.
    fn calibration(real: &[u16], sampled: &[u16]) -> WindowCalibration {
        let counts = |ws: &[u16]| {
            let mut c = WindowCounts::default();
            for &w in ws {
                c.push(&segment(ACK, w), false);
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
            map.apply(&mut row, false, level);
            assert_eq!(window(&row), want, "{drawn} at level {level}");
        }
        // Beyond the model's lowest and highest: the real extremes.
        for (drawn, want) in [(3, 501), (60_000, 4096)] {
            let mut row = segment(ACK, drawn);
            map.apply(&mut row, false, 0.5);
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
            map.apply(&mut row, false, 0.5);
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
                    map.apply(&mut row, false, level);
                    window(&row)
                })
                .collect();
            assert!(got.iter().all(|&w| w == got[0]), "{level}: {got:?}");
        }
        let (mut low, mut high) = (segment(ACK, 501), segment(ACK, 501));
        map.apply(&mut low, false, 0.05);
        map.apply(&mut high, false, 0.95);
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
            map.apply(&mut row, false, 0.5);
            assert_eq!(window(&row), 4095, "flags {f:#x}");
        }
        // No backward group: the responder's windows stay as drawn.
        let mut row = segment(ACK, 4095);
        map.apply(&mut row, true, 0.5);
        assert_eq!(window(&row), 4095);
        let mut udp = segment(ACK, 4095);
        udp[IP_PROTOCOL + 3] = Bit::from(true); // 6 | 16 = 22: not TCP
        map.apply(&mut udp, false, 0.5);
        assert_eq!(window(&udp), 4095);
    }

    #[test]
    fn too_few_windows_make_no_group_and_bad_cards_are_named() {
        let mut few = WindowCounts::default();
        for _ in 0..MIN_WINDOWS - 1 {
            few.push(&segment(ACK, 100), true);
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
}
