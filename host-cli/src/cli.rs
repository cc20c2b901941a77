//! Command line (clap derive): subcommands, their options and the examples in `--help`.

use crate::model::DEFAULT_WINDOW;
use crate::units::Duration;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const TOP_HELP: &str = "\
Examples:
  tickspan tree trace.tspn                      call trees, one per root span
  tickspan stats trace.tspn --json              per-name statistics as JSON
  tickspan export trace.tspn -f perfetto -o t.pftrace   open it in ui.perfetto.dev
  my-app | tickspan tree -                      read standard input
  tickspan tree --serial /dev/ttyACM0 --baud 921600   live from a UART (Ctrl-C to stop)

Exit codes:
  0    success (damaged data is skipped with a warning on stderr)
  1    bad command line
  2    the input is not a tickspan trace, or its format version is not supported
  3    an input or output could not be opened, read or written
  4    --strict was given and data was damaged, records were lost or their times are ambiguous
  130  stopped by Ctrl-C (what was read until then is shown)
A closed output (`tickspan dump t.tspn | head`) ends the run quietly with 0.";

const TREE_HELP: &str = "\
Times are real units from the stream's clock frequency (ticks if it has none). Each span line
shows its duration, its self time (minus children and interrupts) and, if interrupts ran while
it was open, the time they took ('isr'). '•' lines are events inside the span, '⚠' lines mark
where the target lost records.

Examples:
  tickspan tree trace.tspn
  tickspan tree trace.tspn --name parse --min-duration 10us
  tickspan tree trace.tspn --from 1.5ms --to 3ms --context main
  tickspan tree trace.tspn --merge              one aggregated tree per context
  tickspan tree trace.tspn --json | jq -c '.root.children[] | {name, duration}'
  tickspan tree --tcp 127.0.0.1:7000 --follow   live, reconnecting
  tickspan tree gw.tspn backend.tspn fw.tspn    one tree per distributed trace across
                                                the three nodes, their clocks aligned";

const COMPLETIONS_HELP: &str = "\
Examples:
  tickspan completions bash > ~/.local/share/bash-completion/completions/tickspan
  tickspan completions zsh > ~/.zfunc/_tickspan       (with fpath+=~/.zfunc in .zshrc)
  tickspan completions fish > ~/.config/fish/completions/tickspan.fish";

