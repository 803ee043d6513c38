//! The nPrint tool's job, done the same way: a capture file in, nPrint CSV out, with the same
//! rows, columns and values for the same options.
//!
//! Frames are read the way the nPrint tool 1.2.1 reads them. In particular the tool looks at the
//! EtherType of an Ethernet frame only to tell IPv4 (0x0800) and IPv6 (0x86DD) from the rest,
//! and reads every other frame — 802.1Q/802.1ad-tagged ones included — from its first byte as
//! if it were an IP header (`src/packet/superpacket.cpp`, `SuperPacket::SuperPacket`:
//! `ipv4h = (struct ip *)pkt;`). Such a frame gives no row unless its destination MAC address
//! begins with the hex digit 4 or 6 and the bytes there happen to name TCP, UDP or ICMP; then
//! the row holds those misread bytes. [`Extensions::decode_vlan`] decodes VLAN tags instead.
//! The tool skips a Linux cooked v1 header and knows no other link header, so cooked v2 and
//! loopback frames are read from their first byte too ([`Extensions::decode_links`] decodes
//! them), and it reads a later IPv4 fragment's first bytes as a transport header.
//!
//! Reading and encoding run on the calling thread, writing on a second one: rows are spelled
//! into large chunks that the writer thread writes in order.

use super::csv_write::{header_line, CsvOptions, IndexColumn, RowText};
use super::encode::{segments, Segment};
use crate::capture::{
    dissect, CaptureError, CaptureReader, Dissected, Frame, LinkType, SkipCounts, SkipReason, L3,
    L4, SLL_HEADER_LEN,
};
use crate::wire::ethernet::{
    field as eth_field, is_vlan_tpid, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6,
    HEADER_LEN as ETH_HEADER_LEN,
};
use crate::wire::icmp::IcmpPacket;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;
use crate::wire::{be16, IpProtocol};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;

/// Options of one encoding run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EncodeRun {
    /// CSV content options.
    pub csv: CsvOptions,
    /// Encode only the packets among the first this many frames (`-c`; 0 = all), as the nPrint
    /// tool counts: frames read, skipped ones included.
    pub count: u64,
}

/// Options the nPrint tool does not have. With the default (all off) the output is the tool's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extensions {
    /// Decode 802.1Q/802.1ad VLAN tags (up to 8) and encode the IPv4/IPv6 packet inside, as the
    /// rest of netdiffd does. The Ethernet block (`-e`) then holds the frame's first 14 bytes,
    /// whose EtherType is the outer tag's TPID. Off: tagged frames are read as the nPrint tool
    /// reads them (see the module documentation), so they give no row, or a misread one.
    pub decode_vlan: bool,
    /// Decode the link headers the nPrint tool does not know — Linux cooked v2 (SLL2), BSD and
    /// OpenBSD loopback — and encode the packet inside, as the rest of netdiffd does. Off:
    /// such frames are read as the tool reads them, from their first byte, which gives no row.
    pub decode_links: bool,
}

/// What an encoding run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodeSummary {
    /// Frames read from the capture.
    pub frames: u64,
    /// Rows written.
    pub encoded: u64,
    /// Frames skipped, by reason.
    pub skipped: SkipCounts,
}

/// Errors of an encoding run.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Reading the capture failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing the output failed.
    #[error("writing nPrint output: {0}")]
    Write(#[from] std::io::Error),
}

/// Bytes of output handed to the writer thread at a time. Below 2 MiB on purpose: a write()
/// that covers a whole 2 MiB-aligned stretch of the file lets the kernel put it in a 2 MiB
/// page-cache folio, which on the test VM (free memory handed back to its host) made a 1 GB
/// output 4-6 times slower (1.4-2.3 s instead of 0.3-0.4 s with 1-2 MiB writes).
const CHUNK: usize = 1536 << 10;
/// Chunks waiting for the writer thread at most.
const QUEUE: usize = 2;

/// Encodes the capture at `input` into `out` as the nPrint tool would; `progress` is called with
/// the number of frames read every 4096 frames.
pub fn encode_capture<W: Write + Send>(
    input: &Path,
    run: &EncodeRun,
    out: W,
    progress: impl FnMut(u64),
) -> Result<(EncodeSummary, W), EncodeError> {
    encode_capture_with(input, run, Extensions::default(), out, progress)
}

