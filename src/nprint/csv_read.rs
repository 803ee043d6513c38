//! Tolerant reader for nPrint CSV files: the nPrint tool's output, NetDiffusion's 1088-column
//! files and pandas rewrites of either. The header is the source of truth: any subset of blocks,
//! columns in any order, an optional index column and optional time columns.
//!
//! A file with a header and no data rows reads as an empty table; a file without even a header
//! line is an error. Fields are plain (no CSV quoting), as every known writer emits them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::layout::field_in_block;
use super::layout::{standard_to_model, Bit, Block, Layout, MODEL_WIDTH, STANDARD_WIDTH, VACANT};

/// Index column names the nPrint tool writes (its `-O` option).
pub const INDEX_COLUMNS: &[&str] = &["src_ip", "dst_ip", "src_prt", "dst_prt", "flow", "tx_mac"];

/// Largest payload block accepted, in bytes: the most an IP packet carries.
pub const MAX_PAYLOAD_BYTES: usize = 65_535;

/// Longest field value quoted in an error message, in bytes.
const MAX_QUOTED: usize = 64;

/// Failure to read an nPrint CSV file. Every variant names the file; row errors name the 1-based
/// line (the header is line 1) and the column.
#[derive(Debug, thiserror::Error)]
pub enum NprintReadError {
    /// The file could not be opened or read.
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file has no header line.
    #[error("{}: empty file, no header line", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The header line is not UTF-8.
    #[error("{}: line 1: header is not UTF-8", .path.display())]
    HeaderNotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// A header name is neither a bit column, an index in first position, nor a time column.
    #[error("{}: line 1: unknown column `{column}` (column {position})", .path.display())]
    UnknownColumn {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// 1-based column number.
        position: usize,
    },
    /// A column name occurs twice.
    #[error("{}: line 1: duplicate column `{column}` (columns {first} and {second})", .path.display())]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
        /// 1-based number of its first occurrence.
        first: usize,
        /// 1-based number of its second occurrence.
        second: usize,
    },
    /// Only one of `tv_sec` and `tv_usec` is present.
    #[error("{}: line 1: column `{present}` without `{missing}`", .path.display())]
    UnpairedTime {
        /// The file.
        path: PathBuf,
        /// The column present.
        present: &'static str,
        /// The column missing.
        missing: &'static str,
    },
    /// The header names no bit column.
    #[error("{}: line 1: no bit columns", .path.display())]
    NoBitColumns {
        /// The file.
        path: PathBuf,
    },
    /// A payload column lies beyond [`MAX_PAYLOAD_BYTES`].
    #[error(
        "{}: line 1: column `{column}` lies beyond the largest payload ({MAX_PAYLOAD_BYTES} bytes)",
        .path.display()
    )]
    PayloadTooWide {
        /// The file.
        path: PathBuf,
        /// The column name.
        column: String,
    },
    /// The payload block would have more bytes than the file has payload columns. Writers emit
    /// every payload column; refusing sparse ones bounds the memory a small file can demand.
    #[error(
        "{}: line 1: {columns} payload column(s) up to `payload_bit_{last}` would make a \
         {bytes}-byte payload block (at most one byte per payload column)",
        .path.display()
    )]
    SparsePayload {
        /// The file.
        path: PathBuf,
        /// Payload columns in the header.
        columns: usize,
        /// Highest payload bit index.
        last: usize,
        /// Payload bytes that index implies.
        bytes: usize,
    },
    /// A row has a different number of fields than the header (a blank line has 0).
    #[error("{}: line {line}: expected {expected} fields, found {found}", .path.display())]
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// Fields in the header.
        expected: usize,
        /// Fields in this row.
        found: usize,
    },
    /// A bit column holds something other than -1, 0 or 1.
    #[error(
        "{}: line {line}, column `{column}`: invalid bit value `{value}` (expected -1, 0 or 1)",
        .path.display()
    )]
    InvalidBit {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column name.
        column: String,
        /// The value (truncated if long).
        value: String,
    },
    /// A time column holds something other than an integer.
    #[error("{}: line {line}, column `{column}`: invalid integer `{value}`", .path.display())]
    InvalidNumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The column name.
        column: String,
        /// The value (truncated if long).
        value: String,
    },
}

