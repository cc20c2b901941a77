//! Frame encoder: writes one frame at a time straight into its COBS-framed form.
//!
//! Each byte goes through one step that updates the CRC-32C (one table lookup) and COBS-stuffs
//! it into the output buffer, so a frame is never copied, re-read or encoded in a second pass:
//! the drain's cost per record is the bytes it writes.
//!
//! The non-record frames are postcard: callsite and context frames serialized through that
//! same step (a postcard [`Flavor`]), header and sync frames written field by field as postcard
//! writes them (tested against it), so that a drain on a target links no serde code. A batch
//! body is written by hand (one head byte per record, LEB128 varints as postcard writes them)
//! because the drain runs it per record on the target's CPU: a 2-way callsite table and a delta
//! varint are a few instructions, where a serde call per record would cost dozens. The
//! per-record loop (`FrameEncoder::records`) reads the records straight from their ring slots
//! and writes through raw pointers after one room check per record, so a byte costs its CRC
//! step and a store.

use super::{
    body, frame_type, has_callsite, has_field, op, payload_of, CallsiteInfo, Payload, StreamHeader,
    ENCODED_CAPACITY, MAGIC,
};
use crate::record::{FieldType, Kind, Record};
use crate::ring::Ring;
use core::mem::MaybeUninit;
use postcard::ser_flavors::Flavor;

/// Most bytes one batch entry can take: a callsite definition (1 + 5), a rebase (1 + 10), the
/// head byte, the time delta (10) and the largest payload (10).
pub const MAX_ENTRY_LEN: usize = 6 + 11 + 1 + 10 + 10;
/// A loss entry: opcode and a `u32` varint.
const LOSS_LEN: usize = 1 + 5;
const CRC_LEN: usize = 4;
/// Output an entry may need besides its bytes, then the frame's end: one COBS code byte for
/// the entry, the CRC and its code byte, the `0x00`.
const RESERVE: usize = 1 + CRC_LEN + 1 + 1;
/// A batch takes another record while its output is at most this long, which leaves room for
/// the record, a loss entry after it and the frame's end.
const RECORD_LIMIT: usize = ENCODED_CAPACITY - MAX_ENTRY_LEN - LOSS_LEN - RESERVE;
// What the unchecked entry writers rely on: entries end below 254 bytes (no full COBS block
// inside them; the CRC bytes after them go through the checked `Cursor::stuff`).
const _: () = assert!(RECORD_LIMIT + MAX_ENTRY_LEN + LOSS_LEN < 254);

/// The encoder's lookup tables in one static, so that the per-record loop addresses both
/// from one register.
#[repr(C)]
struct Tables {
    /// CRC-32C (reflected): one byte per step, or with feature `small-drain` one nibble (two
    /// lookups a byte, 64 bytes of flash instead of 1 KiB).
    crc: [u32; CRC_TABLE],
    /// See [`kind_info`].
    kinds: [u8; 16],
}

const CRC_TABLE: usize = if cfg!(feature = "small-drain") { 16 } else { 256 };

static TABLES: Tables = Tables { crc: crc_table(), kinds: kind_info() };

