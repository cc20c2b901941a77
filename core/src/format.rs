//! Format strings of formatted events and spans: `event!(Info, "retry {} of {}", n, max)`.
//!
//! As in `defmt`, the format string is a callsite's name (kind
//! [`Format`](crate::CallsiteKind::Format)): interned at compile time, never on the wire. Its
//! arguments are records after the event or span record, in order, typed like fields. The
//! macros count the placeholders at compile time ([`count`]; a mismatch with the arguments does
//! not compile), the host splits the string with [`pieces`] to render the message.
//!
//! A placeholder is `{}` or `{:spec}` with `spec = [[fill]align][+][#][0][width][.precision][type]`,
//! `align` one of `<^>`, `type` one of `?` (Debug), `x`, `X`, `b`, `o`, `e`, `E`, as in
//! `core::fmt`; `{{` and `}}` are literal braces. Positional indexes and names (`{0}`, `{n}`)
//! and `*`/`$` widths are not supported: the arguments are positional records.
//!
//! ```
//! let (attempt, max, ms) = (3u32, 5u32, 120u64);
//! tickspan::event!(Info, "retry {} of {}", attempt, max);      // 3 records
//! tickspan::event!(Warn, "slow {}ms on {}", ms, tickspan::intern!("disk"));
//! let _g = tickspan::span!("handle {:#x}", 0xbeefu32);          // the span's name is rendered
//! let s = tickspan::span_start!("request {}", attempt);
//! s.end();
//! ```
//!
//! Each of these fails to build: placeholders and arguments differ in number, or a placeholder
//! is not one this module reads.
//! ```compile_fail
//! tickspan::event!(Info, "retry {} of {}", 3u32);
//! ```
//! ```compile_fail
//! tickspan::event!(Info, "retry {}", 3u32, 5u32);
//! ```
//! ```compile_fail
//! tickspan::event!("retry {}");
//! ```
//! ```compile_fail
//! let _g = tickspan::span!("handle {0}", 7u32);
//! ```
//! ```compile_fail
//! tickspan::event!("rx_bytes", tickspan::intern!("a string is no event value"));
//! ```

/// Horizontal alignment within the width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// `<`
    Left,
    /// `^`
    Center,
    /// `>`
    Right,
}

/// How an argument is shown (`{:x}` is [`Ty::LowerHex`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `{}`
    Display,
    /// `{:?}`
    Debug,
    /// `{:x}`
    LowerHex,
    /// `{:X}`
    UpperHex,
    /// `{:b}`
    Binary,
    /// `{:o}`
    Octal,
    /// `{:e}`
    LowerExp,
    /// `{:E}`
    UpperExp,
}

/// One placeholder's spec, as `core::fmt` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Fill character (ASCII; `' '` unless given).
    pub fill: u8,
    /// Alignment, if given.
    pub align: Option<Align>,
    /// `+`: always print the sign.
    pub plus: bool,
    /// `#`: alternate form (`0x` prefix, pretty Debug).
    pub alternate: bool,
    /// `0`: pad numbers with zeros after the sign.
    pub zero: bool,
    /// Minimum width in characters.
    pub width: Option<u16>,
    /// Precision (digits after the point; characters of a string).
    pub precision: Option<u16>,
    /// Type.
    pub ty: Ty,
}

/// Why a format string cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A `{` without its `}`, or a `}` that is neither `}}` nor closes a placeholder.
    Unbalanced,
    /// A placeholder this module does not read (`{0}`, `{name}`, `{:*^$w}`, `{:p}`, …).
    Unsupported,
}

/// One piece of a format string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text (an escaped brace is a piece of its own).
    Text(&'a str),
    /// A placeholder: the next argument.
    Arg(Spec),
}

/// A piece as byte offsets: what the `const` parser can return.
#[derive(Clone, Copy)]
enum Raw {
    Text(usize, usize),
    Arg(Spec),
}

const PLAIN: Spec = Spec {
    fill: b' ',
    align: None,
    plus: false,
    alternate: false,
    zero: false,
    width: None,
    precision: None,
    ty: Ty::Display,
};

/// The piece at byte `i` of `s` (not at its end) and where the next one starts.
const fn next(s: &[u8], i: usize) -> Result<(Raw, usize), Error> {
    let escaped = i + 1 < s.len() && s[i + 1] == s[i];
    match s[i] {
        b'{' | b'}' if escaped => Ok((Raw::Text(i, i + 1), i + 2)),
        b'}' => Err(Error::Unbalanced),
        b'{' => match spec(s, i + 1) {
            Ok((sp, end)) => Ok((Raw::Arg(sp), end)),
            Err(e) => Err(e),
        },
        _ => {
            let mut j = i;
            while j < s.len() && s[j] != b'{' && s[j] != b'}' {
                j += 1;
            }
            Ok((Raw::Text(i, j), j))
        }
    }
}

/// A decimal number of at most 4 digits at `i` (u16 range), and where it ends.
const fn number(s: &[u8], mut i: usize) -> Result<(Option<u16>, usize), Error> {
    let mut n: u32 = 0;
    let start = i;
    while i < s.len() && s[i].is_ascii_digit() {
        n = n * 10 + (s[i] - b'0') as u32;
        if n > u16::MAX as u32 {
            return Err(Error::Unsupported);
        }
        i += 1;
    }
    Ok((if i == start { None } else { Some(n as u16) }, i))
}

const fn align_of(c: u8) -> Option<Align> {
    match c {
        b'<' => Some(Align::Left),
        b'^' => Some(Align::Center),
        b'>' => Some(Align::Right),
        _ => None,
    }
}

