//! Record a known call chain (src/bin/chain.rs) with the std drain, then check what the CLI
//! makes of it: tree, stats, dump and every export.

use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use tickspan_tests::{record, run, run_ok as ok, scratch};

/// The recorded trace (recorded once for all tests of this file).
fn trace() -> &'static PathBuf {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| record(env!("CARGO_BIN_EXE_chain"), "e2e", "chain.tspn"))
}

fn stats() -> HashMap<String, Value> {
    let t = trace().to_str().unwrap();
    let v: Value = serde_json::from_str(&ok(&["stats", t, "--json"])).expect("stats JSON");
    assert_eq!(v["unit"], "ns");
    v["spans"].as_array().unwrap().iter().map(|r| (r["name"].as_str().unwrap().to_string(), r.clone())).collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

#[test]
fn stats_match_the_recorded_chain() {
    let s = stats();
    for (name, count) in [("request", 3), ("decode", 3), ("store", 3), ("job", 1), ("job_io", 1)] {
        assert_eq!(u(&s[name]["count"]), count, "{name}");
        assert_eq!(u(&s[name]["unfinished"]), 0, "{name}");
    }
    // Sleeps bound the durations from below.
    assert!(u(&s["decode"]["min"]) >= 1_000_000);
    assert!(u(&s["store"]["min"]) >= 2_000_000);
    assert!(u(&s["request"]["min"]) >= 3_000_000);
    assert!(u(&s["job_io"]["min"]) >= 1_000_000);
    assert!(u(&s["job"]["min"]) >= u(&s["job_io"]["max"]));
    // Self time of a parent is its total minus its children's (ns rounding aside).
    let (req, dec, sto) = (&s["request"], &s["decode"], &s["store"]);
    let expect = u(&req["total"]) - u(&dec["total"]) - u(&sto["total"]);
    assert!(u(&req["self_time"]).abs_diff(expect) <= 3, "self {} vs {expect}", req["self_time"]);
    assert_eq!(u(&dec["self_time"]), u(&dec["total"]));
    for r in s.values() {
        let (min, p50, p99, max) = (u(&r["min"]), u(&r["p50"]), u(&r["p99"]), u(&r["max"]));
        assert!(min <= p50 && p50 <= p99 && p99 <= max, "{r}");
        assert_eq!(u(&r["buckets"][0]["count"]), u(&r["count"]), "all spans are ≥ 10 µs: {r}");
        assert_eq!((u(&r["buckets"][0]["at_least"]), &r["buckets"][0]["label"]), (10_000, &Value::from("≥10µs")));
    }
}

#[test]
fn tree_shows_nesting_events_and_contexts() {
    let t = trace().to_str().unwrap();
    let out = ok(&["tree", t]);
    assert_eq!(out.matches("\nrequest  ").count() + out.starts_with("request  ") as usize, 3, "{out}");
    assert_eq!(out.matches("├─ decode  ").count(), 3, "{out}");
    assert_eq!(out.matches("└─ store  ").count(), 3, "{out}");
    for i in 0..3 {
        assert!(out.contains(&format!("│  └─ • bytes = {i} (+")), "{out}");
    }
    assert!(out.contains("── main @"), "{out}");
    assert!(out.contains("job #") && out.contains("└─ job_io #"), "{out}");

    let merged = ok(&["tree", t, "--merge"]);
    assert!(merged.contains("request  ×3  total"), "{merged}");
    assert!(merged.contains("decode  ×3") && merged.contains("store  ×3"), "{merged}");

    let only = ok(&["tree", t, "--name", "store"]);
    assert_eq!(only.matches("in request ──\nstore  ").count(), 3, "{only}");
    assert!(!only.contains("decode"), "{only}");

    // Sleeps overshoot under load: put the threshold between the measured decode and store.
    let s = stats();
    let (decode_max, store_min) = (u(&s["decode"]["max"]), u(&s["store"]["min"]));
    if decode_max < store_min {
        let min = format!("{}ns", decode_max + 1);
        let long = ok(&["tree", t, "--min-duration", &min, "--context", "main"]);
        assert_eq!(long.matches("├─ store  ").count(), 3, "{long}");
        assert!(!long.contains("decode  "), "{long}");
        assert_eq!(long.matches("└─ … 1 span hidden by filters").count(), 3, "{long}");
    }
    let none = ok(&["tree", t, "--context", "no-such-context"]);
    assert!(none.is_empty(), "{none}");
}

#[test]
fn tree_json_lines_agree_with_the_text_view() {
    let t = trace().to_str().unwrap();
    let out = ok(&["tree", t, "--json"]);
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    let trees: Vec<&Value> = lines.iter().filter(|l| l["type"] == "tree" && l["root"]["name"] == "request").collect();
    assert_eq!(trees.len(), 3, "{out}");
    for (i, tr) in trees.iter().enumerate() {
        assert_eq!((&tr["context"], &tr["unit"]), (&Value::from("main"), &Value::from("ns")), "{tr}");
        let root = &tr["root"];
        let kids = root["children"].as_array().unwrap();
        let spans: Vec<&Value> = kids.iter().filter(|c| c["type"] == "span").collect();
        assert_eq!(spans.iter().map(|c| c["name"].as_str().unwrap()).collect::<Vec<_>>(), ["decode", "store"]);
        // Self time is the duration less the children's (ns rounding aside); children lie
        // inside the parent.
        let child_sum: u64 = spans.iter().map(|c| u(&c["duration"])).sum();
        assert!(u(&root["self"]).abs_diff(u(&root["duration"]) - child_sum) <= 3, "{root}");
        for c in &spans {
            assert!(u(&c["start"]) >= u(&root["start"]), "{c}");
            assert!(u(&c["start"]) + u(&c["duration"]) <= u(&root["start"]) + u(&root["duration"]), "{c}");
        }
        let bytes = &spans[0]["children"][0];
        assert_eq!(
            (&bytes["type"], &bytes["name"], u(&bytes["value"])),
            (&Value::from("value"), &Value::from("bytes"), i as u64)
        );
    }
    let merged = ok(&["tree", t, "--json", "--merge"]);
    let m: Value = serde_json::from_str(merged.lines().find(|l| l.contains("\"context\":\"main\"")).unwrap()).unwrap();
    let req = m["children"].as_array().unwrap().iter().find(|c| c["name"] == "request").expect("request merged");
    assert_eq!(u(&req["count"]), 3, "{req}");
    let text_total: u64 = trees.iter().map(|tr| u(&tr["root"]["duration"])).sum();
    assert!(u(&req["total"]).abs_diff(text_total) <= 3, "merged total is the sum of the trees: {req}");
}

#[test]
fn chrome_export_nests_and_agrees_with_stats() {
    let t = trace().to_str().unwrap();
    let doc: Value = serde_json::from_str(&ok(&["export", t, "--format", "chrome"])).expect("chrome JSON");
    let events = doc["traceEvents"].as_array().unwrap();
    let x: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(x.len(), 9);
    // Per (pid, tid), X events nest: any two are disjoint or one contains the other.
    let eps = 0.0015;
    for a in &x {
        for b in &x {
            if a["tid"] != b["tid"] {
                continue;
            }
            let (a0, a1) = (a["ts"].as_f64().unwrap(), a["ts"].as_f64().unwrap() + a["dur"].as_f64().unwrap());
            let (b0, b1) = (b["ts"].as_f64().unwrap(), b["ts"].as_f64().unwrap() + b["dur"].as_f64().unwrap());
            let disjoint = a1 <= b0 + eps || b1 <= a0 + eps;
            let nested = (a0 >= b0 - eps && a1 <= b1 + eps) || (b0 >= a0 - eps && b1 <= a1 + eps);
            assert!(disjoint || nested, "{a} / {b}");
        }
    }
    // Durations agree with stats (µs with 3 decimals vs ns).
    let s = stats();
    for name in ["request", "decode", "store"] {
        let sum: f64 = x.iter().filter(|e| e["name"] == name).map(|e| e["dur"].as_f64().unwrap()).sum();
        let total = u(&s[name]["total"]) as f64 / 1e3;
        assert!((sum - total).abs() < 0.01, "{name}: {sum} vs {total}");
    }
    // Every decode lies inside a request.
    for d in x.iter().filter(|e| e["name"] == "decode") {
        let ts = d["ts"].as_f64().unwrap();
        assert!(x.iter().any(|r| r["name"] == "request"
            && r["ts"].as_f64().unwrap() <= ts + eps
            && ts + d["dur"].as_f64().unwrap() <= r["ts"].as_f64().unwrap() + r["dur"].as_f64().unwrap() + eps));
    }
    let b: Vec<&Value> = events.iter().filter(|e| e["ph"] == "b").collect();
    let e: Vec<&Value> = events.iter().filter(|e| e["ph"] == "e").collect();
    assert_eq!((b.len(), e.len()), (2, 2));
    assert!(events.iter().any(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "main"));
    assert!(events.iter().any(|e| e["ph"] == "i" && e["name"] == "bytes"));
}

#[test]
fn otlp_export_has_hex_ids_and_parent_links() {
    let t = trace().to_str().unwrap();
    let doc: Value = serde_json::from_str(&ok(&["export", t, "--format", "otlp"])).expect("OTLP JSON");
    let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 11);
    let is_hex = |v: &Value, n: usize| {
        let s = v.as_str().unwrap_or_default();
        s.len() == n
            && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && s.bytes().any(|b| b != b'0')
    };
    let by_id: HashMap<&str, &Value> = spans.iter().map(|s| (s["spanId"].as_str().unwrap(), s)).collect();
    assert_eq!(by_id.len(), 11, "span ids are unique");
    for s in spans {
        assert!(is_hex(&s["traceId"], 32) && is_hex(&s["spanId"], 16), "{s}");
        assert_eq!(s["kind"], 1);
        let start: u64 = s["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u64 = s["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        // The std drain anchors the clock: times are wall-clock (after 2020).
        assert!(start > 1_577_836_800_000_000_000 && end >= start, "{s}");
        let name = s["name"].as_str().unwrap();
        let parent = s.get("parentSpanId").map(|p| by_id[p.as_str().unwrap()]);
        match name {
            "decode" | "store" => {
                let p = parent.expect("has parent");
                assert_eq!(p["name"], "request");
                assert_eq!(p["traceId"], s["traceId"]);
            }
            "job_io" => assert_eq!(parent.expect("has parent")["name"], "job"),
            _ => assert!(parent.is_none(), "{s}"),
        }
    }
}

#[test]
fn folded_flamegraph_and_dump() {
    let t = trace().to_str().unwrap();
    let folded = ok(&["export", t, "--format", "folded"]);
    let paths: Vec<&str> = folded.lines().map(|l| l.rsplit_once(' ').unwrap().0).collect();
    for p in ["main;request", "main;request;decode", "main;request;store", "manual\u{a0}spans;job;job_io"] {
        assert!(paths.contains(&p), "{p} in {folded}");
    }
    let decode_ns: u64 = folded
        .lines()
        .find(|l| l.starts_with("main;request;decode "))
        .unwrap()
        .rsplit_once(' ')
        .unwrap()
        .1
        .parse()
        .unwrap();
    // Summed per span in ns vs converted once from ticks: equal up to rounding.
    assert!(decode_ns.abs_diff(u(&stats()["decode"]["self_time"])) <= 3);

    let dir = scratch("flame");
    let svg = dir.join("f.svg");
    ok(&["export", t, "--format", "flamegraph", "-o", svg.to_str().unwrap()]);
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("request") && svg.trim_end().ends_with("</svg>"));

    let dump = ok(&["dump", t, "--json"]);
    let lines: Vec<Value> = dump.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert_eq!(lines[0]["type"], "header");
    let enters = lines.iter().filter(|l| l["kind"] == "SpanEnter").count();
    assert_eq!(enters, 9);
    assert!(lines.iter().any(|l| l["type"] == "callsite" && l["name"] == "job_io"));
    let text = ok(&["dump", t]);
    assert!(text.contains("SpanStart  job_io id"), "{text}");
}