/// The reflected CRC-32C table for `CRC_TABLE`-valued steps (the `crc` crate builds only the
/// byte-wise ones).
const fn crc_table<const N: usize>() -> [u32; N] {
    const POLY: u32 = 0x82F6_3B78; // CRC-32C, reflected
    let bits = N.trailing_zeros();
    let mut t = [0u32; N];
    let mut i = 0;
    while i < N {
        let mut c = i as u32;
        let mut k = 0;
        while k < bits {
            c = if c & 1 != 0 { c >> 1 ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

#[inline(always)]
fn crc_step(crc: u32, b: u8) -> u32 {
    crc_step_with(&TABLES.crc, crc, b)
}

#[inline(always)]
fn crc_step_with<const N: usize>(table: &[u32; N], crc: u32, b: u8) -> u32 {
    let c = crc ^ b as u32;
    if N == 16 {
        let c = table[(c & 0xF) as usize] ^ (c >> 4);
        table[(c & 0xF) as usize] ^ (c >> 4)
    } else {
        table[(c & 0xFF) as usize % N] ^ (c >> 8)
    }
}

/// Where the frame in progress stands: output length, index of the pending COBS code byte,
/// running CRC.
#[derive(Clone, Copy)]
struct Cursor {
    len: usize,
    code: usize,
    crc: u32,
}

/// The frame buffer. Invariant: every byte before the cursor's `len` is initialised, except
/// the pending code byte at `code` (written when its block ends), so a finished frame is.
type Buf = [MaybeUninit<u8>; ENCODED_CAPACITY];

impl Cursor {
    /// Appends a frame byte: CRC, then COBS. Bounds-checked and out of line: for the cold
    /// frames and entries.
    #[inline(never)]
    fn put(&mut self, buf: &mut Buf, b: u8) {
        self.crc = crc_step(self.crc, b);
        self.stuff(buf, b);
    }

    /// COBS-stuffs a byte. A full buffer drops it (the CRC then fails on the host) rather than
    /// panicking on the target; callers check room first, so this does not happen.
    fn stuff(&mut self, buf: &mut Buf, b: u8) {
        if self.len >= ENCODED_CAPACITY - 1 || self.code >= self.len {
            return;
        }
        if b == 0 {
            buf[self.code] = MaybeUninit::new((self.len - self.code) as u8);
            self.code = self.len;
        } else {
            buf[self.len] = MaybeUninit::new(b);
            if self.len - self.code == 0xFE {
                // 254 data bytes: a full block, which implies no zero.
                buf[self.code] = MaybeUninit::new(0xFF);
                self.len += 1;
                self.code = self.len;
            }
        }
        self.len += 1;
    }

    #[inline(never)]
    fn varint(&mut self, buf: &mut Buf, mut v: u64) {
        while v >= 0x80 {
            self.put(buf, v as u8 | 0x80);
            v >>= 7;
        }
        self.put(buf, v as u8);
    }

    /// The unchecked writer at this position.
    #[inline(always)]
    fn writer(&self, buf: &mut Buf) -> Writer {
        let base = buf.as_mut_ptr().cast::<u8>();
        // `len` and `code` are at most the buffer's length (the cursor never passes it).
        Writer { p: base.wrapping_add(self.len), code: base.wrapping_add(self.code), crc: self.crc }
    }

    /// Takes back a writer's position.
    #[inline(always)]
    fn sync(&mut self, buf: &Buf, w: &Writer) {
        let base = buf.as_ptr().cast::<u8>() as usize;
        self.len = w.p as usize - base;
        self.code = w.code as usize - base;
        self.crc = w.crc;
    }
}

/// The frame in progress as raw pointers, for batch entries: a byte is its CRC step and one
/// store. Its methods are `unsafe`: the caller guarantees that the bytes written stay inside
/// the buffer and that no 254-byte zero-free run starts (see `RECORD_LIMIT`).
struct Writer {
    p: *mut u8,
    code: *mut u8,
    crc: u32,
}

impl Writer {
    /// A byte known not to be zero.
    #[inline(always)]
    unsafe fn nz(&mut self, b: u8) {
        self.crc = crc_step(self.crc, b);
        // SAFETY: the caller keeps `p` inside the buffer.
        unsafe {
            self.p.write(b);
            self.p = self.p.add(1);
        }
    }

    /// A zero byte: ends the COBS block, its place becomes the next block's code byte.
    #[inline(always)]
    unsafe fn zero(&mut self) {
        self.crc = crc_step(self.crc, 0);
        // SAFETY: `code < p`, both inside the buffer (caller), and the block is below 254 bytes.
        unsafe {
            self.code.write(self.p.offset_from(self.code) as u8);
            self.code = self.p;
            self.p = self.p.add(1);
        }
    }

    /// A varint whose last byte may be zero only when `v` is.
    #[inline(always)]
    unsafe fn v32(&mut self, mut v: u32) {
        // SAFETY: at most 5 bytes, within the caller's guarantee.
        unsafe {
            if v < 0x80 {
                if v == 0 {
                    return self.zero();
                }
                return self.nz(v as u8);
            }
            while v >= 0x80 {
                self.nz(v as u8 | 0x80);
                v >>= 7;
            }
            self.nz(v as u8);
        }
    }

    /// [`v32`](Self::v32) out of line, for the cold paths.
    #[inline(never)]
    unsafe fn v32_cold(&mut self, v: u32) {
        // SAFETY: the caller's guarantee.
        unsafe { self.v32(v) }
    }

    /// A 64-bit varint, out of line: only the cold paths write them.
    #[inline(never)]
    unsafe fn v64_cold(&mut self, v: u64) {
        // SAFETY: the caller's guarantee.
        unsafe {
            if v >> 32 == 0 {
                self.v32_cold(v as u32)
            } else {
                self.v64_long(v)
            }
        }
    }

    /// The rare varint of more than 32 bits, out of line.
    #[inline(never)]
    unsafe fn v64_long(&mut self, mut v: u64) {
        // SAFETY: at most 10 bytes, within the caller's guarantee; `v` is not 0.
        unsafe {
            while v >= 0x80 {
                self.nz(v as u8 | 0x80);
                v >>= 7;
            }
            self.nz(v as u8);
        }
    }
}

/// Postcard output into the frame in progress, keeping room for the CRC and the end.
struct Sink<'a> {
    buf: &'a mut Buf,
    at: &'a mut Cursor,
}

impl Flavor for Sink<'_> {
    type Output = ();

    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        if self.at.len + 1 + RESERVE > ENCODED_CAPACITY {
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.at.put(self.buf, b);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Builds frames in an internal buffer of [`ENCODED_CAPACITY`] bytes, already COBS-encoded;
/// [`finish`](Self::finish) ends one. One frame at a time: starting a frame discards an
/// unfinished one.
pub struct FrameEncoder {
    /// Not zeroed: see [`Buf`].
    buf: Buf,
    at: Cursor,
    /// Length of the finished frame in `buf` (0: none).
    done: usize,
    /// Open batch: time of its last entry.
    cur: u64,
    /// Open batch: callsite id bound to each slot.
    slots: Slots,
    /// Open batch: entries written.
    entries: u32,
    batch: bool,
}

impl Default for FrameEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameEncoder {
    /// An encoder with no frame in progress.
    pub const fn new() -> Self {
        FrameEncoder {
            buf: [MaybeUninit::uninit(); ENCODED_CAPACITY],
            at: Cursor { len: 0, code: 0, crc: 0 },
            done: 0,
            cur: 0,
            // Only read in a batch, and `begin_batch` empties it: all zeros here, so that a new
            // encoder is a plain clear.
            slots: Slots { ids: [0; 16], next: 0 },
            entries: 0,
            batch: false,
        }
    }

    /// Whether no frame is in progress.
    pub fn is_empty(&self) -> bool {
        self.at.len == 0
    }

    /// Whether a batch frame is in progress, and for how many entries.
    pub fn batch_entries(&self) -> Option<u32> {
        self.batch.then_some(self.entries)
    }

    /// Whether the open batch has room for one more entry of any kind.
    #[inline(always)]
    pub fn has_room(&self) -> bool {
        self.at.len + MAX_ENTRY_LEN + RESERVE <= ENCODED_CAPACITY
    }

    /// Whether the open batch has `id` in its callsite table (a record of it needs no
    /// definition entry).
    #[inline(always)]
    pub fn has_callsite(&self, id: u32) -> bool {
        self.batch && self.slots.find(id).is_some()
    }

    fn start(&mut self, ty: u8) {
        self.done = 0;
        self.batch = false;
        self.at = Cursor { len: 1, code: 0, crc: !0 };
        self.at.put(&mut self.buf, ty);
    }

    /// Appends a postcard body; `false` if it does not fit (the frame is then abandoned).
    fn postcard<T: serde::Serialize>(&mut self, value: &T) -> bool {
        let sink = Sink { buf: &mut self.buf, at: &mut self.at };
        if postcard::serialize_with_flavor(value, sink).is_ok() {
            return true;
        }
        self.at.len = 0;
        false
    }

    /// Starts a stream-header frame. The target string is cut to 64 bytes.
    ///
    /// The frame is preceded by a `0x00`, which ends whatever partial frame a receiver holds:
    /// every stream (and every restart of one) begins that way.
    pub fn header(&mut self, h: &StreamHeader<'_>) -> bool {
        self.start(frame_type::HEADER);
        // Shift the frame by one byte behind a lone delimiter.
        self.buf[0] = MaybeUninit::new(0);
        self.at = Cursor { len: 2, code: 1, crc: !0 };
        let [m0, m1, m2, m3] = MAGIC;
        let [v0, v1] = h.version.to_le_bytes();
        for b in [frame_type::HEADER, m0, m1, m2, m3, v0, v1] {
            self.at.put(&mut self.buf, b);
        }
        // `body::Header` as postcard writes it, field by field: the target needs no serde
        // code for the two frames every drain sends (at most 100 bytes: always fits).
        let target = truncate_end(h.target, 64);
        for v in [h.clock_hz, h.clock_wrap, h.node, target.len() as u64] {
            self.at.varint(&mut self.buf, v);
        }
        for &b in target.as_bytes() {
            self.at.put(&mut self.buf, b);
        }
        // Version 3: the node name, a trailing field older decoders skip; absent when empty.
        let name = truncate_end(h.name, 32);
        if !name.is_empty() {
            self.at.varint(&mut self.buf, name.len() as u64);
            for &b in name.as_bytes() {
                self.at.put(&mut self.buf, b);
            }
        }
        true
    }

    /// Starts a callsite dictionary frame. The name is cut to 96 bytes and the file path is
    /// shortened from the left so the frame fits.
    pub fn callsite(&mut self, c: &CallsiteInfo<'_>) -> bool {
        self.start(frame_type::CALLSITE);
        let name = truncate_end(c.name, 96);
        // Code and type bytes, id (5), kind, level, line (5), two length varints (2 each),
        // COBS code bytes of a 254-byte run, the end.
        let fixed = 2 + 5 + 1 + 1 + 5 + 2 + 2 + 2 + RESERVE;
        let file = truncate_start(c.file, ENCODED_CAPACITY - fixed - name.len());
        self.postcard(&body::Callsite {
            id: c.id,
            kind: c.kind as u8,
            level: c.level as u8,
            line: c.line,
            name,
            file,
        })
    }

    /// Starts a context-name frame. The name is cut to 128 bytes.
    pub fn context(&mut self, ctx: u32, name: &str) -> bool {
        self.start(frame_type::CONTEXT);
        self.postcard(&body::Context { ctx, name: truncate_end(name, 128) })
    }

    /// Starts a clock-anchor frame: tick `ts` (64-bit) happened at `unix_ns` (0 = unknown).
    pub fn sync(&mut self, ts: u64, unix_ns: u64) -> bool {
        self.start(frame_type::SYNC);
        // `body::Sync` as postcard writes it (see `header`).
        self.at.varint(&mut self.buf, ts);
        self.at.varint(&mut self.buf, unix_ns);
        true
    }

    /// Starts a batch of records of context `ctx`; `base` is the 64-bit time the first
    /// entry's delta is taken from (the first record's time keeps that delta 0).
    pub fn begin_batch(&mut self, ctx: u32, base: u64) {
        self.start(frame_type::BATCH);
        self.at.varint(&mut self.buf, ctx as u64);
        self.at.varint(&mut self.buf, base);
        self.cur = base;
        self.slots.clear();
        self.entries = 0;
        self.batch = true;
    }

    /// Appends a loss entry: `count` records of this batch's context were lost here.
    pub fn loss(&mut self, count: u32) {
        self.at.put(&mut self.buf, Kind::Loss as u8);
        self.at.varint(&mut self.buf, count as u64);
        self.entries += 1;
    }

    /// Appends a record entry at 64-bit time `ts`. `a`/`b` are the record's payload words; `b`
    /// is ignored for kinds whose `b` holds clock bits. A [`Kind::Loss`] record becomes a loss
    /// entry of `a` records. Returns `false` (and writes nothing) when the batch is full: see
    /// [`has_room`](Self::has_room).
    pub fn record(&mut self, kind: Kind, callsite: u32, ts: u64, a: u32, b: u32) -> bool {
        if !self.batch || !self.has_room() {
            return false;
        }
        let w = self.at.writer(&mut self.buf);
        let rec = Record::new(kind, callsite & !0xF, ts as u32, a, b);
        // SAFETY: `has_room`: the entry fits, and the frame stays below one COBS block.
        let w = unsafe {
            any_entry(w, &mut self.slots, &mut self.cur, rec, Some(&|_: &Record, _| ts), &mut |_| false)
        }
        .unwrap_or_else(|w| w);
        self.at.sync(&self.buf, &w);
        self.entries += 1;
        true
    }

    /// Appends entries for the records of `ring` at indices `from..to` (of a
    /// [`Ring::peek`]) while the batch has room, [`release`](Ring::release)s each one
    /// encoded, and returns the index of the first record not taken.
    ///
    /// `dating` dates the records; one batch uses one kind of dating (deltas do not maintain
    /// the 64-bit time that `long` stamps are compared with). `before_new_callsite(id)` is
    /// asked before a record whose callsite is not in the batch's table, and returning `true`
    /// ends the run there (the std drain sends a dictionary frame first). A slot with an empty
    /// or unknown tag, or one rewritten while read (overwrite mode), counts as one lost record.
    ///
    /// This is the drain's per-record loop. Inline it handles the common entries (short-clock
    /// deltas, bound callsites, payloads of up to 32 bits), with its state in registers;
    /// everything else goes through [`any_entry`], out of line.
    // The drain is not built under loom.
    #[cfg_attr(loom, allow(dead_code))]
    #[inline]
    pub(crate) fn records<const N: usize, const O: bool, F: Fn(&Record, Kind) -> u64>(
        &mut self,
        ring: &Ring<N, O>,
        from: u32,
        to: u32,
        dating: &mut Dating<'_, F>,
        mut before_new_callsite: impl FnMut(u32) -> bool,
    ) -> u32 {
        if let Some(time) = dating.long {
            return self.records_long(ring, from, to, time, before_new_callsite);
        }
        let Self { buf, at, cur, slots, entries, .. } = self;
        let limit = buf.as_ptr().cast::<u8>().wrapping_add(RECORD_LIMIT);
        let mut w = at.writer(buf);
        let kinds = &TABLES.kinds;
        let (mut prev, wrap) = (dating.prev, dating.wrap);
        let mut i = from;
        while i != to && w.p.cast_const() <= limit {
            // Overwrite mode: the whole record, checked (a torn one reads as an empty tag, a
            // lost record). Drop-newest: the slot is the reader's until released, so the
            // payload words are loaded only if the kind has a payload.
            let (tag, ts, mut tail) = if O {
                match ring.load(i) {
                    Some(r) => (r.tag, r.ts, Some((r.a, r.b))),
                    None => (0, 0, Some((0, 0))),
                }
            } else {
                let (tag, ts) = ring.load_head(i);
                (tag, ts, None)
            };
            let info = kinds[(tag & 0xF) as usize];
            if info & K_COLD != 0 {
                let (a, b) = *tail.get_or_insert_with(|| ring.load_tail(i));
                // SAFETY: below `RECORD_LIMIT` an entry and a loss entry fit, and the frame
                // stays below one COBS block (see the assertion on `RECORD_LIMIT`).
                let done = unsafe {
                    any_entry(w, slots, cur, Record { tag, ts, a, b }, None::<&F>, &mut before_new_callsite)
                };
                match done {
                    Ok(next) => w = next,
                    Err(same) => {
                        w = same;
                        break;
                    }
                }
            } else {
                // Kinds without a callsite keep tag bits 4..8 (a link record's field; 0 in the
                // sync records `api::sync` writes) in the slot nibble; a callsite's slot
                // replaces them.
                let head = if info & K_CALLSITE != 0 {
                    let id = tag & !0xF;
                    let slot = match slots.find(id) {
                        Some(slot) => slot,
                        None => {
                            if before_new_callsite(id) {
                                break;
                            }
                            let slot;
                            // SAFETY: as above.
                            (w, slot) = unsafe { define(w, slots, id) };
                            slot
                        }
                    };
                    tag & 0xF | (slot as u32) << 4
                } else {
                    tag & 0xFF
                };
                let mut d = ts.wrapping_sub(prev);
                if ts < prev {
                    d = d.wrapping_add(wrap);
                }
                prev = ts;
                let payload = info & 7;
                // SAFETY: as above.
                unsafe {
                    w.nz(head as u8);
                    w.v32(d);
                    if payload != P_NONE {
                        let (a, b) = *tail.get_or_insert_with(|| ring.load_tail(i));
                        if payload == P_A || info & (7 | K_FIXED) == P_U64 && b == 0 {
                            w.v32(a);
                        } else {
                            w = payload_cold(w, info, a, b);
                        }
                    }
                }
            }
            ring.release(i);
            i = i.wrapping_add(1);
        }
        dating.prev = prev;
        at.sync(buf, &w);
        *entries += i.wrapping_sub(from);
        i
    }

    /// [`records`](Self::records) on 64-bit clocks: every record through [`any_entry`].
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(never)]
    fn records_long<const N: usize, const O: bool, F: Fn(&Record, Kind) -> u64>(
        &mut self,
        ring: &Ring<N, O>,
        from: u32,
        to: u32,
        time: &F,
        mut before_new_callsite: impl FnMut(u32) -> bool,
    ) -> u32 {
        let mut w = self.at.writer(&mut self.buf);
        let limit = self.buf.as_ptr().cast::<u8>().wrapping_add(RECORD_LIMIT);
        let mut i = from;
        while i != to && w.p.cast_const() <= limit {
            // A torn record (overwrite mode) reads as an empty tag: a lost record.
            let r = ring.load(i).unwrap_or_default();
            // SAFETY: below `RECORD_LIMIT` an entry and a loss entry fit, and the frame stays
            // below one COBS block (see the assertion on `RECORD_LIMIT`).
            match unsafe {
                any_entry(w, &mut self.slots, &mut self.cur, r, Some(time), &mut before_new_callsite)
            } {
                Ok(next) => w = next,
                Err(same) => {
                    w = same;
                    break;
                }
            }
            ring.release(i);
            i = i.wrapping_add(1);
        }
        self.at.sync(&self.buf, &w);
        self.entries += i.wrapping_sub(from);
        i
    }

    /// Ends the frame in progress (appends its CRC, closes the COBS block, appends `0x00`) and
    /// returns its bytes, ready to send. Empty if no frame was in progress or it overflowed.
    pub fn finish_frame(&mut self) -> &[u8] {
        let mut at = core::mem::replace(&mut self.at, Cursor { len: 0, code: 0, crc: 0 });
        self.batch = false;
        self.done = 0;
        if at.len == 0 || at.len + RESERVE - 1 > ENCODED_CAPACITY {
            return &[];
        }
        for b in (!at.crc).to_le_bytes() {
            at.stuff(&mut self.buf, b);
        }
        if at.code < at.len && at.len < ENCODED_CAPACITY {
            self.buf[at.code] = MaybeUninit::new((at.len - at.code) as u8);
            self.buf[at.len] = MaybeUninit::new(0);
            self.done = at.len + 1;
        }
        self.frame()
    }

    /// [`finish_frame`](Self::finish_frame), copied into `out`; returns the bytes written (0 if
    /// there was no frame or `out` is too short: give it [`ENCODED_CAPACITY`] bytes).
    pub fn finish(&mut self, out: &mut [u8]) -> usize {
        let frame = self.finish_frame();
        match out.get_mut(..frame.len()) {
            Some(dst) => {
                dst.copy_from_slice(frame);
                frame.len()
            }
            None => 0,
        }
    }

    /// The last finished frame (empty once a new one is started).
    pub fn frame(&self) -> &[u8] {
        let done = self.done.min(ENCODED_CAPACITY);
        // SAFETY: `done` is non-zero only right after `finish_frame` wrote the last code byte
        // and the `0x00` of a frame, so every byte before it is initialised (see `Buf`).
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), done) }
    }
}

