//! Throughput benchmark: `bench-gen` writes a synthetic span-heavy trace shaped like a drain's
//! output (batches per context, an interrupt context preempting the main one); `bench` times
//! decoding it alone, then decode + timeline + tree (merged) + stats, on one core, and prints
//! records/s and the peak resident memory.

use crate::cli::BenchPass;
use crate::item::{CallsiteInfo, CallsiteKind, Decoder, Item, Kind, Level, StreamHeader};
use crate::model::{Feed, Meta, NameId, Span, Timeline, Visitor};
use crate::run::{exit, Fail};
use crate::view::{stats::Stats, tree::Tree};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;
use tickspan::wire::{encode::FrameEncoder, ENCODED_CAPACITY, FORMAT_VERSION};

const HZ: u64 = 100_000_000;
const NAMES: [&str; 8] = ["main_loop", "poll_sensors", "read_adc", "filter", "control", "pwm_update", "log", "SysTick"];

/// One synthetic record.
struct Gen {
    ctx: u32,
    kind: Kind,
    cs: u32,
    ts: u64,
    a: u32,
}

/// Writes `records` records of a periodic control loop with nested spans, events and an ISR.
pub fn generate(path: &Path, records: u64, force: bool) -> Result<(), Fail> {
    let what = path.display().to_string();
    // An existing file is kept unless asked (`create_new` checks and creates in one step).
    let file = File::options().write(true).create(true).truncate(true).create_new(!force).open(path);
    let file = file.map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => Fail { code: exit::IO, msg: format!("{what} exists (--force overwrites it)") },
        _ => Fail::io(format!("creating {what}"), e),
    })?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    write_trace(&mut w, records).map_err(|e| Fail::io(format!("writing {what}"), e))?;
    w.flush().map_err(|e| Fail::io(format!("writing {what}"), e))
}

fn cs(i: usize) -> u32 {
    0x1000 + 0x40 * i as u32
}

fn write_trace(w: &mut impl Write, records: u64) -> io::Result<()> {
    let mut enc = FrameEncoder::new();
    let mut out = [0u8; ENCODED_CAPACITY];
    let mut emit = |enc: &mut FrameEncoder, w: &mut dyn Write| -> io::Result<()> {
        let n = enc.finish(&mut out);
        w.write_all(&out[..n])
    };
    enc.header(&StreamHeader { version: FORMAT_VERSION, clock_hz: HZ, clock_wrap: 1 << 32, node: 1, target: "bench" , name: ""});
    emit(&mut enc, w)?;
    for (i, name) in NAMES.iter().enumerate() {
        let kind = if i == 7 {
            CallsiteKind::Isr
        } else if i == 6 {
            CallsiteKind::Event
        } else {
            CallsiteKind::Span
        };
        enc.callsite(&CallsiteInfo { id: cs(i), kind, level: Level::Info, line: i as u32, name, file: "bench.rs" });
        emit(&mut enc, w)?;
    }
    for (ctx, name) in [(0, "thread mode"), (1, "SysTick")] {
        enc.context(ctx, name);
        emit(&mut enc, w)?;
    }
    enc.sync(0, 1_700_000_000_000_000_000);
    emit(&mut enc, w)?;

    // One loop iteration: main_loop{ poll_sensors{ read_adc{} log filter{} } control{ pwm_update{} } }.
    use Kind::*;
    let body: [(Kind, usize, u64); 13] = [
        (SpanEnter, 0, 3),
        (SpanEnter, 1, 5),
        (SpanEnter, 2, 20),
        (SpanExit, 2, 140),
        (Event, 6, 8),
        (SpanEnter, 3, 6),
        (SpanExit, 3, 310),
        (SpanExit, 1, 4),
        (SpanEnter, 4, 9),
        (SpanEnter, 5, 12),
        (SpanExit, 5, 75),
        (SpanExit, 4, 30),
        (SpanExit, 0, 2),
    ];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let (mut ts, mut written) = (0u64, 0u64);
    let mut main = Vec::with_capacity(4096);
    let mut isr = Vec::with_capacity(256);
    let mut next_tick = 10_000u64;
    while written < records {
        // One drain pass: a few hundred loop iterations of the main context, then the ISRs
        // that preempted it meanwhile (drained after it, as a real drain does).
        main.clear();
        isr.clear();
        while main.len() < 4000 && written + (main.len() + isr.len()) as u64 + 13 <= records.max(13) {
            for &(kind, i, dt) in &body {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                ts += dt + (rng & 7);
                if ts >= next_tick {
                    isr.push(Gen { ctx: 1, kind: IsrEnter, cs: cs(7), ts: next_tick, a: 15 });
                    isr.push(Gen { ctx: 1, kind: IsrExit, cs: cs(7), ts: next_tick + 45, a: 15 });
                    ts += 45;
                    next_tick += 10_000;
                }
                main.push(Gen { ctx: 0, kind, cs: cs(i), ts, a: (kind == Event) as u32 * 64 });
            }
        }
        if main.is_empty() {
            break;
        }
        for batch in [&main, &isr] {
            let mut it = batch.iter().peekable();
            while let Some(first) = it.peek() {
                enc.begin_batch(first.ctx, first.ts);
                while enc.has_room() {
                    let Some(r) = it.next() else { break };
                    enc.record(r.kind, r.cs, r.ts, r.a, 0);
                }
                emit(&mut enc, w)?;
            }
        }
        written += (main.len() + isr.len()) as u64;
    }
    Ok(())
}

