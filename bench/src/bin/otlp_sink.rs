//! A fast OTLP/HTTP receiver for `bench/relay.sh`: answers every `POST /v1/traces` with 200 and
//! an empty `ExportTraceServiceResponse` (zero bytes of protobuf, `{}` in JSON) after an optional
//! delay, so that the relay, not the receiver, is what is measured. It counts requests and body
//! bytes (as sent, i.e. compressed); `GET /stats` answers `requests bytes`.
//!
//! Usage: `otlp_sink [DELAY_MS]`; prints the port it listens on (loopback) on stdout.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let delay = Duration::from_millis(std::env::args().nth(1).map_or(0, |d| d.parse().expect("DELAY_MS")));
    let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
    println!("{}", server.server_addr().to_ip().expect("an IP address").port());
    let (requests, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    // A few threads, as a collector answers several connections at once.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (server, requests, bytes) = (server.clone(), requests.clone(), bytes.clone());
            std::thread::spawn(move || {
                for mut rq in server.incoming_requests() {
                    if rq.url() == "/stats" {
                        let s = format!("{} {}\n", requests.load(Relaxed), bytes.load(Relaxed));
                        let _ = rq.respond(tiny_http::Response::from_string(s));
                        continue;
                    }
                    let n = std::io::copy(rq.as_reader(), &mut std::io::sink()).unwrap_or(0);
                    std::thread::sleep(delay);
                    requests.fetch_add(1, Relaxed);
                    bytes.fetch_add(n, Relaxed);
                    let json = rq.headers().iter().any(|h| h.field.equiv("Content-Type") && h.value.as_str().contains("json"));
                    let (body, kind) = if json { ("{}", "application/json") } else { ("", "application/x-protobuf") };
                    let header = tiny_http::Header::from_bytes("Content-Type", kind).expect("a header");
                    let _ = rq.respond(tiny_http::Response::from_string(body).with_header(header));
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}