/// The drain's clock entries and frames (see `docs/wire-format.md`, Timestamps).
impl FrameEncoder {
    /// Appends a rebase entry to the open batch: the next record's delta counts from `ts`.
    /// The caller checks [`has_room`](Self::has_room) first.
    pub fn rebase(&mut self, ts: u64) {
        self.at.put(&mut self.buf, op::REBASE);
        self.at.varint(&mut self.buf, ts);
        self.cur = ts;
    }

    /// Starts an ambiguous-time frame: `records` records of context `ctx`, dated `first` to
    /// `last`, were written after `earliest` (0 = unknown) and may each be dated whole clock
    /// periods late (the drain could not bound their age to one period).
    pub fn ambiguous(&mut self, ctx: u32, earliest: u64, first: u64, last: u64, records: u32) -> bool {
        self.start(frame_type::AMBIGUOUS);
        for v in [ctx as u64, earliest, first, last, records as u64] {
            self.at.varint(&mut self.buf, v);
        }
        true
    }
}

/// How [`FrameEncoder::records`] dates records.
pub(crate) struct Dating<'a, F> {
    /// Short clocks: `ts` of the batch's previous record.
    pub prev: u32,
    /// Short clocks: the counter's modulus (0 meaning 2^32). A record's time is its `ts` minus
    /// `prev`, plus `wrap` if the counter wrapped in between.
    pub wrap: u32,
    /// Clocks wider than 32 bits: the 64-bit time of each record instead.
    pub long: Option<&'a F>,
}

