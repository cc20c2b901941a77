//! `stats --contexts`: how much of the time each context (thread, interrupt handler, task)
//! ran, over the whole trace and per time window, and how much interrupts left to the rest of
//! the program in the worst window of each width (the minimum-utilization curve of Go's
//! execution tracer, with interrupt handlers in the place of its garbage collector).
//!
//! A context's busy time is the self time of its scoped and ISR spans (children and the
//! interrupts taken during a span are in their own rows); manual spans are logical, not CPU
//! time, and count nowhere. Per window, a span's self time is spread evenly over its duration:
//! exact for handlers that nothing preempts, an approximation within one span's length for the
//! rest. Memory is fixed: each series has a fixed number of bins, whose width doubles (pairs
//! merged) whenever the trace outgrows them.

use super::latency::{Latency, LatencyOut};
use crate::model::{Mark, Meta, NameId, Span, SpanKind, Visitor};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Bins of each context's series.
const CTX_BINS: usize = 1024;
/// Bins of the interrupt-load series the utilization curve is computed from.
const LOAD_BINS: usize = 1 << 16;
/// Columns of the per-window bars in the table.
const COLUMNS: usize = 16;

/// Busy ticks over time in fixed bins from `t0`, `width` ticks each.
struct Series {
    t0: u64,
    width: u64,
    bins: Vec<f64>,
}

impl Series {
    fn new(t0: u64, n: usize) -> Series {
        Series { t0, width: 1, bins: vec![0.0; n] }
    }

    /// Adds `amount` ticks spread evenly over `start..end`.
    fn add(&mut self, start: u64, end: u64, amount: u64) {
        let (start, end) = (start.max(self.t0), end.max(start.max(self.t0)));
        let n = self.bins.len() as u64;
        // Saturating: a damaged stream's far-off timestamps widen the bins to the whole u64
        // range, never overflow or loop.
        while end - self.t0 > self.width.saturating_mul(n) && self.width <= u64::MAX / n {
            self.double();
        }
        if amount == 0 {
            return;
        }
        let (t0, width, last) = (self.t0, self.width, self.bins.len() - 1);
        let bin = |t: u64| (((t - t0) / width) as usize).min(last);
        if end == start {
            let b = bin(start);
            self.bins[b] += amount as f64;
            return;
        }
        let density = amount as f64 / (end - start) as f64;
        let mut t = start;
        while t < end {
            let b = bin(t);
            let bin_end = if b == last { end } else { t0.saturating_add((b as u64 + 1).saturating_mul(width)) };
            let upto = bin_end.min(end);
            self.bins[b] += density * (upto - t) as f64;
            t = upto;
        }
    }

    /// Halves the resolution: bin `i` becomes bins `2i` and `2i + 1` merged.
    fn double(&mut self) {
        let n = self.bins.len();
        for i in 0..n / 2 {
            self.bins[i] = self.bins[2 * i] + self.bins[2 * i + 1];
        }
        self.bins[n / 2..].iter_mut().for_each(|b| *b = 0.0);
        self.width *= 2;
    }

    /// The bins that cover `t0..end`.
    fn used(&self, end: u64) -> &[f64] {
        let n = (end.saturating_sub(self.t0)).div_ceil(self.width).max(1) as usize;
        &self.bins[..n.min(self.bins.len())]
    }
}

/// What a row counts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum RowKind {
    Thread,
    Isr,
    Task,
}

struct Row {
    kind: RowKind,
    /// Context id, or task id for a task.
    id: u32,
    /// A task's name: its polls' span name.
    name: Option<NameId>,
    busy: u64,
    series: Series,
}

/// Collects the busy time of every context and task as spans close.
#[derive(Default)]
pub struct Util {
    rows: Vec<Row>,
    /// Interrupt handlers' busy time, at the resolution of the utilization curve.
    load: Option<Series>,
    t0: Option<u64>,
    /// Spans cut by lost records or the trace's end: counted up to where they were cut.
    unfinished: u64,
    latency: Latency,
    /// Damaged regions the decoder skipped (they may hide records without a count).
    damaged: u64,
}

impl Util {
    /// Tells the report how many damaged regions the decoder skipped: a wait across one may
    /// pair a pend with a later entry than its own, so the latency table says so.
    pub fn damaged_regions(&mut self, n: u64) {
        self.damaged = n;
    }

    fn row(&mut self, kind: RowKind, id: u32, name: Option<NameId>, t0: u64) -> &mut Row {
        let i = match self.rows.iter().position(|r| r.kind == kind && r.id == id && r.name == name) {
            Some(i) => i,
            None => {
                self.rows.push(Row { kind, id, name, busy: 0, series: Series::new(t0, CTX_BINS) });
                self.rows.len() - 1
            }
        };
        &mut self.rows[i]
    }
}

