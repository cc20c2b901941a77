//! Interrupt handlers of three priorities preempting each other and thread mode, all
//! recording, under QEMU (firmware `priorities`: SysTick, a software-pended IRQ and a
//! free-running hardware timer at the highest priority that lands at arbitrary instructions).
//!
//! Each record's value names its writer and its sequence number. Checked in both ring modes,
//! with the default configuration (2 rings: thread mode and the first priority that records;
//! the other priorities' records counted lost under the named no-ring context) and with a ring
//! for every priority:
//! - no torn or mixed record: every context holds one writer's records, in sequence order;
//! - no ring jams: each ringed writer's last record arrives;
//! - decoded + lost = written, exactly, per context and in all.

mod gdb_support;

use gdb_support::{build_firmware_with, dump, qemu_available, run_to_exit, summary, Dumped};
use std::collections::BTreeMap;
use tickspan_tests::scratch;

/// Runs the firmware; returns what the firmware says each writer wrote and the decoded stream.
fn run(features: &str, contexts: Option<&str>) -> ([u64; 4], Dumped) {
    let env: Vec<(&str, &str)> = contexts.map(|c| ("TICKSPAN_CONTEXTS", c)).into_iter().collect();
    let elf = build_firmware_with("priorities", features, &env);
    let dir = scratch(&format!("priorities-{features}-{}", contexts.unwrap_or("default")));
    let uart = dir.join("uart.tspn");
    let (_, stdout) = run_to_exit(&elf, &uart);
    let s = summary(&stdout, "tickspan-firmware:");
    (["w0", "w1", "w2", "w3"].map(|k| s[k]), dump(&uart, Some(&elf)))
}

/// Checks one run; returns which writer each context held (None: the no-ring context).
fn check(written: [u64; 4], d: &Dumped, what: &str) -> BTreeMap<u64, Option<u64>> {
    assert_eq!(d.skipped, 0, "{what}: damaged stream");
    let no_ring: Vec<u64> =
        d.contexts.iter().filter(|(_, n)| n.starts_with("(no ring")).map(|(c, _)| *c).collect();
    let mut writer_of = BTreeMap::new();
    let mut decoded = [0u64; 4];
    let mut last = BTreeMap::new();
    for r in d.records.iter().filter(|r| r.name == "w") {
        let v = r.value.unwrap_or_else(|| panic!("{what}: an event without its value: {r:?}"));
        let (w, seq) = (v >> 24, v & 0xFF_FFFF);
        assert!(w < 4, "{what}: a record of no writer (torn): {r:?}");
        assert!(!no_ring.contains(&r.ctx), "{what}: a record in the no-ring context: {r:?}");
        let owner = *writer_of.entry(r.ctx).or_insert(Some(w));
        assert_eq!(owner, Some(w), "{what}: context {} holds writers {owner:?} and {w}: mixed", r.ctx);
        if let Some(prev) = last.insert(w, seq) {
            assert!(seq > prev, "{what}: writer {w} went from {prev} to {seq}");
        }
        decoded[w as usize] += 1;
    }
    // Lost records of a context belong to its writer; the no-ring context's to the writers
    // that have no context.
    let mut lost_of = [0u64; 4];
    let mut lost_no_ring = 0;
    for &(ctx, n) in &d.losses {
        match writer_of.get(&ctx) {
            Some(Some(w)) => lost_of[*w as usize] += n,
            _ if no_ring.contains(&ctx) => lost_no_ring += n,
            _ => panic!("{what}: {n} records lost in context {ctx}, which has no records"),
        }
    }
    let ringless: Vec<usize> = (0..4).filter(|&w| decoded[w] == 0).collect();
    for w in 0..4 {
        if decoded[w] > 0 {
            assert_eq!(decoded[w] + lost_of[w], written[w], "{what}: writer {w}: decoded + lost ≠ written");
            // Drop-newest keeps the oldest and counts the rest; a jammed ring would refuse all
            // that follows. Overwrite mode keeps the newest. Either way the last one arrives
            // when the drain keeps up, as it does here (no loss in ringed contexts).
            assert_eq!(last[&(w as u64)], written[w] - 1, "{what}: writer {w}'s last record is missing: jammed?");
        }
    }
    let expect: u64 = ringless.iter().map(|&w| written[w]).sum();
    assert_eq!(lost_no_ring, expect, "{what}: the no-ring context's loss ≠ what the ring-less writers wrote");
    assert_eq!(
        decoded.iter().sum::<u64>() + lost_of.iter().sum::<u64>() + lost_no_ring,
        written.iter().sum::<u64>(),
        "{what}: decoded + lost ≠ written"
    );
    writer_of.insert(u64::MAX, None);
    writer_of
}

#[test]
fn preempting_priorities_never_share_a_ring_in_either_mode() {
    if !qemu_available("preempting_priorities_never_share_a_ring_in_either_mode") {
        return;
    }
    for features in ["", "flight-recorder"] {
        // Default configuration: thread mode and one priority get rings.
        let (written, d) = run(features, None);
        let what = format!("default rings, features {features:?}");
        assert!(written.iter().all(|&w| w > 100), "{what}: every writer ran: {written:?}");
        let owners = check(written, &d, &what);
        assert_eq!(owners.get(&0), Some(&Some(0)), "{what}: thread mode writes ring 0");
        assert_eq!(owners.values().filter(|o| o.is_some()).count(), 2, "{what}: {owners:?}");
        assert!(d.contexts.iter().any(|(c, n)| *c == 2 && n.contains("raise TICKSPAN_CONTEXTS")), "{:?}", d.contexts);

        // A ring per priority: nothing is lost.
        let (written, d) = run(features, Some("4"));
        let what = format!("4 rings, features {features:?}");
        let owners = check(written, &d, &what);
        assert_eq!(owners.values().filter(|o| o.is_some()).count(), 4, "{what}: {owners:?}");
        assert!(d.losses.is_empty(), "{what}: {:?}", d.losses);
    }
}
