//! `tree --json`: the trees as JSON lines, one line per printed tree, per top-level run of
//! events or mark, and (with `--merge`) per merged tree, for jq and scripts. The filters are
//! the text view's. Times are in the line's `unit`: `ns`, or `ticks` without a clock.
//!
//! ```text
//! {"type":"tree","ctx":0,"context":"main","unit":"ns","in":[],"root":{"type":"span","name":"handle",
//!   "start":1000,"duration":900,"self":400,"isr":0,"children":[{"type":"event","name":"rx","at":1200}, …]}}
//! {"type":"events","ctx":0,"context":"main","unit":"ns","name":"tick","at":5000,"count":3,"over":200}
//! {"type":"merged","ctx":0,"context":"main","unit":"ns","children":[{"type":"span","name":"handle",
//!   "count":4,"total":3600,"self":1600,"max":900,"isr":0,"children":[…]}]}
//! ```

use super::{Arena, Bounds, Meta, NameId, Run, Tree, What, NONE};
use crate::model::{MarkKind, SpanKind, Value};
use serde_json::{json, Map, Value as J};
use std::io::{self, Write};

/// A mark's fields (`type`, `name`, and what it carries).
fn mark(meta: &Meta, name: NameId, kind: MarkKind) -> Map<String, J> {
    let n = meta.names.name(name);
    let mut m = Map::new();
    let (ty, extra) = match kind {
        MarkKind::Loss(count) => ("loss", Some(("count", json!(count)))),
        MarkKind::Event if &*meta.names.info(name).file == crate::device::defmt_log::LOG_FILE => ("log", None),
        MarkKind::Event => ("event", None),
        MarkKind::Value(v) => ("value", Some(("value", value(v)))),
        MarkKind::Task(t) => ("task_switch", Some(("task", json!(t)))),
    };
    m.insert("type".into(), ty.into());
    if !matches!(kind, MarkKind::Loss(_)) {
        m.insert("name".into(), n.into());
    }
    if let Some((k, v)) = extra {
        m.insert(k.into(), v);
    }
    m
}

fn value(v: Value) -> J {
    match v {
        Value::U(u) => json!(u),
        Value::I(i) => json!(i),
        Value::F(f) => json!(f), // NaN and infinities become null (JSON has no such numbers)
    }
}

fn unit(meta: &Meta) -> &'static str {
    if meta.clock.is_real() {
        "ns"
    } else {
        "ticks"
    }
}

impl<W: Write> Tree<W> {
    /// One line: `type`, the context (absent for merged manual spans), the unit, then `fields`.
    fn line(&mut self, meta: &Meta, ty: &str, ctx: Option<u32>, fields: Map<String, J>) -> io::Result<()> {
        let mut m = Map::new();
        m.insert("type".into(), ty.into());
        if let Some(ctx) = ctx {
            m.insert("ctx".into(), ctx.into());
            m.insert("context".into(), meta.ctx_name(ctx).into());
        }
        m.insert("unit".into(), unit(meta).into());
        m.extend(fields);
        serde_json::to_writer(&mut self.out, &J::Object(m))?;
        writeln!(self.out)
    }

    /// A tree (or, with a name filter, a subtree found at `path`) as one line.
    pub(super) fn json_tree(
        &mut self,
        meta: &Meta,
        arena: &Arena,
        i: u32,
        path: &[NameId],
        b: Bounds,
    ) -> io::Result<()> {
        let mut f = Map::new();
        f.insert("in".into(), path.iter().map(|&p| J::from(meta.names.name(p))).collect());
        f.insert("root".into(), node(meta, arena, i, b));
        if arena.elided != 0 {
            f.insert("elided".into(), arena.elided.into());
        }
        self.line(meta, "tree", Some(arena.ctx), f)
    }

    /// A run of top-level events (or one event, or a value) as one line.
    pub(super) fn json_run(&mut self, meta: &Meta, r: &Run) -> io::Result<()> {
        let c = meta.clock;
        let mut f = Map::new();
        f.insert("name".into(), meta.names.name(r.name).into());
        f.insert("at".into(), c.to_ns(meta.rel(r.first)).into());
        f.insert("count".into(), r.count.into());
        f.insert("over".into(), c.to_ns(r.last.saturating_sub(r.first)).into());
        if let Some((first, last)) = r.values {
            f.insert("first_value".into(), value(first));
            f.insert("last_value".into(), value(last));
        }
        self.line(meta, "events", Some(r.ctx), f)
    }

    /// A mark outside any span (a loss, a task switch) as one line.
    pub(super) fn json_mark(&mut self, meta: &Meta, ctx: u32, ts: u64, name: NameId, kind: MarkKind) -> io::Result<()> {
        let mut f = Map::new();
        f.insert("at".into(), meta.clock.to_ns(meta.rel(ts)).into());
        let mut mk = mark(meta, name, kind);
        fields(meta, name, &meta.fields.mark, &mut mk);
        f.insert("mark".into(), J::Object(mk));
        self.line(meta, "mark", Some(ctx), f)
    }

