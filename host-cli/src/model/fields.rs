//! Fields and status of spans and events, from field and status records.
//!
//! A field record (callsite kind `Field`) follows the record it annotates in the same context:
//! a span's enter or start, an event, or another field of the same. A status record (callsite
//! kind `Status`) names the innermost scoped span open in its context, or a manual span by id;
//! a status record of a manual span may instead make the fields after it that span's (fields
//! added after the span's start, from any context). Anything else before a
//! field — another record, a loss, a damaged frame — makes it an orphan: counted, never
//! attached to a record it may not belong to.

use super::{NameId, Names, Value};
use crate::item::{CallsiteKind, Kind};
use rustc_hash::FxHashMap;
use tickspan::record::status;
use tickspan::FieldType;

/// Most fields kept per span or event (later ones are counted in [`Fields::dropped`]).
pub const MAX_FIELDS: usize = 32;

/// A field's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldValue {
    /// An integer or float.
    Num(Value),
    /// A bool.
    Bool(bool),
    /// An interned string (its callsite's name).
    Str(NameId),
}

/// One key/value pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field {
    /// The key (the field callsite's name).
    pub key: NameId,
    /// The value.
    pub value: FieldValue,
}

/// A span's status (OTel: unset, ok, error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Error (else ok).
    pub error: bool,
    /// The message (the status callsite's name, possibly empty).
    pub message: NameId,
}

/// Fields and status of one span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanFields {
    /// In record order.
    pub fields: Vec<Field>,
    /// The last status recorded for it.
    pub status: Option<Status>,
}

/// What a record of a field or status callsite says.
pub(crate) enum Annotation {
    /// A field of the record before it.
    Field(Field),
    /// A status of the innermost open scoped span.
    Status(Status),
    /// A status of the manual span with this id.
    SpanStatus(u32, Status),
    /// The field records after it are fields of the manual span with this id.
    Target(u32),
    /// Not an annotation (a value or event record).
    None,
    /// A field record that cannot be read (unknown type).
    Bad,
}

/// Reads a record of kind `kind` of callsite `name`.
pub(crate) fn annotation(names: &mut Names, kind: Kind, name: NameId, a: u32, b: u32) -> Annotation {
    let wide = a as u64 | (b as u64) << 32;
    match names.info(name).kind {
        // A format's argument is a field keyed by the format (`model::format`).
        Some(CallsiteKind::Field | CallsiteKind::Format) => {
            let value = match kind {
                Kind::ValueU => FieldValue::Num(Value::U(wide)),
                Kind::ValueI => FieldValue::Num(Value::I(wide as i64)),
                Kind::ValueF => FieldValue::Num(Value::F(f64::from_bits(wide))),
                Kind::Field => match FieldType::from_bits(b) {
                    Some(FieldType::Bool) if a <= 1 => FieldValue::Bool(a == 1),
                    Some(FieldType::Str) => FieldValue::Str(names.intern(a & !0xF)),
                    _ => return Annotation::Bad,
                },
                _ => return Annotation::Bad,
            };
            Annotation::Field(Field { key: name, value })
        }
        Some(CallsiteKind::Status) if kind == Kind::ValueU && wide <= 1 => {
            Annotation::Status(Status { error: wide == 1, message: name })
        }
        Some(CallsiteKind::Status) if kind == Kind::ValueU && a & !7 == 0 && a & status::SPAN != 0 => {
            if a & status::TARGET == 0 {
                Annotation::SpanStatus(b, Status { error: a & status::ERROR != 0, message: name })
            } else if a & status::ERROR == 0 {
                Annotation::Target(b)
            } else {
                Annotation::Bad
            }
        }
        Some(CallsiteKind::Status) => Annotation::Bad,
        // A bool or string record of a callsite that is no field key (or not described).
        _ if kind == Kind::Field => Annotation::Bad,
        _ => Annotation::None,
    }
}

/// Fields of the open spans, by uid, and of the event being handed to visitors.
#[derive(Default)]
pub struct Fields {
    by_uid: FxHashMap<u64, SpanFields>,
    /// Fields of the mark [`Visitor::mark`](super::Visitor::mark) is being given.
    pub mark: Vec<Field>,
    /// Field and status records with nothing to attach to (after a loss, a damaged frame or
    /// an unrelated record, or with no span open), or unreadable.
    pub orphans: u64,
    /// Fields beyond [`MAX_FIELDS`] of one span or event.
    pub dropped: u64,
    /// Formatted spans and events whose arguments did not match their placeholders (some lost,
    /// damaged or cut off: shown as [`format::MISSING`](super::format::MISSING)).
    pub bad_args: u64,
}

