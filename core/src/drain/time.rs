//! How the drain dates records: a 64-bit extension of the clock, and per ring the clock
//! readings ("marks") that bound when its unread records were written.
//!
//! A record holds the low 32 bits of the clock (on SysTick, a count below the reload value),
//! so its time is known only modulo the clock's period. The drain reads the clock often (each
//! call and each frame) and, at every reading, notes each ring's write index *before* it reads
//! the clock. A record below the index noted at reading `k`, and not below the one noted at the
//! reading before, was written between those two readings: its time is the one moment in that
//! window congruent to its stamp. So a record's age in its ring does not matter; what matters is
//! that the window is shorter than a period, which holds whenever the drain reads the clock at
//! least once per period — and where it does not hold, the drain knows it and says so
//! ([`Timebase::certain`]).

use crate::record::{Kind, Record};
use core::mem::MaybeUninit;

/// Marks kept per ring. Adjacent windows are merged while they stay under half a period, so
/// this many cover a backlog of several periods; beyond it the newest window widens and, past
/// [`Timebase::certain`]'s bound, its records are reported as ambiguous.
const MARKS: usize = if cfg!(feature = "std") { 16 } else { 6 };

/// A clock reading that bounds a window of a ring's records: those below `w` and at or above
/// the previous mark's `w` were written after `lo` and by `t`.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Mark {
    /// Write index noted just before the reading.
    w: u32,
    /// The reading as the clock returned it (its low 32 bits).
    raw: u32,
    /// The reading on the drain's 64-bit timeline.
    t: u64,
    /// The latest earlier reading at which none of the window's records existed yet.
    pub(super) lo: u64,
}

/// The marks of one ring, oldest first: a circular buffer (consuming the oldest moves no
/// memory) whose free slots stay uninitialised (a new drain clears nothing).
#[derive(Clone, Copy, Debug)]
pub(super) struct Marks {
    m: [MaybeUninit<Mark>; MARKS],
    /// Slot of the oldest mark.
    head: usize,
    len: usize,
    /// Write index at the latest reading, and that reading's time: records from `w` on were
    /// written after `lo`.
    w: u32,
    lo: u64,
}

impl Marks {
    /// No marks; the ring's unread records start at `read`, written at an unknown time.
    pub(super) const fn new(read: u32) -> Marks {
        Marks { m: [MaybeUninit::uninit(); MARKS], head: 0, len: 0, w: read, lo: 0 }
    }

    /// The slot of the `k`-th oldest mark (`k < MARKS`), without a division (none on Armv6-M).
    #[inline(always)]
    fn slot(&self, k: usize) -> usize {
        let i = self.head + k;
        if i >= MARKS {
            i - MARKS
        } else {
            i
        }
    }

    /// The `k`-th oldest mark, `k < len`.
    #[inline(always)]
    fn get(&mut self, k: usize) -> Option<&mut Mark> {
        let slot = self.slot(k);
        let m = self.m.get_mut(slot).filter(|_| k < self.len)?;
        // SAFETY: slots `head .. head + len` (circularly) hold marks written by `note`.
        Some(unsafe { m.assume_init_mut() })
    }

    /// Notes reading `t` (`raw` as read), taken after the ring's write index read `w`.
    /// `merge_below`: a window shorter than this absorbs the next one instead of a new mark.
    #[inline]
    pub(super) fn note(&mut self, w: u32, raw: u32, t: u64, merge_below: u64) {
        if w != self.w {
            let full = self.len == MARKS;
            let lo = self.lo;
            match self.len.checked_sub(1).and_then(|k| self.get(k)) {
                Some(last) if full || t.wrapping_sub(last.lo) < merge_below => {
                    (last.w, last.raw, last.t) = (w, raw, t);
                }
                _ => {
                    let slot = self.slot(self.len);
                    if let Some(m) = self.m.get_mut(slot) {
                        m.write(Mark { w, raw, t, lo });
                        self.len += 1;
                    }
                }
            }
            self.w = w;
        }
        self.lo = t;
    }