/// What a record's kind takes on the wire, per tag nibble: low three bits the payload
/// ([`P_NONE`] …), [`K_CALLSITE`] if it names a callsite, [`K_COLD`] if the out-of-line
/// [`any_entry`] writes it. One load per record instead of matches.
const fn kind_info() -> [u8; 16] {
    let mut t = [K_INVALID | K_COLD; 16];
    let mut i = 0;
    while i < 16 {
        if let Some(kind) = Kind::from_bits(i as u32) {
            t[i] = match payload_of(kind) {
                _ if matches!(kind, Kind::Loss) => K_LOSS | K_COLD,
                // Field records: their head is `op::FIELD`, written by `any_entry`.
                _ if matches!(kind, Kind::Field) => P_A | K_CALLSITE | K_COLD,
                Payload::None => P_NONE,
                Payload::A => P_A,
                Payload::AB => P_AB,
                Payload::U64 => P_U64,
                Payload::I64 => P_I64,
                Payload::F64 => P_F64,
                Payload::Fixed64 => P_U64 | K_FIXED,
            } | if has_callsite(kind) { K_CALLSITE } else { 0 };
        }
        i += 1;
    }
    t
}
const P_NONE: u8 = 0;
const P_A: u8 = 1;
const P_AB: u8 = 2;
const P_U64: u8 = 3;
const P_I64: u8 = 4;
const P_F64: u8 = 5;
/// A loss record: a loss entry of `a` records.
const K_LOSS: u8 = 6;
/// An empty or unknown tag: a loss entry of one record.
const K_INVALID: u8 = 7;
const K_CALLSITE: u8 = 0x10;
const K_COLD: u8 = 0x20;
/// The 64-bit payload is 8 little-endian bytes, not a varint ([`Payload::Fixed64`]).
const K_FIXED: u8 = 0x40;
const _: () = assert!(op::REBASE == 0);

