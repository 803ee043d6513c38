//! What one side of a TCP connection has sent so far, and what its peer has acknowledged.

use super::after;
use crate::repair::Side;
use crate::wire::tcp::flags;
use std::collections::{HashMap, HashSet};

/// Per-direction TCP state.
#[derive(Debug, Clone)]
pub(super) struct TcpSide {
    /// Next sequence number this side sends.
    pub(super) next_seq: u32,
    /// Highest sequence number of this side the peer has acknowledged.
    pub(super) acked: u32,
    /// Latest advertised window in bytes (scale applied).
    pub(super) window: u64,
    /// The window field of this side's latest segment that was neither a SYN (unscaled) nor a
    /// reset; None before the first.
    pub(super) last_window_field: Option<u16>,
    /// Window scale shift applied to this side's window field after its SYN (0 when window
    /// scaling was not negotiated).
    pub(super) wscale: u8,
    /// This side has sent its FIN.
    pub(super) fin_sent: bool,
    /// Latest TSval this side sent.
    pub(super) last_tsval: u32,
    /// Every TSval this side sent (what the peer's TSecr may echo).
    pub(super) sent_tsvals: HashSet<u32>,
    /// Latest TSecr this side sent.
    pub(super) last_tsecr: u32,
    /// The MSS this side's SYN offered (536, the default a peer assumes, when it offered
    /// none); None before its SYN, and in a connection without a handshake.
    pub(super) mss: Option<u16>,
    /// Start → length of each data segment sent (what a retransmission may repeat).
    segments: HashMap<u32, u32>,
}

impl TcpSide {
    /// A side before its first segment: counting from its ISN, nothing acknowledged, the
    /// largest unscaled window, its timestamp clock at its base.
    pub(super) fn new(side: &Side, wscale: u8) -> TcpSide {
        TcpSide {
            next_seq: side.isn,
            acked: side.isn,
            window: 65535,
            last_window_field: None,
            wscale,
            fin_sent: false,
            last_tsval: side.ts_base,
            sent_tsvals: HashSet::new(),
            last_tsecr: 0,
            mss: None,
            segments: HashMap::new(),
        }
    }

    /// Bytes sent and not yet acknowledged by the peer.
    pub(super) fn in_flight(&self) -> u64 {
        u64::from(self.next_seq.wrapping_sub(self.acked))
    }

    /// When a segment starting at `seq` repeats an earlier data segment of this side, that
    /// segment's length.
    pub(super) fn retransmission_at(&self, seq: u32) -> Option<u32> {
        if !after(self.next_seq, seq) {
            return None;
        }
        self.segments.get(&seq).copied().filter(|&len| len > 0)
    }

    /// Records the timestamps of a segment this side sent.
    pub(super) fn record_timestamps(&mut self, tsval: u32, tsecr: u32) {
        self.last_tsval = tsval;
        self.sent_tsvals.insert(tsval);
        self.last_tsecr = tsecr;
    }

    /// Records a new (not retransmitted) segment: SYN and FIN take one sequence number each,
    /// data its length.
    pub(super) fn record_sent(&mut self, seq: u32, tcp_flags: u16, payload: usize) {
        let consumed = payload as u32 + u32::from(tcp_flags & (flags::SYN | flags::FIN) != 0);
        self.next_seq = seq.wrapping_add(consumed);
        if payload > 0 {
            self.segments.insert(seq, payload as u32);
        }
    }

    /// Records the peer's acknowledgement of this side's data up to `ack`.
    pub(super) fn record_acked(&mut self, ack: u32) {
        if after(ack, self.acked) {
            self.acked = ack;
        }
    }

    /// Records the window field of a segment this side sent (a SYN's is never scaled).
    pub(super) fn record_window(&mut self, window: u16, tcp_flags: u16) {
        let shift = if tcp_flags & flags::SYN != 0 {
            0
        } else {
            self.wscale
        };
        self.window = u64::from(window) << shift;
        if tcp_flags & (flags::SYN | flags::RST) == 0 {
            self.last_window_field = Some(window);
        }
    }
}
