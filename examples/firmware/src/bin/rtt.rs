//! Drains over RTT (feature `rtt`): tickspan's own control block `_TICKSPAN_RTT`, read by
//! `tickspan attach --elf … --gdb …` (QEMU's gdbstub, OpenOCD, a Black Magic Probe) or
//! `tickspan attach --chip … --elf …` (a probe-rs debug probe).
//!
//! Thread mode runs 200 rounds of two nested spans and a value (5 records each,
//! `tickspan_firmware::rtt::rounds`) and drains after each round; SysTick records its handler
//! in ring 1. With no host reading, the channel fills, the rings fill and count what they
//! refuse, and the firmware never waits. At the end it stops SysTick, waits until the channel
//! took everything, and calls `tickspan_rtt_done` (a breakpoint target: `tickspan attach
//! --until tickspan_rtt_done`), then idles.
//!
//! Run: `cargo build --release --features rtt --bin rtt`, then QEMU with `-gdb tcp::3333`.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use tickspan::drain::Drain;
use tickspan_firmware::{self as board, rtt};

#[entry]
fn main() -> ! {
    // A SysTick interrupt every 20 000 ticks (100 µs at 200 MHz): also the clock's period.
    let mut cp = board::init(19_999);
    let mut drain = Drain::global();
    rtt::rounds(&mut drain, |_| {});
    rtt::finish(&mut cp.SYST, &mut drain)
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    tickspan::event!("tick");
}
