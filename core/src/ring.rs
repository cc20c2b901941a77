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
        self.push_with(rec.tag, rec.a, rec.b, || rec.ts);
    }

    /// Appends the record `tag, ts(), a, b` like [`push`](Self::push), calling `ts` only once
    /// the record has a slot, between storing the payload words and the head words.
    ///
    /// Reading the clock that late keeps it out of the registers while the payload is stored:
    /// on a Cortex-M3 the record path then fits the five call-clobbered registers, so an
    /// out-of-line record needs no stack frame. (A refused record reads no clock at all.)
    #[inline(always)]
    pub(crate) fn push_with(&self, tag: u32, a: u32, b: u32, ts: impl FnOnce() -> u32) {
        let w = self.write.load(Relaxed);
        let i = w & Self::MASK;
        // A non-zero tag is a record the reader has not consumed yet: the ring is full. (Every
        // record's tag is non-zero: its kind is.) Acquire: the reader's copy of the slot
        // happened before it zeroed the tag, so it is done before the stores below.
        if !OVERWRITE && observe(&self.slots[i as usize][0]) != 0 {
            // Release: a reader that sees this count also sees every record written before.
            publish(&self.lost, self.lost.load(Relaxed).wrapping_add(1));
            frame_here();
            return;
        }
        // Overwrite mode: a reader that copies any word stored below must, after its acquire
        // fence, see a write index of at least `w` (seqlock writer side).
        if OVERWRITE {
            release_fence();
        }
        // The order of the words within the slot does not matter: no reader looks at the slot
        // before the write index below says it is written (and in overwrite mode the reader's
        // seqlock check covers every word).
        store_pair::<N, OVERWRITE, 8>(self, i, a, b);
        store_pair::<N, OVERWRITE, 0>(self, i, tag, ts());
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
        let p = self.peek();
        let mut outcome = ReadOutcome { lost_before: p.skipped, ..ReadOutcome::default() };
        let (mut i, mut n) = (p.start, 0);
        // One pass: copy each slot out and hand it back to the writer.
        while i != p.end && n < out.len() {
            match self.load(i) {
                Some(rec) => {
                    out[n] = rec;
                    n += 1;
                    self.release(i);
                }
                // Rewritten while copied (overwrite mode). A loss can only be reported before
                // the first returned record: stop at it, the next read counts it.
                None if n > 0 => break,
                None => outcome.lost_before += 1,
            }
            i = i.wrapping_add(1);
        }
        outcome.records = n;
        outcome.lost_after = self.finish(&p, i);
        outcome
    }

    /// Starts an in-place read: the unread records are the indices `start..end` of the result.
    /// The reader then [`load`](Self::load)s each in order, [`release`](Self::release)s it once
    /// it is done with it, and ends with [`finish`](Self::finish). [`read`](Self::read) is built
    /// on these; the drain uses them to encode records straight from their slots, without
    /// copying them out first.
    #[inline(always)]
    pub(crate) fn peek(&self) -> Peek {
        // Read the loss count before the write index: any loss counted happened while the
        // ring was full, i.e. after the record at `end - 1` (drop-newest mode).
        let lost = if OVERWRITE { 0 } else { self.lost.load(Acquire) };
        let end = self.write.load(Acquire);
        let mut start = self.read.load(Relaxed);
        let mut skipped = 0;
        if OVERWRITE {
            let behind = end.wrapping_sub(start);
            if behind > N as u32 {
                skipped = behind - N as u32;
                start = end.wrapping_sub(N as u32);
            }
        }
        Peek { start, end, skipped, lost }
    }

    /// Record `i` (an index of the current [`peek`](Self::peek)), copied from its slot. `None`
    /// in overwrite mode when the writer may have rewritten the slot while it was copied: that
    /// record is lost.
    #[inline(always)]
    pub(crate) fn load(&self, i: u32) -> Option<Record> {
        let (tag, ts) = load_pair::<N, OVERWRITE, 0>(self, i & Self::MASK);
        let (a, b) = load_pair::<N, OVERWRITE, 8>(self, i & Self::MASK);
        if OVERWRITE {
            // Seqlock check: the writer has published `w2` and may be storing index `w2`,
            // which shares the slot of `i` when `w2 - i >= N`.
            fence(Acquire);
            let w2 = self.write.load(Relaxed);
            if w2.wrapping_sub(i) >= N as u32 {
                return None;
            }
        }
        Some(Record { tag, ts, a, b })
    }

    /// Drop-newest: the tag and timestamp words of record `i`; then, if the reader needs them,
    /// [`load_tail`](Self::load_tail) gives its payload words. A drop-newest reader may load
    /// the words of a slot it has not released one at a time: the writer does not touch the
    /// slot before that. (Overwrite mode needs [`load`](Self::load) and its check.)
    // Drain only (not built under loom).
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(always)]
    pub(crate) fn load_head(&self, i: u32) -> (u32, u32) {
        load_pair::<N, OVERWRITE, 0>(self, i & Self::MASK)
    }

    /// See [`load_head`](Self::load_head).
    // Drain only (not built under loom).
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(always)]
    pub(crate) fn load_tail(&self, i: u32) -> (u32, u32) {
        load_pair::<N, OVERWRITE, 8>(self, i & Self::MASK)
    }

    /// Hands the slot of record `i`, already [`load`](Self::load)ed, back to the writer
    /// (drop-newest: zeroes its tag, see [`push`](Self::push)). Nothing in overwrite mode.
    #[inline(always)]
    pub(crate) fn release(&self, i: u32) {
        if !OVERWRITE {
            // Addressed from the ring's start like `load_pair`, so that the compiler computes
            // the slot's address once for both.
            #[cfg(not(loom))]
            let tag = {
                let base = (self as *const Self).cast::<u8>().wrapping_add((i & Self::MASK) as usize * 16);
                let tag = base.wrapping_add(core::mem::offset_of!(Self, slots)).cast::<AtomicU32>();
                // SAFETY: `i & MASK < N` and a slot is 16 bytes (four 4-byte atomics), so `tag`
                // is the first word of slot `i & MASK` of this ring: an aligned, live
                // `AtomicU32` that may be stored through a shared reference.
                unsafe { &*tag }
            };
            // loom's atomics are not 4 bytes: index the slot.
            #[cfg(loom)]
            let tag = &self.slots[(i & Self::MASK) as usize][0];
            // Release: the copy of the slot is done before the writer may reuse it.
            publish(tag, 0);
        }
    }

    /// Whether the ring counted drop-newest losses that no read has reported yet.
    // Drain only (not built under loom).
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(always)]
    pub(crate) fn unreported_loss(&self, p: &Peek) -> bool {
        !OVERWRITE && p.lost != self.lost_reported.load(Relaxed)
    }

    /// Ends an in-place read: the records before index `to` (in `p.start..=p.end`) are
    /// consumed, the rest stay unread. Returns the records lost after index `to` that this read
    /// reports ([`ReadOutcome::lost_after`]): drop-newest losses, once the reader has caught up.
    #[inline(always)]
    pub(crate) fn finish(&self, p: &Peek, to: u32) -> u32 {
        publish(&self.read, to);
        if OVERWRITE || to != p.end {
            return 0;
        }
        let reported = self.lost_reported.load(Relaxed);
        self.lost_reported.store(p.lost, Relaxed);
        p.lost.wrapping_sub(reported)
    }
}

