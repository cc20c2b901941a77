//! The dashboard served from inside a std app (`tickspan_cli::serve::Options`), like Go's
//! x/net/trace inside a Go server: the app's own spans appear on its pages while it runs, with
//! the settings the app gave.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tickspan_cli::units::Duration as Bound;

/// `(status, body)` of a GET.
fn get_raw(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    (head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0), body.to_string())
}

fn get(addr: &str, path: &str) -> Value {
    let (_, body) = get_raw(addr, path);
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn an_app_serves_its_own_spans_live_with_its_settings() {
    // Not serve's defaults: µs-scale buckets, 3 spans kept per bucket, 8 for drill-down.
    let dash = tickspan_cli::serve::Options::new("127.0.0.1:0".parse().unwrap())
        .buckets(vec![Bound::Ns(0), Bound::Ns(1_000), Bound::Ns(1_000_000_000)])
        .recent(3)
        .tree_spans(8)
        .start()
        .expect("in-process dashboard");
    let addr = dash.addr.to_string();
    for i in 0..50u32 {
        let _g = tickspan::span!("in_process_work");
        tickspan::event!("item", i);
    }
    // Live: the spans show up while the app still runs (the drain has not been stopped).
    let t0 = Instant::now();
    let family = loop {
        let v = get(&addr, "/api/requests");
        let f = v["families"].as_array().and_then(|fs| fs.iter().find(|f| f["name"] == "in_process_work").cloned());
        if let Some(f) = f.filter(|f| f["all"] == 50) {
            break f;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "never saw the 50 spans: {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(family["stats"]["count"], 50);
    // The buckets given, each keeping the latest 3 spans.
    let labels: Vec<&str> =
        family["buckets"].as_array().unwrap().iter().map(|b| b["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["≥0 ns", "≥1.000 µs", "≥1.000 s"]);
    let recent = family["buckets"][0]["recent"].as_array().unwrap();
    assert_eq!((family["buckets"][0]["count"].as_u64(), recent.len()), (Some(50), 3));
    let events = get(&addr, "/api/events");
    let item = events["events"].as_array().unwrap().iter().find(|e| e["name"] == "item").expect("item events");
    assert_eq!((&item["all"], item["recent"].as_array().map(Vec::len)), (&50.into(), Some(3)));
    // Drill-down holds the latest 8 closed spans (uids count up from 1 in the order spans
    // open): the eighth newest's tree answers, the ninth newest has aged out.
    let newest = recent[2]["uid"].as_u64().unwrap();
    assert_eq!(get(&addr, &format!("/api/trace?uid={}", newest - 7))["spans"][0]["name"], "in_process_work");
    let (code, body) = get_raw(&addr, &format!("/api/trace?uid={}", newest - 8));
    assert_eq!(code, 404, "{body}");
    dash.finish().expect("drain");
}
