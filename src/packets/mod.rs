//! Stage 6, packets: turn header bytes into frames (Ethernet with configured MACs, or raw IP),
//! fill payloads deterministically, and write pcap files atomically.

mod frame;
mod pcap_writer;

pub use frame::{parse_mac, Framing, PayloadFill};
pub use pcap_writer::{PcapWriter, TsResolution};
