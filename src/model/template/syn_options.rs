//! The layout of a template SYN's TCP options: which option sits where, with the values a
//! host's stack chooses (MSS, window shift) and without the connection's own (timestamps).

use crate::wire::tcp::option_kind as kind;

/// Bytes of options a TCP header can carry.
pub const MAX_OPTION_BYTES: usize = 40;

/// The layout of a real SYN's (or SYN-ACK's) TCP options: each option's kind and length bytes,
/// the NOPs between them and the zero padding after an end-of-list, and the values its host's
/// stack chose for the connection's path (the MSS and the window shift), without the
/// timestamps, which the model generates. Sampling holds it so that a generated SYN offers
/// what its real one offered (timestamps for the whole connection, window scaling, SACK) in its
/// stack's order and with its stack's values; left to the network, a SYN's option bytes rarely
/// parse (repair then negotiates no timestamps for the whole flow), and the shifts it drew
/// (14, 8, 11 where every real lab SYN offered 10) were no real stack's.
///
/// Written in cards as its options joined by `-`: `0` (end of list) and `1` (NOP) alone, any
/// other option as `kind:length`, with `=value` for the MSS and the shift (e.g.
/// `2:4=1460-4:2-8:10-1-3:3=7`, Linux's MSS, SACK permitted, timestamps, NOP, window scale).
/// Cards of earlier versions wrote no values: those are left to the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynOptions {
    /// The option bytes with every value byte not held zeroed.
    bytes: [u8; MAX_OPTION_BYTES],
    /// Option bytes in the header (a multiple of 4).
    len: u8,
    /// The value bytes held (bit i for byte i): the MSS's and the shift's.
    values: u64,
}

/// Options whose value a template keeps, by kind and length: the MSS and the window shift.
fn keeps_value(kind: u8, len: u8) -> bool {
    matches!((kind, len), (kind::MSS, 4) | (kind::WINDOW_SCALE, 3))
}

impl SynOptions {
    /// The layout of `opts` (a SYN's option bytes, a multiple of 4 up to 40), or None when
    /// they do not parse: an option's length under 2 or running past the end.
    pub fn of(opts: &[u8]) -> Option<SynOptions> {
        if opts.len() > MAX_OPTION_BYTES || !opts.len().is_multiple_of(4) {
            return None;
        }
        let mut bytes = [0u8; MAX_OPTION_BYTES];
        let mut values = 0u64;
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                kind::EOL => break,
                kind::NOP => {
                    bytes[i] = kind::NOP;
                    i += 1;
                }
                k => {
                    let len = usize::from(*opts.get(i + 1)?);
                    if len < 2 || i + len > opts.len() {
                        return None;
                    }
                    bytes[i] = k;
                    bytes[i + 1] = len as u8;
                    if keeps_value(k, len as u8) {
                        for j in i + 2..i + len {
                            bytes[j] = opts[j];
                            values |= 1 << j;
                        }
                    }
                    i += len;
                }
            }
        }
        Some(SynOptions {
            bytes,
            len: opts.len() as u8,
            values,
        })
    }

    /// The same layout without its values (what cards of earlier versions recorded).
    #[cfg(test)]
    fn without_values(&self) -> SynOptions {
        let mut bytes = self.bytes;
        for (j, b) in bytes.iter_mut().enumerate() {
            if self.values & (1 << j) != 0 {
                *b = 0;
            }
        }
        SynOptions {
            bytes,
            values: 0,
            ..*self
        }
    }

    /// The held value of the option at `i` (of length `len`), big-endian.
    fn value(&self, i: usize, len: usize) -> Option<u32> {
        (self.values & (1 << (i + 2)) != 0).then(|| {
            self.bytes[i + 2..i + len]
                .iter()
                .fold(0u32, |a, &b| (a << 8) | u32::from(b))
        })
    }

    /// Option bytes in the header.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for a SYN without options.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The option bytes of a SYN with this layout: what [`fixed`](Self::fixed) fixes, and zero
    /// where the connection chooses (the timestamps).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        for (i, v) in self.fixed() {
            out[i] = v;
        }
        out
    }

    /// The bytes the layout fixes, with their values: kinds, lengths, NOPs, the held MSS and
    /// shift, and every byte from an end-of-list on (padding, zero).
    pub fn fixed(&self) -> Vec<(usize, u8)> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = 0;
        while i < self.len() {
            match self.bytes[i] {
                kind::EOL => {
                    out.extend((i..self.len()).map(|j| (j, 0)));
                    break;
                }
                kind::NOP => {
                    out.push((i, kind::NOP));
                    i += 1;
                }
                k => {
                    let len = self.bytes[i + 1];
                    out.extend([(i, k), (i + 1, len)]);
                    out.extend(
                        (i + 2..i + usize::from(len))
                            .filter(|&j| self.values & (1 << j) != 0)
                            .map(|j| (j, self.bytes[j])),
                    );
                    i += usize::from(len);
                }
            }
        }
        out
    }

    /// Reads the written form for a header with `len` option bytes.
    pub fn parse(s: &str, len: usize) -> Result<SynOptions, String> {
        let mut bytes = Vec::with_capacity(len);
        let mut values = 0u64;
        for item in s.split('-') {
            let (item, value) = match item.split_once('=') {
                Some((o, v)) => (o, Some(v)),
                None => (item, None),
            };
            match item.split_once(':') {
                None => match item.parse::<u8>() {
                    Ok(k @ (kind::EOL | kind::NOP)) if value.is_none() => bytes.push(k),
                    _ => return Err(format!("bad option {item:?} (0, 1 or kind:length)")),
                },
                Some((k, l)) => match (k.parse::<u8>(), l.parse::<u8>()) {
                    (Ok(k), Ok(l)) if k > kind::NOP && l >= 2 => {
                        let at = bytes.len();
                        bytes.extend([k, l]);
                        bytes.resize(at + usize::from(l), 0);
                        if let Some(v) = value {
                            let width = usize::from(l) - 2;
                            let v = match v.parse::<u32>() {
                                Ok(v) if keeps_value(k, l) && v < 1 << (8 * width) => v,
                                _ => {
                                    return Err(format!(
                                        "bad value in option {item}={v} (only the MSS, 2:4, \
                                         and the window shift, 3:3, carry one, within their \
                                         bytes)"
                                    ))
                                }
                            };
                            for j in 0..width {
                                bytes[at + 2 + j] = (v >> (8 * (width - 1 - j))) as u8;
                                if at + 2 + j < MAX_OPTION_BYTES {
                                    values |= 1 << (at + 2 + j);
                                }
                            }
                        }
                    }
                    _ => return Err(format!("bad option {item:?} (kind:length, length ≥ 2)")),
                },
            }
            if bytes.len() > MAX_OPTION_BYTES {
                break;
            }
        }
        if bytes.len() != len {
            return Err(format!(
                "options {s:?} take {} bytes, the header holds {len}",
                bytes.len()
            ));
        }
        let mut o = SynOptions::of(&bytes).ok_or_else(|| format!("options {s:?} do not parse"))?;
        // `of` holds every MSS and shift; those written without a value (zeros here) are not.
        o.values = values;
        Ok(o)
    }
}

