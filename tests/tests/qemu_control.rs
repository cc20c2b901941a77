//! `trace for` from the host under QEMU: the `control` firmware starts disarmed; `tickspan
//! attach --gdb … --trace-for 20ms` sends the control message through the gdbstub into the RTT
//! down channel once the stream header has told the clock rate, and the capture must show the
//! target's acknowledgement, exactly one recording interval, at least the asked length, ended by
//! the first drain call past the deadline, and nothing recorded outside it.
//!
//! The tolerance: the deadline is checked by the drain, so the interval ends at the first drain
//! call past it, and the clock runs on while the debugger halts the CPU for a poll (QEMU runs
//! without `-icount` here: with it, a halted CPU lets virtual time jump to the next timer
//! deadline, a whole SysTick period, which is more than the drain may miss of its clock). So
//! the end may be late by a halt plus a round, which depends on the host; what holds whatever
//! the host's timing, and is checked: the drain call before the one that ended the interval had
//! not reached the deadline, so the `drained` event written before that call is earlier than the
//! deadline, which is at most the first `drained` event after the start plus the asked ticks.
//!
//! Needs `qemu-system-arm` and the `thumbv7m-none-eabi` target (skipped loudly outside CI).

mod gdb_support;

use gdb_support::{build_firmware, dump, qemu_available, Qemu};
use tickspan_tests::{run, scratch};

/// SysTick at the firmware's 200 MHz system clock (`TICKSPAN_CLOCK_HZ`).
const HZ: u64 = 200_000_000;

#[test]
fn trace_for_from_the_host_records_one_interval_of_the_asked_length() {
    if !qemu_available("qemu_control") {
        return;
    }
    let (elf, dir) = (build_firmware("control", "control"), scratch("control"));
    let qemu = Qemu::start_timed(&elf, &dir, true, false);
    let out = dir.join("control.tspn");
    let (elf, out_s) = (elf.to_str().unwrap(), out.to_str().unwrap());
    let res = run(&["attach", "--gdb", &qemu.gdb, "--elf", elf, "--trace-for", "20ms", "-o", out_s, "--view", "stats"]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{err}");
    let asked = 20 * HZ / 1000;
    assert!(
        err.contains(&format!("the target acknowledged `trace for 20.000 ms ({asked} ticks at {HZ} Hz)`")),
        "{err}"
    );
    assert!(err.contains("note: recording interval "), "{err}");
    assert!(err.contains("the trace covers 1 recording interval:"), "{err}");

    let d = dump(&out, None);
    assert_eq!(d.skipped, 0);
    let marker = "tickspan.recording";
    let markers: Vec<(u64, u64)> =
        d.records.iter().filter(|r| r.name == marker).map(|r| (r.ts, r.value.unwrap())).collect();
    // Disarmed at start-up, armed by the message, disarmed by the deadline: one interval.
    assert_eq!(markers.iter().map(|m| m.1).collect::<Vec<_>>(), [0, 1, 0], "{markers:?}");
    let (start, end) = (markers[1].0, markers[2].0);
    // The acknowledgement: right after the arming marker, op 3 (trace for), status 0 (applied).
    let acks: Vec<_> = d.records.iter().filter(|r| r.name == "tickspan.control").collect();
    assert_eq!(acks.len(), 1);
    let ack = acks[0].value.unwrap();
    assert_eq!((ack >> 16 & 0xFF, ack >> 24), (3, 0), "{ack:#x}");
    assert!(acks[0].ts >= start && acks[0].ts < end);

    // At least the asked length, ended by the first drain call past the deadline.
    assert!(end - start >= asked, "interval {} ticks, asked {asked}", end - start);
    let drained: Vec<u64> = d.ctx(0).iter().filter(|r| r.name == "drained").map(|r| r.ts).collect();
    assert!(drained.len() >= 2, "{drained:?}");
    let deadline_at_most = drained[0] + asked;
    let second_last = drained[drained.len() - 2];
    assert!(second_last < deadline_at_most, "two drain calls after the deadline passed before the interval ended");

    // Nothing outside the interval, in either context; thread mode lost nothing and its rounds
    // are whole and in order.
    let inside = |ts: u64| (start..=end).contains(&ts);
    let outside: Vec<_> = d.records.iter().filter(|r| r.name != marker && !inside(r.ts)).collect();
    assert!(outside.is_empty(), "recorded outside the interval: {outside:?}");
    assert_eq!(d.lost(0), 0);
    let rounds: Vec<u64> = d.records.iter().filter(|r| r.name == "round_no").filter_map(|r| r.value).collect();
    assert!(!rounds.is_empty() && rounds.windows(2).all(|w| w[1] == w[0] + 1), "{rounds:?}");
    let t = d.ctx(0);
    let enters = t.iter().filter(|r| r.kind == "SpanEnter").count();
    assert_eq!(enters, t.iter().filter(|r| r.kind == "SpanExit").count(), "every span that started in it closed");
}

#[test]
fn trace_for_refuses_firmware_without_the_control_channel() {
    // The `rtt` firmware drains over RTT without feature `rtt-control`: a clear error, no capture.
    let Some(fw) = gdb_support::boot("qemu_control", "rtt", "rtt", "control-none", true) else {
        return;
    };
    let elf = fw.elf.to_str().unwrap();
    let res = run(&["attach", "--gdb", &fw.qemu.gdb, "--elf", elf, "--trace-for", "5s"]);
    assert_ne!(res.status.code(), Some(0));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("no `tickspan-control` down channel") && err.contains("rtt-control"), "{err}");
}
