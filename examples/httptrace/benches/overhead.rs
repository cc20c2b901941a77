//! What tracing costs per request: GETs on a kept-alive connection to a local plain-HTTP
//! server (tests/support), with hyper-util's plain client, with the traced client while
//! recording is disarmed (the wrappers alone), and armed (records drained to a sink).
//!
//! `cargo bench -p tickspan-httptrace --bench overhead [-- REQUESTS]` (default 1000 per
//! round, 15 rounds of each client, interleaved; the fastest and the median round are
//! printed: on a shared machine the fastest is the least disturbed).

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)] // the TLS parts serve the tests
mod support;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Uri;
use hyper_util::client::legacy;
use hyper_util::rt::TokioExecutor;
use std::time::{Duration, Instant};
use tokio_rustls::rustls::RootCertStore;

const ROUNDS: usize = 15;

#[derive(Clone, Copy)]
enum Which {
    Plain,
    Disarmed,
    Armed,
}

fn main() {
    // `cargo bench` passes `--bench`; a number is the requests per round.
    let n: u32 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let server = support::start(false);
    let uri: Uri = format!("http://127.0.0.1:{}/", server.port).parse().unwrap();
    let drain = tickspan::transport::spawn(std::io::sink(), Duration::from_millis(1)).expect("drain");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let plain: legacy::Client<_, Empty<Bytes>> = legacy::Client::builder(TokioExecutor::new()).build_http();
    let traced = tickspan_httptrace::Client::new(RootCertStore::empty()).unwrap();
    let mut rounds: [Vec<f64>; 3] = Default::default();
    rt.block_on(async {
        for round in 0..=ROUNDS {
            for (i, which) in [Which::Plain, Which::Disarmed, Which::Armed].into_iter().enumerate() {
                if matches!(which, Which::Armed) {
                    tickspan::arm();
                } else {
                    tickspan::disarm();
                }
                let t = Instant::now();
                for _ in 0..n {
                    match which {
                        Which::Plain => {
                            let res = plain.get(uri.clone()).await.expect("plain GET");
                            res.into_body().collect().await.expect("body");
                        }
                        _ => {
                            traced.get(uri.clone()).await.expect("traced GET");
                        }
                    }
                }
                // Round 0 warms up (connects, fills the pool).
                if round > 0 {
                    rounds[i].push(t.elapsed().as_nanos() as f64 / n as f64);
                }
            }
        }
    });
    tickspan::arm();
    let bytes = drain.finish().expect("drain");
    let (min, median) = (|v: &[f64]| v[0], |v: &[f64]| v[v.len() / 2]);
    for v in &mut rounds {
        v.sort_by(f64::total_cmp);
    }
    println!("{n} GETs per round on a kept-alive connection, {ROUNDS} rounds, ns/request (fastest, median):");
    let rows = ["hyper-util client", "traced, recording disarmed", "traced, recording"];
    for (i, name) in rows.iter().enumerate() {
        let (f, m) = (min(&rounds[i]), median(&rounds[i]));
        let (df, dm) = (f - min(&rounds[0]), m - median(&rounds[0]));
        println!("  {name:<28} {f:>7.0} {m:>7.0}   ({df:+.0}, {dm:+.0})");
    }
    eprintln!("({bytes} bytes of trace drained to a sink)");
}
