//! Streaming decoder: bytes in arbitrary chunks → [`Item`]s, in a fixed-size buffer.
//!
//! Frames are collected up to their `0x00` delimiter (found with `memchr`; at most
//! [`MAX_FRAME_LEN`] decoded bytes, a longer run is dropped as it arrives), COBS-decoded in
//! place, CRC-checked (slice-by-16) and parsed.
//! Anything that fails is reported once as [`Item::Skipped`] with its stream offset, merged with
//! neighbouring bad bytes, just before the next good frame (or at [`Decoder::finish`]).
//! Every read is bounds-checked and every time sum wraps: no input panics or allocates.
//!
//! Two ways out: [`Decoder::feed`] calls a closure per [`Item`]; [`Decoder::feed_sink`] hands a
//! batch's records over as slices of [`Rec`] to a [`Sink`], one call per run of records instead
//! of one per record: the host CLI's throughput is decided there.

use super::{
    body, callsite_kind_from_u8, frame_type, level_from_u8, op, payload_of, CallsiteInfo, DecodeError, Item,
    Payload, StreamHeader, FORMAT_VERSION, MAGIC, MAX_FRAME_LEN, NOT_A_TRACE_LIMIT,
};
use crate::record::Kind;

/// CRC-32C, slice-by-16: the decoder runs on hosts, where 16 KiB of tables buy several times
/// the speed of the encoder's one-table loop (same algorithm as [`super::CRC`]).
#[cfg(any(not(feature = "hw-crc"), test))]
static CRC16: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// A frame's CRC-32C.
#[cfg(not(feature = "hw-crc"))]
#[inline]
fn checksum(frame: &[u8]) -> u32 {
    CRC16.checksum(frame)
}

/// A frame's CRC-32C, with the CPU's instruction where it has one.
#[cfg(feature = "hw-crc")]
#[inline]
fn checksum(frame: &[u8]) -> u32 {
    crc32c::crc32c(frame)
}

/// Encoded bytes a frame of [`MAX_FRAME_LEN`] can take.
const BUF_LEN: usize = cobs::max_encoding_length(MAX_FRAME_LEN);

/// A CRC-valid frame whose body does not parse (an encoder bug or a CRC collision).
struct Malformed;

/// A record of a batch frame: what [`Item::Record`] carries, without the context. A loss
/// travels as kind [`Kind::Loss`] with the count in `a` (its `ts` is the batch's time so far).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rec {
    /// Ticks, 64-bit.
    pub ts: u64,
    /// Callsite id (0 for kinds without one).
    pub callsite: u32,
    /// Payload, as in [`Item::Record`].
    pub a: u32,
    /// Payload, as in [`Item::Record`].
    pub b: u32,
    /// What happened.
    pub kind: Kind,
}

impl Rec {
    /// The record as the [`Item`] [`Decoder::feed`] hands out.
    #[inline]
    pub fn item(&self, ctx: u32) -> Item<'static> {
        match self.kind {
            Kind::Loss => Item::Loss { ctx, count: self.a },
            kind => Item::Record { ctx, ts: self.ts, kind, callsite: self.callsite, a: self.a, b: self.b },
        }
    }
}

