//! `tickspan attach` and `tickspan postmortem`: from command-line arguments to a byte stream
//! that the usual pipeline (decode → model → tree/stats/dump) reads like any other source.

use super::attach::RttStream;
use super::control::{Controller, Request};
use super::dump::RamDump;
use super::elf::Elf;
use super::gdb::GdbClient;
use super::postmortem::{encode, Timebase};
use super::rings::{read_rings, RingsLayout};
use super::rtt::{self, TICKSPAN_ID, TICKSPAN_SYMBOL};
use super::Memory;
use crate::run::Fail;
use crate::source::Source;
use anyhow::{anyhow, bail, Context as _, Result};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use tickspan::wire::{
    encode::FrameEncoder, CallsiteInfo, Decoder, Item, ENCODED_CAPACITY, FORMAT_VERSION, MAX_FRAME_LEN,
};

/// `tickspan attach`: arguments.
#[derive(clap::Args, Debug)]
pub struct AttachCmd {
    /// What to attach to and how.
    #[command(flatten)]
    pub target: AttachArgs,
    /// Where the capture goes.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `tickspan postmortem`: arguments. The output options are `attach`'s, described for a
/// stream that is rebuilt from the rings at once rather than captured over time.
#[derive(clap::Args, Debug)]
#[command(
    mut_arg("output", |a| a.help(
        "Also save the stream rebuilt from the rings to FILE (`-`: write it to standard output \
         instead of showing a view, e.g. `tickspan postmortem … -o - > crash.tspn`)"
    )),
    mut_arg("view", |a| a.help("The view shown of the records recovered from the rings")),
)]
pub struct PostmortemCmd {
    /// What to read the rings from.
    #[command(flatten)]
    pub target: PostmortemArgs,
    /// Where the capture goes.
    #[command(flatten)]
    pub out: OutputArgs,
}

/// What to do with the stream read from the target.
#[derive(clap::Args, Debug)]
pub struct OutputArgs {
    /// Also save the stream to FILE (`-`: write it to standard output instead of showing a
    /// view, e.g. `tickspan attach … -o - | tickspan tree -` to watch it live).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The view shown once the stream ends (target stopped, --until, --duration, Ctrl-C).
    #[arg(long, value_enum, default_value_t = View::Tree)]
    pub view: View,
}

/// Views of a captured stream.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// `tickspan tree`.
    Tree,
    /// `tickspan stats`.
    Stats,
    /// `tickspan dump`.
    Dump,
}

/// Runs `tickspan attach`; `show` runs a view subcommand on a saved stream (the CLI's own
/// dispatch, so the views are exactly those of `tickspan tree FILE` etc.).
pub fn run_attach(cmd: &AttachCmd, show: impl FnOnce(Vec<String>) -> Result<u8, Fail>) -> Result<u8, Fail> {
    if cmd.target.listen.is_some() || cmd.target.tcp.is_some() {
        let src = super::tcp::attach(&cmd.target).map_err(fail)?;
        return capture(src, &cmd.out, None, show);
    }
    let (mem, name) = open_memory(&cmd.target).map_err(fail)?;
    capture_attached(&cmd.target, mem, name, false, &cmd.out, show)
}

/// Captures the RTT channel of `mem` (attached as `args` says) as `attach` does, then shows
/// the view; with `live_defmt`, defmt's lines are also printed as they arrive.
pub(crate) fn capture_attached(
    args: &AttachArgs,
    mem: Box<dyn Memory>,
    name: String,
    live_defmt: bool,
    out: &OutputArgs,
    show: impl FnOnce(Vec<String>) -> Result<u8, Fail>,
) -> Result<u8, Fail> {
    let (src, defmt) = attach_with_defmt(args, mem, name, live_defmt).map_err(fail)?;
    let Some(mut defmt) = defmt else {
        return capture(src, out, None, show);
    };
    if out.output.as_deref().is_some_and(|p| p.as_os_str() == "-") {
        crate::note!("defmt lines are merged into saved streams only, not with `-o -`");
    }
    let live = std::cell::Cell::new(defmt.live.take());
    let merge = |path: &Path| defmt.merge_into(path);
    let end = || {
        // Every line printed before the view (the capture dropped the writer: its end).
        if let Some(t) = live.take() {
            let _ = t.join();
        }
    };
    let code = capture(src, out, Some((&merge, &end)), show);
    let _ = std::fs::remove_file(&defmt.raw);
    code
}

