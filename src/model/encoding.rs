//! How windows become the model's numbers and back: header values as ±1 (0 for vacant),
//! direction as ±1, inter-arrival time on a log scale in [-1, 1]; structure templates (which
//! positions of each packet are populated) in a compact per-packet form.

use super::dataset::Window;
use crate::nprint::layout::{Bit, MODEL_WIDTH, VACANT};
use crate::wire::IpProtocol;
use serde::{Deserialize, Serialize};

/// The largest inter-arrival time the scale covers (100 s, in µs); longer gaps saturate.
const IAT_MAX_US: f64 = 1e8;

/// Inter-arrival time bins: the log scale `ln(1 + µs)` from 0 to `ln(1 + IAT_MAX_US)` cut into
/// this many equal bins (each about 2.2× wide), given to the network as a thermometer code.
pub const TIME_BINS: usize = 24;

/// Side channels per packet: the direction, then the time bins.
pub const SIDE_CHANNELS: usize = 1 + TIME_BINS;

fn log_span() -> f64 {
    (1.0 + IAT_MAX_US).ln()
}

/// The time bin of an inter-arrival time (0 for back-to-back packets, `TIME_BINS - 1` for
/// the longest gaps).
pub fn iat_bin(ns: u64) -> usize {
    let u = (1.0 + ns as f64 / 1000.0).ln() / log_span();
    ((u * TIME_BINS as f64) as usize).min(TIME_BINS - 1)
}

/// Writes the thermometer code of an inter-arrival time: the first `bin` values +1, the rest
/// −1. Each value is a yes/no question ("is the gap past bin k?"), which the network answers
/// by sign as it does header bits; one continuous value would be pulled to the mean of
/// several modes by the squared-error loss.
pub fn encode_iat(ns: u64, out: &mut [f32]) {
    let bin = iat_bin(ns);
    for (k, v) in out.iter_mut().take(TIME_BINS).enumerate() {
        *v = if k < bin { 1.0 } else { -1.0 };
    }
}

/// The time bin a thermometer code says (inverse of [`encode_iat`] up to the bin): the number
/// of its positive values, so a code that is not monotone still decodes. [`GapsByBin::place`]
/// or [`iat_of_bin`] then gives the time.
pub fn decoded_bin(values: &[f32]) -> usize {
    values.iter().take(TIME_BINS).filter(|&&v| v > 0.0).count()
}

/// A class's real inter-arrival times sorted into the time bins, to place a decoded time within
/// its bin as the class's real gaps lie there: the network says which bin (each about 2.2×
/// wide), the class's gaps in that bin say where in it. A bin without real gaps falls back to
/// [`iat_of_bin`].
#[derive(Debug, Clone, Default)]
pub struct GapsByBin(Vec<Vec<u64>>);

impl GapsByBin {
    /// Sorts `gaps_ns` (a class's inter-arrival samples) into the bins.
    pub fn new(gaps_ns: &[u64]) -> GapsByBin {
        let mut bins = vec![Vec::new(); TIME_BINS];
        for &g in gaps_ns {
            bins[iat_bin(g)].push(g);
        }
        for b in &mut bins {
            b.sort_unstable();
        }
        GapsByBin(bins)
    }

    /// A time in bin `bin`: the real gap at quantile `jitter` (in [0, 1)) of the class's gaps
    /// in that bin, else [`iat_of_bin`].
    pub fn place(&self, bin: usize, jitter: f64) -> u64 {
        match self.0.get(bin) {
            Some(g) if !g.is_empty() => {
                let i = (jitter.clamp(0.0, 1.0) * g.len() as f64) as usize;
                g[i.min(g.len() - 1)]
            }
            _ => iat_of_bin(bin, jitter),
        }
    }
}

/// A time within bin `bin`, placed by `jitter` in [0, 1) on the log scale.
pub fn iat_of_bin(bin: usize, jitter: f64) -> u64 {
    let u = (bin as f64 + jitter.clamp(0.0, 1.0)) / TIME_BINS as f64 * log_span();
    ((u.exp() - 1.0) * 1000.0).round().max(0.0) as u64
}

/// Writes a window's values (`len` packets, padded to `l` rows of `MODEL_WIDTH + SIDE_CHANNELS`).
pub fn window_values(w: &Window, l: usize, out: &mut Vec<f32>) {
    let c = MODEL_WIDTH + SIDE_CHANNELS;
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
        encode_iat(w.iat_ns[p], &mut row[MODEL_WIDTH + 1..]);
    }
}

/// Model-layout position of the TCP data offset (the TCP block starts at bit 416).
const TCP_DATA_OFFSET: usize = 416 + 96;
/// Model-layout positions of the TCP flags byte (CWR … FIN; the NS bit before them is kept
/// with the reserved bits).
const TCP_FLAGS: std::ops::Range<usize> = 416 + 104..416 + 112;

