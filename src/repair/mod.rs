//! Stage 5, repair: turn a generated flow matrix (from the model, an nPrint CSV or a
//! NetDiffusion PNG) into a protocol-compliant flow of IPv4 packets with real timestamps,
//! changing as few generated bits as the rules allow, and report what changed.
//!
//! The guarantees are the rules of `repair.md`: one transport protocol per flow; IPv4 fields
//! consistent (version, IHL, lengths, TTL per direction, IP ID per direction, checksum); TCP
//! opened with a handshake, sequence and acknowledgement numbers that follow the bytes sent,
//! options that parse and sit where they belong, orderly teardown; UDP and ICMP lengths and
//! checksums; strictly increasing times; payloads of the encoded length filled
//! deterministically; trailing vacant rows are padding.

mod build;
mod generated;
mod icmp;
mod report;
mod rules;
mod settings;
mod tcp;

pub use crate::corpus::ClassHints;
pub use report::{FieldChange, RepairReport};
pub use rules::Rule;
pub use settings::{CidrError, HandshakePolicy, Ipv4Cidr, PayloadFill, RepairSettings};
use tcp::Openings;
pub use tcp::{Opening, SynOffer};

use crate::flows::{Direction, FlowKey};
use crate::nprint::layout::{Bit, STANDARD_WIDTH};
use crate::wire::IpProtocol;
use generated::{is_vacant_row, GeneratedRow};
use rand::rngs::StdRng;
use rand::Rng;
use std::net::Ipv4Addr;

/// Why a flow cannot be repaired.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepairError {
    /// The matrix is not a whole number of standard-layout rows.
    #[error("flow matrix of {0} values is not a whole number of 1088-value rows")]
    Width(usize),
    /// No packet before the first all-vacant row.
    #[error("flow has no packets (its first row is vacant)")]
    Empty,
    /// Per-packet directions or times that do not cover every packet.
    #[error("{what} has {got} entries for {rows} packets")]
    SideChannel {
        /// `directions` or `inter-arrival times`.
        what: &'static str,
        /// Entries given.
        got: usize,
        /// Packets in the flow.
        rows: usize,
    },
}

/// A generated flow and what the generator said besides the bits.
#[derive(Debug, Clone, Copy)]
pub struct FlowInput<'a> {
    /// Rows in the standard layout (1088 values each), row-major.
    pub rows: &'a [Bit],
    /// Per-packet directions, when the generator produced them.
    pub directions: Option<&'a [Direction]>,
    /// Per-packet inter-arrival times in ns (first ignored), when the generator produced them.
    pub iat_ns: Option<&'a [u64]>,
    /// The class's fallback statistics.
    pub hints: Option<&'a ClassHints>,
    /// A server port the generator took from a real flow of the class, kept as it is (a port
    /// scan reaches its real scans' ports, not the class's most common one); None to keep a
    /// generated server port only where it is plausible.
    pub server_port: Option<u16>,
    /// The client's and the server's addresses, when the caller chose them (flows of one
    /// session share them); None to draw each from its pool.
    pub hosts: Option<[Ipv4Addr; 2]>,
    /// The client's port (an ICMP query's identifier), when the caller chose it (to keep two
    /// flows between the same hosts apart); None to keep the generated one where it is
    /// ephemeral.
    pub client_port: Option<u16>,
    /// Real SYN and SYN-ACK pairs of the flow's class, for the handshake repair makes where the
    /// generated TCP flow begins mid-connection: it takes one at random among those that agree
    /// with the flow's packets on timestamps. Empty to make it from the flow's first two
    /// packets' windows and options.
    pub openings: &'a [Opening],
}

impl<'a> FlowInput<'a> {
    /// A flow of generated rows alone, nothing said besides (repair reads directions from the
    /// rows, draws timing and hosts); set what the generator said with struct update syntax.
    pub fn bare(rows: &'a [Bit]) -> Self {
        FlowInput {
            rows,
            directions: None,
            iat_ns: None,
            hints: None,
            server_port: None,
            hosts: None,
            client_port: None,
            openings: &[],
        }
    }
}

/// One repaired packet: a complete IPv4 packet and its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairedPacket {
    /// Time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Direction within the flow.
    pub direction: Direction,
    /// The IPv4 packet, headers and payload.
    pub bytes: Vec<u8>,
}

/// A repaired flow.
#[derive(Debug, Clone, PartialEq)]
pub struct RepairedFlow {
    /// Addresses, ports and protocol assigned.
    pub key: FlowKey,
    /// Packets in time order.
    pub packets: Vec<RepairedPacket>,
    /// What repair changed.
    pub report: RepairReport,
}