/// As [`encode_capture`], with options beyond the nPrint tool's.
pub fn encode_capture_with<W: Write + Send>(
    input: &Path,
    run: &EncodeRun,
    ext: Extensions,
    out: W,
    progress: impl FnMut(u64),
) -> Result<(EncodeSummary, W), EncodeError> {
    let mut reader = CaptureReader::open(input)?;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(QUEUE);
        let (back_tx, back_rx) = mpsc::channel::<Vec<u8>>();
        let writer = s.spawn(move || write_chunks(out, rx, back_tx));
        let produced = produce(&mut reader, run, ext, tx, back_rx, progress);
        let written = match writer.join() {
            Ok(w) => w,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match (produced, written) {
            (Err(Stop::Capture(e)), _) => Err(EncodeError::Capture(e)),
            (_, Err(e)) => Err(EncodeError::Write(e)),
            (Ok(summary), Ok(out)) => Ok((summary, out)),
            (Err(Stop::Writer), Ok(_)) => Err(EncodeError::Write(io::Error::other(
                "the writer stopped before the end",
            ))),
        }
    })
}

/// Why the reading side stopped early.
enum Stop {
    Capture(CaptureError),
    /// The writer thread hung up (it failed; its error is the one to report).
    Writer,
}

/// The writer thread: writes each chunk's first `len` bytes in order and hands the buffer back.
fn write_chunks<W: Write>(
    mut out: W,
    rx: mpsc::Receiver<(Vec<u8>, usize)>,
    back: mpsc::Sender<Vec<u8>>,
) -> io::Result<W> {
    for (buf, len) in rx {
        out.write_all(&buf[..len])?;
        let _ = back.send(buf);
    }
    out.flush()?;
    Ok(out)
}

/// The reading side: reads, dissects and spells rows into chunks for the writer thread.
fn produce(
    reader: &mut CaptureReader,
    run: &EncodeRun,
    ext: Extensions,
    tx: mpsc::SyncSender<(Vec<u8>, usize)>,
    back: mpsc::Receiver<Vec<u8>>,
    mut progress: impl FnMut(u64),
) -> Result<EncodeSummary, Stop> {
    let text = RowText::new(run.csv.fill, &run.csv.layout);
    let header = header_line(&run.csv);
    let mut buf = vec![0u8; CHUNK.max(header.len())];
    buf[..header.len()].copy_from_slice(header.as_bytes());
    let mut pos = header.len();
    let send = |buf: Vec<u8>, len: usize| tx.send((buf, len)).map_err(|_| Stop::Writer);

    let mut summary = EncodeSummary::default();
    let mut frame = Frame::default();
    let mut prev_us: Option<u64> = None;
    let (mut index, mut rts, mut sec, mut usec) =
        (String::new(), String::new(), String::new(), String::new());
    let mut segs: Vec<Segment<'static>> = Vec::with_capacity(16);
    loop {
        if run.count != 0 && summary.frames >= run.count {
            break;
        }
        if !reader.read_into(&mut frame).map_err(Stop::Capture)? {
            break;
        }
        summary.frames += 1;
        if summary.frames % 4096 == 0 {
            progress(summary.frames);
        }
        let pkt = match dissect_as_nprint(&frame, ext, run.csv.layout.payload_bytes) {
            Ok(p) => p,
            Err(reason) => {
                summary.skipped.add(reason);
                continue;
            }
        };
        index.clear();
        write_index(&mut index, run.csv.index, &pkt);
        let mut prefix: [&str; 4] = [&index, "", "", ""];
        let mut n = 1;
        let us = frame.ts_ns / 1000;
        if run.csv.relative_ts {
            rts.clear();
            let d = prev_us.map_or(0, |p| us as i64 - p as i64);
            let _ = write!(rts, "{d}");
            prefix[n] = &rts;
            n += 1;
        }
        prev_us = Some(us);
        if run.csv.absolute_ts {
            sec.clear();
            usec.clear();
            push_u64(&mut sec, us / 1_000_000);
            push_u64(&mut usec, us % 1_000_000);
            prefix[n] = &sec;
            prefix[n + 1] = &usec;
            n += 2;
        }
        let mut row_segs = reuse(std::mem::take(&mut segs));
        segments(&run.csv.layout, &pkt, &mut row_segs);
        let len = text.row_len(&prefix[..n], &row_segs);
        if pos + len > buf.len() {
            let next = back.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK]);
            send(std::mem::replace(&mut buf, next), pos)?;
            pos = 0;
            if len > buf.len() {
                buf.resize(len, 0);
            }
        }
        text.write_into(&mut buf[pos..pos + len], &prefix[..n], &row_segs);
        pos += len;
        segs = reuse(row_segs);
        summary.encoded += 1;
    }
    progress(summary.frames);
    send(buf, pos)?;
    Ok(summary)
}

