//! The packets repair puts ahead of a TCP flow that was generated without the start of its
//! connection (its template a real flow whose capture began after the SYN): the client's SYN,
//! the server's SYN-ACK and the client's ACK of their own, or the SYN alone where the flow opens
//! with its server's SYN-ACK, so that the flow's generated packets all stay, its first
//! application messages (a BitTorrent peer's handshake, a TLS record, a server's banner)
//! included, as a real connection's follow its handshake.

use super::connection::probe_of;
use crate::flows::Direction;
use crate::nprint::layout::Bit;
use crate::repair::generated::GeneratedRow;
use crate::repair::settings::{HandshakePolicy, RepairSettings};
use crate::repair::PacketPlan;
use crate::wire::tcp::flags::{is_bare_syn, is_syn_ack};

/// What repair puts ahead of a generated TCP flow to open its connection. This is the one
/// place that says whether a flow begins with its connection or in its middle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::repair) enum Ahead {
    /// Nothing: the flow opens with its own SYN, is a scanner's probe (which opens no
    /// connection), or the policy keeps flows as generated.
    Nothing,
    /// The client's SYN: the flow opens with its server's SYN-ACK (a capture begun one packet
    /// into the handshake).
    Syn,
    /// SYN, SYN-ACK and ACK: the flow was generated from a connection's middle.
    Handshake,
}

impl Ahead {
    /// What the TCP flow of `rows` lacks of its opening, under `settings`' handshake policy.
    pub(in crate::repair) fn of(rows: &[GeneratedRow], settings: &RepairSettings) -> Ahead {
        let first = rows[0].tcp().flags();
        if settings.handshake != HandshakePolicy::Always
            || is_bare_syn(first)
            || probe_of(rows).is_some()
        {
            Ahead::Nothing
        } else if is_syn_ack(first) {
            Ahead::Syn
        } else {
            Ahead::Handshake
        }
    }

    /// Whether repair makes the client's SYN (it does whenever it puts anything ahead).
    pub(in crate::repair) fn makes_syn(self) -> bool {
        self != Ahead::Nothing
    }
}

