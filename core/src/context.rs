//! The static rings and how a record finds the ring of the context it runs in.
//!
//! | target | context | how the ring is found |
//! |---|---|---|
//! | std | a thread | a thread-local index, claimed from the pool on the thread's first record |
//! | Cortex-M | thread mode, or one exception priority (handlers of equal priority cannot preempt each other) | `mrs IPSR` → a RAM cache of ring pointers, filled from the exception's priority on its first record |
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
    //! The ring of an exception is chosen by its priority: handlers of equal priority cannot
    //! preempt each other, so they can share a ring, and any two that can preempt each other
    //! write different rings, whatever the application configured. Thread mode is ring 0;
    //! each priority that records claims the next free ring on its first record. A priority
    //! left without a ring (more priorities record than `TICKSPAN_CONTEXTS - 1`), NMI and
    //! HardFault have no ring: their records are counted lost (see [`lost_without_ring`]) and
    //! reported under the pseudo context `CONTEXTS`.
    //!
    //! The record path reads `IPSR` and a RAM cache indexed by exception number, filled on an
    //! exception's first record: one instruction more than a table in flash (`cbz` to the
    //! cold path that fills it).

    use super::{GlobalRing, RINGS};
    use crate::config::{CONTEXTS, EXCEPTION_TABLE_BITS};
    use core::ptr::null_mut;
    use core::sync::atomic::{AtomicPtr, AtomicU16, AtomicU32, Ordering::Relaxed};

    /// Cache length. Entry `LAST` stands for every exception number from `LAST` up and is
    /// never filled, so those exceptions look their ring up on every record.
    const TABLE: usize = 1 << EXCEPTION_TABLE_BITS;
    const LAST: u32 = TABLE as u32 - 1;

    /// Ring of each exception number, once resolved (null: not yet, or no ring).
    static CACHE: [AtomicPtr<GlobalRing>; TABLE] = [const { AtomicPtr::new(null_mut()) }; TABLE];

    /// Priority (+1, 0: free) whose exceptions write ring `k + 1`. Claimed with interrupts
    /// masked; NMI and HardFault, which masking does not hold off, never claim.
    static LEVEL: [AtomicU16; CONTEXTS - 1] = [const { AtomicU16::new(0) }; CONTEXTS - 1];

    /// Records lost for want of a ring, one counter per writer that cannot preempt another
    /// writer of the same counter: NMI, HardFault, and configurable priorities (written with
    /// interrupts masked).
    static LOST_NMI: AtomicU32 = AtomicU32::new(0);
    static LOST_FAULT: AtomicU32 = AtomicU32::new(0);
    static LOST_PRIORITY: AtomicU32 = AtomicU32::new(0);

    /// `IPSR` and the cache index it maps to (saturated at `LAST`).
    #[inline(always)]
    fn ipsr_index() -> (u32, usize) {
        let ipsr: u32;
        #[cfg(not(armv6m))]
        {
            let i: u32;
            // SAFETY: reading IPSR and saturating a register have no side effects.
            unsafe {
                core::arch::asm!(
                    "mrs {0}, IPSR",
                    "usat {1}, #{bits}, {0}",
                    out(reg) ipsr,
                    out(reg) i,
                    bits = const EXCEPTION_TABLE_BITS,
                    options(nomem, nostack, preserves_flags)
                )
            };
            (ipsr, i as usize)
        }
        #[cfg(armv6m)]
        {
            // SAFETY: reading IPSR has no side effects.
            unsafe { core::arch::asm!("mrs {0}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags)) };
            (ipsr, ipsr.min(LAST) as usize)
        }
    }

    /// The ring of the running context, `None` if it has none (the record is then counted).
    #[inline(always)]
    fn current() -> Option<&'static GlobalRing> {
        let (ipsr, i) = ipsr_index();
        // SAFETY: `i <= LAST < TABLE`.
        let p = unsafe { CACHE.get_unchecked(i) }.load(Relaxed);
        if p.is_null() {
            // Disarmed, the cache is empty: the check costs the armed path nothing.
            if !crate::arming::armed() {
                return None;
            }
            return resolve(ipsr);
        }
        // SAFETY: the cache holds only null or pointers to elements of `RINGS` (a `'static`).
        Some(unsafe { &*p })
    }

    /// First record of an exception (or any record of one without a ring): finds its ring by
    /// priority, claiming one for a priority seen for the first time.
    #[cold]
    #[inline(never)]
    fn resolve(ipsr: u32) -> Option<&'static GlobalRing> {
        let ring = match ipsr {
            0 => Some(&RINGS[0]),
            2 => return count(&LOST_NMI),
            1 | 3 => return count(&LOST_FAULT),
            _ => claim(priority(ipsr)),
        }?;
        if ipsr < LAST {
            CACHE[ipsr as usize].store(ring as *const GlobalRing as *mut GlobalRing, Relaxed);
            // A disarm that preempted this after the armed check emptied the cache before
            // the store above: empty the entry again.
            if !crate::arming::armed() {
                CACHE[ipsr as usize].store(null_mut(), Relaxed);
            }
        }
        Some(ring)
    }

    /// Disarmed: empties the cache, so that every record takes the branch that checks.
    pub(crate) fn disarmed() {
        for c in &CACHE {
            c.store(null_mut(), Relaxed);
        }
    }

    /// Counts one lost record in a counter only this context writes.
    fn count(c: &AtomicU32) -> Option<&'static GlobalRing> {
        c.store(c.load(Relaxed).wrapping_add(1), Relaxed);
        None
    }

    /// The ring of priority `p`: its level's, or the next free one; `None` (counted) if none
    /// is left.
    fn claim(p: u8) -> Option<&'static GlobalRing> {
        let key = p as u16 + 1;
        cortex_m::interrupt::free(|_| {
            for (k, level) in LEVEL.iter().enumerate() {
                match level.load(Relaxed) {
                    0 => level.store(key, Relaxed),
                    v if v != key => continue,
                    _ => {}
                }
                return RINGS.get(k + 1);
            }
            count(&LOST_PRIORITY)
        })
    }

    /// Priority byte of exception `n` (4..): SHPR1..3 for system exceptions, NVIC IPR for
    /// interrupts. Read as words: ARMv6-M allows only word access to both.
    fn priority(n: u32) -> u8 {
        let (base, i) = if n < 16 { (0xE000_ED18usize, n - 4) } else { (0xE000_E400usize, n - 16) };
        let word = base + (i & !3) as usize;
        // SAFETY: an aligned read of a System Control Space register (SHPR1..3, NVIC_IPR0..123),
        // which has no side effects; for an exception the core does not implement it reads 0.
        let w = unsafe { core::ptr::read_volatile(word as *const u32) };
        (w >> ((i & 3) * 8)) as u8
    }

    /// Records that found no ring so far (NMI, HardFault, priorities beyond the rings); wraps.
    pub(crate) fn lost_without_ring() -> u32 {
        LOST_NMI.load(Relaxed).wrapping_add(LOST_FAULT.load(Relaxed)).wrapping_add(LOST_PRIORITY.load(Relaxed))
    }

    /// Forgets which exception and priority write which ring, after the application changed
    /// interrupt priorities (NVIC_IPR, SHPR) that had already recorded.
    ///
    /// # Safety
    /// No exception may be recording while this runs or before the new priorities are in
    /// place: call it from thread mode with interrupts masked (or before enabling them), and
    /// drain the rings first if their records should keep their old context.
    pub unsafe fn priorities_changed() {
        for c in &CACHE {
            c.store(null_mut(), Relaxed);
        }
        for l in &LEVEL {
            l.store(0, Relaxed);
        }
    }

    #[inline(always)]
    pub(crate) fn with_ring(f: impl FnOnce(&'static GlobalRing)) {
        if let Some(ring) = current() {
            f(ring)
        }
    }

    /// [`with_ring`] armed or not (acknowledgements of control messages).
    pub(crate) fn with_ring_always(f: impl FnOnce(&'static GlobalRing)) {
        let (ipsr, i) = ipsr_index();
        // SAFETY: `i <= LAST < TABLE`.
        let p = unsafe { CACHE.get_unchecked(i) }.load(Relaxed);
        // SAFETY: the cache holds only null or pointers to elements of `RINGS` (a `'static`).
        let ring = if p.is_null() { resolve(ipsr) } else { Some(unsafe { &*p }) };
        if let Some(r) = ring {
            f(r)
        }
    }

    /// A context's ring does not change while it runs, so a guard keeps it: its exit record
    /// skips the lookup. `None`: the context has no ring, and the exit is counted lost too.
    pub(crate) type Held = Option<&'static GlobalRing>;

    #[inline(always)]
    pub(crate) fn with_ring_held(f: impl FnOnce(&'static GlobalRing)) -> Held {
        let ring = current();
        if let Some(r) = ring {
            f(r);
        }
        ring
    }

    /// An enter without a ring: none for this context (the exit is counted lost too), or
    /// disarmed (the exit is not written either, armed or not by now).
    #[inline(always)]
    pub(crate) fn with_held(held: &Held, f: impl FnOnce(&'static GlobalRing)) {
        match held {
            Some(r) => f(r),
            None => {
                let _ = current();
            }
        }
    }
}

#[cfg(all(target_os = "none", not(tickspan_cortex_m)))]
mod imp {
    use super::{GlobalRing, RINGS};

    #[inline(always)]
    pub(crate) fn with_any_ring(f: impl FnOnce(&'static GlobalRing)) {
        critical_section::with(|_| f(&RINGS[0]))
    }
}

#[cfg(all(not(target_os = "none"), not(feature = "std")))]
mod imp {
    use super::{GlobalRing, RINGS};

    /// Hosted without `std`: only for checking the crate builds; everything goes to ring 0.
    #[inline(always)]
    pub(crate) fn with_any_ring(f: impl FnOnce(&'static GlobalRing)) {
        f(&RINGS[0])
    }
}

/// Records that found no ring, reported by the drain of [`RINGS`] as losses of the pseudo
/// context `CONTEXTS`, named so that the fix is in the stream.
#[cfg(any(feature = "std", tickspan_cortex_m))]
pub(crate) mod no_ring {
    use crate::config::CONTEXTS;
    use crate::wire::encode::FrameEncoder;

    #[cfg(feature = "std")]
    const NAME: &str = "(no free ring: raise TICKSPAN_CONTEXTS)";
    #[cfg(not(feature = "std"))]
    const NAME: &str = "(no ring for NMI, HardFault or this interrupt priority: raise TICKSPAN_CONTEXTS)";

    /// Records lost so far for want of a ring (wrapping).
    fn lost() -> u32 {
        #[cfg(feature = "std")]
        return super::threads::UNCLAIMED_LOST.load(core::sync::atomic::Ordering::Relaxed) as u32;
        #[cfg(not(feature = "std"))]
        return super::imp::lost_without_ring();
    }

    /// The drain's side: what it has reported.
    pub(crate) struct Report {
        named: bool,
        reported: u32,
    }

    impl Report {
        pub(crate) const fn new() -> Report {
            Report { named: false, reported: 0 }
        }

        /// The stream restarts: name the pseudo context again before its next loss.
        pub(crate) fn restart(&mut self) {
            self.named = false;
        }

        /// Starts a frame if records were lost since the last report: the pseudo context's
        /// name the first time, then a loss entry. Returns whether a frame was started.
        pub(crate) fn frame(&mut self, enc: &mut FrameEncoder) -> bool {
            let total = lost();
            if total == self.reported {
                return false;
            }
            if !self.named {
                self.named = true;
                return enc.context(CONTEXTS as u32, NAME);
            }
            enc.begin_batch(CONTEXTS as u32, 0);
            enc.loss(total.wrapping_sub(self.reported));
            self.reported = total;
            true
        }
    }
}

#[cfg(feature = "std")]
pub mod threads;
#[cfg(feature = "std")]
use threads as imp;

#[cfg(tickspan_cortex_m)]
pub(crate) use imp::{disarmed, with_ring, with_ring_always};
#[cfg(not(tickspan_cortex_m))]
pub(crate) use held::with_ring;
/// [`with_ring`] armed or not (acknowledgements of control messages).
#[cfg(not(tickspan_cortex_m))]
pub(crate) use imp::with_any_ring as with_ring_always;

/// Disarmed: nothing to do where the record path reads the flag itself.
#[cfg(not(tickspan_cortex_m))]
pub(crate) fn disarmed() {}

/// Elsewhere a trace point reads the armed flag first, and a guard keeps whether its enter was
/// written; its exit looks the ring up again (a std thread's ring is found through a
/// thread-local; bare-metal cores without per-context rings take a critical section per
/// record).
#[cfg(not(tickspan_cortex_m))]
mod held {
    use super::imp::with_any_ring;
    use super::GlobalRing;
    use crate::arming::armed;

    #[inline(always)]
    pub(crate) fn with_ring(f: impl FnOnce(&'static GlobalRing)) {
        if armed() {
            with_any_ring(f)
        }
    }

    /// Whether the enter was written (armed): the exit is written if and only if it was.
    pub(crate) struct Held(bool);

    #[inline(always)]
    pub(crate) fn with_ring_held(f: impl FnOnce(&'static GlobalRing)) -> Held {
        let on = armed();
        if on {
            with_any_ring(f);
        }
        Held(on)
    }

    #[inline(always)]
    pub(crate) fn with_held(held: &Held, f: impl FnOnce(&'static GlobalRing)) {
        if held.0 {
            with_any_ring(f)
        }
    }
}

/// What a scoped guard ([`SpanGuard`](crate::SpanGuard), [`IsrGuard`](crate::IsrGuard))
/// keeps between its two records to write the second into the ring of the first.
#[cfg(not(tickspan_cortex_m))]
pub(crate) use held::{with_held, with_ring_held, Held};
#[cfg(tickspan_cortex_m)]
pub(crate) use imp::{with_held, with_ring_held, Held};
#[cfg(tickspan_cortex_m)]
pub use imp::priorities_changed;
