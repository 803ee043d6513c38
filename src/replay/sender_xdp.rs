//! The AF_XDP sender: frames are copied into shared buffers and described on a transmit ring;
//! one wake-up call sends a run of them, with no socket message per frame (copy mode, so any
//! interface takes it).

use super::error::ReplayError;
use super::iface::{IfaceFraming, InterfaceInfo};
use super::sender::{FrameSink, Refusal, SendTally};
use super::sys_xdp::XdpSocket;
use crate::wire::ethernet::HEADER_LEN as ETH_HEADER_LEN;
use std::time::{Duration, Instant};

/// Buffers (and ring entries): enough to keep the kernel busy between two wake-ups.
const FRAMES: u32 = 2048;

/// Room a buffer keeps beyond the MTU for the link header and up to two VLAN tags.
const LINK_OVERHEAD: u32 = 14 + 8;

/// How long the kernel may take nothing from the ring before sending counts as failed.
const STALL_LIMIT: Duration = Duration::from_secs(5);

/// Sends frames through a copy-mode AF_XDP socket on queue 0 of the interface.
#[derive(Debug)]
pub struct XdpSender {
    socket: XdpSocket,
    /// Buffers the kernel does not hold.
    free: Vec<u32>,
    iface: String,
    /// Lengths of the frames of the current round, in ring order.
    lens: Vec<u32>,
    /// Shortest frame the interface takes (its link header). Packet sockets refuse shorter
    /// ones in the kernel; for AF_XDP that check is left to the driver, so it is made here.
    min_len: usize,
}

impl XdpSender {
    /// Opens the socket on `iface`. Fails where the kernel has no AF_XDP, the process lacks
    /// CAP_NET_RAW or locked memory for the buffers, or the interface's MTU does not fit a
    /// 4096-byte buffer.
    pub fn open(iface: &InterfaceInfo) -> Result<XdpSender, ReplayError> {
        let need = iface.mtu.saturating_add(LINK_OVERHEAD);
        let frame_size = match need {
            0..=2048 => 2048,
            2049..=4096 => 4096,
            _ => {
                return Err(ReplayError::OpenSender {
                    iface: iface.name.clone(),
                    sender: "xdp",
                    detail: format!(
                    "MTU {} does not fit the AF_XDP sender's 4096-byte buffers; use the mmsg sender",
                    iface.mtu
                ),
                })
            }
        };
        let socket = XdpSocket::open(iface.index, frame_size, FRAMES).map_err(|e| {
            let detail = match e.raw_os_error() {
                Some(libc::EAFNOSUPPORT) => format!("{e} (the kernel has no AF_XDP sockets)"),
                Some(libc::ENOBUFS) => {
                    format!("{e} (the locked-memory limit is too small: raise RLIMIT_MEMLOCK)")
                }
                _ => e.to_string(),
            };
            match e.raw_os_error() {
                Some(libc::EPERM | libc::EACCES) => ReplayError::Permission {
                    iface: iface.name.clone(),
                    detail,
                },
                _ => ReplayError::OpenSender {
                    iface: iface.name.clone(),
                    sender: "xdp",
                    detail,
                },
            }
        })?;
        Ok(XdpSender {
            free: (0..socket.frames()).rev().collect(),
            socket,
            iface: iface.name.clone(),
            lens: Vec::new(),
            min_len: match iface.framing {
                IfaceFraming::Ethernet => ETH_HEADER_LEN,
                _ => 1,
            },
        })
    }

    fn failed(&self, e: std::io::Error) -> ReplayError {
        ReplayError::Send {
            iface: self.iface.clone(),
            detail: e.to_string(),
        }
    }

