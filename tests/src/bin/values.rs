//! Records one span `work` holding an event of each value type, edge values included, and
//! drains it to the file named by the first argument. The export tests check that each value
//! keeps its type (OTLP `intValue` / `doubleValue`).

fn main() {
    let out = std::env::args().nth(1).expect("usage: values OUT");
    let drain = tickspan::transport::to_file(&out).expect("open trace output");
    {
        let _g = tickspan::span!("work");
        tickspan::event!("count", 7u32);
        tickspan::event!("delta", -5i32);
        tickspan::event!("ratio", 0.5f64);
        tickspan::event!("whole", 1.0f64);
        tickspan::event!("huge", u64::MAX);
        tickspan::event!("nan", f64::NAN);
        tickspan::event!("ready", true);
    }
    drain.finish().expect("drain");
}
