//! Formatted spans and events on a Cortex-M3, drained over UART0: the format strings stay in
//! the ELF (callsites of kind `Format`), the records carry only the arguments, and the host
//! renders the messages from the ELF (tests/tests/qemu_format.rs).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use tickspan::drain::Drain;
use tickspan_firmware::{self as board, Uart0};

#[entry]
fn main() -> ! {
    let _cp = board::init(0x00FF_FFFF);
    let mut drain = Drain::global();
    for id in 1..=3u32 {
        let req = tickspan::span_start!("request {}", id);
        {
            let _g = tickspan::span!("handle {:#06x}", id * 0x10);
            tickspan::event!(Info, "retry {} of {}", id, 3u8);
            tickspan::event!(Warn, "slow {}ms on {}", -(id as i32) * 5, tickspan::intern!("flash"));
        }
        let io = tickspan::span_start!("io", parent = &req, bytes = 512 * id);
        io.end();
        req.end();
        let _ = drain.write_to(&mut Uart0);
    }
    hprintln!("tickspan-format: requests=3");
    board::exit(true)
}
