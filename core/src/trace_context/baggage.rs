//! The W3C `baggage` header: a few application `key=value` tags that travel with a request.

use super::{is_ows, trim_ows};
use core::fmt;

/// Most list members accepted (the specification asks to propagate at least 64).
pub const MAX_MEMBERS: usize = 64;
/// Longest header accepted, in bytes (the specification asks to propagate at least 8192).
pub const MAX_LEN: usize = 8192;

/// Why a `baggage` value (or a member to write) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BaggageError {
    /// Longer than 8192 (`MAX_LEN`) bytes.
    TooLong,
    /// More than 64 (`MAX_MEMBERS`) members.
    TooManyMembers,
    /// A member without `=`, or a key that is not an RFC 7230 token.
    Key,
    /// A value with a character outside the `baggage-octet` range.
    Value,
    /// A property (after `;`) that is neither `key` nor `key=value`.
    Property,
    /// A percent escape that is not two hex digits, or escapes that are not UTF-8.
    Encoding,
    /// The output buffer is full.
    BufferFull,
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaggageError::TooLong => "baggage longer than 8192 bytes",
            BaggageError::TooManyMembers => "baggage has more than 64 members",
            BaggageError::Key => "baggage member with an invalid key",
            BaggageError::Value => "baggage member with an invalid value",
            BaggageError::Property => "baggage member with an invalid property",
            BaggageError::Encoding => "baggage value with an invalid percent escape",
            BaggageError::BufferFull => "baggage does not fit the buffer",
        })
    }
}

impl core::error::Error for BaggageError {}

/// A validated `baggage` value, borrowed from the header.
///
/// ```
/// use tickspan::trace_context::{Baggage, BaggageWriter};
///
/// let mut buf = [0u8; 64];
/// let mut w = BaggageWriter::new(&mut buf);
/// w.push("user", "Zoë Ö").unwrap();
/// w.push("device", "m3-7").unwrap();
/// assert_eq!(w.as_str(), "user=Zo%C3%AB%20%C3%96,device=m3-7");
///
/// let header = "user=Zo%C3%AB%20%C3%96,device=m3-7";
/// let b = Baggage::parse(header).unwrap();
/// let mut value = [0u8; 16];
/// assert_eq!(b.get("user").unwrap().value(&mut value), Ok("Zoë Ö"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Baggage<'a> {
    raw: &'a str,
    members: u8,
}

/// One member of a [`Baggage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaggageMember<'a> {
    /// The key.
    pub key: &'a str,
    /// The value as sent (percent-encoded); [`value`](Self::value) decodes it.
    pub raw_value: &'a str,
    /// What follows the value's `;`, untouched (empty if none).
    pub properties: &'a str,
}

impl<'a> BaggageMember<'a> {
    /// The value, percent-decoded into `out`.
    pub fn value<'b>(&self, out: &'b mut [u8]) -> Result<&'b str, BaggageError> {
        let v = self.raw_value.as_bytes();
        let (mut i, mut n) = (0, 0);
        while i < v.len() {
            let b = if v[i] == b'%' {
                let hex = v.get(i + 1..i + 3).ok_or(BaggageError::Encoding)?;
                let digit = |c: u8| (c as char).to_digit(16).ok_or(BaggageError::Encoding);
                i += 3;
                (digit(hex[0])? << 4 | digit(hex[1])?) as u8
            } else {
                i += 1;
                v[i - 1]
            };
            *out.get_mut(n).ok_or(BaggageError::BufferFull)? = b;
            n += 1;
        }
        core::str::from_utf8(&out[..n]).map_err(|_| BaggageError::Encoding)
    }
}

