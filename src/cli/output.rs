//! Output destinations shared by the subcommands: a file written atomically, or stdout.

use netdiffd::atomic_file::AtomicFile;
use std::io::{self, Write};
use std::path::Path;

/// Where a command writes its main output.
pub enum Output {
    /// A file that appears only when complete.
    File(AtomicFile),
    /// Standard output.
    Stdout(io::BufWriter<io::Stdout>),
}

impl Output {
    /// A file for `path`, or stdout when `path` is `None` or `-`.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Output> {
        match path {
            Some(p) if p != Path::new("-") => Ok(Output::File(AtomicFile::create(p)?)),
            _ => Ok(Output::Stdout(io::BufWriter::with_capacity(
                1 << 20,
                io::stdout(),
            ))),
        }
    }

    /// Makes the output final (renames the file into place).
    pub fn commit(self) -> io::Result<()> {
        match self {
            Output::File(f) => f.commit().map(|_| ()),
            Output::Stdout(mut s) => s.flush(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::File(f) => f.write(buf),
            Output::Stdout(s) => s.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::File(f) => f.write_all(buf),
            Output::Stdout(s) => s.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::File(f) => f.flush(),
            Output::Stdout(s) => s.flush(),
        }
    }
}

/// A progress bar on stderr for `total` units (hidden when stderr is not a terminal).
pub fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}})"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}
