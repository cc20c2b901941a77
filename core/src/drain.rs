//! The drain: moves records out of the rings and encodes them as a wire stream
//! (`docs/wire-format.md`), a frame at a time, without allocating or blocking the recorders.
//!
//! ```no_run
//! let mut drain = tickspan::drain::Drain::global();
//! let mut buf = [0u8; 64];
//! loop {
//!     // From an idle loop: a few bytes at a time.
//!     let n = drain.read(&mut buf);
//!     # let uart_write = |_: &[u8]| ();
//!     uart_write(&buf[..n]);
//!     # break;
//! }
//! ```
//!
//! Or into any [`embedded_io::Write`] with [`Drain::write_to`]. On std, `transport::spawn` (feature
//! `std`, not a link so that bare-metal docs build) runs it on a background thread.
//!
//! What the stream holds, in order: the stream header (behind a `0x00`), a clock anchor, then batch
//! frames of each context's records (with loss entries where its ring lost records). On std
//! the drain also describes the stream: a callsite dictionary frame before a callsite's first
//! record and a context frame naming each ring's thread; and it hands the rings of exited
//! threads back to the pool once they are empty.
//!
//! Only one drain may read a set of rings (they are single-consumer).
//!
//! # Timestamps
//! Records hold the low 32 bits of the clock; the wire carries 64-bit times. On clocks of at
//! most 32 bits (DWT, SysTick) the drain extends each record's time backwards from the clock
//! value read just after it copied the record: exact as long as the drain reads each record
//! within one clock period of its writing, and calls into the drain come at least once per
//! clock period. On 64-bit clocks the record's `b` word carries the high bits; value and
//! manual-span records (whose `b` is payload) are extended like on 32-bit clocks, so they
//! must be drained within 2^32 ticks.
//!
//! # Cost
//! Per record: its words loaded straight from the ring slot (no copy out of the ring; the slot
//! is handed back to the writer once encoded), a table lookup of its kind, a probe of the
//! batch's 2-way callsite table, a varint delta, and one CRC-32C step and store per byte
//! written (2–3 bytes). No postcard, no division. Losses, 64-bit clocks, 64-bit payloads and
//! callsite definitions take out-of-line paths. About 85 instructions per record on a
//! Cortex-M3 (`examples/firmware/icount.sh`).

pub mod raw;
mod time;

use crate::clock::{Active, Clock};
use crate::config::{CONTEXTS, RING_SLOTS};
use crate::record::Record;
use crate::ring::{Peek, Ring};
use crate::wire::encode::{Dating, FrameEncoder};
use crate::wire::StreamHeader;
pub use raw::RawDrain;
use time::{Marks, Timebase};

/// Batches taken from one ring before the drain moves on to the next (fairness).
const BATCHES_PER_TURN: u32 = 4;

/// What the stream header says and where the drain reads time.
#[derive(Clone, Copy, Debug)]
pub struct StreamInfo {
    /// Clock ticks per second (0 = unknown).
    pub clock_hz: u64,
    /// Clock modulus (0 = 2^64). Must match the clock the records were stamped with.
    pub clock_wrap: u64,
    /// Stream/node id for the header.
    pub node: u64,
    /// Target description for the header.
    pub target: &'static str,
    /// Node name for the header (empty: unnamed); on std, `TICKSPAN_NODE` or the program's name.
    pub name: &'static str,
    /// Reads the clock the records were stamped with.
    pub now: fn() -> u64,
    /// Wall clock in nanoseconds since the Unix epoch for sync frames (0 = unknown).
    pub unix_ns: fn() -> u64,
}

/// The target triple this crate was built for.
pub const TARGET: &str = env!("TICKSPAN_TARGET");

impl StreamInfo {
    /// The active clock ([`crate::clock::Active`]), node 0, this build's target; on std the
    /// system wall clock.
    pub fn active() -> StreamInfo {
        StreamInfo {
            clock_hz: <Active as Clock>::frequency_hz(),
            clock_wrap: <Active as Clock>::wrap(),
            node: 0,
            target: TARGET,
            name: program_name(),
            now: <Active as Clock>::now,
            unix_ns: wall_clock,
        }
    }
}

