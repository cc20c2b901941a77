//! Formatted messages: a `Format` callsite's name is the format string (`tickspan::format`),
//! its argument records the values, in order. Rendered here; an argument that is missing (lost,
//! damaged, cut off by another record) shows as [`MISSING`] and is counted by the timeline.

use super::{Field, FieldValue, NameId, Names, Value};
use crate::item::CallsiteKind;
use std::fmt::Write;
use tickspan::format::{pieces, Align, Piece, Spec, Ty};

/// What a placeholder without its argument renders as.
pub const MISSING: &str = "{?}";

/// Widest width and precision rendered: format strings come from the stream's dictionary,
/// and `{:>65535}` ten times over must not make one line megabytes long.
pub const MAX_WIDTH: u16 = 1024;

/// Whether `name` is a formatted span or event (its arguments are fields keyed by it).
#[inline]
pub fn is_format(names: &Names, name: NameId) -> bool {
    names.info(name).kind == Some(CallsiteKind::Format)
}

/// The arguments of `name` among a record's fields, in order.
pub fn args(name: NameId, fields: &[Field]) -> impl Iterator<Item = FieldValue> + '_ {
    fields.iter().filter(move |f| f.key == name).map(|f| f.value)
}

/// Whether record `name` (a format) has one argument per placeholder among `fields`.
pub fn complete(names: &Names, name: NameId, fields: &[Field]) -> bool {
    tickspan::format::count(names.name(name)) == Ok(args(name, fields).count())
}

/// A rendered message and how many of its placeholders had no argument (or could not be read:
/// a malformed format string counts one).
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The text.
    pub text: String,
    /// Placeholders shown as [`MISSING`], plus 1 for a malformed format string.
    pub missing: usize,
    /// Arguments beyond the placeholders (not shown).
    pub extra: usize,
}

impl Message {
    /// Whether every placeholder got its argument and no argument was left over.
    pub fn complete(&self) -> bool {
        self.missing == 0 && self.extra == 0
    }
}

/// The message of record `name` with `fields`; `None` when `name` is not a format.
pub fn message(names: &Names, name: NameId, fields: &[Field]) -> Option<Message> {
    is_format(names, name).then(|| render(names, names.name(name), args(name, fields)))
}

/// How views name record `name`: its message if it is a format, else its name.
pub fn label<'a>(names: &'a Names, name: NameId, fields: &[Field]) -> std::borrow::Cow<'a, str> {
    match message(names, name, fields) {
        Some(m) => m.text.into(),
        None => names.name(name).into(),
    }
}

/// `"format"` and `"message"` of a formatted record, for the JSON views and exports' args.
pub fn json(names: &Names, name: NameId, fields: &[Field], into: &mut serde_json::Map<String, serde_json::Value>) {
    if let Some(m) = message(names, name, fields) {
        into.insert("format".into(), names.name(name).into());
        into.insert("message".into(), m.text.into());
    }
}

/// Substitutes `args` into `fmt`.
pub fn render(names: &Names, fmt: &str, args: impl IntoIterator<Item = FieldValue>) -> Message {
    let mut args = args.into_iter();
    let mut m = Message { text: String::with_capacity(fmt.len() + 8), missing: 0, extra: 0 };
    for p in pieces(fmt) {
        match p {
            Ok(Piece::Text(t)) => m.text.push_str(t),
            Ok(Piece::Arg(spec)) => match args.next() {
                Some(v) => value(&mut m.text, names, spec, v),
                None => {
                    m.missing += 1;
                    m.text.push_str(MISSING)
                }
            },
            Err(_) => {
                // Not from tickspan's macros (they refuse such strings): marked, the rest dropped.
                m.missing += 1;
                m.text.push_str(MISSING);
                break;
            }
        }
    }
    m.extra = args.count();
    m
}

