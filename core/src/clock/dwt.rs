//! Cortex-M3/M4/M7 DWT cycle counter (CYCCNT): one load per timestamp, 32 bits, core clock.

use super::{Clock, CONFIGURED_HZ};

const DEMCR: *mut u32 = 0xE000_EDFC as *mut u32;
const DWT_CTRL: *mut u32 = 0xE000_1000 as *mut u32;
const DWT_CYCCNT: *mut u32 = 0xE000_1004 as *mut u32;
const DWT_LAR: *mut u32 = 0xE000_1FB0 as *mut u32;

/// The DWT cycle counter.
pub struct Dwt;

impl Dwt {
    /// Enables trace (DEMCR.TRCENA), unlocks the DWT (Cortex-M7), starts CYCCNT and checks that
    /// it advances. Returns `false` when it does not (no DWT, or QEMU, which does not model it):
    /// build with `clock-systick` or `clock-custom` there.
    pub fn enable() -> bool {
        // SAFETY: architecturally defined System Control Space registers of every ARMv7-M core;
        // volatile accesses, read-modify-write of the enable bits only.
        unsafe {
            DEMCR.write_volatile(DEMCR.read_volatile() | 1 << 24);
            DWT_LAR.write_volatile(0xC5AC_CE55);
            DWT_CYCCNT.write_volatile(0);
            DWT_CTRL.write_volatile(DWT_CTRL.read_volatile() | 1);
            let a = DWT_CYCCNT.read_volatile();
            for _ in 0..16 {
                core::hint::spin_loop();
            }
            DWT_CYCCNT.read_volatile() != a
        }
    }
}

impl Clock for Dwt {
    #[inline(always)]
    fn now() -> u64 {
        // SAFETY: CYCCNT is a read-only-side-effect-free memory-mapped register.
        unsafe { DWT_CYCCNT.read_volatile() as u64 }
    }
    fn frequency_hz() -> u64 {
        CONFIGURED_HZ
    }
    fn wrap() -> u64 {
        1 << 32
    }
}
