//! Stage 3, nPrint: the bit representation of packet headers. Encoding and decoding, CSV files
//! compatible with the nPrint tool, NetDiffusion's image form, netdiffd's model layout, and the
//! rows of the flow stage's packets ([`flow_rows`]).

pub mod csv_read;
pub mod csv_write;
pub mod decode;
pub mod encode;
pub mod flow_rows;
pub mod image;
pub mod layout;
pub mod tool;

pub use csv_read::{parse_csv, read_csv, NprintReadError, NprintTable};
pub use csv_write::{CsvOptions, CsvWriter, IndexColumn};
pub use encode::{encode_packet, segments, Segment};
pub use flow_rows::{flow_packet_row, flow_rows};
pub use image::{read_png, read_png_with, write_png, FlowImage, ImageError, Quantiser};
pub use layout::{Bit, Block, Layout, VACANT};