/// Writes the batch entry of any record `r` (with a definition or rebase entry before it when
/// needed); `Err` with the writer untouched when `before_new_callsite` refuses its callsite.
///
/// # Safety
/// The writer has room for [`MAX_ENTRY_LEN`] bytes, and the frame stays below one COBS block.
#[inline(never)]
unsafe fn any_entry<F: Fn(&Record, Kind) -> u64>(
    mut w: Writer,
    slots: &mut Slots,
    cur: &mut u64,
    r: Record,
    time: Option<&F>,
    before_new_callsite: &mut impl FnMut(u32) -> bool,
) -> Result<Writer, Writer> {
    let info = TABLES.kinds[(r.tag & 0xF) as usize];
    let payload = info & 7;
    // A field of a type no writer produces is a damaged record: lost.
    let valid = payload < K_LOSS && (r.tag & 0xF != Kind::Field as u32 || FieldType::from_bits(r.b).is_some());
    let Some(kind) = r.kind().filter(|_| valid) else {
        // SAFETY: 6 bytes (caller).
        return Ok(unsafe { loss_entry(w, if payload == K_LOSS { r.a } else { 1 }) });
    };
    // SAFETY: at most MAX_ENTRY_LEN bytes (caller).
    unsafe {
        let mut head = if has_field(kind) { r.tag as u8 } else { kind as u8 };
        if info & K_CALLSITE != 0 {
            let id = r.callsite();
            let slot = match slots.find(id) {
                Some(slot) => slot,
                None => {
                    if before_new_callsite(id) {
                        return Err(w);
                    }
                    let slot;
                    (w, slot) = define(w, slots, id);
                    slot
                }
            };
            head = kind as u8 | (slot as u8) << 4;
            if kind == Kind::Field {
                // An interned string's own callsite needs describing too (std drains).
                if r.b == FieldType::Str as u32 && before_new_callsite(r.a & !0xF) {
                    return Err(w);
                }
                w.nz(op::FIELD + ((r.b as u8) << 4));
                head = slot as u8;
            }
        }
        // Short clocks send only losses here: `time` is there for every record.
        let ts = time.map_or(*cur, |time| time(&r, kind));
        if ts < *cur {
            w.zero(); // op::REBASE
            w.v64_cold(ts);
            *cur = ts;
        }
        if head == 0 {
            w.zero(); // a field's key in slot 0
        } else {
            w.nz(head);
        }
        w.v64_cold(ts - *cur);
        *cur = ts;
        if payload != P_NONE {
            w = payload_cold(w, info, r.a, r.b);
        }
    }
    Ok(w)
}

