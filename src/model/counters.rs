//! Where a generated flow's per-connection counters start: each side's TCP sequence numbers,
//! TCP timestamp clock and IPv4 identification.
//!
//! Many stacks start these at a value of their own for every connection (RFC 6528's sequence
//! numbers, Linux's per-connection timestamp offset and per-socket IP ID base), so that across
//! such a class's real flows each of their bits is set about half the time. Others do not: a
//! stack whose timestamps are its uptime gives every connection of a capture the same clock, a
//! port scanner sends its probes with a handful of sequence numbers. The network draws the
//! counters bit by bit like any other field and lands near the values of the few flows it
//! learned them from: of 100 generated lab bulk downloads, 14 bits of 32 in the client's ISN
//! were set in more than 85 % or fewer than 15 % of the flows. Where the class's stacks start
//! anew per connection, a classifier trained on such flows learns those bits as a mark of the
//! class, one no real flow carries.
//!
//! So the card records, per class and side, which counters its real flows start anew
//! ([`FreshCounters`]: the first values' high bytes spread over about as many values as random
//! draws would give), and sampling moves each such counter of a side, all its values by the
//! same amount, to a start drawn from the flow's own stream: what the flow does with it (data
//! sent, retransmissions, echoed timestamps, identifications counting up) is kept, only where
//! it starts is new. Counters the class's flows share or repeat stay as the network draws
//! them. An identification of 0 stays 0: stacks write it on purpose (Linux's SYN-ACKs, atomic
//! datagrams).

use super::template::{byte, IP_PROTOCOL, TCP_DATA_OFFSET};
use crate::nprint::layout::{Bit, MODEL_WIDTH};
use crate::wire::tcp::option_kind;
use crate::wire::IpProtocol;
use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Model-layout position of the IPv4 identification.
const IP_IDENT: usize = 32;
/// Model-layout positions of the TCP sequence and acknowledgement numbers.
const TCP_SEQ: usize = 416 + 32;
const TCP_ACK: usize = 416 + 64;
/// Model-layout position of the TCP options.
const TCP_OPTIONS: usize = 416 + 160;

/// The counters, in the order [`FreshCounters`] and a flow's starts keep them.
const SEQ: usize = 0;
const TSVAL: usize = 1;
const IDENT: usize = 2;
/// Their widths in bits.
const WIDTHS: [u32; 3] = [32, 32, 16];

/// First values a side needs across a class's flows for the card to tell whether its
/// counters start anew per connection; with fewer they stay as the network draws them.
pub const MIN_FLOWS: usize = 6;

/// Which counters a class's real flows start anew on every connection, each for the flow's
/// initiator and responder (forward side first). A card made before it existed has none: every
/// counter as the network draws it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshCounters {
    /// TCP sequence numbers.
    pub seq: [bool; 2],
    /// TCP timestamp values.
    pub tsval: [bool; 2],
    /// IPv4 identifications.
    pub ident: [bool; 2],
}

impl FreshCounters {
    fn get(&self, counter: usize, side: usize) -> bool {
        [self.seq, self.tsval, self.ident][counter][side]
    }
}

/// The first value of each counter in each direction of a class's real flows, collected flow by
/// flow to make its [`FreshCounters`].
#[derive(Debug, Default)]
pub struct CounterFirsts {
    /// `values[side][counter]`: one value a flow that had one.
    values: [[Vec<u32>; 3]; 2],
    /// Whether the current flow gave `[side][counter]` its value yet.
    taken: [[bool; 3]; 2],
}

impl CounterFirsts {
    /// Starts the next flow.
    pub fn next_flow(&mut self) {
        self.taken = Default::default();
    }

    /// Takes what the current flow's packet `row` (model layout), sent in the direction
    /// `backward` says, gives first.
    pub fn push(&mut self, row: &[Bit], backward: bool) {
        let side = usize::from(backward);
        for (counter, field) in fields_of(row).0.into_iter().enumerate() {
            if let Some((_, v)) = field.filter(|_| !self.taken[side][counter]) {
                self.values[side][counter].push(v);
                self.taken[side][counter] = true;
            }
        }
    }

    /// Which counters start anew: those whose first values' high bytes take at least half as
    /// many distinct values as as many uniform draws would (a shared clock or a scanner's few
    /// sequence numbers take one or a handful).
    pub fn finish(self) -> FreshCounters {
        let fresh = |side: usize, counter: usize| {
            let values = &self.values[side][counter];
            let n = values.len();
            if n < MIN_FLOWS {
                return false;
            }
            let shift = WIDTHS[counter] - 8;
            let high: std::collections::HashSet<u32> = values.iter().map(|v| v >> shift).collect();
            let expected = 256.0 * (1.0 - (255.0f64 / 256.0).powi(n.min(100_000) as i32));
            high.len() as f64 >= expected / 2.0
        };
        let both = |counter: usize| [fresh(0, counter), fresh(1, counter)];
        FreshCounters {
            seq: both(SEQ),
            tsval: both(TSVAL),
            ident: both(IDENT),
        }
    }
}

