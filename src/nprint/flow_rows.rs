//! nPrint rows of the flow stage's packets. [`crate::flows`] keeps each packet's IPv4 and
//! transport headers as captured; this encodes them in the standard layout (IPv4, TCP, UDP,
//! ICMP: 1088 values, vacant −1), exactly as [`encode_packet`](super::encode_packet) encodes the
//! dissected packet they came from.

use super::encode::{push_block, segments_to_bits};
use super::layout::{Bit, Block, Layout, VACANT};
use crate::flows::FlowPacket;
use crate::wire::IpProtocol;

/// Appends the standard-layout row of `p` to `out` (vacant positions −1).
pub fn flow_packet_row(p: &FlowPacket, out: &mut Vec<Bit>) {
    let (transport, proto) = (p.transport_header(), p.protocol());
    let mut segs = Vec::with_capacity(8);
    for block in Layout::STANDARD.block_iter() {
        let bytes = match block {
            Block::Ipv4 => p.ipv4_header(),
            Block::Tcp if proto == IpProtocol::Tcp => transport,
            Block::Udp if proto == IpProtocol::Udp => transport,
            Block::Icmp if proto == IpProtocol::Icmp => transport,
            _ => &[],
        };
        push_block(bytes, block.bytes(), &mut segs);
    }
    segments_to_bits(&segs, VACANT, out);
}

/// The standard-layout rows of `packets`, one after the other.
pub fn flow_rows<'a>(packets: impl IntoIterator<Item = &'a FlowPacket>) -> Vec<Bit> {
    let mut out = Vec::new();
    for p in packets {
        flow_packet_row(p, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{dissect, CaptureReader, Frame};
    use crate::flows::{FlowSettings, FlowTable};
    use crate::nprint::encode_packet;
    use std::path::Path;

    /// Every packet of the corpus (TCP with and without options, UDP, ICMP, several link
    /// types): its row from the flow stage's headers is the row of its frame.
    #[test]
    fn rows_of_flow_packets_are_the_rows_of_their_frames() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        let Ok(files) = crate::corpus::list_captures(&corpus) else {
            eprintln!("skipped: no corpus at {}", corpus.display());
            return;
        };
        let mut checked = 0;
        for f in files {
            let mut frames = Vec::new();
            let mut table = FlowTable::new(FlowSettings::default(), &f, None);
            let mut reader = CaptureReader::open(&f).unwrap();
            let mut frame = Frame::default();
            while reader.read_into(&mut frame).unwrap() {
                table.add(&frame);
                frames.push(frame.clone());
            }
            for flow in table.finish().0 {
                let rows = flow_rows(&flow.packets);
                for (p, row) in flow
                    .packets
                    .iter()
                    .zip(rows.chunks(Layout::STANDARD.width()))
                {
                    let mut want = Vec::new();
                    let d = dissect(&frames[p.frame as usize]).unwrap();
                    encode_packet(&Layout::STANDARD, &d, VACANT, &mut want);
                    assert_eq!(row, want.as_slice(), "{} frame {}", f.display(), p.frame);
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked} packets");
    }
}
