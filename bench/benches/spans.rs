//! Span enter+exit: the floor, tickspan and its peers side by side in one run.
//!
//! `cargo bench -p tickspan-bench --bench spans` (see docs/benchmarks.md). Prints criterion's
//! report per contender, runs interleaved rounds of all contenders (`ROUNDS`, default 1000),
//! checks that every contender received every span it ran, then prints ns/span and the ratio
//! to the floor measured in this same run.

mod common;

use criterion::{BenchmarkId, Throughput};
use std::path::PathBuf;
use tickspan_bench::peers::{Fastrace, Puffin, TracingRegistry, TracingRing, TracingTickspan};
use tickspan_bench::tracy::Tracy;
use tickspan_bench::{median, run, Floor, Tickspan, Tracer, FLAT_BATCH, NESTED_BATCH};

struct Contender {
    id: &'static str,
    tracer: Box<dyn Tracer>,
    spans_run: u64,
    criterion_ran: bool,
}

fn contenders() -> Vec<Contender> {
    let c =
        |id, tracer: Box<dyn Tracer>| Contender { id, tracer, spans_run: 0, criterion_ran: false };
    // Tracy first: it takes its port from the environment, before other threads exist.
    let tracy = Tracy::new();
    vec![
        c("floor", Box::new(Floor::new())),
        c("tickspan", Box::new(Tickspan::new())),
        c("tracing-ring", Box::new(TracingRing::new())),
        c("fastrace", Box::new(Fastrace::new())),
        c("tracing-registry", Box::new(TracingRegistry::new())),
        c("tracing-tickspan", Box::new(TracingTickspan::new())),
        c("puffin", Box::new(Puffin::new())),
        c("tracy", Box::new(tracy)),
    ]
}

/// Criterion's median estimate (ns per iteration) of one benchmark of this run.
fn median_ns(group: &str, id: &str) -> Option<f64> {
    let home = std::env::var_os("CRITERION_HOME").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
            PathBuf::from,
        );
        target.join("criterion")
    });
    let path = home.join(group).join(id).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn main() {
    let mut c = common::criterion();
    let mut all = contenders();
    assert_eq!(all[0].id, "floor", "ratios are taken to the first contender");
    let shapes = [("flat", false, 1u64), ("nested3", true, 3u64)];
    for (group_name, nested, spans_per_iter) in shapes {
        let mut group = c.benchmark_group(format!("span_{group_name}"));
        group.throughput(Throughput::Elements(spans_per_iter));
        for con in all.iter_mut() {
            let Contender { id, tracer, spans_run, criterion_ran } = con;
            group.bench_function(BenchmarkId::from_parameter(*id), |b| {
                b.iter_custom(|iters| {
                    let (time, spans) = run(&mut **tracer, nested, iters);
                    *spans_run += spans;
                    *criterion_ran = true;
                    time
                })
            });
        }
        group.finish();
    }
    c.final_summary();

    // Criterion measures contenders one after another, so a burst of load from elsewhere on
    // this shared machine lands on some and not others. The table comes from interleaved
    // rounds instead: each round runs one batch of every contender, back to back, and the
    // ratio to the floor is taken within the round; medians over rounds.
    let rounds = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1000);
    let mut samples = vec![[Vec::new(), Vec::new()]; all.len()];
    for _ in 0..rounds {
        for (shape, (_, nested, _)) in shapes.iter().enumerate() {
            let batch = if *nested { NESTED_BATCH } else { FLAT_BATCH };
            for (con, s) in all.iter_mut().zip(samples.iter_mut()) {
                let (time, spans) = run(&mut *con.tracer, *nested, batch);
                con.spans_run += spans;
                s[shape].push(time.as_nanos() as f64 / spans as f64);
            }
        }
    }

    // Every contender must have received every span it ran.
    for con in all.iter_mut() {
        let got = con.tracer.received();
        println!("{:<36} ran {:>11} spans, received {:>11}", con.tracer.name(), con.spans_run, got);
        assert_eq!(got, con.spans_run, "{} did not receive every span", con.tracer.name());
    }

    println!("\nInterleaved, {rounds} rounds (median ns/span; median of per-round ratios):\n");
    println!("| contender | flat ns/span | flat × floor | nested ns/span | nested × floor |");
    println!("|---|---:|---:|---:|---:|");
    for (con, s) in all.iter().zip(&samples) {
        let cells: Vec<String> = (0..2)
            .flat_map(|shape| {
                let ratios = s[shape].iter().zip(&samples[0][shape]).map(|(v, f)| v / f).collect();
                [format!("{:.1}", median(s[shape].clone())), format!("{:.2}", median(ratios))]
            })
            .collect();
        println!("| {} | {} |", con.tracer.name(), cells.join(" | "));
    }

    // Criterion's medians, for comparison (contenders filtered out of this run are left out:
    // their estimates on disk are from an earlier run).
    println!("\nCriterion, sequential (median ns/span; ratio to the floor's median):\n");
    println!("| contender | flat ns/span | flat × floor | nested ns/span | nested × floor |");
    println!("|---|---:|---:|---:|---:|");
    let per_span = |group: &str, id: &str, k: f64| median_ns(group, id).map(|ns| ns / k);
    let floor_flat = per_span("span_flat", "floor", 1.0);
    let floor_nested = per_span("span_nested3", "floor", 3.0);
    let cell = |v: Option<f64>, floor: Option<f64>| match (v, floor) {
        (Some(v), Some(f)) => (format!("{v:.1}"), format!("{:.2}", v / f)),
        (Some(v), None) => (format!("{v:.1}"), "-".into()),
        _ => ("-".into(), "-".into()),
    };
    for con in all.iter().filter(|c| c.criterion_ran) {
        let (f, fr) = cell(per_span("span_flat", con.id, 1.0), floor_flat);
        let (n, nr) = cell(per_span("span_nested3", con.id, 3.0), floor_nested);
        println!("| {} | {f} | {fr} | {n} | {nr} |", con.tracer.name());
    }
}
