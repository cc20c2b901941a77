//! Folded stacks (`context;outer;inner self_time`), the input of flamegraph.pl and inferno, and
//! a flame-graph SVG drawn from them with `inferno`.
//!
//! Self time (in ns, or ticks without a clock frequency) is summed per call path in a trie
//! that grows with the number of distinct paths, not with the trace. Interrupt time is
//! excluded from the spans it interrupted and appears under the ISR's own context instead, so
//! nothing is counted twice.

use crate::model::{Meta, NameId, Span, SpanKind, Visitor};
use rustc_hash::FxHashMap;
use std::io::{self, Write};

/// Most distinct call paths kept; further paths are counted into their deepest kept prefix.
const MAX_NODES: usize = 1 << 20;

struct Node {
    name: NameId,
    value: u64,
    children: Vec<u32>,
}

/// Aggregates self time by call path.
#[derive(Default)]
pub struct Folded {
    nodes: Vec<Node>,
    roots: FxHashMap<u32, u32>,
}

/// Context key of manual spans (their parents may run anywhere).
const MANUAL: u32 = u32::MAX;

impl Folded {
    fn child(&mut self, parent: u32, name: NameId) -> u32 {
        if let Some(&c) = self.nodes[parent as usize].children.iter().find(|&&c| self.nodes[c as usize].name == name) {
            return c;
        }
        if self.nodes.len() >= MAX_NODES {
            return parent;
        }
        let i = self.nodes.len() as u32;
        self.nodes.push(Node { name, value: 0, children: Vec::new() });
        self.nodes[parent as usize].children.push(i);
        i
    }

    /// The folded lines, sorted (what inferno expects), values in ns or ticks.
    pub(crate) fn lines(&self, meta: &Meta) -> Vec<String> {
        self.paths(meta).into_iter().map(|(p, v)| format!("{p} {v}")).collect()
    }

    /// (path, value) pairs, sorted by path.
    fn paths(&self, meta: &Meta) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut roots: Vec<(u32, u32)> = self.roots.iter().map(|(&k, &v)| (k, v)).collect();
        roots.sort();
        for (ctx, root) in roots {
            let title = if ctx == MANUAL { "manual spans".to_string() } else { meta.ctx_name(ctx) };
            let mut stack = vec![sanitize(&title)];
            self.walk(meta, root, &mut stack, &mut out);
        }
        out.sort();
        out
    }

    fn walk(&self, meta: &Meta, i: u32, stack: &mut Vec<String>, out: &mut Vec<(String, u64)>) {
        for &c in &self.nodes[i as usize].children {
            let n = &self.nodes[c as usize];
            stack.push(sanitize(meta.names.name(n.name)));
            if n.value > 0 {
                out.push((stack.join(";"), n.value));
            }
            self.walk(meta, c, stack, out);
            stack.pop();
        }
    }

    /// Writes folded stacks, one path per line.
    pub fn write(&self, meta: &Meta, w: &mut impl Write) -> io::Result<()> {
        for l in self.lines(meta) {
            writeln!(w, "{l}")?;
        }
        w.flush()
    }

    /// Draws a flame graph SVG.
    pub fn write_svg(&self, meta: &Meta, title: &str, w: &mut impl Write) -> io::Result<()> {
        let mut paths = self.paths(meta);
        // inferno sums counts in a usize: scale absurd totals (garbage clocks) down to fit.
        let total: u128 = paths.iter().map(|p| p.1 as u128).sum();
        let scale = total.div_ceil(1 << 52).max(1) as u64;
        paths.retain_mut(|p| {
            p.1 /= scale;
            p.1 > 0
        });
        let lines: Vec<String> = paths.into_iter().map(|(p, v)| format!("{p} {v}")).collect();
        let mut opts = inferno::flamegraph::Options::default();
        opts.title = title.to_string();
        opts.count_name = if meta.clock.is_real() { "ns".into() } else { "ticks".into() };
        if lines.is_empty() {
            // inferno refuses an empty graph; an empty trace still gets a valid SVG.
            opts.subtitle = Some("no spans".into());
            return inferno::flamegraph::from_lines(&mut opts, ["(no spans) 1"].iter().copied(), w)
                .map_err(io::Error::other);
        }
        inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), w).map_err(io::Error::other)
    }
}

/// Frame names may not contain the separators of the folded format.
fn sanitize(s: &str) -> String {
    s.replace([';', '\n'], "_").replace(' ', "\u{a0}")
}

impl Visitor for Folded {
    fn close(&mut self, meta: &Meta, s: &Span, path: &[NameId]) {
        let key = if s.kind == SpanKind::Manual { MANUAL } else { s.ctx };
        let root = match self.roots.get(&key) {
            Some(&r) => r,
            None => {
                let r = self.nodes.len() as u32;
                self.nodes.push(Node { name: 0, value: 0, children: Vec::new() });
                self.roots.insert(key, r);
                r
            }
        };
        let mut at = root;
        for &p in path.iter().chain(std::iter::once(&s.name)) {
            at = self.child(at, p);
        }
        let n = &mut self.nodes[at as usize];
        n.value = n.value.saturating_add(meta.clock.to_ns(s.self_ticks));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{CallsiteKind, Item, Kind::*};
    use crate::model::tests::{def, header, rec};
    use crate::model::Timeline;

    #[test]
    fn folds_self_time_by_path_and_draws_svg() {
        let items = [
            header(1_000_000_000),
            def(0x10, "a b", CallsiteKind::Span),
            def(0x20, "c;d", CallsiteKind::Span),
            Item::Context { ctx: 0, name: "main" },
            rec(0, 0, SpanEnter, 0x10, 0, 0),
            rec(0, 10, SpanEnter, 0x20, 0, 0),
            rec(0, 30, SpanExit, 0x20, 0, 0),
            rec(0, 100, SpanExit, 0x10, 0, 0),
            rec(0, 100, SpanEnter, 0x10, 0, 0),
            rec(0, 101, SpanEnter, 0x20, 0, 0),
            rec(0, 102, SpanExit, 0x20, 0, 0),
            rec(0, 110, SpanExit, 0x10, 0, 0),
        ];
        let mut t = Timeline::new(4);
        let mut f = Folded::default();
        for i in items {
            t.push(i, &mut f);
        }
        t.finish(&mut f);
        assert_eq!(f.lines(&t.meta), vec!["main;a\u{a0}b 89", "main;a\u{a0}b;c_d 21"]);
        let mut svg = Vec::new();
        f.write_svg(&t.meta, "test", &mut svg).unwrap();
        let svg = String::from_utf8(svg).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("c_d"), "{}", &svg[..200.min(svg.len())]);
    }
}
