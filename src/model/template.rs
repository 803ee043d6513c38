//! Structure templates: the shapes of a real flow's packets (protocol, header lengths) and
//! their kinds (TCP flags, direction, a SYN's option layout, IPv4 marks), written compactly in
//! cards and turned into the structure conditioning and the values sampling holds.

use super::dataset::Window;
use crate::nprint::layout::{Bit, MODEL_WIDTH};
use crate::wire::tcp::flags;
use crate::wire::IpProtocol;
use serde::{Deserialize, Serialize};

mod resize;
mod syn_options;
pub use resize::{draw_length, length_bandwidth, KEPT_OPENING, RESIZABLE_FROM};
pub use syn_options::SynOptions;

/// Model-layout positions of the IPv4 header length, total length and protocol.
pub(super) const IP_HEADER_LENGTH: usize = 4;
pub(super) const IP_TOTAL_LENGTH: usize = 16;
pub(super) const IP_PROTOCOL: usize = 72;
/// Model-layout position of the TCP data offset (the TCP block starts at bit 416).
pub(super) const TCP_DATA_OFFSET: usize = 416 + 96;
/// Model-layout positions of the TCP flags byte (CWR … FIN; the NS bit before them is kept
/// with the reserved bits).
pub(super) const TCP_FLAGS: std::ops::Range<usize> = 416 + 104..416 + 112;
/// Model-layout position of the TCP window (bytes 14-15 of the header).
pub(super) const TCP_WINDOW: usize = 416 + 112;
/// Model-layout position of the TCP options (after the 20-byte fixed header).
const TCP_OPTIONS: usize = 416 + 160;
/// Model-layout positions of the TCP and UDP source ports (the destination port follows).
const TCP_PORTS: usize = 416;
pub(super) const UDP_PORTS: usize = 416 + 480;
/// Model-layout positions of the IPv4 type of service, don't-fragment flag and TTL.
const IP_TOS: usize = 8;
const IP_DONT_FRAG: usize = 49;
const IP_TTL: usize = 64;

/// The longest template a card may hold (and so the longest flow a template gives).
pub const MAX_TEMPLATE_PACKETS: usize = 65_536;

/// One packet's structure: protocol, IPv4 header words, transport header words (TCP data
/// offset; 2 for UDP and ICMP's 8 bytes), and its kind where the card records it. The protocol
/// is written as its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketShape(pub IpProtocol, pub u8, pub u8, pub Option<PacketKind>);

/// What kind of packet of its flow a template's packet was: its TCP flags (0 outside TCP) and
/// its direction, a SYN's window and option layout and its IPv4 marks. Sampling keeps them
/// (inpainting) so that a generated flow has its real flow's sequence of packet kinds — a port
/// scan's SYN answered by an RST-ACK, a download's data one way and ACKs the other — the
/// window and options its real SYNs offered and its senders' TTLs (together, what identifies a
/// host's operating system to a passive fingerprinter), and the model generates every other
/// value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketKind {
    /// The TCP flags byte (CWR … FIN); 0 for UDP and ICMP.
    pub tcp_flags: u8,
    /// Sent by the flow's responder.
    pub backward: bool,
    /// A SYN's option layout (None for other packets, and for SYNs whose options did not
    /// parse or that cards of earlier versions recorded without it).
    pub syn_options: Option<SynOptions>,
    /// A SYN's window: a constant of its sender's stack (64240 and 65160 for every Linux SYN
    /// and SYN-ACK of the lab captures, 1024 for nmap's probes), which the network, drawing
    /// its 16 bits, got wrong in most SYNs (65216, 64192, 31440). None for other packets and in
    /// cards of earlier versions.
    pub syn_window: Option<u16>,
    /// The packet's IPv4 marks (None in cards of earlier versions).
    pub ip: Option<IpMarks>,
}

/// The IPv4 values a sender chooses for a flow rather than for a packet: TTL (its operating
/// system's initial TTL less the hops to the capture point; a scanner's random one per probe),
/// type of service and don't-fragment. Each is one choice per flow and side — a host one hop
/// further away or not, a session marked for low delay or not — which the network, drawing
/// each packet's bits, answered with the class's most common value for every flow; held from
/// the template, the flows of a class spread over them as the real ones do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpMarks {
    /// Time to live.
    pub ttl: u8,
    /// Type of service byte (DSCP and ECN).
    pub tos: u8,
    /// The don't-fragment flag.
    pub dont_frag: bool,
}

