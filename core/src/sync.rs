//! Atomics the ring is built on: `core`'s, or `loom`'s when model checking (`--cfg loom`).
//!
//! On single-core bare-metal targets every reader and writer runs on the same CPU, so the
//! ordering between a writer and a reader it preempts (or that preempts it) only needs the
//! compiler not to reorder: [`publish`], [`observe`] and [`release_fence`] then cost no `dmb`. The
//! `multi-core` feature restores hardware barriers for parts such as the RP2040.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32};
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicU32};

use core::sync::atomic::Ordering;

#[cfg(all(target_os = "none", not(feature = "multi-core"), not(loom)))]
mod imp {
    use super::*;
    use core::sync::atomic::compiler_fence;

    #[inline(always)]
    pub(crate) fn publish(a: &AtomicU32, v: u32) {
        compiler_fence(Ordering::Release);
        a.store(v, Ordering::Relaxed);
    }

    #[inline(always)]
    pub(crate) fn release_fence() {
        compiler_fence(Ordering::Release);
    }

    #[inline(always)]
    pub(crate) fn observe(a: &AtomicU32) -> u32 {
        let v = a.load(Ordering::Relaxed);
        compiler_fence(Ordering::Acquire);
        v
    }
}

#[cfg(not(all(target_os = "none", not(feature = "multi-core"), not(loom))))]
mod imp {
    use super::*;

    #[inline(always)]
    pub(crate) fn publish(a: &AtomicU32, v: u32) {
        a.store(v, Ordering::Release);
    }

    #[inline(always)]
    pub(crate) fn release_fence() {
        fence(Ordering::Release);
    }

    #[inline(always)]
    pub(crate) fn observe(a: &AtomicU32) -> u32 {
        a.load(Ordering::Acquire)
    }
}

/// `publish` (a Release store), `observe` (an Acquire load) and `release_fence`: hardware
/// barriers where another core may be on the other side, compiler-only on one core.
pub(crate) use imp::{observe, publish, release_fence};
