//! The portable sender: libpcap's `pcap_sendpacket`, one system call per frame (what tcpreplay
//! uses by default).

use super::error::ReplayError;
use super::iface::InterfaceInfo;
use super::sender::{FrameSink, Refusal, Retry, SendTally};

/// Receive buffer of the libpcap handle: it is opened only to send, so keep it small.
const RECEIVE_BUFFER_BYTES: i32 = 1 << 20;

/// Sends frames with libpcap.
pub struct PcapSender {
    capture: pcap::Capture<pcap::Active>,
    iface: String,
    max_retries: u32,
}

impl std::fmt::Debug for PcapSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapSender")
            .field("iface", &self.iface)
            .finish()
    }
}

impl PcapSender {
    /// Opens a libpcap handle on `iface`.
    pub fn open(iface: &InterfaceInfo, max_retries: u32) -> Result<PcapSender, ReplayError> {
        let fail = |e: pcap::Error| {
            let detail = e.to_string();
            let lower = detail.to_ascii_lowercase();
            if lower.contains("permission") || lower.contains("not permitted") {
                ReplayError::Permission {
                    iface: iface.name.clone(),
                    detail,
                }
            } else {
                ReplayError::OpenSender {
                    iface: iface.name.clone(),
                    sender: "pcap",
                    detail,
                }
            }
        };
        let capture = pcap::Capture::from_device(iface.name.as_str())
            .map_err(fail)?
            .snaplen(128)
            .buffer_size(RECEIVE_BUFFER_BYTES)
            .open()
            .map_err(fail)?;
        Ok(PcapSender {
            capture,
            iface: iface.name.clone(),
            max_retries,
        })
    }
}

/// libpcap reports send errors as text ("send: No buffer space available"); map them back.
fn refusal_of(e: &pcap::Error) -> Refusal {
    let text = e.to_string();
    let known = [
        ("No buffer space", libc::ENOBUFS),
        ("Resource temporarily unavailable", libc::EAGAIN),
        ("Message too long", libc::EMSGSIZE),
        ("Network is down", libc::ENETDOWN),
        ("No such device", libc::ENODEV),
    ];
    let errno = known
        .iter()
        .find(|(t, _)| text.contains(t))
        .map_or(0, |&(_, n)| n);
    Refusal::from_errno(errno)
}

impl FrameSink for PcapSender {
    fn name(&self) -> &'static str {
        "pcap"
    }

    fn send_batch(&mut self, frames: &[&[u8]], tally: &mut SendTally) -> Result<(), ReplayError> {
        for frame in frames {
            let mut retry = Retry::new(self.max_retries);
            loop {
                match self.capture.sendpacket(*frame) {
                    Ok(()) => {
                        tally.sent += 1;
                        tally.bytes += frame.len() as u64;
                        break;
                    }
                    Err(e) => match refusal_of(&e) {
                        Refusal::Fatal => {
                            return Err(ReplayError::Send {
                                iface: self.iface.clone(),
                                detail: e.to_string(),
                            })
                        }
                        why @ (Refusal::NoBuffers | Refusal::WouldBlock)
                            if retry.again(why, tally) => {}
                        _ => {
                            tally.failed += 1;
                            break;
                        }
                    },
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpcap_messages_map_to_refusals() {
        let e = |s: &str| pcap::Error::PcapError(s.to_string());
        assert_eq!(
            refusal_of(&e("send: No buffer space available")),
            Refusal::NoBuffers
        );
        assert_eq!(refusal_of(&e("send: Network is down")), Refusal::Fatal);
        assert_eq!(refusal_of(&e("send: Message too long")), Refusal::Frame);
    }
}
