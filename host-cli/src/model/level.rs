//! The host's level filter (`--level`): events and values of callsites below the level are not
//! shown, their fields and arguments with them, and are counted so the CLI can say how many it
//! hid. Spans are always shown (hiding one would re-parent its children). A callsite with no
//! known level is shown.

use super::{Mark, MarkKind, Meta, NameId, Names, Span, Visitor};
use crate::item::{CallsiteKind, Item, Kind, Level};
use rustc_hash::FxHashMap;

/// Whether callsite `name` is below `min`.
fn below(names: &Names, name: NameId, min: Level) -> bool {
    names.info(name).level.is_some_and(|l| l < min)
}

/// A visitor that passes on what is at or above a level (all of it without one).
pub struct LevelFilter<'a, V> {
    /// The visitor given what is shown.
    pub v: &'a mut V,
    min: Option<Level>,
    /// Events and values hidden.
    pub hidden: u64,
}

impl<'a, V> LevelFilter<'a, V> {
    /// Filters what reaches `v` by `min`.
    pub fn new(v: &'a mut V, min: Option<Level>) -> Self {
        LevelFilter { v, min, hidden: 0 }
    }
}

impl<V: Visitor> Visitor for LevelFilter<'_, V> {
    #[inline(always)]
    fn open(&mut self, meta: &Meta, span: &Span) {
        self.v.open(meta, span)
    }

    #[inline(always)]
    fn close(&mut self, meta: &Meta, span: &Span, path: &[NameId]) {
        self.v.close(meta, span, path)
    }

    #[inline(always)]
    fn mark(&mut self, meta: &Meta, mark: &Mark) {
        if let Some(min) = self.min {
            // An event's fields were attached to it: they go with it.
            if matches!(mark.kind, MarkKind::Event | MarkKind::Value(_)) && below(&meta.names, mark.name, min) {
                self.hidden += 1;
                return;
            }
        }
        self.v.mark(meta, mark)
    }
}

/// The same filter over raw records, for `dump`: an event or value record below the level is
/// hidden, and so are the field and argument records right after it in its context.
#[derive(Default)]
pub struct RecordFilter {
    min: Option<Level>,
    /// Per context: the callsite of the hidden record whose fields may follow.
    hiding: FxHashMap<u32, NameId>,
    /// Events and values hidden (their fields not counted).
    pub hidden: u64,
}

impl RecordFilter {
    /// Hides by `min` (nothing without one).
    pub fn new(min: Option<Level>) -> Self {
        RecordFilter { min, ..Default::default() }
    }

    /// Whether `item` is hidden (callsites must have been defined in `names` before).
    pub fn hides(&mut self, names: &mut Names, item: &Item<'_>) -> bool {
        let Some(min) = self.min else { return false };
        match *item {
            Item::Record { ctx, kind, callsite, .. } => {
                let name = names.intern(callsite);
                let value = matches!(kind, Kind::ValueU | Kind::ValueI | Kind::ValueF | Kind::Field);
                if let Some(&of) = self.hiding.get(&ctx) {
                    let field = names.info(name).kind == Some(CallsiteKind::Field) || name == of;
                    if value && field {
                        return true;
                    }
                    self.hiding.remove(&ctx);
                }
                // A format's argument goes with its record (a span's are shown with it).
                let annotation = matches!(names.info(name).kind, Some(CallsiteKind::Field | CallsiteKind::Status))
                    || value && names.info(name).kind == Some(CallsiteKind::Format);
                if (kind == Kind::Event || value) && !annotation && below(names, name, min) {
                    self.hiding.insert(ctx, name);
                    self.hidden += 1;
                    return true;
                }
                false
            }
            Item::Loss { ctx, .. } => {
                self.hiding.remove(&ctx);
                false
            }
            Item::Skipped { .. } | Item::Header(_) => {
                self.hiding.clear();
                false
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::CallsiteInfo;
    use crate::model::tests::rec;

    #[test]
    fn a_formatted_event_hides_with_its_arguments_and_a_span_keeps_them() {
        let mut names = Names::default();
        for (id, name, level) in [(0x10, "retry {} of {}", Level::Debug), (0x20, "handle {}", Level::Debug)] {
            names.define(&CallsiteInfo { id, kind: CallsiteKind::Format, level, line: 1, name, file: "" });
        }
        let mut f = RecordFilter::new(Some(Level::Info));
        let shown: Vec<bool> = [
            rec(0, 1, Kind::Event, 0x10, 0, 0),
            rec(0, 2, Kind::ValueU, 0x10, 3, 0),
            rec(0, 3, Kind::ValueU, 0x10, 5, 0),
            rec(0, 4, Kind::SpanEnter, 0x20, 0, 0),
            rec(0, 5, Kind::ValueU, 0x20, 7, 0),
            rec(0, 6, Kind::SpanExit, 0x20, 0, 0),
        ]
        .iter()
        .map(|i| !f.hides(&mut names, i))
        .collect();
        assert_eq!(shown, [false, false, false, true, true, true]);
        assert_eq!(f.hidden, 1);
    }
}
