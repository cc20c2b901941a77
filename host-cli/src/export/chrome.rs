//! Chrome trace-event JSON, as ui.perfetto.dev and chrome://tracing open it.
//!
//! Scoped and ISR spans are `X` events on their context's thread (they nest LIFO per thread, as
//! the format requires); manual spans, which may end on another thread, are async `b`/`e`
//! pairs; events are thread-scoped instants, sampled values counter tracks, losses instants in
//! category `loss`. `ts`/`dur` are microseconds from the start of the trace (ticks, when the
//! clock frequency is unknown). Metadata events name the process (target) and threads
//! (contexts); a context's `tid` is its id + 1: Perfetto's importer reads tid 0 as the pid,
//! which put context 0 on context 1's thread. Output streams as spans close: nothing but the
//! set of contexts seen is kept.

use super::{js, Errors};
use crate::item::CallsiteKind;
use crate::model::{Mark, MarkKind, Meta, NameId, Span, SpanKind, Visitor};
use std::collections::BTreeSet;
use std::io::{self, Write};

/// Streams trace events to `out`.
pub struct Chrome<W: Write> {
    out: W,
    first: bool,
    ctxs: BTreeSet<u32>,
    err: Errors,
    node: Option<NodePlace>,
}

/// Where one node of a join goes in a document of several: its process, and the time line.
#[derive(Clone, Debug, Default)]
pub struct NodePlace {
    /// Its process id.
    pub pid: u64,
    /// Its process name.
    pub name: String,
    /// Added to the node's own nanoseconds to place them on the document's time line.
    pub origin_ns: i128,
    /// Its clock's drift against the time line: ns per ns, from node time `.1`.
    pub drift: (f64, i128),
}

impl NodePlace {
    /// The document time (ns) of the node's own time `ns`.
    pub fn at(&self, ns: i128) -> i128 {
        ns + self.origin_ns + (self.drift.0 * (ns - self.drift.1) as f64) as i128
    }
}

impl<W: Write> Chrome<W> {
    /// Starts the JSON document.
    pub fn new(mut out: W) -> Self {
        let mut err = Errors::default();
        err.keep(out.write_all(DOC_START));
        Chrome { out, first: true, ctxs: BTreeSet::new(), err, node: None }
    }

    /// One node's events inside a document of several (see [`DOC_START`]): no document start,
    /// and `first` says whether an event came before.
    pub fn node(out: W, place: NodePlace, first: bool) -> Self {
        Chrome { out, first, ctxs: BTreeSet::new(), err: Errors::default(), node: Some(place) }
    }

    /// A node's metadata events; returns the output for the next node.
    pub fn finish_node(mut self, meta: &Meta) -> io::Result<W> {
        self.metadata(meta);
        match self.err.0.take() {
            Some(e) => Err(e),
            None => Ok(self.out),
        }
    }

    /// The output, or the first write error.
    pub fn into_inner(mut self) -> io::Result<W> {
        match self.err.0.take() {
            Some(e) => Err(e),
            None => Ok(self.out),
        }
    }

    /// One more event, in the trace-event syntax without braces (flows of a join).
    pub fn raw_event(&mut self, body: std::fmt::Arguments<'_>) {
        self.event(body)
    }

    fn pid(&self, meta: &Meta) -> u64 {
        self.node.as_ref().map_or_else(|| pid(meta), |n| n.pid)
    }

    /// The time of tick `t`: µs from the trace's start, or on a join's time line.
    fn ts(&self, meta: &Meta, t: u64) -> String {
        match &self.node {
            None => us(meta, meta.rel(t)),
            Some(n) => format!("{:.3}", n.at(meta.clock.to_ns(t) as i128) as f64 / 1e3),
        }
    }

    fn event(&mut self, body: std::fmt::Arguments<'_>) {
        if self.err.0.is_some() {
            return;
        }
        let sep = if std::mem::take(&mut self.first) { "" } else { ",\n" };
        let r = self.out.write_all(sep.as_bytes()).and_then(|_| self.out.write_fmt(format_args!("{{{body}}}")));
        self.err.keep(r);
    }

    /// Writes the metadata events and closes the document.
    pub fn finish(mut self, meta: &Meta) -> io::Result<()> {
        self.metadata(meta);
        let unit = if meta.clock.is_real() { "ns" } else { "ticks" };
        self.err.keep(self.out.write_fmt(format_args!("{}", doc_end(unit))));
        if let Some(e) = self.err.0.take() {
            return Err(e);
        }
        self.out.flush()
    }

