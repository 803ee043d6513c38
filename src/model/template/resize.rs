//! Lengths around a template's. A generated flow takes a real flow's structure; taken at the
//! real flow's length, a class's generated flows have exactly the lengths — and so the packet
//! counts, direction changes, bytes and durations — of its few training flows, and a new
//! capture's flows fall between them (the 23 video-stream flows of the training files last
//! 10 to 2,048 packets, 18 of them 150-170; the held-out one 1,596). A long template is
//! therefore taken at a length drawn around its own: log-normal, with the class's kernel
//! bandwidth (Silverman's rule over the log lengths of its long templates), its opening and
//! teardown kept, its middle cut short or continued (see docs/model.md, "Lengths around the
//! templates").

use super::{PacketShape, Template};
use crate::wire::tcp::flags;
use crate::wire::IpProtocol;
use rand::Rng;

/// Templates shorter than this keep their length, and a resized one is never made shorter: a
/// short flow's length is its exchange (a DNS query and answer, a scan's probe and reply, a
/// login attempt), not a point on a spread.
pub const RESIZABLE_FROM: usize = 32;

/// Packets at a resized template's start kept as they were: the opening (handshake, the first
/// requests and answers: what a classifier reads and where the card's payload lengths by
/// position apply).
pub const KEPT_OPENING: usize = 16;

/// The most packets at a template's end kept as its teardown (from the first FIN or RST among
/// them).
const MOST_TEARDOWN: usize = 8;

