//! Records formatted events and spans (format strings with arguments, as `defmt` does) and
//! drains them to the file named by the first argument. `tests/tests/format.rs` checks the
//! rendered messages in dump, tree and the exports.

fn request(id: u32, attempts: u8) {
    let s = tickspan::span_start!("request {}", id);
    {
        let _g = tickspan::span!("handle {:#x}", id);
        for attempt in 1..=attempts {
            tickspan::event!(Info, "retry {} of {}", attempt, attempts);
        }
        tickspan::event!(Warn, "slow {}ms on {}", 120u64 * id as u64, tickspan::intern!("disk"));
        tickspan::event!("ratio {:.2} ok={}", 0.125f64, true);
    }
    let io = tickspan::span_start!("io", parent = &s, bytes = 4096u32);
    io.end();
    s.end();
}

fn main() {
    let out = std::env::args().nth(1).expect("usage: format OUT");
    let drain = tickspan::transport::to_file(&out).expect("open trace output");
    request(7, 2);
    request(8, 1);
    drain.finish().expect("drain");
}
