//! A flight recorder's window that begins while the target was disarmed: the stop marker
//! (`tickspan.recording` = 0) has left the window, the resume (= 1) is still in it. The CLI
//! must not present the window's start as recorded: it says the target did not record before
//! the resume, that it cannot tell since when, and why (the stop was dropped from the window).

use std::collections::HashMap;
use std::time::Duration;
use tickspan::wire::{Decoder, Item};
use tickspan::{FlightRecorder, FlightRecorderConfig, Kind};
use tickspan_tests::{run, scratch};

fn round(i: u64) {
    let _g = tickspan::span!("round");
    tickspan::value!("round_no", i);
}

/// The values of the `tickspan.recording` markers in a snapshot.
fn recording_markers(snapshot: &[u8]) -> Vec<u64> {
    let (mut names, mut markers) = (HashMap::new(), Vec::new());
    Decoder::new()
        .feed(snapshot, &mut |item| match item {
            Item::Callsite(c) => {
                names.insert(c.id, c.name.to_owned());
            }
            Item::Record { kind: Kind::ValueU, callsite, a, .. }
                if names.get(&callsite).map(String::as_str) == Some(tickspan::arming::MARKER) =>
            {
                markers.push(u64::from(a))
            }
            _ => {}
        })
        .expect("a snapshot is a tickspan stream");
    markers
}

/// Records into a new flight recorder until a snapshot holds the resume marker but not the
/// stop marker before it; returns that snapshot, or `None` if none did.
///
/// Only the size bound evicts: each snapshot (which drains first) closes one batch, so batches
/// leave the window oldest first, and an eviction stops as soon as the window fits again. The
/// batch that ends with the stop is made larger than what one later round adds (a batch and
/// maybe a clock anchor), so that evicting it always makes room and the resume's batch after it
/// stays. That fails only if the drain thread's own pass splits that batch just before the stop;
/// the caller then tries again.
fn snapshot_beginning_disarmed(i: &mut u64) -> Option<Vec<u8>> {
    let fr = FlightRecorder::new(FlightRecorderConfig { min_age: Duration::from_secs(3600), max_bytes: 6 << 10 });
    fr.start().expect("start");
    for _ in 0..50 {
        round(*i);
        *i += 1;
        fr.write_to(&mut std::io::sink()).unwrap();
    }
    for _ in 0..30 {
        round(*i);
        *i += 1;
    }
    tickspan::disarm();
    fr.write_to(&mut std::io::sink()).unwrap();
    round(u64::MAX); // not recorded
    tickspan::arm();
    let mut snapshot = Vec::new();
    let found = (0..10_000).any(|_| {
        round(*i);
        *i += 1;
        snapshot.clear();
        fr.write_to(&mut snapshot).unwrap();
        let markers = recording_markers(&snapshot);
        // Past it: both markers have left the window.
        markers.is_empty() || markers == [tickspan::arming::RECORDING]
    });
    fr.stop().unwrap();
    (found && recording_markers(&snapshot) == [tickspan::arming::RECORDING]).then_some(snapshot)
}

#[test]
fn a_window_that_begins_disarmed_is_not_shown_as_recorded() {
    let path = scratch("flight-recorder-arming").join("window.tspn");
    let mut i = 0;
    let snapshot = (0..5).find_map(|_| snapshot_beginning_disarmed(&mut i));
    let snapshot = snapshot.expect("no snapshot held the resume without the stop (5 tries)");
    std::fs::write(&path, &snapshot).unwrap();

    let out = run(&["tree", path.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("round_no"), "{stdout}");
    assert!(!stdout.contains(&format!("round_no = {}", u64::MAX)), "{stdout}");
    assert!(stderr.contains("flight recorder snapshot"), "{stderr}");
    // One interval (from the resume on), a gap before it of unknown start, and why.
    assert!(stderr.contains("covers 1 recording interval:"), "{stderr}");
    assert!(stderr.contains("did not record before "), "{stderr}");
    assert!(stderr.contains("its stop was dropped from the flight recorder's window"), "{stderr}");
    assert!(!stderr.contains("the target lost"), "{stderr}");
}
