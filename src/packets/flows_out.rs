//! Writing repaired flows to a pcap: frames of every flow interleaved in time order.

use super::{Framing, PcapWriter, TsResolution};
use crate::flows::Direction;
use crate::repair::RepairedFlow;
use std::borrow::Borrow;
use std::io;
use std::path::Path;

/// The order in which [`write_flows`] writes the packets of `flows`: `(flow, packet)` indices,
/// by time (ties by flow, then packet).
pub fn frame_order<F: Borrow<RepairedFlow>>(flows: &[F]) -> Vec<(usize, usize)> {
    let mut order: Vec<(u64, usize, usize)> = flows
        .iter()
        .enumerate()
        .flat_map(|(f, flow)| {
            flow.borrow()
                .packets
                .iter()
                .enumerate()
                .map(move |(p, pk)| (pk.ts_ns, f, p))
        })
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, f, p)| (f, p)).collect()
}

/// Writes the packets of `flows` to `path` (atomically) in time order ([`frame_order`]),
/// framed by `framing`; returns the number of frames written.
pub fn write_flows(
    path: &Path,
    flows: &[RepairedFlow],
    framing: &Framing,
    resolution: TsResolution,
) -> io::Result<u64> {
    let mut w = PcapWriter::create(path, framing.link_type(), resolution)?;
    let mut frame = Vec::with_capacity(2048);
    for (f, p) in frame_order(flows) {
        let pk = &flows[f].packets[p];
        frame.clear();
        framing.push_header(pk.direction == Direction::Forward, &mut frame);
        frame.extend_from_slice(&pk.bytes);
        w.write(pk.ts_ns, &frame)?;
    }
    let n = w.records();
    w.commit()?;
    Ok(n)
}
