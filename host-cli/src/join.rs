//! Several inputs, one node each, joined into one trace: spans of a distributed trace are
//! collected per node, the nodes' clocks aligned, and each trace becomes one tree across nodes.
//!
//! Clocks: every node counts its own ticks. A node whose stream carries a wall-clock anchor
//! (a sync frame with Unix time) starts from it; a node without one (a microcontroller) is
//! placed by causality: a child span cannot start before its remote parent nor end after it,
//! so each parent/child pair across two nodes bounds the offset between their clocks from
//! both sides (NTP's reasoning with the request and the response as the two messages). The
//! intersection of all bounds gives the offset (its middle: equal delays both ways) and its
//! error (half its width); anchors that fall outside the bounds are corrected to them, with a
//! warning. A node linked to no aligned node and without anchor cannot be aligned: that is
//! said, and its times are its own.

use crate::model::{Meta, NameId, Span, SpanLink, Visitor};
use rustc_hash::FxHashMap;

pub mod merge;
pub mod print;

/// Spans kept per node; more are counted, not kept (memory stays bounded).
pub const MAX_SPANS: usize = 4_000_000;

/// A closed span of a distributed trace, in its node's nanoseconds.
#[derive(Clone, Debug)]
pub struct JSpan {
    /// Index of its node.
    pub node: usize,
    /// Span name.
    pub name: Box<str>,
    /// Context (thread, interrupt, task) name.
    pub ctx: Box<str>,
    /// Context id in its node.
    pub ctx_id: u32,
    /// Start and end, nanoseconds of the node's clock.
    pub start: i128,
    /// End (as `start`).
    pub end: i128,
    /// Self time in its node (children of the node and interrupts taken out).
    pub self_ns: u64,
    /// Its trace context.
    pub link: SpanLink,
    /// Uid of its parent in the node's timeline (0: none there).
    pub local_parent: u64,
    /// Its uid in the node's timeline.
    pub uid: u64,
    /// Closed by the end of the input, not by its own end record.
    pub unfinished: bool,
}

/// What a node's input gave.
#[derive(Debug, Default)]
pub struct Node {
    /// Name (`--node`, else the file's stem).
    pub name: String,
    /// Wall-clock offset from the stream's anchor: Unix ns = node ns + this.
    pub anchor: Option<i128>,
    /// Spans of traces (linked, or inside a linked span).
    pub spans: Vec<JSpan>,
    /// Spans not in any trace (not kept).
    pub untraced: u64,
    /// Trace spans not kept because of [`MAX_SPANS`].
    pub dropped: u64,
    /// Whether its clock frequency is known (else ns are ticks).
    pub real_clock: bool,
    /// Its first record, node ns.
    pub start: Option<i128>,
}

/// Collects one node's trace spans as its timeline closes them.
pub struct Collect {
    /// The node being read.
    pub node: Node,
    index: usize,
}

impl Collect {
    /// A collector for node number `index` named `name`.
    pub fn new(index: usize, name: String) -> Collect {
        Collect { node: Node { name, ..Node::default() }, index }
    }

    /// The node, with the stream facts only known at the end.
    pub fn finish(mut self, meta: &Meta) -> Node {
        self.node.real_clock = meta.clock.is_real();
        self.node.start = meta.start.map(|t| meta.clock.to_ns(t) as i128);
        self.node.anchor = meta.anchor.map(|(ts, unix)| unix as i128 - meta.clock.to_ns(ts) as i128);
        self.node
    }
}

impl Visitor for Collect {
    fn close(&mut self, meta: &Meta, s: &Span, _path: &[NameId]) {
        match meta.links.get(s.uid) {
            Some(link) => self.push(meta, s, link),
            None => self.node.untraced += 1,
        }
    }
}

impl Collect {
    /// Keeps span `s` of trace context `link` (as the timeline closes it, or as a dashboard
    /// kept it; `s.kind`, `depth`, `isr_ticks` and `id` are not used).
    pub fn push(&mut self, meta: &Meta, s: &Span, link: &SpanLink) {
        if self.node.spans.len() >= MAX_SPANS {
            self.node.dropped += 1;
            return;
        }
        let ns = |t| meta.clock.to_ns(t) as i128;
        self.node.spans.push(JSpan {
            node: self.index,
            name: meta.names.name(s.name).into(),
            ctx: meta.ctx_name(s.ctx).into(),
            ctx_id: s.ctx,
            start: ns(s.start),
            end: ns(s.end),
            self_ns: meta.clock.to_ns(s.self_ticks),
            link: *link,
            local_parent: s.parent,
            uid: s.uid,
            unfinished: s.unfinished,
        });
    }
}

