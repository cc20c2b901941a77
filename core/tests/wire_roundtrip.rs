//! Round trips: any entry sequence → frames → decoder gives the same items back; and the
//! drain's 64-bit time extension over wrapping clocks.
#![cfg(feature = "decode")]

use proptest::prelude::*;
use std::cell::Cell;
use tickspan::drain::{Drain, StreamInfo};
use tickspan::wire::{encode::FrameEncoder, frame_type, Decoder, Item, Items, Rec, Sink, ENCODED_CAPACITY};
use tickspan::{Kind, Record, Ring};

#[derive(Clone, Debug)]
enum Entry {
    Rec { kind: Kind, callsite: u32, ts: u64, a: u32, b: u32 },
    Loss(u32),
}

/// What the decoder reports for a record: payload words only where the kind has them.
fn expected(ctx: u32, e: &Entry) -> String {
    let item = match *e {
        Entry::Loss(count) => Item::Loss { ctx, count },
        Entry::Rec { kind: Kind::Loss, a, .. } => Item::Loss { ctx, count: a },
        // A field of a type no writer produces is a damaged record, counted lost.
        Entry::Rec { kind: Kind::Field, b, .. } if tickspan::FieldType::from_bits(b).is_none() => {
            Item::Loss { ctx, count: 1 }
        }
        Entry::Rec { kind, callsite, ts, a, b } => {
            let (callsite, a, b) = match kind {
                Kind::SpanEnter | Kind::SpanExit => (callsite, 0, 0),
                Kind::Sync => (0, 0, 0),
                // Only the link field and flags (tag bits 4..8) travel.
                Kind::Link => (callsite & 0xF0, a, b),
                Kind::Event | Kind::IsrEnter | Kind::IsrExit | Kind::TaskSwitch | Kind::SpanEnd => {
                    (callsite, a, 0)
                }
                _ => (callsite, a, b),
            };
            Item::Record { ctx, ts, kind, callsite, a, b }
        }
    };
    format!("{item:?}")
}

/// Every kind the record format defines (from the decoder of tags, so a new kind is included).
fn all_kinds() -> Vec<Kind> {
    (0..16).filter_map(Kind::from_bits).collect()
}

fn entry() -> impl Strategy<Value = Entry> {
    let callsite = prop_oneof![(1u32..6).prop_map(|i| i * 48 + 16), any::<u32>().prop_map(|v| v & !0xF)];
    let ts = prop_oneof![4 => 0u64..1 << 40, 1 => any::<u64>()];
    prop_oneof![
        20 => (prop::sample::select(all_kinds()), callsite, ts, any::<u32>(), any::<u32>())
            .prop_map(|(kind, callsite, ts, a, b)| Entry::Rec { kind, callsite, ts, a, b }),
        1 => any::<u32>().prop_map(Entry::Loss),
    ]
}

/// Per batch: context, base time, entries.
fn batches() -> impl Strategy<Value = Vec<(u32, u64, Vec<Entry>)>> {
    prop::collection::vec((0u32..300, any::<u64>(), prop::collection::vec(entry(), 0..40)), 0..8)
}

