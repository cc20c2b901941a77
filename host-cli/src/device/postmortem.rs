//! Post-mortem: turns the rings recovered from a halted target ([`rings`](super::rings)) into an
//! ordinary tickspan wire stream, so that every view (tree, stats, dump, export) reads it like
//! a live capture, and `-o` can save it.
//!
//! The stream describes itself: callsite frames carry the names read from the ELF, context
//! frames name the rings ("thread mode", or the interrupt handlers that recorded into them).
//!
//! # Timestamps
//! Records keep the low 32 bits of the clock. On 64-bit clocks `b` carries the rest and times
//! are exact. On 32-bit counters (DWT) and SysTick each ring is extended forwards record by
//! record (exact while consecutive records of a ring are less than one clock period apart), and
//! the rings are aligned on the clock value read from the halted target (`now`); without it
//! (a RAM dump) each ring's last record is placed within half a period of ring 0's last one.
//! SysTick periods are short (often 1 ms): gaps longer than a period inside one ring are
//! under-counted by whole periods, which no reader of the records alone can recover.

use super::elf::Elf;
use super::rings::{ClockKind, Entry, RingSnapshot, RingsLayout};
use anyhow::{bail, Result};
use std::collections::BTreeSet;
use tickspan::wire::{
    encode::FrameEncoder, CallsiteInfo, StreamHeader, ENCODED_CAPACITY, FORMAT_VERSION,
};
use tickspan::{CallsiteKind, Kind, Level, Record};

/// SysTick registers (ARMv6-M/ARMv7-M system control space).
const SYST_RVR: u64 = 0xE000_E014;
const SYST_CVR: u64 = 0xE000_E018;
/// DWT cycle counter.
const DWT_CYCCNT: u64 = 0xE000_1004;

/// How to turn 32-bit record times into 64-bit ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timebase {
    /// Clock period in ticks; 0 for 64-bit clocks (records carry the high bits).
    pub wrap: u64,
    /// The clock's low 32 bits when the target was stopped, if known.
    pub now: Option<u32>,
}

impl Timebase {
    /// Reads the clock registers of a halted Cortex-M target (`mem`: given when the target is
    /// live and an Arm core). `wrap` overrides the SysTick period (needed for RAM dumps, where
    /// no register can be read).
    pub fn read(
        layout: &RingsLayout,
        mem: Option<&mut dyn super::Memory>,
        wrap: Option<u64>,
    ) -> Result<Timebase> {
        let word = |mem: &mut dyn super::Memory, addr| super::read_word(mem, addr).ok();
        Ok(match (layout.clock, mem) {
            (ClockKind::Wide, _) => Timebase { wrap: 0, now: None },
            (ClockKind::Counter32, mem) => {
                Timebase { wrap: wrap.unwrap_or(1 << 32), now: mem.and_then(|m| word(m, DWT_CYCCNT)) }
            }
            (ClockKind::SysTick, Some(mem)) => {
                let rvr = word(mem, SYST_RVR).map(|r| u64::from(r & 0xFF_FFFF) + 1);
                // tickspan's SysTick clock reads `!CVR` (core/src/clock/systick.rs).
                let now = word(mem, SYST_CVR).map(|c| !c);
                match wrap.or(rvr) {
                    Some(w) => Timebase { wrap: w, now },
                    None => bail!("cannot read the SysTick period from the target; give --clock-wrap"),
                }
            }
            (ClockKind::SysTick, None) => match wrap {
                Some(w) => Timebase { wrap: w, now: None },
                None => bail!("the firmware stamps records with SysTick: give its period (RVR + 1) with --clock-wrap"),
            },
        })
    }

    /// Ticks from `from` forwards to `to` on this clock.
    fn forward(&self, from: u32, to: u32) -> u64 {
        if to >= from {
            u64::from(to - from)
        } else {
            self.wrap.saturating_sub(u64::from(from - to))
        }
    }
}

