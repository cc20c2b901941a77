//! `tickspan run` as cargo's runner: `cargo run` of the `rtt_defmt` firmware with
//! `tickspan run --qemu lm3s6965evb` as the thumbv7m runner boots it under QEMU, prints defmt's
//! lines while it runs, stops at `tickspan_rtt_done` and shows the stats of tickspan's channel;
//! the saved stream holds every thread-mode record or counts it lost. And what stops a run that
//! cannot start is said, with a non-zero exit.
//!
//! Needs `qemu-system-arm` and the `thumbv7m-none-eabi` target (skipped loudly outside CI).

mod gdb_support;

use gdb_support::{build_firmware, dump, qemu_available};
use std::path::Path;
use std::process::Command;
use tickspan_tests::{cli, run, scratch};

/// Thread-mode records the firmware writes: 200 rounds × (2 enters, value, 2 exits).
const THREAD_RECORDS: u64 = 200 * 5;

#[test]
fn cargo_run_with_tickspan_as_runner_streams_the_firmware_under_qemu() {
    if !qemu_available("cargo_runner") {
        return;
    }
    // Built as the other QEMU tests build it, so `cargo run` below finds it up to date.
    build_firmware("rtt_defmt", "rtt,defmt");
    let dir = scratch("cargo-runner");
    let out = dir.join("run.tspn");
    let runner = format!(
        "{} run --qemu lm3s6965evb --until tickspan_rtt_done --qemu-arg=-icount --qemu-arg=shift=3,sleep=off -o {} --view stats",
        cli().display(),
        out.display()
    );
    let firmware = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/firmware");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let res = Command::new(cargo)
        .current_dir(&firmware)
        .args(["run", "-q", "--release", "--bin", "rtt_defmt", "--features", "rtt,defmt"])
        .env("CARGO_TARGET_DIR", firmware.join("target"))
        .env("CARGO_TARGET_THUMBV7M_NONE_EABI_RUNNER", runner)
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .output()
        .expect("run cargo run");
    let (stdout, stderr) = (String::from_utf8_lossy(&res.stdout), String::from_utf8_lossy(&res.stderr));
    assert_eq!(res.status.code(), Some(0), "{stderr}");
    // defmt's lines, printed as they came: this firmware stamps none, so they appear nowhere
    // else (the merge into the stream needs timestamps and says so).
    let lines: Vec<&str> = stderr.lines().collect();
    let at =
        |text: &str| lines.iter().position(|l| l.trim_end() == text).unwrap_or_else(|| panic!("{text:?} in {stderr}"));
    let (first, middle, last) = (at("tickspan and defmt side by side"), at("round 100"), at("done"));
    assert!(first < middle && middle < last, "{stderr}");
    // The stats view of the run, and the stream it saved.
    let row = |name: &str| stdout.lines().any(|l| l.split_whitespace().next() == Some(name));
    assert!(row("round") && row("work") && row("SysTick"), "{stdout}");
    let d = dump(&out, None);
    assert_eq!(d.skipped, 0, "damaged data in the RTT stream");
    assert_eq!(d.header.as_ref().expect("stream header")["clock_wrap"], 20_000);
    let t = d.ctx(0);
    assert_eq!(t.len() as u64 + d.lost(0), THREAD_RECORDS, "every thread-mode record arrived or is counted lost");
    let names: Vec<&str> = t.iter().take(2).map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["round", "work"], "names from the ELF");
}

#[test]
fn a_run_that_cannot_start_says_why() {
    if !qemu_available("cargo_runner") {
        return;
    }
    let elf = build_firmware("rtt_defmt", "rtt,defmt");
    let elf = elf.to_str().unwrap();
    let res = run(&["run", "--qemu", "no-such-board", elf]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(3), "{err}");
    assert!(err.contains("QEMU ended") && err.contains("before its gdbstub answered"), "{err}");
    // Neither a chip nor QEMU: a usage error naming both.
    let res = run(&["run", elf]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(err.contains("--chip") && err.contains("--qemu"), "{err}");
    // No debug probe on this machine: probe-rs finds none, and the run says so.
    let res = run(&["run", "--chip", "nRF52840_xxAA", elf]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(3), "{err}");
    assert!(err.contains("no debug probe found"), "{err}");
}
