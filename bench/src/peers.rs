//! The peer tracers, each set up the way its documentation recommends for low overhead, and
//! each counting what it really received.

use crate::{now, timed, Tracer};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

/// fastrace with feature `enable`: `LocalSpan`s under a root span per batch (its fast path),
/// handed to a reporter that counts them.
pub struct Fastrace {
    batches: u64,
}

/// Spans fastrace's reporter received (the reporter is process-global).
static FASTRACE_RECEIVED: AtomicU64 = AtomicU64::new(0);

struct CountingReporter;

impl fastrace::collector::Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        let n = spans.iter().filter(|s| s.name != "batch").count();
        FASTRACE_RECEIVED.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Fastrace {
    /// Installs the counting reporter (once per process).
    pub fn new() -> Self {
        static INIT: Once = Once::new();
        INIT.call_once(|| {
            fastrace::set_reporter(CountingReporter, fastrace::collector::Config::default());
        });
        Fastrace { batches: 0 }
    }

    fn batch(f: impl FnOnce()) -> Duration {
        use fastrace::prelude::*;
        let root = Span::root("batch", SpanContext::random());
        let _parent = root.set_local_parent();
        timed(f)
    }
}

impl Tracer for Fastrace {
    fn name(&self) -> &'static str {
        "fastrace"
    }
    fn flat(&mut self, n: u64) -> Duration {
        use fastrace::local::LocalSpan;
        Self::batch(|| {
            for _ in 0..n {
                let _g = LocalSpan::enter_with_local_parent("flat");
            }
        })
    }
    fn nested(&mut self, n: u64) -> Duration {
        use fastrace::local::LocalSpan;
        Self::batch(|| {
            for _ in 0..n {
                let _a = LocalSpan::enter_with_local_parent("outer");
                let _b = LocalSpan::enter_with_local_parent("middle");
                let _c = LocalSpan::enter_with_local_parent("inner");
            }
        })
    }
    fn collect(&mut self) {
        // The root span's drop submitted the batch (3 commands) to this thread's channel of
        // 10240 commands; the collector thread drains it every second. Commands that find the
        // channel full wait in the sender until this thread sends again, which after the last
        // batch it never does: flushing every 256 batches keeps the channel from filling.
        self.batches += 1;
        if self.batches.is_multiple_of(256) {
            fastrace::flush();
        }
    }
    fn received(&mut self) -> u64 {
        fastrace::flush();
        FASTRACE_RECEIVED.load(Ordering::Relaxed)
    }
}

/// A thread-local ring of 16-byte records shared by the minimal `tracing` subscriber.
struct TlRing {
    i: Cell<usize>,
    slots: [Cell<[u64; 2]>; TlRing::SLOTS],
}

impl TlRing {
    const SLOTS: usize = 4096;

    #[inline(always)]
    fn push(&self, tag: u64) {
        let i = self.i.get();
        self.slots[i & (Self::SLOTS - 1)].set([tag, now()]);
        self.i.set(i + 1);
    }

    /// Counts exit records since the last call and empties the ring.
    fn take_exits(&self) -> u64 {
        let n = self.i.replace(0).min(Self::SLOTS);
        self.slots[..n].iter().filter(|s| s.get()[0] & 3 == 2).count() as u64
    }
}

thread_local! {
    // `const`-initialised and without `Drop`: the cheapest thread-local there is.
    static TL_RING: TlRing = const {
        TlRing { i: Cell::new(0), slots: [const { Cell::new([0; 2]) }; TlRing::SLOTS] }
    };
}

/// The least a `tracing` subscriber can do: span ids are the callsite's metadata address, and
/// enter/exit write a timestamped record into a thread-local ring. Installed as the global
/// default, so `tracing` takes its fast dispatch path.
pub struct RingSubscriber;

