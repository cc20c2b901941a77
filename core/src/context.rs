//! The static rings and how a record finds the ring of the context it runs in.
//!
//! | target | context | how the ring is found |
//! |---|---|---|
//! | std | a thread | a thread-local index, claimed from the pool on the thread's first record |
//! | Cortex-M | thread mode, or a group of exceptions that cannot preempt each other | `mrs IPSR` → a table of ring pointers in flash (`TICKSPAN_EXCEPTION_RINGS`) |
//! | other bare metal (RISC-V) | the core | one ring, written inside `critical_section::with` |
//!
//! One writer per ring is what lets the record path do without compare-and-swap.

use crate::config::{CONTEXTS, RING_SLOTS};
use crate::ring::Ring;

/// The ring type every context uses with this build's configuration.
pub type GlobalRing = Ring<RING_SLOTS, { cfg!(feature = "flight-recorder") }>;

/// Every context's ring. Zero-initialised, so they cost no flash and nothing runs before use.
///
/// Exported as `_TICKSPAN_RINGS` so that a host finds a halted target's rings in its ELF
/// (`tickspan postmortem`); [`RINGS_LAYOUT`] tells it their geometry.
#[cfg(not(loom))]
#[export_name = "_TICKSPAN_RINGS"]
pub static RINGS: [GlobalRing; CONTEXTS] = [const { Ring::new() }; CONTEXTS];

/// What a host needs to read [`RINGS`] from target memory, exported as
/// `_TICKSPAN_RINGS_LAYOUT`: slots per ring, rings, 1 in overwrite (flight-recorder) mode, bytes
/// per slot, the clock (0: records carry bits 32..64 in `b`; 1: a 32-bit counter; 2: SysTick,
/// period `RVR + 1`), and `TICKSPAN_CLOCK_HZ` as two words (low, high).
#[cfg(not(loom))]
#[used]
#[export_name = "_TICKSPAN_RINGS_LAYOUT"]
pub static RINGS_LAYOUT: [u32; 7] = {
    let clock = if cfg!(feature = "clock-custom") {
        1
    } else if cfg!(feature = "std") {
        0
    } else if cfg!(all(tickspan_cortex_m, any(armv6m, feature = "clock-systick"))) {
        2
    } else {
        1
    };
    let hz = crate::clock::CONFIGURED_HZ;
    [RING_SLOTS as u32, CONTEXTS as u32, cfg!(feature = "flight-recorder") as u32, 16, clock, hz as u32, (hz >> 32) as u32]
};

/// Index of a ring in [`RINGS`] (the context id written to the wire).
pub fn index_of(ring: &GlobalRing) -> usize {
    (ring as *const GlobalRing as usize - RINGS.as_ptr() as usize) / core::mem::size_of::<GlobalRing>()
}

#[cfg(tickspan_cortex_m)]
mod imp {
    use super::{GlobalRing, RINGS};
    use crate::config::EXCEPTION_RING;

    const TABLE: usize = EXCEPTION_RING.len();

    /// Ring of each exception number, resolved at compile time: lives in flash.
    static RING_OF_EXCEPTION: [&GlobalRing; TABLE] = {
        let mut t = [&RINGS[0]; TABLE];
        let mut i = 0;
        while i < TABLE {
            t[i] = &RINGS[EXCEPTION_RING[i] as usize];
            i += 1;
        }
        t
    };

    #[inline(always)]
    pub(crate) fn with_ring(f: impl FnOnce(&'static GlobalRing)) {
        let ipsr: u32;
        // SAFETY: reading IPSR has no side effects.
        unsafe { core::arch::asm!("mrs {0}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags)) };
        f(RING_OF_EXCEPTION[(ipsr as usize & 0x1FF).min(TABLE - 1)])
    }
}

#[cfg(all(target_os = "none", not(tickspan_cortex_m)))]
mod imp {
    use super::{GlobalRing, RINGS};

    #[inline(always)]
    pub(crate) fn with_ring(f: impl FnOnce(&'static GlobalRing)) {
        critical_section::with(|_| f(&RINGS[0]))
    }
}

#[cfg(all(not(target_os = "none"), not(feature = "std")))]
mod imp {
    use super::{GlobalRing, RINGS};

    /// Hosted without `std`: only for checking the crate builds; everything goes to ring 0.
    #[inline(always)]
    pub(crate) fn with_ring(f: impl FnOnce(&'static GlobalRing)) {
        f(&RINGS[0])
    }
}

#[cfg(feature = "std")]
pub mod threads;
#[cfg(feature = "std")]
use threads as imp;

pub(crate) use imp::with_ring;
