//! Typed views over packet bytes (IPv4, IPv6, TCP, UDP, ICMP), in the style of smoltcp's `wire`:
//! a view wraps a buffer, `new_checked` validates that every fixed field is inside it, and no
//! accessor panics on a buffer that passed the check. Each header names its field offsets once,
//! in its `field` module; IPv4, TCP, UDP and ICMP have a `Repr` (the header as plain values)
//! that `parse`s from a view and `emit`s into one, and views fill their own checksums. The IP
//! protocol is the typed [`IpProtocol`], never a bare number outside this module.

pub mod checksum;
pub mod cidr;
pub mod ethernet;
pub mod icmp;
mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod mac;
pub mod tcp;
pub mod udp;

/// Why a buffer cannot be viewed as a header of some protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before the header does.
    #[error("{proto} header truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Protocol whose header is cut short.
        proto: &'static str,
        /// Bytes the header needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A field holds a value the protocol forbids (a version, a header length).
    #[error("{proto} field {field} has invalid value {value}")]
    Malformed {
        /// Protocol of the header.
        proto: &'static str,
        /// Field name.
        field: &'static str,
        /// The offending value.
        value: u32,
    },
}

pub use ip::IpProtocol;

/// A header field: the byte range it occupies, counted from the start of its header (the type
/// of the constants in each header's `field` module).
pub type Field = std::ops::Range<usize>;

/// The big-endian 16-bit value of `field` (two bytes) in `b`.
#[inline]
pub(crate) fn be16(b: &[u8], field: Field) -> u16 {
    debug_assert_eq!(field.len(), 2);
    let at = field.start;
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// The big-endian 32-bit value of `field` (four bytes) in `b`.
#[inline]
pub(crate) fn be32(b: &[u8], field: Field) -> u32 {
    debug_assert_eq!(field.len(), 4);
    let at = field.start;
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes `v` big-endian into `field` (two bytes) of `b`.
#[inline]
pub(crate) fn put16(b: &mut [u8], field: Field, v: u16) {
    debug_assert_eq!(field.len(), 2);
    b[field.start..field.start + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` big-endian into `field` (four bytes) of `b`.
#[inline]
pub(crate) fn put32(b: &mut [u8], field: Field, v: u32) {
    debug_assert_eq!(field.len(), 4);
    b[field.start..field.start + 4].copy_from_slice(&v.to_be_bytes());
}

pub(crate) fn need(proto: &'static str, have: usize, need: usize) -> Result<(), WireError> {
    if have < need {
        Err(WireError::Truncated { proto, need, have })
    } else {
        Ok(())
    }
}
