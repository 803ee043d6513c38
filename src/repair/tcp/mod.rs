//! TCP repair: the state machine (handshake, sequence and acknowledgement numbers, teardown),
//! windows and timestamps. Generated values are kept wherever they obey the rules.
//!
//! `plan_tcp` negotiates a `Connection` and takes each packet through its steps in turn:
//! direction, flags, timestamps, options, payload bounds, advance.

mod connection;
mod made;
mod options;
mod side;

use super::generated::GeneratedRow;
use super::report::RepairReport;
use super::rules::Rule;
use super::settings::RepairSettings;
use super::{PacketPlan, Side};
use connection::Connection;
pub(super) use made::{prepend, Ahead};

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

/// What one side's SYN offered, as its stack sent it: its window and its option bytes (the
/// timestamps' values are the connection's own and are rewritten).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynOffer {
    /// The window field.
    pub window: u16,
    /// The option bytes, a multiple of 4.
    pub options: Vec<u8>,
}

/// A real TCP opening: the client's SYN and the server's SYN-ACK. Repair opens with it a flow
/// that was generated from the middle of a connection (a capture started after its SYN), whose
/// first packets' windows and options are a data segment's — no stack's SYN (a window of 383,
/// no MSS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    /// The client's SYN.
    pub client: SynOffer,
    /// The server's SYN-ACK.
    pub server: SynOffer,
}

/// The openings a flow may take, and the seed of the draw that picks one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Openings<'a> {
    /// Real openings of the flow's class.
    pub all: &'a [Opening],
    /// The repair run's seed.
    pub seed: u64,
    /// The flow's index in its run (the draw is the flow's own).
    pub flow: u64,
}

/// True when `a` comes after `b` in sequence space (RFC 1982 serial arithmetic).
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// For each packet, the payload bytes the other side's packets after it carry until its own
/// side's next packet: what the window it advertises must hold for the generated data to go
/// out whole.
fn data_before_reply(plans: &[PacketPlan]) -> Vec<u64> {
    let mut out = vec![0; plans.len()];
    // Walking back: for each direction, the other's payloads since that direction's next packet.
    let mut since = [0u64; 2];
    for (i, p) in plans.iter().enumerate().rev() {
        let d = connection::side_of(p.direction);
        out[i] = since[d];
        since[d] = 0;
        since[1 - d] += p.payload_len as u64;
    }
    out
}

/// Plans the TCP packets of a flow. `plans` holds directions, times and generated payload
/// lengths; they come back with the directions and payload lengths repaired, and cut off
/// after the packet that closes the connection. `ahead` says which packets of its opening repair
/// put ahead of the generated ones ([`prepend`]); a made SYN or SYN-ACK takes its window and
/// options from one of `openings` when there are any.
pub(super) fn plan_tcp(
    rows: &[GeneratedRow],
    plans: &mut Vec<PacketPlan>,
    ahead: Ahead,
    settings: &RepairSettings,
    sides: &[Side; 2],
    openings: Openings<'_>,
    report: &mut RepairReport,
) -> Vec<TcpPlan> {
    let mut conn = Connection::negotiate(rows, plans, ahead, settings, sides, openings, report);
    let data_ahead = data_before_reply(plans);
    let mut out = Vec::with_capacity(plans.len());
    for (i, plan) in plans.iter_mut().enumerate() {
        let mut seg = conn.direction(i, plan, report);
        conn.flags(&mut seg, report);
        conn.timestamps(&mut seg);
        let options = conn.options(&seg);
        conn.payload_bounds(&mut seg, options.len(), report);
        plan.payload_len = seg.payload();
        out.push(conn.advance(&seg, options, data_ahead[i], report));
        if seg.closes() {
            break;
        }
    }
    if out.len() < plans.len() {
        report.applied(Rule::TcpAfterCloseDropped);
        plans.truncate(out.len());
    }
    out
}
