//! Firmware under QEMU → UART → the `tickspan` CLI.
//!
//! Builds `examples/firmware` (its own cargo workspace, target thumbv7m-none-eabi), runs the
//! `demo` binary on QEMU's lm3s6965evb with `-icount shift=3` (deterministic virtual time),
//! captures UART0 into a file and checks what the CLI reconstructs from it (callsite names
//! from the firmware's ELF, `--elf`) against what the firmware did: nesting in thread mode and
//! in the SysTick handler, interrupt time charged to the interrupt and not to the spans it
//! preempted, and as many lost records as the firmware itself counted.
//!
//! Needs `qemu-system-arm` and the `thumbv7m-none-eabi` target. Without QEMU the test is
//! skipped with a message, except under CI (`CI` set), where it fails.

use serde_json::Value;
use std::collections::HashMap;
use tickspan_tests::{run, scratch};

mod gdb_support;
use gdb_support::{build_firmware, dump, qemu_available, run_to_exit as run_qemu, summary};

fn cli_ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "tickspan {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

#[test]
fn firmware_trace_over_uart_decodes_to_the_tree_it_recorded() {
    if !qemu_available("qemu_e2e") {
        return;
    }
    let elf = build_firmware("demo", "");
    let dir = scratch("qemu");
    let (bytes, stdout) = run_qemu(&elf, &dir.join("uart.tsp"));
    let fw = summary(&stdout, "tickspan-firmware:");
    let (iterations, isr_runs, fw_lost) = (fw["iterations"], fw["isr_runs"], fw["records_lost"]);
    assert!(
        isr_runs > 0 && fw_lost > 0,
        "the firmware must preempt and overflow: {fw:?}"
    );

    // -icount makes the run deterministic: a second run sends the same bytes.
    let (again, _) = run_qemu(&elf, &dir.join("uart2.tsp"));
    assert!(
        again == bytes,
        "two runs under -icount sent different streams"
    );

    let trace = dir.join("uart.tsp");
    // Callsite names come from the firmware's ELF (records carry only addresses).
    let d = dump(&trace, Some(&elf));
    let (trace, elf) = (trace.to_str().unwrap(), elf.to_str().unwrap());
    let recs = &d.records;
    let lost_entries: u64 = d.losses.iter().map(|l| l.1).sum();
    let header = d.header.as_ref().expect("stream header");
    assert_eq!(header["target"], "thumbv7m-none-eabi");
    assert_eq!(u(&header["clock_hz"]), 200_000_000);
    assert_eq!(
        u(&header["clock_wrap"]),
        400_000,
        "SysTick period (RELOAD + 1)"
    );

    // The first frame of thread mode and the first interrupt, in the order src/main.rs
    // records them.
    let first = |ctx: u64, n: usize| -> Vec<String> {
        recs.iter()
            .filter(|r| r.ctx == ctx)
            .take(n)
            .map(|r| format!("{} {}", r.kind, r.name))
            .collect()
    };
    assert_eq!(
        first(0, 10),
        [
            "SpanEnter frame",
            "SpanEnter parse",
            "ValueU parsed",
            "SpanExit parse",
            "SpanEnter process",
            "SpanEnter filter",
            "ValueU queue_depth",
            "SpanExit filter",
            "SpanExit process",
            "SpanExit frame"
        ]
    );
    assert_eq!(
        first(1, 5),
        [
            "IsrEnter SysTick",
            "SpanEnter tick_work",
            "ValueU tick",
            "SpanExit tick_work",
            "IsrExit SysTick"
        ]
    );

    // Nesting: replay each context's stack; every span closes the innermost open one and
    // has the parent the source gives it.
    let parent_of: HashMap<&str, Option<&str>> = [
        ("frame", None),
        ("parse", Some("frame")),
        ("process", Some("frame")),
        ("filter", Some("process")),
        ("SysTick", None),
        ("tick_work", Some("SysTick")),
    ]
    .into();
    let mut count: HashMap<&str, u64> = HashMap::new();
    for ctx in [0, 1] {
        let mut stack: Vec<&str> = Vec::new();
        for r in recs.iter().filter(|r| r.ctx == ctx) {
            let name = r.name.as_str();
            match r.kind.as_str() {
                "SpanEnter" | "IsrEnter" => {
                    let expected = parent_of
                        .get(name)
                        .unwrap_or_else(|| panic!("unknown span {name}"));
                    assert_eq!(
                        stack.last().copied(),
                        *expected,
                        "parent of {name} in ctx {ctx}"
                    );
                    stack.push(name);
                    *count.entry(name).or_default() += 1;
                }
                "SpanExit" | "IsrExit" => {
                    assert_eq!(stack.pop(), Some(name), "LIFO exit in ctx {ctx}")
                }
                _ => {}
            }
        }
        assert!(stack.is_empty(), "ctx {ctx} left spans open: {stack:?}");
    }
    for name in ["frame", "parse", "process", "filter"] {
        assert_eq!(count[name], iterations, "{name} spans: one per frame");
    }
    assert_eq!(
        count["SysTick"], isr_runs,
        "one ISR record pair per SysTick run"
    );
    assert_eq!(count["tick_work"], isr_runs);

    // Losses: what the stream reports equals what the firmware counted, which the firmware
    // also recorded as its last value.
    assert_eq!(
        lost_entries, fw_lost,
        "lost records in the stream vs counted by the firmware"
    );
    let counted = recs
        .iter()
        .find(|r| r.name == "fw_records_lost")
        .expect("fw_records_lost value");
    assert_eq!(counted.value, Some(fw_lost));
    let burst = recs.iter().filter(|r| r.name == "burst").count() as u64;
    assert_eq!(burst + fw_lost, 400, "burst events received + lost = sent");

    // Interrupt time: the CLI charges each handler run to the spans it preempted as `isr`, not
    // as their self time. Recompute from the records which runs fell inside which span.
    let intervals = |ctx: u64, name: &str| -> Vec<(u64, u64)> {
        let mut open = Vec::new();
        let mut out = Vec::new();
        for r in recs.iter().filter(|r| r.ctx == ctx && r.name == name) {
            match r.kind.as_str() {
                "SpanEnter" | "IsrEnter" => open.push(r.ns.expect("ns")),
                "SpanExit" | "IsrExit" => out.push((open.pop().unwrap(), r.ns.expect("ns"))),
                _ => {}
            }
        }
        out
    };
    let isrs = intervals(1, "SysTick");
    let stolen = |name: &str| -> u64 {
        let spans = intervals(0, name);
        isrs.iter()
            .filter(|(s, e)| spans.iter().any(|(a, b)| a < s && e < b))
            .map(|(s, e)| e - s)
            .sum()
    };
    let stats: Value = serde_json::from_str(&cli_ok(&["stats", trace, "--json", "--elf", elf]))
        .expect("stats JSON");
    let by_name: HashMap<String, &Value> = stats["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s))
        .collect();
    let mut preempted = 0;
    for name in ["frame", "parse", "process", "filter"] {
        let s = by_name[name];
        let expected = stolen(name);
        // The CLI and this test sum the same ns values; allow 1 ns per run for rounding.
        assert!(
            u(&s["isr"]).abs_diff(expected) <= isrs.len() as u64,
            "isr time of {name}: {} vs {expected}",
            s["isr"]
        );
        preempted += (expected > 0) as u32;
    }
    assert!(
        preempted >= 2,
        "SysTick should have preempted several kinds of span"
    );
    // A leaf span's self time is its duration minus the interrupts inside it.
    for name in ["parse", "filter"] {
        let s = by_name[name];
        let (total, own, isr) = (u(&s["total"]), u(&s["self_time"]), u(&s["isr"]));
        assert!(isr > 0, "{name} was never preempted");
        assert!(
            total.abs_diff(own + isr) <= u(&s["count"]),
            "{name}: total {total} self {own} isr {isr}"
        );
    }
    // The handler's own time shows under its context, in full.
    let handler = by_name["SysTick"];
    let handler_total: u64 = isrs.iter().map(|(s, e)| e - s).sum();
    assert_eq!(u(&handler["count"]), isr_runs);
    assert!(u(&handler["total"]).abs_diff(handler_total) <= isr_runs);
}
