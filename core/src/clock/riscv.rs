//! RISC-V `mcycle` (machine mode): the low 32 bits on RV32, read with one `csrr`.

use super::{Clock, CONFIGURED_HZ};

/// The machine cycle counter.
pub struct Mcycle;

impl Clock for Mcycle {
    #[inline(always)]
    fn now() -> u64 {
        let lo: u32;
        // SAFETY: reading the mcycle CSR has no side effects; machine mode is where bare-metal
        // firmware runs.
        unsafe { core::arch::asm!("csrr {0}, mcycle", out(reg) lo, options(nomem, nostack)) };
        lo as u64
    }
    fn frequency_hz() -> u64 {
        CONFIGURED_HZ
    }
    fn wrap() -> u64 {
        1 << 32
    }
}