/// 64-bit times of each ring's records (in `RingSnapshot::records` order), aligned across rings.
fn times(rings: &[RingSnapshot], tb: &Timebase) -> Vec<Vec<u64>> {
    if tb.wrap == 0 {
        return rings.iter().map(|r| wide_times(r.records())).collect();
    }
    // Each ring forwards from its first record, then ends placed relative to a reference.
    let rel: Vec<Vec<u64>> = rings
        .iter()
        .map(|r| {
            let mut t = 0u64;
            let mut prev: Option<u32> = None;
            r.records()
                .map(|rec| {
                    if let Some(p) = prev {
                        t += tb.forward(p, rec.ts);
                    }
                    prev = Some(rec.ts);
                    t
                })
                .collect()
        })
        .collect();
    let last_ts = |r: &RingSnapshot| r.records().last().map(|rec| rec.ts);
    let reference = tb.now.or_else(|| rings.iter().find_map(last_ts));
    let ends: Vec<i128> = rings
        .iter()
        .map(|r| match (last_ts(r), reference) {
            (Some(last), Some(refr)) if tb.now.is_some() => -(tb.forward(last, refr) as i128),
            (Some(last), Some(refr)) => {
                let d = tb.forward(refr, last);
                if d < tb.wrap / 2 {
                    d as i128
                } else {
                    d as i128 - tb.wrap as i128
                }
            }
            _ => 0,
        })
        .collect();
    let abs: Vec<Vec<i128>> = rel
        .iter()
        .zip(&ends)
        .map(|(r, &end)| {
            let span = r.last().copied().unwrap_or(0) as i128;
            r.iter().map(|&t| end - span + t as i128).collect()
        })
        .collect();
    let min = abs.iter().flatten().copied().min().unwrap_or(0);
    abs.into_iter()
        .map(|r| r.into_iter().map(|t| (t - min) as u64).collect())
        .collect()
}

/// Times on a 64-bit clock: `b` holds bits 32..64 except where it is payload.
fn wide_times<'a>(records: impl Iterator<Item = &'a Record>) -> Vec<u64> {
    let mut prev = 0u64;
    records
        .map(|r| {
            let t = match r.kind() {
                Some(Kind::Sync) => u64::from(r.a) << 32 | u64::from(r.ts),
                Some(Kind::ValueU | Kind::ValueI | Kind::ValueF | Kind::SpanStart | Kind::Loss | Kind::Link) => {
                    let t = prev & !0xFFFF_FFFF | u64::from(r.ts);
                    if t < prev {
                        t + (1 << 32)
                    } else {
                        t
                    }
                }
                _ => u64::from(r.b) << 32 | u64::from(r.ts),
            };
            prev = t;
            t
        })
        .collect()
}

/// `tickspan::CallsiteKind` from its number.
pub(crate) fn callsite_kind(k: u8) -> CallsiteKind {
    match k {
        0 => CallsiteKind::Span,
        1 => CallsiteKind::Event,
        2 => CallsiteKind::ValueU64,
        3 => CallsiteKind::ValueI64,
        4 => CallsiteKind::ValueF64,
        5 => CallsiteKind::Isr,
        _ => CallsiteKind::Task,
    }
}

/// `tickspan::Level` from its number.
pub(crate) fn level(l: u8) -> Level {
    match l {
        0 => Level::Trace,
        1 => Level::Debug,
        2 => Level::Info,
        3 => Level::Warn,
        _ => Level::Error,
    }
}