impl tracing_core::Subscriber for RingSubscriber {
    fn register_callsite(
        &self,
        _: &'static tracing_core::Metadata<'static>,
    ) -> tracing_core::subscriber::Interest {
        tracing_core::subscriber::Interest::always()
    }
    fn enabled(&self, _: &tracing_core::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing_core::span::Attributes<'_>) -> tracing_core::span::Id {
        tracing_core::span::Id::from_u64(span.metadata() as *const _ as u64)
    }
    fn record(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing_core::span::Id, _: &tracing_core::span::Id) {}
    fn event(&self, _: &tracing_core::Event<'_>) {}
    #[inline]
    fn enter(&self, span: &tracing_core::span::Id) {
        // Metadata is 8-aligned: the low bits carry enter (1) / exit (2).
        TL_RING.with(|r| r.push(span.into_u64() | 1));
    }
    #[inline]
    fn exit(&self, span: &tracing_core::span::Id) {
        TL_RING.with(|r| r.push(span.into_u64() | 2));
    }
}

/// `tracing` with [`RingSubscriber`] as the global default.
pub struct TracingRing {
    received: u64,
}

impl TracingRing {
    /// Installs [`RingSubscriber`] as the global default (once per process).
    pub fn new() -> Self {
        static INIT: Once = Once::new();
        INIT.call_once(|| {
            tracing::subscriber::set_global_default(RingSubscriber)
                .expect("no other global subscriber");
        });
        TracingRing { received: 0 }
    }
}

impl TracingRing {
    /// `n` flat spans, untimed.
    #[inline(always)]
    pub fn flat_spans(n: u64) {
        for _ in 0..n {
            let _g = tracing::info_span!("flat").entered();
        }
    }

    /// `n` groups of three nested spans, untimed.
    #[inline(always)]
    pub fn nested_spans(n: u64) {
        for _ in 0..n {
            let _a = tracing::info_span!("outer").entered();
            let _b = tracing::info_span!("middle").entered();
            let _c = tracing::info_span!("inner").entered();
        }
    }
}

impl Tracer for TracingRing {
    fn name(&self) -> &'static str {
        "tracing (minimal ring subscriber)"
    }
    fn flat(&mut self, n: u64) -> Duration {
        timed(|| Self::flat_spans(n))
    }
    fn nested(&mut self, n: u64) -> Duration {
        timed(|| Self::nested_spans(n))
    }
    fn collect(&mut self) {
        self.received += TL_RING.with(TlRing::take_exits);
    }
    fn received(&mut self) -> u64 {
        self.received
    }
}

thread_local! {
    static KEPT: std::cell::RefCell<Vec<(u64, u64)>> = std::cell::RefCell::new(Vec::with_capacity(8192));
    static CLOSED: Cell<u64> = const { Cell::new(0) };
}

/// A layer over `tracing-subscriber`'s `Registry` that keeps every enter and exit (span id and
/// timestamp) in a thread-local log and counts closed spans.
pub struct KeepLayer;

impl<S> tracing_subscriber::Layer<S> for KeepLayer
where
    S: tracing_core::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_enter(&self, id: &tracing_core::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        KEPT.with(|k| k.borrow_mut().push((id.into_u64() << 2 | 1, now())));
    }
    fn on_exit(&self, id: &tracing_core::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        KEPT.with(|k| k.borrow_mut().push((id.into_u64() << 2 | 2, now())));
    }
    fn on_close(&self, _: tracing_core::span::Id, _: tracing_subscriber::layer::Context<'_, S>) {
        CLOSED.with(|c| c.set(c.get() + 1));
    }
}

/// `tracing` + `tracing-subscriber`'s `Registry` with [`KeepLayer`], as a scoped default (the
/// global default belongs to [`TracingRing`]).
pub struct TracingRegistry {
    dispatch: tracing::Dispatch,
    received: u64,
}

impl TracingRegistry {
    /// A registry with the keeping layer.
    pub fn new() -> Self {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(KeepLayer);
        TracingRegistry { dispatch: tracing::Dispatch::new(subscriber), received: 0 }
    }
}