/// Registered ports of common services above 1024, kept as generated server ports when the
/// class gives no list of its own.
const COMMON_SERVICE_PORTS: [u16; 22] = [
    1194, 1433, 1883, 1935, 3000, 3306, 3389, 3478, 3479, 3480, 5060, 5061, 5222, 5228, 5432, 5938,
    6379, 8000, 8080, 8443, 8888, 9000,
];

/// Per-direction values fixed for the whole flow.
#[derive(Debug, Clone, Copy)]
struct Side {
    addr: Ipv4Addr,
    port: u16,
    ttl: u8,
    /// The generated TTL of the side was 1 and gave way (rule `ttl-raised`).
    ttl_raised: bool,
    ip_id: u16,
    isn: u32,
    ts_base: u32,
}

/// What is decided for each packet before its headers are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PacketPlan {
    direction: Direction,
    ts_ns: u64,
    payload_len: usize,
}

/// Repairs one flow; `flow_index` varies the random choices between flows of one run.
pub fn repair_flow(
    input: &FlowInput<'_>,
    settings: &RepairSettings,
    flow_index: u64,
) -> Result<RepairedFlow, RepairError> {
    if !input.rows.len().is_multiple_of(STANDARD_WIDTH) {
        return Err(RepairError::Width(input.rows.len()));
    }
    let mut all_rows: Vec<&[Bit]> = input.rows.chunks(STANDARD_WIDTH).collect();
    let n = all_rows
        .iter()
        .position(|r| is_vacant_row(r))
        .unwrap_or(all_rows.len());
    if n == 0 {
        return Err(RepairError::Empty);
    }
    check_side_channel("directions", input.directions.map(|d| d.len()), n)?;
    check_side_channel("inter-arrival times", input.iat_ns.map(|d| d.len()), n)?;
    let mut rng = crate::seed::rng(settings.seed, crate::seed::salt::REPAIR, flow_index);
    let mut rows: Vec<GeneratedRow> = all_rows[..n]
        .iter()
        .map(|r| GeneratedRow::read(r))
        .collect();
    let mut report = RepairReport {
        rows_in: n,
        ..RepairReport::default()
    };

    let proto = choose_protocol(&rows);
    if rows.iter().any(|r| r.ip().protocol() != proto) {
        report.applied(Rule::OneProtocol);
    }
    let mut directions = directions(&rows, input, proto, &mut rng);
    // A TCP flow generated without the start of its connection gets the packets it lacks ahead
    // of its own (after the sides are chosen from the generated packets alone).
    let ahead = match proto {
        IpProtocol::Tcp => tcp::Ahead::of(&rows, settings),
        _ => tcp::Ahead::Nothing,
    };
    if directions[0] == Direction::Backward && !ahead.makes_syn() {
        // A flow opens from its client side: a stateful device admits a flow by its first
        // packet, and real captures that begin with a server's packet started mid-flow.
        directions[0] = Direction::Forward;
        report.applied(Rule::ClientFirst);
    }
    let times = times(n, input, settings, &mut rng);
    let l4_len = match proto {
        IpProtocol::Tcp => |r: &GeneratedRow| r.tcp().header_len().clamp(20, 60),
        _ => |_: &GeneratedRow| 8,
    };
    let mut plans: Vec<PacketPlan> = (0..n)
        .map(|i| PacketPlan {
            direction: directions[i],
            ts_ns: times[i],
            payload_len: rows[i].payload_len(l4_len(&rows[i])),
        })
        .collect();
    let sides = sides(&rows, &plans, proto, settings, input, &mut rng);
    for _ in sides.iter().filter(|s| s.ttl_raised) {
        report.applied(Rule::TtlRaised);
    }
    if proto != IpProtocol::Tcp {
        // UDP and ICMP: IPv4 header (20) and 8-byte transport header within the MTU.
        let max_payload = usize::from(settings.mtu).saturating_sub(28);
        for p in plans.iter_mut().filter(|p| p.payload_len > max_payload) {
            p.payload_len = max_payload;
            report.applied(Rule::LengthClamp);
        }
        if proto == IpProtocol::Icmp {
            for (p, r) in plans.iter_mut().zip(&rows) {
                let (message, kept) = icmp::Message::of(r);
                if !kept {
                    report.applied(Rule::IcmpAsEcho);
                }
                let len = message.data_len(p.payload_len, max_payload);
                if len != p.payload_len {
                    p.payload_len = len;
                    report.applied(Rule::IcmpDataLength);
                }
            }
        }
    }
    tcp::prepend(ahead, &mut rows, &mut plans, &mut all_rows, settings);
    let tcp_plans = if proto == IpProtocol::Tcp {
        Some(tcp::plan_tcp(
            &rows,
            &mut plans,
            ahead,
            settings,
            &sides,
            Openings {
                all: input.openings,
                seed: settings.seed,
                flow: flow_index,
            },
            &mut report,
        ))
    } else {
        None
    };
    let packets = build::build_packets(
        &rows,
        &plans,
        tcp_plans.as_deref(),
        proto,
        &sides,
        settings,
        &mut report,
        &all_rows,
    );
    report.packets_out = packets.len();
    let key = FlowKey {
        proto,
        client: sides[0].addr,
        client_port: sides[0].port,
        server: sides[1].addr,
        server_port: sides[1].port,
    };
    Ok(RepairedFlow {
        key,
        packets,
        report,
    })
}

