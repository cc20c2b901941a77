//! The wire format: how records, callsite names, context names, losses and clock anchors travel
//! from a drain to a host. Specified byte for byte in `docs/wire-format.md`.
//!
//! A stream is a sequence of frames. Each frame is `type byte | body | CRC-32C (LE)`, COBS-encoded
//! and terminated by `0x00`, so a receiver that joins late or loses bytes resynchronises at the
//! next `0x00` and a damaged frame fails its CRC instead of being misread.
//!
//! * [`encode::FrameEncoder`] builds frames (always available, `no_std`, no allocation); the
//!   [`Drain`](crate::drain::Drain) uses it to turn ring contents into a stream.
//! * `Decoder` (feature `decode`; not a link, so that docs build without it) turns a byte stream
//!   back into [`Item`]s, in bounded memory.
//!
//! ```
//! # #[cfg(feature = "decode")] {
//! use tickspan::wire::{encode::FrameEncoder, Decoder, Item, ENCODED_CAPACITY};
//! use tickspan::Kind;
//!
//! let mut enc = FrameEncoder::new();
//! let mut out = [0u8; ENCODED_CAPACITY];
//! enc.begin_batch(0, 1_000);
//! enc.record(Kind::SpanEnter, 0x40, 1_000, 0, 0);
//! enc.record(Kind::SpanExit, 0x40, 1_090, 0, 0);
//! let n = enc.finish(&mut out);
//!
//! let mut times = Vec::new();
//! Decoder::new()
//!     .feed(&out[..n], &mut |item| {
//!         if let Item::Record { ts, .. } = item {
//!             times.push(ts)
//!         }
//!     })
//!     .unwrap();
//! assert_eq!(times, [1_000, 1_090]);
//! # }
//! ```

use crate::callsite::{CallsiteKind, Level};
use crate::record::Kind;

pub mod encode;

#[cfg(feature = "decode")]
mod decode;
#[cfg(feature = "decode")]
pub use decode::{Decoder, Items, Rec, Sink};

/// Version of the wire format this crate writes and reads (`docs/wire-format.md`, version table).
///
/// Also in the binary as the symbol `_tickspan_version_ = 5` (see [`version_symbol`]).
/// Decoders read versions 1 to 4 too: each is a subset of the next (the version table says
/// what each added).
pub const FORMAT_VERSION: u16 = 5;

/// Every stream-header frame body starts with these bytes, then the format version (u16 LE).
pub const MAGIC: [u8; 4] = *b"TSPN";

/// Largest frame a decoder accepts: type byte, body and CRC, before COBS. Longer → skipped.
pub const MAX_FRAME_LEN: usize = 1024;

/// Largest frame the drain writes (before COBS): small enough for a few hundred bytes of RAM on
/// a microcontroller, large enough that batch overhead stays below 0.2 byte per record.
pub const FRAME_CAPACITY: usize = 256;

/// Buffer size that holds any frame [`encode::FrameEncoder::finish`] writes (COBS + `0x00`).
pub const ENCODED_CAPACITY: usize = cobs::max_encoding_length(FRAME_CAPACITY) + 1;

/// Frame type bytes (first byte of every frame).
pub mod frame_type {
    /// Stream header: magic, version, clock, node, target.
    pub const HEADER: u8 = 0x01;
    /// Callsite dictionary entry.
    pub const CALLSITE: u8 = 0x02;
    /// Context name.
    pub const CONTEXT: u8 = 0x03;
    /// Clock anchor.
    pub const SYNC: u8 = 0x04;
    /// Record batch of one context.
    pub const BATCH: u8 = 0x05;
    /// Records whose times the drain could not bound to one clock period (version 2).
    pub const AMBIGUOUS: u8 = 0x06;
}

/// Opcodes of batch entries that are not record kinds (low nibble of the entry's first byte;
/// record kinds use their [`Kind`] value, 1..=13 and 15).
pub(crate) mod op {
    /// Sets the batch's current time to an absolute varint (time went backwards).
    pub const REBASE: u8 = 0x0;
    /// Binds callsite slot `hi nibble` to the varint id (`id >> 4`) that follows.
    pub const DEFINE: u8 = 0xE;
    /// A field record (version 4): `0x10 | type << 4`, then the key's slot byte, the delta and
    /// `a`. Record kind 14 cannot use its own value: that is [`DEFINE`].
    pub const FIELD: u8 = 0x10;
}

