//! `stats`: per span name, count, total/self time, percentiles and latency buckets.
//!
//! Percentiles come from a log-linear histogram per name (`LogHist`: within 0.8% of the exact
//! value, memory fixed per name whatever the trace length); min, max, totals and buckets are exact.

use crate::model::{Meta, NameId, Span, SpanKind, Visitor};
use crate::units::Clock;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::io::{self, Write};

/// Bucket lower bounds in ns, after Go's x/net/trace.
pub(crate) const BUCKETS_NS: [u64; 6] = [10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];
const BUCKET_LABELS: [&str; 6] = ["≥10µs", "≥100µs", "≥1ms", "≥10ms", "≥100ms", "≥1s"];
const BUCKET_LABELS_TICKS: [&str; 6] = ["≥10k", "≥100k", "≥1M", "≥10M", "≥100M", "≥1G"];

struct Entry {
    count: u64,
    total: u64,
    self_total: u64,
    isr_total: u64,
    min: u64,
    max: u64,
    unfinished: u64,
    errors: u64,
    kind: SpanKind,
    hist: LogHist,
    buckets: [u64; 6],
}

impl Entry {
    fn new(kind: SpanKind) -> Box<Entry> {
        Box::new(Entry {
            count: 0,
            total: 0,
            self_total: 0,
            isr_total: 0,
            min: u64::MAX,
            max: 0,
            unfinished: 0,
            errors: 0,
            kind,
            hist: LogHist::default(),
            buckets: [0; 6],
        })
    }
}

/// Sub-buckets per power of two above [`EXACT`] (as a power of two).
const SUB_BITS: u32 = 6;
/// Values below this are counted exactly.
const EXACT: u64 = 2 << SUB_BITS;

/// Durations counted in log-linear buckets: exact below 128 ticks, then 64 buckets per power of
/// two, each 1/64 of its lower bound wide at most. A percentile is reported as the middle of its
/// bucket, so it is within half a bucket, 1/128 (0.8%), of the exact value. Recording is a
/// shift and an increment (no per-span search); at most 3776 counters per name.
#[derive(Default)]
pub(crate) struct LogHist {
    counts: Vec<u64>,
    total: u64,
}

impl LogHist {
    #[inline(always)]
    fn index(v: u64) -> usize {
        let msb = 63 - (v | 1).leading_zeros();
        let shift = msb.saturating_sub(SUB_BITS);
        ((shift as usize) << SUB_BITS) + (v >> shift) as usize
    }

    /// Lowest value and width of bucket `i`.
    fn bucket(i: usize) -> (u64, u64) {
        if (i as u64) < EXACT {
            return (i as u64, 1);
        }
        let shift = (i >> SUB_BITS) as u32 - 1;
        (((i - ((shift as usize) << SUB_BITS)) as u64) << shift, 1 << shift)
    }

    #[inline]
    pub(crate) fn record(&mut self, v: u64) {
        let i = Self::index(v);
        match self.counts.get_mut(i) {
            Some(c) => *c += 1,
            None => self.grow(i),
        }
        self.total += 1;
    }

    #[cold]
    fn grow(&mut self, i: usize) {
        self.counts.resize(i + 1, 0);
        self.counts[i] = 1;
    }

    /// The value at quantile `q` (0..=1): the middle of the bucket holding the
    /// `ceil(q * count)`-th smallest value.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, width) = Self::bucket(i);
                return lo + width / 2;
            }
        }
        0
    }
}

impl LogHist {
    /// The values in log-scale bins ([`bin_of`]) in ns (in ticks without a clock rate), from
    /// the first bin holding one to the last (empty bins between kept): at most 256 bins.
    pub(crate) fn bins(&self, c: Clock) -> Vec<Bin> {
        let mut bins: Vec<u64> = Vec::new();
        for (i, &n) in self.counts.iter().enumerate().filter(|(_, &n)| n > 0) {
            let b = bin_of(LogHist::bucket(i).0);
            if b >= bins.len() {
                bins.resize(b + 1, 0);
            }
            bins[b] += n;
        }
        let first = bins.iter().position(|&n| n > 0).unwrap_or(bins.len());
        (first..bins.len())
            .map(|i| {
                let (lo, width) = bin_bounds(i);
                Bin { lo: c.to_ns(lo), hi: c.to_ns(lo.saturating_add(width)), count: bins[i] }
            })
            .collect()
    }

