//! NetDiffusion's image form of a flow: one row a packet in the 1088-column image layout, one
//! pixel a bit (1 red, 0 green, -1 blue), padded to 1024 rows with vacant (blue) rows.

use crate::atomic_file::AtomicFile;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::layout::{
    model_to_netdiffusion_image, netdiffusion_image_to_model, standard_to_model, Bit, MODEL_WIDTH,
    NETDIFFUSION_IMAGE_ROWS, NETDIFFUSION_IMAGE_WIDTH, STANDARD_WIDTH, VACANT,
};

/// Colour of a 1 bit.
pub const RED: [u8; 3] = [255, 0, 0];
/// Colour of a 0 bit.
pub const GREEN: [u8; 3] = [0, 255, 0];
/// Colour of a vacant (-1) bit.
pub const BLUE: [u8; 3] = [0, 0, 255];

/// Start of the IPv4 address fields in the image layout (and in the standard layout).
const ADDR_START: usize = 96;
/// Width of the two IPv4 address fields.
const ADDR_BITS: usize = 64;
/// IPv4 block width without addresses.
const IPV4_NO_ADDR: usize = 416;
/// Width of the IPv6 fixed fields (without addresses) in the image layout.
const IPV6_FIXED: usize = 64;

/// Failure to read, write or build a flow image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be opened, written or renamed.
    #[error("{}: {action}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a decodable PNG (not PNG at all, truncated, corrupt).
    #[error("{} ({bytes} bytes): not a readable PNG: {source}", .path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// File size in bytes.
        bytes: u64,
        /// The decoder's error.
        #[source]
        source: png::DecodingError,
    },
    /// The image has the wrong width or too many rows.
    #[error(
        "{}: image is {width}×{height}, expected width {NETDIFFUSION_IMAGE_WIDTH} (or {} with an \
         index column) and at most {NETDIFFUSION_IMAGE_ROWS} rows",
        .path.display(),
        NETDIFFUSION_IMAGE_WIDTH + 1
    )]
    Size {
        /// The file.
        path: PathBuf,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The decoder produced a pixel format this reader does not handle.
    #[error("{}: unsupported pixel format {color:?}", .path.display())]
    PixelFormat {
        /// The file.
        path: PathBuf,
        /// The decoded colour type.
        color: png::ColorType,
    },
    /// The PNG encoder failed.
    #[error("{}: cannot encode PNG: {source}", .path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: png::EncodingError,
    },
    /// Bits do not form `rows` rows of the expected width, or there are too many rows.
    #[error(
        "{got} values do not form {rows} rows of {width} (at most {NETDIFFUSION_IMAGE_ROWS} rows)"
    )]
    Shape {
        /// Rows asked for.
        rows: usize,
        /// Row width expected.
        width: usize,
        /// Values given.
        got: usize,
    },
    /// A value is not -1, 0 or 1.
    #[error("row {row}, column {column}: invalid bit value {value}")]
    InvalidBit {
        /// 0-based row.
        row: usize,
        /// 0-based column in the row.
        column: usize,
        /// The value.
        value: Bit,
    },
}

/// A flow in NetDiffusion's image layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowImage {
    /// Number of rows, padding included (at most [`NETDIFFUSION_IMAGE_ROWS`]).
    pub rows: usize,
    /// Row-major bits, [`NETDIFFUSION_IMAGE_WIDTH`] a row.
    pub bits: Vec<Bit>,
}

impl FlowImage {
    /// Builds an image from `n` rows of netdiffd's model layout (1024 values each).
    pub fn from_model_rows(model: &[Bit], n: usize) -> Result<FlowImage, ImageError> {
        check_shape(model, n, MODEL_WIDTH)?;
        let mut bits = Vec::with_capacity(n * NETDIFFUSION_IMAGE_WIDTH);
        for row in model.chunks_exact(MODEL_WIDTH) {
            model_to_netdiffusion_image(row, &mut bits);
        }
        Ok(FlowImage { rows: n, bits })
    }