const STATS_HELP: &str = "\
Per span name: count, total, self, min/mean/p50/p90/p99/max and how many spans lasted at least
10µs, 100µs, 1ms, 10ms, 100ms and 1s (cumulative, as in Go's x/net/trace). Percentiles are
within 1%; everything else is exact. JSON times are in ns ('unit': 'ticks' without a clock);
each JSON bucket gives its bound: {\"at_least\": 10000, \"label\": \"≥10µs\", \"count\": 3}.

Examples:
  tickspan stats trace.tspn
  tickspan stats trace.tspn --json | jq '.spans[] | select(.p99 > 1000000)'";

const DUMP_HELP: &str = "\
Every decoded item in stream order (not merged by time): header, callsite dictionary, context
names, records with their context, 64-bit tick and time since the first record, losses,
clock anchors, and skipped damaged regions.

Examples:
  tickspan dump trace.tspn | less
  tickspan dump trace.tspn --json | jq 'select(.kind == \"SpanEnter\")'";

const EXPORT_HELP: &str = "\
Formats:
  perfetto    Perfetto's protobuf trace (TrackEvents): ui.perfetto.dev, trace_processor; a
              track per context, counters per value, flows from manual spans to their
              children and between the polls of a task; about 3× smaller than chrome's JSON
              (but Perfetto loads it ~1.2× slower). Times in ns of the stream's clock (ticks
              without one)
  chrome      trace-event JSON; opens as is in ui.perfetto.dev or chrome://tracing
  otlp        OpenTelemetry OTLP/JSON (ExportTraceServiceRequest), e.g. for
              curl -H 'Content-Type: application/json' --data @t.json http://collector:4318/v1/traces
  folded      folded stacks of self time (flamegraph.pl, inferno, speedscope)
  flamegraph  flame graph SVG

Examples:
  tickspan export trace.tspn -f perfetto -o trace.pftrace
  tickspan export trace.tspn -f chrome -o trace.json
  tickspan export trace.tspn -f flamegraph -o flame.svg
  tickspan export trace.tspn -f folded | inferno-flamegraph > flame.svg
  tickspan export trace.tspn -f otlp -o spans.json
  tickspan export gw.tspn fw.tspn -f otlp -o t.json   several nodes: a resource per node
  tickspan export gw.tspn fw.tspn -f chrome -o t.json a process per node, flows caller → callee
  tickspan export gw.tspn fw.tspn -f perfetto -o t.pftrace   the same in Perfetto's protobuf
  tickspan export trace.tspn -f otlp --endpoint http://127.0.0.1:4318   push over OTLP/HTTP
  OTEL_SERVICE_NAME=gw tickspan export t.tspn -f otlp --endpoint http://c:4318 --protocol http/json";

const ATTACH_HELP: &str = "\
Reads tickspan's RTT channel (`_TICKSPAN_RTT`) while the target runs, until it stops, --until,
--duration or Ctrl-C, then shows a view of what was read. --elf names the callsites. With
--listen (or --tcp), reads a std process's TCP drain (tickspan::transport::to_tcp) instead.
--trace-for, --arm and --disarm go back to the target over the same link (RTT: firmware
built with tickspan's `rtt-control`; TCP: to_tcp's connection). A file, standard input or a
serial port has no way back: control needs one of these links.

Examples:
  tickspan attach --chip STM32F411RETx --elf app             debug probe (probe-rs), until Ctrl-C
  tickspan attach --gdb 127.0.0.1:3333 --elf app --duration 10   OpenOCD or QEMU's gdbstub
  tickspan attach --gdb /dev/ttyACM0 --elf app --until done  Black Magic Probe, until fn `done`
  tickspan attach --chip nRF52840_xxAA --elf app -o run.tspn --view stats   keep the stream
  tickspan attach --gdb 127.0.0.1:3333 --elf app -o - | tickspan tree -     watch it live
  tickspan attach --gdb 127.0.0.1:3333 --elf app --trace-for 20ms   record 20 ms, then stop
  tickspan attach --listen 127.0.0.1:7000 --trace-for 5s --view stats   a std app's to_tcp drain";

const RUN_HELP: &str = "\
A cargo runner, like `probe-rs run`: flashes the ELF and resets the chip (or boots it under
QEMU), prints defmt's lines as they arrive, and when the firmware stops (a `bkpt`, a halting
fault, --until, --duration or Ctrl-C) shows the tree of what tickspan's RTT channel carried.

In .cargo/config.toml:
  [target.thumbv7em-none-eabihf]
  runner = \"tickspan run --chip nRF52840_xxAA\"
  [target.thumbv7m-none-eabi]
  runner = \"tickspan run --qemu lm3s6965evb\"

Examples:
  cargo run --release                                   with one of the runners above
  tickspan run --chip STM32F411RETx app --view stats    flash, reset, stats at the end
  tickspan run --qemu lm3s6965evb app --until done -o run.tspn   keep the stream
  tickspan run --qemu mps2-an385 app --qemu-arg=-icount --qemu-arg=shift=3";

const POSTMORTEM_HELP: &str = "\
Reads the rings (`_TICKSPAN_RINGS`) of a target that stopped (halted by a debugger, stuck in a
fault handler) or of a RAM image, and shows the records still in them; with the firmware's
feature `flight-recorder` those are the newest.

