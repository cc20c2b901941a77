//! tickspan over RTT and defmt over defmt-rtt in one firmware (features `rtt` and `defmt`).
//!
//! defmt-rtt owns `_SEGGER_RTT` (ID "SEGGER RTT", defmt on up channel 0, as defmt tools
//! expect); tickspan owns `_TICKSPAN_RTT` (ID "TICKSPAN RTT"). Tools that scan RAM for
//! SEGGER's ID find exactly one block, defmt's; `tickspan attach --elf` finds tickspan's by
//! its symbol. Both are non-blocking, so the firmware runs the same with or without a host.
//!
//! Same workload as the `rtt` example (200 rounds, SysTick), plus a defmt line every 50 rounds (`println!`: no `DEFMT_LOG` filter needed);
//! ends at `tickspan_rtt_done` once the tickspan channel took everything.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use defmt_rtt as _;
use tickspan::drain::Drain;
use tickspan::transport::rtt;
use tickspan_firmware::{self as board, spin, tickspan_rtt_done};

/// Rounds of thread-mode work (5 records each).
const ROUNDS: u32 = 200;

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    board::full_speed();
    board::start_systick(&mut cp.SYST, 19_999, true);
    defmt::println!("tickspan and defmt side by side");
    let mut drain = Drain::global();
    for round in 0..ROUNDS {
        {
            let _outer = tickspan::span!("round");
            let _inner = tickspan::span!("work");
            tickspan::value!("round_no", round);
            if round % 50 == 0 {
                defmt::println!("round {}", round);
            }
            spin(300);
        }
        rtt::drain(&mut drain);
    }
    cp.SYST.disable_interrupt();
    while !rtt::drain(&mut drain).complete {}
    defmt::println!("done");
    tickspan_rtt_done();
    loop {
        cortex_m::asm::wfi();
    }
}



#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    tickspan::event!("tick");
}
