//! Intra-packet rules for TCP options.

use super::{Rule, Sink};
use crate::wire::tcp::{option_kind, parse_options_into, TcpOption};

/// Largest window scale shift (RFC 7323 section 2.3).
pub const MAX_WINDOW_SHIFT: u8 = 14;

/// Option kinds registered with IANA with a fixed size, beyond the ones the wire parser
/// decodes: (kind, size). Echo and echo reply (RFC 1072), CC, CC.NEW and CC.ECHO (RFC 1644),
/// MD5 signature (RFC 2385), Quick-Start response (RFC 4782), user timeout (RFC 5482).
const FIXED_SIZE_KINDS: [(u8, usize); 8] = [
    (6, 6),
    (7, 6),
    (11, 6),
    (12, 6),
    (13, 6),
    (19, 18),
    (27, 8),
    (28, 4),
];

/// Checks the option bytes of a segment; `syn` says whether it carries SYN.
pub(crate) fn check_tcp_options(opts: &[u8], syn: bool, sink: &mut Sink<'_>) {
    let mut parsed = Vec::new();
    let result = parse_options_into(opts, &mut parsed);
    let wrong_size = parsed.iter().find_map(|o| match o {
        TcpOption::Unknown(kind, data) => FIXED_SIZE_KINDS
            .iter()
            .find(|(k, size)| k == kind && *size != data.len() + 2)
            .map(|&(k, size)| (k, data.len() + 2, size)),
        _ => None,
    });
    if let Err(e) = result {
        sink.hit(Rule::TcpOptions, || e.to_string());
    } else if let Some((kind, len, size)) = wrong_size {
        sink.hit(Rule::TcpOptions, || {
            format!("option kind {kind} must be {size} bytes, is {len}")
        });
    } else if let Some(eol) = eol_offset(opts) {
        let padding = &opts[eol + 1..];
        if padding.iter().any(|&b| b != 0) {
            sink.hit(Rule::TcpOptionPadding, || {
                format!(
                    "{} non-zero bytes after EOL",
                    padding.iter().filter(|&&b| b != 0).count()
                )
            });
        }
    }
    if !syn {
        let syn_only: Vec<&str> = parsed
            .iter()
            .filter_map(|o| match o {
                TcpOption::Mss(_) => Some("MSS"),
                TcpOption::WindowScale(_) => Some("window scale"),
                TcpOption::SackPermitted => Some("SACK-permitted"),
                _ => None,
            })
            .collect();
        if !syn_only.is_empty() {
            sink.hit(Rule::TcpSynOnlyOption, || {
                format!("{} on a segment without SYN", syn_only.join(", "))
            });
        }
    }
    for o in &parsed {
        if let TcpOption::WindowScale(shift) = o {
            if *shift > MAX_WINDOW_SHIFT {
                sink.hit(Rule::TcpWindowScale, || format!("shift {shift}"));
            }
        }
    }
}

/// Offset of the EOL option in well-formed option bytes.
fn eol_offset(opts: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            option_kind::EOL => return Some(i),
            option_kind::NOP => i += 1,
            _ => i += usize::from(*opts.get(i + 1)?).max(2),
        }
    }
    None
}
