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

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickspan-tests-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}
