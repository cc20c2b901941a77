//! The flight recorder's window: the drain's frames, oldest first, bounded by age and size, and
//! what a snapshot of it needs in front (header, clock anchor, dictionary, context names).
//!
//! The drain's stream is cut into frames at each `0x00`. Batches, context names, clock anchors
//! and ambiguous-time reports stay in stream order in the window; the stream header and the
//! callsite dictionary are kept aside (a snapshot needs all of them, whatever was evicted).
//! An evicted context name or anchor moves aside as well (the latest per context), so the
//! batches left in the window are still named and anchored. Whole frames are evicted, never
//! part of one: a batch decodes alone (its time base and callsite slots are its own).

use crate::callsite::Callsite;
use crate::record::Kind;
use crate::wire::encode::FrameEncoder;
use crate::wire::{frame_type, CallsiteInfo, MAX_FRAME_LEN};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// The callsite of the window markers a snapshot starts with: a `ValueU` per context, at the
/// time of that context's first record in the window, whose value is how many of its batches
/// had been evicted before it (0: the context's records are all there from its first).
pub const WINDOW_MARKER: &str = "tickspan.window";

/// What a frame in the window is, as far as eviction and snapshots care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum What {
    /// Records of a context, the first at or after `base` (the batch's time base).
    Batch { ctx: u32, base: u64 },
    /// A context name, from here on.
    Context { ctx: u32 },
    /// A clock anchor.
    Sync,
    /// A frame this module does not interpret (kept in place).
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    /// Bytes in [`Window::bytes`] (with the trailing `0x00`, and any ambiguous-time report
    /// that followed a batch: it describes that batch and goes with it).
    len: usize,
    what: What,
    /// When the drain handed it over.
    at: Instant,
}

/// How much the window holds and how much it dropped (see [`super::FlightRecorder::window`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Bytes held: the frames in the window, plus header, dictionary and context names.
    pub bytes: usize,
    /// Frames in the window.
    pub frames: usize,
    /// Batch frames in the window.
    pub batches: usize,
    /// Batches evicted since the recorder started (by age or size).
    pub evicted_batches: u64,
    /// Bytes of frames evicted since the recorder started.
    pub evicted_bytes: u64,
    /// Age of the oldest frame in the window (when the drain handed it over).
    pub oldest: Option<Duration>,
}

/// See the module docs.
pub(super) struct Window {
    min_age: Duration,
    max_bytes: usize,
    /// The latest stream header (without its leading `0x00`).
    header: Vec<u8>,
    /// The latest clock anchor evicted from the window.
    sync: Vec<u8>,
    /// Every callsite frame the stream held, in order.
    dictionary: Vec<u8>,
    /// Per context, the latest name evicted from the window.
    names: BTreeMap<u32, Vec<u8>>,
    /// Per context, batches evicted from the window.
    evicted: BTreeMap<u32, u64>,
    /// Bytes of `header`, `sync`, `dictionary` and `names`.
    aside: usize,
    bytes: VecDeque<u8>,
    frames: VecDeque<Frame>,
    /// A frame the drain has not finished handing over.
    partial: Vec<u8>,
    stats: WindowStats,
}

impl Window {
    pub(super) fn new(min_age: Duration, max_bytes: usize) -> Window {
        Window {
            min_age,
            max_bytes,
            header: Vec::new(),
            sync: Vec::new(),
            dictionary: Vec::new(),
            names: BTreeMap::new(),
            evicted: BTreeMap::new(),
            aside: 0,
            // Allocated once: the window never grows past it (plus one frame).
            bytes: VecDeque::with_capacity(max_bytes.saturating_add(MAX_FRAME_LEN * 2)),
            frames: VecDeque::new(),
            partial: Vec::with_capacity(MAX_FRAME_LEN * 2),
            stats: WindowStats::default(),
        }
    }

    /// Takes the drain's next bytes (any cut: frames end at each `0x00`), then evicts.
    pub(super) fn push(&mut self, mut data: &[u8], now: Instant) {
        while let Some(end) = memchr_zero(data) {
            let (frame, rest) = data.split_at(end + 1);
            if self.partial.is_empty() {
                self.frame(frame, now);
            } else {
                let mut whole = core::mem::take(&mut self.partial);
                whole.extend_from_slice(frame);
                self.frame(&whole, now);
                whole.clear();
                self.partial = whole;
            }
            data = rest;
        }
        // The drain writes frames of at most `ENCODED_CAPACITY`: anything longer is not one.
        if self.partial.len() + data.len() <= MAX_FRAME_LEN * 2 {
            self.partial.extend_from_slice(data);
        } else {
            self.partial.clear();
        }
        self.evict(now);
    }

