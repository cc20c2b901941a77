//! What fields cost on std: ns per span (enter + exit) with 0, 1 and 3 fields (`id = u32`;
//! then `ok = bool` and `mode = intern!("fast")`), each field one record after the enter.
//!
//! `cargo bench -p tickspan-bench --bench fields` (docs/benchmarks.md). `ROUNDS` (default 2000)
//! rounds; each runs one batch of every shape back to back, the rings drained between batches
//! (no loss: [`drain_exits`] asserts it) and every span checked as received; medians over
//! rounds, the per-field cost from the per-round differences to the span without fields.

use std::hint::black_box;
use tickspan_bench::{drain_exits, median, timed};

/// Spans per batch: with 3 fields 5 records each, 2560 records, under a ring's 4096.
const SPANS: u32 = 512;

fn no_field(n: u32) {
    for _ in 0..n {
        let _g = tickspan::span!("f0");
    }
}

fn one_field(n: u32) {
    for i in 0..n {
        let _g = tickspan::span!("f1", id = black_box(i));
    }
}

fn three_fields(n: u32) {
    for i in 0..n {
        let i = black_box(i);
        let _g = tickspan::span!("f3", id = i, ok = i & 1 == 0, mode = tickspan::intern!("fast"));
    }
}

/// Fields per span and the batch that records them.
type Shape = (u32, fn(u32));

fn main() {
    let rounds = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(2000);
    let shapes: [Shape; 3] = [(0, no_field), (1, one_field), (3, three_fields)];
    let mut buf = vec![tickspan::Record::default(); 4096];
    drain_exits(&mut buf);
    let mut ns: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        for (s, (_, f)) in ns.iter_mut().zip(&shapes) {
            let t = timed(|| f(SPANS));
            assert_eq!(drain_exits(&mut buf), u64::from(SPANS), "every span received");
            s.push(t.as_nanos() as f64 / f64::from(SPANS));
        }
    }
    println!("Interleaved, {rounds} rounds of {SPANS} spans per shape (medians):\n");
    println!("| fields | ns/span (p10–p90) | ns per field (over 0 fields) |");
    println!("|---:|---:|---:|");
    for (i, (k, _)) in shapes.iter().enumerate() {
        let per_field = if *k == 0 {
            "-".to_string()
        } else {
            let d: Vec<f64> = ns[i].iter().zip(&ns[0]).map(|(v, z)| (v - z) / f64::from(*k)).collect();
            format!("{:.1}", median(d))
        };
        let mut v = ns[i].clone();
        v.sort_by(f64::total_cmp);
        let (p10, p90) = (v[v.len() / 10], v[v.len() * 9 / 10]);
        println!("| {k} | {:.1} ({p10:.1}–{p90:.1}) | {per_field} |", median(ns[i].clone()));
    }
}
