//! Per-packet header field values read from a standard-layout nPrint row (1088 values), binned
//! for the similarity measures. A field whose bits are vacant (its header is absent, e.g. TCP
//! fields of a UDP packet) has no value for that packet.
//!
//! Fields left out on purpose: addresses and ports (assigned by the test bed and by repair, not
//! generated), IP ID, sequence and acknowledgement numbers (per-flow counters from a random
//! start) and checksums (a function of the rest of the packet).

use crate::nprint::layout::{field_in_block, Bit, Block, Layout, STANDARD_WIDTH};

/// Width of the bins for lengths (IPv4 total length, UDP length): 64 bytes up to 1536, then one
/// bin for everything longer (jumbo frames and offloaded segments).
pub const LENGTH_BIN: u64 = 64;
/// Lengths from here on share the last bin.
pub const LENGTH_CAP: u64 = 1536;
/// Width of the bins for the TCP window: 2048, so 32 bins over the 16-bit range.
pub const WINDOW_BIN: u64 = 2048;

/// A header field measured per packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeaderField {
    /// `ipv4_hl`, exact.
    Ipv4HeaderLength,
    /// `ipv4_tos`, exact.
    Ipv4Tos,
    /// `ipv4_tl`, binned by [`LENGTH_BIN`].
    Ipv4TotalLength,
    /// Reserved, DF and MF bits as one 3-bit value.
    Ipv4Flags,
    /// `ipv4_ttl`, exact.
    Ipv4Ttl,
    /// `ipv4_proto`, exact.
    Ipv4Proto,
    /// The nine TCP flag bits (NS … FIN) as one combination.
    TcpFlags,
    /// `tcp_doff`, exact.
    TcpDataOffset,
    /// `tcp_wsize`, binned by [`WINDOW_BIN`].
    TcpWindow,
    /// The set of TCP option kinds present (one bit per kind; kinds ≥ 63 share bit 63).
    TcpOptionKinds,
    /// `tcp_urp`, exact zero or not.
    TcpUrgentPointerSet,
    /// `udp_len`, binned by [`LENGTH_BIN`].
    UdpLength,
    /// `icmp_type`, exact.
    IcmpType,
    /// `icmp_code`, exact.
    IcmpCode,
}

impl HeaderField {
    /// Every measured field, in report order.
    pub const ALL: [HeaderField; 14] = [
        HeaderField::Ipv4HeaderLength,
        HeaderField::Ipv4Tos,
        HeaderField::Ipv4TotalLength,
        HeaderField::Ipv4Flags,
        HeaderField::Ipv4Ttl,
        HeaderField::Ipv4Proto,
        HeaderField::TcpFlags,
        HeaderField::TcpDataOffset,
        HeaderField::TcpWindow,
        HeaderField::TcpOptionKinds,
        HeaderField::TcpUrgentPointerSet,
        HeaderField::UdpLength,
        HeaderField::IcmpType,
        HeaderField::IcmpCode,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            HeaderField::Ipv4HeaderLength => "ipv4_hl",
            HeaderField::Ipv4Tos => "ipv4_tos",
            HeaderField::Ipv4TotalLength => "ipv4_tl",
            HeaderField::Ipv4Flags => "ipv4_flags",
            HeaderField::Ipv4Ttl => "ipv4_ttl",
            HeaderField::Ipv4Proto => "ipv4_proto",
            HeaderField::TcpFlags => "tcp_flags",
            HeaderField::TcpDataOffset => "tcp_doff",
            HeaderField::TcpWindow => "tcp_wsize",
            HeaderField::TcpOptionKinds => "tcp_option_kinds",
            HeaderField::TcpUrgentPointerSet => "tcp_urp_set",
            HeaderField::UdpLength => "udp_len",
            HeaderField::IcmpType => "icmp_type",
            HeaderField::IcmpCode => "icmp_code",
        }
    }

    /// How a bin key reads in plots and reports.
    pub fn bin_label(self, key: u64) -> String {
        match self {
            HeaderField::Ipv4TotalLength | HeaderField::UdpLength => {
                if key * LENGTH_BIN >= LENGTH_CAP {
                    format!("≥{LENGTH_CAP}")
                } else {
                    format!("{}-{}", key * LENGTH_BIN, (key + 1) * LENGTH_BIN - 1)
                }
            }
            HeaderField::TcpWindow => format!("{}k", key * WINDOW_BIN / 1024),
            HeaderField::TcpFlags => tcp_flags_label(key),
            HeaderField::TcpOptionKinds => {
                if key == 0 {
                    "none".to_string()
                } else {
                    (0..64)
                        .filter(|k| key & (1u64 << k) != 0)
                        .map(|k| k.to_string())
                        .collect::<Vec<_>>()
                        .join("+")
                }
            }
            _ => key.to_string(),
        }
    }
}