    /// One frame, with its `0x00`.
    fn frame(&mut self, frame: &[u8], now: Instant) {
        if frame.len() <= 1 {
            // The lone `0x00` in front of a header.
            return;
        }
        let mut raw = [0u8; MAX_FRAME_LEN * 2];
        let body = match cobs::decode(frame, &mut raw) {
            Ok(n) => raw.get(..n).unwrap_or_default(),
            Err(_) => &[],
        };
        let (ty, rest) = body.split_first().map_or((0, &[][..]), |(t, r)| (*t, r));
        let what = match ty {
            frame_type::HEADER => {
                self.set_aside(|w| &mut w.header, frame);
                return;
            }
            frame_type::CALLSITE => {
                self.dictionary.extend_from_slice(frame);
                self.aside += frame.len();
                return;
            }
            frame_type::AMBIGUOUS => {
                if let Some(last) = self.frames.back_mut() {
                    last.len += frame.len();
                    self.bytes.extend(frame);
                }
                return;
            }
            frame_type::BATCH => match postcard::take_from_bytes::<(u32, u64)>(rest) {
                Ok(((ctx, base), _)) => What::Batch { ctx, base },
                Err(_) => What::Other,
            },
            frame_type::CONTEXT => match postcard::take_from_bytes::<u32>(rest) {
                Ok((ctx, _)) => What::Context { ctx },
                Err(_) => What::Other,
            },
            frame_type::SYNC => What::Sync,
            _ => What::Other,
        };
        self.bytes.extend(frame);
        self.frames.push_back(Frame { len: frame.len(), what, at: now });
    }

    /// Replaces a frame kept aside, keeping the count of bytes aside.
    fn set_aside(&mut self, slot: impl FnOnce(&mut Window) -> &mut Vec<u8>, frame: &[u8]) {
        let old = core::mem::replace(slot(self), frame.to_vec()).len();
        self.aside = self.aside - old + frame.len();
    }

    /// Evicts the oldest frames while the window is over `max_bytes` (this bound wins), or
    /// while the frames after the oldest still reach back `min_age`: so every frame the drain
    /// handed over in the last `min_age` stays, unless that would hold more than `max_bytes`.
    pub(super) fn evict(&mut self, now: Instant) {
        while let Some(&first) = self.frames.front() {
            let over = self.aside + self.bytes.len() > self.max_bytes;
            let old =
                self.frames.get(1).is_some_and(|next| now.duration_since(next.at) >= self.min_age);
            if !over && !old {
                break;
            }
            self.frames.pop_front();
            let gone = self.bytes.drain(..first.len.min(self.bytes.len()));
            match first.what {
                What::Batch { ctx, .. } => {
                    *self.evicted.entry(ctx).or_default() += 1;
                    self.stats.evicted_batches += 1;
                }
                What::Context { ctx } => {
                    let frame: Vec<u8> = gone.collect();
                    let old = self.names.insert(ctx, frame).map_or(0, |f| f.len());
                    self.aside = self.aside - old + first.len;
                }
                What::Sync => {
                    let frame: Vec<u8> = gone.collect();
                    self.set_aside(|w| &mut w.sync, &frame);
                }
                What::Other => {}
            }
            self.stats.evicted_bytes += first.len as u64;
        }
    }

    pub(super) fn stats(&self, now: Instant) -> WindowStats {
        WindowStats {
            bytes: self.aside + self.bytes.len(),
            frames: self.frames.len(),
            batches: self.frames.iter().filter(|f| matches!(f.what, What::Batch { .. })).count(),
            oldest: self.frames.front().map(|f| now.duration_since(f.at)),
            ..self.stats
        }
    }

    /// The window as a complete stream: header, anchor, dictionary, context names, a window
    /// marker per context with records, then the window's frames. Appended to `out`.
    pub(super) fn snapshot(&self, out: &mut Vec<u8>) {
        out.reserve(self.aside + self.bytes.len() + 64 * (self.evicted.len() + 2));
        if !self.header.is_empty() {
            out.push(0);
            out.extend_from_slice(&self.header);
        }
        out.extend_from_slice(&self.sync);
        out.extend_from_slice(&self.dictionary);
        for name in self.names.values() {
            out.extend_from_slice(name);
        }
        self.markers(out);
        let (a, b) = self.bytes.as_slices();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
    }

