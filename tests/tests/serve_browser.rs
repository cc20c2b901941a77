//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
//! playwright-core from tests/browser/) loads the page of a real `tickspan serve`, and what it
//! shows must match `tickspan stats --json` for the same stream. Screenshots are saved to
//! `target/browser-artifacts/<test>/`. Skips (fails under CI) without chromium, node or
//! `npm ci` in tests/browser (the QEMU test also without qemu-system-arm).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use tickspan_tests::{cli, run, scratch, skip};

mod gdb_support;
mod serve_support;

/// A running `tickspan serve`, killed when dropped.
struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(trace: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(cli())
        .arg("serve")
        .arg(trace)
        .args(extra)
        .args(["--http", "127.0.0.1:0", "--buckets", "0ns,10us,1ms,10ms"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tickspan serve");
    let mut line = String::new();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    err.read_line(&mut line).expect("serve's first line");
    // Keep reading: the rest goes to the test's output.
    std::thread::spawn(move || err.lines().map_while(Result::ok).for_each(|l| eprintln!("serve: {l}")));
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{line}"));
    Server(child, url.to_string())
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Whether chromium, node and the driver's packages are there (else the test is skipped).
fn have_browser() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing = if !Path::new(&chromium).exists() {
        "chromium (apt-get install chromium)"
    } else if Command::new("node").arg("--version").output().is_err() {
        "node"
    } else if !browser_dir().join("node_modules/playwright-core").exists() {
        "playwright-core (npm ci in tests/browser)"
    } else {
        return true;
    };
    skip(&format!("{missing} is missing"));
    false
}

/// Runs the driver on `trace`'s dashboard; returns what the page showed.
fn drive(trace: &Path, extra: &[&str], family: &str, artifacts: &str) -> Value {
    let server = serve(trace, extra);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-artifacts").join(artifacts);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("node")
        .current_dir(browser_dir())
        .arg("dashboard.mjs")
        .arg(&server.1)
        .arg(&dir)
        .arg(family)
        .output()
        .expect("run node");
    assert!(out.status.success(), "driver failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("driver JSON");
    assert_eq!(v["errors"], serde_json::json!([]), "errors on the page");
    for shot in ["requests.png", "histogram.png", "drill-down.png", "trace.png", "events.png"] {
        assert!(std::fs::metadata(dir.join(shot)).is_ok_and(|m| m.len() > 1000), "{shot}");
    }
    v
}

/// A duration as the page prints it (dashboard.js `dur`, the CLI's format).
fn dur(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.3} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.3} ms", ns as f64 / 1e6),
        _ => format!("{:.3} s", ns as f64 / 1e9),
    }
}

fn stats(trace: &Path, extra: &[&str]) -> Vec<Value> {
    let out = run(&[&["stats", trace.to_str().unwrap(), "--json"], extra].concat());
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["spans"].as_array().unwrap().clone()
}

/// The histogram shown for `family` (clicked by the driver) agrees with its `stats --json`
/// row, p50/p90/p99 marked on their bins and bars as tall as their counts.
fn check_histogram(page: &Value, rows: &[Value], family: &str) {
    let row = rows.iter().find(|r| r["name"] == family).unwrap_or_else(|| panic!("no {family} in {rows:?}"));
    let bins = page["hist"].as_array().unwrap();
    let at = serve_support::check_histogram(bins, row);
    assert_eq!(page["hist_title"], format!("{family}: latency histogram of {} spans", row["count"]));
    for (q, i) in ["p50", "p90", "p99"].into_iter().zip(at) {
        assert!(bins[i]["marks"].as_array().unwrap().contains(&q.into()), "{q} not marked on bin {i}: {bins:?}");
        assert!(page["hist_legend"].as_str().unwrap().contains(&format!("{q} {}", dur(row[q].as_u64().unwrap()))));
    }
    let marks: usize = bins.iter().map(|b| b["marks"].as_array().unwrap().len()).sum();
    assert_eq!(marks, 3, "{bins:?}");
    // Bars are as tall as their counts: empty ones flat, larger counts never shorter.
    let bar = |b: &Value| (b["count"].as_u64().unwrap(), b["height"].as_f64().unwrap());
    for (c, h) in bins.iter().map(bar) {
        assert_eq!(h > 0.0, c > 0, "{bins:?}");
        assert!(bins.iter().map(bar).all(|(c2, h2)| c2 <= c || h2 >= h), "{bins:?}");
    }
}

/// Each family row on screen shows the count, percentiles and buckets `stats --json` gives.
fn check_rows(page: &Value, rows: &[Value]) {
    let head: Vec<&str> = page["head"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}: {head:?}"));
    let shown = page["rows"].as_array().unwrap();
    for row in rows.iter().filter(|r| r["kind"] != "task") {
        let name = row["name"].as_str().unwrap();
        let cells = shown
            .iter()
            .find(|r| r[0] == name)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{name} not on the page: {shown:?}"));
        let cell = |c: &str| cells[col(c)].as_str().unwrap().to_string();
        let count = row["count"].to_string();
        assert_eq!((cell("all"), cell("≥0 ns")), (count.clone(), count), "{name}");
        for q in ["p50", "p90", "p99", "max"] {
            assert_eq!(cell(q), dur(row[q].as_u64().unwrap()), "{name} {q}");
        }
        assert_eq!(cell("≥10.000 µs"), row["buckets"][0]["count"].to_string(), "{name}");
        assert_eq!(cell("≥1.000 ms"), row["buckets"][2]["count"].to_string(), "{name}");
        assert_eq!(cell("errors"), row["unfinished"].to_string(), "{name}");
    }
}