/// An nPrint table as read from CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NprintTable {
    /// The blocks that have at least one column in the file.
    pub layout: Layout,
    /// Number of data rows.
    pub rows: usize,
    /// Row-major bits in `layout` order; bits without a column in the file are vacant.
    pub bits: Vec<Bit>,
    /// Name of the index column (`src_ip`, `flow`, ..., `Unnamed: 0` or empty for pandas), if any.
    pub index_name: Option<String>,
    /// Index values, one per row, if there is an index column.
    pub index: Option<Vec<String>>,
    /// `rts`: microseconds since the previous packet, if the column is present.
    pub rts_us: Option<Vec<i64>>,
    /// `(tv_sec, tv_usec)` absolute timestamps, if both columns are present.
    pub abs_ts: Option<Vec<(i64, i64)>>,
}

impl NprintTable {
    /// Bits per row.
    pub fn width(&self) -> usize {
        self.layout.width()
    }

    /// Row `i` in `layout` order.
    ///
    /// # Panics
    /// If `i >= self.rows`, like slice indexing.
    pub fn row(&self, i: usize) -> &[Bit] {
        let w = self.width();
        &self.bits[i * w..(i + 1) * w]
    }

    /// Every row projected to [`Layout::STANDARD`] (1088 bits a row; vacant where the table
    /// lacks a block).
    pub fn to_standard(&self) -> Vec<Bit> {
        let mut out = Vec::with_capacity(self.rows * STANDARD_WIDTH);
        self.for_each_standard_row(|row| out.extend_from_slice(row));
        out
    }

    /// Every row in netdiffd's 1024-wide model layout (no addresses, no IPv6).
    pub fn to_model(&self) -> Vec<Bit> {
        let mut out = Vec::with_capacity(self.rows * MODEL_WIDTH);
        self.for_each_standard_row(|row| standard_to_model(row, &mut out));
        out
    }

    fn for_each_standard_row(&self, mut f: impl FnMut(&[Bit])) {
        let w = self.width();
        if w == 0 {
            return;
        }
        let parts: Vec<(Option<usize>, usize)> = Layout::STANDARD
            .blocks()
            .into_iter()
            .map(|b| (self.layout.offset(b), Layout::STANDARD.block_bits(b)))
            .collect();
        let mut std_row = Vec::with_capacity(STANDARD_WIDTH);
        for row in self.bits.chunks_exact(w) {
            std_row.clear();
            for &(offset, len) in &parts {
                match offset.and_then(|o| row.get(o..o + len)) {
                    Some(src) => std_row.extend_from_slice(src),
                    None => std_row.resize(std_row.len() + len, VACANT),
                }
            }
            f(&std_row);
        }
    }
}

/// Reads an nPrint CSV file.
pub fn read_csv(path: impl AsRef<Path>) -> Result<NprintTable, NprintReadError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|source| io_err(path, source))?;
    parse_csv(BufReader::with_capacity(1 << 20, file), path)
}

/// Parses nPrint CSV from `reader`; `name` is the file name used in error messages.
pub fn parse_csv(mut reader: impl BufRead, name: &Path) -> Result<NprintTable, NprintReadError> {
    let mut line = Vec::new();
    if reader
        .read_until(b'\n', &mut line)
        .map_err(|e| io_err(name, e))?
        == 0
    {
        return Err(NprintReadError::Empty {
            path: name.to_path_buf(),
        });
    }
    let head_bytes = trim_eol(&line);
    let head_bytes = head_bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(head_bytes);
    let head = std::str::from_utf8(head_bytes).map_err(|_| NprintReadError::HeaderNotUtf8 {
        path: name.to_path_buf(),
    })?;
    let header = Header::parse(head, name)?;
    let mut rows = Rows::new(&header);
    let mut lineno: u64 = 1;
    let mut blank_at = None;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| io_err(name, e))?
            == 0
        {
            break;
        }
        lineno += 1;
        let text = trim_eol(&line);
        if text.is_empty() {
            // Blank lines are tolerated at the end of the file only.
            blank_at.get_or_insert(lineno);
            continue;
        }
        if let Some(at) = blank_at {
            return Err(NprintReadError::Ragged {
                path: name.to_path_buf(),
                line: at,
                expected: header.cols.len(),
                found: 0,
            });
        }
        rows.push(text, lineno, &header, name)?;
    }
    Ok(rows.finish(header))
}

/// What a CSV column holds.
#[derive(Debug, Clone, Copy)]
enum Col {
    Index,
    Rts,
    TvSec,
    TvUsec,
    /// A bit at this offset of the row.
    Bit(usize),
}

