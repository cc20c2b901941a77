//! Recording chosen from the host (feature `control`): starts disarmed and records nothing
//! until a control message arrives in tickspan's RTT down channel, e.g.
//! `tickspan attach --gdb … --elf … --trace-for 20ms`. The message is carried out by the next
//! `rtt::drain` call, acknowledged in the stream (`tickspan.control`), and the interval ends
//! when the drain passes its deadline.
//!
//! Thread mode runs rounds of two nested spans and a value, about 4 per millisecond, forever;
//! timer 0 interrupts every `TIMER_PERIOD` ticks (500 µs) and records its handler in ring 1.
//! After each round it drains until the channel took everything (nothing is lost while the
//! host keeps up, so a test can count exactly).
//!
//! The clock is SysTick with its longest period (2^24 ticks, 84 ms), so that the drain reads
//! it well within each period. Under QEMU with `-icount` a CPU halted by the debugger (each
//! host poll through the gdbstub) lets virtual time jump to the next timer deadline: timer 0
//! keeps that jump under 500 µs, which bounds how late the drain sees a deadline.
//!
//! Run: `cargo build --release --features control --bin control`, then QEMU with `-gdb tcp::3333`.
#![no_std]
#![no_main]

use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception};
use tickspan::drain::Drain;
use tickspan::transport::rtt;
use tickspan_firmware::{self as board, spin, timer0, Irq};

/// Timer 0's period in system clock ticks: 500 µs at 200 MHz.
const TIMER_PERIOD: u32 = 100_000;
const TIMER0A: Irq = Irq(19);

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    board::full_speed();
    board::start_systick(&mut cp.SYST, 0x00FF_FFFF, false);
    // The drain first, so that it dates the first record (the marker) exactly.
    let mut drain = Drain::global();
    tickspan::disarm();
    // SAFETY: the handler below only records and clears the timer.
    unsafe { NVIC::unmask(TIMER0A) };
    timer0::start(TIMER_PERIOD);
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
        spin(6000);
    }
}

/// Device interrupts (no PAC: cortex-m-rt sends them all here with their number).
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == 19 {
        timer0::clear();
        let _isr = tickspan::isr!("timer0");
        tickspan::event!("tick");
    }
}
