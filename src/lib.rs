//! netdiffd: learns what real traffic of a class looks like, generates synthetic flows with a
//! diffusion model, repairs them into protocol-compliant packets and replays them.
//!
//! Data walks one way through the stages: [`capture`] → [`flows`] → [`nprint`] → model →
//! repair → packets → replay. [`wire`] holds the packet header views every stage shares.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod capture;
pub mod nprint;
pub mod replay;
pub mod wire;