/// Binds `id` to a slot of the batch's table and writes the definition entry.
///
/// # Safety
/// As [`any_entry`].
#[inline(never)]
unsafe fn define(mut w: Writer, slots: &mut Slots, id: u32) -> (Writer, usize) {
    let slot = slots.bind(id);
    // SAFETY: 6 bytes (caller).
    unsafe {
        w.nz(op::DEFINE | (slot as u8) << 4);
        w.v32_cold(id >> 4);
    }
    (w, slot)
}

/// A loss entry of `count` records.
///
/// # Safety
/// As [`any_entry`].
#[inline(never)]
unsafe fn loss_entry(mut w: Writer, count: u32) -> Writer {
    // SAFETY: 6 bytes (caller).
    unsafe {
        w.nz(Kind::Loss as u8);
        w.v32_cold(count);
    }
    w
}

/// A payload, out of line: `a`, a span start's two words, or 64 bits (`a | b << 32`), per
/// the kind's `info` ([`kind_info`]).
///
/// # Safety
/// As [`any_entry`].
#[inline(never)]
unsafe fn payload_cold(mut w: Writer, info: u8, a: u32, b: u32) -> Writer {
    let v = a as u64 | (b as u64) << 32;
    // SAFETY: at most 10 bytes (caller).
    unsafe {
        if info & K_FIXED != 0 {
            // Random ids: 8 bytes where a varint would take 10.
            for byte in v.to_le_bytes() {
                if byte == 0 {
                    w.zero();
                } else {
                    w.nz(byte);
                }
            }
            return w;
        }
        match info & 7 {
            P_A => w.v32_cold(a),
            P_AB => {
                w.v32_cold(a);
                w.v32_cold(b);
            }
            P_I64 => w.v64_cold((v << 1) ^ ((v as i64 >> 63) as u64)),
            P_F64 => w.v64_cold(v.swap_bytes()),
            _ => w.v64_cold(v),
        }
    }
    w
}

