//! Raw frames (`tickspan::drain::RawDrain`, docs/wire-format.md "Raw frames"): ring slots as
//! the target stored them. [`RawDecoder`] checks each frame, dates its records and re-encodes
//! them as an ordinary wire stream, so that every view reads them as it reads a capture of the
//! encoding drain; [`Detect`] does so for any input that turns out to hold raw frames.
//!
//! Input from a wire is not trusted: a frame is taken only if its magic, its header and its
//! Fletcher sum are right; anything else is skipped byte by byte until the next valid frame,
//! and reported as a skipped region (offset and bytes, in the raw input). Records are counted
//! whichever way they go missing: a frame's first index after a gap counts the records
//! between as lost, an empty or malformed slot is one lost record, and the refusals the ring
//! counted come after the last frame of a visit.

use super::postmortem::flush;
use crate::source::Source;
use std::collections::HashMap;
use std::io;
use tickspan::drain::raw::{Sum, HEADER_WORDS, INFO_LAST, INFO_WIDE, MAGIC, MAX_RECORDS};
use tickspan::wire::{encode::FrameEncoder, StreamHeader, FORMAT_VERSION};
use tickspan::{Kind, Record};

/// Bytes of a frame header and of its trailing sum.
const HEAD: usize = HEADER_WORDS * 4;
const TAIL: usize = 8;

/// What the decoder knows of one ring.
#[derive(Default)]
struct RingState {
    /// Index of the next record expected (`None` before the ring's first frame).
    next: Option<u32>,
    /// Refusals already reported.
    refused: u32,
}

/// Raw frames in, wire-format bytes and skipped regions out.
#[derive(Default)]
pub struct RawDecoder {
    /// Input not yet consumed; `offset` is the stream offset of its first byte.
    buf: Vec<u8>,
    offset: u64,
    /// A damaged region being skipped: (offset, bytes).
    skipping: Option<(u64, u64)>,
    skipped: Vec<(u64, u64)>,
    header_sent: bool,
    rings: HashMap<u32, RingState>,
    frames: u64,
}

/// A frame's header words, checked.
struct Frame<'a> {
    ctx: u32,
    last: bool,
    wide: bool,
    start: u32,
    refused: u32,
    t: u64,
    lo: u64,
    wrap: u32,
    hz: u32,
    /// The records' words.
    slots: &'a [u8],
}

impl RawDecoder {
    /// An empty decoder.
    pub fn new() -> RawDecoder {
        RawDecoder::default()
    }

