//! The rules `netdiffd check` applies: one [`Rule`] variant each, with a stable kebab-case name,
//! a one-line description and a [`Severity`].

use std::fmt;

/// How much a broken rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The packet or flow is not protocol-compliant; the check fails (exit status 1).
    Error,
    /// Unusual for repaired output but common in real captures (stacks randomise IP IDs, routes
    /// change TTLs, pipelined ACKs); reported, fails the check only in strict mode.
    Warning,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! rules {
    ($($(#[$doc:meta])* $variant:ident => $name:literal, $sev:ident, $desc:literal;)*) => {
        crate::rule_enum::rule_enum! {
            /// One compliance rule. Intra-packet rules come first, then inter-packet (per flow,
            /// in capture order) rules.
            #[derive(PartialOrd, Ord)]
            pub enum Rule {
                $($(#[$doc])* $variant => $name;)*
            }
        }

        impl Rule {
            /// What the rule demands, in one line.
            pub fn description(self) -> &'static str {
                match self {
                    $(Rule::$variant => $desc,)*
                }
            }

            /// Whether breaking the rule is an error or a warning.
            pub fn severity(self) -> Severity {
                match self {
                    $(Rule::$variant => Severity::$sev,)*
                }
            }
        }
    };
}

rules! {
    /// The network header of a frame typed as IPv4 does not say version 4.
    Ipv4Version => "ipv4-version", Error,
        "IPv4 version field is 4";
    /// IHL below 5, or a header longer than the packet.
    Ipv4HeaderLength => "ipv4-header-length", Error,
        "IHL >= 5 and the header (IHL*4 bytes) fits in the total length and the frame";
    /// Total length below the header length or above what the frame carries.
    Ipv4TotalLength => "ipv4-total-length", Error,
        "IHL*4 <= total length <= bytes the frame carries";
    /// Wrong IPv4 header checksum.
    Ipv4Checksum => "ipv4-checksum", Error,
        "IPv4 header checksum is correct";
    /// TTL 0.
    Ipv4TtlZero => "ipv4-ttl-zero", Error,
        "TTL >= 1";
    /// MF set or a non-zero fragment offset (netdiffd does not model fragments).
    Ipv4Fragment => "ipv4-fragment", Error,
        "no more-fragments flag and fragment offset 0 (fragments are not modelled)";
    /// The reserved (evil) flag bit is set.
    Ipv4ReservedFlag => "ipv4-reserved-flag", Error,
        "IPv4 reserved flag bit is 0";
    /// The segment cannot hold a TCP header, or the data offset is below 5 or past the segment.
    TcpDataOffset => "tcp-data-offset", Error,
        "TCP data offset >= 5 and the header fits in the IP payload";
    /// An option with a bad length, a known option of the wrong size, or one running past the
    /// options.
    TcpOptions => "tcp-options", Error,
        "TCP options parse: known kinds with their sizes, none running past the options";
    /// Non-zero bytes after the end-of-option-list option.
    TcpOptionPadding => "tcp-option-padding", Error,
        "TCP option bytes after EOL are zero";
    /// MSS, window scale or SACK-permitted on a segment without SYN.
    TcpSynOnlyOption => "tcp-syn-only-option", Error,
        "MSS, window scale and SACK-permitted only on SYN and SYN-ACK";
    /// Window scale shift above 14 (RFC 7323).
    TcpWindowScale => "tcp-window-scale", Error,
        "window scale shift <= 14";
    /// The three reserved header bits are not zero.
    TcpReservedBits => "tcp-reserved-bits", Error,
        "TCP reserved bits are 0";
    /// A non-zero urgent pointer without URG.
    TcpUrgentPointer => "tcp-urgent-pointer", Error,
        "urgent pointer is 0 unless URG is set";
    /// SYN together with FIN or RST.
    TcpFlagCombination => "tcp-flag-combination", Error,
        "no SYN+FIN, no SYN+RST";
    /// Wrong TCP checksum.
    TcpChecksum => "tcp-checksum", Error,
        "TCP checksum over the IPv4 pseudo-header is correct";
    /// UDP length field differs from the IP payload length (or the payload cannot hold a UDP
    /// header).
    UdpLength => "udp-length", Error,
        "UDP length = IP total length - IHL*4 (>= 8)";
    /// Wrong, non-zero UDP checksum.
    UdpChecksum => "udp-checksum", Error,
        "UDP checksum is correct or 0 (none)";
    /// The IP payload cannot hold the 8-byte ICMP header.
    IcmpLength => "icmp-length", Error,
        "the ICMP message holds at least its 8-byte header";
    /// A type/code pair outside the accepted set.
    IcmpTypeCode => "icmp-type-code", Error,
        "ICMP type/code is a current standard pair (echo, unreachable, redirect, time exceeded, \
         parameter problem, router discovery, timestamp)";
    /// Wrong ICMP checksum.
    IcmpChecksum => "icmp-checksum", Error,
        "ICMP checksum over the whole message is correct";
    /// Every packet of a flow has timestamp 0.
    TimestampsZero => "timestamps-zero", Error,
        "a flow's packets do not all have timestamp 0 (counted once per flow)";
    /// A packet earlier than the packet before it in the capture.
    TimestampDecreasing => "timestamp-decreasing", Error,
        "timestamps do not decrease in capture order";
    /// TTL differs from the first TTL of the same flow direction.
    TtlChanged => "ttl-changed", Warning,
        "TTL constant per flow direction";
    /// IP ID is not the previous ID of the direction plus one.
    IpIdNotIncrementing => "ip-id-not-incrementing", Warning,
        "IP ID of a flow direction increments by 1 (mod 2^16)";
    /// A SYN from a side that already sent a different SYN or non-SYN segments, in a
    /// connection that is neither closed nor idle.
    TcpUnexpectedSyn => "tcp-unexpected-syn", Error,
        "no SYN after the handshake (retransmitted SYNs and new connections excepted)";
    /// The segment after a SYN or FIN does not account for the flag's sequence number.
    TcpSynFinSequence => "tcp-syn-fin-sequence", Error,
        "SYN and FIN consume one sequence number: the side's next segment starts after it";
    /// An ACK equal to the peer's SYN or FIN position: the data before the flag is
    /// acknowledged, the flag is not.
    TcpSynFinNotAcked => "tcp-syn-fin-not-acked", Error,
        "an ACK does not stop at the peer's SYN (ISN) or at the FIN after its data";
    /// An ACK beyond anything the peer has sent.
    TcpAckBeyondSent => "tcp-ack-beyond-sent", Error,
        "an ACK does not acknowledge sequence numbers the peer has not sent";
    /// An ACK pointing at the start of the peer's last segment, acknowledging all but it.
    TcpAckStale => "tcp-ack-stale", Warning,
        "an ACK is not the start of the peer's last segment (normal only while it is in flight)";
    /// New sequence space from a side after its FIN.
    TcpDataAfterFin => "tcp-data-after-fin", Error,
        "no data or flags beyond a side's FIN";
    /// A non-RST packet from a side after its RST.
    TcpPacketAfterRst => "tcp-packet-after-rst", Error,
        "RST is the last packet of its direction";
    /// A packet after both FINs were sent and acknowledged, other than a repeat of the final
    /// ACK or a retransmission.
    TcpPacketAfterClose => "tcp-packet-after-close", Error,
        "no packets after the connection closed other than the final ACK";
    /// A segment whose payload overlaps sequence space its side already sent, with different
    /// bytes there: a receiver keeps one version and an IDS may see the other (the classic
    /// overlap evasion). Compared over the last 64 KiB of the direction's sequence space,
    /// captured bytes only; keep-alive probes (one garbage byte below the next sequence
    /// number) and RST payloads are exempt. Counted per segment.
    TcpConflictingOverlap => "tcp-conflicting-overlap", Error,
        "a segment over sequence space its side already sent carries the same bytes there";
    /// A segment carries more data and TCP options than the MSS its peer's SYN offered (536
    /// when it offered none; RFC 9293 3.7.1, RFC 6691). Real captures show it where the
    /// capturing host's NIC segments (TSO/GSO), a firewall that enforces the MSS drops it.
    TcpExceedsMss => "tcp-exceeds-mss", Warning,
        "a segment's data plus TCP options fit in the MSS the peer's SYN offered";
    /// The echo identifier changes between echo messages of an ICMP flow.
    IcmpEchoIdentChanged => "icmp-echo-ident-changed", Warning,
        "ICMP echo identifier constant within a flow (an address pair)";
}

impl Rule {
    /// Rules that make a packet structurally malformed (its headers cannot be walked as
    /// declared), as opposed to wrong values or wrong behaviour.
    pub fn is_malformation(self) -> bool {
        matches!(
            self,
            Rule::Ipv4Version
                | Rule::Ipv4HeaderLength
                | Rule::Ipv4TotalLength
                | Rule::TcpDataOffset
                | Rule::TcpOptions
                | Rule::UdpLength
                | Rule::IcmpLength
        )
    }

    /// Rules that concern checksums.
    pub fn is_checksum(self) -> bool {
        matches!(
            self,
            Rule::Ipv4Checksum | Rule::TcpChecksum | Rule::UdpChecksum | Rule::IcmpChecksum
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_kebab_case_and_round_trip() {
        let mut seen = HashSet::new();
        for &r in Rule::ALL {
            let n = r.name();
            assert!(seen.insert(n), "duplicate name {n}");
            assert!(n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert!(!n.starts_with('-') && !n.ends_with('-') && !n.contains("--"));
            assert_eq!(Rule::from_name(n), Some(r));
            assert!(!r.description().is_empty());
        }
        assert_eq!(Rule::from_name("no-such-rule"), None);
    }
}
