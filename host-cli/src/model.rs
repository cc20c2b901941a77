//! The timeline: decoded items in, spans and marks out.
//!
//! The drain reads one context's ring after the other, so records of different contexts reach
//! the host out of time order. The timeline first merges them back into time order through
//! per-context queues holding at most a fixed window of records, then rebuilds per-context
//! span stacks and hands every span to a [`Visitor`] when it closes, with its parent, self time
//! and the time interrupts stole from it. Memory is bounded by the window, the open spans and
//! the number of distinct callsites, never by the length of the trace.
//!
//! Interrupt accounting assumes one stream is one core: while an ISR (an `IsrEnter`/`IsrExit`
//! pair) runs, every context below it on the preemption stack is suspended. Each preemption
//! level keeps a running total of the time its direct preempters took; a span's stolen time is
//! the growth of its level's total while it was open.

use crate::item::{CallsiteInfo, CallsiteKind, Item, Kind, Level, Rec, Sink};
use crate::units::Clock;
use rustc_hash::FxHashMap;
use tickspan::trace_context::LinkField;

pub mod fields;
pub mod format;
pub mod level;
mod links;
mod recording;
pub(crate) use fields::{annotation, Annotation};
pub use fields::{json as fields_json, text as fields_text, Field, FieldValue, Fields, SpanFields, Status};
pub use links::{Links, SpanLink};
pub use recording::{Recording, Window, MAX_PAUSES, RECORDING_MARKER, WINDOW_MARKER};

/// Index of an interned callsite name.
pub type NameId = u32;

/// Most callsites the timeline interns; later unknown ids share one placeholder name.
const MAX_NAMES: usize = 1 << 16;
/// Highest context id accepted (ring indexes are small; larger ids are garbage).
pub(crate) const MAX_CONTEXTS: u32 = 4096;
/// Deepest scoped-span nesting kept per context.
const MAX_DEPTH: usize = 1024;
/// Deepest interrupt nesting tracked.
const MAX_ISR_NEST: usize = 64;
/// Deepest chain of manual parents (bounds the walk that names a manual span's ancestors).
const MAX_MANUAL_DEPTH: u32 = 64;
/// Most manual spans open at once.
const MAX_MANUAL: usize = 1 << 16;
/// Default reorder window (records held back to merge contexts into time order).
pub const DEFAULT_WINDOW: usize = 1 << 14;

/// What a callsite id stands for.
#[derive(Debug)]
pub struct NameInfo {
    /// Callsite id.
    pub cs: u32,
    /// Name (`cs#<hex>` until a dictionary entry names it).
    pub name: Box<str>,
    /// Source file, empty when unknown.
    pub file: Box<str>,
    /// Source line, 0 when unknown.
    pub line: u32,
    /// What the callsite records, when known.
    pub kind: Option<CallsiteKind>,
    /// Its level, when a dictionary entry gave it.
    pub level: Option<Level>,
}

/// Names a callsite id the stream did not describe (e.g. from a firmware ELF).
pub(crate) type Resolver = Box<dyn Fn(u32) -> Option<NameInfo>>;

/// Callsite ids interned as dense [`NameId`]s, so views index arrays instead of hashing.
pub struct Names {
    by_cs: FxHashMap<u32, NameId>,
    infos: Vec<NameInfo>,
    resolver: Option<Resolver>,
    /// Direct-mapped cache in front of the map: most records hit a handful of callsites.
    cache: Box<[(u32, NameId); CACHE]>,
}

const CACHE: usize = 1024;

#[inline(always)]
fn cache_slot(cs: u32) -> usize {
    ((cs >> 4).wrapping_mul(0x9E37_79B1) >> 22) as usize & (CACHE - 1)
}

impl Default for Names {
    fn default() -> Self {
        let overflow =
            NameInfo { cs: 0, name: "(too many callsites)".into(), file: "".into(), line: 0, kind: None, level: None };
        // Callsite ids have their low four bits clear, so `1` never matches a real id.
        Names { by_cs: FxHashMap::default(), infos: vec![overflow], resolver: None, cache: Box::new([(1, 0); CACHE]) }
    }
}

impl Names {
    /// The name id of a callsite id, creating a placeholder for an id not seen before.
    #[inline]
    pub(crate) fn intern(&mut self, cs: u32) -> NameId {
        let slot = cache_slot(cs);
        let (c, id) = self.cache[slot];
        if c == cs {
            return id;
        }
        let id = match self.by_cs.get(&cs) {
            Some(&id) => id,
            None => self.insert(cs),
        };
        self.cache[slot] = (cs, id);
        id
    }

    #[cold]
    fn insert(&mut self, cs: u32) -> NameId {
        if self.infos.len() >= MAX_NAMES {
            return 0;
        }
        let id = self.infos.len() as NameId;
        let info = self.resolver.as_ref().and_then(|r| r(cs)).map(|i| NameInfo { cs, ..i });
        self.infos.push(info.unwrap_or_else(|| NameInfo {
            cs,
            name: format!("cs#{cs:x}").into(),
            file: "".into(),
            line: 0,
            kind: None,
            level: None,
        }));
        self.by_cs.insert(cs, id);
        id
    }

    /// Names ids seen from now on that no dictionary entry named before.
    pub(crate) fn set_resolver(&mut self, r: Resolver) {
        self.resolver = Some(r);
    }

    /// Records a dictionary entry (names an id, before or after its first record).
    pub(crate) fn define(&mut self, info: &CallsiteInfo<'_>) {
        let id = self.intern(info.id);
        if id == 0 {
            return;
        }
        let e = &mut self.infos[id as usize];
        e.name = info.name.into();
        e.file = info.file.into();
        e.line = info.line;
        e.kind = Some(info.kind);
        e.level = Some(info.level);
    }

    /// The name of an id.
    #[inline]
    pub fn name(&self, id: NameId) -> &str {
        &self.infos[id as usize].name
    }

    /// Everything known about an id.
    pub(crate) fn info(&self, id: NameId) -> &NameInfo {
        &self.infos[id as usize]
    }

    /// Whether an id names a task: its scoped spans are polls of the task (`tickspan::traced!`).
    pub(crate) fn is_task(&self, id: NameId) -> bool {
        self.infos[id as usize].kind == Some(CallsiteKind::Task)
    }
}

