//! Instructions per span enter+exit, counted by callgrind (repeatable, unlike time on a shared
//! VM). Each measured loop is its own non-inlined function; `bench/icount.sh` runs this under
//! `valgrind --tool=callgrind` and divides each function's inclusive instruction count by the
//! spans it ran.

use tickspan_bench::peers::TracingRing;
use tickspan_bench::{Floor, Tickspan, Tracer, FLAT_BATCH, NESTED_BATCH};

#[inline(never)]
fn floor_flat(f: &mut Floor, n: u64) {
    f.flat_spans(n)
}

#[inline(never)]
fn floor_nested(f: &mut Floor, n: u64) {
    f.nested_spans(n)
}

#[inline(never)]
fn tickspan_flat(n: u64) {
    Tickspan::flat_spans(n)
}

#[inline(never)]
fn tickspan_nested(n: u64) {
    Tickspan::nested_spans(n)
}

#[inline(never)]
fn tracing_ring_flat(n: u64) {
    TracingRing::flat_spans(n)
}

#[inline(never)]
fn tracing_ring_nested(n: u64) {
    TracingRing::nested_spans(n)
}

fn main() {
    let (mut floor, mut ts) = (Floor::new(), Tickspan::new());
    // The thread's first record claims its ring (cold path): keep it out of the counts.
    drop(tickspan::span!("warm-up"));
    ts.collect();
    let before = ts.received();
    floor_flat(&mut floor, FLAT_BATCH);
    floor.collect();
    floor_nested(&mut floor, NESTED_BATCH);
    floor.collect();
    tickspan_flat(FLAT_BATCH);
    ts.collect();
    tickspan_nested(NESTED_BATCH);
    ts.collect();
    // The closest peer, for comparison: `tracing` with the minimal ring subscriber.
    let mut tr = TracingRing::new();
    // Warm up the very callsites measured: `tracing` registers each on its first use.
    TracingRing::flat_spans(1);
    TracingRing::nested_spans(1);
    tr.collect();
    let tr_before = tr.received();
    tracing_ring_flat(FLAT_BATCH);
    tr.collect();
    tracing_ring_nested(NESTED_BATCH);
    tr.collect();
    assert_eq!(tr.received() - tr_before, FLAT_BATCH + 3 * NESTED_BATCH);
    // Every span was recorded, none dropped.
    assert_eq!(floor.received(), FLAT_BATCH + 3 * NESTED_BATCH);
    assert_eq!(ts.received() - before, FLAT_BATCH + 3 * NESTED_BATCH);
    println!("flat spans per function: {FLAT_BATCH}; nested spans: {}", 3 * NESTED_BATCH);
}
