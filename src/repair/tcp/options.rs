//! TCP options of repaired packets: the generated option bytes are kept when they parse and
//! belong on the packet (timestamps patched to the flow's clock, SACK blocks checked against
//! the data really sent), and rebuilt in a standard order otherwise.

use crate::wire::tcp::{option_kind as kind, parse_options, TcpOption, MIN_MSS};

/// What the two SYNs agreed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Negotiated {
    /// Timestamps on every segment.
    pub timestamps: bool,
    /// Window scaling in use.
    pub window_scale: bool,
    /// SACK permitted by both sides.
    pub sack: bool,
}

/// Options a generated packet asked for, read leniently (stopping at the first bad length).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AskedOptions {
    /// MSS value.
    pub mss: Option<u16>,
    /// Window scale shift.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_ok: bool,
    /// TSval, TSecr.
    pub ts: Option<(u32, u32)>,
}

/// Reads the options a generated packet carries, tolerating garbage after the last good one.
pub fn scan(opts: &[u8]) -> AskedOptions {
    let mut a = AskedOptions::default();
    let mut i = 0;
    while i < opts.len() {
        match opts[i] {
            kind::EOL => break,
            kind::NOP => i += 1,
            k => {
                let Some(&len) = opts.get(i + 1) else { break };
                let len = usize::from(len);
                if len < 2 || i + len > opts.len() {
                    break;
                }
                let d = &opts[i + 2..i + len];
                match (k, len) {
                    (kind::MSS, 4) => a.mss = Some(u16::from_be_bytes([d[0], d[1]])),
                    (kind::WINDOW_SCALE, 3) => a.wscale = Some(d[0]),
                    (kind::SACK_PERMITTED, 2) => a.sack_ok = true,
                    (kind::TIMESTAMPS, 10) => {
                        a.ts = Some((
                            u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                            u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                        ))
                    }
                    _ => {}
                }
                i += len;
            }
        }
    }
    a
}

/// The SYN options to send: the generated ones when they are well-formed and carry exactly
/// the timestamps and window scale of `allowed` (what the client offers; for a SYN-ACK, what
/// both sides support) — in their order, with an MSS below [`MIN_MSS`] (no stack's) raised to
/// `mss_cap` and the shift set to `wscale` — else a rebuilt set (its MSS the asked one, else
/// `mss_cap`). An MSS between [`MIN_MSS`] and 536 stays too (an old stack's 512): the peer's
/// segments are bounded by it.
/// An MSS above `mss_cap` stays: it is what the stack offered (a loopback's 65,495), and the
/// peer's segments are bounded by the MTU as well.
pub fn syn_options(
    generated: &[u8],
    asked: &AskedOptions,
    allowed: &Negotiated,
    mss_cap: u16,
    wscale: u8,
    tsval: u32,
    tsecr: u32,
) -> Vec<u8> {
    let timestamps = allowed.timestamps;
    if let Ok(opts) = parse_options(generated) {
        let fits = opts.iter().all(|o| match o {
            TcpOption::Eol | TcpOption::Nop | TcpOption::Mss(_) => true,
            TcpOption::WindowScale(_) => allowed.window_scale,
            TcpOption::SackPermitted => allowed.sack,
            TcpOption::Timestamps(..) => timestamps,
            _ => false,
        });
        let has_ts = opts.iter().any(|o| matches!(o, TcpOption::Timestamps(..)));
        let has_ws = opts.iter().any(|o| matches!(o, TcpOption::WindowScale(_)));
        if fits && has_ts == timestamps && has_ws == allowed.window_scale {
            return patched(generated, tsval, tsecr, Some((mss_cap, wscale)));
        }
    }
    let mut o = Vec::with_capacity(20);
    let mss = asked.mss.filter(|&m| m >= MIN_MSS).unwrap_or(mss_cap);
    o.extend_from_slice(&[kind::MSS, 4]);
    o.extend_from_slice(&mss.to_be_bytes());
    if allowed.sack {
        o.extend_from_slice(&[kind::SACK_PERMITTED, 2]);
    }
    if timestamps {
        push_ts(&mut o, tsval, tsecr);
    }
    if allowed.window_scale {
        o.extend_from_slice(&[kind::NOP, kind::WINDOW_SCALE, 3, wscale]);
    }
    pad(o)
}