Examples:
  tickspan postmortem --elf app --gdb 127.0.0.1:3333         a halted target (OpenOCD, QEMU)
  tickspan postmortem --elf app --chip STM32F411RETx         through a debug probe (halts it)
  tickspan postmortem --elf app --dump ram.bin --base 0x20000000   a saved RAM image
  tickspan postmortem --elf app --gdb 127.0.0.1:3333 --save-dump ram.bin -o crash.tspn";

const MERGE_HELP: &str = "\
Each input is a node (named by --node, else by its stream header, else by its file name). The
nodes' clocks are aligned as `tree` does with several inputs (wall-clock anchors checked against
the causality of remote parent/child spans; see `tickspan tree --help`), and each node's frames
are written as they were, behind a header with its node id and name and a clock anchor that
places it on the aligned time line. tree, stats and export read the merged file as the nodes
it holds.

Examples:
  tickspan merge gw.tspn backend.tspn fw.tspn -o all.tspn
  tickspan tree all.tspn
  tickspan merge a.tspn b.tspn --node api --node db -o all.tspn --force";

const RELAY_HELP: &str = "\
Decodes the source as it arrives and sends each span once it closes to the collector's
/v1/traces (OTLP/HTTP protobuf, gzip; see `tickspan export --help` for the OTEL_* variables),
in batches, retrying 429/502/503/504 and unreachable collectors. A live source cannot wait:
when the queue is full (--queue), spans are dropped and counted. The counts are printed every
--every and at the end: queued = sent + rejected + dropped. Ends when the source does, or on
Ctrl-C (what is queued is sent first). Exit code 3 when spans were dropped or rejected.

Examples:
  tickspan relay --serial /dev/ttyACM0 --elf fw --endpoint http://collector:4318
  tickspan relay --chip nRF52840_xxAA --elf fw          RTT through a debug probe
  tickspan relay --gdb 127.0.0.1:3333 --elf fw          RTT through a GDB stub (QEMU, OpenOCD)
  tickspan relay --tcp 10.0.0.7:7000 --follow           a target's TCP drain, reconnecting
  my-app | tickspan relay -                             a std app's stdout drain";

const SERVE_HELP: &str = "\
Pages (live, no reload): /requests per span name, like Go's /debug/requests: latency buckets with
their latest spans, open spans, counts over the last minute and hour of stream time,
percentiles, and the data's losses and warnings; /events one log per event name. /api/requests
and /api/events give the same as JSON (docs/serve.md). Binds loopback only unless
--allow-remote; nothing on it can change the target.

Examples:
  tickspan serve trace.tspn                     then open http://127.0.0.1:7060/
  tickspan serve --tcp 127.0.0.1:7000 --follow  live from a target's drain
  tickspan serve fw.tspn --buckets 0ns,10us,100us,1ms,10ms   µs-scale firmware work
  tickspan serve a.tspn --also b.tspn --also tcp:10.0.0.7:7000   several sources, ?source=N";