/// The longest template a card may hold (and so the longest flow a template gives).
pub const MAX_TEMPLATE_PACKETS: usize = 65_536;

/// One packet's structure: protocol, IPv4 header words, transport header words (TCP data
/// offset; 2 for UDP and ICMP's 8 bytes), and its kind where the card records it. The protocol
/// is written as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketShape(pub IpProtocol, pub u8, pub u8, pub Option<PacketKind>);

/// What kind of packet of its flow a template's packet was: its TCP flags (0 outside TCP) and
/// its direction. Sampling keeps them (inpainting) so that a generated flow has its real
/// flow's sequence of packet kinds — a port scan's SYN answered by an RST-ACK, a download's
/// data one way and ACKs the other — and the model generates every other value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketKind {
    /// The TCP flags byte (CWR … FIN); 0 for UDP and ICMP.
    pub tcp_flags: u8,
    /// Sent by the flow's responder.
    pub backward: bool,
}

/// The structure of a real flow: its packets' shapes. Written in cards as one string,
/// `proto.ihl.l4` per packet separated by spaces, `proto.ihl.l4.flags.dir` where the packet's
/// kind is kept (flags as a number, dir 0 forward and 1 backward), a run of equal shapes as
/// `shape*count` (e.g. `6.5.10.2.0 6.5.10.18.1 6.5.8.16.0*2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Template(pub Vec<PacketShape>);

impl From<Template> for String {
    fn from(t: Template) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < t.0.len() {
            let s = t.0[i];
            let run = t.0[i..].iter().take_while(|&&x| x == s).count();
            let mut part = format!("{}.{}.{}", u8::from(s.0), s.1, s.2);
            if let Some(k) = s.3 {
                part += &format!(".{}.{}", k.tcp_flags, u8::from(k.backward));
            }
            if run > 1 {
                part += &format!("*{run}");
            }
            parts.push(part);
            i += run;
        }
        parts.join(" ")
    }
}

