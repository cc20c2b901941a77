//! Async tasks under QEMU: the `async_tasks` firmware (examples/firmware/src/bin/async_tasks.rs)
//! runs four `tickspan::traced!` tasks on a minimal executor woken by SysTick. The decoded
//! stream must show every poll the executor made as a span of its task, with its task id, the
//! tasks' own spans nested inside their polls, and per-task poll counts and busy time in
//! `tickspan stats` equal to what the records say and the executor counted.
//!
//! Needs `qemu-system-arm` and the `thumbv7m-none-eabi` target. Without QEMU the test is
//! skipped with a message, except under CI (`CI` set), where it fails.

mod gdb_support;

use gdb_support::{build_firmware, qemu_available, run_to_exit, summary, Dumped};
use serde_json::Value;
use std::collections::HashMap;
use tickspan_tests::{run, scratch};

fn cli_ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "tickspan {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn task_polls_appear_in_the_tree_and_stats_with_their_counts() {
    if !qemu_available("qemu_async") {
        return;
    }
    let elf = build_firmware("async_tasks", "");
    let dir = scratch("qemu-async");
    let uart = dir.join("async.tsp");
    let (_, stdout) = run_to_exit(&elf, &uart);
    let fw = summary(&stdout, "tickspan-async:");
    // Polls = awaits that were pending + 1: blink 1 sleeps 5 times, blink 2 3 times, the
    // producer sleeps before each of its 4 messages, the consumer waits for each of them.
    let expected = [("blink1", 6), ("blink2", 4), ("producer", 5), ("consumer", 5)];
    for (task, polls) in expected {
        assert_eq!(fw[task], polls, "polls of {task} counted by the executor: {fw:?}");
    }
    assert!(fw["isr_runs"] >= 8, "the sleeps need SysTick: {fw:?}");
    // What `traced!` adds to a poll (instructions, measured by the firmware under -icount):
    // a span enter and exit around the poll, and one more record with a task id.
    let (cost, with_id) = (fw["traced_poll_instructions"], fw["with_id"]);
    assert!((20..=64).contains(&cost), "instructions per traced poll: {cost}");
    assert!(with_id > cost && with_id <= cost + 24, "a task id costs one record: {cost} vs {with_id}");

    let (trace, elf) = (uart.to_str().unwrap(), elf.to_str().unwrap());
    let d = Dumped::parse(&cli_ok(&["dump", trace, "--json", "--elf", elf]));
    assert_eq!(d.losses, [], "nothing may be lost");
    let main: Vec<_> = d.ctx(0);

    // Records: every poll is SpanEnter + (TaskSwitch with the id) + … + SpanExit of the task,
    // nested LIFO with the tasks' own spans inside.
    let mut polls: HashMap<String, u64> = HashMap::new();
    let mut stack: Vec<&str> = Vec::new();
    for (i, r) in main.iter().enumerate() {
        match r.kind.as_str() {
            "SpanEnter" => {
                let inside = stack.last().copied();
                match r.name.as_str() {
                    "blink" => {
                        let next = main.get(i + 1).expect("a record after the enter");
                        assert_eq!((next.kind.as_str(), next.name.as_str()), ("TaskSwitch", "blink"));
                        *polls.entry(format!("blink{}", next.a)).or_default() += 1;
                    }
                    "producer" | "consumer" => *polls.entry(r.name.clone()).or_default() += 1,
                    "toggle" => assert_eq!(inside, Some("blink"), "toggle runs in blink's polls"),
                    "consume" => assert_eq!(inside, Some("consumer"), "consume runs in consumer's polls"),
                    other => panic!("unexpected span {other}"),
                }
                if r.name != "toggle" && r.name != "consume" {
                    assert_eq!(inside, None, "a poll is a root span of thread mode");
                }
                stack.push(&r.name);
            }
            "SpanExit" => assert_eq!(stack.pop(), Some(r.name.as_str()), "LIFO"),
            _ => {}
        }
    }
    assert!(stack.is_empty(), "{stack:?}");
    for (task, n) in expected {
        assert_eq!(polls.get(task).copied(), Some(n), "poll spans of {task} in the stream");
    }

    // stats: one row per task (and id), count = polls, total = busy time, kind "task".
    let stats: Value = serde_json::from_str(&cli_ok(&["stats", trace, "--json", "--elf", elf])).expect("stats JSON");
    let rows: HashMap<&str, &Value> =
        stats["spans"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap(), s)).collect();
    let u = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"));
    for (row, task) in
        [("blink (task 1)", "blink1"), ("blink (task 2)", "blink2"), ("producer", "producer"), ("consumer", "consumer")]
    {
        let s = rows.get(row).unwrap_or_else(|| panic!("no stats row {row:?}: {stats}"));
        assert_eq!((s["kind"].as_str(), u(&s["count"])), (Some("task"), fw[task]), "{row}");
    }
    assert!(!rows.contains_key("blink"), "every blink poll carries its task id");
    // Busy time: the polls' durations, which contain their child spans.
    let busy = |id: u64| -> u64 {
        let (mut total, mut open) = (0, None);
        for (i, r) in main.iter().enumerate() {
            match (r.kind.as_str(), r.name.as_str()) {
                ("SpanEnter", "blink") if main[i + 1].a == id => open = Some(r.ts),
                ("SpanExit", "blink") => total += open.take().map_or(0, |s| r.ts - s),
                _ => {}
            }
        }
        total * 5 // 200 MHz: 5 ns per tick
    };
    for (row, id) in [("blink (task 1)", 1), ("blink (task 2)", 2)] {
        let s = rows[row];
        assert!(u(&s["total"]).abs_diff(busy(id)) <= u(&s["count"]), "{row}: {} vs {}", s["total"], busy(id));
    }
    let toggles = u(&rows["toggle"]["total"]);
    let blink_self = u(&rows["blink (task 1)"]["self_time"]) + u(&rows["blink (task 2)"]["self_time"]);
    let blink_total = u(&rows["blink (task 1)"]["total"]) + u(&rows["blink (task 2)"]["total"]);
    assert!(blink_total.abs_diff(blink_self + toggles) <= 20, "poll self time excludes the task's spans");

    // tree: each poll printed under its task's name and id, its spans beneath it.
    let tree = cli_ok(&["tree", trace, "--elf", elf]);
    let lines: Vec<&str> = tree.lines().collect();
    for (label, task) in [
        ("poll blink (task 1)  ", "blink1"),
        ("poll blink (task 2)  ", "blink2"),
        ("poll producer  ", "producer"),
        ("poll consumer  ", "consumer"),
    ] {
        assert_eq!(lines.iter().filter(|l| l.starts_with(label)).count() as u64, fw[task], "{label}in\n{tree}");
    }
    for (i, l) in lines.iter().enumerate() {
        if l.contains("consume  ") && !l.starts_with("poll") {
            assert!(lines[i - 1].starts_with("poll consumer"), "consume under its poll:\n{tree}");
        }
    }
}

