//! The std drain end to end on the global rings: a span-heavy workload on three threads goes
//! through the background transport thread; the stream describes itself (callsite and context
//! frames before the records) and its size per record is measured.
//!
//! `cargo test -p tickspan --features std,decode --release --test wire_drain_std -- --nocapture`
//! prints the bytes per record.
#![cfg(all(feature = "std", feature = "decode"))]

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tickspan::wire::{Decoder, Item};
use tickspan::Kind;

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn checksum(data: &[u8]) -> u32 {
    let _g = tickspan::span!("checksum");
    data.iter().map(|&b| b as u32).sum()
}

fn parse(input: &[u8]) -> u32 {
    let _g = tickspan::span!("parse");
    checksum(input)
}

fn handle_request(n: u32) -> u32 {
    let _g = tickspan::span!("handle_request");
    let sum = parse(&[n as u8; 32]);
    tickspan::value!("sum", sum);
    sum
}

fn workload(iterations: u32) {
    for i in 0..iterations {
        handle_request(i);
        if i % 128 == 0 {
            // Lets the drain thread keep up on a 2-core machine.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn std_stream_describes_itself_and_is_compact() {
    let sink = Shared::default();
    let handle = tickspan::transport::spawn(sink.clone(), Duration::from_millis(1)).unwrap();
    assert!(
        tickspan::transport::spawn(Shared::default(), Duration::from_millis(1)).is_err(),
        "one drain at a time"
    );
    let threads: Vec<_> = (0..2)
        .map(|t| std::thread::Builder::new().name(format!("worker-{t}")).spawn(|| workload(20_000)).unwrap())
        .collect();
    workload(20_000);
    for t in threads {
        t.join().unwrap();
    }
    let written = handle.finish().unwrap();
    let bytes = sink.0.lock().unwrap().clone();
    assert_eq!(written as usize, bytes.len());

    let mut names: HashMap<u32, String> = HashMap::new();
    let mut contexts: HashMap<u32, String> = HashMap::new();
    let (mut records, mut lost, mut headers, mut depth) = (0u64, 0u64, 0, HashMap::<u32, i64>::new());
    Decoder::new()
        .feed(&bytes, &mut |item| match item {
            Item::Header(h) => {
                headers += 1;
                assert!(h.clock_hz > 0);
            }
            Item::Callsite(c) => {
                names.insert(c.id, c.name.to_owned());
            }
            Item::Context { ctx, name } => {
                contexts.insert(ctx, name.to_owned());
            }
            Item::Record { ctx, kind, callsite, .. } => {
                records += 1;
                assert!(contexts.contains_key(&ctx), "context {ctx} named before its records");
                if kind != Kind::Sync {
                    assert!(names.contains_key(&callsite), "callsite {callsite:#x} described before use");
                }
                *depth.entry(ctx).or_default() += match kind {
                    Kind::SpanEnter => 1,
                    Kind::SpanExit => -1,
                    _ => 0,
                };
            }
            Item::Loss { count, .. } => lost += count as u64,
            Item::Skipped { .. } => panic!("a clean stream has nothing to skip"),
            Item::Ambiguous { .. } => panic!("a drain that keeps up dates every record exactly: {item:?}"),
            Item::Sync { .. } => {}
        })
        .unwrap();
    assert_eq!(headers, 1);
    let mut spans: Vec<_> = names.values().cloned().collect();
    spans.sort();
    assert_eq!(spans, ["checksum", "handle_request", "parse", "sum"]);
    assert!(contexts.values().any(|n| n == "worker-1"), "{contexts:?}");
    assert_eq!(records + lost, 3 * 20_000 * 7, "every record arrived or was counted lost");
    if lost == 0 {
        assert!(depth.values().all(|&d| d == 0), "every span closed: the last ones were flushed");
    }
    let per_record = bytes.len() as f64 / records as f64;
    println!("{records} records ({lost} lost), {} bytes: {per_record:.2} bytes/record", bytes.len());
    // Unoptimised code is slower between records: longer deltas.
    let target = if cfg!(debug_assertions) { 6.0 } else { 4.0 };
    assert!(per_record <= target, "{per_record:.2} bytes/record");
}
