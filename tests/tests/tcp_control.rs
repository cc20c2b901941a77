//! `tickspan attach --listen ADDR --trace-for 2s` against a std process: the host sends the
//! control message back on the TCP connection the process's drain (`transport::to_tcp`)
//! opened, the drain thread applies and acknowledges it, and the saved stream holds exactly
//! one recording interval of about 2 s (the process starts disarmed). A process whose drain
//! reads no control messages gets a clear error, not silence.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tickspan_tests::{cli, run, scratch};

/// Starts `tickspan attach --listen 127.0.0.1:0 ARGS`, then the recording process `tcp_loop
/// ADDR MODE SECS` once the host says where it listens; returns the host's exit code and stderr.
fn attach(mode: &str, secs: u32, args: &[&str]) -> (Option<i32>, String) {
    let mut host = Command::new(cli())
        .args(["attach", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tickspan attach");
    let mut stderr = BufReader::new(host.stderr.take().unwrap());
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("tickspan attach ended before listening: {seen}");
        }
        seen.push_str(&line);
        if let Some(a) = line.trim().strip_prefix("tickspan: listening on ") {
            break a.to_string();
        }
    };
    let app: Child = Command::new(env!("CARGO_BIN_EXE_tcp_loop"))
        .args([addr.as_str(), mode, &secs.to_string()])
        .spawn()
        .expect("run tcp_loop");
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        rest
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(status) = host.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = host.kill();
            panic!("tickspan attach did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut app = app;
    assert!(app.wait().unwrap().success(), "tcp_loop failed");
    seen.push_str(&reader.join().unwrap());
    (code, seen)
}

/// The first number in `s` after `prefix`, in seconds (`2.013 s`, `1.998 s`).
fn seconds_after(s: &str, prefix: &str) -> f64 {
    let at = s.find(prefix).unwrap_or_else(|| panic!("no {prefix:?} in {s}")) + prefix.len();
    let rest = &s[at..];
    let num: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let unit = rest[num.len()..].trim_start();
    let v: f64 = num.parse().unwrap_or_else(|_| panic!("no number after {prefix:?}: {rest}"));
    match unit.split(|c: char| !c.is_alphabetic() && c != 'µ').next() {
        Some("s") => v,
        Some("ms") => v / 1e3,
        u => panic!("unit {u:?} in {rest}"),
    }
}

#[test]
fn trace_for_over_tcp_records_one_interval_of_that_length() {
    let path = scratch("tcp-control").join("t.tspn");
    let (code, stderr) = attach("control", 6, &["--trace-for", "2s", "-o", path.to_str().unwrap(), "--view", "stats"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("the target acknowledged `trace for 2.000 s"), "{stderr}");
    // The host's own account: "recording interval A to B (LEN, asked 2.000 s): ended".
    let interval = seconds_after(&stderr[stderr.find("note: recording interval").expect(&stderr)..], " (");
    assert!((2.0..2.5).contains(&interval), "interval {interval} s: {stderr}");
    assert!(stderr.contains("asked 2.000 s): ended"), "{stderr}");
    // The view of the saved stream says it too, and that the rest was not recorded, not lost.
    assert!(stderr.contains("covers 1 recording interval:"), "{stderr}");
    assert!(!stderr.contains("the target lost"), "{stderr}");

    // The stream itself: disarmed at the start, armed once, disarmed once, about 2 s apart,
    // the acknowledgement inside, and rounds only in between.
    let dump = run(&["dump", "--json", path.to_str().unwrap()]);
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let mut hz = 0.0;
    let (mut markers, mut acks, mut rounds) = (Vec::new(), Vec::new(), Vec::new());
    for line in String::from_utf8(dump.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] == "header" {
            hz = v["clock_hz"].as_f64().unwrap_or(0.0);
        }
        let ts = v["ts"].as_f64().unwrap_or(0.0);
        match (v["type"].as_str(), v["name"].as_str()) {
            (Some("record"), Some("tickspan.recording")) => markers.push((v["value"].as_u64().unwrap(), ts)),
            (Some("record"), Some("tickspan.control")) => acks.push(ts),
            (Some("record"), Some("round")) if v["kind"] == "SpanEnter" => rounds.push(ts),
            _ => {}
        }
    }
    assert!(hz > 0.0, "the std stream has a clock rate");
    let values: Vec<u64> = markers.iter().map(|m| m.0).collect();
    assert_eq!(values, [0, 1, 0], "{markers:?}");
    let (on, off) = (markers[1].1, markers[2].1);
    let secs = (off - on) / hz;
    assert!((2.0..2.5).contains(&secs), "interval {secs} s in the stream");
    assert_eq!(acks.len(), 1, "one acknowledgement");
    assert!(on <= acks[0] && acks[0] <= off, "the acknowledgement lies in the interval");
    assert!(rounds.len() > 500, "rounds every ms while armed: {}", rounds.len());
    assert!(rounds.iter().all(|&t| on <= t && t <= off), "rounds only while armed");
}

#[test]
fn a_process_that_reads_no_control_messages_is_an_error() {
    let (code, stderr) = attach("plain", 5, &["--trace-for", "2s"]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains("not acknowledged: no answer within 3 s"), "{stderr}");
    assert!(stderr.contains("tickspan::transport::to_tcp"), "{stderr}");
}

#[test]
fn one_way_inputs_say_why_they_cannot_control() {
    let out = run(&["tree", "-", "--trace-for", "2s"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("carries the trace one way only") && stderr.contains("attach --listen"), "{stderr}");
}