impl Tracer for TracingRegistry {
    fn name(&self) -> &'static str {
        "tracing + Registry (keeping layer)"
    }
    fn flat(&mut self, n: u64) -> Duration {
        tracing::dispatcher::with_default(&self.dispatch, || {
            timed(|| {
                for _ in 0..n {
                    let _g = tracing::info_span!("flat").entered();
                }
            })
        })
    }
    fn nested(&mut self, n: u64) -> Duration {
        tracing::dispatcher::with_default(&self.dispatch, || {
            timed(|| {
                for _ in 0..n {
                    let _a = tracing::info_span!("outer").entered();
                    let _b = tracing::info_span!("middle").entered();
                    let _c = tracing::info_span!("inner").entered();
                }
            })
        })
    }
    fn collect(&mut self) {
        let exits = KEPT.with(|k| {
            let mut k = k.borrow_mut();
            let n = k.iter().filter(|e| e.0 & 3 == 2).count() as u64;
            k.clear();
            n
        });
        let closed = CLOSED.with(|c| c.replace(0));
        assert_eq!(exits, closed, "every kept span was closed");
        self.received += closed;
    }
    fn received(&mut self) -> u64 {
        self.received
    }
}

/// puffin with scopes on. Each batch runs inside one outer scope (a "frame"), as puffin is
/// meant to be used: a thread reports to the global profiler when its outermost scope ends.
/// A frame sink counts the scopes received.
pub struct Puffin {
    received: Arc<AtomicU64>,
    batches: u64,
}

impl Puffin {
    /// Turns scopes on and adds the counting frame sink.
    pub fn new() -> Self {
        puffin::set_scopes_on(true);
        let received = Arc::new(AtomicU64::new(0));
        let r = received.clone();
        puffin::GlobalProfiler::lock().add_sink(Box::new(move |frame| {
            r.fetch_add(frame.meta().num_scopes as u64, Ordering::Relaxed);
        }));
        Puffin { received, batches: 0 }
    }
}

impl Tracer for Puffin {
    fn name(&self) -> &'static str {
        "puffin"
    }
    fn flat(&mut self, n: u64) -> Duration {
        self.batches += 1;
        puffin::profile_scope!("batch");
        timed(|| {
            for _ in 0..n {
                puffin::profile_scope!("flat");
            }
        })
    }
    fn nested(&mut self, n: u64) -> Duration {
        self.batches += 1;
        puffin::profile_scope!("batch");
        timed(|| {
            for _ in 0..n {
                puffin::profile_scope!("outer");
                puffin::profile_scope!("middle");
                puffin::profile_scope!("inner");
            }
        })
    }
    fn collect(&mut self) {
        puffin::GlobalProfiler::lock().new_frame();
    }
    fn received(&mut self) -> u64 {
        // Minus the outer "batch" scope of each batch.
        self.received.load(Ordering::Relaxed) - self.batches
    }
}

macro_rules! default_is_new {
    ($($t:ty),*) => {$(
        impl Default for $t {
            fn default() -> Self {
                Self::new()
            }
        }
    )*};
}
default_is_new!(Fastrace, TracingRing, TracingRegistry, Puffin);

/// `tracing` recording into tickspan's rings through [`tickspan::tracing_bridge::Subscriber`],
/// as a scoped default like [`TracingRegistry`]: what code instrumented with `tracing` costs
/// when tickspan collects it.
pub struct TracingTickspan {
    dispatch: tracing::Dispatch,
    buf: Vec<tickspan::Record>,
    received: u64,
}

impl TracingTickspan {
    /// The bridge subscriber, every level.
    pub fn new() -> Self {
        let dispatch = tracing::Dispatch::new(tickspan::tracing_bridge::Subscriber::new());
        TracingTickspan { dispatch, buf: vec![tickspan::Record::default(); 4096], received: 0 }
    }
}

impl Default for TracingTickspan {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracer for TracingTickspan {
    fn name(&self) -> &'static str {
        "tracing → tickspan bridge"
    }
    fn flat(&mut self, n: u64) -> Duration {
        tracing::dispatcher::with_default(&self.dispatch, || timed(|| TracingRing::flat_spans(n)))
    }
    fn nested(&mut self, n: u64) -> Duration {
        tracing::dispatcher::with_default(&self.dispatch, || timed(|| TracingRing::nested_spans(n)))
    }
    fn collect(&mut self) {
        self.received += crate::drain_exits(&mut self.buf);
    }
    fn received(&mut self) -> u64 {
        self.received
    }
}
