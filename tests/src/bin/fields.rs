//! Records spans and events with fields and span status, and drains them to the file named by
//! the first argument. `tests/tests/fields.rs` checks them in dump, tree, stats and exports.

fn handle(id: u32, fail: bool) {
    let _g = tickspan::span!("handle", id = id, ok = !fail, load = 0.25f64);
    tickspan::event!(Warn, "retry", attempt = -2i32, mode = tickspan::intern!("fast"));
    {
        let _q = tickspan::span!("query");
    }
    if fail {
        tickspan::set_error!("timeout");
    }
}

fn main() {
    let out = std::env::args().nth(1).expect("usage: fields OUT");
    let drain = tickspan::transport::to_file(&out).expect("open trace output");
    handle(7, false);
    handle(8, true);
    handle(9, true);
    drain.finish().expect("drain");
}
