//! `tree`: call trees per context, printed as each root span closes.
//!
//! Only trees still open are held in memory (each capped at `max_nodes`; what does not fit is
//! counted and reported as elided), so a long trace streams through. `--merge` instead folds
//! every call path into one aggregated tree per context (count, total, self, ISR time),
//! bounded by the number of distinct paths, and prints it at the end. `--json` writes the
//! same trees as JSON lines ([`json`]).

use crate::model::{self, Field, Mark, MarkKind, Meta, NameId, Span, SpanFields, SpanKind, Status, Value, Visitor};
use crate::units::{self, Clock, Duration};
use rustc_hash::FxHashMap;
use std::io::{self, Write};

pub mod json;

/// Which spans to print.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only subtrees rooted at a span whose name contains this.
    pub name: Option<String>,
    /// Hide spans shorter than this.
    pub min_duration: Option<Duration>,
    /// Hide spans that end before this time (from the start of the trace).
    pub from: Option<Duration>,
    /// Hide spans that start after this time (from the start of the trace).
    pub to: Option<Duration>,
    /// Only these contexts (ids or names).
    pub contexts: Vec<String>,
}

impl Filter {
    fn ctx_ok(&self, meta: &Meta, ctx: u32) -> bool {
        self.contexts.is_empty()
            || self.contexts.iter().any(|c| c.parse::<u32>().ok() == Some(ctx) || *c == meta.ctx_name(ctx))
    }
}

/// Filter bounds in ticks, resolved once the clock is known.
#[derive(Clone, Copy)]
struct Bounds {
    min: u64,
    from: u64,
    to: u64,
}

impl Bounds {
    fn new(f: &Filter, clock: Clock) -> Bounds {
        Bounds {
            min: f.min_duration.map_or(0, |d| d.ticks(clock)),
            from: f.from.map_or(0, |d| d.ticks(clock)),
            to: f.to.map_or(u64::MAX, |d| d.ticks(clock)),
        }
    }

    /// Whether a span [start, end] (absolute ticks) is shown.
    fn shows(&self, meta: &Meta, start: u64, end: u64) -> bool {
        end - start >= self.min && meta.rel(end) >= self.from && meta.rel(start) <= self.to
    }
}

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
enum What {
    Span { kind: SpanKind, id: u32, unfinished: bool, open: bool },
    Mark(MarkKind),
}

#[derive(Clone, Copy)]
struct Node {
    name: NameId,
    what: What,
    start: u64,
    end: u64,
    self_ticks: u64,
    isr: u64,
    first: u32,
    last: u32,
    next: u32,
    /// Index of its fields and status in [`Arena::notes`], or [`NONE`].
    note: u32,
}

/// One tree being built: nodes in an arena, linked first-child/next-sibling.
#[derive(Default)]
struct Arena {
    nodes: Vec<Node>,
    /// Fields and status of nodes.
    notes: Vec<SpanFields>,
    elided: u64,
    ctx: u32,
}

impl Arena {
    fn add(&mut self, parent: u32, n: Node, cap: usize) -> u32 {
        if self.nodes.len() >= cap || (parent == NONE && !self.nodes.is_empty()) {
            self.elided += 1;
            return NONE;
        }
        let i = self.nodes.len() as u32;
        self.nodes.push(Node { first: NONE, last: NONE, next: NONE, ..n });
        if parent != NONE {
            let p = &mut self.nodes[parent as usize];
            if p.last == NONE {
                p.first = i;
            } else {
                let last = p.last as usize;
                p.last = i;
                self.nodes[last].next = i;
                return i;
            }
            p.last = i;
        }
        i
    }

    /// Attaches fields and a status to node `i` (not [`NONE`]).
    fn annotate(&mut self, i: u32, fields: &[Field], status: Option<Status>) {
        if i != NONE && (!fields.is_empty() || status.is_some()) {
            self.nodes[i as usize].note = self.notes.len() as u32;
            self.notes.push(SpanFields { fields: fields.to_vec(), status });
        }
    }

    /// Fields and status of a node, if it has any.
    fn fields(&self, n: &Node) -> Option<&SpanFields> {
        self.notes.get(n.note as usize)
    }

    /// How the text view shows a node's fields and status (empty if none).
    fn note(&self, meta: &Meta, n: &Node) -> String {
        self.fields(n).map_or(String::new(), |f| model::fields_text(&meta.names, &f.fields, f.status))
    }

    fn children(&self, i: u32) -> impl Iterator<Item = u32> + '_ {
        let mut c = self.nodes[i as usize].first;
        std::iter::from_fn(move || {
            (c != NONE).then(|| {
                let r = c;
                c = self.nodes[c as usize].next;
                r
            })
        })
    }
}