impl Visitor for Util {
    fn open(&mut self, _meta: &Meta, s: &Span) {
        self.latency.open(s);
    }

    fn mark(&mut self, meta: &Meta, m: &Mark) {
        self.latency.mark(meta, m);
    }

    fn close(&mut self, meta: &Meta, s: &Span, _path: &[NameId]) {
        self.latency.close(meta, s);
        if s.kind == SpanKind::Manual {
            return;
        }
        let t0 = *self.t0.get_or_insert(meta.start.unwrap_or(s.start).min(s.start));
        self.unfinished += u64::from(s.unfinished);
        let isr = s.kind == SpanKind::Isr;
        let row = self.row(if isr { RowKind::Isr } else { RowKind::Thread }, s.ctx, None, t0);
        row.busy += s.self_ticks;
        row.series.add(s.start, s.end, s.self_ticks);
        if isr {
            self.load.get_or_insert_with(|| Series::new(t0, LOAD_BINS)).add(s.start, s.end, s.self_ticks);
        } else if s.id != 0 && s.kind == SpanKind::Scoped {
            // A poll of a task: its time is also the task's.
            let row = self.row(RowKind::Task, s.id, Some(s.name), t0);
            row.busy += s.self_ticks;
            row.series.add(s.start, s.end, s.self_ticks);
        }
    }
}

/// A row of the report.
#[derive(Serialize)]
struct RowOut {
    kind: RowKind,
    /// Context id (thread, ISR) or task id.
    id: u32,
    name: String,
    busy_ns: u64,
    /// Busy time over the trace's length.
    share: f64,
    /// Share of each window.
    windows: Vec<f64>,
}

/// Interrupt load in the worst window of a width.
#[derive(Serialize)]
struct LoadOut {
    window_ns: u64,
    /// Highest share of a window of this width that interrupt handlers took.
    max_isr_share: f64,
    /// What that left to the rest: the minimum utilization.
    min_left: f64,
}

#[derive(Serialize)]
struct Report {
    /// The trace's length.
    span_ns: u64,
    window_ns: u64,
    rows: Vec<RowOut>,
    /// Sum of all thread and ISR rows' shares (on one core, 1 minus this is idle).
    busy_share: f64,
    isr_load: Vec<LoadOut>,
    /// Spans whose end was not recorded (lost records, the trace's end): their time counts up
    /// to where they were cut, so these shares are estimates where they are.
    unfinished_spans: u64,
    /// How a row's time per window is estimated.
    note: &'static str,
    /// Handlers' run times, intervals and waits from pend to entry; tasks' waits from wake-up to poll.
    latency: LatencyOut,
    /// Damaged regions skipped: a latency wait across one may be too long.
    damaged_regions: u64,
}

const NOTE: &str = "a span's self time is spread evenly over its duration within a window";

impl Util {
    fn report(&self, meta: &Meta) -> Report {
        let t0 = self.t0.unwrap_or(0);
        let end = meta.end.max(t0);
        let len = (end - t0).max(1);
        let ns = |t: f64| meta.clock.to_ns_f64(t.max(0.0) as u64);
        let window = len.div_ceil(COLUMNS as u64).max(1);
        let mut rows: Vec<RowOut> = self
            .rows
            .iter()
            .map(|r| {
                let mut windows = [0.0; COLUMNS];
                for (i, &b) in r.series.used(end).iter().enumerate() {
                    // A bin goes to the window its middle falls in.
                    let mid = (i as u64).saturating_mul(r.series.width).saturating_add(r.series.width / 2);
                    windows[((mid / window) as usize).min(COLUMNS - 1)] += b;
                }
                let name = match r.kind {
                    RowKind::Task => match (meta.task_name(r.id), r.name) {
                        (Some(pool), _) => pool.to_string(),
                        (None, Some(n)) => format!("{} #{}", meta.names.name(n), r.id),
                        (None, None) => format!("task {:#x}", r.id),
                    },
                    _ => meta.ctx_name(r.id),
                };
                RowOut {
                    kind: r.kind,
                    id: r.id,
                    name,
                    busy_ns: ns(r.busy as f64) as u64,
                    share: r.busy as f64 / len as f64,
                    windows: windows.iter().map(|w| (w / window as f64).min(1.0)).collect(),
                }
            })
            .collect();
        rows.sort_by_key(|a| (a.kind, a.id));
        let busy_share = rows.iter().filter(|r| r.kind != RowKind::Task).map(|r| r.share).sum();
        let mut isr_load = Vec::new();
        if let Some(load) = &self.load {
            let bins = load.used(end);
            // Windows of 1, 4, 16 … bins and the whole trace: the highest sum of that many
            // consecutive bins.
            let widths = std::iter::successors(Some(1usize), |k| Some(k * 4)).take_while(|&k| k < bins.len());
            for k in widths.chain([bins.len()]) {
                let mut sum: f64 = bins[..k].iter().sum();
                let mut max = sum;
                for i in k..bins.len() {
                    sum += bins[i] - bins[i - k];
                    max = max.max(sum);
                }
                let width = load.width.saturating_mul(k as u64);
                let share = (max / width as f64).clamp(0.0, 1.0);
                isr_load.push(LoadOut {
                    window_ns: ns(width as f64) as u64,
                    max_isr_share: share,
                    min_left: 1.0 - share,
                });
            }
        }
        Report {
            span_ns: ns(len as f64) as u64,
            window_ns: ns(window as f64) as u64,
            rows,
            busy_share,
            isr_load,
            unfinished_spans: self.unfinished,
            note: NOTE,
            latency: self.latency.report(meta),
            damaged_regions: self.damaged,
        }
    }

