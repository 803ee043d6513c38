//! netdiffd: learns what real traffic of a class looks like, generates synthetic flows with a
//! diffusion model, repairs them into protocol-compliant packets and replays them.
//!
//! Data walks one way through the stages: [`capture`] → [`flows`] → [`nprint`] → [`model`] →
//! [`repair`] → [`packets`] → [`replay`]. [`wire`] holds the packet header views every stage shares.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod atomic_file;
pub mod baseline;
pub mod capture;
pub mod check;
pub mod eval;
pub mod flows;
pub mod model;
pub mod nprint;
pub mod packets;
pub mod pipeline;
pub mod repair;
pub mod replay;
pub mod service;
pub mod wire;