    /// Values recorded.
    pub(crate) fn count(&self) -> u64 {
        self.total
    }
}

/// Histogram bins per power of two in [`Stats::histogram`] (as a power of two).
const BIN_BITS: u32 = 2;

/// The log-scale bin of `v` in [`Stats::histogram`]: exact below 8, then four per power of two.
/// A [`LogHist`] bucket lies within one bin (its width divides the bin's), so bins add up exactly.
fn bin_of(v: u64) -> usize {
    let msb = 63 - (v | 1).leading_zeros();
    let shift = msb.saturating_sub(BIN_BITS);
    ((shift as usize) << BIN_BITS) + (v >> shift) as usize
}

/// Lowest value and width of histogram bin `i` (the inverse of [`bin_of`]).
fn bin_bounds(i: usize) -> (u64, u64) {
    if i < 2 << BIN_BITS {
        return (i as u64, 1);
    }
    let shift = (i >> BIN_BITS) as u32 - 1;
    (((i - ((shift as usize) << BIN_BITS)) as u64) << shift, 1 << shift)
}

/// One bin of a latency histogram: how many spans lasted at least `lo` and less than `hi`.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    /// Lower bound (inclusive), in the report's unit.
    pub lo: u64,
    /// Upper bound (exclusive).
    pub hi: u64,
    /// Spans in the bin.
    pub count: u64,
}

/// A task id as printed: decimal when small (`traced!`'s ids), hex when an address (embassy's).
pub(crate) fn task_id(id: u32) -> String {
    if id >= 0x1_0000 {
        format!("{id:#x}")
    } else {
        id.to_string()
    }
}

/// Most (task name, task id) rows kept; polls of further tasks count under their name alone.
const MAX_TASKS: usize = 1024;

/// Accumulates span statistics, indexed by name id (no hashing per span).
#[derive(Default)]
pub struct Stats {
    entries: Vec<Option<Box<Entry>>>,
    /// Polls of tasks that have an id, one row per (name, task id).
    tasks: FxHashMap<(NameId, u32), Box<Entry>>,
    /// Bucket bounds in ticks, fixed at the first span (the header precedes records).
    bounds: Option<[u64; 6]>,
}

/// One row of the report (times in ns, or ticks when the clock is unknown).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Row {
    /// Span name.
    pub name: String,
    /// `span`, `isr`, `manual`, or `task` (polls of a task: count = polls, total = busy time).
    pub kind: &'static str,
    /// Number of spans.
    pub count: u64,
    /// Spans cut short by the end of the trace or lost records.
    pub unfinished: u64,
    /// Spans whose status was error (`set_error!`).
    pub errors: u64,
    /// Sum of durations.
    pub total: u64,
    /// Sum of self times.
    pub self_time: u64,
    /// Sum of time stolen by interrupts.
    pub isr: u64,
    /// Shortest.
    pub min: u64,
    /// Mean duration.
    pub mean: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Longest.
    pub max: u64,
    /// Spans at least 10µs, 100µs, 1ms, 10ms, 100ms, 1s long, each with its bound.
    pub buckets: [Bucket; 6],
}

/// A latency bucket: how many spans lasted at least its bound. Buckets are cumulative (as in
/// Go's x/net/trace), so a bucket has a lower bound only: a 2 ms span counts in ≥10µs, ≥100µs
/// and ≥1ms.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// The lower bound (inclusive), in the report's unit: ns, or ticks without a clock.
    pub at_least: u64,
    /// The bound for people: `≥10µs` (`≥10k` in ticks).
    pub label: &'static str,
    /// Spans at least `at_least` long.
    pub count: u64,
}

/// The whole report.
#[derive(Serialize, Debug)]
pub struct Report {
    /// `ns`, or `ticks` when the stream gave no clock frequency.
    pub unit: &'static str,
    /// One row per span name (per task name and id for task polls), by total time, longest first.
    pub spans: Vec<Row>,
}

