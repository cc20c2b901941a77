//! The std flight recorder on the global rings: snapshots decode as complete streams while
//! recording goes on, the size bound evicts old records, a second recorder (or drain thread)
//! is refused, `write_to` needs a running recorder. One test: the rings have one reader.
#![cfg(all(feature = "std", feature = "decode", not(feature = "disabled")))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tickspan::flight::WINDOW_MARKER;
use tickspan::wire::{Decoder, Item};
use tickspan::{FlightRecorder, FlightRecorderConfig, Kind};

/// The `round` values of a snapshot, its window markers' values, and whether it had a header.
fn rounds(snapshot: &[u8]) -> (Vec<u64>, Vec<u64>, bool) {
    let (mut names, mut rounds, mut markers) = (HashMap::new(), Vec::new(), Vec::new());
    let mut header = false;
    let mut skipped = 0;
    Decoder::new()
        .feed(snapshot, &mut |item| match item {
            Item::Header(_) => header = true,
            Item::Callsite(c) => {
                names.insert(c.id, c.name.to_owned());
            }
            Item::Record { kind: Kind::ValueU, callsite, a, b, .. } => {
                let v = u64::from(a) | u64::from(b) << 32;
                match names.get(&callsite).map(String::as_str) {
                    Some("round") => rounds.push(v),
                    Some(WINDOW_MARKER) => markers.push(v),
                    _ => {}
                }
            }
            Item::Skipped { bytes, .. } => skipped += bytes,
            _ => {}
        })
        .expect("a snapshot is a tickspan stream");
    assert_eq!(skipped, 0);
    (rounds, markers, header)
}

fn round(i: u64) {
    let _g = tickspan::span!("step");
    tickspan::value!("round", i);
}

#[test]
fn flight_recorder_windows() {
    let max = 64 << 10;
    let config = FlightRecorderConfig { min_age: Duration::from_secs(3600), max_bytes: max };
    let fr = FlightRecorder::new(config);
    assert_eq!(fr.write_to(&mut Vec::new()).unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    fr.start().expect("start");
    assert!(fr.enabled());
    // One reader of the rings: a second recorder and any drain thread are refused, not panics.
    let other = FlightRecorder::new(FlightRecorderConfig::default());
    assert_eq!(other.start().unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(fr.start().unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    let spawned = tickspan::transport::spawn(std::io::sink(), Duration::from_millis(10));
    assert_eq!(spawned.err().map(|e| e.kind()), Some(std::io::ErrorKind::AlreadyExists));

    // A snapshot right after a record holds it (write_to drains first).
    round(0);
    let mut first = Vec::new();
    fr.write_to(&mut first).unwrap();
    let (r, markers, header) = rounds(&first);
    assert!(header && r == [0], "{r:?}");
    assert_eq!(markers, [0], "nothing evicted yet");

    // Far more than max_bytes, in steps the rings hold: the oldest rounds leave the window.
    let mut i = 1;
    while fr.window().unwrap().evicted_batches == 0 || i < 20_000 {
        for _ in 0..1000 {
            round(i);
            i += 1;
        }
        // Longer than the drain period: the ring (4096 slots) never overflows.
        std::thread::sleep(Duration::from_millis(15));
    }
    let last = i - 1;
    let stats = fr.window().unwrap();
    assert!(stats.bytes <= max, "{stats:?}");

    // Two snapshots while another thread keeps recording: each complete, the later one later.
    let stop = AtomicBool::new(false);
    let written = AtomicU64::new(0);
    let (a, b) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut j = 1 << 40;
            while !stop.load(Ordering::Relaxed) {
                round(j);
                j += 1;
                written.store(j, Ordering::Relaxed);
                // Slowly: the main thread's last rounds must stay in the window meanwhile.
                std::thread::sleep(Duration::from_micros(50));
            }
        });
        while written.load(Ordering::Relaxed) < (1 << 40) + 10 {
            std::thread::yield_now();
        }
        let mut a = Vec::new();
        fr.write_to(&mut a).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let mut b = Vec::new();
        fr.write_to(&mut b).unwrap();
        stop.store(true, Ordering::Relaxed);
        (a, b)
    });
    let (ra, ma, ha) = rounds(&a);
    let (rb, mb, hb) = rounds(&b);
    assert!(ha && hb);
    assert!(!ra.contains(&0), "round 0 was evicted by size");
    assert!(ra.contains(&last), "the main thread's last round {last} is in the window");
    assert!(ma.iter().any(|&m| m > 0), "the markers say batches were evicted: {ma:?}");
    assert!(!mb.is_empty());
    let newest = |r: &[u64]| r.iter().copied().filter(|&v| v >= 1 << 40).max().unwrap_or(0);
    assert!(newest(&rb) > newest(&ra), "the second snapshot has later records");
    assert!(a.len() <= max + 4096 && b.len() <= max + 4096, "{} {}", a.len(), b.len());

    fr.stop().unwrap();
    assert!(!fr.enabled());
    assert_eq!(fr.write_to(&mut Vec::new()).unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    // The rings are free again.
    other.start().expect("a recorder starts once the first has stopped");
    other.stop().unwrap();
}
