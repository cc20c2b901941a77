//! The raw drain (`tickspan::drain::RawDrain`: ring slots sent as they are, for parts with
//! little flash) as a user runs it: firmware `backlog` with feature `raw-drain` under QEMU,
//! its UART0 capture read by `tickspan dump`/`tree`/`stats` with `--elf` and nothing else
//! (the frames are recognised by their magic). Four rings, interrupts preempting anywhere,
//! each event carrying the firmware's own 64-bit time: every decoded time must be that time
//! plus one constant, the call tree must be thread mode's bursts with their events, and a
//! capture damaged in transit must be resynchronised with the damage and the records it took
//! counted. (Before the raw decoder, tickspan called the capture "not a tickspan trace".)

mod gdb_support;

use gdb_support::{build_firmware_with, dump, qemu_available, run_to_exit, summary, time_offsets, Dumped};
use std::collections::HashMap;
use std::path::PathBuf;
use tickspan_tests::{run, scratch};

/// The firmware's clock period in ticks (SysTick reload + 1).
const PERIOD: i64 = 100_000;
/// Thread mode's bursts under `raw-drain` (src/bin/backlog.rs), each a span.
const BURSTS: usize = 200;
const BURST: usize = 100;

/// Builds and runs the firmware once; returns (ELF, capture, the firmware's counts).
fn capture(test: &str) -> Option<(PathBuf, PathBuf, HashMap<String, u64>)> {
    if !qemu_available(test) {
        return None;
    }
    let elf = build_firmware_with("backlog", "raw-drain", &[("TICKSPAN_CONTEXTS", "4")]);
    let uart = scratch(test).join("uart.raw");
    let (_, stdout) = run_to_exit(&elf, &uart);
    Some((elf, uart, summary(&stdout, "tickspan-firmware:")))
}

/// Decoded + lost = written, over the events (spans are not counted by the firmware).
fn events_and_losses(d: &Dumped) -> u64 {
    let lost: u64 = d.losses.iter().map(|l| l.1).sum();
    lost + d.records.iter().filter(|r| r.name == "t" || r.name == "untimed").count() as u64
}

#[test]
fn raw_frames_decode_with_every_record_dated_and_counted() {
    let Some((elf, uart, fw)) = capture("raw_frames_decode_with_every_record_dated_and_counted") else { return };
    let d = dump(&uart, Some(&elf));
    assert_eq!(d.skipped, 0);
    assert!(fw["wraps"] > 100, "the run spans many clock periods: {fw:?}");
    assert_eq!(d.header.as_ref().unwrap()["clock_wrap"], PERIOD, "the SysTick period from the frames");
    assert_eq!(events_and_losses(&d), fw["written"], "decoded + lost = written");
    assert_eq!(d.ambiguous, 0, "each ring was visited within a clock period: every record dated exactly");
    assert_eq!(d.ctx(0).len(), fw["thread"] as usize + 2 * BURSTS, "thread mode: its events and spans");

    let (offset, diffs) = time_offsets(&d);
    assert!(diffs.len() as u64 > fw["written"] * 9 / 10, "almost every event is timed");
    let misdated: Vec<_> = diffs.iter().filter(|(d, _)| (d - offset).abs() >= PERIOD / 10).collect();
    assert!(misdated.is_empty(), "{} of {} events misdated: {:?}", misdated.len(), diffs.len(), misdated.first());
    assert!((1..4).all(|c| !d.ctx(c).is_empty()), "{:?}", d.contexts);

    // The call tree: thread mode's bursts, each holding its events in the firmware's order.
    let out = run(&["tree", "--json", "--context", "0", uart.to_str().unwrap(), "--elf", elf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let roots: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "tree")
        .map(|v| v["root"].clone())
        .collect();
    assert_eq!(roots.len(), BURSTS);
    let mut last = 0;
    for root in &roots {
        let start = root["start"].as_u64().unwrap();
        let end = start + root["duration"].as_u64().unwrap();
        assert_eq!(root["name"], "burst");
        let children = root["children"].as_array().unwrap();
        assert_eq!(children.len(), BURST, "{root}");
        for c in children {
            assert_eq!(c["name"], "t");
            let v = c["value"].as_u64().unwrap();
            assert!(v > last, "events in the firmware's order");
            last = v;
            let at = c["at"].as_u64().unwrap();
            assert!((start..=end).contains(&at), "an event inside its span: {c} in {start}..{end}");
        }
    }
    let out = run(&["stats", "--strict", uart.to_str().unwrap(), "--elf", elf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("burst      200"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_damaged_raw_capture_is_resynchronised_and_its_losses_counted() {
    let Some((elf, uart, fw)) = capture("a_damaged_raw_capture_is_resynchronised_and_its_losses_counted") else {
        return;
    };
    let mut bytes = std::fs::read(&uart).unwrap();
    // Damage in transit: flipped bits a third of the way in, a dropped run at two thirds, and a
    // truncated end.
    let n = bytes.len();
    for b in &mut bytes[n / 3..n / 3 + 40] {
        *b ^= 0x5A;
    }
    bytes.drain(2 * n / 3..2 * n / 3 + 700);
    bytes.truncate(bytes.len() - 30);
    let damaged = uart.with_file_name("damaged.raw");
    std::fs::write(&damaged, &bytes).unwrap();
    let d = dump(&damaged, Some(&elf));
    assert!(d.skipped >= 40 + 30, "the damaged bytes are reported skipped: {}", d.skipped);
    assert!(d.skipped < 3 * (40 + 700 + 30 + 2 * 1072), "and little more: {}", d.skipped);
    // Every record still accounted for: the frames after the damage say where they start. Only
    // the truncated last frame's ring has no later frame to tell, by at most a frame.
    let seen = events_and_losses(&d);
    assert!(seen <= fw["written"] && seen + 64 >= fw["written"], "{seen} of {}", fw["written"]);
    assert!(d.losses.iter().map(|l| l.1).sum::<u64>() > 0, "the damaged frames' records are counted lost");
    // --strict fails on damaged data.
    let out = run(&["stats", "--strict", damaged.to_str().unwrap(), "--elf", elf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped"), "{}", String::from_utf8_lossy(&out.stderr));
}