/// Puts the stack frame of an out-of-line record on the path that refuses the record.
///
/// Thumb targets keep frame pointers, so a function that is not inlined sets up a frame
/// (`push {r7, lr}`, `mov r7, sp`) on the paths that need one, or at its entry if none does.
/// The path that writes a record fits the call-clobbered registers and needs none; declaring
/// `lr` clobbered here (the asm is empty) makes the compiler save it on the rare drop-newest
/// refusal instead: two instructions less per record written out of line.
#[inline(always)]
fn frame_here() {
    #[cfg(tickspan_cortex_m)]
    // SAFETY: an empty asm: it touches nothing, and a clobbered `lr` only makes the compiler
    // save the return address first.
    unsafe {
        core::arch::asm!("", out("lr") _, options(nomem, nostack, preserves_flags));
    }
}

/// An in-place read of a ring, from [`Ring::peek`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peek {
    /// Index of the oldest unread record.
    pub start: u32,
    /// One past the newest record (the write index as read).
    pub end: u32,
    /// Overwrite mode: records overwritten before `start` was reached (lost before it).
    pub skipped: u32,
    /// Drop-newest: the writer's loss counter as read.
    lost: u32,
}

impl Peek {
    /// Drop-newest: records refused so far (wrapping), as read before `end`; 0 in overwrite
    /// mode. The raw drain sends it as is and the host takes differences.
    // Drain only (not built under loom).
    #[cfg_attr(loom, allow(dead_code))]
    #[inline(always)]
    pub(crate) fn refused(&self) -> u32 {
        self.lost
    }
}