    /// The marker callsite's description, then per context in the window a batch holding its
    /// marker at the time base of its first batch.
    fn markers(&self, out: &mut Vec<u8>) {
        let mut first: BTreeMap<u32, u64> = BTreeMap::new();
        for f in &self.frames {
            if let What::Batch { ctx, base } = f.what {
                first.entry(ctx).or_insert(base);
            }
        }
        if first.is_empty() {
            return;
        }
        let cs = marker();
        let mut enc = FrameEncoder::new();
        let info = CallsiteInfo {
            id: cs.id(),
            kind: cs.kind,
            level: cs.level,
            line: cs.line,
            name: cs.name,
            file: cs.file,
        };
        if enc.callsite(&info) {
            out.extend_from_slice(enc.finish_frame());
        }
        for (ctx, base) in first {
            let evicted = self.evicted.get(&ctx).copied().unwrap_or(0);
            enc.begin_batch(ctx, base);
            enc.record(Kind::ValueU, cs.id(), base, evicted as u32, (evicted >> 32) as u32);
            out.extend_from_slice(enc.finish_frame());
        }
    }
}

/// The window marker's callsite (a static of the callsite section, like every trace point's).
fn marker() -> &'static Callsite {
    crate::__callsite!(WINDOW_MARKER, ValueU64, Info)
}

/// Position of the first `0x00`.
fn memchr_zero(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == 0)
}

#[cfg(all(test, feature = "decode"))]
mod tests {
    use super::*;
    use crate::wire::{Decoder, Item, StreamHeader};

    const SPAN: u32 = 0x40;

    /// A stream's frames as the drain writes them: header, anchor, a callsite, a context name.
    fn preamble() -> Vec<u8> {
        let mut enc = FrameEncoder::new();
        let mut out = Vec::new();
        let h =
            StreamHeader { version: 3, clock_hz: 1_000, clock_wrap: 0, node: 0, target: "t", name: "n" };
        enc.header(&h);
        out.extend_from_slice(enc.finish_frame());
        enc.sync(0, 5);
        out.extend_from_slice(enc.finish_frame());
        let cs = CallsiteInfo {
            id: SPAN,
            kind: crate::CallsiteKind::Span,
            level: crate::Level::Info,
            line: 1,
            name: "round",
            file: "f.rs",
        };
        enc.callsite(&cs);
        out.extend_from_slice(enc.finish_frame());
        enc.context(0, "main");
        out.extend_from_slice(enc.finish_frame());
        out
    }

    /// A batch of context `ctx` with one span from `t` to `t + 1`, after a loss of `lost`.
    fn batch(ctx: u32, t: u64, lost: u32) -> Vec<u8> {
        let mut enc = FrameEncoder::new();
        enc.begin_batch(ctx, t);
        if lost > 0 {
            enc.loss(lost);
        }
        enc.record(Kind::SpanEnter, SPAN, t, 0, 0);
        enc.record(Kind::SpanExit, SPAN, t + 1, 0, 0);
        enc.finish_frame().to_vec()
    }

    #[derive(Default, Debug)]
    struct Decoded {
        header: bool,
        names: Vec<(u32, String)>,
        contexts: Vec<(u32, String)>,
        enters: Vec<(u32, u64)>,
        markers: Vec<(u32, u64, u64)>,
        lost: u64,
        skipped: u64,
    }