    /// A merged tree (`--merge`) as one line; `ctx` is `None` for the manual spans' tree.
    pub(super) fn json_agg(&mut self, meta: &Meta, root: u32, ctx: Option<u32>, b: Bounds) -> io::Result<()> {
        let children = self.agg_children(meta, root, b, self.filter.name.is_none());
        let mut f = Map::new();
        if ctx.is_none() {
            f.insert("context".into(), "manual spans".into());
        }
        f.insert("children".into(), J::Array(children));
        self.line(meta, "merged", ctx, f)
    }

    /// The JSON nodes under merged node `i`, longest total first. A node hidden by the name
    /// filter (`shown` false, and its name does not match) gives its shown descendants instead.
    fn agg_children(&self, meta: &Meta, i: u32, b: Bounds, shown: bool) -> Vec<J> {
        let mut kids: Vec<u32> = self.agg[i as usize].children.iter().map(|c| c.1).collect();
        kids.sort_by_key(|&c| std::cmp::Reverse(self.agg[c as usize].total));
        let mut out = Vec::new();
        for k in kids {
            let a = &self.agg[k as usize];
            if !a.mark && a.max < b.min {
                continue;
            }
            let name = meta.names.name(a.name);
            let here = shown || self.filter.name.as_deref().is_some_and(|f| !a.mark && name.contains(f));
            let children = self.agg_children(meta, k, b, here);
            if !here {
                out.extend(children);
                continue;
            }
            let c = meta.clock;
            out.push(match (a.mark, a.name) {
                (true, 0) => json!({"type": "loss", "count": a.count}),
                (true, _) => json!({"type": "event", "name": name, "count": a.count}),
                (false, _) => json!({
                    "type": if meta.names.is_task(a.name) { "poll" } else { "span" },
                    "name": name,
                    "count": a.count,
                    "total": c.to_ns(a.total),
                    "self": c.to_ns(a.self_ticks),
                    "max": c.to_ns(a.max),
                    "isr": c.to_ns(a.isr),
                    "children": children,
                }),
            });
        }
        out
    }
}

/// Node `i` of `arena` and what is under it (children the filters hide are counted in `hidden`).
fn node(meta: &Meta, arena: &Arena, i: u32, b: Bounds) -> J {
    let n = arena.nodes[i as usize];
    let c = meta.clock;
    let (kind, id, unfinished, open) = match n.what {
        What::Mark(k) => {
            let mut m = mark(meta, n.name, k);
            m.insert("at".into(), c.to_ns(meta.rel(n.start)).into());
            annotate(meta, arena, &n, &mut m);
            return J::Object(m);
        }
        What::Span { kind, id, unfinished, open } => (kind, id, unfinished, open),
    };
    let mut m = Map::new();
    let name = meta.names.name(n.name);
    match kind {
        SpanKind::Isr => {
            m.insert("type".into(), "isr".into());
            m.insert("irq".into(), id.into());
        }
        SpanKind::Manual => {
            m.insert("type".into(), "manual".into());
            m.insert("id".into(), id.into());
        }
        SpanKind::Scoped if id != 0 => {
            m.insert("type".into(), "poll".into());
            m.insert("task".into(), id.into());
        }
        SpanKind::Scoped if meta.names.is_task(n.name) => {
            m.insert("type".into(), "poll".into());
        }
        SpanKind::Scoped => {
            m.insert("type".into(), "span".into());
        }
    }
    let name = if kind == SpanKind::Scoped && id != 0 { meta.task_name(id).unwrap_or(name) } else { name };
    m.insert("name".into(), name.into());
    m.insert("start".into(), c.to_ns(meta.rel(n.start)).into());
    if open {
        m.insert("open".into(), true.into()); // no end before the tree was printed
    } else {
        m.insert("duration".into(), c.to_ns(n.end - n.start).into());
        m.insert("self".into(), c.to_ns(n.self_ticks).into());
        m.insert("isr".into(), c.to_ns(n.isr).into());
        if unfinished {
            m.insert("unfinished".into(), true.into()); // end not recorded
        }
    }
    let mut hidden = 0u64;
    let mut children = Vec::new();
    let mut k = n.first;
    while k != NONE {
        let ch = arena.nodes[k as usize];
        if matches!(ch.what, What::Mark(_)) || b.shows(meta, ch.start, ch.end) {
            children.push(node(meta, arena, k, b));
        } else {
            hidden += 1;
        }
        k = ch.next;
    }
    annotate(meta, arena, &n, &mut m);
    m.insert("children".into(), J::Array(children));
    if hidden != 0 {
        m.insert("hidden".into(), hidden.into());
    }
    J::Object(m)
}

/// `"fields": {key: value}` and the span's `status` (and `status_message`), when it has any;
/// `format` and `message` for a formatted span or event.
fn annotate(meta: &Meta, arena: &Arena, n: &super::Node, m: &mut Map<String, J>) {
    let f = arena.fields(n);
    fields(meta, n.name, f.map_or(&[], |f| &f.fields), m);
    if let Some(f) = f {
        m.extend(crate::model::fields_json(&meta.names, &[], f.status));
    }
}

/// `"fields"` (when any) and a format's `format` and `message`.
fn fields(meta: &Meta, name: NameId, fields: &[crate::model::Field], m: &mut Map<String, J>) {
    crate::model::format::json(&meta.names, name, fields, m);
    let obj = crate::model::fields_json(&meta.names, fields, None);
    if !obj.is_empty() {
        m.insert("fields".into(), J::Object(obj));
    }
}
