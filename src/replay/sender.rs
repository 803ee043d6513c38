//! Where frames go: the [`FrameSink`] trait, its per-call tally, and the retry rules for
//! transient kernel refusals (ENOBUFS, EAGAIN) shared by the senders.

use super::config::{ReplayConfig, SenderKind};
use super::error::ReplayError;
use super::iface::InterfaceInfo;
use std::time::Duration;

/// What one `send_batch` call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendTally {
    /// Frames the kernel accepted.
    pub sent: u64,
    /// Bytes of those frames.
    pub bytes: u64,
    /// Frames given up on.
    pub failed: u64,
    /// Retries after ENOBUFS.
    pub retried_enobufs: u64,
    /// Retries after EAGAIN.
    pub retried_eagain: u64,
}

/// Something that puts link-layer frames on a wire (or anywhere else, in tests).
pub trait FrameSink: Send {
    /// Short name for reports.
    fn name(&self) -> &'static str;

    /// Sends `frames` in order, counting into `tally`. A frame the kernel refuses is retried or
    /// counted as failed; `Err` means sending cannot go on (the interface went away or down).
    fn send_batch(&mut self, frames: &[&[u8]], tally: &mut SendTally) -> Result<(), ReplayError>;
}

/// What to do about one refused frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The kernel's queue is full: wait a little and retry.
    NoBuffers,
    /// The socket would block: wait a little and retry.
    WouldBlock,
    /// This frame cannot be sent (too long, malformed): count it as failed and go on.
    Frame,
    /// The interface is gone or down: stop.
    Fatal,
}

impl Refusal {
    /// Classifies an errno value.
    pub(crate) fn from_errno(errno: i32) -> Refusal {
        match errno {
            libc::ENOBUFS => Refusal::NoBuffers,
            libc::EAGAIN | libc::EINTR => Refusal::WouldBlock,
            libc::ENETDOWN
            | libc::ENODEV
            | libc::ENXIO
            | libc::EBADF
            | libc::EPERM
            | libc::EACCES => Refusal::Fatal,
            _ => Refusal::Frame,
        }
    }
}

/// Bounded retry of one frame after transient refusals, with growing pauses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub(crate) max_retries: u32,
    pub(crate) attempts: u32,
}

impl Retry {
    pub(crate) fn new(max_retries: u32) -> Retry {
        Retry {
            max_retries,
            attempts: 0,
        }
    }

    /// Counts a transient refusal; false when the frame should be given up on.
    pub(crate) fn again(&mut self, why: Refusal, tally: &mut SendTally) -> bool {
        if self.attempts >= self.max_retries {
            return false;
        }
        self.attempts += 1;
        match why {
            Refusal::NoBuffers => tally.retried_enobufs += 1,
            _ => tally.retried_eagain += 1,
        }
        // 10 µs doubling to at most 640 µs: the queue usually drains within a few.
        std::thread::sleep(Duration::from_micros(
            10 << self.attempts.min(7).saturating_sub(1),
        ));
        true
    }

    pub(crate) fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// Opens the sender `cfg` asks for on `iface`. With [`SenderKind::Auto`] a sender that cannot
/// open (no AF_XDP in the kernel, a locked-memory limit, an MTU too large) gives way to the next
/// one, and `notes` says why.
pub fn open_sender(
    cfg: &ReplayConfig,
    iface: &InterfaceInfo,
    notes: &mut Vec<String>,
) -> Result<Box<dyn FrameSink>, ReplayError> {
    match cfg.sender {
        SenderKind::Pcap => Ok(Box::new(super::sender_pcap::PcapSender::open(
            iface,
            cfg.max_retries,
        )?)),
        #[cfg(target_os = "linux")]
        SenderKind::Mmsg => Ok(Box::new(super::sender_mmsg::MmsgSender::open(
            iface,
            cfg.max_retries,
            cfg.qdisc_bypass,
        )?)),
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        SenderKind::Xdp => Ok(Box::new(super::sender_xdp::XdpSender::open(iface)?)),
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        SenderKind::Auto if !cfg.qdisc_bypass => match super::sender_xdp::XdpSender::open(iface) {
            Ok(s) => Ok(Box::new(s)),
            Err(e) => {
                notes.push(format!("AF_XDP sender unavailable, using mmsg: {e}"));
                open_sender(&cfg.with_sender(SenderKind::Mmsg), iface, notes)
            }
        },
        #[cfg(target_os = "linux")]
        SenderKind::Auto => open_sender(&cfg.with_sender(SenderKind::Mmsg), iface, notes),
        #[cfg(not(target_os = "linux"))]
        SenderKind::Auto => open_sender(&cfg.with_sender(SenderKind::Pcap), iface, notes),
        #[allow(unreachable_patterns)]
        other => Err(ReplayError::SenderUnavailable {
            sender: other.name(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_classes() {
        assert_eq!(Refusal::from_errno(libc::ENOBUFS), Refusal::NoBuffers);
        assert_eq!(Refusal::from_errno(libc::EAGAIN), Refusal::WouldBlock);
        assert_eq!(Refusal::from_errno(libc::EMSGSIZE), Refusal::Frame);
        assert_eq!(Refusal::from_errno(libc::ENETDOWN), Refusal::Fatal);
    }

    #[test]
    fn retries_are_bounded_and_counted() {
        let mut t = SendTally::default();
        let mut r = Retry::new(3);
        assert!(r.again(Refusal::NoBuffers, &mut t));
        assert!(r.again(Refusal::WouldBlock, &mut t));
        assert!(r.again(Refusal::NoBuffers, &mut t));
        assert!(!r.again(Refusal::NoBuffers, &mut t));
        assert_eq!((t.retried_enobufs, t.retried_eagain), (2, 1));
        r.reset();
        assert!(r.again(Refusal::NoBuffers, &mut t));
    }
}