    /// Valid frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Damaged regions found since the last call, as (offset, bytes).
    pub fn take_skipped(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.skipped)
    }

    /// Decodes what `bytes` completes; appends the wire stream to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(bytes);
        let mut at = 0;
        while let Some(rest) = buf.get(at..) {
            match next_frame(rest) {
                Scan::Frame(len) => {
                    self.end_skip();
                    if let Some(f) = parse(&rest[..len]) {
                        self.frame(&f, out);
                    }
                    at += len;
                }
                Scan::Skip(n) => {
                    self.skip(self.offset + at as u64, n as u64);
                    at += n;
                }
                Scan::More => break,
            }
        }
        buf.drain(..at);
        self.offset += at as u64;
        self.buf = buf;
    }

    /// Ends the input: what is left is a truncated frame (or noise), skipped.
    pub fn finish(&mut self) {
        if !self.buf.is_empty() {
            self.skip(self.offset, self.buf.len() as u64);
            self.offset += self.buf.len() as u64;
            self.buf.clear();
        }
        self.end_skip();
    }

    fn skip(&mut self, offset: u64, n: u64) {
        match &mut self.skipping {
            Some((start, len)) if *start + *len == offset => *len += n,
            _ => {
                self.end_skip();
                self.skipping = Some((offset, n));
            }
        }
    }

    fn end_skip(&mut self) {
        if let Some(s) = self.skipping.take() {
            self.skipped.push(s);
        }
    }

    /// Re-encodes one checked frame.
    fn frame(&mut self, f: &Frame<'_>, out: &mut Vec<u8>) {
        self.frames += 1;
        let mut enc = FrameEncoder::new();
        // A 32-bit modulus of 0 is 2^32; a wide clock's stamps wrap at 2^32 for payload kinds.
        let period = if f.wide || f.wrap == 0 { 1u64 << 32 } else { u64::from(f.wrap) };
        if !self.header_sent {
            self.header_sent = true;
            out.push(0);
            enc.header(&StreamHeader {
                version: FORMAT_VERSION,
                clock_hz: u64::from(f.hz),
                clock_wrap: if f.wide { 0 } else { period },
                node: 0,
                target: "raw frames",
                name: "",
            });
            flush(&mut enc, out);
        }
        let ring = self.rings.entry(f.ctx).or_default();
        let mut lost = f.start.wrapping_sub(ring.next.unwrap_or(0));
        // Earlier than expected: the target restarted. Nothing lost that can be known.
        if lost >= 1 << 31 {
            lost = 0;
        }
        let n = (f.slots.len() / 16) as u32;
        ring.next = Some(f.start.wrapping_add(n));
        let date = |r: &Record| -> u64 {
            if f.wide {
                match r.kind() {
                    Some(Kind::SpanEnter | Kind::SpanExit | Kind::Event | Kind::IsrEnter | Kind::IsrExit)
                    | Some(Kind::TaskSwitch | Kind::SpanEnd) => return u64::from(r.b) << 32 | u64::from(r.ts),
                    Some(Kind::Sync) => return u64::from(r.a) << 32 | u64::from(r.ts),
                    _ => {}
                }
            }
            // The latest time not after the reading that the stamp matches (the reading's 64-bit
            // time is congruent to the clock value it read).
            let age = (f.t % period + period - u64::from(r.ts) % period) % period;
            f.t.wrapping_sub(age)
        };
        let mut batch = false;
        let (mut first, mut last, mut dated) = (None, 0, 0u32);
        for slot in f.slots.chunks_exact(16) {
            let w = |i: usize| u32::from_le_bytes(slot[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
            let r = Record::from_words([w(0), w(1), w(2), w(3)]);
            let Some(kind) = r.kind().filter(|_| r.well_formed()) else {
                lost += 1;
                continue;
            };
            let t = date(&r);
            for _ in 0..2 {
                if !batch {
                    enc.begin_batch(f.ctx, t);
                    batch = true;
                }
                if lost > 0 {
                    enc.loss(lost);
                    lost = 0;
                }
                if enc.record(kind, r.callsite(), t, r.a, r.b) {
                    break;
                }
                flush(&mut enc, out);
                batch = false;
            }
            first.get_or_insert(t);
            last = t;
            dated += 1;
        }
        if f.last {
            let refused = f.refused.wrapping_sub(ring.refused);
            ring.refused = f.refused;
            if refused < 1 << 31 {
                lost += refused;
            }
        }
        if lost > 0 {
            if !batch || !enc.has_room() {
                if batch {
                    flush(&mut enc, out);
                }
                enc.begin_batch(f.ctx, last);
            }
            enc.loss(lost);
            batch = true;
        }
        if batch {
            flush(&mut enc, out);
        }
        // The records' window is as wide as the two readings are apart: exact only if shorter
        // than a period (with the target drain's margin for a record stamped just before).
        let certain = f.t.wrapping_sub(f.lo) < period - period / 16;
        if let (Some(first), false) = (first, certain) {
            enc.ambiguous(f.ctx, f.lo, first, last, dated);
            flush(&mut enc, out);
        }
    }
}

/// What the bytes at the start of the input hold.
enum Scan {
    /// A frame of this many bytes whose sum checks.
    Frame(usize),
    /// This many bytes that are not the start of a frame.
    Skip(usize),
    /// Too few bytes to tell.
    More,
}

/// Looks for the frame that starts `b`.
fn next_frame(b: &[u8]) -> Scan {
    let magic = MAGIC.to_le_bytes();
    if b.len() < 4 {
        // A magic could still start here.
        return if b.is_empty() || magic.starts_with(b) { Scan::More } else { Scan::Skip(1) };
    }
    if b[..4] != magic {
        // Up to the next byte that can start a magic.
        return Scan::Skip(b[1..].iter().position(|&x| x == magic[0]).map_or(b.len(), |p| p + 1));
    }
    let Some(info) = b.get(4..8) else { return Scan::More };
    let info = u32::from_le_bytes(info.try_into().expect("4 bytes"));
    let n = info >> 8 & 0xFF;
    if n > MAX_RECORDS || info >> 18 != 0 {
        return Scan::Skip(1);
    }
    let len = HEAD + 16 * n as usize + TAIL;
    let Some(frame) = b.get(..len) else { return Scan::More };
    let word = |i: usize| u32::from_le_bytes(frame[i..i + 4].try_into().expect("4 bytes"));
    let mut sum = Sum(0, 0);
    (0..len - TAIL).step_by(4).for_each(|i| sum.add(word(i)));
    if (sum.0, sum.1) == (word(len - 8), word(len - 4)) {
        Scan::Frame(len)
    } else {
        Scan::Skip(1)
    }
}

/// The header of a frame [`next_frame`] accepted.
fn parse(frame: &[u8]) -> Option<Frame<'_>> {
    let word = |i: usize| frame.get(i * 4..i * 4 + 4).map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")));
    let info = word(1)?;
    Some(Frame {
        ctx: info & 0xFF,
        last: info & INFO_LAST != 0,
        wide: info & INFO_WIDE != 0,
        start: word(2)?,
        refused: word(3)?,
        t: u64::from(word(4)?) | u64::from(word(5)?) << 32,
        lo: u64::from(word(6)?) | u64::from(word(7)?) << 32,
        wrap: word(8)?,
        hz: word(9)?,
        slots: frame.get(HEAD..frame.len() - TAIL)?,
    })
}