/// defmt-rtt's channel, captured beside tickspan's into `raw`, for [`DefmtCapture::merge_into`].
struct DefmtCapture {
    elf: PathBuf,
    raw: PathBuf,
    /// The thread printing its lines as they arrive (`tickspan run`).
    live: Option<std::thread::JoinHandle<()>>,
}

/// Copies defmt's bytes to the capture file and to the live decoder; a decoder that gave up
/// (undecodable frames) no longer gets them, the file still does.
struct Tee(std::fs::File, Option<mpsc::SyncSender<Vec<u8>>>);

impl io::Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        if self.1.as_ref().is_some_and(|p| p.send(buf.to_vec()).is_err()) {
            self.1 = None;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The live decoder's end of [`Tee`]: chunks as they were polled, the end when the capture
/// closes the channel.
struct Chunks(mpsc::Receiver<Vec<u8>>, io::Cursor<Vec<u8>>);

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.1.position() == self.1.get_ref().len() as u64 {
            match self.0.recv() {
                Ok(chunk) => self.1 = io::Cursor::new(chunk),
                Err(_) => return Ok(0),
            }
        }
        self.1.read(buf)
    }
}

impl DefmtCapture {
    /// Decodes the captured defmt frames and merges them into the saved stream at `path`.
    fn merge_into(&self, path: &Path) -> Result<(), Fail> {
        let io = |what: &Path, e| Fail::io(format!("reading {}", what.display()), e);
        let raw = std::fs::File::open(&self.raw).map_err(|e| io(&self.raw, e))?;
        if raw.metadata().map_err(|e| io(&self.raw, e))?.len() == 0 {
            return Ok(());
        }
        let elf = std::fs::read(&self.elf).map_err(|e| io(&self.elf, e))?;
        let mut warn = |m: String| crate::warning!("{m}");
        let lines = match super::defmt_log::decode(&elf, io::BufReader::new(raw), &mut warn) {
            Ok(l) => l,
            Err(e) => {
                warn(format!("defmt lines not shown: {e:#}"));
                return Ok(());
            }
        };
        // Written beside the stream, then renamed over it.
        let tmp = path.with_extension("defmt-merge");
        let write = |e| Fail::io(format!("writing {}", tmp.display()), e);
        let mut out = io::BufWriter::new(std::fs::File::create(&tmp).map_err(write)?);
        let merged = super::defmt_log::merge(|| std::fs::File::open(path), &mut out, &lines)
            .and_then(|n| io::Write::flush(&mut out).map(|_| n));
        drop(out);
        match merged {
            Ok(n) if n > 0 => std::fs::rename(&tmp, path).map_err(write),
            r => {
                let _ = std::fs::remove_file(&tmp);
                r.map(|_| ()).map_err(|e| io(path, e))
            }
        }
    }
}

/// Runs `tickspan postmortem`, see [`run_attach`].
pub fn run_postmortem(cmd: &PostmortemCmd, show: impl FnOnce(Vec<String>) -> Result<u8, Fail>) -> Result<u8, Fail> {
    let src = postmortem(&cmd.target).map_err(fail)?;
    capture(src, &cmd.out, None, show)
}

pub(crate) fn fail(e: anyhow::Error) -> Fail {
    Fail { code: crate::run::exit::IO, msg: format!("{e:#}") }
}

/// Rewrites a saved stream before it is shown (defmt lines merged in), after the second runs
/// once the source is closed.
type PostProcess<'a> = (&'a dyn Fn(&Path) -> Result<(), Fail>, &'a dyn Fn());