#[test]
fn generated_trace_charges_interrupt_time() {
    // bench-gen: a control loop on context 0, a SysTick handler on context 1 every 100 µs of
    // 0.45 µs, drained per context like a real drain (so the CLI must merge them by time).
    let path = scratch("bench-gen").join("gen.tspn");
    ok(&["bench-gen", path.to_str().unwrap(), "--records", "200000"]);
    let p = path.to_str().unwrap();
    let v: Value = serde_json::from_str(&ok(&["stats", p, "--json"])).unwrap();
    let rows: HashMap<&str, &Value> =
        v["spans"].as_array().unwrap().iter().map(|r| (r["name"].as_str().unwrap(), r)).collect();
    let isr = rows["SysTick"];
    assert_eq!(isr["kind"], "isr");
    assert_eq!(u(&isr["min"]), 450);
    assert_eq!(u(&isr["max"]), 450);
    // Nearly every handler run preempts the loop (a few fall between two iterations); each
    // whole run is charged to main_loop, and its self time excludes them.
    let (total, charged) = (u(&isr["total"]), u(&rows["main_loop"]["isr"]));
    assert!(charged <= total && charged * 100 >= total * 95, "{charged} of {total}");
    assert_eq!(charged % 450, 0, "whole handler runs only");
    let main = rows["main_loop"];
    let children: u64 = ["poll_sensors", "control"].iter().map(|n| u(&rows[n]["total"])).sum();
    let expect = u(&main["total"])
        - children
        - (charged - ["poll_sensors", "control"].iter().map(|n| u(&rows[n]["isr"])).sum::<u64>());
    assert!(u(&main["self_time"]).abs_diff(expect) <= 5, "self {} vs {expect}", main["self_time"]);
    let records: u64 = ok(&["dump", "--json", p]).lines().filter(|l| l.contains("\"type\":\"record\"")).count() as u64;
    assert!((199_000..=200_000).contains(&records), "{records}");
    let merged = ok(&["tree", p, "--merge", "--context", "SysTick"]);
    assert!(merged.contains("SysTick") && !merged.contains("main_loop"), "{merged}");
}

#[test]
fn bench_gen_keeps_an_existing_file_unless_forced() {
    let path = scratch("bench-gen-force").join("kept.tspn");
    std::fs::write(&path, b"precious").unwrap();
    let p = path.to_str().unwrap();
    let out = run(&["bench-gen", p, "--records", "1000"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("exists (--force overwrites it)"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    ok(&["bench-gen", p, "--records", "1000", "--force"]);
    assert!(ok(&["stats", p]).contains("main_loop"));
}