/// Options of a segment after the SYNs: the generated ones when they hold only padding,
/// timestamps (exactly when negotiated) and SACK blocks inside `sack_range` (exclusive left
/// bound, inclusive right bound, in the peer's sequence space); else rebuilt.
pub fn segment_options(
    generated: &[u8],
    neg: &Negotiated,
    tsval: u32,
    tsecr: u32,
    sack_range: (u32, u32),
) -> Vec<u8> {
    let inside = |x: u32| {
        let (lo, hi) = sack_range;
        x.wrapping_sub(lo) as i32 > 0 && hi.wrapping_sub(x) as i32 >= 0
    };
    if let Ok(opts) = parse_options(generated) {
        let fits = opts.iter().all(|o| match o {
            TcpOption::Eol | TcpOption::Nop => true,
            TcpOption::Timestamps(..) => neg.timestamps,
            TcpOption::Sack(blocks) => {
                neg.sack
                    && blocks
                        .iter()
                        .all(|&(l, r)| inside(l) && inside(r) && r.wrapping_sub(l) as i32 > 0)
            }
            _ => false,
        });
        let has_ts = opts.iter().any(|o| matches!(o, TcpOption::Timestamps(..)));
        if fits && has_ts == neg.timestamps {
            return patched(generated, tsval, tsecr, None);
        }
    }
    let mut o = Vec::with_capacity(12);
    if neg.timestamps {
        o.extend_from_slice(&[kind::NOP, kind::NOP]);
        push_ts(&mut o, tsval, tsecr);
    }
    pad(o)
}

/// `opts` with the timestamp option's values replaced and anything after an EOL zeroed (the
/// padding after the end of the list must be zero); for a SYN (`syn`: the MSS cap and the
/// window shift), an MSS below [`MIN_MSS`] set to the cap and its shift set.
fn patched(opts: &[u8], tsval: u32, tsecr: u32, syn: Option<(u16, u8)>) -> Vec<u8> {
    let mut out = opts.to_vec();
    let mut i = 0;
    while i < out.len() {
        match out[i] {
            kind::EOL => {
                out[i..].fill(0);
                break;
            }
            kind::NOP => i += 1,
            k => {
                let len = usize::from(out[i + 1]);
                match (k, len, syn) {
                    (kind::TIMESTAMPS, 10, _) => {
                        out[i + 2..i + 6].copy_from_slice(&tsval.to_be_bytes());
                        out[i + 6..i + 10].copy_from_slice(&tsecr.to_be_bytes());
                    }
                    (kind::MSS, 4, Some((mss_cap, _))) => {
                        let m = u16::from_be_bytes([out[i + 2], out[i + 3]]);
                        if m < MIN_MSS {
                            out[i + 2..i + 4].copy_from_slice(&mss_cap.to_be_bytes());
                        }
                    }
                    (kind::WINDOW_SCALE, 3, Some((_, wscale))) => out[i + 2] = wscale,
                    _ => {}
                }
                i += len;
            }
        }
    }
    pad(out)
}

fn push_ts(o: &mut Vec<u8>, tsval: u32, tsecr: u32) {
    o.extend_from_slice(&[kind::TIMESTAMPS, 10]);
    o.extend_from_slice(&tsval.to_be_bytes());
    o.extend_from_slice(&tsecr.to_be_bytes());
}