    /// Wakes the kernel until it has taken every queued descriptor, counting what it sent.
    fn drain(&mut self, tally: &mut SendTally) -> Result<(), ReplayError> {
        let queued = self.lens.len();
        let mut pause = Backoff::new();
        // Index of the next frame the kernel takes, as far as we know: after a refused frame
        // the kernel may not publish how far it got until its next successful send.
        let mut next = 0usize;
        let mut dropped: Vec<usize> = Vec::new();
        while self.socket.tx_outstanding() > 0 {
            let before = self.socket.tx_outstanding();
            let kicked = self.socket.kick();
            let after = self.socket.tx_outstanding();
            let taken = queued - after as usize;
            let mut progressed = after != before;
            let mut no_buffers = false;
            if let Err(e) = kicked {
                match e.raw_os_error() {
                    // The driver refused the frame it was given last (NET_XMIT_DROP, as with no
                    // carrier); the kernel has taken it off the ring.
                    Some(libc::EBUSY) => {
                        let i = taken.checked_sub(1).filter(|&i| i >= next).unwrap_or(next);
                        dropped.push(i);
                        next = i + 1;
                        progressed = true;
                    }
                    _ => match Refusal::from_errno(super::sys::errno_of(&e)) {
                        Refusal::Fatal => return Err(self.failed(e)),
                        Refusal::NoBuffers => no_buffers = true,
                        _ => {}
                    },
                }
            }
            next = next.max(taken);
            if progressed {
                pause = Backoff::new();
                continue;
            }
            if no_buffers {
                tally.retried_enobufs += 1;
            } else {
                tally.retried_eagain += 1;
            }
            pause.wait().ok_or_else(|| {
                self.failed(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the kernel took no frame for {} s", STALL_LIMIT.as_secs()),
                ))
            })?;
        }
        let lost: u64 = dropped
            .iter()
            .filter_map(|&i| self.lens.get(i))
            .map(|&l| u64::from(l))
            .sum();
        let failed = (dropped.len() as u64).min(queued as u64);
        tally.failed += failed;
        tally.sent += queued as u64 - failed;
        tally.bytes += self
            .lens
            .iter()
            .map(|&l| u64::from(l))
            .sum::<u64>()
            .saturating_sub(lost);
        self.lens.clear();
        Ok(())
    }

    /// Waits until the kernel gives back at least one buffer.
    fn reclaim(&mut self) -> Result<(), ReplayError> {
        let mut pause = Backoff::new();
        while self.socket.reap(&mut self.free) == 0 {
            // Copy mode gives buffers back when the socket buffer is freed; a kick lets a
            // driver that completes lazily catch up.
            let _ = self.socket.kick();
            if self.socket.reap(&mut self.free) > 0 {
                break;
            }
            pause.wait().ok_or_else(|| {
                self.failed(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no buffer came back for {} s", STALL_LIMIT.as_secs()),
                ))
            })?;
        }
        Ok(())
    }
}

impl FrameSink for XdpSender {
    fn name(&self) -> &'static str {
        "xdp"
    }

    fn send_batch(&mut self, frames: &[&[u8]], tally: &mut SendTally) -> Result<(), ReplayError> {
        let mut at = 0;
        while at < frames.len() {
            self.socket.reap(&mut self.free);
            if self.free.is_empty() {
                self.reclaim()?;
            }
            while at < frames.len() {
                let frame = frames[at];
                if frame.len() < self.min_len || frame.len() > self.socket.frame_size() as usize {
                    tally.failed += 1;
                    at += 1;
                    continue;
                }
                let Some(&slot) = self.free.last() else { break };
                if !self.socket.queue(slot, frame) {
                    break;
                }
                self.free.pop();
                self.lens.push(frame.len() as u32);
                at += 1;
            }
            self.socket.publish();
            self.drain(tally)?;
        }
        Ok(())
    }
}

/// Growing pauses (10 µs doubling to 1 ms) with a limit on their total.
struct Backoff {
    step: Duration,
    started: Instant,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff {
            step: Duration::from_micros(10),
            started: Instant::now(),
        }
    }

    /// Sleeps one step; `None` once the stall limit has passed.
    fn wait(&mut self) -> Option<()> {
        if self.started.elapsed() > STALL_LIMIT {
            return None;
        }
        std::thread::sleep(self.step);
        self.step = (self.step * 2).min(Duration::from_millis(1));
        Some(())
    }
}
