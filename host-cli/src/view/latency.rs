//! `stats --contexts`' latency table: per interrupt handler, how long it ran, how often it came
//! and how long it waited from being pended (`tickspan::irq_pended`, `tickspan::pend`) to its
//! entry; per task family, how long a task waited from its wake-up to its next poll (Go's
//! scheduler latency).
//!
//! A wait is measured only between a recorded pend (wake-up) and a recorded entry (poll): a
//! lost record or a stretch the target did not record could pair a pend with a later entry
//! than its own, so waits open at a loss or a recording stop are dropped and counted, never
//! reported too long. Later pends before the entry merge into the first, as the NVIC merges
//! them; an executor likewise polls a task once for several wake-ups.

use super::stats::{Bin, LogHist};
use crate::model::{Mark, MarkKind, Meta, NameId, Span, SpanKind, Value, RECORDING_MARKER};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::io::{self, Write};

/// Wake-up events of the executors tickspan hooks (`tickspan::task`), their value the task id.
const WAKE_NAMES: [&str; 2] = ["tokio task woken", "embassy task ready"];
/// Handlers and tasks with waits open at once, beyond which further ones are not followed (and counted).
const MAX_OPEN: usize = 1 << 16;

/// What a row measures.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum What {
    /// A handler's entry to its exit, preemption by higher priorities included.
    Run,
    /// From one entry of a handler to its next.
    Interval,
    /// From a recorded pend to the handler's entry.
    PendToEntry,
    /// From a task's wake-up to the start of its next poll.
    WakeToPoll,
}

impl What {
    fn label(self) -> &'static str {
        match self {
            What::Run => "runs (entry → exit)",
            What::Interval => "every (entry → entry)",
            What::PendToEntry => "waits (pend → entry)",
            What::WakeToPoll => "waits (wake → poll)",
        }
    }
}

/// How a mark's name matters here, cached per name.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Class {
    Other,
    Pended,
    Wake,
    Recording,
}

struct Row {
    what: What,
    /// Exception number of a handler; a task family's pool address (0: named by its polls).
    id: u32,
    name: NameId,
    hist: LogHist,
    min: u64,
    max: u64,
}

/// Pends (wake-ups) of one handler (task) not yet served, oldest first: those before an entry
/// merge into the oldest, those during a run wait for the next entry.
type Open = FxHashMap<u32, Vec<u64>>;
/// Unserved pends kept per handler or task; more are merged into the last (and counted).
const MAX_PER_ID: usize = 8;
/// Ends of the latest gaps (losses) kept per context.
const GAPS: usize = 4;

/// Where a context's latest losses ended: the first record after each.
#[derive(Default, Clone)]
struct Gaps {
    /// A loss whose end (the context's next record) is not seen yet.
    open: bool,
    ends: [u64; GAPS],
    /// Gaps seen, of which the last `GAPS` are in `ends`.
    n: usize,
}

impl Gaps {
    fn seen(&mut self, ts: u64) {
        if self.open {
            self.open = false;
            self.ends[self.n % GAPS] = ts;
            self.n += 1;
        }
    }

    /// Whether a record of this context between `from` (exclusive) and `to` may have been lost.
    fn within(&self, from: u64, to: u64) -> bool {
        let kept = &self.ends[..self.n.min(GAPS)];
        // Forgotten gaps end before the oldest kept one: if that is after `from`, they may too.
        let forgotten = self.n > GAPS && kept.iter().min().is_some_and(|&e| e > from);
        forgotten || kept.iter().any(|&e| e > from && e <= to)
    }
}

/// Collects the latency samples as the timeline passes.
#[derive(Default)]
pub(crate) struct Latency {
    rows: Vec<Row>,
    classes: Vec<Option<Class>>,
    /// Exception number → its unserved pends.
    pended: Open,
    /// Task id → its unserved wake-ups.
    woken: Open,
    /// Exception number → tick of its last entry.
    last_entry: FxHashMap<u32, u64>,
    /// Per context: where its losses ended.
    gaps: Vec<Gaps>,
    /// Waits dropped because a loss or a recording stop came between pend and entry.
    dropped: u64,
    /// Pends and wake-ups not followed: too many open at once.
    untracked: u64,
}

impl Latency {
    fn class(&mut self, meta: &Meta, name: NameId) -> Class {
        let i = name as usize;
        if i >= self.classes.len() {
            self.classes.resize(i + 1, None);
        }
        *self.classes[i].get_or_insert_with(|| match meta.names.name(name) {
            n if n == tickspan::PENDED => Class::Pended,
            n if n == RECORDING_MARKER => Class::Recording,
            n if WAKE_NAMES.contains(&n) => Class::Wake,
            _ => Class::Other,
        })
    }