    /// Builds an image from `n` rows of the standard layout (1088 values each); the addresses
    /// are dropped and the IPv6 fields are vacant.
    pub fn from_standard_rows(standard: &[Bit], n: usize) -> Result<FlowImage, ImageError> {
        check_shape(standard, n, STANDARD_WIDTH)?;
        let mut model = Vec::with_capacity(n * MODEL_WIDTH);
        for row in standard.chunks_exact(STANDARD_WIDTH) {
            standard_to_model(row, &mut model);
        }
        FlowImage::from_model_rows(&model, n)
    }

    /// Number of packets: the rows before the trailing run of all-vacant (padding) rows.
    pub fn packets(&self) -> usize {
        let rows = self
            .bits
            .chunks_exact(NETDIFFUSION_IMAGE_WIDTH)
            .take(self.rows);
        let mut packets = 0;
        for (i, row) in rows.enumerate() {
            if row.iter().any(|&b| b != VACANT) {
                packets = i + 1;
            }
        }
        packets
    }

    /// The packet rows (padding dropped) in netdiffd's model layout, 1024 values a row.
    pub fn to_model(&self) -> Vec<Bit> {
        let mut out = Vec::with_capacity(self.packets() * MODEL_WIDTH);
        for row in self.packet_rows() {
            netdiffusion_image_to_model(row, &mut out);
        }
        out
    }

    /// The packet rows (padding dropped) in the standard layout, 1088 values a row, with vacant
    /// addresses; the image's IPv6 fields are dropped.
    pub fn to_standard(&self) -> Vec<Bit> {
        let mut out = Vec::with_capacity(self.packets() * STANDARD_WIDTH);
        for row in self.packet_rows() {
            out.extend_from_slice(&row[..ADDR_START]);
            out.resize(out.len() + ADDR_BITS, VACANT);
            out.extend_from_slice(&row[ADDR_START..IPV4_NO_ADDR]);
            out.extend_from_slice(&row[IPV4_NO_ADDR + IPV6_FIXED..]);
        }
        out
    }

    fn packet_rows(&self) -> impl Iterator<Item = &[Bit]> {
        self.bits
            .chunks_exact(NETDIFFUSION_IMAGE_WIDTH)
            .take(self.packets())
    }
}

fn check_shape(bits: &[Bit], n: usize, width: usize) -> Result<(), ImageError> {
    if n > NETDIFFUSION_IMAGE_ROWS || Some(bits.len()) != n.checked_mul(width) {
        return Err(ImageError::Shape {
            rows: n,
            width,
            got: bits.len(),
        });
    }
    Ok(())
}

/// How a pixel's colour becomes a bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantiser {
    /// The nearest of the three colours by squared RGB distance; ties go to 1, then 0.
    #[default]
    Nearest,
    /// NetDiffusion's own post-processing rule, which reproduces its quantised images exactly:
    /// red if `r > 0 && g < 160 && b < 100`, else the largest channel (ties to red, then green).
    NetDiffusion,
}

impl Quantiser {
    /// The bit for colour `rgb`.
    pub fn bit(self, rgb: [u8; 3]) -> Bit {
        let [r, g, b] = rgb;
        match self {
            Quantiser::Nearest => {
                let dist = |c: [u8; 3]| -> u32 {
                    rgb.iter()
                        .zip(c)
                        .map(|(&a, b)| u32::from(a.abs_diff(b)).pow(2))
                        .sum()
                };
                let (dr, dg, db) = (dist(RED), dist(GREEN), dist(BLUE));
                if dr <= dg && dr <= db {
                    1
                } else if dg <= db {
                    0
                } else {
                    VACANT
                }
            }
            Quantiser::NetDiffusion => {
                let max = r.max(g).max(b);
                if (r > 0 && g < 160 && b < 100) || max == r {
                    1
                } else if max == g {
                    0
                } else {
                    VACANT
                }
            }
        }
    }
}

/// The colour of a bit (anything but 1 and 0 is drawn as vacant).
pub fn colour(bit: Bit) -> [u8; 3] {
    match bit {
        1 => RED,
        0 => GREEN,
        _ => BLUE,
    }
}