/// The node name: `TICKSPAN_NODE` from the environment, else the executable's file name
/// without extension; read once.
#[cfg(feature = "std")]
fn program_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        if let Some(name) = std::env::var("TICKSPAN_NODE").ok().filter(|n| !n.is_empty()) {
            return name;
        }
        let exe = std::env::current_exe().ok();
        exe.and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned())).unwrap_or_default()
    })
}

#[cfg(not(feature = "std"))]
fn program_name() -> &'static str {
    ""
}

#[cfg(feature = "std")]
fn wall_clock() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(not(feature = "std"))]
fn wall_clock() -> u64 {
    0
}

/// Reads a set of `R` rings and encodes their records into a wire stream. See the module docs.
pub struct Drain<
    'r,
    const N: usize = RING_SLOTS,
    const O: bool = { cfg!(feature = "flight-recorder") },
    const R: usize = CONTEXTS,
> {
    rings: &'r [Ring<N, O>; R],
    info: StreamInfo,
    /// Builds frames; the finished one is sent from its buffer, `out_pos..out_len`.
    enc: FrameEncoder,
    out_pos: usize,
    out_len: usize,
    header_sent: bool,
    sync_pending: bool,
    time: Timebase,
    /// Per ring, the clock readings that date its unread records.
    marks: [Marks; R],
    /// Records the last batch could not date exactly, reported in the next frame.
    ambiguous: Option<Ambiguous>,
    /// Ring being drained.
    ring: usize,
    /// Batches taken from it in this turn.
    turn: u32,
    /// Consecutive rings found empty.
    idle: usize,
    #[cfg(feature = "std")]
    host: host::State,
    /// When a [`crate::trace_for_ticks`] interval ends, on this drain's time line.
    deadline: crate::arming::Deadline,
    /// Draining [`crate::context::RINGS`]: also reports the records that found no ring.
    #[cfg(any(feature = "std", tickspan_cortex_m))]
    no_ring: Option<crate::context::no_ring::Report>,
}

#[cfg(not(loom))]
impl Drain<'static> {
    /// A drain of every context's ring ([`crate::context::RINGS`]) with the active clock.
    ///
    /// Create one per program: the rings have a single reader.
    pub fn global() -> Self {
        Drain::new(&crate::context::RINGS, StreamInfo::active())
    }
}

impl<'r, const N: usize, const O: bool, const R: usize> Drain<'r, N, O, R> {
    /// A drain of `rings` (ring `i` is context `i` on the wire). On std, if `rings` is
    /// [`crate::context::RINGS`], it also names the thread contexts and frees exited threads'
    /// rings.
    ///
    /// Reads the clock: records already in the rings are dated as if written less than one
    /// clock period before, and reported as ambiguous (create the drain before recording).
    pub fn new(rings: &'r [Ring<N, O>; R], info: StreamInfo) -> Self {
        let mut drain = Drain {
            rings,
            info,
            enc: FrameEncoder::new(),
            out_pos: 0,
            out_len: 0,
            header_sent: false,
            sync_pending: true,
            time: Timebase::new(info.clock_wrap),
            marks: [Marks::new(0); R],
            ambiguous: None,
            ring: 0,
            turn: 0,
            idle: 0,
            deadline: crate::arming::Deadline::new(),
            #[cfg(feature = "std")]
            host: host::State::new(rings.as_ptr() as *const u8),
            #[cfg(any(feature = "std", tickspan_cortex_m))]
            no_ring: core::ptr::eq(rings.as_ptr() as *const u8, crate::context::RINGS.as_ptr() as *const u8)
                .then(crate::context::no_ring::Report::new),
        };
        // In place: building the array by `map` costs a copy of it (a `memcpy` in firmware).
        for (m, r) in drain.marks.iter_mut().zip(rings) {
            *m = Marks::new(r.peek().start);
        }
        drain.tick();
        drain
    }