/// Receives what a [`Decoder`] finds, records in runs ([`Decoder::feed_sink`]).
pub trait Sink {
    /// Any item but a record or a loss.
    fn item(&mut self, item: Item<'_>);
    /// Consecutive records (and losses) of one batch of context `ctx`, in stream order; a
    /// batch may come in several calls.
    fn records(&mut self, ctx: u32, records: &[Rec]);
}

/// A closure taking every item, as a [`Sink`]: for code handed a sink that wants items, records
/// one by one (expanded from their runs).
pub struct Items<F>(pub F);

impl<F: FnMut(Item<'_>)> Sink for Items<F> {
    fn item(&mut self, item: Item<'_>) {
        (self.0)(item)
    }
    fn records(&mut self, ctx: u32, records: &[Rec]) {
        records.iter().for_each(|r| (self.0)(r.item(ctx)))
    }
}

/// Where [`Decoder::end_chunk`] puts what it finds: a closure per item ([`Each`]) or a [`Sink`]
/// taking records in runs ([`Runs`]).
trait Out {
    fn item(&mut self, item: Item<'_>);
    /// Parses the entries of a batch of context `ctx` (see [`entries`]).
    fn batch(&mut self, ctx: u32, c: &mut Cursor<'_>) -> Result<(), Malformed>;
}

/// A closure taking every item, records one by one.
struct Each<F>(F);

impl<F: FnMut(Item<'_>)> Out for Each<F> {
    #[inline]
    fn item(&mut self, item: Item<'_>) {
        (self.0)(item)
    }
    #[inline]
    fn batch(&mut self, ctx: u32, c: &mut Cursor<'_>) -> Result<(), Malformed> {
        entries(c, &mut |r| (self.0)(r.item(ctx)))
    }
}

/// A [`Sink`], records gathered into runs of up to [`RUN`] (the buffer lives as long as one
/// `feed_sink` call, not one batch: filling it anew per batch would cost more than the records).
struct Runs<'a, S> {
    sink: &'a mut S,
    run: [Rec; RUN],
}

impl<'a, S: Sink> Runs<'a, S> {
    fn new(sink: &'a mut S) -> Self {
        Runs { sink, run: [Rec { ts: 0, callsite: 0, a: 0, b: 0, kind: Kind::Sync }; RUN] }
    }
}

impl<S: Sink> Out for Runs<'_, S> {
    #[inline]
    fn item(&mut self, item: Item<'_>) {
        self.sink.item(item)
    }
    #[inline]
    fn batch(&mut self, ctx: u32, c: &mut Cursor<'_>) -> Result<(), Malformed> {
        let Runs { sink, run } = self;
        let mut n = 0;
        let result = entries(c, &mut |r| {
            if n == RUN {
                sink.records(ctx, run);
                n = 0;
            }
            run[n] = r;
            n += 1;
        });
        sink.records(ctx, &run[..n]);
        result
    }
}

/// Records a batch parse hands over per [`Sink::records`] call (at most; a batch holds fewer
/// than `MAX_FRAME_LEN / 2`).
const RUN: usize = 128;

/// Streaming decoder of a tickspan byte stream. About 1 KiB, no allocation.
pub struct Decoder {
    buf: [u8; BUF_LEN],
    len: usize,
    /// The current chunk outgrew `buf`: its bytes are being dropped up to the next `0x00`.
    overflow: bool,
    /// Stream offset of the next input byte.
    offset: u64,
    /// Stream offset of the current chunk's first byte.
    chunk_start: u64,
    /// Start of bad data not reported yet.
    bad_start: Option<u64>,
    /// Valid frames seen so far.
    frames: u64,
    fatal: Option<DecodeError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at the start of a stream.
    pub const fn new() -> Self {
        Decoder {
            buf: [0; BUF_LEN],
            len: 0,
            overflow: false,
            offset: 0,
            chunk_start: 0,
            bad_start: None,
            frames: 0,
            fatal: None,
        }
    }

