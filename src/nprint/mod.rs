//! Stage 3, nPrint: the bit representation of packet headers. Encoding and decoding, CSV files
//! compatible with the nPrint tool, NetDiffusion's image form, and netdiffd's model layout.

pub mod csv_read;
pub mod image;
pub mod layout;

pub use csv_read::{parse_csv, read_csv, NprintReadError, NprintTable};
pub use image::{read_png, read_png_with, write_png, FlowImage, ImageError, Quantiser};
pub use layout::{Bit, Block, Layout, VACANT};