/// One argument, as `core::fmt` would show it under `spec`. Integer specs (`x`, `b`, `o`) on a
/// float, bool or string fall back to Display: the type is not checked at compile time.
fn value(out: &mut String, names: &Names, mut spec: Spec, v: FieldValue) {
    spec.width = spec.width.map(|w| w.min(MAX_WIDTH));
    spec.precision = spec.precision.map(|p| p.min(MAX_WIDTH));
    let (sign, prefix, body, numeric) = match v {
        FieldValue::Num(Value::U(n)) => int(spec, n, false),
        FieldValue::Num(Value::I(n)) => int(spec, n as u64, n < 0),
        FieldValue::Num(Value::F(f)) => {
            let s = match (spec.ty, spec.precision) {
                (Ty::LowerExp, Some(p)) => format!("{:.*e}", p as usize, f.abs()),
                (Ty::LowerExp, None) => format!("{:e}", f.abs()),
                (Ty::UpperExp, Some(p)) => format!("{:.*E}", p as usize, f.abs()),
                (Ty::UpperExp, None) => format!("{:E}", f.abs()),
                (Ty::Debug, Some(p)) => format!("{:.*?}", p as usize, f.abs()),
                (Ty::Debug, None) => format!("{:?}", f.abs()),
                (_, Some(p)) => format!("{:.*}", p as usize, f.abs()),
                (_, None) => format!("{}", f.abs()),
            };
            (sign_of(spec, f.is_sign_negative() && !f.is_nan()), "", s, true)
        }
        FieldValue::Bool(b) => ("", "", b.to_string(), false),
        FieldValue::Str(id) => {
            let s = names.name(id);
            let s = match spec.precision {
                Some(p) if spec.ty != Ty::Debug => s.chars().take(p as usize).collect(),
                _ if spec.ty == Ty::Debug => format!("{s:?}"),
                _ => s.to_owned(),
            };
            ("", "", s, false)
        }
    };
    let len = sign.chars().count() + prefix.len() + body.chars().count();
    let pad = spec.width.map_or(0, |w| (w as usize).saturating_sub(len));
    if spec.zero && numeric {
        // Zeros go between the sign and prefix and the digits; fill and alignment are ignored.
        out.push_str(sign);
        out.push_str(prefix);
        out.extend(std::iter::repeat_n('0', pad));
        out.push_str(&body);
        return;
    }
    let align = spec.align.unwrap_or(if numeric { Align::Right } else { Align::Left });
    let (before, after) = match align {
        Align::Left => (0, pad),
        Align::Right => (pad, 0),
        Align::Center => (pad / 2, pad - pad / 2),
    };
    let fill = spec.fill as char;
    out.extend(std::iter::repeat_n(fill, before));
    out.push_str(sign);
    out.push_str(prefix);
    out.push_str(&body);
    out.extend(std::iter::repeat_n(fill, after));
}

fn sign_of(spec: Spec, negative: bool) -> &'static str {
    match (negative, spec.plus) {
        (true, _) => "-",
        (false, true) => "+",
        (false, false) => "",
    }
}

