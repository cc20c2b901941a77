//! x86_64 time-stamp counter. Invariant on every CPU of the last decade; its rate is measured
//! once against `std::time::Instant` (by the drain, never on the record path).

use super::Clock;
use std::sync::OnceLock;

/// `rdtsc`.
pub struct Tsc;

impl Clock for Tsc {
    #[inline(always)]
    fn now() -> u64 {
        // SAFETY: rdtsc is available on every x86_64 CPU and has no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    fn frequency_hz() -> u64 {
        static HZ: OnceLock<u64> = OnceLock::new();
        *HZ.get_or_init(|| super::instant::calibrate(Self::now))
    }
    fn wrap() -> u64 {
        0
    }
}