/// Loads words `W / 4` and `W / 4 + 1` of slot `i` as two relaxed atomic word loads.
#[cfg(not(tickspan_thumb2))]
#[inline(always)]
fn load_pair<const N: usize, const O: bool, const W: usize>(ring: &Ring<N, O>, i: u32) -> (u32, u32) {
    let s = &ring.slots[i as usize];
    (s[W / 4].load(Relaxed), s[W / 4 + 1].load(Relaxed))
}

/// Loads two words of slot `i` with one `ldrd` (the counterpart of the thumb2
/// [`store_pair`]): each word of an `ldrd` is a single-copy-atomic word access, so this is two
/// relaxed atomic loads.
#[cfg(tickspan_thumb2)]
#[inline(always)]
fn load_pair<const N: usize, const O: bool, const W: usize>(ring: &Ring<N, O>, i: u32) -> (u32, u32) {
    let base = (ring as *const Ring<N, O>).cast::<u8>().wrapping_add(i as usize * 16);
    let (lo, hi): (u32, u32);
    // SAFETY: `i < N` and `W` is 0 or 8, so the 8 bytes at `base + offset_of!(slots) + W`
    // are two words of slot `i`, inside `ring` and 4-aligned; they are `AtomicU32`s, readable
    // through a shared reference. The asm only reads them and touches no stack.
    unsafe {
        core::arch::asm!(
            "ldrd {lo}, {hi}, [{base}, #{off}]",
            base = in(reg) base,
            lo = out(reg) lo,
            hi = out(reg) hi,
            off = const core::mem::offset_of!(Ring<N, O>, slots) + W,
            options(nostack, preserves_flags, readonly),
        );
    }
    (lo, hi)
}

/// Stores words `W / 4` and `W / 4 + 1` of slot `i` as two relaxed atomic word stores.
#[cfg(not(tickspan_thumb2))]
#[inline(always)]
fn store_pair<const N: usize, const O: bool, const W: usize>(ring: &Ring<N, O>, i: u32, lo: u32, hi: u32) {
    let s = &ring.slots[i as usize];
    s[W / 4].store(lo, Relaxed);
    s[W / 4 + 1].store(hi, Relaxed);
}

/// Stores two words of slot `i` with one `strd`, which the compiler does not emit for atomic
/// stores: a record is two instructions instead of four.
///
/// Each word of an ARMv7-M `strd` is a single-copy-atomic word access, so this is two relaxed
/// atomic word stores, like the portable version: a reader never sees a torn word, and a
/// misconfigured second writer mixes records but causes no undefined behaviour.
#[cfg(tickspan_thumb2)]
#[inline(always)]
fn store_pair<const N: usize, const O: bool, const W: usize>(ring: &Ring<N, O>, i: u32, lo: u32, hi: u32) {
    // Addressed from the ring's start so that the slot's offset folds into the instruction.
    let base = (ring as *const Ring<N, O>).cast::<u8>().wrapping_add(i as usize * 16);
    // SAFETY: `i < N` and `W` is 0 or 8, so the 8 bytes at `base + offset_of!(slots) + W` are
    // two words of slot `i`, inside `ring` and 4-aligned; they are `AtomicU32`s, which may be
    // written through a shared reference. The asm touches no other memory and no stack.
    unsafe {
        core::arch::asm!(
            "strd {lo}, {hi}, [{base}, #{off}]",
            base = in(reg) base,
            lo = in(reg) lo,
            hi = in(reg) hi,
            off = const core::mem::offset_of!(Ring<N, O>, slots) + W,
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