/// One flow's counter starts, for the counters its class starts anew, and, once each side's
/// first value is seen, how far its values move.
#[derive(Debug, Clone)]
pub struct Counters {
    /// `starts[side][counter]`: `None` for a counter left as drawn.
    starts: [[Option<u32>; 3]; 2],
    shifts: [[Option<u32>; 3]; 2],
}

impl Counters {
    /// A flow's counters: a start drawn from `rng` for each counter `fresh` names (forward side
    /// first; every start drawn either way, so that one counter's start does not depend on
    /// which others are fresh).
    pub fn new(fresh: &FreshCounters, rng: &mut StdRng) -> Counters {
        let mut starts = [[None; 3]; 2];
        for (side, starts) in starts.iter_mut().enumerate() {
            for (counter, start) in starts.iter_mut().enumerate() {
                let drawn = rng.random::<u32>() >> (32 - WIDTHS[counter]);
                *start = fresh.get(counter, side).then_some(drawn);
            }
        }
        Counters {
            starts,
            shifts: [[None; 3]; 2],
        }
    }

    /// Moves the counters of `row` (model layout), the flow's next packet, sent in the
    /// direction `backward` says. A field with a vacant bit is left as it is.
    pub fn apply(&mut self, row: &mut [Bit], backward: bool) {
        debug_assert_eq!(row.len(), MODEL_WIDTH);
        let (me, peer) = (usize::from(backward), usize::from(!backward));
        let (fields, ts_at) = fields_of(row);
        for (counter, field) in fields.into_iter().enumerate() {
            let (Some((at, v)), Some(start)) = (field, self.starts[me][counter]) else {
                continue;
            };
            let mask = u32::MAX >> (32 - WIDTHS[counter]);
            let shift = *self.shifts[me][counter].get_or_insert(start.wrapping_sub(v) & mask);
            write(
                row,
                at,
                WIDTHS[counter] as usize,
                v.wrapping_add(shift) & mask,
            );
        }
        if fields[SEQ].is_none() {
            return;
        }
        // An acknowledgement counts in the peer's sequence space, an echo on its clock; one made
        // before the peer sent anything echoes nothing it sent and is left for repair to make,
        // and a SYN's echo of 0 stays 0.
        if let (Some(ack), Some(shift)) = (read(row, TCP_ACK, 32), self.shifts[peer][SEQ]) {
            write(row, TCP_ACK, 32, ack.wrapping_add(shift));
        }
        if let Some(at) = ts_at {
            let echo = read(row, at + 32, 32).filter(|&e| e != 0);
            if let (Some(tsecr), Some(shift)) = (echo, self.shifts[peer][TSVAL]) {
                write(row, at + 32, 32, tsecr.wrapping_add(shift));
            }
        }
    }
}

/// Where the sequence number, TSval and identification (when not 0) of `row` (model layout) sit,
/// and their values, where it has them whole; and where its timestamps option's TSval sits (for
/// a TCP segment that has one, whole or not).
fn fields_of(row: &[Bit]) -> ([Option<(usize, u32)>; 3], Option<usize>) {
    let at = |first: usize, bits: usize| read(row, first, bits).map(|v| (first, v));
    let ident = at(IP_IDENT, 16).filter(|&(_, v)| v != 0);
    if IpProtocol::from(byte(&row[IP_PROTOCOL..IP_PROTOCOL + 8])) != IpProtocol::Tcp {
        return ([None, None, ident], None);
    }
    let ts_at = timestamps_at(row);
    let tsval = ts_at.and_then(|first| at(first, 32));
    ([at(TCP_SEQ, 32), tsval, ident], ts_at)
}

/// The value of the `bits` bits of `row` from `first`; `None` if one of them is vacant.
fn read(row: &[Bit], first: usize, bits: usize) -> Option<u32> {
    row[first..first + bits].iter().try_fold(0u32, |acc, &b| {
        (b >= 0).then_some((acc << 1) | u32::from(b == 1))
    })
}

/// Writes the low `bits` bits of `value` into `row` from `first`.
fn write(row: &mut [Bit], first: usize, bits: usize, value: u32) {
    for (i, b) in row[first..first + bits].iter_mut().enumerate() {
        *b = Bit::from(value & (1 << (bits - 1 - i)) != 0);
    }
}