/// How a node's clock was placed on the common time line.
#[derive(Clone, Debug, PartialEq)]
pub enum Alignment {
    /// The reference: the first node with a wall-clock anchor (or the first node).
    Reference,
    /// Its wall-clock anchor, consistent with every cross-node pair (`pairs` of them; the
    /// causality bounds are `± error` ns wide around it, 0 pairs: unchecked).
    Anchor {
        /// Cross-node parent/child pairs that bound it.
        pairs: usize,
        /// Half the width of the causality bounds (ns), if any pair bounds it.
        error: Option<u64>,
    },
    /// From parent/child pairs: the middle of the bounds, `± error` ns.
    Causality {
        /// Pairs used.
        pairs: usize,
        /// Half the width of the bounds (ns).
        error: u64,
        /// The anchor it had, if causality moved it (ns it was off by).
        anchor_off: Option<i128>,
    },
    /// No constant offset fits the pairs, a drifting one does: offset + `ppm` · 10⁻⁶ · time,
    /// fitted to the pairs' middles (least squares), `± error` ns.
    Drift {
        /// Pairs used.
        pairs: usize,
        /// Half the width of the bounds with the drift taken out (ns).
        error: u64,
        /// Drift against the common time line, in parts per million.
        ppm: f64,
    },
    /// The pairs contradict each other (by `by` ns) even with a drift: records are misdated.
    Inconsistent {
        /// Pairs used.
        pairs: usize,
        /// How far the tightest bounds cross.
        by: u64,
    },
    /// No anchor and no pair with an aligned node: its times are its own.
    Impossible,
}

/// All nodes of a join, aligned, with their spans' parents resolved.
pub struct Joined {
    /// The nodes, in input order.
    pub nodes: Vec<Node>,
    /// Per node: offset added to its ns to place it on the common time line (at its drift's
    /// reference time).
    pub offsets: Vec<i128>,
    /// Per node: clock drift against the common time line (ns per ns) and the node time it is
    /// measured from; (0, 0) for nodes placed by an offset alone.
    pub drift: Vec<(f64, i128)>,
    /// Per node: how the offset was found.
    pub alignment: Vec<Alignment>,
    /// Whether the common time line is wall-clock (some node had an anchor).
    pub wall: bool,
}

/// A span's place: node index and index in that node's spans.
type At = (usize, usize);