/// Stream-wide facts the views need to print what the timeline hands them.
#[derive(Default)]
pub struct Meta {
    /// Interned callsites.
    pub names: Names,
    /// Context names from the stream (index = context id).
    pub ctx_names: Vec<Option<Box<str>>>,
    /// Clock of the timestamps.
    pub clock: Clock,
    /// Target description from the header.
    pub target: String,
    /// Node (stream) id from the header.
    pub node: u64,
    /// Node name from the stream header (empty if unnamed).
    pub name: String,
    /// Format version from the header (0 before one is seen).
    pub version: u16,
    /// Wall-clock anchor: tick `.0` happened at `.1` ns after the Unix epoch.
    pub anchor: Option<(u64, u64)>,
    /// Earliest timestamp seen.
    pub start: Option<u64>,
    /// Latest timestamp seen.
    pub end: u64,
    /// Task names by address range (`start..end`, name), from a firmware ELF: embassy's task
    /// ids are addresses inside each task's static pool.
    pub task_names: Vec<(u32, u32, Box<str>)>,
    /// The first [`MAX_CLOCK_WARNINGS`] ambiguous-time reports of the stream (all are counted
    /// in [`Counters::ambiguous`]).
    pub clock_warnings: Vec<ClockWarning>,
    /// Trace context of the open spans that are part of a distributed trace.
    pub links: Links,
    /// Where the target stopped and restarted recording (`tickspan::disarm`/`arm`).
    pub recording: Recording,
    /// Fields and status of the open spans, and of the event being visited.
    pub fields: Fields,
    /// Set when the stream is a flight recorder's snapshot (`tickspan.window` markers).
    pub window: Option<Window>,
    /// Events and values `--level` hid ([`level::LevelFilter`]).
    pub level_hidden: u64,
}

/// Reports kept in [`Meta::clock_warnings`] (the rest are only counted).
pub const MAX_CLOCK_WARNINGS: usize = 8;

/// Records the target's drain could not date to within one clock period ([`Item::Ambiguous`]):
/// each may be dated whole periods late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockWarning {
    /// Context of the records.
    pub ctx: u32,
    /// Lower bound of their true times (0 = unknown: written before the drain's first reading).
    pub earliest: u64,
    /// Decoded time of the first and the last of them.
    pub first: u64,
    /// See `first`.
    pub last: u64,
    /// How many records.
    pub records: u32,
}

impl Meta {
    /// The name of the task whose id (an address) lies in a known task's memory.
    pub(crate) fn task_name(&self, id: u32) -> Option<&str> {
        self.task_names.iter().find(|t| (t.0..t.1).contains(&id)).map(|t| &*t.2)
    }

    /// A context's name, or `ctx N`.
    pub(crate) fn ctx_name(&self, ctx: u32) -> String {
        match self.ctx_names.get(ctx as usize) {
            Some(Some(n)) => n.to_string(),
            _ => format!("ctx {ctx}"),
        }
    }

    /// Ticks since the start of the trace.
    #[inline]
    pub(crate) fn rel(&self, ts: u64) -> u64 {
        ts.saturating_sub(self.start.unwrap_or(0))
    }

    /// Wall-clock time of a tick in ns since the Unix epoch, if the stream had an anchor.
    pub(crate) fn unix_ns(&self, ts: u64) -> Option<u64> {
        let (at, unix) = self.anchor?;
        let clock = self.clock;
        Some(if ts >= at {
            unix.saturating_add(clock.to_ns(ts - at))
        } else {
            unix.saturating_sub(clock.to_ns(at - ts))
        })
    }
}

/// How a span was recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// `span!`: nests LIFO in its context.
    Scoped,
    /// `isr!`: an interrupt handler's body.
    Isr,
    /// `span_start!`/`end()`: explicit id and parent, may end in another context.
    Manual,
}

/// A span, as handed to visitors at open (`end == start`) and at close.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    /// Unique within this decode run (never 0).
    pub uid: u64,
    /// Parent's uid, 0 for a root.
    pub parent: u64,
    /// Uid of the tree's root (itself for a root).
    pub root: u64,
    /// Context it started in.
    pub ctx: u32,
    /// Interned name.
    pub name: NameId,
    /// How it was recorded.
    pub kind: SpanKind,
    /// Start tick.
    pub start: u64,
    /// End tick.
    pub end: u64,
    /// Nesting depth (0 = root).
    pub depth: u32,
    /// Duration minus children and minus time stolen by interrupts.
    pub self_ticks: u64,
    /// Time interrupts ran while it was open (included in the duration).
    pub isr_ticks: u64,
    /// Manual span id, IRQ number for an ISR span, task id for the poll of a task (a scoped
    /// span with a `TaskSwitch` of its own callsite inside), else 0.
    pub id: u32,
    /// Closed by the end of the trace or by lost records, not by its own end record.
    pub unfinished: bool,
}

impl Span {
    /// A span as [`Visitor::open`] gets it: ends where it starts, nothing measured yet.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn opening(
        uid: u64,
        parent: u64,
        root: u64,
        ctx: u32,
        name: NameId,
        kind: SpanKind,
        start: u64,
        depth: u32,
        id: u32,
    ) -> Span {
        let (end, self_ticks, isr_ticks, unfinished) = (start, 0, 0, false);
        Span { uid, parent, root, ctx, name, kind, start, end, depth, self_ticks, isr_ticks, id, unfinished }
    }

    /// Duration in ticks.
    #[inline]
    pub(crate) fn dur(&self) -> u64 {
        self.end - self.start
    }
}

/// A span not closed yet, as [`Timeline::open_spans`] lists it.
#[derive(Clone, Copy, Debug)]
pub struct OpenSpan {
    /// Uid (as [`Span::uid`]).
    pub uid: u64,
    /// Context it started in.
    pub ctx: u32,
    /// Interned name.
    pub name: NameId,
    /// Start tick.
    pub start: u64,
}

/// A decoded value payload.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// Unsigned.
    U(u64),
    /// Signed.
    I(i64),
    /// Floating point.
    F(f64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::U(v) => write!(f, "{v}"),
            Value::I(v) => write!(f, "{v}"),
            Value::F(v) => write!(f, "{v}"),
        }
    }
}

/// What a point in time says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MarkKind {
    /// An event without payload.
    Event,
    /// An event or sampled value with a payload.
    Value(Value),
    /// The context switched to a task id.
    Task(u32),
    /// This many records of the context were lost here.
    Loss(u32),
}

/// A point event inside (or outside) the spans of its context.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    /// Context.
    pub ctx: u32,
    /// Tick.
    pub ts: u64,
    /// Callsite name (0 for a loss).
    pub name: NameId,
    /// What happened.
    pub kind: MarkKind,
    /// Uid of the innermost open span of the context, 0 if none.
    pub span: u64,
}

/// Receives the timeline in time order.
pub trait Visitor {
    /// A span opened (its `end` equals its `start`).
    fn open(&mut self, _meta: &Meta, _span: &Span) {}
    /// A span closed; `path` holds its ancestors' names, root first.
    fn close(&mut self, meta: &Meta, span: &Span, path: &[NameId]);
    /// A point event or a loss.
    fn mark(&mut self, _meta: &Meta, _mark: &Mark) {}
}

impl<A: Visitor, B: Visitor> Visitor for (A, B) {
    #[inline(always)]
    fn open(&mut self, meta: &Meta, span: &Span) {
        self.0.open(meta, span);
        self.1.open(meta, span);
    }
    #[inline(always)]
    fn close(&mut self, meta: &Meta, span: &Span, path: &[NameId]) {
        self.0.close(meta, span, path);
        self.1.close(meta, span, path);
    }
    #[inline(always)]
    fn mark(&mut self, meta: &Meta, mark: &Mark) {
        self.0.mark(meta, mark);
        self.1.mark(meta, mark);
    }
}

