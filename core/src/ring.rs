//! Single-producer, single-consumer ring of [`Record`]s with exact loss accounting.
//!
//! Each execution context (a thread, an interrupt priority level, a core) owns one ring, so a
//! write never races another write: the record path is a handful of plain loads and stores, no
//! compare-and-swap (there is none on `thumbv6m` or `riscv32i`) and no critical section.
//! The one reader (the drain) may run concurrently, on another core or preempted by the writer.
//!
//! Two modes, chosen by the const parameter `OVERWRITE`:
//! - **drop-newest** (`false`, streaming): a full ring refuses the record and counts it; the
//!   reader learns the count after the last record that made it in, which is where the loss
//!   happened. The reader zeroes the tag of each slot it has consumed, so the writer tells a
//!   free slot from a full ring by that one word (a load and a branch on the record path)
//!   instead of comparing indices.
//! - **overwrite-oldest** (`true`, flight recorder): the writer never looks at the reader. The
//!   reader skips what was overwritten before it got there, and after copying a slot re-checks
//!   the write index (a seqlock read) so a slot rewritten while it was being copied is dropped
//!   and counted, never returned torn. A live reader therefore returns at most `N - 1` of the
//!   newest records (the slot the writer stores next may be mid-write); a halted target's ring
//!   is read whole from memory by the host.
//!
//! In both modes `records returned + lost == records written`.
//!
//! # Benchmarks
//! Instructions per push on a Cortex-M3 under QEMU are measured by
//! `examples/firmware/icount.sh`; host cost against peers by `bench/` (docs/benchmarks.md).

use crate::record::Record;
use crate::sync::{fence, observe, publish, release_fence, AtomicU32};
use core::sync::atomic::Ordering::{Acquire, Relaxed};

/// A ring of `N` record slots (`N` a power of two, at most 2^31).
#[repr(C)]
pub struct Ring<const N: usize, const OVERWRITE: bool = false> {
    /// Records ever written (wrapping). Only the writer stores it.
    write: AtomicU32,
    /// Drop-newest: records refused because the ring was full. Only the writer stores it.
    lost: AtomicU32,
    /// Records consumed or skipped by the reader. Only the reader stores it.
    read: AtomicU32,
    /// Value of `lost` the reader has already reported. Only the reader stores it.
    lost_reported: AtomicU32,
    slots: [[AtomicU32; 4]; N],
}

/// What one [`Ring::read`] call found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Records lost before the first returned record (overwritten, or torn while read).
    pub lost_before: u32,
    /// Records copied into the output, in order.
    pub records: usize,
    /// Records lost after the last returned record (refused while the ring was full).
    pub lost_after: u32,
}

impl ReadOutcome {
    /// Total records lost that this read reports.
    pub const fn lost(&self) -> u32 {
        self.lost_before + self.lost_after
    }
}

impl<const N: usize, const OVERWRITE: bool> Ring<N, OVERWRITE> {
    const MASK: u32 = {
        assert!(N.is_power_of_two() && N <= 1 << 31, "ring capacity must be a power of two");
        (N - 1) as u32
    };