/// Decodes with `feed` (an item at a time) and with `feed_sink` (records in runs, what the CLI
/// uses); both must give the same items.
fn decode_all(bytes: &[u8]) -> Vec<String> {
    let mut items = Vec::new();
    let mut dec = Decoder::new();
    dec.feed(bytes, &mut |i| items.push(format!("{i:?}"))).unwrap();
    dec.finish(&mut |i| items.push(format!("{i:?}")));
    let mut runs = Vec::new();
    let mut sink = Items(|i: Item<'_>| runs.push(format!("{i:?}")));
    dec.feed_sink(bytes, &mut sink).unwrap();
    dec.finish_sink(&mut sink);
    assert_eq!(runs, items, "feed_sink and feed disagree");
    items
}

proptest! {
    #[test]
    fn any_entries_round_trip(batches in batches(), sorted in any::<bool>()) {
        let mut enc = FrameEncoder::new();
        let mut out = [0u8; ENCODED_CAPACITY];
        let (mut bytes, mut want) = (Vec::new(), Vec::new());
        for (ctx, base, mut entries) in batches {
            if sorted {
                // Monotonic times: the common case, without rebase entries.
                let mut t = base;
                for e in &mut entries {
                    if let Entry::Rec { ts, .. } = e {
                        t = t.saturating_add(*ts % 5000);
                        *ts = t;
                    }
                }
            }
            enc.begin_batch(ctx, base);
            for e in &entries {
                if !enc.has_room() {
                    let n = enc.finish(&mut out);
                    bytes.extend_from_slice(&out[..n]);
                    enc.begin_batch(ctx, base);
                }
                match *e {
                    Entry::Rec { kind, callsite, ts, a, b } => assert!(enc.record(kind, callsite, ts, a, b)),
                    Entry::Loss(n) => enc.loss(n),
                }
                want.push(expected(ctx, e));
            }
            let n = enc.finish(&mut out);
            prop_assert!(n > 0);
            bytes.extend_from_slice(&out[..n]);
        }
        prop_assert_eq!(decode_all(&bytes), want);
    }

    #[test]
    fn chunked_feeding_gives_the_same_items(batches in batches(), chunk in 1usize..64) {
        let mut enc = FrameEncoder::new();
        let mut out = [0u8; ENCODED_CAPACITY];
        let mut bytes = Vec::new();
        for (ctx, base, entries) in batches {
            enc.begin_batch(ctx, base);
            for e in entries.iter().take(5) {
                if let Entry::Rec { kind, callsite, ts, a, b } = *e {
                    enc.record(kind, callsite, ts, a, b);
                }
            }
            let n = enc.finish(&mut out);
            bytes.extend_from_slice(&out[..n]);
        }
        let whole = decode_all(&bytes);
        let mut parts = Vec::new();
        let mut dec = Decoder::new();
        for c in bytes.chunks(chunk) {
            dec.feed(c, &mut |i| parts.push(format!("{i:?}"))).unwrap();
        }
        dec.finish(&mut |i| parts.push(format!("{i:?}")));
        prop_assert_eq!(parts, whole);
    }
}

/// A batch frame built by hand, longer than the encoder writes (up to the decoder's 1 KiB
/// limit): its records reach a sink in more than one run, all of them, in order.
#[test]
fn long_batches_come_in_several_runs_without_loss() {
    const N: usize = 400;
    // Batch: context 3, base time 1000, slot 0 = callsite 0x40, then N span enters 1 tick apart.
    let mut body = vec![frame_type::BATCH, 3, 0xE8, 0x07, 0x0E, 0x04];
    body.extend([0x01, 0x01].repeat(N));
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&body);
    body.extend(crc.to_le_bytes());
    let mut bytes = vec![0u8; cobs::max_encoding_length(body.len())];
    let n = cobs::encode(&body, &mut bytes);
    bytes.truncate(n);
    bytes.push(0);

    struct Runs(Vec<usize>, Vec<Rec>);
    impl Sink for Runs {
        fn item(&mut self, _: Item<'_>) {}
        fn records(&mut self, ctx: u32, records: &[Rec]) {
            assert_eq!(ctx, 3);
            self.0.push(records.len());
            self.1.extend_from_slice(records);
        }
    }
    let mut runs = Runs(Vec::new(), Vec::new());
    let mut dec = Decoder::new();
    dec.feed_sink(&bytes, &mut runs).unwrap();
    assert!(runs.0.len() > 1, "one run of {N}: {:?}", runs.0);
    assert_eq!(runs.1.len(), N);
    for (i, r) in runs.1.iter().enumerate() {
        assert_eq!((r.kind, r.callsite, r.ts), (Kind::SpanEnter, 0x40, 1001 + i as u64));
    }
    assert_eq!(decode_all(&bytes).len(), N);
}

thread_local! {
    /// Fake clock of the drain tests (the drain reads time through a `fn()`).
    static NOW: Cell<u64> = const { Cell::new(0) };
}

fn fake_now() -> u64 {
    NOW.get()
}

fn no_wall_clock() -> u64 {
    0
}

/// Writes records stamped with a clock of modulus `wrap` (0 = 64-bit) into two rings,
/// draining between rounds, and checks the decoded times, in order, per context.
fn check_drain_times(wrap: u64, steps: &[(u8, u32)], rounds: usize) -> Result<(), TestCaseError> {
    // Larger than a round (at most 119 records), so nothing is lost.
    let rings: [Ring<128>; 2] = [Ring::new(), Ring::new()];
    let info = StreamInfo {
        clock_hz: 1_000_000,
        clock_wrap: wrap,
        node: 1,
        target: "test",
        name: "",
        now: fake_now,
        unix_ns: no_wall_clock,
    };
    let raw = |t: u64| if wrap == 0 { t } else { t % wrap };
    let mut t: u64 = 0x0012_3456_789A;
    NOW.set(raw(t));
    let mut drain = Drain::new(&rings, info);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 100];
    let mut want: [Vec<(u64, Kind)>; 2] = Default::default();
    for round in steps.chunks(steps.len().div_ceil(rounds).max(1)) {
        for &(ctx, dt) in round {
            t += dt as u64;
            let ctx = (ctx & 1) as usize;
            let kind = if dt % 3 == 0 { Kind::ValueU } else { Kind::SpanEnter };
            let r = raw(t);
            let b = if kind == Kind::ValueU { 7 } else { (r >> 32) as u32 };
            rings[ctx].push(Record::new(kind, 0x40, r as u32, 5, b));
            want[ctx].push((t, kind));
        }
        t += 1;
        NOW.set(raw(t));
        loop {
            let n = drain.read(&mut buf);
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
    }
    let mut got: [Vec<(u64, Kind)>; 2] = Default::default();
    let mut dec = Decoder::new();
    dec.feed(&bytes, &mut |i| {
        if let Item::Record { ctx, ts, kind, .. } = i {
            got[ctx as usize].push((ts, kind));
        }
        assert!(!matches!(i, Item::Skipped { .. } | Item::Loss { .. }), "{i:?}");
    })
    .unwrap();
    // Times agree up to one offset (a short clock's timeline starts where the drain does).
    let first = |v: &[Vec<(u64, Kind)>; 2]| v.iter().flatten().map(|x| x.0).min().unwrap_or(0);
    let (g0, w0) = (first(&got), first(&want));
    for ctx in 0..2 {
        let g: Vec<_> = got[ctx].iter().map(|&(ts, k)| (ts - g0, k)).collect();
        let w: Vec<_> = want[ctx].iter().map(|&(ts, k)| (ts - w0, k)).collect();
        prop_assert_eq!(g, w, "context {}", ctx);
    }
    Ok(())
}

proptest! {
    /// Each round (records, then a drain) spans less than one clock period (2^32 ticks for
    /// values on a 64-bit clock): the drain's documented condition for exact times.
    #[test]
    fn drain_extends_wrapping_clocks(
        wrap in prop::sample::select(vec![0u64, 1 << 32, 1 << 24, 12_000, 1_000_003]),
        steps in prop::collection::vec((any::<u8>(), any::<u32>()), 1..120),
        rounds in 1usize..20,
    ) {
        let period = if wrap == 0 { 1 << 32 } else { wrap };
        let per_round = steps.len().div_ceil(rounds) as u64;
        let cap = period / (per_round + 2);
        let steps: Vec<_> = steps.into_iter().map(|(c, dt)| (c, (dt as u64 % cap.max(1)) as u32)).collect();
        check_drain_times(wrap, &steps, rounds)?;
    }
}

#[test]
fn drain_reports_ring_losses_where_they_happened() {
    let rings: [Ring<4>; 1] = [Ring::new()];
    NOW.set(100);
    let info = StreamInfo {
        clock_hz: 0,
        clock_wrap: 1 << 32,
        node: 0,
        target: "t",
        name: "",
        now: fake_now,
        unix_ns: no_wall_clock,
    };
    let mut drain = Drain::new(&rings, info);
    for i in 0..7 {
        rings[0].push(Record::new(Kind::Event, 0x40, 10 + i, i, 0));
    }
    let mut buf = vec![0u8; 4096];
    let n = drain.read(&mut buf);
    let mut seq = Vec::new();
    Decoder::new()
        .feed(&buf[..n], &mut |i| match i {
            Item::Record { a, .. } => seq.push(format!("r{a}")),
            Item::Loss { count, .. } => seq.push(format!("lost{count}")),
            _ => {}
        })
        .unwrap();
    assert_eq!(seq, ["r0", "r1", "r2", "r3", "lost3"]);
    assert_eq!(drain.read(&mut buf), 0, "nothing left");
}

/// Link records through the drain's record loop (the path a ring takes, not the encoder's
/// general one): 8-byte payloads whatever their high word, zero bytes included.
#[test]
fn drained_link_records_keep_every_bit() {
    let rings: [Ring<16>; 1] = [Ring::new()];
    NOW.set(100);
    let info = StreamInfo {
        clock_hz: 0,
        clock_wrap: 1 << 32,
        node: 0,
        target: "t",
        name: "",
        now: fake_now,
        unix_ns: no_wall_clock,
    };
    let mut drain = Drain::new(&rings, info);
    let values = [0u64, 1, 0x7f, 0xdead_beef, 0x1_0000_0000, u64::MAX, 0x00ff_00ff_00ff_00ff];
    rings[0].push(Record::new(Kind::SpanEnter, 0x40, 10, 0, 0));
    for (i, v) in values.iter().enumerate() {
        let field = ((i as u32 % 4) | (1 << 2)) << 4;
        rings[0].push(Record::new(Kind::Link, field, 11 + i as u32, *v as u32, (*v >> 32) as u32));
    }
    let mut buf = vec![0u8; 4096];
    let n = drain.read(&mut buf);
    let mut got = Vec::new();
    Decoder::new()
        .feed(&buf[..n], &mut |i| {
            if let Item::Record { kind: Kind::Link, callsite, a, b, ts, .. } = i {
                got.push((callsite, a as u64 | (b as u64) << 32, ts));
            }
        })
        .unwrap();
    let t0 = got.first().map_or(0, |g| g.2);
    let got: Vec<_> = got.into_iter().map(|(f, v, t)| (f, v, t - t0)).collect();
    let want: Vec<_> = values.iter().enumerate().map(|(i, v)| (((i as u32 % 4) | (1 << 2)) << 4, *v, i as u64)).collect();
    assert_eq!(got, want);
}

/// Bytes per record of a span-heavy Cortex-M-like workload: a 72 MHz 32-bit cycle counter, a
/// nested call chain (3 spans, an event, a value) with 20–400 cycles between records, drained
/// from an idle loop every 500 records. Prints the number; the target is 4.
#[test]
fn span_heavy_stream_is_under_four_bytes_per_record() {
    let rings: [Ring<1024>; 2] = [Ring::new(), Ring::new()];
    let info = StreamInfo {
        clock_hz: 72_000_000,
        clock_wrap: 1 << 32,
        node: 0,
        target: "thumbv7m-none-eabi",
        name: "",
        now: fake_now,
        unix_ns: no_wall_clock,
    };
    NOW.set(0);
    let mut drain = Drain::new(&rings, info);
    let gaps = [20u64, 35, 60, 24, 150, 400, 28, 90];
    let (mut t, mut g, mut records) = (0u64, 0usize, 0u64);
    let mut push = |ring: &Ring<1024>, kind: Kind, cs: u32, a: u32| {
        t += gaps[g % gaps.len()];
        g += 1;
        ring.push(Record::new(kind, cs, t as u32, a, 0));
        NOW.set(t & 0xFFFF_FFFF);
    };
    let mut bytes = Vec::new();
    let mut buf = [0u8; 256];
    for round in 0..400u32 {
        for i in 0..50u32 {
            let ring = &rings[(i % 10 == 9) as usize];
            push(ring, Kind::SpanEnter, 0x0800_1000, 0);
            push(ring, Kind::SpanEnter, 0x0800_1030, 0);
            push(ring, Kind::Event, 0x0800_1060, 0);
            push(ring, Kind::SpanEnter, 0x0800_1090, 0);
            push(ring, Kind::SpanExit, 0x0800_1090, 0);
            push(ring, Kind::ValueU, 0x0800_10c0, round + i);
            push(ring, Kind::SpanExit, 0x0800_1030, 0);
            push(ring, Kind::SpanExit, 0x0800_1000, 0);
            records += 8;
        }
        loop {
            let n = drain.read(&mut buf);
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buf[..n]);
        }
    }
    let mut decoded = 0;
    Decoder::new().feed(&bytes, &mut |i| decoded += matches!(i, Item::Record { .. }) as u64).unwrap();
    assert_eq!(decoded, records);
    let per_record = bytes.len() as f64 / records as f64;
    println!(
        "cortex-m-like span-heavy: {records} records, {} bytes, {per_record:.2} bytes/record",
        bytes.len()
    );
    assert!(per_record <= 4.0, "{per_record:.2}");
}

