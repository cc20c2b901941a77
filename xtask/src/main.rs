//! `cargo xtask`: the repository's tasks as a Rust program (defmt's pattern).
//!
//! `cargo xtask test` is the project's full test command, the one `.ci/run` runs: host tests
//! (including the QEMU end-to-end test and the CLI tests), the ring stress tests in both ring
//! modes, `no_std` cross builds of `tickspan` for every supported target and feature set,
//! clippy and rustdoc with warnings denied, the loom model, Miri, and a fuzz smoke run. Every
//! step runs even when an earlier one failed; the summary lists them all and the exit status
//! is non-zero if any failed.
//!
//! Tools that only CI is required to have (nightly with Miri, cargo-fuzz) are skipped with a
//! message when missing, unless `CI` is set: then a missing tool is a failure. Tests that skip
//! themselves (QEMU, the export checkers) write a `TICKSPAN-SKIP: <test>: <reason>` line to the
//! file named by `TICKSPAN_SKIP_LOG`, which each step gets (`tickspan_tests::skip`); the
//! summary lists every such test, and under `CI` a step with a skipped test fails.
#![deny(missing_docs)]

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bare-metal targets `tickspan` must build for without `std`; thumbv6m and riscv32i have no
/// compare-and-swap.
const NO_STD_TARGETS: [&str; 5] = [
    "thumbv6m-none-eabi",
    "thumbv7m-none-eabi",
    "thumbv7em-none-eabihf",
    "riscv32imac-unknown-none-elf",
    "riscv32i-unknown-none-elf",
];

/// Feature sets of the cross builds ("" = none). `clock-systick` only means something on
/// Cortex-M.
const NO_STD_FEATURES: [&str; 4] = ["", "disabled", "flight-recorder", "clock-systick"];

#[derive(Parser)]
#[command(about = "tickspan repository tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every test and check CI runs; prints one summary line per step.
    Test {
        /// Run only the steps whose name contains one of these strings.
        #[arg(long, value_name = "PATTERN")]
        only: Vec<String>,
        /// Skip the steps whose name contains one of these strings.
        #[arg(long, value_name = "PATTERN")]
        skip: Vec<String>,
        /// Seconds each fuzz target runs.
        #[arg(long, default_value_t = 20)]
        fuzz_secs: u32,
        /// List the steps and their commands without running them.
        #[arg(long)]
        list: bool,
    },
    /// Instructions per record on a Cortex-M3 under QEMU (`examples/firmware/icount.sh`).
    Icount {
        /// Optimisation levels to measure (default: the firmware's profile).
        levels: Vec<String>,
    },
    /// Flash and RAM of tickspan in a minimal firmware (`examples/firmware/footprint.sh`).
    Footprint {
        /// Optimisation level (default: the firmware's profile).
        level: Option<String>,
    },
}

/// One command of the test run.
/// std hosts besides Linux that `tickspan` and the std demo must build for.
const OTHER_HOSTS: [&str; 3] = ["x86_64-apple-darwin", "aarch64-apple-darwin", "x86_64-pc-windows-gnu"];

