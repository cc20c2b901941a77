//! Stopping the CLI early is not damage: a reader that closes the pipe (`tickspan dump big |
//! head -1`) ends the run quietly with status 0, Ctrl-C with 130; neither prints the warning
//! for damaged or truncated data, with or without `--follow`. A file that really ends inside a
//! frame still gets it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tickspan_tests::{cli, run, scratch};

/// A synthetic trace of many read chunks (the CLI reads 256 KiB at a time, so a stop leaves a
/// frame half read).
fn big() -> &'static Path {
    static TRACE: OnceLock<PathBuf> = OnceLock::new();
    TRACE.get_or_init(|| {
        let path = scratch("stop-early").join("big.tspn");
        let out = run(&["bench-gen", path.to_str().unwrap(), "--records", "1000000"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        path
    })
}

fn spawn(args: &[&str]) -> Child {
    Command::new(cli()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run tickspan")
}

/// Waits at most 20 s for `child` to exit (killing it then), and returns its status and stderr.
fn wait(mut child: Child) -> (ExitStatus, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tickspan did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}

/// Reads the first line of `child`'s output, then closes the pipe (as `head -1` does).
fn read_one_line_and_close(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    line
}

fn assert_no_damage_warning(stderr: &str) {
    assert!(!stderr.contains("damaged") && !stderr.contains("skipped"), "not damage: {stderr}");
}

#[test]
fn a_reader_that_closes_early_is_not_damage() {
    let big = big().to_str().unwrap();
    for args in [
        &["dump", big][..],
        &["dump", "--json", big],
        &["dump", "--follow", big],
        &["tree", "--follow", big],
    ] {
        let mut child = spawn(args);
        let line = read_one_line_and_close(&mut child);
        assert!(!line.is_empty(), "{args:?}: no output");
        let (status, stderr) = wait(child);
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert_no_damage_warning(&stderr);
        assert!(stderr.is_empty(), "{args:?}: a closed pipe ends quietly: {stderr}");
    }
}

/// A file that ends inside a frame, followed and stopped with Ctrl-C.
#[test]
fn ctrl_c_is_not_damage() {
    let bytes = std::fs::read(big()).unwrap();
    let path = big().with_file_name("cut.tspn");
    // Cut inside a frame: a 0x00 delimiter halfway, then a few bytes of the next frame.
    let cut = bytes[..bytes.len() / 2].iter().rposition(|&b| b == 0).unwrap() + 5;
    assert!(!bytes[cut - 4..cut].contains(&0), "the cut must be inside a frame");
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let path = path.to_str().unwrap();

    // Without --follow the end inside a frame is truncation, and says so.
    let out = run(&["stats", path]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated data"), "{out:?}");

    for view in ["dump", "stats", "tree"] {
        let mut child = spawn(&[view, "--follow", path]);
        let mut stdout = child.stdout.take().unwrap();
        // Let it read the whole file and wait for more; then Ctrl-C.
        std::thread::sleep(Duration::from_millis(1500));
        let kill = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        let (status, stderr) = wait(child);
        assert_eq!(status.code(), Some(130), "{view}: {stderr}");
        assert_no_damage_warning(&stderr);
        assert!(!text.is_empty(), "{view}: what was read is shown");
    }
}
