//! A clock supplied by the application (feature `clock-custom`): a hardware timer, an RTOS
//! tick. Declare it once with [`custom_clock!`](crate::custom_clock).

use super::Clock;

extern "Rust" {
    fn _tickspan_clock_now() -> u32;
    fn _tickspan_clock_hz() -> u64;
}

/// The application's clock.
pub struct Custom;

impl Clock for Custom {
    #[inline(always)]
    fn now() -> u64 {
        // SAFETY: `custom_clock!` defines the symbol with exactly this signature.
        unsafe { _tickspan_clock_now() as u64 }
    }
    fn frequency_hz() -> u64 {
        // SAFETY: as above.
        unsafe { _tickspan_clock_hz() }
    }
    fn wrap() -> u64 {
        1 << 32
    }
}

/// Declares the application clock: `tickspan::custom_clock!(read_timer, 1_000_000);` where
/// `read_timer: fn() -> u32` is an up-counter wrapping at 2^32.
#[macro_export]
macro_rules! custom_clock {
    ($now:path, $hz:expr) => {
        #[no_mangle]
        fn _tickspan_clock_now() -> u32 {
            $now()
        }
        #[no_mangle]
        fn _tickspan_clock_hz() -> u64 {
            $hz
        }
    };
}