    /// Asks for a clock-anchor frame at the next frame boundary (do it every few seconds so
    /// a host can map ticks to wall time and check clock drift).
    pub fn request_sync(&mut self) {
        self.sync_pending = true;
    }

    /// Starts the stream again (for a new connection): header, anchor, and on std the
    /// dictionary and context names are sent again before further records.
    pub fn restart(&mut self) {
        self.header_sent = false;
        self.sync_pending = true;
        self.out_pos = 0;
        self.out_len = 0;
        #[cfg(feature = "std")]
        self.host.restart();
        #[cfg(any(feature = "std", tickspan_cortex_m))]
        if let Some(r) = &mut self.no_ring {
            r.restart();
        }
    }

    /// Fills `buf` with the next bytes of the stream and returns how many; 0 when every ring
    /// is empty and nothing is pending. Any buffer size works: a frame that does not fit is
    /// continued by the next call.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        // Every call reads the clock, however long the frame being sent takes.
        self.tick();
        let mut written = 0;
        while written < buf.len() {
            if self.out_pos == self.out_len && !self.produce() {
                break;
            }
            // `get`s that cannot fail, but keep the panic machinery out of small firmware.
            let frame = self.enc.frame().get(self.out_pos..self.out_len).unwrap_or_default();
            let n = frame.len().min(buf.len() - written);
            match (buf.get_mut(written..written + n), frame.get(..n)) {
                (Some(dst), Some(src)) if n > 0 => dst.copy_from_slice(src),
                _ => break,
            }
            self.out_pos += n;
            written += n;
        }
        written
    }

    /// Writes the stream to `w` until every ring is empty; returns the bytes written. After
    /// an error the unwritten bytes are kept and the next call resumes with them.
    pub fn write_to<W: embedded_io::Write>(&mut self, w: &mut W) -> Result<usize, W::Error> {
        self.tick();
        let mut written = 0;
        loop {
            if self.out_pos == self.out_len && !self.produce() {
                return Ok(written);
            }
            // A `get` that cannot fail, but keeps the panic machinery out of small firmware.
            let n = w.write(self.enc.frame().get(self.out_pos..self.out_len).unwrap_or_default())?;
            if n == 0 {
                return Ok(written);
            }
            self.out_pos += n;
            written += n;
        }
    }

    /// Encodes the next frame into `enc`; `false` when there is nothing to send.
    #[inline(never)]
    fn produce(&mut self) -> bool {
        self.out_pos = 0;
        self.out_len = 0;
        if !self.header_sent {
            self.header();
            return self.emit();
        }
        if self.sync_pending {
            self.sync();
            return self.emit();
        }
        if let Some(a) = self.ambiguous.take() {
            self.enc.ambiguous(a.ctx, a.earliest, a.first, a.last, a.records);
            return self.emit();
        }
        loop {
            if self.turn >= BATCHES_PER_TURN {
                self.next_ring();
            }
            if self.idle >= self.rings.len() {
                self.idle = 0;
                // Keeps the 64-bit extension of short clocks going while nothing is recorded.
                self.tick();
                #[cfg(any(feature = "std", tickspan_cortex_m))]
                if let Some(r) = &mut self.no_ring {
                    if r.frame(&mut self.enc) {
                        return self.emit();
                    }
                }
                return false;
            }
            let Some(ring) = self.rings.get(self.ring) else {
                self.ring = 0;
                continue;
            };
            let p = ring.peek();
            if p.start == p.end && p.skipped == 0 && !ring.unreported_loss(&p) {
                #[cfg(feature = "std")]
                self.host.ring_empty(self.ring);
                self.next_ring();
                self.idle += 1;
                continue;
            }
            self.idle = 0;
            #[cfg(feature = "std")]
            if self.host.name_context(self.ring, &mut self.enc) {
                return self.emit();
            }
            self.batch(ring, p);
            return self.emit();
        }
    }

    #[inline(never)]
    fn header(&mut self) {
        self.header_sent = true;
        self.enc.header(&StreamHeader {
            version: crate::wire::version_symbol(),
            clock_hz: self.info.clock_hz,
            clock_wrap: self.info.clock_wrap,
            node: self.info.node,
            target: self.info.target,
            name: self.info.name,
        });
    }

    #[inline(never)]
    fn sync(&mut self) {
        self.sync_pending = false;
        self.tick();
        self.enc.sync(self.time.now64, (self.info.unix_ns)());
    }

    fn emit(&mut self) -> bool {
        self.out_len = self.enc.finish_frame().len();
        true
    }

    /// Reads the clock and marks every ring with it: each ring's write index first, so that
    /// every record below it was stamped before the reading.
    fn tick(&mut self) {
        let written = self.rings.each_ref().map(|r| r.written());
        let (raw, t) = self.time.tick((self.info.now)());
        self.deadline.poll(t);
        let merge_below = self.time.period() / 2;
        for (m, w) in self.marks.iter_mut().zip(written) {
            m.note(w, raw, t, merge_below);
        }
    }

    fn next_ring(&mut self) {
        self.turn = 0;
        self.ring += 1;
        if self.ring >= self.rings.len() {
            self.ring = 0;
        }
    }

    /// Encodes the unread records of `ring` (read as `p`), and more that arrive meanwhile, as
    /// one batch frame; or, on std, a dictionary frame that a record needs first.
    ///
    /// Records are taken a window at a time (see [`time`]): each window's records are dated
    /// from its mark, and where consecutive windows' times do not follow from the stamps'
    /// difference (more than a period apart), a rebase entry carries the new window's time.
    fn batch(&mut self, ring: &Ring<N, O>, mut p: Peek) {
        // Marks every ring after `p` was read: the newest mark covers every record of `p`.
        self.tick();
        let ctx = self.ring;
        self.turn += 1;
        let (mut from, mut lost) = (p.start, p.skipped);
        // Once the batch has a record: the stamp of the last one and its 64-bit time.
        let mut last: Option<(u32, u64)> = None;
        let mut begun = false;
        loop {
            let Some((mark, stop)) = self.marks.get_mut(ctx).and_then(|m| m.window(from, p.end)) else {
                // Not reached (the tick above marked the ring); stop rather than misdate.
                if !begun {
                    self.enc.begin_batch(ctx as u32, self.time.now64);
                }
                return;
            };
            let time = self.time;
            // The window's first intact record anchors it (overwrite mode: a torn one is lost).
            let mut first = None;
            while from != stop {
                match ring.load(from) {
                    Some(r) => {
                        first = Some(r);
                        break;
                    }
                    None => {
                        from = from.wrapping_add(1);
                        lost += 1;
                    }
                }
            }
            let anchor = first.map(|r| (r.ts, time.date(&mark, &r)));
            if !begun {
                self.enc.begin_batch(ctx as u32, anchor.map_or(time.now64, |a| a.1));
                begun = true;
            } else if let (Some((ts, t)), Some((prev, at)), true) = (anchor, last, time.short) {
                if time.after(at, prev, ts) != t {
                    self.enc.rebase(t);
                    last = Some((ts, t));
                }
            }
            if last.is_none() {
                last = anchor;
            }
            if lost > 0 {
                self.enc.loss(lost);
            }
            #[cfg(feature = "std")]
            let (host, mut undescribed) = (&self.host, None);
            let new_callsite = |_id| {
                #[cfg(feature = "std")]
                if host.needs_dictionary(_id) {
                    undescribed = Some(_id);
                    return true;
                }
                false
            };
            let long = |r: &Record, _| time.date(&mark, r);
            let prev = last.map_or(0, |l| l.0);
            let mut dating = Dating { prev, wrap: time.wrap, long: (!time.short).then_some(&long) };
            let to = self.enc.records(ring, from, stop, &mut dating, new_callsite);
            if to != from {
                last = Some((dating.prev, time.stamp(&mark, dating.prev)));
                if !time.certain(&mark) {
                    let first = anchor.map_or(time.now64, |a| a.1);
                    let end = last.map_or(first, |l| l.1);
                    self.ambiguous = Some(Ambiguous {
                        ctx: ctx as u32,
                        earliest: mark.lo,
                        first,
                        last: end,
                        records: to.wrapping_sub(from),
                    });
                }
            }
            lost = ring.finish(&p, to);
            #[cfg(feature = "std")]
            if let Some(id) = undescribed {
                // The dictionary frame goes first: end this batch, or replace it if empty.
                if self.enc.batch_entries().unwrap_or(0) > 0 || self.host.dictionary_frame(&mut self.enc, id)
                {
                    return;
                }
                // Not describable (marked seen): go on with the same records.
                p = ring.peek();
                (from, lost) = (p.start, p.skipped);
                continue;
            }
            if lost > 0 {
                self.enc.loss(lost);
            }
            // An ambiguous window ends the batch: its report goes next.
            if to != stop || self.ambiguous.is_some() || !self.enc.has_room() {
                return;
            }
            if stop != p.end {
                // The next window of the same read.
                from = stop;
                continue;
            }
            // Same ring, more records meanwhile: keep filling this batch.
            p = ring.peek();
            if p.start == p.end && p.skipped == 0 && !ring.unreported_loss(&p) {
                return;
            }
            self.tick();
            (from, lost) = (p.start, p.skipped);
        }
    }
}