/// Appends framed output of the encoder's current frame.
pub(crate) fn flush(enc: &mut FrameEncoder, out: &mut Vec<u8>) {
    let mut buf = [0u8; ENCODED_CAPACITY];
    let n = enc.finish(&mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Encodes recovered rings as a wire stream. With the ELF, callsite and context names are
/// part of the stream.
pub fn encode(
    rings: &[RingSnapshot],
    layout: &RingsLayout,
    tb: &Timebase,
    elf: Option<&Elf>,
    target: &str,
) -> Vec<u8> {
    let mut out = vec![0u8];
    let mut enc = FrameEncoder::new();
    enc.header(&StreamHeader {
        version: FORMAT_VERSION,
        clock_hz: layout.clock_hz,
        clock_wrap: tb.wrap,
        node: 0,
        target, name: ""
    });
    flush(&mut enc, &mut out);
    if let Some(elf) = elf {
        let ids: BTreeSet<u32> = rings
            .iter()
            .flat_map(|r| r.records())
            .filter(|r| !matches!(r.kind(), Some(Kind::Sync | Kind::Loss)))
            .map(Record::callsite)
            .collect();
        for id in ids {
            if let Ok(cs) = elf.callsite(id) {
                enc.callsite(&CallsiteInfo {
                    id,
                    kind: callsite_kind(cs.kind),
                    level: level(cs.level),
                    line: cs.line,
                    name: &cs.name,
                    file: &cs.file,
                });
                flush(&mut enc, &mut out);
            }
        }
        for r in rings {
            if let Some(name) = context_name(r, elf) {
                enc.context(r.ctx, &name);
                flush(&mut enc, &mut out);
            }
        }
    }
    for (ring, times) in rings.iter().zip(times(rings, tb)) {
        let mut t = times.into_iter();
        let mut open = false;
        for e in &ring.entries {
            if !open || !enc.has_room() {
                if open {
                    flush(&mut enc, &mut out);
                }
                enc.begin_batch(ring.ctx, 0);
                open = true;
            }
            match *e {
                Entry::Lost(n) => enc.loss(n),
                Entry::Record(r) => {
                    let ts = t.next().expect("one time per record");
                    let kind = r.kind().expect("snapshots hold valid records only");
                    enc.record(kind, r.callsite(), ts, r.a, r.b);
                }
            }
        }
        if open {
            flush(&mut enc, &mut out);
        }
    }
    out
}

/// "thread mode" for ring 0 of a 32-bit target without interrupt records; the handler names
/// for rings that hold interrupt records.
fn context_name(ring: &RingSnapshot, elf: &Elf) -> Option<String> {
    let isrs: BTreeSet<String> = ring
        .records()
        .filter(|r| r.kind() == Some(Kind::IsrEnter))
        .filter_map(|r| elf.callsite(r.callsite()).ok().map(|c| c.name))
        .collect();
    if !isrs.is_empty() {
        return Some(isrs.into_iter().collect::<Vec<_>>().join("/"));
    }
    (ring.ctx == 0 && elf.is_32bit()).then(|| "thread mode".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ctx: u32, ts: &[u32]) -> RingSnapshot {
        RingSnapshot {
            ctx,
            written: ts.len() as u32,
            entries: ts
                .iter()
                .map(|&t| Entry::Record(Record::new(Kind::Event, 0x100, t, 0, 0)))
                .collect(),
        }
    }

    #[test]
    fn systick_times_extend_across_reloads_and_align_on_now() {
        // SysTick with a 1000-tick period: timestamps are `!CVR`, 2^32 - 1000 .. 2^32 - 1.
        let tb = Timebase {
            wrap: 1000,
            now: Some(u32::MAX - 100),
        };
        let low = u32::MAX - 999;
        // Ring 0: 900 ticks after period start, then 50 ticks into the next period.
        // Ring 1: one record 10 ticks before `now`.
        let rings = [ring(0, &[low + 900, low + 50]), ring(1, &[u32::MAX - 110])];
        let t = times(&rings, &tb);
        assert_eq!(t[0][1] - t[0][0], 150);
        // now = low + 899; ring 0 ends at low + 50 (849 before now); ring 1 10 before now.
        assert_eq!(t[1][0] - t[0][1], 839);
        assert_eq!(t[0][0], 0);
    }

    #[test]
    fn dump_times_align_rings_within_half_a_period() {
        let tb = Timebase {
            wrap: 1 << 32,
            now: None,
        };
        let rings = [ring(0, &[10, 20]), ring(1, &[u32::MAX - 5, 15])];
        let t = times(&rings, &tb);
        // Ring 1 wrapped forwards: 21 ticks between its records; it ends 5 before ring 0.
        assert_eq!(t[1][1] - t[1][0], 21);
        assert_eq!(t[0][1] - t[1][1], 5);
    }

    #[test]
    fn wide_clock_uses_high_words_and_extends_values() {
        let recs = [
            Record::new(Kind::SpanEnter, 0x10, 5, 0, 1),
            Record::new(Kind::ValueU, 0x20, 7, 99, 0),
            Record::new(Kind::SpanExit, 0x10, 3, 0, 2),
        ];
        assert_eq!(
            wide_times(recs.iter()),
            [1 << 32 | 5, 1 << 32 | 7, 2 << 32 | 3]
        );
    }

    #[test]
    fn encoded_stream_decodes_to_the_same_records() {
        let layout = RingsLayout {
            addr: 0,
            slots: 4,
            rings: 2,
            overwrite: true,
            clock: ClockKind::Counter32,
            clock_hz: 1000,
        };
        let mut r0 = ring(0, &[1, 2, 3]);
        r0.entries.insert(0, Entry::Lost(7));
        let rings = [r0, ring(1, &[4])];
        let tb = Timebase {
            wrap: 1 << 32,
            now: Some(10),
        };
        let bytes = encode(&rings, &layout, &tb, None, "test");
        let mut dec = tickspan::wire::Decoder::new();
        let mut got = Vec::new();
        dec.feed(&bytes, &mut |item| got.push(format!("{item:?}")))
            .unwrap();
        dec.finish(&mut |item| got.push(format!("{item:?}")));
        let text = got.join("\n");
        assert!(text.contains("clock_hz: 1000"), "{text}");
        assert!(text.contains("Loss { ctx: 0, count: 7 }"), "{text}");
        assert_eq!(text.matches("Record {").count(), 4, "{text}");
        assert!(text.contains("Record { ctx: 1, ts: 3,"), "{text}");
        assert!(!text.contains("Skipped"), "{text}");
    }
}