/// The model-layout position of the TSval of `row`'s timestamps option (TSecr follows it), if
/// its options hold a whole one.
fn timestamps_at(row: &[Bit]) -> Option<usize> {
    let offset = read(row, TCP_DATA_OFFSET, 4)? as usize;
    let len = (offset * 4).checked_sub(20)?.min(40);
    let at = |i: usize| TCP_OPTIONS + 8 * i;
    let mut i = 0;
    while i < len {
        match byte(&row[at(i)..at(i) + 8]) {
            0 => return None,
            1 => i += 1,
            kind => {
                if i + 1 >= len {
                    return None;
                }
                let size = usize::from(byte(&row[at(i + 1)..]).max(2));
                if kind == option_kind::TIMESTAMPS && size == 10 && i + 10 <= len {
                    return Some(at(i + 2));
                }
                i += size;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const ALL: FreshCounters = FreshCounters {
        seq: [true; 2],
        tsval: [true; 2],
        ident: [true; 2],
    };

    /// A model-layout TCP row with `ident`, `seq`, `ack` and, when `ts` is given, a
    /// timestamps option after two NOPs.
    fn segment(ident: u16, seq: u32, ack: u32, ts: Option<(u32, u32)>) -> Vec<Bit> {
        let mut row = vec![0; MODEL_WIDTH];
        write(&mut row, IP_PROTOCOL, 8, 6);
        write(&mut row, IP_IDENT, 16, ident.into());
        write(&mut row, TCP_SEQ, 32, seq);
        write(&mut row, TCP_ACK, 32, ack);
        let doff = if ts.is_some() { 8 } else { 5 };
        write(&mut row, TCP_DATA_OFFSET, 4, doff);
        if let Some((tsval, tsecr)) = ts {
            for (i, b) in [1u32, 1, 8, 10].into_iter().enumerate() {
                write(&mut row, TCP_OPTIONS + 8 * i, 8, b);
            }
            write(&mut row, TCP_OPTIONS + 32, 32, tsval);
            write(&mut row, TCP_OPTIONS + 64, 32, tsecr);
        }
        row
    }

    fn fields(row: &[Bit]) -> (u32, u32, u32, Option<(u32, u32)>) {
        let ts = timestamps_at(row)
            .map(|at| (read(row, at, 32).unwrap(), read(row, at + 32, 32).unwrap()));
        (
            read(row, IP_IDENT, 16).unwrap(),
            read(row, TCP_SEQ, 32).unwrap(),
            read(row, TCP_ACK, 32).unwrap(),
            ts,
        )
    }

    #[test]
    fn a_side_keeps_its_steps_from_a_new_start() {
        let mut c = Counters::new(&ALL, &mut StdRng::seed_from_u64(7));
        let mut syn = segment(100, 1000, 0, Some((500, 0)));
        let mut syn_ack = segment(0, 9000, 1001, Some((70, 500)));
        let mut ack = segment(101, 1001, 9001, Some((510, 70)));
        let mut data = segment(102, 1001, 9001, Some((530, 70)));
        let mut reply = segment(5, 9001, 1101, Some((90, 530)));
        c.apply(&mut syn, false);
        c.apply(&mut syn_ack, true);
        c.apply(&mut ack, false);
        c.apply(&mut data, false);
        c.apply(&mut reply, true);
        let (i0, s0, _, t0) = fields(&syn);
        let (i1, s1, a1, t1) = fields(&syn_ack);
        let (i2, s2, a2, t2) = fields(&ack);
        let (i3, s3, _, t3) = fields(&data);
        let (i4, s4, a4, t4) = fields(&reply);
        let (t0, t1, t2, t3, t4) = (
            t0.unwrap(),
            t1.unwrap(),
            t2.unwrap(),
            t3.unwrap(),
            t4.unwrap(),
        );
        assert_ne!((s0, t0.0), (1000, 500), "the client's counters start anew");
        assert_ne!((s1, t1.0), (9000, 70), "the server's counters start anew");
        // The handshake still adds up: acknowledgements and echoes follow the moved values.
        assert_eq!(a1, s0.wrapping_add(1));
        assert_eq!(a2, s1.wrapping_add(1));
        assert_eq!(s2, s0.wrapping_add(1));
        assert_eq!(s3, s2);
        assert_eq!(a4, s3.wrapping_add(100));
        assert_eq!(s4, s1.wrapping_add(1));
        assert_eq!(t0.1, 0, "a SYN echoes nothing");
        assert_eq!(t1.1, t0.0);
        assert_eq!(t2.1, t1.0);
        assert_eq!((t2.0.wrapping_sub(t0.0), t3.0.wrapping_sub(t0.0)), (10, 30));
        assert_eq!(t4, (t1.0.wrapping_add(20), t3.0));
        // Identifications count on from a new base; a 0 stays 0.
        assert_eq!(
            (i2.wrapping_sub(i0) as u16, i3.wrapping_sub(i0) as u16),
            (1, 2)
        );
        assert_ne!(i0, 100);
        assert_eq!(i1, 0);
        assert_ne!(i4, 5);
    }

    #[test]
    fn flows_start_their_counters_apart() {
        let mut rng = StdRng::seed_from_u64(1);
        let starts: std::collections::HashSet<u32> = (0..64)
            .map(|_| {
                let mut row = segment(1, 1000, 0, None);
                Counters::new(&ALL, &mut rng).apply(&mut row, false);
                read(&row, TCP_SEQ, 32).unwrap()
            })
            .collect();
        assert_eq!(
            starts.len(),
            64,
            "the same generated start gives 64 different ones"
        );
    }

    #[test]
    fn vacant_fields_and_other_protocols_are_left_alone() {
        let mut c = Counters::new(&ALL, &mut StdRng::seed_from_u64(3));
        let mut row = segment(0, 1000, 0, None);
        row[TCP_SEQ + 5] = -1;
        let before = row.clone();
        c.apply(&mut row, false);
        assert_eq!(
            row, before,
            "a vacant bit leaves the sequence number as generated"
        );
        let mut udp = segment(77, 1000, 0, None);
        write(&mut udp, IP_PROTOCOL, 8, 17);
        c.apply(&mut udp, false);
        assert_ne!(
            read(&udp, IP_IDENT, 16),
            Some(77),
            "a datagram's identification moves"
        );
        assert_eq!(read(&udp, TCP_SEQ, 32), Some(1000), "its TCP bits do not");
    }

    #[test]
    fn options_are_walked_without_reading_past_them() {
        // A timestamps option cut by the data offset is not one.
        let mut row = segment(1, 1, 0, Some((5, 6)));
        write(&mut row, TCP_DATA_OFFSET, 4, 7);
        assert_eq!(timestamps_at(&row), None);
        // An option of length 0 or 1 still moves the walk on; an end-of-list stops it.
        let mut odd = segment(1, 1, 0, None);
        write(&mut odd, TCP_DATA_OFFSET, 4, 15);
        write(&mut odd, TCP_OPTIONS, 8, 30);
        write(&mut odd, TCP_OPTIONS + 8, 8, 0);
        assert_eq!(timestamps_at(&odd), None);
        let full = segment(1, 1, 0, Some((5, 6)));
        assert_eq!(timestamps_at(&full), Some(TCP_OPTIONS + 32));
    }

    #[test]
    fn only_the_counters_a_class_starts_anew_move() {
        let fresh = FreshCounters {
            seq: [true, false],
            ..FreshCounters::default()
        };
        let mut c = Counters::new(&fresh, &mut StdRng::seed_from_u64(5));
        let mut syn = segment(100, 1000, 0, Some((500, 0)));
        let mut syn_ack = segment(7, 9000, 1001, Some((70, 500)));
        c.apply(&mut syn, false);
        c.apply(&mut syn_ack, true);
        let (i0, s0, _, t0) = fields(&syn);
        let (i1, s1, a1, t1) = fields(&syn_ack);
        assert_ne!(s0, 1000);
        assert_eq!(
            a1,
            s0.wrapping_add(1),
            "the responder acknowledges the moved ISN"
        );
        assert_eq!((i0, i1, s1), (100, 7, 9000));
        assert_eq!((t0, t1), (Some((500, 0)), Some((70, 500))));
    }

    /// The card's reading of `values` as one side's first sequence numbers, a flow each.
    fn fresh_seq(values: &[u32]) -> bool {
        let mut firsts = CounterFirsts::default();
        for &v in values {
            firsts.next_flow();
            firsts.push(&segment(0, v, 0, None), false);
            firsts.push(&segment(0, v ^ 1, 0, None), false);
        }
        let fresh = firsts.finish();
        assert!(!fresh.seq[1] && fresh.ident == [false; 2], "{fresh:?}");
        fresh.seq[0]
    }

    #[test]
    fn the_card_tells_fresh_counters_from_shared_ones() {
        let mut rng = StdRng::seed_from_u64(9);
        let random: Vec<u32> = (0..40).map(|_| rng.random()).collect();
        assert!(fresh_seq(&random), "40 random ISNs");
        assert!(fresh_seq(&random[..MIN_FLOWS]), "{MIN_FLOWS} random ISNs");
        assert!(!fresh_seq(&random[..MIN_FLOWS - 1]), "too few to tell");
        // One clock for every connection (its high byte the same), a scanner's six ISNs.
        let clock: Vec<u32> = (0..40).map(|i| 0x5a00_0000 + i * 7919).collect();
        assert!(!fresh_seq(&clock));
        let scanner: Vec<u32> = (0..1000).map(|i| random[i % 6]).collect();
        assert!(!fresh_seq(&scanner));
    }
}
