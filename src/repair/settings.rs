//! Repair settings: the test bed's addressing and the policies the repaired flows follow.

pub use crate::wire::cidr::{CidrError, Ipv4Cidr};
use std::net::Ipv4Addr;
use std::str::FromStr;

/// How TCP flows open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandshakePolicy {
    /// Every TCP flow opens with SYN, SYN-ACK, ACK, but a scanner's probe (a FIN, Null, Xmas or
    /// ACK-scan segment and its answer), which opens no connection.
    #[default]
    Always,
    /// Flows whose first generated packet is a SYN get the handshake; others start mid-stream.
    AsGenerated,
}

impl FromStr for HandshakePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(HandshakePolicy::Always),
            "as-generated" => Ok(HandshakePolicy::AsGenerated),
            other => Err(format!(
                "unknown handshake policy {other:?} (always | as-generated)"
            )),
        }
    }
}

/// How payload bytes are filled (the nPrint form keeps only their length).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PayloadFill {
    /// All zero bytes.
    #[default]
    Zeros,
    /// A byte pattern repeated from the start of the payload.
    Pattern(Vec<u8>),
}

impl PayloadFill {
    /// Appends `len` payload bytes.
    pub fn push(&self, len: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + len, 0);
        self.fill(&mut out[start..]);
    }

    /// Fills `buf` with payload bytes.
    pub fn fill(&self, buf: &mut [u8]) {
        match self {
            PayloadFill::Pattern(p) if !p.is_empty() => {
                for (b, v) in buf.iter_mut().zip(p.iter().cycle()) {
                    *b = *v;
                }
            }
            _ => buf.fill(0),
        }
    }
}

impl FromStr for PayloadFill {
    type Err = String;
    /// `zeros`, or `pattern:HEX` (e.g. `pattern:deadbeef`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "zeros" {
            return Ok(PayloadFill::Zeros);
        }
        let hex = s
            .strip_prefix("pattern:")
            .ok_or_else(|| format!("unknown payload fill {s:?} (zeros | pattern:HEX)"))?;
        if hex.is_empty() || hex.len() % 2 != 0 {
            return Err(format!(
                "payload pattern {hex:?} must be an even number of hex digits"
            ));
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map(PayloadFill::Pattern)
            .map_err(|_| format!("payload pattern {hex:?} is not hex"))
    }
}

/// Everything repair needs to know besides the generated flow.
#[derive(Debug, Clone, PartialEq)]
pub struct RepairSettings {
    /// Pool clients are drawn from.
    pub client_pool: Ipv4Cidr,
    /// Pool servers are drawn from.
    pub server_pool: Ipv4Cidr,
    /// TCP opening policy.
    pub handshake: HandshakePolicy,
    /// How payload bytes are filled.
    pub payload_fill: PayloadFill,
    /// Write UDP checksums as zero (none) instead of computing them.
    pub udp_checksum_zero: bool,
    /// Largest IPv4 packet (the test bed's MTU).
    pub mtu: u16,
    /// Time of the first packet, nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// Gap used when neither the flow nor the class hints give timing (ns).
    pub default_gap_ns: u64,
    /// Seed; the same seed and input give the same output.
    pub seed: u64,
}

impl Default for RepairSettings {
    /// Test-bed addresses from the benchmarking range 198.18.0.0/15 (RFC 2544), never routed.
    fn default() -> Self {
        RepairSettings {
            client_pool: Ipv4Cidr {
                network: Ipv4Addr::new(198, 18, 0, 0),
                prefix: 16,
            },
            server_pool: Ipv4Cidr {
                network: Ipv4Addr::new(198, 19, 0, 0),
                prefix: 16,
            },
            handshake: HandshakePolicy::Always,
            payload_fill: PayloadFill::Zeros,
            udp_checksum_zero: false,
            mtu: 1500,
            start_ns: 1_700_000_000_000_000_000,
            default_gap_ns: 1_000_000,
            seed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_fill_is_deterministic() {
        let mut v = vec![9];
        PayloadFill::Pattern(vec![1, 2]).push(5, &mut v);
        assert_eq!(v, [9, 1, 2, 1, 2, 1]);
        let mut z = Vec::new();
        PayloadFill::Zeros.push(3, &mut z);
        assert_eq!(z, [0, 0, 0]);
    }

    #[test]
    fn cidr_parsing_and_hosts() {
        let c: Ipv4Cidr = "198.18.7.9/15".parse().unwrap();
        assert_eq!(c.network, Ipv4Addr::new(198, 18, 0, 0));
        assert_eq!(c.hosts(), (1 << 17) - 2);
        assert_eq!(c.host(0), Ipv4Addr::new(198, 18, 0, 1));
        assert!(c.contains(Ipv4Addr::new(198, 19, 255, 254)));
        assert!(!c.contains(Ipv4Addr::new(198, 20, 0, 1)));
        let one: Ipv4Cidr = "10.0.0.5/32".parse().unwrap();
        assert_eq!(one.host(7), Ipv4Addr::new(10, 0, 0, 5));
        // One parser everywhere: a bare address is that one host, as replay's --cidr takes it.
        let bare: Ipv4Cidr = "10.0.0.5".parse().unwrap();
        assert_eq!(bare, one);
        for bad in ["10.0.0.0/33", "x/8", "10.0.0/8"] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }
}
