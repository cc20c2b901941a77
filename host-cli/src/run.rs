//! The read → decode loop shared by every subcommand: warnings for damaged data, a progress bar,
//! Ctrl-C, and the exit codes.

use crate::item::{DecodeError, Decoder, Item, Rec, Sink};
use crate::source::{is_idle, Source};
use crate::units::count;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt;
use std::io::{self, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C (and by views whose output went away): stop reading, print what we have.
pub(crate) static STOP: AtomicBool = AtomicBool::new(false);
/// Set by Ctrl-C only: the run ends with [`exit::INTERRUPTED`].
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Exit codes, as documented in `--help`.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// Bad command line.
    pub const USAGE: u8 = 1;
    /// The input is not a tickspan trace, or its format version is not supported.
    pub const NOT_A_TRACE: u8 = 2;
    /// An input or output could not be opened, read or written.
    pub const IO: u8 = 3;
    /// `--strict` and the input had damaged data or lost records.
    pub const DAMAGED: u8 = 4;
    /// Stopped by Ctrl-C (SIGINT) after showing what was read until then (128 + SIGINT, as
    /// shells report it).
    pub const INTERRUPTED: u8 = 130;
}

/// Whether Ctrl-C stopped the run.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// A failure with its exit code.
#[derive(Debug)]
pub struct Fail {
    /// Process exit code.
    pub code: u8,
    /// What to print.
    pub msg: String,
}

impl Fail {
    /// An I/O failure about `what`.
    pub fn io(what: impl fmt::Display, e: io::Error) -> Fail {
        Fail { code: exit::IO, msg: format!("{what}: {e}") }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// What a decode run saw.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Summary {
    /// Bytes read.
    pub bytes: u64,
    /// Damaged regions skipped.
    pub skipped_regions: u64,
    /// Bytes in them.
    pub skipped_bytes: u64,
}

/// Warnings printed one by one before they are only counted.
const MAX_WARNINGS: u64 = 20;
const CHUNK: usize = 256 * 1024;
/// Files at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN: u64 = 16 << 20;

/// Reads `src` to its end (or Ctrl-C), handing what it decodes to `out` (records in runs), and
/// calling `idle` whenever a live source has had nothing to say for a while.
pub(crate) fn decode<S: Sink>(
    src: &mut dyn Source,
    quiet: bool,
    out: &mut S,
    mut idle: impl FnMut(&mut S),
) -> Result<Summary, Fail> {
    let mut dec = Decoder::new();
    let mut buf = vec![0u8; CHUNK];
    let bar = progress(src.len(), quiet);
    let name = src.describe();
    let mut sink =
        Watch { out, sum: Summary::default(), quiet, bar: &bar, name: &name, held: Some(Vec::new()) };
    let fatal = |e: DecodeError| Fail { code: exit::NOT_A_TRACE, msg: format!("{name}: {e}") };
    let mut bytes = 0u64;
    loop {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                bytes += n as u64;
                bar.inc(n as u64);
                dec.feed_sink(&buf[..n], &mut sink).map_err(fatal)?;
                skipped_by(src, &mut sink);
            }
            Err(e) if is_idle(&e) => idle(sink.out),
            Err(e) => {
                bar.finish_and_clear();
                return Err(Fail::io(format!("reading {name}"), e));
            }
        }
    }
    skipped_by(src, &mut sink);
    let frames = dec.frames();
    // Stopped early (Ctrl-C, or the output went away as in `| head`): the frame being read
    // is unfinished because we stopped reading it, not damaged.
    if !STOP.load(Ordering::Relaxed) {
        dec.finish_sink(&mut sink);
    }
    bar.finish_and_clear();
    if frames > 0 {
        sink.release_warnings();
    }
    let mut sum = sink.sum;
    sum.bytes = bytes;
    if !quiet && sum.skipped_regions > MAX_WARNINGS {
        crate::warning!(
            "{name}: {} in all ({}); only the first {MAX_WARNINGS} were shown",
            count(sum.skipped_regions, "damaged region"),
            count(sum.skipped_bytes, "byte")
        );
    }
    if frames == 0 && !STOP.load(Ordering::Relaxed) {
        // Empty, or shorter than the decoder's not-a-trace limit without one valid frame.
        return Err(if bytes == 0 {
            Fail { code: exit::NOT_A_TRACE, msg: format!("{name}: empty input, no tickspan data") }
        } else {
            let bytes = count(bytes, "byte");
            Fail { code: exit::NOT_A_TRACE, msg: format!("{name}: not a tickspan trace: no valid frame in its {bytes}") }
        });
    }
    Ok(sum)
}

/// Passes the regions `src` skipped itself (raw frames) on as the decoder's own.
fn skipped_by<S: Sink>(src: &mut dyn Source, sink: &mut Watch<'_, S>) {
    for (offset, bytes) in src.take_skipped() {
        sink.item(Item::Skipped { offset, bytes });
    }
}

/// Counts and reports skipped regions on their way to the real sink.
struct Watch<'a, S> {
    out: &'a mut S,
    sum: Summary,
    quiet: bool,
    bar: &'a ProgressBar,
    name: &'a str,
    /// Skipped regions (offset, bytes) held back until the input shows it is a trace (its first
    /// item): input that is not one gets that error alone. `None` once released.
    held: Option<Vec<(u64, u64)>>,
}

impl<S> Watch<'_, S> {
    fn warn(&self, offset: u64, bytes: u64) {
        let name = self.name;
        let bytes = count(bytes, "byte");
        self.bar.suspend(|| crate::warning!("{name}: skipped {bytes} of damaged or truncated data at offset {offset}"));
    }

    /// Prints the held-back warnings; later ones print at once.
    fn release_warnings(&mut self) {
        for (offset, bytes) in self.held.take().unwrap_or_default() {
            self.warn(offset, bytes);
        }
    }
}

impl<S: Sink> Sink for Watch<'_, S> {
    fn item(&mut self, item: Item<'_>) {
        if let Item::Skipped { offset, bytes } = item {
            self.sum.skipped_regions += 1;
            self.sum.skipped_bytes += bytes;
            if !self.quiet && self.sum.skipped_regions <= MAX_WARNINGS {
                match &mut self.held {
                    Some(held) => held.push((offset, bytes)),
                    None => self.warn(offset, bytes),
                }
            }
        } else if self.held.is_some() {
            self.release_warnings();
        }
        self.out.item(item);
    }
    #[inline]
    fn records(&mut self, ctx: u32, records: &[Rec]) {
        self.out.records(ctx, records)
    }
}

fn progress(len: Option<u64>, quiet: bool) -> ProgressBar {
    match len {
        Some(len) if !quiet && len >= PROGRESS_MIN && io::stderr().is_terminal() => {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .expect("valid template"),
            );
            bar
        }
        _ => ProgressBar::hidden(),
    }
}

/// Installs the Ctrl-C handler: the first press stops reading and prints the results so far,
/// a second one exits at once.
pub(crate) fn install_ctrlc() {
    let _ = ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::Relaxed);
        if STOP.swap(true, Ordering::Relaxed) {
            std::process::exit(exit::INTERRUPTED.into());
        }
    });
}
