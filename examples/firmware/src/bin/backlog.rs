//! A drain backlog across four rings while a high-priority timer preempts at arbitrary
//! instructions, on the SysTick clock with a short period: every record carries the
//! firmware's own 64-bit time, so the host can check the time it decodes for each.
//!
//! * SysTick (priority 0xC0) wraps every `RELOAD + 1` ticks = 500 µs; its handler counts the
//!   wrap, records a burst and pends IRQ 0, which nests in it.
//! * IRQ 0 (priority 0x80, software-pended) records a burst.
//! * Timer 0A (IRQ 19, priority 0x00) fires every `TIMER_PERIOD` ticks (a prime) and records one.
//! * Thread mode records a burst, then drains everything over UART0, and again.
//!
//! Draining the bursts takes most of a clock period, so records of one ring wait behind
//! another ring's for long: their age when read no longer fits in one clock period.
//! Each event's value is the firmware's time in ticks ([`now`]); events recorded where that
//! time cannot be read exactly (the timer preempting SysTick's entry) carry none. Build with
//! `TICKSPAN_CONTEXTS=4` (tests/tests/qemu_backlog.rs does); with feature `raw-drain` the raw
//! drain sends the records instead, with smaller thread-mode bursts, each in a span
//! (tests/tests/qemu_raw_drain.rs).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use cortex_m::peripheral::{NVIC, SCB, SYST};
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
#[cfg(not(feature = "raw-drain"))]
use tickspan::drain::Drain;
#[cfg(feature = "raw-drain")]
use tickspan::drain::RawDrain as Drain;
use tickspan_firmware::{self as board, timer0, Irq, Uart0};

/// 500 µs at 200 MHz.
const RELOAD: u32 = 99_999;
const PERIOD: u64 = RELOAD as u64 + 1;
const TIMER_PERIOD: u32 = 7_919;
const ITERATIONS: u32 = 200;
/// The raw drain sends 17 bytes a record through the UART's per-byte loop (about 180
/// instructions a record): thread mode's bursts are smaller so that it still visits each ring
/// within a clock period.
const THREAD_BURST: u32 = if cfg!(feature = "raw-drain") { 100 } else { 250 };
const SYSTICK_BURST: u32 = 40;
const IRQ_BURST: u32 = 20;
const GPIOA: Irq = Irq(0);
const TIMER0A: Irq = Irq(19);

/// SysTick wraps counted by its handler.
static WRAPS: AtomicU32 = AtomicU32::new(0);
/// Set while SysTick's handler runs after counting its wrap.
static COUNTED: AtomicBool = AtomicBool::new(false);
/// Events recorded by each writer (thread, SysTick, IRQ 0, timer), timed or not.
static WRITTEN: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// The firmware's own time in ticks since start: SysTick wraps plus the counter. `None` in
/// the few instructions of SysTick's entry before it counted the wrap.
fn now() -> Option<u64> {
    const ICSR_PENDSTSET: u32 = 1 << 26;
    const SHCSR_SYSTICKACT: u32 = 1 << 11;
    loop {
        // SAFETY: reads of SCB.SHCSR and SCB.ICSR, which have no side effects.
        let shcsr = unsafe { (*SCB::PTR).shcsr.read() };
        if shcsr & SHCSR_SYSTICKACT != 0 && !COUNTED.load(Relaxed) {
            return None;
        }
        let w1 = WRAPS.load(Relaxed);
        // SAFETY: as above.
        let p1 = unsafe { (*SCB::PTR).icsr.read() } & ICSR_PENDSTSET != 0;
        let v = SYST::get_current();
        // SAFETY: as above.
        let p2 = unsafe { (*SCB::PTR).icsr.read() } & ICSR_PENDSTSET != 0;
        let w2 = WRAPS.load(Relaxed);
        if w1 == w2 && p1 == p2 {
            // Pending: the counter wrapped and the handler has not counted it yet.
            return Some((w1 as u64 + p1 as u64) * PERIOD + (RELOAD - v) as u64);
        }
    }
}

/// One event of `writer`, carrying its time where it is known.
#[inline(always)]
fn record(writer: usize) {
    match now() {
        Some(t) => tickspan::event!("t", t),
        None => tickspan::event!("untimed"),
    }
    let c = &WRITTEN[writer];
    c.store(c.load(Relaxed) + 1, Relaxed);
}

#[entry]
fn main() -> ! {
    let mut cp = board::init(RELOAD);
    // SAFETY: priorities are set before the interrupts are unmasked.
    unsafe {
        cp.SCB.set_priority(cortex_m::peripheral::scb::SystemHandler::SysTick, 0xC0);
        cp.NVIC.set_priority(GPIOA, 0x80);
        cp.NVIC.set_priority(TIMER0A, 0x00);
        NVIC::unmask(GPIOA);
        NVIC::unmask(TIMER0A);
    }
    timer0::start(TIMER_PERIOD);
    let mut uart = Uart0;
    let mut drain = Drain::global();
    for _ in 0..ITERATIONS {
        {
            // The raw drain's test also checks the call tree: a span around each burst.
            #[cfg(feature = "raw-drain")]
            let _burst = tickspan::span!("burst");
            for _ in 0..THREAD_BURST {
                record(0);
            }
        }
        let _ = drain.write_to(&mut uart);
    }
    timer0::stop();
    cp.SYST.disable_interrupt();
    NVIC::mask(TIMER0A);
    NVIC::mask(GPIOA);
    while drain.write_to(&mut uart) != Ok(0) {}
    let w = |i: usize| WRITTEN[i].load(Relaxed);
    hprintln!(
        "tickspan-firmware: written={} thread={} systick={} irq={} timer={} wraps={}",
        w(0) + w(1) + w(2) + w(3),
        w(0),
        w(1),
        w(2),
        w(3),
        WRAPS.load(Relaxed)
    );
    board::exit(w(3) > 0)
}

#[exception]
fn SysTick() {
    WRAPS.store(WRAPS.load(Relaxed) + 1, Relaxed);
    COUNTED.store(true, Relaxed);
    for _ in 0..SYSTICK_BURST {
        record(1);
    }
    NVIC::pend(GPIOA);
    COUNTED.store(false, Relaxed);
}

/// Device interrupts (no PAC: cortex-m-rt sends them all here with their number).
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    match irqn {
        0 => (0..IRQ_BURST).for_each(|_| record(2)),
        19 => {
            timer0::clear();
            record(3);
        }
        _ => board::exit(false),
    }
}