/// An empty vector with the allocation of `v` (which is cleared), for another lifetime.
fn reuse<'b>(mut v: Vec<Segment<'_>>) -> Vec<Segment<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!()).collect()
}

/// Dissects `frame` as the nPrint tool reads it (see the module documentation); with
/// `ext.decode_vlan`, tagged Ethernet frames are decoded by [`dissect`] instead, and with
/// `ext.decode_links` the link types the tool does not know.
/// `payload_bytes` is the `-p` setting (what of a misread frame the tool reads depends on it).
pub fn dissect_as_nprint(
    frame: &Frame,
    ext: Extensions,
    payload_bytes: usize,
) -> Result<Dissected<'_>, SkipReason> {
    let data = &frame.data[..];
    let link = frame.link;
    if link != LinkType::Ethernet && ext.decode_links {
        return dissect(frame);
    }
    // The tool skips a Linux cooked v1 header and knows no other link header: it reads every
    // frame from there as an Ethernet frame when bytes 12-13 hold the IPv4 or IPv6 EtherType,
    // else as an IP packet.
    let start = if link == LinkType::LinuxSll {
        SLL_HEADER_LEN
    } else {
        0
    };
    let Some(data) = data.get(start..) else {
        return Err(SkipReason::Truncated);
    };
    let ty = (data.len() >= ETH_HEADER_LEN).then(|| be16(data, eth_field::ETHERTYPE));
    match (link, ty) {
        // Ethernet with IP, or any frame whose bytes 12-13 happen to say so (a raw packet from
        // 8.0.x.x): the "Ethernet header" is the first 14 bytes, the IP header follows.
        (_, Some(ETHERTYPE_IPV4 | ETHERTYPE_IPV6)) => {
            let (eth, ip) = data.split_at(ETH_HEADER_LEN);
            misread(ip, Some(eth), SkipReason::Malformed, payload_bytes)
        }
        (LinkType::Ethernet, Some(ty)) if ext.decode_vlan && is_vlan_tpid(ty) => dissect(frame),
        (LinkType::Ethernet, Some(ty)) => misread(data, None, not_ip(ty), payload_bytes),
        (LinkType::Ethernet, None) => Err(SkipReason::Truncated),
        // An IP packet where the tool looks for one.
        (LinkType::Raw | LinkType::LinuxSll | LinkType::Ipv4 | LinkType::Ipv6, _) => {
            misread(data, None, SkipReason::Malformed, payload_bytes)
        }
        // Cooked v2 and loopback headers read as IP: no row unless a version 4 or 6 happens
        // to stand in the first byte.
        _ => misread(data, None, SkipReason::LinkNotRead, payload_bytes),
    }
}

/// Why the tool gives no row for an Ethernet frame of EtherType `ty` that is not IP.
fn not_ip(ty: u16) -> SkipReason {
    match ty {
        ETHERTYPE_ARP => SkipReason::Arp,
        t if t <= 1500 => SkipReason::Llc,
        t => SkipReason::NonIp(t),
    }
}