impl Visitor for Stats {
    #[inline(always)]
    fn close(&mut self, meta: &Meta, s: &Span, _path: &[NameId]) {
        let d = s.dur();
        // Bucket counts are cumulative, as in x/net/trace: a 2 ms span counts in ≥10µs..≥1ms.
        let bounds = self.bounds.get_or_insert_with(|| bucket_ticks(meta.clock));
        let reached = bounds.iter().take_while(|&&lo| d >= lo).count();
        // Inlined into the timeline: an array index for a name seen before, the rest out of line.
        let e = match self.entries.get_mut(s.name as usize) {
            Some(Some(e)) if s.id == 0 || s.kind != SpanKind::Scoped => e,
            _ => self.entry(s.name, s.id, s.kind),
        };
        // Tick sums cannot reach 2^64 from a real clock; wrapping (not saturating) keeps garbage
        // input from panicking in a debug build at a third of the cost.
        e.count += 1;
        e.total = e.total.wrapping_add(d);
        e.self_total = e.self_total.wrapping_add(s.self_ticks);
        e.isr_total = e.isr_total.wrapping_add(s.isr_ticks);
        e.min = e.min.min(d);
        e.max = e.max.max(d);
        e.unfinished += s.unfinished as u64;
        if !meta.fields.is_empty() {
            e.errors += meta.fields.get(s.uid).and_then(|f| f.status).is_some_and(|st| st.error) as u64;
        }
        e.hist.record(d);
        e.buckets.iter_mut().take(reached).for_each(|b| *b += 1);
    }
}

impl Stats {
    /// The entry of a task poll, or of a name seen for the first time.
    #[inline(never)]
    // Scalars, not `&Span`: a reference would make the caller build the span in memory.
    fn entry(&mut self, name: NameId, id: u32, kind: SpanKind) -> &mut Entry {
        let key = (name, id);
        if kind == SpanKind::Scoped && id != 0 && (self.tasks.len() < MAX_TASKS || self.tasks.contains_key(&key)) {
            return self.tasks.entry(key).or_insert_with(|| Entry::new(kind));
        }
        let i = name as usize;
        if i >= self.entries.len() {
            self.entries.resize_with(i + 1, || None);
        }
        self.entries[i].get_or_insert_with(|| Entry::new(kind))
    }
}

fn bucket_ticks(clock: Clock) -> [u64; 6] {
    BUCKETS_NS.map(|ns| clock.from_ns(ns))
}

