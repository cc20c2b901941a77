//! A minimal traced firmware: one span, two events, an ISR, drained over UART0. Identical to
//! `footprint_base.rs` but for tickspan, so that `./footprint.sh` measures tickspan's part.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m::asm::delay;
use cortex_m_rt::{entry, exception};
use tickspan::drain::Drain;
use tickspan_firmware::{self as board, Uart0};

static TICKS: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    board::full_speed();
    board::start_systick(&mut cp.SYST, 399_999, true);
    let mut uart = Uart0;
    let mut drain = Drain::global();
    for i in 0..32u32 {
        {
            let _work = tickspan::span!("work");
            delay(10_000);
            tickspan::event!("done", i);
        }
        let _ = drain.write_to(&mut uart);
    }
    board::exit(TICKS.load(Relaxed) > 0)
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    TICKS.store(TICKS.load(Relaxed) + 1, Relaxed);
    tickspan::event!("tick");
}
