//! `dump`: every decoded item in stream order, as text or JSON lines. No reordering, no
//! reconstruction: what the decoder saw, with names and times resolved.

use crate::item::{Item, Kind};
use crate::model::{Annotation, Field, FieldValue, Names};
use crate::units::{count, Clock};
use serde_json::json;
use std::io::{self, Write};

/// Prints items as they arrive.
pub struct Dump<W: Write> {
    out: W,
    json: bool,
    names: Names,
    clock: Clock,
    start: Option<u64>,
    error: Option<io::Error>,
}

impl<W: Write> Dump<W> {
    /// A dump to `out`, as JSON lines when `json`.
    pub fn new(out: W, json: bool) -> Self {
        Dump { out, json, names: Names::default(), clock: Clock::default(), start: None, error: None }
    }

    /// The callsite names (to give them a resolver such as `--elf`).
    pub fn names(&mut self) -> &mut Names {
        &mut self.names
    }

    /// Prints one item (errors are kept for [`finish`](Self::finish)).
    pub fn item(&mut self, item: Item<'_>) {
        if self.error.is_some() {
            return;
        }
        let r = if self.json { self.json_line(item) } else { self.text_line(item) };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    /// Whether output failed (e.g. a closed pipe).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Flushes what was printed so far (a live input went quiet); a failure is kept as a write
    /// error is.
    pub fn flush(&mut self) {
        if self.error.is_none() {
            self.error = self.out.flush().err();
        }
    }

    /// Flushes; returns the first write error.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }

    fn note(&mut self, item: &Item<'_>) {
        match *item {
            Item::Header(h) => self.clock = Clock { hz: h.clock_hz },
            Item::Callsite(c) => self.names.define(&c),
            Item::Record { ts, .. } if self.start.is_none() => self.start = Some(ts),
            _ => {}
        }
    }

    fn text_line(&mut self, item: Item<'_>) -> io::Result<()> {
        self.note(&item);
        let w = &mut self.out;
        match item {
            Item::Header(h) => writeln!(
                w,
                "header    version {} clock {} Hz wrap {} node {} target {:?} name {:?}",
                h.version, h.clock_hz, h.clock_wrap, h.node, h.target, h.name
            ),
            Item::Callsite(c) => {
                writeln!(w, "callsite  {:#x} {:?} {:?} {:?} {}:{}", c.id, c.kind, c.level, c.name, c.file, c.line)
            }
            Item::Context { ctx, name } => writeln!(w, "context   {ctx} {name:?}"),
            Item::Record { ctx, ts, kind, callsite, a, b } => {
                let rel = self.clock.dur(ts - self.start.unwrap_or(ts).min(ts));
                let name = if callsite == 0 || kind == Kind::Link {
                    ""
                } else {
                    let id = self.names.intern(callsite);
                    self.names.name(id)
                };
                write!(w, "ctx {ctx:<3} {ts:>14} {rel:>14}  {:<10} {name}", format!("{kind:?}"))?;
                match kind {
                    Kind::ValueU => write!(w, " = {}", wide(a, b))?,
                    Kind::ValueI => write!(w, " = {}", wide(a, b) as i64)?,
                    Kind::ValueF => write!(w, " = {}", f64::from_bits(wide(a, b)))?,
                    Kind::IsrEnter | Kind::IsrExit => write!(w, " irq {a}")?,
                    Kind::TaskSwitch => write!(w, " task {a}")?,
                    Kind::SpanStart => write!(w, " id {a:#x} parent {b:#x}")?,
                    Kind::SpanEnd => write!(w, " id {a:#x}")?,
                    Kind::Link => {
                        let (field, flags) = link(callsite);
                        write!(w, "{field} {:016x} flags {flags:02x}", wide(a, b))?
                    }
                    _ => {}
                }
                match annotation(&mut self.names, kind, callsite, a, b) {
                    Some(Annotation::Field(v)) => write!(w, "{} (field)", text_value(&self.names, v))?,
                    Some(Annotation::Status(st)) => write!(w, " (status {})", if st.error { "error" } else { "ok" })?,
                    Some(Annotation::Bad) => write!(w, " (unreadable field)")?,
                    _ => {}
                }
                writeln!(w)
            }
            Item::Loss { ctx, count: n } => writeln!(w, "ctx {ctx:<3} lost {}", count(n.into(), "record")),
            Item::Sync { ts, unix_ns } => writeln!(w, "sync      tick {ts} = unix {unix_ns} ns"),
            Item::Skipped { offset, bytes } => writeln!(w, "skipped   {} at offset {offset}", count(bytes, "byte")),
            Item::Ambiguous { ctx, earliest, first, last, records } => writeln!(
                w,
                "ctx {ctx:<3} ambiguous time: {records} records dated {first}..={last} may be whole clock periods late (written after {earliest})"
            ),
        }
    }

    fn json_line(&mut self, item: Item<'_>) -> io::Result<()> {
        self.note(&item);
        let v = match item {
            Item::Header(h) => {
                json!({"type": "header", "version": h.version, "clock_hz": h.clock_hz,
                "clock_wrap": h.clock_wrap, "node": h.node, "target": h.target, "name": h.name})
            }
            Item::Callsite(c) => {
                json!({"type": "callsite", "id": c.id, "kind": format!("{:?}", c.kind),
                "level": format!("{:?}", c.level), "name": c.name, "file": c.file, "line": c.line})
            }
            Item::Context { ctx, name } => json!({"type": "context", "ctx": ctx, "name": name}),
            Item::Record { ctx, ts, kind, callsite, a, b } => {
                let name = if kind == Kind::Link {
                    ""
                } else {
                    let id = self.names.intern(callsite);
                    self.names.name(id)
                };
                let mut v = json!({"type": "record", "ctx": ctx, "ts": ts, "kind": format!("{kind:?}"),
                    "callsite": callsite, "name": name, "a": a, "b": b});
                if self.clock.is_real() {
                    v["ns"] = json!(self.clock.to_ns(ts - self.start.unwrap_or(ts).min(ts)));
                }
                match kind {
                    Kind::ValueU => v["value"] = json!(wide(a, b)),
                    Kind::ValueI => v["value"] = json!(wide(a, b) as i64),
                    Kind::ValueF => v["value"] = json!(f64::from_bits(wide(a, b))),
                    Kind::Link => {
                        let (field, flags) = link(callsite);
                        v["field"] = json!(field);
                        v["value"] = json!(format!("{:016x}", wide(a, b)));
                        v["flags"] = json!(flags);
                    }
                    _ => {}
                }
                match annotation(&mut self.names, kind, callsite, a, b) {
                    Some(Annotation::Field(f)) => {
                        v["field"] = json!(true);
                        v["value"] = crate::model::fields::json_value(&self.names, f.value);
                    }
                    Some(Annotation::Status(st)) => v["status"] = json!(if st.error { "error" } else { "ok" }),
                    Some(Annotation::Bad) => v["field"] = json!(null),
                    _ => {}
                }
                v
            }
            Item::Loss { ctx, count } => json!({"type": "loss", "ctx": ctx, "count": count}),
            Item::Sync { ts, unix_ns } => json!({"type": "sync", "ts": ts, "unix_ns": unix_ns}),
            Item::Skipped { offset, bytes } => {
                json!({"type": "skipped", "offset": offset, "bytes": bytes})
            }
            Item::Ambiguous { ctx, earliest, first, last, records } => json!({"type": "ambiguous", "ctx": ctx,
                "earliest": earliest, "first": first, "last": last, "records": records}),
        };
        serde_json::to_writer(&mut self.out, &v)?;
        writeln!(self.out)
    }
}

/// What a record of a field or status callsite says (`None` for other records).
fn annotation(names: &mut Names, kind: Kind, callsite: u32, a: u32, b: u32) -> Option<Annotation> {
    if !matches!(kind, Kind::ValueU | Kind::ValueI | Kind::ValueF | Kind::Field) {
        return None;
    }
    let id = names.intern(callsite);
    match crate::model::annotation(names, kind, id, a, b) {
        Annotation::Field(f) => Some(Annotation::Field(f)),
        Annotation::None => None,
        other => Some(other),
    }
}

/// ` = value` of a field in text; numbers were printed with the record already.
fn text_value(names: &Names, f: Field) -> String {
    match f.value {
        FieldValue::Num(_) => String::new(),
        FieldValue::Bool(b) => format!(" = {b}"),
        FieldValue::Str(s) => format!(" = {:?}", names.name(s)),
    }
}

fn wide(a: u32, b: u32) -> u64 {
    a as u64 | (b as u64) << 32
}

/// A link record's field name and trace flags, from its tag bits (`callsite`).
fn link(callsite: u32) -> (&'static str, u8) {
    use tickspan::trace_context::LinkField;
    let field = match LinkField::of_tag(callsite) {
        LinkField::TraceHi => "trace-id-hi",
        LinkField::TraceLo => "trace-id-lo",
        LinkField::Parent => "parent-span-id",
        LinkField::SpanId => "span-id",
    };
    (field, LinkField::flags_of_tag(callsite).bits())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::CallsiteKind;
    use crate::model::tests::{def, header, rec};

    #[test]
    fn prints_text_and_json_lines() {
        let items = [
            header(1_000_000),
            def(0x10, "rx", CallsiteKind::Event),
            rec(0, 100, Kind::SpanEnter, 0x20, 0, 0),
            rec(0, 150, Kind::ValueI, 0x10, (-5i64) as u32, ((-5i64) as u64 >> 32) as u32),
            Item::Loss { ctx: 0, count: 2 },
            Item::Skipped { offset: 40, bytes: 9 },
        ];
        let mut d = Dump::new(Vec::new(), false);
        items.iter().for_each(|&i| d.item(i));
        let text = String::from_utf8(d.out).unwrap();
        assert!(text.contains("ctx 0              150      50.000 µs  ValueI     rx = -5"), "{text}");
        assert!(text.contains("cs#20") && text.contains("lost 2 records") && text.contains("9 bytes at offset 40"));
        let mut d = Dump::new(Vec::new(), true);
        items.iter().for_each(|&i| d.item(i));
        let lines: Vec<serde_json::Value> =
            String::from_utf8(d.out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 6);
        assert_eq!(lines[3]["value"], -5);
        assert_eq!(lines[3]["ns"], 50_000);
        assert_eq!(lines[5]["type"], "skipped");
    }
}
