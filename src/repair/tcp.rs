//! TCP repair: the state machine (handshake, sequence and acknowledgement numbers, teardown),
//! windows and timestamps. Generated values are kept wherever they obey the rules.

use super::generated::GeneratedRow;
use super::report::RepairReport;
use super::rules::Rule;
use super::settings::{HandshakePolicy, RepairSettings};
use super::tcp_options::{scan, segment_options, syn_options, Negotiated};
use super::{PacketPlan, Side};
use crate::flows::Direction;
use crate::wire::tcp::flags;
use std::collections::HashSet;

/// Per-direction TCP state.
#[derive(Debug, Clone, Default)]
struct TcpSide {
    next_seq: u32,
    /// Highest sequence number of this side the peer has acknowledged.
    acked: u32,
    /// Latest advertised window in bytes (scale applied).
    window: u64,
    wscale: u8,
    fin_sent: bool,
    last_tsval: u32,
    sent_tsvals: HashSet<u32>,
    last_tsecr: u32,
    /// Start → length of each data segment sent (what a retransmission may repeat).
    segments: std::collections::HashMap<u32, u32>,
}

/// The TCP header fields decided for one packet (ports and checksum are filled later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPlan {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (0 when ACK is clear).
    pub ack: u32,
    /// Flags.
    pub flags: u16,
    /// Window field.
    pub window: u16,
    /// Option bytes, padded to a multiple of 4.
    pub options: Vec<u8>,
}

fn opposite(d: Direction) -> Direction {
    match d {
        Direction::Forward => Direction::Backward,
        Direction::Backward => Direction::Forward,
    }
}