/// Bytes read before deciding that an input holds no raw frames: more than the wire decoder's
/// not-a-trace limit, plus a whole frame.
const DETECT_LIMIT: usize = tickspan::wire::NOT_A_TRACE_LIMIT as usize + HEAD + 16 * MAX_RECORDS as usize + TAIL;

/// A source that is passed through as it is, unless its first valid frame is a raw frame
/// within the detection limit (the wire decoder's not-a-trace limit plus one frame): then it
/// is decoded ([`RawDecoder`]) into the wire stream.
pub struct Detect {
    inner: Box<dyn Source>,
    state: State,
    out: Vec<u8>,
    pos: usize,
}

enum State {
    /// Bytes held until they tell.
    Undecided(Vec<u8>),
    Wire,
    Raw(RawDecoder),
}

impl Detect {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Source>) -> Detect {
        Detect { inner, state: State::Undecided(Vec::new()), out: Vec::new(), pos: 0 }
    }

    /// Decides on what is held once `now` says enough arrived to.
    fn decide(&mut self, now: Decide) {
        let State::Undecided(held) = &mut self.state else { return };
        let magic = MAGIC.to_le_bytes();
        let at = |i: usize| matches!(next_frame(&held[i..]), Scan::Frame(_));
        let mut magics = held.windows(4).enumerate().filter(|(_, w)| *w == magic).map(|(i, _)| i);
        let any_magic = held.windows(4).any(|w| w == magic);
        let raw = magics.any(at);
        let wire = match now {
            Decide::End => true,
            Decide::Paused => !any_magic,
            Decide::More => held.len() >= DETECT_LIMIT,
        };
        if raw {
            let mut dec = RawDecoder::new();
            dec.feed(&std::mem::take(held), &mut self.out);
            self.state = State::Raw(dec);
        } else if wire {
            self.out = std::mem::take(held);
            self.state = State::Wire;
        }
    }
}

/// When [`Detect::decide`] is asked.
#[derive(Clone, Copy)]
enum Decide {
    /// The input ended.
    End,
    /// A live input paused: a raw frame may still be on its way if a magic arrived.
    Paused,
    /// More bytes arrived.
    More,
}

