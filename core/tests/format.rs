//! Formatted events and spans through the std drain: the format string is a `Format`
//! callsite's name (in the dictionary, never in a record), the arguments are records of that
//! callsite right after the event or span record, in order, typed as fields are; manual spans
//! take fields and format arguments too.
#![cfg(all(feature = "std", feature = "decode"))]

mod support;

use std::collections::HashMap;
use std::time::Duration;
use tickspan::format::{count, pieces, Piece, Ty};
use tickspan::{CallsiteKind, FieldType, Kind};

/// Per context: (record kind, callsite name, callsite kind, a, b) in order.
type Recs = HashMap<u32, Vec<(Kind, String, CallsiteKind, u32, u32)>>;

/// Records `f` through a drain of its own (one drain thread at a time).
fn record(f: impl FnOnce()) -> (Recs, HashMap<u32, String>) {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let path = std::env::temp_dir().join(format!("tickspan-format-{}-{:?}.tspn", std::process::id(), std::thread::current().id()));
    let drain = tickspan::transport::spawn(std::fs::File::create(&path).unwrap(), Duration::from_millis(1)).unwrap();
    f();
    drain.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let (names, raw) = support::decode_all(&bytes);
    let mut recs: Recs = HashMap::new();
    for (ctx, kind, cs, a, b) in raw {
        let (name, ck) = names.get(&cs).cloned().unwrap_or((String::new(), CallsiteKind::Event));
        recs.entry(ctx).or_default().push((kind, name, ck, a, b));
    }
    (recs, names.into_iter().map(|(id, (n, _))| (id, n)).collect())
}

#[test]
fn formatted_events_carry_their_arguments_as_records_of_the_format_callsite() {
    let (attempt, max, ms) = (3u32, 5u8, -12i64);
    let (recs, names) = record(|| {
        tickspan::event!(Info, "retry {} of {}", attempt, max);
        tickspan::event!(Warn, "slow {}ms on {} ({:?}, {:.1})", ms, tickspan::intern!("disk"), true, 0.5f32);
        tickspan::event!("one {:x}", 255u32);
        tickspan::event!("rx_bytes", 7u32); // no placeholder: a value event, as before
        tickspan::event!("literal {{braces}}", 1u8);
    });
    let v = recs.values().find(|v| v.iter().any(|r| r.1.starts_with("retry"))).expect("the context");
    let fmt = |n: &str| (Kind::Event, n.to_string(), CallsiteKind::Format, 0, 0);
    let arg = |n: &str, k, a, b| (k, n.to_string(), CallsiteKind::Format, a, b);
    let disk = names.iter().find(|(_, n)| *n == "disk").map(|(id, _)| *id).expect("the string is described");
    let slow = "slow {}ms on {} ({:?}, {:.1})";
    let want = vec![
        fmt("retry {} of {}"),
        arg("retry {} of {}", Kind::ValueU, 3, 0),
        arg("retry {} of {}", Kind::ValueU, 5, 0),
        fmt(slow),
        arg(slow, Kind::ValueI, -12i64 as u32, u32::MAX),
        arg(slow, Kind::Field, disk, FieldType::Str as u32),
        arg(slow, Kind::Field, 1, FieldType::Bool as u32),
        arg(slow, Kind::ValueF, 0, 0.5f64.to_bits().wrapping_shr(32) as u32),
        fmt("one {:x}"),
        arg("one {:x}", Kind::ValueU, 255, 0),
        (Kind::ValueU, "rx_bytes".into(), CallsiteKind::Event, 7, 0),
        (Kind::ValueU, "literal {{braces}}".into(), CallsiteKind::Event, 1, 0),
    ];
    assert_eq!(*v, want);
    assert!(names.values().all(|n| !n.contains("retry 3")), "only the format is described");
}

