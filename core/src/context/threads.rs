//! std: one ring per thread, claimed from the static pool on the thread's first record and
//! handed back, once drained, when the thread exits.

use super::{GlobalRing, RINGS};
use crate::config::CONTEXTS;
use core::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;

const FREE: u8 = 0;
const OWNED: u8 = 1;
const RETIRED: u8 = 2;
const NONE: usize = usize::MAX;
/// A thread found no free ring: its records are counted in [`UNCLAIMED_LOST`].
const EXHAUSTED: usize = usize::MAX - 1;

static STATE: [AtomicU8; CONTEXTS] = [const { AtomicU8::new(FREE) }; CONTEXTS];
static OWNER: [Mutex<Option<Owner>>; CONTEXTS] = [const { Mutex::new(None) }; CONTEXTS];

/// Records dropped because every ring was owned by a live thread (raise `TICKSPAN_CONTEXTS`).
pub static UNCLAIMED_LOST: AtomicU64 = AtomicU64::new(0);

/// Who owns a ring: the drain names contexts with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The thread's name, or `thread-<n>`.
    pub name: String,
    /// Incremented each time the ring changes hands.
    pub generation: u32,
}

/// This thread's claim on a ring. It has a destructor (it retires the ring when the thread
/// exits), so every access checks whether that destructor is registered yet: it is only
/// touched on a thread's first record, never on the hot path.
struct Claim(Cell<usize>);

impl Drop for Claim {
    fn drop(&mut self) {
        // From here on the thread's records go through `first_record` and are counted lost:
        // once the ring is retired the drain may hand it to another thread.
        MY_RING.set(None);
        let i = self.0.get();
        if i < CONTEXTS {
            STATE[i].store(RETIRED, Ordering::Release);
        }
    }
}

thread_local! {
    static CLAIM: Claim = const { Claim(Cell::new(NONE)) };
    /// The ring this thread writes, once claimed. `const`-initialised and without a
    /// destructor, so reading it is one thread-pointer-relative load: the hot path.
    static MY_RING: Cell<Option<&'static GlobalRing>> = const { Cell::new(None) };
}

#[cold]
fn claim() -> usize {
    static GENERATION: AtomicU64 = AtomicU64::new(0);
    for (i, s) in STATE.iter().enumerate() {
        if s.compare_exchange(FREE, OWNED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            let t = std::thread::current();
            let name = t.name().map(str::to_owned).unwrap_or_else(|| format!("{:?}", t.id()));
            let generation = GENERATION.fetch_add(1, Ordering::Relaxed) as u32;
            *OWNER[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(Owner { name, generation });
            return i;
        }
    }
    EXHAUSTED
}

/// A record from a thread without a ring: its first record (claims one), or every ring was
/// taken, or the thread is being torn down (its claim already dropped). `None`: the record is
/// lost, and counted.
#[cold]
#[inline(never)]
fn first_record() -> Option<&'static GlobalRing> {
    // `try_with` fails only while the thread is being torn down.
    let i = CLAIM
        .try_with(|c| {
            let mut i = c.0.get();
            if i == NONE {
                i = claim();
                c.0.set(i);
            }
            i
        })
        .unwrap_or(EXHAUSTED);
    match RINGS.get(i) {
        Some(ring) => {
            // The claim is alive (its destructor, which clears this, has not run).
            MY_RING.set(Some(ring));
            Some(ring)
        }
        None => {
            UNCLAIMED_LOST.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[inline(always)]
pub(crate) fn with_any_ring(f: impl FnOnce(&'static GlobalRing)) {
    if let Some(ring) = MY_RING.get().or_else(first_record) {
        f(ring)
    }
}

/// The current owner of ring `i`, if any thread has claimed it.
pub fn owner(i: usize) -> Option<Owner> {
    OWNER.get(i)?.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Called by the drain after it emptied ring `i`: a ring whose thread has exited is freed for
/// the next thread. Returns whether it was freed.
pub fn release_if_retired(i: usize) -> bool {
    STATE.get(i).is_some_and(|s| {
        s.compare_exchange(RETIRED, FREE, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    })
}

/// Whether ring `i` is owned by a thread (live or exited but not yet drained).
pub fn in_use(i: usize) -> bool {
    STATE.get(i).is_some_and(|s| s.load(Ordering::Acquire) != FREE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::index_of;
    use crate::record::{Kind, Record};

    #[test]
    fn a_thread_keeps_its_ring_and_retires_it_on_exit() {
        let i = std::thread::spawn(|| {
            let mut first = usize::MAX;
            with_any_ring(|r| {
                r.push(Record::new(Kind::Event, 0x10, 1, 2, 3));
                first = index_of(r);
            });
            assert_eq!(STATE[first].load(Ordering::Acquire), OWNED);
            // Later records hit the cached ring, not a new claim.
            let mut again = usize::MAX;
            with_any_ring(|r| again = index_of(r));
            assert_eq!(again, first);
            first
        })
        .join()
        .unwrap();
        // The claim's destructor retired the ring (a concurrent drain may have freed it since).
        assert_ne!(STATE[i].load(Ordering::Acquire), OWNED);
    }

    #[test]
    fn records_after_the_claim_is_dropped_are_lost_not_written() {
        struct Late;
        impl Drop for Late {
            fn drop(&mut self) {
                // Runs after `Claim`'s destructor (see below): the ring is retired by now.
                with_any_ring(|r| r.push(Record::new(Kind::Event, 0x10, 9, 9, 9)));
            }
        }
        thread_local! { static LATE: Late = const { Late }; }
        let (i, generation) = std::thread::spawn(|| {
            // Thread-local destructors run in reverse order of first use: touching `LATE`
            // before the first record makes its destructor run after the claim's.
            LATE.with(|_| {});
            let mut i = usize::MAX;
            with_any_ring(|r| {
                r.push(Record::new(Kind::Event, 0x10, 1, 1, 1));
                i = index_of(r);
            });
            (i, owner(i).unwrap().generation)
        })
        .join()
        .unwrap();
        // Unless a concurrent drain freed the ring and another thread claimed it since, it
        // holds the one record written while the claim was alive.
        if owner(i).is_some_and(|o| o.generation == generation) {
            assert_eq!(RINGS[i].written(), 1);
        }
    }
}
