//! Recording chosen from the host (feature `control`): starts disarmed and records nothing
//! until a control message arrives in tickspan's RTT down channel, e.g.
//! `tickspan attach --gdb … --elf … --trace-for 2ms`. The message is carried out by the next
//! `rtt::drain` call, acknowledged in the stream (`tickspan.control`), and the interval ends
//! when the drain passes its deadline.
//!
//! Thread mode runs rounds of two nested spans and a value forever; SysTick records its
//! handler in ring 1. After each round it drains until the channel took everything (a host
//! that does not read holds it there: nothing is lost, so a test can count exactly).
//!
//! Run: `cargo build --release --features control --bin control`, then QEMU with `-gdb tcp::3333`.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use tickspan::drain::Drain;
use tickspan::transport::rtt;
use tickspan_firmware::{self as board, spin};

#[entry]
fn main() -> ! {
    tickspan::disarm();
    // A SysTick interrupt every 20 000 ticks (100 µs at 200 MHz): also the clock's period.
    let _cp = board::init(19_999);
    let mut drain = Drain::global();
    let mut round = 0u32;
    loop {
        {
            let _outer = tickspan::span!("round");
            let _inner = tickspan::span!("work");
            tickspan::value!("round_no", round);
            spin(300);
        }
        round = round.wrapping_add(1);
        while !rtt::drain(&mut drain).complete {}
    }
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    tickspan::event!("tick");
}
