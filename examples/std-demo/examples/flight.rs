//! The flight recorder (`tickspan::FlightRecorder`, after Go's `runtime/trace.FlightRecorder`):
//! two worker threads serve requests, nearly all fast; the recorder keeps the last 2 s in
//! memory, and the first request slower than 50 ms writes that window to a file, while the
//! workers go on serving.
//!
//! ```text
//! cargo run -p tickspan-std-demo --example flight -- [OUT]     OUT: default flight.tspn
//! tickspan tree flight.tspn --name request --min-duration 50ms
//! ```
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tickspan::{FlightRecorder, FlightRecorderConfig};

/// A request: slow when it misses the cache.
fn serve(id: u64, slow: bool) {
    let _g = tickspan::span!("request");
    tickspan::event!("request_id", id);
    {
        let _p = tickspan::span!("parse");
        std::hint::black_box(id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }
    if slow {
        let _q = tickspan::span!("db_query");
        std::thread::sleep(Duration::from_millis(80));
    } else {
        let _c = tickspan::span!("cache_hit");
    }
}

fn main() -> ExitCode {
    let out = std::env::args().nth(1).unwrap_or_else(|| "flight.tspn".into());
    let fr = FlightRecorder::new(FlightRecorderConfig { min_age: Duration::from_secs(2), max_bytes: 8 << 20 });
    if let Err(e) = fr.start() {
        eprintln!("flight: cannot start the flight recorder: {e}");
        return ExitCode::FAILURE;
    }
    let (started, done) = (Instant::now(), AtomicBool::new(false));
    let result = std::thread::scope(|s| {
        let (fr, out, done) = (&fr, &out, &done);
        let workers = (0..2u64)
            .map(|w| {
                let worker = std::thread::Builder::new().name(format!("worker-{w}"));
                worker.spawn_scoped(s, move || {
                    let mut id = w;
                    while !done.load(Ordering::Relaxed) {
                        // One cache miss, on worker 1, a second in; a snapshot 80 ms later.
                        let slow = w == 1 && id / 2 == 20_000;
                        let t = Instant::now();
                        serve(id, slow);
                        if t.elapsed() > Duration::from_millis(50) {
                            let written = std::fs::File::create(out).and_then(|mut f| fr.write_to(&mut f));
                            done.store(true, Ordering::Relaxed);
                            return Some((id, t.elapsed(), written));
                        }
                        id += 2;
                        if id % 64 < 2 {
                            // At most ~10 k requests a second per worker.
                            std::thread::sleep(Duration::from_millis(3));
                        }
                    }
                    None
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .expect("spawn worker threads");
        workers.into_iter().find_map(|w| w.join().expect("worker thread"))
    });
    let window = fr.window();
    if let Err(e) = fr.stop() {
        eprintln!("flight: stopping the flight recorder: {e}");
        return ExitCode::FAILURE;
    }
    match result {
        Some((id, took, Ok(bytes))) => {
            eprintln!(
                "request {id} took {took:.1?} ({:.1?} after start): wrote the last {:.1?} ({bytes} bytes) to {out}",
                started.elapsed(),
                window.and_then(|w| w.oldest).unwrap_or_default()
            );
            eprintln!("then: tickspan tree {out} --name request --min-duration 50ms");
            ExitCode::SUCCESS
        }
        Some((_, _, Err(e))) => {
            eprintln!("flight: writing {out}: {e}");
            ExitCode::FAILURE
        }
        None => {
            eprintln!("flight: no slow request");
            ExitCode::FAILURE
        }
    }
}
