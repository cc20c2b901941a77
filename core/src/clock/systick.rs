//! SysTick as a clock, for cores without DWT (Cortex-M0/M0+) and for QEMU.
//!
//! SysTick is a 24-bit down-counter that reloads from RVR, usually also the application's tick
//! interrupt. A timestamp is `!CVR` (that is `0xFFFF_FFFF - CVR`, since CVR's top byte reads
//! as zero): one `mvn`, no constant to load, and it grows within a period. Only differences
//! matter: the host extends timestamps with the period `RVR + 1`, which the drain puts in the
//! stream header ([`Clock::wrap`]), and the values never cross a `u32` wrap.
//! Every context must record (or the drain must run) at least once per period for gaps to be
//! exact; run SysTick from the core clock (`CLKSOURCE = 1`) for cycle resolution.

use super::{Clock, CONFIGURED_HZ};

const SYST_RVR: *const u32 = 0xE000_E014 as *const u32;

/// Reads CVR (0xE000_E018).
///
/// On Thumb-2 an `ldr` from 0xE000_E000, the System Control Space block that holds SysTick, at
/// offset 0x18: the base is one `mov.w` (a valid modified immediate, `0xXY00XY00`) where the
/// compiler would emit `movw` + `movt` for the register's own address. Being a plain constant,
/// the base is hoisted out of loops, and where registers run short it is rematerialised instead
/// of kept in one.
#[inline(always)]
fn read_cvr() -> u32 {
    #[cfg(tickspan_thumb2)]
    {
        let cvr: u32;
        // SAFETY: reads CVR, an architecturally defined register whose reads have no side
        // effects; writes no memory, touches no stack or flags. Not `pure`: every call must
        // read the counter again.
        unsafe {
            core::arch::asm!(
                "ldr {cvr}, [{base}, #0x18]",
                base = in(reg) 0xE000_E000u32,
                cvr = lateout(reg) cvr,
                options(readonly, nostack, preserves_flags)
            )
        };
        cvr
    }
    #[cfg(not(tickspan_thumb2))]
    {
        // SAFETY: as above.
        unsafe { (0xE000_E018 as *const u32).read_volatile() }
    }
}

/// The SysTick current-value register, read as an up-counter.
pub struct SysTick;

impl Clock for SysTick {
    #[inline(always)]
    fn now() -> u64 {
        !read_cvr() as u64
    }
    fn frequency_hz() -> u64 {
        CONFIGURED_HZ
    }
    fn wrap() -> u64 {
        // SAFETY: as above, RVR is readable at any time.
        (unsafe { SYST_RVR.read_volatile() } & 0x00FF_FFFF) as u64 + 1
    }
}
