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
pub(in crate::repair) fn prepend_handshake<'a>(
    rows: &mut Vec<GeneratedRow>,
    plans: &mut Vec<PacketPlan>,
    bits: &mut Vec<&'a [Bit]>,
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