/// The structure of a real flow: its packets' shapes. Written in cards as one string,
/// `proto.ihl.l4` per packet separated by spaces, `proto.ihl.l4.flags.dir` where the packet's
/// kind is kept (flags as a number, dir 0 forward and 1 backward), with a SYN's option layout
/// as a sixth part ([`SynOptions`]), a SYN's window as `~window`, and the IPv4 marks as
/// `@ttl.tos.df` ([`IpMarks`]), a run of equal shapes as `shape*count` (e.g.
/// `6.5.10.2.0.2:4=1460-4:2-8:10-1-3:3=7~64240@64.0.1
/// 6.5.10.18.1.2:4=1460-4:2-8:10-1-3:3=7~65160@63.0.1 6.5.8.16.0@64.0.1*2`), led by the
/// flow's server port as `:port` where the card records it (`:22 6.5.10.2.0…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Template {
    /// The packets' shapes, in flow order.
    pub shapes: Vec<PacketShape>,
    /// The real flow's server port (TCP and UDP; None for ICMP and in cards of earlier
    /// versions). Which port a flow reaches is one choice per flow — a scan's next port, an FTP
    /// data connection's passive port — which the network, drawing each packet's bits,
    /// answered with its class's most common port (100 of 100 port-scan flows went to 443);
    /// held from the template, a class's flows reach the ports its real flows reached.
    pub server_port: Option<u16>,
}