/// Records of one context whose times the drain could not bound to one clock period.
#[derive(Clone, Copy, Debug)]
struct Ambiguous {
    ctx: u32,
    earliest: u64,
    first: u64,
    last: u64,
    records: u32,
}

/// What only a std drain of the global rings does: dictionary, context names, ring release.
#[cfg(feature = "std")]
mod host {
    use crate::callsite::resolve;
    use crate::config::CONTEXTS;
    use crate::context::threads;
    use crate::wire::{encode::FrameEncoder, CallsiteInfo};
    use std::collections::HashSet;

    pub(super) struct State {
        /// Draining `context::RINGS` (not a caller's own rings).
        global: bool,
        /// Callsites already described (or unresolvable).
        seen: HashSet<u32>,
        /// Generation of each ring's owner that was last named on the wire.
        named: [Option<u32>; CONTEXTS],
    }

    impl State {
        pub(super) fn new(rings: *const u8) -> State {
            #[cfg(not(loom))]
            let global = core::ptr::eq(rings, crate::context::RINGS.as_ptr() as *const u8);
            #[cfg(loom)]
            let global = false;
            State { global, seen: HashSet::new(), named: [None; CONTEXTS] }
        }

        pub(super) fn restart(&mut self) {
            self.seen.clear();
            self.named = [None; CONTEXTS];
        }