impl<V: Visitor + ?Sized> Visitor for &mut V {
    #[inline(always)]
    fn open(&mut self, meta: &Meta, span: &Span) {
        (**self).open(meta, span)
    }
    #[inline(always)]
    fn close(&mut self, meta: &Meta, span: &Span, path: &[NameId]) {
        (**self).close(meta, span, path)
    }
    #[inline(always)]
    fn mark(&mut self, meta: &Meta, mark: &Mark) {
        (**self).mark(meta, mark)
    }
}

/// Anomalies seen while rebuilding the timeline (reported at the end).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records processed.
    pub records: u64,
    /// Records the target reported lost.
    pub lost: u64,
    /// Corrupted regions skipped by the decoder.
    pub skipped_regions: u64,
    /// Bytes in them.
    pub skipped_bytes: u64,
    /// End records with no matching open span (their start was lost or predates the trace).
    pub unmatched: u64,
    /// Records dropped because a limit was hit (nesting depth, contexts, open manual spans).
    pub dropped: u64,
    /// Times a context's clock went backwards (open spans were cut there).
    pub time_jumps: u64,
    /// Times a context's records arrived after later records of other contexts had been
    /// processed (the reorder window was too small for the drain's batches).
    pub late: u64,
    /// Records whose times the target's drain could not bound to one clock period.
    pub ambiguous: u64,
}

/// A record being applied, its callsite interned.
#[derive(Clone, Copy)]
struct QRec {
    ts: u64,
    a: u32,
    name: NameId,
    b: u32,
    kind: Kind,
}

struct Frame {
    uid: u64,
    name: NameId,
    kind: SpanKind,
    id: u32,
    start: u64,
    child_dur: u64,
    child_isr: u64,
    isr_snap: u64,
}

#[derive(Default)]
struct Ctx {
    /// Records held back, from `head` on, as the decoder handed them over (a `Vec` and a
    /// cursor: runs come in and go out as slices).
    queue: Vec<Rec>,
    head: usize,
    stack: Vec<Frame>,
    path: Vec<NameId>,
    isr_level: u32,
    last_in: u64,
    /// The [`State::damage`] count this context's queue has been marked up to.
    damage_seen: u64,
    /// Time of the last record processed.
    now: u64,
    /// What a field record here would annotate.
    target: Target,
    /// The last event, held back until the fields after it are read.
    pending: Option<Mark>,
    pending_fields: Vec<fields::Field>,
}

/// The record a field record would annotate: the one before it in its context.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Target {
    #[default]
    None,
    /// The open span's uid and name (a format's arguments are records of its name).
    Span(u64, NameId),
    /// [`Ctx::pending`].
    Mark,
}

impl Ctx {
    /// Hands the held-back event to the visitors, with its fields; nothing is annotated now.
    #[inline(always)]
    fn settle(&mut self, meta: &mut Meta, v: &mut impl Visitor) {
        if let Target::Span(uid, name) = std::mem::take(&mut self.target) {
            if format::is_format(&meta.names, name) {
                meta.fields.check_args(&meta.names, uid, name);
            }
        }
        if let Some(m) = self.pending.take() {
            self.deliver(meta, v, m);
        }
    }

    #[cold]
    fn deliver(&mut self, meta: &mut Meta, v: &mut impl Visitor, m: Mark) {
        if format::is_format(&meta.names, m.name) {
            meta.fields.bad_args += !format::complete(&meta.names, m.name, &self.pending_fields) as u64;
        }
        std::mem::swap(&mut meta.fields.mark, &mut self.pending_fields);
        v.mark(meta, &m);
        meta.fields.mark.clear();
        std::mem::swap(&mut meta.fields.mark, &mut self.pending_fields);
    }

    /// An event, held back for its fields.
    #[inline(always)]
    fn hold(&mut self, ctx: u32, ts: u64, name: NameId, kind: MarkKind) {
        let span = self.stack.last().map_or(0, |f| f.uid);
        self.pending = Some(Mark { ctx, ts, name, kind, span });
        self.target = Target::Mark;
    }

    #[inline(always)]
    fn mark(&self, meta: &Meta, v: &mut impl Visitor, ctx: u32, ts: u64, name: NameId, kind: MarkKind) {
        let span = self.stack.last().map_or(0, |f| f.uid);
        v.mark(meta, &Mark { ctx, ts, name, kind, span });
    }

    /// Opens a span with the next uid, or counts it in `dropped` at the nesting limit.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        acc: &[u64],
        next_uid: &mut u64,
        dropped: &mut u64,
        meta: &mut Meta,
        v: &mut impl Visitor,
        ctx: u32,
        ts: u64,
        name: NameId,
        kind: SpanKind,
        id: u32,
    ) {
        if self.stack.len() >= MAX_DEPTH {
            *dropped += 1;
            return;
        }
        let uid = *next_uid;
        *next_uid += 1;
        let (parent, root) = match (self.stack.last(), self.stack.first()) {
            (Some(p), Some(r)) => (p.uid, r.uid),
            _ => (0, uid),
        };
        let isr_snap = acc[self.isr_level as usize];
        self.stack.push(Frame { uid, name, kind, id, start: ts, child_dur: 0, child_isr: 0, isr_snap });
        self.path.push(name);
        let depth = (self.stack.len() - 1) as u32;
        if !meta.links.is_empty() && parent != 0 && kind != SpanKind::Isr {
            meta.links.inherit(uid, parent);
        }
        self.target = Target::Span(uid, name);
        v.open(meta, &Span::opening(uid, parent, root, ctx, name, kind, ts, depth, id));
    }

    // Inlined: it runs once per span, and the visitors' fast paths inline into it.
    #[inline(always)]
    fn close_top(&mut self, acc: &[u64], meta: &mut Meta, v: &mut impl Visitor, ctx: u32, ts: u64, unfinished: bool) {
        let c = self;
        let Some(f) = c.stack.pop() else { return };
        let end = ts.max(f.start);
        let dur = end - f.start;
        let isr = acc[c.isr_level as usize].saturating_sub(f.isr_snap).min(dur);
        let self_ticks = dur.saturating_sub(f.child_dur).saturating_sub(isr.saturating_sub(f.child_isr));
        let depth = c.stack.len();
        let (parent, root) = match c.stack.last_mut() {
            Some(p) => {
                // Children fit in their parent: these sums stay below its duration.
                p.child_dur = p.child_dur.wrapping_add(dur);
                p.child_isr = p.child_isr.wrapping_add(isr);
                (p.uid, c.stack[0].uid)
            }
            None => (0, f.uid),
        };
        let span = Span {
            uid: f.uid,
            parent,
            root,
            ctx,
            name: f.name,
            kind: f.kind,
            start: f.start,
            end,
            depth: depth as u32,
            self_ticks,
            isr_ticks: isr,
            id: f.id,
            unfinished,
        };
        v.close(meta, &span, &c.path[..depth]);
        c.path.truncate(depth);
        if !meta.links.is_empty() {
            meta.links.close(f.uid);
        }
        if !meta.fields.is_empty() {
            meta.fields.close(f.uid);
        }
    }
}

