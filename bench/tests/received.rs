//! Every contender records every span it runs (what the benchmark asserts at scale).

use tickspan_bench::peers::{Fastrace, Puffin, TracingRegistry, TracingRing};
use tickspan_bench::tracy::Tracy;
use tickspan_bench::{run, Floor, Tickspan, Tracer};

#[test]
fn every_contender_receives_every_span() {
    // One test: some collectors are process-global, and the batches must not interleave.
    let tracy = Tracy::new();
    let mut all: Vec<Box<dyn Tracer>> = vec![
        Box::new(tracy),
        Box::new(Floor::new()),
        Box::new(Tickspan::new()),
        Box::new(TracingRing::new()),
        Box::new(Fastrace::new()),
        Box::new(TracingRegistry::new()),
        Box::new(Puffin::new()),
    ];
    for t in all.iter_mut() {
        let (_, flat) = run(&mut **t, false, 3000);
        assert_eq!(flat, 3000);
        assert_eq!(t.received(), flat, "{} flat", t.name());
        let (_, nested) = run(&mut **t, true, 1000);
        assert_eq!(nested, 3000);
        assert_eq!(t.received(), flat + nested, "{} nested", t.name());
    }
}
