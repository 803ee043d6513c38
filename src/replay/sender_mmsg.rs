//! The batched Linux sender: an AF_PACKET socket and `sendmmsg`, up to 64 frames per system
//! call.

use super::error::ReplayError;
use super::iface::InterfaceInfo;
use super::sender::{FrameSink, Refusal, Retry, SendTally};
use super::sys::{errno_of, PacketSocket, MAX_BATCH};

/// `PACKET_QDISC_BYPASS` from linux/if_packet.h.
const PACKET_QDISC_BYPASS: i32 = 20;

/// Socket send buffer asked for: room for a few batches of full-size frames.
const SEND_BUFFER_BYTES: i32 = 4 << 20;

/// Sends frames through an AF_PACKET socket with `sendmmsg`.
#[derive(Debug)]
pub struct MmsgSender {
    socket: PacketSocket,
    iface: String,
    max_retries: u32,
}

impl MmsgSender {
    /// Opens and binds a packet socket on `iface`; with `qdisc_bypass` frames go straight to the
    /// driver, past the interface's queueing discipline (PACKET_QDISC_BYPASS).
    pub fn open(
        iface: &InterfaceInfo,
        max_retries: u32,
        qdisc_bypass: bool,
    ) -> Result<MmsgSender, ReplayError> {
        let socket = PacketSocket::open(iface.index).map_err(|e| match errno_of(&e) {
            libc::EPERM | libc::EACCES => ReplayError::Permission {
                iface: iface.name.clone(),
                detail: e.to_string(),
            },
            _ => ReplayError::OpenSender {
                iface: iface.name.clone(),
                sender: "mmsg",
                detail: e.to_string(),
            },
        })?;
        // A larger buffer only smooths bursts; the kernel's default is fine if refused.
        let _ = socket.set_option(libc::SOL_SOCKET, libc::SO_SNDBUF, SEND_BUFFER_BYTES);
        if qdisc_bypass {
            socket
                .set_option(libc::SOL_PACKET, PACKET_QDISC_BYPASS, 1)
                .map_err(|e| ReplayError::OpenSender {
                    iface: iface.name.clone(),
                    sender: "mmsg",
                    detail: format!("PACKET_QDISC_BYPASS: {e}"),
                })?;
        }
        Ok(MmsgSender {
            socket,
            iface: iface.name.clone(),
            max_retries,
        })
    }
}

impl FrameSink for MmsgSender {
    fn name(&self) -> &'static str {
        "mmsg"
    }

    fn send_batch(&mut self, frames: &[&[u8]], tally: &mut SendTally) -> Result<(), ReplayError> {
        let mut at = 0;
        let mut retry = Retry::new(self.max_retries);
        while at < frames.len() {
            let end = (at + MAX_BATCH).min(frames.len());
            match self.socket.send_batch(&frames[at..end]) {
                Ok(n) => {
                    tally.sent += n as u64;
                    tally.bytes += frames[at..at + n]
                        .iter()
                        .map(|f| f.len() as u64)
                        .sum::<u64>();
                    at += n;
                    retry.reset();
                }
                Err(e) => match Refusal::from_errno(errno_of(&e)) {
                    Refusal::Fatal => {
                        return Err(ReplayError::Send {
                            iface: self.iface.clone(),
                            detail: e.to_string(),
                        })
                    }
                    why @ (Refusal::NoBuffers | Refusal::WouldBlock) if retry.again(why, tally) => {
                    }
                    _ => {
                        tally.failed += 1;
                        at += 1;
                        retry.reset();
                    }
                },
            }
        }
        Ok(())
    }
}
