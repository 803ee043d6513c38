//! netdiffd: learns what real traffic of a class looks like, generates synthetic flows with a
//! diffusion model, repairs them into protocol-compliant packets and replays them.
//!
//! Data walks one way through the stages: [`capture`] → [`flows`] → [`nprint`] → [`model`] →
//! [`repair`] → [`packets`] → [`replay`]. [`wire`] holds the packet header views every stage shares;
//! [`corpus`] reads the labelled real captures every stage that learns from real traffic uses.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod atomic_file;
pub mod baseline;
pub mod capture;
pub mod check;
pub mod corpus;
pub mod eval;
pub mod flows;
pub mod model;
pub mod nprint;
pub mod packets;
pub mod pipeline;
pub mod repair;
pub mod replay;
mod rule_enum;
pub mod seed;
pub mod service;
pub mod truth;
pub mod wire;

/// Scratch folders and files for unit tests: the integration tests' own (`tests/common`), so
/// that both kinds of test make and remove them one way.
#[cfg(test)]
#[path = "../tests/common/scratch.rs"]
pub(crate) mod test_scratch;

/// A scratch folder for unit tests, `netdiffd-TAG-PID-N` under the system's temporary folder,
/// made fresh and removed with everything in it when the test drops it, passed or failed.
#[cfg(test)]
pub(crate) fn test_dir(tag: &str) -> test_scratch::TempDir {
    test_scratch::TempDir::new(tag)
}
