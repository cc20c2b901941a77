//! Recording chosen from the host (feature `control`): starts disarmed and records nothing
//! until a control message arrives in tickspan's RTT down channel, e.g.
//! `tickspan attach --gdb … --elf … --trace-for 20ms`. The message is carried out by the next
//! `rtt::drain` call, acknowledged in the stream (`tickspan.control`), and the interval ends
//! when the drain passes its deadline.
//!
//! Thread mode runs rounds of two nested spans and a value, about 4 per millisecond, forever,
//! with an event `drained` after each drain (the drain checks the deadline: a test bounds how
//! late the interval ends from them); SysTick records its handler in ring 1. After each
//! round it drains until the channel took everything (nothing is lost while the host keeps up).
//!
//! The clock is SysTick with its longest period (2^24 ticks, 84 ms), so that the drain reads it
//! well within each period even when a debugger halts the CPU for a poll. (Under QEMU, run it
//! without `-icount`: with it, a halted CPU lets virtual time jump to the next timer deadline,
//! a whole SysTick period, and the drain loses one.)
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
    let _cp = board::init(0x00FF_FFFF);
    // The drain first, so that it dates the first record (the marker) exactly.
    let mut drain = Drain::global();
    tickspan::disarm();
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
        tickspan::event!("drained");
        spin(6000);
    }
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    tickspan::event!("tick");
}
