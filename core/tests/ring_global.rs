//! Multi-thread stress of the global record path: writer threads record through
//! `tickspan::span!` / `tickspan::event!` into their own ring of `tickspan::context::RINGS`
//! while a reader drains every ring concurrently. Every record read must be intact and in
//! order, and `read + lost == written` exactly, per ring and in total.
//!
//! The ring mode follows the build: run it also with `--features std,flight-recorder`
//! (`cargo xtask test` does both). One test in this binary: the rings are process-global.
#![cfg(all(feature = "std", not(feature = "disabled")))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tickspan::context::threads::{in_use, UNCLAIMED_LOST};
use tickspan::context::RINGS;
use tickspan::{Kind, Record};

const WRITERS: u64 = if cfg!(miri) { 2 } else { 4 };
/// Loop iterations per writer, three records each (enter, value, exit).
const ITERATIONS: u64 = if cfg!(miri) { 20 } else { 100_000 };

/// The event payload of iteration `seq`: both halves derive from it.
fn payload(seq: u64) -> u64 {
    seq | u64::from((seq as u32).wrapping_mul(0x9E37_79B9)) << 32
}

fn writer() {
    for seq in 0..ITERATIONS {
        let _g = tickspan::span!("stress");
        tickspan::event!("seq", payload(seq));
        if seq % 1024 == 0 {
            std::thread::yield_now();
        }
    }
}

/// What the reader learned about one ring.
#[derive(Default)]
struct Check {
    read: u64,
    lost: u64,
    last_seq: Option<u64>,
}

/// Callsite ids of the span and the event, learned from the first record of each kind: every
/// writer runs the same two macro invocations.
#[derive(Default)]
struct Callsites {
    span: Option<u32>,
    event: Option<u32>,
}

fn same(slot: &mut Option<u32>, id: u32) {
    assert_ne!(id, 0, "record without a callsite");
    assert_eq!(*slot.get_or_insert(id), id, "record from an unknown callsite");
}

fn check(ring: usize, c: &mut Check, cs: &mut Callsites, r: &Record) {
    match r.kind() {
        Some(Kind::SpanEnter | Kind::SpanExit) => {
            same(&mut cs.span, r.callsite());
            assert_eq!(r.a, 0, "ring {ring}: torn span record {r:?}");
        }
        Some(Kind::ValueU) => {
            same(&mut cs.event, r.callsite());
            let seq = r.value() & 0xFFFF_FFFF;
            assert_eq!(r.value(), payload(seq), "ring {ring}: torn value record {r:?}");
            if let Some(last) = c.last_seq {
                assert!(seq > last, "ring {ring}: value {seq} after {last}");
            }
            c.last_seq = Some(seq);
        }
        _ => panic!("ring {ring}: unexpected record {r:?}"),
    }
}

#[test]
// Under Miri some schedules of the spinning reader take many minutes; Miri covers the rings in
// ring_stress and the global path in the unit tests.
#[cfg_attr(miri, ignore)]
fn writers_and_concurrent_reader_through_the_macros() {
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut checks: Vec<Check> = (0..RINGS.len()).map(|_| Check::default()).collect();
            let mut cs = Callsites::default();
            let mut out = vec![Record::default(); 100];
            loop {
                let finished = done.load(Ordering::Acquire);
                let mut progress = false;
                // Only claimed rings can hold records (and Miri is much faster on two than on 64).
                for (i, ring) in RINGS.iter().enumerate().filter(|&(i, _)| in_use(i)) {
                    let o = ring.read(&mut out);
                    for r in &out[..o.records] {
                        check(i, &mut checks[i], &mut cs, r);
                    }
                    checks[i].read += o.records as u64;
                    checks[i].lost += u64::from(o.lost());
                    progress |= o.records > 0 || o.lost() > 0;
                }
                if !progress {
                    if finished {
                        return checks;
                    }
                    // Nothing to read: let the writers run (under Miri threads only switch
                    // when one yields or after a time slice).
                    std::thread::yield_now();
                }
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS).map(|_| std::thread::spawn(writer)).collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let checks = reader.join().unwrap();

    assert_eq!(UNCLAIMED_LOST.load(Ordering::Relaxed), 0, "a writer found no free ring");
    let used: Vec<_> = checks.iter().filter(|c| c.read + c.lost > 0).collect();
    assert_eq!(used.len() as u64, WRITERS, "one ring per writer thread");
    for c in &used {
        assert_eq!(c.read + c.lost, 3 * ITERATIONS, "read + lost != written");
    }
    let read: u64 = used.iter().map(|c| c.read).sum();
    let lost: u64 = used.iter().map(|c| c.lost).sum();
    eprintln!("flight-recorder={}: {read} read, {lost} lost", cfg!(feature = "flight-recorder"));
    assert!(read > 0);
}