    /// The report as one JSON document.
    pub fn write_json(&self, meta: &Meta, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &self.report(meta))?;
        writeln!(out)
    }

    /// The report as a table: a row per context and task with its share per window, then the
    /// utilization curve.
    pub fn write_table(&self, meta: &Meta, out: &mut impl Write) -> io::Result<()> {
        let r = self.report(meta);
        let fmt = |ns: u64| crate::units::format_ns(ns);
        writeln!(out, "{} in {COLUMNS} windows of {} ({NOTE})", fmt(r.span_ns), fmt(r.window_ns))?;
        let width = r.rows.iter().map(|x| x.name.chars().count() + 8).max().unwrap_or(0).max(12);
        writeln!(out, "{:width$}  {:>12}  {:>6}  per window", "context", "busy", "share")?;
        for row in &r.rows {
            let label = format!("{} ({})", row.name, serde_json::to_value(row.kind).unwrap().as_str().unwrap_or(""));
            let bars: String = row.windows.iter().map(|&w| bar(w)).collect();
            writeln!(out, "{label:width$}  {:>12}  {:>5.1}%  {bars}", fmt(row.busy_ns), row.share * 100.0)?;
        }
        writeln!(
            out,
            "{:width$}  {:>12}  {:>5.1}%  (threads + ISRs; on one core the rest is idle)",
            "all",
            "",
            r.busy_share * 100.0
        )?;
        if !r.isr_load.is_empty() {
            let mut line = String::new();
            for l in &r.isr_load {
                let _ = write!(line, "  {}: {:.1}%", fmt(l.window_ns), l.min_left * 100.0);
            }
            writeln!(out, "left to the rest by interrupts in the worst window of (minimum utilization):{line}")?;
        }
        if r.unfinished_spans > 0 {
            let n = crate::units::count(r.unfinished_spans, "span");
            writeln!(out, "note: {n} without a recorded end (lost records, the trace's end): counted up to where cut")?;
        }
        writeln!(out)?;
        r.latency.write_table(out)?;
        if r.damaged_regions > 0 {
            let n = crate::units::count(r.damaged_regions, "damaged region");
            writeln!(out, "note: {n} skipped: a wait across one may pair a pend with a later entry (too long)")?;
        }
        Ok(())
    }

    /// An SVG plot of each row's share per window, a polyline per row.
    pub fn write_svg(&self, meta: &Meta, out: &mut impl Write) -> io::Result<()> {
        const W: f64 = 800.0;
        const H: f64 = 300.0;
        const PAD: f64 = 40.0;
        const COLOURS: [&str; 8] =
            ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
        let r = self.report(meta);
        let x = |i: usize| PAD + (W - 2.0 * PAD) * (i as f64 + 0.5) / COLUMNS as f64;
        let y = |share: f64| H - PAD - (H - 2.0 * PAD) * share;
        let h = (W + 200.0) as u32;
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{h}" height="{H}" font-family="sans-serif" font-size="12">"#
        )?;
        writeln!(
            out,
            r#"<text x="{PAD}" y="20">share of each {} window (trace {})</text>"#,
            crate::units::format_ns(r.window_ns),
            crate::units::format_ns(r.span_ns)
        )?;
        writeln!(out, r#"<line x1="{PAD}" y1="{}" x2="{}" y2="{}" stroke="black"/>"#, y(0.0), W - PAD, y(0.0))?;
        writeln!(out, r#"<line x1="{PAD}" y1="{}" x2="{PAD}" y2="{}" stroke="black"/>"#, y(0.0), y(1.0))?;
        for (v, label) in [(0.0, "0%"), (0.5, "50%"), (1.0, "100%")] {
            writeln!(out, r#"<text x="4" y="{}">{label}</text>"#, y(v) + 4.0)?;
        }
        for (i, row) in r.rows.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            let points: Vec<String> =
                row.windows.iter().enumerate().map(|(j, &w)| format!("{:.1},{:.1}", x(j), y(w))).collect();
            writeln!(out, r#"<polyline fill="none" stroke="{c}" stroke-width="2" points="{}"/>"#, points.join(" "))?;
            let name = escape(&format!("{} {:.1}%", row.name, row.share * 100.0));
            writeln!(out, r#"<text x="{}" y="{}" fill="{c}">{name}</text>"#, W - PAD + 10.0, PAD + 16.0 * i as f64)?;
        }
        writeln!(out, "</svg>")
    }
}

/// One character for a share: eight heights, blank for nothing.
fn bar(share: f64) -> char {
    const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    BARS[((share * 8.0).ceil() as usize).min(8)]
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{CallsiteKind, Item, Kind::*};
    use crate::model::tests::{def, header, rec};
    use crate::model::Timeline;

    /// Thread mode busy 0..100 with a handler 40..60 inside it, then idle to 200, the handler
    /// again at 180..190; ticks are µs (1 MHz).
    fn report() -> Report {
        let items: Vec<Item<'static>> = vec![
            header(1_000_000),
            def(0x10, "work", CallsiteKind::Span),
            def(0x20, "SysTick", CallsiteKind::Isr),
            Item::Context { ctx: 0, name: "main" },
            Item::Context { ctx: 1, name: "SysTick" },
            rec(0, 0, SpanEnter, 0x10, 0, 0),
            rec(1, 40, IsrEnter, 0x20, 15, 0),
            rec(1, 60, IsrExit, 0x20, 15, 0),
            rec(0, 100, SpanExit, 0x10, 0, 0),
            rec(1, 180, IsrEnter, 0x20, 15, 0),
            rec(1, 190, IsrExit, 0x20, 15, 0),
            rec(0, 200, Event, 0x10, 0, 0),
        ];
        let mut t = Timeline::new(4);
        let mut u = Util::default();
        for i in items {
            t.push(i, &mut u);
        }
        t.finish(&mut u);
        u.report(&t.meta)
    }

    #[test]
    fn busy_time_per_context_excludes_what_interrupted_it() {
        let r = report();
        let find = |k: RowKind| r.rows.iter().find(|x| x.kind == k).unwrap();
        let (thread, isr) = (find(RowKind::Thread), find(RowKind::Isr));
        assert_eq!((thread.name.as_str(), thread.busy_ns), ("main", 80_000));
        assert_eq!((isr.name.as_str(), isr.busy_ns), ("SysTick", 30_000));
        assert!((thread.share - 0.4).abs() < 1e-9 && (isr.share - 0.15).abs() < 1e-9);
        assert!((r.busy_share - 0.55).abs() < 1e-9);
        assert_eq!(r.unfinished_spans, 0);
        // 16 windows of 13 µs: main is busy in the first eight only.
        assert_eq!(r.window_ns, 13_000);
        assert!(thread.windows[..7].iter().all(|&w| w > 0.5) && thread.windows[9..].iter().all(|&w| w == 0.0));
    }

    #[test]
    fn the_worst_window_of_each_width_bounds_what_interrupts_leave() {
        let r = report();
        // The narrowest windows fall inside a handler: nothing left.
        assert_eq!(r.isr_load[0].min_left, 0.0);
        // Across the whole trace the handlers took 30 of 200 µs.
        let widest = r.isr_load.last().unwrap();
        assert_eq!(widest.window_ns, 200_000);
        assert!((widest.min_left - 0.85).abs() < 1e-9, "{}", widest.min_left);
        let curve: Vec<f64> = r.isr_load.iter().map(|l| l.min_left).collect();
        assert!(curve.windows(2).all(|w| w[0] <= w[1] + 1e-9), "wider windows leave at least as much: {curve:?}");
    }

    #[test]
    fn a_series_keeps_its_total_as_it_coarsens() {
        let mut s = Series::new(0, 8);
        s.add(0, 4, 4);
        s.add(6, 30, 12);
        assert_eq!(s.width, 4, "doubled twice to cover 30 ticks in 8 bins");
        assert!((s.bins.iter().sum::<f64>() - 16.0).abs() < 1e-9);
        assert!((s.bins[0] - 4.0).abs() < 1e-9);
        // A damaged stream's timestamp near u64::MAX: the bins widen, nothing overflows.
        s.add(u64::MAX - 10, u64::MAX, 10);
        assert!((s.bins.iter().sum::<f64>() - 26.0).abs() < 1e-6);
    }
}
