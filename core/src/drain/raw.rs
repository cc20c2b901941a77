//! The raw drain: ring slots sent as they are, for parts whose flash cannot hold the encoding
//! [`Drain`](super::Drain) (0.6–0.7 KiB of code instead of about 7.9 KiB; `docs/footprint.md`).
//!
//! Each frame carries up to [`MAX_RECORDS`] consecutive records of one ring, the slot words
//! unchanged, behind a header with what the host needs to date them and to count losses, and
//! ends with a Fletcher-style sum of its words (no table). The host (`tickspan`, which
//! autodetects the frames) turns the frames into an ordinary trace: names come from the ELF
//! (`--elf`), times from the clock reading in each frame. Layout: `docs/wire-format.md`, "Raw
//! frames". The price is the wire: about 17 bytes per record instead of about 3.
//!
//! ```no_run
//! # struct Uart;
//! # impl embedded_io::ErrorType for Uart { type Error = core::convert::Infallible; }
//! # impl embedded_io::Write for Uart {
//! #     fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) }
//! #     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! # }
//! let mut drain = tickspan::drain::RawDrain::global();
//! # let mut uart = Uart;
//! loop {
//!     // At least once per clock period (SysTick: its reload period), from an idle loop.
//!     let _ = drain.write_to(&mut uart);
//!     # break;
//! }
//! ```
//!
//! # Dating
//! Each visit of a ring reads its write index, then the clock (extended to 64 bits by the
//! drain, which is why it must run at least once per clock period), and sends the records below
//! that index: all were stamped before that reading, and after the reading of the ring's
//! previous visit that found nothing left to send, which the frame carries too. The host dates
//! each record as the latest time not after the reading that its stamp matches, and reports
//! (`--strict`: fails on) the frames whose two readings are too far apart for that to be exact.

use super::time::Timebase;
use super::StreamInfo;
use crate::config::{CONTEXTS, RING_SLOTS};
use crate::ring::Ring;

/// First word of every raw frame: the bytes `TSR1` (`1`: the raw format's version).
pub const MAGIC: u32 = u32::from_le_bytes(*b"TSR1");

/// Records per frame at most: what a damaged frame can lose, against 48 bytes of header and
/// checksum per frame.
pub const MAX_RECORDS: u32 = 64;

/// Words before the records: magic, info, first index, refused, reading (2), earlier
/// reading (2), clock modulus, clock frequency.
pub const HEADER_WORDS: usize = 10;

/// `info` bit: the frame's records reach the write index read at the visit, so its refusal
/// count is placed after them.
pub const INFO_LAST: u32 = 1 << 16;
/// `info` bit: a 64-bit clock (records carry bits 32..64 in `b` where it is not payload).
pub const INFO_WIDE: u32 = 1 << 17;

/// Reads a set of `R` rings and sends their slots in raw frames. See the module docs.
pub struct RawDrain<
    'r,
    const N: usize = RING_SLOTS,
    const O: bool = { cfg!(feature = "flight-recorder") },
    const R: usize = CONTEXTS,
> {
    rings: &'r [Ring<N, O>; R],
    now: fn() -> u64,
    hz: u32,
    time: Timebase,
    /// Per ring, a reading at which none of its unsent records existed yet (0: unknown).
    lo: [u64; R],
}

#[cfg(not(loom))]
impl RawDrain<'static> {
    /// A raw drain of every context's ring ([`crate::context::RINGS`]) with the active clock.
    pub fn global() -> Self {
        RawDrain::new(&crate::context::RINGS, StreamInfo::active())
    }
}

impl<'r, const N: usize, const O: bool, const R: usize> RawDrain<'r, N, O, R> {
    /// A raw drain of `rings` (ring `i` is context `i`); of `info` it uses the clock, its
    /// modulus and frequency. Records already in the rings have an unknown lower bound: the
    /// host reports them as possibly misdated (create the drain before recording).
    pub fn new(rings: &'r [Ring<N, O>; R], info: StreamInfo) -> Self {
        let mut d = RawDrain {
            rings,
            now: info.now,
            hz: info.clock_hz as u32,
            time: Timebase::new(info.clock_wrap),
            lo: [0; R],
        };
        let t = d.time.tick((d.now)()).1;
        for (lo, r) in d.lo.iter_mut().zip(rings) {
            let p = r.peek();
            if p.start == p.end {
                *lo = t;
            }
        }
        d
    }

