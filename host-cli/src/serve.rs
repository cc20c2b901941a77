//! `tickspan serve`: a live dashboard over HTTP, after Go's x/net/trace `/debug/requests`.
//!
//! The decode runs on the calling thread as for every other view; the dashboard ([`Board`]) is
//! its visitor. About four times a second, and whenever a live source pauses, the ingest thread
//! renders the board into one JSON snapshot that the HTTP thread serves as it is: the hot path
//! takes no lock and the pages never see a half-updated board. Memory is bounded by the number
//! of span names, the configured buckets and `--recent` (the traces kept per bucket), never by
//! the length of the stream. See docs/serve.md for the pages and the JSON API.

use crate::app;
use crate::cli::Input;
use crate::device::cmd::{AttachArgs, Polling};
use crate::item::{Item, Level, Rec, Sink};
use crate::model::{
    ClockWarning, Counters, Feed, Mark, MarkKind, Meta, NameId, OpenSpan, Span, SpanKind, SpanLink, Timeline, Visitor,
};
use crate::run::{self, exit, Fail, STOP};
use crate::source::Source;
use crate::units::{format_ns, Duration};
use crate::view::stats::{Bin, Row, Stats};
use across::Part;
use clap::Args;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration as Wait, Instant};

mod across;

/// `serve` options.
#[derive(Args, Debug)]
#[command(
    mut_arg("file", |a| a.index(1).required_unless_present_any(["serial", "tcp", "listen", "gdb", "chip"])),
    mut_arg("more", |a| a.index(2)),
)]
pub struct ServeArgs {
    /// Where the trace comes from.
    #[command(flatten)]
    pub input: Input,
    /// Address of the dashboard. Loopback only unless --allow-remote.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7060")]
    pub http: SocketAddr,
    /// Allow a --http address other than loopback (anyone who can reach it sees the trace).
    #[arg(long)]
    pub allow_remote: bool,
    /// Latency buckets' lower bounds (cumulative, as in x/net/trace), e.g. 0ns,10us,100us,1ms.
    #[arg(long, value_name = "D,D,…", value_delimiter = ',', default_value = DEFAULT_BUCKETS)]
    pub buckets: Vec<Duration>,
    /// Traces kept per bucket and family (x/net/trace keeps 10).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub recent: usize,
    /// Another source to serve beside the first, each on its own page (`?source=N`): a file,
    /// or `tcp:HOST:PORT`; repeat for more. --follow, --elf and --reorder-window apply to all.
    #[arg(long, value_name = "FILE|tcp:HOST:PORT")]
    pub also: Vec<String>,
    /// Latest closed spans kept for drill-down to call trees (about 64 bytes each).
    #[arg(long, value_name = "N", default_value_t = 1 << 16)]
    pub tree_spans: usize,
    /// The first source is a running target's RTT channel, read through this GDB stub
    /// (HOST:PORT, e.g. QEMU's `-gdb tcp::3333` or OpenOCD; or a Black Magic Probe's serial
    /// device) as `tickspan attach --gdb` reads it; needs --elf.
    #[arg(long, value_name = "HOST:PORT|DEVICE", requires = "elf", conflicts_with_all = ["file", "serial", "tcp", "listen", "chip"])]
    pub gdb: Option<String>,
    /// The first source is the RTT channel of a target on a debug probe (probe-rs), this chip
    /// (e.g. nRF52840_xxAA), as `tickspan attach --chip` reads it.
    #[arg(long, value_name = "CHIP", conflicts_with_all = ["file", "serial", "tcp", "listen"])]
    pub chip: Option<String>,
    /// With --chip, when several probes are connected: which (`VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", requires = "chip")]
    pub probe: Option<String>,
    /// With --gdb or --chip: the input ends when the target reaches this function (a
    /// breakpoint at the ELF symbol); the final numbers stay up.
    #[arg(long, value_name = "SYMBOL", requires = "elf")]
    pub until: Option<String>,
    /// With --gdb or --chip: milliseconds between polls of the channel.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub poll_ms: u64,
}

impl ServeArgs {
    /// The RTT target of the first source, for --gdb or --chip.
    fn target(&self) -> Option<AttachArgs> {
        (self.gdb.is_some() || self.chip.is_some()).then(|| AttachArgs {
            listen: None,
            tcp: None,
            gdb: self.gdb.clone(),
            chip: self.chip.clone(),
            probe: self.probe.clone(),
            elf: self.input.elf.clone(),
            polling: Polling {
                until: self.until.clone(),
                duration: None,
                poll_ms: self.poll_ms,
                no_defmt: true,
                control: Default::default(),
            },
        })
    }
}

/// x/net/trace's latency buckets.
const DEFAULT_BUCKETS: &str = "0ns,50ms,100ms,200ms,500ms,1s,10s,100s";

/// How often the ingest thread renders a new snapshot while data flows.
const PUBLISH_EVERY: Wait = Wait::from_millis(250);
/// Oldest open spans listed per family.
const OLDEST_ACTIVE: usize = 10;
/// Most latency buckets.
const MAX_BUCKETS: usize = 16;

