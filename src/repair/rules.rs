//! The rules repair applies when a generated flow breaks one: one [`Rule`] variant each, with
//! the stable kebab-case name that reports, JSON and the `rule` metric label carry.

use std::cmp::Ordering;

crate::rule_enum::rule_enum! {
    /// One repair rule: a change repair had to make to a generated flow.
    pub enum Rule {
        /// The flow's first packet was generated from the server side; it is sent by the
        /// client, since a flow opens from its client.
        ClientFirst => "client-first";
        /// An ICMP message of a type and code repair does not build (it builds echo, timestamp,
        /// destination unreachable and time exceeded messages) was sent as an echo.
        IcmpAsEcho => "icmp-as-echo";
        /// An ICMP message's data was sized to what its type carries: a timestamp's 12 bytes,
        /// an error's quoted datagram (at least its IPv4 header and 8 bytes, at most what keeps
        /// the error within 576 bytes).
        IcmpDataLength => "icmp-data-length";
        /// A payload longer than the MTU leaves room for was shortened.
        LengthClamp => "length-clamp";
        /// Rows of another transport protocol than the flow's (the most populated block) were
        /// rewritten as the flow's.
        OneProtocol => "one-protocol";
        /// Packets after the connection closed (both FINs and the final ACK, or an RST) were
        /// dropped.
        TcpAfterCloseDropped => "tcp-after-close-dropped";
        /// A FIN followed by more data from its side was cleared.
        TcpFinBeforeData => "tcp-fin-before-data";
        /// The final ACK was moved to the peer of the side whose FIN came last.
        TcpFinalAckDirection => "tcp-final-ack-direction";
        /// A flow generated without an opening SYN was given a handshake (policy `always`).
        TcpHandshake => "tcp-handshake";
        /// A handshake packet was moved to the side that sends it (SYN and ACK from the client,
        /// SYN-ACK from the server).
        TcpHandshakeDirection => "tcp-handshake-direction";
        /// A segment's payload was cut to the MSS its peer's SYN offered, less the segment's own
        /// TCP options.
        TcpMssBound => "tcp-mss-bound";
        /// A generated retransmission kept its earlier sequence number, with no more data than
        /// the segment it repeats.
        TcpRetransmissionKept => "tcp-retransmission-kept";
        /// An RST anywhere but on the flow's last packet was cleared.
        TcpRstNotLast => "tcp-rst-not-last";
        /// A payload was shortened to keep the bytes in flight below the peer's advertised
        /// window.
        TcpWindowBound => "tcp-window-bound";
        /// A segment's advertised window was raised to hold the data its peer's generated
        /// segments carry before the side's next segment (the network draws each window on its
        /// own, and a download's client advertised a few hundred bytes between two of the
        /// server's full segments).
        TcpWindowRaised => "tcp-window-raised";
        /// A side whose generated packets mostly carried TTL 1 was given its most common TTL of
        /// 2 or more (else 64): the flow has routed addresses, and TTL 1 dies at the first
        /// router.
        TtlRaised => "ttl-raised";
    }
}

// Ordered by name, so that maps keyed by rule (a report's `rules_applied`, its JSON) list the
// rules alphabetically, as they did when the keys were the names themselves.
impl Ord for Rule {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Rule {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    #[test]
    fn names_are_unique_kebab_case_and_listed_in_order() {
        let mut seen = HashSet::new();
        for &r in Rule::ALL {
            let n = r.name();
            assert!(seen.insert(n), "duplicate name {n}");
            assert!(n.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(!n.starts_with('-') && !n.ends_with('-') && !n.contains("--"));
            assert_eq!(r.to_string(), n);
            assert_eq!(Rule::from_name(n), Some(r));
        }
        assert!(Rule::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_map_of_rules_serialises_as_names_in_name_order() {
        let map: BTreeMap<Rule, u64> = [(Rule::TcpWindowBound, 2), (Rule::ClientFirst, 1)].into();
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"{"client-first":1,"tcp-window-bound":2}"#
        );
    }
}
