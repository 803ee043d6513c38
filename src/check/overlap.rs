//! The payload bytes a TCP flow direction has sent, by sequence number, over a bounded window of
//! recent sequence space: what [`Rule::TcpConflictingOverlap`](super::Rule) compares a
//! retransmission against.
//!
//! The window covers at most [`WINDOW`] sequence numbers ending at the highest byte sent, which
//! is as far back as a sender without window scaling can retransmit. Memory grows with the
//! span actually held (a flow that sends a few hundred bytes holds a few hundred), in powers of
//! two up to the window. Positions use serial arithmetic, so sequence numbers may wrap. Only
//! bytes that are in the capture count: a byte the capture cut off (snaplen) or never saw is
//! unknown and compares with nothing.

/// Sequence space held per direction: the largest window TCP offers without window scaling.
pub(crate) const WINDOW: u32 = 1 << 16;

/// Smallest buffer allocated once a direction sends payload.
const MIN_CAP: u32 = 64;

/// Where a segment's bytes disagree with bytes sent before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Conflict {
    /// Sequence number of the first differing byte.
    pub first: u32,
    /// Differing bytes.
    pub differing: u32,
    /// Bytes of the segment that overlap bytes sent before (and held in the window).
    pub overlapping: u32,
}

/// The bytes one direction has sent over the last [`WINDOW`] sequence numbers.
#[derive(Default)]
pub(crate) struct SentBytes {
    /// Sequence number of the oldest position held.
    start: u32,
    /// Positions held: `[start, start + len)`, `len <= cap`.
    len: u32,
    /// Byte of sequence number `s` at `s & (cap - 1)`; `cap` is 0 or a power of two.
    data: Vec<u8>,
    /// One bit per slot: the byte was seen (captured).
    seen: Vec<u64>,
}

impl std::fmt::Debug for SentBytes {
    /// The window, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentBytes")
            .field("start", &self.start)
            .field("len", &self.len)
            .field("cap", &self.cap())
            .finish()
    }
}

impl SentBytes {
    fn cap(&self) -> u32 {
        self.data.len() as u32
    }

    fn slot(&self, seq: u32) -> usize {
        (seq & (self.cap() - 1)) as usize
    }

    fn is_seen(&self, slot: usize) -> bool {
        self.seen[slot / 64] & (1 << (slot % 64)) != 0
    }

    fn set_seen(&mut self, slot: usize, on: bool) {
        let (w, bit) = (slot / 64, 1u64 << (slot % 64));
        if on {
            self.seen[w] |= bit;
        } else {
            self.seen[w] &= !bit;
        }
    }

    /// Offset of `seq` from `start` in serial arithmetic (negative: before it).
    fn off(&self, seq: u32) -> i64 {
        i64::from(seq.wrapping_sub(self.start) as i32)
    }

    /// Compares `payload`, sent at sequence number `seq`, with the bytes held for the same
    /// sequence numbers, then records the bytes not held yet (the first bytes sent for a
    /// sequence number are the ones later segments are compared with).
    pub fn add(&mut self, seq: u32, payload: &[u8]) -> Option<Conflict> {
        if payload.is_empty() {
            return None;
        }
        let n = payload.len().min(WINDOW as usize) as i64;
        // Only the last WINDOW bytes of an oversized payload matter.
        let (seq, payload) = (
            seq.wrapping_add((payload.len() as i64 - n) as u32),
            &payload[payload.len() - n as usize..],
        );
        if self.data.is_empty() {
            self.start = seq;
            self.grow(n as u32);
        }
        let conflict = self.compare(seq, payload);
        self.record(seq, payload);
        conflict
    }

    fn compare(&self, seq: u32, payload: &[u8]) -> Option<Conflict> {
        let a = self.off(seq);
        let lo = a.max(0);
        let hi = (a + payload.len() as i64).min(i64::from(self.len));
        let mut c = Conflict {
            first: 0,
            differing: 0,
            overlapping: 0,
        };
        for o in lo..hi {
            let s = self.start.wrapping_add(o as u32);
            let slot = self.slot(s);
            if !self.is_seen(slot) {
                continue;
            }
            c.overlapping += 1;
            if self.data[slot] != payload[(o - a) as usize] {
                if c.differing == 0 {
                    c.first = s;
                }
                c.differing += 1;
            }
        }
        (c.differing > 0).then_some(c)
    }