const REQUESTS_HTML: &str = include_str!("serve/requests.html");
const EVENTS_HTML: &str = include_str!("serve/events.html");
const TRACE_HTML: &str = include_str!("serve/trace.html");
const DASHBOARD_JS: &str = include_str!("serve/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("serve/dashboard.css");

/// A span as the pages list it (times in ns from the start of the trace, or ticks).
#[derive(Serialize, Clone, Copy, Debug)]
struct Trace {
    /// Span uid (unique within this run) and its tree's root uid, for drill-down.
    uid: u64,
    root: u64,
    ctx: u32,
    start: u64,
    duration: u64,
    self_time: u64,
    /// Cut short by lost records or a clock jump (the "errors" bucket).
    unfinished: bool,
}

/// An open span as the pages list it: `duration` is the time open so far.
#[derive(Serialize, Clone, Copy, Debug)]
struct Open {
    uid: u64,
    ctx: u32,
    start: u64,
    duration: u64,
}

/// Counts in per-second (or per-minute) slots, each stamped with its second, so old slots
/// drop out of a window without being cleared.
#[derive(Clone, Copy)]
struct Slots([(u64, u64); 60]);

impl Slots {
    fn add(&mut self, at: u64) {
        let s = &mut self.0[(at % 60) as usize];
        if s.0 != at {
            *s = (at, 0);
        }
        s.1 += 1;
    }

    /// Counts in the 60 slots up to and including `now`.
    fn sum(&self, now: u64) -> u64 {
        self.0.iter().filter(|s| s.0 <= now && s.0 + 60 > now && s.1 > 0).map(|s| s.1).sum()
    }
}

/// The last `recent` traces of a bucket, and how many it has had.
#[derive(Default)]
struct Recent {
    count: u64,
    traces: VecDeque<Trace>,
}

impl Recent {
    fn push(&mut self, t: Trace, keep: usize) {
        self.count += 1;
        if self.traces.len() == keep {
            self.traces.pop_front();
        }
        if keep > 0 {
            self.traces.push_back(t);
        }
    }
}

/// An event as the Events page lists it.
#[derive(Serialize, Clone, Debug)]
struct EventView {
    /// Time from the start of the trace.
    at: u64,
    ctx: u32,
    /// Its payload as text, if it has one (a formatted event's message).
    value: Option<String>,
}

/// One event name's long-lived log (x/net/trace's `/debug/events`).
struct EventLog {
    count: u64,
    secs: Slots,
    mins: Slots,
    recent: VecDeque<EventView>,
}

/// One span name's x/net/trace "family".
struct Family {
    count: u64,
    buckets: Vec<Recent>,
    errors: Recent,
    secs: Slots,
    mins: Slots,
}

/// The dashboard's state: a [`Visitor`] fed by the timeline.
pub struct Board {
    stats: Stats,
    bounds: Vec<Duration>,
    /// `bounds` in ticks, fixed at the first span (the header precedes records).
    ticks: Option<Vec<u64>>,
    recent: usize,
    families: Vec<Option<Box<Family>>>,
    events: Vec<Option<Box<EventLog>>>,
    /// Records lost per context (from loss marks).
    lost: FxHashMap<u32, u64>,
    /// The latest closed spans, oldest first, for drill-down; `ring_cap` at most.
    ring: VecDeque<Node>,
    ring_cap: usize,
    /// Uids and trace contexts of the spans in `ring` that have one, in the same order (a
    /// queue beside it, not a map: no hashing per span), for trees across sources.
    links: VecDeque<(u64, SpanLink)>,
    /// Index of its source (`?source=N`), which trees tag their spans with.
    source: usize,
}

/// A closed span as drill-down keeps it.
#[derive(Clone, Copy)]
struct Node {
    uid: u64,
    parent: u64,
    root: u64,
    name: NameId,
    ctx: u32,
    start: u64,
    end: u64,
    self_ticks: u64,
    unfinished: bool,
    /// Whether `links` has its trace context.
    linked: bool,
}

impl Node {
    /// The span it was kept from, as far as kept: kind, depth, interrupt time and id are not.
    fn span(&self) -> Span {
        let (uid, parent, root, ctx, name, start, end) =
            (self.uid, self.parent, self.root, self.ctx, self.name, self.start, self.end);
        let (kind, depth, isr_ticks, id) = (SpanKind::Scoped, 0, 0, 0);
        Span {
            uid,
            parent,
            root,
            ctx,
            name,
            kind,
            start,
            end,
            depth,
            self_ticks: self.self_ticks,
            isr_ticks,
            id,
            unfinished: self.unfinished,
        }
    }
}

/// Most spans one `/api/trace` answer lists.
const MAX_TREE: usize = 10_000;

impl Board {
    /// A board with these bucket bounds (at most 16) keeping `recent` traces per bucket.
    pub fn new(bounds: Vec<Duration>, recent: usize) -> Board {
        let mut bounds = bounds;
        bounds.truncate(MAX_BUCKETS);
        Board {
            stats: Stats::default(),
            bounds,
            ticks: None,
            recent,
            families: Vec::new(),
            events: Vec::new(),
            lost: FxHashMap::default(),
            ring: VecDeque::new(),
            ring_cap: 0,
            links: VecDeque::new(),
            source: 0,
        }
    }
}

impl Visitor for Board {
    fn close(&mut self, meta: &Meta, s: &Span, path: &[NameId]) {
        self.stats.close(meta, s, path);
        if self.ring_cap > 0 {
            if self.ring.len() == self.ring_cap && self.ring.pop_front().is_some_and(|o| o.linked) {
                self.links.pop_front();
            }
            let link = if meta.links.is_empty() { None } else { meta.links.get(s.uid) };
            if let Some(&l) = link {
                self.links.push_back((s.uid, l));
            }
            let (uid, parent, root, name, ctx, start, end) = (s.uid, s.parent, s.root, s.name, s.ctx, s.start, s.end);
            self.ring.push_back(Node {
                uid,
                parent,
                root,
                name,
                ctx,
                start,
                end,
                self_ticks: s.self_ticks,
                unfinished: s.unfinished,
                linked: link.is_some(),
            });
        }
        let c = meta.clock;
        let t = Trace {
            uid: s.uid,
            root: s.root,
            ctx: s.ctx,
            start: c.to_ns(meta.rel(s.start)),
            duration: c.to_ns(s.dur()),
            self_time: c.to_ns(s.self_ticks),
            unfinished: s.unfinished,
        };
        let d = s.dur();
        if self.ticks.is_none() {
            self.ticks = Some(self.bounds.iter().map(|b| b.ticks(c)).collect());
        }
        let keep = self.recent;
        let sec = c.to_ns(meta.rel(s.end)) / 1_000_000_000;
        let (ticks, f) =
            (self.ticks.as_deref().unwrap_or_default(), family(&mut self.families, s.name, self.bounds.len()));
        for (b, &lo) in f.buckets.iter_mut().zip(ticks) {
            if d >= lo {
                b.push(t, keep);
            }
        }
        if s.unfinished {
            f.errors.push(t, keep);
        }
        f.count += 1;
        f.secs.add(sec);
        f.mins.add(sec / 60);
    }

    fn mark(&mut self, meta: &Meta, m: &Mark) {
        let value = match m.kind {
            MarkKind::Loss(n) => {
                *self.lost.entry(m.ctx).or_default() += u64::from(n);
                return;
            }
            MarkKind::Task(_) => return,
            // A formatted event shows its message (the family is its format string).
            MarkKind::Event => crate::model::format::message(&meta.names, m.name, &meta.fields.mark).map(|m| m.text),
            MarkKind::Value(v) => Some(v.to_string()),
        };
        let c = meta.clock;
        let at = c.to_ns(meta.rel(m.ts));
        let i = m.name as usize;
        if i >= self.events.len() {
            self.events.resize_with(i + 1, || None);
        }
        let log = self.events[i].get_or_insert_with(|| {
            Box::new(EventLog {
                count: 0,
                secs: Slots([(u64::MAX, 0); 60]),
                mins: Slots([(u64::MAX, 0); 60]),
                recent: VecDeque::new(),
            })
        });
        log.count += 1;
        let sec = at / 1_000_000_000;
        log.secs.add(sec);
        log.mins.add(sec / 60);
        if log.recent.len() == self.recent {
            log.recent.pop_front();
        }
        if self.recent > 0 {
            log.recent.push_back(EventView { at, ctx: m.ctx, value });
        }
    }
}

/// The family of `name`, made with `n` buckets if new.
fn family(families: &mut Vec<Option<Box<Family>>>, name: NameId, n: usize) -> &mut Family {
    let i = name as usize;
    if i >= families.len() {
        families.resize_with(i + 1, || None);
    }
    families[i].get_or_insert_with(|| {
        Box::new(Family {
            count: 0,
            buckets: (0..n).map(|_| Recent::default()).collect(),
            errors: Recent::default(),
            secs: Slots([(u64::MAX, 0); 60]),
            mins: Slots([(u64::MAX, 0); 60]),
        })
    })
}

/// A bucket as `/api/requests` gives it.
#[derive(Serialize)]
struct BucketView<'a> {
    /// Lower bound in ns (ticks without a clock, or for a bound given in ticks).
    at_least: u64,
    label: String,
    count: u64,
    recent: &'a VecDeque<Trace>,
}

