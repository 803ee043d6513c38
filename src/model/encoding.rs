//! How windows become the model's numbers and back: header values as ±1 (0 for vacant),
//! direction as ±1, inter-arrival time on a log scale in [-1, 1]; structure templates (which
//! positions of each packet are populated) in a compact per-packet form.

use super::dataset::Window;
use crate::nprint::layout::{Bit, MODEL_WIDTH, VACANT};
use crate::wire::ip_proto;
use serde::{Deserialize, Serialize};

/// The largest inter-arrival time the scale covers (100 s, in µs); longer gaps saturate.
const IAT_MAX_US: f64 = 1e8;

/// Maps an inter-arrival time to [-1, 1] (log scale; 0 → -1).
pub fn encode_iat(ns: u64) -> f32 {
    let us = ns as f64 / 1000.0;
    (2.0 * (1.0 + us).ln() / (1.0 + IAT_MAX_US).ln() - 1.0).clamp(-1.0, 1.0) as f32
}

/// Inverse of [`encode_iat`].
pub fn decode_iat(v: f32) -> u64 {
    let u = (f64::from(v.clamp(-1.0, 1.0)) + 1.0) / 2.0 * (1.0 + IAT_MAX_US).ln();
    ((u.exp() - 1.0) * 1000.0).round().max(0.0) as u64
}

/// Writes a window's values (`len` packets, padded to `l` rows of `MODEL_WIDTH + 2`).
pub fn window_values(w: &Window, l: usize, out: &mut Vec<f32>) {
    let c = MODEL_WIDTH + 2;
    let start = out.len();
    out.resize(start + l * c, 0.0);
    let rows = &mut out[start..];
    for p in 0..w.len.min(l) {
        let row = &mut rows[p * c..(p + 1) * c];
        for (v, &b) in row[..MODEL_WIDTH]
            .iter_mut()
            .zip(&w.bits[p * MODEL_WIDTH..])
        {
            *v = match b {
                1 => 1.0,
                0 => -1.0,
                _ => 0.0,
            };
        }
        row[MODEL_WIDTH] = if w.backward[p] { -1.0 } else { 1.0 };
        row[MODEL_WIDTH + 1] = encode_iat(w.iat_ns[p]);
    }
}

/// One packet's structure: protocol, IPv4 header words, transport header words (TCP data
/// offset; 2 for UDP and ICMP's 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketShape(pub u8, pub u8, pub u8);

/// The structure of a real window: its packets' shapes. Written in cards as one string,
/// `proto.ihl.l4` per packet separated by spaces (e.g. `6.5.10 6.5.10 6.5.8`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Template(pub Vec<PacketShape>);

impl From<Template> for String {
    fn from(t: Template) -> String {
        let parts: Vec<String> =
            t.0.iter()
                .map(|s| format!("{}.{}.{}", s.0, s.1, s.2))
                .collect();
        parts.join(" ")
    }
}

