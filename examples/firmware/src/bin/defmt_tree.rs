//! defmt log lines in tickspan's span tree (features `rtt` and `defmt`).
//!
//! defmt stamps its frames with tickspan's clock (`defmt::timestamp!` below), so the host can
//! put each line into the span that was open when it was logged: `tickspan attach --gdb …
//! --elf …` reads defmt-rtt's channel beside tickspan's and `tree` shows
//! `▸ INFO parsed 9 bytes (+…)` inside `parse`, and `▸ INFO tick 1` inside `ISR SysTick`.
//!
//! The host extends the ticks to 64 bits from one line to the next, so consecutive lines must
//! be less than one clock period apart: SysTick runs with its longest period (2^24 ticks,
//! 84 ms at 200 MHz) and thread mode logs right before each interrupt it waits for.
//!
//! Thread mode handles `MESSAGES` messages (`handle` → `parse` with a log line, `send`), then
//! waits in `idle` for two SysTick interrupts (each logs inside its handler), drains
//! everything and calls `tickspan_rtt_done`.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use cortex_m_rt::{entry, exception};
use defmt_rtt as _;
use tickspan::drain::Drain;
use tickspan::transport::rtt;
use tickspan_firmware::{self as board, spin};

// The same ticks tickspan's records carry (their low 32 bits).
defmt::timestamp!("{=u32}", tickspan::clock::now32());

/// Messages handled in thread mode.
const MESSAGES: u32 = 4;

/// SysTick interrupts so far.
static TICKS: AtomicU32 = AtomicU32::new(0);

#[entry]
fn main() -> ! {
    let mut cp = board::init(0x00FF_FFFF);
    defmt::info!("defmt_tree: {=u32} messages", MESSAGES);
    let mut drain = Drain::global();
    for msg in 0..MESSAGES {
        {
            let _handle = tickspan::span!("handle");
            let n = parse(msg);
            let _send = tickspan::span!("send");
            spin(20 * n);
        }
        rtt::drain(&mut drain);
    }
    {
        let _idle = tickspan::span!("idle");
        while TICKS.load(Ordering::Relaxed) < 2 {
            // Drained and logged with interrupts off until `wfi`: the next SysTick, its line
            // and the drain after it come less than one period after this drain and this line
            // (the drain's contract for a wrapping clock; a drain only after `wfi` would come
            // a whole period after the one before it).
            cortex_m::interrupt::free(|_| {
                rtt::drain(&mut drain);
                defmt::info!("waiting for tick {=u32}", TICKS.load(Ordering::Relaxed) + 1);
                cortex_m::asm::wfi();
            });
            rtt::drain(&mut drain);
        }
    }
    board::rtt::finish(&mut cp.SYST, &mut drain)
}

/// "Parses" message `msg` and logs its length from inside the `parse` span.
#[inline(never)]
fn parse(msg: u32) -> u32 {
    let _parse = tickspan::span!("parse");
    spin(100);
    let n = 9 + msg;
    defmt::info!("parsed {=u32} bytes", n);
    spin(50);
    n
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    let n = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    defmt::info!("tick {=u32}", n);
}
