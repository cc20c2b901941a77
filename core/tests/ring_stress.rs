//! Multi-thread stress of `Ring` itself: several writer threads, each owning a ring, and one
//! reader draining all of them concurrently, in both modes. Every record read must be intact
//! and in order, and per ring `read + lost == written` exactly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tickspan::{Kind, ReadOutcome, Record, Ring};

const WRITERS: u32 = if cfg!(miri) { 2 } else { 4 };
/// Records per writer; Miri runs the small-ring tests on a small sample.
const PUSHES: u32 = if cfg!(miri) { 100 } else { 200_000 };

/// Record `seq` of writer `ring`: every word derives from both, so a torn record or one from
/// another ring is caught.
fn rec(ring: u32, seq: u32) -> Record {
    let mix = seq.wrapping_mul(0x9E37_79B9) ^ ring;
    Record::new(Kind::ValueU, (ring + 1) << 4, seq ^ (ring << 28), seq, mix)
}

/// Per-ring reader state: checks each record as it arrives.
#[derive(Default)]
struct Check {
    read: u64,
    lost: u64,
    /// Overwrite mode: the sequence number the next record must have.
    next: u32,
    last: Option<u32>,
}

impl Check {
    fn take(&mut self, ring: u32, o: ReadOutcome, out: &[Record], exact_positions: bool) {
        self.next += o.lost_before;
        for r in &out[..o.records] {
            let seq = r.a;
            assert_eq!(*r, rec(ring, seq), "ring {ring}: torn or foreign record");
            if let Some(last) = self.last {
                assert!(seq > last, "ring {ring}: record {seq} after {last}");
            }
            if exact_positions {
                assert_eq!(seq, self.next, "ring {ring}: loss reported at the wrong place");
            }
            self.last = Some(seq);
            self.next = seq + 1;
        }
        self.read += o.records as u64;
        self.lost += u64::from(o.lost());
        self.next += o.lost_after;
    }
}

fn stress<const N: usize, const O: bool>(chunk: usize) {
    let rings: Arc<Vec<Ring<N, O>>> = Arc::new((0..WRITERS).map(|_| Ring::new()).collect());
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (rings, done) = (rings.clone(), done.clone());
        std::thread::spawn(move || {
            let mut checks: Vec<Check> = (0..WRITERS).map(|_| Check::default()).collect();
            let mut out = vec![Record::default(); chunk];
            let mut concurrent_reads = 0u64;
            loop {
                // Read `done` before the pass: a pass that starts after every push finished
                // and finds nothing ends the reader.
                let finished = done.load(Ordering::Acquire);
                let mut progress = false;
                for (i, ring) in rings.iter().enumerate() {
                    let o = ring.read(&mut out);
                    checks[i].take(i as u32, o, &out, O);
                    progress |= o.records > 0 || o.lost() > 0;
                    if !finished {
                        concurrent_reads += o.records as u64;
                    }
                }
                if !progress {
                    if finished {
                        return (checks, concurrent_reads);
                    }
                    // Nothing to read: let the writers run (under Miri threads only switch
                    // when one yields or after a time slice).
                    std::thread::yield_now();
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let rings = rings.clone();
            std::thread::spawn(move || {
                for seq in 0..PUSHES {
                    rings[i as usize].push(rec(i, seq));
                    if seq % 1024 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let (checks, concurrent_reads) = reader.join().unwrap();
    for (i, c) in checks.iter().enumerate() {
        assert_eq!(c.read + c.lost, u64::from(PUSHES), "ring {i}: read + lost != written");
    }
    let read: u64 = checks.iter().map(|c| c.read).sum();
    let lost: u64 = checks.iter().map(|c| c.lost).sum();
    eprintln!("N={N} overwrite={O} chunk={chunk}: {read} read ({concurrent_reads} while writing), {lost} lost");
    assert!(read > 0);
}

#[test]
fn drop_newest_small_ring() {
    stress::<64, false>(7);
}

#[test]
#[cfg_attr(miri, ignore)] // the small-ring tests cover the same code under Miri
fn drop_newest_large_ring() {
    stress::<4096, false>(512);
}

#[test]
fn overwrite_small_ring() {
    stress::<64, true>(7);
}

#[test]
#[cfg_attr(miri, ignore)] // the small-ring tests cover the same code under Miri
fn overwrite_large_ring() {
    stress::<4096, true>(512);
}