impl Joined {
    /// Aligns the nodes' clocks (see the module docs).
    pub fn new(nodes: Vec<Node>) -> Joined {
        let n = nodes.len();
        let by_id = span_ids(&nodes);
        // Bounds on (offset of child node - offset of parent node), per ordered node pair, and
        // the pairs themselves (child node, parent node, child, parent), for a drift fit.
        let mut bounds: FxHashMap<(usize, usize), (i128, i128, usize)> = FxHashMap::default();
        let mut raw: Vec<(usize, usize, &JSpan, &JSpan)> = Vec::new();
        for (cn, node) in nodes.iter().enumerate() {
            for c in &node.spans {
                if c.link.parent_id == 0 || c.unfinished {
                    continue;
                }
                let Some(&(pn, pi)) = by_id.get(&c.link.parent_id) else { continue };
                let p = &nodes[pn].spans[pi];
                if pn == cn || p.unfinished {
                    continue;
                }
                // c.start + o_c >= p.start + o_p  and  c.end + o_c <= p.end + o_p.
                let (lo, hi) = (p.start - c.start, p.end - c.end);
                let b = bounds.entry((cn, pn)).or_insert((i128::MIN, i128::MAX, 0));
                *b = (b.0.max(lo), b.1.min(hi), b.2 + 1);
                raw.push((cn, pn, c, p));
            }
        }
        let reference = nodes.iter().position(|n| n.anchor.is_some()).unwrap_or(0);
        let wall = nodes.iter().any(|n| n.anchor.is_some());
        let mut offsets = vec![0i128; n];
        let mut drift = vec![(0f64, 0i128); n];
        let mut alignment = vec![Alignment::Impossible; n];
        let mut known = vec![false; n];
        if n > 0 {
            offsets[reference] = nodes[reference].anchor.unwrap_or(0);
            alignment[reference] = Alignment::Reference;
            known[reference] = true;
        }
        // Breadth first from the reference: a node is placed from the nodes already placed.
        loop {
            let mut progress = false;
            for j in 0..n {
                if known[j] {
                    continue;
                }
                let (mut lo, mut hi, mut pairs) = (i128::MIN, i128::MAX, 0);
                for (&(c, p), &(blo, bhi, k)) in &bounds {
                    // o_j - o_p in [blo, bhi] with j the child, or o_c - o_j with j the parent.
                    if c == j && known[p] {
                        lo = lo.max(blo.saturating_add(offsets[p]));
                        hi = hi.min(bhi.saturating_add(offsets[p]));
                        pairs += k;
                    } else if p == j && known[c] {
                        lo = lo.max(offsets[c].saturating_sub(bhi));
                        hi = hi.min(offsets[c].saturating_sub(blo));
                        pairs += k;
                    }
                }
                if pairs == 0 {
                    continue;
                }
                progress = true;
                known[j] = true;
                let mid = lo + (hi - lo) / 2;
                (offsets[j], alignment[j]) = if lo > hi {
                    match fit_drift(j, &raw, &known, &offsets, &drift) {
                        Some((a, b, t0, error)) => {
                            drift[j] = (b, t0);
                            (a, Alignment::Drift { pairs, error, ppm: b * 1e6 })
                        }
                        None => (mid, Alignment::Inconsistent { pairs, by: (lo - hi) as u64 }),
                    }
                } else {
                    let error = ((hi - lo) / 2) as u64;
                    match nodes[j].anchor {
                        Some(a) if (lo..=hi).contains(&a) => (a, Alignment::Anchor { pairs, error: Some(error) }),
                        Some(a) => (mid, Alignment::Causality { pairs, error, anchor_off: Some(a - mid) }),
                        None => (mid, Alignment::Causality { pairs, error, anchor_off: None }),
                    }
                };
            }
            if !progress {
                break;
            }
        }
        // Anchored nodes no pair reaches: their anchors place them, unchecked.
        for j in 0..n {
            if let (false, Some(a)) = (known[j], nodes[j].anchor) {
                (offsets[j], alignment[j]) = (a, Alignment::Anchor { pairs: 0, error: None });
            }
        }
        Joined { nodes, offsets, drift, alignment, wall }
    }

    /// Node `node`'s time `t` (its ns) on the common time line.
    pub fn at(&self, node: usize, t: i128) -> i128 {
        at(self.offsets[node], self.drift[node], t)
    }

    /// A span's start and end on the common time line.
    pub fn times(&self, s: &JSpan) -> (i128, i128) {
        (self.at(s.node, s.start), self.at(s.node, s.end))
    }

    /// The traces: each root (a span whose parent is in no input) with its children, in start
    /// order; children are found by local parent or, across contexts and nodes, by span id.
    /// Also how many spans no root reaches (parents naming each other in a cycle: damaged or
    /// colliding ids), which the views report.
    pub fn traces(&self) -> (Vec<Trace>, usize) {
        let by_id = span_ids(&self.nodes);
        let by_uid: Vec<FxHashMap<u64, usize>> =
            self.nodes.iter().map(|n| n.spans.iter().enumerate().map(|(i, s)| (s.uid, i)).collect()).collect();
        let mut children: FxHashMap<At, Vec<At>> = FxHashMap::default();
        let mut roots = Vec::new();
        for (ni, node) in self.nodes.iter().enumerate() {
            for (si, s) in node.spans.iter().enumerate() {
                let parent = by_uid[ni].get(&s.local_parent).map(|&i| (ni, i)).filter(|_| s.link.parent_id == 0);
                let parent = parent.or_else(|| by_id.get(&s.link.parent_id).copied().filter(|&p| p != (ni, si)));
                match parent {
                    Some(p) => children.entry(p).or_default().push((ni, si)),
                    None => roots.push((ni, si)),
                }
            }
        }
        let start = |&(n, i): &At| self.times(&self.nodes[n].spans[i]).0;
        for list in children.values_mut() {
            list.sort_by_key(start);
        }
        roots.sort_by_key(start);
        let mut traces: Vec<Trace> = Vec::new();
        let mut index: FxHashMap<u128, usize> = FxHashMap::default();
        for r in roots {
            let s = &self.nodes[r.0].spans[r.1];
            let t = *index.entry(s.link.trace_id).or_insert_with(|| {
                traces.push(Trace { id: s.link.trace_id, roots: Vec::new() });
                traces.len() - 1
            });
            traces[t].roots.push(build(r, &children));
        }
        let total: usize = self.nodes.iter().map(|n| n.spans.len()).sum();
        let mut placed = 0;
        let mut stack: Vec<&Tree> = traces.iter().flat_map(|t| &t.roots).collect();
        while let Some(t) = stack.pop() {
            placed += 1;
            stack.extend(&t.children);
        }
        (traces, total - placed)
    }