    /// Sends every ring's unread records to `w`; returns the bytes written. A write error, or
    /// a sink that takes nothing, ends the call in the middle of a frame: the host skips what
    /// arrived of it and counts its records as lost (the slots were handed back already).
    pub fn write_to<W: embedded_io::Write>(&mut self, w: &mut W) -> Result<usize, W::Error> {
        let mut sent = 0;
        for ctx in 0..R {
            match self.ring(ctx, w)? {
                Some(n) => sent += n,
                None => break,
            }
        }
        Ok(sent)
    }

    /// One visit of ring `ctx`: its records up to the write index it reads first. `None` when
    /// the sink stopped taking bytes.
    #[inline(never)]
    fn ring<W: embedded_io::Write>(&mut self, ctx: usize, w: &mut W) -> Result<Option<usize>, W::Error> {
        let (Some(ring), Some(lo)) = (self.rings.get(ctx), self.lo.get(ctx).copied()) else {
            return Ok(Some(0));
        };
        let p = ring.peek();
        // After the write index: every record below it was stamped before this reading.
        let t = self.time.tick((self.now)()).1;
        let mut sent = 0;
        if p.start != p.end || ring.unreported_loss(&p) {
            let mut info = ctx as u32 & 0xFF;
            if !self.time.short {
                info |= INFO_WIDE;
            }
            let mut from = p.start;
            loop {
                let n = p.end.wrapping_sub(from).min(MAX_RECORDS);
                let last = if n == p.end.wrapping_sub(from) { INFO_LAST } else { 0 };
                let head = [
                    MAGIC,
                    info | n << 8 | last,
                    from,
                    p.refused(),
                    t as u32,
                    (t >> 32) as u32,
                    lo as u32,
                    (lo >> 32) as u32,
                    self.time.wrap,
                    self.hz,
                ];
                let mut sum = Sum(0, 0);
                let to = from.wrapping_add(n);
                if !put(w, &head, &mut sum)? {
                    ring.finish(&p, from);
                    return Ok(None);
                }
                while from != to {
                    // Overwrite mode: a slot rewritten while copied goes as an empty one (tag
                    // 0), which the host counts as lost; never as a record.
                    let rec = ring.load(from).unwrap_or_default();
                    ring.release(from);
                    from = from.wrapping_add(1);
                    if !put(w, &rec.to_words(), &mut sum)? {
                        ring.finish(&p, from);
                        return Ok(None);
                    }
                }
                let end = [sum.0, sum.1];
                if !put(w, &end, &mut Sum(0, 0))? {
                    ring.finish(&p, from);
                    return Ok(None);
                }
                sent += (HEADER_WORDS + 2 + 4 * n as usize) * 4;
                if last != 0 {
                    break;
                }
            }
            ring.finish(&p, p.end);
        }
        if let Some(lo) = self.lo.get_mut(ctx) {
            *lo = t;
        }
        Ok(Some(sent))
    }
}

/// The frame check: over the frame's words `w`, `a += w; b += a` (mod 2^32); both are sent.
/// Two adds per word where a bytewise CRC-32C costs a table lookup per byte (docs/footprint.md).
pub struct Sum(pub u32, pub u32);

impl Sum {
    /// Adds `word`.
    #[inline(always)]
    pub fn add(&mut self, word: u32) {
        self.0 = self.0.wrapping_add(word);
        self.1 = self.1.wrapping_add(self.0);
    }
}

