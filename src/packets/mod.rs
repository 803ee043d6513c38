//! Stage 6, packets: turn header bytes into frames (Ethernet with configured MACs, or raw IP),
//! fill payloads deterministically, and write pcap files atomically.

mod flows_out;
mod frame;
mod pcap_writer;

pub use flows_out::{frame_order, write_flows};
pub use frame::{parse_mac, Framing};
pub use pcap_writer::{PcapWriter, TsResolution};