impl TryFrom<String> for Template {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let mut shapes = Vec::new();
        for part in s.split_whitespace() {
            let (p, run) = match part.split_once('*') {
                Some((p, n)) => match n.parse::<usize>() {
                    Ok(n) if (1..=MAX_TEMPLATE_PACKETS).contains(&n) => (p, n),
                    _ => return Err(format!("bad run length in packet shape {part:?}")),
                },
                None => (part, 1),
            };
            if shapes.len() + run > MAX_TEMPLATE_PACKETS {
                return Err(format!(
                    "template longer than {MAX_TEMPLATE_PACKETS} packets"
                ));
            }
            let shape = {
                let v: Vec<u8> = p
                    .split('.')
                    .map(|x| x.parse::<u8>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("bad packet shape {p:?}"))?;
                match v[..] {
                    [proto, ihl, l4, ref kind @ ..]
                        if (5..=15).contains(&ihl) && (2..=15).contains(&l4) =>
                    {
                        let kind = match *kind {
                            [] => None,
                            [tcp_flags, dir @ (0 | 1)] => Some(PacketKind {
                                tcp_flags,
                                backward: dir == 1,
                            }),
                            _ => {
                                return Err(format!(
                                    "bad packet kind in {p:?} (expected proto.ihl.l4.flags.dir, \
                                     dir 0 or 1)"
                                ))
                            }
                        };
                        PacketShape(proto.into(), ihl, l4, kind)
                    }
                    _ => {
                        return Err(format!(
                            "bad packet shape {p:?} (expected proto.ihl.l4, header words 5..=15)"
                        ))
                    }
                }
            };
            shapes.extend(std::iter::repeat_n(shape, run));
        }
        Ok(Template(shapes))
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
        Template(Self::shapes(w).collect())
    }

    /// The template of a whole flow: the shapes of its windows, in order.
    pub fn of_flow<'a>(windows: impl IntoIterator<Item = &'a Window>) -> Template {
        Template(windows.into_iter().flat_map(Self::shapes).collect())
    }

    /// A slice of `len` packets of the template from packet `start` (shorter at its end).
    pub fn slice(&self, start: usize, len: usize) -> Template {
        let end = (start + len).min(self.0.len());
        Template(self.0[start.min(end)..end].to_vec())
    }

    fn shapes(w: &Window) -> impl Iterator<Item = PacketShape> + '_ {
        (0..w.len).map(|p| {
            let row = &w.bits[p * MODEL_WIDTH..(p + 1) * MODEL_WIDTH];
            let ihl = nibble(&row[4..8]).clamp(5, 15);
            let proto = IpProtocol::from(byte(&row[72..80]));
            let (l4, tcp_flags) = match proto {
                IpProtocol::Tcp => (
                    nibble(&row[TCP_DATA_OFFSET..TCP_DATA_OFFSET + 4]).clamp(5, 15),
                    byte(&row[TCP_FLAGS]),
                ),
                _ => (2, 0),
            };
            let kind = PacketKind {
                tcp_flags,
                backward: w.backward.get(p).copied().unwrap_or(false),
            };
            PacketShape(proto, ihl, l4, Some(kind))
        })
    }

    /// The same template without its packets' kinds (shapes alone).
    pub fn without_kinds(&self) -> Template {
        Template(
            self.0
                .iter()
                .map(|&PacketShape(p, i, l, _)| PacketShape(p, i, l, None))
                .collect(),
        )
    }

    /// Writes the values that packet `p`'s kind fixes into `row` (model layout plus side
    /// channels) and marks them in `held`: the direction, and for TCP the flag bits. Returns
    /// false (and writes nothing) when the template does not record the packet's kind.
    pub fn hold_kind(&self, p: usize, row: &mut [f32], held: &mut [f32]) -> bool {
        let Some(PacketShape(proto, _, _, Some(kind))) = self.0.get(p).copied() else {
            return false;
        };
        row[MODEL_WIDTH] = if kind.backward { -1.0 } else { 1.0 };
        held[MODEL_WIDTH] = 1.0;
        if proto == IpProtocol::Tcp {
            for (i, k) in TCP_FLAGS.enumerate() {
                row[k] = if kind.tcp_flags & (0x80 >> i) != 0 {
                    1.0
                } else {
                    -1.0
                };
                held[k] = 1.0;
            }
        }
        true
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
        IpProtocol::Tcp => v.push(416..416 + usize::from(s.2) * 32),
        IpProtocol::Udp => v.push(896..960),
        IpProtocol::Icmp => v.push(960..1024),
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
        let t = Template(vec![
            PacketShape(IpProtocol::Tcp, 5, 10, None),
            PacketShape(IpProtocol::Udp, 5, 2, None),
        ]);
        let j = serde_json::to_string(&t).unwrap();
        assert_eq!(j, "\"6.5.10 17.5.2\"");
        assert_eq!(serde_json::from_str::<Template>(&j).unwrap(), t);
        assert!(serde_json::from_str::<Template>("\"6.3.10\"").is_err());
        assert!(serde_json::from_str::<Template>("\"6.5\"").is_err());
        // Runs of equal shapes are written once with their count.
        let long = Template(
            [
                vec![PacketShape(IpProtocol::Tcp, 5, 10, None)],
                vec![PacketShape(IpProtocol::Tcp, 5, 8, None); 300],
            ]
            .concat(),
        );
        let j = serde_json::to_string(&long).unwrap();
        assert_eq!(j, "\"6.5.10 6.5.8*300\"");
        assert_eq!(serde_json::from_str::<Template>(&j).unwrap(), long);
        assert!(serde_json::from_str::<Template>("\"6.5.8*0\"").is_err());
        assert!(serde_json::from_str::<Template>("\"6.5.8*x\"").is_err());
        assert!(serde_json::from_str::<Template>("\"6.5.8*99999999\"").is_err());
        // Packet kinds: flags and direction after the shape, in runs too; a card without them
        // still reads.
        let kind = |tcp_flags, backward| {
            Some(PacketKind {
                tcp_flags,
                backward,
            })
        };
        let scan = Template(vec![
            PacketShape(IpProtocol::Tcp, 5, 6, kind(0x02, false)),
            PacketShape(IpProtocol::Tcp, 5, 5, kind(0x14, true)),
            PacketShape(IpProtocol::Tcp, 5, 5, kind(0x14, true)),
        ]);
        let j = serde_json::to_string(&scan).unwrap();
        assert_eq!(j, "\"6.5.6.2.0 6.5.5.20.1*2\"");
        assert_eq!(serde_json::from_str::<Template>(&j).unwrap(), scan);
        assert_eq!(
            scan.without_kinds().0[1],
            PacketShape(IpProtocol::Tcp, 5, 5, None)
        );
        for bad in ["6.5.6.2", "6.5.6.2.2", "6.5.6.256.0", "6.5.6.2.0.1"] {
            let e = serde_json::from_str::<Template>(&format!("\"{bad}\"")).unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn a_packet_kind_holds_its_direction_and_flag_bits() {
        let ch = MODEL_WIDTH + SIDE_CHANNELS;
        let t = Template(vec![
            PacketShape(
                IpProtocol::Tcp,
                5,
                5,
                Some(PacketKind {
                    tcp_flags: 0x14,
                    backward: true,
                }),
            ),
            PacketShape(
                IpProtocol::Udp,
                5,
                2,
                Some(PacketKind {
                    tcp_flags: 0,
                    backward: false,
                }),
            ),
            PacketShape(IpProtocol::Tcp, 5, 5, None),
        ]);
        let (mut row, mut held) = (vec![0f32; ch], vec![0f32; ch]);
        assert!(t.hold_kind(0, &mut row, &mut held));
        assert_eq!(row[MODEL_WIDTH], -1.0);
        // CWR ECE URG ACK PSH RST SYN FIN: ACK and RST set.
        let want = [-1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0, -1.0];
        assert_eq!(&row[TCP_FLAGS], &want);
        assert_eq!(held.iter().filter(|&&h| h == 1.0).count(), 9);
        let (mut row, mut held) = (vec![0f32; ch], vec![0f32; ch]);
        assert!(t.hold_kind(1, &mut row, &mut held));
        assert_eq!((row[MODEL_WIDTH], held.iter().sum::<f32>()), (1.0, 1.0));
        // No kind recorded, or past the end: nothing held.
        for p in [2, 3] {
            let (mut row, mut held) = (vec![0f32; ch], vec![0f32; ch]);
            assert!(!t.hold_kind(p, &mut row, &mut held));
            assert!(held.iter().all(|&h| h == 0.0));
        }
    }

    #[test]
    fn iat_thermometer_code_round_trips_within_its_bin() {
        let mut v = [0f32; TIME_BINS];
        encode_iat(0, &mut v);
        assert!(v.iter().all(|&x| x == -1.0));
        assert_eq!(iat_of_bin(decoded_bin(&v), 0.0), 0);
        encode_iat(u64::MAX, &mut v);
        assert_eq!(v.iter().filter(|&&x| x > 0.0).count(), TIME_BINS - 1);
        let width = log_span() / TIME_BINS as f64;
        for ns in [1_000u64, 250_000, 40_000_000, 3_000_000_000] {
            encode_iat(ns, &mut v);
            assert_eq!(v.iter().filter(|&&x| x > 0.0).count(), iat_bin(ns));
            // Decoded anywhere in its bin, the time is within one bin width on the log scale.
            for jitter in [0.0, 0.5, 0.999] {
                let back = iat_of_bin(decoded_bin(&v), jitter) as f64;
                let d = ((1.0 + back / 1000.0).ln() - (1.0 + ns as f64 / 1000.0).ln()).abs();
                assert!(d <= width + 1e-9, "{ns} -> {back}");
            }
        }
        // Later bins mean longer gaps.
        assert!(iat_bin(1_000) < iat_bin(1_000_000) && iat_bin(1_000_000) < iat_bin(1_000_000_000));
    }

    #[test]
    fn decoded_times_lie_where_the_class_gaps_lie_in_their_bin() {
        let gaps: Vec<u64> = vec![
            900, 5_000, 5_200, 5_300, 250_000, 260_000, 40_000_000, 41_000_000,
        ];
        let g = GapsByBin::new(&gaps);
        for &x in &gaps {
            let bin = iat_bin(x);
            let mine: Vec<u64> = gaps
                .iter()
                .copied()
                .filter(|&y| iat_bin(y) == bin)
                .collect();
            let mut last = 0;
            for jitter in [0.0, 0.3, 0.6, 0.999] {
                let t = g.place(bin, jitter);
                // One of the class's own gaps of that bin, rising with the quantile.
                assert!(mine.contains(&t), "bin {bin}: {t} not among {mine:?}");
                assert!(t >= last);
                last = t;
            }
            assert_eq!(g.place(bin, 0.0), *mine.iter().min().unwrap());
            assert_eq!(g.place(bin, 0.999), *mine.iter().max().unwrap());
        }
        // A bin the class has no gap in: placed on the log scale within the bin.
        let empty = iat_bin(3_000_000_000);
        assert!(gaps.iter().all(|&y| iat_bin(y) != empty));
        for jitter in [0.1, 0.5, 0.9] {
            assert_eq!(g.place(empty, jitter), iat_of_bin(empty, jitter));
            assert_eq!(iat_bin(g.place(empty, jitter)), empty);
        }
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
            flow: 0,
            flow_start_ns: 0,
        };
        let t = Template::of(&w);
        let ack = PacketKind {
            tcp_flags: 0x10,
            backward: false,
        };
        assert_eq!(t.0, vec![PacketShape(IpProtocol::Tcp, 5, 8, Some(ack))]);
        let m = t.populated(0);
        for (i, &b) in bits.iter().enumerate() {
            assert_eq!(m[i], b != VACANT, "position {i}");
        }
    }
}