/// Copies the stream to the output file (or a temporary one) until it ends or Ctrl-C, then
/// closes the source, rewrites the file with `post` and shows the view on it.
fn capture(
    mut src: Box<dyn Source>,
    out: &OutputArgs,
    post: Option<PostProcess>,
    show: impl FnOnce(Vec<String>) -> Result<u8, Fail>,
) -> Result<u8, Fail> {
    crate::run::install_ctrlc();
    let to_stdout = out.output.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let (path, temp) = match &out.output {
        Some(p) if !to_stdout => (p.clone(), false),
        _ => (std::env::temp_dir().join(format!("tickspan-capture-{}.tspn", std::process::id())), true),
    };
    let mut sink: Box<dyn io::Write> = if to_stdout {
        Box::new(io::stdout().lock())
    } else {
        Box::new(io::BufWriter::new(
            std::fs::File::create(&path).map_err(|e| Fail::io(format!("creating {}", path.display()), e))?,
        ))
    };
    let name = src.describe();
    let mut buf = vec![0u8; 64 * 1024];
    while !crate::run::STOP.load(std::sync::atomic::Ordering::Relaxed) {
        let written = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sink.write_all(&buf[..n]).and_then(|_| if to_stdout { sink.flush() } else { Ok(()) }),
            Err(e) if crate::source::is_idle(&e) => Ok(()),
            Err(e) => return Err(Fail::io(format!("reading {name}"), e)),
        };
        match written {
            // `-o - | head`: the reader went away, which ends the capture (not a failure).
            Err(e) if to_stdout && e.kind() == io::ErrorKind::BrokenPipe => return Ok(crate::run::exit::OK),
            r => r.map_err(|e| Fail::io("writing the stream", e))?,
        }
    }
    sink.flush().map_err(|e| Fail::io("writing the stream", e))?;
    drop(sink);
    drop(src);
    if let Some((_, closed)) = post {
        closed();
    }
    if to_stdout {
        return Ok(crate::run::exit::OK);
    }
    if let Some((post, _)) = post {
        post(&path)?;
    }
    crate::run::STOP.store(false, std::sync::atomic::Ordering::Relaxed);
    let view = match out.view {
        View::Tree => "tree",
        View::Stats => "stats",
        View::Dump => "dump",
    };
    let code = show(vec!["tickspan".into(), view.into(), path.display().to_string()]);
    if temp {
        let _ = std::fs::remove_file(&path);
    }
    code
}

/// How long a GDB stub may take to answer.
const GDB_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest RAM image `--save-dump` writes.
const MAX_SAVE: u64 = 16 << 20;

/// Where `tickspan attach` reads from: RTT through `--gdb` or `--chip`, or a std process's TCP
/// drain through `--listen` or `--tcp` (one is required, and the error for none names them).
#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["gdb", "chip", "listen", "tcp"])))]
pub struct AttachArgs {
    /// A GDB stub: HOST:PORT (QEMU `-gdb tcp::3333`, OpenOCD `localhost:3333`) or a serial
    /// device (a Black Magic Probe's GDB port, e.g. /dev/ttyACM0).
    #[arg(long, value_name = "HOST:PORT|DEVICE", requires = "elf")]
    pub gdb: Option<String>,
    /// A debug probe attached to this chip (probe-rs target name, e.g. nRF52840_xxAA).
    #[arg(long, conflicts_with = "gdb")]
    pub chip: Option<String>,
    /// Which probe, when several are connected (`VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", requires = "chip")]
    pub probe: Option<String>,
    /// The firmware ELF: locates the RTT block (`_TICKSPAN_RTT`) and names callsites.
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
    /// Wait for a std process's drain to connect (`tickspan::transport::to_tcp`, e.g.
    /// 127.0.0.1:7000); control messages go back on the connection.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["gdb", "chip", "elf", "tcp"])]
    pub listen: Option<String>,
    /// Connect to a TCP stream of a std process's drain (through a relay that passes both
    /// directions); control messages go back on the connection.
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["gdb", "chip", "elf"])]
    pub tcp: Option<String>,
    /// When the capture ends, how it polls, whether defmt's channel is read.
    #[command(flatten)]
    pub polling: Polling,
}

/// When a capture of a running target ends and how it reads it (`attach`, `run`).
#[derive(clap::Args, Debug, Clone)]
pub struct Polling {
    /// End when the target reaches this function (a breakpoint at the ELF symbol).
    #[arg(long, value_name = "SYMBOL", requires = "elf")]
    pub until: Option<String>,
    /// End after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<f64>,
    /// How often to poll the channel, in milliseconds (a GDB stub stops the target briefly).
    #[arg(long, value_name = "MS", default_value_t = 10)]
    pub poll_ms: u64,
    /// Control the recording from the host (firmware built with tickspan's `rtt-control`).
    #[command(flatten)]
    pub control: ControlArgs,
    /// Do not read defmt's RTT channel. By default, when the ELF has a defmt table and
    /// defmt-rtt's `_SEGGER_RTT`, its log lines (stamped with tickspan's clock) are merged into
    /// the stream: `tree` shows each inside the span open when it was logged (`▸ INFO …`).
    #[arg(long)]
    pub no_defmt: bool,
}

impl Polling {
    /// `--duration` (clap refuses what is not a number; this, what no duration is).
    pub(crate) fn duration(&self) -> Option<Duration> {
        self.duration.and_then(|s| Duration::try_from_secs_f64(s).ok())
    }
}

