//! `tickspan serve` end to end: a real server on a recorded trace; its JSON API agrees with
//! `stats --json` for the same stream, and it refuses what a read-only loopback server must.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tickspan_tests::{cli, run, scratch};

mod gdb_support;
mod serve_support;

/// A running `tickspan serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Server {
    let mut child = Command::new(cli())
        .arg("serve")
        .args(args)
        .args(["--http", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tickspan serve");
    let mut line = String::new();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    err.read_line(&mut line).expect("serve's first line");
    // Keep reading: the rest goes to the test's output.
    std::thread::spawn(move || err.lines().map_while(Result::ok).for_each(|l| eprintln!("serve: {l}")));
    let addr = line.split("http://").nth(1).and_then(|s| s.split('/').next()).unwrap_or_else(|| panic!("{line}"));
    Server { addr: addr.to_string(), child }
}

/// `(status, body)` of one HTTP request.
fn http(addr: &str, method: &str, path: &str, host: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the dashboard");
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{resp}"));
    (head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), body.to_string())
}

/// `/api/requests` once the input has been read to its end.
fn final_snapshot(s: &Server) -> Value {
    final_snapshot_of(s, 0)
}

/// [`final_snapshot`] of source `i` (`?source=i`).
fn final_snapshot_of(s: &Server, i: usize) -> Value {
    let t0 = Instant::now();
    loop {
        let (code, body) = http(&s.addr, "GET", &format!("/api/requests?source={i}"), "localhost");
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("JSON");
        if v["done"] == true {
            return v;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "never done: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A fresh recording per test (tests run in parallel: one file each).
fn chain_trace(name: &str) -> String {
    let path = scratch("serve").join(format!("{name}.tspn"));
    let status = Command::new(env!("CARGO_BIN_EXE_chain")).arg(&path).status().expect("run chain");
    assert!(status.success());
    path.to_str().unwrap().to_string()
}

#[test]
fn api_agrees_with_stats_json() {
    let trace = chain_trace("api");
    let out = run(&["stats", &trace, "--json"]);
    assert!(out.status.success());
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = serve(&[&trace, "--buckets", "0ns,10us,1ms", "--recent", "3"]);
    let v = final_snapshot(&s);
    assert_eq!(v["unit"], stats["unit"]);
    let families = v["families"].as_array().unwrap();
    let rows = stats["spans"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows.iter().filter(|r| r["kind"] != "task") {
        let name = row["name"].as_str().unwrap();
        let f = families.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no family {name}: {v}"));
        // The same numbers as `stats --json`, from the same code.
        assert_eq!(&f["stats"], row, "{name}");
        let count = row["count"].as_u64().unwrap();
        assert_eq!(f["all"], count, "{name}");
        let b = f["buckets"].as_array().unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!((&b[0]["label"], b[0]["count"].as_u64()), (&"≥0 ns".into(), Some(count)), "{name}");
        // ≥10µs agrees with stats' own ≥10µs bucket; recent traces are kept, at most 3.
        assert_eq!(b[1]["count"], row["buckets"][0]["count"], "{name}");
        let recent = b[0]["recent"].as_array().unwrap();
        assert_eq!(recent.len() as u64, count.min(3), "{name}");
        assert!(recent.iter().all(|t| t["duration"].as_u64() >= Some(row["min"].as_u64().unwrap())));
        assert_eq!(f["errors"]["count"], row["unfinished"], "{name}");
    }
    // Events: chain.rs records `bytes` = 0, 1, 2 once per request.
    let (code, body) = http(&s.addr, "GET", "/api/events", "localhost");
    assert_eq!(code, 200);
    let ev: Value = serde_json::from_str(&body).unwrap();
    let bytes =
        ev["events"].as_array().unwrap().iter().find(|e| e["name"] == "bytes").unwrap_or_else(|| panic!("{ev}"));
    assert_eq!((&bytes["all"], &bytes["error"], &bytes["level"]), (&3.into(), &false.into(), &"info".into()));
    let values: Vec<_> = bytes["recent"].as_array().unwrap().iter().map(|e| e["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["0", "1", "2"]);
    assert_eq!(ev["health"], v["health"]);
    // Drill-down: a `decode` span's tree is its request: request { decode, store }.
    let decode = families.iter().find(|f| f["name"] == "decode").unwrap();
    let uid = decode["buckets"][0]["recent"][0]["uid"].as_u64().unwrap();
    let (code, body) = http(&s.addr, "GET", &format!("/api/trace?uid={uid}"), "localhost");
    assert_eq!(code, 200, "{body}");
    let tree: Value = serde_json::from_str(&body).unwrap();
    let shape: Vec<(String, u64)> = tree["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["depth"].as_u64().unwrap()))
        .collect();
    let want = [("request", 0), ("decode", 1), ("store", 1)].map(|(n, d)| (n.to_string(), d));
    assert_eq!((shape.as_slice(), &tree["complete"]), (want.as_slice(), &true.into()));
    assert_eq!(http(&s.addr, "GET", "/api/trace?uid=999999", "localhost").0, 404);
    assert_eq!(http(&s.addr, "GET", "/api/trace", "localhost").0, 400);
    assert_eq!(v["health"]["lost"], 0);
    assert!(v["health"]["records"].as_u64().unwrap() > 0);
    // The page and its script are served; the page builds its text with textContent only.
    let (code, html) = http(&s.addr, "GET", "/", "127.0.0.1");
    assert!(code == 200 && html.contains("/dashboard.js"), "{html}");
    let (_, js) = http(&s.addr, "GET", "/dashboard.js", "127.0.0.1");
    assert!(js.contains("textContent") && !js.contains("innerHTML"));
}

#[test]
fn read_only_and_loopback_only() {
    let trace = chain_trace("refusals");
    let s = serve(&[&trace]);
    final_snapshot(&s);
    assert_eq!(http(&s.addr, "POST", "/api/requests", "localhost").0, 405);
    // DNS rebinding: a foreign Host is refused.
    assert_eq!(http(&s.addr, "GET", "/api/requests", "attacker.example").0, 403);
    assert_eq!(http(&s.addr, "GET", "/nope", "localhost").0, 404);
    // Another address than loopback needs --allow-remote.
    let out = run(&["serve", &trace, "--http", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
}

#[test]
fn several_sources_each_on_their_own_pages() {
    let chain = chain_trace("several");
    let demo = scratch("serve").join("std-demo.tspn");
    std::fs::copy(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/std-demo.tspn"), &demo).unwrap();
    let demo = demo.to_str().unwrap();
    let s = serve(&[&chain, "--also", demo]);
    let (_, list) = http(&s.addr, "GET", "/api/sources", "localhost");
    assert_eq!(serde_json::from_str::<Value>(&list).unwrap(), serde_json::json!([chain, demo]));
    for (i, trace) in [&chain as &str, demo].into_iter().enumerate() {
        let v = final_snapshot_of(&s, i);
        assert_eq!(v["source"], trace);
        let stats: Value = serde_json::from_slice(&run(&["stats", trace, "--json"]).stdout).unwrap();
        for row in stats["spans"].as_array().unwrap() {
            let f = v["families"].as_array().unwrap().iter().find(|f| f["name"] == row["name"]);
            assert_eq!(f.map(|f| &f["stats"]), Some(row), "source {i}");
            // The latency histogram agrees with the row's buckets and percentiles.
            serve_support::check_histogram(f.unwrap()["histogram"].as_array().unwrap(), row);
        }
        let uid = v["families"][0]["buckets"][0]["recent"][0]["uid"].as_u64().unwrap();
        assert_eq!(http(&s.addr, "GET", &format!("/api/trace?uid={uid}&source={i}"), "localhost").0, 200);
    }
    assert_eq!(http(&s.addr, "GET", "/api/requests?source=2", "localhost").0, 404);
}

#[test]
fn a_span_of_a_distributed_trace_shows_the_tree_across_the_sources() {
    let [client, server] = serve_support::two_nodes("serve-nodes").map(|p| p.display().to_string());
    let s = serve(&[&client, "--also", &server]);
    let uid = |v: &Value, name: &str| {
        let f = v["families"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("{v}"));
        f["buckets"][0]["recent"][0]["uid"].as_u64().unwrap()
    };
    let (handle, request) = (uid(&final_snapshot_of(&s, 1), "handle"), uid(&final_snapshot_of(&s, 0), "request"));
    // From either node's span, the same tree: the client's request and call, the server's
    // handle and work under the call, each span tagged with its source.
    for (source, uid) in [(1, handle), (0, request)] {
        let (code, body) = http(&s.addr, "GET", &format!("/api/trace?uid={uid}&source={source}"), "localhost");
        assert_eq!(code, 200, "{body}");
        let t: Value = serde_json::from_str(&body).unwrap();
        let shape: Vec<(&str, u64, u64)> = t["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap(), s["node"].as_u64().unwrap(), s["depth"].as_u64().unwrap()))
            .collect();
        assert_eq!(shape, [("request", 0, 0), ("call server", 0, 1), ("handle", 1, 2), ("work", 1, 3)], "{t}");
        assert_eq!((&t["node"], &t["uid"], &t["complete"]), (&source.into(), &uid.into(), &true.into()));
        let names: Vec<&str> = t["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["client", "server"]);
        assert_eq!(t["trace_id"].as_str().map(str::len), Some(32));
        // On one time line: the server's handle runs inside the client's call.
        let at = |i: usize| (t["spans"][i]["start"].as_u64().unwrap(), t["spans"][i]["duration"].as_u64().unwrap());
        let ((cs, cd), (hs, hd)) = (at(1), at(2));
        assert!(cs <= hs && hs + hd <= cs + cd, "call {cs}+{cd}, handle {hs}+{hd}");
    }
    // Served alone, the server's span has its own node's tree only.
    let alone = serve(&[&server]);
    final_snapshot(&alone);
    let t: Value =
        serde_json::from_str(&http(&alone.addr, "GET", &format!("/api/trace?uid={handle}"), "localhost").1).unwrap();
    let names: Vec<&str> = t["spans"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!((names, t["nodes"].as_array().map(Vec::len)), (vec!["handle", "work"], Some(1)));
}

#[test]
fn a_target_read_through_qemus_gdb_stub_is_served_live() {
    // The `rtt` firmware (tests/tests/gdb_rtt_qemu.rs) held at reset under QEMU's gdbstub: serve
    // reads its RTT channel as `tickspan attach --gdb` does, until `tickspan_rtt_done`.
    let Some(fw) = gdb_support::boot("serve_dashboard", "rtt", "rtt", "serve-gdb", true) else { return };
    let elf = fw.elf.to_str().unwrap();
    let s = serve(&["--gdb", &fw.qemu.gdb, "--elf", elf, "--until", "tickspan_rtt_done", "--poll-ms", "5"]);
    let v = final_snapshot(&s);
    assert_eq!(v["source"], format!("RTT via GDB {}", fw.qemu.gdb));
    let (_, list) = http(&s.addr, "GET", "/api/sources", "localhost");
    assert_eq!(
        serde_json::from_str::<Value>(&list).unwrap(),
        serde_json::json!([format!("RTT via GDB {}", fw.qemu.gdb)])
    );
    let family = |name: &str| {
        let f = v["families"].as_array().unwrap().iter().find(|f| f["name"] == name);
        f.unwrap_or_else(|| panic!("no {name} (names from the ELF): {v}")).clone()
    };
    // 200 rounds at most, each `round { work }`, and SysTick's handler, named from the ELF.
    let (round, work) = (family("round"), family("work"));
    let rounds = round["all"].as_u64().unwrap();
    assert!(rounds > 0 && rounds <= 200, "{rounds} rounds");
    assert_eq!(round["stats"]["count"], round["all"]);
    assert!(family("SysTick")["all"].as_u64() > Some(0));
    let uid = work["buckets"][0]["recent"][0]["uid"].as_u64().unwrap();
    let (code, body) = http(&s.addr, "GET", &format!("/api/trace?uid={uid}"), "localhost");
    assert_eq!(code, 200, "{body}");
    let tree: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = tree["spans"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["round", "work"], "{tree}");
    // The round numbers arrive in order, each below 200.
    let (_, body) = http(&s.addr, "GET", "/api/events", "localhost");
    let ev: Value = serde_json::from_str(&body).unwrap();
    let no =
        ev["events"].as_array().unwrap().iter().find(|e| e["name"] == "round_no").unwrap_or_else(|| panic!("{ev}"));
    let values: Vec<u64> =
        no["recent"].as_array().unwrap().iter().map(|e| e["value"].as_str().unwrap().parse().unwrap()).collect();
    assert!(
        !values.is_empty() && values.windows(2).all(|w| w[0] < w[1]) && values.iter().all(|&n| n < 200),
        "{values:?}"
    );
}