/// Decode tickspan traces: call trees, statistics, raw records and exports.
#[derive(Parser, Debug)]
#[command(name = "tickspan", version, after_help = TOP_HELP, arg_required_else_help = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Call trees per context: nesting, durations, self and interrupt time, events, losses.
    #[command(after_help = TREE_HELP)]
    Tree(TreeArgs),
    /// Per-name span statistics: counts, totals, percentiles, latency buckets.
    #[command(after_help = STATS_HELP)]
    Stats(StatsArgs),
    /// Decoded records as text or JSON lines.
    #[command(after_help = DUMP_HELP)]
    Dump(DumpArgs),
    /// Export to Perfetto (protobuf), Chrome JSON, OTLP/JSON, folded stacks or a flame graph.
    #[command(after_help = EXPORT_HELP)]
    Export(ExportArgs),
    /// Joins the traces of several nodes into one stream, their clocks aligned.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
    /// Reads RTT from a running target (GDB stub, debug probe) or a std app's TCP drain, then shows a view.
    #[command(after_help = ATTACH_HELP)]
    Attach(crate::device::cmd::AttachCmd),
    /// Flashes and runs firmware (debug probe or QEMU), streams its trace, shows the tree: a cargo runner.
    #[command(after_help = RUN_HELP)]
    Run(crate::device::runner::RunCmd),
    /// Reads the rings of a halted or crashed target (GDB stub, debug probe or RAM dump).
    #[command(after_help = POSTMORTEM_HELP)]
    Postmortem(crate::device::cmd::PostmortemCmd),
    /// Prints a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Writes the man pages: tickspan.1 and one per subcommand (tickspan-tree.1, …).
    #[command(after_help = "Example:\n  tickspan man -o ~/.local/share/man/man1 && man tickspan-tree")]
    Man {
        /// Directory to write them to (created if missing).
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
    /// Push a live source's spans to an OpenTelemetry collector (OTLP/HTTP) as they close.
    #[command(after_help = RELAY_HELP)]
    Relay(crate::relay::RelayArgs),
    /// A live dashboard in the browser: span families, latency buckets, recent and open spans.
    #[command(after_help = SERVE_HELP)]
    Serve(crate::serve::ServeArgs),
    /// Writes a synthetic trace for benchmarking (`bench` reads it).
    #[command(hide = true)]
    BenchGen(BenchGenArgs),
    /// Measures decode, and decode + tree + stats, throughput on one core.
    #[command(hide = true)]
    Bench(BenchArgs),
}

/// Where the trace comes from (exactly one of FILE, --serial, --tcp, --listen).
#[derive(Args, Debug, Clone)]
pub struct Input {
    /// Trace file, or `-` for standard input.
    #[arg(value_name = "FILE", required_unless_present_any = ["serial", "tcp", "listen"])]
    pub file: Option<PathBuf>,
    /// More trace files, one node each: `tree`, `stats` and `export` join them (one tree per
    /// distributed trace across the nodes, clocks aligned).
    #[arg(value_name = "MORE", conflicts_with_all = ["serial", "tcp", "listen", "follow"])]
    pub more: Vec<PathBuf>,
    /// Names of the nodes, in the order of the files (default: the name in each stream's
    /// header, else the file's name without extension).
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,
    /// Byte range of the file to read: one node of a merged stream.
    #[arg(skip)]
    pub section: Option<(u64, u64)>,
    /// Read a serial port (e.g. /dev/ttyACM0, COM3).
    #[arg(long, value_name = "PORT", conflicts_with_all = ["file", "tcp", "listen"])]
    pub serial: Option<String>,
    /// Serial baud rate.
    #[arg(long, value_name = "N", default_value_t = 115_200)]
    pub baud: u32,
    /// Connect to a TCP stream (host:port).
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["file", "listen"])]
    pub tcp: Option<String>,
    /// Listen for a TCP connection from a target's drain (e.g. 0.0.0.0:7000).
    #[arg(long, value_name = "ADDR", conflicts_with = "file")]
    pub listen: Option<String>,
    /// Keep reading at the end of a file, or reconnect when a TCP stream closes; stop with Ctrl-C.
    #[arg(short = 'F', long)]
    pub follow: bool,
    /// Firmware ELF whose callsite statics name the records (for streams without a dictionary).
    #[arg(long, value_name = "ELF")]
    pub elf: Option<PathBuf>,
    /// Exit with code 4 if data was damaged, records were lost or their times are ambiguous.
    #[arg(long)]
    pub strict: bool,
    /// No warnings on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    /// Hide events and values below this level (with their fields; spans stay): the CLI
    /// says how many it hid.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub level: Option<LevelArg>,
    /// Records held back to merge contexts into time order (bounds memory).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WINDOW, hide_short_help = true)]
    pub reorder_window: usize,
    /// Taken only to say why not: a control message needs a link back to the target, which
    /// these inputs lack (`tickspan attach` has one).
    #[arg(long, hide = true, value_name = "DURATION")]
    pub trace_for: Option<String>,
    /// See `trace_for`.
    #[arg(long, hide = true)]
    pub arm: bool,
    /// See `trace_for`.
    #[arg(long, hide = true)]
    pub disarm: bool,
}

