//! What the QEMU tests share: building a firmware binary with features, running it to its
//! semihosting exit or with its gdbstub on a free port, attaching the CLI to that gdbstub, and
//! `tickspan dump --json` parsed into records.
#![allow(dead_code)] // each test file uses its own part

use serde_json::Value;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tickspan_tests::{run, scratch, skip};

pub const QEMU: &str = "qemu-system-arm";

/// Whether QEMU is there; if not, `test` is skipped ([`tickspan_tests::skip`]: a failure
/// under CI, a `TICKSPAN-SKIP:` line outside it).
pub fn qemu_available(test: &str) -> bool {
    let found = Command::new(QEMU).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if found.is_ok_and(|s| s.success()) {
        return true;
    }
    skip(&format!("{QEMU} is not installed (apt-get install qemu-system-arm), so {test} did not run"));
    false
}

/// Builds firmware binary `bin` with cargo features `features` and returns its ELF.
pub fn build_firmware(bin: &str, features: &str) -> PathBuf {
    build_firmware_with(bin, features, &[])
}

/// [`build_firmware`] with tickspan's build-time configuration overridden by `env` (e.g.
/// `TICKSPAN_CONTEXTS`), into a target directory of its own per configuration, so that other
/// tests' builds neither clobber its ELF nor rebuild tickspan for it.
pub fn build_firmware_with(bin: &str, features: &str, env: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/firmware");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut target = dir.join("target");
    if !env.is_empty() || features.contains("flight-recorder") {
        let tag: Vec<String> = env.iter().map(|(k, v)| format!("{k}-{v}")).collect();
        target = target.join(format!("cfg-{}{}", tag.join("-"), features.replace(',', "-")));
    }
    // The firmware is its own workspace with its own target and rustflags: drop whatever the
    // outer build set that would override them.
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&dir)
        .args(["build", "--release", "--bin", bin, "--features", features])
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd.status().expect("run cargo build for the firmware");
    assert!(status.success(), "building firmware {bin} failed");
    let elf = target.join("thumbv7m-none-eabi/release").join(bin);
    assert!(elf.exists(), "{} missing", elf.display());
    elf
}

/// QEMU's lm3s6965evb (Cortex-M3) running `elf` with deterministic virtual time
/// (`-icount shift=3`; `sleep=off`: a `wfi` jumps to the next timer deadline instead of
/// letting virtual time follow the host's clock, which on a loaded host lands interrupts
/// late), UART0 into the file `uart`.
fn qemu(elf: &Path, uart: &Path) -> Command {
    qemu_timed(elf, uart, true)
}

/// [`qemu`], with virtual time following the host's clock instead when `icount` is false.
fn qemu_timed(elf: &Path, uart: &Path, icount: bool) -> Command {
    let mut cmd = Command::new(QEMU);
    cmd.args(["-cpu", "cortex-m3", "-machine", "lm3s6965evb", "-nographic", "-monitor", "none"]);
    if icount {
        cmd.args(["-icount", "shift=3,sleep=off"]);
    }
    cmd.arg("-serial").arg(format!("file:{}", uart.display())).arg("-kernel").arg(elf);
    cmd
}

/// Runs `elf` under QEMU (semihosting, `-icount shift=3`, UART0 into the file `uart`) until
/// the firmware exits through semihosting with success; returns (UART bytes, semihosting
/// output).
pub fn run_to_exit(elf: &Path, uart: &Path) -> (Vec<u8>, String) {
    let _ = std::fs::remove_file(uart);
    let mut child = qemu(elf, uart)
        .args(["-semihosting-config", "enable=on,target=native"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait for qemu").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the firmware did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("qemu output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "firmware failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    (std::fs::read(uart).expect("read the UART capture"), stdout)
}

/// `key=value` numbers from the firmware's semihosting line starting with `prefix`.
pub fn summary(stdout: &str, prefix: &str) -> HashMap<String, u64> {
    let line =
        stdout.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} line in {stdout:?}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("number")))
        .collect()
}

/// QEMU running an ELF with its gdbstub on 127.0.0.1; killed when dropped.
pub struct Qemu {
    child: Child,
    /// `127.0.0.1:PORT` of the gdbstub.
    pub gdb: String,
    /// File receiving UART0.
    pub uart: PathBuf,
}

impl Qemu {
    /// Starts `elf`; `halted` holds the CPU at reset until a debugger continues it (`-S`).
    pub fn start(elf: &Path, dir: &Path, halted: bool) -> Qemu {
        Qemu::start_timed(elf, dir, halted, true)
    }

