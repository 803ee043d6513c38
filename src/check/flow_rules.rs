//! Inter-packet rules: per flow and per direction, in capture order (the payload bytes a
//! retransmission repeats are compared in [`super::overlap`]).
//!
//! Flows are keyed as the flow stage keys them (protocol and the unordered pair of endpoints),
//! except that ICMP is keyed by the address pair alone so that a changing echo identifier is
//! visible. A pure SYN after a closed, reset or idle connection starts a new connection, as in
//! the flow table.

use super::overlap::SentBytes;
use super::packet_rules::{Endpoints, PacketFacts, TcpFacts, Transport};
use super::{Rule, Sink};
use crate::wire::tcp::flags;
use crate::wire::IpProtocol;
use std::collections::HashMap;
use std::net::Ipv4Addr;

type Key = (IpProtocol, (Ipv4Addr, u16), (Ipv4Addr, u16));

/// `a` after `b` in sequence-number space (RFC 1982 serial arithmetic).
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Per-direction TCP state.
#[derive(Debug, Default)]
struct TcpSide {
    /// Sequence number of this side's first SYN.
    isn: Option<u32>,
    sent_non_syn: bool,
    /// Highest sequence number this side has used, plus one.
    max_end: Option<u32>,
    /// Start and end of the last segment that occupied sequence space.
    last_seg: Option<(u32, u32)>,
    /// After a SYN or FIN: the segment's start, where the next segment would start had the flag
    /// consumed nothing, and its flags.
    pending_flag: Option<(u32, u32, u16)>,
    /// Start of the FIN segment and the FIN's own sequence number.
    fin: Option<(u32, u32)>,
    fin_acked: bool,
    rst: bool,
    /// The MSS this side's SYN offered (the default 536 when it offered none).
    mss: Option<u16>,
    /// The payload bytes sent over the last 64 KiB of sequence space.
    sent: SentBytes,
}

#[derive(Debug, Default)]
struct Side {
    ttl: Option<u8>,
    ident: Option<u16>,
    tcp: TcpSide,
}

#[derive(Debug)]
struct FlowState {
    last_ns: u64,
    all_zero: bool,
    first_record: u64,
    first_ends: Endpoints,
    packets: u64,
    /// Index 0: the side that sent the first packet.
    sides: [Side; 2],
    first_src: (Ipv4Addr, u16),
    echo_ident: Option<u16>,
}

impl FlowState {
    fn new(ts_ns: u64, record: u64, ends: Endpoints) -> FlowState {
        FlowState {
            last_ns: ts_ns,
            all_zero: true,
            first_record: record,
            first_ends: ends,
            packets: 0,
            sides: [Side::default(), Side::default()],
            first_src: (ends.src, ends.sport),
            echo_ident: None,
        }
    }

    /// Both FINs sent and acknowledged.
    fn fins_done(&self) -> bool {
        let [a, b] = &self.sides;
        a.tcp.fin_acked && b.tcp.fin_acked
    }

    /// Closed by FINs or reset: a pure SYN now opens a new connection.
    fn closed(&self) -> bool {
        let [a, b] = &self.sides;
        self.fins_done() || a.tcp.rst || b.tcp.rst
    }
}

/// The flow state of a whole capture.
#[derive(Debug, Default)]
pub(crate) struct FlowRules {
    flows: HashMap<Key, FlowState>,
    idle_timeout_ns: u64,
}

impl FlowRules {
    pub fn new(idle_timeout_ns: u64) -> FlowRules {
        FlowRules {
            flows: HashMap::new(),
            idle_timeout_ns,
        }
    }