/// The nPrint tool's reading of `data` as an IP packet (`SuperPacket::process_v4` /
/// `process_v6`), wherever the tool takes one to start: after an Ethernet header (`eth`, what
/// the tool takes for one), or at the first byte of a raw packet or of a frame it does not take
/// for Ethernet with IP (another EtherType, a cooked v2 or loopback header). Nothing is checked
/// beyond the version in the first nibble and the protocol number, so fragments and misread
/// bytes give rows as in the tool. A row results where the tool would write one from bytes
/// inside the frame; a frame of which the tool would read bytes past the captured end (whatever
/// lies in libpcap's buffer there) is skipped as truncated; `not_ip` is the reason for a frame
/// that gives no row.
fn misread<'a>(
    data: &'a [u8],
    eth: Option<&'a [u8]>,
    not_ip: SkipReason,
    payload_bytes: usize,
) -> Result<Dissected<'a>, SkipReason> {
    let short = |need: usize| {
        if data.len() < need {
            Err(SkipReason::Truncated)
        } else {
            Ok(())
        }
    };
    // (network layer, where the transport header starts, the IP total length, the protocol)
    let (l3, at, total, proto) = match data[0] >> 4 {
        4 => {
            let hl = usize::from(data[0] & 0x0f) * 4;
            short(hl.max(20))?;
            let ip = Ipv4Packet::new_unchecked(data);
            (L3::V4(ip), hl, u32::from(ip.total_len()), ip.protocol())
        }
        6 => {
            let ip = Ipv6Packet::new_checked(data).map_err(|_| SkipReason::Truncated)?;
            let total = u32::from(ip.payload_len()) + ipv6::HEADER_LEN as u32;
            (L3::V6(ip), ipv6::HEADER_LEN, total, ip.next_header())
        }
        _ => return Err(not_ip),
    };
    // (transport layer, its header length, where the tool takes the payload to start)
    let (l4, l4_len, payload_at) = match proto {
        IpProtocol::Tcp => {
            short(at + 13)?;
            let t = TcpPacket::new_unchecked(&data[at..]);
            let hl = t.header_len();
            short(at + hl)?;
            // For IPv6 the tool adds the header length to a `struct tcphdr *`: 20 bytes a unit.
            let p = match l3 {
                L3::V4(_) => at + hl,
                L3::V6(_) => at + hl * 20,
            };
            (L4::Tcp(t), hl, p)
        }
        IpProtocol::Udp => {
            short(at + 8)?;
            (L4::Udp(UdpPacket::new_unchecked(&data[at..])), 8, at + 8)
        }
        IpProtocol::Icmp => {
            short(at + 8)?;
            (L4::Icmp(IcmpPacket::new_unchecked(&data[at..])), 8, at + 8)
        }
        _ => return Err(not_ip),
    };
    // The tool's payload length is an unsigned 32-bit difference, and it reads that many bytes
    // (at most -p) unless the length is 0 (`src/packet/payload.cpp`).
    let claimed = total.wrapping_sub(u32::try_from(at + l4_len).unwrap_or(u32::MAX));
    let max = u32::try_from(payload_bytes).unwrap_or(u32::MAX);
    let take = if max == 0 || claimed == 0 {
        0
    } else if (max.wrapping_sub(claimed) as i32) > 0 {
        if claimed > max {
            // It would read `claimed` (over 2^31) bytes.
            return Err(SkipReason::Truncated);
        }
        claimed as usize
    } else {
        payload_bytes
    };
    let payload = if take == 0 {
        &data[..0]
    } else {
        short(payload_at + take)?;
        &data[payload_at..payload_at + take]
    };
    Ok(Dissected {
        eth,
        l3,
        l4,
        payload,
        payload_len: take,
    })
}

/// Formats the index column of `pkt` as the nPrint tool does ("NULL" where a field is absent;
/// `tx_mac` is the 802.11 transmitter address, so always "NULL" for the link types netdiffd
/// reads).
pub fn write_index(s: &mut String, index: IndexColumn, pkt: &Dissected<'_>) {
    let addr = |s: &mut String, src: bool| match pkt.l3 {
        L3::V4(ip) => push_ipv4(s, if src { ip.src_addr() } else { ip.dst_addr() }.octets()),
        L3::V6(ip) => {
            let _ = write!(s, "{}", if src { ip.src_addr() } else { ip.dst_addr() });
        }
    };
    let port = |s: &mut String, src: bool| match pkt.l4 {
        L4::Icmp(_) => s.push_str("NULL"),
        l4 => {
            let (a, b) = l4.ports();
            push_u64(s, u64::from(if src { a } else { b }));
        }
    };
    match index {
        IndexColumn::SrcIp => addr(s, true),
        IndexColumn::DstIp => addr(s, false),
        IndexColumn::SrcPort => port(s, true),
        IndexColumn::DstPort => port(s, false),
        IndexColumn::Flow => {
            addr(s, true);
            s.push('_');
            addr(s, false);
            s.push('_');
            port(s, true);
            s.push('_');
            port(s, false);
            s.push_str(match pkt.l4 {
                L4::Tcp(_) => "_TCP",
                L4::Udp(_) => "_UDP",
                L4::Icmp(_) => "_NULL",
            });
        }
        // The tool's `get_tx_mac_address` reads only an 802.11 header.
        IndexColumn::TxMac => s.push_str("NULL"),
    }
}

