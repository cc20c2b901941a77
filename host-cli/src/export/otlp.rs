//! OpenTelemetry OTLP: spans as the generated `opentelemetry-proto` messages (`Builder`),
//! written as OTLP/JSON (`ExportTraceServiceRequest`, [`Otlp`] for a file, `request_json`
//! for a push) or as protobuf by [`super::push`].
//!
//! OTLP/JSON is not protobuf's generic JSON mapping: `traceId`/`spanId` are lowercase hex
//! (32 and 16 digits), `kind` is an integer (1 = internal), 64-bit integers and times are
//! decimal strings. Each root span (a context's outermost span, an ISR, a manual span without
//! parent) starts a trace; ids are derived from the stream (node, anchor) and the span's
//! position, so an export is reproducible and a push sends the same ids as a file export.
//! Events inside a span become span events (at most `MAX_EVENTS` per span, the rest counted in
//! `droppedEventsCount`); a value event's `value` attribute has the value's type: `intValue`
//! (a decimal string) for signed and unsigned integers, `doubleValue` for floats (`"NaN"`,
//! `"Infinity"`, `"-Infinity"` as protobuf's JSON mapping writes them); an unsigned value above
//! `i64::MAX`, which `intValue` cannot hold, is written exactly as a `stringValue`. Times are
//! wall-clock when the stream carried a clock anchor, else nanoseconds from the start of the
//! trace. The resource ([`Resource`]) names the service and the node (see [`resource`]).

use super::{js, Errors};
use crate::model::{Mark, MarkKind, Meta, NameId, Span as TlSpan, SpanKind, Value, Visitor};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
pub use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::Event, status::StatusCode, Span, Status};
use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Events kept per span (the rest are counted in `dropped_events_count`).
pub(crate) const MAX_EVENTS: usize = 64;
/// `Span.kind`: SPAN_KIND_INTERNAL.
const KIND_INTERNAL: i32 = 1;

