//! defmt log lines in the span tree: the `defmt_tree` firmware logs with defmt (stamped with
//! tickspan's clock) inside tickspan spans, in thread mode and in its SysTick handler;
//! `tickspan attach --gdb … --elf …` reads defmt-rtt's channel beside tickspan's, and `tree`
//! must show each line, formatted, inside the span that was open in the context that logged
//! it. `dump` shows the same lines as events, in time order with the records around them.
//!
//! Needs `qemu-system-arm` and the `thumbv7m-none-eabi` target (skipped loudly outside CI).

mod gdb_support;

use gdb_support::{boot, dump};

#[test]
fn attach_shows_defmt_lines_inside_the_spans_that_logged_them() {
    let Some(fw) = boot("qemu_defmt_tree", "defmt_tree", "rtt,defmt", "defmt-tree", true) else {
        return;
    };
    let out = fw.dir.join("defmt.tspn");
    let res = fw.attach(&out, &[]);
    let tree = String::from_utf8_lossy(&res.stdout).into_owned();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");

    // Each `parse` span holds its own line, with the message's length formatted in.
    let lines: Vec<&str> = tree.lines().collect();
    for (i, n) in (9..13).enumerate() {
        let want = format!("▸ INFO parsed {n} bytes (+");
        let at = lines
            .iter()
            .position(|l| l.contains(&want))
            .unwrap_or_else(|| panic!("no {want:?} in\n{tree}"));
        let parent = lines[..at]
            .iter()
            .rev()
            .find(|l| !l.contains("INFO"))
            .unwrap();
        assert!(
            parent.contains("├─ parse "),
            "line {i} under {parent:?}\n{tree}"
        );
        assert!(lines[at].starts_with("│  └─ ▸ INFO"), "{:?}", lines[at]);
    }
    // The handler's lines are inside `ISR SysTick`, each in its own handler run.
    for n in [1, 2] {
        let at = lines
            .iter()
            .position(|l| l.contains(&format!("└─ ▸ INFO tick {n} (+")))
            .unwrap_or_else(|| panic!("no tick {n} in\n{tree}"));
        assert!(lines[at - 1].starts_with("ISR SysTick"), "{tree}");
    }
    // Thread mode's lines before each interrupt are in `idle`, not in the handler.
    let idle = lines
        .iter()
        .position(|l| l.starts_with("idle "))
        .expect("idle span");
    for n in [1, 2] {
        assert!(
            lines[idle..]
                .iter()
                .any(|l| l.contains(&format!("▸ INFO waiting for tick {n} (+"))),
            "{tree}"
        );
    }
    // Before any span: the first line, on its context's header line.
    assert!(tree.contains("INFO defmt_tree: 4 messages"), "{tree}");

    // The saved stream carries the lines: `dump` has them as events of the right contexts,
    // each between its span's enter and exit.
    let d = dump(&out, None);
    assert_eq!(d.skipped, 0);
    let t = d.ctx(0);
    let names: Vec<(&str, &str)> = t
        .iter()
        .take(5)
        .map(|r| (r.kind.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Event", "INFO defmt_tree: 4 messages"),
            ("SpanEnter", "handle"),
            ("SpanEnter", "parse"),
            ("Event", "INFO parsed 9 bytes"),
            ("SpanExit", "parse"),
        ]
    );
    let isr: Vec<(&str, &str)> = d
        .ctx(1)
        .iter()
        .map(|r| (r.kind.as_str(), r.name.as_str()))
        .collect();
    assert_eq!(
        isr,
        [
            ("IsrEnter", "SysTick"),
            ("Event", "INFO tick 1"),
            ("IsrExit", "SysTick"),
            ("IsrEnter", "SysTick"),
            ("Event", "INFO tick 2"),
            ("IsrExit", "SysTick"),
        ]
    );
    for w in t.windows(2).chain(d.ctx(1).windows(2)) {
        assert!(w[0].ts <= w[1].ts, "time order: {w:?}");
    }
}
