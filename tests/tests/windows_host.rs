//! tickspan on a Windows host: the std demo built for `x86_64-pc-windows-gnu` (callsites in
//! the PE/COFF grouped section `.tkcs$b`, bounded by markers in `$a` and `$c`) runs under Wine
//! and its trace decodes on Linux to what the Linux build records: the same spans per name,
//! named from the callsite section, on the main and worker threads.
//!
//! Needs the `x86_64-pc-windows-gnu` target, MinGW-w64's gcc (linker, and the Wine 8 stand-in
//! DLL in tests/tools/wine/) and Wine (skipped loudly outside CI).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tickspan_tests::{run, scratch, skip, workspace};

const TARGET: &str = "x86_64-pc-windows-gnu";
const MINGW_GCC: &str = "x86_64-w64-mingw32-gcc";

/// Wine's 64-bit loader: on PATH, or where Debian's `wine64` package puts it.
fn wine() -> Option<PathBuf> {
    ["wine64", "wine", "/usr/lib/wine/wine64"]
        .into_iter()
        .map(PathBuf::from)
        .find(|w| Command::new(w).arg("--version").output().is_ok_and(|o| o.status.success()))
}

fn works(cmd: &str, arg: &str) -> bool {
    Command::new(cmd).arg(arg).output().is_ok_and(|o| o.status.success())
}

/// Spans per name and the context names, as `tickspan stats --json` and `dump --json` see them.
fn summary(trace: &Path) -> (Vec<(String, u64)>, Vec<String>) {
    let out = run(&["stats", trace.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut spans: Vec<(String, u64)> = v["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["count"].as_u64().unwrap()))
        .collect();
    spans.sort();
    let out = run(&["tree", trace.to_str().unwrap()]);
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut ctxs: Vec<String> =
        tree.lines().filter_map(|l| l.strip_prefix("── ")?.split(" @ ").next().map(str::to_string)).collect();
    ctxs.sort();
    ctxs.dedup();
    (spans, ctxs)
}

#[test]
fn the_std_demo_built_for_windows_records_under_wine() {
    let target_ok = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l == TARGET));
    let Some(wine) = wine() else {
        return skip("Wine is not installed (apt-get install wine64)");
    };
    if !target_ok || !works(MINGW_GCC, "--version") {
        return skip(&format!(
            "needs `rustup target add {TARGET}` and {MINGW_GCC} (apt-get install gcc-mingw-w64-x86-64)"
        ));
    }
    let dir = scratch("windows-host");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = workspace().join("target");
    let status = Command::new(cargo)
        .current_dir(workspace())
        .args(["build", "-q", "-p", "tickspan-std-demo", "--target", TARGET])
        .env("CARGO_TARGET_DIR", &target_dir)
        .status()
        .unwrap();
    assert!(status.success(), "building the std demo for {TARGET} failed");
    let exe = dir.join("tickspan-std-demo.exe");
    std::fs::copy(target_dir.join(TARGET).join("debug/tickspan-std-demo.exe"), &exe).unwrap();
    let dll = dir.join("bcryptprimitives.dll");
    let stub = workspace().join("tests/tools/wine/bcryptprimitives.c");
    let built = Command::new(MINGW_GCC)
        .args(["-shared", "-O2", "-Wl,--kill-at", "-o"])
        .arg(&dll)
        .arg(&stub)
        .arg("-ladvapi32")
        .status()
        .unwrap();
    assert!(built.success(), "building the Wine stand-in DLL failed");

    let win = dir.join("win.tspn");
    let out = Command::new(&wine)
        .arg(&exe)
        .arg(format!("Z:{}", win.display().to_string().replace('/', "\\")))
        .env("WINEPREFIX", dir.join("wineprefix"))
        .env("WINEDEBUG", "-all")
        .output()
        .unwrap();
    assert!(out.status.success(), "the demo under Wine: {}", String::from_utf8_lossy(&out.stderr));
    // Wine's prefix is 700 MB a run: gone once it has served (kept when the demo failed).
    let _ = std::fs::remove_dir_all(dir.join("wineprefix"));

    // The Linux build's recording of the same program (the fuzz seed the export tests use).
    let linux = workspace().join("fuzz/seeds/std-demo.tspn");
    let (win_spans, win_ctxs) = summary(&win);
    assert_eq!(win_spans, summary(&linux).0, "the same spans per name as on Linux");
    assert!(win_spans.contains(&("handle_request".into(), 4)), "{win_spans:?}");
    assert_eq!(win_ctxs, ["main", "worker"]);
}