    /// The mark of the window that holds record `i` and where that window ends (at most `end`,
    /// the read's end); drops the marks of windows wholly before `i` (consumed). `None` if no
    /// mark covers `i`, which a drain that noted the ring after peeking it never sees.
    #[inline]
    pub(super) fn window(&mut self, i: u32, end: u32) -> Option<(Mark, u32)> {
        // Indices wrap: compare distances from `i` (a ring holds far fewer than 2^31 records).
        let m = loop {
            let m = *self.get(0)?;
            if m.w.wrapping_sub(i) as i32 > 0 {
                break m;
            }
            self.head = self.slot(1);
            self.len -= 1;
        };
        let stop = if m.w.wrapping_sub(i) < end.wrapping_sub(i) { m.w } else { end };
        Some((m, stop))
    }
}

/// Extends the clock to 64 bits across readings and dates records from marks.
#[derive(Clone, Copy)]
pub(super) struct Timebase {
    /// A clock of at most 32 bits (else 64).
    pub(super) short: bool,
    /// Short clocks: the modulus, 0 meaning 2^32. (Not an `Option`: the per-record loop reads
    /// it as is.)
    pub(super) wrap: u32,
    /// The latest reading on the 64-bit timeline.
    pub(super) now64: u64,
    last_raw: u64,
    started: bool,
}

impl Timebase {
    pub(super) fn new(wrap: u64) -> Timebase {
        let short = wrap != 0 && wrap <= 1 << 32;
        Timebase { short, wrap: wrap as u32, now64: 0, last_raw: 0, started: false }
    }

    /// Ticks in one period of the stamps records carry: the clock's on short clocks, 2^32 for
    /// the payload kinds of 64-bit clocks (their stamp is the low word).
    pub(super) fn period(&self) -> u64 {
        if self.short && self.wrap != 0 {
            self.wrap as u64
        } else {
            1 << 32
        }
    }

    /// Takes a clock reading; returns it as a mark's `(raw, t)`.
    pub(super) fn tick(&mut self, raw: u64) -> (u32, u64) {
        match self.short.then_some(self.wrap) {
            None => self.now64 = raw,
            Some(w) => {
                let (raw, last) = (raw as u32, self.last_raw as u32);
                if !self.started {
                    // Start one period in, so that the stamps of records written before the
                    // first reading (up to a period earlier) date to positive times.
                    self.now64 = raw as u64 + if w == 0 { 1 << 32 } else { w as u64 };
                } else {
                    let mut d = raw.wrapping_sub(last);
                    if raw < last {
                        d = d.wrapping_add(w);
                    }
                    self.now64 = self.now64.wrapping_add(d as u64);
                }
            }
        }
        self.last_raw = raw;
        self.started = true;
        (raw as u32, self.now64)
    }

    /// Whether every record of `m`'s window dates exactly: the window is shorter than a
    /// period, with a sixteenth of one to spare for a record stamped just before the reading
    /// that found it unpublished (a drain that preempted its writer mid-record).
    pub(super) fn certain(&self, m: &Mark) -> bool {
        let p = self.period();
        m.t.wrapping_sub(m.lo) < p - p / 16
    }

    /// The time of record `r` in the window of `m`: on short clocks, and for the kinds whose
    /// last word is payload on 64-bit clocks, [`stamp`](Self::stamp); else its own high word.
    #[inline(always)]
    pub(super) fn date(&self, m: &Mark, r: &Record) -> u64 {
        match r.kind() {
            _ if self.short => self.stamp(m, r.ts),
            Some(Kind::SpanEnter | Kind::SpanExit | Kind::Event | Kind::IsrEnter | Kind::IsrExit)
            | Some(Kind::TaskSwitch | Kind::SpanEnd) => (r.b as u64) << 32 | r.ts as u64,
            Some(Kind::Sync) => (r.a as u64) << 32 | r.ts as u64,
            _ => self.stamp(m, r.ts),
        }
    }

