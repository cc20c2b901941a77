//! Trace context of spans, from link records: which trace a span belongs to, its own id and
//! its parent's id when the parent is in another context, thread or node.
//!
//! Link records (`tickspan::trace_context`) follow the enter of the span they describe. A span
//! without links takes the trace of its parent (not an interrupt handler's: a handler works for
//! no request); a `link_child` parent names a span by id, whose trace is found among the open
//! spans of the stream or, across nodes, by the join (`crate::join`).

use rustc_hash::FxHashMap;
use tickspan::trace_context::LinkField;

/// A span's place in a distributed trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanLink {
    /// 128-bit trace id; 0 while unknown (a `link_child` whose parent is not open here).
    pub trace_id: u128,
    /// The span's own id as it was injected downstream; 0 when none was recorded.
    pub span_id: u64,
    /// The parent's id when the parent was named by id (remote or another context); else 0
    /// and the parent is the span's parent in the timeline.
    pub parent_id: u64,
    /// W3C trace flags (sampled, random trace id).
    pub flags: u8,
    /// The parent was extracted from a request (`link_remote`): another process or device.
    pub remote: bool,
    /// The trace id is the parent's (no trace id of its own was recorded).
    pub inherited: bool,
}

/// The links of the spans open now, by uid, and the traces of open spans by their own id.
#[derive(Default)]
pub struct Links {
    by_uid: FxHashMap<u64, SpanLink>,
    by_id: FxHashMap<u64, u128>,
    /// Link records found for a span that had that field already, or with no span open.
    pub stray: u64,
}

impl Links {
    /// Whether no open span is in a trace (the timeline skips the lookups then).
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }

    /// The link of open span `uid`.
    pub fn get(&self, uid: u64) -> Option<&SpanLink> {
        self.by_uid.get(&uid)
    }

    /// A span opened under `parent`: it joins the parent's trace.
    pub(crate) fn inherit(&mut self, uid: u64, parent: u64) {
        if let Some(p) = self.by_uid.get(&parent) {
            let l = SpanLink { trace_id: p.trace_id, flags: p.flags, inherited: true, ..SpanLink::default() };
            self.by_uid.insert(uid, l);
        }
    }

    /// A link record of field `field` with flags and value `v`, for open span `uid` (0: none).
    pub(crate) fn record(&mut self, uid: u64, field: LinkField, flags: u8, v: u64) {
        if uid == 0 {
            self.stray += 1;
            return;
        }
        let l = self.by_uid.entry(uid).or_default();
        l.flags = flags;
        let ok = match field {
            // The span's own trace id (it replaces an inherited one: a new trace under a span).
            LinkField::TraceHi if l.inherited || l.trace_id == 0 => {
                (l.trace_id, l.inherited) = ((v as u128) << 64, false);
                true
            }
            LinkField::TraceLo if !l.inherited && l.trace_id as u64 == 0 => {
                l.trace_id |= v as u128;
                true
            }
            LinkField::Parent if l.parent_id == 0 => {
                l.parent_id = v;
                // Trace fields before the parent: `link_remote`, a parent in another process.
                // Without them (`link_child`) the parent is a span of this node.
                l.remote = !l.inherited && l.trace_id != 0;
                if !l.remote {
                    if let Some(&t) = self.by_id.get(&v) {
                        (l.trace_id, l.inherited) = (t, true);
                    }
                }
                true
            }
            LinkField::SpanId if l.span_id == 0 => {
                l.span_id = v;
                if l.trace_id != 0 {
                    self.by_id.insert(v, l.trace_id);
                }
                true
            }
            _ => false,
        };
        if !ok {
            self.stray += 1;
        }
    }

    /// Open span `uid` closed: its link is forgotten (visitors have had it).
    #[inline(always)]
    pub(crate) fn close(&mut self, uid: u64) {
        if let Some(l) = self.by_uid.remove(&uid) {
            if l.span_id != 0 {
                self.by_id.remove(&l.span_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherits_joins_by_id_and_counts_what_it_cannot_attach() {
        let mut l = Links::default();
        l.record(1, LinkField::TraceHi, 1, 0xaa);
        l.record(1, LinkField::TraceLo, 1, 0xbb);
        l.record(1, LinkField::Parent, 1, 0x77);
        l.record(1, LinkField::SpanId, 1, 0x11);
        let root = *l.get(1).unwrap();
        assert_eq!((root.trace_id, root.parent_id, root.span_id, root.remote), (0xaa << 64 | 0xbb, 0x77, 0x11, true));
        // A child inherits; a span elsewhere finds the trace through its parent's id.
        l.inherit(2, 1);
        assert_eq!((l.get(2).unwrap().trace_id, l.get(2).unwrap().inherited), (root.trace_id, true));
        l.record(3, LinkField::Parent, 1, 0x11);
        assert_eq!((l.get(3).unwrap().trace_id, l.get(3).unwrap().remote), (root.trace_id, false));
        assert_eq!(l.stray, 0);
        // No span open, and a field given twice: counted.
        l.record(0, LinkField::SpanId, 1, 0x22);
        l.record(1, LinkField::SpanId, 1, 0x33);
        assert_eq!((l.stray, l.get(1).unwrap().span_id), (2, 0x11));
        l.close(1);
        l.close(2);
        l.close(3);
        assert!(l.is_empty());
    }
}
