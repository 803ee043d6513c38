//! Option groups several subcommands share (flattened into their own options).

use anyhow::Context;
use netdiffd::packets::{parse_mac, Framing};
use netdiffd::repair::{HandshakePolicy, Ipv4Cidr, PayloadFill, RepairSettings};

/// How output frames are framed.
#[derive(Debug, Clone, clap::Args)]
pub struct FramingArgs {
    /// Link layer of the output: `ethernet` (MACs below) or `raw` (raw IPv4).
    #[arg(long, default_value = "ethernet", value_parser = ["ethernet", "raw"])]
    pub link: String,
    /// MAC of the client side (the sender of a flow's first packet).
    #[arg(long, default_value = "02:00:00:00:00:01")]
    pub client_mac: String,
    /// MAC of the server side.
    #[arg(long, default_value = "02:00:00:00:00:02")]
    pub server_mac: String,
}

impl FramingArgs {
    /// The framing these options describe.
    pub fn framing(&self) -> anyhow::Result<Framing> {
        if self.link == "raw" {
            return Ok(Framing::RawIp);
        }
        let mac = |s: &str, what: &str| parse_mac(s).with_context(|| format!("--{what}"));
        Ok(Framing::Ethernet {
            client_mac: mac(&self.client_mac, "client-mac")?,
            server_mac: mac(&self.server_mac, "server-mac")?,
        })
    }
}

/// The test bed's addressing and the repair policies.
#[derive(Debug, Clone, clap::Args)]
pub struct TestBedArgs {
    /// TCP opening: `always` (SYN, SYN-ACK, ACK; scan probes stay probes) or `as-generated`.
    #[arg(long, default_value = "always")]
    pub handshake: HandshakePolicy,
    /// Pool of client addresses.
    #[arg(long, default_value = "198.18.0.0/16")]
    pub client_pool: Ipv4Cidr,
    /// Pool of server addresses.
    #[arg(long, default_value = "198.19.0.0/16")]
    pub server_pool: Ipv4Cidr,
    /// Payload bytes: `zeros` or `pattern:HEX`.
    #[arg(long, default_value = "zeros")]
    pub payload: PayloadFill,
    /// Time of the first packet, ns since the Unix epoch.
    #[arg(long, default_value_t = 1_700_000_000_000_000_000)]
    pub start_ns: u64,
}

impl TestBedArgs {
    /// Repair settings with these options (the rest default).
    pub fn repair_settings(&self) -> RepairSettings {
        RepairSettings {
            client_pool: self.client_pool,
            server_pool: self.server_pool,
            handshake: self.handshake,
            payload_fill: self.payload.clone(),
            start_ns: self.start_ns,
            ..RepairSettings::default()
        }
    }
}