impl Source for Detect {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            self.out.clear();
            self.pos = 0;
            if let State::Wire = self.state {
                return self.inner.read(buf);
            }
            let mut chunk = vec![0u8; buf.len().max(4096)];
            match self.inner.read(&mut chunk) {
                Ok(0) => {
                    self.decide(Decide::End);
                    if let State::Raw(dec) = &mut self.state {
                        dec.finish();
                    }
                    if self.out.is_empty() {
                        return Ok(0);
                    }
                }
                Ok(n) => match &mut self.state {
                    State::Raw(dec) => dec.feed(&chunk[..n], &mut self.out),
                    State::Undecided(held) => {
                        held.extend_from_slice(&chunk[..n]);
                        self.decide(Decide::More);
                    }
                    State::Wire => self.out.extend_from_slice(&chunk[..n]),
                },
                Err(e) if crate::source::is_idle(&e) => {
                    self.decide(Decide::Paused);
                    if self.out.is_empty() {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn len(&self) -> Option<u64> {
        self.inner.len()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn take_skipped(&mut self) -> Vec<(u64, u64)> {
        match &mut self.state {
            State::Raw(dec) => dec.take_skipped(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickspan::wire::{Decoder, Item};

    /// A raw frame as `RawDrain` writes it: SysTick-like clock of period 1000.
    fn frame(ctx: u32, start: u32, recs: &[Record], last: bool, refused: u32, t: u64, lo: u64) -> Vec<u8> {
        let info = ctx | (recs.len() as u32) << 8 | if last { INFO_LAST } else { 0 };
        let mut w = vec![MAGIC, info, start, refused, t as u32, (t >> 32) as u32, lo as u32, (lo >> 32) as u32];
        w.extend([1000, 1_000_000]);
        w.extend(recs.iter().flat_map(|r| r.to_words()));
        let mut sum = Sum(0, 0);
        w.iter().for_each(|&x| sum.add(x));
        w.extend([sum.0, sum.1]);
        w.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Start of a clock period on the drain's timeline, which is congruent to the clock's
    /// values: SysTick stamps of that period are 2^32 - 1000 + x, and 2^32 - 1000 = 296 mod 1000.
    const S: u64 = 5296;

    fn ev(ts: u32) -> Record {
        // SysTick stamps: `!CVR`, at the top of the u32 range.
        Record::new(Kind::Event, 0x100, u32::MAX - 999 + ts, ts, 0)
    }

    /// Decodes raw bytes fed in chunks of `chunk`; returns the items as text, and the skips.
    fn decode(bytes: &[u8], chunk: usize) -> (Vec<String>, Vec<(u64, u64)>) {
        let mut raw = RawDecoder::new();
        let mut wire = Vec::new();
        for c in bytes.chunks(chunk.max(1)) {
            raw.feed(c, &mut wire);
        }
        raw.finish();
        let mut items = Vec::new();
        let mut dec = Decoder::new();
        let mut push = |i: Item<'_>| {
            items.push(match i {
                Item::Record { ctx, ts, a, .. } => format!("rec {ctx} {ts} {a}"),
                Item::Loss { ctx, count } => format!("loss {ctx} {count}"),
                Item::Ambiguous { ctx, records, .. } => format!("ambiguous {ctx} {records}"),
                Item::Skipped { .. } => panic!("the wire stream built from raw frames is never damaged"),
                _ => return,
            })
        };
        dec.feed(&wire, &mut push).unwrap();
        dec.finish(&mut push);
        (items, raw.take_skipped())
    }

    #[test]
    fn frames_become_dated_records_with_their_losses() {
        // Reading 300 ticks into a period: stamps 100 and 250 date to S + 100 and S + 250. Then
        // 2 records lost in transit (start 4, not 2), and 3 refused.
        let mut s = frame(0, 0, &[ev(100), ev(250)], true, 0, S + 300, S);
        s.extend(frame(1, 0, &[ev(280)], true, 0, S + 300, S));
        s.extend(frame(0, 4, &[ev(900)], true, 3, S + 950, S + 300));
        for chunk in [1, 7, 4096] {
            let (items, skipped) = decode(&s, chunk);
            assert_eq!(
                items,
                ["rec 0 5396 100", "rec 0 5546 250", "rec 1 5576 280", "loss 0 2", "rec 0 6196 900", "loss 0 3"],
                "chunk {chunk}"
            );
            assert!(skipped.is_empty());
        }
    }

    #[test]
    fn damage_is_skipped_counted_and_resynchronised() {
        let a = frame(0, 0, &[ev(1), ev(2)], true, 0, S + 300, S);
        let b = frame(0, 2, &[ev(3), ev(4)], true, 0, S + 300, S);
        let c = frame(0, 4, &[ev(5)], true, 0, S + 300, S);
        let mut bad = b.clone();
        bad[HEAD + 5] ^= 0x10; // a flipped bit in a record
        let mut s = b"noise".to_vec();
        s.extend(&a);
        s.extend(&bad);
        s.extend(&c);
        s.extend(&a[..30]); // truncated at the end
        let (items, skipped) = decode(&s, 3);
        assert_eq!(items, ["rec 0 5297 1", "rec 0 5298 2", "loss 0 2", "rec 0 5301 5"]);
        let at = (5 + a.len()) as u64;
        assert_eq!(skipped, [(0, 5), (at, bad.len() as u64), (at + (bad.len() + c.len()) as u64, 30)]);
    }

    #[test]
    fn an_unbounded_window_and_torn_slots_are_reported_not_dated_silently() {
        // lo = 0: written at an unknown time before the reading (records from before the drain).
        let s = frame(2, 0, &[ev(10), Record::default(), ev(20)], true, 0, S + 300, 0);
        let (items, _) = decode(&s, 64);
        assert_eq!(items, ["rec 2 5306 10", "loss 2 1", "rec 2 5316 20", "ambiguous 2 2"]);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_every_byte_is_accounted() {
        let good = frame(0, 0, &[ev(1); 3], true, 0, S + 300, S);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for round in 0..300 {
            let mut s = Vec::new();
            for _ in 0..(round % 7) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                match x % 4 {
                    0 => s.extend(&good),
                    1 => s.extend(&good[..(x >> 8) as usize % good.len()]),
                    2 => s.extend(MAGIC.to_le_bytes()),
                    _ => s.extend((0..x % 90).map(|i| (x >> (i % 56)) as u8)),
                }
            }
            let mut raw = RawDecoder::new();
            let mut wire = Vec::new();
            raw.feed(&s, &mut wire);
            raw.finish();
            let skipped: u64 = raw.take_skipped().iter().map(|s| s.1).sum();
            let frames = raw.frames() as usize;
            assert_eq!(skipped as usize + frames * good.len(), s.len(), "round {round}");
        }
    }

    #[test]
    fn a_wire_stream_passes_through_detection_unchanged() {
        struct Bytes(Vec<u8>, usize);
        impl Source for Bytes {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.0.len() - self.1).min(100);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
            fn describe(&self) -> String {
                "bytes".into()
            }
        }
        let read_all = |bytes: Vec<u8>| {
            let mut d = Detect::new(Box::new(Bytes(bytes, 0)));
            let (mut out, mut buf) = (Vec::new(), [0u8; 64]);
            loop {
                match d.read(&mut buf).unwrap() {
                    0 => return out,
                    n => out.extend_from_slice(&buf[..n]),
                }
            }
        };
        let wire: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(read_all(wire.clone()), wire);
        assert_eq!(read_all(b"TSR1 but no frame".to_vec()), b"TSR1 but no frame");
        let raw = frame(0, 0, &[ev(1)], true, 0, S + 300, S);
        let out = read_all(raw);
        assert!(out.windows(4).any(|w| w == tickspan::wire::MAGIC), "decoded into a wire stream");
    }
}
