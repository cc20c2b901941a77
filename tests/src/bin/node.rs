//! Two processes of one distributed trace: `node client DIR` records a request that starts a
//! trace and calls `node server DIR TRACEPARENT` (a child process, the context passed as a W3C
//! `traceparent`), which continues it. Each drains to its own file in DIR: client.tspn and
//! server.tspn, each named by `TICKSPAN_NODE` in its header. tests/tests/join_nodes.rs joins
//! them.
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tickspan::trace_context::{self as tc, TraceContext, TraceFlags, TRACEPARENT_LEN};

fn client(dir: &Path) {
    let drain = tickspan::transport::to_file(dir.join("client.tspn")).expect("open trace output");
    {
        let _g = tickspan::span!("request");
        let _cx = tc::enter_new_trace(TraceFlags::new(TraceFlags::SAMPLED));
        std::thread::sleep(Duration::from_millis(1));
        let _g = tickspan::span!("call server");
        let _cx = tc::enter_child().expect("inside a trace");
        let mut buf = [0u8; TRACEPARENT_LEN];
        let header = tc::current().expect("attached").write_traceparent(&mut buf).to_string();
        let exe = std::env::current_exe().expect("own path");
        let status = Command::new(exe)
            .env("TICKSPAN_NODE", "server")
            .arg("server")
            .arg(dir)
            .arg(&header)
            .status()
            .expect("run server");
        assert!(status.success());
    }
    drain.finish().expect("drain");
}

fn server(dir: &Path, traceparent: &str) {
    let drain = tickspan::transport::to_file(dir.join("server.tspn")).expect("open trace output");
    let parent = TraceContext::from_traceparent(traceparent).expect("a valid traceparent");
    {
        let _g = tickspan::span!("handle");
        let _cx = tc::enter_remote(&parent);
        let _w = tickspan::span!("work");
        std::thread::sleep(Duration::from_millis(2));
    }
    drain.finish().expect("drain");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["client", dir] => client(Path::new(dir)),
        ["server", dir, traceparent] => server(Path::new(dir), traceparent),
        _ => panic!("usage: node client DIR | node server DIR TRACEPARENT"),
    }
}
