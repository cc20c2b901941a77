//! What the RTT examples share (feature `rtt`): their workload and how they end.

use cortex_m::peripheral::SYST;
use tickspan::drain::Drain;
use tickspan::transport::rtt;

use crate::{spin, tickspan_rtt_done};

/// Rounds of thread-mode work in [`rounds`] (5 records each: what the hosts' tests count).
pub const ROUNDS: u32 = 200;

/// Runs [`ROUNDS`] rounds of two nested spans (`round` → `work`) and a value (`round_no`),
/// calling `inside(round)` within them, and drains into the RTT channel after each round.
/// With no host reading, the channel fills, the rings fill and count what they refuse, and the
/// firmware never waits.
pub fn rounds(drain: &mut Drain, mut inside: impl FnMut(u32)) {
    for round in 0..ROUNDS {
        {
            let _outer = tickspan::span!("round");
            let _inner = tickspan::span!("work");
            tickspan::value!("round_no", round);
            inside(round);
            spin(300);
        }
        rtt::drain(drain);
    }
}

/// Stops SysTick's interrupt (no more records), waits until the RTT channel took everything,
/// calls [`tickspan_rtt_done`] (the hosts' breakpoint target), then idles.
pub fn finish(syst: &mut SYST, drain: &mut Drain) -> ! {
    syst.disable_interrupt();
    while !rtt::drain(drain).complete {}
    tickspan_rtt_done();
    loop {
        cortex_m::asm::wfi();
    }
}