fn tcp_flags_label(key: u64) -> String {
    const NAMES: [&str; 9] = ["N", "C", "E", "U", "A", "P", "R", "S", "F"];
    let s: String = NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| key & (1 << (8 - i)) != 0)
        .map(|(_, n)| *n)
        .collect();
    if s.is_empty() {
        "-".to_string()
    } else {
        s
    }
}

/// Bit offsets of the fields in the standard layout, computed once.
#[derive(Debug, Clone)]
pub struct FieldReader {
    ipv4: usize,
    tcp: usize,
    udp: usize,
    icmp: usize,
}

impl Default for FieldReader {
    fn default() -> Self {
        let at = |b| Layout::STANDARD.offset(b).unwrap_or(0);
        FieldReader {
            ipv4: at(Block::Ipv4),
            tcp: at(Block::Tcp),
            udp: at(Block::Udp),
            icmp: at(Block::Icmp),
        }
    }
}

/// The value of `width` bits from `start`, MSB first; `None` when any is vacant or out of range.
pub fn bits_value(row: &[Bit], start: usize, width: usize) -> Option<u64> {
    let bits = row.get(start..start + width)?;
    let mut v = 0u64;
    for &b in bits {
        match b {
            0 => v <<= 1,
            1 => v = (v << 1) | 1,
            _ => return None,
        }
    }
    Some(v)
}

impl FieldReader {
    fn field(&self, row: &[Bit], block: Block, name: &str) -> Option<u64> {
        let base = match block {
            Block::Ipv4 => self.ipv4,
            Block::Tcp => self.tcp,
            Block::Udp => self.udp,
            Block::Icmp => self.icmp,
            _ => return None,
        };
        let (off, width) = field_in_block(block, name)?;
        bits_value(row, base + off, width)
    }

    /// The binned value of `field` in `row` (a standard-layout row), if the packet has it.
    pub fn value(&self, row: &[Bit], field: HeaderField) -> Option<u64> {
        if row.len() != STANDARD_WIDTH {
            return None;
        }
        let v4 = |n| self.field(row, Block::Ipv4, n);
        let tcp = |n| self.field(row, Block::Tcp, n);
        match field {
            HeaderField::Ipv4HeaderLength => v4("ipv4_hl"),
            HeaderField::Ipv4Tos => v4("ipv4_tos"),
            HeaderField::Ipv4TotalLength => v4("ipv4_tl").map(length_bin),
            HeaderField::Ipv4Flags => bits_value(row, self.ipv4 + 48, 3),
            HeaderField::Ipv4Ttl => v4("ipv4_ttl"),
            HeaderField::Ipv4Proto => v4("ipv4_proto"),
            HeaderField::TcpFlags => bits_value(row, self.tcp + 103, 9),
            HeaderField::TcpDataOffset => tcp("tcp_doff"),
            HeaderField::TcpWindow => tcp("tcp_wsize").map(|w| w / WINDOW_BIN),
            HeaderField::TcpOptionKinds => self.tcp_option_kinds(row),
            HeaderField::TcpUrgentPointerSet => tcp("tcp_urp").map(|u| u64::from(u != 0)),
            HeaderField::UdpLength => self.field(row, Block::Udp, "udp_len").map(length_bin),
            HeaderField::IcmpType => self.field(row, Block::Icmp, "icmp_type"),
            HeaderField::IcmpCode => self.field(row, Block::Icmp, "icmp_code"),
        }
    }

    /// Kinds of the options the data offset covers, as a bit set; walking stops at EOL, at a
    /// vacant byte or at a length that does not fit.
    fn tcp_option_kinds(&self, row: &[Bit]) -> Option<u64> {
        let doff = self.field(row, Block::Tcp, "tcp_doff")? as usize;
        let opt_len = doff.saturating_sub(5) * 4;
        let (opt_at, _) = field_in_block(Block::Tcp, "tcp_opt")?;
        let byte = |i: usize| bits_value(row, self.tcp + opt_at + 8 * i, 8);
        let mut kinds = 0u64;
        let mut i = 0;
        while i < opt_len.min(40) {
            let Some(kind) = byte(i) else { break };
            kinds |= 1u64 << kind.min(63);
            match kind {
                0 => break,
                1 => i += 1,
                _ => match byte(i + 1) {
                    Some(len) if len >= 2 => i += len as usize,
                    _ => break,
                },
            }
        }
        Some(kinds)
    }
}

