//! Flight recorder: records into overwrite-mode rings (feature `flight-recorder`, nothing is
//! drained), then faults. The rings then hold the last moments before the crash, which
//! `tickspan postmortem --elf … --gdb …` (or `--dump`) reads from the halted target.
//!
//! Thread mode runs `ROUNDS` rounds of nested spans with a value each; SysTick fires during
//! them and records its own spans in ring 1. The last round enters `crash` and executes an
//! undefined instruction inside it: the HardFault handler prints `FAULT <records written>` over
//! UART0 (so a test knows how many records ring 0 got and when to look) and spins.
//!
//! Run: `cargo run --release --features flight-recorder --bin postmortem` (under QEMU with
//! `-gdb tcp::3333` added to attach).
#![no_std]
#![no_main]

use core::fmt::Write as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use tickspan::context::RINGS;
use tickspan_firmware::{self as board, spin};

/// Rounds of thread-mode work: each writes 6 records, more than a ring holds.
const ROUNDS: u32 = 100;

#[entry]
fn main() -> ! {
    // A SysTick interrupt every 20 000 ticks (100 µs at 200 MHz).
    board::init(19_999);
    for round in 0..ROUNDS {
        let _outer = tickspan::span!("round");
        {
            let _inner = tickspan::span!("work");
            tickspan::value!("round_no", round);
            spin(200);
        }
        tickspan::event!("round_done");
    }
    let _crash = tickspan::span!("crash");
    tickspan::event!("about_to_fault");
    cortex_m::asm::udf()
}


#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    tickspan::event!("tick");
}


#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    // Stop SysTick so that ring 1 stays as the fault left it.
    // SAFETY: SYST CSR is the architecturally defined SysTick control register.
    unsafe { (0xE000_E010 as *mut u32).write_volatile(0) };
    let _ = writeln!(
        board::Uart0,
        "FAULT {} {}",
        RINGS[0].written(),
        RINGS[1].written()
    );
    loop {
        cortex_m::asm::nop();
    }
}
