//! A record keeps its time however long it waits in its ring: the drain dates it from the
//! clock reading that first found it there (docs/wire-format.md, Timestamps). Where the drain
//! cannot bound a record's age to one clock period it says so with [`Item::Ambiguous`], and
//! every record it misdates is inside such a report.
#![cfg(feature = "decode")]

use std::cell::Cell;
use tickspan::drain::{Drain, StreamInfo};
use tickspan::wire::{Decoder, Item};
use tickspan::{Kind, Record, Ring};

/// The clock's period in ticks (a SysTick reload of 1000).
const WRAP: u64 = 1000;

thread_local! {
    static NOW: Cell<u64> = const { Cell::new(0) };
}

/// One decoded record: context, time (on the true clock once the offset is removed), its
/// payload (the index of its true time), and whether an ambiguous-time report covers it.
#[derive(Debug)]
struct Got {
    ctx: u32,
    ts: u64,
    seq: u32,
    ambiguous: bool,
}

struct Outcome {
    got: Vec<Got>,
    /// True time of each record, indexed by its payload.
    truth: Vec<u64>,
    /// Ticks between ring 1's first record and the drain call that sent it.
    waited: u64,
    /// `(ctx, earliest, first, last, records)` of each ambiguous-time report.
    reports: Vec<(u32, u64, u64, u64, u32)>,
}

impl Outcome {
    fn misdated(&self) -> Vec<&Got> {
        self.got.iter().filter(|g| g.ts != self.truth[g.seq as usize]).collect()
    }
}

/// Ring 1 gets a record, then ring 0 a burst of 400 (one per tick), and the drain is called
/// every 300 ticks (well under the period) with a 16-byte buffer: sending ring 0's burst keeps
/// it busy for many periods while ring 1's record waits. With `ring1_every`, ring 1 gets
/// another record every that many drain calls; with `before_drain`, its first record is
/// written before the drain exists.
fn run(ring1_every: u32, before_drain: bool) -> Outcome {
    let rings: [Ring<512>; 2] = [Ring::new(), Ring::new()];
    let mut t = 50 * WRAP;
    let mut truth = Vec::new();
    let mut push = |ctx: usize, t: u64| {
        rings[ctx].push(Record::new(Kind::Event, 0x40, (t % WRAP) as u32, truth.len() as u32, 0));
        truth.push(t);
    };
    if before_drain {
        push(1, t);
        t += 10 * WRAP;
    }
    NOW.set(t);
    let info = StreamInfo {
        clock_hz: 1_000_000,
        clock_wrap: WRAP,
        node: 0,
        target: "test",
        name: "",
        now: || NOW.get() % WRAP,
        unix_ns: || 0,
    };
    let mut drain = Drain::new(&rings, info);
    if !before_drain {
        t += 10;
        push(1, t);
    }
    let ring1_first = t;
    for _ in 0..400 {
        t += 1;
        push(0, t);
    }
    let (mut got, mut reports, mut waited) = (Vec::new(), Vec::new(), 0);
    let mut dec = Decoder::new();
    let mut buf = [0u8; 16];
    for call in 1.. {
        t += 300;
        if ring1_every > 0 && call % ring1_every == 0 && call < 200 {
            push(1, t - 7);
        }
        NOW.set(t);
        let n = drain.read(&mut buf);
        dec.feed(&buf[..n], &mut |i| match i {
            Item::Record { ctx, ts, a, .. } => {
                if ctx == 1 && waited == 0 {
                    waited = t - ring1_first;
                }
                got.push(Got { ctx, ts, seq: a, ambiguous: false })
            }
            Item::Ambiguous { ctx, earliest, first, last, records } => {
                let mine = got.iter_mut().rev().filter(|g| g.ctx == ctx).take(records as usize);
                mine.for_each(|g| g.ambiguous = true);
                reports.push((ctx, earliest, first, last, records));
            }
            Item::Skipped { .. } | Item::Loss { .. } => panic!("{i:?}"),
            _ => {}
        })
        .unwrap();
        if n == 0 && call > 200 {
            break;
        }
    }
    assert_eq!(got.len(), truth.len(), "every record arrived");
    // Decoded times are on the drain's own timeline: one offset, from ring 0's first record.
    let first = got.iter().find(|g| g.ctx == 0).expect("ring 0 records");
    let offset = first.ts.wrapping_sub(truth[first.seq as usize]);
    for g in &mut got {
        g.ts = g.ts.wrapping_sub(offset);
    }
    let reports = reports.into_iter().map(|(c, e, f, l, n)| (c, if e == 0 { 0 } else { e.wrapping_sub(offset) }, f.wrapping_sub(offset), l.wrapping_sub(offset), n)).collect();
    Outcome { got, truth, waited, reports }
}

#[test]
fn a_record_waiting_periods_behind_another_rings_backlog_keeps_its_time() {
    let out = run(0, false);
    assert!(out.waited > 3 * WRAP, "ring 1's record must wait several periods; it waited {} ticks", out.waited);
    assert!(out.reports.is_empty(), "the drain read the clock every 300 ticks: {:?}", out.reports);
    let wrong = out.misdated();
    assert!(wrong.is_empty(), "{} misdated, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(3)]);
}

#[test]
fn records_of_a_ring_that_waits_beyond_what_its_marks_cover_are_reported_not_misdated_silently() {
    // Ring 1 changes at every drain call while it waits: more windows than the drain keeps.
    let out = run(2, false);
    assert!(!out.reports.is_empty(), "the drain must report what it cannot date");
    let silent: Vec<_> = out.misdated().into_iter().filter(|g| !g.ambiguous).collect();
    assert!(silent.is_empty(), "misdated without a report: {silent:?}");
    for &(ctx, earliest, first, last, records) in &out.reports {
        assert_eq!(ctx, 1, "only the waiting ring is ambiguous");
        assert!(earliest <= first && first <= last && records > 0);
    }
    // Each reported record lies in its report's range: after `earliest`, not after its date.
    for g in out.got.iter().filter(|g| g.ambiguous) {
        let truth = out.truth[g.seq as usize];
        assert!(truth <= g.ts && (g.ts - truth) % WRAP == 0, "{g:?} (true {truth})");
    }
}

#[test]
fn records_written_before_the_drain_existed_are_reported() {
    let out = run(0, true);
    assert_eq!(out.reports.len(), 1, "{:?}", out.reports);
    let (ctx, earliest, _, _, records) = out.reports[0];
    assert_eq!((ctx, records), (1, 1));
    assert!(earliest <= out.truth[0], "unknown lower bound");
    let wrong = out.misdated();
    assert!(wrong.iter().all(|g| g.ambiguous), "{wrong:?}");
}