struct IsrFrame {
    ctx: u32,
    enter: u64,
    prev_level: u32,
}

struct Manual {
    uid: u64,
    parent_uid: u64,
    parent_id: u32,
    root: u64,
    name: NameId,
    ctx: u32,
    start: u64,
    depth: u32,
    child_dur: u64,
}

struct State {
    ctxs: Vec<Ctx>,
    /// Contexts with queued records (the merge scans only these).
    active: Vec<u32>,
    queued: usize,
    window: usize,
    /// Damaged regions skipped so far; each context gets an empty loss, in order with its
    /// records, before its first records after one (marked lazily: a stream may have
    /// thousands of contexts and many damaged regions).
    damage: u64,
    isr_stack: Vec<IsrFrame>,
    acc: Vec<u64>,
    manual: FxHashMap<u32, Manual>,
    scratch: Vec<NameId>,
    next_uid: u64,
    counters: Counters,
}

/// Rebuilds spans from decoded items; see the module docs.
pub struct Timeline {
    /// Stream facts and interned names.
    pub meta: Meta,
    st: State,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new(DEFAULT_WINDOW)
    }
}

impl Timeline {
    /// A timeline that holds back up to `window` records to merge contexts into time order.
    pub fn new(window: usize) -> Self {
        Timeline {
            meta: Meta::default(),
            st: State {
                ctxs: Vec::new(),
                active: Vec::new(),
                queued: 0,
                window: window.max(1),
                damage: 0,
                isr_stack: Vec::new(),
                acc: vec![0],
                manual: FxHashMap::default(),
                scratch: Vec::new(),
                next_uid: 1,
                counters: Counters::default(),
            },
        }
    }

    /// The spans open now: each context's stack (innermost last), then the open manual spans.
    pub fn open_spans(&self) -> impl Iterator<Item = OpenSpan> + '_ {
        let stacks = self.st.ctxs.iter().zip(0u32..).flat_map(|(c, ctx)| {
            c.stack.iter().map(move |f| OpenSpan { uid: f.uid, ctx, name: f.name, start: f.start })
        });
        stacks.chain(self.st.manual.values().map(|m| OpenSpan { uid: m.uid, ctx: m.ctx, name: m.name, start: m.start }))
    }

    /// Anomaly counters so far.
    pub fn counters(&self) -> Counters {
        self.st.counters
    }

    /// Takes one decoded item.
    #[inline]
    pub fn push(&mut self, item: Item<'_>, v: &mut impl Visitor) {
        match item {
            Item::Record { ctx, ts, kind, callsite, a, b } => self.records(ctx, &[Rec { ts, callsite, a, b, kind }], v),
            Item::Loss { ctx, count } => {
                let ts = self.st.ctxs.get(ctx as usize).map_or(0, |c| c.last_in);
                self.records(ctx, &[Rec { ts, callsite: 0, a: count, b: 0, kind: Kind::Loss }], v)
            }
            Item::Header(h) => {
                self.meta.clock = Clock { hz: h.clock_hz };
                self.meta.target = h.target.into();
                self.meta.node = h.node;
                self.meta.name = h.name.into();
                self.meta.version = h.version;
            }
            Item::Callsite(info) => self.meta.names.define(&info),
            Item::Context { ctx, name } => {
                if ctx < MAX_CONTEXTS {
                    let i = ctx as usize;
                    if self.meta.ctx_names.len() <= i {
                        self.meta.ctx_names.resize(i + 1, None);
                    }
                    self.meta.ctx_names[i] = Some(name.into());
                }
            }
            Item::Sync { ts, unix_ns } => {
                if unix_ns != 0 && self.meta.anchor.is_none() {
                    self.meta.anchor = Some((ts, unix_ns));
                }
            }
            Item::Ambiguous { ctx, earliest, first, last, records } => {
                self.st.counters.ambiguous += u64::from(records);
                if self.meta.clock_warnings.len() < MAX_CLOCK_WARNINGS {
                    self.meta.clock_warnings.push(ClockWarning { ctx, earliest, first, last, records });
                }
            }
            Item::Skipped { bytes, .. } => {
                // Whatever the damage held, a field after it annotates nothing: each context's
                // next records come after an empty loss (see `enqueue`).
                self.st.damage += 1;
                self.st.counters.skipped_regions += 1;
                self.st.counters.skipped_bytes = self.st.counters.skipped_bytes.saturating_add(bytes);
            }
        }
    }

    /// Takes a run of records of one context (in its order), as [`Decoder::feed_sink`] hands
    /// them over.
    ///
    /// [`Decoder::feed_sink`]: crate::item::Decoder::feed_sink
    #[inline]
    pub fn records(&mut self, ctx: u32, recs: &[Rec], v: &mut impl Visitor) {
        self.st.enqueue(ctx, recs);
        if self.st.queued > self.st.window {
            self.st.release(&mut self.meta, v, false);
        }
    }

    /// Processes everything held back (e.g. when a live input goes idle).
    pub fn flush(&mut self, v: &mut impl Visitor) {
        self.st.release(&mut self.meta, v, true);
        for c in &mut self.st.ctxs {
            c.settle(&mut self.meta, v);
        }
    }

    /// End of input: processes what is held back and closes spans still open, marked unfinished.
    pub fn finish(&mut self, v: &mut impl Visitor) {
        self.flush(v);
        let end = self.meta.end;
        let meta = &mut self.meta;
        for ctx in 0..self.st.ctxs.len() {
            while !self.st.ctxs[ctx].stack.is_empty() {
                self.st.close_top(meta, v, ctx as u32, end, true);
            }
        }
        let mut open: Vec<u32> = self.st.manual.keys().copied().collect();
        // Children before parents, so each parent sees its children's time.
        open.sort_by_key(|id| std::cmp::Reverse(self.st.manual[id].uid));
        for id in open {
            self.st.manual_end(meta, v, end, id, true);
        }
        self.st.isr_stack.clear();
    }
}

/// A timeline and its visitor, as a decoder's [`Sink`].
pub struct Feed<'a, V> {
    /// The timeline.
    pub tl: &'a mut Timeline,
    /// What receives the spans.
    pub v: &'a mut V,
}

impl<V: Visitor> Sink for Feed<'_, V> {
    #[inline]
    fn item(&mut self, item: Item<'_>) {
        self.tl.push(item, self.v)
    }
    #[inline]
    fn records(&mut self, ctx: u32, records: &[Rec]) {
        self.tl.records(ctx, records, self.v)
    }
}

