//! Spans of a live source pushed to an OpenTelemetry collector as they close: `tickspan relay`
//! for a target (serial, TCP, RTT through a probe or a GDB stub, stdin, a followed file) and
//! [`in_process`] for a std app's own trace.
//!
//! A live source cannot wait for a slow collector, so both drop a span when the push queue is
//! full and count it (`export --endpoint` of a file waits instead). The counts are printed as
//! the relay runs and when it ends; every span is in them: `queued = sent + rejected + dropped`.

use crate::app;
use crate::cli::Input;
use crate::device::cmd::{AttachArgs, Polling};
use crate::export::push::{self, Figures, PushArgs, PushConfig, Pusher, WhenFull};
use crate::run::{exit, Fail};
use crate::source::Source;
use clap::{Args, Parser};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `tickspan relay` options.
#[derive(Args, Debug)]
#[command(
    mut_arg("file", |a| a.index(1).required_unless_present_any(["serial", "tcp", "listen", "gdb", "chip"])),
    mut_arg("more", |a| a.index(2).hide(true)),
    mut_arg("nodes", |a| a.hide(true)),
)]
pub struct RelayArgs {
    /// Where the trace comes from.
    #[command(flatten)]
    pub input: Input,
    /// Read tickspan's RTT channel through a GDB stub: HOST:PORT (QEMU `-gdb tcp::3333`,
    /// OpenOCD) or a serial device (a Black Magic Probe); needs --elf.
    #[arg(long, value_name = "HOST:PORT|DEVICE", requires = "elf", conflicts_with_all = ["file", "serial", "tcp", "listen", "chip"])]
    pub gdb: Option<String>,
    /// Read tickspan's RTT channel through a debug probe attached to this chip (probe-rs
    /// target name, e.g. nRF52840_xxAA).
    #[arg(long, conflicts_with_all = ["file", "serial", "tcp", "listen"])]
    pub chip: Option<String>,
    /// Which probe, when several are connected (`VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", requires = "chip")]
    pub probe: Option<String>,
    /// With --gdb or --chip: end when the target reaches this function (a breakpoint at the
    /// ELF symbol).
    #[arg(long, value_name = "SYMBOL", requires = "elf")]
    pub until: Option<String>,
    /// With --gdb or --chip: end after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// How often the RTT channel is polled, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub poll_ms: u64,
    /// How often the counts are printed on stderr while relaying (0s: only at the end).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = push::wall)]
    pub every: Duration,
    /// When the push queue is full: drop the span and count it, or stop reading the source
    /// until there is room (a TCP or serial target then waits in its drain, and its rings
    /// count what they lose).
    #[arg(long, value_enum, value_name = "WHAT", default_value = "drop")]
    pub when_full: WhenFull,
    /// The collector and how to send to it.
    #[command(flatten)]
    pub push: PushArgs,
}

/// Runs `tickspan relay`.
pub fn run(a: &RelayArgs) -> Result<u8, Fail> {
    if !a.input.more.is_empty() {
        let msg = "relay reads one source: merge several files with `tickspan merge`, or run a relay for each".into();
        return Err(Fail { code: exit::USAGE, msg });
    }
    if (a.until.is_some() || a.duration.is_some()) && a.gdb.is_none() && a.chip.is_none() {
        return Err(Fail { code: exit::USAGE, msg: "--until and --duration are for --gdb and --chip".into() });
    }
    let cfg = PushConfig::resolve(&a.push, a.when_full)?;
    let src: Box<dyn Source> = if a.gdb.is_some() || a.chip.is_some() {
        let target = AttachArgs {
            listen: None,
            tcp: None,
            gdb: a.gdb.clone(),
            chip: a.chip.clone(),
            probe: a.probe.clone(),
            elf: a.input.elf.clone(),
            polling: Polling {
                until: a.until.clone(),
                duration: a.duration,
                poll_ms: a.poll_ms,
                no_defmt: true,
                control: Default::default(),
            },
        };
        crate::device::cmd::attach_source(&target)?
    } else {
        app::open(&a.input)?
    };
    let resource = app::resource_config(&a.input)?;
    let quiet = a.input.quiet;
    let pusher = Pusher::start(cfg, resource)?;
    let ticker = (!quiet && !a.every.is_zero()).then(|| Ticker::start(pusher.figures.clone(), a.every));
    let t0 = Instant::now();
    let (code, records) = app::push_from(src, &a.input, pusher)?;
    drop(ticker);
    if !quiet {
        let secs = t0.elapsed().as_secs_f64();
        crate::note!("relay: {records} records in {secs:.1} s ({:.0} records/s)", records as f64 / secs.max(1e-9));
    }
    Ok(code)
}

/// Prints the counts every `every` until dropped.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(figures: Arc<Figures>, every: Duration) -> Ticker {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                eprintln!("relay: {}", figures.progress());
            }
        });
        Ticker { stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A std app's own spans pushed to a collector from a thread of their own: see [`in_process`].
pub struct InProcess {
    drain: tickspan::transport::DrainHandle,
    decoder: JoinHandle<Result<Arc<Figures>, Fail>>,
    url: String,
}

impl InProcess {
    /// Stops draining (what is left is drained and decoded first), sends what is queued
    /// (retrying for at most `retry_for`) and returns the counts.
    pub fn finish(self) -> Result<Arc<Figures>, Fail> {
        self.drain.finish().map_err(|e| Fail::io("draining the rings", e))?;
        self.decoder.join().map_err(|_| Fail { code: exit::IO, msg: "the OTLP decoding thread panicked".into() })?
    }

    /// The collector's traces URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Pushes this process's trace to an OpenTelemetry collector over OTLP/HTTP as spans close:
/// starts tickspan's drain thread into an in-memory channel and decodes it on a thread of its
/// own. `push` is `relay`'s options; [`PushArgs::default`] takes the collector from the
/// `OTEL_EXPORTER_OTLP_*` variables. Recording never waits: when the collector is slower than
/// the app, spans are dropped at the push queue (and counted), or the rings fill (and the lost
/// records are counted). Only one drain can run, so this replaces `tickspan::transport::to_file`
/// and the like.
pub fn in_process(push: &PushArgs) -> Result<InProcess, Fail> {
    let cfg = PushConfig::resolve(push, WhenFull::Drop)?;
    let resource = crate::export::otlp::ResourceConfig::from_env().map_err(|msg| Fail { code: exit::USAGE, msg })?;
    let url = cfg.url.clone();
    let pusher = Pusher::start(cfg, resource)?;
    let (drain, src) = crate::source::channel::drain()?;
    let decoder = std::thread::Builder::new()
        .name("tickspan-otlp-decode".into())
        .spawn(move || app::push_spans(Box::new(src), pusher))
        .map_err(|e| Fail::io("starting the OTLP decoding thread", e))?;
    Ok(InProcess { drain, decoder, url })
}

impl Default for PushArgs {
    /// The command line's defaults, i.e. the collector and encoding from the environment.
    fn default() -> PushArgs {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            push: PushArgs,
        }
        Defaults::parse_from(["tickspan"]).push
    }
}
