//! Records a known call chain and drains it to the file named by the first argument, to a TCP
//! listener given as `tcp:HOST:PORT`, or as OTLP/HTTP to a collector given as `otlp:URL` (the
//! in-process push; its counts are printed on stderr).
//!
//! Main thread, three times: `request { decode { • bytes = i }  store }` with `decode` sleeping
//! 1 ms and `store` 2 ms. Then a manual span `job` whose child `job_io` is ended by a thread
//! named `io` after 1 ms. The end-to-end tests check the CLI's views against this.
use std::time::Duration;

fn decode(i: u32) {
    let _g = tickspan::span!("decode");
    tickspan::event!("bytes", i);
    std::thread::sleep(Duration::from_millis(1));
}

fn store() {
    let _g = tickspan::span!("store");
    std::thread::sleep(Duration::from_millis(2));
}

fn request(i: u32) {
    let _g = tickspan::span!("request");
    decode(i);
    store();
}

/// Where the trace goes.
enum Out {
    Drain(tickspan::transport::DrainHandle),
    Otlp(tickspan_cli::relay::InProcess),
}

fn main() {
    let out = std::env::args().nth(1).expect("usage: chain OUT|tcp:HOST:PORT|otlp:URL");
    let out = if let Some(url) = out.strip_prefix("otlp:") {
        let push = tickspan_cli::export::push::PushArgs { endpoint: Some(url.into()), ..Default::default() };
        Out::Otlp(tickspan_cli::relay::in_process(&push).expect("start the OTLP push"))
    } else {
        Out::Drain(
            match out.strip_prefix("tcp:") {
                Some(addr) => tickspan::transport::to_tcp(addr),
                None => tickspan::transport::to_file(&out),
            }
            .expect("open trace output"),
        )
    };
    for i in 0..3 {
        request(i);
    }
    let job = tickspan::span_start!("job");
    let io = tickspan::span_start!("job_io", parent = &job);
    std::thread::Builder::new()
        .name("io".into())
        .spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            io.end();
        })
        .expect("spawn")
        .join()
        .expect("join");
    job.end();
    match out {
        Out::Drain(d) => drop(d.finish().expect("drain")),
        Out::Otlp(p) => {
            let url = p.url().to_string();
            let figures = p.finish().expect("push");
            eprintln!("{}", figures.summary(&url));
        }
    }
}
