//! Records a nested call chain on two threads and drains it as a tickspan stream.
//!
//! ```text
//! tickspan-std-demo [OUT]        OUT: a file (default trace.tspn), `-` for stdout,
//!                                or tcp:HOST:PORT to connect and stream
//! ```
//! Then `tickspan tree trace.tspn`, or in one go:
//! `cargo run -p tickspan-std-demo -- - | cargo run -p tickspan-cli -- tree -`.
use std::process::ExitCode;

/// `#[instrument]` (feature `macros`) is `span!` named after the function.
#[tickspan::instrument]
fn checksum(data: &[u8]) -> u32 {
    data.iter().map(|&b| b as u32).sum()
}

fn parse(input: &[u8]) -> u32 {
    let _g = tickspan::span!("parse");
    tickspan::event!("rx_bytes", input.len());
    checksum(input)
}

fn handle_request(n: u32) -> u32 {
    let _g = tickspan::span!("handle_request");
    let sum = parse(&[n as u8; 64]);
    tickspan::value!("sum", sum);
    sum
}

fn main() -> ExitCode {
    let out = std::env::args().nth(1).unwrap_or_else(|| "trace.tspn".into());
    let drain = match out.as_str() {
        "-" => tickspan::transport::to_stdout(),
        addr if addr.starts_with("tcp:") => tickspan::transport::to_tcp(&addr[4..]),
        path => tickspan::transport::to_file(path),
    };
    let drain = match drain {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tickspan-std-demo: cannot open {out}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| (0..2).map(handle_request).sum::<u32>())
        .expect("spawn worker thread");
    let total = (0..2).map(handle_request).sum::<u32>() + worker.join().expect("worker thread");
    // Drains what is left (the main thread's last spans included) and flushes.
    match drain.finish() {
        Ok(bytes) => {
            eprintln!("total = {total}; {bytes} bytes of trace to {out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tickspan-std-demo: writing {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
