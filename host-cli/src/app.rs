//! The subcommands: each opens its input, runs the pipeline with its view or export, and
//! reports what went wrong in the data. Run from this crate, not from the binary, so that the
//! pipeline's generic code (timeline, views) is compiled here with its callees: instantiated in
//! the binary, `tickspan stats` took 2 % more instructions per record.

use crate::cli::{self, Cli, Cmd, Format, Input};
use crate::model::{self, Counters, Timeline, Visitor};
use crate::run::{self, exit, Fail, Summary, STOP};
use crate::source::{self, Source};
use crate::units::count;
use crate::{bench, device, export, item, view};
use clap::{CommandFactory, Parser};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::atomic::Ordering;

/// Runs one subcommand; returns the exit code (see [`exit`]).
pub fn dispatch(cmd: Cmd) -> Result<u8, Fail> {
    match cmd {
        Cmd::Tree(a) if several_nodes(&a.input) => joined_tree(&a),
        Cmd::Stats(a) if a.contexts && several_nodes(&a.input) => {
            Err(Fail { code: exit::USAGE, msg: "--contexts shows one node: give one input".into() })
        }
        Cmd::Stats(a) if several_nodes(&a.input) => joined_stats(&a),
        Cmd::Merge(a) => merge(&a),
        Cmd::Tree(a) => {
            let filter = view::tree::Filter {
                name: a.name,
                min_duration: a.min_duration,
                from: a.from,
                to: a.to,
                contexts: a.context,
            };
            let mut tree = view::tree::Tree::new(stdout(), filter, a.merge, a.max_nodes).json(a.json);
            let (tl, sum) = timeline(&a.input, &mut tree, |t, meta| t.flush_output(meta))?;
            let r = tree.finish(&tl.meta);
            output_result(r, "standard output")?;
            Ok(report(&a.input, &tl, sum))
        }
        Cmd::Stats(a) if a.contexts => {
            let mut util = view::util::Util::default();
            let (tl, sum) = timeline(&a.input, &mut util, |_, _| false)?;
            util.damaged_regions(tl.counters().skipped_regions);
            if let Some(path) = &a.svg {
                let what = path.display().to_string();
                let file = File::create(path).map_err(|e| Fail::io(format!("creating {what}"), e))?;
                let mut w = BufWriter::new(file);
                output_result(util.write_svg(&tl.meta, &mut w).and_then(|_| w.flush()), &what)?;
            }
            let mut out = stdout();
            let r = if a.json { util.write_json(&tl.meta, &mut out) } else { util.write_table(&tl.meta, &mut out) };
            output_result(r.and_then(|_| out.flush()), "standard output")?;
            Ok(report(&a.input, &tl, sum))
        }
        Cmd::Stats(a) => {
            let mut stats = view::stats::Stats::default();
            let (tl, sum) = timeline(&a.input, &mut stats, |_, _| false)?;
            let mut out = stdout();
            let r = if a.json { stats.write_json(&tl.meta, &mut out) } else { stats.write_table(&tl.meta, &mut out) };
            output_result(r.and_then(|_| out.flush()), "standard output")?;
            Ok(report(&a.input, &tl, sum))
        }
        Cmd::Dump(a) => {
            let mut src = open(&a.input)?;
            run::install_ctrlc();
            let mut dump = view::dump::Dump::new(stdout(), a.json);
            elf_names(&a.input, dump.names())?;
            let mut level = model::level::RecordFilter::new(a.input.level.map(Into::into));
            // Shared by the sink and the idle hook, which flushes for a live input.
            let dump = std::cell::RefCell::new(dump);
            let stop_if_failed = |d: &view::dump::Dump<_>| {
                if d.failed() {
                    STOP.store(true, Ordering::Relaxed); // e.g. `| head` closed the pipe
                }
            };
            let mut each = tickspan::wire::Items(|i: item::Item<'_>| {
                let mut d = dump.borrow_mut();
                if let item::Item::Callsite(c) = i {
                    d.names().define(&c); // before the filter reads its level
                }
                if level.hides(d.names(), &i) {
                    return;
                }
                d.item(i);
                stop_if_failed(&d);
            });
            let sum = run::decode(src.as_mut(), a.input.quiet, &mut each, |_| {
                let mut d = dump.borrow_mut();
                d.flush();
                stop_if_failed(&d);
            })?;
            output_result(dump.into_inner().finish(), "standard output")?;
            level_note(&a.input, level.hidden);
            let damaged = sum.skipped_regions > 0;
            Ok(if a.input.strict && damaged { exit::DAMAGED } else { exit::OK })
        }
        Cmd::Export(a) => export(a),
        Cmd::Attach(a) => device::cmd::run_attach(&a, show),
        Cmd::Postmortem(a) => device::cmd::run_postmortem(&a, show),
        Cmd::Run(a) => device::runner::run(&a, show),
        Cmd::Completions { shell } => {
            // Into memory first: clap_complete panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tickspan", &mut script);
            output_result(stdout().write_all(&script), "standard output").map(|_| exit::OK)
        }
        Cmd::Man { out } => man_pages(&out).map(|_| exit::OK),
        Cmd::BenchGen(a) => bench::generate(&a.output, a.records, a.force).map(|_| exit::OK),
        Cmd::Bench(a) => bench::run(&a.file, a.pass).map(|_| exit::OK),
        Cmd::Serve(a) => crate::serve::run(&a),
        Cmd::Relay(a) => crate::relay::run(&a),
    }
}

/// Runs a view subcommand given as arguments (on a stream `attach`/`postmortem` saved).
fn show(args: Vec<String>) -> Result<u8, Fail> {
    let cli = Cli::try_parse_from(args).map_err(|e| Fail { code: exit::USAGE, msg: e.to_string() })?;
    dispatch(cli.cmd)
}

