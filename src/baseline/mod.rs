//! Baseline generators that synthetic traffic must beat, fitted per class on real flows:
//!
//! - [`BaselineKind::Random`]: every value of the model layout (IPv4 without addresses, TCP,
//!   UDP, ICMP) drawn uniformly from the three nPrint values {1, 0, -1}, as the paper's
//!   "random generation" draws random pixels of its three colours. It knows nothing of the
//!   class except how long its flows are.
//! - [`BaselineKind::Marginals`]: each value drawn independently from its per-class frequency
//!   at that packet position (positions past [`DEFAULT_POSITIONS`] share one table), with the
//!   class's timing, direction and server-port hints (built as the model's are, by
//!   [`crate::corpus::HintsBuilder`]): a model that knows every bit's frequency but no
//!   structure.
//!
//! Both draw the flow length from the class's real flow lengths (at most [`MAX_ROWS`]) and
//! leave addresses vacant, as the diffusion model does; the matrices go through
//! [`crate::repair::repair_flow`] like any generated flow.

mod marginals;
mod model;

pub use marginals::BitMarginals;
pub use model::{write_per_class, ClassModel};

use std::path::PathBuf;
use std::str::FromStr;

/// Packet positions with a table of their own in the marginals baseline.
pub const DEFAULT_POSITIONS: usize = 64;
/// Longest flow generated (rows of a NetDiffusion image).
pub const MAX_ROWS: usize = 1024;

/// Which baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineKind {
    /// Per-class independent bit marginals.
    Marginals,
    /// Uniform random values.
    Random,
}

impl BaselineKind {
    /// Both kinds.
    pub const ALL: [BaselineKind; 2] = [BaselineKind::Marginals, BaselineKind::Random];

    /// Name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            BaselineKind::Marginals => "marginals",
            BaselineKind::Random => "random",
        }
    }
}

impl FromStr for BaselineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "marginals" => Ok(BaselineKind::Marginals),
            "random" => Ok(BaselineKind::Random),
            other => Err(format!("unknown baseline {other:?} (marginals | random)")),
        }
    }
}

/// Why a baseline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// No real flow of the class to fit on.
    #[error("class {0:?} has no real flows to fit a baseline on")]
    NoFlows(String),
    /// A generated flow could not be repaired.
    #[error("class {class:?}, flow {index}: {source}")]
    Repair {
        /// The class.
        class: String,
        /// Index of the flow within the class.
        index: usize,
        /// The cause.
        source: crate::repair::RepairError,
    },
    /// A pcap could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
