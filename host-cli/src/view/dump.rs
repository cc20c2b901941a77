//! `dump`: every decoded item in stream order, as text or JSON lines. No reordering, no
//! reconstruction: what the decoder saw, with names and times resolved.

use crate::item::{Item, Kind};
use crate::model::{format, Annotation, Field, FieldValue, NameId, Names};
use crate::units::{count, Clock};
use rustc_hash::FxHashMap;
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
    /// Per context, the formatted record whose arguments are being read.
    pending: FxHashMap<u32, Pending>,
    /// The record being printed is argument this of its context's pending message.
    arg: Option<usize>,
}

/// A formatted span or event, its arguments so far and how many its format wants.
struct Pending {
    ts: u64,
    name: NameId,
    args: Vec<FieldValue>,
    want: usize,
}

impl<W: Write> Dump<W> {
    /// A dump to `out`, as JSON lines when `json`.
    pub fn new(out: W, json: bool) -> Self {
        Dump {
            out,
            json,
            names: Names::default(),
            clock: Clock::default(),
            start: None,
            error: None,
            pending: FxHashMap::default(),
            arg: None,
        }
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
        let r = self.item_lines(item);
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    /// The item's line, and the message lines of formatted records it completes or cuts off:
    /// a message is printed after its last argument, or before the record, loss or damage
    /// that ends its arguments early (its missing ones shown as `{?}`).
    fn item_lines(&mut self, item: Item<'_>) -> io::Result<()> {
        self.note(&item);
        self.arg = None;
        match item {
            Item::Record { ctx, kind, callsite, .. } => {
                let arg_kind = matches!(kind, Kind::ValueU | Kind::ValueI | Kind::ValueF | Kind::Field);
                match self.pending.get(&ctx) {
                    Some(p) if arg_kind && self.names.intern(callsite) == p.name && p.args.len() < p.want => {
                        self.arg = Some(p.args.len())
                    }
                    Some(_) => self.message(ctx)?,
                    None => {}
                }
            }
            Item::Loss { ctx, .. } => self.message(ctx)?,
            Item::Skipped { .. } | Item::Header(_) => self.messages()?,
            _ => {}
        }
        if self.json {
            self.json_line(item)?
        } else {
            self.text_line(item)?
        }
        let Item::Record { ctx, ts, kind, callsite, a, b } = item else { return Ok(()) };
        let name = self.names.intern(callsite);
        if self.arg.is_some() {
            match crate::model::annotation(&mut self.names, kind, name, a, b) {
                Annotation::Field(f) => {
                    if let Some(p) = self.pending.get_mut(&ctx) {
                        p.args.push(f.value)
                    }
                }
                _ => return self.message(ctx), // unreadable: the message ends here
            }
        } else if matches!(kind, Kind::Event | Kind::SpanEnter | Kind::SpanStart)
            && format::is_format(&self.names, name)
        {
            let want = tickspan::format::count(self.names.name(name)).unwrap_or(0);
            self.pending.insert(ctx, Pending { ts, name, args: Vec::new(), want });
        }
        match self.pending.get(&ctx) {
            Some(p) if p.args.len() >= p.want => self.message(ctx),
            _ => Ok(()),
        }
    }

    /// Prints context `ctx`'s pending message, if any.
    fn message(&mut self, ctx: u32) -> io::Result<()> {
        let Some(p) = self.pending.remove(&ctx) else { return Ok(()) };
        let fmt = self.names.name(p.name);
        let m = format::render(&self.names, fmt, p.args);
        if self.json {
            let mut v = json!({"type": "message", "ctx": ctx, "ts": p.ts, "format": fmt, "message": m.text});
            if m.missing > 0 {
                v["missing"] = json!(m.missing);
            }
            serde_json::to_writer(&mut self.out, &v)?;
            writeln!(self.out)
        } else {
            let rel = self.clock.dur(p.ts - self.start.unwrap_or(p.ts).min(p.ts));
            write!(self.out, "ctx {ctx:<3} {:>14} {rel:>14}  {:<10} {:?}", p.ts, "message", m.text)?;
            if m.missing > 0 {
                write!(self.out, " ({} missing: lost or damaged)", count(m.missing as u64, "argument"))?;
            }
            writeln!(self.out)
        }
    }

    /// Prints every pending message (damage or a new stream: no argument can follow).
    fn messages(&mut self) -> io::Result<()> {
        let mut ctxs: Vec<u32> = self.pending.keys().copied().collect();
        ctxs.sort_unstable();
        ctxs.into_iter().try_for_each(|c| self.message(c))
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
        if self.error.is_none() {
            self.error = self.messages().err();
        }
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
                    Some(Annotation::Field(v)) if format::is_format(&self.names, v.key) => match self.arg {
                        Some(i) => write!(w, "{} (argument {i})", text_value(&self.names, v))?,
                        None => write!(w, "{} (argument without its record)", text_value(&self.names, v))?,
                    },
                    Some(Annotation::Field(v)) => write!(w, "{} (field)", text_value(&self.names, v))?,
                    Some(Annotation::Status(st)) => write!(w, " (status {})", if st.error { "error" } else { "ok" })?,
                    Some(Annotation::SpanStatus(id, st)) => {
                        write!(w, " (status {} of span {id:#x})", if st.error { "error" } else { "ok" })?
                    }
                    Some(Annotation::Target(id)) => write!(w, " (fields of span {id:#x} follow)")?,
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
                    Some(Annotation::Field(f)) if format::is_format(&self.names, f.key) => {
                        v["arg"] = json!(self.arg);
                        v["value"] = crate::model::fields::json_value(&self.names, f.value);
                    }
                    Some(Annotation::Field(f)) => {
                        v["field"] = json!(true);
                        v["value"] = crate::model::fields::json_value(&self.names, f.value);
                    }
                    Some(Annotation::Status(st)) => v["status"] = json!(if st.error { "error" } else { "ok" }),
                    Some(Annotation::SpanStatus(id, st)) => {
                        v["status"] = json!(if st.error { "error" } else { "ok" });
                        v["span"] = json!(id);
                    }
                    Some(Annotation::Target(id)) => v["fields_of"] = json!(id),
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

    #[test]
    fn messages_follow_their_last_argument_or_show_what_is_missing() {
        let items = [
            header(1_000_000),
            def(0x10, "retry {} of {}", CallsiteKind::Format),
            rec(0, 100, Kind::Event, 0x10, 0, 0),
            rec(0, 101, Kind::ValueU, 0x10, 3, 0),
            rec(0, 102, Kind::ValueU, 0x10, 5, 0),
            rec(0, 110, Kind::Event, 0x10, 0, 0),
            rec(0, 111, Kind::ValueU, 0x10, 4, 0),
            // A loss: the second argument may have been lost with other records.
            Item::Loss { ctx: 0, count: 1 },
            rec(0, 120, Kind::ValueU, 0x10, 6, 0),
            // Cut off by the end of input.
            rec(0, 130, Kind::Event, 0x10, 0, 0),
        ];
        let mut out = Vec::new();
        let mut d = Dump::new(&mut out, true);
        items.iter().for_each(|&i| d.item(i));
        d.finish().unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let msgs: Vec<(&serde_json::Value, &serde_json::Value, usize)> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l["type"] == "message")
            .map(|(i, l)| (&l["message"], &l["missing"], i))
            .collect();
        assert_eq!(msgs.len(), 3, "{lines:?}");
        assert_eq!((msgs[0].0, msgs[0].2), (&"retry 3 of 5".into(), 5), "right after its last argument");
        assert_eq!((msgs[1].0, msgs[1].1), (&"retry 4 of {?}".into(), &1.into()));
        assert_eq!(lines[msgs[1].2 + 1]["type"], "loss", "before the loss that cut it");
        assert_eq!(lines[msgs[1].2 + 2]["arg"], serde_json::Value::Null, "an argument with no record");
        assert_eq!((msgs[2].0, msgs[2].1), (&"retry {?} of {?}".into(), &2.into()));
    }
}
