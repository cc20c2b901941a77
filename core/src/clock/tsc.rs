//! x86_64 time-stamp counter. Invariant on every CPU of the last decade; its rate is measured
//! once against `std::time::Instant` (by the drain, never on the record path).

use super::Clock;
use std::sync::OnceLock;

/// `rdtsc`.
pub struct Tsc;

impl Clock for Tsc {
    #[inline(always)]
    fn now() -> u64 {
        // `rdtsc` by hand rather than `_rdtsc()`: the intrinsic joins edx:eax into one register
        // that the record path splits again (two words of a record), three instructions per
        // record; from two `u32`s the compiler sees the split is free.
        let (lo, hi): (u32, u32);
        // SAFETY: rdtsc is available on every x86_64 CPU; it only writes eax and edx.
        unsafe {
            core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
        };
        (hi as u64) << 32 | lo as u64
    }
    fn frequency_hz() -> u64 {
        static HZ: OnceLock<u64> = OnceLock::new();
        *HZ.get_or_init(|| super::instant::calibrate(Self::now))
    }
    fn wrap() -> u64 {
        0
    }
}
