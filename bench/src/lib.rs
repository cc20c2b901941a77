//! Span enter+exit cost of tickspan against a floor and peer tracers.
//!
//! Every contender implements [`Tracer`]: it runs a batch of spans (flat, or nested three
//! deep) and times only the spans; between batches [`Tracer::collect`] (untimed) drains what
//! was recorded and counts it, so rings never fill and nothing is silently dropped. The
//! benchmark (`benches/spans.rs`) asserts that every contender received every span.
//!
//! The floor is what any recorder must at least do per span: two reads of the clock tickspan
//! uses and two plain 16-byte stores into an array indexed with a mask.
#![deny(missing_docs)]

use std::time::{Duration, Instant};

pub mod peers;
pub mod tracy;

/// Flat spans per batch: 2 records each, so a batch fits a 4096-slot ring.
pub const FLAT_BATCH: u64 = 1024;
/// Nested groups (3 spans, 6 records) per batch.
pub const NESTED_BATCH: u64 = 512;

/// One contender.
pub trait Tracer {
    /// Name in the report.
    fn name(&self) -> &'static str;
    /// Runs `n` flat spans (enter, exit) and returns the time they took.
    fn flat(&mut self, n: u64) -> Duration;
    /// Runs `n` groups of three nested spans and returns the time they took.
    fn nested(&mut self, n: u64) -> Duration;
    /// Untimed: moves what was recorded out, so the next batch has room.
    fn collect(&mut self);
    /// Spans the contender's collector received so far (flushing first where it is
    /// asynchronous).
    fn received(&mut self) -> u64;
}

/// Runs `iters` iterations of flat (`nested == false`, 1 span each) or nested (3 spans each)
/// in batches, collecting between batches. Returns the time spent in spans and the number of
/// spans run.
pub fn run(t: &mut dyn Tracer, nested: bool, iters: u64) -> (Duration, u64) {
    let batch = if nested { NESTED_BATCH } else { FLAT_BATCH };
    let (mut left, mut total) = (iters, Duration::ZERO);
    while left > 0 {
        let n = left.min(batch);
        total += if nested { t.nested(n) } else { t.flat(n) };
        t.collect();
        left -= n;
    }
    (total, if nested { 3 * iters } else { iters })
}

/// The median of `v` (the upper one of an even count); rounds of a benchmark report it.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times `f`.
#[inline(always)]
pub fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// The clock tickspan records with (rdtsc on x86_64).
#[inline(always)]
pub fn now() -> u64 {
    <tickspan::clock::Active as tickspan::clock::Clock>::now()
}

/// Two clock reads and two 16-byte stores per span: the least a recorder can do.
pub struct Floor {
    buf: Box<[[u64; 2]; Floor::SLOTS]>,
    i: usize,
    received: u64,
}

impl Floor {
    const SLOTS: usize = 4096;

    /// An empty floor ring.
    pub fn new() -> Self {
        Floor { buf: Box::new([[0; 2]; Self::SLOTS]), i: 0, received: 0 }
    }

    #[inline(always)]
    fn store(&mut self, tag: u64) {
        let t = now();
        self.buf[self.i & (Self::SLOTS - 1)] = [tag, t];
        self.i += 1;
    }

    #[inline(always)]
    fn span(&mut self, tag: u64, inner: impl FnOnce(&mut Self)) {
        self.store(tag | 1);
        inner(self);
        self.store(tag | 2);
    }
}

impl Floor {
    /// `n` flat spans, untimed (what [`Tracer::flat`] times; `icount` counts its instructions).
    #[inline(always)]
    pub fn flat_spans(&mut self, n: u64) {
        for _ in 0..n {
            self.span(0x10, |_| {});
        }
    }

    /// `n` groups of three nested spans, untimed.
    #[inline(always)]
    pub fn nested_spans(&mut self, n: u64) {
        for _ in 0..n {
            self.span(0x20, |f| f.span(0x30, |f| f.span(0x40, |_| {})));
        }
    }
}

impl Default for Floor {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracer for Floor {
    fn name(&self) -> &'static str {
        "floor"
    }
    fn flat(&mut self, n: u64) -> Duration {
        timed(|| self.flat_spans(n))
    }
    fn nested(&mut self, n: u64) -> Duration {
        timed(|| self.nested_spans(n))
    }
    fn collect(&mut self) {
        // Count exits that really reached the array (the stores cannot be optimised out).
        let n = self.i.min(Self::SLOTS);
        self.received += self.buf[..n].iter().filter(|r| r[0] & 0xF == 2).count() as u64;
        self.i = 0;
        self.buf.fill([0; 2]);
    }
    fn received(&mut self) -> u64 {
        self.received
    }
}

/// `tickspan::span!`, drained from the static rings between batches.
pub struct Tickspan {
    buf: Vec<tickspan::Record>,
    received: u64,
}

impl Tickspan {
    /// A drain for this process's rings.
    pub fn new() -> Self {
        Tickspan { buf: vec![tickspan::Record::default(); 4096], received: 0 }
    }
}

impl Tickspan {
    /// `n` flat `span!`s, untimed.
    #[inline(always)]
    pub fn flat_spans(n: u64) {
        for _ in 0..n {
            let _g = tickspan::span!("flat");
        }
    }

    /// `n` groups of three nested `span!`s, untimed.
    #[inline(always)]
    pub fn nested_spans(n: u64) {
        for _ in 0..n {
            let _a = tickspan::span!("outer");
            let _b = tickspan::span!("middle");
            let _c = tickspan::span!("inner");
        }
    }
}

impl Default for Tickspan {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracer for Tickspan {
    fn name(&self) -> &'static str {
        "tickspan"
    }
    fn flat(&mut self, n: u64) -> Duration {
        timed(|| Self::flat_spans(n))
    }
    fn nested(&mut self, n: u64) -> Duration {
        timed(|| Self::nested_spans(n))
    }
    fn collect(&mut self) {
        self.received += drain_exits(&mut self.buf);
    }
    fn received(&mut self) -> u64 {
        self.received
    }
}

/// Empties this process's rings into `buf`; returns how many span exits they held.
pub fn drain_exits(buf: &mut [tickspan::Record]) -> u64 {
    let mut exits = 0;
    for ring in tickspan::context::RINGS.iter() {
        loop {
            let o = ring.read(buf);
            assert_eq!(o.lost(), 0, "tickspan lost records: the batch overfilled a ring");
            if o.records == 0 {
                break;
            }
            exits += buf[..o.records]
                .iter()
                .filter(|r| tickspan::Kind::from_bits(r.tag) == Some(tickspan::Kind::SpanExit))
                .count() as u64;
        }
    }
    exits
}
