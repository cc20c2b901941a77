//! Exports for other tools: Chrome/Perfetto trace-event JSON, OpenTelemetry OTLP/JSON (to a file, or pushed to a collector over OTLP/HTTP: [`push`]), folded
//! stacks and flame-graph SVG. Each is a [`Visitor`](crate::model::Visitor) that streams its
//! output (or, for folded stacks, aggregates by call path) instead of keeping the trace.

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
