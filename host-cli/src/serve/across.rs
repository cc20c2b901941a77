//! Call trees across sources: when the sources of one `tickspan serve` are the nodes of a
//! distributed trace, the drill-down of a span shows its whole trace, every span tagged with
//! its node. Each ingest thread hands over the spans of that trace it still holds (its
//! `--tree-spans` window) as a node of [`crate::join`], which aligns the nodes' clocks (from
//! the trace's own parent/child pairs and the streams' wall-clock anchors) and links parents
//! across nodes by span id, as `tickspan tree a b …` does.

use super::{node_name, Board, NodeView, TreeSpan, TreeView, MAX_TREE};
use crate::join::{print, Collect, Joined, Node, Tree};
use crate::model::Meta;

/// One source's spans of a trace, as a node of a join.
pub(super) struct Part {
    /// Index of the source.
    source: usize,
    node: Node,
    /// Whether none of its spans of the trace can have aged out of the drill-down window.
    held_all: bool,
}

impl Board {
    /// The spans of trace `trace` this board holds, as a node named after its stream (else
    /// `name`, its source).
    pub(super) fn part(&self, meta: &Meta, name: &str, trace: u128) -> Part {
        let mut c = Collect::new(0, node_name(meta, name));
        let mut first = u64::MAX;
        // `links` holds the linked spans of `ring`, in its order.
        for (n, (_, l)) in self.ring.iter().filter(|n| n.linked).zip(&self.links) {
            if l.trace_id == trace {
                c.push(meta, &n.span(), l);
                first = first.min(n.start);
            }
        }
        // As for a tree of one source: if the oldest span held closed before the trace's
        // first span here began, none of its spans under that one can have aged out (an earlier
        // span of the trace here that is not its ancestor could have: not seen).
        let held_all = self.ring.len() < self.ring_cap || self.ring.front().is_some_and(|o| o.end <= first);
        Part { source: self.source, node: c.finish(meta), held_all }
    }
}

/// Whether `t` or a span below it is `want`.
fn holds(t: &Tree, want: &dyn Fn(&Tree) -> bool) -> bool {
    let mut todo = vec![t];
    while let Some(t) = todo.pop() {
        if want(t) {
            return true;
        }
        todo.extend(&t.children);
    }
    false
}

/// `/api/trace` of span `asked` (source, uid) across the sources' `parts` of its trace
/// `trace`: `None` when fewer than two sources hold spans of it (the tree of one source says
/// it all) or the span is not in the joined tree.
pub(super) fn tree(parts: Vec<Part>, asked: (usize, u64), trace: u128) -> Option<String> {
    let mut parts: Vec<Part> = parts.into_iter().filter(|p| !p.node.spans.is_empty()).collect();
    if parts.len() < 2 {
        return None;
    }
    for (j, p) in parts.iter_mut().enumerate() {
        p.node.spans.iter_mut().for_each(|s| s.node = j);
    }
    let sources: Vec<usize> = parts.iter().map(|p| p.source).collect();
    let held_all = parts.iter().all(|p| p.held_all);
    let j = Joined::new(parts.into_iter().map(|p| p.node).collect());
    let (traces, unplaced) = j.traces();
    let is_asked = |t: &Tree| (sources[t.at.0], j.span(t.at).uid) == asked;
    let root = traces.iter().flat_map(|t| &t.roots).find(|r| holds(r, &is_asked))?;
    // Depth first, children by start time on the common time line (as join orders them).
    let mut listed: Vec<(&Tree, u32, u64)> = Vec::new();
    let mut todo = vec![(root, 0u32, 0u64)];
    while let Some((t, depth, parent)) = todo.pop() {
        if listed.len() == MAX_TREE {
            break;
        }
        listed.push((t, depth, parent));
        let uid = j.span(t.at).uid;
        todo.extend(t.children.iter().rev().map(|c| (c, depth + 1, uid)));
    }
    let t0 = listed.iter().map(|(t, ..)| j.times(j.span(t.at)).0).min()?;
    let spans = listed
        .iter()
        .map(|&(t, depth, parent)| {
            let s = j.span(t.at);
            let (a, b) = j.times(s);
            TreeSpan {
                node: sources[s.node],
                uid: s.uid,
                parent,
                depth,
                name: &s.name,
                ctx: s.ctx_id,
                context: s.ctx.to_string(),
                start: u64::try_from(a - t0).unwrap_or(0),
                duration: u64::try_from(b - a).unwrap_or(0),
                self_time: s.self_ns,
                unfinished: s.unfinished,
            }
        })
        .collect();
    let nodes = (j.nodes.iter().zip(&j.alignment).zip(&sources))
        .map(|((n, a), &source)| NodeView { source, name: n.name.clone(), alignment: print::describe(a, j.wall) })
        .collect();
    let unit = if j.nodes.iter().all(|n| n.real_clock) { "ns" } else { "ticks" };
    let view = TreeView {
        node: asked.0,
        uid: asked.1,
        root: j.span(root.at).uid,
        trace_id: Some(format!("{trace:032x}")),
        nodes,
        unit,
        complete: held_all && unplaced == 0 && todo.is_empty(),
        spans,
    };
    serde_json::to_string(&view).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Span, SpanKind, Visitor};
    use crate::units::Duration;
    use tickspan::trace_context::LinkField;

    #[test]
    fn trace_contexts_age_out_with_their_spans() {
        let mut b = Board::new(vec![Duration::Ns(0)], 0);
        b.ring_cap = 3;
        let mut meta = Meta::default();
        // Spans 1..=5 close in order: 1 and 4 in trace 0xa, 3 in trace 0xb, 2 and 5 in none.
        for (uid, trace) in [(1u64, 0xa), (2, 0), (3, 0xb), (4, 0xa), (5, 0)] {
            if trace != 0 {
                meta.links.record(uid, LinkField::TraceLo, 1, trace);
            }
            let (start, end) = (uid * 10, uid * 10 + 5);
            let (parent, root, ctx, name, kind, depth, self_ticks, isr_ticks, id) =
                (0, uid, 0, 0, SpanKind::Scoped, 0, 5, 0, 0);
            let s = Span {
                uid,
                parent,
                root,
                ctx,
                name,
                kind,
                start,
                end,
                depth,
                self_ticks,
                isr_ticks,
                id,
                unfinished: false,
            };
            b.close(&meta, &s, &[]);
            meta.links.close(uid);
        }
        // The window holds 3, 4 and 5: span 1 aged out with its trace context.
        let uids = |trace| b.part(&meta, "src", trace).node.spans.iter().map(|s| s.uid).collect::<Vec<_>>();
        assert_eq!((uids(0xa), uids(0xb)), (vec![4], vec![3]));
        assert_eq!(b.tree(&meta, "src", 4).map(|t| t.1), Some(0xa));
        assert_eq!(b.tree(&meta, "src", 5).map(|t| t.1), Some(0));
        assert!(b.tree(&meta, "src", 1).is_none());
    }
}