/// Puts the packets `ahead` names ahead of the flow, none with payload: the SYN made from its
/// first generated packet at the flow's start, and for a whole handshake the SYN-ACK made from
/// its server's first packet (else the first) and the ACK made from the first. The packet after
/// the SYN comes one round trip later (the flow's shortest gap from a client packet to a server
/// one); the ACK and then the flow's own first packet each after its shortest gap; every
/// generated packet that much later.
pub(in crate::repair) fn prepend(
    ahead: Ahead,
    rows: &mut Vec<GeneratedRow>,
    plans: &mut Vec<PacketPlan>,
    bits: &mut Vec<&[Bit]>,
    settings: &RepairSettings,
) {
    if ahead == Ahead::Nothing {
        return;
    }
    let gaps = || plans.windows(2).map(|w| (w, w[1].ts_ns - w[0].ts_ns));
    let quick = gaps().map(|(_, g)| g).min();
    let round_trip = gaps()
        .filter(|(w, _)| w[0].direction == Direction::Forward && w[1].direction != w[0].direction)
        .map(|(_, g)| g)
        .min()
        .or(quick)
        .unwrap_or(settings.default_gap_ns)
        .max(1_000);
    let quick = quick.unwrap_or(round_trip).max(1_000);
    let server = plans
        .iter()
        .position(|p| p.direction == Direction::Backward)
        .unwrap_or(0);
    let start = plans[0].ts_ns;
    let whole = [
        (0, Direction::Forward, start),
        (server, Direction::Backward, start + round_trip),
        (0, Direction::Forward, start + round_trip + quick),
    ];
    let (made, shift) = match ahead {
        Ahead::Syn => (&whole[..1], round_trip),
        _ => (&whole[..], round_trip + 2 * quick),
    };
    for p in plans.iter_mut() {
        p.ts_ns = p.ts_ns.saturating_add(shift);
    }
    let made_rows: Vec<GeneratedRow> = made.iter().map(|&(row, ..)| rows[row].clone()).collect();
    let made_bits: Vec<&[Bit]> = made.iter().map(|&(row, ..)| bits[row]).collect();
    let made_plans = made.iter().map(|&(_, direction, ts_ns)| PacketPlan {
        direction,
        ts_ns,
        payload_len: 0,
    });
    rows.splice(0..0, made_rows);
    bits.splice(0..0, made_bits);
    plans.splice(0..0, made_plans);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nprint::layout::STANDARD_WIDTH;
    use crate::wire::tcp::flags;

    const MS: u64 = 1_000_000;

    /// Standard-layout rows of `n` packets, all bits 0 (no TCP flags) but the first packet's
    /// `first` flags; the TCP flags are the 14th byte of the block after IPv4's 480 bits, the
    /// highest flag first.
    fn rows(n: usize, first: u16) -> Vec<Vec<Bit>> {
        let mut rows = vec![vec![0 as Bit; STANDARD_WIDTH]; n];
        for bit in 0..8 {
            if first & (1 << bit) != 0 {
                rows[0][480 + 13 * 8 + 7 - bit] = 1;
            }
        }
        rows
    }

    fn plan(direction: Direction, ts_ns: u64) -> PacketPlan {
        PacketPlan {
            direction,
            ts_ns,
            payload_len: 100,
        }
    }

    fn read(rows: &[Vec<Bit>]) -> Vec<GeneratedRow> {
        rows.iter().map(|r| GeneratedRow::read(r)).collect()
    }

    #[test]
    fn a_flow_gets_ahead_what_it_lacks_of_its_opening() {
        let always = RepairSettings::default();
        let ahead = |n, first| Ahead::of(&read(&rows(n, first)), &always);
        assert_eq!(ahead(3, flags::SYN), Ahead::Nothing);
        assert_eq!(ahead(3, flags::SYN | flags::ACK), Ahead::Syn);
        assert_eq!(ahead(3, flags::ACK | flags::PSH), Ahead::Handshake);
        // A SYN-ACK with RST is no answer that opens a connection.
        assert_eq!(
            ahead(3, flags::SYN | flags::ACK | flags::RST),
            Ahead::Handshake
        );
        // Two packets neither SYN, ACK nor RST: a stealth probe and its answer, kept so.
        assert_eq!(ahead(2, flags::FIN), Ahead::Nothing);
        let as_generated = RepairSettings {
            handshake: HandshakePolicy::AsGenerated,
            ..RepairSettings::default()
        };
        for first in [flags::ACK, flags::SYN | flags::ACK] {
            assert_eq!(
                Ahead::of(&read(&rows(3, first)), &as_generated),
                Ahead::Nothing
            );
        }
    }

    /// Runs [`prepend`] on a flow of one packet per `(direction, ms)` of `timeline`, the first
    /// with the `first` flags: the flags, plans and, for each packet after, the index of the
    /// generated packet its bits come from.
    fn prepended(
        ahead: Ahead,
        first: u16,
        timeline: &[(Direction, u64)],
    ) -> (Vec<u16>, Vec<PacketPlan>, Vec<usize>) {
        let bits = rows(timeline.len(), first);
        let mut generated = read(&bits);
        let mut refs: Vec<&[Bit]> = bits.iter().map(Vec::as_slice).collect();
        let mut plans: Vec<PacketPlan> = timeline.iter().map(|&(d, ms)| plan(d, ms * MS)).collect();
        prepend(
            ahead,
            &mut generated,
            &mut plans,
            &mut refs,
            &RepairSettings::default(),
        );
        assert_eq!((generated.len(), refs.len()), (plans.len(), plans.len()));
        let from = refs
            .iter()
            .map(|r| {
                bits.iter()
                    .position(|b| std::ptr::eq(b.as_slice(), *r))
                    .unwrap()
            })
            .collect();
        let flags = generated.iter().map(|g| g.tcp().flags()).collect();
        (flags, plans, from)
    }

    fn at_ms(plans: &[PacketPlan]) -> Vec<u64> {
        plans.iter().map(|p| p.ts_ns / MS).collect()
    }

    fn directions(plans: &[PacketPlan]) -> Vec<Direction> {
        plans.iter().map(|p| p.direction).collect()
    }

    use Direction::{Backward as B, Forward as F};

    #[test]
    fn the_handshake_comes_one_round_trip_ahead_of_the_flow() {
        // A server speaks first here (a banner); the client answers 30 ms later, the server 40
        // ms after that, the client again 5 ms later.
        let (_, plans, from) = prepended(
            Ahead::Handshake,
            flags::ACK,
            &[(B, 1_000), (F, 1_030), (B, 1_070), (F, 1_075)],
        );
        // Round trip: the 40 ms from a client packet to a server one; the ACK and the first
        // generated packet each after the flow's shortest gap (5 ms).
        assert_eq!(
            at_ms(&plans),
            [1_000, 1_040, 1_045, 1_050, 1_080, 1_120, 1_125]
        );
        assert_eq!(directions(&plans), [F, B, F, B, F, B, F]);
        let payloads: Vec<usize> = plans.iter().map(|p| p.payload_len).collect();
        assert_eq!(payloads, [0, 0, 0, 100, 100, 100, 100]);
        // SYN and ACK made from the first packet, the SYN-ACK from the server's first (here
        // the flow's first too).
        assert_eq!(from, [0, 0, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn the_syn_ack_is_made_from_the_servers_first_packet() {
        let (_, _, from) = prepended(
            Ahead::Handshake,
            flags::ACK,
            &[(F, 1_000), (F, 1_010), (B, 1_040)],
        );
        assert_eq!(from, [0, 2, 0, 0, 1, 2]);
    }

    #[test]
    fn a_flow_opening_with_its_syn_ack_gets_the_syn_one_round_trip_ahead() {
        // The server's SYN-ACK, the client's ACK 2 ms later, its request 1 ms after that, the
        // server's answer 30 ms later.
        let (flags_seen, plans, from) = prepended(
            Ahead::Syn,
            flags::SYN | flags::ACK,
            &[(B, 1_000), (F, 1_002), (F, 1_003), (B, 1_033)],
        );
        // Round trip: the 30 ms from the request to the answer.
        assert_eq!(at_ms(&plans), [1_000, 1_030, 1_032, 1_033, 1_063]);
        assert_eq!(directions(&plans), [F, B, F, F, B]);
        assert_eq!(plans[0].payload_len, 0);
        // The SYN is made from the flow's first packet; the SYN-ACK is the generated one.
        assert_eq!(from, [0, 0, 1, 2, 3]);
        assert_eq!(flags_seen[1], flags::SYN | flags::ACK);
    }

    #[test]
    fn nothing_ahead_leaves_the_flow_as_it_is() {
        let (_, plans, from) = prepended(Ahead::Nothing, flags::SYN, &[(F, 1_000), (B, 1_010)]);
        assert_eq!(plans, [plan(F, 1_000 * MS), plan(B, 1_010 * MS)]);
        assert_eq!(from, [0, 1]);
    }
}
