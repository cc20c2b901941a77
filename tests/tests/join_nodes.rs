//! Two processes of one trace (src/bin/node.rs: a client that calls a server with a
//! `traceparent`), each with its own trace file, joined by the CLI: one tree across both
//! nodes, the server's root under the client's calling span, clocks aligned, and an OTLP
//! export with a resource per node and the ids the processes used.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use tickspan_tests::{run, scratch};

fn traces() -> &'static (PathBuf, PathBuf) {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = scratch("join");
        let mut node = Command::new(env!("CARGO_BIN_EXE_node"));
        let status = node.env("TICKSPAN_NODE", "client").arg("client").arg(&dir).status().expect("run node");
        assert!(status.success());
        (dir.join("client.tspn"), dir.join("server.tspn"))
    })
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "tickspan {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn files() -> [String; 2] {
    let (c, s) = traces();
    [c.display().to_string(), s.display().to_string()]
}

fn n(v: &Value) -> i128 {
    v.as_str().map(|s| s.parse().unwrap()).or_else(|| v.as_i64().map(i128::from)).unwrap_or_else(|| panic!("{v}"))
}

#[test]
fn one_tree_across_two_processes() {
    let [c, s] = files();
    let v: Value = serde_json::from_str(&ok(&["tree", &c, &s, "--json"])).expect("JSON");
    let nodes = v["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!((nodes[0]["name"].as_str(), nodes[1]["name"].as_str()), (Some("client"), Some("server")));
    assert!(nodes.iter().all(|n| n["aligned"] == true), "{nodes:?}");
    let traces = v["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1, "one trace: {traces:#?}");
    let roots = traces[0]["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 1);
    let request = &roots[0];
    assert_eq!((request["name"].as_str(), request["node"].as_str()), (Some("request"), Some("client")));
    let call = &request["children"][0];
    assert_eq!(call["name"], "call server");
    let handle = &call["children"][0];
    assert_eq!((handle["name"].as_str(), handle["node"].as_str()), (Some("handle"), Some("server")));
    assert_eq!(handle["parent_span_id"], call["span_id"], "the server names the client's span");
    assert_eq!(handle["remote_parent"], true);
    assert_eq!(handle["children"][0]["name"], "work");
    // Aligned: the callee runs inside its caller, and the caller's self time excludes it.
    let (cs, ce) = (n(&call["start_ns"]), n(&call["start_ns"]) + n(&call["duration_ns"]));
    let (hs, he) = (n(&handle["start_ns"]), n(&handle["start_ns"]) + n(&handle["duration_ns"]));
    assert!(cs <= hs && he <= ce, "call {cs}..{ce}, handle {hs}..{he}");
    assert!(n(&handle["duration_ns"]) >= 2_000_000);
    assert_eq!(n(&handle["wire_ns"]), n(&call["duration_ns"]) - n(&handle["duration_ns"]));
    assert!(n(&call["self_ns"]) <= n(&call["duration_ns"]) - n(&handle["duration_ns"]));

    // The names in the stream headers (TICKSPAN_NODE) name the nodes; --node overrides them.
    let text = ok(&["tree", &c, &s, "--node", "gw", "--node", "be"]);
    assert!(text.contains(&format!("trace {}", traces[0]["trace_id"].as_str().unwrap())), "{text}");
    for line in ["request", "call server", "handle", "work", "[gw · main]", "[be · main]", "wire"] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}

#[test]
fn otlp_export_of_two_nodes_keeps_the_ids_they_used() {
    let [c, s] = files();
    let out = scratch("join").join("otlp.json");
    ok(&["export", "-f", "otlp", &c, &s, "-o", out.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("JSON");
    let rs = v["resourceSpans"].as_array().unwrap();
    assert_eq!(rs.len(), 2, "a resource per node");
    let mut spans = Vec::new();
    for (r, name) in rs.iter().zip(["client", "server"]) {
        let attrs = r["resource"]["attributes"].as_array().unwrap();
        assert!(attrs.iter().any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == name), "{attrs:?}");
        spans.extend(r["scopeSpans"][0]["spans"].as_array().unwrap().iter().cloned());
    }
    let by = |n: &str| spans.iter().find(|s| s["name"] == n).unwrap_or_else(|| panic!("{n}")).clone();
    let (request, call, handle, work) = (by("request"), by("call server"), by("handle"), by("work"));
    for s in [&call, &handle, &work] {
        assert_eq!(s["traceId"], request["traceId"]);
    }
    assert!(request.get("parentSpanId").is_none());
    assert_eq!(call["parentSpanId"], request["spanId"]);
    assert_eq!(handle["parentSpanId"], call["spanId"]);
    assert_eq!(handle["flags"].as_u64().unwrap() & 0x300, 0x300, "parent known remote: {handle}");
    assert_eq!(work["parentSpanId"], handle["spanId"]);
    let t = |s: &Value, k: &str| s[k].as_str().unwrap().parse::<u128>().unwrap();
    assert!(t(&call, "startTimeUnixNano") <= t(&handle, "startTimeUnixNano"));
    assert!(t(&handle, "endTimeUnixNano") <= t(&call, "endTimeUnixNano"));
}

#[test]
fn a_node_that_cannot_be_aligned_is_named() {
    let [c, _] = files();
    // A stream without clock anchor and without links: write one with the chain binary? The
    // chain binary's stream has an anchor; node alignment then rests on it, unchecked.
    let chain = scratch("join").join("chain.tspn");
    assert!(Command::new(env!("CARGO_BIN_EXE_chain")).arg(&chain).status().unwrap().success());
    let v: Value = serde_json::from_str(&ok(&["tree", &c, chain.to_str().unwrap(), "--json"])).unwrap();
    assert_eq!(v["nodes"][1]["describe"], "wall clock (no parent/child pair checks it)");
    assert!(n(&v["nodes"][1]["untraced_spans"]) > 0);
    let out = run(&["tree", &c, chain.to_str().unwrap(), "--node", "x"]);
    assert_eq!(out.status.code(), Some(0));
    let bad = run(&["tree", &c, &c]);
    assert_eq!(bad.status.code(), Some(1), "two inputs named alike");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--node"));
}

#[test]
fn merged_stream_reads_back_as_the_same_nodes_and_trees() {
    let [c, s] = files();
    let merged = scratch("join").join("all.tspn");
    let m = merged.to_str().unwrap();
    let _ = std::fs::remove_file(&merged);
    ok(&["merge", &c, &s, "-o", m]);
    let refused = run(&["merge", &c, &s, "-o", m]);
    assert_eq!(refused.status.code(), Some(1), "an existing output needs --force");
    ok(&["merge", &c, &s, "-o", m, "--force"]);

    let joined: Value = serde_json::from_str(&ok(&["tree", &c, &s, "--json"])).unwrap();
    let back: Value = serde_json::from_str(&ok(&["tree", m, "--json"])).unwrap();
    assert_eq!(back["traces"], joined["traces"], "the merged file holds the same trees, on the same time line");
    let names: Vec<_> = back["nodes"].as_array().unwrap().iter().map(|n| n["name"].clone()).collect();
    assert_eq!(names, ["client", "server"]);
    let dump = ok(&["dump", m]);
    let headers: Vec<_> = dump.lines().filter(|l| l.starts_with("header")).collect();
    assert_eq!(headers.len(), 2, "{dump}");
    assert!(headers[0].contains("node 0") && headers[0].contains("\"client\""), "{headers:?}");
    assert!(headers[1].contains("node 1") && headers[1].contains("\"server\""), "{headers:?}");
    // One file of one node is still read as before.
    let single = ok(&["tree", &c]);
    assert!(single.contains("request") && !single.contains("nodes:"), "{single}");
}

#[test]
fn chrome_export_of_two_nodes_has_a_process_each_and_a_flow_from_caller_to_callee() {
    let [c, s] = files();
    let out = scratch("join").join("chrome.json");
    ok(&["export", "-f", "chrome", &c, &s, "-o", out.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("JSON");
    let ev = v["traceEvents"].as_array().unwrap();
    let process = |name: &str| {
        let m = ev.iter().find(|e| e["name"] == "process_name" && e["args"]["name"] == name);
        m.unwrap_or_else(|| panic!("process {name}"))["pid"].clone()
    };
    let (client, server) = (process("client"), process("server"));
    assert_ne!(client, server);
    let slice =
        |name: &str| ev.iter().find(|e| e["ph"] == "X" && e["name"] == name).unwrap_or_else(|| panic!("{name}"));
    let (call, handle) = (slice("call server"), slice("handle"));
    assert_eq!((&call["pid"], &handle["pid"]), (&client, &server));
    let f = |e: &Value, k: &str| e[k].as_f64().unwrap();
    // Aligned: the callee's slice lies inside the caller's.
    assert!(
        f(call, "ts") <= f(handle, "ts") && f(handle, "ts") + f(handle, "dur") <= f(call, "ts") + f(call, "dur") + 1e-3
    );
    let start = ev.iter().find(|e| e["ph"] == "s").expect("a flow start");
    let end = ev.iter().find(|e| e["ph"] == "f" && e["id"] == start["id"]).expect("its end");
    assert_eq!((&start["pid"], &start["tid"]), (&call["pid"], &call["tid"]), "the flow leaves the caller's thread");
    assert_eq!((&end["pid"], &end["tid"], &end["bp"]), (&handle["pid"], &handle["tid"], &Value::from("e")));
    assert!((f(end, "ts") - f(handle, "ts")).abs() < 1e-3, "it binds to the callee's slice");
    assert!(f(call, "ts") <= f(start, "ts") && f(start, "ts") <= f(call, "ts") + f(call, "dur"));
}
