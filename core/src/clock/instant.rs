//! Portable fallback: nanoseconds since the first timestamp of the process.

use super::Clock;
use std::sync::OnceLock;
use std::time::{Duration, Instant as StdInstant};

static EPOCH: OnceLock<StdInstant> = OnceLock::new();

/// `std::time::Instant`, in nanoseconds.
pub struct Instant;

impl Clock for Instant {
    #[inline]
    fn now() -> u64 {
        EPOCH.get_or_init(StdInstant::now).elapsed().as_nanos() as u64
    }
    fn frequency_hz() -> u64 {
        1_000_000_000
    }
    fn wrap() -> u64 {
        0
    }
}

/// Measures the rate of a counter against `Instant` over 20 ms (used for the TSC).
pub fn calibrate(read: fn() -> u64) -> u64 {
    let (t0, c0) = (StdInstant::now(), read());
    std::thread::sleep(Duration::from_millis(20));
    let (dt, dc) = (t0.elapsed(), read().wrapping_sub(c0));
    (dc as u128 * 1_000_000_000 / dt.as_nanos().max(1)) as u64
}