impl TryFrom<String> for Template {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.split_whitespace()
            .map(|p| {
                let v: Vec<u8> = p
                    .split('.')
                    .map(|x| x.parse::<u8>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("bad packet shape {p:?}"))?;
                match v[..] {
                    [proto, ihl, l4] if (5..=15).contains(&ihl) && (2..=15).contains(&l4) => {
                        Ok(PacketShape(proto, ihl, l4))
                    }
                    _ => Err(format!(
                        "bad packet shape {p:?} (expected proto.ihl.l4, header words 5..=15)"
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Template)
    }
}

fn nibble(bits: &[Bit]) -> u8 {
    bits.iter()
        .take(4)
        .fold(0, |a, &b| (a << 1) | u8::from(b == 1))
}

fn byte(bits: &[Bit]) -> u8 {
    bits.iter()
        .take(8)
        .fold(0, |a, &b| (a << 1) | u8::from(b == 1))
}

impl Template {
    /// The template of a window (its packets' protocols and header lengths).
    pub fn of(w: &Window) -> Template {
        let shapes = (0..w.len)
            .map(|p| {
                let row = &w.bits[p * MODEL_WIDTH..(p + 1) * MODEL_WIDTH];
                let ihl = nibble(&row[4..8]).clamp(5, 15);
                let proto = byte(&row[72..80]);
                let l4 = match proto {
                    ip_proto::TCP => nibble(&row[416 + 96..416 + 100]).clamp(5, 15),
                    _ => 2,
                };
                PacketShape(proto, ihl, l4)
            })
            .collect();
        Template(shapes)
    }

    /// Packets in the template.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the template has no packets.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes the structure conditioning for `l` rows (mask of populated positions and the
    /// "mask given" flag); rows past the template are all zero but flagged (padding).
    pub fn structure(&self, l: usize, out: &mut Vec<f32>) {
        let c = MODEL_WIDTH + 1;
        let start = out.len();
        out.resize(start + l * c, 0.0);
        let rows = &mut out[start..];
        for p in 0..l {
            let row = &mut rows[p * c..(p + 1) * c];
            row[MODEL_WIDTH] = 1.0;
            if let Some(s) = self.0.get(p) {
                for r in populated_ranges(*s) {
                    row[r].fill(1.0);
                }
            }
        }
    }

    /// True at populated positions of packet `p` (model layout).
    pub fn populated(&self, p: usize) -> Vec<bool> {
        let mut v = vec![false; MODEL_WIDTH];
        if let Some(s) = self.0.get(p) {
            for r in populated_ranges(*s) {
                v[r].fill(true);
            }
        }
        v
    }
}

/// Model-layout ranges populated in a packet of this shape: the IPv4 header (its first 96 bits,
/// then the options after the addresses, which the model layout drops) and the transport block.
fn populated_ranges(s: PacketShape) -> Vec<std::ops::Range<usize>> {
    let ip_bits = usize::from(s.1) * 32;
    let mut v = vec![0..96, 96..(ip_bits - 64).max(96)];
    match s.0 {
        ip_proto::TCP => v.push(416..416 + usize::from(s.2) * 32),
        ip_proto::UDP => v.push(896..960),
        ip_proto::ICMP => v.push(960..1024),
        _ => {}
    }
    v
}

/// Writes the "no structure given" conditioning (free-structure mode) for `l` rows.
pub fn no_structure(l: usize, out: &mut Vec<f32>) {
    out.resize(out.len() + l * (MODEL_WIDTH + 1), 0.0);
}

/// Turns a predicted clean row back into model-layout bits: with a template, populated
/// positions take the sign and the rest are vacant; without, values near 0 are vacant.
pub fn quantise_row(values: &[f32], populated: Option<&[bool]>, out: &mut Vec<Bit>) {
    for (i, &v) in values[..MODEL_WIDTH].iter().enumerate() {
        let b = match populated {
            Some(m) if !m[i] => VACANT,
            Some(_) => Bit::from(v >= 0.0),
            None if v > 1.0 / 3.0 => 1,
            None if v < -1.0 / 3.0 => 0,
            None => VACANT,
        };
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_serialise_as_compact_strings() {
        let t = Template(vec![PacketShape(6, 5, 10), PacketShape(17, 5, 2)]);
        let j = serde_json::to_string(&t).unwrap();
        assert_eq!(j, "\"6.5.10 17.5.2\"");
        assert_eq!(serde_json::from_str::<Template>(&j).unwrap(), t);
        assert!(serde_json::from_str::<Template>("\"6.3.10\"").is_err());
        assert!(serde_json::from_str::<Template>("\"6.5\"").is_err());
    }

    #[test]
    fn iat_round_trips_on_the_log_scale() {
        assert_eq!(encode_iat(0), -1.0);
        for ns in [1_000u64, 250_000, 40_000_000, 3_000_000_000] {
            let back = decode_iat(encode_iat(ns)) as f64;
            assert!(
                (back - ns as f64).abs() / (ns as f64) < 1e-3,
                "{ns} -> {back}"
            );
        }
        assert_eq!(encode_iat(u64::MAX), 1.0);
    }

    #[test]
    fn template_masks_match_the_encoder() {
        // A real TCP packet with a 32-byte header, encoded by the nPrint encoder.
        use crate::capture::{dissect, Frame, LinkType};
        use crate::nprint::{encode_packet, layout::standard_to_model, Layout};
        let mut p = vec![
            0x45, 0, 0, 52, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[
            0x30, 0x39, 1, 0xbb, 0, 0, 0, 7, 0, 0, 0, 9, 0x80, 0x10, 0x10, 0, 0, 0, 0, 0,
        ]);
        p.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        let f = Frame {
            link: LinkType::Raw,
            data: p,
            ..Frame::default()
        };
        let mut std_bits = Vec::new();
        encode_packet(&Layout::STANDARD, &dissect(&f).unwrap(), -1, &mut std_bits);
        let mut bits = Vec::new();
        standard_to_model(&std_bits, &mut bits);
        let w = Window {
            class: 0,
            file: 0,
            len: 1,
            bits: bits.clone(),
            backward: vec![false],
            iat_ns: vec![0],
            server_port: 443,
        };
        let t = Template::of(&w);
        assert_eq!(t.0, vec![PacketShape(6, 5, 8)]);
        let m = t.populated(0);
        for (i, &b) in bits.iter().enumerate() {
            assert_eq!(m[i], b != VACANT, "position {i}");
        }
    }
}
