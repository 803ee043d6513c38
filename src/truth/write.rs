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
    /// A line of a labels file that does not parse.
    #[error("labels file {path}: line {line}: {why}")]
    Parse {
        /// The labels file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        why: String,
    },
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

/// Splits one CSV line into fields (double quotes quote, `""` is a quote).
fn csv_split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap_or(&mut String::new()).push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

fn record_from_csv(f: &[String]) -> Result<(FlowRecord, Option<super::SentTimes>), String> {
    if f.len() != CSV_COLUMNS.len() {
        return Err(format!(
            "{} fields, expected {} ({})",
            f.len(),
            CSV_COLUMNS.len(),
            CSV_COLUMNS.join(",")
        ));
    }
    fn num<T: std::str::FromStr>(f: &[String], i: usize) -> Result<T, String> {
        f[i].parse()
            .map_err(|_| format!("{}: {:?} is not a valid value", CSV_COLUMNS[i], f[i]))
    }
    let opt = |i: usize| (!f[i].is_empty()).then(|| f[i].clone());
    let r = FlowRecord {
        flow: num(f, 0)?,
        capture: f[1].clone(),
        class: f[2].clone(),
        group: f[3].clone(),
        proto: f[4].clone(),
        client: num(f, 5)?,
        client_port: num(f, 6)?,
        server: num(f, 7)?,
        server_port: num(f, 8)?,
        community_id: f[9].clone(),
        client_packets: num(f, 10)?,
        client_bytes: num(f, 11)?,
        server_packets: num(f, 12)?,
        server_bytes: num(f, 13)?,
        first_ts_ns: num(f, 14)?,
        last_ts_ns: num(f, 15)?,
        client_iface: opt(16),
        server_iface: opt(17),
        sent: Vec::new(),
    };
    let sent = if f[18].is_empty() {
        None
    } else {
        Some(super::SentTimes {
            loop_index: num(f, 18)?,
            first_ns: num(f, 19)?,
            last_ns: num(f, 20)?,
        })
    };
    Ok((r, sent))
}

/// Reads a labels file in either form (by its extension): every record, replay loops merged
/// back into one record a flow.
pub fn read_labels(path: &Path) -> Result<Vec<FlowRecord>, LabelsError> {
    match LabelsFormat::for_path(path)? {
        LabelsFormat::JsonLines => read_json_lines(path, 0, usize::MAX).map(|(r, _)| r),
        LabelsFormat::Csv => {
            let text = std::fs::read_to_string(path).map_err(|source| LabelsError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let mut out: Vec<FlowRecord> = Vec::new();
            for (i, line) in text.lines().enumerate().skip(1) {
                if line.trim().is_empty() {
                    continue;
                }
                let (r, sent) =
                    record_from_csv(&csv_split(line)).map_err(|why| LabelsError::Parse {
                        path: path.to_path_buf(),
                        line: i + 1,
                        why,
                    })?;
                match out.last_mut() {
                    Some(last) if last.flow == r.flow && last.capture == r.capture => {
                        last.sent.extend(sent)
                    }
                    _ => {
                        let mut r = r;
                        r.sent.extend(sent);
                        out.push(r);
                    }
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::SentTimes;

    fn record(flow: u64, class: &str) -> FlowRecord {
        FlowRecord {
            flow,
            capture: "a,b.pcap".into(),
            class: class.into(),
            group: "g".into(),
            proto: "tcp".into(),
            client: "198.18.0.1".parse().unwrap(),
            client_port: 40000,
            server: "198.19.0.1".parse().unwrap(),
            server_port: 443,
            community_id: "1:abc+/=".into(),
            client_packets: 3,
            client_bytes: 180,
            server_packets: 2,
            server_bytes: 1500,
            first_ts_ns: 10,
            last_ts_ns: 20,
            client_iface: Some("eth1".into()),
            server_iface: None,
            sent: vec![
                SentTimes {
                    loop_index: 0,
                    first_ns: 1,
                    last_ns: 2,
                },
                SentTimes {
                    loop_index: 1,
                    first_ns: 3,
                    last_ns: 4,
                },
            ],
        }
    }

    #[test]
    fn both_forms_read_back_what_was_written() {
        let dir = crate::test_dir("truth-write");
        let truth = GroundTruth {
            records: vec![record(0, "say \"hi\""), record(1, "plain")],
            frames: Vec::new(),
        };
        for name in ["l.csv", "l.jsonl"] {
            let path = dir.join(name);
            truth.write(&path).unwrap();
            assert_eq!(read_labels(&path).unwrap(), truth.records, "{name}");
        }
        let csv = std::fs::read_to_string(dir.join("l.csv")).unwrap();
        assert_eq!(
            csv.lines().count(),
            5,
            "a header and a row a flow and loop:\n{csv}"
        );
        assert!(csv.contains("\"say \"\"hi\"\"\""), "{csv}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_paths_and_lines_are_named() {
        let dir = crate::test_dir("truth-bad");
        let e = LabelsFormat::probe(&dir.join("x.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.txt") && e.contains(".csv"), "{e}");
        // A folder that cannot be made (a file is in the way) is named.
        std::fs::write(dir.join("file"), b"").unwrap();
        let blocked = dir.join("file/sub/l.csv");
        let e = LabelsFormat::probe(&blocked).unwrap_err().to_string();
        assert!(e.contains("file/sub"), "{e}");
        std::fs::remove_file(dir.join("file")).unwrap();
        let bad = dir.join("bad.csv");
        std::fs::write(&bad, format!("{}\n1,2,3\n", CSV_COLUMNS.join(","))).unwrap();
        let e = read_labels(&bad).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("3 fields"), "{e}");
        // Nothing is left behind by a probe.
        let probe = dir.join("ok.jsonl");
        LabelsFormat::probe(&probe).unwrap();
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "{left:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
