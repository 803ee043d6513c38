//! The flow table: assigns packets to flows and closes flows on timeouts and TCP teardown.

use super::{Direction, Flow, FlowKey, FlowPacket, FlowSettings};
use crate::capture::{dissect, CaptureError, CaptureReader, Frame, SkipCounts, SkipReason};
use crate::capture::{L3, L4};
use crate::wire::tcp::flags;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// UDP ports of tunnel encapsulations whose inner packets netdiffd does not parse
/// (GTP-U, VXLAN, Geneve).
const TUNNEL_UDP_PORTS: [u16; 3] = [2152, 4789, 6081];

/// Endpoints in a canonical (sorted) order, so both directions find the same entry.
type Endpoints = (crate::wire::IpProtocol, (Ipv4Addr, u16), (Ipv4Addr, u16));

struct Open {
    flow: Flow,
    first_ns: u64,
    last_ns: u64,
    fin_forward: bool,
    fin_backward: bool,
    reset: bool,
}

/// Builds flows from the frames of one capture.
pub struct FlowTable {
    settings: FlowSettings,
    source: PathBuf,
    label: Option<String>,
    open: HashMap<Endpoints, Open>,
    done: Vec<Flow>,
    skipped: SkipCounts,
    frames: u64,
}

impl FlowTable {
    /// An empty table for frames of `source`, whose flows get `label`.
    pub fn new(settings: FlowSettings, source: &Path, label: Option<String>) -> FlowTable {
        FlowTable {
            settings,
            source: source.to_path_buf(),
            label,
            open: HashMap::new(),
            done: Vec::new(),
            skipped: SkipCounts::default(),
            frames: 0,
        }
    }

    /// Adds one frame: to its flow, or to the skip counts with the reason.
    pub fn add(&mut self, frame: &Frame) {
        let index = self.frames;
        self.frames += 1;
        let pkt = match dissect(frame) {
            Ok(p) => p,
            Err(r) => return self.skipped.add(r),
        };
        let ip = match pkt.l3 {
            L3::V4(ip) => ip,
            L3::V6(_) => return self.skipped.add(SkipReason::Ipv6),
        };
        let (sport, dport, tcp_flags) = match pkt.l4 {
            L4::Tcp(t) => (t.src_port(), t.dst_port(), t.flags()),
            L4::Udp(u) => {
                if TUNNEL_UDP_PORTS.contains(&u.src_port())
                    || TUNNEL_UDP_PORTS.contains(&u.dst_port())
                {
                    return self.skipped.add(SkipReason::Tunnel);
                }
                (u.src_port(), u.dst_port(), 0)
            }
            L4::Icmp(i) => {
                let id = if i.is_echo() { i.echo_ident() } else { 0 };
                (id, id, 0)
            }
        };
        let proto = pkt.l4.proto();
        let (src, dst) = ((ip.src_addr(), sport), (ip.dst_addr(), dport));
        let canon: Endpoints = if src <= dst {
            (proto, src, dst)
        } else {
            (proto, dst, src)
        };
        let ts = frame.ts_ns;
        let syn_only = flags::is_bare_syn(tcp_flags);

        if let Some(open) = self.open.get(&canon) {
            let idle = ts.saturating_sub(open.last_ns) > self.settings.idle_timeout_ns;
            let active = ts.saturating_sub(open.first_ns) > self.settings.active_timeout_ns;
            let closed = open.reset || (open.fin_forward && open.fin_backward);
            let reopened = syn_only && (closed || open.flow.packets.len() > 1);
            if idle || active || reopened {
                let open = self.open.remove(&canon).expect("entry checked above");
                self.done.push(open.flow);
            }
        }
        let entry = self.open.entry(canon).or_insert_with(|| {
            let client_is_src = client_is_source(&pkt.l4, sport, dport);
            let (client, server) = if client_is_src {
                (src, dst)
            } else {
                (dst, src)
            };
            Open {
                flow: Flow {
                    key: FlowKey {
                        proto,
                        client: client.0,
                        client_port: client.1,
                        server: server.0,
                        server_port: server.1,
                    },
                    label: self.label.clone(),
                    source: self.source.clone(),
                    packets: Vec::new(),
                },
                first_ns: ts,
                last_ns: ts,
                fin_forward: false,
                fin_backward: false,
                reset: false,
            }
        });
        let k = entry.flow.key;
        let direction = if (ip.src_addr(), sport) == (k.client, k.client_port) {
            Direction::Forward
        } else {
            Direction::Backward
        };
        if tcp_flags & flags::FIN != 0 {
            match direction {
                Direction::Forward => entry.fin_forward = true,
                Direction::Backward => entry.fin_backward = true,
            }
        }
        if tcp_flags & flags::RST != 0 {
            entry.reset = true;
        }
        let iat_ns = if entry.flow.packets.is_empty() {
            0
        } else {
            // A timestamp going backwards counts as a zero gap.
            ts.saturating_sub(entry.last_ns)
        };
        entry.last_ns = entry.last_ns.max(ts);
        let (l3, l4) = (ip.header(), pkt.l4.header());
        let mut headers = Vec::with_capacity(l3.len() + l4.len());
        headers.extend_from_slice(l3);
        headers.extend_from_slice(l4);
        entry.flow.packets.push(FlowPacket {
            frame: index,
            ts_ns: ts,
            iat_ns,
            direction,
            payload_len: pkt.payload_len.min(u32::MAX as usize) as u32,
            headers,
        });
    }

    /// Closes every open flow and returns all flows in order of their first packet, with the
    /// skip counts.
    pub fn finish(mut self) -> (Vec<Flow>, SkipCounts) {
        self.done.extend(self.open.drain().map(|(_, o)| o.flow));
        self.done
            .sort_by_key(|f| (f.packets.first().map_or(0, |p| p.ts_ns), f.key));
        (self.done, self.skipped)
    }
}

/// Whether the sender of a flow's first packet is its client.
fn client_is_source(l4: &L4<'_>, sport: u16, dport: u16) -> bool {
    let (tcp_flags, icmp_type) = match l4 {
        L4::Tcp(t) => (t.flags(), 0),
        L4::Icmp(i) => (0, i.msg_type()),
        L4::Udp(_) => (0, 0),
    };
    super::first_sender_is_client(l4.proto(), tcp_flags, icmp_type, [sport, dport])
}

/// Reads the capture at `path` into flows labelled `label`.
pub fn flows_from_capture(
    path: &Path,
    settings: FlowSettings,
    label: Option<String>,
) -> Result<(Vec<Flow>, SkipCounts), CaptureError> {
    let mut reader = CaptureReader::open(path)?;
    let mut table = FlowTable::new(settings, path, label);
    let mut frame = Frame::default();
    while reader.read_into(&mut frame)? {
        table.add(&frame);
    }
    Ok(table.finish())
}
