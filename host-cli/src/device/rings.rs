//! Post-mortem: reads the static rings (`tickspan::context::RINGS`, symbol `_TICKSPAN_RINGS`)
//! of a halted target or a RAM dump and recovers what each context recorded last.
//!
//! The geometry comes from `_TICKSPAN_RINGS_LAYOUT` (`[slots, rings, overwrite, slot bytes]`,
//! a read-only static, so it is read from the ELF, not from the target). Each ring is
//! `#[repr(C)] { write, lost, read, lost_reported: u32, slots: [[u32; 4]; N] }` (core/src/ring.rs).
//! Header words come from a target that may have crashed: every index is checked and records
//! whose kind is not valid are counted as lost, never trusted.

use super::elf::Elf;
use super::{read_words, Memory};
use anyhow::{anyhow, bail, Result};
use tickspan::record::Record;

/// Symbol of the ring array.
pub const RINGS_SYMBOL: &str = "_TICKSPAN_RINGS";
/// Symbol of the ring geometry.
pub const LAYOUT_SYMBOL: &str = "_TICKSPAN_RINGS_LAYOUT";
/// Largest ring memory read (all rings together).
const MAX_RING_BYTES: u64 = 64 << 20;

/// Where the rings are and how they are shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingsLayout {
    /// Address of ring 0.
    pub addr: u64,
    /// Slots per ring (a power of two).
    pub slots: u32,
    /// Number of rings (contexts).
    pub rings: u32,
    /// Flight-recorder mode: the writer overwrote the oldest records.
    pub overwrite: bool,
    /// The clock the records were stamped with.
    pub clock: ClockKind,
    /// Its frequency as configured at build time (0 = unknown).
    pub clock_hz: u64,
}

/// How record timestamps extend to 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockKind {
    /// A 64-bit clock: records carry bits 32..64 in `b` (std hosts).
    Wide,
    /// A free-running 32-bit counter (DWT CYCCNT, `mcycle`).
    Counter32,
    /// Cortex-M SysTick: period `RVR + 1` ticks, read from the target or given by the user.
    SysTick,
}

impl RingsLayout {
    /// Finds the rings and their geometry through the ELF's symbols.
    pub fn from_elf(elf: &Elf) -> Result<RingsLayout> {
        let (addr, size) = elf.symbol(RINGS_SYMBOL).ok_or_else(|| {
            anyhow!("the ELF has no `{RINGS_SYMBOL}` symbol: is it firmware linked with this version of tickspan?")
        })?;
        let (laddr, _) = elf
            .symbol(LAYOUT_SYMBOL)
            .ok_or_else(|| anyhow!("the ELF has `{RINGS_SYMBOL}` but no `{LAYOUT_SYMBOL}`"))?;
        let raw = elf
            .read_static(laddr, 28)
            .ok_or_else(|| anyhow!("`{LAYOUT_SYMBOL}` is not in the ELF's initialised data"))?;
        let w = |i: usize| u32::from_le_bytes(raw[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
        let (slots, rings, overwrite, slot_bytes) = (w(0), w(1), w(2), w(3));
        if !slots.is_power_of_two()
            || !(2..=1 << 24).contains(&slots)
            || !(1..=255).contains(&rings)
        {
            bail!("implausible ring geometry in the ELF: {rings} rings of {slots} slots");
        }
        if slot_bytes != 16 || overwrite > 1 {
            bail!("unsupported ring layout (slot of {slot_bytes} bytes, mode {overwrite})");
        }
        let clock = match w(4) {
            0 => ClockKind::Wide,
            1 => ClockKind::Counter32,
            2 => ClockKind::SysTick,
            other => bail!("unknown clock kind {other} in `{LAYOUT_SYMBOL}`"),
        };
        let clock_hz = u64::from(w(5)) | u64::from(w(6)) << 32;
        let layout = RingsLayout {
            addr,
            slots,
            rings,
            overwrite: overwrite == 1,
            clock,
            clock_hz,
        };
        if size != 0 && size != layout.bytes() {
            bail!(
                "`{RINGS_SYMBOL}` is {size} bytes but its layout says {}",
                layout.bytes()
            );
        }
        if layout.bytes() > MAX_RING_BYTES {
            bail!("rings of {} bytes are too large to read", layout.bytes());
        }
        Ok(layout)
    }

    fn ring_bytes(&self) -> u64 {
        16 + 16 * u64::from(self.slots)
    }

    /// Size of all rings in bytes.
    pub fn bytes(&self) -> u64 {
        self.ring_bytes() * u64::from(self.rings)
    }
}

/// One item of a ring's recovered sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A record, as it sits in the ring.
    Record(Record),
    /// This many records were lost here.
    Lost(u32),
}

/// What one ring holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingSnapshot {
    /// Ring index: the context id.
    pub ctx: u32,
    /// Records written to this ring since boot (wrapping at 2^32).
    pub written: u32,
    /// Its contents, oldest first, with losses where they happened.
    pub entries: Vec<Entry>,
}

