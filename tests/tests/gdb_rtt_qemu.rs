//! RTT through QEMU's gdbstub: the `rtt` firmware drains into tickspan's RTT channel
//! (`_TICKSPAN_RTT`) and `tickspan attach --gdb … --elf …` reads it, stopping the target briefly
//! at each poll, until the firmware reaches `tickspan_rtt_done`.
//!
//! The channel never blocks the firmware: whatever the host cannot take in time stays in the
//! rings, which refuse and count the rest. So the checks are exact where timing cannot matter:
//! thread mode wrote 200 rounds of 5 records, and records received plus records reported lost
//! must be exactly 1000; what arrives is the stream's beginning (header, round 0) in order, with
//! names from the ELF. Once with the host attached from reset, once attaching only after the
//! firmware has filled the channel and stalled with nobody reading.
//!
//! Needs `qemu-system-arm` and the `thumbv7m-none-eabi` target (skipped loudly outside CI).

mod gdb_support;

use gdb_support::{build_firmware, qemu_available, Dumped, Qemu};
use std::path::Path;
use std::time::Duration;
use tickspan_tests::{run, scratch};

/// Thread-mode records the firmware writes: 200 rounds × (2 enters, value, 2 exits).
const THREAD_RECORDS: u64 = 200 * 5;

fn capture(elf: &Path, gdb: &str, out: &Path) -> (Dumped, String) {
    let args = [
        "attach",
        "--gdb",
        gdb,
        "--elf",
        elf.to_str().unwrap(),
        "--until",
        "tickspan_rtt_done",
        "-o",
        out.to_str().unwrap(),
        "--view",
        "stats",
    ];
    let res = run(&args);
    let stats = String::from_utf8_lossy(&res.stdout).into_owned();
    assert_eq!(
        res.status.code(),
        Some(0),
        "tickspan {args:?}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let dump = run(&["dump", "--json", out.to_str().unwrap()]);
    assert_eq!(
        dump.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    (Dumped::parse(&String::from_utf8_lossy(&dump.stdout)), stats)
}

/// Checks what any capture of the `rtt` firmware must satisfy.
fn check(d: &Dumped) {
    assert_eq!(d.skipped, 0, "damaged data in the RTT stream");
    let header = d
        .header
        .as_ref()
        .expect("the capture starts with the stream header");
    assert_eq!(header["clock_wrap"], 20_000, "SysTick period (RVR + 1)");
    let t = d.ctx(0);
    assert_eq!(
        t.len() as u64 + d.lost(0),
        THREAD_RECORDS,
        "every thread-mode record arrived or is counted lost"
    );
    // The stream's beginning always arrives: round 0, fully nested, names from the ELF.
    let first: Vec<(&str, &str)> = t
        .iter()
        .take(5)
        .map(|r| (r.kind.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(
        first,
        [
            ("SpanEnter", "round"),
            ("SpanEnter", "work"),
            ("ValueU", "round_no"),
            ("SpanExit", "work"),
            ("SpanExit", "round")
        ]
    );
    let values: Vec<u64> = t.iter().filter_map(|r| r.value).collect();
    assert_eq!(values[0], 0);
    assert!(
        values.windows(2).all(|w| w[0] < w[1] && w[1] < 200),
        "round numbers in order: {values:?}"
    );
    // SysTick ran during the rounds and its records came through its own context.
    assert!(d
        .ctx(1)
        .iter()
        .any(|r| r.kind == "IsrEnter" && r.name == "SysTick"));
}

#[test]
fn attach_over_gdb_from_reset_reads_the_rtt_stream() {
    if !qemu_available("gdb_rtt_qemu") {
        return;
    }
    let elf = build_firmware("rtt", "rtt");
    let dir = scratch("gdb-rtt");
    // Held at reset: the host attaches before the firmware has initialised its control block.
    let qemu = Qemu::start(&elf, &dir, true);
    let (d, stats) = capture(&elf, &qemu.gdb, &dir.join("reset.tspn"));
    check(&d);
    assert!(
        stats.contains("round") && stats.contains("SysTick"),
        "{stats}"
    );
}

#[test]
fn attach_after_the_channel_filled_with_nobody_reading() {
    if !qemu_available("gdb_rtt_qemu") {
        return;
    }
    let elf = build_firmware("rtt", "rtt");
    let dir = scratch("gdb-rtt-late");
    // Running with no debugger: the channel fills and the firmware keeps going (it reaches its
    // final wait without blocking), its rings refusing and counting records.
    let qemu = Qemu::start(&elf, &dir, false);
    std::thread::sleep(Duration::from_millis(500));
    let (d, _) = capture(&elf, &qemu.gdb, &dir.join("late.tspn"));
    check(&d);
    assert!(
        d.lost(0) > 0,
        "nobody read while 1000 records went through a 1 KiB channel"
    );
}