fn mix(mut z: u64) -> u64 {
    // splitmix64 finaliser: spreads ids that differ in a few bits over all 64.
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A pseudo-random number from `seed` (jitter, not ids).
pub(crate) fn scramble(seed: u64) -> u64 {
    mix(seed)
}

/// Turns the timeline's spans and marks into OTLP [`Span`]s with stable ids.
#[derive(Default)]
pub(crate) struct Builder {
    seed: Option<u64>,
    /// Events of open spans (tick, event without its time yet) and how many were dropped.
    events: FxHashMap<u64, (Vec<(u64, Event)>, u32)>,
}

impl Builder {
    fn seed(&mut self, meta: &Meta) -> u64 {
        *self.seed.get_or_insert_with(|| {
            let anchor = meta.anchor.map_or(0, |(t, u)| mix(t) ^ u);
            mix(meta.node ^ anchor ^ mix(meta.start.unwrap_or(0)))
        })
    }

    /// The trace id of the trace rooted at span `root`.
    fn trace_id(seed: u64, root: u64) -> u128 {
        (mix(seed ^ root) as u128) << 64 | mix(seed.rotate_left(32) ^ !root) as u128
    }

    /// The span id of span `uid` (never all zeros).
    fn span_id(seed: u64, uid: u64) -> u64 {
        mix(seed ^ uid.rotate_left(17)).max(1)
    }

    /// The OTLP span of a closed span, with the events recorded inside it.
    pub fn span(&mut self, meta: &Meta, s: &TlSpan) -> Span {
        let seed = self.seed(meta);
        let (events, dropped_events) = self.events.remove(&s.uid).unwrap_or_default();
        let info = meta.names.info(s.name);
        let mut attributes = vec![
            kv_str("thread.name", &meta.ctx_name(s.ctx)),
            kv_int("thread.id", s.ctx as u64),
            kv_int("tickspan.self_ns", meta.clock.to_ns(s.self_ticks)),
            kv_int("tickspan.isr_ns", meta.clock.to_ns(s.isr_ticks)),
            kv_int("tickspan.callsite", info.cs as u64),
        ];
        if !info.file.is_empty() {
            attributes.push(kv_str("code.filepath", &info.file));
            attributes.push(kv_int("code.lineno", info.line as u64));
        }
        match s.kind {
            SpanKind::Isr => attributes.push(kv_int("tickspan.irq", s.id as u64)),
            SpanKind::Manual => attributes.push(kv_int("tickspan.span_id", s.id as u64)),
            SpanKind::Scoped => {}
        }
        if s.unfinished {
            attributes.push(kv("tickspan.unfinished", any_value::Value::BoolValue(true)));
        }
        let annotations = meta.fields.get(s.uid);
        attributes.extend(kv_fields(meta, s.name, annotations.map_or(&[], |f| &f.fields)));
        let status = annotations.and_then(|f| f.status).map(|st| Status {
            code: if st.error { StatusCode::Error } else { StatusCode::Ok } as i32,
            message: if st.error { meta.names.name(st.message).to_string() } else { String::new() },
        });
        let ids = ids(meta, s, seed);
        Span {
            trace_id: ids.trace.to_be_bytes().to_vec(),
            span_id: ids.span.to_be_bytes().to_vec(),
            parent_span_id: if ids.parent != 0 { ids.parent.to_be_bytes().to_vec() } else { Vec::new() },
            flags: ids.flags,
            name: meta.names.name(s.name).to_string(),
            kind: KIND_INTERNAL,
            start_time_unix_nano: time(meta, s.start),
            end_time_unix_nano: time(meta, s.end),
            attributes,
            events: events.into_iter().map(|(t, e)| Event { time_unix_nano: time(meta, t), ..e }).collect(),
            dropped_events_count: dropped_events,
            status,
            ..Default::default()
        }
    }

    /// Keeps an event for the span it happened in.
    pub fn mark(&mut self, meta: &Meta, m: &Mark) {
        if m.span == 0 {
            return;
        }
        let (list, dropped) = self.events.entry(m.span).or_default();
        if list.len() >= MAX_EVENTS {
            *dropped += 1;
            return;
        }
        let (name, attributes) = match m.kind {
            MarkKind::Event => (meta.names.name(m.name).to_string(), kv_fields(meta, m.name, &meta.fields.mark)),
            MarkKind::Value(v) => (meta.names.name(m.name).to_string(), vec![kv_value("value", v)]),
            MarkKind::Task(t) => (meta.names.name(m.name).to_string(), vec![kv_int("task", t as u64)]),
            MarkKind::Loss(n) => ("records lost".to_string(), vec![kv_int("count", n as u64)]),
        };
        list.push((m.ts, Event { name, attributes, ..Default::default() }));
    }
}

/// `Span.flags` bits 8 and 9: whether the parent is known to be remote, and whether it is.
const FLAGS_HAS_IS_REMOTE: u32 = 0x100;
const FLAGS_IS_REMOTE: u32 = 0x200;

/// A span's OTLP ids and flags.
struct Ids {
    trace: u128,
    span: u64,
    /// 0: a root.
    parent: u64,
    flags: u32,
}

/// The ids a span had when it ran (link records: trace id, own id, a parent named by id),
/// else ids derived from the stream and the span's place in it, as for any local span.
fn ids(meta: &Meta, s: &TlSpan, seed: u64) -> Ids {
    let own = |uid| meta.links.get(uid).map_or(0, |l| l.span_id);
    let or = |v: u64, f: &dyn Fn() -> u64| if v != 0 { v } else { f() };
    let span = or(own(s.uid), &|| Builder::span_id(seed, s.uid));
    let local_parent = || {
        if s.parent != 0 {
            or(own(s.parent), &|| Builder::span_id(seed, s.parent))
        } else {
            0
        }
    };
    match meta.links.get(s.uid) {
        Some(l) if l.trace_id != 0 => Ids {
            trace: l.trace_id,
            span,
            parent: or(l.parent_id, &local_parent),
            flags: l.flags as u32 | FLAGS_HAS_IS_REMOTE | if l.remote { FLAGS_IS_REMOTE } else { 0 },
        },
        _ => Ids { trace: Builder::trace_id(seed, s.root), span, parent: local_parent(), flags: 0 },
    }
}

/// What the resource of an export says beyond the stream's own facts: `OTEL_SERVICE_NAME`,
/// `OTEL_RESOURCE_ATTRIBUTES` and the firmware named by `--elf`.
#[derive(Clone, Debug, Default)]
pub struct ResourceConfig {
    /// Attributes in the order given, `service.name` from `OTEL_SERVICE_NAME` first if set.
    pub attributes: Vec<(String, String)>,
    /// The firmware's file name and GNU build id (hex), when `--elf` was given.
    pub elf: Option<(String, Option<String>)>,
}

impl ResourceConfig {
    /// Reads `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`; an unparsable value is an
    /// error (the OpenTelemetry specification says to discard it; we say so and stop).
    pub fn from_env() -> Result<ResourceConfig, String> {
        let mut attributes = Vec::new();
        if let Some(name) = env("OTEL_SERVICE_NAME") {
            attributes.push(("service.name".to_string(), name));
        }
        if let Some(list) = env("OTEL_RESOURCE_ATTRIBUTES") {
            let more = parse_kv_list(&list).map_err(|e| format!("OTEL_RESOURCE_ATTRIBUTES: {e}"))?;
            // OTEL_SERVICE_NAME wins over a service.name in the list.
            let named = !attributes.is_empty();
            attributes.extend(more.into_iter().filter(|(k, _)| !(named && k == "service.name")));
        }
        Ok(ResourceConfig { attributes, elf: None })
    }
}

/// A set, non-empty environment variable.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `key=value,key=value` as OpenTelemetry's environment variables write lists (W3C baggage
/// syntax without properties; values percent-decoded, whitespace around items trimmed).
pub(crate) fn parse_kv_list(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("{item:?} is not key=value"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{item:?} has an empty key"));
        }
        let v = percent_encoding::percent_decode_str(v.trim())
            .decode_utf8()
            .map_err(|_| format!("{item:?}: the value is not UTF-8 once percent-decoded"))?;
        out.push((k.to_string(), v.into_owned()));
    }
    Ok(out)
}