/// CPU time this thread has run, from /proc (Linux; 10 ms resolution): on a shared machine
/// the wall clock also counts time spent waiting for a core.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Records/s over wall-clock and CPU time.
pub(crate) fn rates(n: u64, wall: f64, cpu0: Option<f64>) -> String {
    let mut s = format!("{:.1} M records/s", n as f64 / wall / 1e6);
    if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
        if b > a {
            s += &format!(" ({:.1} M records/s of CPU time)", n as f64 / (b - a) / 1e6);
        }
    }
    s
}

/// Peak resident set size of this process, from /proc (Linux), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Feeds the file at `path` to `f` in 1 MiB chunks; returns the bytes read.
fn chunks(path: &Path, mut f: impl FnMut(&[u8]) -> Result<(), Fail>) -> Result<u64, Fail> {
    let what = path.display().to_string();
    let mut file = File::open(path).map_err(|e| Fail::io(&what, e))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        match file.read(&mut buf).map_err(|e| Fail::io(&what, e))? {
            0 => return Ok(total),
            n => {
                total += n as u64;
                f(&buf[..n])?
            }
        }
    }
}

fn fatal(e: tickspan::wire::DecodeError) -> Fail {
    Fail { code: crate::run::exit::NOT_A_TRACE, msg: e.to_string() }
}

/// Decodes `path` into a timeline feeding `v`, and prints the rate.
fn timed(path: &Path, what: &str, v: &mut impl Visitor) -> Result<Timeline, Fail> {
    let cpu = cpu_seconds();
    let t = Instant::now();
    let mut tl = Timeline::default();
    let mut dec = Decoder::new();
    let mut feed = Feed { tl: &mut tl, v };
    chunks(path, |c| dec.feed_sink(c, &mut feed).map_err(fatal))?;
    dec.finish_sink(&mut feed);
    tl.finish(v);
    let d = t.elapsed().as_secs_f64();
    let n = tl.counters().records;
    println!("{what:<27} {n} records in {d:.3} s = {}", rates(n, d, cpu));
    Ok(tl)
}

/// Times decode-only, then decode + timeline with each view, over `path` (read in chunks, not
/// held); `only` picks one pass.
pub fn run(path: &Path, only: Option<BenchPass>) -> Result<(), Fail> {
    let want = |p: BenchPass| only.is_none_or(|o| o == p);
    if want(BenchPass::Decode) {
        let cpu = cpu_seconds();
        let t = Instant::now();
        let mut records = 0u64;
        let mut dec = Decoder::new();
        let mut count = |i: Item<'_>| records += matches!(i, Item::Record { .. }) as u64;
        let bytes = chunks(path, |c| dec.feed(c, &mut count).map_err(fatal))?;
        dec.finish(&mut count);
        let mb = bytes as f64 / 1e6;
        let d = t.elapsed().as_secs_f64();
        println!(
            "decode only                 {records} records, {mb:.1} MB in {d:.3} s = {} ({:.2} B/record)",
            rates(records, d, cpu),
            bytes as f64 / records.max(1) as f64
        );
    }

    // The timeline alone (merge, span stacks, ISR accounting), then with each view.
    struct Nothing;
    impl Visitor for Nothing {
        fn close(&mut self, _: &Meta, _: &Span, _: &[NameId]) {}
    }
    let tree = || Tree::new(io::sink(), Default::default(), true, 100_000);
    if want(BenchPass::Timeline) {
        timed(path, "decode + timeline", &mut Nothing)?;
    }
    if want(BenchPass::Stats) {
        timed(path, "decode + timeline + stats", &mut Stats::default())?;
    }
    if want(BenchPass::Tree) {
        timed(path, "decode + timeline + tree", &mut tree())?;
    }
    if want(BenchPass::All) {
        let mut views = (tree(), Stats::default());
        let tl = timed(path, "decode + tree + stats", &mut views)?;
        views.0.finish(&tl.meta).map_err(|e| Fail::io("tree", e))?;
        let spans: u64 = views.1.report(&tl.meta).spans.iter().map(|r| r.count).sum();
        println!("({spans} spans)");
    }
    if let Some(kib) = peak_rss_kib() {
        println!("peak RSS: {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}
