//! The W3C `tracestate` header: up to 32 vendor `key=value` entries, kept verbatim.

use super::{is_ows, trim_ows};
use core::fmt;

/// Most list members a `tracestate` may hold.
pub const MAX_MEMBERS: usize = 32;
/// Longest key (a simple key; a multi-tenant key is at most 241 + 1 + 14).
const MAX_KEY: usize = 256;
/// Longest value.
const MAX_VALUE: usize = 256;
/// Members longer than this are dropped first when a `tracestate` must be shortened.
const LONG_MEMBER: usize = 128;

/// Why a `tracestate` was refused. The specification says a `tracestate` that fails to parse
/// is discarded whole; the `traceparent` beside it stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TraceStateError {
    /// More than 32 list members.
    TooManyMembers,
    /// A member without `=`, or whose key breaks the key grammar.
    Key,
    /// A value that is empty, longer than 256 characters or has a character outside the
    /// printable ASCII range, a comma or an equals sign.
    Value,
    /// Two members with the same key.
    DuplicateKey,
    /// It does not fit the buffer given.
    TooLong,
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceStateError::TooManyMembers => "tracestate has more than 32 members",
            TraceStateError::Key => "tracestate member with an invalid key",
            TraceStateError::Value => "tracestate member with an invalid value",
            TraceStateError::DuplicateKey => "tracestate has a key twice",
            TraceStateError::TooLong => "tracestate does not fit the buffer",
        })
    }
}

impl core::error::Error for TraceStateError {}

/// A validated `tracestate` value, borrowed from the header: kept verbatim (what a node that
/// does not change the trace must pass on), its members readable by key.
///
/// ```
/// use tickspan::trace_context::TraceState;
///
/// let ts = TraceState::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").unwrap();
/// assert_eq!(ts.get("congo"), Some("t61rcWkgMzE"));
/// let mut buf = [0u8; 64];
/// // Our entry goes first; an older entry of ours would be dropped.
/// assert_eq!(ts.write_with("tickspan", "1", &mut buf).unwrap(), "tickspan=1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceState<'a> {
    raw: &'a str,
    members: u8,
}

impl<'a> TraceState<'a> {
    /// No members.
    pub const EMPTY: TraceState<'static> = TraceState { raw: "", members: 0 };

    /// Validates a `tracestate` value (one header field, or several combined with commas as
    /// RFC 7230 combines them): at most 32 members, each `key=value` with the specification's
    /// key grammar (`lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")`, or
    /// `tenant@system` with a tenant of at most 241 and a system of at most 14 characters) and
    /// value grammar (1 to 256 printable ASCII characters but `,` and `=`, not ending in a
    /// space), no key twice. Empty members and spaces or tabs around members are allowed.
    pub fn parse(raw: &'a str) -> Result<TraceState<'a>, TraceStateError> {
        let mut members = 0usize;
        for m in raw.as_bytes().split(|&b| b == b',') {
            let m = trim_ows(m);
            if m.is_empty() {
                continue;
            }
            members += 1;
            if members > MAX_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            let (key, value) = split_member(m).ok_or(TraceStateError::Key)?;
            if !valid_key(key) {
                return Err(TraceStateError::Key);
            }
            if !valid_value(value) {
                return Err(TraceStateError::Value);
            }
        }
        let ts = TraceState { raw, members: members as u8 };
        // At most 32 members: comparing each with the ones before is cheap and needs no memory.
        for (i, (k, _)) in ts.members().enumerate() {
            if ts.members().take(i).any(|(other, _)| other == k) {
                return Err(TraceStateError::DuplicateKey);
            }
        }
        Ok(ts)
    }

    /// The value as it was received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Number of (non-empty) members.
    pub fn len(&self) -> usize {
        self.members as usize
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// The members, left (most recent) first, as `(key, value)`.
    pub fn members(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.raw.split(',').filter_map(|m| {
            let m = trim_ows(m.as_bytes());
            let (k, v) = split_member(m)?;
            // Validated ASCII: both halves are `str`s.
            Some((core::str::from_utf8(k).ok()?, core::str::from_utf8(v).ok()?))
        })
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.members().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Writes the `tracestate` to send on: `key=value` first (a vendor's updated entry), then
    /// the other members in order, into `out`. Members are dropped from the end where more
    /// than 32 or more than `out` holds would result (the specification's truncation order:
    /// members longer than 128 characters first, then from the right).
    pub fn write_with<'b>(&self, key: &str, value: &str, out: &'b mut [u8]) -> Result<&'b str, TraceStateError> {
        if !valid_key(key.as_bytes()) {
            return Err(TraceStateError::Key);
        }
        if !valid_value(value.as_bytes()) {
            return Err(TraceStateError::Value);
        }
        let mut w = Writer { out, len: 0, members: 0 };
        w.member(key, value)?;
        w.rest(|| self.members().filter(|(k, _)| *k != key), self.raw.len());
        Ok(w.finish())
    }
}

/// A `tracestate` owned in a fixed buffer of `N` bytes (512 by default, what the specification
/// asks every vendor to propagate at least): for keeping one beyond the request that carried
/// it, or combining several header fields.
#[derive(Clone, Copy)]
pub struct TraceStateBuf<const N: usize = 512> {
    buf: [u8; N],
    len: usize,
    members: u8,
}

impl<const N: usize> TraceStateBuf<N> {
    /// An empty `tracestate`.
    pub const fn new() -> Self {
        TraceStateBuf { buf: [0; N], len: 0, members: 0 }
    }

    /// Combines the `tracestate` header fields of one request (in their order) into one value,
    /// validated as a whole (32 members, no key twice). Kept verbatim, joined by commas, if it
    /// fits; otherwise members are dropped as [`TraceState::write_with`] drops them.
    pub fn from_fields(fields: &[&str]) -> Result<Self, TraceStateError> {
        let mut count = 0;
        for f in fields {
            count += TraceState::parse(f)?.len();
        }
        if count > MAX_MEMBERS {
            return Err(TraceStateError::TooManyMembers);
        }
        let all = || fields.iter().flat_map(|f| TraceState { raw: f, members: 0 }.members());
        for (i, (k, _)) in all().enumerate() {
            if all().take(i).any(|(other, _)| other == k) {
                return Err(TraceStateError::DuplicateKey);
            }
        }
        let mut s = Self::new();
        let verbatim = fields.iter().map(|f| f.len()).sum::<usize>() + fields.len().saturating_sub(1);
        if verbatim <= N {
            for f in fields {
                if s.len > 0 {
                    s.buf[s.len] = b',';
                    s.len += 1;
                }
                s.buf[s.len..s.len + f.len()].copy_from_slice(f.as_bytes());
                s.len += f.len();
            }
            s.members = count as u8;
            return Ok(s);
        }
        let mut w = Writer { out: &mut s.buf, len: 0, members: 0 };
        w.rest(all, verbatim);
        (s.len, s.members) = (w.len, w.members as u8);
        Ok(s)
    }

    /// The `tracestate` held.
    pub fn get(&self) -> TraceState<'_> {
        // Only validated ASCII was copied in.
        TraceState { raw: core::str::from_utf8(&self.buf[..self.len]).unwrap_or_default(), members: self.members }
    }
}

impl<const N: usize> Default for TraceStateBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for TraceStateBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TraceStateBuf").field(&self.get().as_str()).finish()
    }
}