impl Input {
    /// The error for `--trace-for`, `--arm` or `--disarm` given to a command that only reads.
    pub fn one_way(&self) -> Option<String> {
        let flag = match (&self.trace_for, self.arm, self.disarm) {
            (Some(_), ..) => "--trace-for",
            (None, true, _) => "--arm",
            (None, false, true) => "--disarm",
            _ => return None,
        };
        Some(format!(
            "{flag} sends a control message to the target, which needs a link back to it: a file, standard input \
             (a pipe) or a serial port carries the trace one way only. Use `tickspan attach --listen ADDR {flag} …` \
             for a std process that drains with tickspan::transport::to_tcp, or `tickspan attach --gdb …|--chip … \
             --elf FW {flag} …` for firmware over RTT (docs/architecture.md, \"From the host\")"
        ))
    }
}

/// `tree` options.
#[derive(Args, Debug)]
pub struct TreeArgs {
    /// Where the trace comes from.
    #[command(flatten)]
    pub input: Input,
    /// Only subtrees rooted at spans whose name contains this.
    #[arg(long)]
    pub name: Option<String>,
    /// Hide spans shorter than this (e.g. 10us, 1.5ms, 200ticks).
    #[arg(long, value_name = "DURATION")]
    pub min_duration: Option<Duration>,
    /// Hide spans ending before this time from the start of the trace.
    #[arg(long, value_name = "TIME")]
    pub from: Option<Duration>,
    /// Hide spans starting after this time from the start of the trace.
    #[arg(long, value_name = "TIME")]
    pub to: Option<Duration>,
    /// Only this context (id or name); repeat for several.
    #[arg(long, value_name = "CTX")]
    pub context: Vec<String>,
    /// Aggregate identical call paths (count, total, self, max) instead of listing every call.
    #[arg(long)]
    pub merge: bool,
    /// Most nodes kept per tree; the rest are counted as elided.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_nodes: usize,
    /// JSON lines instead of text: one per tree, top-level event run or merged tree.
    #[arg(long)]
    pub json: bool,
}

/// `stats` options.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Where the trace comes from.
    #[command(flatten)]
    pub input: Input,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Utilization instead: each thread's, interrupt handler's and task's share of the time,
    /// overall and per window, what interrupts leave to the rest in the worst window of each
    /// width, and latency: handlers' run time, interval and wait from pend (`tickspan::pend`)
    /// to entry, tasks' wait from wake-up to poll.
    #[arg(long)]
    pub contexts: bool,
    /// With --contexts, also plot each context's share per window to FILE (SVG).
    #[arg(long, value_name = "FILE", requires = "contexts")]
    pub svg: Option<PathBuf>,
}

/// `dump` options.
#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Where the trace comes from.
    #[command(flatten)]
    pub input: Input,
    /// JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `--level`: callsite levels, lowest first.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelArg {
    /// Everything.
    Trace,
    /// Debug and above.
    Debug,
    /// Info and above.
    Info,
    /// Warn and above.
    Warn,
    /// Errors only.
    Error,
}

impl From<LevelArg> for tickspan::Level {
    fn from(l: LevelArg) -> Self {
        match l {
            LevelArg::Trace => tickspan::Level::Trace,
            LevelArg::Debug => tickspan::Level::Debug,
            LevelArg::Info => tickspan::Level::Info,
            LevelArg::Warn => tickspan::Level::Warn,
            LevelArg::Error => tickspan::Level::Error,
        }
    }
}

