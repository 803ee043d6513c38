//! Replay: sends the frames of capture files onto a network interface with tcpreplay's modes
//! (captured timing with a multiplier, constant packet or bit rate, top speed; loops, limits),
//! optional rewriting for the test bed, and statistics that include how late each frame went
//! out.
//!
//! [`Replayer::prepare`] checks everything that can be checked before the first frame (interface
//! present and up, permission, files, link types, MTU); [`Replayer::run`] sends and returns a
//! [`ReplayReport`]. A [`ReplayHandle`] cancels a run from another thread and reads its live
//! [`ReplayCounters`].

mod clients;
mod config;
mod engine;
mod error;
mod iface;
mod link;
mod rewrite;
mod run;
mod sender;
#[cfg(target_os = "linux")]
mod sender_mmsg;
mod sender_pcap;
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sender_xdp;
mod source;
mod split;
mod stats;
mod sys;
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod sys_xdp;
mod timing;

pub use config::{
    CatchUp, Pace, Rate, RateParseError, ReplayConfig, SenderKind, DEFAULT_REALTIME_PRIORITY,
    DEFAULT_SPIN_MARGIN,
};
pub use engine::{ReplayHandle, Replayer, MAX_BATCH};
pub use error::ReplayError;
pub use iface::{IfaceFraming, InterfaceInfo};
pub use rewrite::{
    parse_mac, CidrMap, Ipv4Cidr, MacPair, PortMap, RewriteConfig, RewriteParseError, Rewriter,
    TtlRule,
};
pub use sender::{open_sender, FrameSink, SendTally};
#[cfg(target_os = "linux")]
pub use sender_mmsg::MmsgSender;
pub use sender_pcap::PcapSender;
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub use sender_xdp::XdpSender;
pub use split::{split_sides, Side, SideSplit, TcpprepCache};
pub use stats::{
    CounterSnapshot, IfaceTally, LatenessHistogram, LatenessSummary, ReplayCounters, ReplayReport,
    SendLog, StopReason,
};