/// Says how many manual spans a Perfetto trace draws without the flow to their parent.
fn unlinked_note(unlinked: u64, input: &Input) {
    if unlinked > 0 && !input.quiet {
        crate::warning!(
            "{} drawn without a flow to their parent: more than {} waited for their parents' ends",
            crate::units::count(unlinked, "manual span"),
            export::perfetto::MAX_PENDING_FLOWS
        );
    }
}

fn export(a: cli::ExportArgs) -> Result<u8, Fail> {
    if several_nodes(&a.input) {
        return joined_export(&a);
    }
    if a.push.endpoint.is_some() {
        if a.format != Format::Otlp {
            return Err(Fail { code: exit::USAGE, msg: "--endpoint pushes OTLP: give -f otlp".into() });
        }
        return push(&a.input, &a.push, export::push::WhenFull::Wait);
    }
    let what = a.output.as_ref().map_or("standard output".to_string(), |p| p.display().to_string());
    let out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(BufWriter::new(File::create(p).map_err(|e| Fail::io(format!("creating {what}"), e))?)),
        None => Box::new(stdout()),
    };
    let (tl, sum) = match a.format {
        Format::Perfetto => {
            let mut v = export::perfetto::Perfetto::new(out);
            let (tl, sum) = timeline(&a.input, &mut v, |_, _| false)?;
            if !tl.meta.clock.is_real() && !a.input.quiet {
                crate::warning!("the stream gives no clock frequency: timestamps are ticks, not ns");
            }
            unlinked_note(output_result(v.finish(&tl.meta), &what)?, &a.input);
            (tl, sum)
        }
        Format::Chrome => {
            let mut v = export::chrome::Chrome::new(out);
            let (tl, sum) = timeline(&a.input, &mut v, |_, _| false)?;
            if !tl.meta.clock.is_real() && !a.input.quiet {
                crate::warning!("the stream gives no clock frequency: `ts` values are ticks, not µs");
            }
            output_result(v.finish(&tl.meta), &what)?;
            (tl, sum)
        }
        Format::Otlp => {
            let mut v = export::otlp::Otlp::new(out, resource_config(&a.input)?);
            let (tl, sum) = timeline(&a.input, &mut v, |_, _| false)?;
            if tl.meta.anchor.is_none() && !a.input.quiet {
                crate::warning!("the stream has no wall-clock anchor: span times count from the Unix epoch");
            }
            output_result(v.finish(&tl.meta), &what)?;
            (tl, sum)
        }
        Format::Folded | Format::Flamegraph => {
            let mut v = export::folded::Folded::default();
            let (tl, sum) = timeline(&a.input, &mut v, |_, _| false)?;
            let mut out = out;
            let r = if a.format == Format::Folded {
                v.write(&tl.meta, &mut out)
            } else {
                let title = match &a.input.file {
                    Some(p) => format!("tickspan {}", p.display()),
                    None => "tickspan".into(),
                };
                v.write_svg(&tl.meta, &title, &mut out).and_then(|_| out.flush())
            };
            output_result(r, &what)?;
            (tl, sum)
        }
    };
    Ok(report(&a.input, &tl, sum))
}

/// Decodes `input` and pushes its spans over OTLP/HTTP; prints the figures.
pub(crate) fn push(
    input: &Input,
    args: &export::push::PushArgs,
    when_full: export::push::WhenFull,
) -> Result<u8, Fail> {
    let cfg = export::push::PushConfig::resolve(args, when_full)?;
    let p = export::push::Pusher::start(cfg, resource_config(input)?)?;
    push_from(open(input)?, input, p).map(|(code, _)| code)
}

/// Decodes `src` into the push `p` and prints the figures. Returns the exit code (the push's
/// ([`export::push::report`]) if it lost spans, else the data's) and the records decoded.
pub(crate) fn push_from(src: Box<dyn Source>, input: &Input, mut p: export::push::Pusher) -> Result<(u8, u64), Fail> {
    let (tl, sum) = timeline_of(src, input, &mut p, push_idle, Timeline::new(input.reorder_window))?;
    let url = p.url().to_string();
    let figures = p.finish();
    let data = report(input, &tl, sum);
    let code = match export::push::report(&figures, &url, input.quiet) {
        exit::OK => data,
        code => code,
    };
    Ok((code, tl.counters().records))
}

/// A pause of the source hands the spans closed so far to the sender.
fn push_idle(p: &mut export::push::Pusher, _: &model::Meta) -> bool {
    p.hand_over();
    false
}

/// This process's trace (`src`) into the push `p` ([`crate::relay::in_process`]): no Ctrl-C
/// handler (the app's own stays), warnings only for what was lost.
pub(crate) fn push_spans(
    mut src: Box<dyn Source>,
    mut p: export::push::Pusher,
) -> Result<std::sync::Arc<export::push::Figures>, Fail> {
    let (tl, _) = decode_into(src.as_mut(), true, &mut p, push_idle, Timeline::new(model::DEFAULT_WINDOW))?;
    let lost = tl.counters().lost;
    if lost > 0 {
        crate::warning!("tickspan: the rings lost {} (full): their spans were not pushed", count(lost, "record"));
    }
    let url = p.url().to_string();
    let figures = p.finish();
    if figures.dropped() + figures.rejected.load(Ordering::Relaxed) > 0 {
        crate::warning!("{}", figures.summary(&url));
    }
    Ok(figures)
}