    /// Valid frames decoded so far (0 after [`finish`](Self::finish) on a non-trace input).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Feeds bytes; calls `sink` for every complete item. Errors only for unusable streams
    /// (unknown format version, input that is not a tickspan stream); after one, every call
    /// returns it again.
    pub fn feed(&mut self, input: &[u8], sink: &mut impl FnMut(Item<'_>)) -> Result<(), DecodeError> {
        self.feed_out(input, &mut Each(sink))
    }

    /// [`feed`](Self::feed), handing records over in runs.
    pub fn feed_sink(&mut self, input: &[u8], sink: &mut impl Sink) -> Result<(), DecodeError> {
        self.feed_out(input, &mut Runs::new(sink))
    }

    fn feed_out(&mut self, input: &[u8], sink: &mut impl Out) -> Result<(), DecodeError> {
        if let Some(e) = self.fatal {
            return Err(e);
        }
        let mut rest = input;
        while !rest.is_empty() {
            // Until the first valid frame, stop at byte NOT_A_TRACE_LIMIT so that the verdict
            // does not depend on how the input was split into calls.
            let mut piece = rest;
            if self.frames == 0 && self.offset <= NOT_A_TRACE_LIMIT {
                let cap = (NOT_A_TRACE_LIMIT + 1 - self.offset) as usize;
                piece = &rest[..cap.min(rest.len())];
            }
            match memchr::memchr(0, piece) {
                Some(i) => {
                    self.append(&piece[..i]);
                    self.offset += i as u64 + 1;
                    rest = &rest[i + 1..];
                    self.end_chunk(sink);
                    if let Some(e) = self.fatal {
                        return Err(e);
                    }
                }
                None => {
                    self.append(piece);
                    self.offset += piece.len() as u64;
                    rest = &rest[piece.len()..];
                }
            }
            if self.frames == 0 && self.offset > NOT_A_TRACE_LIMIT {
                self.fatal = Some(DecodeError::NotATrace);
                return Err(DecodeError::NotATrace);
            }
        }
        Ok(())
    }

    /// End of input: decodes a last frame that lacks only its `0x00`, reports whatever else
    /// is left as [`Item::Skipped`], and resets the decoder for a new stream.
    pub fn finish(&mut self, sink: &mut impl FnMut(Item<'_>)) {
        self.finish_out(&mut Each(sink))
    }

    /// [`finish`](Self::finish), handing records over in runs.
    pub fn finish_sink(&mut self, sink: &mut impl Sink) {
        self.finish_out(&mut Runs::new(sink))
    }

    fn finish_out(&mut self, sink: &mut impl Out) {
        if self.fatal.is_none() && (self.len > 0 || self.overflow) {
            self.end_chunk(sink);
        }
        if let Some(start) = self.bad_start.take() {
            sink.item(Item::Skipped { offset: start, bytes: self.offset - start });
        }
        *self = Decoder::new();
    }

    fn append(&mut self, part: &[u8]) {
        if self.overflow {
            return;
        }
        match self.buf.get_mut(self.len..self.len + part.len()) {
            Some(dst) => {
                dst.copy_from_slice(part);
                self.len += part.len();
            }
            None => self.overflow = true,
        }
    }

    /// The chunk `[chunk_start, offset - 1)` ended (at a `0x00` or at end of input).
    fn end_chunk(&mut self, sink: &mut impl Out) {
        let (start, len, overflow) = (self.chunk_start, self.len, self.overflow);
        self.chunk_start = self.offset;
        self.len = 0;
        self.overflow = false;
        if len == 0 && !overflow {
            return; // consecutive delimiters
        }
        let raw_len = match (overflow, unstuff(&mut self.buf[..len])) {
            (false, Some(n)) if n > 4 => n,
            _ => return self.mark_bad(start),
        };
        let (frame, crc) = self.buf[..raw_len].split_at(raw_len - 4);
        if checksum(frame).to_le_bytes() != crc {
            return self.mark_bad(start);
        }
        self.frames += 1;
        if let Some(bad) = self.bad_start.take() {
            sink.item(Item::Skipped { offset: bad, bytes: start - bad });
        }
        let (ty, body) = (frame[0], &frame[1..]);
        let result = match ty {
            frame_type::HEADER => match header(body) {
                Ok(Ok(h)) => {
                    sink.item(Item::Header(h));
                    Ok(())
                }
                Ok(Err(e)) => {
                    self.fatal = Some(e);
                    Ok(())
                }
                Err(m) => Err(m),
            },
            frame_type::CALLSITE => callsite(body).map(|c| sink.item(Item::Callsite(c))),
            frame_type::CONTEXT => postcard::take_from_bytes::<body::Context>(body)
                .map(|(c, _)| sink.item(Item::Context { ctx: c.ctx, name: c.name }))
                .map_err(|_| Malformed),
            frame_type::SYNC => postcard::take_from_bytes::<body::Sync>(body)
                .map(|(s, _)| sink.item(Item::Sync { ts: s.ts, unix_ns: s.unix_ns }))
                .map_err(|_| Malformed),
            frame_type::BATCH => batch(body, sink),
            frame_type::AMBIGUOUS => postcard::take_from_bytes::<body::Ambiguous>(body)
                .map(|(a, _)| {
                    let (ctx, earliest, first, last, records) = (a.ctx, a.earliest, a.first, a.last, a.records);
                    sink.item(Item::Ambiguous { ctx, earliest, first, last, records })
                })
                .map_err(|_| Malformed),
            _ => Err(Malformed),
        };
        if result.is_err() {
            self.mark_bad(start);
        }
    }

    fn mark_bad(&mut self, start: u64) {
        self.bad_start.get_or_insert(start);
    }
}

/// The header, or the fatal error its version calls for.
fn header(body: &[u8]) -> Result<Result<StreamHeader<'_>, DecodeError>, Malformed> {
    let (magic, rest) = body.split_at_checked(4).ok_or(Malformed)?;
    if magic != MAGIC {
        return Err(Malformed);
    }
    let (v, rest) = rest.split_at_checked(2).ok_or(Malformed)?;
    let version = u16::from_le_bytes([v[0], v[1]]);
    // Version 1 is version 2 without ambiguous-time frames: read both.
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Ok(Err(DecodeError::UnsupportedVersion(version)));
    }
    // Trailing bytes are allowed: later minor revisions may append fields.
    let (h, rest) = postcard::take_from_bytes::<body::Header>(rest).map_err(|_| Malformed)?;
    // Version 3 appends the node name; absent, or unreadable as a string, it is empty.
    let name = postcard::take_from_bytes::<&str>(rest).map_or("", |(n, _)| n);
    Ok(Ok(StreamHeader {
        version,
        clock_hz: h.clock_hz,
        clock_wrap: h.clock_wrap,
        node: h.node,
        target: h.target,
        name,
    }))
}

fn callsite(body: &[u8]) -> Result<CallsiteInfo<'_>, Malformed> {
    let (c, _) = postcard::take_from_bytes::<body::Callsite>(body).map_err(|_| Malformed)?;
    Ok(CallsiteInfo {
        id: c.id,
        kind: callsite_kind_from_u8(c.kind).ok_or(Malformed)?,
        level: level_from_u8(c.level).ok_or(Malformed)?,
        line: c.line,
        name: c.name,
        file: c.file,
    })
}