/// Host → target control messages (`tickspan::control`), sent once the stream header has told
/// the target's clock rate, through the RTT block's down channel (firmware, with `--elf`) or
/// back on a std drain's TCP connection; the target acknowledges each in the stream, and the
/// host says when it did. A file, standard input or a serial port has no way back.
#[derive(clap::Args, Debug, Clone, Default)]
#[group(multiple = false)]
pub struct ControlArgs {
    /// Record for this long (`5s`, `200ms`, `400000ticks`), converted to ticks with the clock
    /// rate the target reports, then stop; the capture ends with the interval unless
    /// `--until`/`--duration` say otherwise.
    #[arg(long, value_name = "DURATION")]
    pub trace_for: Option<crate::units::Duration>,
    /// Start recording (`tickspan::arm`), and cancel a `trace for` deadline.
    #[arg(long)]
    pub arm: bool,
    /// Stop recording (`tickspan::disarm`).
    #[arg(long)]
    pub disarm: bool,
}

impl ControlArgs {
    pub(crate) fn request(&self) -> Option<Request> {
        match (self.trace_for, self.arm, self.disarm) {
            (Some(d), ..) => Some(Request::TraceFor(d)),
            (None, true, _) => Some(Request::Arm),
            (None, false, true) => Some(Request::Disarm),
            _ => None,
        }
    }
}

/// Where `tickspan postmortem` reads the rings from.
#[derive(clap::Args, Debug, Clone)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["gdb", "dump", "chip"])))]
pub struct PostmortemArgs {
    /// The firmware ELF (finds `_TICKSPAN_RINGS`, names callsites).
    #[arg(long, value_name = "FILE")]
    pub elf: PathBuf,
    /// A GDB stub connected to the halted (or crashed) target: HOST:PORT or a serial device.
    #[arg(long, value_name = "HOST:PORT|DEVICE")]
    pub gdb: Option<String>,
    /// A debug probe attached to this chip (probe-rs target name); the core is halted.
    #[arg(long)]
    pub chip: Option<String>,
    /// Which probe, when several are connected (`VID:PID[:SERIAL]`).
    #[arg(long, value_name = "SELECTOR", requires = "chip")]
    pub probe: Option<String>,
    /// A RAM image (e.g. GDB `dump binary memory ram.bin 0x20000000 0x20010000`).
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
    /// Address of the dump's first byte [default: the start of the ELF's RAM sections, or the
    /// stack top minus the dump's size, whichever holds the rings].
    #[arg(long, value_name = "ADDR", value_parser = parse_u64, requires = "dump")]
    pub base: Option<u64>,
    /// SysTick period in ticks (RVR + 1), needed with --dump when the firmware stamps with SysTick.
    #[arg(long, value_name = "TICKS", value_parser = parse_u64)]
    pub clock_wrap: Option<u64>,
    /// Also save the RAM image read from the target (for a later `--dump`).
    #[arg(long, value_name = "FILE", conflicts_with = "dump")]
    pub save_dump: Option<PathBuf>,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if Duration::try_from_secs_f64(v).is_ok() => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (0 or more)")),
    }
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => s.replace('_', "").parse(),
    };
    r.map_err(|e| format!("{s:?}: {e}"))
}

/// Refuses firmware whose version symbol names a wire format this build does not read.
pub(crate) fn check_version(elf: &Elf) -> Result<()> {
    match elf.format_version()? {
        Some(v) if v != FORMAT_VERSION => {
            bail!("the firmware writes tickspan wire format v{v}; this tickspan reads v{FORMAT_VERSION}")
        }
        _ => Ok(()),
    }
}

fn open_elf(path: &Path) -> Result<Elf> {
    let elf = Elf::open(path)?;
    check_version(&elf)?;
    Ok(elf)
}

/// A finished byte stream (post-mortem) as a source.
pub struct BytesSource {
    data: io::Cursor<Vec<u8>>,
    name: String,
}