/// A family as `/api/requests` gives it.
#[derive(Serialize)]
struct FamilyView<'a> {
    name: &'a str,
    /// Spans that ended within the last minute / hour of the stream's time, and in all.
    last_minute: u64,
    last_hour: u64,
    all: u64,
    /// The `stats --json` row of this name (count, percentiles, …); none for task polls,
    /// whose rows are per task id.
    stats: Option<&'a Row>,
    /// Durations in log-scale bins (four per power of two), whose percentiles are `stats`';
    /// none when `stats` is none.
    histogram: Option<Vec<Bin>>,
    buckets: Vec<BucketView<'a>>,
    errors: BucketView<'a>,
    /// Open spans of this name, oldest first.
    active: usize,
    oldest_active: Vec<Open>,
}

/// What was wrong with the data so far: shown on every page.
#[derive(Serialize)]
struct Health {
    records: u64,
    lost: u64,
    lost_by_context: Vec<(String, u64)>,
    damaged_regions: u64,
    damaged_bytes: u64,
    unmatched: u64,
    dropped: u64,
    time_jumps: u64,
    late: u64,
    ambiguous: u64,
    clock_warnings: Vec<ClockWarningView>,
}

#[derive(Serialize)]
struct ClockWarningView {
    context: String,
    earliest: u64,
    first: u64,
    last: u64,
    records: u32,
}

/// An event log as `/api/events` gives it.
#[derive(Serialize)]
struct EventLogView<'a> {
    name: &'a str,
    /// The callsite's level (`trace` … `error`), when the stream's dictionary gave it.
    level: Option<&'static str>,
    /// Whether the level is `warn` or `error`: these are the page's error counts.
    error: bool,
    last_minute: u64,
    last_hour: u64,
    all: u64,
    /// The latest `--recent` events, oldest first.
    recent: &'a VecDeque<EventView>,
}

/// What every page's JSON starts with.
#[derive(Serialize)]
struct Common<'a> {
    source: &'a str,
    target: &'a str,
    /// `ns`, or `ticks` when the stream gave no clock frequency.
    unit: &'static str,
    /// The input ended: the numbers are final.
    done: bool,
    /// Stream time of the latest record (from the start of the trace).
    now: u64,
    health: Health,
    /// `[id, name]` of each context the stream named (the lists give contexts by id).
    contexts: Vec<(u32, &'a str)>,
}

/// `/api/events`.
#[derive(Serialize)]
struct EventsView<'a> {
    #[serde(flatten)]
    common: &'a Common<'a>,
    events: Vec<EventLogView<'a>>,
}

/// `/api/requests`.
#[derive(Serialize)]
struct RequestsView<'a> {
    #[serde(flatten)]
    common: &'a Common<'a>,
    families: Vec<FamilyView<'a>>,
}

impl Board {
    /// Renders the board as `/api/requests` and `/api/events` serve it.
    fn render(&mut self, meta: &Meta, counters: Counters, open: &[OpenSpan], source: &str, done: bool) -> Pages {
        let c = meta.clock;
        let now = c.to_ns(meta.rel(meta.end));
        let report = self.stats.report(meta);
        let rows: FxHashMap<&str, &Row> = report.spans.iter().map(|r| (r.name.as_str(), r)).collect();
        let label = |b: &Duration| match *b {
            Duration::Ns(ns) if c.is_real() => (ns, format!("≥{}", format_ns(ns))),
            Duration::Ns(ns) => (ns, format!("≥{ns} ticks")),
            Duration::Ticks(t) => (t, format!("≥{t} ticks")),
        };
        let mut oldest: FxHashMap<NameId, Vec<&OpenSpan>> = FxHashMap::default();
        for s in open {
            family(&mut self.families, s.name, self.bounds.len()); // listed before one closed
            oldest.entry(s.name).or_default().push(s);
        }
        let open_view = |s: &OpenSpan| Open {
            uid: s.uid,
            ctx: s.ctx,
            start: c.to_ns(meta.rel(s.start)),
            duration: c.to_ns(meta.end.saturating_sub(s.start)),
        };
        let mut families: Vec<FamilyView> = self
            .families
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((i as NameId, f.as_deref()?)))
            .map(|(id, f)| {
                let name = meta.names.name(id);
                let mut open = oldest.remove(&id).unwrap_or_default();
                open.sort_by_key(|s| s.start);
                let sec = now / 1_000_000_000;
                FamilyView {
                    name,
                    last_minute: f.secs.sum(sec),
                    last_hour: f.mins.sum(sec / 60),
                    all: f.count,
                    stats: rows.get(name).copied(),
                    histogram: rows.contains_key(name).then(|| self.stats.histogram(meta, id)),
                    buckets: f
                        .buckets
                        .iter()
                        .zip(&self.bounds)
                        .map(|(b, bound)| {
                            let (at_least, label) = label(bound);
                            BucketView { at_least, label, count: b.count, recent: &b.traces }
                        })
                        .collect(),
                    errors: BucketView {
                        at_least: 0,
                        label: "errors".into(),
                        count: f.errors.count,
                        recent: &f.errors.traces,
                    },
                    active: open.len(),
                    oldest_active: open.iter().take(OLDEST_ACTIVE).map(|s| open_view(s)).collect(),
                }
            })
            .collect();
        families.sort_by(|a, b| a.name.cmp(b.name));
        let mut lost_by_context: Vec<(String, u64)> =
            self.lost.iter().map(|(&ctx, &n)| (meta.ctx_name(ctx), n)).collect();
        lost_by_context.sort();
        let warning = |w: &ClockWarning| ClockWarningView {
            context: meta.ctx_name(w.ctx),
            earliest: if w.earliest == 0 { 0 } else { c.to_ns(meta.rel(w.earliest)) },
            first: c.to_ns(meta.rel(w.first)),
            last: c.to_ns(meta.rel(w.last)),
            records: w.records,
        };
        let health = Health {
            records: counters.records,
            lost: counters.lost,
            lost_by_context,
            damaged_regions: counters.skipped_regions,
            damaged_bytes: counters.skipped_bytes,
            unmatched: counters.unmatched,
            dropped: counters.dropped,
            time_jumps: counters.time_jumps,
            late: counters.late,
            ambiguous: counters.ambiguous,
            clock_warnings: meta.clock_warnings.iter().map(warning).collect(),
        };
        let sec = now / 1_000_000_000;
        let mut events: Vec<EventLogView> = self
            .events
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some((i as NameId, l.as_deref()?)))
            .map(|(id, l)| {
                let level = meta.names.info(id).level;
                EventLogView {
                    name: meta.names.name(id),
                    level: level.map(level_name),
                    error: level.is_some_and(|l| l >= Level::Warn),
                    last_minute: l.secs.sum(sec),
                    last_hour: l.mins.sum(sec / 60),
                    all: l.count,
                    recent: &l.recent,
                }
            })
            .collect();
        events.sort_by(|a, b| a.name.cmp(b.name));
        let json = |r: serde_json::Result<String>| -> Arc<str> {
            r.unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")).into()
        };
        let contexts = meta.ctx_names.iter().enumerate().filter_map(|(i, n)| Some((i as u32, n.as_deref()?))).collect();
        let common = Common { source, target: &meta.target, unit: report.unit, done, now, health, contexts };
        Pages {
            events: json(serde_json::to_string(&EventsView { common: &common, events })),
            requests: json(serde_json::to_string(&RequestsView { common: &common, families })),
        }
    }
}

