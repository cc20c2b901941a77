//! End-to-end tests of tickspan live in tests/tests/; `src/bin/chain.rs` records the known call
//! chain they check. This library holds the helpers they share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Path of the `tickspan` CLI binary, built on first use (it is another package's binary, so
/// cargo does not hand it to these tests).
pub fn cli() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let exe = std::env::current_exe().expect("test exe path");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "tickspan-cli", "--bin", "tickspan"]);
        if exe.components().any(|c| c.as_os_str() == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the tickspan CLI failed");
        // Integration tests run from target/<profile>/deps/.
        let bin = exe.parent().and_then(Path::parent).expect("target dir").join("tickspan");
        assert!(bin.exists(), "{} missing", bin.display());
        bin
    })
}

/// Runs the CLI with `args`.
pub fn run(args: &[&str]) -> Output {
    Command::new(cli()).args(args).output().expect("run tickspan")
}

/// Runs the CLI with `args`, requires exit 0 and returns its standard output.
pub fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(0), "tickspan {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs a recording program `exe` (one of this crate's binaries) with the trace path
/// `scratch(dir)/file` as its argument and returns that path.
pub fn record(exe: &str, dir: &str, file: &str) -> PathBuf {
    let path = scratch(dir).join(file);
    let status = Command::new(exe).arg(&path).status().expect("run the recording program");
    assert!(status.success(), "{exe} failed");
    path
}

/// The start of every scratch directory's name; the process id follows.
const SCRATCH_PREFIX: &str = "tickspan-tests-";

/// A scratch directory for one test. Tests keep what they record in statics that are never
/// dropped, so instead of removing its own, each test process first removes those that earlier
/// test processes, no longer running, left behind.
pub fn scratch(name: &str) -> PathBuf {
    static SWEEP: std::sync::Once = std::sync::Once::new();
    SWEEP.call_once(remove_stale_scratch);
    let dir = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Removes the scratch directories of test processes that have ended (Linux: no `/proc/<pid>`;
/// elsewhere nothing is removed, as liveness is unknown).
fn remove_stale_scratch() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) =
            name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX)?.split('-').next()?.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The start of the line a skipped test writes to stderr: `TICKSPAN-SKIP: <test>: <reason>`.
/// `cargo xtask test` lists these in its summary.
pub const SKIP_MARKER: &str = "TICKSPAN-SKIP:";

/// The file `cargo xtask test` reads skip lines from (one [`SKIP_MARKER`] line per skipped
/// test), named by this environment variable.
pub const SKIP_LOG_ENV: &str = "TICKSPAN_SKIP_LOG";

/// Whether this runs under CI (`CI` set and neither empty nor `false`): there, every test must
/// run and a skip is a failure.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Skips the running test because of `reason` (a tool is missing): under CI a panic, so the
/// test fails; otherwise the [`SKIP_MARKER`] line, written straight to stderr (the harness
/// captures only `eprintln!`) and appended to the file in `$TICKSPAN_SKIP_LOG` if set. The
/// caller then returns without testing anything.
pub fn skip(reason: &str) {
    let name = test_name();
    assert!(!in_ci(), "{name} cannot run under CI: {reason}");
    let line = format!("{SKIP_MARKER} {name}: {reason}\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    if let Some(log) = std::env::var_os(SKIP_LOG_ENV) {
        // One write per line with O_APPEND: lines of parallel tests do not interleave.
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log);
        if let Err(e) = file.and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes())) {
            panic!("cannot record the skip in {}: {e}", Path::new(&log).display());
        }
    }
}

/// The Python interpreter for tests/tools/ if it imports `modules`: `$TICKSPAN_PYTHON` (set by
/// .ci/run to its venv), else `python3`. `None` after a [`skip`] (a failure under CI) when not.
pub fn python_with(modules: &str) -> Option<PathBuf> {
    let py = PathBuf::from(std::env::var_os("TICKSPAN_PYTHON").unwrap_or_else(|| "python3".into()));
    let probe = Command::new(&py).args(["-c", &format!("import {modules}")]).output();
    let why = match probe {
        Ok(o) if o.status.success() => return Some(py),
        Ok(o) => String::from_utf8_lossy(&o.stderr).trim().lines().last().unwrap_or_default().to_string(),
        Err(e) => e.to_string(),
    };
    skip(&format!("{}: cannot import {modules}: {why} (.ci/run installs them)", py.display()));
    None
}

/// The workspace's root directory.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the workspace")
}

/// `<test binary>::<test>`: libtest runs each test on a thread named after it.
fn test_name() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(Path::file_stem).and_then(|s| s.to_str()).unwrap_or("?");
    // Cargo names test binaries `<name>-<hash>`.
    let binary = stem.rsplit_once('-').map_or(stem, |(name, _)| name);
    let thread = std::thread::current();
    format!("{binary}::{}", thread.name().unwrap_or("?"))
}