fn length_bin(len: u64) -> u64 {
    len.min(LENGTH_CAP) / LENGTH_BIN
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nprint::layout::VACANT;

    fn put(row: &mut [Bit], start: usize, width: usize, v: u64) {
        for i in 0..width {
            row[start + i] = ((v >> (width - 1 - i)) & 1) as Bit;
        }
    }

    /// A TCP SYN with MSS, NOP, window scale, built bit by bit from the layout's offsets.
    fn syn_row() -> Vec<Bit> {
        let mut r = vec![VACANT; STANDARD_WIDTH];
        put(&mut r, 0, 4, 4); // version
        put(&mut r, 4, 4, 5); // IHL
        put(&mut r, 8, 8, 0x10); // TOS
        put(&mut r, 16, 16, 1400); // total length
        put(&mut r, 48, 3, 0b010); // DF
        put(&mut r, 64, 8, 64); // TTL
        put(&mut r, 72, 8, 6); // TCP
        let t = 480;
        put(&mut r, t + 96, 4, 7); // data offset: 8 option bytes
        put(&mut r, t + 103, 9, 0b0_0000_0010); // SYN
        put(&mut r, t + 112, 16, 65535); // window
        put(&mut r, t + 144, 16, 0); // urgent pointer
                                     // Options: MSS (2, 4, 0x05b4), NOP, WS (3, 3, 7).
        for (i, b) in [2u64, 4, 5, 0xb4, 1, 3, 3, 7].iter().enumerate() {
            put(&mut r, t + 160 + 8 * i, 8, *b);
        }
        r
    }

    #[test]
    fn reads_fields_of_a_hand_built_syn() {
        let r = syn_row();
        let f = FieldReader::default();
        let v = |h| f.value(&r, h);
        assert_eq!(v(HeaderField::Ipv4HeaderLength), Some(5));
        assert_eq!(v(HeaderField::Ipv4Tos), Some(0x10));
        assert_eq!(v(HeaderField::Ipv4TotalLength), Some(1400 / 64));
        assert_eq!(v(HeaderField::Ipv4Flags), Some(2));
        assert_eq!(v(HeaderField::Ipv4Ttl), Some(64));
        assert_eq!(v(HeaderField::Ipv4Proto), Some(6));
        assert_eq!(v(HeaderField::TcpFlags), Some(2));
        assert_eq!(v(HeaderField::TcpDataOffset), Some(7));
        assert_eq!(v(HeaderField::TcpWindow), Some(31));
        assert_eq!(
            v(HeaderField::TcpOptionKinds),
            Some((1 << 1) | (1 << 2) | (1 << 3))
        );
        assert_eq!(v(HeaderField::TcpUrgentPointerSet), Some(0));
        assert_eq!(v(HeaderField::UdpLength), None);
        assert_eq!(v(HeaderField::IcmpType), None);
        assert_eq!(f.value(&r[..100], HeaderField::Ipv4Ttl), None);
    }

    #[test]
    fn labels_of_bins() {
        assert_eq!(HeaderField::TcpFlags.bin_label(0b0_0001_0010), "AS");
        assert_eq!(HeaderField::TcpFlags.bin_label(0), "-");
        assert_eq!(HeaderField::Ipv4TotalLength.bin_label(1), "64-127");
        assert_eq!(HeaderField::Ipv4TotalLength.bin_label(24), "≥1536");
        assert_eq!(HeaderField::TcpOptionKinds.bin_label(0b1110), "1+2+3");
        assert_eq!(HeaderField::TcpOptionKinds.bin_label(0), "none");
        assert_eq!(length_bin(70_000), 24);
    }

    #[test]
    fn vacant_bits_give_no_value() {
        let mut r = syn_row();
        r[64] = VACANT;
        assert_eq!(FieldReader::default().value(&r, HeaderField::Ipv4Ttl), None);
        assert_eq!(bits_value(&[1, 0, 1], 0, 3), Some(5));
        assert_eq!(bits_value(&[1, 0], 0, 3), None);
    }
}
