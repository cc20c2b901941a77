//! Footprint baseline: `footprint.rs` without tickspan. `./footprint.sh` diffs the two.
#![no_std]
#![no_main]

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
    for i in 0..32u32 {
        delay(10_000);
        uart.write_all(&[i as u8]);
    }
    board::exit(TICKS.load(Relaxed) > 0)
}

#[exception]
fn SysTick() {
    TICKS.store(TICKS.load(Relaxed) + 1, Relaxed);
}
