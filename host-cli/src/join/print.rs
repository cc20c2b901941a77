//! `tickspan tree` over several inputs: how each node was aligned, then one tree per trace.

use super::{Alignment, JSpan, Joined, Tree};
use crate::units::format_ns;
use serde_json::{json, Value};
use std::io::{self, Write};

fn dur(ns: u128, real: bool) -> String {
    let ns = ns.min(u64::MAX as u128) as u64;
    if real {
        format_ns(ns)
    } else {
        crate::units::count(ns, "tick")
    }
}

/// What the alignment of a node means, for a person.
pub fn describe(a: &Alignment, wall: bool) -> String {
    let base = if wall { "wall clock" } else { "the first input's clock" };
    match a {
        Alignment::Reference => format!("reference ({base})"),
        Alignment::Anchor { pairs: 0, .. } => "wall clock (no parent/child pair checks it)".into(),
        Alignment::Anchor { pairs, error } => format!(
            "wall clock, within the bounds of {} (±{})",
            crate::units::count(*pairs as u64, "parent/child pair"),
            format_ns(error.unwrap_or(0))
        ),
        Alignment::Causality { pairs, error, anchor_off } => {
            let mut s = format!(
                "aligned to {base} by {}: ±{}",
                crate::units::count(*pairs as u64, "parent/child pair"),
                format_ns(*error)
            );
            if let Some(off) = anchor_off {
                s += &format!(
                    " (its wall clock was off by {}{}: corrected)",
                    if *off < 0 { "-" } else { "+" },
                    format_ns(off.unsigned_abs().min(u64::MAX as u128) as u64)
                );
            }
            s
        }
        Alignment::Drift { pairs, error, ppm } => format!(
            "aligned to {base} by {}, with a clock drift of {ppm:+.1} ppm: ±{}",
            crate::units::count(*pairs as u64, "parent/child pair"),
            format_ns(*error)
        ),
        Alignment::Inconsistent { pairs, by } => format!(
            "NOT aligned exactly: its {} contradict each other by {} even with a drift fitted (misdated \
             records?); times are the middle of the bounds",
            crate::units::count(*pairs as u64, "parent/child pair"),
            format_ns(*by)
        ),
        Alignment::Impossible => {
            "cannot be aligned: no wall-clock anchor and no span linked to an aligned node; its times are its own"
                .into()
        }
    }
}

/// Duration of the span's children that ran on other nodes (their time is not its own).
fn remote_children(j: &Joined, t: &Tree) -> u128 {
    let s = j.span(t.at);
    let d = |c: &Tree| {
        let c = j.span(c.at);
        (c.end - c.start).max(0) as u128
    };
    t.children.iter().filter(|c| c.at.0 != s.node).map(d).sum()
}

/// Time between a cross-node parent's and child's ends and starts: on the wire and in the
/// callee before and after its span.
fn wire(parent: &JSpan, child: &JSpan) -> Option<u128> {
    (parent.node != child.node).then(|| ((parent.end - parent.start) - (child.end - child.start)).max(0) as u128)
}

