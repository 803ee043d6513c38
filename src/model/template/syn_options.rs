//! The layout of a template SYN's TCP options: which option sits where, without its values.

use crate::wire::tcp::option_kind as kind;

/// Bytes of options a TCP header can carry.
pub const MAX_OPTION_BYTES: usize = 40;

/// The layout of a real SYN's (or SYN-ACK's) TCP options: each option's kind and length bytes,
/// the NOPs between them and the zero padding after an end-of-list, without the values (MSS,
/// window shift, timestamps), which the model generates. Sampling holds it so that a generated
/// SYN offers what its real one offered (timestamps for the whole connection, window scaling,
/// SACK) in its stack's order; left to the network, a SYN's option bytes rarely parse, and
/// repair then negotiates no timestamps for the whole flow.
///
/// Written in cards as its options joined by `-`: `0` (end of list) and `1` (NOP) alone, any
/// other option as `kind:length` (e.g. `2:4-4:2-8:10-1-3:3`, Linux's MSS, SACK permitted,
/// timestamps, NOP, window scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynOptions {
    /// The option bytes with every value byte zeroed.
    bytes: [u8; MAX_OPTION_BYTES],
    /// Option bytes in the header (a multiple of 4).
    len: u8,
}

impl SynOptions {
    /// The layout of `opts` (a SYN's option bytes, a multiple of 4 up to 40), or None when
    /// they do not parse: an option's length under 2 or running past the end.
    pub fn of(opts: &[u8]) -> Option<SynOptions> {
        if opts.len() > MAX_OPTION_BYTES || !opts.len().is_multiple_of(4) {
            return None;
        }
        let mut bytes = [0u8; MAX_OPTION_BYTES];
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
                    i += len;
                }
            }
        }
        Some(SynOptions {
            bytes,
            len: opts.len() as u8,
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

    /// The bytes the layout fixes, with their values: kinds, lengths, NOPs, and every byte from
    /// an end-of-list on (padding, zero).
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
                    i += usize::from(len);
                }
            }
        }
        out
    }

    /// Reads the written form for a header with `len` option bytes.
    pub fn parse(s: &str, len: usize) -> Result<SynOptions, String> {
        let mut bytes = Vec::with_capacity(len);
        for item in s.split('-') {
            match item.split_once(':') {
                None => match item.parse::<u8>() {
                    Ok(k @ (kind::EOL | kind::NOP)) => bytes.push(k),
                    _ => return Err(format!("bad option {item:?} (0, 1 or kind:length)")),
                },
                Some((k, l)) => match (k.parse::<u8>(), l.parse::<u8>()) {
                    (Ok(k), Ok(l)) if k > kind::NOP && l >= 2 => {
                        bytes.extend([k, l]);
                        bytes.resize(bytes.len() + usize::from(l) - 2, 0);
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
        SynOptions::of(&bytes).ok_or_else(|| format!("options {s:?} do not parse"))
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
                    items.push(format!("{k}:{len}"));
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
    fn a_layout_keeps_kinds_and_lengths_and_drops_values() {
        let o = SynOptions::of(&MACOS_SYN).unwrap();
        assert_eq!(o.to_string(), "2:4-1-3:3-1-1-8:10-4:2-0-0");
        assert_eq!(SynOptions::parse(&o.to_string(), 24), Ok(o));
        let fixed = o.fixed();
        // Kind and length of MSS, WS, TS, SACK-permitted; three NOPs; two padding bytes.
        assert_eq!(fixed.len(), 2 * 4 + 3 + 2);
        for (at, v) in fixed {
            assert_eq!(MACOS_SYN[at], v, "byte {at}");
        }
        // Values are not fixed: the MSS, the shift, the timestamps.
        let o = SynOptions::of(&[2, 4, 0xff, 0xff]).unwrap();
        assert_eq!(o, SynOptions::of(&[2, 4, 5, 0xb4]).unwrap());
        assert!(SynOptions::of(&[]).unwrap().is_empty());
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
        ] {
            let e = SynOptions::parse(s, len).unwrap_err();
            assert!(e.contains(says), "{s}: {e}");
        }
    }
}