/// A parsed header: what each column holds and the table layout.
struct Header {
    names: Vec<String>,
    cols: Vec<Col>,
    layout: Layout,
    index_name: Option<String>,
    has_rts: bool,
    has_abs: bool,
}

impl Header {
    fn parse(head: &str, path: &Path) -> Result<Header, NprintReadError> {
        let names: Vec<String> = head.split(',').map(str::to_owned).collect();
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(names.len());
        let mut raw = Vec::with_capacity(names.len());
        let mut present = [false; 7];
        let mut payload_bits = 0;
        let mut payload_columns = 0;
        let mut index_name = None;
        for (j, name) in names.iter().enumerate() {
            if let Some(first) = seen.insert(name, j) {
                return Err(NprintReadError::DuplicateColumn {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    first: first + 1,
                    second: j + 1,
                });
            }
            let kind = match name.as_str() {
                "rts" => RawCol::Rts,
                "tv_sec" => RawCol::TvSec,
                "tv_usec" => RawCol::TvUsec,
                n if j == 0 && is_index_name(n) => {
                    index_name = Some(n.to_owned());
                    RawCol::Index
                }
                n => match bit_column(n) {
                    Some((Block::Payload, bit)) if bit / 8 >= MAX_PAYLOAD_BYTES => {
                        return Err(NprintReadError::PayloadTooWide {
                            path: path.to_path_buf(),
                            column: name.clone(),
                        })
                    }
                    Some((block, bit)) => {
                        present[block as usize] = true;
                        if block == Block::Payload {
                            payload_bits = payload_bits.max(bit + 1);
                            payload_columns += 1;
                        }
                        RawCol::Bit(block, bit)
                    }
                    None => {
                        return Err(NprintReadError::UnknownColumn {
                            path: path.to_path_buf(),
                            column: name.clone(),
                            position: j + 1,
                        })
                    }
                },
            };
            raw.push(kind);
        }
        let has = |k: &str| seen.contains_key(k);
        match (has("tv_sec"), has("tv_usec")) {
            (true, false) => return Err(unpaired(path, "tv_sec", "tv_usec")),
            (false, true) => return Err(unpaired(path, "tv_usec", "tv_sec")),
            _ => {}
        }
        if payload_bits.div_ceil(8) > payload_columns {
            return Err(NprintReadError::SparsePayload {
                path: path.to_path_buf(),
                columns: payload_columns,
                last: payload_bits - 1,
                bytes: payload_bits.div_ceil(8),
            });
        }
        let layout = Layout {
            eth: present[Block::Eth as usize],
            ipv4: present[Block::Ipv4 as usize],
            ipv6: present[Block::Ipv6 as usize],
            tcp: present[Block::Tcp as usize],
            udp: present[Block::Udp as usize],
            icmp: present[Block::Icmp as usize],
            payload_bytes: payload_bits.div_ceil(8),
        };
        if layout.width() == 0 {
            return Err(NprintReadError::NoBitColumns {
                path: path.to_path_buf(),
            });
        }
        let mut base = [0usize; 7];
        for b in layout.blocks() {
            base[b as usize] = layout.offset(b).unwrap_or(0);
        }
        let cols = raw
            .into_iter()
            .map(|r| match r {
                RawCol::Index => Col::Index,
                RawCol::Rts => Col::Rts,
                RawCol::TvSec => Col::TvSec,
                RawCol::TvUsec => Col::TvUsec,
                RawCol::Bit(b, bit) => Col::Bit(base[b as usize] + bit),
            })
            .collect();
        Ok(Header {
            index_name,
            has_rts: has("rts"),
            has_abs: has("tv_sec"),
            names,
            cols,
            layout,
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum RawCol {
    Index,
    Rts,
    TvSec,
    TvUsec,
    Bit(Block, usize),
}

/// An nPrint index column or a pandas index column (unnamed, or `Unnamed: 0`).
fn is_index_name(n: &str) -> bool {
    INDEX_COLUMNS.contains(&n) || n.is_empty() || n == "Unnamed: 0"
}

/// Maps a column name `<field>_<i>` or `payload_bit_<i>` to its block and bit offset in it.
fn bit_column(name: &str) -> Option<(Block, usize)> {
    let (prefix, idx) = name.rsplit_once('_')?;
    let canonical = !idx.is_empty()
        && idx.len() <= 9
        && idx.bytes().all(|c| c.is_ascii_digit())
        && (idx == "0" || !idx.starts_with('0'));
    if !canonical {
        return None;
    }
    let i: usize = idx.parse().ok()?;
    let block = Block::of_prefix(prefix)?;
    if block == Block::Payload {
        return Some((block, i));
    }
    let (start, width) = field_in_block(block, prefix)?;
    (i < width).then_some((block, start + i))
}

/// Accumulates data rows.
struct Rows {
    width: usize,
    rows: usize,
    bits: Vec<Bit>,
    index: Option<Vec<String>>,
    rts: Option<Vec<i64>>,
    abs: Option<Vec<(i64, i64)>>,
}

impl Rows {
    fn new(h: &Header) -> Rows {
        Rows {
            width: h.layout.width(),
            rows: 0,
            bits: Vec::new(),
            index: h.index_name.as_ref().map(|_| Vec::new()),
            rts: h.has_rts.then(Vec::new),
            abs: h.has_abs.then(Vec::new),
        }
    }

    fn push(
        &mut self,
        text: &[u8],
        line: u64,
        h: &Header,
        path: &Path,
    ) -> Result<(), NprintReadError> {
        let start = self.bits.len();
        self.bits.resize(start + self.width, VACANT);
        let row = &mut self.bits[start..];
        let (mut sec, mut usec) = (0, 0);
        let mut found = 0;
        for (j, field) in text.split(|&c| c == b',').enumerate() {
            found = j + 1;
            let Some(&col) = h.cols.get(j) else { continue };
            let number = |f: &[u8]| {
                parse_int(f).ok_or_else(|| NprintReadError::InvalidNumber {
                    path: path.to_path_buf(),
                    line,
                    column: h.names[j].clone(),
                    value: quote(f),
                })
            };
            match col {
                Col::Bit(at) => {
                    let bit = parse_bit(field).ok_or_else(|| NprintReadError::InvalidBit {
                        path: path.to_path_buf(),
                        line,
                        column: h.names[j].clone(),
                        value: quote(field),
                    })?;
                    if let Some(slot) = row.get_mut(at) {
                        *slot = bit;
                    }
                }
                Col::Index => {
                    if let Some(v) = self.index.as_mut() {
                        v.push(String::from_utf8_lossy(field).into_owned());
                    }
                }
                Col::Rts => {
                    let v = number(field)?;
                    if let Some(r) = self.rts.as_mut() {
                        r.push(v);
                    }
                }
                Col::TvSec => sec = number(field)?,
                Col::TvUsec => usec = number(field)?,
            }
        }
        if found != h.cols.len() {
            return Err(NprintReadError::Ragged {
                path: path.to_path_buf(),
                line,
                expected: h.cols.len(),
                found,
            });
        }
        if let Some(a) = self.abs.as_mut() {
            a.push((sec, usec));
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(self, h: Header) -> NprintTable {
        NprintTable {
            layout: h.layout,
            rows: self.rows,
            bits: self.bits,
            index_name: h.index_name,
            index: self.index,
            rts_us: self.rts,
            abs_ts: self.abs,
        }
    }
}

fn parse_bit(f: &[u8]) -> Option<Bit> {
    match f {
        b"0" | b"0.0" => Some(0),
        b"1" | b"1.0" => Some(1),
        b"-1" | b"-1.0" => Some(-1),
        _ => None,
    }
}

/// An integer, also in the `123.0` form pandas writes for float columns.
fn parse_int(f: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(f).ok()?;
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let x: f64 = s.parse().ok()?;
    // 2^63 bounds the i64 range exactly as an f64.
    let in_range = x.is_finite() && x.fract() == 0.0 && x.abs() < 9_223_372_036_854_775_808.0;
    #[allow(clippy::cast_possible_truncation)]
    in_range.then_some(x as i64)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn quote(f: &[u8]) -> String {
    let cut = &f[..f.len().min(MAX_QUOTED)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if f.len() > MAX_QUOTED {
        s.push('…');
    }
    s
}

fn io_err(path: &Path, source: std::io::Error) -> NprintReadError {
    NprintReadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn unpaired(path: &Path, present: &'static str, missing: &'static str) -> NprintReadError {
    NprintReadError::UnpairedTime {
        path: path.to_path_buf(),
        present,
        missing,
    }
}
