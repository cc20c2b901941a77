//! A test that cannot run (a tool is missing) says so: outside CI a `TICKSPAN-SKIP:` line on
//! stderr and in `$TICKSPAN_SKIP_LOG` (which `cargo xtask test` lists in its summary), under
//! CI a failure. Checked on the export checkers' tests with their tools hidden.

use std::process::{Command, Output};
use tickspan_tests::{scratch, SKIP_LOG_ENV, SKIP_MARKER};

/// `cargo test --test export_tools` with neither the Python modules nor Perfetto reachable.
fn export_tools_without_tools(ci: Option<&str>, log: &std::path::Path) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut c = Command::new(cargo);
    c.args(["test", "-q", "-p", "tickspan-tests", "--test", "export_tools"])
        .env("TICKSPAN_PYTHON", "/nonexistent/python3")
        .env_remove("TICKSPAN_PERFETTO_TP")
        .env(SKIP_LOG_ENV, log);
    match ci {
        Some(v) => c.env("CI", v),
        None => c.env_remove("CI"),
    };
    if std::env::current_exe().unwrap().components().any(|c| c.as_os_str() == "release") {
        c.arg("--release");
    }
    c.output().expect("run cargo test")
}

/// Every test of `export_tools.rs`: each needs a checker tool (read from its source, so a new
/// one cannot be left out of this check).
fn tests() -> Vec<String> {
    let src = include_str!("export_tools.rs");
    let mut names = Vec::new();
    let mut lines = src.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[test]" {
            let f = lines.next().and_then(|l| l.trim().strip_prefix("fn ")).and_then(|l| l.split('(').next());
            names.push(f.expect("#[test] followed by a fn").to_string());
        }
    }
    assert!(names.len() >= 11, "{names:?}");
    names
}

#[test]
fn skips_are_reported_outside_ci_and_fail_under_ci() {
    let dir = scratch("skip-reporting");
    for ci in [None, Some("false")] {
        let log = dir.join("local.log");
        let _ = std::fs::remove_file(&log);
        let out = export_tools_without_tools(ci, &log);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "CI={ci:?}: a skip outside CI passes: {stderr}");
        let logged = std::fs::read_to_string(&log).expect("the skip log was written");
        assert_eq!(logged.lines().count(), tests().len(), "{logged}");
        for test in tests() {
            let line = format!("{SKIP_MARKER} export_tools::{test}: ");
            assert!(logged.lines().any(|l| l.starts_with(&line)), "{test} not in the log: {logged}");
            assert!(stderr.contains(&line), "{test} not on stderr: {stderr}");
        }
        assert!(logged.contains("/nonexistent/python3: cannot import"), "{logged}");
        assert!(logged.contains("TICKSPAN_PERFETTO_TP is not set"), "{logged}");
    }

    let log = dir.join("ci.log");
    let out = export_tools_without_tools(Some("true"), &log);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "under CI a skip must fail: {stdout}");
    for test in tests() {
        assert!(stdout.contains(&format!("export_tools::{test} cannot run under CI")), "{test}: {stdout}");
    }
    assert!(!log.exists(), "under CI nothing is skipped, so nothing is logged");
}
