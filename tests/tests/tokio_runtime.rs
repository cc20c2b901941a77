//! tokio's runtime events (`tickspan::task::tokio`) from `src/bin/tokio_tasks.rs`: each job is
//! spawned once, polled inside a worker's busy stretch, and woken by the timer between its
//! polls; the workers' stretches end at parks, so `stats --contexts` shows them busy part of
//! the time only.

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
}