impl<'a> Baggage<'a> {
    /// Validates a `baggage` value: at most 8192 (`MAX_LEN`) bytes and 64 (`MAX_MEMBERS`) members,
    /// each `key=value` with optional `;property` parts, keys RFC 7230 tokens, values
    /// `baggage-octet`s (percent-encoded UTF-8). Spaces and tabs around members, `=` and `;`
    /// are allowed; empty members are skipped.
    pub fn parse(raw: &'a str) -> Result<Baggage<'a>, BaggageError> {
        if raw.len() > MAX_LEN {
            return Err(BaggageError::TooLong);
        }
        let mut members = 0usize;
        for m in raw.split(',') {
            if trim_ows(m.as_bytes()).is_empty() {
                continue;
            }
            members += 1;
            if members > MAX_MEMBERS {
                return Err(BaggageError::TooManyMembers);
            }
            let member = split(m).ok_or(BaggageError::Key)?;
            if !member.raw_value.bytes().all(baggage_octet) {
                return Err(BaggageError::Value);
            }
            for p in member.properties.split(';') {
                let (k, v) = match p.split_once('=') {
                    Some((k, v)) => (trim_ows(k.as_bytes()), trim_ows(v.as_bytes())),
                    None => (trim_ows(p.as_bytes()), &b""[..]),
                };
                if !member.properties.is_empty() && (!token(k) || !v.iter().all(|&b| baggage_octet(b))) {
                    return Err(BaggageError::Property);
                }
            }
        }
        Ok(Baggage { raw, members: members as u8 })
    }

    /// The value as received.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members as usize
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// The members, in order.
    pub fn members(&self) -> impl Iterator<Item = BaggageMember<'a>> + 'a {
        self.raw.split(',').filter_map(split)
    }

    /// The first member with this key.
    pub fn get(&self, key: &str) -> Option<BaggageMember<'a>> {
        self.members().find(|m| m.key == key)
    }
}

/// A member split into key, value and properties (`None` for an empty member or a bad key).
fn split(m: &str) -> Option<BaggageMember<'_>> {
    let (kv, properties) = m.split_once(';').unwrap_or((m, ""));
    let (k, v) = kv.split_once('=')?;
    let (k, v) = (trim_ows(k.as_bytes()), trim_ows(v.as_bytes()));
    if !token(k) {
        return None;
    }
    Some(BaggageMember {
        // Both are sub-slices of `m` cut at ASCII bytes.
        key: core::str::from_utf8(k).ok()?,
        raw_value: core::str::from_utf8(v).ok()?,
        properties: core::str::from_utf8(trim_ows(properties.as_bytes())).ok()?,
    })
}

/// RFC 7230 `token`: one or more `tchar`s.
fn token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `baggage-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
const fn baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E) && !is_ows(b)
}

/// Writes a `baggage` value into a caller's buffer, percent-encoding values.
pub struct BaggageWriter<'b> {
    out: &'b mut [u8],
    len: usize,
    members: usize,
}

impl<'b> BaggageWriter<'b> {
    /// A writer into `out` (at most 8192 (`MAX_LEN`) bytes of it are used).
    pub fn new(out: &'b mut [u8]) -> Self {
        BaggageWriter { out, len: 0, members: 0 }
    }

    /// Appends `key=value`, the value percent-encoded where it is not a `baggage-octet` (and
    /// its `%`s). On error nothing is appended.
    pub fn push(&mut self, key: &str, value: &str) -> Result<(), BaggageError> {
        if !token(key.as_bytes()) {
            return Err(BaggageError::Key);
        }
        if self.members >= MAX_MEMBERS {
            return Err(BaggageError::TooManyMembers);
        }
        let cap = self.out.len().min(MAX_LEN);
        let start = self.len;
        let put = |w: &mut Self, b: u8| -> Result<(), BaggageError> {
            if w.len >= cap {
                w.len = start;
                return Err(BaggageError::BufferFull);
            }
            w.out[w.len] = b;
            w.len += 1;
            Ok(())
        };
        if start > 0 {
            put(self, b',')?;
        }
        for &b in key.as_bytes() {
            put(self, b)?;
        }
        put(self, b'=')?;
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for &b in value.as_bytes() {
            if baggage_octet(b) && b != b'%' {
                put(self, b)?;
            } else {
                put(self, b'%')?;
                put(self, HEX[(b >> 4) as usize])?;
                put(self, HEX[(b & 0xF) as usize])?;
            }
        }
        self.members += 1;
        Ok(())
    }

    /// The value written so far.
    pub fn as_str(&self) -> &str {
        // Only ASCII was written.
        core::str::from_utf8(&self.out[..self.len]).unwrap_or_default()
    }
}
