//! tokio's runtime events (`tickspan::task::tokio`) from `src/bin/tokio_tasks.rs`: each job is
//! spawned once, polled inside a worker's busy stretch, and woken by the timer between its
//! polls; the workers' stretches end at parks, so `stats --contexts` shows them busy part of
//! the time only, and times each job's wait from wake-up to poll.

use serde_json::Value;
use std::process::Command;
use tickspan_tests::{run, scratch};

#[test]
fn spawns_polls_wakes_and_worker_stretches_are_recorded() {
    let trace = scratch("tokio").join("tokio.tspn");
    let status = Command::new(env!("CARGO_BIN_EXE_tokio_tasks")).arg(&trace).status().unwrap();
    assert!(status.success());
    let trace = trace.to_str().unwrap();

    let out = run(&["dump", "--json", trace]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let recs: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let values = |name: &str| -> Vec<u64> {
        let mut v: Vec<u64> = recs.iter().filter(|r| r["name"] == name).filter_map(|r| r["value"].as_u64()).collect();
        v.sort();
        v
    };
    assert_eq!(values("tokio task spawned"), [1, 2, 3]);
    let woken = values("tokio task woken");
    for id in 1..=3 {
        assert!(woken.iter().filter(|&&w| w == id).count() >= 2, "job {id} woken by its two sleeps: {woken:?}");
    }

    let out = run(&["tree", trace]);
    let tree = String::from_utf8_lossy(&out.stdout);
    // Polls of a job, each inside a worker's stretch, with the job's own span inside.
    let polls = tree.lines().filter(|l| l.contains("job") && (l.contains("├─") || l.contains("└─"))).count();
    assert!(polls >= 9, "three jobs polled three times or more, inside `tokio worker`:\n{tree}");
    assert!(tree.lines().any(|l| l.starts_with("tokio worker")), "{tree}");
    assert!(tree.contains("compute"), "{tree}");

    let out = run(&["stats", "--contexts", "--json", trace]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let util: Value = serde_json::from_slice(&out.stdout).unwrap();
    let workers: Vec<&Value> =
        util["rows"].as_array().unwrap().iter().filter(|r| r["name"].as_str().unwrap().contains("tokio")).collect();
    assert!(!workers.is_empty(), "{util}");
    let mut tasks: Vec<&str> = util["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "task")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    tasks.sort();
    assert_eq!(tasks, ["job #1", "job #2", "job #3"], "{util}");
    // Mostly asleep: the jobs sleep 11 ms each and compute for microseconds.
    assert!(workers.iter().all(|w| w["share"].as_f64().unwrap() < 0.5), "{util}");
    // Each wake-up by the timer is followed by a poll: waits far shorter than the 5 ms sleeps
    // (a wake-up paired with the poll after the next sleep would wait at least that long).
    let lat = &util["latency"];
    let waits = lat["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["what"] == "wake_to_poll" && r["name"] == "job")
        .unwrap_or_else(|| panic!("no wake → poll row for the jobs: {lat}"));
    assert_eq!(waits["kind"], "task");
    let n = waits["count"].as_u64().unwrap();
    assert!(n >= 6 && n <= woken.len() as u64, "{n} waits of {} wake-ups: {lat}", woken.len());
    assert!(waits["p50_ns"].as_u64().unwrap() < 2_000_000, "{waits}");
}
