// The body of `bin/footprint.rs` and `bin/footprint_raw.rs`, which differ only in the drain
// they name `Drain` (included, not a module: each binary is its own crate).

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m::asm::delay;
use cortex_m_rt::{entry, exception};
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
