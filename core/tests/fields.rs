//! Fields and span status through the std drain: each field is one record right after the
//! record it annotates, typed by its record kind, its key a `Field` callsite; interned strings
//! and status messages are callsites the drain describes; a damaged field entry ends its batch.
#![cfg(all(feature = "std", feature = "decode"))]

mod support;

use std::collections::HashMap;
use std::time::Duration;
use tickspan::wire::encode::FrameEncoder;
use tickspan::wire::{Decoder, Item, ENCODED_CAPACITY};
use tickspan::{CallsiteKind, FieldType, Kind};

#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Enter(String),
    Exit,
    Event(String),
    /// Key, record kind, `a`, `b`.
    Field(String, Kind, u32, u32),
    /// Interned string behind a field.
    Str(String, String),
    Status(String, u32),
}

/// Per context, the records of interest in order.
fn decode(bytes: &[u8]) -> HashMap<u32, Vec<Seen>> {
    let (names, records) = support::decode_all(bytes);
    let mut seen: HashMap<u32, Vec<Seen>> = HashMap::new();
    // Callsite frames precede the first batch using them, the string's included: resolve now.
    for (ctx, kind, callsite, a, b) in records {
        let (name, cs_kind) = names[&callsite].clone();
        let s = match (kind, cs_kind) {
            (Kind::SpanEnter, _) => Seen::Enter(name),
            (Kind::SpanExit, _) => Seen::Exit,
            (Kind::Event, _) => Seen::Event(name),
            (Kind::ValueU, CallsiteKind::Status) => Seen::Status(name, a),
            (Kind::Field, CallsiteKind::Field) if b == FieldType::Str as u32 => {
                let (s, k) = names.get(&a).cloned().expect("the interned string is described");
                assert_eq!(k, CallsiteKind::Str);
                Seen::Str(name, s)
            }
            (_, CallsiteKind::Field) => Seen::Field(name, kind, a, b),
            _ => continue,
        };
        seen.entry(ctx).or_default().push(s);
    }
    seen
}

#[test]
fn fields_follow_their_record_and_status_follows_the_span() {
    let path = std::env::temp_dir().join(format!("tickspan-fields-{}.tspn", std::process::id()));
    let drain = tickspan::transport::spawn(std::fs::File::create(&path).unwrap(), Duration::from_millis(1)).unwrap();
    let id = 7u32;
    {
        let _g = tickspan::span!("handle", id = id, ok = true, ratio = 0.5f64);
        tickspan::event!(Warn, "retry", attempt = -3i32, mode = tickspan::intern!("fast"));
        tickspan::set_error!("timeout");
    }
    {
        let _g = tickspan::span!(Debug, "plain");
        tickspan::set_ok!();
    }
    // A manual span: fields at its start, more later (a target record first), a status by id.
    let job = tickspan::span_start!("job", n = 3u8);
    tickspan::annotate!(&job, done = true);
    tickspan::set_error!(span = &job, "lost");
    job.end();
    drain.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let seen = decode(&bytes);
    let f = |k: &str, kind, a, b| Seen::Field(k.into(), kind, a, b);
    let mut expected = vec![
        Seen::Enter("handle".into()),
        f("id", Kind::ValueU, 7, 0),
        f("ok", Kind::Field, 1, FieldType::Bool as u32),
        f("ratio", Kind::ValueF, 0, 0.5f64.to_bits().wrapping_shr(32) as u32),
        Seen::Event("retry".into()),
        f("attempt", Kind::ValueI, -3i32 as u32, u32::MAX),
        Seen::Str("mode".into(), "fast".into()),
        Seen::Status("timeout".into(), 1),
        Seen::Exit,
    ];
    // A `Debug` span, compiled out under `max-level-info`; the status (error level) stays,
    // with no span open (the host counts it as an orphan).
    if tickspan::Level::Debug.enabled() {
        expected.extend([Seen::Enter("plain".into()), Seen::Status("".into(), 0), Seen::Exit]);
    } else {
        expected.push(Seen::Status("".into(), 0));
    }
    use tickspan::record::status::{ERROR, SPAN, TARGET};
    expected.extend([
        f("n", Kind::ValueU, 3, 0),
        Seen::Status("".into(), SPAN | TARGET),
        f("done", Kind::Field, 1, FieldType::Bool as u32),
        Seen::Status("lost".into(), SPAN | ERROR),
    ]);
    assert!(seen.values().any(|v| *v == expected), "{seen:#?}");
}