/// Writes `words` little-endian to `w` and adds them to `sum`; `false` if the sink took
/// nothing.
#[inline(always)]
fn put<W: embedded_io::Write, const K: usize>(w: &mut W, words: &[u32; K], sum: &mut Sum) -> Result<bool, W::Error> {
    for &x in words {
        sum.add(x);
    }
    #[cfg(target_endian = "little")]
    // SAFETY: `K` `u32`s are `4 * K` initialised bytes at the same address, alignment 1 is
    // weaker than 4, and the bytes are only read while `words` is borrowed. On little-endian
    // targets that is the wire's byte order: no copy (and no `memclr` linked).
    let mut rest: &[u8] = unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<u8>(), 4 * K) };
    #[cfg(not(target_endian = "little"))]
    let le = words.map(u32::to_le);
    #[cfg(not(target_endian = "little"))]
    // SAFETY: as above, for the byte-swapped copy `le`.
    let mut rest: &[u8] = unsafe { core::slice::from_raw_parts(le.as_ptr().cast::<u8>(), 4 * K) };
    while !rest.is_empty() {
        match w.write(rest)? {
            0 => return Ok(false),
            n => rest = rest.get(n..).unwrap_or_default(),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Kind, Record};

    /// A sink collecting what it is given.
    #[derive(Default)]
    struct Out(Vec<u8>);

    impl embedded_io::ErrorType for Out {
        type Error = core::convert::Infallible;
    }

    impl embedded_io::Write for Out {
        fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> {
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    fn info() -> StreamInfo {
        StreamInfo {
            clock_hz: 1000,
            clock_wrap: 1000,
            node: 0,
            target: "test",
            name: "",
            now: || CLOCK.load(std::sync::atomic::Ordering::Relaxed),
            unix_ns: || 0,
        }
    }

    /// Frames as (header words, record words), checked.
    fn frames(bytes: &[u8]) -> Vec<(Vec<u32>, Vec<u32>)> {
        let words: Vec<u32> = bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < words.len() {
            assert_eq!(words[i], MAGIC);
            let n = (words[i + 1] >> 8 & 0xFF) as usize;
            let len = HEADER_WORDS + 4 * n;
            let mut sum = Sum(0, 0);
            words[i..i + len].iter().for_each(|&w| sum.add(w));
            assert_eq!((sum.0, sum.1), (words[i + len], words[i + len + 1]));
            out.push((words[i..i + HEADER_WORDS].to_vec(), words[i + HEADER_WORDS..i + len].to_vec()));
            i += len + 2;
        }
        out
    }

    #[test]
    fn frames_carry_slots_readings_and_refusals() {
        let rings: [Ring<128>; 2] = [Ring::new(), Ring::new()];
        CLOCK.store(100, std::sync::atomic::Ordering::Relaxed);
        let mut d = RawDrain::new(&rings, info());
        for i in 0..70 {
            rings[0].push(Record::new(Kind::Event, 0x40, i, i, 0));
        }
        rings[1].push(Record::new(Kind::SpanEnter, 0x80, 7, 0, 0));
        CLOCK.store(300, std::sync::atomic::Ordering::Relaxed);
        let mut out = Out::default();
        let n = d.write_to(&mut out).unwrap();
        assert_eq!(n, out.0.len());
        let f = frames(&out.0);
        assert_eq!(f.len(), 3, "64 + 6 records of ring 0, 1 of ring 1");
        // Ring 0: first frame not last, second last; both read at 300 (+ a period: the
        // drain's timeline starts one period in), after the reading at 100 (1100).
        assert_eq!(f[0].0[1], 64 << 8);
        assert_eq!(f[1].0[1], 6 << 8 | INFO_LAST);
        assert_eq!((f[1].0[2], f[1].0[4], f[1].0[6]), (64, 1300, 1100));
        assert_eq!(f[0].1[..4], Record::new(Kind::Event, 0x40, 0, 0, 0).to_words());
        assert_eq!(f[2].0[1], 1 | 1 << 8 | INFO_LAST);
        assert!(rings[0].peek().start == 70 && rings[0].written() == 70, "read index published");
        // Everything sent: nothing more, and slots handed back (the ring takes 128 again).
        assert_eq!(d.write_to(&mut Out::default()).unwrap(), 0);
        for i in 0..130 {
            rings[1].push(Record::new(Kind::Event, 0x40, i, i, 0));
        }
        let mut out = Out::default();
        d.write_to(&mut out).unwrap();
        let f = frames(&out.0);
        assert_eq!(f.iter().map(|f| f.1.len() / 4).sum::<usize>(), 128);
        assert_eq!(f.last().unwrap().0[3], 2, "two refused, counted after the last record");
    }

    #[test]
    fn a_sink_that_stops_mid_frame_loses_nothing_silently() {
        struct Stop(usize);
        impl embedded_io::ErrorType for Stop {
            type Error = core::convert::Infallible;
        }
        impl embedded_io::Write for Stop {
            fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> {
                let n = b.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
            fn flush(&mut self) -> Result<(), Self::Error> {
                Ok(())
            }
        }
        let rings: [Ring<16>; 1] = [Ring::new()];
        let mut d = RawDrain::new(&rings, info());
        for i in 0..5 {
            rings[0].push(Record::new(Kind::Event, 0x40, i, i, 0));
        }
        // Header and two records, then nothing.
        assert_eq!(d.write_to(&mut Stop(40 + 32)).unwrap(), 0);
        rings[0].push(Record::new(Kind::Event, 0x40, 9, 9, 0));
        let mut out = Out::default();
        d.write_to(&mut out).unwrap();
        let f = frames(&out.0);
        // The next frame starts past what was handed back (the third record was taken when the
        // sink stopped): the host counts the gap.
        assert_eq!((f[0].0[2], f[0].1.len() / 4), (3, 3));
    }
}