impl Source for BytesSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.data.read(buf)
    }
    fn len(&self) -> Option<u64> {
        Some(self.data.get_ref().len() as u64)
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// A live RTT capture as a source; with an ELF, callsite names are put into the stream.
pub struct RttSource {
    stream: RttStream,
    dictionary: Option<Vec<u8>>,
    seen_frame: bool,
    /// Inside a frame while looking for the first frame's end.
    in_frame: bool,
    /// The first frame's bytes, to compare its header with the ELF (bounded by the frame size).
    first: Vec<u8>,
    /// The wire format version the ELF's symbol names.
    elf_version: Option<u16>,
    name: String,
    /// A control request being followed, and whether its interval's end ends the capture.
    control: Option<(Controller, bool)>,
}

impl Source for RttSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.read_stream(buf);
        let Some((c, end_with_it)) = self.control.as_mut() else { return r };
        let stream = &mut self.stream;
        let done = c.follow(&r, buf, |msg| {
            stream.queue_control(msg);
            Ok(())
        })?;
        if done && *end_with_it {
            *end_with_it = false;
            self.stream.end_now();
        }
        r
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl RttSource {
    /// The stream from the target, the ELF's names put in after its first frame.
    fn read_stream(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // After the first complete frame (the stream header, when the capture starts at the
        // beginning) come the dictionary frames: a frame boundary is the only safe place.
        if self.seen_frame {
            if let Some(dict) = self.dictionary.as_mut().filter(|d| !d.is_empty()) {
                let n = dict.len().min(buf.len());
                buf[..n].copy_from_slice(&dict[..n]);
                dict.drain(..n);
                return Ok(n);
            }
        }
        let n = self.stream.read(buf)?;
        if !self.seen_frame {
            // Stop at the first 0x00 that ends a non-empty frame; the rest comes next call.
            for (i, &b) in buf[..n].iter().enumerate() {
                if b != 0 {
                    self.in_frame = true;
                } else if self.in_frame {
                    self.seen_frame = true;
                    self.first.extend_from_slice(&buf[..=i]);
                    self.check_header()?;
                    let rest = buf[i + 1..n].to_vec();
                    self.stream_unread(rest);
                    return Ok(i + 1);
                }
            }
            if self.first.len() < MAX_FRAME_LEN {
                self.first.extend_from_slice(&buf[..n.min(MAX_FRAME_LEN)]);
            }
        }
        Ok(n)
    }

    /// The stream header carries the version the firmware was built with: it must be the one
    /// the ELF's version symbol names, or the ELF is not this firmware's.
    fn check_header(&mut self) -> io::Result<()> {
        let Some(elf_version) = self.elf_version else {
            return Ok(());
        };
        let mut version = None;
        let mut dec = Decoder::new();
        let r = dec.feed(&self.first, &mut |item| {
            if let Item::Header(h) = item {
                version = Some(h.version);
            }
        });
        self.first = Vec::new();
        match (r, version) {
            (Err(e), _) => Err(io::Error::other(format!("{e}"))),
            (Ok(()), Some(v)) if v != elf_version => Err(io::Error::other(format!(
                "the target sends wire format v{v} but the ELF was built for v{elf_version}: is --elf this firmware's?"
            ))),
            _ => Ok(()),
        }
    }

    /// Bytes read from the target past the injection point go out after the dictionary.
    fn stream_unread(&mut self, rest: Vec<u8>) {
        if let Some(dict) = self.dictionary.as_mut() {
            dict.extend_from_slice(&rest);
        } else {
            self.dictionary = Some(rest);
        }
    }
}

/// Callsite frames for every callsite the ELF names.
fn dictionary(elf: &Elf) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = FrameEncoder::new();
    let mut buf = [0u8; ENCODED_CAPACITY];
    for (id, cs) in elf.callsites() {
        enc.callsite(&CallsiteInfo {
            id,
            kind: super::postmortem::callsite_kind(cs.kind),
            level: super::postmortem::level(cs.level),
            line: cs.line,
            name: &cs.name,
            file: &cs.file,
        });
        let n = enc.finish(&mut buf);
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// The target's RTT channel as a live source (defmt's channel is not read: see
/// [`Polling::no_defmt`]), for `relay` and `serve`.
pub fn attach_source(args: &AttachArgs) -> Result<Box<dyn Source>, Fail> {
    let mut args = args.clone();
    args.polling.no_defmt = true;
    let (mem, name) = open_memory(&args).map_err(fail)?;
    attach_with_defmt(&args, mem, name, false).map(|(src, _)| src).map_err(fail)
}

/// The target `--gdb` or `--chip` names, and how its stream is described.
fn open_memory(args: &AttachArgs) -> Result<(Box<dyn Memory>, String)> {
    match (&args.gdb, &args.chip) {
        (Some(addr), _) => Ok((Box::new(GdbClient::connect(addr, GDB_TIMEOUT)?), format!("RTT via GDB {addr}"))),
        (None, Some(chip)) => open_probe(chip, args.probe.as_deref()),
        (None, None) => bail!("give --gdb HOST:PORT or --chip CHIP"),
    }
}

/// `tickspan attach`: the RTT channel of `mem` as a live source, and defmt's channel captured
/// beside it when the ELF has one (see [`Polling::no_defmt`]), its lines also printed as
/// they arrive with `live_defmt`.
fn attach_with_defmt(
    args: &AttachArgs,
    mut mem: Box<dyn Memory>,
    name: String,
    live_defmt: bool,
) -> Result<(Box<dyn Source>, Option<DefmtCapture>)> {
    let elf = args.elf.as_deref().map(open_elf).transpose()?;
    let symbol = |name: &str| -> Result<u64> {
        let elf = elf.as_ref().ok_or_else(|| anyhow!("--elf is needed to find `{name}`"))?;
        elf.symbol(name).map(|s| s.0).ok_or_else(|| anyhow!("the ELF has no symbol `{name}`"))
    };
    let cb = match elf.as_ref().and_then(|e| e.symbol(TICKSPAN_SYMBOL)) {
        Some((addr, _)) => addr,
        None if elf.is_some() => {
            bail!("the ELF has no `{TICKSPAN_SYMBOL}`: does the firmware drain with tickspan::transport::rtt?")
        }
        None => {
            let ram = mem.ram_ranges().ok_or_else(|| anyhow!("give --elf to find the RTT block"))?;
            rtt::scan(mem.as_mut(), &ram, TICKSPAN_ID)?
        }
    };
    if let Some(until) = &args.polling.until {
        // Thumb function symbols have bit 0 set; the instruction is at the even address.
        mem.set_breakpoint(symbol(until)? & !1)?;
    }
    let poll = Duration::from_millis(args.polling.poll_ms.max(1));
    let duration = args.polling.duration();
    let defmt_cb = match (&elf, &args.elf) {
        (Some(e), Some(path)) if !args.polling.no_defmt => e
            .symbol(super::defmt_log::SEGGER_SYMBOL)
            .map(|s| s.0)
            .filter(|_| std::fs::read(path).is_ok_and(|b| super::defmt_log::has_table(&b))),
        _ => None,
    };
    let mut stream = RttStream::attach(mem, cb, TICKSPAN_ID, Some(rtt::CHANNEL_NAME), poll, duration)?;
    let mut defmt = None;
    if let (Some(dcb), Some(path)) = (defmt_cb, &args.elf) {
        let raw = std::env::temp_dir().join(format!("tickspan-defmt-{}.bin", std::process::id()));
        let file = std::fs::File::create(&raw).with_context(|| format!("creating {}", raw.display()))?;
        let (pipe, live) = if live_defmt {
            // Bounded: a decoder that falls behind slows the polls, it never grows memory.
            let (tx, rx) = mpsc::sync_channel(64);
            let elf = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let input = Chunks(rx, io::Cursor::new(Vec::new()));
            (Some(tx), Some(std::thread::spawn(move || live_lines(&elf, input))))
        } else {
            (None, None)
        };
        stream = stream.with_side_channel(super::attach::SideChannel::new(
            dcb,
            super::defmt_log::SEGGER_ID,
            Box::new(Tee(file, pipe)),
        ));
        defmt = Some(DefmtCapture { elf: path.clone(), raw, live });
    }
    let control = match args.polling.control.request() {
        Some(_) if elf.is_none() => bail!(
            "--trace-for, --arm and --disarm over RTT need --elf: the acknowledgement is found by the name \
             the firmware's ELF gives its callsite"
        ),
        Some(req) => {
            stream = stream.with_control(cb)?;
            let until = args.polling.until.is_some() || args.polling.duration.is_some();
            let ends = matches!(req, Request::TraceFor(_)) && !until;
            Some((Controller::new(req, Controller::fresh_seq()), ends))
        }
        None => None,
    };
    let dictionary = elf.as_ref().map(dictionary);
    let elf_version = elf.as_ref().and_then(|e| e.format_version().ok().flatten());
    let src = Box::new(RttSource {
        control,
        stream,
        dictionary,
        seen_frame: false,
        in_frame: false,
        first: Vec::new(),
        elf_version,
        name,
    });
    Ok((src, defmt))
}

/// Prints defmt's lines to standard error as they come through `input` (until it closes), as
/// `probe-rs run` does: `[<ticks>] <LEVEL> <message>`.
fn live_lines(elf: &[u8], input: impl Read) {
    let mut warn = |m: String| crate::warning!("live defmt lines: {m}");
    let mut print = |raw: Option<u64>, text: String| match raw {
        Some(t) => eprintln!("{t:>12} {text}"),
        None => eprintln!("{text}"),
    };
    if let Err(e) = super::defmt_log::decode_with(elf, input, &mut warn, &mut print) {
        crate::warning!("live defmt lines: {e:#}");
    }
}

/// `tickspan postmortem`: the rings of a halted target or a RAM dump as a finished stream.
pub fn postmortem(args: &PostmortemArgs) -> Result<Box<dyn Source>> {
    let elf = open_elf(&args.elf)?;
    let layout = RingsLayout::from_elf(&elf)?;
    let (mut mem, live, name): (Box<dyn Memory>, bool, String) = match (&args.gdb, &args.chip, &args.dump) {
        (Some(addr), _, _) => {
            let mut gdb = GdbClient::connect(addr, GDB_TIMEOUT)?;
            eprintln!("target halted ({:?})", gdb.interrupt()?);
            (Box::new(gdb), true, format!("post-mortem via GDB {addr}"))
        }
        (None, Some(chip), _) => {
            let (mem, name) = open_probe_halted(chip, args.probe.as_deref())?;
            (mem, true, name)
        }
        (None, None, Some(path)) => {
            let dump = open_dump(path, args.base, &elf, &layout)?;
            (Box::new(dump), false, format!("post-mortem of {}", path.display()))
        }
        _ => bail!("give --gdb, --chip or --dump"),
    };
    if let Some(path) = &args.save_dump {
        save_dump(mem.as_mut(), &elf, path)?;
    }
    let rings = read_rings(mem.as_mut(), &layout)?;
    if let Some(state) = recording_state(mem.as_mut(), &elf) {
        eprintln!("{state}");
    }
    let registers = live && elf.is_arm();
    let tb = Timebase::read(&layout, registers.then_some(mem.as_mut()), args.clock_wrap)?;
    for r in &rings {
        eprintln!(
            "ring {}: {} recovered, {} lost ({} written since boot, wrapping at 2^32)",
            r.ctx,
            crate::units::count(r.records().count() as u64, "record"),
            r.lost(),
            r.written
        );
    }
    let target =
        format!("post-mortem {}", args.elf.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()));
    let data = encode(&rings, &layout, &tb, Some(&elf), &target);
    Ok(Box::new(BytesSource { data: io::Cursor::new(data), name }))
}

/// What the target's arming flags (`_TICKSPAN_FROZEN`, `_TICKSPAN_ARMED`) say, for firmware
/// that has them (and a dump that holds them): whether the rings were frozen for this
/// post-mortem or still recording.
fn recording_state(mem: &mut dyn Memory, elf: &Elf) -> Option<&'static str> {
    let mut flag = |name: &str| {
        let (addr, _) = elf.symbol(name)?;
        let mut b = [0u8];
        mem.read(addr, &mut b).ok()?;
        Some(b[0] != 0)
    };
    match (flag("_TICKSPAN_FROZEN"), flag("_TICKSPAN_ARMED")) {
        (Some(true), _) => Some(
            "recording: frozen (tickspan::freeze was called): the rings end with the records that led to it, \
             and the view says when",
        ),
        (_, Some(false)) => Some("recording: disarmed (tickspan::disarm) when read"),
        (_, Some(true)) => Some("recording: armed when read"),
        _ => None,
    }
}