/// `tickspan man`: the top page and one per visible subcommand, `tickspan-<name>.1`.
fn man_pages(dir: &std::path::Path) -> Result<(), Fail> {
    std::fs::create_dir_all(dir).map_err(|e| Fail::io(format!("creating {}", dir.display()), e))?;
    let top = Cli::command().name("tickspan");
    let mut pages = vec![("tickspan".to_string(), top.clone())];
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("tickspan-{}", sub.get_name());
        let cmd = sub.clone().display_name(name.clone()).bin_name(format!("tickspan {}", sub.get_name()));
        pages.push((name, cmd));
    }
    for (name, cmd) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut page).map_err(|e| Fail::io(format!("rendering {name}.1"), e))?;
        std::fs::write(&path, page).map_err(|e| Fail::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(1 << 16, io::stdout().lock())
}

/// A closed pipe (`tickspan tree … | head`) is not a failure.
fn output_result<T: Default>(r: io::Result<T>, what: &str) -> Result<T, Fail> {
    match r {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Fail::io(format!("writing {what}"), e)),
        Err(_) => Ok(T::default()),
        Ok(v) => Ok(v),
    }
}

/// Opens the input; raw frames (`tickspan::drain::RawDrain`) are recognised and decoded into
/// the wire format on the way ([`device::raw::Detect`]).
pub(crate) fn open(input: &Input) -> Result<Box<dyn Source>, Fail> {
    if let Some(msg) = input.one_way() {
        return Err(Fail { code: crate::run::exit::USAGE, msg });
    }
    Ok(Box::new(device::raw::Detect::new(open_bytes(input)?)))
}

fn open_bytes(input: &Input) -> Result<Box<dyn Source>, Fail> {
    use source::{file::FileSource, serial::SerialSource, stdin::StdinSource, tcp::TcpSource};
    if let Some(port) = &input.serial {
        return Ok(Box::new(SerialSource::open(port, input.baud).map_err(|e| Fail::io(format!("opening {port}"), e))?));
    }
    if let Some(addr) = &input.tcp {
        return Ok(Box::new(
            TcpSource::connect(addr, input.follow).map_err(|e| Fail::io(format!("connecting to {addr}"), e))?,
        ));
    }
    if let Some(addr) = &input.listen {
        return Ok(Box::new(
            TcpSource::listen(addr, input.follow).map_err(|e| Fail::io(format!("listening on {addr}"), e))?,
        ));
    }
    match &input.file {
        Some(p) if p.as_os_str() == "-" => Ok(Box::new(StdinSource::new())),
        Some(p) => Ok(Box::new(
            match input.section {
                Some(range) => FileSource::open_section(p, range),
                None => FileSource::open(p, input.follow),
            }
            .map_err(|e| Fail::io(p.display(), e))?,
        )),
        None => Err(Fail { code: exit::USAGE, msg: "no input: give a FILE, `-`, --serial, --tcp or --listen".into() }),
    }
}

/// With `--elf`, names callsite ids the stream itself does not describe by reading the
/// `tickspan::Callsite` statics at those addresses in the firmware (dictionary entries in the
/// stream still win). Also warns when the firmware was built for another wire version.
/// Returns the firmware's task pools (see [`task_pools`]).
pub(crate) fn elf_names(input: &Input, names: &mut model::Names) -> Result<Vec<(u32, u32, Box<str>)>, Fail> {
    let Some(path) = &input.elf else { return Ok(Vec::new()) };
    let elf = device::elf::Elf::open(path).map_err(|e| Fail { code: exit::IO, msg: format!("{e:#}") })?;
    match elf.format_version() {
        Ok(Some(v)) if v != tickspan::wire::FORMAT_VERSION && !input.quiet => crate::warning!(
            "{} was built for wire format {v}; this tickspan reads {}",
            path.display(),
            tickspan::wire::FORMAT_VERSION
        ),
        _ => {}
    }
    const KINDS: [item::CallsiteKind; 11] = [
        item::CallsiteKind::Span,
        item::CallsiteKind::Event,
        item::CallsiteKind::ValueU64,
        item::CallsiteKind::ValueI64,
        item::CallsiteKind::ValueF64,
        item::CallsiteKind::Isr,
        item::CallsiteKind::Task,
        item::CallsiteKind::Field,
        item::CallsiteKind::Status,
        item::CallsiteKind::Str,
        item::CallsiteKind::Format,
    ];
    let pools = task_pools(&elf);
    names.set_resolver(Box::new(move |id| {
        let cs = elf.callsite(id).ok()?;
        Some(model::NameInfo {
            cs: id,
            name: cs.name.into(),
            file: cs.file.into(),
            line: cs.line,
            kind: KINDS.get(cs.kind as usize).copied(),
            level: None, // the stream's dictionary gives it
        })
    }));
    Ok(pools)
}

/// The OTLP resource's configuration: `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, and
/// the firmware's file name and build id with `--elf`.
pub(crate) fn resource_config(input: &Input) -> Result<export::otlp::ResourceConfig, Fail> {
    let mut cfg = export::otlp::ResourceConfig::from_env().map_err(|msg| Fail { code: exit::USAGE, msg })?;
    if let Some(path) = &input.elf {
        let elf = device::elf::Elf::open(path).map_err(|e| Fail { code: exit::IO, msg: format!("{e:#}") })?;
        let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
        cfg.elf = Some((name, elf.build_id()));
    }
    Ok(cfg)
}

