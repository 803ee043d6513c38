//! Ethernet II framing: header length, the EtherTypes netdiffd reads, and VLAN tags.

/// Length of an Ethernet II header without tags.
pub const HEADER_LEN: usize = 14;

/// Where each field of the Ethernet II header sits, in bytes from the start of the frame.
pub mod field {
    use crate::wire::Field;

    /// Destination MAC address.
    pub const DESTINATION: Field = 0..6;
    /// Source MAC address.
    pub const SOURCE: Field = 6..12;
    /// EtherType of the payload, or the tag protocol identifier of a VLAN tag.
    pub const ETHERTYPE: Field = 12..14;
}

/// Where each field of a VLAN tag sits, in bytes from the end of the tag protocol identifier
/// that announces it (the tag is [`VLAN_TAG_LEN`] bytes from there).
pub mod vlan_field {
    use crate::wire::Field;

    /// Tag control information: priority, drop eligible, VLAN id.
    pub const TCI: Field = 0..2;
    /// EtherType of what the tag carries (or the identifier of the next tag).
    pub const ETHERTYPE: Field = 2..4;
}
/// Length of one 802.1Q / 802.1ad tag.
pub const VLAN_TAG_LEN: usize = 4;
/// Most VLAN tags walked before a frame counts as malformed.
pub const MAX_VLAN_TAGS: usize = 8;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// True for the tag protocol identifiers of a VLAN tag: 802.1Q, 802.1ad, and the older 0x9100
/// used for stacked tags.
pub fn is_vlan_tpid(ethertype: u16) -> bool {
    matches!(ethertype, 0x8100 | 0x88a8 | 0x9100)
}