/// The spec after a `{` at `i`, through its `}`.
const fn spec(s: &[u8], mut i: usize) -> Result<(Spec, usize), Error> {
    let mut sp = PLAIN;
    if i < s.len() && s[i] == b':' {
        i += 1;
        if i + 1 < s.len() && s[i].is_ascii() && s[i] != b'}' && align_of(s[i + 1]).is_some() {
            sp.fill = s[i];
            sp.align = align_of(s[i + 1]);
            i += 2;
        } else if i < s.len() && align_of(s[i]).is_some() {
            sp.align = align_of(s[i]);
            i += 1;
        }
        if i < s.len() && s[i] == b'+' {
            sp.plus = true;
            i += 1;
        }
        if i < s.len() && s[i] == b'#' {
            sp.alternate = true;
            i += 1;
        }
        if i < s.len() && s[i] == b'0' {
            sp.zero = true;
            i += 1;
        }
        match number(s, i) {
            Ok((w, end)) => (sp.width, i) = (w, end),
            Err(e) => return Err(e),
        }
        if i < s.len() && s[i] == b'.' {
            match number(s, i + 1) {
                Ok((Some(p), end)) => (sp.precision, i) = (Some(p), end),
                _ => return Err(Error::Unsupported),
            }
        }
        if i < s.len() {
            let ty = match s[i] {
                b'?' => Some(Ty::Debug),
                b'x' => Some(Ty::LowerHex),
                b'X' => Some(Ty::UpperHex),
                b'b' => Some(Ty::Binary),
                b'o' => Some(Ty::Octal),
                b'e' => Some(Ty::LowerExp),
                b'E' => Some(Ty::UpperExp),
                _ => None,
            };
            if let Some(ty) = ty {
                sp.ty = ty;
                i += 1;
            }
        }
    }
    if i >= s.len() {
        return Err(Error::Unbalanced);
    }
    if s[i] != b'}' {
        return Err(Error::Unsupported);
    }
    Ok((sp, i + 1))
}

/// How many placeholders `fmt` has. `const`: the macros check it against their arguments.
pub const fn count(fmt: &str) -> Result<usize, Error> {
    let s = fmt.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < s.len() {
        match next(s, i) {
            Ok((Raw::Arg(_), end)) => (n, i) = (n + 1, end),
            Ok((Raw::Text(..), end)) => i = end,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// [`count`] for the macros: a malformed format string fails the build. Not public API.
#[doc(hidden)]
pub const fn __placeholders(fmt: &str) -> usize {
    match count(fmt) {
        Ok(n) => n,
        Err(Error::Unbalanced) => panic!("tickspan: unbalanced brace in a format string (write {{{{ or }}}})"),
        Err(Error::Unsupported) => panic!(
            "tickspan: unsupported placeholder in a format string: {{}} or {{:[[fill]align][+][#][0][width][.precision][?xXboeE]}}"
        ),
    }
}

/// Whether a macro's name is a format string: it has placeholders, or braces that are not
/// (which [`__placeholders`] then reports). Not public API.
#[doc(hidden)]
pub const fn __is_format(name: &str) -> bool {
    !matches!(count(name), Ok(0))
}

/// The pieces of `fmt` in order; after an [`Error`] it yields nothing more.
pub fn pieces(fmt: &str) -> impl Iterator<Item = Result<Piece<'_>, Error>> {
    let mut i = 0;
    core::iter::from_fn(move || {
        if i >= fmt.len() {
            return None;
        }
        Some(match next(fmt.as_bytes(), i) {
            Ok((raw, end)) => {
                i = end;
                // Text pieces end at an ASCII brace or the end: on char boundaries.
                Ok(match raw {
                    Raw::Text(a, b) => Piece::Text(fmt.get(a..b).unwrap_or("")),
                    Raw::Arg(sp) => Piece::Arg(sp),
                })
            }
            Err(e) => {
                i = fmt.len();
                Err(e)
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_placeholders_and_escapes() {
        assert_eq!(count("retry {} of {}"), Ok(2));
        assert_eq!(count("{{literal}} {:x} {:#010X} {:>8.3} {:?} {:*^+#09.2e}"), Ok(5));
        assert_eq!(count("no args"), Ok(0));
        assert_eq!(count("{"), Err(Error::Unbalanced));
        assert_eq!(count("a } b"), Err(Error::Unbalanced));
        assert_eq!(count("{:x"), Err(Error::Unbalanced));
        for bad in ["{0}", "{n}", "{:p}", "{:.}", "{:99999}", "{:w$}"] {
            assert_eq!(count(bad), Err(Error::Unsupported), "{bad}");
        }
        const N: usize = __placeholders("ms {} on {:?}");
        assert_eq!(N, 2);
    }

    #[test]
    fn pieces_carry_text_and_specs() {
        let p: Vec<_> = pieces("a {{{:#06x}}} é{:*<5}").collect();
        let hex = Spec { alternate: true, zero: true, width: Some(6), ty: Ty::LowerHex, ..PLAIN };
        let left = Spec { fill: b'*', align: Some(Align::Left), width: Some(5), ..PLAIN };
        assert_eq!(
            p,
            [
                Ok(Piece::Text("a ")),
                Ok(Piece::Text("{")),
                Ok(Piece::Arg(hex)),
                Ok(Piece::Text("}")),
                Ok(Piece::Text(" é")),
                Ok(Piece::Arg(left)),
            ]
        );
        assert_eq!(pieces("x {0} y").collect::<Vec<_>>(), [Ok(Piece::Text("x ")), Err(Error::Unsupported)]);
    }
}