    /// Moves the window to take in `[seq, seq + payload.len())` (as far as it reaches within
    /// WINDOW of the newest byte) and stores the bytes not seen before.
    fn record(&mut self, seq: u32, payload: &[u8]) {
        let a = self.off(seq);
        let b = a + payload.len() as i64;
        let old_len = i64::from(self.len);
        let new_end = old_len.max(b);
        let mut new_start = a.min(0).max(new_end - i64::from(WINDOW));
        if new_start >= old_len {
            // A jump: nothing held survives, so the window starts at the segment.
            new_start = a.max(new_end - i64::from(WINDOW));
        }
        let span = (new_end - new_start) as u32;
        if span > self.cap() {
            self.grow(span);
        }
        // Positions kept from before: [max(0, new_start), old_len); those newly inside the
        // window hold stale slots and start unseen.
        let keep_lo = new_start.max(0);
        let keep_hi = old_len.max(keep_lo);
        self.clear(new_start, keep_lo);
        self.clear(keep_hi, new_end);
        for o in a.max(new_start)..b {
            let s = self.start.wrapping_add(o as u32);
            let slot = self.slot(s);
            if !self.is_seen(slot) {
                self.data[slot] = payload[(o - a) as usize];
                self.set_seen(slot, true);
            }
        }
        self.start = self.start.wrapping_add(new_start as u32);
        self.len = (new_end - new_start) as u32;
    }

    /// Marks the slots of offsets `[lo, hi)` from `start` unseen (at most a full turn).
    fn clear(&mut self, lo: i64, hi: i64) {
        let cap = i64::from(self.cap());
        if hi - lo >= cap {
            self.seen.fill(0);
            return;
        }
        if hi <= lo {
            return;
        }
        let first = self.slot(self.start.wrapping_add(lo as u32));
        let n = (hi - lo) as usize;
        let cap = cap as usize;
        let tail = n.min(cap - first);
        self.clear_slots(first, first + tail);
        self.clear_slots(0, n - tail);
    }

    /// Marks slots `[lo, hi)` unseen.
    fn clear_slots(&mut self, lo: usize, hi: usize) {
        let mut i = lo;
        while i < hi {
            if i.is_multiple_of(64) && hi - i >= 64 {
                self.seen[i / 64] = 0;
                i += 64;
            } else {
                self.set_seen(i, false);
                i += 1;
            }
        }
    }

    /// Reallocates for at least `span` positions (at most WINDOW), keeping what is held.
    fn grow(&mut self, span: u32) {
        let cap = span.clamp(MIN_CAP, WINDOW).next_power_of_two();
        if cap <= self.cap() {
            return;
        }
        let mut next = SentBytes {
            start: self.start,
            len: self.len,
            data: vec![0; cap as usize],
            seen: vec![0; (cap as usize).div_ceil(64)],
        };
        for o in 0..self.len {
            let s = self.start.wrapping_add(o);
            let slot = self.slot(s);
            if self.is_seen(slot) {
                let to = next.slot(s);
                next.data[to] = self.data[slot];
                next.set_seen(to, true);
            }
        }
        *self = next;
    }

