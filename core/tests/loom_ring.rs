//! Model checks of the SPSC ring with `loom`: interleavings (up to a preemption bound) of one
//! writer pushing while one reader reads, in both modes.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p tickspan --test loom_ring --release`
//! (`ring.rs` and `sync.rs` switch to loom's atomics under `cfg(loom)`).
//!
//! The reader runs on the spawned thread and the writer on the model's main thread: loom 0.7
//! misses every interleaving when a spawned thread's first access to an atomic is a load that
//! its later store depends on (tokio-rs/loom#392), which is exactly how `push` starts.
//! `models_explore_interleavings` guards against that silently happening again.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use tickspan::{Kind, ReadOutcome, Record, Ring};

/// Record number `seq`: all four words derive from it, so a record mixing two writes is caught.
fn rec(seq: u32) -> Record {
    Record::new(Kind::Event, (seq + 1) << 4, seq, !seq, seq.wrapping_mul(0x9E37_79B9))
}

/// The sequence number of an intact record; panics on a torn or empty one.
fn seq_of(r: &Record) -> u32 {
    assert_eq!(r.kind(), Some(Kind::Event), "empty or torn record {r:?}");
    let seq = (r.callsite() >> 4) - 1;
    assert_eq!(*r, rec(seq), "torn record");
    seq
}

/// What the reader saw.
#[derive(Default)]
struct Seen {
    seqs: Vec<u32>,
    lost: u32,
    /// Overwrite mode: the sequence number the next record must have (every push is numbered
    /// by the write index, and losses are reported before the records that follow them).
    next: u32,
}

impl Seen {
    fn take<const O: bool>(&mut self, o: ReadOutcome, out: &[Record]) {
        self.next += o.lost_before;
        self.lost += o.lost_before;
        for r in &out[..o.records] {
            let s = seq_of(r);
            if let Some(&prev) = self.seqs.last() {
                assert!(s > prev, "out of order: {s} after {prev}");
            }
            if O {
                assert_eq!(s, self.next, "a loss was reported at the wrong place");
            } else {
                // Drop-newest may report a loss late (after a record pushed after it) but never
                // before the records that preceded it.
                let missing_before = s - self.seqs.len() as u32;
                assert!(self.lost <= missing_before, "loss reported before record {s}");
            }
            self.next = s + 1;
            self.seqs.push(s);
        }
        self.lost += o.lost_after;
        self.next += o.lost_after;
    }

    fn read<const N: usize, const O: bool>(&mut self, ring: &Ring<N, O>, chunk: usize) -> bool {
        let mut out = [Record::default(); 4];
        let o = ring.read(&mut out[..chunk]);
        self.take::<O>(o, &out);
        o.records > 0 || o.lost() > 0
    }
}

/// Executions explored by the models run so far.
static EXECUTIONS: AtomicUsize = AtomicUsize::new(0);

/// The writer pushes `k` records while the reader reads `reads` times with a buffer of `chunk`
/// records; once both are done the rest is drained, and the whole history is checked.
fn model<const N: usize, const O: bool>(k: u32, reads: usize, chunk: usize) {
    let mut b = loom::model::Builder::new();
    // Bounded so that each model finishes in seconds.
    b.preemption_bound = Some(3);
    b.check(move || {
        EXECUTIONS.fetch_add(1, Relaxed);
        let ring = Arc::new(Ring::<N, O>::new());
        let reader = {
            let ring = ring.clone();
            thread::spawn(move || {
                let mut seen = Seen::default();
                for _ in 0..reads {
                    seen.read(&*ring, chunk);
                }
                seen
            })
        };
        for s in 0..k {
            ring.push(rec(s));
        }
        let mut seen = reader.join().unwrap();
        while seen.read(&*ring, chunk) {}
        assert_eq!(seen.seqs.len() as u32 + seen.lost, k, "read + lost != written");
        // The write index counts every push in overwrite mode, only accepted ones otherwise.
        assert_eq!(ring.written(), if O { k } else { seen.seqs.len() as u32 });
        if !O {
            // Drop-newest keeps the oldest: nothing is lost before the ring has been full.
            let first_loss = (0..k).find(|s| !seen.seqs.contains(s)).unwrap_or(k);
            assert!(first_loss >= N as u32, "lost record {first_loss} while the ring had room");
        }
    });
}

#[test]
fn drop_newest_one_concurrent_read() {
    model::<2, false>(3, 1, 4);
}

#[test]
fn drop_newest_small_chunks() {
    model::<2, false>(4, 2, 1);
}

#[test]
fn overwrite_one_concurrent_read() {
    model::<2, true>(3, 1, 4);
}

#[test]
fn overwrite_small_chunks() {
    model::<2, true>(4, 2, 1);
}

#[test]
fn models_explore_interleavings() {
    let before = EXECUTIONS.load(Relaxed);
    model::<2, true>(3, 1, 4);
    let explored = EXECUTIONS.load(Relaxed) - before;
    assert!(explored > 100, "loom explored only {explored} executions");
}
