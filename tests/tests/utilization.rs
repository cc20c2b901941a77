//! `tickspan stats --contexts` on a recording with a thread and an interrupt handler: each
//! context's busy time is what `stats` counts as the self time of its spans (two views, two
//! code paths), the shares add up, the curve of what interrupts leave grows with the window,
//! and `--svg` plots a line per context.

use serde_json::Value;
use tickspan_tests::{run, scratch, workspace};

fn json(args: &[&str]) -> Value {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn contexts_share_the_time_their_spans_took() {
    let trace = workspace().join("fuzz/seeds/bench-gen-isr.tspn");
    let trace = trace.to_str().unwrap();
    let util = json(&["stats", "--contexts", "--json", trace]);
    let stats = json(&["stats", "--json", trace]);
    let self_of = |kind: &str| -> u64 {
        stats["spans"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == kind)
            .map(|s| s["self_time"].as_u64().unwrap())
            .sum()
    };
    let row = |kind: &str| util["rows"].as_array().unwrap().iter().find(|r| r["kind"] == kind).cloned().unwrap();
    let (thread, isr) = (row("thread"), row("isr"));
    assert_eq!(thread["name"], "thread mode");
    assert_eq!(isr["name"], "SysTick");
    assert_eq!(thread["busy_ns"].as_u64(), Some(self_of("span")), "{util}");
    assert_eq!(isr["busy_ns"].as_u64(), Some(self_of("isr")), "{util}");
    let share = |r: &Value| r["share"].as_f64().unwrap();
    let total = util["busy_share"].as_f64().unwrap();
    assert!((share(&thread) + share(&isr) - total).abs() < 1e-9 && total <= 1.0 && total > 0.9, "{util}");
    assert_eq!(thread["windows"].as_array().unwrap().len(), 16);
    let curve: Vec<f64> =
        util["isr_load"].as_array().unwrap().iter().map(|l| l["min_left"].as_f64().unwrap()).collect();
    assert!(curve.len() > 3 && curve.windows(2).all(|w| w[0] <= w[1] + 1e-9), "{curve:?}");
    assert!((curve.last().unwrap() - (1.0 - share(&isr))).abs() < 1e-6, "the whole trace's window: {curve:?}");

    let svg = scratch("utilization").join("util.svg");
    let out = run(&["stats", "--contexts", trace, "--svg", svg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("thread mode (thread)") && text.contains("minimum utilization"), "{text}");
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 2, "{svg}");
    // One node only.
    let two = workspace().join("fuzz/seeds/std-demo.tspn");
    let out = run(&["stats", "--contexts", trace, two.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
}
