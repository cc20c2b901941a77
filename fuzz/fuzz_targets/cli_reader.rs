//! Arbitrary bytes through what `tickspan tree`, `stats` and `export` run: the decoder's run
//! interface into the timeline, which feeds both trees, the statistics and every export at once;
//! then the end of input as the CLI handles it. Never panics, and what it writes is well formed.
//!
//! The first byte picks the chunk size (bits 0–4), the reorder window (bits 5–6) and whether
//! the input pauses after each chunk, as a live one does (bit 7: the timeline flushes and the
//! tree pushes its output out).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io;
use tickspan_cli::export::{chrome::Chrome, folded::Folded, otlp::Otlp};
use tickspan_cli::item::Decoder;
use tickspan_cli::model::{Feed, Timeline, DEFAULT_WINDOW};
use tickspan_cli::view::{stats::Stats, tree::Filter, tree::Tree};

fn json(doc: &[u8], what: &str) {
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(doc) {
        panic!("{what} is not JSON ({e}): {}", String::from_utf8_lossy(doc));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else { return };
    let chunk = (mode & 0x1f) as usize * 8 + 1;
    let window = [1, 3, 64, DEFAULT_WINDOW][(mode >> 5 & 3) as usize];
    let live = mode & 0x80 != 0;

    let mut chrome_doc = Vec::new();
    let mut otlp_doc = Vec::new();
    // Small node limits, so that the per-call tree's cut-off is reached.
    let trees = (Tree::new(io::sink(), Filter::default(), true, 8), Tree::new(io::sink(), Filter::default(), false, 8));
    let exports = (Chrome::new(&mut chrome_doc), (Otlp::new(&mut otlp_doc, Default::default()), Folded::default()));
    let mut v = (trees, (Stats::default(), exports));

    let mut tl = Timeline::new(window);
    let mut dec = Decoder::new();
    for c in stream.chunks(chunk) {
        // Not a trace (or an unsupported version): the CLI stops with an error, no output.
        if dec.feed_sink(c, &mut Feed { tl: &mut tl, v: &mut v }).is_err() {
            return;
        }
        if live {
            tl.flush(&mut v);
            let (merged, calls) = &mut v.0;
            assert!(!merged.flush_output(&tl.meta) && !calls.flush_output(&tl.meta), "a sink never fails");
        }
    }
    dec.finish_sink(&mut Feed { tl: &mut tl, v: &mut v });
    tl.finish(&mut v);

    let c = tl.counters();
    let fed = stream.len() as u64;
    // Every record or loss entry takes at least two bytes on the wire.
    assert!(c.records <= fed / 2, "{c:?} from {fed} bytes");
    assert!(c.skipped_regions <= fed && c.skipped_bytes <= fed, "{c:?} from {fed} bytes");

    let ((mut merged, mut calls), (stats, (chrome, (otlp, folded)))) = v;
    let meta = &tl.meta;
    merged.finish(meta).expect("tree to a sink");
    calls.finish(meta).expect("tree to a sink");

    stats.write_table(meta, &mut io::sink()).expect("table to a sink");
    let mut doc = Vec::new();
    stats.write_json(meta, &mut doc).expect("stats JSON to memory");
    json(&doc, "stats");

    chrome.finish(meta).expect("Chrome JSON to memory");
    json(&chrome_doc, "the Chrome export");
    otlp.finish(meta).expect("OTLP JSON to memory");
    json(&otlp_doc, "the OTLP export");

    let mut lines = Vec::new();
    folded.write(meta, &mut lines).expect("folded stacks to memory");
    for line in String::from_utf8(lines).expect("folded stacks are UTF-8").lines() {
        let (stack, count) = line.rsplit_once(' ').expect("`stack count`");
        assert!(!stack.is_empty() && count.parse::<u64>().is_ok(), "folded line {line:?}");
    }
    folded.write_svg(meta, "fuzz", &mut io::sink()).expect("flame graph to a sink");
});
