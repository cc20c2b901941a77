//! Joining the innermost open span of this context to a trace: link records and span ids.
//!
//! A span takes part in a distributed trace by the link records written right after it
//! opens ([`Kind::Link`], `docs/record-layout.md`): records stay 16 bytes, so the 128-bit
//! trace id, the parent's id and the span's own id take one record each, and a span that is
//! not linked costs nothing. The host gives every unlinked span an id and the trace of its
//! nearest linked ancestor.
//!
//! | call | records | for |
//! |---|---|---|
//! | [`link_remote`] | trace id (2), parent, own id | a request that came in with a context |
//! | [`link_new_trace`] | trace id (2), own id | a root that starts a trace |
//! | [`link_child`] | parent, own id | a span that calls out, or continues a context captured in another thread, task or interrupt |
//!
//! Each returns the context to inject into the outgoing call: the same trace, this span's id.
//!
//! Ids come from a mixer, not a shared counter: `splitmix64` of the clock, the ring and its
//! write position, keyed by a seed. Two spans of one node get the same id only if they open
//! on the same ring at the same write position and the same clock tick. The seed keeps nodes
//! apart: on std it comes from the OS; bare-metal applications call [`seed`] with a hardware
//! RNG value or a unique device id at start-up, otherwise every device of a fleet makes the
//! same ids (the host warns when one parent id names two spans).

use super::{TraceContext, TraceFlags};
use crate::record::Kind;
use crate::sync::AtomicU32;
use core::sync::atomic::Ordering;

/// What a link record says, in tag bits 4..6; bits 6..8 carry the trace flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkField {
    /// Trace id bits 64..128.
    TraceHi = 0,
    /// Trace id bits 0..64.
    TraceLo = 1,
    /// The parent span's id (in another context, task, thread or node).
    Parent = 2,
    /// The span's own id, as injected downstream.
    SpanId = 3,
}

impl LinkField {
    /// The field of a link record's tag.
    pub const fn of_tag(tag: u32) -> LinkField {
        match tag >> 4 & 3 {
            0 => LinkField::TraceHi,
            1 => LinkField::TraceLo,
            2 => LinkField::Parent,
            _ => LinkField::SpanId,
        }
    }

    /// The trace flags of a link record's tag (sampled, random trace id).
    pub const fn flags_of_tag(tag: u32) -> TraceFlags {
        TraceFlags::new((tag >> 6 & 3) as u8)
    }
}

static SEED_LO: AtomicU32 = AtomicU32::new(0);
static SEED_HI: AtomicU32 = AtomicU32::new(0);

/// Keys the span and trace id generator; call once at start-up, before the first linked span,
/// with a hardware RNG value or a unique device id. On std the OS seeds it on first use.
pub fn seed(seed: u64) {
    // Never 0: 0 means "not seeded yet" to the std path.
    let seed = seed | 1 << 63;
    SEED_LO.store(seed as u32, Ordering::Relaxed);
    SEED_HI.store((seed >> 32) as u32, Ordering::Relaxed);
}

fn key() -> u64 {
    let k = (SEED_HI.load(Ordering::Relaxed) as u64) << 32 | SEED_LO.load(Ordering::Relaxed) as u64;
    #[cfg(feature = "std")]
    if k == 0 {
        // RandomState's keys come from the OS's random source once per process.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x7469_636b_7370_616e);
        seed(h.finish());
        return key();
    }
    k
}

/// splitmix64's finaliser: a bijection of 64-bit words that mixes every bit into every bit.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A new non-zero span id, unique per (ring, write position, tick) and seed.
pub fn new_span_id() -> u64 {
    let mut place = 0u64;
    crate::context::with_ring(|ring| {
        place = (crate::context::index_of(ring) as u64) << 32 | ring.written() as u64;
    });
    let t = <crate::clock::Active as crate::clock::Clock>::now();
    let id = mix(key() ^ mix(t.rotate_left(17) ^ place.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    if id == 0 {
        1
    } else {
        id
    }
}

/// A new non-zero trace id (two span ids drawn in a row: different write positions).
pub fn new_trace_id() -> u128 {
    (new_span_id() as u128) << 64 | mix(new_span_id() ^ key()) as u128
}

/// Writes one link record of `field` carrying `v` into this context's ring.
#[inline]
fn write(field: LinkField, flags: TraceFlags, v: u64) {
    let tag = ((field as u32) | ((flags.bits() & TraceFlags::KNOWN) as u32) << 2) << 4
        | Kind::Link as u32;
    crate::api::emit_ab(tag, v as u32, (v >> 32) as u32);
}

fn write_trace(cx_trace: u128, flags: TraceFlags) {
    write(LinkField::TraceHi, flags, (cx_trace >> 64) as u64);
    write(LinkField::TraceLo, flags, cx_trace as u64);
}

/// Own id record, and the context naming it.
fn own(trace_id: u128, flags: TraceFlags) -> TraceContext {
    let id = new_span_id();
    write(LinkField::SpanId, flags, id);
    // `id` is never 0 and `trace_id` comes from a valid context or the generator (never 0).
    TraceContext::new(trace_id, id, flags).unwrap_or(TraceContext {
        trace_id: 1,
        span_id: id,
        flags,
    })
}

/// The innermost open span of this context is the child of `parent`, a span of another node
/// (an extracted `traceparent` or binary context). Four records. Returns the context that
/// names this span, to inject into calls it makes.
pub fn link_remote(parent: &TraceContext) -> TraceContext {
    let flags = parent.flags();
    write_trace(parent.trace_id(), flags);
    write(LinkField::Parent, flags, parent.span_id());
    own(parent.trace_id(), flags)
}

/// The innermost open span of this context starts a new trace (a fresh trace id). Three
/// records. Ids here are pseudo-random, so the W3C random-trace-id flag is set.
pub fn link_new_trace(flags: TraceFlags) -> TraceContext {
    let flags = TraceFlags::new(flags.bits() | TraceFlags::RANDOM_TRACE_ID);
    let trace = new_trace_id();
    write_trace(trace, flags);
    own(trace, flags)
}

/// The innermost open span of this context is a child of the span `cx` names, recorded on
/// this node (in another context, thread or task, or further up this one), and gets an id of
/// its own to inject. Two records; the host takes the trace from the parent.
pub fn link_child(cx: &TraceContext) -> TraceContext {
    write(LinkField::Parent, cx.flags(), cx.span_id());
    own(cx.trace_id(), cx.flags())
}