/// The format version as a linker symbol, as defmt does: a host can read it from an ELF and
/// refuse a mismatched decoder before any byte flows. Bump the name with [`FORMAT_VERSION`].
///
/// It survives `--gc-sections` in every binary that drains, because [`version_symbol`] (which
/// the drain's header uses) reads it.
#[used]
#[export_name = "_tickspan_version_ = 5"]
static VERSION_SYMBOL: u16 = FORMAT_VERSION;

/// Reads the version symbol (what the drain writes into the stream header).
#[inline(never)]
pub fn version_symbol() -> u16 {
    // SAFETY: a plain read of an initialised, aligned static; volatile only so the symbol is
    // referenced and kept by the linker.
    unsafe { core::ptr::read_volatile(&VERSION_SYMBOL) }
}

/// CRC-32C (Castagnoli) over type byte and body: the reference the encoder's own tables are
/// tested against.
#[cfg(test)]
pub(crate) const CRC: crc::Crc<u32, crc::Table<1>> = crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISCSI);

/// The stream header: what a host needs before it can read anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamHeader<'a> {
    /// Wire format version of the stream.
    pub version: u16,
    /// Clock ticks per second (0 = unknown: show ticks).
    pub clock_hz: u64,
    /// Clock counter modulus as the target sees it (0 = 2^64). Informational: timestamps on the
    /// wire are already 64-bit.
    pub clock_wrap: u64,
    /// Stream or node id, chosen by the application (0 by default).
    pub node: u64,
    /// Target description (e.g. `thumbv7m-none-eabi`).
    pub target: &'a str,
    /// Node name (a service, a device: what views label its spans with); empty if unnamed.
    pub name: &'a str,
}

/// A callsite dictionary entry: what a record's callsite id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallsiteInfo<'a> {
    /// The id records carry (low four bits clear).
    pub id: u32,
    /// What the callsite records.
    pub kind: CallsiteKind,
    /// Its level.
    pub level: Level,
    /// Source line.
    pub line: u32,
    /// Span, event or value name.
    pub name: &'a str,
    /// Source file (may be shortened from the left to fit a frame).
    pub file: &'a str,
}

/// One decoded element of a stream, in stream order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item<'a> {
    /// Stream header.
    Header(StreamHeader<'a>),
    /// Callsite dictionary entry (std streams describe themselves).
    Callsite(CallsiteInfo<'a>),
    /// Names a context (a thread name, "thread mode", …).
    Context {
        /// Context id (ring index).
        ctx: u32,
        /// Its name.
        name: &'a str,
    },
    /// A record, its timestamp extended to 64 bits.
    Record {
        /// Context id (ring index).
        ctx: u32,
        /// Ticks, 64-bit.
        ts: u64,
        /// What happened.
        kind: Kind,
        /// Callsite id (0 for [`Kind::Sync`]); for [`Kind::Link`] the tag bits 4..8 (field
        /// and flags, `trace_context::LinkField`).
        callsite: u32,
        /// Payload: value low word, span id, IRQ number, task id, event value; else 0.
        a: u32,
        /// Payload: value high word, parent span id; else 0.
        b: u32,
    },
    /// `count` records of context `ctx` were lost at this point of its sequence.
    Loss {
        /// Context id.
        ctx: u32,
        /// Records lost.
        count: u32,
    },
    /// Clock anchor: tick `ts` happened at wall time `unix_ns` (0 = unknown).
    Sync {
        /// Ticks, 64-bit.
        ts: u64,
        /// Nanoseconds since the Unix epoch, or 0.
        unix_ns: u64,
    },
    /// `records` records of context `ctx`, decoded with times `first` to `last`, may each be
    /// dated whole clock periods late: the drain could not bound their age to one period (it
    /// read the clock less often than once per period, or they were written before its first
    /// reading). They were written after `earliest` (0 = unknown). Version 2.
    Ambiguous {
        /// Context id.
        ctx: u32,
        /// Lower bound of their true times (0 = unknown).
        earliest: u64,
        /// Decoded time of the first of them.
        first: u64,
        /// Decoded time of the last of them.
        last: u64,
        /// How many records (counted from the batch before this item).
        records: u32,
    },
    /// Corrupted, truncated or oversized data skipped while resynchronising.
    Skipped {
        /// Stream offset of the first skipped byte.
        offset: u64,
        /// Bytes skipped.
        bytes: u64,
    },
}

/// Why a stream cannot be decoded at all. Damaged frames are not errors: they become
/// [`Item::Skipped`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The stream header names a format version this decoder does not read.
    UnsupportedVersion(u16),
    /// No valid frame in the first [`NOT_A_TRACE_LIMIT`] bytes: not a tickspan stream.
    NotATrace,
}

