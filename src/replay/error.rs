//! Errors of the replay engine; each names the interface, file or value it is about.

use crate::capture::{CaptureError, LinkType};
use std::path::PathBuf;

/// Why a replay cannot start or cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The interface does not exist (in this network namespace).
    #[error("interface {iface} does not exist")]
    InterfaceNotFound {
        /// Interface name.
        iface: String,
    },
    /// The interface exists but is administratively down.
    #[error("interface {iface} is down (bring it up with `ip link set {iface} up`)")]
    InterfaceDown {
        /// Interface name.
        iface: String,
    },
    /// The interface's attributes could not be read.
    #[error("cannot read {what} of interface {iface}: {source}")]
    InterfaceInfo {
        /// Interface name.
        iface: String,
        /// Which attribute.
        what: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The process may not open a raw socket on the interface.
    #[error(
        "no permission to send raw frames on {iface}: CAP_NET_RAW is missing (run as root or \
         grant the capability: setcap cap_net_raw+ep netdiffd) ({detail})"
    )]
    Permission {
        /// Interface name.
        iface: String,
        /// What the system said.
        detail: String,
    },
    /// Opening the sender on the interface failed for another reason.
    #[error("cannot open {sender} sender on {iface}: {detail}")]
    OpenSender {
        /// Interface name.
        iface: String,
        /// Which sender.
        sender: &'static str,
        /// What the system said.
        detail: String,
    },
    /// The sender is not available on this system.
    #[error("the {sender} sender is not available on this system")]
    SenderUnavailable {
        /// Which sender.
        sender: &'static str,
    },
    /// A capture file could not be read.
    #[error("{0}")]
    Capture(#[from] CaptureError),
    /// A capture file holds no packets.
    #[error("{path}: capture holds no packets")]
    EmptyCapture {
        /// The file.
        path: PathBuf,
    },
    /// No capture file was given.
    #[error("no capture file given")]
    NoInput,
    /// The capture's link type cannot be sent on the interface as it is.
    #[error(
        "{path}: capture link type {capture} cannot be sent on {iface} ({iface_kind}): {hint}"
    )]
    LinkMismatch {
        /// The file.
        path: PathBuf,
        /// The capture's link type.
        capture: LinkType,
        /// Interface name.
        iface: String,
        /// The interface's framing, in words.
        iface_kind: String,
        /// What would make it work.
        hint: &'static str,
    },
    /// A setting has a value the engine cannot use.
    #[error("invalid {what}: {why}")]
    InvalidSetting {
        /// The setting.
        what: &'static str,
        /// Why.
        why: String,
    },
    /// Sending failed in a way that retrying cannot fix (the interface went away or down).
    #[error("sending on {iface} failed: {detail}")]
    Send {
        /// Interface name.
        iface: String,
        /// What the system said.
        detail: String,
    },
}