/// embassy-executor (feature `trace`) with tickspan's feature `embassy`: the `embassy_tasks`
/// firmware spawns three tasks without wrapping them; each executor pass is a span
/// `embassy executor`, each task poll inside it a span `embassy task` with embassy's task id.
#[test]
fn embassy_hooks_show_every_task_poll_with_its_task_id() {
    if !qemu_available("qemu_async (embassy)") {
        return;
    }
    let elf = build_firmware("embassy_tasks", "embassy");
    let dir = scratch("qemu-embassy");
    let uart = dir.join("embassy.tsp");
    let (_, stdout) = run_to_exit(&elf, &uart);
    let fw = summary(&stdout, "tickspan-embassy:");
    assert_eq!((fw["blink1"], fw["blink2"], fw["ticker"]), (5, 3, 3), "wake-ups the tasks counted: {fw:?}");

    let (trace, elf) = (uart.to_str().unwrap(), elf.to_str().unwrap());
    let d = Dumped::parse(&cli_ok(&["dump", trace, "--json", "--elf", elf]));
    assert_eq!(d.losses, [], "nothing may be lost");
    // Per task id: polls (spans), spawns, ends; task polls only inside executor passes.
    let main = d.ctx(0);
    let (mut polls, mut spawned, mut ended): (HashMap<u64, u64>, Vec<u64>, Vec<u64>) = Default::default();
    let mut stack: Vec<&str> = Vec::new();
    for (i, r) in main.iter().enumerate() {
        match (r.kind.as_str(), r.name.as_str()) {
            ("SpanEnter", name) => {
                let expected_parent = match name {
                    "embassy executor" => None,
                    "embassy task" => Some("embassy executor"),
                    "toggle" => Some("embassy task"),
                    other => panic!("unexpected span {other}"),
                };
                assert_eq!(stack.last().copied(), expected_parent, "parent of {name}");
                if name == "embassy task" {
                    let id = &main[i + 1];
                    assert_eq!((id.kind.as_str(), id.name.as_str()), ("TaskSwitch", "embassy task"));
                    *polls.entry(id.a).or_default() += 1;
                }
                stack.push(&r.name);
            }
            ("SpanExit", name) => assert_eq!(stack.pop(), Some(name), "LIFO"),
            ("ValueU", "embassy task spawned") => spawned.push(r.value.unwrap()),
            ("ValueU", "embassy task ended") => ended.push(r.value.unwrap()),
            _ => {}
        }
    }
    assert!(stack.is_empty(), "{stack:?}");
    assert_eq!(spawned.len(), 3, "three tasks spawned");
    ended.sort();
    let mut ids = spawned.clone();
    ids.sort();
    assert_eq!(ended, ids, "every spawned task ended");
    // Polls = wake-ups + the first poll.
    let mut counts: Vec<u64> = spawned.iter().map(|id| polls[id]).collect();
    assert_eq!(polls.len(), 3, "polls of exactly the spawned tasks: {polls:?}");
    counts.sort();
    let mut expected = vec![fw["blink1"] + 1, fw["blink2"] + 1, fw["ticker"] + 1];
    expected.sort();
    assert_eq!(counts, expected);
    // Wakes from SysTick are recorded in the handler's context.
    assert!(d.ctx(1).iter().any(|r| r.name == "embassy task ready"), "ready events from SysTick");

    // stats: one task row per embassy task id, with its polls, named from the firmware ELF
    // (the task's `POOL` static holds the address embassy uses as its id).
    let stats: Value = serde_json::from_str(&cli_ok(&["stats", trace, "--json", "--elf", elf])).expect("stats JSON");
    let mut named: Vec<(String, u64)> = Vec::new();
    for id in &spawned {
        let suffix = format!(" (task {id:#x})");
        let row = stats["spans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"].as_str().is_some_and(|n| n.ends_with(&suffix)))
            .unwrap_or_else(|| panic!("no stats row for task {id:#x}: {stats}"));
        assert_eq!((row["kind"].as_str(), row["count"].as_u64()), (Some("task"), Some(polls[id])));
        named.push((row["name"].as_str().unwrap().trim_end_matches(&suffix).to_string(), polls[id]));
    }
    named.sort();
    let mut blinks = [fw["blink1"] + 1, fw["blink2"] + 1];
    blinks.sort();
    assert_eq!(
        named,
        [("blink".to_string(), blinks[0]), ("blink".to_string(), blinks[1]), ("ticker".to_string(), fw["ticker"] + 1)]
    );
    let tree = cli_ok(&["tree", trace, "--elf", elf]);
    assert_eq!(tree.matches("poll blink (task 0x").count() as u64, blinks[0] + blinks[1], "{tree}");

    // stats --contexts: every enqueue (the spawn's, then each wake-up by SysTick) ends at the
    // task's next poll, so each pool's row counts its polls.
    let util: Value =
        serde_json::from_str(&cli_ok(&["stats", "--contexts", trace, "--json", "--elf", elf])).expect("JSON");
    let waits = |pool: &str| -> u64 {
        let rows = util["latency"]["rows"].as_array().unwrap();
        let row = rows.iter().find(|r| r["what"] == "wake_to_poll" && r["name"] == pool);
        row.unwrap_or_else(|| panic!("no wake → poll row for {pool}: {util}"))["count"].as_u64().unwrap()
    };
    assert_eq!(waits("blink"), blinks[0] + blinks[1], "{util}");
    assert_eq!(waits("ticker"), fw["ticker"] + 1, "{util}");
    assert_eq!(util["latency"]["dropped_at_gaps"], 0, "{util}");
}
