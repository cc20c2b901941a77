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
const SYST_CVR: *const u32 = 0xE000_E018 as *const u32;

/// The SysTick current-value register, read as an up-counter.
pub struct SysTick;

impl Clock for SysTick {
    #[inline(always)]
    fn now() -> u64 {
        // SAFETY: CVR is an architecturally defined, side-effect-free readable register.
        !unsafe { SYST_CVR.read_volatile() } as u64
    }
    fn frequency_hz() -> u64 {
        CONFIGURED_HZ
    }
    fn wrap() -> u64 {
        // SAFETY: as above, RVR is readable at any time.
        (unsafe { SYST_RVR.read_volatile() } & 0x00FF_FFFF) as u64 + 1
    }
}