/// embassy task pools in a firmware ELF: `(start, end, task name)` of each `<task>::POOL`
/// static, which hold the tasks whose addresses embassy uses as task ids. Symbols in either
/// Rust mangling count: legacy (`_ZN…4POOL17h<hash>E`) and v0 (`_R…4POOL`, nightly's default).
fn task_pools(elf: &device::elf::Elf) -> Vec<(u32, u32, Box<str>)> {
    let mut pools: Vec<(u32, u32, Box<str>)> = elf
        .symbols_with_prefix("_ZN")
        .chain(elf.symbols_with_prefix("_R"))
        .filter_map(|sym| {
            let task = pool_task(sym)?;
            let (addr, size) = elf.symbol(sym)?;
            let start = u32::try_from(addr).ok()?;
            Some((start, start.checked_add(u32::try_from(size).ok()?)?, task.into()))
        })
        .collect();
    pools.sort();
    pools
}

/// The task whose pool `sym` is, if it is a `…::<task>::POOL` static's mangled name.
fn pool_task(sym: &str) -> Option<String> {
    // `{:#}`: the path without hashes or crate disambiguators.
    let path = format!("{:#}", rustc_demangle::try_demangle(sym).ok()?);
    let mut parts = path.rsplit("::");
    match (parts.next(), parts.next()) {
        (Some("POOL"), Some(task)) if !task.is_empty() => Some(task.to_owned()),
        _ => None,
    }
}

/// Decodes `input` through a timeline into `v`. `idle` runs when a live input pauses (after
/// everything held back was processed) and says whether the view wants no more.
fn timeline<V: Visitor>(
    input: &Input,
    v: &mut V,
    idle: impl FnMut(&mut V, &model::Meta) -> bool,
) -> Result<(Timeline, Summary), Fail> {
    timeline_from(input, v, idle, Timeline::new(input.reorder_window))
}

/// [`timeline`] into a timeline prepared by the caller (e.g. with a clock anchor set).
fn timeline_from<V: Visitor>(
    input: &Input,
    v: &mut V,
    idle: impl FnMut(&mut V, &model::Meta) -> bool,
    tl: Timeline,
) -> Result<(Timeline, Summary), Fail> {
    timeline_of(open(input)?, input, v, idle, tl)
}

/// [`timeline_from`] a source opened by the caller.
fn timeline_of<V: Visitor>(
    mut src: Box<dyn Source>,
    input: &Input,
    v: &mut V,
    idle: impl FnMut(&mut V, &model::Meta) -> bool,
    mut tl: Timeline,
) -> Result<(Timeline, Summary), Fail> {
    run::install_ctrlc();
    tl.meta.task_names = elf_names(input, &mut tl.meta.names)?;
    let mut f = model::level::LevelFilter::new(v, input.level.map(Into::into));
    let mut idle = idle;
    let (mut tl, sum) = decode_into(src.as_mut(), input.quiet, &mut f, |f, meta| idle(f.v, meta), tl)?;
    tl.meta.level_hidden = f.hidden;
    Ok((tl, sum))
}

/// Decodes `src` through `tl` into `v`.
fn decode_into<V: Visitor>(
    src: &mut dyn Source,
    quiet: bool,
    v: &mut V,
    mut idle: impl FnMut(&mut V, &model::Meta) -> bool,
    mut tl: Timeline,
) -> Result<(Timeline, Summary), Fail> {
    let sum = run::decode(src, quiet, &mut model::Feed { tl: &mut tl, v }, |f| {
        // A live source went quiet: the target has drained everything up to now.
        f.tl.flush(f.v);
        if idle(f.v, &f.tl.meta) {
            STOP.store(true, Ordering::Relaxed);
        }
    })?;
    tl.finish(v);
    Ok((tl, sum))
}

/// Says which records the target's drain could not date exactly, and where they are.
fn clock_warnings(meta: &model::Meta, records: u64) {
    crate::warning!(
        "{records} records may be dated whole clock periods late: the target's drain could not bound their \
         age to one clock period (it must read the clock at least once per period; docs/wire-format.md, Timestamps)"
    );
    let start = meta.start.unwrap_or(0);
    let at = |t: u64| meta.clock.dur(t.saturating_sub(start));
    for w in &meta.clock_warnings {
        let after = match w.earliest {
            0 => "written before the drain's first clock reading".to_string(),
            e => format!("written after {}", at(e)),
        };
        eprintln!("  {}: {} records dated {} to {}, {after}", meta.ctx_name(w.ctx), w.records, at(w.first), at(w.last));
    }
}

/// Says which intervals the target did not record (`tickspan::disarm`): gaps, not losses.
fn recording_note(meta: &model::Meta) {
    let r = &meta.recording;
    let start = meta.start.unwrap_or(0);
    let at = |t: u64| meta.clock.dur(t.saturating_sub(start));
    let unseen = if meta.window.is_some() {
        "its stop was dropped from the flight recorder's window"
    } else {
        "its stop is not in the trace: before the capture began, or lost"
    };
    let gaps: Vec<String> = r
        .pauses
        .iter()
        .enumerate()
        .map(|(i, &(stop, resume))| match resume {
            Some(t) if i == 0 && r.stop_unseen => format!("before {} (since a time it cannot tell: {unseen})", at(t)),
            Some(t) => format!("{} to {}", at(stop), at(t)),
            None if r.frozen => format!("after it froze at {} (tickspan::freeze)", at(stop)),
            None => format!("from {} on", at(stop)),
        })
        .collect();
    let more = r.stops.saturating_sub(gaps.len() as u64);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    crate::note!(
        "the trace covers {}: the target did not record {}{more} (disarmed, not lost)",
        count(r.intervals(), "recording interval"),
        gaps.join(", ")
    );
}