    /// Bytes of buffer held (for tests of the bound).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, salt: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
            .collect()
    }

    #[test]
    fn identical_retransmissions_and_repacketised_ones_agree() {
        let mut w = SentBytes::default();
        let data = bytes(3000, 1);
        assert_eq!(w.add(1000, &data[..1440]), None);
        assert_eq!(w.add(2440, &data[1440..]), None);
        // The same bytes again, cut differently.
        assert_eq!(w.add(1000, &data[..1200]), None);
        assert_eq!(w.add(2200, &data[1200..2400]), None);
        assert_eq!(w.add(1500, &data[500..2999]), None);
    }

    #[test]
    fn differing_overlap_is_reported_with_its_extent() {
        let mut w = SentBytes::default();
        w.add(100, &[1, 2, 3, 4, 5, 6]);
        // Starts inside the first segment, runs past its end.
        let c = w.add(103, &[4, 9, 9, 7, 8]).unwrap();
        assert_eq!(
            c,
            Conflict {
                first: 104,
                differing: 2,
                overlapping: 3
            }
        );
        // The first bytes sent stay the reference: the conflicting ones were not stored,
        // the new bytes past the old end were.
        assert_eq!(w.add(100, &[1, 2, 3, 4, 5, 6, 7, 8]), None);
        assert!(w.add(107, &[7, 0]).is_some());
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut w = SentBytes::default();
        let data = bytes(200, 7);
        let seq = u32::MAX - 99;
        assert_eq!(w.add(seq, &data), None);
        assert_eq!(w.add(seq.wrapping_add(150), &data[150..]), None);
        let mut other = data[90..120].to_vec();
        other[15] ^= 0xff; // sequence number 5, after the wrap
        let c = w.add(seq.wrapping_add(90), &other).unwrap();
        assert_eq!((c.first, c.differing, c.overlapping), (5, 1, 30));
    }

    #[test]
    fn holes_compare_with_nothing() {
        let mut w = SentBytes::default();
        // A segment cut by the capture (only 10 of its bytes present), then the next one.
        w.add(0, &[1; 10]);
        w.add(100, &[2; 10]);
        // Bytes 10..100 were never seen: anything goes there, and is stored.
        assert_eq!(w.add(5, &[1, 1, 1, 1, 1, 3, 3, 3]), None);
        assert!(w.add(10, &[4]).is_some());
        // Out of order: an earlier segment never seen before widens the window backwards.
        assert_eq!(w.add(u32::MAX - 9, &[5; 10]), None);
        assert!(w.add(u32::MAX - 1, &[6]).is_some());
    }

    #[test]
    fn the_window_is_bounded_and_forgets_old_bytes() {
        let mut w = SentBytes::default();
        let chunk = bytes(1000, 3);
        let mut seq = 7u32;
        for _ in 0..200 {
            assert_eq!(w.add(seq, &chunk), None);
            seq = seq.wrapping_add(1000);
        }
        assert_eq!(w.capacity(), WINDOW as usize);
        // Within the window: compared. Older than it: forgotten.
        let recent = seq.wrapping_sub(WINDOW / 2);
        assert!(w.add(recent, &[0xee; 4]).is_some());
        assert_eq!(w.add(seq.wrapping_sub(WINDOW + 10), &[0xee; 4]), None);
        // A jump past the window starts afresh.
        let far = seq.wrapping_add(3 * WINDOW);
        assert_eq!(w.add(far, &chunk), None);
        assert_eq!(w.add(seq.wrapping_sub(1000), &[0xee; 4]), None);
        assert!(w.add(far, &[0xee]).is_some());
    }

    #[test]
    fn small_flows_hold_small_buffers() {
        let mut w = SentBytes::default();
        w.add(5, &[1; 30]);
        w.add(35, &[1; 30]);
        assert_eq!(w.capacity(), 64);
        w.add(65, &[1; 100]);
        assert_eq!(w.capacity(), 256);
        assert!(w.add(60, &[1, 1, 1, 1, 1, 0]).is_some());
    }

    /// Random segments (some cut short, some with changed bytes) within 60 KiB of sequence
    /// space around a wrap: the window agrees with a map that remembers every first byte.
    #[test]
    fn agrees_with_a_full_history_model() {
        let mut x: u32 = 0x9e37_79b9;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        let truth = |s: u32| (s.wrapping_mul(2_654_435_761) >> 24) as u8;
        for round in 0..20u32 {
            let base = u32::MAX - 30_000 + round * 997;
            let mut w = SentBytes::default();
            let mut model = std::collections::HashMap::<u32, u8>::new();
            for _ in 0..400 {
                let seq = base.wrapping_add(next() % 60_000);
                let len = (next() % 1500) as usize;
                let mut p: Vec<u8> = (0..len as u32)
                    .map(|k| truth(seq.wrapping_add(k)))
                    .collect();
                if next() % 4 == 0 && len > 0 {
                    let k = next() as usize % len;
                    p[k] ^= 1 + (next() % 255) as u8;
                }
                let mut want = None::<(u32, u32, u32)>;
                for (k, b) in p.iter().enumerate() {
                    let s = seq.wrapping_add(k as u32);
                    match model.get(&s) {
                        Some(old) => {
                            let c = want.get_or_insert((0, 0, 0));
                            c.2 += 1;
                            if old != b {
                                if c.1 == 0 {
                                    c.0 = s;
                                }
                                c.1 += 1;
                            }
                        }
                        None => {
                            model.insert(s, *b);
                        }
                    }
                }
                let want = want
                    .filter(|c| c.1 > 0)
                    .map(|(first, differing, overlapping)| Conflict {
                        first,
                        differing,
                        overlapping,
                    });
                assert_eq!(w.add(seq, &p), want, "round {round} seq {seq} len {len}");
            }
            assert!(w.capacity() <= WINDOW as usize);
        }
    }
}
