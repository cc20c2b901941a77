//! Post-mortem under QEMU: firmware records into overwrite-mode rings (flight recorder), then
//! faults; `tickspan postmortem` reads the rings of the halted target through QEMU's gdbstub,
//! and again from a RAM dump plus the ELF, and must recover the last moments: the newest 256
//! records of thread mode ending inside the open `crash` span, every SysTick record, names from
//! the ELF, and a loss count that matches what the firmware wrote.
//!
//! Needs `qemu-system-arm` and the `thumbv7m-none-eabi` target (skipped loudly outside CI).

mod gdb_support;

use gdb_support::{boot, dump, Booted, Dumped};
use tickspan_tests::{run, scratch};

/// Ring size of the firmware build (examples/firmware/.cargo/config.toml).
const SLOTS: u64 = 256;

fn ok(args: &[&str]) -> (String, String) {
    let out = run(args);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(0), "tickspan {args:?}: {stderr}");
    (stdout, stderr)
}

/// Kinds and names (and values) of a context's records: what must not depend on timing.
fn shape(d: &Dumped, ctx: u64) -> Vec<(String, String, Option<u64>)> {
    d.ctx(ctx).into_iter().map(|r| (r.kind.clone(), r.name.clone(), r.value)).collect()
}

#[test]
fn postmortem_over_gdb_and_from_a_ram_dump_recovers_the_last_moments() {
    let Some(fw) = boot("postmortem_qemu", "postmortem", "flight-recorder", "postmortem", false) else {
        return;
    };
    let Booted { elf, dir, qemu } = fw;
    let elf_s = elf.to_str().unwrap();
    // "FAULT <ring 0 written> <ring 1 written>": printed by the HardFault handler, which then
    // spins without recording.
    let fault = qemu.wait_uart("FAULT ");
    let counts: Vec<u64> = fault.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
    let (written0, written1) = (counts[0], counts[1]);
    assert_eq!(written0, 100 * 6 + 2, "100 rounds of 6 records, then `crash` and `about_to_fault`");
    assert!(written1 > 0 && written1 < SLOTS, "SysTick preempted the rounds without filling its ring");

    let stream = dir.join("pm.tspn");
    let ram = dir.join("ram.bin");
    let (_, summary) = ok(&[
        "postmortem",
        "--elf",
        elf_s,
        "--gdb",
        &qemu.gdb,
        "--save-dump",
        ram.to_str().unwrap(),
        "-o",
        stream.to_str().unwrap(),
        "--view",
        "stats",
    ]);
    assert!(
        summary.contains(&format!("ring 0: {SLOTS} records recovered, {} lost ({written0} written", written0 - SLOTS)),
        "{summary}"
    );
    assert!(summary.contains(&format!("ring 1: {written1} records recovered, 0 lost")), "{summary}");

    let d = dump(&stream, None);
    assert_eq!(d.skipped, 0);
    // Thread mode: the overwritten records are one loss entry before the newest 256.
    assert_eq!(d.losses, [(0, written0 - SLOTS)]);
    let t = d.ctx(0);
    assert_eq!(t.len() as u64, SLOTS);
    let last: Vec<(&str, &str)> = t[t.len() - 3..].iter().map(|r| (r.kind.as_str(), r.name.as_str())).collect();
    assert_eq!(last, [("SpanExit", "round"), ("SpanEnter", "crash"), ("Event", "about_to_fault")]);
    // The values are the last rounds' numbers, in order, ending with the last round (99).
    let values: Vec<u64> = t.iter().filter(|r| r.name == "round_no").map(|r| r.value.unwrap()).collect();
    assert_eq!(values.last(), Some(&99));
    assert!(values.windows(2).all(|w| w[1] == w[0] + 1), "{values:?}");
    // Times only move forwards inside a context.
    assert!(t.windows(2).all(|w| w[0].ts <= w[1].ts));
    // SysTick: every record, in handler order, its ring named after the handler.
    let isr: Vec<(&str, &str)> = d.ctx(1).iter().map(|r| (r.kind.as_str(), r.name.as_str())).collect();
    assert_eq!(isr.len() as u64, written1);
    for chunk in isr.chunks(3) {
        assert_eq!(chunk, [("IsrEnter", "SysTick"), ("Event", "tick"), ("IsrExit", "SysTick")]);
    }
    assert!(d.contexts.contains(&(0, "thread mode".into())) && d.contexts.contains(&(1, "SysTick".into())));

    // The tree shows the crash site: the span that never ended, with its last event.
    let (tree, _) = ok(&["tree", stream.to_str().unwrap()]);
    let crash =
        tree.lines().position(|l| l.starts_with("crash")).unwrap_or_else(|| panic!("no crash span in:\n{tree}"));
    assert!(tree.lines().nth(crash + 1).is_some_and(|l| l.contains("about_to_fault")), "{tree}");

    // The same from the RAM image and the ELF, without the target: same records in the same
    // order (cross-context alignment may differ: a dump has no clock reading).
    let gdb = qemu.gdb.clone();
    drop(qemu);
    let from_dump = dir.join("dump.tspn");
    ok(&[
        "postmortem",
        "--elf",
        elf_s,
        "--dump",
        ram.to_str().unwrap(),
        "--clock-wrap",
        "20000",
        "-o",
        from_dump.to_str().unwrap(),
        "--view",
        "stats",
    ]);
    let d2 = dump(&from_dump, None);
    assert_eq!(shape(&d2, 0), shape(&d, 0));
    assert_eq!(shape(&d2, 1), shape(&d, 1));
    assert_eq!(d2.losses, d.losses);

    // The stub is gone: a clear error, not a hang.
    let out = run(&["postmortem", "--elf", elf_s, "--gdb", &gdb]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connecting to GDB stub"));
}

#[test]
fn postmortem_refuses_bad_inputs_with_a_clear_error() {
    let dir = scratch("postmortem-bad");
    let not_elf = dir.join("not.elf");
    std::fs::write(&not_elf, b"\x7fELF but not really").unwrap();
    let dump = dir.join("ram.bin");
    std::fs::write(&dump, [0u8; 64]).unwrap();
    let out = run(&["postmortem", "--elf", not_elf.to_str().unwrap(), "--dump", dump.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a usable ELF"), "{err}");
    // An ELF without tickspan rings.
    let sh = "/bin/sh";
    let out = run(&["postmortem", "--elf", sh, "--dump", dump.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("_TICKSPAN_RINGS"), "{err}");
}

/// The freeze trigger: the `freeze` firmware calls `tickspan::freeze()` when a reading is over
/// its limit (round 70), then goes on running rounds with SysTick interrupting. The rings must
/// end at the freeze: every record up to it (thread mode: readings 0..=69, then 900 and the
/// marker inside `over_limit`), nothing after it in either context, however long after the
/// freeze the debugger reads them, and `postmortem` must say that the target froze and when.
#[test]
fn freeze_keeps_the_records_that_led_to_it_and_nothing_after() {
    let Some(fw) = boot("postmortem_qemu", "freeze", "flight-recorder", "freeze", false) else {
        return;
    };
    let Booted { elf, dir, qemu } = fw;
    let elf_s = elf.to_str().unwrap();
    let line = qemu.wait_uart("FROZEN ");
    let counts: Vec<u64> = line.split_whitespace().skip(1).map(|n| n.parse().unwrap()).collect();
    let (written0, written1) = (counts[0], counts[1]);
    // 71 rounds of (enter, reading, exit), then over_limit's enter, `freezing`, the marker and
    // over_limit's exit (its enter was written, so its exit is too); nothing from rounds 71..99.
    assert_eq!(written0, 71 * 3 + 4);
    let postmortem = |name: &str| {
        let stream = dir.join(name);
        let (tree, summary) =
            ok(&["postmortem", "--elf", elf_s, "--gdb", &qemu.gdb, "-o", stream.to_str().unwrap(), "--view", "tree"]);
        (stream, tree, summary)
    };
    let (stream, tree, summary) = postmortem("frozen.tspn");
    assert!(summary.contains("recording: frozen (tickspan::freeze was called)"), "{summary}");
    assert!(summary.contains(&format!("ring 0: {written0} records recovered, 0 lost")), "{summary}");
    assert!(summary.contains(&format!("ring 1: {written1} records recovered, 0 lost")), "{summary}");
    // The view says when: the marker's time, as the tree's times count.
    let d = dump(&stream, None);
    let t = d.ctx(0);
    let marker = t.iter().find(|r| r.name == "tickspan.recording").expect("the freeze marker");
    assert_eq!(marker.value, Some(2));
    let start = d.records.iter().filter_map(|r| r.ns).min().unwrap();
    let at_us = (marker.ns.unwrap() - start) as f64 / 1000.0;
    assert!(summary.contains(&format!("froze at {at_us:.3} µs (tickspan::freeze)")), "{at_us} in {summary}");
    assert!(tree.contains("over_limit"), "{tree}");
    let tail: Vec<(&str, &str, Option<u64>)> =
        t[t.len() - 6..].iter().map(|r| (r.kind.as_str(), r.name.as_str(), r.value)).collect();
    assert_eq!(
        tail,
        [
            ("ValueU", "reading", Some(900)),
            ("SpanEnter", "over_limit", None),
            ("Event", "freezing", None),
            ("ValueU", "tickspan.recording", Some(2)),
            // Spans entered before the freeze close: their enters were written.
            ("SpanExit", "over_limit", None),
            ("SpanExit", "round", None),
        ]
    );
    let readings: Vec<u64> = t.iter().filter(|r| r.name == "reading").filter_map(|r| r.value).collect();
    assert_eq!(readings, (0..70).chain([900]).collect::<Vec<u64>>(), "every round up to the freeze, none after");
    // SysTick recorded before the freeze. (Its times are not compared with thread mode's: a
    // post-mortem dates each ring from its own stamps, modulo the 100 µs SysTick period.)
    assert!(written1 > 0);
    // Later (SysTick has fired some 2000 more times, recording nothing): the rings are as the
    // freeze left them.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (again, _, summary) = postmortem("later.tspn");
    assert!(summary.contains(&format!("ring 1: {written1} records recovered, 0 lost")), "{summary}");
    assert_eq!(shape(&dump(&again, None), 0), shape(&d, 0));
}