    /// An empty ring; `const` so rings can be `static` with nothing to call before use.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicU32 = AtomicU32::new(0);
        #[allow(clippy::declare_interior_mutable_const)]
        const SLOT: [AtomicU32; 4] = [ZERO; 4];
        let _ = Self::MASK;
        Ring { write: ZERO, lost: ZERO, read: ZERO, lost_reported: ZERO, slots: [SLOT; N] }
    }

    /// An empty ring (loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn new() -> Self {
        let _ = Self::MASK;
        Ring {
            write: AtomicU32::new(0),
            lost: AtomicU32::new(0),
            read: AtomicU32::new(0),
            lost_reported: AtomicU32::new(0),
            slots: core::array::from_fn(|_| core::array::from_fn(|_| AtomicU32::new(0))),
        }
    }

    /// Slots in the ring.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Appends a record. Never blocks, never panics.
    ///
    /// Must only be called from the ring's one producing context; a second concurrent writer
    /// would not cause undefined behaviour (every word is atomic) but could lose or mix records.
    #[inline(always)]
    pub fn push(&self, rec: Record) {
        let w = self.write.load(Relaxed);
        let slot = &self.slots[(w & Self::MASK) as usize];
        // A non-zero tag is a record the reader has not consumed yet: the ring is full. (Every
        // record's tag is non-zero: its kind is.) Acquire: the reader's copy of the slot
        // happened before it zeroed the tag, so it is done before the stores below.
        if !OVERWRITE && observe(&slot[0]) != 0 {
            // Release: a reader that sees this count also sees every record written before.
            publish(&self.lost, self.lost.load(Relaxed).wrapping_add(1));
            return;
        }
        // Overwrite mode: a reader that copies any word stored below must, after its acquire
        // fence, see a write index of at least `w` (seqlock writer side).
        if OVERWRITE {
            release_fence();
        }
        store_slot(self, w & Self::MASK, rec.to_words());
        publish(&self.write, w.wrapping_add(1));
    }

    /// Records written so far (wrapping at 2^32): the writer's position.
    pub fn written(&self) -> u32 {
        self.write.load(Acquire)
    }

    /// Moves up to `out.len()` of the oldest unread records into `out`.
    ///
    /// Call from one reader at a time. Wait-free: never waits for the writer.
    pub fn read(&self, out: &mut [Record]) -> ReadOutcome {
        let mut outcome = ReadOutcome::default();
        // Read the loss count before the write index: any loss counted happened while the
        // ring was full, i.e. after the record at `w - 1` (drop-newest mode).
        let lost_total = if OVERWRITE { 0 } else { self.lost.load(Acquire) };
        let w = self.write.load(Acquire);
        let mut r = self.read.load(Relaxed);
        if OVERWRITE {
            let behind = w.wrapping_sub(r);
            if behind > N as u32 {
                outcome.lost_before = behind - N as u32;
                r = w.wrapping_sub(N as u32);
            }
        }
        let n = (w.wrapping_sub(r) as usize).min(out.len());
        for (i, dst) in out[..n].iter_mut().enumerate() {
            let slot = &self.slots[(r.wrapping_add(i as u32) & Self::MASK) as usize];
            *dst = Record::from_words([
                slot[0].load(Relaxed),
                slot[1].load(Relaxed),
                slot[2].load(Relaxed),
                slot[3].load(Relaxed),
            ]);
        }
        if !OVERWRITE {
            // Hand the copied slots back to the writer (see `push`).
            for i in 0..n {
                publish(&self.slots[(r.wrapping_add(i as u32) & Self::MASK) as usize][0], 0);
            }
        }
        let mut start = 0;
        if OVERWRITE {
            // Seqlock check: the writer has published `w2` and may be storing index `w2`,
            // so every copied index `i` with `w2 - i >= N` may have been rewritten under us.
            fence(Acquire);
            let w2 = self.write.load(Relaxed);
            let dirty = w2.wrapping_sub(r) as i64 - N as i64 + 1;
            start = dirty.clamp(0, n as i64) as usize;
            outcome.lost_before += start as u32;
        }
        if start > 0 {
            out.copy_within(start..n, 0);
        }
        outcome.records = n - start;
        let new_r = r.wrapping_add(n as u32);
        publish(&self.read, new_r);
        if !OVERWRITE && new_r == w {
            let reported = self.lost_reported.load(Relaxed);
            outcome.lost_after = lost_total.wrapping_sub(reported);
            self.lost_reported.store(lost_total, Relaxed);
        }
        outcome
    }
}

/// Stores a record's four words into slot `i` as four relaxed atomic word stores.
#[cfg(not(tickspan_thumb2))]
#[inline(always)]
fn store_slot<const N: usize, const O: bool>(ring: &Ring<N, O>, i: u32, words: [u32; 4]) {
    for (word, v) in ring.slots[i as usize].iter().zip(words) {
        word.store(v, Relaxed);
    }
}

