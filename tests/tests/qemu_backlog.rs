//! Records keep their time however long they wait in their ring (issue: a record that waited
//! behind another ring's drain for more than one clock period was dated one period late, in
//! silence). Firmware `backlog` under QEMU: SysTick as the clock with a 500 µs period, four
//! rings (thread mode, SysTick, an IRQ nested in it, a free-running timer at the highest
//! priority preempting anywhere), 256-slot rings, bursts that keep the drain busy for more than
//! a period, the drain called after every burst. Each event carries the firmware's own 64-bit
//! time; the decoded time of every one must be that time plus one constant offset. (On the
//! code before the fix, 4552 of 72 670 events decoded exactly one period late.)

mod gdb_support;

use gdb_support::{build_firmware_with, dump, qemu_available, run_to_exit, summary, time_offsets};
use tickspan_tests::scratch;

/// The firmware's clock period in ticks (SysTick reload + 1).
const PERIOD: i64 = 100_000;

#[test]
fn every_record_keeps_its_time_through_a_backlog() {
    if !qemu_available("every_record_keeps_its_time_through_a_backlog") {
        return;
    }
    let elf = build_firmware_with("backlog", "", &[("TICKSPAN_CONTEXTS", "4")]);
    let uart = scratch("backlog").join("uart.tspn");
    let (_, stdout) = run_to_exit(&elf, &uart);
    let fw = summary(&stdout, "tickspan-firmware:");
    let d = dump(&uart, Some(&elf));
    assert_eq!(d.skipped, 0);
    assert!(fw["wraps"] > 100, "the run spans many clock periods: {fw:?}");

    // Every record arrived or was counted, and the drain could bound every record's age.
    let lost: u64 = d.losses.iter().map(|l| l.1).sum();
    let events = d.records.iter().filter(|r| r.name == "t" || r.name == "untimed").count() as u64;
    assert_eq!(events + lost, fw["written"], "decoded + lost = written");
    assert_eq!(d.ambiguous, 0, "the drain ran often enough to date every record exactly");
    assert_eq!(d.ctx(0).len() as u64, fw["thread"], "thread mode's ring lost nothing");

    // Decoded time − the firmware's time is one constant; a record's own deviation is only
    // how long an interrupt took between the firmware reading its time and the record's
    // timestamp (a SysTick burst at most), far below a period.
    let (offset, diffs) = time_offsets(&d);
    assert!(diffs.len() as u64 > fw["written"] * 9 / 10, "almost every event is timed");
    let misdated: Vec<_> = diffs.iter().filter(|(d, _)| (d - offset).abs() >= PERIOD / 10).collect();
    assert!(
        misdated.is_empty(),
        "{} of {} events misdated, e.g. by {} ticks: {:?}",
        misdated.len(),
        diffs.len(),
        misdated[0].0 - offset,
        misdated[0].1
    );
    // The contexts that waited behind others' bursts are all there.
    assert!((1..4).all(|c| !d.ctx(c).is_empty()), "{:?}", d.contexts);
}
