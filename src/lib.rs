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

/// A scratch folder for unit tests, `netdiffd-TAG-PID` under the system's temporary folder
/// (created if missing).
#[cfg(test)]
pub(crate) fn test_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("netdiffd-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