impl Stats {
    /// The report, longest total first.
    pub(crate) fn report(&self, meta: &Meta) -> Report {
        let c = meta.clock;
        let row = |name: String, i: NameId, e: &Entry| Row {
            name,
            kind: match e.kind {
                SpanKind::Scoped if meta.names.is_task(i) => "task",
                SpanKind::Scoped => "span",
                SpanKind::Isr => "isr",
                SpanKind::Manual => "manual",
            },
            count: e.count,
            unfinished: e.unfinished,
            errors: e.errors,
            total: c.to_ns(e.total),
            self_time: c.to_ns(e.self_total),
            isr: c.to_ns(e.isr_total),
            min: c.to_ns(e.min),
            mean: c.to_ns(e.total / e.count.max(1)),
            // Percentiles are clamped to the exact extremes (the histogram rounds).
            p50: c.to_ns(e.hist.quantile(0.50).clamp(e.min, e.max)),
            p90: c.to_ns(e.hist.quantile(0.90).clamp(e.min, e.max)),
            p99: c.to_ns(e.hist.quantile(0.99).clamp(e.min, e.max)),
            max: c.to_ns(e.max),
            buckets: std::array::from_fn(|i| Bucket {
                at_least: BUCKETS_NS[i], // ns, or as many ticks without a clock (`bucket_ticks`)
                label: if c.is_real() { BUCKET_LABELS[i] } else { BUCKET_LABELS_TICKS[i] },
                count: e.buckets[i],
            }),
        };
        let mut spans: Vec<Row> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| row(meta.names.name(i as NameId).to_string(), i as NameId, e)))
            .chain(self.tasks.iter().map(|(&(i, id), e)| {
                let mut r =
                    row(format!("{} (task {})", meta.task_name(id).unwrap_or(meta.names.name(i)), task_id(id)), i, e);
                r.kind = "task";
                r
            }))
            .collect();
        spans.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
        Report { unit: if c.is_real() { "ns" } else { "ticks" }, spans }
    }

    /// The durations of span name `name` (not task polls) in log-scale bins, four per power of
    /// two of clock ticks, from the first bin holding a span to the last (empty bins between
    /// kept): the same histogram that gives [`Row`]'s percentiles, coarsened, so nothing more
    /// is kept per span and its size is bounded (at most 256 bins).
    pub(crate) fn histogram(&self, meta: &Meta, name: NameId) -> Vec<Bin> {
        let Some(Some(e)) = self.entries.get(name as usize) else { return Vec::new() };
        e.hist.bins(meta.clock)
    }

    /// Writes the report as a table.
    pub fn write_table(&self, meta: &Meta, w: &mut impl Write) -> io::Result<()> {
        let r = self.report(meta);
        let real = meta.clock.is_real();
        let fmt = |v: u64| if real { crate::units::format_ns(v) } else { format!("{v}") };
        let width = r.spans.iter().map(|s| s.name.chars().count()).max().unwrap_or(4).clamp(4, 40);
        let labels = if real { BUCKET_LABELS } else { BUCKET_LABELS_TICKS };
        write!(
            w,
            "{:<width$} {:>8} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            "name", "count", "errors", "total", "self", "min", "mean", "p50", "p90", "p99", "max"
        )?;
        for l in labels {
            write!(w, " {l:>7}")?;
        }
        writeln!(w)?;
        for s in &r.spans {
            let name: String = s.name.chars().take(40).collect();
            write!(
                w,
                "{:<width$} {:>8} {:>7} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
                name,
                s.count,
                s.errors,
                fmt(s.total),
                fmt(s.self_time),
                fmt(s.min),
                fmt(s.mean),
                fmt(s.p50),
                fmt(s.p90),
                fmt(s.p99),
                fmt(s.max)
            )?;
            for b in s.buckets {
                write!(w, " {:>7}", b.count)?;
            }
            writeln!(w)?;
        }
        if !real {
            writeln!(w, "(times in clock ticks: the stream did not give the clock frequency)")?;
        }
        Ok(())
    }

    /// Writes the report as one JSON document.
    pub fn write_json(&self, meta: &Meta, w: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, &self.report(meta))?;
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{CallsiteKind, Kind::*};
    use crate::model::tests::{def, header, rec};
    use crate::model::Timeline;

    #[test]
    fn counts_percentiles_and_buckets() {
        let mut t = Timeline::new(8);
        let mut s = Stats::default();
        t.push(header(1_000_000_000), &mut s);
        t.push(def(0x10, "work", CallsiteKind::Span), &mut s);
        // 100 spans of 1..=100 µs, then one of 2 s.
        let mut ts = 0;
        for i in 1..=100u64 {
            t.push(rec(0, ts, SpanEnter, 0x10, 0, 0), &mut s);
            ts += i * 1000;
            t.push(rec(0, ts, SpanExit, 0x10, 0, 0), &mut s);
        }
        t.push(rec(0, ts, SpanEnter, 0x10, 0, 0), &mut s);
        t.push(rec(0, ts + 2_000_000_000, SpanExit, 0x10, 0, 0), &mut s);
        t.finish(&mut s);
        let r = s.report(&t.meta);
        assert_eq!(r.unit, "ns");
        let row = &r.spans[0];
        assert_eq!((row.name.as_str(), row.count, row.min, row.max), ("work", 101, 1000, 2_000_000_000));
        assert_eq!(row.total, 5050 * 1000 + 2_000_000_000);
        assert_eq!(row.self_time, row.total);
        assert!((49_000..=51_500).contains(&row.p50), "p50 {}", row.p50);
        assert!((89_000..=91_500).contains(&row.p90), "p90 {}", row.p90);
        assert_eq!(row.buckets.map(|b| b.count), [92, 2, 1, 1, 1, 1]);
        let mut out = Vec::new();
        s.write_table(&t.meta, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("work") && text.contains("≥100µs"), "{text}");
        let mut js = Vec::new();
        s.write_json(&t.meta, &mut js).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&js).unwrap();
        assert_eq!(v["spans"][0]["count"], 101);
        // Each bucket says its bound.
        let b = &v["spans"][0]["buckets"];
        assert_eq!(b[0], serde_json::json!({"at_least": 10_000, "label": "≥10µs", "count": 92}));
        assert_eq!(b[5], serde_json::json!({"at_least": 1_000_000_000, "label": "≥1s", "count": 1}));
    }

    #[test]
    fn log_histogram_quantiles_are_within_a_half_bucket() {
        // Buckets tile the values: each index's range starts where the previous one ended.
        let mut next = 0;
        for i in 0..LogHist::index(u64::MAX) {
            let (lo, width) = LogHist::bucket(i);
            assert_eq!(lo, next, "bucket {i}");
            assert_eq!((LogHist::index(lo), LogHist::index(lo + width - 1)), (i, i));
            next = lo + width;
        }
        assert_eq!(LogHist::index(u64::MAX), 3775);
        for v in [0u64, 1, 127, 128, 255, 1000, 91_000, 1 << 40, u64::MAX / 3] {
            let mut h = LogHist::default();
            h.record(v);
            let got = h.quantile(0.5);
            assert!(got.abs_diff(v) as f64 <= v as f64 / 128.0, "{v}: {got}");
        }
        let mut h = LogHist::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        for (q, exact) in [(0.5, 500_000f64), (0.9, 900_000.0), (0.99, 990_000.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - exact).abs() <= exact / 128.0, "p{q}: {got}");
        }
    }

    #[test]
    fn histogram_bins_tile_the_values_and_hold_whole_log_buckets() {
        let mut next = 0;
        for i in 0..bin_of(u64::MAX) {
            let (lo, width) = bin_bounds(i);
            assert_eq!(lo, next, "bin {i}");
            assert_eq!((bin_of(lo), bin_of(lo + width - 1)), (i, i));
            next = lo + width;
        }
        for i in 0..LogHist::index(u64::MAX) {
            let (lo, width) = LogHist::bucket(i);
            assert_eq!(bin_of(lo), bin_of(lo + width - 1), "log bucket {i}");
        }
        let mut t = Timeline::new(8);
        let mut s = Stats::default();
        t.push(header(1_000_000_000), &mut s);
        t.push(def(0x10, "x", CallsiteKind::Span), &mut s);
        let mut ts = 0;
        for d in [100u64, 101, 120, 1_000, 1_000_000, 1 << 62] {
            t.push(rec(0, ts, SpanEnter, 0x10, 0, 0), &mut s);
            t.push(rec(0, ts + d, SpanExit, 0x10, 0, 0), &mut s);
            ts += d + 1;
        }
        t.finish(&mut s);
        let h = (0..4).map(|id| s.histogram(&t.meta, id)).find(|h| !h.is_empty()).unwrap();
        // From 96 (the bin of 100 and 101; 120 in the next) to the bin of 2^62, without gaps.
        assert_eq!((h[0].lo, h[0].hi, h[0].count, h[1].count), (96, 112, 2, 1));
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 6);
        assert!(h.windows(2).all(|w| w[0].hi == w[1].lo));
        assert_eq!(h.last().map(|b| (b.lo, b.count)), Some((1 << 62, 1)));
        assert_eq!(h.len(), bin_of(1 << 62) - bin_of(96) + 1);
    }

    #[test]
    fn task_polls_count_per_task_and_id() {
        let mut t = Timeline::new(8);
        let mut s = Stats::default();
        t.push(header(1_000_000_000), &mut s);
        t.push(def(0x10, "blink", CallsiteKind::Task), &mut s);
        t.push(def(0x20, "producer", CallsiteKind::Task), &mut s);
        t.push(def(0x30, "toggle", CallsiteKind::Span), &mut s);
        let mut ts = 0;
        // blink task 1 polled 3 times (10 ns each), task 2 twice (20 ns), producer once (5 ns).
        for (cs, id, dur) in [(0x10, 1, 10), (0x10, 2, 20), (0x10, 1, 10), (0x20, 0, 5), (0x10, 2, 20), (0x10, 1, 10)] {
            t.push(rec(0, ts, SpanEnter, cs, 0, 0), &mut s);
            if id != 0 {
                t.push(rec(0, ts, TaskSwitch, cs, id, 0), &mut s);
            }
            t.push(rec(0, ts + 1, SpanEnter, 0x30, 0, 0), &mut s);
            t.push(rec(0, ts + 2, SpanExit, 0x30, 0, 0), &mut s);
            t.push(rec(0, ts + dur, SpanExit, cs, 0, 0), &mut s);
            ts += 100;
        }
        t.finish(&mut s);
        let r = s.report(&t.meta);
        let row = |name: &str| r.spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("{name}: {r:?}"));
        for (name, count, total) in [("blink (task 1)", 3, 30), ("blink (task 2)", 2, 40), ("producer", 1, 5)] {
            let x = row(name);
            assert_eq!((x.kind, x.count, x.total, x.self_time), ("task", count, total, total - count), "{name}");
        }
        assert_eq!(row("toggle").kind, "span");
        assert_eq!(row("toggle").count, 6);
        assert!(!r.spans.iter().any(|s| s.name == "blink"), "every blink poll had an id: {r:?}");
    }
}