impl std::fmt::Display for SynOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut items = Vec::new();
        let mut i = 0;
        while i < self.len() {
            match self.bytes[i] {
                k @ (kind::EOL | kind::NOP) => {
                    items.push(k.to_string());
                    i += 1;
                }
                k => {
                    let len = self.bytes[i + 1];
                    match self.value(i, usize::from(len)) {
                        Some(v) => items.push(format!("{k}:{len}={v}")),
                        None => items.push(format!("{k}:{len}")),
                    }
                    i += usize::from(len);
                }
            }
        }
        f.write_str(&items.join("-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real macOS SYN's options (MSS 1460, NOP, window scale 6, NOP, NOP, timestamps,
    /// SACK permitted, end of list, padding).
    const MACOS_SYN: [u8; 24] = [
        2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0x3b, 0x5c, 0x2a, 0x11, 0, 0, 0, 0, 4, 2, 0, 0,
    ];

    #[test]
    fn a_layout_keeps_kinds_lengths_and_the_stacks_values() {
        let o = SynOptions::of(&MACOS_SYN).unwrap();
        assert_eq!(o.to_string(), "2:4=1460-1-3:3=6-1-1-8:10-4:2-0-0");
        assert_eq!(SynOptions::parse(&o.to_string(), 24), Ok(o));
        let fixed = o.fixed();
        // Kind and length of MSS, WS, TS, SACK-permitted; three NOPs; two padding bytes; the
        // MSS (2 bytes) and the shift.
        assert_eq!(fixed.len(), 2 * 4 + 3 + 2 + 3);
        for &(at, v) in &fixed {
            assert_eq!(MACOS_SYN[at], v, "byte {at}");
        }
        // The timestamps are not held: two SYNs differing only there have one layout.
        assert!(fixed.iter().all(|&(at, _)| !(12..20).contains(&at)));
        let mut other = MACOS_SYN;
        other[12..20].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(SynOptions::of(&other), Some(o));
        // Another MSS is another layout, equal without the values.
        let a = SynOptions::of(&[2, 4, 0xff, 0xff]).unwrap();
        let b = SynOptions::of(&[2, 4, 5, 0xb4]).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.without_values(), b.without_values());
        assert_eq!(a.without_values().to_string(), "2:4");
        assert!(SynOptions::of(&[]).unwrap().is_empty());
    }

    #[test]
    fn a_layout_without_values_holds_none() {
        // What cards of earlier versions wrote: kinds and lengths only.
        let o = SynOptions::parse("2:4-1-3:3", 8).unwrap();
        assert_eq!(o.fixed(), vec![(0, 2), (1, 4), (4, 1), (5, 3), (6, 3)]);
        assert_eq!(o.to_string(), "2:4-1-3:3");
        // One value written, the other not.
        let o = SynOptions::parse("2:4=536-1-3:3", 8).unwrap();
        assert_eq!(
            o.fixed(),
            vec![(0, 2), (1, 4), (2, 2), (3, 24), (4, 1), (5, 3), (6, 3)]
        );
    }

    #[test]
    fn bad_layouts_are_refused_by_name() {
        // A length running past the end, a length under 2, not a multiple of 4.
        for bad in [&[2u8, 8, 5, 0xb4][..], &[8, 1, 0, 0], &[1, 1, 1]] {
            assert_eq!(SynOptions::of(bad), None, "{bad:?}");
        }
        for (s, len, says) in [
            ("2:4-1", 4, "take 5 bytes"),
            ("2:4", 8, "take 4 bytes"),
            ("7", 4, "bad option \"7\""),
            ("2:1-1-1", 4, "bad option \"2:1\""),
            ("x:4", 4, "bad option"),
            ("8:200", 40, "take"),
            ("2:4=65536", 4, "bad value in option 2:4=65536"),
            ("3:3=256-0", 4, "bad value"),
            ("4:2=1-1-1", 4, "bad value"),
            ("8:10=1-1-1", 12, "bad value"),
            ("2:4=x", 4, "bad value"),
            ("1=1-1-1-1", 4, "bad option"),
        ] {
            let e = SynOptions::parse(s, len).unwrap_err();
            assert!(e.contains(says), "{s}: {e}");
        }
    }
}
