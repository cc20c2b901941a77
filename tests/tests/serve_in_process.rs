//! The dashboard served from inside a std app (`tickspan_cli::serve::in_process`), like Go's
//! x/net/trace inside a Go server: the app's own spans appear on its pages while it runs.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn get(addr: &str, path: &str) -> Value {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"))
}

#[test]
fn an_app_serves_its_own_spans_live() {
    let dash = tickspan_cli::serve::in_process("127.0.0.1:0".parse().unwrap()).expect("in-process dashboard");
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
    let events = get(&addr, "/api/events");
    let item = events["events"].as_array().unwrap().iter().find(|e| e["name"] == "item").expect("item events");
    assert_eq!(item["all"], 50);
    let uid = family["buckets"][0]["recent"][0]["uid"].as_u64().unwrap();
    assert_eq!(get(&addr, &format!("/api/trace?uid={uid}"))["spans"][0]["name"], "in_process_work");
    dash.finish().expect("drain");
}