/// A span of `/api/trace`.
#[derive(Serialize)]
struct TreeSpan<'a> {
    /// Index of its source: the node it ran on.
    node: usize,
    uid: u64,
    parent: u64,
    depth: u32,
    name: &'a str,
    ctx: u32,
    context: String,
    start: u64,
    duration: u64,
    self_time: u64,
    unfinished: bool,
}

/// `/api/trace?uid=N`.
#[derive(Serialize)]
struct TreeView<'a> {
    /// The span asked for (of source `node`), and the root of the tree listed (the span
    /// itself when its root is no longer held or still open).
    node: usize,
    uid: u64,
    root: u64,
    /// Its trace's id (32 hex digits) when the span is in a distributed trace.
    trace_id: Option<String>,
    /// The sources whose spans are listed, and how their clocks were aligned.
    nodes: Vec<NodeView>,
    unit: &'static str,
    /// Whether every span of the tree is listed: none aged out of the drill-down window
    /// (`--tree-spans`) and none beyond the answer's limit.
    complete: bool,
    /// The tree in depth-first order, children by start time.
    spans: Vec<TreeSpan<'a>>,
}

/// A source of `/api/trace`: a node of the trace.
#[derive(Serialize)]
struct NodeView {
    /// Its index (`?source=N`).
    source: usize,
    /// The name in its stream's header, else the source's.
    name: String,
    /// How its clock was placed on the tree's time line.
    alignment: String,
}

/// The name of a source's node: its stream's (`TICKSPAN_NODE`, the program), else `source`.
fn node_name(meta: &Meta, source: &str) -> String {
    if meta.name.is_empty() {
        source.to_string()
    } else {
        meta.name.clone()
    }
}

impl Board {
    /// The call tree holding span `uid`, from the latest closed spans, and its trace id (0 if
    /// none); `None` if not held.
    fn tree(&self, meta: &Meta, name: &str, uid: u64) -> Option<(String, u128)> {
        let me = self.ring.iter().find(|n| n.uid == uid)?;
        let top = self.ring.iter().find(|n| n.uid == me.root).unwrap_or(me);
        let mut children: FxHashMap<u64, Vec<&Node>> = FxHashMap::default();
        for n in self.ring.iter().filter(|n| n.root == me.root && n.uid != top.uid) {
            children.entry(n.parent).or_default().push(n);
        }
        children.values_mut().for_each(|v| v.sort_by_key(|n| n.start));
        let c = meta.clock;
        let mut spans = Vec::new();
        let mut todo = vec![(top, 0u32)];
        while let Some((n, depth)) = todo.pop() {
            if spans.len() == MAX_TREE {
                break;
            }
            spans.push(TreeSpan {
                node: self.source,
                uid: n.uid,
                parent: n.parent,
                depth,
                name: meta.names.name(n.name),
                ctx: n.ctx,
                context: meta.ctx_name(n.ctx),
                start: c.to_ns(meta.rel(n.start)),
                duration: c.to_ns(n.end - n.start),
                self_time: c.to_ns(n.self_ticks),
                unfinished: n.unfinished,
            });
            todo.extend(children.get(&n.uid).into_iter().flatten().rev().map(|&k| (k, depth + 1)));
        }
        // Every span of the tree closed after its root began: if the oldest span held closed
        // before that, none of them can have aged out.
        let held_all = self.ring.len() < self.ring_cap || self.ring.front().is_some_and(|o| o.end <= top.start);
        let complete = held_all && todo.is_empty() && top.uid == me.root;
        let unit = if c.is_real() { "ns" } else { "ticks" };
        let trace = self.links.iter().find(|l| l.0 == uid).map_or(0, |l| l.1.trace_id);
        let trace_id = (trace != 0).then(|| format!("{trace:032x}"));
        let nodes =
            vec![NodeView { source: self.source, name: node_name(meta, name), alignment: "its own clock".into() }];
        let (node, root) = (self.source, top.uid);
        let view = TreeView { node, uid, root, trace_id, nodes, unit, complete, spans };
        Some((serde_json::to_string(&view).ok()?, trace))
    }
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// The JSON of each page, rendered together from one state of the board.
#[derive(Clone)]
struct Pages {
    requests: Arc<str>,
    events: Arc<str>,
}

/// A drill-down question to an ingest thread.
enum Query {
    /// The call tree of a span (by uid) in this source, as `/api/trace` JSON, and its trace id.
    Tree(u64, SyncSender<Option<(String, u128)>>),
    /// The spans of a distributed trace (by id) this source holds, as a node of a join.
    Trace(u128, SyncSender<Part>),
}

impl Board {
    /// Answers `q` from the current state.
    fn answer(&self, meta: &Meta, name: &str, q: Query) {
        match q {
            Query::Tree(uid, reply) => {
                let _ = reply.send(self.tree(meta, name, uid));
            }
            Query::Trace(trace, reply) => {
                let _ = reply.send(self.part(meta, name, trace));
            }
        }
    }
}

/// The latest snapshot, shared with the HTTP threads.
type Snapshot = Arc<Mutex<Pages>>;

/// The decoder's sink: the timeline with the board, publishing a snapshot now and then.
struct Live<'a> {
    feed: Feed<'a, Board>,
    /// Drill-down questions from the HTTP threads, answered at each publish.
    queries: &'a Receiver<Query>,
    out: &'a Snapshot,
    source: &'a str,
    calls: u32,
    last: Instant,
}

