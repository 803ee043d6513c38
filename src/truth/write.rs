//! Writing ground truth as CSV or JSON Lines, whole or not at all.

use super::{FlowRecord, GroundTruth};
use crate::atomic_file::AtomicFile;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file formats of a labels file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelsFormat {
    /// Comma-separated values with a header line; one row a flow and replay loop.
    Csv,
    /// One JSON object a flow, one a line.
    JsonLines,
}

/// Why a labels file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// The extension names no known format.
    #[error("labels file {0}: unknown format (name it .csv, or .jsonl / .ndjson / .json for JSON Lines)")]
    Format(PathBuf),
    /// Writing failed; nothing was left at the path.
    #[error("writing labels file {path}: {source}")]
    Io {
        /// The labels file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl LabelsFormat {
    /// The format `path`'s extension names, once a file can be made there: what to check
    /// before the work whose ground truth it will hold.
    pub fn probe(path: &Path) -> Result<LabelsFormat, LabelsError> {
        let format = Self::for_path(path)?;
        // Dropped uncommitted, the temporary file is removed again.
        AtomicFile::create(path).map_err(|source| LabelsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(format)
    }

    /// The format a path's extension names.
    pub fn for_path(path: &Path) -> Result<LabelsFormat, LabelsError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => Ok(LabelsFormat::Csv),
            Some("jsonl" | "ndjson" | "json") => Ok(LabelsFormat::JsonLines),
            _ => Err(LabelsError::Format(path.to_path_buf())),
        }
    }
}

/// The columns of the CSV form, in order.
pub const CSV_COLUMNS: [&str; 21] = [
    "flow",
    "capture",
    "class",
    "group",
    "proto",
    "client",
    "client_port",
    "server",
    "server_port",
    "community_id",
    "client_packets",
    "client_bytes",
    "server_packets",
    "server_bytes",
    "first_ts_ns",
    "last_ts_ns",
    "client_iface",
    "server_iface",
    "loop",
    "sent_first_ns",
    "sent_last_ns",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_rows(r: &FlowRecord, out: &mut impl Write) -> io::Result<()> {
    let head = [
        r.flow.to_string(),
        csv_field(&r.capture),
        csv_field(&r.class),
        csv_field(&r.group),
        r.proto.clone(),
        r.client.to_string(),
        r.client_port.to_string(),
        r.server.to_string(),
        r.server_port.to_string(),
        r.community_id.clone(),
        r.client_packets.to_string(),
        r.client_bytes.to_string(),
        r.server_packets.to_string(),
        r.server_bytes.to_string(),
        r.first_ts_ns.to_string(),
        r.last_ts_ns.to_string(),
        csv_field(r.client_iface.as_deref().unwrap_or("")),
        csv_field(r.server_iface.as_deref().unwrap_or("")),
    ]
    .join(",");
    if r.sent.is_empty() {
        writeln!(out, "{head},,,")?;
    }
    for s in &r.sent {
        writeln!(out, "{head},{},{},{}", s.loop_index, s.first_ns, s.last_ns)?;
    }
    Ok(())
}

impl GroundTruth {
    /// Writes the records to `path` in the format its extension names (whole or not at all).
    pub fn write(&self, path: &Path) -> Result<(), LabelsError> {
        let format = LabelsFormat::for_path(path)?;
        self.write_as(path, format)
    }

    /// Writes the records to `path` in `format` (whole or not at all).
    pub fn write_as(&self, path: &Path, format: LabelsFormat) -> Result<(), LabelsError> {
        let io_err = |source| LabelsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = AtomicFile::create(path).map_err(io_err)?;
        let written = match format {
            LabelsFormat::Csv => (|| {
                writeln!(file, "{}", CSV_COLUMNS.join(","))?;
                for r in &self.records {
                    csv_rows(r, &mut file)?;
                }
                Ok(())
            })(),
            LabelsFormat::JsonLines => (|| {
                for r in &self.records {
                    serde_json::to_writer(&mut file, r)?;
                    file.write_all(b"\n")?;
                }
                Ok(())
            })(),
        };
        written.map_err(io_err)?;
        file.commit().map_err(io_err)?;
        Ok(())
    }
}

/// Reads a JSON Lines labels file, skipping `offset` records and returning at most `limit`,
/// with the total number of records in the file.
pub fn read_json_lines(
    path: &Path,
    offset: usize,
    limit: usize,
) -> Result<(Vec<FlowRecord>, usize), LabelsError> {
    let io_err = |source| LabelsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io_err)?;
    let mut total = 0;
    let mut out = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        total += 1;
        if i >= offset && out.len() < limit {
            let r: FlowRecord = serde_json::from_str(line).map_err(|e| {
                io_err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line {}: {e}", i + 1),
                ))
            })?;
            out.push(r);
        }
    }
    Ok((out, total))
}