fn pad(mut o: Vec<u8>) -> Vec<u8> {
    while !o.len().is_multiple_of(4) {
        o.push(kind::EOL);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_scan_stops_at_garbage() {
        let a = scan(&[
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
        ]);
        assert_eq!(a.mss, Some(1460));
        assert!(a.sack_ok);
        assert_eq!(a.ts, Some((1, 0)));
        assert_eq!(a.wscale, Some(7));
        let b = scan(&[2, 4, 5, 0xb4, 3, 40, 1, 1]);
        assert_eq!((b.mss, b.wscale), (Some(1460), None));
    }

    #[test]
    fn well_formed_generated_options_are_kept_with_new_timestamps() {
        let gen = [1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6];
        let neg = Negotiated {
            timestamps: true,
            window_scale: true,
            sack: true,
        };
        let o = segment_options(&gen, &neg, 100, 200, (0, 0));
        assert_eq!(&o[..4], &[1, 1, 8, 10]);
        assert_eq!(&o[4..8], &100u32.to_be_bytes());
        assert_eq!(&o[8..12], &200u32.to_be_bytes());
        // A SACK block outside the data sent is not kept.
        let sack = [1, 1, 5, 10, 0, 0, 0, 50, 0, 0, 0, 60];
        let o = segment_options(
            &sack,
            &Negotiated {
                timestamps: false,
                ..neg
            },
            0,
            0,
            (0, 40),
        );
        assert!(o.is_empty());
        let o = segment_options(
            &sack,
            &Negotiated {
                timestamps: false,
                ..neg
            },
            0,
            0,
            (10, 60),
        );
        assert_eq!(o, sack);
        // Garbage is rebuilt.
        let o = segment_options(&[8, 3, 0, 0], &neg, 1, 2, (0, 0));
        assert_eq!(o.len(), 12);
        assert!(parse_options(&o).is_ok());
    }

    #[test]
    fn syn_options_rebuilt_when_generated_breaks_a_rule() {
        let allowed = Negotiated {
            timestamps: true,
            window_scale: true,
            sack: true,
        };
        // Window scale 20 and MSS 60 in the generated SYN: kept in their place (NOP first,
        // the generated stack's order), the shift clamped and the MSS raised to the cap.
        let gen = [1, 3, 3, 20, 2, 4, 0x00, 60];
        let no_ts = Negotiated {
            timestamps: false,
            ..allowed
        };
        let o = syn_options(&gen, &scan(&gen), &no_ts, 1460, 14, 0, 0);
        assert_eq!(o, [1, 3, 3, 14, 2, 4, 0x05, 0xb4]);
        // An MSS above the cap stays (a loopback stack's 65,495): the MTU bounds the segments.
        let gen = [1, 3, 3, 7, 2, 4, 0xff, 0xd7];
        let o = syn_options(&gen, &scan(&gen), &no_ts, 1460, 7, 0, 0);
        assert_eq!(o, gen);
        // An MSS inside the range is kept as generated, an old stack's 512 and Linux's least
        // (88) too.
        for mss in [1400u16, 512, MIN_MSS] {
            let [hi, lo] = mss.to_be_bytes();
            let gen = [2, 4, hi, lo, 1, 3, 3, 7];
            let o = syn_options(&gen, &scan(&gen), &no_ts, 1460, 7, 0, 0);
            assert_eq!(o, gen, "MSS {mss}");
        }
        // Rebuilt options keep an asked MSS of 512 and raise one below 88.
        let ts_only = [2, 4, 0x02, 0x00, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0];
        let o = syn_options(&ts_only, &scan(&ts_only), &no_ts, 1460, 7, 0, 0);
        assert!(parse_options(&o).unwrap().contains(&TcpOption::Mss(512)));
        let tiny = [2, 4, 0, 87, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0];
        let o = syn_options(&tiny, &scan(&tiny), &no_ts, 1460, 7, 0, 0);
        assert!(parse_options(&o).unwrap().contains(&TcpOption::Mss(1460)));
        // Timestamps the client did not offer: rebuilt, in the standard order.
        let gen = [2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0];
        let o = syn_options(&gen, &scan(&gen), &no_ts, 1460, 14, 0, 0);
        let parsed = parse_options(&o).unwrap();
        assert!(parsed.contains(&TcpOption::WindowScale(14)));
        assert!(parsed.contains(&TcpOption::Mss(1460)));
        assert!(!parsed
            .iter()
            .any(|o| matches!(o, TcpOption::Timestamps(..))));
        assert_eq!(o.len() % 4, 0);
    }
}