/// A frame filled to capacity with long zero-free runs decodes intact (the COBS full-block
/// path itself is unit-tested in `wire::encode`).
#[test]
fn long_zero_free_frames_round_trip() {
    use tickspan::wire::CallsiteInfo;
    let (name, file) = ("n".repeat(300), "/f".repeat(300));
    let mut enc = FrameEncoder::new();
    assert!(enc.callsite(&CallsiteInfo {
        id: 0x1230,
        kind: tickspan::CallsiteKind::Event,
        level: tickspan::Level::Warn,
        line: u32::MAX,
        name: &name,
        file: &file,
    }));
    let frame = enc.finish_frame().to_vec();
    assert!(frame.len() > 240 && frame.len() <= ENCODED_CAPACITY, "{}", frame.len());
    assert_eq!(frame.iter().filter(|&&b| b == 0).count(), 1, "one delimiter, at the end");
    let mut got = None;
    Decoder::new()
        .feed(&frame, &mut |i| {
            if let Item::Callsite(c) = i {
                got = Some((c.id, c.line, c.name.to_owned(), c.file.to_owned()));
            }
        })
        .unwrap();
    let (id, line, n, f) = got.expect("callsite decoded");
    assert_eq!((id, line), (0x1230, u32::MAX));
    assert!(name.starts_with(&n) && n.len() == 96);
    assert!(file.ends_with(&f) && f.len() > 100);
}