/// The batch's callsite table as the encoder manages it: 8 sets of 2 slots (slots `set` and
/// `set + 8`), the set picked from the id, the slot to replace alternating per set. The decoder
/// does not need any of this: the slot is on the wire.
///
/// Callsites are statics laid out at a fixed stride (32 bytes on 32-bit targets, 48 on x86_64),
/// and `(id >> 4) + (id >> 7)` spreads up to 12 neighbours at strides 32–96 over the sets with
/// at most two per set, so a call chain's callsites all stay bound; a direct-mapped table of
/// 16 keeps 91–97% of them, and each miss costs a 3-byte definition per use.
#[derive(Clone, Copy)]
struct Slots {
    /// The id bound to each slot; `!0` (which no id is: ids have their low four bits clear)
    /// when empty.
    ids: [u32; 16],
    /// Bit `set`: which of the set's two slots to replace next (0: `set`, 1: `set + 8`).
    next: u8,
}

impl Slots {
    /// Unbinds every slot.
    #[inline(always)]
    fn clear(&mut self) {
        // A store loop rather than a `memset` call: an opaque value keeps LLVM from making it
        // one, which would link `compiler_builtins`' `memset` (184 bytes on Cortex-M) for this
        // alone.
        let empty = core::hint::black_box(!0u32);
        for id in &mut self.ids {
            *id = empty;
        }
        self.next = 0;
    }

    #[inline(always)]
    fn set_of(id: u32) -> usize {
        ((id >> 4).wrapping_add(id >> 7) & 7) as usize
    }

    /// The slot bound to `id`, if any.
    #[inline(always)]
    fn find(&self, id: u32) -> Option<usize> {
        let set = Self::set_of(id);
        if self.ids[set] == id {
            Some(set)
        } else if self.ids[set + 8] == id {
            Some(set + 8)
        } else {
            None
        }
    }

