//! The handshake repair puts ahead of a TCP flow generated from a connection's middle (its
//! template a real flow whose capture began after the SYN): three packets of their own — the
//! client's SYN, the server's SYN-ACK and the client's ACK — so that the flow's generated
//! packets all stay, its first application messages (a BitTorrent peer's handshake, a TLS
//! record, a server's banner) included, as a real connection's follow its handshake.

use super::connection::probe_of;
use crate::flows::Direction;
use crate::nprint::layout::Bit;
use crate::repair::generated::GeneratedRow;
use crate::repair::settings::{HandshakePolicy, RepairSettings};
use crate::repair::PacketPlan;
use crate::wire::tcp::flags;

/// Whether repair opens the TCP flow of `rows` with a handshake of its own ahead of its
/// packets: the policy asks for handshakes, the first packet is no SYN, and the flow is no
/// scan probe (which stays as it is).
pub(in crate::repair) fn opens_mid_connection(
    rows: &[GeneratedRow],
    settings: &RepairSettings,
) -> bool {
    settings.handshake == HandshakePolicy::Always
        && rows[0].tcp().flags() & flags::SYN == 0
        && probe_of(rows).is_none()
}

/// Puts the made handshake's three packets ahead of the flow: the SYN and the ACK made from its
/// first generated packet and the SYN-ACK from its server's first (else the first), none with
/// payload; the SYN at the flow's start, the SYN-ACK one round trip later (the flow's shortest
/// gap from a client packet to a server one), the ACK and then the flow's own first packet each
/// after its shortest gap, every generated packet that much later.
pub(in crate::repair) fn prepend_handshake(
    rows: &mut Vec<GeneratedRow>,
    plans: &mut Vec<PacketPlan>,
    bits: &mut Vec<&[Bit]>,
    settings: &RepairSettings,
) {
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
    let made = [
        (0, Direction::Forward, start),
        (server, Direction::Backward, start + round_trip),
        (0, Direction::Forward, start + round_trip + quick),
    ];
    let shift = round_trip + 2 * quick;
    for p in plans.iter_mut() {
        p.ts_ns = p.ts_ns.saturating_add(shift);
    }
    let made_rows = made.map(|(row, ..)| rows[row].clone());
    let made_bits = made.map(|(row, ..)| bits[row]);
    let made_plans = made.map(|(_, direction, ts_ns)| PacketPlan {
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

    /// Model rows of `n` packets, all bits 0 (TCP flags none) but the first packet's SYN when
    /// `syn`; the standard layout's TCP flags are the 14th byte of the block after IPv4's 480 bits.
    fn rows(n: usize, syn: bool) -> Vec<Vec<Bit>> {
        let mut rows = vec![vec![0 as Bit; STANDARD_WIDTH]; n];
        if syn {
            rows[0][480 + 13 * 8 + 6] = 1;
        }
        rows
    }

    fn read(rows: &[Vec<Bit>]) -> Vec<GeneratedRow> {
        rows.iter().map(|r| GeneratedRow::read(r)).collect()
    }

    #[test]
    fn only_flows_from_a_connections_middle_get_a_handshake_ahead() {
        let always = RepairSettings::default();
        assert!(opens_mid_connection(&read(&rows(3, false)), &always));
        assert!(!opens_mid_connection(&read(&rows(3, true)), &always));
        // Two packets neither SYN, ACK nor RST: a stealth probe and its answer, kept so.
        assert!(!opens_mid_connection(&read(&rows(2, false)), &always));
        let as_generated = RepairSettings {
            handshake: HandshakePolicy::AsGenerated,
            ..RepairSettings::default()
        };
        assert!(!opens_mid_connection(&read(&rows(3, false)), &as_generated));
    }

    #[test]
    fn the_handshake_comes_one_round_trip_ahead_of_the_flow() {
        const MS: u64 = 1_000_000;
        let bits = rows(3, false);
        let mut generated = read(&bits);
        let mut refs: Vec<&[Bit]> = bits.iter().map(Vec::as_slice).collect();
        let plan = |direction, ts_ns| PacketPlan {
            direction,
            ts_ns,
            payload_len: 100,
        };
        // A server speaks first here (a banner); the client answers 30 ms later, the server 40
        // ms after that, the client again 5 ms later.
        let mut plans = vec![
            plan(Direction::Backward, 1_000 * MS),
            plan(Direction::Forward, 1_030 * MS),
            plan(Direction::Backward, 1_070 * MS),
        ];
        plans.push(plan(Direction::Forward, 1_075 * MS));
        generated.push(generated[0].clone());
        refs.push(refs[0]);
        prepend_handshake(
            &mut generated,
            &mut plans,
            &mut refs,
            &RepairSettings::default(),
        );
        assert_eq!((generated.len(), refs.len(), plans.len()), (7, 7, 7));
        let at: Vec<u64> = plans.iter().map(|p| p.ts_ns / MS).collect();
        // Round trip: the 40 ms from a client packet to a server one; the ACK and the first
        // generated packet each after the flow's shortest gap (5 ms).
        assert_eq!(at, [1_000, 1_040, 1_045, 1_050, 1_080, 1_120, 1_125]);
        let dirs: Vec<Direction> = plans.iter().map(|p| p.direction).collect();
        use Direction::{Backward as B, Forward as F};
        assert_eq!(dirs, [F, B, F, B, F, B, F]);
        let payloads: Vec<usize> = plans.iter().map(|p| p.payload_len).collect();
        assert_eq!(payloads, [0, 0, 0, 100, 100, 100, 100]);
        // The SYN-ACK is made from the server's first packet (here the flow's first).
        assert!(std::ptr::eq(refs[1], refs[3]));
    }
}