    fn decode(bytes: &[u8]) -> Decoded {
        let mut d = Decoded::default();
        let mut dec = Decoder::new();
        let mut sink = |item: Item<'_>| match item {
            Item::Header(_) => d.header = true,
            Item::Callsite(c) => d.names.push((c.id, c.name.into())),
            Item::Context { ctx, name } => d.contexts.push((ctx, name.into())),
            Item::Record { ctx, ts, kind: Kind::SpanEnter, .. } => d.enters.push((ctx, ts)),
            Item::Record { ctx, ts, kind: Kind::ValueU, callsite, a, b } => {
                assert_eq!(callsite, marker().id());
                d.markers.push((ctx, ts, u64::from(a) | u64::from(b) << 32));
            }
            Item::Loss { count, .. } => d.lost += u64::from(count),
            Item::Skipped { bytes, .. } => d.skipped += bytes,
            _ => {}
        };
        dec.feed(bytes, &mut sink).unwrap();
        dec.finish(&mut sink);
        d
    }

    #[test]
    fn size_bound_evicts_oldest_batches_and_snapshot_decodes() {
        let t0 = Instant::now();
        let pre = preamble();
        let one = batch(0, 1_000, 0).len();
        // Room for the preamble and ten and a half batches.
        let mut w = Window::new(Duration::from_secs(3600), pre.len() + 10 * one + one / 2);
        w.push(&pre, t0);
        for i in 0..100u64 {
            // Cut anywhere: frames end at their 0x00 only.
            let b = batch(i as u32 % 2, 1_000 + 10 * i, 0);
            let (x, y) = b.split_at(3);
            w.push(x, t0);
            w.push(y, t0);
        }
        let s = w.stats(t0);
        assert!(s.bytes <= pre.len() + 10 * one + one / 2, "{s:?}");
        assert_eq!(s.batches, 10, "{s:?}");
        assert_eq!(s.evicted_batches, 90);
        let mut out = Vec::new();
        w.snapshot(&mut out);
        let d = decode(&out);
        assert!(d.header && d.skipped == 0, "{d:?}");
        assert!(d.names.iter().any(|n| n.1 == "round"));
        assert!(d.names.iter().any(|n| n.1 == WINDOW_MARKER));
        assert_eq!(d.contexts, [(0, "main".to_string())], "the evicted context name is kept");
        let want: Vec<(u32, u64)> = (90..100).map(|i| (i as u32 % 2, 1_000 + 10 * i)).collect();
        assert_eq!(d.enters, want);
        // Each context's marker: at its first record in the window, with its evicted batches.
        assert_eq!(d.markers, [(0, 1_900, 45), (1, 1_910, 45)]);
    }

    #[test]
    fn age_bound_keeps_the_last_min_age_and_max_bytes_wins() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut w = Window::new(Duration::from_millis(100), 1 << 20);
        w.push(&preamble(), at(0));
        for i in 0..10u64 {
            w.push(&batch(0, 10 * i, 0), at(50 * i));
        }
        // At 450 ms: the frames handed over in the last 100 ms (at 350, 400, 450): records
        // written since 350 ms can only be in those.
        let mut out = Vec::new();
        w.snapshot(&mut out);
        let enters: Vec<u64> = decode(&out).enters.iter().map(|e| e.1).collect();
        assert_eq!(enters, [70, 80, 90]);
        // At 449 ms the frame of 300 ms was still needed.
        let mut w2 = Window::new(Duration::from_millis(100), 1 << 20);
        for i in 0..10u64 {
            w2.push(&batch(0, 10 * i, 0), at(50 * i).min(at(449)));
        }
        assert_eq!(w2.stats(at(449)).batches, 4);
        // Later, with nothing new: the age bound keeps the newest frame at least.
        w.evict(at(10_000));
        out.clear();
        w.snapshot(&mut out);
        let d = decode(&out);
        assert_eq!(d.enters.iter().map(|e| e.1).collect::<Vec<_>>(), [90]);
        assert_eq!(d.markers, [(0, 90, 9)]);

        // A min_age the bytes cannot hold: max_bytes wins.
        let pre = preamble();
        let mut w = Window::new(Duration::from_secs(3600), pre.len() + 3 * batch(0, 0, 0).len());
        w.push(&pre, at(0));
        for i in 0..10u64 {
            w.push(&batch(0, 10 * i, 0), at(i));
        }
        assert_eq!(w.stats(at(10)).batches, 3);
    }

    #[test]
    fn losses_in_the_window_stay_and_evicted_anchor_moves_aside() {
        let t0 = Instant::now();
        let pre = preamble();
        let one = batch(0, 0, 0).len();
        let mut w = Window::new(Duration::from_secs(3600), pre.len() + 4 * one);
        w.push(&pre, t0);
        w.push(&batch(0, 0, 7), t0); // evicted below, with its loss
        for i in 1..4 {
            w.push(&batch(0, 10 * i, 0), t0);
        }
        w.push(&batch(0, 100, 3), t0);
        let mut out = Vec::new();
        w.snapshot(&mut out);
        let d = decode(&out);
        assert_eq!(d.lost, 3, "the window's own loss is shown, the evicted one is not a loss");
        assert!(d.header && d.skipped == 0);
        // The anchor was the first frame evicted: it is still in the snapshot.
        let mut anchors = 0;
        Decoder::new()
            .feed(&out, &mut |i| {
                if let Item::Sync { unix_ns: 5, .. } = i {
                    anchors += 1
                }
            })
            .unwrap();
        assert_eq!(anchors, 1);
    }
}
