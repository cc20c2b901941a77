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

use gdb_support::{boot, dump, Booted, Dumped};
use std::path::Path;
use std::time::Duration;
use tickspan_tests::run;

/// Thread-mode records the firmware writes: 200 rounds × (2 enters, value, 2 exits).
const THREAD_RECORDS: u64 = 200 * 5;

/// Attaches until the firmware is done, saving the stream to `out`; the stream's records and
/// the stats the CLI printed.
fn capture(fw: &Booted, out: &Path) -> (Dumped, String) {
    let res = fw.attach(out, &["--view", "stats"]);
    assert_eq!(res.status.code(), Some(0), "{}", String::from_utf8_lossy(&res.stderr));
    (dump(out, None), String::from_utf8_lossy(&res.stdout).into_owned())
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
    // Held at reset: the host attaches before the firmware has initialised its control block.
    let Some(fw) = boot("gdb_rtt_qemu", "rtt", "rtt", "gdb-rtt", true) else {
        return;
    };
    let (d, stats) = capture(&fw, &fw.dir.join("reset.tspn"));
    check(&d);
    assert!(
        stats.contains("round") && stats.contains("SysTick"),
        "{stats}"
    );
}

#[test]
fn attach_after_the_channel_filled_with_nobody_reading() {
    // Running with no debugger: the channel fills and the firmware keeps going (it reaches its
    // final wait without blocking), its rings refusing and counting records.
    let Some(fw) = boot("gdb_rtt_qemu", "rtt", "rtt", "gdb-rtt-late", false) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(500));
    let (d, _) = capture(&fw, &fw.dir.join("late.tspn"));
    check(&d);
    assert!(
        d.lost(0) > 0,
        "nobody read while 1000 records went through a 1 KiB channel"
    );
}

/// Position of every occurrence of a 16-byte RTT ID field in `ram`.
fn ids(ram: &[u8], id: &[u8]) -> Vec<usize> {
    let mut field = [0u8; 16];
    field[..id.len()].copy_from_slice(id);
    ram.windows(16)
        .enumerate()
        .filter(|(_, w)| *w == field)
        .map(|(i, _)| i)
        .collect()
}

fn word(ram: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(ram[at..at + 4].try_into().unwrap())
}

#[test]
fn tickspan_rtt_and_defmt_rtt_work_in_one_firmware() {
    let Some(fw) = boot("gdb_rtt_qemu", "rtt_defmt", "rtt,defmt", "gdb-rtt-defmt", true) else {
        return;
    };
    let (d, _) = capture(&fw, &fw.dir.join("defmt.tspn"));
    check(&d);
    let Booted { elf, dir, qemu } = &fw;

    // The target stopped at `tickspan_rtt_done`; look at its RAM as a scanning tool would.
    let ram_file = dir.join("ram.bin");
    let res = run(&[
        "postmortem",
        "--elf",
        elf.to_str().unwrap(),
        "--gdb",
        &qemu.gdb,
        "--save-dump",
        ram_file.to_str().unwrap(),
        "-o",
        dir.join("pm.tspn").to_str().unwrap(),
        "--view",
        "stats",
    ]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{err}");
    let base = err
        .lines()
        .find_map(|l| l.split(" bytes of RAM at 0x").nth(1))
        .and_then(|rest| u64::from_str_radix(rest.split_whitespace().next()?, 16).ok())
        .unwrap_or_else(|| panic!("no dump base in {err}"));
    let ram = std::fs::read(&ram_file).unwrap();
    // Exactly one block with SEGGER's ID (defmt's), and tickspan's beside it.
    let segger = ids(&ram, b"SEGGER RTT");
    assert_eq!(segger.len(), 1, "SEGGER RTT blocks at {segger:x?}");
    assert_eq!(ids(&ram, b"TICKSPAN RTT").len(), 1);
    // defmt's up channel 0 is named "defmt" and has received its log frames.
    let cb = segger[0];
    assert_eq!(word(&ram, cb + 16), 1, "defmt-rtt has one up channel");
    let name = (word(&ram, cb + 24) as u64 - base) as usize;
    assert_eq!(&ram[name..name + 6], b"defmt\0");
    assert!(word(&ram, cb + 24 + 12) > 0, "defmt wrote into its channel");
}
