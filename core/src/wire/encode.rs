//! Frame encoder: builds one frame at a time in a fixed buffer, then CRCs and COBS-frames it.
//!
//! The non-record frames (header, callsite, context, sync) are postcard; a batch body is written
//! by hand (one head byte per record, LEB128 varints as postcard writes them) because the drain
//! runs this per record on the target's CPU: a direct-mapped callsite table and a delta varint
//! are a few instructions, where a serde call per record would cost dozens.

use super::{
    body, frame_type, has_callsite, op, payload_of, CallsiteInfo, Payload, StreamHeader, CRC,
    FRAME_CAPACITY, MAGIC,
};
use crate::record::Kind;

/// Most bytes one batch entry can take: a callsite definition (1 + 5), a rebase (1 + 10), the
/// head byte, the time delta (10) and the largest payload (10).
pub const MAX_ENTRY_LEN: usize = 6 + 11 + 1 + 10 + 10;
const CRC_LEN: usize = 4;
/// A slot value no callsite id can have (ids have their low four bits clear).
const NO_CALLSITE: u32 = 1;

/// Builds frames into an internal [`FRAME_CAPACITY`]-byte buffer; [`finish`](Self::finish)
/// writes the framed bytes out. One frame at a time: starting a frame discards an unfinished one.
pub struct FrameEncoder {
    raw: [u8; FRAME_CAPACITY],
    len: usize,
    /// Open batch: time of its last entry.
    cur: u64,
    /// Open batch: callsite id bound to each slot.
    slots: [u32; 16],
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
            raw: [0; FRAME_CAPACITY],
            len: 0,
            cur: 0,
            slots: [NO_CALLSITE; 16],
            entries: 0,
            batch: false,
        }
    }

    /// Whether no frame is in progress.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a batch frame is in progress, and for how many entries.
    pub fn batch_entries(&self) -> Option<u32> {
        self.batch.then_some(self.entries)
    }

    /// Whether the open batch has room for one more entry of any kind.
    #[inline(always)]
    pub fn has_room(&self) -> bool {
        self.len + MAX_ENTRY_LEN + CRC_LEN <= FRAME_CAPACITY
    }

    /// Whether the open batch has `id` in its callsite table (a record of it needs no
    /// definition entry).
    #[inline(always)]
    pub fn has_callsite(&self, id: u32) -> bool {
        self.batch && self.slots[slot_of(id)] == id
    }

    fn start(&mut self, ty: u8) {
        self.raw[0] = ty;
        self.len = 1;
        self.batch = false;
    }

    #[inline(always)]
    fn put(&mut self, b: u8) {
        // Callers check `has_room` first; a full buffer drops the byte (the frame then fails
        // to parse on the host) rather than panicking on the target.
        if let Some(slot) = self.raw.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    #[inline(always)]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.put(v as u8 | 0x80);
            v >>= 7;
        }
        self.put(v as u8);
    }

    #[inline(always)]
    fn varint32(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.put(v as u8 | 0x80);
            v >>= 7;
        }
        self.put(v as u8);
    }

    /// Appends a postcard body; `false` if it does not fit (the frame is then abandoned).
    fn postcard<T: serde::Serialize>(&mut self, value: &T) -> bool {
        let room = FRAME_CAPACITY - CRC_LEN;
        match self.raw.get_mut(self.len..room).map(|b| postcard::to_slice(value, b)) {
            Some(Ok(used)) => {
                self.len += used.len();
                true
            }
            _ => {
                self.len = 0;
                false
            }
        }
    }

    /// Starts a stream-header frame. The target string is cut to 64 bytes.
    pub fn header(&mut self, h: &StreamHeader<'_>) -> bool {
        self.start(frame_type::HEADER);
        for b in MAGIC.into_iter().chain(h.version.to_le_bytes()) {
            self.put(b);
        }
        self.postcard(&body::Header {
            clock_hz: h.clock_hz,
            clock_wrap: h.clock_wrap,
            node: h.node,
            target: truncate_end(h.target, 64),
        })
    }

    /// Starts a callsite dictionary frame. The name is cut to 96 bytes and the file path is
    /// shortened from the left so the frame fits.
    pub fn callsite(&mut self, c: &CallsiteInfo<'_>) -> bool {
        self.start(frame_type::CALLSITE);
        let name = truncate_end(c.name, 96);
        // type + id (5) + kind + level + line (5) + two length varints (2 each) + CRC.
        let fixed = 1 + 5 + 1 + 1 + 5 + 2 + 2 + CRC_LEN;
        let file = truncate_start(c.file, FRAME_CAPACITY - fixed - name.len());
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
        self.postcard(&body::Sync { ts, unix_ns })
    }

    /// Starts a batch of records of context `ctx`; `base` is the 64-bit time the first
    /// entry's delta is taken from (the first record's time keeps that delta 0).
    pub fn begin_batch(&mut self, ctx: u32, base: u64) {
        self.start(frame_type::BATCH);
        self.varint32(ctx);
        self.varint(base);
        self.cur = base;
        self.slots = [NO_CALLSITE; 16];
        self.entries = 0;
        self.batch = true;
    }

    /// Appends a loss entry: `count` records of this batch's context were lost here.
    pub fn loss(&mut self, count: u32) {
        self.put(Kind::Loss as u8);
        self.varint32(count);
        self.entries += 1;
    }

    /// Appends a record entry at 64-bit time `ts`. `a`/`b` are the record's payload words; `b`
    /// is ignored for kinds whose `b` holds clock bits. Check [`has_room`](Self::has_room)
    /// first. A [`Kind::Loss`] record becomes a loss entry of `a` records.
    #[inline]
    pub fn record(&mut self, kind: Kind, callsite: u32, ts: u64, a: u32, b: u32) {
        if kind == Kind::Loss {
            return self.loss(a);
        }
        let mut head = kind as u8;
        if has_callsite(kind) {
            let slot = slot_of(callsite);
            if self.slots[slot] != callsite {
                self.slots[slot] = callsite;
                self.put(op::DEFINE | (slot as u8) << 4);
                self.varint32(callsite >> 4);
            }
            head |= (slot as u8) << 4;
        }
        if ts < self.cur {
            self.put(op::REBASE);
            self.varint(ts);
            self.cur = ts;
        }
        self.put(head);
        self.varint(ts - self.cur);
        self.cur = ts;
        match payload_of(kind) {
            Payload::None => {}
            Payload::A => self.varint32(a),
            Payload::AB => {
                self.varint32(a);
                self.varint32(b);
            }
            Payload::U64 => self.varint(a as u64 | (b as u64) << 32),
            Payload::I64 => {
                let v = (a as u64 | (b as u64) << 32) as i64;
                self.varint(((v << 1) ^ (v >> 63)) as u64)
            }
            Payload::F64 => self.varint((a as u64 | (b as u64) << 32).swap_bytes()),
        }
        self.entries += 1;
    }

    /// Ends the frame in progress: appends its CRC, COBS-encodes it into `out` and terminates
    /// it with `0x00`. Returns the bytes written (0 if no frame was in progress or `out` is
    /// shorter than [`ENCODED_CAPACITY`](super::ENCODED_CAPACITY) and the frame did not fit).
    pub fn finish(&mut self, out: &mut [u8]) -> usize {
        let len = core::mem::take(&mut self.len);
        self.batch = false;
        if len == 0 || len > FRAME_CAPACITY - CRC_LEN {
            return 0;
        }
        let crc = CRC.checksum(&self.raw[..len]).to_le_bytes();
        self.raw[len..len + CRC_LEN].copy_from_slice(&crc);
        match cobs::try_encode(&self.raw[..len + CRC_LEN], out) {
            Ok(n) if n < out.len() => {
                out[n] = 0;
                n + 1
            }
            _ => 0,
        }
    }
}

/// Direct-mapped callsite table: bits 4..8 of `id ^ id >> 1` pick the slot (two instructions on
/// Thumb-2); a miss costs one definition entry. Callsites are statics laid out at a fixed
/// stride (32 bytes on 32-bit targets, 48 on x86_64), so neighbours land in different slots:
/// 97% distinct slots for 8 neighbours at strides 32–96, where a Fibonacci hash of the id gets
/// 71% (its top bits repeat every 3 callsites at stride 48). The decoder does not need this
/// function: the slot is on the wire.
#[inline(always)]
fn slot_of(id: u32) -> usize {
    ((id ^ id >> 1) >> 4 & 0xF) as usize
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

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_end("héllo", 2), "h");
        assert_eq!(truncate_end("abc", 5), "abc");
        assert_eq!(truncate_start("/a/é/main.rs", 9), "/main.rs");
        assert_eq!(truncate_start("x.rs", 9), "x.rs");
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
        let mut out = [0; super::super::ENCODED_CAPACITY];
        assert!(enc.finish(&mut out) > FRAME_CAPACITY - 10);
    }
}
