//! Trace context: the ids that join spans of one request across processes and devices.
//!
//! A [`TraceContext`] is what one node tells the next about the span that called it: the
//! 128-bit trace id every span of the request shares, the 64-bit id of the calling span (the
//! callee's *remote parent*) and the W3C trace flags. It travels
//!
//! * as text, the W3C Trace Context `traceparent` header
//!   ([`TraceContext::from_traceparent`], [`TraceContext::write_traceparent`]), with its
//!   companion [`TraceState`] (`tracestate`, vendor entries kept verbatim) and W3C
//!   [`Baggage`] (a few application key=value tags);
//! * in binary, for serial, CAN or radio links: a 25-byte compact form
//!   ([`TraceContext::to_bytes`]) or the 29-byte `grpc-trace-bin` layout
//!   ([`TraceContext::to_grpc_trace_bin`]) other tracers read.
//!
//! Everything here is `no_std` and allocation-free: parsers borrow the input and writers fill
//! a caller's buffer, and every length is bounded, so untrusted headers cost bounded time and
//! memory and never panic.
//!
//! ```
//! use tickspan::trace_context::TraceContext;
//!
//! let cx = TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .unwrap();
//! assert_eq!(cx.trace_id(), 0x4bf92f3577b34da6a3ce929d0e0e4736);
//! assert!(cx.flags().sampled());
//! let mut buf = [0u8; 55];
//! assert_eq!(cx.write_traceparent(&mut buf), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! assert_eq!(TraceContext::from_bytes(&cx.to_bytes()), Ok(cx));
//! ```

mod baggage;
#[cfg(all(feature = "std", not(loom)))]
mod current;
#[cfg(not(loom))]
mod link;
mod tracestate;

pub use baggage::{Baggage, BaggageError, BaggageMember, BaggageWriter};
#[cfg(all(feature = "std", not(loom)))]
pub use current::{
    attach, attach_child, current, enter_child, enter_new_trace, enter_remote, in_current, Attached,
    WithContext,
};
#[cfg(not(loom))]
pub use link::{
    link_child, link_new_trace, link_remote, new_span_id, new_trace_id, seed, LinkField,
};
pub use tracestate::{TraceState, TraceStateBuf, TraceStateError};

use core::fmt;

/// The W3C trace flags (`trace-flags`, one byte).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// Bit 0: the caller may have recorded the trace.
    pub const SAMPLED: u8 = 0x01;
    /// Bit 1 (Trace Context Level 2): at least the right-most 7 bytes of the trace id are
    /// random, so a backend may sample on them.
    pub const RANDOM_TRACE_ID: u8 = 0x02;
    /// The flags this implementation knows; the others are reserved and, as the specification
    /// requires, never propagated.
    pub const KNOWN: u8 = Self::SAMPLED | Self::RANDOM_TRACE_ID;

    /// Flags from their byte, reserved bits cleared.
    pub const fn new(bits: u8) -> TraceFlags {
        TraceFlags(bits & Self::KNOWN)
    }

    /// The flags' byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the sampled flag is set.
    pub const fn sampled(self) -> bool {
        self.0 & Self::SAMPLED != 0
    }

    /// Whether the random-trace-id flag is set.
    pub const fn random_trace_id(self) -> bool {
        self.0 & Self::RANDOM_TRACE_ID != 0
    }
}

/// Why a `traceparent` or binary trace context was refused. Per the specification, a caller
/// that gets one starts a new trace rather than failing the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ParseError {
    /// Not `version-traceid-parentid-flags` in lowercase hex with the right lengths (or, for
    /// version `00`, something after the flags).
    Format,
    /// Version `ff`, which the specification forbids.
    Version,
    /// The trace id is all zeros.
    ZeroTraceId,
    /// The parent (span) id is all zeros.
    ZeroSpanId,
    /// Binary forms: too short, or a field identifier this version does not define.
    Binary,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Format => "not a traceparent (version-traceid-parentid-flags in lowercase hex)",
            ParseError::Version => "traceparent version ff is invalid",
            ParseError::ZeroTraceId => "trace id is all zeros",
            ParseError::ZeroSpanId => "parent id is all zeros",
            ParseError::Binary => "not a binary trace context",
        })
    }
}

impl core::error::Error for ParseError {}

/// A W3C trace context: trace id, the id of the span it names, and flags. Both ids are never
/// zero (every constructor checks), so whatever is built can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    flags: TraceFlags,
}