    fn sample(&mut self, what: What, id: u32, name: NameId, v: u64) {
        let i = match self.rows.iter().position(|r| r.what == what && r.id == id && r.name == name) {
            Some(i) => i,
            None => {
                self.rows.push(Row { what, id, name, hist: LogHist::default(), min: u64::MAX, max: 0 });
                self.rows.len() - 1
            }
        };
        let r = &mut self.rows[i];
        r.hist.record(v);
        r.min = r.min.min(v);
        r.max = r.max.max(v);
    }

    fn gaps(&mut self, ctx: u32) -> &mut Gaps {
        let i = ctx as usize;
        if i >= self.gaps.len() {
            self.gaps.resize(i + 1, Gaps::default());
        }
        &mut self.gaps[i]
    }

    /// Drops every open wait (a recording stop hides the entries that follow it).
    fn cut(&mut self) {
        self.dropped += (self.pended.values().chain(self.woken.values()).filter(|v| !v.is_empty()).count()) as u64;
        self.pended.clear();
        self.woken.clear();
        self.last_entry.clear();
    }

    fn wait(open: &mut Open, untracked: &mut u64, id: u32, ts: u64) {
        if open.len() >= MAX_OPEN && !open.contains_key(&id) {
            *untracked += 1;
            return;
        }
        let v = open.entry(id).or_default();
        if v.len() < MAX_PER_ID {
            v.push(ts);
        } else {
            *untracked += 1;
        }
    }

    /// A span opened: a record of its context, so the end of a gap there.
    pub(crate) fn open(&mut self, s: &Span) {
        self.gaps(s.ctx).seen(s.start);
    }

    /// A point event or loss of the timeline.
    pub(crate) fn mark(&mut self, meta: &Meta, m: &Mark) {
        match m.kind {
            MarkKind::Loss(_) => {
                self.gaps(m.ctx).open = true;
                return;
            }
            MarkKind::Value(Value::U(v)) => match self.class(meta, m.name) {
                Class::Pended => Self::wait(&mut self.pended, &mut self.untracked, v as u32, m.ts),
                Class::Wake => Self::wait(&mut self.woken, &mut self.untracked, v as u32, m.ts),
                Class::Recording if v != tickspan::arming::RECORDING => self.cut(),
                _ => {}
            },
            _ => {}
        }
        self.gaps(m.ctx).seen(m.ts);
    }

    /// The wait an entry (poll) at `s.start` ends: from the oldest pend before it, unless a
    /// loss in its context between the two may have taken the entry that really served it.
    fn served(&mut self, task: bool, s: &Span) -> Option<u64> {
        let open = if task { &mut self.woken } else { &mut self.pended };
        let v = open.get_mut(&s.id)?;
        let first = *v.first().filter(|&&at| at <= s.start)?;
        // Pends up to the entry merge into the first; one during the run is the next's.
        v.retain(|&at| at > s.start);
        if v.is_empty() {
            open.remove(&s.id);
        }
        let gap = self.gaps.get(s.ctx as usize).is_some_and(|g| g.within(first, s.start));
        if gap {
            self.dropped += 1;
            return None;
        }
        Some(s.start - first)
    }

    /// A closed span: a handler's run, or a task's poll.
    pub(crate) fn close(&mut self, meta: &Meta, s: &Span) {
        if s.unfinished {
            return;
        }
        match s.kind {
            SpanKind::Isr => {
                self.sample(What::Run, s.id, s.name, s.end.saturating_sub(s.start));
                let prev = self.last_entry.insert(s.id, s.start);
                if let Some(prev) = prev.filter(|&p| !self.gaps(s.ctx).within(p, s.start)) {
                    self.sample(What::Interval, s.id, s.name, s.start.saturating_sub(prev));
                }
                if let Some(wait) = self.served(false, s) {
                    self.sample(What::PendToEntry, s.id, s.name, wait);
                }
            }
            SpanKind::Scoped if s.id != 0 => {
                if let Some(wait) = self.served(true, s) {
                    // Tasks of one pool (the firmware ELF's statics) share a row, else of one name.
                    let pool = meta.task_names.iter().find(|t| (t.0..t.1).contains(&s.id)).map_or(0, |t| t.0);
                    self.sample(What::WakeToPoll, pool, s.name, wait);
                }
            }
            _ => {}
        }
        self.gaps(s.ctx).seen(s.end);
    }