impl RingSnapshot {
    /// Records lost (overwritten, refused or unreadable).
    pub fn lost(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| {
                if let Entry::Lost(n) = e {
                    u64::from(*n)
                } else {
                    0
                }
            })
            .sum()
    }

    /// Records recovered.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.entries.iter().filter_map(|e| {
            if let Entry::Record(r) = e {
                Some(r)
            } else {
                None
            }
        })
    }
}

/// Reads every ring. The target must be halted (or the memory a dump).
pub fn read_rings(mem: &mut dyn Memory, layout: &RingsLayout) -> Result<Vec<RingSnapshot>> {
    (0..layout.rings)
        .map(|ctx| {
            let base = layout.addr + u64::from(ctx) * layout.ring_bytes();
            let mut words = vec![0u32; 4 + 4 * layout.slots as usize];
            read_words(mem, base, &mut words)?;
            Ok(snapshot(ctx, layout, &words))
        })
        .collect()
}

/// Recovers one ring from its words (header, then slots).
fn snapshot(ctx: u32, layout: &RingsLayout, words: &[u32]) -> RingSnapshot {
    let (write, lost, read, lost_reported) = (words[0], words[1], words[2], words[3]);
    let n = layout.slots;
    let mut entries = Vec::new();
    let mut unread = write.wrapping_sub(read);
    if unread > n {
        // Overwrite mode: the writer lapped the reader. Drop-newest never gets here unless the
        // header is corrupt; either way only the last `n` slots can hold anything.
        entries.push(Entry::Lost(unread - n));
        unread = n;
    }
    let mut bad = 0u32;
    for i in 0..unread {
        let idx = write.wrapping_sub(unread).wrapping_add(i) & (n - 1);
        let at = 4 + 4 * idx as usize;
        let rec = Record::from_words([words[at], words[at + 1], words[at + 2], words[at + 3]]);
        // A torn or corrupt slot: counted where it was, not passed on.
        if !rec.well_formed() {
            bad += 1;
            continue;
        }
        if bad > 0 {
            entries.push(Entry::Lost(bad));
            bad = 0;
        }
        entries.push(Entry::Record(rec));
    }
    let refused = if layout.overwrite {
        0
    } else {
        lost.wrapping_sub(lost_reported)
    };
    if bad + refused > 0 {
        entries.push(Entry::Lost(bad + refused));
    }
    RingSnapshot {
        ctx,
        written: write,
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::super::dump::RamDump;
    use super::super::elf::tests::synthetic_elf;
    use super::*;
    use tickspan::record::Kind;

    fn rec(i: u32) -> Record {
        Record::new(Kind::Event, 0x100, i, i, 0)
    }

    fn ring_words(write: u32, lost: u32, read: u32, reported: u32, slots: &[Record]) -> Vec<u32> {
        let mut w = vec![write, lost, read, reported];
        w.extend(slots.iter().flat_map(|r| r.to_words()));
        w
    }

    #[test]
    fn overwrite_ring_gives_the_newest_records_and_counts_the_rest() {
        let layout = RingsLayout {
            addr: 0,
            slots: 4,
            rings: 1,
            overwrite: true,
            clock: ClockKind::Counter32,
            clock_hz: 0,
        };
        // 10 written: slots hold 8, 9, 6, 7 (indices 8..10 at slots 0, 1).
        let s = snapshot(
            0,
            &layout,
            &ring_words(10, 0, 0, 0, &[rec(8), rec(9), rec(6), rec(7)]),
        );
        assert_eq!(s.entries[0], Entry::Lost(6));
        assert_eq!(s.records().map(|r| r.ts).collect::<Vec<_>>(), [6, 7, 8, 9]);
        assert_eq!(s.lost() + s.records().count() as u64, 10);
    }

    #[test]
    fn drop_newest_ring_reports_unread_records_and_refusals() {
        let layout = RingsLayout {
            addr: 0,
            slots: 4,
            rings: 1,
            overwrite: false,
            clock: ClockKind::Counter32,
            clock_hz: 0,
        };
        // Read up to 5, written 7, 3 refused, 1 of them already reported.
        let slots = [rec(4), rec(5), rec(6), rec(3)];
        let s = snapshot(0, &layout, &ring_words(7, 3, 5, 1, &slots));
        assert_eq!(
            s.entries,
            [Entry::Record(rec(5)), Entry::Record(rec(6)), Entry::Lost(2)]
        );
    }

    #[test]
    fn corrupt_headers_and_slots_never_panic_and_are_counted() {
        let layout = RingsLayout {
            addr: 0,
            slots: 4,
            rings: 1,
            overwrite: false,
            clock: ClockKind::Counter32,
            clock_hz: 0,
        };
        let garbage = Record {
            tag: 0xFFFF_FFFF,
            ts: 0,
            a: 0,
            b: 0,
        };
        let s = snapshot(
            0,
            &layout,
            &ring_words(u32::MAX, 9, 3, 0, &[rec(1), garbage, rec(3), rec(0)]),
        );
        assert_eq!(s.records().count(), 3);
        assert!(s.lost() > 0);
        let s = snapshot(0, &layout, &ring_words(0, 0, 0, 0, &[Record::default(); 4]));
        assert!(s.entries.is_empty());
    }

    #[test]
    fn reads_rings_from_a_dump_through_elf_symbols() {
        let elf = Elf::parse(synthetic_elf([4, 2, 1, 16, 2, 1000, 0], 2 * 80)).unwrap();
        let layout = RingsLayout::from_elf(&elf).unwrap();
        assert_eq!(
            (
                layout.slots,
                layout.rings,
                layout.overwrite,
                layout.clock,
                layout.clock_hz
            ),
            (4, 2, true, ClockKind::SysTick, 1000)
        );
        let mut image = ring_words(
            2,
            0,
            0,
            0,
            &[rec(0), rec(1), Record::default(), Record::default()],
        );
        image.extend(ring_words(5, 0, 0, 0, &[rec(4), rec(1), rec(2), rec(3)]));
        let bytes: Vec<u8> = image.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut dump = RamDump::new(layout.addr, bytes);
        let rings = read_rings(&mut dump, &layout).unwrap();
        assert_eq!(rings[0].records().count(), 2);
        assert_eq!(
            rings[1].records().map(|r| r.ts).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(rings[1].lost(), 1);
        // A dump that stops short of the rings is an error, not a panic.
        let mut short = RamDump::new(layout.addr, vec![0; 100]);
        assert!(read_rings(&mut short, &layout).is_err());
        // Geometry that does not match the symbol size is refused.
        let elf = Elf::parse(synthetic_elf([4, 3, 1, 16, 2, 0, 0], 2 * 80)).unwrap();
        assert!(RingsLayout::from_elf(&elf).is_err());
        let elf = Elf::parse(synthetic_elf([3, 2, 1, 16, 2, 0, 0], 2 * 80)).unwrap();
        assert!(RingsLayout::from_elf(&elf).is_err());
    }
}
