//! Checks shared by the dashboard's tests (serve_dashboard.rs over the API, serve_browser.rs on
//! the page).

use serde_json::Value;
use std::path::PathBuf;

/// The two trace files of one request across two processes (src/bin/node.rs: a client that
/// calls a server with a `traceparent`), fresh in scratch directory `name`.
pub fn two_nodes(name: &str) -> [PathBuf; 2] {
    let dir = tickspan_tests::scratch(name);
    let node = std::process::Command::new(env!("CARGO_BIN_EXE_node"))
        .env("TICKSPAN_NODE", "client")
        .arg("client")
        .arg(&dir)
        .status();
    assert!(node.expect("run node").success());
    ["client", "server"].map(|n| dir.join(format!("{n}.tspn")))
}

/// Checks a family's latency histogram (`bins`: `{lo, hi, count}`, as `/api/requests` gives
/// them and the page's columns say) against its `stats --json` row: the counts add up to the
/// row's, the bins follow each other, each of the row's cumulative buckets lies between the bins
/// wholly above its bound and those reaching above it, and each of p50/p90/p99 lies in the bin
/// holding its rank. Returns those bins' indices, p50's first.
pub fn check_histogram(bins: &[Value], row: &Value) -> [usize; 3] {
    let name = &row["name"];
    let num = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{name}: no {k} in {v}"));
    let count = num(row, "count");
    assert!(!bins.is_empty(), "{name}: no histogram");
    assert_eq!(bins.iter().map(|b| num(b, "count")).sum::<u64>(), count, "{name}: {bins:?}");
    assert!(bins.windows(2).all(|w| num(&w[0], "hi") == num(&w[1], "lo")), "{name}: gaps in {bins:?}");
    assert!(num(&bins[0], "lo") <= num(row, "min") && num(row, "max") <= num(&bins[bins.len() - 1], "hi"), "{name}");
    for b in row["buckets"].as_array().unwrap() {
        let at_least = num(b, "at_least");
        let sure: u64 = bins.iter().filter(|x| num(x, "lo") >= at_least).map(|x| num(x, "count")).sum();
        let maybe: u64 = bins.iter().filter(|x| num(x, "hi") > at_least).map(|x| num(x, "count")).sum();
        assert!((sure..=maybe).contains(&num(b, "count")), "{name} {b}: {sure}..={maybe}");
    }
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)].map(|(q, at)| {
        let rank = ((count as f64 * at).ceil() as u64).max(1);
        let mut seen = 0;
        let i = bins
            .iter()
            .position(|b| {
                seen += num(b, "count");
                seen >= rank
            })
            .unwrap();
        let (b, p) = (&bins[i], num(row, q));
        assert!(num(b, "lo") <= p && p <= num(b, "hi"), "{name} {q} {p} not in its rank's bin {b}");
        i
    })
}
