//! `tickspan run`: a cargo runner, like `probe-rs run`. It flashes the ELF through a debug
//! probe and resets the chip (or boots the ELF under QEMU and drives it through QEMU's
//! gdbstub), streams tickspan's RTT channel while printing defmt's lines as they arrive, and
//! shows the tree (or stats, dump) when the firmware stops: at a breakpoint instruction
//! (`bkpt`, panic handlers, `--until`), a fault that halts the core, `--duration` or Ctrl-C.

use super::cmd::{capture_attached, AttachArgs, OutputArgs, Polling};
use super::gdb::GdbClient;
use super::Memory;
use crate::run::Fail;
use anyhow::{bail, Context as _, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `tickspan run`: arguments.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("on").required(true).args(["chip", "qemu"])))]
pub struct RunCmd {
    /// The firmware ELF (cargo appends it when tickspan is the runner).
    pub elf: PathBuf,
    /// Flash and run it on this chip through a debug probe (probe-rs target name).
    #[arg(long)]
    pub chip: Option<String>,
    /// Which probe, when several are connected (`VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", requires = "chip")]
    pub probe: Option<String>,
    /// Do not flash: reset the chip and run what it holds (this ELF's firmware).
    #[arg(long, requires = "chip")]
    pub no_flash: bool,
    /// Boot it under QEMU instead, on this machine (e.g. lm3s6965evb, mps2-an385), driven
    /// through QEMU's gdbstub; semihosting stays off, so a `bkpt` stops it as on a probe.
    #[arg(long, value_name = "MACHINE", conflicts_with = "chip")]
    pub qemu: Option<String>,
    /// The QEMU program.
    #[arg(long, value_name = "PROGRAM", default_value = "qemu-system-arm")]
    pub qemu_bin: String,
    /// One more QEMU argument (repeat: `--qemu-arg=-icount --qemu-arg=shift=3`).
    #[arg(long = "qemu-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub qemu_args: Vec<String>,
    /// When the run ends, how it polls, whether defmt's channel is read (its lines are
    /// printed as they arrive).
    #[command(flatten)]
    pub polling: Polling,
    /// Where the stream goes and which view is shown at the end.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How long QEMU may take to open its gdbstub.
const QEMU_START: Duration = Duration::from_secs(20);

/// Runs `tickspan run`; `show` runs the view subcommand, as for `attach`.
pub fn run(cmd: &RunCmd, show: impl FnOnce(Vec<String>) -> Result<u8, Fail>) -> Result<u8, Fail> {
    let fail = |e: anyhow::Error| Fail {
        code: crate::run::exit::IO,
        msg: format!("{e:#}"),
    };
    let args = AttachArgs {
        listen: None,
        tcp: None,
        gdb: None,
        chip: cmd.chip.clone(),
        probe: cmd.probe.clone(),
        elf: Some(cmd.elf.clone()),
        polling: cmd.polling.clone(),
    };
    // QEMU lives until the view has been shown (dropping it stops the machine).
    let mut qemu = None;
    let (mem, name): (Box<dyn Memory>, String) = match &cmd.qemu {
        Some(machine) => {
            let (q, gdb) = Qemu::boot(cmd, machine).map_err(fail)?;
            qemu = Some(q);
            (
                Box::new(gdb),
                format!("RTT of {} under QEMU {machine}", cmd.elf.display()),
            )
        }
        None => on_chip(cmd).map_err(fail)?,
    };
    let code = capture_attached(&args, mem, name, !cmd.polling.no_defmt, &cmd.out, show);
    drop(qemu);
    code
}

/// Flashes and resets the chip `--chip` names.
#[cfg(feature = "probe")]
fn on_chip(cmd: &RunCmd) -> Result<(Box<dyn Memory>, String)> {
    let chip = cmd
        .chip
        .as_deref()
        .context("give --chip CHIP or --qemu MACHINE")?;
    let mut mem = super::probe::ProbeMemory::open(chip, cmd.probe.as_deref())?;
    if !cmd.no_flash {
        crate::note!("flashing {} to {chip}", cmd.elf.display());
    }
    super::probe::flash_and_reset(&mut mem, &cmd.elf, !cmd.no_flash)?;
    Ok((Box::new(mem), format!("RTT via probe ({chip})")))
}

#[cfg(not(feature = "probe"))]
fn on_chip(_: &RunCmd) -> Result<(Box<dyn Memory>, String)> {
    bail!("this tickspan was built without debug probe support (cargo feature `probe`): use --qemu")
}

/// A QEMU process, killed when dropped.
struct Qemu(Child);

impl Qemu {
    /// Starts the ELF under QEMU, held at reset (`-S`) until the gdbstub connection lets it
    /// run; QEMU's own output (the UARTs with `-nographic`) goes to standard error, so that
    /// standard output stays the view's (or the stream's, with `-o -`).
    fn boot(cmd: &RunCmd, machine: &str) -> Result<(Qemu, GdbClient)> {
        if !cmd.elf.is_file() {
            bail!("{}: no such file", cmd.elf.display());
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port for QEMU's gdbstub")?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(&cmd.qemu_bin)
            .args(["-machine", machine, "-nographic", "-monitor", "none", "-S"])
            .args(["-gdb", &format!("tcp:{addr}")])
            .arg("-kernel")
            .arg(&cmd.elf)
            .args(&cmd.qemu_args)
            .stdin(Stdio::null())
            .stdout(std::io::stderr())
            .stderr(std::io::stderr())
            .spawn()
            .with_context(|| format!("starting {}", cmd.qemu_bin))?;
        let mut qemu = Qemu(child);
        let gdb = qemu.connect(&addr, &cmd.elf)?;
        Ok((qemu, gdb))
    }

    /// Connects to the gdbstub once QEMU listens, or says why QEMU ended first.
    fn connect(&mut self, addr: &str, elf: &Path) -> Result<GdbClient> {
        let give_up = Instant::now() + QEMU_START;
        loop {
            if let Some(status) = self.0.try_wait()? {
                bail!(
                    "QEMU ended ({status}) before its gdbstub answered: its messages are above (is {} for this machine?)",
                    elf.display()
                );
            }
            match GdbClient::connect(addr, Duration::from_secs(5)) {
                Ok(gdb) => return Ok(gdb),
                Err(e) if Instant::now() > give_up => {
                    return Err(e).context("QEMU's gdbstub did not answer within 20 s")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