/// A field entry's bytes (`docs/wire-format.md`): `0x10 | type << 4`, key slot, delta, `a`.
#[test]
fn field_entry_bytes_and_damage() {
    let mut enc = FrameEncoder::new();
    let mut out = [0u8; ENCODED_CAPACITY];
    enc.begin_batch(1, 100);
    assert!(enc.record(Kind::Event, 0x40, 100, 0, 0));
    assert!(enc.record(Kind::Field, 0xF0, 103, 1, FieldType::Bool as u32));
    assert!(enc.record(Kind::Field, 0xF0, 103, 0x200, FieldType::Str as u32));
    let n = enc.finish(&mut out);
    // The frame: leading 0x00, COBS, trailing 0x00.
    let start = out[..n].iter().position(|&b| b != 0).unwrap();
    let mut raw = out[start..n - 1].to_vec();
    let len = cobs::decode_in_place(&mut raw).unwrap();
    raw.truncate(len - 4);
    // batch, ctx 1, base 100, define slot 4 := 0x40, event (slot 4, delta 0, a 0), define
    // slot 0 := 0xF0 (set 0), bool field key slot 0 delta 3 a 1, string field delta 0 a 0x200.
    assert_eq!(raw, [0x05, 0x01, 0x64, 0x4e, 0x04, 0x43, 0x00, 0x00, 0x0e, 0x0f, 0x10, 0x00, 0x03, 0x01, 0x20, 0x00, 0x00, 0x80, 0x04]);

    let mut recs = Vec::new();
    let items = |bytes: &[u8], recs: &mut Vec<(Kind, u32, u32, u32)>| {
        let mut skipped = 0;
        let mut sink = |item: Item<'_>| match item {
            Item::Record { kind, callsite, a, b, .. } => recs.push((kind, callsite, a, b)),
            Item::Skipped { .. } => skipped += 1,
            _ => {}
        };
        let mut dec = Decoder::new();
        dec.feed(bytes, &mut sink).unwrap();
        dec.finish(&mut sink);
        skipped
    };
    assert_eq!(items(&out[..n], &mut recs), 0);
    assert_eq!(recs[1..], [(Kind::Field, 0xF0, 1, 0), (Kind::Field, 0xF0, 0x200, 1)]);

    // A field naming an empty slot, and one cut short, end the batch where they start: the
    // records before are kept, the frame is reported skipped, nothing is misread.
    for damaged in [&raw[..], &raw[..raw.len() - 1]] {
        let mut body = damaged.to_vec();
        if damaged.len() == raw.len() {
            body[11] = 0x05; // key slot 5: never defined
        }
        let mut frame = body.clone();
        frame.extend_from_slice(&crc::Crc::<u32>::new(&crc::CRC_32_ISCSI).checksum(&body).to_le_bytes());
        let mut wire = vec![0u8];
        let mut enc = vec![0u8; cobs::max_encoding_length(frame.len())];
        let k = cobs::encode(&frame, &mut enc);
        wire.extend_from_slice(&enc[..k]);
        wire.push(0);
        let mut recs = Vec::new();
        assert_eq!(items(&wire, &mut recs), 1, "the damaged batch is reported");
        assert!(recs.iter().all(|r| r.0 != Kind::Field || r.1 == 0xF0), "{recs:?}");
        assert_eq!(recs[0], (Kind::Event, 0x40, 0, 0));
    }

    // A field record of a type no writer produces is counted lost, not sent.
    enc.begin_batch(1, 0);
    assert!(enc.record(Kind::Field, 0x80, 0, 1, 9));
    let n = enc.finish(&mut out);
    let mut losses = 0;
    Decoder::new()
        .feed(&out[..n], &mut |item| match item {
            Item::Loss { count, .. } => losses += count,
            Item::Record { kind, .. } => panic!("{kind:?}"),
            _ => {}
        })
        .unwrap();
    assert_eq!(losses, 1);
}

#[test]
fn levels_below_the_compile_time_maximum_compile_out() {
    let evaluated = std::cell::Cell::new(0);
    let arg = || {
        evaluated.set(evaluated.get() + 1);
        1u32
    };
    tickspan::event!(Trace, "fine", n = arg());
    let on = tickspan::Level::Trace.enabled();
    assert_eq!(on, tickspan::callsite::STATIC_MIN_LEVEL == 0);
    // Without a `max-level-*` feature everything is on; with `max-level-info` trace and debug
    // are off and their arguments never evaluated (`cargo xtask test` runs both builds).
    assert_eq!(evaluated.get(), on as u32);
    #[cfg(feature = "max-level-info")]
    {
        assert!(!tickspan::Level::Debug.enabled() && tickspan::Level::Info.enabled());
        let g = tickspan::span!(Debug, "off", x = arg());
        drop(g);
        assert_eq!(evaluated.get(), 0);
    }
}