#[derive(Default)]
struct CtxTree {
    arena: Arena,
    stack: Vec<u32>,
}

struct ManualTree {
    arena: Arena,
    open: u32,
    uids: Vec<u64>,
}

/// Aggregated call-path node (for `--merge`).
struct Agg {
    name: NameId,
    mark: bool,
    count: u64,
    total: u64,
    self_ticks: u64,
    isr: u64,
    max: u64,
    /// (name key, index): the key is the name id, with [`MARK`] set for marks.
    children: Vec<(u32, u32)>,
}

/// A context's open path in the merged tree, and the root it starts from (kept here so that a
/// root span opens without a map lookup).
#[derive(Clone)]
struct AggStack {
    root: u32,
    stack: Vec<u32>,
}

/// [`AggStack::root`] of a context that has not opened a span yet.
const UNROOTED: u32 = NONE - 1;

/// Set in a child key for a mark (events and losses are counted apart from spans).
const MARK: u32 = 1 << 31;

/// Builds and prints call trees.
pub struct Tree<W: Write> {
    out: W,
    filter: Filter,
    bounds: Option<Bounds>,
    max_nodes: usize,
    merge: bool,
    ctxs: Vec<CtxTree>,
    manual: FxHashMap<u64, ManualTree>,
    manual_node: FxHashMap<u64, (u64, u32)>,
    agg: Vec<Agg>,
    agg_roots: FxHashMap<u32, u32>,
    /// Per context (index): the merged node of each open scoped span.
    agg_stacks: Vec<AggStack>,
    /// A run of the same event outside any span, printed as one line when it ends.
    run: Option<Run>,
    /// JSON lines instead of text.
    json: bool,
    error: Option<io::Error>,
}

/// Consecutive top-level events of one name in one context (a burst, a polling loop).
struct Run {
    ctx: u32,
    name: NameId,
    first: u64,
    last: u64,
    count: u64,
    values: Option<(Value, Value)>,
}

/// Most aggregated call paths kept by `--merge`.
const MAX_AGG: usize = 1 << 20;
/// Context key of the aggregated tree of manual spans.
const MANUAL_KEY: u32 = u32::MAX;

impl<W: Write> Tree<W> {
    /// A tree printer; `merge` aggregates identical call paths instead of printing each call.
    pub fn new(out: W, filter: Filter, merge: bool, max_nodes: usize) -> Self {
        Tree {
            out,
            filter,
            bounds: None,
            max_nodes: max_nodes.max(1),
            merge,
            ctxs: Vec::new(),
            manual: FxHashMap::default(),
            manual_node: FxHashMap::default(),
            agg: Vec::new(),
            agg_roots: FxHashMap::default(),
            agg_stacks: Vec::new(),
            run: None,
            json: false,
            error: None,
        }
    }

    /// Writes JSON lines instead of text when `on` (`tree --json`, see [`json`]).
    pub fn json(mut self, on: bool) -> Self {
        self.json = on;
        self
    }

    /// Pushes out what was printed so far (live inputs); true once output has failed (a
    /// closed pipe ends the output early).
    pub fn flush_output(&mut self, meta: &Meta) -> bool {
        self.end_run(meta);
        let r = self.out.flush();
        self.record(r);
        self.error.is_some()
    }

    fn bounds(&mut self, meta: &Meta) -> Bounds {
        *self.bounds.get_or_insert_with(|| Bounds::new(&self.filter, meta.clock))
    }

    fn ctx(&mut self, ctx: u32) -> &mut CtxTree {
        let i = ctx as usize;
        if i >= self.ctxs.len() {
            self.ctxs.resize_with(i + 1, CtxTree::default);
        }
        &mut self.ctxs[i]
    }