/// Export formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Perfetto's protobuf trace.
    Perfetto,
    /// Chrome/Perfetto trace-event JSON.
    Chrome,
    /// OpenTelemetry OTLP/JSON.
    Otlp,
    /// Folded stacks.
    Folded,
    /// Flame graph SVG.
    Flamegraph,
}

/// `export` options.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Where the trace comes from.
    #[command(flatten)]
    pub input: Input,
    /// Output format.
    #[arg(short, long, value_enum)]
    pub format: Format,
    /// Output file (default: standard output).
    #[arg(short, long, value_name = "FILE", conflicts_with = "endpoint")]
    pub output: Option<PathBuf>,
    /// With `-f otlp --endpoint URL`: push to a collector instead of writing a file.
    #[command(flatten, next_help_heading = "OTLP push (with --endpoint)")]
    pub push: crate::export::push::PushArgs,
}

/// `merge` options.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The inputs (files, one node each; at least one).
    #[command(flatten)]
    pub input: Input,
    /// The merged stream.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `bench-gen` options.
#[derive(Args, Debug)]
pub struct BenchGenArgs {
    /// File to write.
    pub output: PathBuf,
    /// Records to generate.
    #[arg(long, default_value_t = 100_000_000)]
    pub records: u64,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `bench` options.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Trace file (from bench-gen or a real recording).
    pub file: PathBuf,
    /// Run one pass only (e.g. under `valgrind --tool=callgrind` for an instruction count).
    #[arg(long, value_enum)]
    pub pass: Option<BenchPass>,
}

/// A pass of `tickspan bench`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchPass {
    /// Decode only.
    Decode,
    /// Decode + timeline (merge, span stacks, interrupt accounting).
    Timeline,
    /// … + stats.
    Stats,
    /// … + merged tree.
    Tree,
    /// Decode + timeline + merged tree + stats.
    All,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
        let c = Cli::try_parse_from(["tickspan", "export", "t.tspn", "-f", "otlp", "-F"]).unwrap();
        assert!(matches!(
            c.cmd,
            Cmd::Export(ExportArgs { format: Format::Otlp, input: Input { follow: true, .. }, .. })
        ));
        let c = Cli::try_parse_from([
            "tickspan",
            "tree",
            "--serial",
            "/dev/ttyACM0",
            "--baud",
            "921600",
            "--min-duration",
            "5us",
        ])
        .unwrap();
        let Cmd::Tree(t) = c.cmd else { panic!() };
        assert_eq!((t.input.serial.as_deref(), t.input.baud), (Some("/dev/ttyACM0"), 921_600));
        assert_eq!(t.min_duration, Some(Duration::Ns(5_000)));
        assert!(Cli::try_parse_from(["tickspan", "stats", "a", "--tcp", "h:1"]).is_err());
        assert!(Cli::try_parse_from(["tickspan", "stats"]).is_err());
    }

    fn help(sub: &str) -> String {
        let mut c = Cli::command();
        c.build();
        c.find_subcommand_mut(sub).unwrap().render_long_help().to_string()
    }

    #[test]
    fn attach_and_postmortem_explain_themselves() {
        // Neither --gdb nor --chip: the error names both.
        let e = Cli::try_parse_from(["tickspan", "attach"]).unwrap_err().to_string();
        assert!(e.contains("--gdb") && e.contains("--chip"), "{e}");
        assert!(Cli::try_parse_from(["tickspan", "attach", "--chip", "nRF52840_xxAA"]).is_ok());

        let attach = help("attach");
        assert!(attach.contains("Examples:\n  tickspan attach --chip"), "{attach}");
        let pm = help("postmortem");
        assert!(pm.contains("Examples:\n  tickspan postmortem --elf"), "{pm}");
        // Its own texts, not attach's: no --duration, no `tickspan attach` in it.
        assert!(!pm.contains("duration") && !pm.contains("tickspan attach"), "{pm}");
        assert!(pm.contains("rebuilt from the rings") && pm.contains("recovered from the rings"), "{pm}");
    }
}
