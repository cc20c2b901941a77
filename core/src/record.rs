//! The fixed-size record every trace point writes: 16 bytes, four little-endian words.
//!
//! ```text
//! word 0  tag   bits 0..4 kind, bits 4..32 callsite id >> 4 (callsites are 16-byte aligned)
//! word 1  ts    low 32 bits of the context's clock
//! word 2  a     kind-specific (span id, IRQ number, task id, value low word)
//! word 3  b     bits 32..64 of the clock, or kind-specific (parent span id, value high word)
//! ```
//!
//! A slot whose tag is 0 holds no record. The context (thread, core, interrupt level) is not
//! repeated in every record: each context owns its ring, and the drain names the ring in each
//! batch. The full layout and its stability rules are in `docs/record-layout.md`.

/// What a record says happened. Four bits on the wire and in memory.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// A scoped span was entered; it nests LIFO in its context (no id needed).
    SpanEnter = 1,
    /// The innermost open scoped span of the context ended.
    SpanExit = 2,
    /// A point event; `a` holds its `u32` value.
    Event = 3,
    /// A value, unsigned: `a | b << 32`.
    ValueU = 4,
    /// An interrupt handler started; `a` is the exception/IRQ number.
    IsrEnter = 5,
    /// An interrupt handler returned; `a` is the exception/IRQ number.
    IsrExit = 6,
    /// The context switched to another task; `a` is the task id, `b` the clock high bits.
    TaskSwitch = 7,
    /// Clock extension: `a` holds bits 32..64 of the clock at `ts`.
    Sync = 8,
    /// `a` records were lost in this context just before this point.
    Loss = 9,
    /// A manual span started; `a` is its id, `b` its parent's id (0 = none).
    SpanStart = 10,
    /// A manual span ended; `a` is its id. May come from another context.
    SpanEnd = 11,
    /// A value, signed: `(a | b << 32) as i64`.
    ValueI = 12,
    /// A value, floating point: `f64::from_bits(a | b << 32)`.
    ValueF = 13,
    /// A field of the event or span enter just before it in its context, for the value types
    /// the value kinds do not cover: `b` says which (`FieldType`), `a` is the value (a bool,
    /// or an interned string's callsite id). Its callsite (kind `Field`) names the key, or
    /// (kind `Format`) the formatted record whose argument it is.
    Field = 14,
    /// Trace context of the innermost open span: `a | b << 32` is the 64-bit field that tag
    /// bits 4..6 name (`trace_context::LinkField`), bits 6..8 the W3C trace flags. No callsite.
    /// 15, the batch opcode it travels as (14 is the wire's callsite definition).
    Link = 15,
}

/// What the `a` word of a [`Kind::Field`] record holds, from its `b` word.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// 0 or 1.
    Bool = 0,
    /// The callsite id of an interned string (callsite kind `Str`).
    Str = 1,
}

impl FieldType {
    /// The type a field record's `b` word names; `None` for values no writer produces.
    #[inline]
    pub const fn from_bits(b: u32) -> Option<FieldType> {
        match b {
            0 => Some(FieldType::Bool),
            1 => Some(FieldType::Str),
            _ => None,
        }
    }
}

/// Bits of the `a` word of a status record (a `ValueU` record of a `Status` callsite).
///
/// Without [`status::SPAN`] a status names the innermost scoped span open in its context;
/// with it, the manual span whose id is `b`, which may have been started in another context.
pub mod status {
    /// The span failed (else it succeeded).
    pub const ERROR: u32 = 1;
    /// `b` is the id of the manual span the record is about.
    pub const SPAN: u32 = 2;
    /// With [`SPAN`]: no status, the field records right after this one are fields of span `b`
    /// (a manual span's fields after its start, as [`annotate!`](crate::annotate) writes them).
    pub const TARGET: u32 = 4;
}

impl Kind {
    /// Decodes the low four bits of a tag; `None` for 0 (empty) and unassigned values.
    #[inline]
    pub const fn from_bits(bits: u32) -> Option<Kind> {
        Some(match bits & 0xF {
            1 => Kind::SpanEnter,
            2 => Kind::SpanExit,
            3 => Kind::Event,
            4 => Kind::ValueU,
            5 => Kind::IsrEnter,
            6 => Kind::IsrExit,
            7 => Kind::TaskSwitch,
            8 => Kind::Sync,
            9 => Kind::Loss,
            10 => Kind::SpanStart,
            11 => Kind::SpanEnd,
            12 => Kind::ValueI,
            13 => Kind::ValueF,
            14 => Kind::Field,
            15 => Kind::Link,
            _ => return None,
        })
    }
}