/// The resource of a stream: `service.name` (from the configuration, else the firmware's file
/// name, else the node name in the stream header, else `unknown_service:tickspan` as OpenTelemetry's SDKs name an unnamed service), the
/// configured attributes, then the node: `tickspan.node` (the stream's node id),
/// `tickspan.target` and, with `--elf`, `process.executable.name` and
/// `process.executable.build_id.gnu`. A configured key is never repeated by ours.
pub fn resource(meta: &Meta, cfg: &ResourceConfig) -> Resource {
    let given = |k: &str| cfg.attributes.iter().any(|(key, _)| key == k);
    let mut attributes = Vec::new();
    if !given("service.name") {
        let name = match &cfg.elf {
            Some((file, _)) => file.clone(),
            None if !meta.name.is_empty() => meta.name.clone(),
            None => "unknown_service:tickspan".to_string(),
        };
        attributes.push(kv_str("service.name", &name));
    }
    attributes.extend(cfg.attributes.iter().map(|(k, v)| kv_str(k, v)));
    let mut ours = vec![kv_int("tickspan.node", meta.node)];
    if !meta.target.is_empty() {
        ours.push(kv_str("tickspan.target", &meta.target));
    }
    if let Some((file, build_id)) = &cfg.elf {
        ours.push(kv_str("process.executable.name", file));
        if let Some(id) = build_id {
            ours.push(kv_str("process.executable.build_id.gnu", id));
        }
    }
    attributes.extend(ours.into_iter().filter(|kv| !given(&kv.key)));
    Resource { attributes, ..Default::default() }
}

