//! The Internet checksum (RFC 1071) and the IPv4 pseudo-header sum used by TCP and UDP.

use super::IpProtocol;
use std::net::Ipv4Addr;

/// One's-complement sum of `data` as big-endian 16-bit words (odd byte padded with zero),
/// folded to 16 bits but not complemented.
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

fn fold(mut acc: u64) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u32
}

/// Adds partial sums and folds the result.
pub fn combine(parts: &[u32]) -> u32 {
    fold(parts.iter().map(|&p| u64::from(p)).sum())
}

/// The checksum field value for `data`: the complement of its folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !(sum(data) as u16)
}

/// Partial sum of the IPv4 pseudo-header for an upper-layer segment of `len` bytes.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, len: u16) -> u32 {
    let mut ph = [0u8; 12];
    ph[0..4].copy_from_slice(&src.octets());
    ph[4..8].copy_from_slice(&dst.octets());
    ph[9] = proto.into();
    ph[10..12].copy_from_slice(&len.to_be_bytes());
    sum(&ph)
}

/// Checksum of an upper-layer `segment` (checksum field included as stored) under the IPv4
/// pseudo-header; a correct segment gives 0.
pub fn verify_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, segment: &[u8]) -> u16 {
    let ph = pseudo_header_v4(src, dst, proto, segment.len() as u16);
    !(combine(&[ph, sum(segment)]) as u16)
}

/// Checksum field value for an upper-layer `segment` whose checksum field is zero.
pub fn compute_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, segment: &[u8]) -> u16 {
    verify_v4(src, dst, proto, segment)
}

/// The checksum `csum` updated for the 16-bit words `old` replaced by `new` (RFC 1624, eqn. 3),
/// without summing the rest of the data again: what a rewriter needs when it changes addresses.
pub fn update(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut sum = u32::from(!csum);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        sum += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::{field, tests::EXAMPLE_HEADER as FILLED};

    /// The well-known example IPv4 header (UDP, 192.168.0.1 → 192.168.0.199), checksum zeroed.
    const EXAMPLE_HEADER: [u8; 20] = {
        let mut h = FILLED;
        h[10] = 0;
        h[11] = 0;
        h
    };

    #[test]
    fn rfc1624_example() {
        // RFC 1624 section 4: checksum 0xdd2f, word 0x5555 changed to 0x3285 gives 0x0000.
        assert_eq!(update(0xdd2f, &[0x55, 0x55], &[0x32, 0x85]), 0x0000);
    }

    #[test]
    fn an_update_equals_summing_again() {
        let mut hdr = EXAMPLE_HEADER;
        let before = checksum(&hdr);
        let old = hdr[field::SRC_ADDR].to_vec();
        hdr[field::SRC_ADDR].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(update(before, &old, &hdr[field::SRC_ADDR]), checksum(&hdr));
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: 0001 f203 f4f5 f6f7 sums to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn checksum_of_data_with_checksum_is_zero() {
        let mut hdr = EXAMPLE_HEADER;
        let c = checksum(&hdr);
        assert_eq!(c, 0xb861); // the well-known example header's checksum
        hdr[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&hdr), 0);
    }
}
