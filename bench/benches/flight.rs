//! What arming and the flight recorder cost, in one run:
//!
//! 1. ns per flat span (enter + exit) with the recorder disarmed (`tickspan::disarm`), armed
//!    (the rings emptied by the bench between batches, as in `spans`), and armed with a
//!    `FlightRecorder` running (its drain thread reads the rings and encodes into the window
//!    while the batches record); the floor of `spans` beside them. Batches of each mode
//!    alternate, each after the same pause (longer than the drain's period), and the ratios
//!    are taken per repetition; medians over repetitions.
//! 2. `write_to` time and snapshot size for a window of 1 s (`min_age`) at 1 M spans/s, spread
//!    over threads so that no ring overflows between two drain passes, recording going on.
//!
//! `cargo bench -p tickspan-bench --bench flight` (docs/flight-recorder.md). `REPS` (default 5)
//! repetitions of `BATCHES` (default 40) batches per mode.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tickspan::wire::{Decoder, Item};
use tickspan::{FlightRecorder, FlightRecorderConfig, Kind};
use tickspan_bench::{drain_exits, median, timed, Floor, Tickspan, Tracer};

/// Spans per batch: 2000 records, half a ring (no loss before the drain passes).
const SPANS: u64 = 1000;
/// Before every batch: longer than the drain thread's period (10 ms), so the flight
/// recorder's drain has emptied the ring.
const PAUSE: Duration = Duration::from_millis(12);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// ns per span of one batch of flat spans.
fn batch() -> f64 {
    std::thread::sleep(PAUSE);
    timed(|| Tickspan::flat_spans(SPANS)).as_nanos() as f64 / SPANS as f64
}

/// What a snapshot holds: span exits, records lost, and its first and last record time (s).
struct Held {
    exits: u64,
    lost: u64,
    seconds: f64,
}

fn held(snapshot: &[u8]) -> Held {
    let (mut exits, mut lost, mut hz, mut first, mut last) = (0, 0, 0, u64::MAX, 0);
    let mut sink = |item: Item<'_>| match item {
        Item::Header(h) => hz = h.clock_hz,
        Item::Loss { count, .. } => lost += u64::from(count),
        Item::Record { kind, ts, .. } => {
            exits += u64::from(kind == Kind::SpanExit);
            (first, last) = (first.min(ts), last.max(ts));
        }
        _ => {}
    };
    let mut dec = Decoder::new();
    dec.feed(snapshot, &mut sink).expect("a snapshot is a tickspan stream");
    dec.finish(&mut sink);
    let seconds = if hz > 0 && last > first { (last - first) as f64 / hz as f64 } else { 0.0 };
    Held { exits, lost, seconds }
}

fn main() {
    let (reps, batches) = (env("REPS", 5), env("BATCHES", 40));
    let mut buf = vec![tickspan::Record::default(); 4096];
    let mut floor = Floor::new();
    // Per repetition, the median of each mode: floor, disarmed, armed, armed + flight recorder.
    let mut medians: Vec<[f64; 4]> = Vec::new();
    for _ in 0..reps {
        let mut s: [Vec<f64>; 4] = Default::default();
        let (mut armed_run, mut armed_got) = (0, 0);
        for _ in 0..batches {
            std::thread::sleep(PAUSE);
            s[0].push(floor.flat(SPANS).as_nanos() as f64 / SPANS as f64);
            floor.collect();
            tickspan::disarm();
            s[1].push(batch());
            tickspan::arm();
            drain_exits(&mut buf); // the two markers
            s[2].push(batch());
            armed_run += SPANS;
            armed_got += drain_exits(&mut buf);
        }
        assert_eq!(armed_got, armed_run, "the armed batches' spans are all in the rings");
        let fr = FlightRecorder::new(FlightRecorderConfig { min_age: Duration::from_secs(3600), max_bytes: 64 << 20 });
        fr.start().expect("start the flight recorder");
        for _ in 0..batches {
            s[3].push(batch());
            // Untimed: a pass of the drain now, so that a drain thread delayed by the load
            // on this machine cannot let the next batch overfill the ring.
            fr.write_to(&mut std::io::sink()).expect("drain pass");
        }
        let mut snapshot = Vec::new();
        fr.write_to(&mut snapshot).expect("snapshot");
        fr.stop().expect("stop the flight recorder");
        let h = held(&snapshot);
        assert_eq!((h.exits, h.lost), (batches as u64 * SPANS, 0), "the window holds every span, none lost");
        medians.push(s.map(median));
    }
    let col = |i: usize| median(medians.iter().map(|m| m[i]).collect());
    let ratio = |i: usize, to: usize| median(medians.iter().map(|m| m[i] / m[to]).collect());
    println!("\n{reps} repetitions × {batches} batches of {SPANS} flat spans per mode (median ns/span; median of per-repetition ratios):\n");
    println!("| mode | ns/span | × armed | × floor |");
    println!("|---|---:|---:|---:|");
    for (i, name) in
        ["floor (two rdtsc + two stores)", "disarmed", "armed", "armed + flight recorder"].iter().enumerate()
    {
        println!("| {name} | {:.1} | {:.2} | {:.2} |", col(i), ratio(i, 2), ratio(i, 0));
    }

    snapshot_cost();
}

/// Threads recording at [`RATE`] spans/s together, paced per millisecond.
const THREADS: u64 = 8;
const RATE: u64 = 1_000_000;

fn snapshot_cost() {
    let min_age = Duration::from_secs(1);
    let fr = FlightRecorder::new(FlightRecorderConfig { min_age, max_bytes: 256 << 20 });
    fr.start().expect("start the flight recorder");
    let (stop, spans) = (AtomicBool::new(false), AtomicU64::new(0));
    let per_ms = RATE / THREADS / 1000;
    let (times, last, stats, rate) = std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let start = Instant::now();
                let mut tick = 0u32;
                while !stop.load(Relaxed) {
                    Tickspan::flat_spans(per_ms);
                    spans.fetch_add(per_ms, Relaxed);
                    tick += 1;
                    if let Some(wait) =
                        (start + Duration::from_millis(tick.into())).checked_duration_since(Instant::now())
                    {
                        std::thread::sleep(wait);
                    }
                }
            });
        }
        let started = Instant::now();
        std::thread::sleep(min_age + Duration::from_millis(500));
        let mut times = Vec::new();
        let mut last = Vec::new();
        for _ in 0..5 {
            last.clear();
            let t = Instant::now();
            fr.write_to(&mut last).expect("snapshot");
            times.push(t.elapsed().as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(200));
        }
        let stats = fr.window().expect("running");
        stop.store(true, Relaxed);
        let rate = spans.load(Relaxed) as f64 / started.elapsed().as_secs_f64();
        (times, last, stats, rate)
    });
    fr.stop().expect("stop the flight recorder");
    let h = held(&last);
    let (min, max) = times.iter().fold((f64::MAX, 0f64), |(a, b), &t| (a.min(t), b.max(t)));
    println!(
        "\nwrite_to, min_age {min_age:?}, {THREADS} threads at {:.2} M spans/s in all (recording goes on):\n",
        rate / 1e6
    );
    println!("| window | spans in it | records lost | snapshot | B/span | write_to median (min–max) |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| {:.2} s of records ({} frames) | {} | {} | {:.2} MiB | {:.2} | {:.2} ms ({:.2}–{:.2}) |",
        h.seconds,
        stats.frames,
        h.exits,
        h.lost,
        last.len() as f64 / (1 << 20) as f64,
        last.len() as f64 / h.exits.max(1) as f64,
        median(times.clone()),
        min,
        max
    );
}