/// Opens a dump at `base`, or at the first candidate base that puts the rings inside it.
fn open_dump(path: &Path, base: Option<u64>, elf: &Elf, layout: &RingsLayout) -> Result<RamDump> {
    let mut dump = RamDump::open(path, base.unwrap_or(0))?;
    if base.is_some() {
        return Ok(dump);
    }
    let len = dump.len() as u64;
    let candidates = [elf.ram().map(|r| r.start), elf.symbol("_stack_start").and_then(|(top, _)| top.checked_sub(len))];
    for c in candidates.into_iter().flatten() {
        dump.rebase(c);
        if dump.contains(layout.addr, layout.bytes()) {
            return Ok(dump);
        }
    }
    bail!("cannot tell where {} starts in memory: give --base ADDR", path.display())
}

/// Writes the RAM the ELF's writable sections span (rings included) to `path`.
fn save_dump(mem: &mut dyn Memory, elf: &Elf, path: &Path) -> Result<()> {
    let ram = elf.ram().ok_or_else(|| anyhow!("the ELF has no RAM sections to save"))?;
    let len = ram.end - ram.start;
    if len > MAX_SAVE {
        bail!("the ELF's RAM sections span {len} bytes, more than --save-dump writes");
    }
    let mut data = vec![0u8; len as usize];
    mem.read(ram.start, &mut data)?;
    std::fs::write(path, &data).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "saved {len} bytes of RAM at {:#x} to {} (--dump {} --base {:#x})",
        ram.start,
        path.display(),
        path.display(),
        ram.start
    );
    Ok(())
}