/// Builds a `tracestate` in a caller's buffer, whole members only.
struct Writer<'b> {
    out: &'b mut [u8],
    len: usize,
    members: usize,
}

impl<'b> Writer<'b> {
    /// Appends a member; `TooLong` (nothing written) if it does not fit.
    fn member(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        let comma = usize::from(self.len > 0);
        let need = comma + key.len() + 1 + value.len();
        if self.members >= MAX_MEMBERS || self.len + need > self.out.len() {
            return Err(TraceStateError::TooLong);
        }
        let dst = &mut self.out[self.len..self.len + need];
        dst[..comma].copy_from_slice(&b","[..comma]);
        dst[comma..comma + key.len()].copy_from_slice(key.as_bytes());
        dst[comma + key.len()] = b'=';
        dst[comma + key.len() + 1..].copy_from_slice(value.as_bytes());
        self.len += need;
        self.members += 1;
        Ok(())
    }

    /// Appends `members` (their total text at most `total` bytes); if they do not all fit,
    /// drops the long ones, then as many as needed from the end.
    fn rest<'m, I: Iterator<Item = (&'m str, &'m str)>>(&mut self, members: impl Fn() -> I, total: usize) {
        let fits_all = self.len + total < self.out.len() && self.members + members().count() <= MAX_MEMBERS;
        let short = |(k, v): &(&str, &str)| fits_all || k.len() + 1 + v.len() <= LONG_MEMBER;
        for (k, v) in members().filter(short) {
            if self.member(k, v).is_err() {
                break;
            }
        }
    }

    /// What was written.
    fn finish(self) -> &'b str {
        let (out, len) = (self.out, self.len);
        // Only validated ASCII was written.
        core::str::from_utf8(&out[..len]).unwrap_or_default()
    }
}

/// `key` and `value` of a member already trimmed of OWS; `None` without `=`.
fn split_member(m: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = m.iter().position(|&b| b == b'=')?;
    Some((&m[..eq], &m[eq + 1..]))
}

const fn key_char(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/')
}

/// The key grammar of Trace Context Level 1 (what the W3C test suite checks).
fn valid_key(k: &[u8]) -> bool {
    let rest_ok = |s: &[u8]| s.iter().all(|&b| key_char(b));
    match k.iter().position(|&b| b == b'@') {
        None => (1..=MAX_KEY).contains(&k.len()) && k[0].is_ascii_lowercase() && rest_ok(&k[1..]),
        Some(at) => {
            let (tenant, system) = (&k[..at], &k[at + 1..]);
            (1..=241).contains(&tenant.len())
                && (tenant[0].is_ascii_lowercase() || tenant[0].is_ascii_digit())
                && rest_ok(&tenant[1..])
                && (1..=14).contains(&system.len())
                && system[0].is_ascii_lowercase()
                && rest_ok(&system[1..])
        }
    }
}

fn valid_value(v: &[u8]) -> bool {
    let chr = |b: u8| (0x20..=0x7E).contains(&b) && b != b',' && b != b'=';
    (1..=MAX_VALUE).contains(&v.len()) && v.iter().all(|&b| chr(b)) && !v.last().is_some_and(|&b| is_ows(b))
}