    fn metadata(&mut self, meta: &Meta) {
        let pid = self.pid(meta);
        let process = match &self.node {
            Some(n) => n.name.clone(),
            None if meta.target.is_empty() => "tickspan".to_string(),
            None => format!("tickspan {}", meta.target),
        };
        self.event(format_args!(
            r#""name":"process_name","ph":"M","pid":{pid},"tid":0,"args":{{"name":{}}}"#,
            js(&process)
        ));
        for ctx in std::mem::take(&mut self.ctxs) {
            let (name, tid) = (js(&meta.ctx_name(ctx)), tid(ctx));
            self.event(format_args!(
                r#""name":"thread_name","ph":"M","pid":{pid},"tid":{tid},"args":{{"name":{name}}}"#
            ));
            self.event(format_args!(
                r#""name":"thread_sort_index","ph":"M","pid":{pid},"tid":{tid},"args":{{"sort_index":{ctx}}}"#
            ));
        }
    }
}

/// How a document starts.
pub const DOC_START: &[u8] = b"{\"traceEvents\":[\n";

/// How a document ends; `unit` says what the times count ("ns" or "ticks").
pub fn doc_end(unit: &str) -> String {
    format!("\n],\"displayTimeUnit\":\"ns\",\"otherData\":{{\"time_base\":\"{unit}\"}}}}\n")
}

fn pid(meta: &Meta) -> u64 {
    meta.node.saturating_add(1)
}

/// The `tid` of context `ctx` (never 0: see the module doc).
pub fn tid(ctx: u32) -> u64 {
    u64::from(ctx) + 1
}

/// Ticks since the trace start, in µs with ns precision.
fn us(meta: &Meta, ticks: u64) -> String {
    format!("{:.3}", meta.clock.to_ns_f64(ticks) / 1e3)
}

impl<W: Write> Visitor for Chrome<W> {
    fn open(&mut self, meta: &Meta, s: &Span) {
        if s.kind != SpanKind::Manual {
            return;
        }
        self.ctxs.insert(s.ctx);
        let (pid, name, ts) = (self.pid(meta), js(meta.names.name(s.name)), self.ts(meta, s.start));
        self.event(format_args!(
            r#""name":{name},"cat":"manual","ph":"b","id":"0x{:x}","ts":{ts},"pid":{pid},"tid":{},"args":{{"span_id":{}}}"#,
            s.uid, tid(s.ctx), s.id
        ));
    }

    fn close(&mut self, meta: &Meta, s: &Span, _path: &[NameId]) {
        self.ctxs.insert(s.ctx);
        let (pid, name, ts) = (self.pid(meta), js(meta.names.name(s.name)), self.ts(meta, s.start));
        let f = meta.fields.get(s.uid);
        let fields = args(meta, s.name, f.map_or(&[], |f| &f.fields), f.and_then(|f| f.status));
        if s.kind == SpanKind::Manual {
            let end = self.ts(meta, s.end);
            let fields = fields.strip_prefix(',').unwrap_or("");
            self.event(format_args!(
                r#""name":{name},"cat":"manual","ph":"e","id":"0x{:x}","ts":{end},"pid":{pid},"tid":{},"args":{{{fields}}}"#,
                s.uid,
                tid(s.ctx)
            ));
            return;
        }
        let cat = if s.kind == SpanKind::Isr { "isr" } else { "span" };
        let dur = us(meta, s.dur());
        let (self_us, isr_us) = (us(meta, s.self_ticks), us(meta, s.isr_ticks));
        let extra = if s.kind == SpanKind::Isr { format!(",\"irq\":{}", s.id) } else { String::new() };
        let unfinished = if s.unfinished { ",\"unfinished\":true" } else { "" };
        self.event(format_args!(
            r#""name":{name},"cat":"{cat}","ph":"X","ts":{ts},"dur":{dur},"pid":{pid},"tid":{},"args":{{"self_us":{self_us},"isr_us":{isr_us},"depth":{}{extra}{unfinished}{fields}}}"#,
            tid(s.ctx), s.depth
        ));
    }