struct Step {
    name: String,
    cmd: Command,
    /// A tool this step needs that may be missing: why not, if it is.
    missing: Option<String>,
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

fn main() {
    let cli = Cli::parse();
    let root = workspace_root();
    let code = match cli.cmd {
        Cmd::Test { only, skip, fuzz_secs, list } => {
            let steps: Vec<Step> = test_steps(&root, fuzz_secs)
                .into_iter()
                .filter(|s| only.is_empty() || only.iter().any(|p| s.name.contains(p.as_str())))
                .filter(|s| !skip.iter().any(|p| s.name.contains(p.as_str())))
                .collect();
            if list {
                for s in &steps {
                    println!("{:<50} {}", s.name, show(&s.cmd));
                }
                0
            } else {
                let skip_dir = target_dir(&root).join("xtask-skips");
                run_all(steps, &skip_dir, in_ci())
            }
        }
        Cmd::Icount { levels } => script(&root, "examples/firmware/icount.sh", &levels),
        Cmd::Footprint { level } => script(&root, "examples/firmware/footprint.sh", level.as_slice()),
    };
    std::process::exit(code);
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ is in the workspace").to_owned()
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// `cargo` through rustup's proxy, so that `+nightly` works.
fn cargo(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(root).args(args);
    c
}

fn step(name: impl Into<String>, cmd: Command) -> Step {
    Step { name: name.into(), cmd, missing: None }
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

fn test_steps(root: &Path, fuzz_secs: u32) -> Vec<Step> {
    let target_dir = target_dir(root);
    let mut steps = vec![
        // Default members: core, CLI, demo, end-to-end tests (QEMU firmware, CLI), xtask.
        // Every test binary runs even after one failed, so the summary names all failures.
        step("host tests", cargo(root, &["test", "--no-fail-fast"])),
        // What a user types: the core crate alone, no features (the workspace build above
        // unifies `std` into it).
        step("core tests", cargo(root, &["test", "-p", "tickspan"])),
        // The global-ring tests follow the build's ring mode: run them in the other one too.
        step(
            "core tests (flight-recorder)",
            cargo(root, &["test", "-p", "tickspan", "--features", "std,flight-recorder"]),
        ),
        // The RTT transport on the host, down channel included: the test plays the debugger.
        step(
            "core tests (rtt-control)",
            cargo(
                root,
                &["test", "-p", "tickspan", "--features", "std,decode,rtt-control", "--lib", "--test", "control_rtt"],
            ),
        ),
        // Trace points below a compile-time maximum level compile out.
        step(
            "core tests (max-level-info)",
            cargo(
                root,
                &[
                    "test",
                    "-p",
                    "tickspan",
                    "--features",
                    "std,decode,max-level-info",
                    "--test",
                    "fields",
                    "--test",
                    "format",
                ],
            ),
        ),
    ];

    let installed = installed_targets();
    for target in NO_STD_TARGETS {
        for features in NO_STD_FEATURES {
            if features == "clock-systick" && !target.starts_with("thumb") {
                continue;
            }
            let mut args = vec!["build", "-p", "tickspan", "--lib", "--target", target];
            if !features.is_empty() {
                args.extend(["--features", features]);
            }
            let label = if features.is_empty() { "no features" } else { features };
            let mut s = step(format!("no_std {target} ({label})"), cargo(root, &args));
            s.missing = missing_target(&installed, target);
            steps.push(s);
        }
    }

    // Other std hosts: the callsite section per object format (Mach-O, PE/COFF) and the std
    // paths compile there (tests/tests/windows_host.rs also runs the Windows build under Wine).
    for target in OTHER_HOSTS {
        let args = ["check", "-p", "tickspan", "-p", "tickspan-std-demo", "--target", target];
        let mut s = step(format!("std host {target} (check)"), cargo(root, &args));
        s.missing = missing_target(&installed, target);
        steps.push(s);
    }

    steps.push(step("clippy (host, all targets)", cargo(root, &["clippy", "--all-targets", "--", "-D", "warnings"])));
    for target in ["thumbv6m-none-eabi", "thumbv7em-none-eabihf"] {
        let mut s = step(
            format!("clippy (tickspan, {target})"),
            cargo(root, &["clippy", "-p", "tickspan", "--target", target, "--", "-D", "warnings"]),
        );
        s.missing = missing_target(&installed, target);
        steps.push(s);
    }

    // Libraries only: the CLI's binary is also called `tickspan`, and its docs would overwrite
    // the library's.
    let mut doc = cargo(root, &["doc", "--no-deps", "--lib"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    steps.push(step("docs", doc));
    // Bare-metal docs: links to items that only std, x86_64 or an optional feature has break
    // here and nowhere else. The cross builds' feature sets, and the optional bare-metal ones.
    let doc_target = "thumbv7em-none-eabihf";
    for features in NO_STD_FEATURES.into_iter().chain(["rtt-control,decode,defmt,embassy,multi-core", "clock-custom"]) {
        let mut args = vec!["doc", "-p", "tickspan", "--no-deps", "--target", doc_target];
        if !features.is_empty() {
            args.extend(["--features", features]);
        }
        let mut doc = cargo(root, &args);
        doc.env("RUSTDOCFLAGS", "-D warnings");
        let label = if features.is_empty() { "no features" } else { features };
        let mut s = step(format!("docs {doc_target} ({label})"), doc);
        s.missing = missing_target(&installed, doc_target);
        steps.push(s);
    }

    // Own target directory: `--cfg loom` would otherwise invalidate the host build's cache.
    let mut loom = cargo(root, &["test", "-p", "tickspan", "--test", "loom_ring", "--release"]);
    loom.env("RUSTFLAGS", "--cfg loom").env("CARGO_TARGET_DIR", target_dir.join("loom"));
    steps.push(step("loom", loom));

    let mut miri = step("miri", cargo(root, &["+nightly", "miri", "test", "-p", "tickspan", "--features", "std"]));
    if !succeeds(cargo(root, &["+nightly", "miri", "--version"])) {
        miri.missing = Some(
            "nightly with miri is not installed (rustup toolchain install nightly --profile minimal \
             && rustup +nightly component add miri rust-src)"
                .into(),
        );
    }
    steps.push(miri);

    steps.extend(fuzz_steps(root, &target_dir, fuzz_secs));
    steps
}

/// One short run per cargo-fuzz target in `fuzz/`. New inputs go to the target directory, so
/// the run never changes the tree; the checked-in corpus and seeds are read.
fn fuzz_steps(root: &Path, target_dir: &Path, secs: u32) -> Vec<Step> {
    let fuzz_dir = root.join("fuzz");
    if !fuzz_dir.join("Cargo.toml").exists() {
        return Vec::new();
    }
    let mut list = cargo(&fuzz_dir, &["+nightly", "fuzz", "list"]);
    let targets = match list.output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => {
            let mut s = step("fuzz smoke", cargo(&fuzz_dir, &["+nightly", "fuzz", "list"]));
            s.missing = Some("cargo-fuzz is not installed (cargo install cargo-fuzz --locked)".into());
            return vec![s];
        }
    };
    targets
        .split_whitespace()
        .map(|t| {
            let corpus = target_dir.join("fuzz-corpus").join(t);
            let _ = std::fs::create_dir_all(&corpus);
            let mut c = cargo(&fuzz_dir, &["+nightly", "fuzz", "run", t]);
            c.arg(&corpus);
            for extra in [fuzz_dir.join("corpus").join(t), fuzz_dir.join("seeds")] {
                if extra.is_dir() {
                    c.arg(extra);
                }
            }
            c.arg("--").arg(format!("-max_total_time={secs}"));
            // Sanitizer flags differ from every other build: keep its artifacts apart.
            c.env("CARGO_TARGET_DIR", target_dir.join("fuzz"));
            step(format!("fuzz {t} ({secs} s)"), c)
        })
        .collect()
}

fn installed_targets() -> Option<String> {
    let o = Command::new("rustup").args(["target", "list", "--installed"]).output().ok()?;
    o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn missing_target(installed: &Option<String>, target: &str) -> Option<String> {
    // Without rustup the build itself reports a missing target.
    let installed = installed.as_deref()?;
    (!installed.lines().any(|l| l.trim() == target))
        .then(|| format!("target {target} is not installed (rustup target add {target})"))
}

fn succeeds(mut c: Command) -> bool {
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
}

fn show(c: &Command) -> String {
    let envs: Vec<String> =
        c.get_envs().filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy()))).collect();
    let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let dir = c.get_current_dir().map(|d| format!("(in {}) ", d.display())).unwrap_or_default();
    format!(
        "{dir}{}{}{} {}",
        envs.join(" "),
        if envs.is_empty() { "" } else { " " },
        c.get_program().to_string_lossy(),
        args.join(" ")
    )
}

/// The start of a skipped test's line in a step's skip log (`tickspan_tests::SKIP_MARKER`).
const SKIP_MARKER: &str = "TICKSPAN-SKIP:";

/// What one step did: its outcome, the tests it skipped (`<test>: <reason>`) and its time.
struct Ran {
    name: String,
    outcome: Outcome,
    skipped_tests: Vec<String>,
    /// What the step's output said failed (`FailureLines`); empty unless it failed.
    failures: Vec<String>,
    elapsed: Duration,
}

/// Runs `s` with `TICKSPAN_SKIP_LOG` set to a fresh `log`; under `ci` a missing tool or a
/// skipped test fails the step.
fn run_step(mut s: Step, log: &Path, ci: bool) -> Ran {
    let start = Instant::now();
    let _ = std::fs::remove_file(log);
    let mut failures = Vec::new();
    let mut outcome = match s.missing.take() {
        Some(why) if ci => Outcome::Failed(why),
        Some(why) => Outcome::Skipped(why),
        None => match run_echoed(s.cmd.env("TICKSPAN_SKIP_LOG", log)) {
            Ok((st, _)) if st.success() => Outcome::Passed,
            Ok((st, lines)) => {
                failures = lines;
                Outcome::Failed(st.to_string())
            }
            Err(e) => Outcome::Failed(format!("could not start: {e}")),
        },
    };
    let skipped_tests = read_skips(log);
    if ci && !skipped_tests.is_empty() && matches!(outcome, Outcome::Passed) {
        outcome = Outcome::Failed(format!("{} skipped under CI", count(skipped_tests.len(), "test")));
    }
    Ran { name: s.name, outcome, skipped_tests, failures, elapsed: start.elapsed() }
}

/// Most lines of failure a step gives the summary: enough for the first few failed tests.
const MAX_FAILURE_LINES: usize = 40;

/// Runs `c`, passing its output through line by line, and keeps the lines that say what failed
/// (`FailureLines`), so that the summary, the end of a long CI log, names them.
fn run_echoed(c: &mut Command) -> std::io::Result<(std::process::ExitStatus, Vec<String>)> {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    fn pump<R: Read>(from: R, to_stderr: bool, keep: &std::sync::Mutex<FailureLines>) {
        let mut from = BufReader::new(from);
        let mut line = Vec::new();
        while from.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            // The macros, not the handles: xtask's own tests capture what they print.
            if to_stderr {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
            keep.lock().unwrap_or_else(|e| e.into_inner()).feed(text.trim_end());
            line.clear();
        }
    }
    let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let keep = std::sync::Mutex::new(FailureLines::default());
    std::thread::scope(|s| {
        if let Some(err) = err {
            s.spawn(|| pump(err, true, &keep));
        }
        if let Some(out) = out {
            pump(out, false, &keep);
        }
    });
    let status = child.wait()?;
    Ok((status, keep.into_inner().unwrap_or_else(|e| e.into_inner()).lines))
}

/// The lines of cargo's and libtest's output that name a failure: each failed test's header
/// with the two lines after it (where it panicked, and the message), and cargo's `error` lines
/// (a compile error, `test failed, to rerun pass ...`, `N targets failed:` and the list after).
#[derive(Default)]
struct FailureLines {
    lines: Vec<String>,
    /// Lines still to keep after a failed test's header.
    after_header: usize,
}

impl FailureLines {
    fn feed(&mut self, line: &str) {
        if self.lines.len() >= MAX_FAILURE_LINES {
            return;
        }
        if let Some(test) = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" stdout ----")) {
            self.lines.push(format!("failed test: {test}"));
            self.after_header = 2;
        } else if self.after_header > 0 && !line.trim().is_empty() && !line.starts_with("note: ") {
            self.lines.push(format!("    {}", truncate(line.trim(), 300)));
            self.after_header -= 1;
        } else if line.starts_with("error") || line.starts_with("    `-p ") {
            self.after_header = 0;
            self.lines.push(truncate(line, 300).to_owned());
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// The `<test>: <reason>` of each marker line in `log` (none if there is no log).
fn read_skips(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().filter_map(|l| l.strip_prefix(SKIP_MARKER)).map(|l| l.trim().to_owned()).collect()
}

/// `1 test`, `2 tests`.
fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn run_all(steps: Vec<Step>, skip_dir: &Path, ci: bool) -> i32 {
    let _ = std::fs::create_dir_all(skip_dir);
    let total = steps.len();
    let mut results = Vec::with_capacity(total);
    for (i, s) in steps.into_iter().enumerate() {
        println!("\n==> [{}/{total}] {}: {}", i + 1, s.name, show(&s.cmd));
        let ran = run_step(s, &skip_dir.join(format!("step-{i}.log")), ci);
        if let Outcome::Failed(why) | Outcome::Skipped(why) = &ran.outcome {
            println!("--- {}: {why}", ran.name);
        }
        results.push(ran);
    }
    let (text, code) = summary(&results);
    print!("{text}");
    code
}

/// The closing summary: one line per step, every skipped test, the tallies; and the exit code.
fn summary(results: &[Ran]) -> (String, i32) {
    use std::fmt::Write;
    let mut out = String::from("\n==> summary\n");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for r in results {
        let (tag, why) = match &r.outcome {
            Outcome::Passed => {
                passed += 1;
                ("PASS", String::new())
            }
            Outcome::Failed(why) => {
                failed += 1;
                ("FAIL", format!("  {why}"))
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                ("SKIP", format!("  {why}"))
            }
        };
        let tests = match r.skipped_tests.len() {
            0 => String::new(),
            n => format!("  ({} skipped)", count(n, "test")),
        };
        let _ = writeln!(out, "{tag}  {:<50} {:>7}{why}{tests}", r.name, secs(r.elapsed));
    }
    for r in results.iter().filter(|r| !r.failures.is_empty()) {
        let _ = writeln!(out, "\n{} failed:", r.name);
        for l in &r.failures {
            let _ = writeln!(out, "  {l}");
        }
    }
    let skipped_tests: Vec<(&str, &str)> =
        results.iter().flat_map(|r| r.skipped_tests.iter().map(|t| (r.name.as_str(), t.as_str()))).collect();
    if !skipped_tests.is_empty() {
        let _ = writeln!(out, "\nskipped tests (they passed without testing anything; required under CI):");
        for (step, test) in &skipped_tests {
            let _ = writeln!(out, "SKIP  {test}  [{step}]");
        }
    }
    let total_time: Duration = results.iter().map(|r| r.elapsed).sum();
    if skipped > 0 {
        let _ = writeln!(out, "{} skipped (tool not installed; required under CI)", count(skipped, "step"));
    }
    let _ = writeln!(
        out,
        "{} passed, {failed} failed; {} skipped ({})",
        count(passed, "step"),
        count(skipped_tests.len(), "test"),
        secs(total_time)
    );
    (out, i32::from(failed > 0))
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn script(root: &Path, path: &str, args: &[String]) -> i32 {
    match Command::new("bash").arg(root.join(path)).args(args).status() {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("could not run {path}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step running `script` under `sh`, as a test binary would run.
    fn sh(name: &str, script: &str) -> Step {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        step(name, c)
    }

    const SKIPS_TWO: &str = r#"echo "TICKSPAN-SKIP: qemu_e2e::boots: qemu-system-arm is not installed" >> "$TICKSPAN_SKIP_LOG"
        echo "noise" >> "$TICKSPAN_SKIP_LOG"
        echo "TICKSPAN-SKIP: export_tools::otlp: cannot import protobuf" >> "$TICKSPAN_SKIP_LOG""#;

    fn log(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn skipped_tests_are_listed_in_the_summary_and_pass_outside_ci() {
        let ran = vec![
            run_step(sh("host tests", SKIPS_TWO), &log("a.log"), false),
            run_step(sh("clean step", "true"), &log("b.log"), false),
        ];
        assert!(matches!(ran[0].outcome, Outcome::Passed));
        assert_eq!(
            ran[0].skipped_tests,
            ["qemu_e2e::boots: qemu-system-arm is not installed", "export_tools::otlp: cannot import protobuf"]
        );
        assert!(ran[1].skipped_tests.is_empty());
        let (text, code) = summary(&ran);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("(2 tests skipped)"), "{text}");
        assert!(text.contains("SKIP  qemu_e2e::boots: qemu-system-arm is not installed  [host tests]"), "{text}");
        assert!(text.contains("SKIP  export_tools::otlp: cannot import protobuf  [host tests]"), "{text}");
        assert!(text.contains("2 steps passed, 0 failed; 2 tests skipped"), "{text}");
    }

    #[test]
    fn a_skipped_test_fails_its_step_under_ci() {
        let ran = vec![run_step(sh("host tests", SKIPS_TWO), &log("c.log"), true)];
        assert!(matches!(&ran[0].outcome, Outcome::Failed(why) if why == "2 tests skipped under CI"));
        let (text, code) = summary(&ran);
        assert_eq!(code, 1, "{text}");
    }

    #[test]
    fn a_stale_log_from_an_earlier_run_is_not_read() {
        let path = log("d.log");
        std::fs::write(&path, "TICKSPAN-SKIP: old::test: long ago\n").unwrap();
        let ran = run_step(sh("host tests", "true"), &path, true);
        assert!(matches!(ran.outcome, Outcome::Passed));
        assert!(ran.skipped_tests.is_empty());
    }

    #[test]
    fn the_summary_names_the_failed_tests_and_why() {
        let cargo_like = r#"echo "running 2 tests"
            echo "---- fields::level_hides stdout ----"
            echo ""
            echo "thread 'fields::level_hides' panicked at tests/tests/fields.rs:10:5:"
            echo "hidden count missing"
            echo "note: run with RUST_BACKTRACE=1"
            echo "error: test failed, to rerun pass \`-p tickspan-tests --test fields\`" >&2
            echo "error: 1 target failed:" >&2
            echo "    \`-p tickspan-tests --test fields\`" >&2
            exit 101"#;
        let ran = vec![run_step(sh("host tests", cargo_like), &log("e.log"), true)];
        let (text, code) = summary(&ran);
        assert_eq!(code, 1, "{text}");
        let failed = text.split_once("host tests failed:").expect("a failures section").1;
        let want = [
            "failed test: fields::level_hides",
            "thread 'fields::level_hides' panicked at tests/tests/fields.rs:10:5:",
            "hidden count missing",
            "error: test failed, to rerun pass `-p tickspan-tests --test fields`",
            "`-p tickspan-tests --test fields`",
        ];
        // stdout and stderr are read apart: only each stream's own order is kept.
        let got: Vec<&str> = failed.lines().map(str::trim).collect();
        for w in want {
            assert!(got.contains(&w), "{w:?} missing in {text}");
        }
        let at = |l: &str| got.iter().position(|g| *g == l);
        assert!(at(want[0]) < at(want[1]) && at(want[1]) < at(want[2]), "{text}");
        assert!(!text.contains("RUST_BACKTRACE"), "{text}");
    }

    #[test]
    fn the_crate_alone_is_tested_as_users_type_it() {
        let steps = test_steps(Path::new("/nonexistent"), 1);
        let core = steps.iter().find(|s| s.name == "core tests").expect("a core tests step");
        let args: Vec<_> = core.cmd.get_args().collect();
        assert_eq!(args, ["test", "-p", "tickspan"]);
        assert_eq!(core.cmd.get_envs().count(), 0);
    }
}