/// A stream whose first this-many bytes hold no valid frame is rejected as
/// [`DecodeError::NotATrace`].
pub const NOT_A_TRACE_LIMIT: u64 = 4096;

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::UnsupportedVersion(v) => write!(
                f,
                "unsupported tickspan wire format version {v} (this decoder reads version {FORMAT_VERSION})"
            ),
            DecodeError::NotATrace => {
                write!(f, "not a tickspan trace: no valid frame in the first {NOT_A_TRACE_LIMIT} bytes")
            }
        }
    }
}

impl core::error::Error for DecodeError {}

#[cfg(feature = "decode")]
pub(crate) fn callsite_kind_from_u8(v: u8) -> Option<CallsiteKind> {
    Some(match v {
        0 => CallsiteKind::Span,
        1 => CallsiteKind::Event,
        2 => CallsiteKind::ValueU64,
        3 => CallsiteKind::ValueI64,
        4 => CallsiteKind::ValueF64,
        5 => CallsiteKind::Isr,
        6 => CallsiteKind::Task,
        7 => CallsiteKind::Field,
        8 => CallsiteKind::Status,
        9 => CallsiteKind::Str,
        10 => CallsiteKind::Format,
        _ => return None,
    })
}

#[cfg(feature = "decode")]
pub(crate) fn level_from_u8(v: u8) -> Option<Level> {
    Some(match v {
        0 => Level::Trace,
        1 => Level::Debug,
        2 => Level::Info,
        3 => Level::Warn,
        4 => Level::Error,
        _ => return None,
    })
}

/// What a batch entry of each kind carries after its time delta. Shared by encoder and decoder.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// Nothing (span enter/exit, sync).
    None,
    /// `a` as a varint (event, ISR, task switch, span end).
    A,
    /// `a` and `b` as varints (span start: id, parent).
    AB,
    /// `a | b << 32` as a varint.
    U64,
    /// `a | b << 32` as a zigzag varint.
    I64,
    /// `(a | b << 32).swap_bytes()` as a varint: round floats have zero low mantissa bytes.
    F64,
    /// `a | b << 32` as 8 bytes little-endian (link records: random ids).
    Fixed64,
}

pub(crate) const fn payload_of(kind: Kind) -> Payload {
    match kind {
        Kind::SpanEnter | Kind::SpanExit | Kind::Sync | Kind::Loss => Payload::None,
        Kind::Event | Kind::IsrEnter | Kind::IsrExit | Kind::TaskSwitch | Kind::SpanEnd => Payload::A,
        // Its `b` (the field type) travels in the head byte (`op::FIELD`).
        Kind::Field => Payload::A,
        Kind::SpanStart => Payload::AB,
        Kind::ValueU => Payload::U64,
        Kind::Link => Payload::Fixed64,
        Kind::ValueI => Payload::I64,
        Kind::ValueF => Payload::F64,
    }
}

/// Whether records of this kind name a callsite on the wire.
pub(crate) const fn has_callsite(kind: Kind) -> bool {
    !matches!(kind, Kind::Sync | Kind::Loss | Kind::Link)
}

/// Kinds whose head byte carries tag bits 4..8 in its slot nibble instead of a callsite slot.
pub(crate) const fn has_field(kind: Kind) -> bool {
    matches!(kind, Kind::Link)
}

/// Postcard bodies of the non-record frames. Field order is the wire order.
pub(crate) mod body {
    use serde::{Deserialize, Serialize};

    /// Header body after magic and version. The encoder writes it field by field.
    #[cfg(any(feature = "decode", test))]
    #[derive(Serialize, Deserialize)]
    pub struct Header<'a> {
        pub clock_hz: u64,
        pub clock_wrap: u64,
        pub node: u64,
        pub target: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Callsite<'a> {
        pub id: u32,
        pub kind: u8,
        pub level: u8,
        pub line: u32,
        pub name: &'a str,
        pub file: &'a str,
    }

    #[derive(Serialize, Deserialize)]
    pub struct Context<'a> {
        pub ctx: u32,
        pub name: &'a str,
    }

    /// The encoder writes it field by field.
    #[cfg(any(feature = "decode", test))]
    #[derive(Serialize, Deserialize)]
    pub struct Sync {
        pub ts: u64,
        pub unix_ns: u64,
    }

    /// The encoder writes it field by field.
    #[cfg(feature = "decode")]
    #[derive(Serialize, Deserialize)]
    pub struct Ambiguous {
        pub ctx: u32,
        pub earliest: u64,
        pub first: u64,
        pub last: u64,
        pub records: u32,
    }
}