impl State {
    #[inline]
    fn enqueue(&mut self, ctx: u32, recs: &[Rec]) {
        if ctx >= MAX_CONTEXTS {
            self.counters.dropped += recs.len() as u64;
            return;
        }
        let i = ctx as usize;
        if i >= self.ctxs.len() {
            // A context new since the damage had nothing before it to cut off.
            let damage_seen = self.damage;
            self.ctxs.resize_with(i + 1, || Ctx { damage_seen, ..Ctx::default() });
        }
        if self.ctxs[i].damage_seen != self.damage && !recs.is_empty() {
            self.ctxs[i].damage_seen = self.damage;
            let ts = self.ctxs[i].last_in;
            self.enqueue(ctx, &[Rec { ts, callsite: 0, a: 0, b: 0, kind: Kind::Loss }]);
        }
        let c = &mut self.ctxs[i];
        if c.head == c.queue.len() {
            if !recs.is_empty() {
                self.active.push(ctx);
            }
            c.queue.clear();
            c.head = 0;
        } else if c.queue.capacity() - c.queue.len() < recs.len() && c.head >= c.queue.len() / 4 * 3 {
            // Drop what was released rather than grow, once it is three quarters of the queue:
            // a record is moved a third of a time on average, for a queue at most 4× the window.
            c.queue.drain(..c.head);
            c.head = 0;
        }
        c.queue.extend_from_slice(recs);
        if let Some(r) = recs.last() {
            c.last_in = r.ts;
        }
        self.queued += recs.len();
    }

    /// Merges queued records in time order: down to half the window, or everything.
    fn release(&mut self, meta: &mut Meta, v: &mut impl Visitor, all: bool) {
        let keep = if all { 0 } else { self.window / 2 };
        while self.queued > keep {
            let (mut best, mut best_ts, mut second) = (usize::MAX, u64::MAX, u64::MAX);
            for (k, &i) in self.active.iter().enumerate() {
                let c = &self.ctxs[i as usize];
                let ts = c.queue.get(c.head).map_or(u64::MAX, |r| r.ts);
                if ts < best_ts {
                    second = best_ts;
                    best_ts = ts;
                    best = k;
                } else if ts < second {
                    second = ts;
                }
            }
            if best == usize::MAX {
                break;
            }
            let slot = best;
            let best = self.active[slot] as usize;
            // Every record of `best` up to the next context's head is next in time order
            // (a context's own records are in order).
            let q = std::mem::take(&mut self.ctxs[best].queue);
            let head = self.ctxs[best].head;
            let held = &q[head..];
            let limit = held.len().min(self.queued - keep);
            let run = held[..limit].iter().position(|r| r.ts > second).unwrap_or(limit).max(1);
            let run = &held[..run];
            self.queued -= run.len();
            if let (Some(first), Some(last)) = (run.first(), run.last()) {
                if first.ts < meta.end {
                    self.counters.late += 1;
                }
                if meta.start.is_none_or(|s| first.ts < s) {
                    meta.start = Some(first.ts);
                }
                meta.end = meta.end.max(last.ts);
            }
            self.apply_run(meta, v, best as u32, run);
            let head = head + run.len();
            let c = &mut self.ctxs[best];
            c.queue = q;
            c.head = head;
            if head == c.queue.len() {
                c.queue.clear();
                c.head = 0;
                self.active.swap_remove(slot);
            }
        }
    }

    /// Applies a run of one context's records. Span enters, exits of the innermost span and
    /// events — nearly every record — are handled on the context held in a local; the rest
    /// goes through [`apply`](Self::apply) with the context put back.
    #[inline]
    fn apply_run(&mut self, meta: &mut Meta, v: &mut impl Visitor, ctx: u32, run: &[Rec]) {
        self.counters.records += run.len() as u64;
        let i = ctx as usize;
        let mut c = std::mem::take(&mut self.ctxs[i]);
        for r in run {
            // Only a field keeps the record before it annotatable (and an event held back).
            if c.target != Target::None && !matches!(r.kind, Kind::ValueU | Kind::ValueI | Kind::ValueF | Kind::Field) {
                c.settle(meta, v);
            }
            if r.ts >= c.now {
                if r.kind == Kind::SpanEnter {
                    c.now = r.ts;
                    let name = meta.names.intern(r.callsite);
                    let (uid, dropped) = (&mut self.next_uid, &mut self.counters.dropped);
                    c.open(&self.acc, uid, dropped, meta, v, ctx, r.ts, name, SpanKind::Scoped, 0);
                    continue;
                }
                if r.kind == Kind::SpanExit {
                    let name = meta.names.intern(r.callsite);
                    if let Some(f) = c.stack.last() {
                        if f.name == name && f.kind == SpanKind::Scoped {
                            c.now = r.ts;
                            c.close_top(&self.acc, meta, v, ctx, r.ts, false);
                            continue;
                        }
                    }
                }
                if r.kind == Kind::Event {
                    c.now = r.ts;
                    let name = meta.names.intern(r.callsite);
                    c.hold(ctx, r.ts, name, MarkKind::Event);
                    continue;
                }
            }
            self.ctxs[i] = c;
            // A link record has no callsite: `name` carries its tag bits 4..8 (field, flags).
            let name = match r.kind {
                Kind::Loss => 0,
                Kind::Link => r.callsite >> 4,
                _ => meta.names.intern(r.callsite),
            };
            self.apply(meta, v, ctx, QRec { ts: r.ts, a: r.a, name, b: r.b, kind: r.kind });
            c = std::mem::take(&mut self.ctxs[i]);
        }
        self.ctxs[i] = c;
    }

    #[inline]
    fn apply(&mut self, meta: &mut Meta, v: &mut impl Visitor, ctx: u32, r: QRec) {
        let c = &mut self.ctxs[ctx as usize];
        if r.kind == Kind::Loss {
            // Placed after the context's last record (the batch's time so far says no more).
            let now = c.now;
            self.counters.records -= 1;
            if r.a == 0 {
                return; // the marker of a damaged region (`Item::Skipped`)
            }
            self.counters.lost += r.a as u64;
            return self.mark(meta, v, ctx, now, 0, MarkKind::Loss(r.a));
        }
        if r.ts < c.now {
            self.time_jump(meta, v, ctx);
        }
        self.ctxs[ctx as usize].now = r.ts;
        match r.kind {
            Kind::SpanEnter => self.open(meta, v, ctx, r.ts, r.name, SpanKind::Scoped, 0),
            Kind::SpanExit => {
                self.close(meta, v, ctx, r.ts, r.name, SpanKind::Scoped);
            }
            Kind::Event => self.ctxs[ctx as usize].hold(ctx, r.ts, r.name, MarkKind::Event),
            Kind::ValueU | Kind::ValueI | Kind::ValueF | Kind::Field => self.value(meta, v, ctx, r),
            Kind::TaskSwitch => {
                // Inside a scoped span of the same callsite (`tickspan::traced!`, an executor's
                // poll hook: right after its enter), it is the id of the task that span polls.
                if let Some(f) = self.ctxs[ctx as usize].stack.last_mut() {
                    if f.name == r.name && f.kind == SpanKind::Scoped && f.id == 0 {
                        f.id = r.a;
                        return;
                    }
                }
                self.mark(meta, v, ctx, r.ts, r.name, MarkKind::Task(r.a))
            }
            Kind::IsrEnter => self.isr_enter(meta, v, ctx, r),
            Kind::IsrExit => self.isr_exit(meta, v, ctx, r),
            Kind::SpanStart => self.manual_start(meta, v, ctx, r),
            Kind::SpanEnd => {
                if !self.manual_end(meta, v, r.ts, r.a, false) {
                    self.counters.unmatched += 1;
                }
            }
            Kind::Link => {
                let uid = self.ctxs[ctx as usize].stack.last().map_or(0, |f| f.uid);
                let tag = r.name << 4;
                meta.links.record(uid, LinkField::of_tag(tag), LinkField::flags_of_tag(tag).bits(), wide(r));
            }
            // Clock extension is the decoder's business; losses were handled above.
            Kind::Sync | Kind::Loss => {}
        }
    }

