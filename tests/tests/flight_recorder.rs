//! Go's flight-recorder pattern end to end: a server records all the time into a
//! `tickspan::FlightRecorder` window, snapshots it when a request is slow, and `tickspan tree`
//! on the snapshot shows that request's tree, says the trace is a window and where it begins,
//! and leaves out the requests that were dropped from the window.

use std::time::{Duration, Instant};
use tickspan::{FlightRecorder, FlightRecorderConfig};
use tickspan_tests::{run, scratch};

fn request(id: u64, slow: bool) {
    let _g = tickspan::span!("request");
    tickspan::event!("request_id", id);
    {
        let _p = tickspan::span!("parse");
    }
    if slow {
        let _q = tickspan::span!("slow_query");
        std::thread::sleep(Duration::from_millis(60));
    } else {
        let _q = tickspan::span!("cache_hit");
    }
}

#[test]
fn snapshot_of_a_slow_request_shows_its_tree() {
    let path = scratch("flight-recorder").join("slow.tspn");
    let fr = FlightRecorder::new(FlightRecorderConfig { min_age: Duration::from_millis(100), max_bytes: 1 << 20 });
    fr.start().expect("start");
    let mut snapshots = 0;
    // Fast requests for a while (older than min_age by the time of the slow one), then one
    // slow request, then more fast ones; the handler's check triggers the snapshot.
    let started = Instant::now();
    let (mut id, mut slow_id) = (0u64, None);
    while slow_id.is_none_or(|s| id < s + 100) {
        let slow = slow_id.is_none() && started.elapsed() > Duration::from_millis(400);
        if slow {
            slow_id = Some(id);
        }
        let t = Instant::now();
        request(id, slow);
        if t.elapsed() > Duration::from_millis(50) {
            fr.write_to(&mut std::fs::File::create(&path).unwrap()).expect("snapshot");
            snapshots += 1;
        }
        id += 1;
        if id % 16 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let slow_id = slow_id.unwrap();
    fr.stop().unwrap();
    assert_eq!(snapshots, 1);

    let out = run(&["tree", path.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    // The slow request's tree: its root line and the lines under it.
    let want = format!("request_id = {slow_id} ");
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines.iter().position(|l| l.contains(&want)).unwrap_or_else(|| panic!("no {want}: {stdout}"));
    let root = lines[..at].iter().rposition(|l| !l.starts_with(['├', '└', '│', ' '])).unwrap();
    assert!(lines[root].starts_with("request "), "{}", lines[root]);
    let tree: Vec<&str> =
        lines[root + 1..].iter().take_while(|l| l.starts_with(['├', '└', '│', ' '])).copied().collect();
    assert!(tree.iter().any(|l| l.contains("─ parse ")), "{tree:?}");
    assert!(tree.iter().any(|l| l.contains("─ slow_query ")), "{tree:?}");
    // The first requests were dropped from the window (by age: 400 ms before, min_age 100 ms).
    assert!(!stdout.contains("request_id = 0 ") && !stdout.contains("request_id = 1 "), "{stdout}");
    assert!(stderr.contains("flight recorder snapshot"), "{stderr}");
    assert!(stderr.contains("dropped from the window (not lost)"), "{stderr}");
    assert!(!stderr.contains("the target lost"), "{stderr}");

    let out = run(&["stats", path.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("slow_query"), "{stdout}{stderr}");
    assert!(stderr.contains("flight recorder snapshot"), "{stderr}");
}
