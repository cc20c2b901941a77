//! One request traced across three nodes, each recording into its own trace file:
//!
//! * `three-node gateway --listen ADDR --backend URL --serial PORT --trace FILE`: an HTTP
//!   server. `GET /work?units=N` takes the caller's `traceparent` (or starts a trace), calls
//!   the backend over HTTP with the context injected, sends a command carrying the 25-byte
//!   binary context to the device on the serial port, and answers with what both said.
//! * `three-node backend --listen ADDR --trace FILE`: `GET /compute` continues the trace from
//!   its `traceparent` and answers with the header it received.
//! * the device: `examples/firmware/src/bin/command.rs` under QEMU, its UART1 on the port.
//!
//! `GET /quit` stops a server (the gateway stops the device too) and flushes its trace. Then
//! `tickspan tree gateway.tspn backend.tspn device.tspn` shows each request as one tree.
//! Each server prints `listening on ADDR` once it accepts requests.

use std::io::{Read, Write};
use std::time::Duration;
use tickspan::trace_context::{self as tc, TraceContext, TraceFlags, COMPACT_LEN, TRACEPARENT_LEN};
use tiny_http::{Header, Request, Response, Server};

type Error = Box<dyn std::error::Error>;

fn arg(args: &[String], name: &str) -> Result<String, Error> {
    let at = args.iter().position(|a| a == name).ok_or_else(|| format!("missing {name}"))?;
    Ok(args.get(at + 1).ok_or_else(|| format!("{name} needs a value"))?.clone())
}

fn header(req: &Request, name: &'static str) -> Option<String> {
    req.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str().to_string())
}

fn traceparent(cx: &TraceContext) -> String {
    let mut buf = [0u8; TRACEPARENT_LEN];
    cx.write_traceparent(&mut buf).to_string()
}

fn json_response(body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let h = Header::from_bytes("Content-Type", "application/json").expect("a valid header");
    Response::from_string(body).with_header(h)
}

/// Starts the drain into `--trace`, the node named `name` in its stream header (unless
/// `TICKSPAN_NODE` names it already).
fn record(args: &[String], name: &str) -> Result<tickspan::transport::DrainHandle, Error> {
    if std::env::var_os("TICKSPAN_NODE").is_none() {
        std::env::set_var("TICKSPAN_NODE", name);
    }
    Ok(tickspan::transport::to_file(arg(args, "--trace")?)?)
}

/// Serves until `GET /quit`; `handle` answers every other request.
fn serve(listen: &str, mut handle: impl FnMut(&Request) -> Result<String, Error>) -> Result<(), Error> {
    let server = Server::http(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    println!("listening on {}", server.server_addr().to_ip().ok_or("not an IP address")?);
    std::io::stdout().flush()?;
    for req in server.incoming_requests() {
        let quit = req.url() == "/quit";
        let answer = match handle(&req) {
            Ok(body) => json_response(body),
            Err(e) => Response::from_string(e.to_string()).with_status_code(500),
        };
        req.respond(answer)?;
        if quit {
            break;
        }
    }
    Ok(())
}

fn backend(args: &[String]) -> Result<(), Error> {
    let drain = record(args, "backend")?;
    serve(&arg(args, "--listen")?, |req| {
        if req.url() == "/quit" {
            return Ok("{}".into());
        }
        let received = header(req, "traceparent").unwrap_or_default();
        let _g = tickspan::span!("compute");
        let _cx = match TraceContext::from_traceparent(&received) {
            Ok(parent) => tc::enter_remote(&parent),
            Err(_) => tc::enter_new_trace(TraceFlags::new(TraceFlags::SAMPLED)),
        };
        let _q = tickspan::span!("query");
        std::thread::sleep(Duration::from_millis(2));
        Ok(format!(r#"{{"traceparent":"{received}"}}"#))
    })?;
    drain.finish()?;
    Ok(())
}

fn gateway(args: &[String]) -> Result<(), Error> {
    let backend = arg(args, "--backend")?;
    let mut device = serialport::new(arg(args, "--serial")?, 115_200).timeout(Duration::from_secs(10)).open()?;
    let drain = record(args, "gateway")?;
    let http = ureq::agent();
    serve(&arg(args, "--listen")?, |req| {
        if req.url() == "/quit" {
            device.write_all(b"Q")?;
            let _ = http.get(format!("{backend}/quit")).call();
            return Ok("{}".into());
        }
        let units = req.url().split("units=").nth(1).and_then(|u| u.parse::<u8>().ok()).unwrap_or(1);
        let _g = tickspan::span!("GET /work");
        let _cx = match header(req, "traceparent").and_then(|h| TraceContext::from_traceparent(&h).ok()) {
            Some(parent) => tc::enter_remote(&parent),
            None => tc::enter_new_trace(TraceFlags::new(TraceFlags::SAMPLED)),
        };
        let trace_id = tc::current().map_or(0, |cx| cx.trace_id());
        let backend_said = {
            let _g = tickspan::span!("call backend");
            let _cx = tc::enter_child();
            let tp = traceparent(&tc::current().ok_or("no context")?);
            http.get(format!("{backend}/compute")).header("traceparent", &tp).call()?.into_body().read_to_string()?
        };
        let device_span = {
            let _g = tickspan::span!("call device");
            let _cx = tc::enter_child();
            let mut cmd = [0u8; 1 + COMPACT_LEN + 1];
            cmd[0] = b'C';
            cmd[1..1 + COMPACT_LEN].copy_from_slice(&tc::current().ok_or("no context")?.to_bytes());
            cmd[1 + COMPACT_LEN] = units;
            device.write_all(&cmd)?;
            let mut reply = [0u8; 9];
            device.read_exact(&mut reply)?;
            if reply[0] != b'K' {
                return Err(format!("the device answered {:?}", reply[0] as char).into());
            }
            u64::from_le_bytes(reply[1..].try_into().expect("8 bytes"))
        };
        Ok(format!(
            r#"{{"trace_id":"{trace_id:032x}","backend":{backend_said},"device_span_id":"{device_span:016x}"}}"#
        ))
    })?;
    drain.finish()?;
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = match args.first().map(String::as_str) {
        Some("gateway") => gateway(&args),
        Some("backend") => backend(&args),
        _ => Err("usage: three-node gateway --listen ADDR --backend URL --serial PORT --trace FILE\n       \
                  three-node backend --listen ADDR --trace FILE"
            .into()),
    };
    if let Err(e) = run {
        eprintln!("three-node: {e}");
        std::process::exit(1);
    }
}
