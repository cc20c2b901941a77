//! Interrupt latency that the firmware measures itself, for `tickspan stats --contexts`' pend →
//! entry waits to be checked against.
//!
//! Thread mode pends IRQ 0 (GPIO port A's vector, by software) with `tickspan::pend` inside a
//! critical section of `MASKED[i % 3]` loop iterations, so the handler waits for the section
//! to end: three clusters of latency. The firmware reads SysTick (tickspan's clock here) right
//! before the pend and first thing in the handler, keeps the shortest and longest difference
//! and prints them over semihosting with the number of entries.
//!
//! Run by `tests/tests/qemu_isr_latency.rs`.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
use tickspan::drain::Drain;
use tickspan_firmware::{self as board, Irq, Uart0};

/// Pends (and entries) in all.
const PENDS: u32 = 300;
/// Loop iterations the pend stays masked, by round.
const MASKED: [u32; 3] = [0, 40, 400];
/// SysTick period − 1 (the clock's period): the whole 24 bits, 84 ms at 5 ns a tick.
const RELOAD: u32 = 0x00FF_FFFF;
const GPIOA: Irq = Irq(0);

/// SysTick reading right before the pend.
static PENDED_AT: AtomicU32 = AtomicU32::new(0);
static ENTRIES: AtomicU32 = AtomicU32::new(0);
static MIN: AtomicU32 = AtomicU32::new(u32::MAX);
static MAX: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let mut cp = board::init(RELOAD);
    cp.SYST.disable_interrupt();
    // SAFETY: the priority is set before the interrupt is unmasked.
    unsafe {
        cp.NVIC.set_priority(GPIOA, 0x40);
        NVIC::unmask(GPIOA);
    }
    let mut uart = Uart0;
    let mut drain = Drain::global();
    for i in 0..PENDS {
        cortex_m::interrupt::free(|_| {
            let _s = tickspan::span!("masked");
            PENDED_AT.store(board::ticks(), Relaxed);
            tickspan::pend(GPIOA);
            board::spin(MASKED[i as usize % 3]);
        });
        if i % 8 == 0 {
            let _ = drain.write_to(&mut uart);
        }
    }
    NVIC::mask(GPIOA);
    while drain.write_to(&mut uart) != Ok(0) {}
    let n = ENTRIES.load(Relaxed);
    hprintln!("tickspan-firmware: entries={} min={} max={}", n, MIN.load(Relaxed), MAX.load(Relaxed));
    board::exit(n == PENDS)
}

/// Device interrupts (no PAC: cortex-m-rt sends them all here with their number).
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    let now = board::ticks();
    if irqn != 0 {
        board::exit(false);
    }
    let _isr = tickspan::isr!("GPIOA");
    // The SysTick counter is 24 bits wide: the difference modulo 2^24.
    let wait = now.wrapping_sub(PENDED_AT.load(Relaxed)) & 0x00FF_FFFF;
    MIN.store(MIN.load(Relaxed).min(wait), Relaxed);
    MAX.store(MAX.load(Relaxed).max(wait), Relaxed);
    ENTRIES.store(ENTRIES.load(Relaxed) + 1, Relaxed);
}