impl Live<'_> {
    fn publish(&mut self, done: bool) {
        let open: Vec<OpenSpan> = self.feed.tl.open_spans().collect();
        let pages = self.feed.v.render(&self.feed.tl.meta, self.feed.tl.counters(), &open, self.source, done);
        *self.out.lock().unwrap_or_else(|e| e.into_inner()) = pages;
        self.last = Instant::now();
        self.answer();
    }

    fn answer(&mut self) {
        while let Ok(q) = self.queries.try_recv() {
            self.feed.v.answer(&self.feed.tl.meta, self.source, q);
        }
    }

    #[inline]
    fn tick(&mut self) {
        self.calls = self.calls.wrapping_add(1);
        if self.calls % 64 == 0 && self.last.elapsed() >= PUBLISH_EVERY {
            self.publish(false);
        }
    }
}

impl Sink for Live<'_> {
    fn item(&mut self, item: Item<'_>) {
        self.feed.item(item);
        self.tick();
    }
    #[inline]
    fn records(&mut self, ctx: u32, records: &[Rec]) {
        self.feed.records(ctx, records);
        self.tick();
    }
}

/// Runs `tickspan serve`: binds, reads the input into the board, then serves the final
/// numbers until Ctrl-C.
pub fn run(a: &ServeArgs) -> Result<u8, Fail> {
    check(a.http, a.allow_remote, a.buckets.len(), ["--http", "--allow-remote", "--buckets"])?;
    if a.until.is_some() && a.target().is_none() {
        return Err(Fail { code: exit::USAGE, msg: "--until is for --gdb and --chip".into() });
    }
    let (servers, bound) = bind(a.http)?;
    let empty = Board::new(a.buckets.clone(), 0).render(&Meta::default(), Counters::default(), &[], "", false);
    let mut inputs = vec![a.input.clone()];
    for more in &a.also {
        let mut i = Input { file: None, serial: None, tcp: None, listen: None, ..a.input.clone() };
        match more.strip_prefix("tcp:") {
            Some(addr) => i.tcp = Some(addr.to_string()),
            None => i.file = Some(more.into()),
        }
        inputs.push(i);
    }
    let mut slots = Vec::new();
    let mut receivers = Vec::new();
    for _ in &inputs {
        let (ask, queries) = mpsc::channel::<Query>();
        slots.push(Slot { pages: Arc::new(Mutex::new(empty.clone())), ask });
        receivers.push(queries);
    }
    let first = match (&a.input.file, &a.gdb, &a.chip) {
        (Some(f), ..) => f.display().to_string(),
        (_, Some(gdb), _) => format!("RTT via GDB {gdb}"),
        (_, _, Some(chip)) => format!("RTT via probe ({chip})"),
        _ => "input".into(),
    };
    let names: Vec<String> = std::iter::once(first).chain(a.also.iter().cloned()).collect();
    let sources = Arc::new(Sources { slots, list: serde_json::to_string(&names).unwrap_or_default().into() });
    for s in servers {
        let (sources, loopback) = (sources.clone(), !a.allow_remote);
        std::thread::spawn(move || serve(s, &sources, loopback));
    }
    eprintln!("serving the dashboard at http://{bound}/ (Ctrl-C to stop)");
    run::install_ctrlc();
    let mut each = inputs.into_iter().zip(receivers).enumerate();
    let first = each.next().expect("one input at least");
    for (i, (input, queries)) in each {
        let (sources, board) = (sources.clone(), board(a, i));
        std::thread::spawn(move || {
            if let Err(f) = ingest(&input, None, board, &sources.slots[i].pages, &queries) {
                let _ = writeln!(std::io::stderr(), "error: source {i}: {f}");
            }
        });
    }
    let (_, (input, queries)) = first;
    ingest(&input, a.target().as_ref(), board(a, 0), &sources.slots[0].pages, &queries)?;
    Ok(exit::OK)
}

/// Refuses a non-loopback `http` without `allow_remote` (and warns with it) and a number of
/// buckets out of 1 to 16; `what` names the settings in the messages (the flags, or the
/// [`Options`] methods).
fn check(http: SocketAddr, allow_remote: bool, buckets: usize, what: [&str; 3]) -> Result<(), Fail> {
    let [http_name, allow, buckets_name] = what;
    let usage = |msg: String| Fail { code: exit::USAGE, msg };
    if !http.ip().is_loopback() {
        if !allow_remote {
            return Err(usage(format!(
                "{http_name} {http}: not a loopback address; add {allow} to let other machines see the trace"
            )));
        }
        // Not `eprintln!`: a closed stderr must not fail the app.
        let _ = writeln!(
            std::io::stderr(),
            "warning: serving the dashboard on {http}: anyone who can reach it sees the trace"
        );
    }
    if buckets == 0 || buckets > MAX_BUCKETS {
        return Err(usage(format!("{buckets_name}: give 1 to {MAX_BUCKETS} bounds")));
    }
    Ok(())
}

/// Listens on `http`, and on `[::1]` too for the default `127.0.0.1`; returns the servers and
/// the address bound (its port chosen by the system for port 0).
fn bind(http: SocketAddr) -> Result<(Vec<tiny_http::Server>, SocketAddr), Fail> {
    let server =
        tiny_http::Server::http(http).map_err(|e| Fail { code: exit::IO, msg: format!("binding {}: {e}", http) })?;
    let bound = server.server_addr().to_ip().unwrap_or(http);
    let mut servers = vec![server];
    // The default serves both loopbacks, as `localhost` may resolve to either.
    if http.ip() == std::net::Ipv4Addr::LOCALHOST {
        if let Ok(v6) = tiny_http::Server::http(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, bound.port()))) {
            servers.push(v6);
        }
    }
    Ok((servers, bound))
}