/// Length of a version-00 `traceparent` value.
pub const TRACEPARENT_LEN: usize = 55;
/// Length of [`TraceContext::to_bytes`].
pub const COMPACT_LEN: usize = 25;
/// Length of [`TraceContext::to_grpc_trace_bin`].
pub const GRPC_TRACE_BIN_LEN: usize = 29;

impl TraceContext {
    /// A context; `None` if either id is zero (invalid in every propagation format).
    pub const fn new(trace_id: u128, span_id: u64, flags: TraceFlags) -> Option<TraceContext> {
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        Some(TraceContext { trace_id, span_id, flags })
    }

    /// The trace id (the `traceparent`'s 32 hex digits, most significant first).
    pub const fn trace_id(&self) -> u128 {
        self.trace_id
    }

    /// The id of the span this context names: for an extracted context, the remote parent.
    pub const fn span_id(&self) -> u64 {
        self.span_id
    }

    /// The trace flags.
    pub const fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// The same trace, naming span `span_id` instead (what a callee injects for its own
    /// span); `None` if `span_id` is 0.
    pub const fn with_span_id(&self, span_id: u64) -> Option<TraceContext> {
        TraceContext::new(self.trace_id, span_id, self.flags)
    }

    /// The same context with other flags (e.g. after a sampling decision).
    pub const fn with_flags(&self, flags: TraceFlags) -> TraceContext {
        TraceContext { flags, ..*self }
    }

    /// Extracts a context from a `traceparent` header value.
    ///
    /// Follows the specification's rules: surrounding spaces and tabs are ignored; version
    /// `00` must be exactly `00-<32 hex>-<16 hex>-<2 hex>` in lowercase; version `ff` is
    /// refused; a higher version is read by the version-00 layout if it is at least 55
    /// characters long and anything after the flags starts with `-` (only the first four
    /// fields are used). All-zero ids are refused. Reserved flag bits are dropped.
    pub fn from_traceparent(value: &str) -> Result<TraceContext, ParseError> {
        let s = trim_ows(value.as_bytes());
        if s.len() < TRACEPARENT_LEN || s[2] != b'-' {
            return Err(ParseError::Format);
        }
        let version = hex_u8(&s[0..2]).ok_or(ParseError::Format)?;
        if version == 0xff {
            return Err(ParseError::Version);
        }
        // Version 00 has exactly four fields; a later one may add fields after a `-`.
        let rest_ok = if version == 0 { s.len() == TRACEPARENT_LEN } else { s.len() == TRACEPARENT_LEN || s[55] == b'-' };
        if !rest_ok || s[35] != b'-' || s[52] != b'-' {
            return Err(ParseError::Format);
        }
        let hi = hex_u64(&s[3..19]).ok_or(ParseError::Format)?;
        let lo = hex_u64(&s[19..35]).ok_or(ParseError::Format)?;
        let span_id = hex_u64(&s[36..52]).ok_or(ParseError::Format)?;
        let flags = hex_u8(&s[53..55]).ok_or(ParseError::Format)?;
        Self::checked((hi as u128) << 64 | lo as u128, span_id, flags)
    }