/// The instrumentation scope of every span: tickspan and its version.
pub(crate) fn scope() -> InstrumentationScope {
    InstrumentationScope { name: "tickspan".into(), version: env!("CARGO_PKG_VERSION").into(), ..Default::default() }
}

fn kv(k: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: k.to_string(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn kv_str(k: &str, v: &str) -> KeyValue {
    kv(k, any_value::Value::StringValue(v.to_string()))
}

fn kv_int(k: &str, v: u64) -> KeyValue {
    kv(k, any_value::Value::IntValue(v.min(i64::MAX as u64) as i64))
}

/// A value event's value, typed (see the module docs).
fn kv_value(k: &str, v: Value) -> KeyValue {
    kv(
        k,
        match v {
            Value::U(u) => match i64::try_from(u) {
                Ok(i) => any_value::Value::IntValue(i),
                Err(_) => any_value::Value::StringValue(u.to_string()),
            },
            Value::I(i) => any_value::Value::IntValue(i),
            Value::F(f) => any_value::Value::DoubleValue(f),
        },
    )
}

/// A record's fields as attributes, and for a formatted record its rendered `message` (the
/// span or event name stays the format string: names should not vary with the arguments).
fn kv_fields(meta: &Meta, name: NameId, fields: &[crate::model::Field]) -> Vec<KeyValue> {
    let m = crate::model::format::message(&meta.names, name, fields).map(|m| kv_str("message", &m.text));
    let own = fields.iter().filter(|f| !crate::model::format::is_format(&meta.names, f.key));
    m.into_iter().chain(own.map(|f| kv_field(meta, f))).collect()
}

/// A field as an attribute of its own type: int, double, bool or string.
fn kv_field(meta: &Meta, f: &crate::model::Field) -> KeyValue {
    use crate::model::FieldValue;
    let key = meta.names.name(f.key);
    match f.value {
        FieldValue::Num(v) => kv_value(key, v),
        FieldValue::Bool(b) => kv(key, any_value::Value::BoolValue(b)),
        FieldValue::Str(id) => kv_str(key, meta.names.name(id)),
    }
}

fn time(meta: &Meta, ts: u64) -> u64 {
    meta.unix_ns(ts).unwrap_or_else(|| meta.clock.to_ns(meta.rel(ts)))
}

fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

fn any_json(out: &mut String, v: &AnyValue) {
    use any_value::Value as V;
    let _ = match &v.value {
        Some(V::StringValue(s)) => write!(out, r#"{{"stringValue":{}}}"#, js(s)),
        Some(V::BoolValue(b)) => write!(out, r#"{{"boolValue":{b}}}"#),
        Some(V::IntValue(i)) => write!(out, r#"{{"intValue":"{i}"}}"#),
        Some(V::DoubleValue(f)) if f.is_nan() => write!(out, r#"{{"doubleValue":"NaN"}}"#),
        Some(V::DoubleValue(f)) if f.is_infinite() => {
            write!(out, r#"{{"doubleValue":"{}Infinity"}}"#, if *f < 0.0 { "-" } else { "" })
        }
        // `{:?}` keeps a decimal point or an exponent (`1.0`, `1e300`): a JSON number that
        // parses back as a double, never as an integer.
        Some(V::DoubleValue(f)) => write!(out, r#"{{"doubleValue":{f:?}}}"#),
        // Not built by tickspan: an empty AnyValue.
        _ => write!(out, "{{}}"),
    };
}

fn kvs_json(out: &mut String, kvs: &[KeyValue]) {
    out.push('[');
    for (i, kv) in kvs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, r#"{{"key":{},"value":"#, js(&kv.key));
        any_json(out, kv.value.as_ref().unwrap_or(&AnyValue { value: None }));
        out.push('}');
    }
    out.push(']');
}

/// A span as OTLP/JSON.
pub(crate) fn span_json(out: &mut String, s: &Span) {
    out.push_str(r#"{"traceId":""#);
    hex(out, &s.trace_id);
    out.push_str(r#"","spanId":""#);
    hex(out, &s.span_id);
    out.push('"');
    if !s.parent_span_id.is_empty() {
        out.push_str(r#","parentSpanId":""#);
        hex(out, &s.parent_span_id);
        out.push('"');
    }
    if s.flags != 0 {
        let _ = write!(out, r#","flags":{}"#, s.flags);
    }
    let _ = write!(
        out,
        r#","name":{},"kind":{},"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":"#,
        js(&s.name),
        s.kind,
        s.start_time_unix_nano,
        s.end_time_unix_nano
    );
    kvs_json(out, &s.attributes);
    if !s.events.is_empty() {
        out.push_str(r#","events":["#);
        for (i, e) in s.events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, r#"{{"timeUnixNano":"{}","name":{}"#, e.time_unix_nano, js(&e.name));
            if !e.attributes.is_empty() {
                out.push_str(r#","attributes":"#);
                kvs_json(out, &e.attributes);
            }
            out.push('}');
        }
        out.push(']');
    }
    if s.dropped_events_count > 0 {
        let _ = write!(out, r#","droppedEventsCount":{}"#, s.dropped_events_count);
    }
    if let Some(st) = s.status.as_ref() {
        let _ = write!(out, r#","status":{{"code":{}"#, st.code);
        if !st.message.is_empty() {
            let _ = write!(out, r#","message":{}"#, js(&st.message));
        }
        out.push('}');
    }
    out.push('}');
}

/// The start of an `ExportTraceServiceRequest` up to its span list; [`REQUEST_END`] closes it.
fn request_start(out: &mut String, resource: &Resource) {
    out.push_str(r#"{"resourceSpans":[{"resource":{"attributes":"#);
    kvs_json(out, &resource.attributes);
    let scope = scope();
    let _ = write!(
        out,
        r#"}},"scopeSpans":[{{"scope":{{"name":{},"version":{}}},"spans":["#,
        js(&scope.name),
        js(&scope.version)
    );
}

const REQUEST_END: &str = "]}]}]}";

/// One `ExportTraceServiceRequest` as OTLP/JSON.
pub(crate) fn request_json(resource: &Resource, spans: &[Span]) -> String {
    let mut out = String::new();
    request_start(&mut out, resource);
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        span_json(&mut out, s);
    }
    out.push_str(REQUEST_END);
    out
}

/// Streams OTLP/JSON spans to `out`: one `ExportTraceServiceRequest` for the whole trace.
pub struct Otlp<W: Write> {
    out: W,
    resource: ResourceConfig,
    started: bool,
    first: bool,
    builder: Builder,
    buf: String,
    err: Errors,
}

impl<W: Write> Otlp<W> {
    /// An export to `out` with this resource; the document starts with the first span.
    pub fn new(out: W, resource: ResourceConfig) -> Self {
        Otlp {
            out,
            resource,
            started: false,
            first: true,
            builder: Builder::default(),
            buf: String::new(),
            err: Errors::default(),
        }
    }

    fn start(&mut self, meta: &Meta) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let mut head = String::new();
        request_start(&mut head, &resource(meta, &self.resource));
        self.err.keep(self.out.write_all(head.as_bytes()));
    }

    /// Closes the document.
    pub fn finish(mut self, meta: &Meta) -> io::Result<()> {
        self.start(meta);
        self.err.keep(self.out.write_all(REQUEST_END.as_bytes()).and_then(|_| self.out.write_all(b"\n")));
        if let Some(e) = self.err.0.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

impl<W: Write> Visitor for Otlp<W> {
    fn close(&mut self, meta: &Meta, s: &TlSpan, _path: &[NameId]) {
        self.start(meta);
        let span = self.builder.span(meta, s);
        if self.err.0.is_some() {
            return;
        }
        self.buf.clear();
        if !std::mem::take(&mut self.first) {
            self.buf.push_str(",\n");
        }
        span_json(&mut self.buf, &span);
        let r = self.out.write_all(self.buf.as_bytes());
        self.err.keep(r);
    }

    fn mark(&mut self, meta: &Meta, m: &Mark) {
        self.builder.mark(meta, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{CallsiteKind, Item, Kind::*};
    use crate::model::tests::{def, header, rec};
    use crate::model::Timeline;
    use serde_json::Value;

    /// A link record of `field` (0 trace hi, 1 trace lo, 2 parent, 3 own id), flags sampled.
    fn link(ctx: u32, ts: u64, field: u32, v: u64) -> Item<'static> {
        rec(ctx, ts, Link, (field | 1 << 2) << 4, v as u32, (v >> 32) as u32)
    }

    fn export(items: &[Item<'static>]) -> Vec<Value> {
        let mut t = Timeline::new(4);
        let mut doc = Vec::new();
        let mut o = Otlp::new(&mut doc, ResourceConfig::default());
        for &i in items {
            t.push(i, &mut o);
        }
        t.finish(&mut o);
        o.finish(&t.meta).unwrap();
        let v: Value = serde_json::from_slice(&doc).expect("valid JSON");
        v["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap().clone()
    }

    #[test]
    fn recorded_trace_context_gives_the_real_ids_and_remote_flags() {
        let trace: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;
        let (remote, handle, call, worker) = (0x00f067aa0ba902b7u64, 0x1111, 0x2222, 0x3333);
        let items = [
            header(1_000_000),
            def(0x10, "handle", CallsiteKind::Span),
            def(0x20, "call", CallsiteKind::Span),
            def(0x30, "parse", CallsiteKind::Span),
            def(0x40, "worker", CallsiteKind::Span),
            def(0x50, "unrelated", CallsiteKind::Span),
            rec(0, 100, SpanEnter, 0x10, 0, 0),
            link(0, 100, 0, (trace >> 64) as u64),
            link(0, 100, 1, trace as u64),
            link(0, 100, 2, remote),
            link(0, 100, 3, handle),
            rec(0, 110, SpanEnter, 0x20, 0, 0),
            link(0, 110, 2, handle),
            link(0, 110, 3, call),
            rec(0, 120, SpanEnter, 0x30, 0, 0),
            rec(0, 130, SpanExit, 0x30, 0, 0),
            rec(0, 140, SpanExit, 0x20, 0, 0),
            rec(1, 150, SpanEnter, 0x40, 0, 0),
            link(1, 150, 2, handle),
            link(1, 150, 3, worker),
            rec(1, 160, SpanExit, 0x40, 0, 0),
            rec(0, 200, SpanExit, 0x10, 0, 0),
            rec(0, 300, SpanEnter, 0x50, 0, 0),
            rec(0, 310, SpanExit, 0x50, 0, 0),
        ];
        let spans = export(&items);
        let by = |n: &str| spans.iter().find(|s| s["name"] == n).unwrap_or_else(|| panic!("{n}"));
        let hex64 = |v: u64| format!("{v:016x}");
        let t = format!("{trace:032x}");
        for n in ["handle", "call", "parse", "worker"] {
            assert_eq!(by(n)["traceId"], t, "{n}");
        }
        assert_ne!(by("unrelated")["traceId"], t);
        assert_eq!(by("handle")["spanId"], hex64(handle));
        assert_eq!(by("handle")["parentSpanId"], hex64(remote));
        assert_eq!(by("handle")["flags"], 0x301, "sampled, parent known remote");
        assert_eq!(by("call")["spanId"], hex64(call));
        assert_eq!(by("call")["parentSpanId"], hex64(handle));
        assert_eq!(by("call")["flags"], 0x101, "parent known local");
        assert_eq!(by("parse")["parentSpanId"], hex64(call), "a recorded id is the one children name");
        assert_eq!(by("worker")["parentSpanId"], hex64(handle), "a parent in another context, by id");
        assert_eq!(by("worker")["spanId"], hex64(worker));
        assert!(by("unrelated").get("flags").is_none());
    }

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
        let mut o = Otlp::new(&mut doc, ResourceConfig::default());
        for i in items {
            t.push(i, &mut o);
        }
        t.finish(&mut o);
        o.finish(&t.meta).unwrap();
        let v: Value = serde_json::from_slice(&doc).expect("valid JSON");
        let attrs = v["resourceSpans"][0]["resource"]["attributes"].as_array().unwrap();
        assert_eq!(
            attrs[0],
            serde_json::json!({"key": "service.name", "value": {"stringValue": "unknown_service:tickspan"}})
        );
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
    fn events_beyond_the_limit_are_counted() {
        let mut t = Timeline::new(4);
        let mut doc = Vec::new();
        let mut o = Otlp::new(&mut doc, ResourceConfig::default());
        t.push(header(1_000_000), &mut o);
        t.push(def(0x10, "busy", CallsiteKind::Span), &mut o);
        t.push(def(0x30, "rx", CallsiteKind::Event), &mut o);
        t.push(rec(0, 1, SpanEnter, 0x10, 0, 0), &mut o);
        for i in 0..MAX_EVENTS as u64 + 5 {
            t.push(rec(0, 2 + i, Event, 0x30, 0, 0), &mut o);
        }
        t.push(rec(0, 1000, SpanExit, 0x10, 0, 0), &mut o);
        t.finish(&mut o);
        o.finish(&t.meta).unwrap();
        let v: Value = serde_json::from_slice(&doc).unwrap();
        let span = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["events"].as_array().unwrap().len(), MAX_EVENTS);
        assert_eq!(span["droppedEventsCount"], 5);
    }

    #[test]
    fn values_keep_their_type() {
        let typed = |v| {
            let mut s = String::new();
            any_json(&mut s, kv_value("value", v).value.as_ref().unwrap());
            serde_json::from_str::<Value>(&s).unwrap()
        };
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

    #[test]
    fn resource_lists_follow_the_otel_syntax() {
        assert_eq!(
            parse_kv_list(" service.name = gw , deployment.environment=prod%2Ceu,,k=a%3Db").unwrap(),
            [
                ("service.name".into(), "gw".into()),
                ("deployment.environment".into(), "prod,eu".into()),
                ("k".into(), "a=b".into())
            ]
        );
        assert!(parse_kv_list("novalue").unwrap_err().contains("not key=value"));
        assert!(parse_kv_list("=v").unwrap_err().contains("empty key"));
        assert!(parse_kv_list("k=%ff").unwrap_err().contains("UTF-8"));
        let cfg = ResourceConfig {
            attributes: vec![("service.name".into(), "gw".into()), ("tickspan.node".into(), "mine".into())],
            elf: Some(("app".into(), Some("abcd".into()))),
        };
        let meta = Meta { node: 7, target: "thumbv7m".into(), ..Meta::default() };
        let keys: Vec<(String, String)> = resource(&meta, &cfg)
            .attributes
            .iter()
            .map(|kv| {
                let mut v = String::new();
                any_json(&mut v, kv.value.as_ref().unwrap());
                (kv.key.clone(), v)
            })
            .collect();
        let expect = [
            ("service.name", r#"{"stringValue":"gw"}"#),
            ("tickspan.node", r#"{"stringValue":"mine"}"#),
            ("tickspan.target", r#"{"stringValue":"thumbv7m"}"#),
            ("process.executable.name", r#"{"stringValue":"app"}"#),
            ("process.executable.build_id.gnu", r#"{"stringValue":"abcd"}"#),
        ];
        assert_eq!(keys, expect.map(|(k, v)| (k.to_string(), v.to_string())));
    }
}