    /// The span at `at`.
    pub fn span(&self, at: At) -> &JSpan {
        &self.nodes[at.0].spans[at.1]
    }

    /// (parent, child) pairs that a node's own nesting does not show: the parent, found by span
    /// id, is in another node or another context. Exports draw them as flows.
    pub fn cross_links(&self) -> Vec<(At, At)> {
        let by_id = span_ids(&self.nodes);
        let mut links = Vec::new();
        for (ni, node) in self.nodes.iter().enumerate() {
            for (si, c) in node.spans.iter().enumerate() {
                let Some(&p) = (c.link.parent_id != 0).then(|| by_id.get(&c.link.parent_id)).flatten() else {
                    continue;
                };
                if p.0 != ni || self.span(p).ctx_id != c.ctx_id {
                    links.push((p, (ni, si)));
                }
            }
        }
        links
    }
}

/// `t` shifted by an offset and a drift `(ns per ns, from time t0)`.
fn at(offset: i128, (b, t0): (f64, i128), t: i128) -> i128 {
    t + offset + (b * (t - t0) as f64) as i128
}

/// Offset at `t0`, drift and error of node `j` from its pairs with placed nodes, when no
/// constant offset fits: the drift is the least-squares slope of the pairs' middles over time;
/// the offset the middle of what the bounds allow once the drift is taken out. `None` if fewer
/// than three pairs, or if even a drifting clock cannot satisfy them all.
fn fit_drift(
    j: usize,
    raw: &[(usize, usize, &JSpan, &JSpan)],
    known: &[bool],
    offsets: &[i128],
    drift: &[(f64, i128)],
) -> Option<(i128, f64, i128, u64)> {
    // Per pair: (node j time, lower bound or upper bound on j's offset there).
    let (mut lower, mut upper, mut mids) = (Vec::new(), Vec::new(), Vec::new());
    for &(c, p, cs, ps) in raw {
        let (lo, hi) = if c == j && known[p] {
            let (s, e) = (at(offsets[p], drift[p], ps.start), at(offsets[p], drift[p], ps.end));
            ((cs.start, s - cs.start), (cs.end, e - cs.end))
        } else if p == j && known[c] {
            // The parent is on j: its start bounds j's offset from above, its end from below.
            let (s, e) = (at(offsets[c], drift[c], cs.start), at(offsets[c], drift[c], cs.end));
            ((ps.end, e - ps.end), (ps.start, s - ps.start))
        } else {
            continue;
        };
        mids.push(((lo.0 + hi.0) as f64 / 2.0, (lo.1 + hi.1) as f64 / 2.0));
        lower.push(lo);
        upper.push(hi);
    }
    if mids.len() < 3 {
        return None;
    }
    let n = mids.len() as f64;
    let (mt, mo) = (mids.iter().map(|m| m.0).sum::<f64>() / n, mids.iter().map(|m| m.1).sum::<f64>() / n);
    let var: f64 = mids.iter().map(|m| (m.0 - mt) * (m.0 - mt)).sum();
    if var <= 0.0 {
        return None;
    }
    let b = mids.iter().map(|m| (m.0 - mt) * (m.1 - mo)).sum::<f64>() / var;
    let t0 = mt as i128;
    let shift = |&(t, bound): &(i128, i128)| bound - (b * (t - t0) as f64) as i128;
    let lo = lower.iter().map(shift).max()?;
    let hi = upper.iter().map(shift).min()?;
    (lo <= hi).then(|| (lo + (hi - lo) / 2, b, t0, ((hi - lo) / 2) as u64))
}

