//! A TCP connection being planned, packet by packet: what the SYNs negotiated, each side's
//! state, and the steps that decide one segment (direction, flags, timestamps and options,
//! payload bounds, advance).

use super::options::{scan, segment_options, syn_options, AskedOptions, Negotiated};
use super::side::TcpSide;
use super::{after, Ahead, Opening, Openings, SynOffer, TcpPlan};
use crate::flows::Direction;
use crate::repair::generated::GeneratedRow;
use crate::repair::report::RepairReport;
use crate::repair::rules::Rule;
use crate::repair::settings::RepairSettings;
use crate::repair::{PacketPlan, Side};
use crate::seed::salt;
use crate::wire::tcp::flags::{self, is_bare_syn, is_syn_ack};
use crate::wire::tcp::{offered_mss, DEFAULT_MSS};
use rand::Rng;

/// Index of the side that sends in direction `d`: 0 the client, 1 the server.
pub(super) fn side_of(d: Direction) -> usize {
    usize::from(d == Direction::Backward)
}

/// The direction in which `side` sends.
fn direction_of(side: usize) -> Direction {
    if side == 0 {
        Direction::Forward
    } else {
        Direction::Backward
    }
}

/// One packet of the connection, as the steps decide it.
#[derive(Debug)]
pub(super) struct Segment {
    /// Position in the flow.
    index: usize,
    /// Sending side: 0 the client, 1 the server.
    side: usize,
    /// Position in the opening handshake (0 SYN, 1 SYN-ACK, 2 ACK), for its packets.
    handshake: Option<usize>,
    /// Both sides have sent their FIN: this is the final ACK.
    final_ack: bool,
    /// Time, nanoseconds since the Unix epoch.
    ts_ns: u64,
    /// TCP flags.
    flags: u16,
    /// Payload length: the generated one until the steps bound it.
    payload: usize,
    /// Timestamp value (sent when timestamps were negotiated).
    tsval: u32,
    /// Timestamp echo reply.
    tsecr: u32,
    /// Start of the earlier segment of this side that this one retransmits.
    retransmits: Option<u32>,
}

impl Segment {
    /// Payload length decided.
    pub(super) fn payload(&self) -> usize {
        self.payload
    }

    /// Whether the connection is closed after this segment (the final ACK, or an RST).
    pub(super) fn closes(&self) -> bool {
        self.final_ack || self.flags & flags::RST != 0
    }
}

/// A TCP connection being planned: what was negotiated, and each side's state.
pub(super) struct Connection<'a> {
    /// The generated packets.
    rows: &'a [GeneratedRow],
    /// Client and server: their ISNs and timestamp clocks.
    sides: &'a [Side; 2],
    /// Packets in the flow.
    packets: usize,
    /// Largest IPv4 packet.
    mtu: u16,
    /// Largest MSS a SYN may announce.
    mss_cap: u16,
    /// The flow opens with a SYN, SYN-ACK, ACK handshake.
    handshake: bool,
    /// The flow is a scanner's probe and the target's reset ([`probe_of`]).
    probe: Option<Probe>,
    /// Per side (client, server): the real SYN its handshake packet takes, where the flow was
    /// generated without that SYN and repair was given an opening.
    offers: [Option<&'a SynOffer>; 2],
    /// Options the client's SYN asked for.
    client_syn: AskedOptions,
    /// Options the server's SYN-ACK asked for.
    server_syn: AskedOptions,
    /// What both SYNs agreed on.
    negotiated: Negotiated,
    /// Client, server.
    state: [TcpSide; 2],
    /// Per packet: whether a generated FIN counts (see `honoured_fins`).
    honoured_fin: Vec<bool>,
    /// The side whose FIN came last.
    last_fin: Option<usize>,
    /// Time of the flow's first packet.
    start_ns: u64,
}

/// A scanner's probe that opens no connection, and how the target answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    /// A FIN, Null or Xmas probe (neither SYN, ACK nor RST), answered by a closed port's
    /// RST-ACK with sequence number 0 acknowledging it.
    Stealth,
    /// An ACK probe (a firewall-mapping ACK scan), answered by an RST whose sequence number is
    /// the probe's acknowledgement.
    Ack,
}