/// Sign, prefix, digits of an integer (`bits` as `u64`; `negative` for a negative `i64`, whose
/// radix forms are two's complement as in `core::fmt`).
fn int(spec: Spec, bits: u64, negative: bool) -> (&'static str, &'static str, String, bool) {
    let alt = spec.alternate;
    let radix = |p: &'static str, s: String| ("", if alt { p } else { "" }, s, true);
    match spec.ty {
        Ty::LowerHex => radix("0x", format!("{bits:x}")),
        Ty::UpperHex => radix("0x", format!("{bits:X}")),
        Ty::Binary => radix("0b", format!("{bits:b}")),
        Ty::Octal => radix("0o", format!("{bits:o}")),
        ty => {
            let magnitude = if negative { (bits as i64).unsigned_abs() } else { bits };
            let mut s = String::new();
            let _ = match ty {
                Ty::LowerExp => write!(s, "{magnitude:e}"),
                Ty::UpperExp => write!(s, "{magnitude:E}"),
                _ => write!(s, "{magnitude}"),
            };
            (sign_of(spec, negative), "", s, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::CallsiteInfo;

    fn names() -> (Names, NameId) {
        let mut n = Names::default();
        n.define(&CallsiteInfo {
            id: 0x40,
            kind: CallsiteKind::Str,
            level: crate::item::Level::Info,
            line: 1,
            name: "disk",
            file: "",
        });
        let disk = n.intern(0x40);
        (n, disk)
    }

    fn r(fmt: &str, args: &[FieldValue]) -> Message {
        render(&names().0, fmt, args.iter().copied())
    }

    #[test]
    fn renders_as_core_fmt_does() {
        let (n, disk) = names();
        let u = |v| FieldValue::Num(Value::U(v));
        let i = |v| FieldValue::Num(Value::I(v));
        let f = |v| FieldValue::Num(Value::F(v));
        let cases: Vec<(&str, Vec<FieldValue>, String)> = vec![
            ("retry {} of {}", vec![u(3), u(5)], "retry 3 of 5".into()),
            ("slow {}ms on {}", vec![i(-12), FieldValue::Str(disk)], "slow -12ms on disk".into()),
            (
                "{{{:?}}} {:>6} {:<4}|",
                vec![FieldValue::Str(disk), FieldValue::Bool(true), u(1)],
                "{\"disk\"}   true 1   |".into(),
            ),
            (
                "{:x} {:#X} {:#010b} {:o} {:08x}",
                vec![u(255), u(255), u(5), u(8), i(-1)],
                format!("ff 0xFF 0b00000101 10 {:08x}", -1i64),
            ),
            (
                "{:+} {:05} {:^7} {:*>4}",
                vec![u(3), i(-42), u(9), u(7)],
                format!("{:+} {:05} {:^7} {:*>4}", 3, -42, 9, 7),
            ),
            (
                "{} {:?} {:.2} {:e} {:8.3}|",
                vec![f(3.0), f(3.0), f(2.3456), f(1500.0), f(-1.5)],
                format!("{} {:?} {:.2} {:e} {:8.3}|", 3.0, 3.0, 2.3456, 1500.0, -1.5),
            ),
            ("{:.2} {:x}", vec![FieldValue::Str(disk), f(1.5)], "di 1.5".into()),
        ];
        for (fmt, args, want) in cases {
            let m = render(&n, fmt, args);
            assert_eq!((m.text.as_str(), m.complete()), (want.as_str(), true), "{fmt}");
        }
    }

    #[test]
    fn missing_and_extra_arguments_are_visible_and_counted() {
        let m = r("retry {} of {}", &[FieldValue::Num(Value::U(3))]);
        assert_eq!((m.text.as_str(), m.missing, m.extra), ("retry 3 of {?}", 1, 0));
        let m = r("a {} b {}", &[]);
        assert_eq!((m.text.as_str(), m.missing), ("a {?} b {?}", 2));
        let m = r("a {}", &[FieldValue::Bool(true), FieldValue::Bool(false)]);
        assert_eq!((m.text.as_str(), m.extra, m.complete()), ("a true", 1, false));
        // Not a string tickspan's macros accept (from a foreign dictionary): marked, counted.
        let m = r("a {} {0} z", &[FieldValue::Bool(true)]);
        assert_eq!((m.text.as_str(), m.missing), ("a true {?}", 1));
        // Widths from a damaged dictionary are bounded.
        let m = r("{:>65535}|{:.65535}", &[FieldValue::Bool(true), FieldValue::Num(Value::F(0.5))]);
        assert_eq!(m.text.len(), MAX_WIDTH as usize + 1 + 2 + MAX_WIDTH as usize);
    }

    /// What visitors saw (spans on close, events), labelled as the views label them, and the
    /// timeline's counts of incomplete messages and orphans.
    fn timeline(recs: &[crate::item::Item<'static>]) -> (Vec<String>, u64, u64) {
        use crate::model::tests::{def, header};
        use crate::model::{Mark, Meta, Span, Timeline, Visitor};
        struct Seen(Vec<String>);
        impl Visitor for Seen {
            fn close(&mut self, meta: &Meta, s: &Span, _: &[NameId]) {
                let f = meta.fields.get(s.uid).map_or(&[][..], |f| &f.fields[..]);
                let text = super::super::fields::text(&meta.names, f, None);
                self.0.push(format!("{}{text}", label(&meta.names, s.name, f)));
            }
            fn mark(&mut self, meta: &Meta, m: &Mark) {
                if matches!(m.kind, crate::model::MarkKind::Loss(_)) {
                    return;
                }
                let text = super::super::fields::text(&meta.names, &meta.fields.mark, None);
                self.0.push(format!("•{}{text}", label(&meta.names, m.name, &meta.fields.mark)));
            }
        }
        let mut t = Timeline::new(4);
        let mut v = Seen(Vec::new());
        let defs = [
            header(1_000_000),
            def(0x10, "handle {:#x}", CallsiteKind::Format),
            def(0x20, "retry {} of {}", CallsiteKind::Format),
            def(0x30, "mode {}", CallsiteKind::Format),
            def(0x40, "disk", CallsiteKind::Str),
            def(0x50, "id", CallsiteKind::Field),
            def(0x60, "plain", CallsiteKind::Span),
        ];
        for &i in defs.iter().chain(recs) {
            t.push(i, &mut v);
        }
        t.finish(&mut v);
        (v.0, t.meta.fields.bad_args, t.meta.fields.orphans)
    }

    #[test]
    fn the_timeline_renders_arguments_of_their_own_record_only() {
        use crate::item::{Item, Kind::*};
        use crate::model::tests::rec;
        let (seen, bad, orphans) = timeline(&[
            rec(0, 100, SpanEnter, 0x10, 0, 0),
            rec(0, 100, ValueU, 0x10, 255, 0),
            rec(0, 101, ValueU, 0x50, 7, 0), // a named field of the same span
            rec(0, 110, Event, 0x20, 0, 0),
            rec(0, 110, ValueU, 0x20, 3, 0),
            rec(0, 111, ValueI, 0x20, -5i32 as u32, u32::MAX),
            rec(0, 112, Event, 0x30, 0, 0),
            rec(0, 112, Field, 0x30, 0x40, 1),
            rec(0, 130, SpanExit, 0x10, 0, 0),
        ]);
        assert!(seen.contains(&"•retry 3 of -5".to_string()), "{seen:?}");
        assert!(seen.contains(&"•mode disk".to_string()), "{seen:?}");
        assert!(seen.contains(&"handle 0xff id=7".to_string()), "{seen:?}");
        assert_eq!((bad, orphans), (0, 0));

        let (seen, bad, orphans) = timeline(&[
            // Cut short by another record: the second argument is missing.
            rec(0, 110, Event, 0x20, 0, 0),
            rec(0, 110, ValueU, 0x20, 3, 0),
            rec(0, 111, Event, 0x30, 0, 0),
            // A loss between an event and its argument: the argument may be another's.
            Item::Loss { ctx: 0, count: 1 },
            rec(0, 112, Field, 0x30, 0x40, 1),
            // Damage, then arguments of a record that is gone.
            rec(0, 120, Event, 0x20, 0, 0),
            Item::Skipped { offset: 10, bytes: 20 },
            rec(0, 121, ValueU, 0x20, 1, 0),
            // Another format's argument after a span: not this span's.
            rec(0, 130, SpanEnter, 0x60, 0, 0),
            rec(0, 130, ValueU, 0x20, 9, 0),
            rec(0, 140, SpanExit, 0x60, 0, 0),
            // A formatted span whose argument never came, and an unreadable argument.
            rec(0, 150, SpanEnter, 0x10, 0, 0),
            rec(0, 160, SpanExit, 0x10, 0, 0),
            rec(0, 170, Event, 0x30, 0, 0),
            rec(0, 171, Field, 0x30, 0x40, 7),
        ]);
        assert_eq!(
            seen,
            ["•retry 3 of {?}", "•mode {?}", "•retry {?} of {?}", "plain", "handle {?}", "•mode {?}"],
            "visible markers, never another record's value"
        );
        assert_eq!(bad, 5, "each incomplete message counted");
        assert_eq!(orphans, 4, "the loose arguments and the unreadable one are counted");
    }
}