fn check_side_channel(
    what: &'static str,
    got: Option<usize>,
    rows: usize,
) -> Result<(), RepairError> {
    match got {
        Some(g) if g < rows => Err(RepairError::SideChannel { what, got: g, rows }),
        _ => Ok(()),
    }
}

/// The transport protocol whose block is most populated over the whole flow.
fn choose_protocol(rows: &[GeneratedRow]) -> IpProtocol {
    let mut pop = [0usize; 3];
    for r in rows {
        for (k, p) in pop.iter_mut().enumerate() {
            *p += r.populated[k];
        }
    }
    // Compare per-bit shares, since the blocks have different widths (480, 64, 64 bits).
    let share = |k: usize, width: usize| pop[k] as f64 / width as f64;
    let shares = [share(0, 480), share(1, 64), share(2, 64)];
    if shares.iter().all(|&s| s == 0.0) {
        return match rows[0].ip().protocol() {
            p @ (IpProtocol::Udp | IpProtocol::Icmp) => p,
            _ => IpProtocol::Tcp,
        };
    }
    let best = (0..3)
        .max_by(|&a, &b| shares[a].total_cmp(&shares[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    [IpProtocol::Tcp, IpProtocol::Udp, IpProtocol::Icmp][best]
}

/// Directions: the generator's, else read from the generated addresses or ports, else drawn
/// from the class's direction chain.
fn directions(
    rows: &[GeneratedRow],
    input: &FlowInput<'_>,
    proto: IpProtocol,
    rng: &mut StdRng,
) -> Vec<Direction> {
    if let Some(d) = input.directions {
        return d[..rows.len()].to_vec();
    }
    let chain = input
        .hints
        .and_then(|h| h.direction_chain)
        .unwrap_or([0.5, 0.5]);
    let ports = |r: &GeneratedRow| match proto {
        IpProtocol::Tcp => (r.tcp().src_port(), r.tcp().dst_port()),
        IpProtocol::Udp => (r.udp().src_port(), r.udp().dst_port()),
        _ => (0, 0),
    };
    let first = &rows[0];
    let (fs, fd) = (first.ip().src_addr(), first.ip().dst_addr());
    let (ps, pd) = ports(first);
    // Who sent the first packet, read as the flow table reads a capture's first packet.
    let client_first = crate::flows::first_sender_is_client(
        proto,
        first.tcp().flags(),
        first.icmp().msg_type(),
        [ps, pd],
    );
    let opener = if client_first {
        Direction::Forward
    } else {
        Direction::Backward
    };
    let answer = opener.reversed();
    let mut out = Vec::with_capacity(rows.len());
    let mut prev = opener;
    for (i, r) in rows.iter().enumerate() {
        let d = if i == 0 {
            opener
        } else if first.has_addresses && r.has_addresses && fs != fd {
            if r.ip().src_addr() == fd {
                answer
            } else {
                opener
            }
        } else if proto == IpProtocol::Icmp {
            if r.icmp().msg_type() == crate::wire::icmp::kind::ECHO_REPLY {
                Direction::Backward
            } else {
                Direction::Forward
            }
        } else if ps != pd && ports(r) == (pd, ps) {
            answer
        } else if ps != pd && ports(r) == (ps, pd) {
            opener
        } else {
            let p_fwd = if prev == Direction::Forward {
                chain[0]
            } else {
                chain[1]
            };
            if rng.random::<f64>() < p_fwd {
                Direction::Forward
            } else {
                Direction::Backward
            }
        };
        out.push(d);
        prev = d;
    }
    out
}

/// Strictly increasing packet times (at least 1 µs apart, the pcap resolution).
fn times(n: usize, input: &FlowInput<'_>, s: &RepairSettings, rng: &mut StdRng) -> Vec<u64> {
    let samples = input
        .hints
        .map(|h| h.iat_samples_ns.as_slice())
        .unwrap_or(&[]);
    let mut t = s.start_ns;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            let gap = match input.iat_ns {
                Some(iat) => iat[i],
                None if !samples.is_empty() => samples[rng.random_range(0..samples.len())],
                None => s.default_gap_ns,
            };
            t = t.saturating_add(gap.max(1_000));
        }
        out.push(t);
    }
    out
}

/// Addresses, ports, TTLs and initial counters of the two sides.
fn sides(
    rows: &[GeneratedRow],
    plans: &[PacketPlan],
    proto: IpProtocol,
    settings: &RepairSettings,
    input: &FlowInput<'_>,
    rng: &mut StdRng,
) -> [Side; 2] {
    let first_of = |d: Direction| {
        plans
            .iter()
            .position(|p| p.direction == d)
            .map(|i| &rows[i])
            .unwrap_or(&rows[0])
    };
    // The side's most common generated TTL, and whether that was 1 and had to give way. TTL 0
    // and 1 are not kept: the flow gets routed unicast addresses, and a packet with TTL 1 dies
    // at the first router (an inline device that routes drops it and the flow reads as
    // blocked); what comes in their place is the most common TTL of 2 or more, else 64.
    let ttl_of = |d: Direction| {
        let mut counts = [0u32; 256];
        for (r, p) in rows.iter().zip(plans) {
            if p.direction == d {
                counts[usize::from(r.ip().ttl())] += 1;
            }
        }
        let voted = (0..256).max_by_key(|&t| (counts[t], t)).unwrap_or(64);
        let raised = voted == 1;
        let best = (2..256)
            .filter(|&t| counts[t] > 0)
            .max_by_key(|&t| (counts[t], t))
            .map_or(64, |t| t as u8);
        (best, raised)
    };
    let fwd = first_of(Direction::Forward);
    let bwd = first_of(Direction::Backward);
    let (gen_client_port, gen_server_port) = match proto {
        IpProtocol::Tcp => (fwd.tcp().src_port(), fwd.tcp().dst_port()),
        IpProtocol::Udp => (fwd.udp().src_port(), fwd.udp().dst_port()),
        _ => {
            let id = fwd.icmp().echo_ident();
            (id, id)
        }
    };
    // An ICMP flow's "ports" are its query identifier; a flow of ICMP errors takes the ports
    // of the UDP datagram its errors quote, as a UDP flow's are chosen.
    let icmp_errors = matches!(icmp::Message::of(fwd).0, icmp::Message::Error { .. });
    let (client_port, server_port) = if proto == IpProtocol::Icmp && !icmp_errors {
        let id = input.client_port.unwrap_or(gen_client_port);
        (id, id)
    } else {
        let client = if let Some(port) = input.client_port {
            port
        } else if gen_client_port >= 1024 {
            gen_client_port
        } else {
            rng.random_range(49152..=65535)
        };
        let known = input
            .hints
            .map(|h| h.server_ports.as_slice())
            .unwrap_or(&[]);
        let plausible = if known.is_empty() {
            gen_server_port != 0
                && (gen_server_port < 1024 || COMMON_SERVICE_PORTS.contains(&gen_server_port))
        } else {
            known.contains(&gen_server_port)
        };
        let server = match input.server_port.filter(|&p| p != 0) {
            Some(held) => held,
            None if plausible => gen_server_port,
            None => known.first().copied().unwrap_or(443),
        };
        (client, server)
    };
    let tcp_isn = |r: &GeneratedRow| r.tcp().seq();
    let tsval = |r: &GeneratedRow| {
        crate::wire::tcp::options_lenient(r.tcp_options())
            .find(|(kind, data)| {
                *kind == crate::wire::tcp::option_kind::TIMESTAMPS && data.len() == 8
            })
            .map(|(_, d)| u32::from_be_bytes([d[0], d[1], d[2], d[3]]))
            .unwrap_or(0)
    };
    let (client_ttl, client_ttl_raised) = ttl_of(Direction::Forward);
    let (server_ttl, server_ttl_raised) = ttl_of(Direction::Backward);
    // The pools are drawn from even when the caller chose the hosts, so that every later
    // choice of the flow is the same either way.
    let mut client_addr = settings.client_pool.host(rng.random::<u64>());
    let mut server_addr = settings.server_pool.host(rng.random::<u64>());
    if let Some([c, s]) = input.hosts {
        (client_addr, server_addr) = (c, s);
    }
    if server_addr == client_addr {
        server_addr = settings.server_pool.host(rng.random::<u64>() | 1);
    }
    let client = Side {
        addr: client_addr,
        port: client_port,
        ttl: client_ttl,
        ttl_raised: client_ttl_raised,
        ip_id: fwd.ip().ident(),
        isn: tcp_isn(fwd),
        ts_base: tsval(fwd),
    };
    let server = Side {
        addr: server_addr,
        port: server_port,
        ttl: server_ttl,
        ttl_raised: server_ttl_raised,
        ip_id: bwd.ip().ident(),
        isn: tcp_isn(bwd),
        ts_base: tsval(bwd),
    };
    [client, server]
}