/// COBS-decodes a chunk (bytes between delimiters, so no zero among them) in place and
/// returns the decoded length, or `None` if a code byte points past the end. What the `cobs`
/// crate's `decode_in_place` does, with block copies instead of a byte loop and without
/// searching the chunk for a zero again: the decoder's throughput is the CLI's.
fn unstuff(buf: &mut [u8]) -> Option<usize> {
    let (mut src, mut dst, end) = (0, 0, buf.len());
    while src < end {
        let code = buf[src] as usize;
        let next = src + code;
        if code == 0 || next > end {
            return None;
        }
        buf.copy_within(src + 1..next, dst);
        dst += code - 1;
        src = next;
        // Every block but a full one (255) and the last ends with an implied zero; `dst` stays
        // below `src`, so this is in bounds.
        if code != 0xFF && src < end {
            buf[dst] = 0;
            dst += 1;
        }
    }
    Some(dst)
}

/// Bounds-checked reader of a batch body.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    #[inline(always)]
    fn byte(&mut self) -> Result<u8, Malformed> {
        let b = *self.buf.get(self.pos).ok_or(Malformed)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64, Malformed> {
        // Most varints are one byte (deltas, small payloads).
        if let Some(&b) = self.buf.get(self.pos).filter(|&&b| b < 0x80) {
            self.pos += 1;
            return Ok(b as u64);
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= ((b & 0x7F) as u64) << shift;
            if b < 0x80 {
                // The tenth byte may only carry the top bit.
                return if shift == 63 && b > 1 { Err(Malformed) } else { Ok(v) };
            }
        }
        Err(Malformed)
    }

    #[inline(always)]
    fn varint32(&mut self) -> Result<u32, Malformed> {
        u32::try_from(self.varint()?).map_err(|_| Malformed)
    }
}

/// Parses a batch, handing its entries to `sink`: a malformed entry ends the batch (the entries
/// before it were valid and are kept).
fn batch(body: &[u8], sink: &mut impl Out) -> Result<(), Malformed> {
    let mut c = Cursor { buf: body, pos: 0 };
    let ctx = c.varint32()?;
    sink.batch(ctx, &mut c)
}

