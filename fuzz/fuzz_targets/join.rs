//! Two arbitrary streams as two nodes of a join (`tickspan tree a.tspn b.tspn`): decoded,
//! collected, clock-aligned, joined into traces and printed as text and JSON. Never panics or
//! hangs, and the JSON is well formed, whatever link records claim (ids naming each other in
//! cycles, parents in the other node, absurd times).
//!
//! The first two bytes split the rest into the two streams.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickspan_cli::item::Decoder;
use tickspan_cli::join::{print, Collect, Joined};
use tickspan_cli::model::{Feed, Timeline};

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<2>() else { return };
    let split = (u16::from_le_bytes(*head) as usize).min(rest.len());
    let mut nodes = Vec::new();
    for (i, stream) in [&rest[..split], &rest[split..]].into_iter().enumerate() {
        let mut c = Collect::new(i, format!("n{i}"));
        let mut tl = Timeline::new(64);
        let mut dec = Decoder::new();
        if dec.feed_sink(stream, &mut Feed { tl: &mut tl, v: &mut c }).is_ok() {
            dec.finish_sink(&mut Feed { tl: &mut tl, v: &mut c });
        }
        tl.finish(&mut c);
        nodes.push(c.finish(&tl.meta));
    }
    let j = Joined::new(nodes);
    let (traces, unplaced) = j.traces();
    let spans: usize = j.nodes.iter().map(|n| n.spans.len()).sum();
    assert!(unplaced <= spans && traces.len() <= spans);
    print::write_text(&j, &mut std::io::sink()).expect("text to a sink");
    let mut doc = Vec::new();
    print::write_json(&j, &mut doc).expect("JSON to memory");
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&doc) {
        panic!("the join's JSON is not JSON ({e}): {}", String::from_utf8_lossy(&doc));
    }
});
