//! Where a generated flow's per-connection counters start: each side's TCP sequence numbers,
//! TCP timestamp clock and IPv4 identification.
//!
//! A host's stack starts these at a value of its own for every connection (RFC 6528's
//! sequence numbers, a per-connection timestamp offset, a per-socket IP ID base), so that
//! across a class's real flows each of their bits is set about half the time. The network
//! draws them bit by bit like any other field and lands near the values of the few flows it
//! learned them from: of 100 generated bulk downloads, 38 bits of 32 in the first segment's
//! sequence number were set in more than 80 % or fewer than 20 % of the flows. A classifier
//! trained on such flows learns those bits as a mark of the class, one no real flow carries.
//!
//! So each side of a generated flow has its counters moved, all by the same amount, to a start
//! drawn from the flow's own stream: what the flow does with them (data sent, retransmissions,
//! echoed timestamps, identifications counting up) is kept, only where they start is new. An
//! identification of 0 stays 0: stacks write it on purpose (Linux's SYN-ACKs, atomic
//! datagrams), and a learned 0 is no mark of a class.

use super::template::{byte, IP_PROTOCOL, TCP_DATA_OFFSET};
use crate::nprint::layout::{Bit, MODEL_WIDTH};
use crate::wire::tcp::option_kind;
use crate::wire::IpProtocol;
use rand::rngs::StdRng;
use rand::Rng;

/// Model-layout position of the IPv4 identification.
const IP_IDENT: usize = 32;
/// Model-layout positions of the TCP sequence and acknowledgement numbers.
const TCP_SEQ: usize = 416 + 32;
const TCP_ACK: usize = 416 + 64;
/// Model-layout position of the TCP options.
const TCP_OPTIONS: usize = 416 + 160;

/// One flow's counter starts and, once each side's first value is seen, how far its values
/// move.
#[derive(Debug, Clone)]
pub struct Counters {
    starts: [Starts; 2],
    shifts: [Shifts; 2],
}

/// Where one side's counters start.
#[derive(Debug, Clone, Copy)]
struct Starts {
    seq: u32,
    tsval: u32,
    ident: u16,
}

/// How far one side's counters move (`None` until its first value is seen).
#[derive(Debug, Clone, Copy, Default)]
struct Shifts {
    seq: Option<u32>,
    tsval: Option<u32>,
    ident: Option<u16>,
}

impl Counters {
    /// A flow's counters, their starts drawn from `rng` (forward side first).
    pub fn new(rng: &mut StdRng) -> Counters {
        let mut side = || Starts {
            seq: rng.random(),
            tsval: rng.random(),
            ident: rng.random(),
        };
        Counters {
            starts: [side(), side()],
            shifts: [Shifts::default(); 2],
        }
    }

    /// Moves the counters of `row` (model layout), the flow's next packet, sent in the
    /// direction `backward` says. A field with a vacant bit is left as it is.
    pub fn apply(&mut self, row: &mut [Bit], backward: bool) {
        debug_assert_eq!(row.len(), MODEL_WIDTH);
        let (me, peer) = (usize::from(backward), usize::from(!backward));
        if let Some(ident) = read(row, IP_IDENT, 16).filter(|&v| v != 0) {
            let ident = ident as u16;
            let shift = *self.shifts[me]
                .ident
                .get_or_insert(self.starts[me].ident.wrapping_sub(ident));
            write(row, IP_IDENT, 16, ident.wrapping_add(shift).into());
        }
        if IpProtocol::from(byte(&row[IP_PROTOCOL..IP_PROTOCOL + 8])) != IpProtocol::Tcp {
            return;
        }
        if let Some(seq) = read(row, TCP_SEQ, 32) {
            let shift = *self.shifts[me]
                .seq
                .get_or_insert(self.starts[me].seq.wrapping_sub(seq));
            write(row, TCP_SEQ, 32, seq.wrapping_add(shift));
        }
        // An acknowledgement counts in the peer's sequence space; one made before the peer
        // sent anything acknowledges nothing it sent and is left for repair to make.
        if let (Some(ack), Some(shift)) = (read(row, TCP_ACK, 32), self.shifts[peer].seq) {
            write(row, TCP_ACK, 32, ack.wrapping_add(shift));
        }
        if let Some(at) = timestamps_at(row) {
            if let Some(tsval) = read(row, at, 32) {
                let shift = *self.shifts[me]
                    .tsval
                    .get_or_insert(self.starts[me].tsval.wrapping_sub(tsval));
                write(row, at, 32, tsval.wrapping_add(shift));
            }
            // An echo of 0 is a SYN's (nothing to echo yet) and stays 0.
            let echo = read(row, at + 32, 32).filter(|&e| e != 0);
            if let (Some(tsecr), Some(shift)) = (echo, self.shifts[peer].tsval) {
                write(row, at + 32, 32, tsecr.wrapping_add(shift));
            }
        }
    }
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
        let mut c = Counters::new(&mut StdRng::seed_from_u64(7));
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
                Counters::new(&mut rng).apply(&mut row, false);
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
        let mut c = Counters::new(&mut StdRng::seed_from_u64(3));
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
}
