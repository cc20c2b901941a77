//! `tickspan::log_bridge`: `log` calls recorded as tickspan events, drained to a file and read
//! back by the CLI with their names (the message when it has no arguments, else the target and
//! location), inside the span that was open; levels above the maximum are not recorded.

use serde_json::Value;
use tickspan_tests::{run, scratch};

#[test]
fn log_calls_become_named_events_inside_their_span() {
    tickspan::log_bridge::init(log::LevelFilter::Info).expect("the only logger");
    let path = scratch("log-bridge").join("t.tspn");
    let drain = tickspan::transport::to_file(&path).expect("open trace file");
    for n in 0..2 {
        let _g = tickspan::span!("poll");
        log::info!("link up");
        log::warn!("retry {}", n);
        log::debug!("not recorded");
    }
    drain.finish().expect("drain");

    let out = run(&["tree", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let trees: Vec<Value> =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|t| t["type"] == "tree").collect();
    assert_eq!(trees.len(), 2, "{text}");
    for t in &trees {
        assert_eq!(t["root"]["name"], "poll");
        let names: Vec<&str> =
            t["root"]["children"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 2, "debug is above the maximum level: {names:?}");
        assert_eq!(names[0], "link up");
        assert!(names[1].starts_with("log_bridge tests/tests/log_bridge.rs:"), "{names:?}");
    }
}
