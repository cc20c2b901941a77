//! Cycle-counter clocks. The record path stores the low 32 bits of [`Clock::now`]; the drain
//! reads the whole counter and the stream header carries [`Clock::frequency_hz`] and
//! [`Clock::wrap`], so the host can print real units and extend every timestamp to 64 bits.
//!
//! Which clock records is chosen at compile time ([`Active`]):
//!
//! | target | default | alternatives (cargo features) |
//! |---|---|---|
//! | Cortex-M3/M4/M7 (`thumbv7m`, `thumbv7em`) | `dwt::Dwt` (CYCCNT) | `clock-systick`, `clock-custom` |
//! | Cortex-M0/M0+ (`thumbv6m`), no DWT | `systick::SysTick` | `clock-custom` |
//! | RISC-V bare metal | `riscv::Mcycle` | `clock-custom` |
//! | x86_64 std | `tsc::Tsc` | `clock-instant` |
//! | aarch64 std | `cntvct::Cntvct` | `clock-instant` |
//! | other std | `instant::Instant` | |
//!
//! Under QEMU DWT CYCCNT reads 0 (`dwt::Dwt::enable` reports it); use `clock-systick` there.
//! (Target- and std-specific clocks are not links: each exists only in the documentation of
//! a build that has it.)

#[cfg(all(tickspan_cortex_m, not(target_arch = "arm")))]
compile_error!("unreachable");

#[cfg(all(tickspan_cortex_m, not(armv6m)))]
pub mod dwt;
#[cfg(tickspan_cortex_m)]
pub mod systick;
#[cfg(target_arch = "riscv32")]
pub mod riscv;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub mod tsc;
#[cfg(all(feature = "std", target_arch = "aarch64"))]
pub mod cntvct;
#[cfg(feature = "std")]
pub mod instant;
#[cfg(feature = "clock-custom")]
pub mod custom;

/// A free-running tick counter.
pub trait Clock {
    /// Reads the counter. Records keep the low 32 bits.
    fn now() -> u64;
    /// Ticks per second; 0 when unknown (the host then prints ticks).
    fn frequency_hz() -> u64;
    /// The counter's period: it counts modulo this (0 = 2^64, never wraps in practice).
    fn wrap() -> u64;
}

/// Frequency configured at build time with `TICKSPAN_CLOCK_HZ` (0 when not set).
pub const CONFIGURED_HZ: u64 = match option_env!("TICKSPAN_CLOCK_HZ") {
    Some(s) => parse_u64(s),
    None => 0,
};

const fn parse_u64(s: &str) -> u64 {
    let b = s.as_bytes();
    let (mut i, mut v) = (0, 0u64);
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "TICKSPAN_CLOCK_HZ must be a decimal number");
        v = v * 10 + (b[i] - b'0') as u64;
        i += 1;
    }
    v
}

/// The clock the record path uses on this target with these features.
#[cfg(feature = "clock-custom")]
pub type Active = custom::Custom;
/// The clock the record path uses on this target with these features.
#[cfg(all(not(feature = "clock-custom"), tickspan_cortex_m, any(armv6m, feature = "clock-systick")))]
pub type Active = systick::SysTick;
/// The clock the record path uses on this target with these features.
#[cfg(all(not(feature = "clock-custom"), tickspan_cortex_m, not(any(armv6m, feature = "clock-systick"))))]
pub type Active = dwt::Dwt;
/// The clock the record path uses on this target with these features.
#[cfg(all(not(feature = "clock-custom"), target_arch = "riscv32", target_os = "none"))]
pub type Active = riscv::Mcycle;
/// The clock the record path uses on this target with these features.
#[cfg(all(not(feature = "clock-custom"), feature = "std", feature = "clock-instant"))]
pub type Active = instant::Instant;
/// The clock the record path uses on this target with these features.
#[cfg(all(not(feature = "clock-custom"), feature = "std", not(feature = "clock-instant"), target_arch = "x86_64", not(miri)))]
pub type Active = tsc::Tsc;
/// The clock the record path uses on this target with these features.
#[cfg(all(not(feature = "clock-custom"), feature = "std", not(feature = "clock-instant"), target_arch = "aarch64", not(miri)))]
pub type Active = cntvct::Cntvct;
/// The clock the record path uses on this target with these features (and under Miri, which
/// cannot execute `rdtsc` or read CNTVCT).
#[cfg(all(
    not(feature = "clock-custom"),
    feature = "std",
    not(feature = "clock-instant"),
    any(miri, not(any(target_arch = "x86_64", target_arch = "aarch64")))
))]
pub type Active = instant::Instant;
/// Without `std` on a hosted target (e.g. `cargo check` of the core alone) there is no
/// counter: the clock reads 0.
#[cfg(all(not(feature = "clock-custom"), not(feature = "std"), not(target_os = "none")))]
pub type Active = Zero;

/// A clock that reads 0: only for hosted builds without `std`.
#[cfg(all(not(feature = "clock-custom"), not(feature = "std"), not(target_os = "none")))]
pub struct Zero;

#[cfg(all(not(feature = "clock-custom"), not(feature = "std"), not(target_os = "none")))]
impl Clock for Zero {
    fn now() -> u64 {
        0
    }
    fn frequency_hz() -> u64 {
        0
    }
    fn wrap() -> u64 {
        0
    }
}

/// Low 32 bits of the active clock: what records store.
#[inline(always)]
pub fn now32() -> u32 {
    <Active as Clock>::now() as u32
}