    /// Applies the inter-packet rules to one packet.
    pub fn add(&mut self, p: &PacketFacts<'_>, ts_ns: u64, sink: &mut Sink<'_>) {
        let e = p.ends;
        let (a, b) = match p.transport {
            Transport::Icmp { .. } | Transport::Other => ((e.src, 0), (e.dst, 0)),
            _ => ((e.src, e.sport), (e.dst, e.dport)),
        };
        let key: Key = if a <= b {
            (e.proto, a, b)
        } else {
            (e.proto, b, a)
        };
        let pure_syn = matches!(p.transport, Transport::Tcp(t) if flags::is_bare_syn(t.flags));
        let idle = self.idle_timeout_ns;
        let restart = self
            .flows
            .get(&key)
            .is_some_and(|f| ts_ns.saturating_sub(f.last_ns) > idle || (pure_syn && f.closed()));
        if restart {
            if let Some(old) = self.flows.remove(&key) {
                finish_flow(&old, sink);
            }
        }
        let flow = self.flows.entry(key).or_insert_with(|| {
            sink.new_flow();
            FlowState::new(ts_ns, sink.record(), e)
        });
        flow.packets += 1;
        flow.last_ns = flow.last_ns.max(ts_ns);
        flow.all_zero &= ts_ns == 0;
        let dir = usize::from(a != flow.first_src);

        let side = &mut flow.sides[dir];
        if let Some(prev) = side.ttl.replace(p.ttl) {
            if prev != p.ttl {
                sink.hit(Rule::TtlChanged, || format!("TTL {} after {prev}", p.ttl));
            }
        }
        if let Some(prev) = side.ident.replace(p.ident) {
            if p.ident != prev.wrapping_add(1) {
                sink.hit(Rule::IpIdNotIncrementing, || {
                    format!("IP ID {} after {prev}", p.ident)
                });
            }
        }
        match p.transport {
            Transport::Icmp {
                echo_ident: Some(id),
            } => {
                if let Some(prev) = flow.echo_ident.replace(id) {
                    if prev != id {
                        sink.hit(Rule::IcmpEchoIdentChanged, || {
                            format!("echo identifier {id} after {prev}")
                        });
                    }
                }
            }
            Transport::Tcp(t) => {
                let reopened = tcp_rules(flow, dir, &t, sink);
                if reopened {
                    // A new connection reusing the endpoints of an open one: report once
                    // (done above) and judge it on its own from here.
                    let mut fresh = FlowState::new(ts_ns, sink.record(), e);
                    fresh.packets = 1;
                    fresh.all_zero = ts_ns == 0;
                    fresh.sides[0].ttl = Some(p.ttl);
                    fresh.sides[0].ident = Some(p.ident);
                    if let Some(old) = self.flows.insert(key, fresh) {
                        finish_flow(&old, sink);
                    }
                    sink.new_flow();
                    if let Some(f) = self.flows.get_mut(&key) {
                        tcp_rules(f, 0, &t, sink);
                    }
                }
            }
            _ => {}
        }
    }

    /// Applies the rules that need a whole flow, once every packet is in.
    pub fn finish(self, sink: &mut Sink<'_>) {
        let mut flows: Vec<FlowState> = self.flows.into_values().collect();
        flows.sort_by_key(|f| f.first_record);
        for f in &flows {
            finish_flow(f, sink);
        }
    }
}

fn finish_flow(f: &FlowState, sink: &mut Sink<'_>) {
    if f.all_zero {
        sink.hit_at(Rule::TimestampsZero, f.first_record, f.first_ends, || {
            format!("all {} packets of the flow at time 0", f.packets)
        });
    }
}

/// The TCP rules for a segment from side `dir`; true when it is a pure SYN that opens a new
/// connection over an open one (already reported), so the caller starts a fresh state.
fn tcp_rules(flow: &mut FlowState, dir: usize, t: &TcpFacts<'_>, sink: &mut Sink<'_>) -> bool {
    let closed = flow.fins_done();
    let [s0, s1] = &mut flow.sides;
    let (me, peer) = if dir == 0 {
        (&mut s0.tcp, &mut s1.tcp)
    } else {
        (&mut s1.tcp, &mut s0.tcp)
    };
    let has = |f: u16| t.flags & f != 0;
    let (syn, fin, rst, ack) = (
        has(flags::SYN),
        has(flags::FIN),
        has(flags::RST),
        has(flags::ACK),
    );
    let short_end = t.seq.wrapping_add(t.payload_len);
    let end = short_end
        .wrapping_add(u32::from(syn))
        .wrapping_add(u32::from(fin));

    if syn {
        let repeated = match me.isn {
            Some(isn) => isn != t.seq,
            None => me.sent_non_syn,
        };
        if repeated {
            sink.hit(Rule::TcpUnexpectedSyn, || match me.isn {
                Some(isn) => format!("SYN seq {} after SYN seq {isn}", t.seq),
                None => format!("SYN seq {} after non-SYN segments", t.seq),
            });
            if !ack {
                return true;
            }
        } else {
            me.isn = Some(t.seq);
            me.mss = t.syn_mss;
        }
    }
    if let Some(mss) = peer.mss {
        // The MSS counts data alone: the sender's own TCP options come out of it (RFC 6691).
        if t.payload_len + t.options_len > u32::from(mss) {
            sink.hit(Rule::TcpExceedsMss, || {
                format!(
                    "{} bytes of data and {} of options, the peer's SYN offered an MSS of {mss}",
                    t.payload_len, t.options_len
                )
            });
        }
    }

    if let Some((start, unflagged_end, pflags)) = me.pending_flag {
        let ctl = flags::SYN | flags::FIN;
        let retransmission =
            t.seq == start && (start != unflagged_end || t.flags & ctl == pflags & ctl);
        if !retransmission && !seq_gt(unflagged_end, t.seq) {
            // A RST takes its sequence number from the ACK it answers (RFC 9293 3.10.7.1),
            // which may not cover the FIN.
            if t.seq == unflagged_end && !rst {
                sink.hit(Rule::TcpSynFinSequence, || {
                    let which = if pflags & flags::SYN != 0 {
                        "SYN"
                    } else {
                        "FIN"
                    };
                    format!(
                        "seq {}: the {which} of the segment at {start} consumed no sequence number",
                        t.seq
                    )
                });
            }
            me.pending_flag = None;
        }
    }
    if let Some((_, fin_at)) = me.fin {
        if seq_gt(end, fin_at.wrapping_add(1)) {
            sink.hit(Rule::TcpDataAfterFin, || {
                format!("sequence space up to {end} after the FIN at {fin_at}")
            });
        }
    }
    if me.rst && !rst {
        sink.hit(Rule::TcpPacketAfterRst, || {
            "packet after this side's RST".into()
        });
    }
    let adds_space = me.max_end.is_none_or(|m| seq_gt(end, m));
    // A RST is the prescribed answer to a segment reaching a closed connection; the segment
    // that provoked it is the one reported.
    if closed && adds_space && !rst {
        sink.hit(Rule::TcpPacketAfterClose, || {
            "new sequence space after both FINs were acknowledged".into()
        });
    }

    if ack {
        check_ack(t.ack, peer, sink);
    }
    check_overlap(me, t, sink);

    if !syn {
        me.sent_non_syn = true;
    }
    if adds_space {
        me.max_end = Some(end);
    }
    if end != t.seq {
        me.last_seg = Some((t.seq, end));
    }
    if (syn || fin) && me.pending_flag.is_none() && adds_space {
        me.pending_flag = Some((t.seq, short_end, t.flags));
    }
    if fin && me.fin.is_none() {
        me.fin = Some((t.seq, short_end));
    }
    me.rst |= rst;
    false
}

