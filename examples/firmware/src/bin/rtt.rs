//! Drains over RTT (feature `rtt`): tickspan's own control block `_TICKSPAN_RTT`, read by
//! `tickspan attach --elf … --gdb …` (QEMU's gdbstub, OpenOCD, a Black Magic Probe) or
//! `tickspan attach --chip … --elf …` (a probe-rs debug probe).
//!
//! Thread mode runs `ROUNDS` rounds of two nested spans and a value (5 records each) and drains
//! after each round; SysTick records its handler in ring 1. With no host reading, the channel
//! fills, the rings fill and count what they refuse, and the firmware never waits. At the end
//! it stops SysTick, waits until the channel took everything, and calls `tickspan_rtt_done`
//! (a breakpoint target: `tickspan attach --until tickspan_rtt_done`), then idles.
//!
//! Run: `cargo build --release --features rtt --bin rtt`, then QEMU with `-gdb tcp::3333`.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use tickspan::drain::Drain;
use tickspan::transport::rtt;
use tickspan_firmware::{self as board, spin, tickspan_rtt_done};

/// Rounds of thread-mode work (5 records each).
const ROUNDS: u32 = 200;

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    board::full_speed();
    // A SysTick interrupt every 20 000 ticks (100 µs at 200 MHz): also the clock's period.
    board::start_systick(&mut cp.SYST, 19_999, true);
    let mut drain = Drain::global();
    for round in 0..ROUNDS {
        {
            let _outer = tickspan::span!("round");
            let _inner = tickspan::span!("work");
            tickspan::value!("round_no", round);
            spin(300);
        }
        rtt::drain(&mut drain);
    }
    cp.SYST.disable_interrupt();
    while !rtt::drain(&mut drain).complete {}
    tickspan_rtt_done();
    loop {
        cortex_m::asm::wfi();
    }
}



#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    tickspan::event!("tick");
}