/// Reads a NetDiffusion flow image: 8- or 16-bit RGB, RGBA, grey or palette PNG, 1088 wide (or
/// 1089 with a leading index column, dropped), at most 1024 rows; every pixel is quantised to
/// the nearest of the three colours ([`Quantiser::Nearest`]), alpha ignored.
pub fn read_png(path: impl AsRef<Path>) -> Result<FlowImage, ImageError> {
    read_png_with(path, Quantiser::Nearest)
}

/// [`read_png`] with a choice of quantisation rule.
pub fn read_png_with(
    path: impl AsRef<Path>,
    quantiser: Quantiser,
) -> Result<FlowImage, ImageError> {
    let path = path.as_ref();
    let io = |action, source| ImageError::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    let file = File::open(path).map_err(|e| io("cannot open", e))?;
    let bytes = file.metadata().map_err(|e| io("cannot stat", e))?.len();
    let decode = |source| ImageError::Decode {
        path: path.to_path_buf(),
        bytes,
        source,
    };
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(decode)?;
    let (width, height) = (reader.info().width, reader.info().height);
    let w = width as usize;
    let h = height as usize;
    if !(w == NETDIFFUSION_IMAGE_WIDTH || w == NETDIFFUSION_IMAGE_WIDTH + 1)
        || h > NETDIFFUSION_IMAGE_ROWS
    {
        return Err(ImageError::Size {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(decode)?;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        color => {
            return Err(ImageError::PixelFormat {
                path: path.to_path_buf(),
                color,
            })
        }
    };
    if frame.line_size == 0 {
        return Err(ImageError::Size {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let skip = w - NETDIFFUSION_IMAGE_WIDTH;
    let mut bits = Vec::with_capacity(h * NETDIFFUSION_IMAGE_WIDTH);
    for line in buf.chunks(frame.line_size).take(h) {
        for px in line
            .chunks_exact(channels)
            .skip(skip)
            .take(NETDIFFUSION_IMAGE_WIDTH)
        {
            let rgb = if channels < 3 {
                [px[0]; 3]
            } else {
                [px[0], px[1], px[2]]
            };
            bits.push(quantiser.bit(rgb));
        }
    }
    if bits.len() != h * NETDIFFUSION_IMAGE_WIDTH {
        return Err(ImageError::Size {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    Ok(FlowImage { rows: h, bits })
}

/// Writes `image` as a 1088 × 1024 RGB PNG, rows past `image.rows` vacant (blue), whole or not
/// at all ([`AtomicFile`]).
pub fn write_png(path: impl AsRef<Path>, image: &FlowImage) -> Result<(), ImageError> {
    let path = path.as_ref();
    check_shape(&image.bits, image.rows, NETDIFFUSION_IMAGE_WIDTH)?;
    let mut rgb = Vec::with_capacity(NETDIFFUSION_IMAGE_ROWS * NETDIFFUSION_IMAGE_WIDTH * 3);
    for (i, &bit) in image.bits.iter().enumerate() {
        if !(-1..=1).contains(&bit) {
            let (row, column) = (i / NETDIFFUSION_IMAGE_WIDTH, i % NETDIFFUSION_IMAGE_WIDTH);
            return Err(ImageError::InvalidBit {
                row,
                column,
                value: bit,
            });
        }
        rgb.extend_from_slice(&colour(bit));
    }
    let pad = (NETDIFFUSION_IMAGE_ROWS - image.rows) * NETDIFFUSION_IMAGE_WIDTH;
    for _ in 0..pad {
        rgb.extend_from_slice(&BLUE);
    }
    let io = |action, source| ImageError::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    let enc_err = |source| ImageError::Encode {
        path: path.to_path_buf(),
        source,
    };
    let mut out = AtomicFile::create(path).map_err(|e| io("cannot create", e))?;
    {
        let mut enc = png::Encoder::new(
            &mut out,
            NETDIFFUSION_IMAGE_WIDTH as u32,
            NETDIFFUSION_IMAGE_ROWS as u32,
        );
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(enc_err)?;
        writer.write_image_data(rgb.as_slice()).map_err(enc_err)?;
        writer.finish().map_err(enc_err)?;
    }
    out.commit().map_err(|e| io("cannot write", e))?;
    Ok(())
}