/// The kernel bandwidth of a class's template lengths, in natural-log units: Silverman's rule,
/// 1.06 σ n^(-1/5), over the logs of the lengths of its templates of at least
/// [`RESIZABLE_FROM`] packets; 0 (every template at its own length) where fewer than two are
/// that long.
pub fn length_bandwidth(templates: &[Template]) -> f64 {
    let logs: Vec<f64> = templates
        .iter()
        .map(Template::len)
        .filter(|&n| n >= RESIZABLE_FROM)
        .map(|n| (n as f64).ln())
        .collect();
    if logs.len() < 2 {
        return 0.0;
    }
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let sd = (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    1.06 * sd * n.powf(-0.2)
}

/// A length for a flow of a `len`-packet template: `len` × e^(bandwidth · z) for a standard
/// normal z, rounded, kept within [`RESIZABLE_FROM`]..=`longest` (the class's longest template:
/// a generated flow is no longer than the longest real one). `len` itself for a template
/// shorter than [`RESIZABLE_FROM`] or a bandwidth of 0, without a draw.
pub fn draw_length(len: usize, bandwidth: f64, longest: usize, rng: &mut impl Rng) -> usize {
    if len < RESIZABLE_FROM || bandwidth <= 0.0 || !bandwidth.is_finite() {
        return len;
    }
    let z = f64::from(crate::model::normal(rng));
    let drawn = (len as f64 * (bandwidth * z).exp()).round();
    (drawn.min(longest.max(len) as f64) as usize).max(RESIZABLE_FROM)
}

impl Template {
    /// Where the template's teardown starts: the first FIN or RST among its last
    /// [`MOST_TEARDOWN`] packets (the template's length when none is there, or its kinds are
    /// not recorded).
    pub fn teardown_start(&self) -> usize {
        let from = self.len().saturating_sub(MOST_TEARDOWN);
        (from..self.len())
            .find(|&i| is_fin_or_rst(self.shapes[i]))
            .unwrap_or(self.len())
    }

    /// The template at `len` packets: its first [`KEPT_OPENING`] and its teardown as they are,
    /// its middle cut to fit or continued from its own start as often as it takes (a download's
    /// data and ACKs, a session's requests and answers go on as they went). The template itself
    /// where it is shorter than [`RESIZABLE_FROM`] or already `len` long.
    pub fn resized(&self, len: usize) -> Template {
        let n = self.len();
        if n < RESIZABLE_FROM || len == n {
            return self.clone();
        }
        let teardown = self.teardown_start();
        let middle = &self.shapes[KEPT_OPENING..teardown];
        let room = len.saturating_sub(KEPT_OPENING + (n - teardown)).max(1);
        let mut shapes = Vec::with_capacity(KEPT_OPENING + room + n - teardown);
        shapes.extend_from_slice(&self.shapes[..KEPT_OPENING]);
        shapes.extend(middle.iter().copied().cycle().take(room));
        shapes.extend_from_slice(&self.shapes[teardown..]);
        Template {
            shapes,
            server_port: self.server_port,
        }
    }
}

fn is_fin_or_rst(s: PacketShape) -> bool {
    let teardown = (flags::FIN | flags::RST) as u8;
    s.0 == IpProtocol::Tcp && s.3.is_some_and(|k| k.tcp_flags & teardown != 0)
}

#[cfg(test)]
mod tests {
    use super::super::PacketKind;
    use super::*;
    use rand::SeedableRng;

    fn tcp(tcp_flags: u8, backward: bool) -> PacketShape {
        PacketShape(
            IpProtocol::Tcp,
            5,
            8,
            Some(PacketKind::of_flags(tcp_flags, backward)),
        )
    }

    /// A download: handshake, a request, `data` data/ACK pairs, then FIN, FIN-ACK, ACK.
    fn download(data: usize) -> Template {
        let (ack, psh, syn, fin) = (0x10, 0x18, 0x02, 0x11);
        let mut s = vec![tcp(syn, false), tcp(syn | ack, true), tcp(ack, false)];
        s.push(tcp(psh, false));
        for _ in 0..data {
            s.push(tcp(psh, true));
            s.push(tcp(ack, false));
        }
        s.extend([tcp(fin, false), tcp(fin, true), tcp(ack, false)]);
        Template::new(s)
    }

    #[test]
    fn a_shorter_length_keeps_the_opening_and_the_teardown() {
        let t = download(40); // 87 packets
        let r = t.resized(40);
        assert_eq!(r.len(), 40);
        assert_eq!(r.shapes[..KEPT_OPENING], t.shapes[..KEPT_OPENING]);
        assert_eq!(r.shapes[37..], t.shapes[84..]);
        assert_eq!(t.teardown_start(), 84);
        // The middle is the template's own middle, from its start.
        assert_eq!(r.shapes[KEPT_OPENING..37], t.shapes[KEPT_OPENING..37]);
    }

    #[test]
    fn a_longer_length_continues_the_middle_from_its_start() {
        let t = download(20); // 47 packets: middle 16..44, 28 packets
        let r = t.resized(100);
        assert_eq!(r.len(), 100);
        assert_eq!(r.shapes[..44], t.shapes[..44]);
        assert_eq!(r.shapes[44..72], t.shapes[16..44]);
        assert_eq!(r.shapes[97..], t.shapes[44..]);
        // One handshake and one teardown, whatever the length.
        let syns = r.shapes.iter().filter(|s| s.3.unwrap().tcp_flags & 2 != 0);
        assert_eq!(syns.count(), 2);
        let fins = r.shapes.iter().filter(|s| s.3.unwrap().tcp_flags & 1 != 0);
        assert_eq!(fins.count(), 2);
    }

    #[test]
    fn short_templates_and_unchanged_lengths_stay_as_they_are() {
        let short = download(10); // 27 packets
        assert_eq!(short.resized(200), short);
        let t = download(30);
        assert_eq!(t.resized(t.len()), t);
        // A template without kinds has no teardown to keep: its end is cut.
        let plain = Template::new(vec![PacketShape(IpProtocol::Udp, 5, 2, None); 50]);
        assert_eq!(plain.teardown_start(), 50);
        assert_eq!(plain.resized(40).len(), 40);
    }

    #[test]
    fn bandwidth_follows_the_spread_of_the_long_templates() {
        let same = vec![download(30); 5];
        assert_eq!(length_bandwidth(&same), 0.0);
        // Short templates do not count; one long one gives no spread.
        let one = vec![download(5), download(6), download(40)];
        assert_eq!(length_bandwidth(&one), 0.0);
        // Two lengths a and b: σ = ln(b / a) / 2, n 2 → 1.06 · σ · 2^-0.2.
        let two = vec![download(32), download(132)];
        let (a, b) = (two[0].len() as f64, two[1].len() as f64);
        let expected = 1.06 * ((b / a).ln() / 2.0) * 2f64.powf(-0.2);
        assert!((length_bandwidth(&two) - expected).abs() < 1e-9);
    }

    #[test]
    fn drawn_lengths_spread_around_the_template_within_the_class() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let draws: Vec<usize> = (0..2000)
            .map(|_| draw_length(200, 0.5, 600, &mut rng))
            .collect();
        assert!(draws.iter().all(|&n| (RESIZABLE_FROM..=600).contains(&n)));
        // Log-normal around 200: about half below, about 68 % within e^±0.5.
        let below = draws.iter().filter(|&&n| n < 200).count();
        assert!((850..1150).contains(&below), "{below} of 2000 below 200");
        let within = draws.iter().filter(|&&n| (121..=330).contains(&n)).count();
        assert!(
            (1250..1500).contains(&within),
            "{within} of 2000 within e^±0.5"
        );
        // No spread, or a short template: its own length, and no draw taken.
        let mut a = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(draw_length(200, 0.0, 600, &mut a), 200);
        assert_eq!(draw_length(20, 0.5, 600, &mut a), 20);
        let mut b = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }
}