/// Appends `a` in dotted-quad form.
fn push_ipv4(s: &mut String, a: [u8; 4]) {
    let mut text = [0u8; 15];
    let mut n = 0;
    for (i, &o) in a.iter().enumerate() {
        if i > 0 {
            text[n] = b'.';
            n += 1;
        }
        let (h, t, u) = (o / 100, o / 10 % 10, o % 10);
        if h > 0 {
            text[n] = b'0' + h;
            n += 1;
        }
        if h > 0 || t > 0 {
            text[n] = b'0' + t;
            n += 1;
        }
        text[n] = b'0' + u;
        n += 1;
    }
    s.push_str(std::str::from_utf8(&text[..n]).unwrap_or_default());
}

/// Appends `v` in decimal.
fn push_u64(s: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(data: Vec<u8>) -> Frame {
        Frame {
            link: LinkType::Ethernet,
            data,
            ..Frame::default()
        }
    }

    fn udp_ipv4() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 30, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p.extend_from_slice(&[0x13, 0x88, 0, 53, 0, 10, 0, 0, 0xab, 0xcd]);
        p
    }

    fn tagged(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut d = dst.to_vec();
        d.extend_from_slice(&src);
        d.extend_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x00]);
        d.extend_from_slice(&udp_ipv4());
        d
    }

    #[test]
    fn tagged_frames_are_skipped_like_the_tool_unless_decoded() {
        let f = frame(tagged([0, 0x0c, 0x29, 1, 2, 3], [0, 0x0c, 0x29, 4, 5, 6]));
        assert_eq!(
            dissect_as_nprint(&f, Extensions::default(), 0).unwrap_err(),
            SkipReason::NonIp(0x8100)
        );
        let d = dissect_as_nprint(
            &f,
            Extensions {
                decode_vlan: true,
                ..Extensions::default()
            },
            0,
        )
        .unwrap();
        assert_eq!(d.l4.ports(), (5000, 53));
        // The shared dissector, used by the rest of the pipeline, still decodes tags.
        assert!(dissect(&f).is_ok());
    }

    #[test]
    fn a_destination_mac_beginning_with_4_is_misread_as_ipv4() {
        // Bytes 0..20 become the "IPv4 header": IHL 5, protocol (byte 9) 17, addresses at
        // bytes 12..20 (the tag and the start of the real IP header); the "UDP header" is the
        // real IP header's bytes 2..10.
        let f = frame(tagged([0x45, 0, 0, 0x3c, 0, 1], [0x40, 0, 0x40, 17, 0, 0]));
        let d = dissect_as_nprint(&f, Extensions::default(), 0).unwrap();
        assert!(d.eth.is_none());
        let mut s = String::new();
        write_index(&mut s, IndexColumn::Flow, &d);
        assert_eq!(s, "129.0.0.100_8.0.69.0_30_1_UDP");
        // A protocol byte the tool does not know: no row.
        let f = frame(tagged([0x45, 0, 0, 0x3c, 0, 1], [0x40, 0, 0x40, 2, 0, 0]));
        assert_eq!(
            dissect_as_nprint(&f, Extensions::default(), 0).unwrap_err(),
            SkipReason::NonIp(0x8100)
        );
    }

    #[test]
    fn misread_payload_past_the_frame_is_skipped() {
        let f = frame(tagged([0x45, 0, 0x10, 0, 0, 1], [0x40, 0, 0x40, 17, 0, 0]));
        assert!(dissect_as_nprint(&f, Extensions::default(), 0).is_ok());
        assert_eq!(
            dissect_as_nprint(&f, Extensions::default(), 100).unwrap_err(),
            SkipReason::Truncated
        );
    }

    #[test]
    fn numbers_and_addresses_format_as_display_does() {
        for v in [0u64, 7, 10, 99, 100, 65535, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        for a in [
            [192, 168, 0, 10],
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [10, 100, 9, 200],
        ] {
            let mut s = String::new();
            push_ipv4(&mut s, a);
            assert_eq!(s, std::net::Ipv4Addr::from(a).to_string());
        }
    }
}