/// True when `a` comes after `b` in sequence space (RFC 1982 serial arithmetic).
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Plans the TCP packets of a flow. `plans` holds directions, times and generated payload
/// lengths; packets after the connection closes are cut off.
pub(super) fn plan_tcp(
    rows: &[GeneratedRow],
    plans: &mut Vec<PacketPlan>,
    settings: &RepairSettings,
    sides: &[Side; 2],
    report: &mut RepairReport,
) -> Vec<TcpPlan> {
    let n = plans.len();
    let first_syn = rows[0].tcp().flags() & (flags::SYN | flags::ACK) == flags::SYN;
    let handshake = settings.handshake == HandshakePolicy::Always || first_syn;
    if handshake && !first_syn {
        report.applied(Rule::TcpHandshake);
    }
    let mss_cap = settings.mtu.saturating_sub(40).max(536);
    let idx = |d: Direction| usize::from(d == Direction::Backward);

    let client_syn = scan(rows[0].tcp_options());
    let server_syn = rows.get(1).map_or(client_syn, |r| scan(r.tcp_options()));
    let neg = if handshake {
        Negotiated {
            timestamps: client_syn.ts.is_some() && server_syn.ts.is_some(),
            window_scale: client_syn.wscale.is_some() && server_syn.wscale.is_some(),
            sack: client_syn.sack_ok && server_syn.sack_ok,
        }
    } else {
        let with_ts = rows
            .iter()
            .filter(|r| scan(r.tcp_options()).ts.is_some())
            .count();
        Negotiated {
            timestamps: with_ts * 2 > rows.len(),
            window_scale: false,
            sack: true,
        }
    };
    let mut st: [TcpSide; 2] = Default::default();
    for (i, s) in st.iter_mut().enumerate() {
        s.next_seq = sides[i].isn;
        s.acked = sides[i].isn;
        s.window = 65535;
        s.last_tsval = sides[i].ts_base;
    }
    if neg.window_scale {
        st[0].wscale = client_syn.wscale.unwrap_or(0).min(14);
        st[1].wscale = server_syn.wscale.unwrap_or(0).min(14);
    }

    // A generated RST counts only on the flow's last packet, and a FIN only when its side sends
    // no more data afterwards; elsewhere they are generation noise that would cut the flow.
    let honoured_fin: Vec<bool> = (0..n)
        .map(|i| {
            let d = plans[i].direction;
            rows[i].tcp().flags() & flags::FIN != 0
                && !plans[i + 1..]
                    .iter()
                    .any(|p| p.direction == d && p.payload_len > 0)
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut closed_at = None;
    let mut last_fin: Option<Direction> = None;
    for i in 0..n {
        let hs_step = if handshake && i < 3 { Some(i) } else { None };
        if let Some(step) = hs_step {
            let want = if step == 1 {
                Direction::Backward
            } else {
                Direction::Forward
            };
            if plans[i].direction != want {
                plans[i].direction = want;
                report.applied(Rule::TcpHandshakeDirection);
            }
        }
        let both_fin = st[0].fin_sent && st[1].fin_sent;
        if both_fin {
            // Only the final ACK remains: from the peer of the side whose FIN came last.
            if let Some(last) = last_fin {
                let want = opposite(last);
                if plans[i].direction != want {
                    plans[i].direction = want;
                    report.applied(Rule::TcpFinalAckDirection);
                }
            }
            closed_at = Some(i + 1);
        }
        let d = idx(plans[i].direction);
        let p = 1 - d;
        let gen = rows[i].tcp();
        let gflags = gen.flags();
        let mut f = match hs_step {
            Some(0) => flags::SYN,
            Some(1) => flags::SYN | flags::ACK,
            Some(_) => flags::ACK,
            None => flags::ACK | (gflags & (flags::PSH | flags::FIN | flags::RST)),
        };
        if f & flags::RST != 0 && i + 1 < n {
            f &= !flags::RST;
            report.applied(Rule::TcpRstNotLast);
        }
        if f & flags::FIN != 0 && !honoured_fin[i] {
            f &= !flags::FIN;
            report.applied(Rule::TcpFinBeforeData);
        }
        if both_fin || st[d].fin_sent {
            f &= !(flags::FIN | flags::PSH);
        }
        let mut payload = plans[i].payload_len;
        if f & (flags::SYN | flags::RST) != 0 || st[d].fin_sent || both_fin {
            payload = 0;
        }
        if payload == 0 {
            f &= !flags::PSH;
        }

        // Timestamps: the generated TSval when it moves forward, else the flow's clock; TSecr
        // echoes a TSval the peer really sent.
        let elapsed_ms = (plans[i].ts_ns.saturating_sub(plans[0].ts_ns) / 1_000_000) as u32;
        let gen_ts = scan(rows[i].tcp_options()).ts;
        let tsval = match gen_ts {
            Some((v, _)) if !after(st[d].last_tsval, v) => v,
            _ => sides[d]
                .ts_base
                .wrapping_add(elapsed_ms)
                .max(st[d].last_tsval),
        };
        let tsecr = match gen_ts {
            Some((_, e))
                if f & flags::SYN == 0
                    && st[p].sent_tsvals.contains(&e)
                    && !after(st[d].last_tsecr, e) =>
            {
                e
            }
            _ if f & flags::ACK == 0 => 0,
            _ => st[p].last_tsval,
        };
        let options = if f & flags::SYN != 0 {
            // The client offers what it asked for; the server accepts only what was offered.
            let (asked, allowed) = if d == 0 {
                let a = client_syn;
                let offer = Negotiated {
                    timestamps: a.ts.is_some(),
                    window_scale: a.wscale.is_some(),
                    sack: a.sack_ok,
                };
                (a, offer)
            } else {
                (server_syn, neg)
            };
            syn_options(
                rows[i].tcp_options(),
                &asked,
                &allowed,
                mss_cap,
                asked.wscale.unwrap_or(0).min(14),
                tsval,
                tsecr,
            )
        } else {
            segment_options(
                rows[i].tcp_options(),
                &neg,
                tsval,
                tsecr,
                (st[p].acked, st[p].next_seq),
            )
        };
        if neg.timestamps {
            st[d].last_tsval = tsval;
            st[d].sent_tsvals.insert(tsval);
            st[d].last_tsecr = tsecr;
        }
        let max_payload = usize::from(settings.mtu).saturating_sub(20 + 20 + options.len());
        if payload > max_payload {
            payload = max_payload;
            report.applied(Rule::LengthClamp);
        }
        // Bytes in flight bounded by the peer's advertised window.
        let in_flight = u64::from(st[d].next_seq.wrapping_sub(st[d].acked));
        // Strictly below the window: a segment that fills it exactly is flagged by analysers.
        let room = st[p].window.saturating_sub(in_flight + 1) as usize;
        if payload > room {
            payload = room;
            report.applied(Rule::TcpWindowBound);
        }
        // A generated segment that starts where an earlier one of this side started is a
        // retransmission: same sequence number, no more data than the original.
        let gen_seq = gen.seq();
        let retransmit = hs_step.is_none()
            && f & (flags::FIN | flags::RST) == 0
            && after(st[d].next_seq, gen_seq)
            && st[d].segments.get(&gen_seq).is_some_and(|&len| len > 0);
        if retransmit {
            let orig = st[d].segments[&gen_seq] as usize;
            payload = payload.clamp(1, orig);
            report.applied(Rule::TcpRetransmissionKept);
        }
        let seq = if retransmit { gen_seq } else { st[d].next_seq };
        // Every ACK acknowledges all the peer has sent (its next expected sequence number).
        let ack = if f & flags::ACK == 0 {
            0
        } else {
            st[p].next_seq
        };
        if f & flags::ACK != 0 && after(ack, st[p].acked) {
            st[p].acked = ack;
        }
        if !retransmit {
            let consumed = payload as u32 + u32::from(f & (flags::SYN | flags::FIN) != 0);
            st[d].next_seq = seq.wrapping_add(consumed);
            if payload > 0 {
                st[d].segments.insert(seq, payload as u32);
            }
        }
        if f & flags::FIN != 0 {
            st[d].fin_sent = true;
            last_fin = Some(plans[i].direction);
        }
        let wsize = gen.window().max(1);
        st[d].window = u64::from(wsize) << if f & flags::SYN != 0 { 0 } else { st[d].wscale };
        plans[i].payload_len = payload;
        out.push(TcpPlan {
            seq,
            ack,
            flags: f,
            window: wsize,
            options,
        });
        if f & flags::RST != 0 {
            closed_at = Some(i + 1);
        }
        if closed_at.is_some() {
            break;
        }
    }
    if let Some(end) = closed_at {
        if end < n {
            report.applied(Rule::TcpAfterCloseDropped);
        }
        plans.truncate(end);
        out.truncate(end);
    }
    out
}