        /// Whether `id` must be described before a record that uses it (asked only when the
        /// batch's slot table misses, so about once per callsite per batch).
        #[inline]
        pub(super) fn needs_dictionary(&self, id: u32) -> bool {
            id != 0 && !self.seen.contains(&id)
        }

        /// Starts the dictionary frame of `id` (a callsite of this binary), or only marks it
        /// seen if it does not resolve. Returns whether a frame was started.
        pub(super) fn dictionary_frame(&mut self, enc: &mut FrameEncoder, id: u32) -> bool {
            self.seen.insert(id);
            match resolve(id) {
                Some(cs) => enc.callsite(&CallsiteInfo {
                    id,
                    kind: cs.kind,
                    level: cs.level,
                    line: cs.line,
                    name: cs.name,
                    file: cs.file,
                }),
                None => false,
            }
        }

        /// Starts a context frame if ring `i` changed hands since it was last named.
        pub(super) fn name_context(&mut self, i: usize, enc: &mut FrameEncoder) -> bool {
            if !self.global {
                return false;
            }
            let Some(owner) = threads::owner(i) else { return false };
            let Some(named) = self.named.get_mut(i) else { return false };
            if *named == Some(owner.generation) {
                return false;
            }
            *named = Some(owner.generation);
            enc.context(i as u32, &owner.name)
        }

        /// Ring `i` was read empty: if its thread has exited, give it back to the pool.
        pub(super) fn ring_empty(&mut self, i: usize) {
            if self.global {
                threads::release_if_retired(i);
            }
        }
    }
}
