//! A device that takes part in a distributed trace: it handles commands that arrive on UART1
//! with the caller's trace context in the 25-byte binary form, traces its handling as the
//! child of the caller's span, replies, and drains its trace stream over UART0.
//!
//! Protocol on UART1: a command is `C`, the 25-byte context (`TraceContext::to_bytes`) and one
//! byte of work units; the reply is `K` and the 8 bytes (little endian) of the id of the span
//! that handled it (what the device would inject further down). `Q` ends the run (the drain
//! empties the rings, QEMU exits). A context that does not parse is answered `E` and traced as
//! a span of its own trace, with the event `bad_context`.
//!
//! Run without `-icount`, so that SysTick follows the host's time like the other nodes' clocks:
//! `qemu-system-arm … -serial file:fw.tspn -serial pty -kernel command` (the three-node example
//! and tests/tests/three_node.rs do this).
#![no_std]
#![no_main]

use cortex_m::asm::delay;
use cortex_m_rt::entry;
use tickspan::drain::Drain;
use tickspan::trace_context::{self as tc, TraceContext, TraceFlags, COMPACT_LEN};
use tickspan_firmware::{self as board, Uart0, Uart1};

/// SysTick period − 1: the largest 24-bit reload, 84 ms at 200 MHz; the clock's wrap, within
/// which the drain (called in the idle loop) must run.
const RELOAD: u32 = 0x00FF_FFFF;
/// Cycles per unit of work.
const UNIT: u32 = 20_000;

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    board::full_speed();
    board::start_systick(&mut cp.SYST, RELOAD, false);
    // A device's ids must differ from every other device's: a unique id or a hardware RNG
    // value keys the generator (QEMU has neither; a constant stands for the serial number).
    tc::seed(0x7469_636b_0000_0001);
    let (mut uart, mut cmd, mut drain) = (Uart0, Uart1, Drain::global());
    let mut buf = [0u8; 1 + COMPACT_LEN + 1];
    let mut len = 0;
    loop {
        let _ = drain.write_to(&mut uart);
        let Some(b) = cmd.try_read() else { continue };
        if len == 0 && b == b'Q' {
            break;
        }
        if len == 0 && b != b'C' {
            continue; // resynchronise on the next command byte
        }
        buf[len] = b;
        len += 1;
        if len == buf.len() {
            len = 0;
            let reply = handle(&buf[1..1 + COMPACT_LEN], buf[buf.len() - 1]);
            cmd.write_all(&reply);
        }
    }
    let _ = drain.write_to(&mut uart);
    board::exit(true)
}

/// Handles one command: a span, child of the caller's, with two steps of work inside.
fn handle(context: &[u8], units: u8) -> [u8; 9] {
    let _g = tickspan::span!("handle_command");
    let mine = match TraceContext::from_bytes(context) {
        Ok(parent) => tc::link_remote(&parent),
        Err(_) => {
            tickspan::event!("bad_context");
            tc::link_new_trace(TraceFlags::new(TraceFlags::SAMPLED));
            return [b'E', 0, 0, 0, 0, 0, 0, 0, 0];
        }
    };
    {
        let _a = tickspan::span!("actuate");
        delay(UNIT * units as u32);
    }
    {
        let _m = tickspan::span!("measure");
        delay(UNIT);
        tickspan::value!("reading", units as u32 * 7);
    }
    let mut reply = [b'K', 0, 0, 0, 0, 0, 0, 0, 0];
    reply[1..].copy_from_slice(&mine.span_id().to_le_bytes());
    reply
}