#[cfg(feature = "probe")]
fn open_probe(chip: &str, selector: Option<&str>) -> Result<(Box<dyn Memory>, String)> {
    let mem = super::probe::ProbeMemory::open(chip, selector)?;
    Ok((Box::new(mem), format!("RTT via probe ({chip})")))
}

#[cfg(feature = "probe")]
fn open_probe_halted(chip: &str, selector: Option<&str>) -> Result<(Box<dyn Memory>, String)> {
    let mut mem = super::probe::ProbeMemory::open(chip, selector)?;
    super::probe::halt(&mut mem)?;
    Ok((Box::new(mem), format!("post-mortem via probe ({chip})")))
}

#[cfg(not(feature = "probe"))]
fn open_probe(_: &str, _: Option<&str>) -> Result<(Box<dyn Memory>, String)> {
    bail!("this tickspan was built without debug probe support (cargo feature `probe`)")
}

#[cfg(not(feature = "probe"))]
fn open_probe_halted(chip: &str, selector: Option<&str>) -> Result<(Box<dyn Memory>, String)> {
    open_probe(chip, selector)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::elf::tests::synthetic_elf;
    use crate::device::rtt::tests::{image, Ram};
    use tickspan::record::{Kind, Record};
    use tickspan::ring::Ring;

    /// An RTT source over a channel holding a real stream of two records of callsite 16.
    fn source(elf_version: Option<u16>) -> RttSource {
        let ring = Ring::<16>::new();
        ring.push(Record::new(Kind::SpanEnter, 16, 1, 0, 0));
        ring.push(Record::new(Kind::SpanExit, 16, 2, 0, 0));
        let info = tickspan::drain::StreamInfo {
            clock_hz: 0,
            clock_wrap: 1 << 32,
            node: 0,
            target: "t",
            name: "",
            now: || 3,
            unix_ns: || 0,
        };
        let mut drain = tickspan::drain::Drain::new(std::array::from_ref(&ring), info);
        let mut bytes = vec![0u8; 256];
        let n = drain.read(&mut bytes);
        let base = 0x2000_0000;
        let mem = Box::new(Ram { base, bytes: image(base, 512, n as u32, 0, &bytes[..n]) });
        let stream =
            RttStream::attach(mem, base, TICKSPAN_ID, None, Duration::from_millis(1), Some(Duration::ZERO)).unwrap();
        let elf = Elf::parse(synthetic_elf([2, 1, 0, 16, 1, 0, 0], 48)).unwrap();
        RttSource {
            stream,
            dictionary: Some(dictionary(&elf)),
            seen_frame: false,
            in_frame: false,
            first: Vec::new(),
            elf_version,
            name: "test".into(),
            control: None,
        }
    }

    fn read_all(src: &mut RttSource) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match src.read(&mut buf) {
                Ok(0) => return Ok(out),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if crate::source::is_idle(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    #[test]
    fn names_from_the_elf_follow_the_header_and_a_foreign_elf_is_refused() {
        let bytes = read_all(&mut source(Some(FORMAT_VERSION))).unwrap();
        let mut items = Vec::new();
        Decoder::new().feed(&bytes, &mut |i| items.push(format!("{i:?}"))).unwrap();
        assert!(items[0].starts_with("Header"), "{items:?}");
        assert!(items[1].starts_with("Callsite") && items[1].contains("\"parse\""), "{items:?}");
        assert_eq!(items.iter().filter(|i| i.starts_with("Record")).count(), 2, "{items:?}");
        let err = read_all(&mut source(Some(FORMAT_VERSION + 1))).unwrap_err();
        assert!(err.to_string().contains("is --elf this firmware's?"), "{err}");
    }
}
