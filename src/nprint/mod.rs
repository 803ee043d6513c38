//! Stage 3, nPrint: the bit representation of packet headers. Encoding and decoding, CSV files
//! compatible with the nPrint tool, NetDiffusion's image form, and netdiffd's model layout.

pub mod csv_write;
pub mod decode;
pub mod encode;
pub mod layout;
pub mod tool;

pub use csv_write::{CsvOptions, CsvWriter, IndexColumn};
pub use encode::{encode_packet, segments, Segment};
pub use layout::{Bit, Block, Layout, VACANT};
