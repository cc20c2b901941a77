//! The post-mortem trigger: records into overwrite-mode rings (feature `flight-recorder`,
//! nothing is drained) until a fault-like condition, a reading over its limit in round
//! `FAULTY`, where it calls `tickspan::freeze()`. The rounds go on and SysTick keeps
//! interrupting, but nothing records any more: the rings keep the records that led to the
//! freeze, for `tickspan postmortem --elf … --gdb …`, however late the debugger comes.
//!
//! After the last round it prints `FROZEN <ring 0 written> <ring 1 written>` over UART0 (what a
//! test compares with the rings) and spins, SysTick still running.
//!
//! Run: `cargo run --release --features flight-recorder --bin freeze` (under QEMU with
//! `-gdb tcp::3333` added to attach).
#![no_std]
#![no_main]

use core::fmt::Write as _;
use cortex_m_rt::{entry, exception};
use tickspan::context::RINGS;
use tickspan_firmware::{self as board, spin};

/// Rounds of thread-mode work, 5 records each (more than a ring holds before `FAULTY`).
const ROUNDS: u32 = 100;
/// The round whose reading is over the limit.
const FAULTY: u32 = 70;
/// The limit.
const LIMIT: u32 = 500;

#[entry]
fn main() -> ! {
    // A SysTick interrupt every 20 000 ticks (100 µs at 200 MHz).
    board::init(19_999);
    for round in 0..ROUNDS {
        let _outer = tickspan::span!("round");
        let reading = if round == FAULTY { 900 } else { round };
        tickspan::value!("reading", reading);
        spin(200);
        if reading > LIMIT {
            let _g = tickspan::span!("over_limit");
            tickspan::event!("freezing");
            tickspan::freeze();
        }
    }
    let _ = writeln!(board::Uart0, "FROZEN {} {}", RINGS[0].written(), RINGS[1].written());
    loop {
        spin(1000);
    }
}

#[exception]
fn SysTick() {
    // Still called after the freeze: it must not record then.
    let _isr = tickspan::isr!("SysTick");
    tickspan::event!("sample");
}
