//! Records a nested call chain on two threads and prints what the rings hold.
use tickspan::{callsite, context::RINGS, Record};

fn checksum(data: &[u8]) -> u32 {
    let _g = tickspan::span!("checksum");
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

fn main() {
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| (0..2).map(handle_request).sum::<u32>())
        .unwrap();
    let total = (0..2).map(handle_request).sum::<u32>() + worker.join().unwrap();
    println!("total = {total}");
    let mut buf = [Record::default(); 64];
    for (ctx, ring) in RINGS.iter().enumerate() {
        let got = ring.read(&mut buf);
        for r in &buf[..got.records] {
            let name = callsite::resolve(r.callsite()).map_or("?", |c| c.name);
            println!("ctx {ctx} {:>10} {:?} {name} a={} b={}", r.ts, r.kind().unwrap(), r.a, r.b);
        }
    }
}
