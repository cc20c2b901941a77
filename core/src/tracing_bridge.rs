//! A [`tracing`](https://docs.rs/tracing) subscriber that records into tickspan's rings, so that
//! code instrumented with `tracing` (tokio, hyper, tower, sqlx, …) shows up in tickspan's
//! trees beside tickspan's own spans. Feature `tracing`.
//!
//! ```
//! tracing::subscriber::set_global_default(tickspan::tracing_bridge::Subscriber::new()).unwrap();
//! let _g = tracing::info_span!("request").entered();   // a span in the thread's ring
//! tracing::info!(value = 42u32, "rx");                  // an event with payload 42
//! ```
//!
//! What maps to what:
//! - A `tracing` callsite becomes a run-time tickspan callsite ([`crate::callsite::runtime`]),
//!   registered once, with its name, file, line and level; the drain sends it in the stream's
//!   dictionary like a static one. Names never enter records here either.
//! - Entering and exiting a span write a span's enter and exit records in the current
//!   thread's ring: the time it was *entered*, as a profiler shows it (an instrumented future
//!   is one span per poll, like [`traced!`](crate::traced)). `tracing` enters and exits in
//!   LIFO order per thread, which is what the host nests by.
//! - An event writes an event record. Its payload, typed and exact (as `event!("x", v)`), is
//!   its field named `value` or else its first integer, float or bool field; other fields and
//!   the message are not recorded (run-time text, and records stay 16 bytes).
//!
//! The span id `tracing` hands out is the callsite's id, so there is no per-span state: no
//! allocation and no lock after a callsite's first use, besides one read of a read-write lock
//! per span creation and per event to find the callsite's id (measured in `bench/`).

use crate::callsite::{runtime, Callsite, CallsiteKind, Level};
use crate::record::Kind;
use std::collections::HashMap;
use std::sync::RwLock;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata};

/// Records `tracing` spans and events into the current thread's tickspan ring.
pub struct Subscriber {
    /// Callsite id of each `tracing` callsite seen, by its metadata's address.
    ids: RwLock<HashMap<usize, u32>>,
    max_level: Level,
}

impl Default for Subscriber {
    fn default() -> Self {
        Self::new()
    }
}

impl Subscriber {
    /// Records every level.
    pub fn new() -> Subscriber {
        Subscriber { ids: RwLock::new(HashMap::new()), max_level: Level::Trace }
    }

    /// Records only `level` and more severe (`Level::Info` drops debug and trace).
    pub fn with_min_level(mut self, level: Level) -> Subscriber {
        self.max_level = level;
        self
    }

    /// The tickspan callsite id of `meta`, registered on first use (0: none could be made).
    fn id(&self, meta: &'static Metadata<'static>) -> u32 {
        let key = meta as *const Metadata<'static> as usize;
        if let Some(&id) = self.ids.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return id;
        }
        let mut ids = self.ids.write().unwrap_or_else(|e| e.into_inner());
        *ids.entry(key).or_insert_with(|| {
            let kind = if meta.is_span() { CallsiteKind::Span } else { CallsiteKind::Event };
            let cs = Callsite::new(meta.name(), meta.file().unwrap_or(""), meta.line().unwrap_or(0), level(meta), kind);
            runtime::register(cs).unwrap_or(0)
        })
    }
}

fn level(meta: &Metadata<'_>) -> Level {
    match *meta.level() {
        tracing_core::Level::TRACE => Level::Trace,
        tracing_core::Level::DEBUG => Level::Debug,
        tracing_core::Level::INFO => Level::Info,
        tracing_core::Level::WARN => Level::Warn,
        _ => Level::Error,
    }
}

/// An id `tracing` accepts (non-zero) for a callsite id (0 when registration failed).
fn span_id(callsite: u32) -> Id {
    Id::from_u64(callsite as u64 | 1 << 32)
}

fn callsite_of(id: &Id) -> u32 {
    id.into_u64() as u32
}

impl tracing_core::Subscriber for Subscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if level(meta) >= self.max_level {
            self.id(meta);
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        level(meta) >= self.max_level
    }

    fn max_level_hint(&self) -> Option<tracing_core::LevelFilter> {
        Some(match self.max_level {
            Level::Trace => tracing_core::LevelFilter::TRACE,
            Level::Debug => tracing_core::LevelFilter::DEBUG,
            Level::Info => tracing_core::LevelFilter::INFO,
            Level::Warn => tracing_core::LevelFilter::WARN,
            Level::Error => tracing_core::LevelFilter::ERROR,
        })
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span_id(self.id(span.metadata()))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let cs = self.id(event.metadata());
        if cs != 0 {
            let mut p = Payload(None);
            event.record(&mut p);
            match p.0 {
                Some((_, kind, bits)) => crate::api::emit_ab(cs | kind as u32, bits as u32, (bits >> 32) as u32),
                None => crate::api::emit(cs | Kind::Event as u32, 0),
            }
        }
    }

    fn enter(&self, span: &Id) {
        let cs = callsite_of(span);
        if cs != 0 {
            crate::api::emit(cs | Kind::SpanEnter as u32, 0);
        }
    }

    fn exit(&self, span: &Id) {
        let cs = callsite_of(span);
        if cs != 0 {
            crate::api::emit(cs | Kind::SpanExit as u32, 0);
        }
    }
}

/// An event's payload: whether it came from the field `value`, its record kind, its bits.
struct Payload(Option<(bool, Kind, u64)>);

impl Payload {
    /// Keeps the first numeric field, unless a later one is named `value`.
    fn offer<V: crate::Value>(&mut self, field: &Field, v: V) {
        let named = field.name() == "value";
        match self.0 {
            Some((true, ..)) => {}
            Some(_) if !named => {}
            _ => self.0 = Some((named, V::KIND, v.bits())),
        }
    }
}

impl Visit for Payload {
    fn record_u64(&mut self, field: &Field, v: u64) {
        self.offer(field, v)
    }
    fn record_i64(&mut self, field: &Field, v: i64) {
        self.offer(field, v)
    }
    fn record_f64(&mut self, field: &Field, v: f64) {
        self.offer(field, v)
    }
    fn record_bool(&mut self, field: &Field, v: bool) {
        self.offer(field, v)
    }
    fn record_debug(&mut self, _: &Field, _: &dyn core::fmt::Debug) {}
}