/// Says that the trace is a flight recorder's window, where it begins, and what that hides.
fn window_note(meta: &model::Meta, w: &model::Window, unmatched: u64) {
    let start = meta.start.unwrap_or(0);
    let at = |t: u64| meta.clock.dur(t.saturating_sub(start));
    let begins = if w.first == w.last {
        format!("at {}", at(w.first))
    } else {
        format!("between {} and {} (per context)", at(w.first), at(w.last))
    };
    let before = match w.evicted {
        0 => "nothing before it had been dropped".to_string(),
        n => format!("{} before it were dropped from the window (not lost)", count(n, "frame")),
    };
    crate::note!("this is a flight recorder snapshot: its window begins {begins}; {before}");
    if unmatched > 0 {
        crate::note!(
            "{} without a matching start: spans begun before the window (or lost), not shown",
            count(unmatched, "span end")
        );
    }
}

/// Says how many events and values `--level` hid (even with `--quiet`: what the filter took
/// away is never silent).
fn level_note(input: &Input, hidden: u64) {
    if let Some(l) = input.level {
        let l = format!("{l:?}").to_lowercase();
        crate::note!("--level {l} hid {} below {l} (with their fields)", count(hidden, "event or value record"));
    }
}

/// Prints what went wrong in the data (not fatal) and picks the exit code.
fn report(input: &Input, tl: &Timeline, sum: Summary) -> u8 {
    let c: Counters = tl.counters();
    level_note(input, tl.meta.level_hidden);
    if !input.quiet {
        if c.lost > 0 {
            // The target names the pseudo context of records that found no ring "(no … ring …)".
            let no_ring = tl.meta.ctx_names.iter().flatten().find(|n| n.starts_with("(no ") && n.contains("ring"));
            match no_ring {
                Some(n) => crate::warning!(
                    "the target lost {} (rings full, or no ring for their context: see context {n}); '⚠' marks show where",
                    count(c.lost, "record")
                ),
                None => crate::warning!("the target lost {} (rings full); '⚠' marks show where", count(c.lost, "record")),
            }
        }
        if tl.meta.recording.stops > 0 {
            recording_note(&tl.meta);
        }
        if sum.skipped_regions > 0 {
            let (regions, bytes) = (count(sum.skipped_regions, "damaged region"), count(sum.skipped_bytes, "byte"));
            crate::warning!("skipped {regions} ({bytes})");
        }
        if let Some(w) = tl.meta.window {
            window_note(&tl.meta, &w, c.unmatched);
        } else if c.unmatched > 0 {
            crate::note!(
                "{} without a matching start (lost, or begun before the trace)",
                count(c.unmatched, "span end")
            );
        }
        if tl.meta.links.stray > 0 {
            crate::warning!(
                "{} found no open span or repeated a field of its span: those spans' trace context is incomplete",
                count(tl.meta.links.stray, "link record")
            );
        }
        let f = &tl.meta.fields;
        if f.orphans > 0 {
            crate::warning!(
                "{} followed no record they could annotate (after lost or damaged data, or with no span open), or were unreadable: not shown",
                count(f.orphans, "field or status record")
            );
        }
        if f.bad_args > 0 {
            crate::warning!(
                "{} lacked arguments (lost or damaged: shown as {}) or had too many",
                count(f.bad_args, "formatted span or event"),
                model::format::MISSING
            );
        }
        if f.dropped > 0 {
            crate::warning!(
                "{} beyond {} per span or event: not shown",
                count(f.dropped, "field"),
                model::fields::MAX_FIELDS
            );
        }
        if c.late > 0 {
            crate::note!(
                "{} arrived after later ones of other contexts; raise --reorder-window for exact ISR times",
                count(c.late, "record")
            );
        }
        if c.time_jumps > 0 {
            crate::warning!(
                "time went backwards {} within a context (target restarted?); spans open then were cut",
                count(c.time_jumps, "time")
            );
        }
        if c.dropped > 0 {
            crate::warning!(
                "{} dropped at limits (nesting depth, contexts, open manual spans)",
                count(c.dropped, "record")
            );
        }
        if c.ambiguous > 0 {
            clock_warnings(&tl.meta, c.ambiguous);
        }
    }
    if input.strict && (c.lost > 0 || sum.skipped_regions > 0 || c.ambiguous > 0) {
        exit::DAMAGED
    } else {
        exit::OK
    }
}

/// The node sections of a regular file (`None` for standard input, a pipe, or an error: the
/// normal path reports it).
fn file_sections(f: &std::path::Path) -> Option<Vec<crate::join::merge::Section>> {
    let regular = f.as_os_str() != "-" && std::fs::metadata(f).is_ok_and(|m| m.is_file());
    regular.then(|| crate::join::merge::sections(f).ok()).flatten()
}

/// Whether the input is several nodes: several files, or a merged file.
fn several_nodes(input: &Input) -> bool {
    if !input.more.is_empty() {
        return true;
    }
    match &input.file {
        Some(f) if !input.follow && input.section.is_none() => file_sections(f).is_some_and(|s| s.len() > 1),
        _ => false,
    }
}

