//! tickspan in firmware, the way an application uses it, on QEMU's `lm3s6965evb` (Cortex-M3).
//!
//! * Thread mode runs `ITERATIONS` frames of nested spans (`frame` › `parse`, `frame` ›
//!   `process` › `filter`) with an event and a value, and drains over UART0 after each frame.
//! * SysTick interrupts every `RELOAD + 1` ticks; its handler records itself (`isr!`), a span
//!   and an event into ring 1 while thread-level spans are open in ring 0.
//! * Once, a burst of `BURST` events overflows ring 0 on purpose; the firmware counts what the
//!   ring refused and records the count as the value `fw_records_lost`, so the host can check
//!   its loss accounting against the firmware's own.
//! * At the end it prints a summary over semihosting and exits QEMU.
//!
//! Clock: SysTick (feature `clock-systick`). QEMU does not model the DWT cycle counter
//! (CYCCNT reads 0), so the default Cortex-M3 clock would stamp every record 0. SysTick runs
//! from the 200 MHz system clock (`SYSDIV = 0`, 5 ns per tick) and is also the interrupt: its
//! period (2 ms) is the clock's wrap, which the drain writes into the stream header.
//!
//! Run: `./run.sh` (writes `target/demo.tsp`), then `tickspan tree target/demo.tsp`.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
use cortex_m::asm::delay;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::hprintln;
use tickspan::context::RINGS;
use tickspan::drain::Drain;
use tickspan_firmware::{self as board, Uart0};

/// Frames of thread-mode work.
const ITERATIONS: u32 = 48;
/// The frame before which the burst runs.
const BURST_AT: u32 = ITERATIONS / 2;
/// Events in the burst: more than a ring holds, so some are refused and counted.
const BURST: u32 = 400;
/// SysTick period − 1, in 5 ns ticks: an interrupt (and a clock wrap) every 2 ms, i.e. every
/// 250 000 instructions under `-icount shift=3`. A frame is shorter, so each record is drained
/// within one clock period, which is what lets the drain date it exactly.
const RELOAD: u32 = 399_999;
/// Cycles of work in the spans (`cortex_m::asm::delay`).
const PARSE_WORK: u32 = 30_000;
const FILTER_WORK: u32 = 50_000;
const ISR_WORK: u32 = 6_000;

/// SysTick handler runs, counted by the handler itself.
static TICKS: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let mut cp = board::init(RELOAD);

    let mut uart = Uart0;
    let mut drain = Drain::global();
    let mut lost = 0;
    for i in 0..ITERATIONS {
        {
            let _frame = tickspan::span!("frame");
            {
                let _parse = tickspan::span!("parse");
                delay(PARSE_WORK);
                tickspan::event!("parsed", i);
            }
            {
                let _process = tickspan::span!("process");
                let _filter = tickspan::span!("filter");
                delay(FILTER_WORK);
                tickspan::value!("queue_depth", i % 7);
            }
        }
        if i == BURST_AT {
            lost += burst(&mut drain, &mut uart);
        }
        // Infallible: UART0 never fails.
        let _ = drain.write_to(&mut uart);
    }

    cp.SYST.disable_interrupt();
    tickspan::value!("fw_records_lost", lost);
    let _ = drain.write_to(&mut uart);
    let ticks = TICKS.load(Relaxed);
    hprintln!(
        "tickspan-firmware: iterations={} isr_runs={} records_lost={} ring0_written={} ring1_written={}",
        ITERATIONS,
        ticks,
        lost,
        RINGS[0].written(),
        RINGS[1].written()
    );
    board::exit(ticks > 0 && lost > 0)
}

/// Records `BURST` events into an empty ring 0, more than it holds; returns how many it refused.
fn burst(drain: &mut Drain<'static>, uart: &mut Uart0) -> u32 {
    // Empty the rings first, so the count does not depend on what the frame left in them.
    let _ = drain.write_to(uart);
    let before = RINGS[0].written();
    for n in 0..BURST {
        tickspan::event!("burst", n);
    }
    // Only thread mode writes ring 0 (SysTick writes ring 1), so the difference is exact.
    BURST - RINGS[0].written().wrapping_sub(before)
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    let n = TICKS.load(Relaxed);
    TICKS.store(n + 1, Relaxed);
    let _work = tickspan::span!("tick_work");
    delay(ISR_WORK);
    tickspan::event!("tick", n);
}
