//! Evaluation of synthetic traffic against real traffic (`netdiffd eval`), in three parts:
//! statistical similarity of header fields and flow features ([`similarity`]; against held-out
//! captures beside a real-vs-real floor, and in-distribution, in [`heldout`]; how much of a
//! held-out figure is sampling noise, in [`spread`]), usefulness for
//! training classifiers ([`ml`]), and protocol compliance ([`compliance`]); with the baselines
//! of [`crate::baseline`] generated and scored in the same run when asked. [`evaluate`] runs
//! everything and writes `report.md`, `report.json` and PNG plots.

pub mod classify;
pub mod compliance;
pub mod dataset;
pub mod distance;
mod error;
pub mod fields;
pub mod flow_features;
pub mod heldout;
pub mod ml;
pub mod plot;
pub mod report;
mod run;
pub mod scenario;
pub mod similarity;
pub mod split;
pub mod spread;
pub mod tshark;

pub use error::EvalError;
pub use run::{evaluate, BaselineFlows, EvalConfig};