    fn mark(&mut self, meta: &Meta, m: &Mark) {
        self.ctxs.insert(m.ctx);
        let (pid, ts) = (self.pid(meta), self.ts(meta, m.ts));
        let name = js(meta.names.name(m.name));
        let counter = matches!(
            meta.names.info(m.name).kind,
            Some(CallsiteKind::ValueU64 | CallsiteKind::ValueI64 | CallsiteKind::ValueF64)
        );
        match m.kind {
            MarkKind::Value(v) if counter => {
                let v = match v {
                    crate::model::Value::F(f) if !f.is_finite() => return,
                    v => v.to_string(),
                };
                self.event(format_args!(r#""name":{name},"ph":"C","ts":{ts},"pid":{pid},"tid":{},"args":{{{name}:{v}}}"#, tid(m.ctx)))
            }
            MarkKind::Value(v) => {
                let v = js(&v.to_string());
                self.event(format_args!(
                    r#""name":{name},"cat":"event","ph":"i","s":"t","ts":{ts},"pid":{pid},"tid":{},"args":{{"value":{v}}}"#,
                    tid(m.ctx)
                ))
            }
            MarkKind::Event => {
                let fields = args(meta, m.name, &meta.fields.mark, None);
                let fields = fields.strip_prefix(',').unwrap_or("");
                self.event(format_args!(
                    r#""name":{name},"cat":"event","ph":"i","s":"t","ts":{ts},"pid":{pid},"tid":{},"args":{{{fields}}}"#,
                    tid(m.ctx)
                ))
            }
            MarkKind::Task(t) => self.event(format_args!(
                r#""name":{name},"cat":"task","ph":"i","s":"t","ts":{ts},"pid":{pid},"tid":{},"args":{{"task":{t}}}"#,
                tid(m.ctx)
            )),
            MarkKind::Loss(n) => self.event(format_args!(
                r#""name":"{} lost","cat":"loss","ph":"i","s":"t","ts":{ts},"pid":{pid},"tid":{},"args":{{"lost":{n}}}"#,
                crate::units::count(n.into(), "record"),
                tid(m.ctx)
            )),
        }
    }
}

/// `,"key":value…` of a span's or event's fields and status, for its `args` (empty if none).
/// A formatted record's rendered `message` comes first (its name stays the format string).
fn args(meta: &Meta, name: NameId, fields: &[crate::model::Field], status: Option<crate::model::Status>) -> String {
    let mut m = serde_json::Map::new();
    if let Some(msg) = crate::model::format::message(&meta.names, name, fields) {
        m.insert("message".into(), msg.text.into());
    }
    m.extend(crate::model::fields_json(&meta.names, fields, status));
    let mut s = String::new();
    for (k, v) in m {
        s.push(',');
        s.push_str(&serde_json::Value::from(k).to_string());
        s.push(':');
        s.push_str(&v.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::tests::sample;
    use crate::model::Timeline;
    use serde_json::Value;

    #[test]
    fn writes_valid_nested_trace_events() {
        let mut t = Timeline::new(4);
        let mut doc = Vec::new();
        let mut c = Chrome::new(&mut doc);
        for i in sample() {
            t.push(i, &mut c);
        }
        t.finish(&mut c);
        c.finish(&t.meta).unwrap();
        let v: Value = serde_json::from_slice(&doc).expect("valid JSON");
        let ev = v["traceEvents"].as_array().unwrap();
        let x: Vec<&Value> = ev.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(x.len(), 4, "outer, inner and two polls");
        let inner = x.iter().find(|e| e["name"] == "in\"ner").unwrap();
        assert_eq!((inner["ts"].as_f64(), inner["dur"].as_f64()), (Some(10.0), Some(10.0)));
        let outer = x.iter().find(|e| e["name"] == "outer").unwrap();
        assert_eq!(
            (outer["ts"].as_f64(), outer["dur"].as_f64(), outer["tid"].as_u64()),
            (Some(0.0), Some(100.0), Some(1))
        );
        assert_eq!(outer["args"]["self_us"].as_f64(), Some(90.0));
        assert!(ev.iter().any(|e| e["ph"] == "C" && e["args"]["depth"] == 3));
        let b = ev.iter().find(|e| e["ph"] == "b" && e["name"] == "req").unwrap();
        let e = ev.iter().find(|e| e["ph"] == "e" && e["id"] == b["id"]).unwrap();
        assert_eq!((b["id"].clone(), e["ts"].as_f64()), (e["id"].clone(), Some(200.0)));
        assert!(ev.iter().any(|e| e["cat"] == "loss" && e["args"]["lost"] == 4));
        assert!(ev.iter().any(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "main"));
    }
}
