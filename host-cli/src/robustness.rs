//! Random item sequences (CRC-valid garbage: any kind, context, callsite, time, payload)
//! through the timeline and every view and export: no panic, bounded state, valid JSON. The
//! callsites include fields, statuses, interned strings and formats of every level, so field
//! and argument records land after anything, and the `--level` filters run over them too.

use crate::export::{chrome::Chrome, folded::Folded, otlp::Otlp, perfetto::Perfetto};
use crate::item::{CallsiteInfo, CallsiteKind, Item, Kind, Level, StreamHeader};
use crate::model::level::{LevelFilter, RecordFilter};
use crate::model::{Timeline, Visitor};
use crate::view::{dump::Dump, stats::Stats, tree::Filter, tree::Tree};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_items(seed: u64, n: usize) -> Vec<Item<'static>> {
    // Every kind the record format defines, from the core's tag decoder.
    let kinds: Vec<Kind> = (0..16).filter_map(Kind::from_bits).collect();
    let mut r = Rng(seed);
    let mut ts = 1_000u64;
    let mut out = vec![Item::Header(StreamHeader {
        version: 1,
        clock_hz: [0, 1, 1_000_000, 3_000_000_007][r.below(4) as usize],
        clock_wrap: 0,
        node: r.next(),
        target: "fuzz",
        name: "",
    })];
    for _ in 0..n {
        // Mostly forward in time, sometimes backwards (a restarted target, a rebase) or anywhere.
        ts = match r.below(50) {
            0 => ts.saturating_sub(r.below(10_000)),
            1 => r.next(),
            _ => ts.saturating_add(r.below(100)),
        };
        let cs = (r.below(12) as u32 + 1) << 4;
        let ctx = [0, 0, 0, 1, 2, r.below(6000) as u32][r.below(6) as usize];
        out.push(match r.below(40) {
            0 => Item::Loss { ctx, count: r.next() as u32 },
            1 => Item::Skipped { offset: r.next(), bytes: r.below(1000) },
            2 => Item::Sync { ts, unix_ns: r.next() },
            3 => Item::Context { ctx, name: ["", "main", "a;b c\n\"q\""][r.below(3) as usize] },
            4 => Item::Callsite(CallsiteInfo {
                id: cs,
                kind: [
                    CallsiteKind::Span,
                    CallsiteKind::Event,
                    CallsiteKind::ValueF64,
                    CallsiteKind::Isr,
                    CallsiteKind::Task,
                    CallsiteKind::Field,
                    CallsiteKind::Status,
                    CallsiteKind::Str,
                    CallsiteKind::Format,
                ][r.below(9) as usize],
                level: [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error][r.below(5) as usize],
                line: r.next() as u32,
                // Format strings too: well-formed, malformed, with more placeholders than any
                // record brings.
                name: ["span", "", "x;y", "ünï\u{0}", "{} of {:#x}", "a {", "{:>65535}", "é{:?}{0}"]
                    [r.below(8) as usize],
                file: "f.rs",
            }),
            _ => Item::Record {
                ctx,
                ts,
                kind: kinds[r.below(kinds.len() as u64) as usize],
                callsite: cs,
                // Small values, or a callsite (an interned string's), or anything.
                a: [r.below(8) as u32, (r.below(12) as u32 + 1) << 4, r.next() as u32][r.below(3) as usize],
                // Often a field type word (bool, str, or none), else anything.
                b: if r.below(2) == 0 { r.below(4) as u32 } else { r.next() as u32 },
            },
        });
    }
    out
}