    /// The time of stamp `ts` in the window of `m`: the latest time not after the mark's
    /// reading that the stamp matches. Exact when the window is [`certain`](Self::certain).
    #[inline(always)]
    pub(super) fn stamp(&self, m: &Mark, ts: u32) -> u64 {
        let mut age = m.raw.wrapping_sub(ts);
        if self.short && m.raw < ts {
            age = age.wrapping_add(self.wrap);
        }
        m.t.wrapping_sub(age as u64)
    }

    /// Time of a stamp `ts` that follows one of `prev` at 64-bit time `at` in the same ring
    /// (short clocks: less than a period later).
    pub(super) fn after(&self, at: u64, prev: u32, ts: u32) -> u64 {
        let mut d = ts.wrapping_sub(prev);
        if ts < prev {
            d = d.wrapping_add(self.wrap);
        }
        at.wrapping_add(d as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_merge_while_short_and_split_when_long() {
        let mut m = Marks::new(0);
        m.note(0, 0, 100, 50); // nothing written yet: only the lower bound moves
        m.note(3, 0, 110, 50); // records 0..3 written in (100, 110]
        m.note(5, 0, 120, 50); // merged: 0..5 in (100, 120]
        m.note(9, 0, 200, 50); // 5..9 in (120, 200]: the window would have been 100 long
        assert_eq!(m.len, 2);
        let (a, stop) = m.window(0, 9).unwrap();
        assert_eq!((a.w, a.lo, a.t, stop), (5, 100, 120, 5));
        let (b, stop) = m.window(5, 9).unwrap();
        assert_eq!((b.w, b.lo, b.t, stop), (9, 120, 200, 9));
        assert_eq!(m.len, 1, "the consumed window's mark is dropped");
        assert!(m.window(9, 9).is_none());
    }

    #[test]
    fn consumed_marks_free_their_slots_for_later_windows() {
        let mut m = Marks::new(0);
        let mut t = 0;
        // Many more windows than slots, each consumed before the next ones: slots are reused
        // around the buffer and every window still reads back as noted.
        for k in 0..(3 * MARKS as u32) {
            for j in 1..=2 {
                t += 1000;
                m.note(4 * k + 2 * j, 0, t, 10);
            }
            let (a, stop) = m.window(4 * k, 4 * k + 4).unwrap();
            assert_eq!((a.w, a.t, stop), (4 * k + 2, t - 1000, 4 * k + 2));
            let (b, stop) = m.window(4 * k + 2, 4 * k + 4).unwrap();
            assert_eq!((b.w, b.lo, b.t, stop), (4 * k + 4, t - 1000, t, 4 * k + 4));
            assert!(m.window(4 * k + 4, 4 * k + 4).is_none());
        }
    }

    #[test]
    fn full_marks_widen_the_newest_window() {
        let mut m = Marks::new(0);
        for k in 1..=MARKS as u32 + 3 {
            m.note(k, 0, k as u64 * 1000, 10);
        }
        assert_eq!(m.len, MARKS);
        let last = *m.get(MARKS - 1).unwrap();
        assert_eq!((last.w, last.t, last.lo), (MARKS as u32 + 3, (MARKS as u64 + 3) * 1000, (MARKS as u64 - 1) * 1000));
    }

    #[test]
    fn dates_a_stamp_from_its_window_not_from_the_drain_now() {
        let mut tb = Timebase::new(1000);
        let (raw, t) = tb.tick(900); // t = 1900
        let m = Mark { w: 1, raw, t, lo: t - 500 };
        assert!(tb.certain(&m));
        // Stamp 950 is 950 ticks before a reading of 900 (one wrap back).
        assert_eq!(tb.stamp(&m, 950), 1900 - 950);
        // However late the drain gets to it: the mark, not a later reading, dates it.
        for raw in [300, 800, 100, 600] {
            tb.tick(raw);
        }
        assert_eq!(tb.stamp(&m, 950), 950);
        assert!(!tb.certain(&Mark { lo: t - 990, ..m }), "a window of nearly a period is not certain");
    }
}
