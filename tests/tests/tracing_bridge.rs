//! `tickspan::tracing_bridge::Subscriber`: code instrumented with `tracing` recorded into
//! tickspan's rings, drained to a file and read back by the CLI with the callsites' names
//! (run-time callsites, sent in the stream's dictionary), nesting, levels and payloads.

use serde_json::Value;
use tickspan_tests::{run, scratch};

fn handle(n: u32) {
    let _req = tracing::info_span!("request").entered();
    tracing::info!(value = n, other = 7u32, "got");
    {
        let _db = tracing::debug_span!("query").entered();
        tracing::warn!(rows = 3u64, "slow");
    }
    tracing::trace!("dropped by the level filter");
}

#[test]
fn tracing_spans_and_events_reach_the_cli_with_their_names() {
    let path = scratch("tracing-bridge").join("t.tspn");
    let drain = tickspan::transport::to_file(&path).expect("open trace file");
    let sub = tickspan::tracing_bridge::Subscriber::new().with_min_level(tickspan::Level::Debug);
    tracing::subscriber::with_default(sub, || (0..3).for_each(handle));
    drain.finish().expect("drain");
    let p = path.to_str().unwrap();

    let out = run(&["tree", p, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let trees: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|t: &Value| t["type"] == "tree")
        .collect();
    assert_eq!(trees.len(), 3, "{trees:?}");
    for (i, t) in trees.iter().enumerate() {
        let root = &t["root"];
        assert_eq!(root["name"], "request");
        let kids = root["children"].as_array().unwrap();
        let names: Vec<&str> = kids.iter().map(|k| k["name"].as_str().unwrap()).collect();
        // Events are named by tracing after their file and line; the span by its name.
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].starts_with("event "), "{names:?}");
        assert_eq!(names[1], "query");
        assert_eq!(kids[0]["value"], i as u64, "the field named value is the payload: {}", kids[0]);
        let slow = &kids[1]["children"][0];
        assert_eq!(slow["value"], 3, "else the first integer field: {slow}");
    }

    let dump = run(&["dump", p, "--json"]);
    let text = String::from_utf8(dump.stdout).unwrap();
    assert!(!text.contains("dropped by the level filter") && !text.contains("tracing_bridge.rs:15"), "trace level is filtered");
    let levels: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["name"] == "query" || v["name"] == "request")
        .collect();
    assert!(!levels.is_empty(), "{text}");
}
