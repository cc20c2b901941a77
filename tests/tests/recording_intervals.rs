//! `tickspan::disarm`/`arm` seen by the CLI: a std program records three rounds with the
//! middle one disarmed; `tree` shows only the armed rounds and says the trace covers two
//! recording intervals and where it did not record, without claiming any loss.

use tickspan_tests::{run, scratch};

#[test]
fn tree_and_stats_say_where_the_target_did_not_record() {
    let path = scratch("recording-intervals").join("t.tspn");
    let drain = tickspan::transport::to_file(&path).expect("open trace file");
    for round in 0..3u32 {
        if round == 1 {
            tickspan::disarm();
        } else {
            tickspan::arm();
        }
        let _g = tickspan::span!("round");
        tickspan::event!("round_no", round);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    drain.finish().expect("drain");

    let out = run(&["tree", path.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.matches("round_no").count(), 2, "{stdout}");
    assert!(stdout.contains("round_no = 0") && stdout.contains("round_no = 2"), "{stdout}");
    assert!(!stdout.contains("round_no = 1"), "{stdout}");
    assert!(stderr.contains("covers 2 recording intervals"), "{stderr}");
    assert!(stderr.contains("did not record") && stderr.contains(" to "), "{stderr}");
    assert!(!stderr.contains("the target lost"), "a pause is not a loss: {stderr}");

    let out = run(&["stats", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("covers 2 recording intervals"), "{stderr}");
}