fn feed(items: &[Item<'static>], window: usize, v: &mut impl Visitor) -> Timeline {
    let mut t = Timeline::new(window);
    for &i in items {
        t.push(i, v);
    }
    t.finish(v);
    t
}

#[test]
fn random_streams_never_break_a_view() {
    for seed in 1..=24u64 {
        let items = random_items(seed * 0x9E37_79B9, 3000);
        let window = [1, 7, 1 << 14][seed as usize % 3];

        let mut views =
            (Tree::new(Vec::new(), Filter::default(), false, 50), Tree::new(Vec::new(), Filter::default(), true, 50));
        let t = feed(&items, window, &mut views);
        views.0.finish(&t.meta).unwrap();
        views.1.finish(&t.meta).unwrap();
        let filtered = Filter {
            name: Some("s".into()),
            min_duration: Some("1us".parse().unwrap()),
            from: Some("1ms".parse().unwrap()),
            to: Some("1s".parse().unwrap()),
            contexts: vec!["0".into(), "main".into()],
        };
        let mut tree = Tree::new(Vec::new(), filtered, false, 1000);
        let t = feed(&items, window, &mut tree);
        tree.finish(&t.meta).unwrap();

        // JSON trees (fields, statuses, messages) behind the level filter.
        let mut out = Vec::new();
        let mut tree = Tree::new(&mut out, Filter::default(), false, 1000).json(true);
        let level = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error][seed as usize % 5];
        let mut filter = LevelFilter::new(&mut tree, Some(level));
        let t = feed(&items, window, &mut filter);
        tree.finish(&t.meta).unwrap();
        for line in String::from_utf8(out).unwrap().lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("seed {seed}: tree JSON: {e}"));
        }

        let mut stats = Stats::default();
        let t = feed(&items, window, &mut stats);
        let mut json = Vec::new();
        stats.write_json(&t.meta, &mut json).unwrap();
        serde_json::from_slice::<serde_json::Value>(&json).expect("stats JSON");
        stats.write_table(&t.meta, &mut Vec::new()).unwrap();

        let mut doc = Vec::new();
        let mut chrome = Chrome::new(&mut doc);
        let t = feed(&items, window, &mut chrome);
        chrome.finish(&t.meta).unwrap();
        serde_json::from_slice::<serde_json::Value>(&doc).unwrap_or_else(|e| panic!("seed {seed}: chrome JSON: {e}"));

        let mut doc = Vec::new();
        let mut proto = Perfetto::new(&mut doc);
        let t = feed(&items, window, &mut proto);
        proto.finish(&t.meta).unwrap();
        <crate::export::perfetto::proto::Trace as prost::Message>::decode(&doc[..])
            .unwrap_or_else(|e| panic!("seed {seed}: Perfetto proto: {e}"));

        let mut doc = Vec::new();
        let mut otlp = Otlp::new(&mut doc, Default::default());
        let t = feed(&items, window, &mut otlp);
        otlp.finish(&t.meta).unwrap();
        serde_json::from_slice::<serde_json::Value>(&doc).unwrap_or_else(|e| panic!("seed {seed}: OTLP JSON: {e}"));

        let mut folded = Folded::default();
        let t = feed(&items, window, &mut folded);
        let mut out = Vec::new();
        folded.write(&t.meta, &mut out).unwrap();
        for line in String::from_utf8(out).unwrap().lines() {
            let (stack, count) = line.rsplit_once(' ').expect("folded line");
            assert!(!stack.contains('\n') && count.parse::<u64>().is_ok(), "{line}");
        }
        folded.write_svg(&t.meta, "fuzz", &mut Vec::new()).unwrap();

        let mut dump = Dump::new(Vec::new(), seed % 2 == 0);
        items.iter().for_each(|&i| dump.item(i));
        dump.finish().unwrap();

        // dump --level: as app.rs runs it (callsites defined before the filter reads them).
        let mut out = Vec::new();
        let mut dump = Dump::new(&mut out, true);
        let mut filter = RecordFilter::new(Some(level));
        for &i in &items {
            if let Item::Callsite(c) = i {
                dump.names().define(&c);
            }
            if !filter.hides(dump.names(), &i) {
                dump.item(i);
            }
        }
        dump.finish().unwrap();
        for line in String::from_utf8(out).unwrap().lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("seed {seed}: dump JSON: {e}"));
        }
    }
}
