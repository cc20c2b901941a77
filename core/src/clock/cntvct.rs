//! aarch64 virtual counter (`CNTVCT_EL0`), readable from user space; rate in `CNTFRQ_EL0`.

use super::Clock;

/// The generic timer's virtual count.
pub struct Cntvct;

impl Clock for Cntvct {
    #[inline(always)]
    fn now() -> u64 {
        let v: u64;
        // SAFETY: CNTVCT_EL0 is readable at EL0 on Linux; no memory effects.
        unsafe { core::arch::asm!("mrs {0}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
        v
    }
    fn frequency_hz() -> u64 {
        let f: u64;
        // SAFETY: as above, CNTFRQ_EL0 is readable at EL0.
        unsafe { core::arch::asm!("mrs {0}, cntfrq_el0", out(reg) f, options(nomem, nostack)) };
        f
    }
    fn wrap() -> u64 {
        0
    }
}