/// `tickspan merge a.tspn b.tspn … -o all.tspn`: the nodes aligned, in one stream.
fn merge(a: &cli::MergeArgs) -> Result<u8, Fail> {
    let (nodes, code) = collect_nodes(&a.input)?;
    let j = crate::join::Joined::new(nodes);
    let code = code.max(alignment_report(&a.input, &j));
    if a.output.exists() && !a.force {
        let msg = format!("{} exists: give --force to overwrite it", a.output.display());
        return Err(Fail { code: exit::USAGE, msg });
    }
    drift_note(&a.input, &j, "the merged stream's anchors");
    let inputs = node_inputs(&a.input)?;
    let parts: Vec<_> = inputs
        .iter()
        .map(|(_, i)| crate::join::merge::Part { path: i.file.as_deref().expect("files"), section: i.section })
        .collect();
    // Written beside the output, then renamed: an input may be the output.
    let tmp = a.output.with_extension("tspn.partial");
    let what = a.output.display().to_string();
    let file = File::create(&tmp).map_err(|e| Fail::io(format!("creating {}", tmp.display()), e))?;
    let bytes = crate::join::merge::write(&j, &parts, file).map_err(|e| Fail::io(format!("writing {what}"), e))?;
    std::fs::rename(&tmp, &a.output).map_err(|e| Fail::io(format!("writing {what}"), e))?;
    if !a.input.quiet {
        let spans: usize = j.nodes.iter().map(|n| n.spans.len()).sum();
        eprintln!(
            "merged {} ({} of traces) into {what}: {bytes} bytes",
            count(j.nodes.len() as u64, "node"),
            count(spans as u64, "span")
        );
    }
    Ok(code)
}

/// The inputs of a join: one per file, each named by `--node`, else by the name in its stream
/// header, else by its file's stem (see [`collect_nodes`]); here the names `--node` gives or
/// the stems.
fn node_inputs(input: &Input) -> Result<Vec<(String, Input)>, Fail> {
    if input.level.is_some() {
        let msg = "--level filters one node's trace: give one input (joins and merges are not filtered)".into();
        return Err(Fail { code: exit::USAGE, msg });
    }
    // Files, and the nodes of merged files.
    let mut files = Vec::new();
    for f in input.file.iter().chain(&input.more) {
        match file_sections(f) {
            Some(sections) if sections.len() > 1 => {
                files.extend(sections.into_iter().map(|s| (f.clone(), Some((s.start, s.end)), Some(s.name))))
            }
            _ => files.push((f.clone(), None, None)),
        }
    }
    if input.nodes.len() > files.len() {
        let msg = format!("{} --node names for {} nodes", input.nodes.len(), files.len());
        return Err(Fail { code: exit::USAGE, msg });
    }
    let mut out = Vec::new();
    for (i, (f, section, merged_name)) in files.into_iter().enumerate() {
        let name = input.nodes.get(i).cloned().or(merged_name.filter(|n| !n.is_empty())).unwrap_or_else(|| {
            let stem = f.file_stem().map(|s| s.to_string_lossy().into_owned());
            stem.filter(|s| !s.is_empty() && s != "-").unwrap_or_else(|| format!("node{i}"))
        });
        if out.iter().any(|(n, _): &(String, Input)| *n == name) {
            let msg = format!("two inputs are both named node {name:?}: name them with --node");
            return Err(Fail { code: exit::USAGE, msg });
        }
        out.push((name, Input { file: Some(f), more: Vec::new(), nodes: Vec::new(), section, ..input.clone() }));
    }
    Ok(out)
}

/// Reads every input of a join, each into its own timeline; the worst exit code of the data.
fn collect_nodes(input: &Input) -> Result<(Vec<crate::join::Node>, u8), Fail> {
    let mut nodes = Vec::new();
    let mut code = exit::OK;
    for (i, (name, inp)) in node_inputs(input)?.into_iter().enumerate() {
        let mut c = crate::join::Collect::new(i, name);
        let (tl, sum) = timeline(&inp, &mut c, |_, _| false)?;
        code = code.max(report(&inp, &tl, sum));
        let mut node = c.finish(&tl.meta);
        // The stream's own name, unless `--node` named it or another node has it already.
        let taken = |n: &str| nodes.iter().any(|m: &crate::join::Node| m.name == n);
        if input.nodes.get(i).is_none() && !tl.meta.name.is_empty() && !taken(&tl.meta.name) {
            node.name = tl.meta.name.clone();
        }
        if node.dropped > 0 && !input.quiet {
            crate::warning!(
                "node {}: {} not kept (at most {} per node)",
                node.name,
                count(node.dropped, "span"),
                crate::join::MAX_SPANS
            );
        }
        nodes.push(node);
    }
    Ok((nodes, code))
}

/// Warns about nodes whose clocks could not be aligned; exit code 4 with `--strict`.
fn alignment_report(input: &Input, j: &crate::join::Joined) -> u8 {
    use crate::join::Alignment;
    let mut bad = false;
    for (n, a) in j.nodes.iter().zip(&j.alignment) {
        if matches!(a, Alignment::Impossible | Alignment::Inconsistent { .. }) {
            bad = true;
            if !input.quiet {
                crate::warning!("node {}: {}", n.name, crate::join::print::describe(a, j.wall));
            }
        }
    }
    if bad && input.strict {
        exit::DAMAGED
    } else {
        exit::OK
    }
}

/// `tickspan tree a.tspn b.tspn …`: one tree per distributed trace across the nodes.
fn joined_tree(a: &cli::TreeArgs) -> Result<u8, Fail> {
    let (nodes, code) = collect_nodes(&a.input)?;
    let j = crate::join::Joined::new(nodes);
    let mut out = stdout();
    let r = if a.json {
        crate::join::print::write_json(&j, &mut out)
    } else {
        crate::join::print::write_text(&j, &mut out)
    };
    output_result(r.and_then(|_| out.flush()), "standard output")?;
    Ok(code.max(alignment_report(&a.input, &j)))
}