impl Fields {
    /// Whether no open span has fields (the timeline skips lookups then).
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }

    /// Fields and status of open span `uid` (still there while visitors get its close).
    pub fn get(&self, uid: u64) -> Option<&SpanFields> {
        self.by_uid.get(&uid)
    }

    pub(crate) fn add(&mut self, uid: u64, f: Field) {
        let s = self.by_uid.entry(uid).or_default();
        if s.fields.len() < MAX_FIELDS {
            s.fields.push(f);
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn set_status(&mut self, uid: u64, st: Status) {
        self.by_uid.entry(uid).or_default().status = Some(st);
    }

    /// Counts span `uid` (of format `name`) in [`bad_args`](Self::bad_args) if its arguments
    /// are incomplete; called once its arguments can no longer follow.
    pub(crate) fn check_args(&mut self, names: &Names, uid: u64, name: NameId) {
        let fields = self.by_uid.get(&uid).map_or(&[][..], |f| &f.fields[..]);
        self.bad_args += !super::format::complete(names, name, fields) as u64;
    }

    /// Span `uid` closed and its visitors ran.
    pub(crate) fn close(&mut self, uid: u64) {
        self.by_uid.remove(&uid);
    }
}

/// Adds a field to a pending event's list, within [`MAX_FIELDS`].
pub(crate) fn push_mark_field(list: &mut Vec<Field>, f: Field, dropped: &mut u64) {
    if list.len() < MAX_FIELDS {
        list.push(f);
    } else {
        *dropped += 1;
    }
}

/// ` id=7 ok=true mode="fast"`, then ` ✗ error: msg` for a failed span: how the text views
/// show a record's annotations (empty when it has none).
pub fn text(names: &Names, fields: &[Field], status: Option<Status>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    // A format's arguments are shown in its message.
    for f in fields.iter().filter(|f| !super::format::is_format(names, f.key)) {
        let _ = write!(s, " {}=", names.name(f.key));
        let _ = match f.value {
            FieldValue::Num(v) => write!(s, "{v}"),
            FieldValue::Bool(b) => write!(s, "{b}"),
            FieldValue::Str(id) => write!(s, "{:?}", names.name(id)),
        };
    }
    match status {
        Some(Status { error: true, message }) if names.name(message).is_empty() => s.push_str(" ✗ error"),
        Some(Status { error: true, message }) => {
            let _ = write!(s, " ✗ error: {}", names.name(message));
        }
        Some(Status { error: false, .. }) => s.push_str(" ✓ ok"),
        None => {}
    }
    s
}

/// A field's value as JSON: numbers as numbers (NaN and infinities null), bools, strings.
pub fn json_value(names: &Names, v: FieldValue) -> serde_json::Value {
    match v {
        FieldValue::Num(Value::U(v)) => v.into(),
        FieldValue::Num(Value::I(v)) => v.into(),
        FieldValue::Num(Value::F(v)) => v.into(),
        FieldValue::Bool(b) => b.into(),
        FieldValue::Str(s) => names.name(s).into(),
    }
}

/// Fields as a JSON object (key → typed value; a repeated key keeps its last value), plus
/// `"status": "error"|"ok"` and `"status_message"` for a span with a status: how the JSON
/// views (`tree --json`) and Chrome's `args` carry annotations.
pub fn json(names: &Names, fields: &[Field], status: Option<Status>) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    // A format's arguments are in its message (`format::json`).
    for f in fields.iter().filter(|f| !super::format::is_format(names, f.key)) {
        m.insert(names.name(f.key).into(), json_value(names, f.value));
    }
    if let Some(st) = status {
        m.insert("status".into(), if st.error { "error" } else { "ok" }.into());
        if !names.name(st.message).is_empty() {
            m.insert("status_message".into(), names.name(st.message).into());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Item;
    use crate::model::tests::{def, header, rec};
    use crate::model::{Mark, Meta, Span, Timeline, Visitor};
    use Kind::*;

    /// What visitors saw: each closed span's and each event's annotation text.
    #[derive(Default)]
    struct Seen(Vec<String>);

    impl Visitor for Seen {
        fn close(&mut self, meta: &Meta, s: &Span, _: &[NameId]) {
            let f = meta.fields.get(s.uid).cloned().unwrap_or_default();
            self.0.push(format!("{}{}", meta.names.name(s.name), text(&meta.names, &f.fields, f.status)));
        }
        fn mark(&mut self, meta: &Meta, m: &Mark) {
            self.0.push(format!("•{}{}", meta.names.name(m.name), text(&meta.names, &meta.fields.mark, None)));
        }
    }

    fn run(items: &[Item<'static>]) -> (Vec<String>, u64) {
        let mut t = Timeline::new(4);
        let mut v = Seen::default();
        for &i in items {
            t.push(i, &mut v);
        }
        t.finish(&mut v);
        (v.0, t.meta.fields.orphans)
    }

    fn defs() -> Vec<Item<'static>> {
        vec![
            header(1_000_000),
            def(0x10, "handle", CallsiteKind::Span),
            def(0x20, "retry", CallsiteKind::Event),
            def(0x30, "id", CallsiteKind::Field),
            def(0x40, "ok", CallsiteKind::Field),
            def(0x50, "timeout", CallsiteKind::Status),
            def(0x60, "fast", CallsiteKind::Str),
            def(0x70, "mode", CallsiteKind::Field),
        ]
    }

    #[test]
    fn fields_attach_to_the_record_before_them_and_status_to_the_open_span() {
        let mut items = defs();
        items.extend([
            rec(0, 100, SpanEnter, 0x10, 0, 0),
            rec(0, 100, ValueU, 0x30, 7, 0),
            rec(0, 101, Field, 0x40, 1, 0),
            rec(0, 110, Event, 0x20, 0, 0),
            rec(0, 110, ValueI, 0x30, -2i32 as u32, u32::MAX),
            rec(0, 111, Field, 0x70, 0x60, 1),
            // Another context's records in between do not cut the chain.
            rec(1, 112, Event, 0x20, 0, 0),
            rec(0, 120, ValueU, 0x50, 1, 0),
            rec(0, 130, SpanExit, 0x10, 0, 0),
        ]);
        let (seen, orphans) = run(&items);
        assert!(seen.contains(&"handle id=7 ok=true ✗ error: timeout".to_string()), "{seen:?}");
        assert!(seen.contains(&"•retry id=-2 mode=\"fast\"".to_string()), "{seen:?}");
        assert!(seen.contains(&"•retry".to_string()), "{seen:?}");
        assert_eq!(orphans, 0);
    }

    #[test]
    fn fields_after_losses_damage_or_other_records_are_orphans() {
        let mut items = defs();
        items.extend([
            rec(0, 100, SpanEnter, 0x10, 0, 0),
            // A loss between the enter and the field: the field may belong to a lost record.
            Item::Loss { ctx: 0, count: 2 },
            rec(0, 101, ValueU, 0x30, 7, 0),
            rec(0, 110, Event, 0x20, 0, 0),
            Item::Skipped { offset: 10, bytes: 20 },
            rec(0, 111, ValueU, 0x30, 8, 0),
            // After another kind of record (the span's own value), and an unreadable bool.
            rec(0, 112, Event, 0x20, 0, 0),
            rec(0, 113, Field, 0x40, 5, 0),
            rec(0, 114, Field, 0x40, 1, 9),
            rec(0, 130, SpanExit, 0x10, 0, 0),
            // A status with no span open.
            rec(0, 140, ValueU, 0x50, 1, 0),
        ]);
        let (seen, orphans) = run(&items);
        assert_eq!(seen.iter().filter(|s| s.contains('=') || s.contains('✗')).count(), 0, "{seen:?}");
        assert_eq!(orphans, 5);
        assert!(seen.contains(&"handle".to_string()) && seen.iter().filter(|s| *s == "•retry").count() == 2);
    }

    #[test]
    fn manual_spans_take_fields_and_status_later_from_any_context() {
        let (span, target, error) = (status::SPAN, status::SPAN | status::TARGET, status::SPAN | status::ERROR);
        let mut items = defs();
        items.extend([
            rec(0, 100, SpanStart, 0x10, 5, 0),
            rec(0, 100, ValueU, 0x30, 7, 0),
            rec(1, 101, SpanStart, 0x10, 6, 5),
            // Span 5's fields from context 1, after another record there.
            rec(1, 110, ValueU, 0x50, target, 5),
            rec(1, 110, Field, 0x40, 1, 0),
            // Span 6 fails (from context 0); span 5's error is overridden by an ok.
            rec(0, 120, ValueU, 0x50, error, 6),
            rec(0, 121, ValueU, 0x50, error, 5),
            rec(1, 122, ValueU, 0x50, span, 5),
            rec(1, 130, SpanEnd, 0x10, 6, 0),
            // A field after a span's end is no field of it; a span that is not open takes none.
            rec(1, 131, Field, 0x40, 0, 0),
            rec(0, 132, ValueU, 0x50, target, 9),
            rec(0, 133, Field, 0x40, 0, 0),
            // Error and target together mean nothing.
            rec(0, 134, ValueU, 0x50, target | status::ERROR, 5),
            rec(0, 140, SpanEnd, 0x10, 5, 0),
        ]);
        let (seen, orphans) = run(&items);
        assert!(seen.contains(&"handle ✗ error: timeout".to_string()), "{seen:?}");
        assert!(seen.contains(&"handle id=7 ok=true ✓ ok".to_string()), "{seen:?}");
        assert_eq!(orphans, 4, "{seen:?}");
    }
}
