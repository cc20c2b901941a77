//! Board support shared by the firmware binaries: QEMU's `lm3s6965evb` (TI LM3S6965, Cortex-M3).
//!
//! Only what the binaries need: the system clock divider, SysTick, UART0 and a semihosting exit.
//! Under QEMU the DWT cycle counter is not modelled (CYCCNT reads 0), so tickspan runs on
//! SysTick (feature `clock-systick`), clocked from the 200 MHz system clock (`SYSDIV = 0`).
#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "rtt")]
pub mod rtt;
pub mod timer;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;

/// RCC (run-mode clock configuration) of the LM3S6965 system control block.
const RCC: *mut u32 = 0x400F_E060 as *mut u32;
/// RCC.SYSDIV: system clock = 200 MHz / (SYSDIV + 1) in QEMU (reset value 15: 80 ns).
const RCC_SYSDIV: u32 = 0xF << 23;

/// System clock after [`full_speed`]: 200 MHz, 5 ns per SysTick tick.
pub const SYSCLK_HZ: u32 = 200_000_000;

/// Runs the system clock undivided (`SYSDIV = 0`), so that SysTick ticks every 5 ns.
///
/// With QEMU's `-icount shift=3` (8 ns per instruction) that makes instructions = ticks × 5 / 8.
pub fn full_speed() {
    // SAFETY: RCC is the LM3S6965's clock configuration register; clearing SYSDIV only changes
    // the divider (QEMU models no PLL lock, so no wait is needed).
    unsafe { RCC.write_volatile(RCC.read_volatile() & !RCC_SYSDIV) };
}

/// Starts SysTick from the core clock with period `reload + 1` ticks; `interrupt` enables the
/// SysTick exception at every wrap.
pub fn start_systick(syst: &mut SYST, reload: u32, interrupt: bool) {
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(reload);
    syst.clear_current();
    if interrupt {
        syst.enable_interrupt();
    } else {
        syst.disable_interrupt();
    }
    syst.enable_counter();
}

/// The examples' start: the core peripherals, the system clock at full speed ([`full_speed`]),
/// and SysTick counting with period `reload + 1` ticks and its interrupt on.
pub fn init(reload: u32) -> cortex_m::Peripherals {
    let mut cp = cortex_m::Peripherals::take().unwrap();
    full_speed();
    start_systick(&mut cp.SYST, reload, true);
    cp
}

/// Reads SysTick as an up-counter (what tickspan's SysTick clock records).
#[inline(always)]
pub fn ticks() -> u32 {
    0x00FF_FFFF - SYST::get_current()
}

/// Timer 0A of the LM3S6965's general-purpose timer module.
pub mod timer0 {
    const BASE: usize = 0x4003_0000;
    const CFG: *mut u32 = BASE as *mut u32;
    const TAMR: *mut u32 = (BASE + 0x04) as *mut u32;
    const CTL: *mut u32 = (BASE + 0x0C) as *mut u32;
    const IMR: *mut u32 = (BASE + 0x18) as *mut u32;
    const ICR: *mut u32 = (BASE + 0x24) as *mut u32;
    const TAILR: *mut u32 = (BASE + 0x28) as *mut u32;
    /// RCGC1: run-mode clock gating; bit 16 clocks timer 0.
    const RCGC1: *mut u32 = 0x400F_E104 as *mut u32;

    /// A periodic 32-bit timer with its time-out interrupt.
    pub fn start(period: u32) {
        // SAFETY: the LM3S6965's RCGC1 and timer 0 registers, written in the datasheet's order.
        unsafe {
            RCGC1.write_volatile(RCGC1.read_volatile() | 1 << 16);
            CTL.write_volatile(0);
            CFG.write_volatile(0);
            TAMR.write_volatile(2);
            TAILR.write_volatile(period - 1);
            IMR.write_volatile(1);
            CTL.write_volatile(1);
        }
    }

    /// Stops it.
    pub fn stop() {
        // SAFETY: timer 0's control register; 0 disables it.
        unsafe { CTL.write_volatile(0) };
    }

    /// Acknowledges its time-out interrupt (call from the handler).
    pub fn clear() {
        // SAFETY: timer 0's interrupt clear register.
        unsafe { ICR.write_volatile(1) };
    }
}

/// A device interrupt number, as `cortex_m`'s NVIC API wants it (these examples have no PAC).
#[derive(Clone, Copy)]
pub struct Irq(pub u16);
// SAFETY: the examples pass interrupt numbers of the LM3S6965 (0: GPIO port A, 19: timer 0A).
unsafe impl cortex_m::interrupt::InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}
/// Flag register bits of the LM3S6965's UARTs (PL011 layout): receive FIFO empty, transmit
/// FIFO full.
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;

/// Writes every byte to the PL011 at `base`, waiting while its transmit FIFO is full.
fn pl011_write(base: usize, bytes: &[u8]) {
    let (dr, fr) = (base as *mut u32, (base + 0x18) as *const u32);
    for &b in bytes {
        // SAFETY: `base` is one of the LM3S6965's UARTs; FR and DR are its flag and data registers.
        unsafe {
            while fr.read_volatile() & FR_TXFF != 0 {}
            dr.write_volatile(b as u32);
        }
    }
}

/// UART0 of the LM3S6965 (a PL011): usable without setup in QEMU.
pub struct Uart0;

impl Uart0 {
    /// Writes every byte, waiting while the transmit FIFO is full.
    pub fn write_all(&mut self, bytes: &[u8]) {
        pl011_write(0x4000_C000, bytes)
    }
}

/// UART1 of the LM3S6965: a second serial line (QEMU's second `-serial`), for commands.
pub struct Uart1;

impl Uart1 {
    const BASE: usize = 0x4000_D000;

    /// Writes every byte, waiting while the transmit FIFO is full.
    pub fn write_all(&mut self, bytes: &[u8]) {
        pl011_write(Self::BASE, bytes)
    }

    /// A received byte, if one is waiting.
    pub fn try_read(&mut self) -> Option<u8> {
        let (dr, fr) = (Self::BASE as *const u32, (Self::BASE + 0x18) as *const u32);
        // SAFETY: FR and DR are UART1's flag and data registers (PL011 layout); reading DR
        // takes the byte out of the receive FIFO, which only this driver reads.
        unsafe { (fr.read_volatile() & FR_RXFE == 0).then(|| dr.read_volatile() as u8) }
    }
}

impl embedded_io::ErrorType for Uart0 {
    type Error = core::convert::Infallible;
}

/// What `tickspan::drain::Drain::write_to` writes into.
/// `writeln!(Uart0, …)` for the examples' text lines.
impl core::fmt::Write for Uart0 {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_all(s.as_bytes());
        Ok(())
    }
}

impl embedded_io::Write for Uart0 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Uart0::write_all(self, buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Ends the QEMU run through semihosting: exit status 0 when `ok`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached without a debugger or semihosting host.
    loop {
        cortex_m::asm::bkpt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    cortex_m_semihosting::hprintln!("panic: {}", info);
    exit(false)
}

/// Burns roughly `n` loop iterations (work inside the examples' spans).
pub fn spin(n: u32) {
    for i in 0..n {
        core::hint::black_box(i);
    }
}

/// Called once everything recorded is in the RTT channel: a breakpoint target for hosts
/// (`tickspan attach --until tickspan_rtt_done`).
#[no_mangle]
#[inline(never)]
pub extern "C" fn tickspan_rtt_done() {
    cortex_m::asm::nop();
}