/// The probe a flow is, if it is one: at most two packets, the first with neither SYN, ACK
/// nor RST (no segment of a connection but a reset lacks both SYN and ACK); or exactly two, a
/// bare ACK answered by a reset. Under any handshake policy such a flow opens no connection:
/// its probe keeps its flags (FIN, PSH and URG; or ACK alone) and no data, and a second packet
/// is the target's reset.
pub(super) fn probe_of(rows: &[GeneratedRow]) -> Option<Probe> {
    let first = rows[0].tcp().flags();
    let bare_ack = first & (flags::SYN | flags::FIN | flags::RST) == 0 && first & flags::ACK != 0;
    if rows.len() <= 2 && first & (flags::SYN | flags::ACK | flags::RST) == 0 {
        Some(Probe::Stealth)
    } else if rows.len() == 2 && bare_ack && rows[1].tcp().flags() & flags::RST != 0 {
        Some(Probe::Ack)
    } else {
        None
    }
}

/// The real SYNs the handshake's made packets take (client, server; `made` says which sides
/// repair makes): one of `openings`, drawn among those with which the handshake negotiates
/// timestamps exactly when `timestamps()` says (most generated packets carry them), else among
/// all. Nothing is counted or drawn where there is nothing to choose.
fn pick_opening<'a>(
    rows: &[GeneratedRow],
    made: [bool; 2],
    timestamps: impl FnOnce() -> bool,
    openings: Openings<'a>,
) -> [Option<&'a SynOffer>; 2] {
    if openings.all.is_empty() || made == [false, false] {
        return [None, None];
    }
    let timestamps = timestamps();
    let generated_ts = |i: usize| {
        rows.get(i)
            .is_some_and(|r| scan(r.tcp_options()).ts.is_some())
    };
    let agrees = |o: &&Opening| {
        let client = if made[0] {
            scan(&o.client.options).ts.is_some()
        } else {
            generated_ts(0)
        };
        let server = if made[1] {
            scan(&o.server.options).ts.is_some()
        } else {
            generated_ts(1)
        };
        (client && server) == timestamps
    };
    let fitting: Vec<&Opening> = openings.all.iter().filter(agrees).collect();
    let pool: Vec<&Opening> = if fitting.is_empty() {
        openings.all.iter().collect()
    } else {
        fitting
    };
    let draw: u64 = crate::seed::rng(openings.seed, salt::FLOW_OPENINGS, openings.flow).random();
    let o = pool[(draw % pool.len() as u64) as usize];
    [made[0].then_some(&o.client), made[1].then_some(&o.server)]
}

/// Per packet: whether a generated FIN there counts, which it does only when its side sends
/// no more data afterwards; elsewhere it is generation noise that would cut the flow.
fn honoured_fins(rows: &[GeneratedRow], plans: &[PacketPlan]) -> Vec<bool> {
    (0..plans.len())
        .map(|i| {
            let d = plans[i].direction;
            rows[i].tcp().flags() & flags::FIN != 0
                && !plans[i + 1..]
                    .iter()
                    .any(|p| p.direction == d && p.payload_len > 0)
        })
        .collect()
}

