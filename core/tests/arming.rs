//! Arming and disarming on the global rings (std): what a disarmed trace point writes (nothing),
//! the markers that say where recording stops and starts, spans across the change, a
//! `trace_for` deadline enforced by the drain, and `freeze`. One test: the flag is global.
#![cfg(all(feature = "std", feature = "decode", not(feature = "disabled")))]

use std::collections::HashMap;
use std::time::{Duration, Instant};
use tickspan::drain::Drain;
use tickspan::wire::{Decoder, Item};
use tickspan::Kind;

/// What one drained stretch of the stream held: (callsite name, kind, value) in order, and
/// the marker times.
#[derive(Default)]
struct Seen {
    names: HashMap<u32, String>,
    records: Vec<(String, Kind, u64)>,
    markers: Vec<(u64, u64)>,
    lost: u64,
}

fn drain_into(drain: &mut Drain<'static>, seen: &mut Seen, dec: &mut Decoder) {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = drain.read(&mut buf);
        if n == 0 {
            return;
        }
        dec.feed(&buf[..n], &mut |item| match item {
            Item::Callsite(c) => {
                seen.names.insert(c.id, c.name.to_owned());
            }
            Item::Record { kind, callsite, a, b, ts, .. } if kind != Kind::Sync => {
                let name = seen.names.get(&callsite).cloned().unwrap_or_default();
                let v = u64::from(a) | u64::from(b) << 32;
                if name == tickspan::arming::MARKER {
                    seen.markers.push((ts, v));
                }
                seen.records.push((name, kind, v));
            }
            Item::Loss { count, .. } => seen.lost += u64::from(count),
            _ => {}
        })
        .unwrap();
    }
}

fn names(seen: &Seen) -> Vec<String> {
    seen.records.iter().map(|(n, k, v)| format!("{n}:{k:?}:{v}")).collect()
}

#[test]
fn disarmed_trace_points_write_nothing_and_markers_bound_the_gaps() {
    let mut drain = Drain::global();
    let mut dec = Decoder::new();
    let mut seen = Seen::default();
    assert!(tickspan::armed(), "armed by default");

    let straddles_disarm = tickspan::span!("straddles_disarm");
    tickspan::event!("before");
    tickspan::disarm();
    assert!(!tickspan::armed());
    tickspan::disarm(); // no change: no second marker
    tickspan::event!("while_off");
    tickspan::value!("while_off_value", 7u32);
    drop(straddles_disarm); // entered armed: its exit is written
    let straddles_arm = tickspan::span!("straddles_arm");
    let manual = tickspan::span_start!("manual_off");
    tickspan::arm();
    drop(straddles_arm); // entered disarmed: no exit either
    manual.end();
    {
        let _g = tickspan::span!("after");
    }
    drain_into(&mut drain, &mut seen, &mut dec);
    let m = tickspan::arming::MARKER;
    assert_eq!(
        names(&seen),
        [
            "straddles_disarm:SpanEnter:0".to_owned(),
            "before:Event:0".into(),
            format!("{m}:ValueU:0"),
            "straddles_disarm:SpanExit:0".into(),
            format!("{m}:ValueU:1"),
            "after:SpanEnter:0".into(),
            "after:SpanExit:0".into(),
        ]
    );
    assert_eq!(seen.lost, 0, "nothing written while disarmed is counted lost");

    // trace_for: the drain disarms once the interval has passed on its clock.
    let mut seen = Seen { names: seen.names, ..Seen::default() };
    tickspan::disarm();
    let start = Instant::now();
    tickspan::trace_for(Duration::from_millis(30));
    let mut writes = 0;
    while start.elapsed() < Duration::from_millis(200) {
        tickspan::event!("tick");
        writes += 1;
        drain_into(&mut drain, &mut seen, &mut dec);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!tickspan::armed(), "the drain disarmed at the deadline");
    let ticks = seen.records.iter().filter(|r| r.0 == "tick").count();
    assert!(ticks > 0 && ticks < writes, "{ticks} of {writes} written");
    let vals: Vec<u64> = seen.markers.iter().map(|m| m.1).collect();
    assert_eq!(vals, [0, 1, 0], "disarm, trace_for, its end");
    let hz = <tickspan::clock::Active as tickspan::clock::Clock>::frequency_hz() as f64;
    let secs = (seen.markers[2].0 - seen.markers[1].0) as f64 / hz;
    assert!((0.030..0.2).contains(&secs), "recorded for {secs} s");
    // The last tick recorded precedes the closing marker.
    let last_tick = seen.records.iter().rposition(|r| r.0 == "tick").unwrap();
    let close = seen.records.iter().rposition(|r| r.0 == m).unwrap();
    assert!(last_tick < close);

    // arm() cancels a pending deadline.
    let mut seen = Seen { names: seen.names, ..Seen::default() };
    tickspan::trace_for(Duration::from_millis(1));
    tickspan::arm();
    std::thread::sleep(Duration::from_millis(5));
    drain_into(&mut drain, &mut seen, &mut dec);
    assert!(tickspan::armed(), "arm() after trace_for records until told otherwise");

    // freeze: final.
    tickspan::freeze();
    tickspan::arm();
    tickspan::trace_for(Duration::from_secs(1));
    tickspan::event!("after_freeze");
    assert!(!tickspan::armed() && tickspan::arming::frozen());
    drain_into(&mut drain, &mut seen, &mut dec);
    assert_eq!(seen.markers.iter().map(|m| m.1).collect::<Vec<_>>(), [1, 2]);
    assert!(!seen.records.iter().any(|r| r.0 == "after_freeze"));
}