/// A new board for source `source` with the command line's settings.
fn board(a: &ServeArgs, source: usize) -> Board {
    let mut b = Board::new(a.buckets.clone(), a.recent);
    (b.ring_cap, b.source) = (a.tree_spans, source);
    b
}

/// One source's pages and the way to ask its ingest thread for trees.
struct Slot {
    pages: Snapshot,
    ask: Sender<Query>,
}

/// Every source, in command-line order, and their names as JSON (`/api/sources`).
struct Sources {
    slots: Vec<Slot>,
    list: Arc<str>,
}

/// Reads `input` into `board`, publishing to `out`, then answers drill-down questions with
/// the final state until Ctrl-C.
/// (The RTT channel of `target` instead, when given.)
fn ingest(
    input: &Input,
    target: Option<&AttachArgs>,
    board: Board,
    out: &Snapshot,
    queries: &Receiver<Query>,
) -> Result<(), Fail> {
    let src = match target {
        Some(t) => crate::device::cmd::attach_source(t)?,
        None => app::open(input)?,
    };
    let mut tl = Timeline::new(input.reorder_window);
    tl.meta.task_names = app::elf_names(input, &mut tl.meta.names)?;
    ingest_source(src, tl, input.quiet, board, out, queries)
}

/// [`ingest`] of an opened source.
fn ingest_source(
    mut src: Box<dyn Source>,
    mut tl: Timeline,
    quiet: bool,
    mut board: Board,
    out: &Snapshot,
    queries: &Receiver<Query>,
) -> Result<(), Fail> {
    let source = src.describe();
    let (t0, cpu0) = (Instant::now(), crate::bench::cpu_seconds());
    let mut live = Live {
        feed: Feed { tl: &mut tl, v: &mut board },
        queries,
        out,
        source: &source,
        calls: 0,
        last: Instant::now(),
    };
    run::decode(src.as_mut(), quiet, &mut live, |l| {
        l.feed.tl.flush(l.feed.v);
        l.publish(false);
    })?;
    live.feed.tl.finish(live.feed.v);
    live.publish(true);
    let records = live.feed.tl.counters().records;
    if !quiet {
        let rates = crate::bench::rates(records, t0.elapsed().as_secs_f64(), cpu0);
        let records = crate::units::count(records, "record");
        // Not `eprintln!`: a closed stderr must not end the server.
        let _ = writeln!(
            std::io::stderr(),
            "{source}: input ended: {records} ({rates}); serving the final numbers until Ctrl-C"
        );
    }
    while !STOP.load(Ordering::Relaxed) {
        if let Ok(q) = queries.recv_timeout(Wait::from_millis(100)) {
            live.feed.v.answer(&live.feed.tl.meta, &source, q);
        }
    }
    Ok(())
}

/// The dashboard of a std app's own trace, served from inside the app (as Go's x/net/trace
/// serves a Go server's): see [`Options`] and [`in_process`].
pub struct InProcess {
    /// Where the pages are (its port chosen by the system for port 0).
    pub addr: SocketAddr,
    drain: tickspan::transport::DrainHandle,
}

impl InProcess {
    /// Stops draining (drains what is left first); the pages keep the final numbers.
    pub fn finish(self) -> std::io::Result<u64> {
        self.drain.finish()
    }
}

/// Serves this process's own trace on `http` (a loopback address) with `tickspan serve`'s
/// defaults: `Options::new(http).start()`, see [`Options`].
pub fn in_process(http: SocketAddr) -> Result<InProcess, Fail> {
    Options::new(http).start()
}

/// Settings of the in-process dashboard (`tickspan serve`'s flags), built up from
/// [`Options::new`] and started with [`Options::start`]:
///
/// ```no_run
/// use tickspan_cli::units::Duration;
/// let us = |n: u64| Duration::Ns(n * 1_000);
/// let dash = tickspan_cli::serve::Options::new("127.0.0.1:7060".parse()?)
///     .buckets(vec![us(0), us(10), us(100), us(1_000)])
///     .recent(20)
///     .tree_spans(10_000)
///     .start()
///     .map_err(|f| f.msg)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    http: SocketAddr,
    allow_remote: bool,
    buckets: Vec<Duration>,
    recent: usize,
    tree_spans: usize,
}

impl Options {
    /// The defaults of `tickspan serve` (x/net/trace's buckets, 10 recent spans per bucket,
    /// 65 536 spans for drill-down), on `http`: a loopback address unless
    /// [`allow_remote`](Options::allow_remote).
    pub fn new(http: SocketAddr) -> Options {
        Options {
            http,
            allow_remote: false,
            buckets: DEFAULT_BUCKETS.split(',').filter_map(|b| b.parse().ok()).collect(),
            recent: 10,
            tree_spans: 1 << 16,
        }
    }

    /// Latency buckets' lower bounds (cumulative, as in x/net/trace; 1 to 16 of them), as
    /// `--buckets`.
    pub fn buckets(mut self, bounds: Vec<Duration>) -> Options {
        self.buckets = bounds;
        self
    }

    /// Spans kept per bucket and family, and events per log, as `--recent`.
    pub fn recent(mut self, n: usize) -> Options {
        self.recent = n;
        self
    }

    /// Latest closed spans kept for drill-down to call trees (about 64 bytes each), as
    /// `--tree-spans`.
    pub fn tree_spans(mut self, n: usize) -> Options {
        self.tree_spans = n;
        self
    }

    /// Lets the address be other than loopback: anyone who can reach it sees the trace, and a
    /// warning says so on stderr when the dashboard starts. As `--allow-remote`, this also
    /// stops refusing requests whose `Host` is not a loopback name.
    pub fn allow_remote(mut self) -> Options {
        self.allow_remote = true;
        self
    }