/// One trace record. `#[repr(C)]`, 16 bytes, no padding, every bit pattern valid.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Record {
    /// Kind (bits 0..4) and callsite id (bits 4..32).
    pub tag: u32,
    /// Low 32 bits of the context clock.
    pub ts: u32,
    /// First payload word (meaning depends on the kind).
    pub a: u32,
    /// Second payload word (meaning depends on the kind).
    pub b: u32,
}

const _: () = assert!(core::mem::size_of::<Record>() == 16);

/// Mask of the callsite id bits in a tag.
pub const CALLSITE_MASK: u32 = !0xF;

impl Record {
    /// Builds a record; `callsite` must have its low four bits clear.
    #[inline(always)]
    pub const fn new(kind: Kind, callsite: u32, ts: u32, a: u32, b: u32) -> Record {
        Record { tag: callsite | kind as u32, ts, a, b }
    }

    /// The record's kind, or `None` for an empty or unknown tag.
    #[inline]
    pub const fn kind(&self) -> Option<Kind> {
        Kind::from_bits(self.tag)
    }

    /// Whether the record could have been written by tickspan: a known kind, a callsite where
    /// the kind has one, and for a link record nothing above its field and flags. What a host
    /// reading raw ring memory (post-mortem) checks before trusting a slot.
    #[inline]
    pub const fn well_formed(&self) -> bool {
        match self.kind() {
            None => false,
            Some(Kind::Sync | Kind::Loss) => true,
            Some(Kind::Link) => self.tag & !0xFF == 0,
            Some(Kind::Field) => self.callsite() != 0 && FieldType::from_bits(self.b).is_some(),
            Some(_) => self.callsite() != 0,
        }
    }

    /// The callsite id (the callsite's 16-byte-aligned address or offset; 0 for none).
    #[inline]
    pub const fn callsite(&self) -> u32 {
        self.tag & CALLSITE_MASK
    }

    /// The 64-bit payload of a value record.
    #[inline]
    pub const fn value(&self) -> u64 {
        self.a as u64 | (self.b as u64) << 32
    }

    /// The record as four words, the order they sit in a ring slot.
    #[inline(always)]
    pub const fn to_words(self) -> [u32; 4] {
        [self.tag, self.ts, self.a, self.b]
    }

    /// The record from the four words of a ring slot.
    #[inline(always)]
    pub const fn from_words(w: [u32; 4]) -> Record {
        Record { tag: w[0], ts: w[1], a: w[2], b: w[3] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_round_trips_through_tag_bits() {
        for bits in 0..16u32 {
            match Kind::from_bits(bits) {
                Some(k) => assert_eq!(k as u32, bits),
                None => assert!(bits == 0),
            }
        }
        let r = Record::new(Kind::ValueU, 0x1230, 7, 0xdead_beef, 0x1);
        assert_eq!(r.kind(), Some(Kind::ValueU));
        assert_eq!(r.callsite(), 0x1230);
        assert_eq!(r.value(), 0x1_dead_beef);
        assert_eq!(Record::from_words(r.to_words()), r);
        assert_eq!(Record::default().kind(), None);
        assert!(!Record::default().well_formed());
        assert!(Record::new(Kind::Link, 0x30, 1, 2, 3).well_formed());
        assert!(!Record { tag: 0xFFFF_FFFF, ts: 0, a: 0, b: 0 }.well_formed());
        assert!(!Record::new(Kind::SpanEnter, 0, 1, 0, 0).well_formed());
        // A field: key callsite, value in `a`, type in `b`.
        let f = Record::new(Kind::Field, 0x40, 9, 1, FieldType::Bool as u32);
        assert_eq!(f.to_words(), [0x4E, 9, 1, 0]);
        assert!(f.well_formed());
        assert!(!Record::new(Kind::Field, 0x40, 9, 1, 7).well_formed(), "unknown field type");
        assert!(!Record::new(Kind::Field, 0, 9, 1, 0).well_formed(), "no key");
    }
}