/// The text report.
pub fn write_text(j: &Joined, out: &mut impl Write) -> io::Result<()> {
    let real = j.nodes.iter().all(|n| n.real_clock);
    writeln!(out, "nodes:")?;
    let width = j.nodes.iter().map(|n| n.name.len()).max().unwrap_or(0);
    for (n, a) in j.nodes.iter().zip(&j.alignment) {
        writeln!(out, "  {:width$}  {}", n.name, describe(a, j.wall))?;
    }
    let (traces, unplaced) = j.traces();
    for t in &traces {
        let mut spans = 0;
        let mut nodes = std::collections::BTreeSet::new();
        let mut stack: Vec<&Tree> = t.roots.iter().collect();
        while let Some(x) = stack.pop() {
            spans += 1;
            nodes.insert(x.at.0);
            stack.extend(&x.children);
        }
        let id = if t.id == 0 { "(unknown id)".to_string() } else { format!("{:032x}", t.id) };
        writeln!(
            out,
            "\ntrace {id}: {}, {}",
            crate::units::count(nodes.len() as u64, "node"),
            crate::units::count(spans, "span")
        )?;
        for root in &t.roots {
            let s = j.span(root.at);
            if s.link.parent_id != 0 {
                writeln!(out, "  ← remote parent {:016x} (in none of these inputs)", s.link.parent_id)?;
            }
            let mut stack = vec![(root, 1usize, None::<&JSpan>)];
            while let Some((x, depth, parent)) = stack.pop() {
                let s = j.span(x.at);
                let own = (s.self_ns as u128).saturating_sub(remote_children(j, x));
                write!(
                    out,
                    "{:indent$}{}  {}  self {}  [{} · {}]",
                    "",
                    s.name,
                    dur((s.end - s.start).max(0) as u128, real),
                    dur(own, real),
                    j.nodes[s.node].name,
                    s.ctx,
                    indent = depth * 2
                )?;
                if let Some(w) = parent.and_then(|p| wire(p, s)) {
                    write!(out, "  wire {}", dur(w, real))?;
                }
                if s.unfinished {
                    write!(out, "  (unfinished)")?;
                }
                writeln!(out)?;
                for c in x.children.iter().rev() {
                    stack.push((c, depth + 1, Some(s)));
                }
            }
        }
    }
    let untraced: u64 = j.nodes.iter().map(|n| n.untraced).sum();
    if traces.is_empty() {
        writeln!(out, "\nno span of these inputs is part of a distributed trace (no link records)")?;
    }
    if unplaced > 0 {
        writeln!(
            out,
            "\n⚠ {} not shown: their parents name each other in a cycle (damaged or repeated span ids)",
            crate::units::count(unplaced as u64, "span")
        )?;
    }
    if untraced > 0 {
        writeln!(
            out,
            "\n{} not part of any trace (tickspan tree FILE shows them)",
            crate::units::count(untraced, "span")
        )?;
    }
    Ok(())
}

fn span_json(j: &Joined, t: &Tree, parent: Option<&JSpan>) -> Value {
    let s = j.span(t.at);
    let (start, end) = j.times(s);
    let mut v = json!({
        "name": &*s.name,
        "node": j.nodes[s.node].name,
        "context": &*s.ctx,
        "start_ns": start.to_string(),
        "duration_ns": (end - start).max(0) as u64,
        "self_ns": (s.self_ns as u128).saturating_sub(remote_children(j, t)) as u64,
        "unfinished": s.unfinished,
        "children": t.children.iter().map(|c| span_json(j, c, Some(s))).collect::<Vec<_>>(),
    });
    if s.link.span_id != 0 {
        v["span_id"] = json!(format!("{:016x}", s.link.span_id));
    }
    if s.link.parent_id != 0 {
        v["parent_span_id"] = json!(format!("{:016x}", s.link.parent_id));
        v["remote_parent"] = json!(s.link.remote);
    }
    if let Some(w) = parent.and_then(|p| wire(p, s)) {
        v["wire_ns"] = json!(w as u64);
    }
    v
}

/// The JSON report: nodes with their alignment, traces with their trees.
pub fn write_json(j: &Joined, out: &mut impl Write) -> io::Result<()> {
    let nodes: Vec<Value> = j
        .nodes
        .iter()
        .zip(&j.alignment)
        .zip(&j.offsets)
        .map(|((n, a), o)| {
            json!({"name": n.name, "offset_ns": o.to_string(), "alignment": format!("{a:?}"),
                "drift_ppm": match a { Alignment::Drift { ppm, .. } => *ppm, _ => 0.0 },
                "aligned": !matches!(a, Alignment::Impossible | Alignment::Inconsistent { .. }),
                "describe": describe(a, j.wall), "untraced_spans": n.untraced, "dropped_spans": n.dropped})
        })
        .collect();
    let (traces, unplaced) = j.traces();
    let traces: Vec<Value> = traces
        .iter()
        .map(|t| json!({"trace_id": format!("{:032x}", t.id), "roots": t.roots.iter().map(|r| span_json(j, r, None)).collect::<Vec<_>>()}))
        .collect();
    serde_json::to_writer(
        &mut *out,
        &json!({"wall_clock": j.wall, "nodes": nodes, "traces": traces, "unplaced_spans": unplaced}),
    )?;
    writeln!(out)
}