    /// Writes the version-00 `traceparent` value into `buf` and returns it.
    pub fn write_traceparent<'b>(&self, buf: &'b mut [u8; TRACEPARENT_LEN]) -> &'b str {
        buf[..3].copy_from_slice(b"00-");
        put_hex(&mut buf[3..35], self.trace_id);
        buf[35] = b'-';
        put_hex(&mut buf[36..52], self.span_id as u128);
        buf[52] = b'-';
        put_hex(&mut buf[53..55], self.flags.0 as u128);
        // Only ASCII hex digits and dashes were written.
        core::str::from_utf8(buf).unwrap_or_default()
    }

    /// The compact binary form for links where bytes count (serial, CAN, radio): 25 bytes,
    /// `(version << 4 | flags)`, the trace id, the span id (ids big-endian, the byte order of
    /// their hex form). Version 0; flags are the low four bits (only two are defined, the
    /// others reserved as zero).
    pub fn to_bytes(&self) -> [u8; COMPACT_LEN] {
        let mut out = [0u8; COMPACT_LEN];
        out[0] = self.flags.0 & 0x0F;
        out[1..17].copy_from_slice(&self.trace_id.to_be_bytes());
        out[17..25].copy_from_slice(&self.span_id.to_be_bytes());
        out
    }

    /// Reads [`to_bytes`](Self::to_bytes)' form from the start of `b` (trailing bytes are
    /// ignored). Refuses another version, a short buffer and zero ids.
    pub fn from_bytes(b: &[u8]) -> Result<TraceContext, ParseError> {
        let b = b.get(..COMPACT_LEN).ok_or(ParseError::Binary)?;
        if b[0] >> 4 != 0 {
            return Err(ParseError::Binary);
        }
        let trace_id = u128::from_be_bytes(b[1..17].try_into().map_err(|_| ParseError::Binary)?);
        let span_id = u64::from_be_bytes(b[17..25].try_into().map_err(|_| ParseError::Binary)?);
        Self::checked(trace_id, span_id, b[0] & 0x0F)
    }

    /// The 29-byte binary `traceparent` of the W3C binary format draft, which gRPC sends as
    /// the `grpc-trace-bin` metadata: version 0, then field 0 (trace id), field 1 (span id)
    /// and field 2 (flags), each behind its one-byte field identifier.
    pub fn to_grpc_trace_bin(&self) -> [u8; GRPC_TRACE_BIN_LEN] {
        let mut out = [0u8; GRPC_TRACE_BIN_LEN];
        out[1] = 0;
        out[2..18].copy_from_slice(&self.trace_id.to_be_bytes());
        out[18] = 1;
        out[19..27].copy_from_slice(&self.span_id.to_be_bytes());
        out[27] = 2;
        out[28] = self.flags.0;
        out
    }

    /// Reads the binary `traceparent` (`grpc-trace-bin`) as its draft specifies: fields in
    /// any order until all three are read, trailing bytes ignored; an unknown field
    /// identifier, a truncated field or a missing field refuses it. A version above 0 is read
    /// when its first fields are these three.
    pub fn from_grpc_trace_bin(b: &[u8]) -> Result<TraceContext, ParseError> {
        // Any version: a later one is read when it starts with these fields.
        let (_version, mut rest) = b.split_first().ok_or(ParseError::Binary)?;
        let (mut trace_id, mut span_id, mut flags) = (None, None, None);
        while trace_id.is_none() || span_id.is_none() || flags.is_none() {
            let (&field, tail) = rest.split_first().ok_or(ParseError::Binary)?;
            let len = match field {
                0 => 16,
                1 => 8,
                2 => 1,
                _ => return Err(ParseError::Binary),
            };
            let (value, tail) = tail.split_at_checked(len).ok_or(ParseError::Binary)?;
            match field {
                0 => trace_id = value.try_into().ok().map(u128::from_be_bytes),
                1 => span_id = value.try_into().ok().map(u64::from_be_bytes),
                _ => flags = Some(value[0]),
            }
            rest = tail;
        }
        match (trace_id, span_id, flags) {
            (Some(t), Some(s), Some(f)) => Self::checked(t, s, f),
            _ => Err(ParseError::Binary),
        }
    }

    fn checked(trace_id: u128, span_id: u64, flags: u8) -> Result<TraceContext, ParseError> {
        if trace_id == 0 {
            return Err(ParseError::ZeroTraceId);
        }
        if span_id == 0 {
            return Err(ParseError::ZeroSpanId);
        }
        Ok(TraceContext { trace_id, span_id, flags: TraceFlags::new(flags) })
    }
}

/// The `traceparent` value.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; TRACEPARENT_LEN];
        f.write_str(self.write_traceparent(&mut buf))
    }
}

impl core::str::FromStr for TraceContext {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<TraceContext, ParseError> {
        TraceContext::from_traceparent(s)
    }
}

/// Whether `b` is the optional whitespace of HTTP field values (RFC 7230 `OWS`).
pub(crate) const fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading and trailing `OWS`.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// The value of a lowercase hex digit.
const fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Up to 16 lowercase hex digits as a number (`None` for any other character).
fn hex_u64(s: &[u8]) -> Option<u64> {
    s.iter().try_fold(0u64, |v, &b| Some(v << 4 | hex_digit(b)? as u64))
}

fn hex_u8(s: &[u8]) -> Option<u8> {
    hex_u64(s).map(|v| v as u8)
}

/// `v`'s low `out.len() * 4` bits as lowercase hex, most significant first.
fn put_hex(out: &mut [u8], v: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let n = out.len();
    for (i, o) in out.iter_mut().enumerate() {
        *o = DIGITS[(v >> (4 * (n - 1 - i)) & 0xF) as usize];
    }
}

#[cfg(test)]
mod tests;