impl<'a> Connection<'a> {
    /// Negotiates the connection: whether it opens with a handshake (one repair put `ahead`
    /// of the generated packets, or the flow's own SYN), and the options both SYNs agree on
    /// (without a handshake: timestamps when most generated packets carry them, SACK, no
    /// window scaling). Where repair made the SYN or the SYN-ACK (or the flow's second packet
    /// is no SYN-ACK), that packet offers the window and options of one of `openings` where
    /// there are any — one that negotiates timestamps exactly when most generated packets carry
    /// them, so that its data segments keep theirs (or stay without) — else those of the
    /// generated packet it is made from.
    pub(super) fn negotiate(
        rows: &'a [GeneratedRow],
        plans: &[PacketPlan],
        ahead: Ahead,
        settings: &RepairSettings,
        sides: &'a [Side; 2],
        openings: Openings<'a>,
        report: &mut RepairReport,
    ) -> Connection<'a> {
        let probe = probe_of(rows);
        let handshake =
            probe.is_none() && (ahead.makes_syn() || is_bare_syn(rows[0].tcp().flags()));
        if ahead.makes_syn() {
            report.applied(Rule::TcpHandshake);
        }
        let syn_ack = rows.get(1).is_some_and(|r| is_syn_ack(r.tcp().flags()));
        let made = [
            ahead.makes_syn(),
            handshake && (ahead == Ahead::Handshake || !syn_ack),
        ];
        let most_carry_ts = || {
            let with_ts = rows
                .iter()
                .filter(|r| scan(r.tcp_options()).ts.is_some())
                .count();
            with_ts * 2 > rows.len()
        };
        let offers = pick_opening(rows, made, most_carry_ts, openings);
        let client_syn = match offers[0] {
            Some(o) => scan(&o.options),
            None => scan(rows[0].tcp_options()),
        };
        let server_syn = match offers[1] {
            Some(o) => scan(&o.options),
            None => rows.get(1).map_or(client_syn, |r| scan(r.tcp_options())),
        };
        let negotiated = if handshake {
            Negotiated {
                timestamps: client_syn.ts.is_some() && server_syn.ts.is_some(),
                window_scale: client_syn.wscale.is_some() && server_syn.wscale.is_some(),
                sack: client_syn.sack_ok && server_syn.sack_ok,
            }
        } else {
            Negotiated {
                timestamps: most_carry_ts(),
                window_scale: false,
                sack: true,
            }
        };
        let wscale = |asked: &AskedOptions| {
            if negotiated.window_scale {
                asked.wscale.unwrap_or(0).min(14)
            } else {
                0
            }
        };
        Connection {
            rows,
            sides,
            packets: plans.len(),
            mtu: settings.mtu,
            mss_cap: settings.mtu.saturating_sub(40).max(DEFAULT_MSS),
            handshake,
            probe,
            offers,
            client_syn,
            server_syn,
            negotiated,
            state: [
                TcpSide::new(&sides[0], wscale(&client_syn)),
                TcpSide::new(&sides[1], wscale(&server_syn)),
            ],
            honoured_fin: honoured_fins(rows, plans),
            last_fin: None,
            start_ns: plans[0].ts_ns,
        }
    }

    /// The real SYN that the segment, a SYN or SYN-ACK of a handshake repair makes, takes.
    fn offer(&self, seg: &Segment) -> Option<&'a SynOffer> {
        match seg.handshake {
            Some(h @ 0..=1) => self.offers[h],
            _ => None,
        }
    }

    /// Step 1, direction: who sends packet `index`. The handshake's packets and the final ACK
    /// (from the peer of the side whose FIN came last) are moved to their sender.
    pub(super) fn direction(
        &self,
        index: usize,
        plan: &mut PacketPlan,
        report: &mut RepairReport,
    ) -> Segment {
        let handshake = (self.handshake && index < 3).then_some(index);
        let opening = handshake.or((self.probe.is_some() && index < 2).then_some(index));
        if let Some(step) = opening {
            let want = if step == 1 {
                Direction::Backward
            } else {
                Direction::Forward
            };
            if plan.direction != want {
                plan.direction = want;
                report.applied(Rule::TcpHandshakeDirection);
            }
        }
        let final_ack = self.state[0].fin_sent && self.state[1].fin_sent;
        if final_ack {
            if let Some(last) = self.last_fin {
                let want = direction_of(1 - last);
                if plan.direction != want {
                    plan.direction = want;
                    report.applied(Rule::TcpFinalAckDirection);
                }
            }
        }
        Segment {
            index,
            side: side_of(plan.direction),
            handshake,
            final_ack,
            ts_ns: plan.ts_ns,
            flags: 0,
            payload: plan.payload_len,
            tsval: 0,
            tsecr: 0,
            retransmits: None,
        }
    }

    /// Step 2, flags: the handshake's, else ACK with the generated PSH, FIN and RST where they
    /// belong (an RST only on the last packet, a FIN only after its side's last data, neither
    /// once the side has closed). A generated RST that ends the flow inside the handshake ends
    /// it there: answering the SYN, the server refuses the connection (RST-ACK, a closed port);
    /// answering the SYN-ACK, the client aborts a half-open connection (RST, as SYN scans and
    /// SYN floods do). A SYN, an RST or a closed side carries no payload, and PSH goes with a
    /// payload. A probe ([`probe_of`]) keeps its FIN, PSH and URG (Xmas: all three; Null: none)
    /// or its bare ACK and carries no payload; its answer is an RST-ACK, or an RST to an ACK.
    pub(super) fn flags(&self, seg: &mut Segment, report: &mut RepairReport) {
        let i = seg.index;
        let generated = self.rows[i].tcp().flags();
        let resets = generated & flags::RST != 0 && i + 1 == self.packets;
        let mut f = match seg.handshake {
            Some(0) => flags::SYN,
            Some(1) if resets => flags::RST | flags::ACK,
            Some(1) => flags::SYN | flags::ACK,
            Some(_) if resets => flags::RST,
            Some(_) => flags::ACK,
            None => match self.probe {
                Some(Probe::Stealth) if i == 0 => {
                    generated & (flags::FIN | flags::PSH | flags::URG)
                }
                Some(Probe::Stealth) => flags::RST | flags::ACK,
                Some(Probe::Ack) if i == 0 => flags::ACK,
                Some(Probe::Ack) => flags::RST,
                None => flags::ACK | (generated & (flags::PSH | flags::FIN | flags::RST)),
            },
        };
        if f & flags::RST != 0 && i + 1 < self.packets {
            f &= !flags::RST;
            report.applied(Rule::TcpRstNotLast);
        }
        if f & flags::FIN != 0 && !self.honoured_fin[i] {
            f &= !flags::FIN;
            report.applied(Rule::TcpFinBeforeData);
        }
        let closed = seg.final_ack || self.state[seg.side].fin_sent;
        if closed {
            f &= !(flags::FIN | flags::PSH);
        }
        if f & (flags::SYN | flags::RST) != 0 || closed || self.probe.is_some() {
            seg.payload = 0;
        }
        if seg.payload == 0 && self.probe != Some(Probe::Stealth) {
            f &= !flags::PSH;
        }
        seg.flags = f;
    }

    /// Step 3, timestamps: TSval is the generated one when it does not go back, else the
    /// side's clock; TSecr is the generated one when it echoes a TSval the peer really sent
    /// and does not go back, else the peer's latest TSval (0 without ACK). The side records
    /// them when timestamps were negotiated.
    pub(super) fn timestamps(&mut self, seg: &mut Segment) {
        let (me, peer) = (&self.state[seg.side], &self.state[1 - seg.side]);
        let elapsed_ms = (seg.ts_ns.saturating_sub(self.start_ns) / 1_000_000) as u32;
        let generated = scan(self.rows[seg.index].tcp_options()).ts;
        let tsval = match generated {
            Some((v, _)) if !after(me.last_tsval, v) => v,
            _ => self.sides[seg.side]
                .ts_base
                .wrapping_add(elapsed_ms)
                .max(me.last_tsval),
        };
        let tsecr = match generated {
            Some((_, e))
                if seg.flags & flags::SYN == 0
                    && peer.sent_tsvals.contains(&e)
                    && !after(me.last_tsecr, e) =>
            {
                e
            }
            _ if seg.flags & flags::ACK == 0 => 0,
            _ => peer.last_tsval,
        };
        if self.negotiated.timestamps {
            self.state[seg.side].record_timestamps(tsval, tsecr);
        }
        seg.tsval = tsval;
        seg.tsecr = tsecr;
    }

    /// Step 4, options: a SYN's (the client offers what it asked for; the server accepts only
    /// what both support), else those of an established segment (timestamps as negotiated,
    /// SACK blocks inside the data the peer sent).
    pub(super) fn options(&self, seg: &Segment) -> Vec<u8> {
        let generated = match self.offer(seg) {
            Some(o) => o.options.as_slice(),
            None => self.rows[seg.index].tcp_options(),
        };
        if seg.flags & flags::SYN != 0 {
            let (asked, allowed) = if seg.side == 0 {
                let a = self.client_syn;
                let offer = Negotiated {
                    timestamps: a.ts.is_some(),
                    window_scale: a.wscale.is_some(),
                    sack: a.sack_ok,
                };
                (a, offer)
            } else {
                (self.server_syn, self.negotiated)
            };
            syn_options(
                generated,
                &asked,
                &allowed,
                self.mss_cap,
                asked.wscale.unwrap_or(0).min(14),
                seg.tsval,
                seg.tsecr,
            )
        } else {
            let peer = &self.state[1 - seg.side];
            segment_options(
                generated,
                &self.negotiated,
                seg.tsval,
                seg.tsecr,
                (peer.acked, peer.next_seq),
            )
        }
    }

    /// Step 5, payload bounds: within the MTU after the headers and `options_len` option bytes,
    /// within the MSS the peer's SYN offered less those option bytes (a firewall that enforces
    /// it drops a larger segment), strictly below the peer's window less the bytes in flight (a
    /// segment that fills it exactly is flagged by analysers), and no longer than the segment
    /// it retransmits.
    pub(super) fn payload_bounds(
        &self,
        seg: &mut Segment,
        options_len: usize,
        report: &mut RepairReport,
    ) {
        let (me, peer) = (&self.state[seg.side], &self.state[1 - seg.side]);
        let max_payload = usize::from(self.mtu).saturating_sub(20 + 20 + options_len);
        if seg.payload > max_payload {
            seg.payload = max_payload;
            report.applied(Rule::LengthClamp);
        }
        // The MSS counts data alone: a sender's own TCP options come out of it (RFC 6691).
        if let Some(mss) = peer.mss {
            let max_data = usize::from(mss).saturating_sub(options_len);
            if seg.payload > max_data {
                seg.payload = max_data;
                report.applied(Rule::TcpMssBound);
            }
        }
        let room = peer.window.saturating_sub(me.in_flight() + 1) as usize;
        if seg.payload > room {
            seg.payload = room;
            report.applied(Rule::TcpWindowBound);
        }
        // A generated segment that starts where an earlier one of this side started is a
        // retransmission: same sequence number, no more data than the original.
        if seg.handshake.is_none() && seg.flags & (flags::FIN | flags::RST) == 0 {
            let generated_seq = self.rows[seg.index].tcp().seq();
            if let Some(original) = me.retransmission_at(generated_seq) {
                seg.payload = seg.payload.clamp(1, original as usize);
                seg.retransmits = Some(generated_seq);
                report.applied(Rule::TcpRetransmissionKept);
            }
        }
    }

    /// Step 6, advance: the segment's sequence number (the side's next, or the one it
    /// retransmits) and acknowledgement (all the peer has sent), its window (the side's last for
    /// a generated reset step 2 made an ACK; raised where it cannot hold the `ahead` bytes the
    /// peer's generated segments carry before this side's next one: the generated data goes out
    /// whole, as the window bound would otherwise cut it), then both sides' state moves past it.
    pub(super) fn advance(
        &mut self,
        seg: &Segment,
        options: Vec<u8>,
        ahead: u64,
        report: &mut RepairReport,
    ) -> TcpPlan {
        let f = seg.flags;
        // A reset refusing a SYN or answering a stealth probe has sequence number zero: the
        // segment it answers carried no ACK to take it from (RFC 9293 3.10.7.1). One answering
        // an ACK probe takes the probe's acknowledgement, which is this side's next sequence
        // number.
        let refuses =
            (seg.handshake == Some(1) || self.probe == Some(Probe::Stealth)) && f & flags::RST != 0;
        let seq = match seg.retransmits {
            _ if refuses => 0,
            Some(start) => start,
            None => self.state[seg.side].next_seq,
        };
        let peer = &mut self.state[1 - seg.side];
        let ack = if f & flags::ACK == 0 {
            0
        } else {
            peer.record_acked(peer.next_seq);
            peer.next_seq
        };
        let generated = self.rows[seg.index].tcp();
        let last_window = self.state[seg.side].last_window_field;
        let mut window = match self.offer(seg) {
            Some(o) => o.window,
            // A generated reset that step 2 made an ACK (a reset only ends a flow) advertises
            // the side's last window, as the stack's ACK would: a reset's window says nothing
            // of a receive buffer, and the network draws it so (1, 0).
            None if generated.flags() & flags::RST != 0 && f & flags::RST == 0 => {
                last_window.unwrap_or_else(|| generated.window())
            }
            None => generated.window(),
        };
        // A zero window would stall the peer's data; a reset closes the connection, and real
        // stacks send theirs with a window of 0.
        if f & flags::RST == 0 {
            window = window.max(1);
        }
        let me = &mut self.state[seg.side];
        // The peer's bytes in flight are all acknowledged by this segment; strictly below the
        // window, as the bound asks.
        let need = ahead + 1;
        if f & (flags::SYN | flags::RST) == 0 && f & flags::ACK != 0 {
            let unit = 1u64 << me.wscale;
            if u64::from(window) * unit < need {
                window = need.div_ceil(unit).min(u64::from(u16::MAX)) as u16;
                report.applied(Rule::TcpWindowRaised);
            }
        }
        if seg.retransmits.is_none() {
            me.record_sent(seq, f, seg.payload);
        }
        if f & flags::FIN != 0 {
            me.fin_sent = true;
            self.last_fin = Some(seg.side);
        }
        me.record_window(window, f);
        if f & flags::SYN != 0 {
            me.mss = Some(offered_mss(&options));
        }
        TcpPlan {
            seq,
            ack,
            flags: f,
            window,
            options,
        }
    }
}
