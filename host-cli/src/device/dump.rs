//! A RAM dump file as [`Memory`]: the bytes of one contiguous region starting at a base address
//! (e.g. from GDB's `dump binary memory ram.bin 0x20000000 0x20010000`, or
//! `tickspan postmortem --gdb … --save-dump ram.bin`).

use super::Memory;
use anyhow::{bail, Context as _, Result};
use std::path::Path;

/// Largest dump accepted: far above any microcontroller's RAM, far below what would hurt.
const MAX_DUMP: u64 = 256 << 20;

/// A memory image at a fixed base address. Read-only.
pub struct RamDump {
    base: u64,
    data: Vec<u8>,
}

impl RamDump {
    /// Reads a dump file whose first byte is at `base`.
    pub fn open(path: &Path, base: u64) -> Result<RamDump> {
        let len = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if len > MAX_DUMP {
            bail!(
                "{}: {len} bytes is more than a RAM dump can be ({MAX_DUMP})",
                path.display()
            );
        }
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(RamDump::new(base, data))
    }

    /// An image from bytes already in memory.
    pub fn new(base: u64, data: Vec<u8>) -> RamDump {
        RamDump { base, data }
    }

    /// Whether `len` bytes at `addr` lie inside the image.
    pub fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.base && addr.saturating_add(len) <= self.base + self.data.len() as u64
    }

    /// Length of the image in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Moves the image to another base address.
    pub fn rebase(&mut self, base: u64) {
        self.base = base;
    }
}

impl Memory for RamDump {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<()> {
        if !self.contains(addr, buf.len() as u64) {
            bail!(
                "{} bytes at {addr:#x} are outside the dump ({:#x}..{:#x}); is its base address right (--base)?",
                buf.len(),
                self.base,
                self.base + self.data.len() as u64
            );
        }
        let at = (addr - self.base) as usize;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_and_refuses_outside() {
        let mut d = RamDump::new(0x2000_0000, (0u8..16).collect());
        let mut b = [0u8; 4];
        d.read(0x2000_000c, &mut b).unwrap();
        assert_eq!(b, [12, 13, 14, 15]);
        assert!(d.read(0x2000_000d, &mut b).is_err());
        assert!(d.read(0x1fff_fffe, &mut b).is_err());
        assert!(d.read(u64::MAX - 1, &mut b).is_err());
        assert!(d.write(0x2000_0000, &b).is_err());
    }
}
