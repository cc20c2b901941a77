//! OpenTelemetry OTLP/JSON (`ExportTraceServiceRequest`), as an OTLP/HTTP receiver takes it.
//!
//! OTLP/JSON is not protobuf's generic JSON mapping: `traceId`/`spanId` are lowercase hex
//! (32 and 16 digits), `kind` is an integer (1 = internal), 64-bit integers and times are
//! decimal strings. Each root span (a context's outermost span, an ISR, a manual span without
//! parent) starts a trace; ids are derived from the stream (node, anchor) and the span's
//! position, so an export is reproducible. Events inside a span become span events (at most
//! `MAX_EVENTS` per span); a value event's `value` attribute has the value's type: `intValue`
//! (a decimal string) for signed and unsigned integers, `doubleValue` for floats (`"NaN"`,
//! `"Infinity"`, `"-Infinity"` as protobuf's JSON mapping writes them); an unsigned value above
//! `i64::MAX`, which `intValue` cannot hold, is written exactly as a `stringValue`. Times are
//! wall-clock when the stream carried a clock anchor, else nanoseconds from the start of the
//! trace.

use super::{js, Errors};
use crate::model::{Mark, MarkKind, Meta, NameId, Span, SpanKind, Value, Visitor};
use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Events kept per span.
pub(crate) const MAX_EVENTS: usize = 64;

/// Streams OTLP spans to `out`.
pub struct Otlp<W: Write> {
    out: W,
    started: bool,
    first: bool,
    seed: u64,
    events: FxHashMap<u64, Vec<(u64, String)>>,
    err: Errors,
}