/// One distributed trace: its id and its root spans (usually one).
pub struct Trace {
    /// Trace id (0: unknown).
    pub id: u128,
    /// Root spans and their subtrees.
    pub roots: Vec<Tree>,
}

/// A span and its children.
pub struct Tree {
    /// The span.
    pub at: (usize, usize),
    /// Its children, in start order.
    pub children: Vec<Tree>,
}

fn build(at: At, children: &FxHashMap<At, Vec<At>>) -> Tree {
    // Iterative over the depth: a deep chain must not overflow the stack.
    let mut stack = vec![(at, Vec::new(), 0usize)];
    loop {
        let (cur, _, next) = stack.last_mut().expect("not empty");
        let list = children.get(cur).map_or(&[][..], Vec::as_slice);
        if *next < list.len() {
            let child = list[*next];
            *next += 1;
            stack.push((child, Vec::new(), 0));
            continue;
        }
        let (cur, done, _) = stack.pop().expect("not empty");
        let tree = Tree { at: cur, children: done };
        match stack.last_mut() {
            Some((_, siblings, _)) => siblings.push(tree),
            None => return tree,
        }
    }
}

/// Every span with an own id, by id (the first one; a repeated id is a generator problem the
/// tree shows as one parent).
fn span_ids(nodes: &[Node]) -> FxHashMap<u64, At> {
    let mut m = FxHashMap::default();
    for (ni, node) in nodes.iter().enumerate() {
        for (si, s) in node.spans.iter().enumerate() {
            if s.link.span_id != 0 {
                m.entry(s.link.span_id).or_insert((ni, si));
            }
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(node: usize, uid: u64, name: &str, start: i128, end: i128, id: u64, parent_id: u64) -> JSpan {
        let link = SpanLink { trace_id: 7, span_id: id, parent_id, remote: parent_id != 0, ..SpanLink::default() };
        let (name, ctx) = (name.into(), "main".into());
        JSpan { node, name, ctx, ctx_id: 0, start, end, self_ns: 0, link, local_parent: 0, uid, unfinished: false }
    }

    fn node(name: &str, anchor: Option<i128>, spans: Vec<JSpan>) -> Node {
        Node { name: name.into(), anchor, spans, real_clock: true, ..Node::default() }
    }

    #[test]
    fn a_node_without_wall_clock_is_placed_between_its_parents_bounds() {
        // Gateway (wall clock at +1000): a call from 100 to 200. The device, whose clock reads
        // 5000 when the call starts + 20, handles it from 5020 to 5070: offset in
        // [100 - 5020, 200 - 5070] + 1000 = [-3920, -3870], middle -3895 ± 25.
        let gw = node("gw", Some(1000), vec![span(0, 1, "call", 100, 200, 11, 0)]);
        let dev = node("dev", None, vec![span(1, 1, "handle", 5020, 5070, 21, 11)]);
        let j = Joined::new(vec![gw, dev]);
        assert_eq!(j.alignment[1], Alignment::Causality { pairs: 1, error: 25, anchor_off: None });
        assert_eq!(j.offsets, [1000, -3895]);
        let (s, e) = j.times(&j.nodes[1].spans[0]);
        assert!(1100 <= s && e <= 1200);
        let (t, unplaced) = j.traces();
        assert_eq!((t.len(), unplaced), (1, 0));
        assert_eq!(t[0].roots.len(), 1);
        assert_eq!(t[0].roots[0].children[0].at, (1, 0), "the device's span under the call");
    }

    #[test]
    fn a_wrong_wall_clock_is_corrected_and_contradictions_are_reported() {
        let gw =
            || node("gw", Some(0), vec![span(0, 1, "call", 100, 200, 11, 0), span(0, 2, "call2", 300, 310, 12, 0)]);
        // Its anchor says +500, causality [-20, 20]: corrected to the middle, 0.
        let be = node("be", Some(500), vec![span(1, 1, "h", 120, 180, 21, 11)]);
        let j = Joined::new(vec![gw(), be]);
        assert_eq!(j.alignment[1], Alignment::Causality { pairs: 1, error: 20, anchor_off: Some(500) });
        // Two pairs that cannot both hold: the second wants offset ≥ 290 - 100.
        let bad = node("be", None, vec![span(1, 1, "h", 120, 180, 21, 11), span(1, 2, "h2", 100, 105, 22, 12)]);
        let j = Joined::new(vec![gw(), bad]);
        assert!(matches!(j.alignment[1], Alignment::Inconsistent { pairs: 2, .. }), "{:?}", j.alignment[1]);
        // No anchor, no pair: said, not guessed.
        let lone = node("lone", None, vec![span(1, 1, "x", 0, 5, 31, 0)]);
        let j = Joined::new(vec![gw(), lone]);
        assert_eq!(j.alignment[1], Alignment::Impossible);
    }

    #[test]
    fn a_parent_node_is_placed_from_its_child() {
        // The reference is the child here (first with an anchor): the parent node is placed
        // by the bounds seen from the other side.
        let dev = node("dev", None, vec![span(0, 1, "call", 0, 100, 11, 0)]);
        let srv = node("srv", Some(0), vec![span(1, 1, "h", 1000, 1040, 21, 11)]);
        let j = Joined::new(vec![dev, srv]);
        assert_eq!(j.alignment[1], Alignment::Reference);
        // 1000 >= 0 + o and 1040 <= 100 + o: o in [940, 1000].
        assert_eq!(
            (j.offsets[0], j.alignment[0].clone()),
            (970, Alignment::Causality { pairs: 1, error: 30, anchor_off: None })
        );
    }

    #[test]
    fn spans_whose_parents_form_a_cycle_are_counted_not_lost() {
        let a = node("a", Some(0), vec![span(0, 1, "x", 0, 10, 11, 22), span(0, 2, "ok", 20, 30, 33, 0)]);
        let b = node("b", None, vec![span(1, 1, "y", 0, 10, 22, 11)]);
        let (t, unplaced) = Joined::new(vec![a, b]).traces();
        assert_eq!((t.len(), unplaced), (1, 2));
    }

    #[test]
    fn a_drifting_clock_is_fitted_when_no_constant_offset_fits() {
        // The device's clock runs 100 ppm fast and started 7 ms off: over five calls 2 s apart
        // it gains 800 µs, more than the 200 µs of slack each call leaves on either side.
        let local = |gw: i128| gw + gw / 10_000 + 7_000_000;
        let (mut calls, mut handles) = (Vec::new(), Vec::new());
        for k in 0..5u64 {
            let t = k as i128 * 2_000_000_000;
            calls.push(span(0, k + 1, "call", t, t + 1_000_000, 100 + k, 0));
            handles.push(span(1, k + 1, "handle", local(t + 200_000), local(t + 800_000), 200 + k, 100 + k));
        }
        let j = Joined::new(vec![node("gw", Some(0), calls), node("dev", None, handles)]);
        let Alignment::Drift { pairs: 5, error, ppm } = j.alignment[1] else { panic!("{:?}", j.alignment[1]) };
        assert!((ppm + 100.0).abs() < 1.0, "{ppm} ppm");
        assert!(error < 250_000, "{error}");
        for (c, h) in j.nodes[0].spans.iter().zip(&j.nodes[1].spans) {
            let ((cs, ce), (hs, he)) = (j.times(c), j.times(h));
            assert!(cs <= hs && he <= ce, "call {cs}..{ce}, handle {hs}..{he}");
        }
        // The drift is fitted only when no constant offset fits: the first two calls, 2 s apart,
        // still leave room for one.
        let two = |k: usize| {
            let mut n = vec![node("gw", Some(0), vec![]), node("dev", None, vec![])];
            n[0].spans = j.nodes[0].spans[..k].to_vec();
            n[1].spans = j.nodes[1].spans[..k].to_vec();
            Joined::new(n).alignment[1].clone()
        };
        assert!(matches!(two(2), Alignment::Causality { pairs: 2, .. }), "{:?}", two(2));
    }
}