    /// [`Qemu::start`]; without `icount`, virtual time follows the host's clock, also while
    /// the debugger halts the CPU (with `-icount` it jumps to the next timer deadline then).
    pub fn start_timed(elf: &Path, dir: &Path, halted: bool, icount: bool) -> Qemu {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let uart = dir.join(format!("uart-{port}.txt"));
        let mut cmd = qemu_timed(elf, &uart, icount);
        cmd.args(["-gdb", &format!("tcp:127.0.0.1:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if halted {
            cmd.arg("-S");
        }
        let child = cmd.spawn().expect("start qemu");
        let gdb = format!("127.0.0.1:{port}");
        let q = Qemu { child, gdb, uart };
        // Wait for the gdbstub to listen. A probe connection would make QEMU halt the CPU and
        // wait for that debugger, so only look at whether the port is taken.
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpListener::bind(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "QEMU's gdbstub did not start listening on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        q
    }

    /// Waits until UART0 has printed a whole line (its `\n` too) starting with `prefix`;
    /// returns it. The file is read while QEMU writes it: a line without its end may still grow.
    pub fn wait_uart(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.uart).unwrap_or_default();
            if let Some(line) = text.split_inclusive('\n').find(|l| l.starts_with(prefix) && l.ends_with('\n')) {
                return line.trim_end().to_string();
            }
            assert!(Instant::now() < deadline, "no {prefix:?} on UART0 within 30 s (got {text:?})");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A firmware binary running under QEMU with its gdbstub, and the test's scratch directory.
pub struct Booted {
    pub elf: PathBuf,
    pub dir: PathBuf,
    pub qemu: Qemu,
}

/// Builds firmware binary `bin` with cargo features `features` and starts it under QEMU
/// ([`Qemu::start`]), with scratch directory `scratch`. `None` when QEMU is missing: the test
/// `test` is then skipped ([`qemu_available`]).
pub fn boot(test: &str, bin: &str, features: &str, scratch_dir: &str, halted: bool) -> Option<Booted> {
    if !qemu_available(test) {
        return None;
    }
    let elf = build_firmware(bin, features);
    let dir = scratch(scratch_dir);
    let qemu = Qemu::start(&elf, &dir, halted);
    Some(Booted { elf, dir, qemu })
}

impl Booted {
    /// `tickspan attach` over the gdbstub with the ELF's names, saving the stream to `out`,
    /// until the firmware reaches `tickspan_rtt_done`; `extra` are more CLI arguments.
    pub fn attach(&self, out: &Path, extra: &[&str]) -> Output {
        let (elf, out) = (self.elf.to_str().unwrap(), out.to_str().unwrap());
        let mut args = vec!["attach", "--gdb", &self.qemu.gdb, "--elf", elf];
        args.extend(["--until", "tickspan_rtt_done", "-o", out]);
        args.extend(extra);
        run(&args)
    }
}

/// `tickspan dump --json STREAM` (names from `elf` when given), checked for success and parsed.
pub fn dump(stream: &Path, elf: Option<&Path>) -> Dumped {
    let mut args = vec!["dump", "--json", stream.to_str().unwrap()];
    if let Some(elf) = elf {
        args.extend(["--elf", elf.to_str().unwrap()]);
    }
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "tickspan {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Dumped::parse(&String::from_utf8_lossy(&out.stdout))
}

/// The timed events (`t`, whose value is the firmware's own time, `backlog`) with their decoded
/// time minus that time, and the median of those differences: the clocks' constant offset.
pub fn time_offsets(d: &Dumped) -> (i64, Vec<(i64, &Rec)>) {
    let diffs: Vec<(i64, &Rec)> = d
        .records
        .iter()
        .filter(|r| r.name == "t")
        .map(|r| (r.ts as i64 - r.value.expect("a timed event carries its time") as i64, r))
        .collect();
    let mut sorted: Vec<i64> = diffs.iter().map(|d| d.0).collect();
    sorted.sort_unstable();
    (sorted.get(sorted.len() / 2).copied().unwrap_or(0), diffs)
}

/// A record line of `tickspan dump --json`.
#[derive(Clone, Debug)]
pub struct Rec {
    pub ctx: u64,
    pub kind: String,
    pub name: String,
    pub value: Option<u64>,
    pub ts: u64,
    /// Nanoseconds since the stream's start (only where the clock frequency is known).
    pub ns: Option<u64>,
    /// The record's first payload word (task id of a `TaskSwitch`, IRQ of an ISR record).
    pub a: u64,
}

/// What `tickspan dump --json FILE` shows of a stream.
#[derive(Debug, Default)]
pub struct Dumped {
    pub header: Option<Value>,
    pub records: Vec<Rec>,
    /// Loss entries per context, in order.
    pub losses: Vec<(u64, u64)>,
    pub contexts: Vec<(u64, String)>,
    pub skipped: u64,
    /// Records the target's drain could not date exactly (ambiguous-time reports).
    pub ambiguous: u64,
}

impl Dumped {
    pub fn parse(json_lines: &str) -> Dumped {
        let mut d = Dumped::default();
        let u = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"));
        for line in json_lines.lines() {
            let v: Value = serde_json::from_str(line).expect("dump JSON line");
            match v["type"].as_str() {
                Some("header") => d.header = Some(v),
                Some("loss") => d.losses.push((u(&v["ctx"]), u(&v["count"]))),
                Some("context") => d.contexts.push((u(&v["ctx"]), v["name"].as_str().unwrap().to_string())),
                Some("skipped") => d.skipped += u(&v["bytes"]),
                Some("ambiguous") => d.ambiguous += u(&v["records"]),
                Some("record") => d.records.push(Rec {
                    ctx: u(&v["ctx"]),
                    kind: v["kind"].as_str().unwrap().to_string(),
                    name: v["name"].as_str().unwrap().to_string(),
                    value: v.get("value").and_then(Value::as_u64),
                    ts: u(&v["ts"]),
                    ns: v.get("ns").and_then(Value::as_u64),
                    a: v["a"].as_u64().unwrap_or(0),
                }),
                _ => {}
            }
        }
        d
    }

    /// Records of one context.
    pub fn ctx(&self, ctx: u64) -> Vec<&Rec> {
        self.records.iter().filter(|r| r.ctx == ctx).collect()
    }

    /// Records lost in one context.
    pub fn lost(&self, ctx: u64) -> u64 {
        self.losses.iter().filter(|l| l.0 == ctx).map(|l| l.1).sum()
    }
}
