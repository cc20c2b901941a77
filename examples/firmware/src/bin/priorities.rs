//! Handlers of three interrupt priorities preempting each other and thread mode, all
//! recording, with tickspan's default configuration (no ring map): tickspan gives each
//! priority its own ring while rings last and counts the records of the others as lost.
//!
//! * Thread mode records `THREAD_EVENTS` events and drains over UART0 after each few.
//! * SysTick (priority 0x80) records an event per interrupt and pends IRQ 0.
//! * IRQ 0 (GPIO port A's vector, pended by software; priority 0x40) records an event.
//! * Timer 0A (IRQ 19, priority 0x00, the highest) fires every `TIMER_PERIOD` ticks, a period
//!   prime to everything else, so it lands at arbitrary instructions of the others' records.
//!
//! Every event's value is `writer << 24 | sequence`; the firmware counts what each writer
//! recorded and prints it over semihosting, so the host can check that no record is torn or
//! mixed, that no ring jams, and that decoded + lost = written for every writer.
//!
//! Run by `tests/tests/qemu_priorities.rs`, in both ring modes.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
use tickspan::drain::Drain;
use tickspan_firmware::{self as board, timer0, Irq, Uart0};

const THREAD_EVENTS: u32 = 6000;
/// SysTick period − 1 (also the clock's period): 100 µs.
const RELOAD: u32 = 19_999;
/// Timer 0A period in 5 ns ticks (a prime).
const TIMER_PERIOD: u32 = 7_919;

/// Writers: thread mode, SysTick, IRQ 0, timer 0A.
const WRITERS: usize = 4;
static WRITTEN: [AtomicU32; WRITERS] = [const { AtomicU32::new(0) }; WRITERS];

/// One event of `writer`, its value the writer's next sequence number. Each writer runs at
/// one priority, so its counter has a single writer.
#[inline(always)]
fn record(writer: u32) {
    let c = &WRITTEN[writer as usize];
    let seq = c.load(Relaxed);
    tickspan::event!("w", writer << 24 | seq);
    c.store(seq + 1, Relaxed);
}

const GPIOA: Irq = Irq(0);
const TIMER0A: Irq = Irq(19);

#[entry]
fn main() -> ! {
    let mut cp = board::init(RELOAD);
    // SAFETY: priorities are set before the interrupts are unmasked; SHPR3's SysTick byte.
    unsafe {
        cp.SCB.set_priority(cortex_m::peripheral::scb::SystemHandler::SysTick, 0x80);
        cp.NVIC.set_priority(GPIOA, 0x40);
        cp.NVIC.set_priority(TIMER0A, 0x00);
        NVIC::unmask(GPIOA);
        NVIC::unmask(TIMER0A);
    }
    timer0::start(TIMER_PERIOD);

    let mut uart = Uart0;
    let mut drain = Drain::global();
    for i in 0..THREAD_EVENTS {
        record(0);
        if i % 8 == 0 {
            let _ = drain.write_to(&mut uart);
        }
    }
    timer0::stop();
    cp.SYST.disable_interrupt();
    NVIC::mask(TIMER0A);
    NVIC::mask(GPIOA);
    while drain.write_to(&mut uart) != Ok(0) {}

    let w = |i: usize| WRITTEN[i].load(Relaxed);
    hprintln!("tickspan-firmware: w0={} w1={} w2={} w3={}", w(0), w(1), w(2), w(3));
    board::exit(w(1) > 0 && w(2) > 0 && w(3) > 0)
}

#[exception]
fn SysTick() {
    record(1);
    NVIC::pend(GPIOA);
}

/// Device interrupts (no PAC: cortex-m-rt sends them all here with their number).
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    match irqn {
        0 => record(2),
        19 => {
            timer0::clear();
            record(3);
        }
        _ => board::exit(false),
    }
}