    /// Starts the dashboard: checks the settings, binds, starts tickspan's drain thread into
    /// an in-memory channel and decodes it on a thread of its own, serving the same pages and
    /// API as `tickspan serve`. Only one drain can run, so this replaces
    /// `tickspan::transport::to_file` and the like.
    pub fn start(self) -> Result<InProcess, Fail> {
        check(self.http, self.allow_remote, self.buckets.len(), ["address", "allow_remote()", "buckets"])?;
        let (servers, addr) = bind(self.http)?;
        let (drain, src) = crate::source::channel::drain()?;
        let empty = Board::new(self.buckets.clone(), 0).render(&Meta::default(), Counters::default(), &[], "", false);
        let (ask, queries) = mpsc::channel::<Query>();
        let slot = Slot { pages: Arc::new(Mutex::new(empty)), ask };
        let sources = Arc::new(Sources { slots: vec![slot], list: Arc::from("[\"this process\"]") });
        for s in servers {
            let (sources, loopback) = (sources.clone(), !self.allow_remote);
            std::thread::spawn(move || serve(s, &sources, loopback));
        }
        std::thread::spawn(move || {
            let mut board = Board::new(self.buckets, self.recent);
            board.ring_cap = self.tree_spans;
            let tl = Timeline::new(crate::model::DEFAULT_WINDOW);
            let _ = ingest_source(Box::new(src), tl, true, board, &sources.slots[0].pages, &queries);
        });
        Ok(InProcess { addr, drain })
    }
}

/// `/api/trace?uid=N` of source `i`: asks its ingest thread, which answers at its next
/// publish. For a span of a distributed trace, asks every source for the spans of that trace
/// too, and answers the tree across them when another source holds some.
fn tree(sources: &Sources, i: usize, query: &str) -> (u16, &'static str, Arc<str>) {
    let uid = query.split('&').find_map(|kv| kv.strip_prefix("uid=")).and_then(|v| v.parse::<u64>().ok());
    let Some(uid) = uid else { return (400, "text/plain", "give ?uid=N\n".into()) };
    let (reply, answer) = mpsc::sync_channel(1);
    if sources.slots[i].ask.send(Query::Tree(uid, reply)).is_err() {
        return (503, "text/plain", "the ingest has stopped\n".into());
    }
    let deadline = Instant::now() + Wait::from_secs(5);
    let (local, trace) = match answer.recv_timeout(Wait::from_secs(5)) {
        Ok(Some(t)) => t,
        Ok(None) => return (404, "text/plain", "span not held (aged out of --tree-spans, or still open)\n".into()),
        Err(_) => return (503, "text/plain", "the ingest did not answer in time\n".into()),
    };
    if trace != 0 && sources.slots.len() > 1 {
        // Every source at once (each answers at its next publish), then every answer.
        let asked: Vec<_> = sources
            .slots
            .iter()
            .filter_map(|s| {
                let (reply, answer) = mpsc::sync_channel(1);
                s.ask.send(Query::Trace(trace, reply)).ok().map(|_| answer)
            })
            .collect();
        let wait = || deadline.saturating_duration_since(Instant::now());
        let parts: Vec<Part> = asked.into_iter().filter_map(|a| a.recv_timeout(wait()).ok()).collect();
        if let Some(json) = across::tree(parts, (i, uid), trace) {
            return (200, "application/json", json.into());
        }
    }
    (200, "application/json", local.into())
}

