//! A std process for `tests/tests/tcp_control.rs`: connects its drain to ADDR, starts
//! disarmed and records a `round` span every millisecond for SECS seconds, so that only what
//! the host arms shows up.
//!
//! ```text
//! tcp_loop ADDR control|plain SECS
//! ```
//! `control`: `tickspan::transport::to_tcp` (reads the host's control messages); `plain`: the
//! same connection handed to `transport::spawn`, which reads none.
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, mode, secs] = &args[..] else {
        eprintln!("usage: tcp_loop ADDR control|plain SECS");
        return ExitCode::FAILURE;
    };
    let Ok(secs) = secs.parse::<u64>() else {
        eprintln!("tcp_loop: SECS must be a number");
        return ExitCode::FAILURE;
    };
    let drain = match mode.as_str() {
        "control" => tickspan::transport::to_tcp(addr.as_str()),
        "plain" => TcpStream::connect(addr.as_str())
            .and_then(|s| tickspan::transport::spawn(s, tickspan::transport::DEFAULT_PERIOD)),
        _ => {
            eprintln!("tcp_loop: mode is control or plain");
            return ExitCode::FAILURE;
        }
    };
    let drain = match drain {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tcp_loop: connecting to {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tickspan::disarm();
    let start = Instant::now();
    let mut round = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        {
            let _g = tickspan::span!("round");
            tickspan::value!("round_no", round);
        }
        round += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
    // The host may have closed the connection already (it ends with the interval).
    if let Err(e) = drain.finish() {
        eprintln!("tcp_loop: the drain ended with: {e}");
    }
    ExitCode::SUCCESS
}
