//! The example end to end: a local HTTPS server (its certificate made now, trusted through
//! `--ca`), the example binary GETting from it and from a closed port, and `tickspan tree` /
//! `dump --json` on what it recorded: one tree per request, phases in order.

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use tickspan_tests::{run_ok, scratch};

struct Run {
    trace: PathBuf,
    out: Output,
    port: u16,
    closed: u16,
}

/// Records once: localhost twice (the second on the kept-alive connection), 127.0.0.1 (no
/// lookup, a new connection: another pool key), then a port nothing listens on.
fn recorded() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let server = support::start(true);
        let dir = scratch("httptrace");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, server.ca_pem.as_ref().expect("a TLS server")).unwrap();
        let trace = dir.join("trace.tspn");
        let (port, closed) = (server.port, support::closed_port());
        let out = Command::new(env!("CARGO_BIN_EXE_httptrace"))
            .arg("-o")
            .arg(&trace)
            .arg("--ca")
            .arg(&ca)
            .args([
                format!("https://localhost:{port}/"),
                format!("https://localhost:{port}/size/1000"),
                format!("https://127.0.0.1:{port}/"),
                format!("http://127.0.0.1:{closed}/"),
            ])
            .output()
            .expect("run httptrace");
        Run { trace, out, port, closed }
    })
}

fn path() -> &'static str {
    recorded().trace.to_str().unwrap()
}

/// The `request` trees of `tree --json`, in order.
fn trees() -> Vec<Value> {
    let out = run_ok(&["tree", "--json", path()]);
    let roots: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["type"] == "tree")
        .map(|l| l["root"].clone())
        .collect();
    assert!(roots.iter().all(|r| r["name"] == "request" && r["type"] == "manual"), "only request trees: {out}");
    roots
}

fn names(tree: &Value) -> Vec<&str> {
    tree["children"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect()
}

/// Each child lasts, starts after the one before it ends, and lies inside the request.
fn assert_phases_in_order(tree: &Value) {
    let (start, dur) = (tree["start"].as_u64().unwrap(), tree["duration"].as_u64().unwrap());
    let mut at = start;
    for c in tree["children"].as_array().unwrap() {
        let (s, d) = (c["start"].as_u64().unwrap(), c["duration"].as_u64().unwrap());
        assert!(d > 0, "{} lasts: {tree}", c["name"]);
        assert!(s >= at, "{} starts after the phase before it ends: {tree}", c["name"]);
        at = s + d;
    }
    assert!(at <= start + dur, "phases inside the request: {tree}");
}

/// The text tree's `request` lines (fields and status after the name).
fn request_lines() -> Vec<String> {
    run_ok(&["tree", path()]).lines().filter(|l| l.starts_with("request #")).map(str::to_owned).collect()
}

#[test]
fn the_binary_reports_each_request() {
    let r = recorded();
    let err = String::from_utf8_lossy(&r.out.stderr);
    assert_eq!(r.out.status.code(), Some(1), "one request failed: {err}");
    let p = r.port;
    assert!(err.contains(&format!("GET https://localhost:{p}/: 200 (5 bytes, reused: false)")), "{err}");
    assert!(err.contains(&format!("GET https://localhost:{p}/size/1000: 200 (1000 bytes, reused: true)")), "{err}");
    assert!(err.contains("Connection refused"), "{err}");
}

#[test]
fn one_tree_per_request_with_its_phases_in_order() {
    let t = trees();
    assert_eq!(t.len(), 4, "{t:?}");
    let fresh = ["dns", "connect", "tls", "write request", "wait response", "read response"];
    assert_eq!(names(&t[0]), fresh);
    // 127.0.0.1 needs no lookup.
    assert_eq!(names(&t[2]), fresh[1..]);
    for tree in &t[..3] {
        assert_phases_in_order(tree);
    }
    let lines = request_lines();
    let p = recorded().port;
    assert!(lines[0].contains(&format!(" method=\"GET\" port={p} reused=false status=200 bytes=5  ")), "{lines:?}");
    assert!(lines[2].contains("reused=false status=200 bytes=5  "), "{lines:?}");
    let tree = run_ok(&["tree", path()]);
    assert!(tree.lines().any(|l| l.starts_with("├─ dns #") && l.contains(" addrs=")), "localhost's lookup: {tree}");
}

#[test]
fn a_request_on_a_kept_alive_connection_has_no_dns_connect_or_tls() {
    let t = trees();
    assert_eq!(names(&t[1]), ["write request", "wait response", "read response"]);
    assert_phases_in_order(&t[1]);
    let lines = request_lines();
    assert!(lines[1].contains(" reused=true status=200 bytes=1000  "), "{lines:?}");
}

#[test]
fn a_closed_port_is_a_failed_connect() {
    let t = trees();
    assert_eq!(names(&t[3]), ["connect"]);
    let lines = request_lines();
    let closed = recorded().closed;
    assert!(lines[3].contains(&format!("port={closed} ✗ error: failed  ")), "{lines:?}");
    let tree = run_ok(&["tree", path()]);
    assert!(tree.contains("└─ connect #") && tree.contains(" ✗ error: connection refused  "), "{tree}");
    // The same in `tree --json`: fields and status of the manual spans, set after their start.
    assert_eq!((t[3]["fields"]["port"].clone(), t[3]["status"].clone()), (closed.into(), "error".into()), "{}", t[3]);
    let connect = &t[3]["children"][0];
    assert_eq!(
        (connect["status"].clone(), connect["status_message"].clone()),
        ("error".into(), "connection refused".into())
    );
    assert_eq!((t[0]["fields"]["status"].clone(), t[0]["status"].clone()), (200.into(), Value::Null), "{}", t[0]);
    // The status record names the connect span by id, written after its start.
    let dump: Vec<Value> =
        run_ok(&["dump", "--json", path()]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let connect_id = t[3]["children"][0]["id"].clone();
    let status = dump.iter().find(|l| l["status"] == "error" && l["name"] == "connection refused").expect("status");
    assert_eq!(status["span"], connect_id, "{status}");
    let stats: Value = serde_json::from_str(&run_ok(&["stats", "--json", path()])).unwrap();
    let row = |n: &str| stats["spans"].as_array().unwrap().iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!((row("connect")["count"].clone(), row("connect")["errors"].clone()), (3.into(), 1.into()));
    assert_eq!(row("request")["errors"], 1);
}