/// Stores a record's four words into slot `i` with two `strd`: two instructions instead of
/// four, which the compiler does not emit for atomic stores.
///
/// Each word of an ARMv7-M `strd` is a single-copy-atomic word access, so this is four relaxed
/// atomic word stores, like the portable version: a reader never sees a torn word, and a
/// misconfigured second writer mixes records but causes no undefined behaviour.
#[cfg(tickspan_thumb2)]
#[inline(always)]
fn store_slot<const N: usize, const O: bool>(ring: &Ring<N, O>, i: u32, words: [u32; 4]) {
    // Addressed from the ring's start so that the slot's offset folds into the instructions.
    let base = (ring as *const Ring<N, O>).cast::<u8>().wrapping_add(i as usize * 16);
    // SAFETY: `i < N`, so the 16 bytes at `base + offset_of!(slots)` are slot `i`, inside
    // `ring` and 4-aligned; they are `AtomicU32`s, which may be written through a shared
    // reference. The asm touches no other memory and no stack.
    unsafe {
        core::arch::asm!(
            "strd {w0}, {w1}, [{base}, #{lo}]",
            "strd {w2}, {w3}, [{base}, #{hi}]",
            base = in(reg) base,
            w0 = in(reg) words[0],
            w1 = in(reg) words[1],
            w2 = in(reg) words[2],
            w3 = in(reg) words[3],
            lo = const core::mem::offset_of!(Ring<N, O>, slots),
            hi = const core::mem::offset_of!(Ring<N, O>, slots) + 8,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(not(loom))]
impl<const N: usize, const OVERWRITE: bool> Default for Ring<N, OVERWRITE> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::record::Kind;

    fn rec(i: u32) -> Record {
        Record::new(Kind::Event, 0x10, i, i, !i)
    }

    fn drain<const N: usize, const O: bool>(ring: &Ring<N, O>, chunk: usize) -> (Vec<Record>, u32) {
        let mut out = vec![Record::default(); chunk];
        let (mut all, mut lost) = (Vec::new(), 0);
        loop {
            let o = ring.read(&mut out);
            lost += o.lost();
            all.extend_from_slice(&out[..o.records]);
            if o.records == 0 && o.lost() == 0 {
                return (all, lost);
            }
        }
    }

    #[test]
    fn drop_newest_keeps_oldest_and_counts_the_rest() {
        let ring = Ring::<8>::new();
        for i in 0..13 {
            ring.push(rec(i));
        }
        let mut out = [Record::default(); 16];
        let o = ring.read(&mut out);
        assert_eq!(o, ReadOutcome { lost_before: 0, records: 8, lost_after: 5 });
        assert_eq!(out[..8], (0..8).map(rec).collect::<Vec<_>>()[..]);
        // Loss reported once; new records flow again.
        ring.push(rec(100));
        let o = ring.read(&mut out);
        assert_eq!(o, ReadOutcome { lost_before: 0, records: 1, lost_after: 0 });
        assert_eq!(out[0], rec(100));
    }

    #[test]
    fn drop_newest_loss_waits_for_the_chunk_that_reaches_it() {
        let ring = Ring::<4>::new();
        for i in 0..6 {
            ring.push(rec(i));
        }
        let mut out = [Record::default(); 3];
        assert_eq!(ring.read(&mut out), ReadOutcome { lost_before: 0, records: 3, lost_after: 0 });
        assert_eq!(ring.read(&mut out), ReadOutcome { lost_before: 0, records: 1, lost_after: 2 });
    }

    #[test]
    fn overwrite_keeps_newest_and_counts_the_rest() {
        let ring = Ring::<8, true>::new();
        for i in 0..21 {
            ring.push(rec(i));
        }
        let (got, lost) = drain(&ring, 3);
        // The slot the writer would store next may be mid-write: a live reader gives it up.
        assert_eq!(got, (14..21).map(rec).collect::<Vec<_>>());
        assert_eq!(lost, 14);
    }

    #[test]
    fn wrapping_indices_are_handled() {
        let ring = Ring::<4>::new();
        ring.write.store(u32::MAX - 1, Relaxed);
        ring.read.store(u32::MAX - 1, Relaxed);
        for i in 0..4 {
            ring.push(rec(i));
        }
        ring.push(rec(9));
        let (got, lost) = drain(&ring, 8);
        assert_eq!(got, (0..4).map(rec).collect::<Vec<_>>());
        assert_eq!(lost, 1);
    }

    #[test]
    fn empty_ring_reads_nothing() {
        let ring = Ring::<2, true>::new();
        assert_eq!(ring.read(&mut [Record::default(); 4]), ReadOutcome::default());
        assert_eq!(ring.capacity(), 2);
    }
}
