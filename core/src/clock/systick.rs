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
/// Offset of CVR from [`scs_base`].
const SYST_CVR_OFFSET: usize = 0x18;

/// 0xE000_E000, the System Control Space block that holds SysTick.
///
/// On Thumb-2 it is one `mov.w` (a valid modified immediate, `0xXY00XY00`) where the compiler
/// would emit `movw` + `movt` for the register's own address: one instruction less on every
/// record path that does not already hold the address in a register. `pure` lets the compiler
/// hoist or share it like any constant.
#[inline(always)]
fn scs_base() -> *const u32 {
    #[cfg(tickspan_thumb2)]
    {
        let base: usize;
        // SAFETY: materialises a constant in a register; touches no memory, stack or flags.
        unsafe {
            core::arch::asm!(
                "mov.w {0}, #0xE000E000",
                out(reg) base,
                options(pure, nomem, nostack, preserves_flags)
            )
        };
        base as *const u32
    }
    #[cfg(not(tickspan_thumb2))]
    {
        0xE000_E000 as *const u32
    }
}

/// The SysTick current-value register, read as an up-counter.
pub struct SysTick;

impl Clock for SysTick {
    #[inline(always)]
    fn now() -> u64 {
        // SAFETY: CVR (0xE000_E018) is an architecturally defined, side-effect-free readable
        // register.
        !unsafe { scs_base().byte_add(SYST_CVR_OFFSET).read_volatile() } as u64
    }
    fn frequency_hz() -> u64 {
        CONFIGURED_HZ
    }
    fn wrap() -> u64 {
        // SAFETY: as above, RVR is readable at any time.
        (unsafe { SYST_RVR.read_volatile() } & 0x00FF_FFFF) as u64 + 1
    }
}
