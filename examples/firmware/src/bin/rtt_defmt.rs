//! tickspan over RTT and defmt over defmt-rtt in one firmware (features `rtt` and `defmt`).
//!
//! defmt-rtt owns `_SEGGER_RTT` (ID "SEGGER RTT", defmt on up channel 0, as defmt tools
//! expect); tickspan owns `_TICKSPAN_RTT` (ID "TICKSPAN RTT"). Tools that scan RAM for
//! SEGGER's ID find exactly one block, defmt's; `tickspan attach --elf` finds tickspan's by
//! its symbol. Both are non-blocking, so the firmware runs the same with or without a host.
//!
//! Same workload as the `rtt` example (`tickspan_firmware::rtt::rounds`: 200 rounds, SysTick),
//! plus a defmt line every 50 rounds (`println!`: no `DEFMT_LOG` filter needed); ends at
//! `tickspan_rtt_done` once the tickspan channel took everything.
#![no_std]
#![no_main]

use cortex_m_rt::{entry, exception};
use defmt_rtt as _;
use tickspan::drain::Drain;
use tickspan_firmware::{self as board, rtt};

#[entry]
fn main() -> ! {
    let mut cp = board::init(19_999);
    defmt::println!("tickspan and defmt side by side");
    let mut drain = Drain::global();
    rtt::rounds(&mut drain, |round| {
        if round % 50 == 0 {
            defmt::println!("round {}", round);
        }
    });
    defmt::println!("done");
    rtt::finish(&mut cp.SYST, &mut drain)
}

#[exception]
fn SysTick() {
    let _isr = tickspan::isr!("SysTick");
    tickspan::event!("tick");
}
