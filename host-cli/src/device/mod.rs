//! Reading a microcontroller's memory: through a GDB stub, a debug probe (probe-rs) or a RAM
//! dump, all behind one small `Memory` trait. The RTT reader (`rtt`) and the post-mortem
//! ring reader (`rings`) are written once on top of it; `elf` finds what they read by symbol
//! and turns callsite ids back into names.
//!
//! `tcp` is the std counterpart of `attach`: a std process's TCP drain, with control messages
//! sent back on its connection.
//!
//! Nothing read from the target or the ELF is trusted: every pointer, length and index is
//! bounds-checked before use, so a corrupt target gives an error, never a panic or a huge read.

pub(crate) mod attach;
pub mod cmd;
pub(crate) mod control;
pub(crate) mod defmt_log;
pub(crate) mod dump;
pub(crate) mod elf;
pub(crate) mod gdb;
pub(crate) mod postmortem;
#[cfg(feature = "probe")]
pub(crate) mod probe;
pub mod raw;
pub(crate) mod rings;
pub(crate) mod rtt;
pub mod runner;
pub(crate) mod tcp;

use anyhow::{bail, Result};

/// Byte-addressed target memory.
pub(crate) trait Memory {
    /// Reads `buf.len()` bytes at `addr`, or fails; never returns partial data.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<()>;

    /// Writes `data` at `addr` (advancing an RTT read pointer needs this).
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        let _ = (addr, data);
        bail!("this memory source is read-only")
    }

    /// Makes memory accessible: stubs that only read a halted target stop it here. Returns
    /// whether it was running, so that the caller can [`resume`](Memory::resume) it.
    fn halt(&mut self) -> Result<bool> {
        Ok(false)
    }

    /// Lets a target stopped by [`halt`](Memory::halt) run again.
    fn resume(&mut self) -> Result<()> {
        Ok(())
    }

    /// Whether the target has stopped by itself (breakpoint, trapped fault, exit) since it was
    /// last resumed: a live capture then reads what is left and ends.
    fn stopped(&mut self) -> Result<bool> {
        Ok(false)
    }

    /// The target's RAM, where the memory source knows it (a probe's chip description): where
    /// to scan for an RTT block without an ELF.
    fn ram_ranges(&mut self) -> Option<Vec<std::ops::Range<u64>>> {
        None
    }

    /// Stops the target when it executes the instruction at `addr`.
    fn set_breakpoint(&mut self, addr: u64) -> Result<()> {
        let _ = addr;
        bail!("this memory source cannot set breakpoints")
    }
}

/// Reads little-endian 32-bit words at `addr`.
pub(crate) fn read_words(mem: &mut dyn Memory, addr: u64, out: &mut [u32]) -> Result<()> {
    let mut bytes = vec![0u8; out.len() * 4];
    mem.read(addr, &mut bytes)?;
    for (w, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes(b.try_into().expect("chunks of 4"));
    }
    Ok(())
}

/// Reads one little-endian 32-bit word at `addr`.
pub(crate) fn read_word(mem: &mut dyn Memory, addr: u64) -> Result<u32> {
    let mut w = [0u32];
    read_words(mem, addr, &mut w)?;
    Ok(w[0])
}
