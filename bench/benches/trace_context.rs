//! What distributed tracing costs on std, against a plain span in the same run: a span with a
//! remote parent (`link_remote`: four link records and an id), with a local parent named by id
//! (`link_child`: two), a new trace (three, two ids), and the W3C text and binary codecs.
//!
//! Rings are drained between batches, untimed, and every record is counted: a ring that
//! filled would time the cheaper refusal path instead of the recording.
//!
//! `cargo bench -p tickspan-bench --bench trace_context` (see docs/distributed.md). Prints
//! criterion's report per case, then runs interleaved rounds of all cases (`ROUNDS`, default
//! 1000; each round one batch of every case back to back, so load from elsewhere hits all
//! cases alike), checks that the rings received every span and link record the cases wrote,
//! and prints the median ns per operation and its ratio to the plain span.

mod common;

use criterion::BenchmarkId;
use std::hint::black_box;
use std::time::Duration;
use tickspan::trace_context::{self as tc, TraceContext, TraceFlags, COMPACT_LEN, TRACEPARENT_LEN};
use tickspan::Kind;
use tickspan_bench::{median, timed};

/// Operations per batch: the most records one operation writes (6: a span and 4 link records)
/// times this stays under a 4096-slot ring, so nothing is dropped between drains.
const BATCH: u64 = 512;

/// What the incoming request carried.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// One measured operation.
struct Case {
    name: &'static str,
    /// Span exits and link records one operation writes.
    records: (u64, u64),
    /// Runs the operation `n` times.
    run: fn(u64),
}

/// What the operations work on, set up before each batch (untimed).
struct Fixture {
    /// The incoming request's context.
    parent: TraceContext,
    /// Its binary form.
    wire: [u8; COMPACT_LEN],
    /// Room for an outgoing `traceparent`.
    header: [u8; TRACEPARENT_LEN],
    /// Keeps `parent` the thread's current context during the batch.
    _current: tc::Attached,
}

impl Fixture {
    fn new() -> Fixture {
        let parent = TraceContext::from_traceparent(TRACEPARENT).expect("a valid traceparent");
        Fixture {
            parent,
            wire: parent.to_bytes(),
            header: [0; TRACEPARENT_LEN],
            _current: tc::attach(parent),
        }
    }
}

/// A [`Case`] whose operation is `$op`, with the batch's [`Fixture`] as `$f`.
macro_rules! case {
    ($name:literal, $records:expr, |$f:ident| $op:block) => {
        Case {
            name: $name,
            records: $records,
            run: |n| {
                let $f = &mut Fixture::new();
                for _ in 0..n $op
            },
        }
    };
}

const CASES: &[Case] = &[
    case!("span (plain)", (1, 0), |_f| {
        let _g = tickspan::span!("plain");
    }),
    case!("span + link_remote", (1, 4), |f| {
        let _g = tickspan::span!("remote");
        black_box(tc::link_remote(black_box(&f.parent)));
    }),
    case!("span + enter_remote (thread-local context)", (1, 4), |f| {
        let _g = tickspan::span!("remote");
        let _cx = tc::enter_remote(black_box(&f.parent));
    }),
    case!("span + link_child", (1, 2), |f| {
        let _g = tickspan::span!("child");
        black_box(tc::link_child(black_box(&f.parent)));
    }),
    case!("span + link_new_trace", (1, 3), |_f| {
        let _g = tickspan::span!("root");
        black_box(tc::link_new_trace(TraceFlags::new(TraceFlags::SAMPLED)));
    }),
    case!("span + enter_child", (1, 2), |_f| {
        let _g = tickspan::span!("child");
        let _cx = tc::enter_child();
    }),
    case!("extract: from_traceparent", (0, 0), |_f| {
        let _ = black_box(TraceContext::from_traceparent(black_box(TRACEPARENT)));
    }),
    case!("inject: current + write_traceparent", (0, 0), |f| {
        if let Some(cx) = tc::current() {
            black_box(cx.write_traceparent(&mut f.header));
        }
    }),
    case!("binary: to_bytes", (0, 0), |f| {
        black_box(black_box(&f.parent).to_bytes());
    }),
    case!("binary: from_bytes", (0, 0), |f| {
        let _ = black_box(TraceContext::from_bytes(black_box(&f.wire)));
    }),
];

/// Empties this process's rings; adds the span exits and link records they held to `seen`.
fn drain(buf: &mut [tickspan::Record], seen: &mut (u64, u64)) {
    for ring in tickspan::context::RINGS.iter() {
        loop {
            let o = ring.read(buf);
            assert_eq!(
                o.lost(),
                0,
                "tickspan lost records: a batch overfilled a ring"
            );
            if o.records == 0 {
                break;
            }
            for r in &buf[..o.records] {
                match Kind::from_bits(r.tag) {
                    Some(Kind::SpanExit) => seen.0 += 1,
                    Some(Kind::Link) => seen.1 += 1,
                    _ => {}
                }
            }
        }
    }
}

/// Times `iters` operations of `case` in batches, draining between batches (untimed).
fn run(case: &Case, iters: u64, buf: &mut [tickspan::Record], seen: &mut (u64, u64)) -> Duration {
    let (mut left, mut total) = (iters, Duration::ZERO);
    while left > 0 {
        let n = left.min(BATCH);
        total += timed(|| (case.run)(n));
        drain(buf, seen);
        left -= n;
    }
    total
}

fn main() {
    let mut c = common::criterion();
    let mut buf = vec![tickspan::Record::default(); 4096];
    let mut seen = (0, 0);
    let mut ops = vec![0u64; CASES.len()];
    let mut group = c.benchmark_group("trace_context");
    for (case, ops) in CASES.iter().zip(ops.iter_mut()) {
        group.bench_function(BenchmarkId::from_parameter(case.name), |b| {
            b.iter_custom(|iters| {
                *ops += iters;
                run(case, iters, &mut buf, &mut seen)
            })
        });
    }
    group.finish();
    c.final_summary();

    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1000);
    let mut samples = vec![Vec::new(); CASES.len()];
    for _ in 0..rounds {
        for ((case, ops), s) in CASES.iter().zip(ops.iter_mut()).zip(samples.iter_mut()) {
            *ops += BATCH;
            s.push(run(case, BATCH, &mut buf, &mut seen).as_nanos() as f64 / BATCH as f64);
        }
    }

    let expected = CASES.iter().zip(&ops).fold((0, 0), |(e, l), (case, n)| {
        (e + case.records.0 * n, l + case.records.1 * n)
    });
    println!("span exits, link records: wrote {expected:?}, received {seen:?}");
    assert_eq!(
        seen, expected,
        "the rings did not receive every record the cases wrote"
    );

    println!("\nInterleaved, {rounds} rounds of {BATCH} operations (medians):\n");
    println!("| operation | ns/op | × plain span | ns over a plain span |");
    println!("|---|---:|---:|---:|");
    for (case, s) in CASES.iter().zip(&samples) {
        let ratios = s.iter().zip(&samples[0]).map(|(v, p)| v / p).collect();
        let extra = s.iter().zip(&samples[0]).map(|(v, p)| v - p).collect();
        let (ns, ratio) = (median(s.clone()), median(ratios));
        // Only a case that opens a span has a plain span inside it to subtract.
        let extra = if case.records.0 > 0 {
            format!("{:+.1}", median(extra))
        } else {
            "-".into()
        };
        println!("| {} | {ns:.1} | {ratio:.2} | {extra} |", case.name);
    }
}
