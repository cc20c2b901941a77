//! `tickspan stats --contexts`' interrupt latency against what the firmware measured itself
//! (firmware `isr_latency` under QEMU: IRQ 0 pended with `tickspan::pend` inside critical
//! sections of three lengths, the firmware reading SysTick before the pend and at the
//! handler's first instruction).
//!
//! The host's waits run from the pend's record to the handler's entry record, a few
//! instructions inside the firmware's own (the record writes take about 15 each), so its
//! shortest and longest waits must lie within that much of the firmware's; every entry is
//! paired with its pend, and the handler's runs and intervals are counted too.

mod gdb_support;

use gdb_support::{build_firmware_with, qemu_available, run_to_exit, summary};
use serde_json::Value;
use tickspan_tests::{run, scratch};

/// SysTick ticks (5 ns) the host's wait may differ from the firmware's: the pend's record
/// (after the firmware's reading) and the entry's (after it), each some tens of instructions
/// of 8 ns (`-icount shift=3`), 8/5 ticks each.
const SLACK_TICKS: i64 = 200;

#[test]
fn pend_to_entry_waits_match_the_firmwares_own_measurement() {
    if !qemu_available("pend_to_entry_waits_match_the_firmwares_own_measurement") {
        return;
    }
    let elf = build_firmware_with("isr_latency", "", &[]);
    let uart = scratch("isr-latency").join("uart.tspn");
    let (_, stdout) = run_to_exit(&elf, &uart);
    let fw = summary(&stdout, "tickspan-firmware:");
    assert_eq!(fw["entries"], 300, "{stdout}");
    let out = run(&["stats", "--contexts", "--json", uart.to_str().unwrap(), "--elf", elf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let util: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lat = &util["latency"];
    let row = |what: &str| -> &Value {
        lat["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "GPIOA" && r["what"] == what)
            .unwrap_or_else(|| panic!("no GPIOA {what} row: {lat}"))
    };
    let wait = row("pend_to_entry");
    assert_eq!((wait["kind"].as_str(), wait["id"].as_u64()), (Some("isr"), Some(16)), "{wait}");
    assert_eq!(wait["count"], 300, "every entry paired with its pend: {lat}");
    assert_eq!((lat["waiting_at_end"].as_u64(), lat["dropped_at_gaps"].as_u64()), (Some(0), Some(0)), "{lat}");
    // 5 ns a tick (200 MHz).
    let ticks = |v: &Value| v.as_i64().unwrap() / 5;
    for (host, firmware) in [(ticks(&wait["min_ns"]), fw["min"] as i64), (ticks(&wait["max_ns"]), fw["max"] as i64)] {
        assert!((host - firmware).abs() <= SLACK_TICKS, "host {host} vs firmware {firmware} ticks: {wait}");
    }
    // Three section lengths: the longest wait is many times the shortest.
    assert!(fw["max"] > 10 * fw["min"], "{stdout}");
    let bins = wait["histogram"].as_array().unwrap();
    assert_eq!(bins.iter().map(|b| b["count"].as_u64().unwrap()).sum::<u64>(), 300, "{wait}");
    assert_eq!(row("run")["count"], 300);
    assert_eq!(row("interval")["count"], 299);

    let out = run(&["stats", "--contexts", uart.to_str().unwrap(), "--elf", elf.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("GPIOA (exception 16)") && text.contains("waits (pend → entry)"), "{text}");
}
