//! Stage 3, nPrint: the bit representation of packet headers. Encoding and decoding, CSV files
//! compatible with the nPrint tool, NetDiffusion's image form, and netdiffd's model layout.

pub mod layout;

pub use layout::{Bit, Block, Layout, VACANT};