/// `tickspan stats a.tspn b.tspn …`: the statistics of each node, one after the other.
fn joined_stats(a: &cli::StatsArgs) -> Result<u8, Fail> {
    let mut code = exit::OK;
    let mut docs = Vec::new();
    let mut out = stdout();
    for (name, inp) in node_inputs(&a.input)? {
        let mut stats = view::stats::Stats::default();
        let (tl, sum) = timeline(&inp, &mut stats, |_, _| false)?;
        code = code.max(report(&inp, &tl, sum));
        if a.json {
            let mut doc = Vec::new();
            output_result(stats.write_json(&tl.meta, &mut doc), "statistics")?;
            let v: serde_json::Value = serde_json::from_slice(&doc).expect("Stats writes JSON");
            docs.push(serde_json::json!({"node": name, "stats": v}));
        } else {
            let r = writeln!(out, "== node {name} ==").and_then(|_| stats.write_table(&tl.meta, &mut out));
            output_result(r, "standard output")?;
        }
    }
    if a.json {
        let r = serde_json::to_writer(&mut out, &serde_json::json!({"nodes": docs})).map_err(io::Error::from);
        output_result(r.and_then(|_| writeln!(out)), "standard output")?;
    }
    output_result(out.flush(), "standard output")?;
    Ok(code)
}

/// `tickspan export -f otlp|chrome a.tspn b.tspn …`: one document for all nodes on the aligned
/// time line: OTLP with a resource per node, Chrome JSON with a process per node and a flow
/// arrow from each parent to its child in another node or context.
fn joined_export(a: &cli::ExportArgs) -> Result<u8, Fail> {
    if !matches!(a.format, Format::Otlp | Format::Chrome | Format::Perfetto) || a.push.endpoint.is_some() {
        let msg = "several inputs export as one file for now: give -f otlp, -f perfetto or -f chrome (no --endpoint)";
        return Err(Fail { code: exit::USAGE, msg: msg.into() });
    }
    let (nodes, mut code) = collect_nodes(&a.input)?;
    let j = crate::join::Joined::new(nodes);
    code = code.max(alignment_report(&a.input, &j));
    let what = a.output.as_ref().map_or("standard output".to_string(), |p| p.display().to_string());
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(BufWriter::new(File::create(p).map_err(|e| Fail::io(format!("creating {what}"), e))?)),
        None => Box::new(stdout()),
    };
    let inputs = node_inputs(&a.input)?;
    if matches!(a.format, Format::Chrome | Format::Perfetto) {
        let doc = if a.format == Format::Chrome { joined_chrome } else { joined_perfetto };
        doc(&j, &inputs, &mut out).map_err(|e| fail_output(e, &what))?;
        output_result(out.flush(), &what)?;
        return Ok(code);
    }
    if !j.wall && !a.input.quiet {
        crate::warning!("no input has a wall-clock anchor: span times count from the Unix epoch");
    }
    drift_note(&a.input, &j, "OTLP times");
    // Unix ns = node ns + offset: the offsets become each node's anchor (at tick 0), shifted so
    // that none is negative.
    let shift = j.offsets.iter().copied().min().unwrap_or(0).min(0);
    const HEAD: &str = r#"{"resourceSpans":["#;
    output_result(out.write_all(HEAD.as_bytes()), &what)?;
    for (i, (_, inp)) in inputs.into_iter().enumerate() {
        let mut cfg = resource_config(&inp)?;
        cfg.attributes.retain(|(k, _)| k != "service.name");
        cfg.attributes.insert(0, ("service.name".into(), j.nodes[i].name.clone()));
        let mut doc = Vec::new();
        let mut v = export::otlp::Otlp::new(&mut doc, cfg);
        let mut tl = Timeline::new(inp.reorder_window);
        tl.meta.anchor = Some((0, (j.offsets[i] - shift).clamp(0, u64::MAX as i128) as u64));
        let (tl, _) = timeline_from(&inp, &mut v, |_, _| false, tl)?;
        output_result(v.finish(&tl.meta), &what)?;
        // The node's document is `{"resourceSpans":[ R ]}`: R goes into the joined list.
        let body = doc.strip_prefix(HEAD.as_bytes()).and_then(|d| d.strip_suffix(b"]}\n")).expect("Otlp's framing");
        let sep: &[u8] = if i > 0 { b"," } else { b"" };
        output_result(out.write_all(sep).and_then(|_| out.write_all(body)), &what)?;
    }
    output_result(out.write_all(b"]}\n").and_then(|_| out.flush()), &what)?;
    Ok(code)
}

/// Outputs that carry one offset per node (OTLP times, merged streams) place a drifting node's
/// clock exactly only at the middle of its pairs: say how far off its ends may be.
fn drift_note(input: &Input, j: &crate::join::Joined, what: &str) {
    for (i, n) in j.nodes.iter().enumerate() {
        let (b, t0) = j.drift[i];
        let (Some(start), false) = (n.start, b == 0.0 || input.quiet) else { continue };
        let end = n.spans.iter().map(|s| s.end).max().unwrap_or(start);
        let off = (b * (start - t0).abs().max((end - t0).abs()) as f64).abs() as u64;
        crate::warning!(
            "node {}: {what} use its offset without the {:+.1} ppm drift (the tree and Chrome export correct it): up to {} off",
            n.name,
            b * 1e6,
            crate::units::format_ns(off)
        );
    }
}

/// A failure of the document, with the output's name.
fn fail_output(e: Fail, what: &str) -> Fail {
    Fail { msg: format!("{} ({what})", e.msg), ..e }
}

/// Where node `i` of a join goes on the time line that starts at `base` (ns).
fn node_place(j: &crate::join::Joined, i: usize, base: i128) -> export::chrome::NodePlace {
    let (name, origin_ns, drift) = (j.nodes[i].name.clone(), j.offsets[i] - base, j.drift[i]);
    export::chrome::NodePlace { pid: i as u64 + 1, name, origin_ns, drift }
}

/// The start of a join's time line: the earliest node's first record.
fn time_line_base(j: &crate::join::Joined) -> i128 {
    j.nodes.iter().zip(&j.offsets).filter_map(|(n, o)| n.start.map(|s| s + o)).min().unwrap_or(0)
}

