//! The CLI on damaged and foreign input: warnings with offsets, documented exit codes, no panic.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use tickspan::wire::{encode::FrameEncoder, StreamHeader, ENCODED_CAPACITY};
use tickspan_tests::{cli, run, scratch};

fn good_trace() -> &'static Vec<u8> {
    static T: OnceLock<Vec<u8>> = OnceLock::new();
    T.get_or_init(|| {
        let path = scratch("corrupt-src").join("chain.tspn");
        let status = Command::new(env!("CARGO_BIN_EXE_chain")).arg(&path).status().expect("run chain");
        assert!(status.success());
        std::fs::read(path).unwrap()
    })
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn stats(path: &Path) -> (Option<i32>, String) {
    let out = run(&["stats", path.to_str().unwrap()]);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn no_panic(out: &(Option<i32>, String)) {
    assert!(out.0.is_some(), "killed by a signal: {}", out.1);
    assert!(!out.1.contains("panicked"), "{}", out.1);
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn truncation_at_every_offset() {
    let good = good_trace();
    let dir = scratch("truncate");
    // End of the first frame (the stream may open with a delimiter).
    let first_zero = (1..good.len()).find(|&i| good[i] == 0 && good[i - 1] != 0).unwrap();
    for n in 0..good.len() {
        let p = write(&dir, "t.tspn", &good[..n]);
        let r = stats(&p);
        no_panic(&r);
        if n <= first_zero {
            // Not even the header frame is whole.
            assert_eq!(r.0, Some(2), "cut at {n}: {}", r.1);
        } else {
            assert_eq!(r.0, Some(0), "cut at {n}: {}", r.1);
            // A cut just before a delimiter loses nothing (the decoder takes the frame at the end).
            if good[n - 1] != 0 && good[n] != 0 {
                assert!(r.1.contains("warning:") && r.1.contains("at offset"), "cut at {n}: {}", r.1);
            }
        }
    }
    assert_eq!(stats(&write(&dir, "t.tspn", good)).0, Some(0));
}

#[test]
fn every_flipped_bit_is_reported_and_decoding_goes_on() {
    let good = good_trace();
    let dir = scratch("flip");
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..150 {
        let bit = rng.next() as usize % (good.len() * 8);
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let p = write(&dir, "f.tspn", &bad);
        let r = stats(&p);
        no_panic(&r);
        assert_eq!(r.0, Some(0), "bit {bit}: {}", r.1);
        assert!(r.1.contains("skipped"), "bit {bit} went unnoticed: {}", r.1);
        let strict = run(&["stats", "--strict", p.to_str().unwrap()]);
        assert_eq!(strict.status.code(), Some(4), "bit {bit}");
        // Utilization and latency take the same damaged timeline.
        let util = run(&["stats", "--contexts", p.to_str().unwrap()]);
        let util = (util.status.code(), String::from_utf8_lossy(&util.stderr).into_owned());
        no_panic(&util);
        assert_eq!(util.0, Some(0), "bit {bit}: {}", util.1);
    }
}

#[test]
fn garbage_in_the_middle_is_skipped_with_its_offset() {
    let good = good_trace();
    let dir = scratch("insert");
    // After the fourth frame delimiter.
    let at = good.iter().enumerate().filter(|(_, &b)| b == 0).nth(3).unwrap().0 + 1;
    let mut bad = good[..at].to_vec();
    bad.extend((1..=200u8).map(|b| b | 1));
    bad.extend_from_slice(&good[at..]);
    let p = write(&dir, "g.tspn", &bad);
    let r = stats(&p);
    assert_eq!(r.0, Some(0), "{}", r.1);
    assert!(r.1.contains(&format!("at offset {at}")), "{}", r.1);
    // Only the frame the garbage ran into is lost: every other record still decodes.
    let records = |p: &Path| {
        let out = run(&["dump", "--json", p.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0));
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        lines
    };
    let bad_items = records(&p);
    let skipped: Vec<_> = bad_items.iter().filter(|l| l["type"] == "skipped").collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["offset"], at as u64);
    assert!(skipped[0]["bytes"].as_u64().unwrap() > 200);
    let good_path = write(&dir, "ok.tspn", good);
    let good_items = records(&good_path);
    let n = |v: &[serde_json::Value]| v.iter().filter(|l| l["type"] != "skipped").count();
    assert!(
        n(&bad_items) < n(&good_items) && n(&bad_items) + 60 > n(&good_items),
        "{} vs {}",
        n(&bad_items),
        n(&good_items)
    );
}

#[test]
fn foreign_input_is_rejected_with_exit_code_2() {
    let dir = scratch("foreign");
    let mut rng = Rng(42);
    let noise: Vec<u8> = (0..100_000).map(|_| rng.next() as u8).collect();
    for (name, bytes) in [
        ("noise", &noise[..]),
        ("short", &noise[..100]),
        ("empty", &[][..]),
        ("text", &b"hello, world\n".repeat(500)[..]),
        ("short text", b"a 25-byte text, no trace\n"),
    ] {
        let r = stats(&write(&dir, name, bytes));
        no_panic(&r);
        assert_eq!(r.0, Some(2), "{name}: {}", r.1);
        assert!(r.1.contains("not a tickspan trace") || r.1.contains("empty input"), "{name}: {}", r.1);
        // The error comes alone: no warning about skipped bytes before it.
        assert_eq!(r.1.lines().count(), 1, "{name}: {}", r.1);
    }
    // Random bytes on stdin end too (no hang), with the same code.
    let mut child = Command::new(cli())
        .args(["tree", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&noise).ok();
    let out: Output = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unsupported_version_is_a_clear_error() {
    let mut enc = FrameEncoder::new();
    let mut buf = [0u8; ENCODED_CAPACITY];
    enc.header(&StreamHeader { version: 999, clock_hz: 1, clock_wrap: 0, node: 0, target: "future" , name: ""});
    let n = enc.finish(&mut buf);
    let mut bytes = buf[..n].to_vec();
    bytes.extend_from_slice(&good_trace()[..]);
    let r = stats(&write(&scratch("version"), "v.tspn", &bytes));
    assert_eq!(r.0, Some(2), "{}", r.1);
    assert!(r.1.contains("unsupported") && r.1.contains("999"), "{}", r.1);
}

#[test]
fn usage_and_io_exit_codes() {
    let out = run(&["stats", "/nonexistent/trace.tspn"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/trace.tspn"));
    assert_eq!(run(&["tree", "--no-such-flag", "x"]).status.code(), Some(1));
    assert_eq!(run(&["stats"]).status.code(), Some(1));
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("Exit codes") && help.contains("Examples"), "{help}");
    for sub in ["tree", "stats", "dump", "export"] {
        let h = String::from_utf8(run(&[sub, "--help"]).stdout).unwrap();
        assert!(h.contains("Examples:") && h.contains(&format!("tickspan {sub}")), "{sub}: {h}");
    }
}