    pub(crate) fn report(&self, meta: &Meta) -> LatencyOut {
        let ns = |t: u64| meta.clock.to_ns(t);
        let mut rows: Vec<RowOut> = self
            .rows
            .iter()
            .map(|r| RowOut {
                kind: if r.what == What::WakeToPoll { "task" } else { "isr" },
                id: r.id,
                name: match meta.task_name(r.id) {
                    Some(pool) if r.what == What::WakeToPoll => pool.to_string(),
                    _ => meta.names.name(r.name).to_string(),
                },
                what: r.what,
                count: r.hist.count(),
                min_ns: ns(r.min),
                p50_ns: ns(r.hist.quantile(0.5)).clamp(ns(r.min), ns(r.max)),
                p90_ns: ns(r.hist.quantile(0.9)).clamp(ns(r.min), ns(r.max)),
                p99_ns: ns(r.hist.quantile(0.99)).clamp(ns(r.min), ns(r.max)),
                max_ns: ns(r.max),
                histogram: r.hist.bins(meta.clock),
            })
            .collect();
        rows.sort_by(|a, b| (a.kind, a.id, &a.name, a.what).cmp(&(b.kind, b.id, &b.name, b.what)));
        LatencyOut {
            rows,
            waiting_at_end: (self.pended.len() + self.woken.len()) as u64,
            dropped_at_gaps: self.dropped,
            untracked: self.untracked,
        }
    }
}

/// One latency row of `stats --contexts --json`.
#[derive(Serialize)]
pub(crate) struct RowOut {
    /// `isr` or `task`.
    kind: &'static str,
    /// Exception number, or a task family's pool address (0: named by its polls).
    id: u32,
    /// Handler, task pool or poll span name.
    name: String,
    what: What,
    count: u64,
    min_ns: u64,
    /// Percentiles within 0.8 % (`stats`' histogram); min and max are exact.
    p50_ns: u64,
    p90_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    histogram: Vec<Bin>,
}

/// The latency part of the report.
#[derive(Serialize)]
pub(crate) struct LatencyOut {
    rows: Vec<RowOut>,
    /// Pends and wake-ups whose entry or poll the trace does not hold.
    waiting_at_end: u64,
    /// Waits dropped because a loss or a recording stop came before their entry.
    dropped_at_gaps: u64,
    /// Pends and wake-ups not followed (too many waiting at once).
    untracked: u64,
}