/// Compares a segment's payload with the bytes its side sent before at the same sequence
/// numbers, then remembers it. A RST's payload is diagnostic text, not stream data; a
/// keep-alive probe (RFC 9293 3.8.4) may carry one garbage byte just below the next sequence
/// number.
fn check_overlap(me: &mut TcpSide, t: &TcpFacts<'_>, sink: &mut Sink<'_>) {
    if t.payload.is_empty() || t.flags & flags::RST != 0 {
        return;
    }
    let keep_alive = t.flags & (flags::SYN | flags::FIN) == 0
        && t.payload_len <= 1
        && me.max_end == Some(t.seq.wrapping_add(1));
    if keep_alive {
        return;
    }
    // A SYN occupies the first sequence number; its data follows.
    let start = t.seq.wrapping_add(u32::from(t.flags & flags::SYN != 0));
    if let Some(c) = me.sent.add(start, t.payload) {
        sink.hit(Rule::TcpConflictingOverlap, || {
            format!(
                "{} of {} bytes overlapping data sent before differ, the first at seq {}",
                c.differing, c.overlapping, c.first
            )
        });
    }
}

fn check_ack(ack: u32, peer: &mut TcpSide, sink: &mut Sink<'_>) {
    let Some(max_end) = peer.max_end else {
        return;
    };
    // Without the peer's SYN its next sequence number is unknown: a keep-alive probe
    // (RFC 9293 3.8.4) sits one below it and is answered one above.
    let slack = u32::from(peer.isn.is_none());
    if seq_gt(ack, max_end.wrapping_add(slack)) {
        sink.hit(Rule::TcpAckBeyondSent, || {
            format!("ack {ack}, the peer has sent up to {max_end}")
        });
    } else if peer.isn == Some(ack) {
        sink.hit(Rule::TcpSynFinNotAcked, || {
            format!("ack {ack} is the peer's ISN: its SYN is not acknowledged")
        });
    } else if peer
        .fin
        .is_some_and(|(start, fin_at)| start != fin_at && ack == fin_at)
    {
        sink.hit(Rule::TcpSynFinNotAcked, || {
            format!("ack {ack} acknowledges the peer's FIN segment but not its FIN")
        });
    } else if peer.last_seg.is_some_and(|(start, _)| start == ack) {
        sink.hit(Rule::TcpAckStale, || {
            format!("ack {ack} is the start of the peer's last segment")
        });
    }
    if let Some((_, fin_at)) = peer.fin {
        if !seq_gt(fin_at.wrapping_add(1), ack) {
            peer.fin_acked = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::seq_gt;

    #[test]
    fn serial_comparison_wraps() {
        assert!(seq_gt(1, 0));
        assert!(seq_gt(5, u32::MAX - 5));
        assert!(!seq_gt(u32::MAX - 5, 5));
        assert!(!seq_gt(7, 7));
    }
}
