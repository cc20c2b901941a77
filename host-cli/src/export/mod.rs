//! Exports for other tools: Perfetto's protobuf trace, Chrome trace-event JSON, OpenTelemetry
//! OTLP/JSON (to a file, or pushed to a collector over OTLP/HTTP: [`push`]), folded stacks and
//! flame-graph SVG. Each is a [`Visitor`](crate::model::Visitor) that streams its
//! output (or, for folded stacks, aggregates by call path) instead of keeping the trace.

pub mod chrome;
pub mod folded;
pub mod otlp;
pub mod perfetto;
pub mod push;

use std::io;

/// A JSON string literal.
pub(crate) fn js(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialize")
}

/// Keeps the first write error of a streaming export (later writes are skipped).
#[derive(Default)]
pub(crate) struct Errors(pub Option<io::Error>);

impl Errors {
    pub fn keep(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.0.get_or_insert(e);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::item::{CallsiteKind, Item, Kind::*};
    use crate::model::tests::{def, header, rec};

    /// One recording for the exports' tests (1 MHz): `outer { in"ner { • depth = 3 } }` on
    /// context 0, the manual span `req` and its child `io` both ended on context 1, a loss of 4
    /// records, and task 9 polled on contexts 0 and 1.
    pub fn sample() -> Vec<Item<'static>> {
        vec![
            header(1_000_000),
            def(0x10, "outer", CallsiteKind::Span),
            def(0x20, "in\"ner", CallsiteKind::Span),
            def(0x30, "depth", CallsiteKind::ValueU64),
            def(0x40, "req", CallsiteKind::Span),
            def(0x50, "io", CallsiteKind::Span),
            def(0x60, "poll", CallsiteKind::Task),
            Item::Context { ctx: 0, name: "main" },
            rec(0, 1000, SpanEnter, 0x10, 0, 0),
            rec(0, 1010, SpanEnter, 0x20, 0, 0),
            rec(0, 1011, ValueU, 0x30, 3, 0),
            rec(0, 1020, SpanExit, 0x20, 0, 0),
            rec(0, 1030, SpanStart, 0x40, 5, 0),
            rec(0, 1040, SpanStart, 0x50, 6, 5),
            rec(0, 1100, SpanExit, 0x10, 0, 0),
            Item::Loss { ctx: 0, count: 4 },
            rec(0, 1110, SpanEnter, 0x60, 0, 0),
            rec(0, 1110, TaskSwitch, 0x60, 9, 0),
            rec(0, 1120, SpanExit, 0x60, 0, 0),
            rec(1, 1150, SpanEnd, 0x50, 6, 0),
            rec(1, 1200, SpanEnd, 0x40, 5, 0),
            rec(1, 1210, SpanEnter, 0x60, 0, 0),
            rec(1, 1210, TaskSwitch, 0x60, 9, 0),
            rec(1, 1220, SpanExit, 0x60, 0, 0),
        ]
    }
}