    /// Binds `id` to a slot of its set and returns the slot.
    #[inline(always)]
    fn bind(&mut self, id: u32) -> usize {
        let set = Self::set_of(id);
        let slot = set + 8 * (self.next >> set & 1) as usize;
        self.next ^= 1 << set;
        self.ids[slot] = id;
        slot
    }
}

/// `s` cut to at most `max` bytes at a character boundary, keeping the start.
fn truncate_end(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` cut to at most `max` bytes at a character boundary, keeping the end (file paths).
fn truncate_start(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::CRC;

    #[test]
    fn byte_and_nibble_tables_both_compute_crc32c() {
        let (bytes, nibbles) = (crc_table::<256>(), crc_table::<16>());
        assert_eq!(bytes, CRC.table()[0]);
        for data in [&b""[..], b"123456789", b"\x00\xff tickspan frame \x00"] {
            let by_byte = !data.iter().fold(!0, |c, &b| crc_step_with(&bytes, c, b));
            let by_nibble = !data.iter().fold(!0, |c, &b| crc_step_with(&nibbles, c, b));
            assert_eq!((by_byte, by_nibble), (CRC.checksum(data), CRC.checksum(data)));
        }
        assert_eq!(CRC.checksum(b"123456789"), 0xE306_9283, "the CRC-32C check value");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_end("héllo", 2), "h");
        assert_eq!(truncate_end("abc", 5), "abc");
        assert_eq!(truncate_start("/a/é/main.rs", 9), "/main.rs");
        assert_eq!(truncate_start("x.rs", 9), "x.rs");
    }

    #[test]
    fn stuffing_and_crc_match_the_cobs_and_crc_crates() {
        let cases: [Vec<u8>; 5] = [
            vec![7; 255],
            (1..=255).collect(),
            vec![0; 10],
            (0..250).map(|i| (i % 7) as u8).collect(),
            Vec::new(),
        ];
        for data in cases {
            let mut buf: Buf = [MaybeUninit::new(0); ENCODED_CAPACITY];
            let mut at = Cursor { len: 1, code: 0, crc: !0 };
            for &b in &data {
                at.put(&mut buf, b);
            }
            buf[at.code] = MaybeUninit::new((at.len - at.code) as u8);
            // SAFETY: the buffer was initialised with zeros.
            let got: Vec<u8> = buf[..at.len].iter().map(|b| unsafe { b.assume_init() }).collect();
            assert_eq!(!at.crc, CRC.checksum(&data));
            let mut want = [0u8; ENCODED_CAPACITY];
            let n = cobs::encode(&data, &mut want);
            // After a full 254-byte block this encoder closes with an empty block (`01`),
            // which the crate leaves out; both decode the same.
            assert!(got == want[..n] || (got.last() == Some(&1) && got[..got.len() - 1] == want[..n]));
            let mut back = got.to_vec();
            let m = cobs::decode_in_place(&mut back).unwrap();
            assert_eq!(&back[..m], &data[..]);
        }
    }

    /// The raw body (after the type byte, before the CRC) of the frame `enc` holds.
    fn body_of(enc: &mut FrameEncoder, skip: usize) -> Vec<u8> {
        let mut frame = enc.finish_frame().to_vec();
        frame.pop(); // the 0x00
        let n = cobs::decode_in_place(&mut frame[skip..]).unwrap();
        frame[skip + 1..skip + n - CRC_LEN].to_vec()
    }

    #[test]
    fn hand_written_header_and_sync_are_postcard() {
        for (a, b, c, target) in
            [(0, 0, 0, ""), (1_000_000, 1 << 24, 7, "thumbv7m-none-eabi"), (u64::MAX, 1 << 63, 300, "é")]
        {
            let mut enc = FrameEncoder::new();
            assert!(enc.header(&StreamHeader { version: 1, clock_hz: a, clock_wrap: b, node: c, target, name: "" }));
            let mut want = [0u8; 128];
            let want =
                postcard::to_slice(&body::Header { clock_hz: a, clock_wrap: b, node: c, target }, &mut want)
                    .unwrap();
            assert_eq!(body_of(&mut enc, 1), [&MAGIC[..], &[1, 0], &*want].concat());
            assert!(enc.sync(a, c));
            let mut want = [0u8; 32];
            let want = postcard::to_slice(&body::Sync { ts: a, unix_ns: c }, &mut want).unwrap();
            assert_eq!(body_of(&mut enc, 0), want);
        }
    }

    #[test]
    fn long_strings_still_make_a_frame() {
        let mut enc = FrameEncoder::new();
        let long = "x".repeat(1000);
        assert!(enc.callsite(&CallsiteInfo {
            id: 0x10,
            kind: crate::CallsiteKind::Span,
            level: crate::Level::Info,
            line: u32::MAX,
            name: &long,
            file: &long,
        }));
        let n = enc.finish_frame().len();
        assert!(n > ENCODED_CAPACITY - 10 && n <= ENCODED_CAPACITY, "{n}");
    }
}