    /// A value record: a field, a status, or an event or sampled value.
    fn value(&mut self, meta: &mut Meta, v: &mut impl Visitor, ctx: u32, r: QRec) {
        let c = &mut self.ctxs[ctx as usize];
        let value = match fields::annotation(&mut meta.names, r.kind, r.name, r.a, r.b) {
            fields::Annotation::Field(f) => {
                let fs = &mut meta.fields;
                // A format's arguments are records of the formatted record's own callsite.
                let of = |name| !format::is_format(&meta.names, f.key) || f.key == name;
                match c.target {
                    Target::Span(uid, name) if of(name) => fs.add(uid, f),
                    Target::Mark if c.pending.is_some_and(|m| of(m.name)) => {
                        fields::push_mark_field(&mut c.pending_fields, f, &mut fs.dropped)
                    }
                    _ => fs.orphans += 1,
                }
                return;
            }
            fields::Annotation::Status(st) => {
                c.settle(meta, v);
                match c.stack.last() {
                    Some(f) => meta.fields.set_status(f.uid, st),
                    None => meta.fields.orphans += 1,
                }
                return;
            }
            fields::Annotation::SpanStatus(id, st) => {
                c.settle(meta, v);
                match self.manual.get(&id) {
                    Some(m) => meta.fields.set_status(m.uid, st),
                    None => meta.fields.orphans += 1,
                }
                return;
            }
            fields::Annotation::Target(id) => {
                c.settle(meta, v);
                match self.manual.get(&id) {
                    // Named by the target record (no format): fields, never format arguments.
                    Some(m) => c.target = Target::Span(m.uid, r.name),
                    None => meta.fields.orphans += 1,
                }
                return;
            }
            fields::Annotation::Bad => {
                c.settle(meta, v);
                meta.fields.orphans += 1;
                return;
            }
            fields::Annotation::None => match r.kind {
                Kind::ValueI => Value::I(wide(r) as i64),
                Kind::ValueF => Value::F(f64::from_bits(wide(r))),
                _ => {
                    match meta.names.name(r.name) {
                        RECORDING_MARKER => {
                            let start = meta.start.unwrap_or(r.ts);
                            meta.recording.marker(r.ts, wide(r), start);
                        }
                        WINDOW_MARKER => Window::marker(&mut meta.window, r.ts, wide(r)),
                        _ => {}
                    }
                    Value::U(wide(r))
                }
            },
        };
        c.settle(meta, v);
        self.mark(meta, v, ctx, r.ts, r.name, MarkKind::Value(value))
    }

    /// A context's time went backwards (a restarted target, a damaged time base): what was open
    /// cannot end in the new time line, so it ends here, unfinished.
    #[cold]
    fn time_jump(&mut self, meta: &mut Meta, v: &mut impl Visitor, ctx: u32) {
        self.counters.time_jumps += 1;
        let now = self.ctxs[ctx as usize].now;
        while !self.ctxs[ctx as usize].stack.is_empty() {
            self.close_top(meta, v, ctx, now, true);
        }
    }

    #[inline]
    fn mark(&mut self, meta: &Meta, v: &mut impl Visitor, ctx: u32, ts: u64, name: NameId, kind: MarkKind) {
        self.ctxs[ctx as usize].mark(meta, v, ctx, ts, name, kind)
    }

    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        meta: &mut Meta,
        v: &mut impl Visitor,
        ctx: u32,
        ts: u64,
        name: NameId,
        kind: SpanKind,
        id: u32,
    ) {
        let (uid, dropped) = (&mut self.next_uid, &mut self.counters.dropped);
        self.ctxs[ctx as usize].open(&self.acc, uid, dropped, meta, v, ctx, ts, name, kind, id);
    }

    /// Closes the innermost open span of `ctx` with this name and kind; spans opened inside it
    /// whose ends were lost are closed first, marked unfinished.
    #[inline(never)]
    fn close(
        &mut self,
        meta: &mut Meta,
        v: &mut impl Visitor,
        ctx: u32,
        ts: u64,
        name: NameId,
        kind: SpanKind,
    ) -> bool {
        let stack = &self.ctxs[ctx as usize].stack;
        let Some(pos) = stack.iter().rposition(|f| f.name == name && f.kind == kind) else {
            self.counters.unmatched += 1;
            return false;
        };
        while self.ctxs[ctx as usize].stack.len() > pos + 1 {
            self.close_top(meta, v, ctx, ts, true);
        }
        self.close_top(meta, v, ctx, ts, false);
        true
    }

    #[inline]
    fn close_top(&mut self, meta: &mut Meta, v: &mut impl Visitor, ctx: u32, ts: u64, unfinished: bool) {
        self.ctxs[ctx as usize].close_top(&self.acc, meta, v, ctx, ts, unfinished)
    }

    fn isr_enter(&mut self, meta: &mut Meta, v: &mut impl Visitor, ctx: u32, r: QRec) {
        if self.isr_stack.len() >= MAX_ISR_NEST {
            self.counters.dropped += 1;
            return;
        }
        let c = &mut self.ctxs[ctx as usize];
        self.isr_stack.push(IsrFrame { ctx, enter: r.ts, prev_level: c.isr_level });
        let level = self.isr_stack.len();
        if self.acc.len() <= level {
            self.acc.resize(level + 1, 0);
        }
        c.isr_level = level as u32;
        self.open(meta, v, ctx, r.ts, r.name, SpanKind::Isr, r.a);
    }

    fn isr_exit(&mut self, meta: &mut Meta, v: &mut impl Visitor, ctx: u32, r: QRec) {
        self.close(meta, v, ctx, r.ts, r.name, SpanKind::Isr);
        let Some(pos) = self.isr_stack.iter().rposition(|f| f.ctx == ctx) else {
            return;
        };
        // Handlers above it lost their exits: unwind them without charging their time.
        while self.isr_stack.len() > pos + 1 {
            let f = self.isr_stack.pop().expect("len > pos + 1");
            self.ctxs[f.ctx as usize].isr_level = f.prev_level;
        }
        let f = self.isr_stack.pop().expect("pos < len");
        let acc = &mut self.acc[self.isr_stack.len()];
        *acc = acc.saturating_add(r.ts.saturating_sub(f.enter));
        self.ctxs[ctx as usize].isr_level = f.prev_level;
    }

    fn manual_start(&mut self, meta: &mut Meta, v: &mut impl Visitor, ctx: u32, r: QRec) {
        let (id, parent_id) = (r.a, r.b);
        if self.manual.len() >= MAX_MANUAL && !self.manual.contains_key(&id) {
            self.counters.dropped += 1;
            return;
        }
        let uid = self.next_uid;
        self.next_uid += 1;
        let (parent_uid, root, depth) = match self.manual.get(&parent_id) {
            Some(p) if parent_id != 0 && parent_id != id && p.depth < MAX_MANUAL_DEPTH => (p.uid, p.root, p.depth + 1),
            _ => (0, uid, 0),
        };
        let m = Manual { uid, parent_uid, parent_id, root, name: r.name, ctx, start: r.ts, depth, child_dur: 0 };
        if self.manual.insert(id, m).is_some() {
            // The id was reused: the earlier span's end was lost.
            self.counters.unmatched += 1;
        }
        if !meta.links.is_empty() && parent_uid != 0 {
            meta.links.inherit(uid, parent_uid);
        }
        v.open(meta, &Span::opening(uid, parent_uid, root, ctx, r.name, SpanKind::Manual, r.ts, depth, id));
        self.ctxs[ctx as usize].target = Target::Span(uid, r.name);
    }

    fn manual_end(&mut self, meta: &mut Meta, v: &mut impl Visitor, ts: u64, id: u32, unfinished: bool) -> bool {
        let Some(m) = self.manual.remove(&id) else {
            return false;
        };
        let end = ts.max(m.start);
        let dur = end - m.start;
        self.scratch.clear();
        let mut pid = m.parent_id;
        let mut want = m.parent_uid;
        while want != 0 {
            match self.manual.get_mut(&pid) {
                Some(p) if p.uid == want => {
                    if want == m.parent_uid {
                        p.child_dur = p.child_dur.saturating_add(dur);
                    }
                    self.scratch.push(p.name);
                    want = p.parent_uid;
                    pid = p.parent_id;
                }
                _ => break,
            }
        }
        self.scratch.reverse();
        let span = Span {
            uid: m.uid,
            parent: m.parent_uid,
            root: m.root,
            ctx: m.ctx,
            name: m.name,
            kind: SpanKind::Manual,
            start: m.start,
            end,
            depth: m.depth,
            self_ticks: dur.saturating_sub(m.child_dur),
            isr_ticks: 0,
            id,
            unfinished,
        };
        v.close(meta, &span, &self.scratch);
        meta.links.close(m.uid);
        meta.fields.close(m.uid);
        true
    }
}

