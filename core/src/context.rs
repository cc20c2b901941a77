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
    let hz = crate::clock::CONFIGURED_HZ;
    [RING_SLOTS as u32, CONTEXTS as u32, cfg!(feature = "flight-recorder") as u32, 16, CLOCK_FORMAT, hz as u32, (hz >> 32) as u32]
};

/// The clock word of [`RINGS_LAYOUT`]. Only std clocks are wider than 32 bits (a custom
/// clock returns `u32`; bare-metal counters are 32 or 24 bits), so only there do records carry
/// clock bits in `b`.
pub(crate) const CLOCK_FORMAT: u32 = if cfg!(feature = "clock-custom") {
    1
} else if cfg!(feature = "std") {
    0
} else if cfg!(all(tickspan_cortex_m, any(armv6m, feature = "clock-systick"))) {
    2
} else {
    1
};

/// Index of a ring in [`RINGS`] (the context id written to the wire).
pub fn index_of(ring: &GlobalRing) -> usize {
    (ring as *const GlobalRing as usize - RINGS.as_ptr() as usize) / core::mem::size_of::<GlobalRing>()
}

#[cfg(tickspan_cortex_m)]
mod imp {
    use super::{GlobalRing, RINGS};
    use crate::config::EXCEPTION_RING;

    /// Table length: a power of two, so that one AND bounds the index (no compare and clamp on
    /// the record path). Exception numbers beyond `16 + TICKSPAN_IRQS` would alias a lower
    /// entry (memory-safe, but they would share its ring): `TICKSPAN_IRQS` must cover the
    /// device's interrupts.
    const TABLE: usize = EXCEPTION_RING.len().next_power_of_two();

    /// Ring of each exception number, resolved at compile time: lives in flash.
    static RING_OF_EXCEPTION: [&GlobalRing; TABLE] = {
        let mut t = [&RINGS[0]; TABLE];
        let mut i = 0;
        while i < TABLE {
            // Padding entries (no such exception) get the last configured entry's ring.
            let e = if i < EXCEPTION_RING.len() { i } else { EXCEPTION_RING.len() - 1 };
            t[i] = &RINGS[EXCEPTION_RING[e] as usize];
            i += 1;
        }
        t
    };

    /// The ring of the running context: `mrs IPSR` and one load.
    #[inline(always)]
    fn current() -> &'static GlobalRing {
        let ipsr: u32;
        // SAFETY: reading IPSR has no side effects.
        unsafe { core::arch::asm!("mrs {0}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags)) };
        RING_OF_EXCEPTION[ipsr as usize & (TABLE - 1)]
    }

    #[inline(always)]
    pub(crate) fn with_ring(f: impl FnOnce(&'static GlobalRing)) {
        f(current())
    }

    /// A context's ring never changes on Cortex-M, so a guard keeps it: its exit record
    /// skips the lookup (and the guard's drop is small enough to be inlined at `opt-level="s"`).
    pub(crate) type Held = &'static GlobalRing;

    #[inline(always)]
    pub(crate) fn with_ring_held(f: impl FnOnce(&'static GlobalRing)) -> Held {
        let ring = current();
        f(ring);
        ring
    }

    #[inline(always)]
    pub(crate) fn with_held(held: &Held, f: impl FnOnce(&'static GlobalRing)) {
        f(held)
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

/// Elsewhere a guard keeps nothing and its exit looks the ring up again (a std thread's ring
/// is found through a thread-local; bare-metal cores without per-context rings take a
/// critical section per record).
#[cfg(not(tickspan_cortex_m))]
mod held {
    use super::{with_ring, GlobalRing};

    /// Nothing: the exit looks its ring up again.
    pub(crate) struct Held;

    #[inline(always)]
    pub(crate) fn with_ring_held(f: impl FnOnce(&'static GlobalRing)) -> Held {
        with_ring(f);
        Held
    }

    #[inline(always)]
    pub(crate) fn with_held(_: &Held, f: impl FnOnce(&'static GlobalRing)) {
        with_ring(f)
    }
}

/// What a scoped guard ([`SpanGuard`](crate::SpanGuard), [`IsrGuard`](crate::IsrGuard))
/// keeps between its two records to write the second into the ring of the first.
#[cfg(not(tickspan_cortex_m))]
pub(crate) use held::{with_held, with_ring_held, Held};
#[cfg(tickspan_cortex_m)]
pub(crate) use imp::{with_held, with_ring_held, Held};