#[test]
fn std_demo_dashboard_matches_stats() {
    if !have_browser() {
        return;
    }
    let trace = scratch("serve-browser").join("std-demo.tspn");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/std-demo.tspn"), &trace).unwrap();
    let page = drive(&trace, &[], "handle_request", "std-demo");
    check_rows(&page, &stats(&trace, &[]));
    check_histogram(&page, &stats(&trace, &[]), "handle_request");
    assert!(page["status"].as_str().unwrap().contains("final numbers"), "{}", page["status"]);
    assert!(page["health"].as_str().unwrap().contains("No loss"), "{}", page["health"]);
    // The drill-down lists the family's latest spans in the clicked bucket (≥0 ns: all).
    assert!(page["detail_title"].as_str().unwrap().starts_with("handle_request: latest spans ≥0 ns"));
    let count = stats(&trace, &[]).iter().find(|r| r["name"] == "handle_request").unwrap()["count"].as_u64().unwrap();
    assert_eq!(page["detail_rows"].as_array().unwrap().len() as u64, count.min(10));
    // Each listed span's context by the name the stream gave its thread (main or worker), not by id.
    let contexts: Vec<&str> = page["detail_rows"].as_array().unwrap().iter().map(|r| r[3].as_str().unwrap()).collect();
    assert!(contexts.iter().all(|c| ["main", "worker"].contains(c)), "{contexts:?}");
    assert_eq!(page["detail_after_poll"], page["detail_title"]);
    // The newest handle_request's tree and timeline: handle_request { parse { checksum } }.
    assert_eq!(page["tree"], serde_json::json!(["handle_request", "parse", "checksum"]), "{page}");
    assert!(page["bars"].as_u64().unwrap() >= 1 && page["bars_zoomed"].as_u64().is_some());
    // The Events page lists the demo's events with their counts (as `dump --json` counts them).
    let dump = run(&["dump", trace.to_str().unwrap(), "--json"]);
    let events = page["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{page}");
    for e in events {
        let name = e[0].as_str().unwrap();
        let n = String::from_utf8_lossy(&dump.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|d| d["type"] == "record" && d["name"] == name)
            .count();
        assert_eq!(e[4].as_str().unwrap(), n.to_string(), "{name}");
    }
    assert_eq!(page["events_health"], page["health"]);
}

#[test]
fn names_with_markup_are_text() {
    if !have_browser() {
        return;
    }
    let trace = scratch("serve-browser").join("hostile.tspn");
    let status = Command::new(env!("CARGO_BIN_EXE_hostile")).arg(&trace).status().expect("run hostile");
    assert!(status.success());
    let page = drive(&trace, &[], "<img src=x onerror=\"window.__xss=1\">", "hostile");
    let rows = stats(&trace, &[]);
    check_rows(&page, &rows);
    check_histogram(&page, &rows, "<img src=x onerror=\"window.__xss=1\">");
    assert_eq!((&page["xss"], &page["injected"]), (&Value::Null, &Value::from(0)));
    assert!(page["detail_title"].as_str().unwrap().starts_with("<img src=x onerror"));
}

#[test]
fn qemu_firmware_dashboard_matches_stats_and_shows_its_losses() {
    if !have_browser() || !gdb_support::qemu_available("serve_browser") {
        return;
    }
    let elf = gdb_support::build_firmware("demo", "");
    let trace = scratch("serve-browser").join("firmware.tsp");
    gdb_support::run_to_exit(&elf, &trace);
    let elf_args = ["--elf", elf.to_str().unwrap()];
    let page = drive(&trace, &elf_args, "frame", "qemu-firmware");
    let rows = stats(&trace, &elf_args);
    check_rows(&page, &rows);
    check_histogram(&page, &rows, "frame");
    assert!(rows.iter().any(|r| r["name"] == "tick_work"), "{rows:?}");
    // The demo overflows its rings on purpose: the loss is on both pages, not only on stderr.
    for health in [&page["health"], &page["events_health"]] {
        assert!(health.as_str().unwrap().contains("The target lost"), "{health}");
    }
    assert_eq!(page["tree"][0], "frame", "{page}");
}

#[test]
fn a_distributed_trace_is_one_tree_across_its_sources() {
    if !have_browser() {
        return;
    }
    let [client, server] = serve_support::two_nodes("serve-browser-nodes");
    let page = drive(&client, &["--also", server.to_str().unwrap()], "request", "two-nodes");
    let rows = stats(&client, &[]);
    check_rows(&page, &rows);
    check_histogram(&page, &rows, "request");
    // The drill-down from the client's request lists the server's spans under its call, each
    // row with its node, and the timeline has a lane per node and context.
    assert_eq!(page["tree"], serde_json::json!(["request", "call server", "handle", "work"]), "{page}");
    assert_eq!(page["tree_nodes"], serde_json::json!(["client", "client", "server", "server"]), "{page}");
    assert_eq!(page["lanes"], serde_json::json!(["client · main", "server · main"]), "{page}");
    assert!(page["trace_status"].as_str().unwrap().contains("4 spans across 2 nodes"), "{}", page["trace_status"]);
}