#[inline]
fn wide(r: QRec) -> u64 {
    r.a as u64 | (r.b as u64) << 32
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::item::{CallsiteInfo, StreamHeader};

    /// Collects everything a timeline hands out.
    #[derive(Default)]
    pub struct Collect {
        pub closed: Vec<(Span, Vec<String>)>,
        pub marks: Vec<Mark>,
        pub opened: usize,
    }

    impl Visitor for Collect {
        fn open(&mut self, _: &Meta, _: &Span) {
            self.opened += 1;
        }
        fn close(&mut self, meta: &Meta, span: &Span, path: &[NameId]) {
            self.closed.push((*span, path.iter().map(|&n| meta.names.name(n).to_string()).collect()));
        }
        fn mark(&mut self, _: &Meta, mark: &Mark) {
            self.marks.push(*mark);
        }
    }

    pub fn rec(ctx: u32, ts: u64, kind: Kind, cs: u32, a: u32, b: u32) -> Item<'static> {
        Item::Record { ctx, ts, kind, callsite: cs, a, b }
    }

    pub fn def(id: u32, name: &'static str, kind: CallsiteKind) -> Item<'static> {
        Item::Callsite(CallsiteInfo { id, kind, level: Level::Info, line: 1, name, file: "x.rs" })
    }

    pub fn header(hz: u64) -> Item<'static> {
        Item::Header(StreamHeader { version: 1, clock_hz: hz, clock_wrap: 0, node: 7, target: "test", name: "" })
    }

    fn run(items: &[Item<'static>], window: usize) -> (Timeline, Collect) {
        let mut t = Timeline::new(window);
        let mut c = Collect::default();
        for &i in items {
            t.push(i, &mut c);
        }
        t.finish(&mut c);
        (t, c)
    }

    #[test]
    fn a_damaged_region_costs_only_the_contexts_that_record_after_it() {
        use Kind::*;
        // 4 000 contexts, then 1 000 damaged regions: marking every context at each would
        // process 4 million records (and merge them through every view); one marker per
        // context that records again is enough to cut its fields off.
        let mut items = vec![header(1_000_000), def(0x10, "s", CallsiteKind::Span)];
        items.extend((0..4000).map(|ctx| rec(ctx, 10, SpanEnter, 0x10, 0, 0)));
        items.extend((0..1000).map(|i| Item::Skipped { offset: i, bytes: 1 }));
        items.extend((0..3).map(|ctx| rec(ctx, 20, SpanExit, 0x10, 0, 0)));
        let (mut t, mut c) = (Timeline::new(usize::MAX), Collect::default());
        items.iter().for_each(|&i| t.push(i, &mut c));
        assert_eq!(t.st.queued, 4000 + 3 + 3, "one empty loss in each of the 3 contexts");
        t.finish(&mut c);
        assert_eq!(t.counters().skipped_regions, 1000);
        assert_eq!(c.closed.iter().filter(|(s, _)| !s.unfinished).count(), 3);
    }

    fn by_name<'a>(t: &Timeline, c: &'a Collect, name: &str) -> &'a Span {
        &c.closed.iter().find(|(s, _)| t.meta.names.name(s.name) == name).expect(name).0
    }

    #[test]
    fn nests_scoped_spans_with_self_time_and_events() {
        use Kind::*;
        let items = [
            header(1_000_000),
            def(0x10, "outer", CallsiteKind::Span),
            def(0x20, "inner", CallsiteKind::Span),
            def(0x30, "rx", CallsiteKind::Event),
            rec(0, 100, SpanEnter, 0x10, 0, 0),
            rec(0, 110, SpanEnter, 0x20, 0, 0),
            rec(0, 115, ValueU, 0x30, 64, 0),
            rec(0, 140, SpanExit, 0x20, 0, 0),
            rec(0, 200, SpanExit, 0x10, 0, 0),
        ];
        let (t, c) = run(&items, 4);
        assert_eq!(c.closed.len(), 2);
        let inner = by_name(&t, &c, "inner");
        let outer = by_name(&t, &c, "outer");
        assert_eq!((inner.dur(), inner.self_ticks, inner.depth, inner.parent), (30, 30, 1, outer.uid));
        assert_eq!((outer.dur(), outer.self_ticks, outer.depth, outer.parent), (100, 70, 0, 0));
        assert_eq!(c.closed[0].1, vec!["outer"]);
        assert_eq!(c.marks.len(), 1);
        assert_eq!(c.marks[0].kind, MarkKind::Value(Value::U(64)));
        assert_eq!(c.marks[0].span, inner.uid);
        assert_eq!(t.meta.clock.dur(inner.dur()).to_string(), "30.000 µs");
        assert_eq!(t.counters().unmatched, 0);
    }

    #[test]
    fn merges_contexts_and_charges_isr_time() {
        use Kind::*;
        // Context 1 (the ISR) is drained after context 0 although it ran inside its span.
        let items = [
            rec(0, 100, SpanEnter, 0x10, 0, 0),
            rec(0, 110, SpanEnter, 0x20, 0, 0),
            rec(0, 150, SpanExit, 0x20, 0, 0),
            rec(0, 200, SpanExit, 0x10, 0, 0),
            rec(1, 120, IsrEnter, 0x40, 15, 0),
            rec(1, 130, IsrExit, 0x40, 15, 0),
            rec(1, 160, IsrEnter, 0x40, 15, 0),
            rec(1, 165, IsrExit, 0x40, 15, 0),
        ];
        let (t, c) = run(&items, 64);
        let inner = by_name(&t, &c, "cs#20");
        let outer = by_name(&t, &c, "cs#10");
        assert_eq!((inner.isr_ticks, inner.self_ticks), (10, 30));
        assert_eq!((outer.isr_ticks, outer.self_ticks), (15, 100 - 40 - 5));
        let isrs: Vec<_> = c.closed.iter().filter(|(s, _)| s.kind == SpanKind::Isr).collect();
        assert_eq!(isrs.len(), 2);
        assert_eq!(isrs[0].0.id, 15);
        assert_eq!(t.counters().late, 0);
    }

    #[test]
    fn nested_isrs_charge_only_their_direct_victims() {
        use Kind::*;
        let items = [
            rec(0, 0, SpanEnter, 0x10, 0, 0),
            rec(1, 10, IsrEnter, 0x40, 15, 0),
            rec(1, 12, SpanEnter, 0x50, 0, 0),
            rec(2, 14, IsrEnter, 0x60, 20, 0),
            rec(2, 18, IsrExit, 0x60, 20, 0),
            rec(1, 19, SpanExit, 0x50, 0, 0),
            rec(1, 20, IsrExit, 0x40, 15, 0),
            rec(0, 100, SpanExit, 0x10, 0, 0),
        ];
        let (t, c) = run(&items, 64);
        let work = by_name(&t, &c, "cs#50");
        assert_eq!((work.dur(), work.isr_ticks, work.self_ticks), (7, 4, 3));
        let isr1 = by_name(&t, &c, "cs#40");
        assert_eq!((isr1.dur(), isr1.isr_ticks, isr1.self_ticks), (10, 4, 3));
        let main = by_name(&t, &c, "cs#10");
        assert_eq!((main.isr_ticks, main.self_ticks), (10, 90));
    }

    #[test]
    fn recovers_from_lost_exits_and_reports_losses() {
        use Kind::*;
        let items = [
            rec(0, 0, SpanEnter, 0x10, 0, 0),
            rec(0, 5, SpanEnter, 0x20, 0, 0),
            Item::Loss { ctx: 0, count: 3 },
            rec(0, 50, SpanExit, 0x10, 0, 0),
            rec(0, 60, SpanExit, 0x30, 0, 0),
            rec(0, 70, SpanEnter, 0x10, 0, 0),
        ];
        let (t, c) = run(&items, 64);
        assert_eq!(c.closed.len(), 3);
        assert!(by_name(&t, &c, "cs#20").unfinished);
        assert_eq!(by_name(&t, &c, "cs#20").end, 50);
        let last = &c.closed[2].0;
        assert!(last.unfinished && last.start == 70 && last.end == 70);
        let cnt = t.counters();
        assert_eq!((cnt.lost, cnt.unmatched, cnt.records), (3, 1, 5));
        assert_eq!(c.marks[0].kind, MarkKind::Loss(3));
        assert_eq!(c.marks[0].ts, 5);
    }

    #[test]
    fn manual_spans_link_to_parents_across_contexts() {
        use Kind::*;
        let items = [
            def(0x10, "request", CallsiteKind::Span),
            def(0x20, "io", CallsiteKind::Span),
            rec(0, 10, SpanStart, 0x10, 1, 0),
            rec(0, 20, SpanStart, 0x20, 2, 1),
            rec(1, 50, SpanEnd, 0x20, 2, 0),
            rec(0, 90, SpanEnd, 0x10, 1, 0),
            rec(1, 95, SpanEnd, 0x10, 9, 0),
        ];
        let (t, c) = run(&items, 64);
        let io = by_name(&t, &c, "io");
        let req = by_name(&t, &c, "request");
        assert_eq!((io.parent, io.root, io.depth, io.dur()), (req.uid, req.uid, 1, 30));
        assert_eq!((req.dur(), req.self_ticks), (80, 50));
        assert_eq!(c.closed[0].1, vec!["request"]);
        assert_eq!(t.counters().unmatched, 1);
    }

    #[test]
    fn resolver_names_ids_the_stream_did_not_describe() {
        let mut t = Timeline::new(4);
        t.meta.names.set_resolver(Box::new(|cs| {
            (cs == 0x20).then(|| NameInfo {
                cs: 0,
                name: "from_elf".into(),
                file: "fw.rs".into(),
                line: 3,
                kind: None,
                level: None,
            })
        }));
        let mut c = Collect::default();
        for i in [
            def(0x10, "from_stream", CallsiteKind::Span),
            rec(0, 1, Kind::SpanEnter, 0x10, 0, 0),
            rec(0, 2, Kind::SpanEnter, 0x20, 0, 0),
            rec(0, 3, Kind::SpanEnter, 0x30, 0, 0),
        ] {
            t.push(i, &mut c);
        }
        t.finish(&mut c);
        let names: Vec<&str> = c.closed.iter().map(|(s, _)| t.meta.names.name(s.name)).collect();
        assert_eq!(names, ["cs#30", "from_elf", "from_stream"]);
        let elf = t.meta.names.info(c.closed[1].0.name);
        assert_eq!((elf.cs, &*elf.file, elf.line), (0x20, "fw.rs", 3));
    }

    #[test]
    fn garbage_is_bounded() {
        use Kind::*;
        let mut t = Timeline::new(16);
        let mut c = Collect::default();
        for i in 0..100_000u32 {
            t.push(rec(i % 5000, i as u64, SpanEnter, i.wrapping_mul(16), 0, 0), &mut c);
            t.push(rec(3, i as u64, SpanStart, 0x10, i, i.wrapping_sub(1)), &mut c);
        }
        t.finish(&mut c);
        assert!(t.st.ctxs.len() <= MAX_CONTEXTS as usize);
        assert!(t.st.ctxs.iter().all(|c| c.stack.len() <= MAX_DEPTH));
        assert!(t.counters().dropped > 0);
        assert_eq!(t.st.manual.len(), 0);
    }
}
