//! What the engine must know about the interface before sending: that it exists and is up,
//! its index, MTU, framing and MAC address, and whether it has a carrier.

use super::error::ReplayError;
#[cfg(target_os = "linux")]
use super::sys;

const IFF_UP: u32 = 0x1;
/// Up with a carrier: the kernel's operational state is up.
const IFF_RUNNING: u32 = 0x40;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const ARPHRD_NONE: u16 = 65534;
const IFNAMSIZ: usize = 16;

/// The framing an interface expects of the frames written to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfaceFraming {
    /// Ethernet II frames (Ethernet, veth, loopback).
    Ethernet,
    /// Bare IP packets (tun and other ARPHRD_NONE devices).
    RawIp,
    /// Another ARPHRD device type, which netdiffd does not send on.
    Other(u16),
}

impl IfaceFraming {
    /// The framing of an ARPHRD device type number.
    pub fn from_arphrd(t: u16) -> IfaceFraming {
        match t {
            ARPHRD_ETHER | ARPHRD_LOOPBACK => IfaceFraming::Ethernet,
            ARPHRD_NONE => IfaceFraming::RawIp,
            other => IfaceFraming::Other(other),
        }
    }
}

impl std::fmt::Display for IfaceFraming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IfaceFraming::Ethernet => write!(f, "Ethernet"),
            IfaceFraming::RawIp => write!(f, "raw IP"),
            IfaceFraming::Other(t) => write!(f, "device type {t}"),
        }
    }
}

/// Facts about one network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Name.
    pub name: String,
    /// Kernel interface index.
    pub index: u32,
    /// MTU: the largest layer-3 packet the interface sends.
    pub mtu: u32,
    /// Framing the interface expects.
    pub framing: IfaceFraming,
    /// Its MAC address, when it is an Ethernet interface.
    pub mac: Option<[u8; 6]>,
    /// Carrier state, when known.
    pub carrier: Option<bool>,
}

impl InterfaceInfo {
    /// Asks the kernel about interface `name` in the calling thread's network namespace (ioctls,
    /// not /sys/class/net, which follows the mount namespace); fails if it is absent or down.
    #[cfg(target_os = "linux")]
    pub fn probe(name: &str) -> Result<InterfaceInfo, ReplayError> {
        let not_found = || ReplayError::InterfaceNotFound {
            iface: name.to_string(),
        };
        if name.is_empty() || name.len() >= IFNAMSIZ || name.contains(['/', '\0']) {
            return Err(not_found());
        }
        let facts = sys::interface_facts(name).map_err(|source| match source.raw_os_error() {
            Some(libc::ENODEV | libc::ENXIO) => not_found(),
            _ => ReplayError::InterfaceInfo {
                iface: name.to_string(),
                what: "attributes",
                source,
            },
        })?;
        if facts.flags & IFF_UP == 0 {
            return Err(ReplayError::InterfaceDown {
                iface: name.to_string(),
            });
        }
        let framing = IfaceFraming::from_arphrd(facts.hw_type);
        Ok(InterfaceInfo {
            name: name.to_string(),
            index: facts.index,
            mtu: facts.mtu,
            framing,
            mac: (framing == IfaceFraming::Ethernet).then_some(facts.hw_addr),
            carrier: Some(facts.flags & IFF_RUNNING != 0),
        })
    }

    /// Interface facts come from Linux ioctls; elsewhere an Ethernet interface with a 1500-byte
    /// MTU is assumed and libpcap reports the rest when it opens it.
    #[cfg(not(target_os = "linux"))]
    pub fn probe(name: &str) -> Result<InterfaceInfo, ReplayError> {
        if name.is_empty() || name.len() >= IFNAMSIZ {
            return Err(ReplayError::InterfaceNotFound {
                iface: name.to_string(),
            });
        }
        Ok(InterfaceInfo {
            name: name.to_string(),
            index: 0,
            mtu: 1500,
            framing: IfaceFraming::Ethernet,
            mac: None,
            carrier: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_ethernet_framed_and_up() {
        let lo = InterfaceInfo::probe("lo").unwrap();
        assert_eq!(lo.framing, IfaceFraming::Ethernet);
        assert_eq!(lo.index, 1);
        assert!(lo.mtu >= 1500);
        assert_eq!(lo.mac, Some([0; 6]));
        assert_eq!(lo.carrier, Some(true));
    }

    #[test]
    fn absent_and_hostile_names_are_not_found() {
        for name in [
            "nd-no-such0",
            "../lo",
            "",
            "a-name-far-too-long-for-linux",
            "lo\0x",
        ] {
            assert!(
                matches!(
                    InterfaceInfo::probe(name),
                    Err(ReplayError::InterfaceNotFound { .. })
                ),
                "{name}"
            );
        }
    }
}