#[test]
fn spans_and_manual_spans_take_format_arguments_and_fields() {
    let (recs, _) = record(|| {
        {
            let _g = tickspan::span!("handle {}", 7u32);
            let _h = tickspan::span!(Debug, "inner {} {}", 1u8, 2u8);
        }
        let s = tickspan::span_start!("request", id = 9u32, ok = true);
        let c = tickspan::span_start!("io", parent = &s, bytes = 4096u32);
        let d = tickspan::span_start!(Warn, "job {:?}", parent = &c, -1i32);
        let e = tickspan::span_start!("conn {}", tickspan::intern!("tcp"));
        for x in [e, d, c, s] {
            x.end();
        }
    });
    let v = recs.values().find(|v| v.iter().any(|r| r.1 == "handle {}")).expect("the context");
    let seen: Vec<(Kind, &str, CallsiteKind, u32)> = v.iter().map(|r| (r.0, r.1.as_str(), r.2, r.3)).collect();
    use CallsiteKind::{Field as F, Format as Fm, Span as S};
    let mut want = vec![(Kind::SpanEnter, "handle {}", Fm, 0), (Kind::ValueU, "handle {}", Fm, 7)];
    if tickspan::Level::Debug.enabled() {
        want.extend([
            (Kind::SpanEnter, "inner {} {}", Fm, 0),
            (Kind::ValueU, "inner {} {}", Fm, 1),
            (Kind::ValueU, "inner {} {}", Fm, 2),
            (Kind::SpanExit, "inner {} {}", Fm, 0),
        ]);
    }
    want.push((Kind::SpanExit, "handle {}", Fm, 0));
    assert_eq!(seen[..want.len()], want[..]);
    let rest = &v[want.len()..];
    let starts: Vec<_> = rest.iter().filter(|r| r.0 == Kind::SpanStart).map(|r| (r.1.as_str(), r.3, r.4)).collect();
    assert_eq!(starts.len(), 4);
    let (s_id, c_id, d_id) = (starts[0].1, starts[1].1, starts[2].1);
    assert_eq!((starts[1].2, starts[2].2, starts[3].2), (s_id, c_id, 0), "parents");
    let after = |name: &str| -> Vec<(Kind, &str, CallsiteKind, u32, u32)> {
        let i = rest.iter().position(|r| r.0 == Kind::SpanStart && r.1 == name).unwrap();
        rest[i + 1..].iter().take_while(|r| r.0 != Kind::SpanStart && r.0 != Kind::SpanEnd).map(|r| (r.0, r.1.as_str(), r.2, r.3, r.4)).collect()
    };
    assert_eq!(after("request"), [(Kind::ValueU, "id", F, 9, 0), (Kind::Field, "ok", F, 1, FieldType::Bool as u32)]);
    assert_eq!(after("io"), [(Kind::ValueU, "bytes", F, 4096, 0)]);
    assert_eq!(after("job {:?}"), [(Kind::ValueI, "job {:?}", Fm, -1i32 as u32, u32::MAX)]);
    assert_eq!(after("conn {}").len(), 1);
    assert_eq!(after("conn {}")[0].4, FieldType::Str as u32);
    assert!(rest.iter().any(|r| r.0 == Kind::SpanStart && r.1 == "request" && r.2 == S));
    let ends: Vec<u32> = rest.iter().filter(|r| r.0 == Kind::SpanEnd).map(|r| r.3).collect();
    assert_eq!(ends[1..], [d_id, c_id, s_id]);
}

#[test]
fn arguments_are_evaluated_before_the_event_is_written() {
    // An argument that records itself must not come between the event and its arguments.
    let inner = || {
        tickspan::event!("inside");
        4u32
    };
    let (recs, _) = record(|| tickspan::event!("outer {} {}", inner(), 5u32));
    let v = recs.values().find(|v| v.iter().any(|r| r.1 == "outer {} {}")).unwrap();
    let names: Vec<_> = v.iter().map(|r| (r.0, r.1.as_str(), r.3)).collect();
    assert_eq!(
        names,
        [(Kind::Event, "inside", 0), (Kind::Event, "outer {} {}", 0), (Kind::ValueU, "outer {} {}", 4), (Kind::ValueU, "outer {} {}", 5)]
    );
}

#[test]
fn the_host_reads_the_same_pieces_the_macros_counted() {
    const N: usize = tickspan::format::__placeholders("slow {}ms on {:>8}");
    assert_eq!((N, count("slow {}ms on {:>8}")), (2, Ok(2)));
    let p: Vec<_> = pieces("{:#x}!").map(Result::unwrap).collect();
    assert!(matches!(p[..], [Piece::Arg(s), Piece::Text("!")] if s.ty == Ty::LowerHex && s.alternate));
}