impl LatencyOut {
    /// The table: a line per handler or task family and measure.
    pub(crate) fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let fmt = |ns: u64| crate::units::format_ns(ns);
        let label = |r: &RowOut| match r.kind {
            "isr" => format!("{} (exception {})", r.name, r.id),
            _ => format!("{} (tasks)", r.name),
        };
        let width = self.rows.iter().map(|r| label(r).chars().count()).max().unwrap_or(0);
        writeln!(
            out,
            "{:width$}  {:21}  {:>8}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
            "latency", "", "count", "min", "p50", "p90", "p99", "max"
        )?;
        for r in &self.rows {
            writeln!(
                out,
                "{:width$}  {:21}  {:>8}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                label(r),
                r.what.label(),
                r.count,
                fmt(r.min_ns),
                fmt(r.p50_ns),
                fmt(r.p90_ns),
                fmt(r.p99_ns),
                fmt(r.max_ns)
            )?;
        }
        if !self.rows.iter().any(|r| matches!(r.what, What::PendToEntry)) {
            writeln!(out, "(no pends recorded: tickspan::pend / irq_pended give handlers' waits)")?;
        }
        let count = crate::units::count;
        if self.dropped_at_gaps > 0 {
            writeln!(
                out,
                "note: {} dropped: a loss or a recording stop came before the entry",
                count(self.dropped_at_gaps, "wait")
            )?;
        }
        if self.waiting_at_end > 0 {
            writeln!(out, "note: {} still waiting at the trace's end", count(self.waiting_at_end, "pend or wake-up"))?;
        }
        if self.untracked > 0 {
            writeln!(
                out,
                "note: {} not followed (too many waiting at once)",
                count(self.untracked, "pend or wake-up")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{CallsiteKind, Item, Kind::*};
    use crate::model::tests::{def, header, rec};
    use crate::model::Timeline;

    /// Feeds `items` (µs ticks) through the timeline into a [`Latency`].
    fn latency(items: Vec<Item<'static>>) -> LatencyOut {
        struct V(Latency);
        impl crate::model::Visitor for V {
            fn open(&mut self, _: &Meta, s: &Span) {
                self.0.open(s)
            }
            fn close(&mut self, meta: &Meta, s: &Span, _: &[NameId]) {
                self.0.close(meta, s)
            }
            fn mark(&mut self, meta: &Meta, m: &Mark) {
                self.0.mark(meta, m)
            }
        }
        let mut t = Timeline::new(4);
        let mut v = V(Latency::default());
        for i in items {
            t.push(i, &mut v);
        }
        t.finish(&mut v);
        v.0.report(&t.meta)
    }

    fn base() -> Vec<Item<'static>> {
        vec![
            header(1_000_000),
            def(0x10, "work", CallsiteKind::Span),
            def(0x20, "GPIOA", CallsiteKind::Isr),
            def(0x30, tickspan::PENDED, CallsiteKind::ValueU64),
            def(0x40, "poll", CallsiteKind::Span),
            def(0x50, "tokio task woken", CallsiteKind::ValueU64),
        ]
    }

    /// GPIOA (exception 16) running from `at` to `until` in context 1.
    fn gpioa(at: u64, until: u64) -> [Item<'static>; 2] {
        [rec(1, at, IsrEnter, 0x20, 16, 0), rec(1, until, IsrExit, 0x20, 16, 0)]
    }

    fn row(r: &LatencyOut, what: What) -> &RowOut {
        r.rows.iter().find(|x| x.what == what).unwrap_or_else(|| panic!("no {what:?} row"))
    }

    #[test]
    fn a_pend_is_paired_with_the_next_entry_and_later_pends_merge() {
        let mut items = base();
        // Pended at 10 (and again at 12: merged), masked until 40.
        items.extend([rec(0, 10, ValueU, 0x30, 16, 0), rec(0, 12, ValueU, 0x30, 16, 0)]);
        let [enter, exit] = gpioa(40, 50);
        // Pended again while it runs: that wait starts at 45 and ends at the next entry.
        items.extend([enter, rec(1, 45, ValueU, 0x30, 16, 0), exit]);
        // Then an entry nobody marked as pended (no wait), and a pend never served.
        items.extend(gpioa(51, 60).into_iter().chain(gpioa(100, 101)));
        items.push(rec(0, 200, ValueU, 0x30, 16, 0));
        let r = latency(items);
        let wait = row(&r, What::PendToEntry);
        assert_eq!((wait.count, wait.min_ns, wait.max_ns), (2, 6_000, 30_000));
        assert_eq!((wait.name.as_str(), wait.id), ("GPIOA", 16));
        let run = row(&r, What::Run);
        assert_eq!((run.count, run.min_ns, run.max_ns), (3, 1_000, 10_000));
        let every = row(&r, What::Interval);
        assert_eq!((every.count, every.min_ns, every.max_ns), (2, 11_000, 49_000));
        assert_eq!(every.histogram.iter().map(|b| b.count).sum::<u64>(), 2);
        assert_eq!((r.waiting_at_end, r.dropped_at_gaps), (1, 0));
    }

    #[test]
    fn a_loss_between_pend_and_entry_drops_the_wait_rather_than_overstate_it() {
        let mut items = base();
        // The entry that served the pend was lost; the next entry is not its.
        items.extend([rec(0, 10, ValueU, 0x30, 16, 0), Item::Loss { ctx: 1, count: 2 }]);
        items.extend(gpioa(500, 510));
        let r = latency(items);
        assert!(r.rows.iter().all(|x| x.what != What::PendToEntry), "no wait from 10 to 500");
        assert_eq!(r.dropped_at_gaps, 1);
    }

    #[test]
    fn a_task_waits_from_its_wake_up_to_its_next_poll() {
        let mut items = base();
        items.extend([
            rec(0, 5, ValueU, 0x50, 7, 0),
            rec(0, 20, SpanEnter, 0x40, 0, 0),
            rec(0, 20, TaskSwitch, 0x40, 7, 0),
            // Woken during its own poll: the wait is for the next one.
            rec(0, 25, ValueU, 0x50, 7, 0),
            rec(0, 30, SpanExit, 0x40, 0, 0),
            rec(0, 70, SpanEnter, 0x40, 0, 0),
            rec(0, 70, TaskSwitch, 0x40, 7, 0),
            rec(0, 80, SpanExit, 0x40, 0, 0),
        ]);
        let r = latency(items);
        let wait = row(&r, What::WakeToPoll);
        assert_eq!((wait.kind, wait.name.as_str(), wait.count), ("task", "poll", 2));
        assert_eq!((wait.min_ns, wait.max_ns), (15_000, 45_000));
        assert_eq!(r.waiting_at_end, 0);
    }
}