/// The Chrome document of a join: each node's events as its process (pid = its index + 1) on
/// one time line starting at the earliest node's first record, then the flows.
fn joined_chrome(j: &crate::join::Joined, inputs: &[(String, Input)], out: &mut dyn Write) -> Result<(), Fail> {
    use export::chrome::{doc_end, tid, Chrome, NodePlace, DOC_START};
    let io = |e: io::Error| Fail::io("the Chrome document", e);
    let base = time_line_base(j);
    out.write_all(DOC_START).map_err(io)?;
    let mut first = true;
    for (i, (_, inp)) in inputs.iter().enumerate() {
        let mut v = Chrome::node(&mut *out, node_place(j, i, base), first);
        let (tl, _) = timeline(inp, &mut v, |_, _| false)?;
        v.finish_node(&tl.meta).map_err(io)?;
        first = false; // the node's metadata events at least
    }
    // Flows: from the parent's slice (at the child's start, inside the parent) to the child's.
    let none = NodePlace { pid: 0, name: String::new(), origin_ns: 0, drift: (0.0, 0) };
    let mut flows = Chrome::node(&mut *out, none, first);
    for (id, (p, c)) in (1u64..).zip(j.cross_links()) {
        let (p, c) = (j.span(p), j.span(c));
        let (cs, _) = j.times(c);
        let (ps, pe) = j.times(p);
        let (at_c, at_p) = ((cs - base) as f64 / 1e3, (cs.clamp(ps, pe.max(ps)) - base) as f64 / 1e3);
        flows.raw_event(format_args!(
            r#""name":"parent","cat":"link","ph":"s","id":{id},"ts":{at_p:.3},"pid":{},"tid":{}"#,
            p.node + 1,
            tid(p.ctx_id)
        ));
        flows.raw_event(format_args!(
            r#""name":"parent","cat":"link","ph":"f","bp":"e","id":{id},"ts":{at_c:.3},"pid":{},"tid":{}"#,
            c.node + 1,
            tid(c.ctx_id)
        ));
    }
    flows.into_inner().map_err(io)?;
    let unit = if j.nodes.iter().all(|n| n.real_clock) { "ns" } else { "ticks" };
    out.write_all(doc_end(unit).as_bytes()).map_err(io)
}

/// The Perfetto trace of a join: each node's packets on a sequence and tracks of its own, as
/// its process on one time line (as [`joined_chrome`]), with a flow from each parent to its
/// child in another node or context.
fn joined_perfetto(j: &crate::join::Joined, inputs: &[(String, Input)], out: &mut dyn Write) -> Result<(), Fail> {
    use export::perfetto::{link_flow, JoinedNode, Perfetto};
    let base = time_line_base(j);
    let mut nodes: Vec<JoinedNode> =
        (0..inputs.len()).map(|i| JoinedNode { place: node_place(j, i, base), ..JoinedNode::default() }).collect();
    for (k, (p, c)) in (0u64..).zip(j.cross_links()) {
        let f = link_flow(k);
        nodes[p.0].flows_out.entry(j.span(p).uid).or_default().push(f);
        nodes[c.0].flows_in.insert(j.span(c).uid, f);
    }
    for (i, ((_, inp), node)) in inputs.iter().zip(nodes).enumerate() {
        let mut v = Perfetto::node(&mut *out, i, node);
        let (tl, _) = timeline(inp, &mut v, |_, _| false)?;
        unlinked_note(v.finish(&tl.meta).map_err(|e| Fail::io("the Perfetto trace", e))?, inp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::write::{Object, StandardSection, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};

    /// `fn sensor_task() { static POOL: … }` in crate `app`, as rustc mangles it: legacy (stable's
    /// default) and v0 (`-C symbol-mangling-version=v0`, nightly's default).
    const LEGACY: &str = "_ZN3app11sensor_task4POOL17hf6daef2bd0dde1a1E";
    const V0: &str = "_RNvNvCscAEuU5ehQ2G_3app10radio_task4POOL";

    #[test]
    fn pool_statics_are_found_in_both_manglings() {
        assert_eq!(pool_task(LEGACY).as_deref(), Some("sensor_task"));
        assert_eq!(pool_task(V0).as_deref(), Some("radio_task"));
        for other in [
            "_ZN3app11sensor_task17hf6daef2bd0dde1a1E", // the function itself
            "_RNvNvCscAEuU5ehQ2G_3app10radio_task5POOLS",
            "_Reset",
            "_ZN99short",
            "_R",
            "POOL",
        ] {
            assert_eq!(pool_task(other), None, "{other}");
        }
    }

    #[test]
    fn task_pools_of_an_elf_name_their_address_ranges() {
        let mut obj = Object::new(BinaryFormat::Elf, Architecture::Arm, Endianness::Little);
        let bss = obj.section_id(StandardSection::UninitializedData);
        let mut add = |name: &str, size: u64| {
            let value = obj.append_section_bss(bss, size, 4);
            obj.add_symbol(Symbol {
                name: name.as_bytes().to_vec(),
                value,
                size,
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Section(bss),
                flags: SymbolFlags::None,
            });
            value as u32
        };
        let (a, b) = (add(LEGACY, 64), add(V0, 32));
        add("_RNvCscAEuU5ehQ2G_3app6BUFFER", 16);
        let elf = device::elf::Elf::parse(obj.write().unwrap()).unwrap();
        let pools = task_pools(&elf);
        assert_eq!(pools, [(a, a + 64, "sensor_task".into()), (b, b + 32, "radio_task".into())]);
    }
}
