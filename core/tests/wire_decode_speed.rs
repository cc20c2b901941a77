//! Decoder throughput on a generated span-heavy stream (20 M records). Ignored by default:
//! `cargo test --release -p tickspan --features decode --test wire_decode_speed -- --ignored --nocapture`
#![cfg(feature = "decode")]

use std::time::Instant;
use tickspan::wire::{encode::FrameEncoder, Decoder, Item, ENCODED_CAPACITY};
use tickspan::Kind;

#[test]
#[ignore = "a benchmark: run in release"]
fn decoder_throughput() {
    let records = 20_000_000u64;
    let kinds = [Kind::SpanEnter, Kind::SpanEnter, Kind::Event, Kind::SpanExit, Kind::ValueU, Kind::SpanExit];
    let callsites = [0x40u32, 0x70, 0xa0, 0x70, 0xd0, 0x40];
    let mut enc = FrameEncoder::new();
    let mut out = [0u8; ENCODED_CAPACITY];
    let mut bytes = Vec::new();
    let (mut t, mut i) = (1_000_000u64, 0u64);
    enc.begin_batch(0, t);
    while i < records {
        let k = (i % 6) as usize;
        t += 20 + (i % 7) * 30;
        if !enc.record(kinds[k], callsites[k], t, (i % 100) as u32, 0) {
            let n = enc.finish(&mut out);
            bytes.extend_from_slice(&out[..n]);
            enc.begin_batch(0, t);
            continue;
        }
        i += 1;
    }
    let n = enc.finish(&mut out);
    bytes.extend_from_slice(&out[..n]);

    let start = Instant::now();
    let (mut decoded, mut last) = (0u64, 0u64);
    let mut dec = Decoder::new();
    for chunk in bytes.chunks(64 * 1024) {
        dec.feed(chunk, &mut |item| {
            if let Item::Record { ts, .. } = item {
                decoded += 1;
                last = ts;
            }
        })
        .unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!((decoded, last), (records, t));
    println!(
        "{records} records, {:.2} bytes/record: decoded at {:.1} M records/s ({:.0} MB/s)",
        bytes.len() as f64 / records as f64,
        records as f64 / secs / 1e6,
        bytes.len() as f64 / secs / 1e6
    );
}
