//! What distributed tracing costs a span, against a plain span in the same run: starting a
//! span with a remote parent (`link_remote`: four link records and an id), with a local parent
//! named by id (`link_child`: two records), a new trace, and the W3C text and binary codecs.
//!
//! `cargo bench -p tickspan-bench --bench trace_context` (docs/distributed.md has the figures).
//! A background drain empties the rings into a sink, so records are written, not refused.

use criterion::{black_box, Criterion};
use std::time::Duration;
use tickspan::trace_context::{self as tc, TraceContext, TraceFlags, TRACEPARENT_LEN};

const HEADER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn main() {
    let drain = tickspan::transport::spawn(std::io::sink(), Duration::from_millis(1)).expect("drain");
    let parent = TraceContext::from_traceparent(HEADER).unwrap();
    let mut c = Criterion::default().configure_from_args().warm_up_time(Duration::from_millis(500));
    let mut g = c.benchmark_group("trace_context");
    g.measurement_time(Duration::from_secs(2));
    g.bench_function("plain span", |b| {
        b.iter(|| {
            let _g = tickspan::span!("plain");
        })
    });
    g.bench_function("span + link_remote", |b| {
        b.iter(|| {
            let _g = tickspan::span!("remote");
            black_box(tc::link_remote(black_box(&parent)));
        })
    });
    g.bench_function("span + link_child", |b| {
        b.iter(|| {
            let _g = tickspan::span!("child");
            black_box(tc::link_child(black_box(&parent)));
        })
    });
    g.bench_function("span + link_new_trace", |b| {
        b.iter(|| {
            let _g = tickspan::span!("root");
            black_box(tc::link_new_trace(TraceFlags::new(TraceFlags::SAMPLED)));
        })
    });
    g.bench_function("extract traceparent", |b| {
        b.iter(|| black_box(TraceContext::from_traceparent(black_box(HEADER))))
    });
    g.bench_function("inject traceparent", |b| {
        let mut buf = [0u8; TRACEPARENT_LEN];
        b.iter(|| black_box(black_box(&parent).write_traceparent(&mut buf).len()))
    });
    g.bench_function("binary to_bytes + from_bytes", |b| {
        b.iter(|| black_box(TraceContext::from_bytes(&black_box(&parent).to_bytes())))
    });
    g.finish();
    c.final_summary();
    drain.finish().expect("drain");
}