    /// Prints the merged trees (with `--merge`) and flushes.
    pub fn finish(&mut self, meta: &Meta) -> io::Result<()> {
        self.end_run(meta);
        if self.merge {
            let mut keys: Vec<(u32, u32)> = self.agg_roots.iter().map(|(&k, &v)| (k, v)).collect();
            keys.sort();
            for (ctx, root) in keys {
                if ctx != MANUAL_KEY && !self.filter.ctx_ok(meta, ctx) {
                    continue;
                }
                let r = if self.json {
                    let b = self.bounds(meta);
                    self.json_agg(meta, root, (ctx != MANUAL_KEY).then_some(ctx), b)
                } else {
                    let title = if ctx == MANUAL_KEY { "manual spans".to_string() } else { meta.ctx_name(ctx) };
                    self.print_agg(meta, root, &title)
                };
                self.record(r);
            }
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }

    fn record(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    #[inline]
    fn agg_child(&mut self, parent: u32, name: NameId, mark: bool) -> u32 {
        let key = name | if mark { MARK } else { 0 };
        if let Some(&(_, c)) = self.agg[parent as usize].children.iter().find(|c| c.0 == key) {
            return c;
        }
        self.agg_new(parent, name, mark)
    }

    #[cold]
    fn agg_new(&mut self, parent: u32, name: NameId, mark: bool) -> u32 {
        let key = name | if mark { MARK } else { 0 };
        if self.agg.len() >= MAX_AGG {
            return NONE;
        }
        let i = self.agg.len() as u32;
        self.agg.push(Agg { name, mark, count: 0, total: 0, self_ticks: 0, isr: 0, max: 0, children: Vec::new() });
        self.agg[parent as usize].children.push((key, i));
        i
    }

    fn agg_root(&mut self, key: u32) -> u32 {
        if let Some(&r) = self.agg_roots.get(&key) {
            return r;
        }
        let i = self.agg.len() as u32;
        self.agg.push(Agg {
            name: 0,
            mark: false,
            count: 0,
            total: 0,
            self_ticks: 0,
            isr: 0,
            max: 0,
            children: Vec::new(),
        });
        self.agg_roots.insert(key, i);
        i
    }

    #[inline]
    fn agg_add(&mut self, i: u32, s: &Span) {
        if i == NONE {
            return;
        }
        let a = &mut self.agg[i as usize];
        // Tick sums cannot reach 2^64 from a real clock; wrapping (not saturating) keeps
        // garbage input from panicking in a debug build at a third of the cost.
        a.count += 1;
        a.total = a.total.wrapping_add(s.dur());
        a.self_ticks = a.self_ticks.wrapping_add(s.self_ticks);
        a.isr = a.isr.wrapping_add(s.isr_ticks);
        a.max = a.max.max(s.dur());
    }

    fn print_agg(&mut self, meta: &Meta, root: u32, title: &str) -> io::Result<()> {
        let b = self.bounds(meta);
        writeln!(self.out, "── {title} (merged call paths) ──")?;
        let mut kids: Vec<u32> = self.agg[root as usize].children.iter().map(|c| c.1).collect();
        kids.sort_by_key(|&c| std::cmp::Reverse(self.agg[c as usize].total));
        let n = kids.len();
        for (k, c) in kids.into_iter().enumerate() {
            self.print_agg_node(meta, c, "", k + 1 == n, b, self.filter.name.is_none())?;
        }
        Ok(())
    }

    fn print_agg_node(
        &mut self,
        meta: &Meta,
        i: u32,
        prefix: &str,
        last: bool,
        b: Bounds,
        shown: bool,
    ) -> io::Result<()> {
        let (name, mark, count, total, self_ticks, isr, max) = {
            let a = &self.agg[i as usize];
            (a.name, a.mark, a.count, a.total, a.self_ticks, a.isr, a.max)
        };
        if !mark && max < b.min {
            return Ok(());
        }
        let label = match (mark, name) {
            (true, 0) => "lost records".to_string(),
            (false, _) if meta.names.is_task(name) => format!("poll {}", meta.names.name(name)),
            _ => meta.names.name(name).to_string(),
        };
        let shown = shown || self.filter.name.as_deref().is_some_and(|f| !mark && label.contains(f));
        let c = meta.clock;
        let child_prefix = if shown {
            let branch = if last { "└─ " } else { "├─ " };
            if mark {
                let what = if name == 0 { "records lost" } else { "×" };
                if name == 0 {
                    writeln!(self.out, "{prefix}{branch}⚠ {count} {what}")?;
                } else {
                    writeln!(self.out, "{prefix}{branch}• {label} {what}{count}")?;
                }
            } else {
                write!(
                    self.out,
                    "{prefix}{branch}{label}  ×{count}  total {}  self {}  max {}",
                    c.dur(total),
                    c.dur(self_ticks),
                    c.dur(max)
                )?;
                if isr != 0 {
                    write!(self.out, "  isr {}", c.dur(isr))?;
                }
                writeln!(self.out)?;
            }
            format!("{prefix}{}", if last { "   " } else { "│  " })
        } else {
            String::new()
        };
        let mut kids: Vec<u32> = self.agg[i as usize].children.iter().map(|c| c.1).collect();
        kids.sort_by_key(|&c| std::cmp::Reverse(self.agg[c as usize].total));
        let n = kids.len();
        for (k, ch) in kids.into_iter().enumerate() {
            self.print_agg_node(meta, ch, &child_prefix, k + 1 == n, b, shown)?;
        }
        Ok(())
    }

    /// Prints the pending run of top-level events.
    fn end_run(&mut self, meta: &Meta) {
        let Some(r) = self.run.take() else { return };
        if self.json {
            let res = self.json_run(meta, &r);
            return self.record(res);
        }
        let (ctx, at) = (meta.ctx_name(r.ctx), meta.clock.dur(meta.rel(r.first)));
        let text = match (r.count, r.values) {
            (1, Some((v, _))) => mark_text(meta, r.name, MarkKind::Value(v), &[]),
            (1, None) => mark_text(meta, r.name, MarkKind::Event, &[]),
            (n, values) => {
                let over = meta.clock.dur(r.last.saturating_sub(r.first));
                let values = values.map_or(String::new(), |(a, b)| format!(" (values {a} … {b})"));
                format!("• {} ×{n} over {over}{values}", meta.names.name(r.name))
            }
        };
        let res = writeln!(self.out, "── {ctx} @ {at} ── {text}");
        self.record(res);
    }

    fn emit(&mut self, meta: &Meta, arena: &Arena) {
        self.end_run(meta);
        if arena.nodes.is_empty() || !self.filter.ctx_ok(meta, arena.ctx) {
            return;
        }
        let r = self.print_tree(meta, arena);
        self.record(r);
    }

    fn print_tree(&mut self, meta: &Meta, arena: &Arena) -> io::Result<()> {
        let b = self.bounds(meta);
        let root = arena.nodes[0];
        if !b.shows(meta, root.start, root.end) {
            return Ok(());
        }
        match self.filter.name.clone() {
            None if self.json => return self.json_tree(meta, arena, 0, &[], b),
            None => {
                self.header(meta, arena, 0, &[])?;
                self.print_node(meta, arena, 0, "", None, b)?;
            }
            Some(f) => {
                let mut path = Vec::new();
                self.find(meta, arena, 0, &f, &mut path, b)?;
            }
        }
        if arena.elided != 0 && !self.json {
            writeln!(
                self.out,
                "   … {} not kept (--max-nodes {})",
                units::count(arena.elided, "more node"),
                self.max_nodes
            )?;
        }
        Ok(())
    }

    /// Prints every top-most subtree whose name contains `f`.
    fn find(
        &mut self,
        meta: &Meta,
        arena: &Arena,
        i: u32,
        f: &str,
        path: &mut Vec<NameId>,
        b: Bounds,
    ) -> io::Result<()> {
        let n = arena.nodes[i as usize];
        if !matches!(n.what, What::Span { .. }) || !b.shows(meta, n.start, n.end) {
            return Ok(());
        }
        if meta.names.name(n.name).contains(f) {
            if self.json {
                return self.json_tree(meta, arena, i, path, b);
            }
            self.header(meta, arena, i, path)?;
            return self.print_node(meta, arena, i, "", None, b);
        }
        path.push(n.name);
        for c in arena.children(i).collect::<Vec<_>>() {
            self.find(meta, arena, c, f, path, b)?;
        }
        path.pop();
        Ok(())
    }

    fn header(&mut self, meta: &Meta, arena: &Arena, i: u32, path: &[NameId]) -> io::Result<()> {
        let n = arena.nodes[i as usize];
        write!(self.out, "── {} @ {}", meta.ctx_name(arena.ctx), meta.clock.dur(meta.rel(n.start)))?;
        if !path.is_empty() {
            let names: Vec<&str> = path.iter().map(|&p| meta.names.name(p)).collect();
            write!(self.out, "  in {}", names.join(" › "))?;
        }
        writeln!(self.out, " ──")
    }

    /// `last`: None for the root of a printed tree, else whether it is its parent's last child.
    fn print_node(
        &mut self,
        meta: &Meta,
        arena: &Arena,
        i: u32,
        prefix: &str,
        last: Option<(bool, u64)>,
        b: Bounds,
    ) -> io::Result<()> {
        let n = arena.nodes[i as usize];
        let c = meta.clock;
        let branch = match last {
            None => "",
            Some((true, _)) => "└─ ",
            Some((false, _)) => "├─ ",
        };
        match n.what {
            What::Mark(k) => {
                let at = c.dur(n.start.saturating_sub(last.map_or(n.start, |l| l.1)));
                writeln!(
                    self.out,
                    "{prefix}{branch}{}{} (+{at})",
                    mark_text(meta, n.name, k, arena.fields(&n).map_or(&[], |f| &f.fields)),
                    arena.note(meta, &n)
                )
            }
            What::Span { kind, id, unfinished, open } => {
                write!(self.out, "{prefix}{branch}")?;
                let label = model::format::label(&meta.names, n.name, arena.fields(&n).map_or(&[], |f| &f.fields));
                match kind {
                    SpanKind::Isr => write!(self.out, "ISR {label} (irq {id})")?,
                    SpanKind::Manual => write!(self.out, "{label} #{id:x}")?,
                    SpanKind::Scoped if id != 0 => {
                        let name = meta.task_name(id).unwrap_or(meta.names.name(n.name));
                        write!(self.out, "poll {name} (task {})", super::stats::task_id(id))?
                    }
                    SpanKind::Scoped if meta.names.is_task(n.name) => {
                        write!(self.out, "poll {}", meta.names.name(n.name))?
                    }
                    SpanKind::Scoped => write!(self.out, "{label}")?,
                }
                write!(self.out, "{}", arena.note(meta, &n))?;
                if open {
                    write!(self.out, "  (no end before the tree was printed)")?;
                } else {
                    write!(self.out, "  {}  self {}", c.dur(n.end - n.start), c.dur(n.self_ticks))?;
                    if n.isr != 0 {
                        write!(self.out, "  isr {}", c.dur(n.isr))?;
                    }
                    if unfinished {
                        write!(self.out, "  (end not recorded)")?;
                    }
                }
                writeln!(self.out)?;
                let child_prefix = match last {
                    None => prefix.to_string(),
                    Some((true, _)) => format!("{prefix}   "),
                    Some((false, _)) => format!("{prefix}│  "),
                };
                let kids: Vec<u32> = arena
                    .children(i)
                    .filter(|&k| {
                        let m = arena.nodes[k as usize];
                        matches!(m.what, What::Mark(_)) || b.shows(meta, m.start, m.end)
                    })
                    .collect();
                let hidden = arena.children(i).count() - kids.len();
                let count = kids.len();
                for (j, k) in kids.into_iter().enumerate() {
                    let is_last = j + 1 == count && hidden == 0;
                    self.print_node(meta, arena, k, &child_prefix, Some((is_last, n.start)), b)?;
                }
                if hidden != 0 {
                    writeln!(self.out, "{child_prefix}└─ … {} hidden by filters", units::count(hidden as u64, "span"))?;
                }
                Ok(())
            }
        }
    }
}

/// `• name = value`, `⚠ 3 records lost here`, `↔ name task 5`, `▸ INFO log line` (defmt).
/// A mark's line; a formatted event shows its message, rendered from `fields`.
fn mark_text(meta: &Meta, name: NameId, kind: MarkKind, fields: &[model::Field]) -> String {
    let n = model::format::label(&meta.names, name, fields);
    match kind {
        MarkKind::Loss(n) => format!("⚠ {} lost here", units::count(u64::from(n), "record")),
        MarkKind::Event if &*meta.names.info(name).file == crate::device::defmt_log::LOG_FILE => format!("▸ {n}"),
        MarkKind::Event => format!("• {n}"),
        MarkKind::Value(v) => format!("• {n} = {v}"),
        MarkKind::Task(t) => format!("↔ {n} task {t}"),
    }
}

impl<W: Write> Visitor for Tree<W> {
    /// Inlined into the timeline: `--merge` moving down an existing call path is a few
    /// instructions; everything else goes out of line.
    #[inline(always)]
    fn open(&mut self, meta: &Meta, s: &Span) {
        if self.merge && s.kind != SpanKind::Manual {
            if let Some(a) = self.agg_stacks.get(s.ctx as usize).filter(|a| a.root != UNROOTED) {
                let parent = a.stack.last().copied().unwrap_or(a.root);
                let node = if parent == NONE { NONE } else { self.agg_child(parent, s.name, false) };
                self.agg_stacks[s.ctx as usize].stack.push(node);
                return;
            }
        }
        self.open_slow(meta, *s)
    }

    #[inline(always)]
    fn close(&mut self, meta: &Meta, s: &Span, path: &[NameId]) {
        if self.merge && s.kind != SpanKind::Manual {
            if let Some(i) = self.agg_stacks.get_mut(s.ctx as usize).and_then(|a| a.stack.pop()) {
                self.agg_add(i, s);
            }
            return;
        }
        self.close_slow(meta, *s, path)
    }

    #[inline(always)]
    fn mark(&mut self, meta: &Meta, m: &Mark) {
        if self.merge {
            let Some(&top) = self.agg_stacks.get(m.ctx as usize).and_then(|a| a.stack.last()) else { return };
            if top != NONE {
                let i = self.agg_child(top, m.name, true);
                if i != NONE {
                    let n = if let MarkKind::Loss(n) = m.kind { n as u64 } else { 1 };
                    self.agg[i as usize].count += n;
                }
            }
            return;
        }
        self.mark_slow(meta, *m)
    }
}

impl<W: Write> Tree<W> {
    #[inline(never)]
    // By value: a reference would make the caller build the span in memory on every call of
    // the inlined fast path, not only on the way here.
    fn open_slow(&mut self, _meta: &Meta, s: Span) {
        if self.merge {
            // The first span of a context: its merged tree gets a root.
            if s.kind != SpanKind::Manual {
                let i = s.ctx as usize;
                if i >= self.agg_stacks.len() {
                    self.agg_stacks.resize(i + 1, AggStack { root: UNROOTED, stack: Vec::new() });
                }
                let root = self.agg_root(s.ctx);
                self.agg_stacks[i].root = root;
                self.open(_meta, &s);
            }
            return;
        }
        let node = Node {
            name: s.name,
            what: What::Span { kind: s.kind, id: s.id, unfinished: false, open: true },
            start: s.start,
            end: s.start,
            self_ticks: 0,
            isr: 0,
            first: NONE,
            last: NONE,
            next: NONE,
            note: NONE,
        };
        let cap = self.max_nodes;
        if s.kind == SpanKind::Manual {
            if let Some(&(root, parent)) = self.manual_node.get(&s.parent) {
                if let Some(t) = self.manual.get_mut(&root) {
                    let i = t.arena.add(parent, node, cap);
                    t.open += 1;
                    t.uids.push(s.uid);
                    self.manual_node.insert(s.uid, (root, i));
                    return;
                }
            }
            let mut arena = Arena { ctx: s.ctx, ..Arena::default() };
            let i = arena.add(NONE, node, cap);
            self.manual.insert(s.uid, ManualTree { arena, open: 1, uids: vec![s.uid] });
            self.manual_node.insert(s.uid, (s.uid, i));
            return;
        }
        let t = self.ctx(s.ctx);
        if t.stack.is_empty() {
            t.arena.nodes.clear();
            t.arena.notes.clear();
            t.arena.elided = 0;
            t.arena.ctx = s.ctx;
        }
        let parent = t.stack.last().copied().unwrap_or(NONE);
        let i = if parent == NONE && !t.stack.is_empty() { NONE } else { t.arena.add(parent, node, cap) };
        t.stack.push(i);
    }

    #[inline(never)]
    fn close_slow(&mut self, meta: &Meta, s: Span, path: &[NameId]) {
        if self.merge {
            if s.kind == SpanKind::Manual {
                let mut at = self.agg_root(MANUAL_KEY);
                for &p in path.iter().chain(std::iter::once(&s.name)) {
                    if at == NONE {
                        break;
                    }
                    at = self.agg_child(at, p, false);
                }
                self.agg_add(at, &s);
            } else if let Some(i) = self.agg_stacks.get_mut(s.ctx as usize).and_then(|a| a.stack.pop()) {
                self.agg_add(i, &s);
            }
            return;
        }
        let fill = |n: &mut Node| {
            n.end = s.end;
            n.self_ticks = s.self_ticks;
            n.isr = s.isr_ticks;
            n.what = What::Span { kind: s.kind, id: s.id, unfinished: s.unfinished, open: false };
        };
        if s.kind == SpanKind::Manual {
            let Some((root, i)) = self.manual_node.get(&s.uid).copied() else { return };
            let Some(t) = self.manual.get_mut(&root) else { return };
            if i != NONE {
                fill(&mut t.arena.nodes[i as usize]);
                if let Some(f) = meta.fields.get(s.uid) {
                    t.arena.annotate(i, &f.fields, f.status);
                }
            }
            t.open -= 1;
            if t.open == 0 {
                let t = self.manual.remove(&root).expect("present");
                for u in &t.uids {
                    self.manual_node.remove(u);
                }
                self.emit(meta, &t.arena);
            }
            return;
        }
        let t = self.ctx(s.ctx);
        let Some(i) = t.stack.pop() else { return };
        if i != NONE {
            fill(&mut t.arena.nodes[i as usize]);
            if let Some(f) = meta.fields.get(s.uid) {
                t.arena.annotate(i, &f.fields, f.status);
            }
        }
        if t.stack.is_empty() {
            let arena = std::mem::take(&mut t.arena);
            self.emit(meta, &arena);
            // Keep the allocation for the next tree of this context.
            let t = self.ctx(s.ctx);
            t.arena = arena;
            t.arena.nodes.clear();
            t.arena.notes.clear();
        }
    }

    #[inline(never)]
    fn mark_slow(&mut self, meta: &Meta, m: Mark) {
        let cap = self.max_nodes;
        let t = self.ctx(m.ctx);
        let node = Node {
            name: m.name,
            what: What::Mark(m.kind),
            start: m.ts,
            end: m.ts,
            self_ticks: 0,
            isr: 0,
            first: NONE,
            last: NONE,
            next: NONE,
            note: NONE,
        };
        match t.stack.last() {
            Some(&NONE) => t.arena.elided += 1,
            Some(&p) => {
                let i = t.arena.add(p, node, cap);
                if !meta.fields.mark.is_empty() {
                    t.arena.annotate(i, &meta.fields.mark, None);
                }
            }
            None => {
                // Outside any span: printed on its own line, in time order with the trees.
                if !self.filter.ctx_ok(meta, m.ctx) || self.filter.name.is_some() {
                    return;
                }
                let b = self.bounds(meta);
                if !b.shows(meta, m.ts, m.ts.saturating_add(b.min)) {
                    return;
                }
                let value = match m.kind {
                    MarkKind::Event if meta.fields.mark.is_empty() => None,
                    MarkKind::Value(v) => Some(v),
                    MarkKind::Event | MarkKind::Loss(_) | MarkKind::Task(_) => {
                        self.end_run(meta);
                        let r = if self.json {
                            self.json_mark(meta, m.ctx, m.ts, m.name, m.kind)
                        } else {
                            let (ctx, at) = (meta.ctx_name(m.ctx), meta.clock.dur(meta.rel(m.ts)));
                            let fields = model::fields_text(&meta.names, &meta.fields.mark, None);
                            writeln!(
                                self.out,
                                "── {ctx} @ {at} ── {}{fields}",
                                mark_text(meta, m.name, m.kind, &meta.fields.mark)
                            )
                        };
                        self.record(r);
                        return;
                    }
                };
                if let Some(r) = &mut self.run {
                    if r.ctx == m.ctx && r.name == m.name && r.values.is_some() == value.is_some() {
                        r.count += 1;
                        r.last = m.ts;
                        if let (Some((_, last)), Some(v)) = (&mut r.values, value) {
                            *last = v;
                        }
                        return;
                    }
                }
                self.end_run(meta);
                self.run = Some(Run {
                    ctx: m.ctx,
                    name: m.name,
                    first: m.ts,
                    last: m.ts,
                    count: 1,
                    values: value.map(|v| (v, v)),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{CallsiteKind, Kind::*};
    use crate::model::tests::{def, header, rec};
    use crate::model::Timeline;

    fn render(items: &[crate::item::Item<'static>], filter: Filter, merge: bool) -> String {
        let mut t = Timeline::new(16);
        let mut v = Tree::new(Vec::new(), filter, merge, 1000);
        for &i in items {
            t.push(i, &mut v);
        }
        t.finish(&mut v);
        v.finish(&t.meta).unwrap();
        String::from_utf8(v.out).unwrap()
    }

    fn sample() -> Vec<crate::item::Item<'static>> {
        vec![
            header(1_000_000),
            def(0x10, "handle", CallsiteKind::Span),
            def(0x20, "parse", CallsiteKind::Span),
            def(0x30, "rx_bytes", CallsiteKind::Event),
            def(0x40, "SysTick", CallsiteKind::Isr),
            Item::Context { ctx: 0, name: "main" },
            rec(0, 0, SpanEnter, 0x10, 0, 0),
            rec(0, 10, SpanEnter, 0x20, 0, 0),
            rec(0, 12, ValueU, 0x30, 64, 0),
            rec(0, 40, SpanExit, 0x20, 0, 0),
            Item::Loss { ctx: 0, count: 2 },
            rec(0, 100, SpanExit, 0x10, 0, 0),
            rec(1, 20, IsrEnter, 0x40, 15, 0),
            rec(1, 25, IsrExit, 0x40, 15, 0),
            rec(0, 200, SpanEnter, 0x20, 0, 0),
            rec(0, 201, SpanExit, 0x20, 0, 0),
        ]
    }
    use crate::item::Item;

    #[test]
    fn prints_nested_tree_with_annotations() {
        let out = render(&sample(), Filter::default(), false);
        let expected = "\
── ctx 1 @ 20.000 µs ──
ISR SysTick (irq 15)  5.000 µs  self 5.000 µs
── main @ 0 ns ──
handle  100.000 µs  self 70.000 µs  isr 5.000 µs
├─ parse  30.000 µs  self 25.000 µs  isr 5.000 µs
│  └─ • rx_bytes = 64 (+2.000 µs)
└─ ⚠ 2 records lost here (+40.000 µs)
── main @ 200.000 µs ──
parse  1.000 µs  self 1.000 µs
";
        assert_eq!(out, expected);
    }

    #[test]
    fn filters_by_name_duration_window_and_context() {
        let f = Filter { name: Some("parse".into()), ..Filter::default() };
        let out = render(&sample(), f, false);
        assert!(out.contains("in handle ──\nparse  30.000 µs"), "{out}");
        assert_eq!(out.matches("──\nparse").count(), 2, "{out}");
        let f = Filter { min_duration: Some("10us".parse().unwrap()), ..Filter::default() };
        let out = render(&sample(), f, false);
        assert!(!out.contains("1.000 µs") && !out.contains("SysTick"), "{out}");
        let f = Filter { from: Some("150us".parse().unwrap()), ..Filter::default() };
        let out = render(&sample(), f, false);
        assert!(!out.contains("handle") && out.contains("parse  1.000"), "{out}");
        let f = Filter { contexts: vec!["1".into()], ..Filter::default() };
        let out = render(&sample(), f, false);
        assert!(out.contains("SysTick") && !out.contains("handle"), "{out}");
    }

    #[test]
    fn merges_call_paths() {
        let out = render(&sample(), Filter::default(), true);
        assert!(out.contains("── main (merged call paths) ──"), "{out}");
        assert!(out.contains("handle  ×1  total 100.000 µs"), "{out}");
        assert!(out.contains("├─ parse  ×1  total 30.000 µs"), "{out}");
        assert!(out.contains("└─ parse  ×1  total 1.000 µs") || out.contains("parse  ×1  total 1.000 µs"), "{out}");
        assert!(out.contains("⚠ 2 records lost"), "{out}");
    }

    #[test]
    fn task_polls_show_their_task_and_id() {
        let items = [
            header(1_000_000),
            def(0x10, "blink", CallsiteKind::Task),
            def(0x20, "toggle", CallsiteKind::Span),
            def(0x30, "producer", CallsiteKind::Task),
            rec(0, 0, SpanEnter, 0x10, 0, 0),
            rec(0, 0, TaskSwitch, 0x10, 2, 0),
            rec(0, 1, SpanEnter, 0x20, 0, 0),
            rec(0, 3, SpanExit, 0x20, 0, 0),
            // A task switch of another callsite stays a mark.
            rec(0, 3, TaskSwitch, 0x30, 5, 0),
            rec(0, 4, SpanExit, 0x10, 0, 0),
            rec(0, 10, SpanEnter, 0x30, 0, 0),
            rec(0, 12, SpanExit, 0x30, 0, 0),
        ];
        let out = render(&items, Filter::default(), false);
        let expected = "\
── ctx 0 @ 0 ns ──
poll blink (task 2)  4.000 µs  self 2.000 µs
├─ toggle  2.000 µs  self 2.000 µs
└─ ↔ producer task 5 (+3.000 µs)
── ctx 0 @ 10.000 µs ──
poll producer  2.000 µs  self 2.000 µs
";
        assert_eq!(out, expected);
        let out = render(&items, Filter::default(), true);
        assert!(out.contains("poll blink  ×1  total 4.000 µs"), "{out}");
        assert!(out.contains("poll producer  ×1"), "{out}");
    }

    #[test]
    fn groups_runs_of_events_outside_spans() {
        let mut items =
            vec![header(1_000_000), def(0x30, "burst", CallsiteKind::Event), def(0x40, "tick", CallsiteKind::Event)];
        items.extend((0..5).map(|i| rec(0, 10 + i as u64, ValueU, 0x30, i, 0)));
        items.push(rec(0, 20, Event, 0x40, 0, 0));
        items.push(Item::Loss { ctx: 0, count: 7 });
        items.push(rec(0, 30, ValueU, 0x30, 9, 0));
        let out = render(&items, Filter::default(), false);
        assert_eq!(
            out,
            "── ctx 0 @ 0 ns ── • burst ×5 over 4.000 µs (values 0 … 4)\n\
             ── ctx 0 @ 10.000 µs ── • tick\n\
             ── ctx 0 @ 10.000 µs ── ⚠ 7 records lost here\n\
             ── ctx 0 @ 20.000 µs ── • burst = 9\n"
        );
    }

    #[test]
    fn manual_tree_waits_for_open_children_and_caps_nodes() {
        let items = [
            def(0x10, "request", CallsiteKind::Span),
            def(0x20, "io", CallsiteKind::Span),
            rec(0, 10, SpanStart, 0x10, 1, 0),
            rec(0, 20, SpanStart, 0x20, 2, 1),
            rec(0, 30, SpanEnd, 0x10, 1, 0),
            rec(1, 50, SpanEnd, 0x20, 2, 0),
        ];
        let out = render(&items, Filter::default(), false);
        assert_eq!(
            out,
            "── ctx 0 @ 0 ticks ──\nrequest #1  20 ticks  self 20 ticks\n└─ io #2  30 ticks  self 30 ticks\n"
        );
        let mut t = Timeline::new(16);
        let mut v = Tree::new(Vec::new(), Filter::default(), false, 3);
        t.push(rec(0, 0, SpanEnter, 0x10, 0, 0), &mut v);
        for i in 0..10 {
            t.push(rec(0, i, Event, 0x30, 0, 0), &mut v);
        }
        t.push(rec(0, 20, SpanExit, 0x10, 0, 0), &mut v);
        t.finish(&mut v);
        v.finish(&t.meta).unwrap();
        let out = String::from_utf8(v.out).unwrap();
        assert!(out.contains("… 8 more nodes not kept"), "{out}");
    }
}