fn mix(mut z: u64) -> u64 {
    // splitmix64 finaliser: spreads ids that differ in a few bits over all 64.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<W: Write> Otlp<W> {
    /// An export to `out`; the document starts with the first span.
    pub fn new(out: W) -> Self {
        Otlp { out, started: false, first: true, seed: 0, events: FxHashMap::default(), err: Errors::default() }
    }

    fn start(&mut self, meta: &Meta) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let anchor = meta.anchor.map_or(0, |(t, u)| mix(t) ^ u);
        self.seed = mix(meta.node ^ anchor ^ mix(meta.start.unwrap_or(0)));
        let mut attrs = vec![kv_str("service.name", "tickspan"), kv_int("tickspan.node", meta.node)];
        if !meta.target.is_empty() {
            attrs.push(kv_str("tickspan.target", &meta.target));
        }
        let r = write!(
            self.out,
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[{}]}},"scopeSpans":[{{"scope":{{"name":"tickspan","version":"{}"}},"spans":["#,
            attrs.join(","),
            env!("CARGO_PKG_VERSION")
        );
        self.err.keep(r);
    }

    /// Hex trace id of the trace rooted at span `root`.
    pub(crate) fn trace_id(&self, root: u64) -> String {
        format!("{:016x}{:016x}", mix(self.seed ^ root), mix(self.seed.rotate_left(32) ^ !root))
    }

    /// Hex span id of span `uid` (never all zeros).
    pub(crate) fn span_id(&self, uid: u64) -> String {
        format!("{:016x}", mix(self.seed ^ uid.rotate_left(17)).max(1))
    }

    /// Closes the document.
    pub fn finish(mut self, meta: &Meta) -> io::Result<()> {
        self.start(meta);
        self.err.keep(self.out.write_all(b"]}]}]}\n"));
        if let Some(e) = self.err.0.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

fn kv_str(k: &str, v: &str) -> String {
    format!(r#"{{"key":{},"value":{{"stringValue":{}}}}}"#, js(k), js(v))
}

fn kv_int(k: &str, v: u64) -> String {
    format!(r#"{{"key":{},"value":{{"intValue":"{}"}}}}"#, js(k), v.min(i64::MAX as u64))
}

/// A value event's value, typed (see the module docs).
fn kv_value(k: &str, v: Value) -> String {
    let value = match v {
        Value::U(u) => match i64::try_from(u) {
            Ok(i) => format!(r#"{{"intValue":"{i}"}}"#),
            Err(_) => format!(r#"{{"stringValue":"{u}"}}"#),
        },
        Value::I(i) => format!(r#"{{"intValue":"{i}"}}"#),
        Value::F(f) if f.is_nan() => r#"{"doubleValue":"NaN"}"#.into(),
        Value::F(f) if f.is_infinite() => {
            format!(r#"{{"doubleValue":"{}Infinity"}}"#, if f < 0.0 { "-" } else { "" })
        }
        // `{:?}` keeps a decimal point or an exponent (`1.0`, `1e300`): a JSON number that
        // parses back as a double, never as an integer.
        Value::F(f) => format!(r#"{{"doubleValue":{f:?}}}"#),
    };
    format!(r#"{{"key":{},"value":{value}}}"#, js(k))
}

fn time(meta: &Meta, ts: u64) -> u64 {
    meta.unix_ns(ts).unwrap_or_else(|| meta.clock.to_ns(meta.rel(ts)))
}

impl<W: Write> Visitor for Otlp<W> {
    fn close(&mut self, meta: &Meta, s: &Span, _path: &[NameId]) {
        self.start(meta);
        let events = self.events.remove(&s.uid);
        if self.err.0.is_some() {
            return;
        }
        let info = meta.names.info(s.name);
        let mut attrs = vec![
            kv_str("thread.name", &meta.ctx_name(s.ctx)),
            kv_int("thread.id", s.ctx as u64),
            kv_int("tickspan.self_ns", meta.clock.to_ns(s.self_ticks)),
            kv_int("tickspan.isr_ns", meta.clock.to_ns(s.isr_ticks)),
        ];
        attrs.push(kv_int("tickspan.callsite", info.cs as u64));
        if !info.file.is_empty() {
            attrs.push(kv_str("code.filepath", &info.file));
            attrs.push(kv_int("code.lineno", info.line as u64));
        }
        match s.kind {
            SpanKind::Isr => attrs.push(kv_int("tickspan.irq", s.id as u64)),
            SpanKind::Manual => attrs.push(kv_int("tickspan.span_id", s.id as u64)),
            SpanKind::Scoped => {}
        }
        if s.unfinished {
            attrs.push(r#"{"key":"tickspan.unfinished","value":{"boolValue":true}}"#.into());
        }
        let mut body = format!(r#"{{"traceId":"{}","spanId":"{}","#, self.trace_id(s.root), self.span_id(s.uid));
        if s.parent != 0 {
            let _ = write!(body, r#""parentSpanId":"{}","#, self.span_id(s.parent));
        }
        let _ = write!(
            body,
            r#""name":{},"kind":1,"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":[{}]"#,
            js(meta.names.name(s.name)),
            time(meta, s.start),
            time(meta, s.end),
            attrs.join(",")
        );
        if let Some(ev) = events {
            let ev: Vec<String> =
                ev.into_iter().map(|(t, e)| format!(r#"{{"timeUnixNano":"{}",{e}}}"#, time(meta, t))).collect();
            let _ = write!(body, r#","events":[{}]"#, ev.join(","));
        }
        body.push_str(r#","status":{}}"#);
        let sep = if std::mem::take(&mut self.first) { "" } else { ",\n" };
        let r = self.out.write_all(sep.as_bytes()).and_then(|_| self.out.write_all(body.as_bytes()));
        self.err.keep(r);
    }

    fn mark(&mut self, meta: &Meta, m: &Mark) {
        if m.span == 0 {
            return;
        }
        let list = self.events.entry(m.span).or_default();
        if list.len() >= MAX_EVENTS {
            return;
        }
        let e = match m.kind {
            MarkKind::Event => format!(r#""name":{}"#, js(meta.names.name(m.name))),
            MarkKind::Value(v) => {
                format!(r#""name":{},"attributes":[{}]"#, js(meta.names.name(m.name)), kv_value("value", v))
            }
            MarkKind::Task(t) => {
                format!(r#""name":{},"attributes":[{}]"#, js(meta.names.name(m.name)), kv_int("task", t as u64))
            }
            MarkKind::Loss(n) => format!(r#""name":"records lost","attributes":[{}]"#, kv_int("count", n as u64)),
        };
        list.push((m.ts, e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{CallsiteKind, Item, Kind::*};
    use crate::model::tests::{def, header, rec};
    use crate::model::Timeline;
    use serde_json::Value;

    #[test]
    fn writes_otlp_json_with_hex_ids_and_string_times() {
        let items = [
            header(1_000_000),
            Item::Sync { ts: 0, unix_ns: 1_700_000_000_000_000_000 },
            def(0x10, "outer", CallsiteKind::Span),
            def(0x20, "inner", CallsiteKind::Span),
            def(0x30, "rx", CallsiteKind::Event),
            rec(0, 1000, SpanEnter, 0x10, 0, 0),
            rec(0, 1010, SpanEnter, 0x20, 0, 0),
            rec(0, 1015, ValueU, 0x30, 9, 0),
            rec(0, 1020, SpanExit, 0x20, 0, 0),
            rec(0, 1100, SpanExit, 0x10, 0, 0),
            rec(0, 1200, SpanEnter, 0x10, 0, 0),
            rec(0, 1300, SpanExit, 0x10, 0, 0),
        ];
        let mut t = Timeline::new(4);
        let mut doc = Vec::new();
        let mut o = Otlp::new(&mut doc);
        for i in items {
            t.push(i, &mut o);
        }
        t.finish(&mut o);
        o.finish(&t.meta).unwrap();
        let v: Value = serde_json::from_slice(&doc).expect("valid JSON");
        let spans = v["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap();
        assert_eq!(spans.len(), 3);
        let hex = |s: &Value, n: usize| {
            let s = s.as_str().unwrap();
            s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        for s in spans {
            assert!(hex(&s["traceId"], 32) && hex(&s["spanId"], 16), "{s}");
            assert_eq!(s["kind"], 1);
            let (a, b): (u64, u64) = (
                s["startTimeUnixNano"].as_str().unwrap().parse().unwrap(),
                s["endTimeUnixNano"].as_str().unwrap().parse().unwrap(),
            );
            assert!(a >= 1_700_000_000_000_000_000 && b >= a);
        }
        let (inner, outer, second) = (&spans[0], &spans[1], &spans[2]);
        assert_eq!(inner["parentSpanId"], outer["spanId"]);
        assert_eq!(inner["traceId"], outer["traceId"]);
        assert_ne!(second["traceId"], outer["traceId"]);
        assert!(outer.get("parentSpanId").is_none());
        assert_eq!(outer["startTimeUnixNano"], "1700000000001000000");
        assert_eq!(inner["events"][0]["name"], "rx");
        assert_eq!(inner["events"][0]["attributes"][0]["value"]["intValue"], "9");
    }

    #[test]
    fn values_keep_their_type() {
        let typed = |v| serde_json::from_str::<Value>(&kv_value("value", v)).unwrap()["value"].clone();
        use crate::model::Value::{F, I, U};
        assert_eq!(typed(U(9)), serde_json::json!({"intValue": "9"}));
        assert_eq!(typed(U(i64::MAX as u64)), serde_json::json!({"intValue": i64::MAX.to_string()}));
        assert_eq!(typed(U(u64::MAX)), serde_json::json!({"stringValue": u64::MAX.to_string()}));
        assert_eq!(typed(I(-5)), serde_json::json!({"intValue": "-5"}));
        assert_eq!(typed(I(i64::MIN)), serde_json::json!({"intValue": i64::MIN.to_string()}));
        assert_eq!(typed(F(2.5)), serde_json::json!({"doubleValue": 2.5}));
        assert!(typed(F(1.0))["doubleValue"].is_f64(), "1.0 stays a double");
        assert_eq!(typed(F(1e300)), serde_json::json!({"doubleValue": 1e300}));
        assert_eq!(typed(F(f64::NAN)), serde_json::json!({"doubleValue": "NaN"}));
        assert_eq!(typed(F(f64::NEG_INFINITY)), serde_json::json!({"doubleValue": "-Infinity"}));
        assert_eq!(typed(F(f64::INFINITY)), serde_json::json!({"doubleValue": "Infinity"}));
    }
}
