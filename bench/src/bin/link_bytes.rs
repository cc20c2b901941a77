//! Bytes that cross-node links add to a trace file: the same requests recorded twice through
//! the std drain (`transport::to_file`), once as plain spans and once linked as a service
//! linking them would (`link_remote` on each request's span, a fresh caller's context each
//! time; `link_child` on its outgoing call).
//!
//! `cargo run --release -p tickspan-bench --bin link_bytes -- DIR [REQUESTS]` writes
//! `DIR/plain.tspn` and `DIR/linked.tspn` and prints their sizes; `tickspan stats` on them
//! shows that every span arrived (no losses).

use std::time::Duration;
use tickspan::trace_context::{self as tc, TraceContext, TraceFlags};

/// Requests between pauses: 256 × 10 records stays under a 4096-slot ring, and the pause is
/// longer than the drain's period, so nothing is lost to a full ring.
const BURST: u64 = 256;

/// Records `requests` requests of two spans into `path`; with `linked`, 6 link records each.
fn record(path: &std::path::Path, requests: u64, linked: bool) -> std::io::Result<u64> {
    let drain = tickspan::transport::to_file(path)?;
    for i in 0..requests {
        {
            let _request = tickspan::span!("request");
            let cx = linked.then(|| {
                let caller =
                    TraceContext::new(tc::new_trace_id(), tc::new_span_id(), TraceFlags::new(1));
                tc::link_remote(&caller.expect("the generator's ids are never 0"))
            });
            let _call = tickspan::span!("call");
            if let Some(cx) = &cx {
                tc::link_child(cx);
            }
        }
        if i % BURST == BURST - 1 {
            std::thread::sleep(2 * tickspan::transport::DEFAULT_PERIOD + Duration::from_millis(1));
        }
    }
    drain.finish()
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(std::path::PathBuf::from) else {
        eprintln!("usage: link_bytes DIR [REQUESTS]");
        std::process::exit(2);
    };
    let requests = match args.next().map(|n| n.parse::<u64>()) {
        None => 10_000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("link_bytes: REQUESTS must be a positive number");
            std::process::exit(2);
        }
    };
    let plain = record(&dir.join("plain.tspn"), requests, false)?;
    let linked = record(&dir.join("linked.tspn"), requests, true)?;
    let per_request = (linked as f64 - plain as f64) / requests as f64;
    println!("{requests} requests (2 spans each): plain {plain} B, linked {linked} B");
    println!(
        "links: {per_request:.1} B per request (link_remote + link_child, 6 link records), {:.2} B per link record",
        per_request / 6.0
    );
    Ok(())
}