/// Whether a request's `Host` names a loopback address: refuses DNS rebinding, where a page
/// from elsewhere reaches a loopback server under its own name.
fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty() => h,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// Serves the pages and the JSON API until the process ends. Read-only: only GET and HEAD.
fn serve(server: tiny_http::Server, sources: &Sources, loopback: bool) {
    use tiny_http::{Header, Method, Response};
    let header = |k: &str, v: &str| Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("valid header");
    for req in server.incoming_requests() {
        let host_ok = !loopback
            || req.headers().iter().find(|h| h.field.equiv("Host")).is_some_and(|h| loopback_host(h.value.as_str()));
        let (path, query) = req.url().split_once('?').unwrap_or((req.url(), ""));
        let (path, query) = (path.to_string(), query.to_string());
        let source =
            query.split('&').find_map(|kv| kv.strip_prefix("source=")).map_or(Some(0), |v| v.parse::<usize>().ok());
        let slot = source.and_then(|i| sources.slots.get(i));
        let pages = || slot.map(|s| s.pages.lock().unwrap_or_else(|e| e.into_inner()).clone());
        let json = |body: Option<Arc<str>>| match body {
            Some(b) => (200, "application/json", b),
            None => (404, "text/plain", Arc::from("no such source\n")),
        };
        let (status, kind, body): (u16, &str, Arc<str>) = if !matches!(req.method(), Method::Get | Method::Head) {
            (405, "text/plain", "read-only: GET only\n".into())
        } else if !host_ok {
            (403, "text/plain", "this dashboard answers to localhost only\n".into())
        } else {
            match path.as_str() {
                "/" | "/requests" => (200, "text/html; charset=utf-8", REQUESTS_HTML.into()),
                "/dashboard.js" => (200, "text/javascript; charset=utf-8", DASHBOARD_JS.into()),
                "/dashboard.css" => (200, "text/css; charset=utf-8", DASHBOARD_CSS.into()),
                "/favicon.ico" => (204, "text/plain", "".into()), // none: browsers ask anyway
                "/events" => (200, "text/html; charset=utf-8", EVENTS_HTML.into()),
                "/trace" => (200, "text/html; charset=utf-8", TRACE_HTML.into()),
                "/api/trace" => match source.filter(|&i| i < sources.slots.len()) {
                    Some(i) => tree(sources, i, &query),
                    None => json(None),
                },
                "/api/sources" => json(Some(sources.list.clone())),
                "/api/requests" => json(pages().map(|p| p.requests)),
                "/api/events" => json(pages().map(|p| p.events)),
                _ => (404, "text/plain", "not found\n".into()),
            }
        };
        let resp = Response::from_data(body.as_bytes().to_vec())
            .with_status_code(status)
            .with_header(header("Content-Type", kind))
            .with_header(header("Cache-Control", "no-store"))
            .with_header(header("X-Content-Type-Options", "nosniff"))
            .with_header(header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"));
        let _ = req.respond(resp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{CallsiteKind, Kind::*};
    use crate::model::tests::{def, header, rec};

    #[test]
    fn buckets_windows_errors_and_active_spans() {
        let mut t = Timeline::new(8);
        let ms = |n: u64| Duration::Ns(n * 1_000_000);
        let mut b = Board::new(vec![ms(0), ms(1), ms(10)], 2);
        t.push(header(1_000_000_000), &mut b);
        t.push(def(0x10, "<img src=x onerror=alert(1)>", CallsiteKind::Span), &mut b);
        t.push(def(0x20, "outer", CallsiteKind::Span), &mut b);
        t.push(rec(0, 0, SpanEnter, 0x20, 0, 0), &mut b);
        // Spans of 0.5, 2, 20 and 3 ms, one per 100 s of stream time.
        let mut ts = 1;
        for d in [500_000, 2_000_000, 20_000_000, 3_000_000u64] {
            t.push(rec(0, ts, SpanEnter, 0x10, 0, 0), &mut b);
            t.push(rec(0, ts + d, SpanExit, 0x10, 0, 0), &mut b);
            ts += 100_000_000_000;
        }
        t.flush(&mut b);
        let open: Vec<OpenSpan> = t.open_spans().collect();
        let v: serde_json::Value =
            serde_json::from_str(&b.render(&t.meta, t.counters(), &open, "test", false).requests).unwrap();
        let f = &v["families"][0];
        assert_eq!(f["name"], "<img src=x onerror=alert(1)>");
        let counts: Vec<_> = f["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).collect();
        assert_eq!(counts, [4, 3, 1]);
        // Two kept per bucket, newest last.
        let recent: Vec<_> =
            f["buckets"][1]["recent"].as_array().unwrap().iter().map(|t| t["duration"].as_u64().unwrap()).collect();
        assert_eq!(recent, [20_000_000, 3_000_000]);
        assert_eq!(f["buckets"][1]["label"], "≥1.000 ms");
        // Only the last span ended within the last minute of stream time; all within the hour
        // except the first (300 s before the last).
        assert_eq!(
            (f["last_minute"].as_u64(), f["last_hour"].as_u64(), f["all"].as_u64()),
            (Some(1), Some(4), Some(4))
        );
        assert_eq!(f["stats"]["count"], 4);
        let outer = &v["families"][1];
        assert_eq!(outer["name"], "outer");
        assert_eq!(outer["all"], 0);
        assert_eq!(outer["active"], 1);
        assert_eq!(outer["oldest_active"][0]["start"], 0);
        t.finish(&mut b);
        let v: serde_json::Value =
            serde_json::from_str(&b.render(&t.meta, t.counters(), &[], "test", true).requests).unwrap();
        // The end of the trace cut `outer`: an error.
        assert_eq!(v["families"][1]["errors"]["count"], 1);
        assert_eq!(v["families"][1]["active"], 0);
    }

    #[test]
    fn event_logs_count_windows_and_errors() {
        use crate::item::CallsiteInfo;
        let mut t = Timeline::new(8);
        let mut b = Board::new(vec![Duration::Ns(0)], 2);
        t.push(header(1_000_000_000), &mut b);
        t.push(def(0x10, "rx", CallsiteKind::Event), &mut b);
        let fail = CallsiteInfo {
            id: 0x20,
            kind: CallsiteKind::Event,
            level: Level::Error,
            line: 1,
            name: "crc_fail",
            file: "x.rs",
        };
        t.push(Item::Callsite(fail), &mut b);
        // rx with values 0..5, one per 30 s; one crc_fail at the end.
        for i in 0..5u32 {
            t.push(rec(0, u64::from(i) * 30_000_000_000, Event, 0x10, i, 0), &mut b);
        }
        t.push(rec(0, 120_000_000_000, Event, 0x20, 0, 0), &mut b);
        t.finish(&mut b);
        let v: serde_json::Value =
            serde_json::from_str(&b.render(&t.meta, t.counters(), &[], "t", true).events).unwrap();
        let (fail, rx) = (&v["events"][0], &v["events"][1]);
        assert_eq!(
            (&fail["name"], &fail["level"], &fail["error"], &fail["all"]),
            (&"crc_fail".into(), &"error".into(), &true.into(), &1.into())
        );
        assert_eq!(
            (&rx["name"], &rx["error"], &rx["all"], &rx["last_minute"]),
            (&"rx".into(), &false.into(), &5.into(), &2.into())
        );
        let latest: Vec<_> = rx["recent"].as_array().unwrap().iter().map(|e| e["at"].as_u64().unwrap()).collect();
        assert_eq!(latest, [90_000_000_000, 120_000_000_000]);
        assert_eq!(v["health"]["records"], 6);
    }

    #[test]
    fn formatted_events_show_their_message_in_the_family_of_their_format() {
        let mut t = Timeline::new(8);
        let mut b = Board::new(vec![Duration::Ns(0)], 4);
        t.push(header(1_000_000_000), &mut b);
        t.push(def(0x10, "retry {} of {}", CallsiteKind::Format), &mut b);
        for i in 1..=2u32 {
            t.push(rec(0, u64::from(i) * 100, Event, 0x10, 0, 0), &mut b);
            t.push(rec(0, u64::from(i) * 100 + 1, ValueU, 0x10, i, 0), &mut b);
            t.push(rec(0, u64::from(i) * 100 + 2, ValueU, 0x10, 2, 0), &mut b);
        }
        t.finish(&mut b);
        let v: serde_json::Value =
            serde_json::from_str(&b.render(&t.meta, t.counters(), &[], "t", true).events).unwrap();
        let e = &v["events"][0];
        assert_eq!((&e["name"], &e["all"]), (&"retry {} of {}".into(), &2.into()));
        let msgs: Vec<_> = e["recent"].as_array().unwrap().iter().map(|e| e["value"].clone()).collect();
        assert_eq!(msgs, ["retry 1 of 2", "retry 2 of 2"]);
    }

    #[test]
    fn in_process_settings_are_checked_before_anything_starts() {
        let at = |a: &str| Options::new(a.parse().unwrap());
        let refused = |o: Options| o.start().err().map(|f| (f.code, f.msg));
        let (code, msg) = refused(at("0.0.0.0:0")).expect("a non-loopback address refused");
        assert!(code == exit::USAGE && msg.contains("allow_remote()"), "{msg}");
        let (_, msg) = refused(at("127.0.0.1:0").buckets(Vec::new())).expect("no buckets refused");
        assert!(msg.contains("buckets: give 1 to 16"), "{msg}");
        let (_, msg) = refused(at("127.0.0.1:0").buckets(vec![Duration::Ns(0); 17])).expect("17 buckets refused");
        assert!(msg.contains("buckets"), "{msg}");
    }

    #[test]
    fn only_loopback_hosts_are_answered() {
        for h in ["localhost", "localhost:7060", "127.0.0.1:80", "[::1]:7060", "127.1.2.3"] {
            assert!(loopback_host(h), "{h}");
        }
        for h in ["evil.example", "evil.example:7060", "10.0.0.1:7060", "", "localhost.evil:1"] {
            assert!(!loopback_host(h), "{h}");
        }
    }
}