impl From<Template> for String {
    fn from(t: Template) -> String {
        let mut parts: Vec<String> = t.server_port.map(|p| format!(":{p}")).into_iter().collect();
        let mut i = 0;
        while i < t.shapes.len() {
            let s = t.shapes[i];
            let run = t.shapes[i..].iter().take_while(|&&x| x == s).count();
            let mut part = format!("{}.{}.{}", u8::from(s.0), s.1, s.2);
            if let Some(k) = s.3 {
                part += &format!(".{}.{}", k.tcp_flags, u8::from(k.backward));
                if let Some(o) = k.syn_options {
                    part += &format!(".{o}");
                }
                if let Some(w) = k.syn_window {
                    part += &format!("~{w}");
                }
                if let Some(m) = k.ip {
                    part += &format!("@{}.{}.{}", m.ttl, m.tos, u8::from(m.dont_frag));
                }
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
        let mut parts = s.split_whitespace().peekable();
        let server_port = match parts.next_if(|p| p.starts_with(':')) {
            Some(p) => match p[1..].parse::<u16>() {
                Ok(port) if port != 0 => Some(port),
                _ => return Err(format!("bad server port {p:?} (expected :1..65535)")),
            },
            None => None,
        };
        for part in parts {
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
            let (p, marks) = match p.split_once('@') {
                Some((p, m)) => (
                    p,
                    Some(IpMarks::parse(m).ok_or_else(|| {
                        format!("bad IPv4 marks in packet shape {part:?} (expected @ttl.tos.df)")
                    })?),
                ),
                None => (p, None),
            };
            let (p, syn_window) = match p.split_once('~') {
                Some((p, w)) => (
                    p,
                    Some(w.parse::<u16>().map_err(|_| {
                        format!("bad SYN window in packet shape {part:?} (expected ~0..65535)")
                    })?),
                ),
                None => (p, None),
            };
            let shape = {
                let mut parts: Vec<&str> = p.split('.').collect();
                let layout = (parts.len() == 6).then(|| parts.pop()).flatten();
                let v: Vec<u8> = parts
                    .iter()
                    .map(|x| x.parse::<u8>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("bad packet shape {p:?}"))?;
                match v[..] {
                    [proto, ihl, l4, ref kind @ ..]
                        if (5..=15).contains(&ihl) && (2..=15).contains(&l4) =>
                    {
                        let kind = match *kind {
                            [] => None,
                            [tcp_flags, _]
                                if (layout.is_some() || syn_window.is_some())
                                    && !is_syn(proto.into(), tcp_flags) =>
                            {
                                return Err(format!(
                                    "SYN options or window in packet shape {part:?}, which is \
                                     not a TCP SYN"
                                ))
                            }
                            [tcp_flags, dir @ (0 | 1)] => Some(PacketKind {
                                tcp_flags,
                                backward: dir == 1,
                                syn_options: layout
                                    .map(|o| {
                                        SynOptions::parse(o, usize::from(l4.max(5) - 5) * 4)
                                            .map_err(|e| format!("in packet shape {p:?}: {e}"))
                                    })
                                    .transpose()?,
                                syn_window,
                                ip: marks,
                            }),
                            _ => {
                                return Err(format!(
                                    "bad packet kind in {p:?} (expected proto.ihl.l4.flags.dir \
                                     with dir 0 or 1, and a SYN's options)"
                                ))
                            }
                        };
                        if kind.is_none() && (marks.is_some() || syn_window.is_some()) {
                            return Err(format!(
                                "IPv4 marks or a SYN window in packet shape {part:?}, which \
                                 records no kind"
                            ));
                        }
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
        Ok(Template {
            shapes,
            server_port,
        })
    }
}

impl PacketKind {
    /// A kind that records a packet's TCP flags and direction only (as cards before the SYN
    /// layouts and IPv4 marks wrote it).
    pub fn of_flags(tcp_flags: u8, backward: bool) -> PacketKind {
        PacketKind {
            tcp_flags,
            backward,
            syn_options: None,
            syn_window: None,
            ip: None,
        }
    }
}

impl IpMarks {
    /// Reads `ttl.tos.df` (df 0 or 1).
    fn parse(s: &str) -> Option<IpMarks> {
        let v: Vec<u8> = s
            .split('.')
            .map(|x| x.parse::<u8>().ok())
            .collect::<Option<_>>()?;
        match v[..] {
            [ttl, tos, df @ (0 | 1)] => Some(IpMarks {
                ttl,
                tos,
                dont_frag: df == 1,
            }),
            _ => None,
        }
    }
}

/// True for a TCP SYN or SYN-ACK, the packets whose option layout a template records.
fn is_syn(proto: IpProtocol, tcp_flags: u8) -> bool {
    proto == IpProtocol::Tcp && u16::from(tcp_flags) & flags::SYN != 0
}

pub(super) fn nibble(bits: &[Bit]) -> u8 {
    bits.iter()
        .take(4)
        .fold(0, |a, &b| (a << 1) | u8::from(b == 1))
}

pub(super) fn byte(bits: &[Bit]) -> u8 {
    bits.iter()
        .take(8)
        .fold(0, |a, &b| (a << 1) | u8::from(b == 1))
}

pub(super) fn word(bits: &[Bit]) -> u16 {
    u16::from_be_bytes([byte(bits), byte(bits.get(8..).unwrap_or_default())])
}

impl Template {
    /// A template of these shapes, without a server port.
    pub fn new(shapes: Vec<PacketShape>) -> Template {
        Template {
            shapes,
            server_port: None,
        }
    }

    /// The template of a window (its packets' shapes and kinds, its flow's server port).
    pub fn of(w: &Window) -> Template {
        Self::of_flow([w])
    }

    /// The template of a whole flow: the shapes of its windows, in order, and its server port.
    pub fn of_flow<'a>(windows: impl IntoIterator<Item = &'a Window>) -> Template {
        let windows: Vec<&Window> = windows.into_iter().collect();
        Template {
            shapes: windows.iter().flat_map(|w| Self::shapes(w)).collect(),
            server_port: windows.iter().map(|w| w.server_port).find(|&p| p != 0),
        }
    }

    /// A slice of `len` packets of the template from packet `start` (shorter at its end).
    pub fn slice(&self, start: usize, len: usize) -> Template {
        let end = (start + len).min(self.shapes.len());
        Template {
            shapes: self.shapes[start.min(end)..end].to_vec(),
            server_port: self.server_port,
        }
    }

    fn shapes(w: &Window) -> impl Iterator<Item = PacketShape> + '_ {
        (0..w.len).map(|p| {
            let row = &w.bits[p * MODEL_WIDTH..(p + 1) * MODEL_WIDTH];
            let ihl = nibble(&row[IP_HEADER_LENGTH..IP_HEADER_LENGTH + 4]).clamp(5, 15);
            let proto = IpProtocol::from(byte(&row[IP_PROTOCOL..IP_PROTOCOL + 8]));
            let (l4, tcp_flags) = match proto {
                IpProtocol::Tcp => (
                    nibble(&row[TCP_DATA_OFFSET..TCP_DATA_OFFSET + 4]).clamp(5, 15),
                    byte(&row[TCP_FLAGS]),
                ),
                _ => (2, 0),
            };
            let syn_options = is_syn(proto, tcp_flags)
                .then(|| {
                    let bits = &row[TCP_OPTIONS..TCP_OPTIONS + (usize::from(l4) - 5) * 32];
                    let opts: Vec<u8> = bits.chunks(8).map(byte).collect();
                    SynOptions::of(&opts)
                })
                .flatten()
                .filter(|o| !o.is_empty());
            let kind = PacketKind {
                tcp_flags,
                backward: w.backward.get(p).copied().unwrap_or(false),
                syn_options,
                syn_window: is_syn(proto, tcp_flags)
                    .then(|| word(&row[TCP_WINDOW..TCP_WINDOW + 16])),
                ip: Some(IpMarks {
                    ttl: byte(&row[IP_TTL..IP_TTL + 8]),
                    tos: byte(&row[IP_TOS..IP_TOS + 8]),
                    dont_frag: row[IP_DONT_FRAG] == 1,
                }),
            };
            PacketShape(proto, ihl, l4, Some(kind))
        })
    }

    /// The client's SYN and the server's SYN-ACK the template's flow opened with, each as its
    /// window and option layout, when its first two packets are those and the card recorded
    /// both (None for a flow captured from its middle, a scan's probe, a refused SYN).
    pub fn opening(&self) -> Option<[(u16, SynOptions); 2]> {
        let syn = |p: usize, want: u16, backward: bool| {
            let PacketShape(IpProtocol::Tcp, _, _, Some(k)) = *self.shapes.get(p)? else {
                return None;
            };
            let f = u16::from(k.tcp_flags) & (flags::SYN | flags::ACK | flags::RST);
            (f == want && k.backward == backward).then_some((k.syn_window?, k.syn_options?))
        };
        Some([
            syn(0, flags::SYN, false)?,
            syn(1, flags::SYN | flags::ACK, true)?,
        ])
    }

    /// The same template without its packets' kinds and its server port (shapes alone).
    pub fn without_kinds(&self) -> Template {
        Template::new(
            self.shapes
                .iter()
                .map(|&PacketShape(p, i, l, _)| PacketShape(p, i, l, None))
                .collect(),
        )
    }

    /// Writes the values that packet `p`'s kind fixes into `row` (model layout plus side
    /// channels) and marks them in `held`: the direction, the IPv4 marks, for TCP the data
    /// offset, the flag bits and a SYN's window and option layout (kind and length bytes,
    /// NOPs, padding, the MSS and shift values), and the template's server port (the
    /// destination port of a forward TCP or UDP packet, the source port of a backward one).
    /// Returns false (and writes nothing) when the template does not record the packet's kind.
    pub fn hold_kind(&self, p: usize, row: &mut [f32], held: &mut [f32]) -> bool {
        let Some(PacketShape(proto, _, l4, Some(kind))) = self.shapes.get(p).copied() else {
            return false;
        };
        let mut hold = |first: usize, bits: usize, value: u16| {
            for (i, k) in (first..first + bits).enumerate() {
                row[k] = if value & (1 << (bits - 1 - i)) != 0 {
                    1.0
                } else {
                    -1.0
                };
                held[k] = 1.0;
            }
        };
        if let Some(m) = kind.ip {
            hold(IP_TOS, 8, m.tos.into());
            hold(IP_DONT_FRAG, 1, m.dont_frag.into());
            hold(IP_TTL, 8, m.ttl.into());
        }
        if proto == IpProtocol::Tcp {
            // The data offset too: repair reads the options the generated one says there are.
            hold(TCP_DATA_OFFSET, 4, l4.into());
            hold(TCP_FLAGS.start, 8, kind.tcp_flags.into());
            if let Some(w) = kind.syn_window {
                hold(TCP_WINDOW, 16, w);
            }
            for (at, value) in kind.syn_options.iter().flat_map(SynOptions::fixed) {
                hold(TCP_OPTIONS + at * 8, 8, value.into());
            }
        }
        let ports = match proto {
            IpProtocol::Tcp => Some(TCP_PORTS),
            IpProtocol::Udp => Some(UDP_PORTS),
            _ => None,
        };
        if let (Some(first), Some(port)) = (ports, self.server_port) {
            hold(if kind.backward { first } else { first + 16 }, 16, port);
        }
        row[MODEL_WIDTH] = if kind.backward { -1.0 } else { 1.0 };
        held[MODEL_WIDTH] = 1.0;
        true
    }

    /// Packets in the template.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// True when the template has no packets.
    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
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
            if let Some(s) = self.shapes.get(p) {
                for r in populated_ranges(*s) {
                    row[r].fill(1.0);
                }
            }
        }
    }

    /// True at populated positions of packet `p` (model layout).
    pub fn populated(&self, p: usize) -> Vec<bool> {
        let mut v = vec![false; MODEL_WIDTH];
        if let Some(s) = self.shapes.get(p) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::encoding::SIDE_CHANNELS;
    use crate::nprint::layout::VACANT;

    /// Asserts that `t` is written as the JSON string `json` and read back as itself.
    fn assert_writes(t: &Template, json: &str) {
        assert_eq!(serde_json::to_string(t).unwrap(), json);
        assert_eq!(&serde_json::from_str::<Template>(json).unwrap(), t);
    }

    #[test]
    fn templates_serialise_as_compact_strings() {
        let t = Template::new(vec![
            PacketShape(IpProtocol::Tcp, 5, 10, None),
            PacketShape(IpProtocol::Udp, 5, 2, None),
        ]);
        assert_writes(&t, "\"6.5.10 17.5.2\"");
        assert!(serde_json::from_str::<Template>("\"6.3.10\"").is_err());
        assert!(serde_json::from_str::<Template>("\"6.5\"").is_err());
        // Runs of equal shapes are written once with their count.
        let long = Template::new(
            [
                vec![PacketShape(IpProtocol::Tcp, 5, 10, None)],
                vec![PacketShape(IpProtocol::Tcp, 5, 8, None); 300],
            ]
            .concat(),
        );
        assert_writes(&long, "\"6.5.10 6.5.8*300\"");
        assert!(serde_json::from_str::<Template>("\"6.5.8*0\"").is_err());
        assert!(serde_json::from_str::<Template>("\"6.5.8*x\"").is_err());
        assert!(serde_json::from_str::<Template>("\"6.5.8*99999999\"").is_err());
        // Packet kinds: flags and direction after the shape, in runs too; a card without them
        // still reads.
        let kind = |tcp_flags, backward| Some(PacketKind::of_flags(tcp_flags, backward));
        let scan = Template::new(vec![
            PacketShape(IpProtocol::Tcp, 5, 6, kind(0x02, false)),
            PacketShape(IpProtocol::Tcp, 5, 5, kind(0x14, true)),
            PacketShape(IpProtocol::Tcp, 5, 5, kind(0x14, true)),
        ]);
        assert_writes(&scan, "\"6.5.6.2.0 6.5.5.20.1*2\"");
        assert_eq!(
            scan.without_kinds().shapes[1],
            PacketShape(IpProtocol::Tcp, 5, 5, None)
        );
        // A SYN's option layout as a sixth part; a card of an earlier version has none.
        let layout = SynOptions::parse("2:4-4:2-8:10-1-3:3", 20).unwrap();
        let syn = Template::new(vec![
            PacketShape(
                IpProtocol::Tcp,
                5,
                10,
                Some(PacketKind {
                    syn_options: Some(layout),
                    ..kind(0x02, false).unwrap()
                }),
            ),
            PacketShape(IpProtocol::Tcp, 5, 5, kind(0x10, false)),
        ]);
        assert_writes(&syn, "\"6.5.10.2.0.2:4-4:2-8:10-1-3:3 6.5.5.16.0\"");
        // IPv4 marks after the kind, before a run's count.
        let marked = |ttl, dont_frag| {
            Some(PacketKind {
                ip: Some(IpMarks {
                    ttl,
                    tos: 0,
                    dont_frag,
                }),
                ..kind(0x10, false).unwrap()
            })
        };
        let t = Template::new(vec![
            PacketShape(IpProtocol::Tcp, 5, 5, marked(64, true)),
            PacketShape(IpProtocol::Tcp, 5, 5, marked(64, true)),
            PacketShape(IpProtocol::Tcp, 5, 5, marked(128, false)),
        ]);
        assert_writes(&t, "\"6.5.5.16.0@64.0.1*2 6.5.5.16.0@128.0.0\"");
        // A SYN's option values (MSS, shift) in its layout, its window after it, then marks.
        let syn = Template::new(vec![PacketShape(
            IpProtocol::Tcp,
            5,
            10,
            Some(PacketKind {
                syn_options: Some(SynOptions::parse("2:4=1460-4:2-8:10-1-3:3=7", 20).unwrap()),
                syn_window: Some(64240),
                ..marked(64, true)
                    .map(|k| PacketKind {
                        tcp_flags: 0x02,
                        ..k
                    })
                    .unwrap()
            }),
        )]);
        assert_writes(
            &syn,
            "\"6.5.10.2.0.2:4=1460-4:2-8:10-1-3:3=7~64240@64.0.1\"",
        );
        // Each bad packet is named in the error: kinds, layouts, then IPv4 marks.
        for bad in [
            "6.5.6.2",
            "6.5.6.2.2",
            "6.5.6.256.0",
            "6.5.6.2.0.1",
            "6.5.6.2.0.2:4.1",
            "6.5.6.16.0.2:4",
            "17.5.2.0.0.1-1-1-1",
            "6.5.5.16.0@64.0.2",
            "6.5.5.16.0@256.0.1",
            "6.5.5.16.0@64.0",
            "6.5.5.16.0@",
            "6.5.5@64.0.1",
            "6.5.5.16.0~64240",
            "6.5.6.2.0~65536",
            "6.5.6.2.0~x@64.0.1",
            "6.5.5~1024",
            "6.5.6.2.0.2:4=65536",
            "6.5.6.2.0.4:2=1-1-1",
            "6.5.6.2.0.1=1-1-1-1",
        ] {
            let e = serde_json::from_str::<Template>(&format!("\"{bad}\"")).unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn a_packet_kind_holds_its_direction_and_flag_bits() {
        let ch = MODEL_WIDTH + SIDE_CHANNELS;
        let t = Template::new(vec![
            PacketShape(
                IpProtocol::Tcp,
                5,
                5,
                Some(PacketKind {
                    tcp_flags: 0x14,
                    backward: true,
                    syn_options: None,
                    syn_window: None,
                    ip: None,
                }),
            ),
            PacketShape(
                IpProtocol::Udp,
                5,
                2,
                Some(PacketKind {
                    tcp_flags: 0,
                    backward: false,
                    syn_options: None,
                    syn_window: None,
                    ip: Some(IpMarks {
                        ttl: 63,
                        tos: 0xb8,
                        dont_frag: true,
                    }),
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
        // The data offset, 5 words.
        assert_eq!(
            &row[TCP_DATA_OFFSET..TCP_DATA_OFFSET + 4],
            &[-1.0, 1.0, -1.0, 1.0]
        );
        assert_eq!(held.iter().filter(|&&h| h == 1.0).count(), 1 + 4 + 8);
        // The UDP packet: its direction and IPv4 marks (TTL 63, TOS 0xb8, don't-fragment).
        let (mut row, mut held) = (vec![0f32; ch], vec![0f32; ch]);
        assert!(t.hold_kind(1, &mut row, &mut held));
        assert_eq!(
            (row[MODEL_WIDTH], held.iter().sum::<f32>()),
            (1.0, 1.0 + 8.0 + 1.0 + 8.0)
        );
        let value = |r: std::ops::Range<usize>| {
            row[r]
                .iter()
                .fold(0u8, |a, &v| (a << 1) | u8::from(v > 0.0))
        };
        assert_eq!((value(64..72), value(8..16), value(49..50)), (63, 0xb8, 1));
        assert_eq!(value(48..49), 0);
        assert_eq!(
            held[48] + held[50],
            0.0,
            "only the don't-fragment bit of the flags"
        );
        // No kind recorded, or past the end: nothing held.
        for p in [2, 3] {
            let (mut row, mut held) = (vec![0f32; ch], vec![0f32; ch]);
            assert!(!t.hold_kind(p, &mut row, &mut held));
            assert!(held.iter().all(|&h| h == 0.0));
        }
    }

    #[test]
    fn a_template_holds_its_flows_server_port() {
        let kind = |backward| {
            Some(PacketKind {
                tcp_flags: 0,
                backward,
                syn_options: None,
                syn_window: None,
                ip: None,
            })
        };
        let t = Template {
            shapes: vec![
                PacketShape(IpProtocol::Udp, 5, 2, kind(false)),
                PacketShape(IpProtocol::Udp, 5, 2, kind(true)),
                PacketShape(IpProtocol::Icmp, 5, 2, kind(false)),
            ],
            server_port: Some(8080),
        };
        assert_writes(&t, "\":8080 17.5.2.0.0 17.5.2.0.1 1.5.2.0.0\"");
        assert_eq!(t.slice(1, 1).server_port, Some(8080));
        assert_eq!(t.without_kinds().server_port, None);
        for bad in [":0", ":65536", ":x", ":"] {
            let e = serde_json::from_str::<Template>(&format!("\"{bad} 6.5.5\"")).unwrap_err();
            assert!(e.to_string().contains(bad), "{bad}: {e}");
        }
        let ch = MODEL_WIDTH + SIDE_CHANNELS;
        let port = |row: &[f32], at: usize| {
            row[at..at + 16]
                .iter()
                .fold(0u16, |a, &v| (a << 1) | u16::from(v > 0.0))
        };
        // Forward: the destination port; backward: the source port; the other port is the
        // network's to choose.
        for (p, held_at, free_at) in [
            (0, UDP_PORTS + 16, UDP_PORTS),
            (1, UDP_PORTS, UDP_PORTS + 16),
        ] {
            let (mut row, mut held) = (vec![0f32; ch], vec![0f32; ch]);
            assert!(t.hold_kind(p, &mut row, &mut held));
            assert_eq!(port(&row, held_at), 8080, "packet {p}");
            assert!(held[held_at..held_at + 16].iter().all(|&h| h == 1.0));
            assert!(held[free_at..free_at + 16].iter().all(|&h| h == 0.0));
            assert!(held[TCP_PORTS..TCP_PORTS + 32].iter().all(|&h| h == 0.0));
        }
        // ICMP has no ports: only its direction is held.
        let (mut row, mut held) = (vec![0f32; ch], vec![0f32; ch]);
        assert!(t.hold_kind(2, &mut row, &mut held));
        assert_eq!(held.iter().sum::<f32>(), 1.0);
    }

    /// A one-packet window of a TCP packet (flags, options) from 10.0.0.1:12345 to
    /// 10.0.0.2:443, encoded by the nPrint encoder.
    fn tcp_window(tcp_flags: u8, options: &[u8]) -> Window {
        use crate::capture::{dissect, Frame, LinkType};
        use crate::nprint::{encode_packet, layout::standard_to_model, Layout};
        let (words, total) = (5 + options.len() / 4, 40 + options.len());
        let mut p = vec![
            0x45,
            0,
            0,
            total as u8,
            0,
            1,
            0x40,
            0,
            64,
            6,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ];
        p.extend_from_slice(&[
            0x30,
            0x39,
            1,
            0xbb,
            0,
            0,
            0,
            7,
            0,
            0,
            0,
            9,
            (words as u8) << 4,
            tcp_flags,
            0x10,
            0,
            0,
            0,
            0,
            0,
        ]);
        p.extend_from_slice(options);
        let f = Frame {
            link: LinkType::Raw,
            data: p,
            ..Frame::default()
        };
        let mut std_bits = Vec::new();
        encode_packet(&Layout::STANDARD, &dissect(&f).unwrap(), -1, &mut std_bits);
        let mut bits = Vec::new();
        standard_to_model(&std_bits, &mut bits);
        Window {
            class: 0,
            file: 0,
            len: 1,
            bits,
            backward: vec![false],
            iat_ns: vec![0],
            server_port: 443,
            hosts: [0, 1],
            flow: 0,
            flow_start_ns: 0,
        }
    }

    #[test]
    fn template_masks_match_the_encoder() {
        // A TCP packet with a 32-byte header.
        let w = tcp_window(0x10, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        let bits = &w.bits;
        let t = Template::of(&w);
        let ack = PacketKind {
            tcp_flags: 0x10,
            backward: false,
            syn_options: None,
            syn_window: None,
            ip: Some(IpMarks {
                ttl: 64,
                tos: 0,
                dont_frag: true,
            }),
        };
        assert_eq!(
            t.shapes,
            vec![PacketShape(IpProtocol::Tcp, 5, 8, Some(ack))]
        );
        assert_eq!(t.server_port, Some(443));
        let m = t.populated(0);
        for (i, &b) in bits.iter().enumerate() {
            assert_eq!(m[i], b != VACANT, "position {i}");
        }
    }

    #[test]
    fn a_syn_template_holds_its_option_layout() {
        // A SYN offering Linux's options (MSS, SACK permitted, timestamps, NOP, window scale).
        let opts = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7,
        ];
        let t = Template::of(&tcp_window(0x02, &opts));
        let layout = SynOptions::of(&opts).unwrap();
        let PacketShape(_, _, 10, Some(kind)) = t.shapes[0] else {
            panic!("{:?}", t.shapes[0]);
        };
        assert_eq!(kind.syn_options, Some(layout));
        assert_eq!(kind.syn_window, Some(0x1000));
        // Held: direction, IPv4 marks (TTL, TOS, don't-fragment), data offset, flags, the
        // window, the kind/length bytes and NOP (9 of the 20 bytes), the MSS and shift values
        // (3 bytes) and the server port the SYN goes to; the timestamps are left to the network.
        let ch = MODEL_WIDTH + SIDE_CHANNELS;
        let (mut row, mut held) = (vec![0f32; ch], vec![0f32; ch]);
        assert!(t.hold_kind(0, &mut row, &mut held));
        assert_eq!(
            held.iter().filter(|&&h| h == 1.0).count(),
            1 + 17 + 4 + 8 + 16 + 12 * 8 + 16
        );
        let window = row[TCP_WINDOW..TCP_WINDOW + 16]
            .iter()
            .fold(0u16, |a, &v| (a << 1) | u16::from(v > 0.0));
        assert_eq!(window, 0x1000);
        for (b, ts) in (8..16).map(|b| (b, TCP_OPTIONS + b * 8)) {
            assert!(
                held[ts..ts + 8].iter().all(|&h| h == 0.0),
                "timestamp byte {b}"
            );
        }
        for (b, &want) in opts.iter().enumerate() {
            let at = TCP_OPTIONS + b * 8..TCP_OPTIONS + b * 8 + 8;
            if held[at.clone()].iter().all(|&h| h == 0.0) {
                continue;
            }
            let got = row[at]
                .iter()
                .fold(0u8, |a, &v| (a << 1) | u8::from(v > 0.0));
            assert_eq!(got, want, "option byte {b}");
        }
        // An ACK records no layout nor window, a SYN whose options do not parse no layout.
        let ack = Template::of(&tcp_window(0x10, &opts)).shapes[0].3.unwrap();
        assert_eq!((ack.syn_options, ack.syn_window), (None, None));
        let garbage = [8, 40, 0, 0];
        assert_eq!(
            Template::of(&tcp_window(0x02, &garbage)).shapes[0]
                .3
                .unwrap()
                .syn_options,
            None
        );
    }

    #[test]
    fn a_template_gives_the_opening_its_flow_began_with() {
        let complete = ":443 6.5.10.2.0.2:4=1460-4:2-8:10-1-3:3=6~14600@64.0.1 \
                        6.5.10.18.1.2:4=1430-4:2-8:10-1-3:3=5~14480@57.0.1 6.5.8.16.0@64.0.1";
        let t = Template::try_from(complete.to_string()).unwrap();
        let [(cw, co), (sw, so)] = t.opening().expect("SYN then SYN-ACK");
        assert_eq!((cw, sw), (14600, 14480));
        // Kinds, lengths, NOPs and the stack's MSS and shift; the timestamps left zero.
        assert_eq!(
            co.bytes(),
            [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 6]
        );
        assert_eq!(&so.bytes()[..4], [2, 4, 0x05, 0x96]);
        // A flow captured from its middle, a SYN left unanswered, a refused SYN: no opening.
        for s in [
            ":443 6.5.8.16.0@64.0.1 6.5.8.16.1@57.0.1",
            ":443 6.5.10.2.0.2:4=1460-4:2-8:10-1-3:3=6~14600@64.0.1",
            ":443 6.5.10.2.0.2:4=1460-4:2-8:10-1-3:3=6~14600@64.0.1 6.5.5.20.1@57.0.1",
        ] {
            let t = Template::try_from(s.to_string()).unwrap();
            assert_eq!(t.opening(), None, "{s}");
        }
    }
}