/// The entries of a batch body after its context id.
#[inline(always)]
fn entries(c: &mut Cursor<'_>, out: &mut impl FnMut(Rec)) -> Result<(), Malformed> {
    let mut cur = c.varint()?;
    let mut slots = [None::<u32>; 16];
    while c.pos < c.buf.len() {
        let head = c.byte()?;
        let (code, slot) = (head & 0xF, (head >> 4) as usize);
        // Span enter and exit are most entries: a callsite, a time delta, no payload.
        if code == Kind::SpanEnter as u8 || code == Kind::SpanExit as u8 {
            let callsite = slots[slot].ok_or(Malformed)?;
            cur = cur.wrapping_add(c.varint()?);
            let kind = if code == Kind::SpanEnter as u8 { Kind::SpanEnter } else { Kind::SpanExit };
            out(Rec { ts: cur, callsite, a: 0, b: 0, kind });
            continue;
        }
        match code {
            op::REBASE if slot == 0 => cur = c.varint()?,
            // A field: its type in the slot nibble (1 + `FieldType`), its key's slot next.
            op::REBASE if slot <= 2 => {
                let key = c.byte()? as usize;
                let callsite = slots.get(key).copied().flatten().ok_or(Malformed)?;
                cur = cur.wrapping_add(c.varint()?);
                let a = c.varint32()?;
                out(Rec { ts: cur, callsite, a, b: slot as u32 - 1, kind: Kind::Field });
            }
            op::DEFINE => {
                let id = c.varint32()?;
                if id >= 1 << 28 {
                    return Err(Malformed);
                }
                slots[slot] = Some(id << 4);
            }
            _ => {
                let kind = Kind::from_bits(code as u32).ok_or(Malformed)?;
                if kind == Kind::Loss {
                    if slot != 0 {
                        return Err(Malformed);
                    }
                    out(Rec { ts: cur, callsite: 0, a: c.varint32()?, b: 0, kind });
                    continue;
                }
                let callsite = if super::has_callsite(kind) {
                    slots[slot].ok_or(Malformed)?
                } else if super::has_field(kind) {
                    (slot as u32) << 4
                } else if slot == 0 {
                    0
                } else {
                    return Err(Malformed);
                };
                cur = cur.wrapping_add(c.varint()?);
                let (a, b) = match payload_of(kind) {
                    Payload::None => (0, 0),
                    Payload::A => (c.varint32()?, 0),
                    Payload::AB => (c.varint32()?, c.varint32()?),
                    Payload::U64 => split(c.varint()?),
                    Payload::I64 => {
                        let z = c.varint()?;
                        split(((z >> 1) as i64 ^ -((z & 1) as i64)) as u64)
                    }
                    Payload::F64 => split(c.varint()?.swap_bytes()),
                    Payload::Fixed64 => {
                        let end = c.pos.checked_add(8).filter(|&e| e <= c.buf.len()).ok_or(Malformed)?;
                        let v = u64::from_le_bytes(c.buf[c.pos..end].try_into().expect("8 bytes"));
                        c.pos = end;
                        split(v)
                    }
                };
                out(Rec { ts: cur, callsite, a, b, kind });
            }
        }
    }
    Ok(())
}

#[inline(always)]
fn split(v: u64) -> (u32, u32) {
    (v as u32, (v >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::{checksum, unstuff, CRC16};

    #[test]
    fn checksum_is_crc32c_whichever_implementation() {
        assert_eq!(checksum(b"123456789"), 0xE306_9283);
        let data: Vec<u8> = (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 255, 1024, 2000] {
            for start in [0, 1, 3] {
                let s = &data[start..start + len.min(data.len() - start)];
                assert_eq!(checksum(s), CRC16.checksum(s), "{} bytes at {start}", s.len());
            }
        }
    }

    #[test]
    fn unstuff_inverts_the_cobs_crate() {
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0; 5], vec![1, 0, 2, 0, 0, 3]];
        for n in [253, 254, 255, 256, 508, 509, 700] {
            cases.push((0..n).map(|i| (i % 251 + 1) as u8).collect());
            cases.push((0..n).map(|i| (i % 7) as u8).collect());
        }
        for data in cases {
            let mut enc = vec![0u8; cobs::max_encoding_length(data.len())];
            let n = cobs::encode(&data, &mut enc);
            enc.truncate(n);
            let mut forms = vec![enc.clone()];
            if !data.is_empty() && data.len() % 254 == 0 && !data.contains(&0) {
                // Ends with a full block: tickspan's encoder closes it with an empty block.
                forms.push([enc, vec![1]].concat());
            }
            for mut e in forms {
                let m = unstuff(&mut e).expect("valid COBS");
                assert_eq!(&e[..m], &data[..], "{} bytes", data.len());
            }
        }
    }

    #[test]
    fn unstuff_rejects_codes_past_the_end() {
        assert_eq!(unstuff(&mut [5, 1, 2]), None);
        assert_eq!(unstuff(&mut [0, 1]), None);
        assert_eq!(unstuff(&mut [3, 1, 2]), Some(2));
    }
}
