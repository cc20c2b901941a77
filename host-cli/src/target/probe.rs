//! A debug probe through probe-rs as [`Memory`]: CMSIS-DAP, ST-Link, J-Link, ESP USB-JTAG….
//!
//! On Cortex-M the probe reads memory while the core runs (the debug access port works in the
//! background), so [`Memory::halt`] does nothing here and RTT polling never stops the target.
//!
//! tickspan's RTT block has its own ID (see `tickspan::transport::rtt`), which
//! `probe_rs::rtt` does not accept (it insists on "SEGGER RTT"), so the channel is read by
//! tickspan's reader ([`rtt`](super::rtt)) through this memory; probe-rs provides the probe,
//! the chip description and the memory accesses.

use super::Memory;
use anyhow::{anyhow, Context as _, Result};
use probe_rs::probe::list::Lister;
use probe_rs::probe::{DebugProbeSelector, Probe};
use probe_rs::{MemoryInterface, Permissions, Session};
use std::ops::Range;
use std::time::Duration;

/// An attached probe session; every access goes to core 0.
pub struct ProbeMemory {
    session: Session,
}

impl ProbeMemory {
    /// Opens the probe `selector` (`VID:PID[:serial]`; the only one connected if `None`) and
    /// attaches to `chip` (a probe-rs target name, e.g. `nRF52840_xxAA`).
    pub fn open(chip: &str, selector: Option<&str>) -> Result<ProbeMemory> {
        let lister = Lister::new();
        let probe = match selector {
            Some(sel) => {
                let sel: DebugProbeSelector = sel.parse().map_err(|e| anyhow!("probe selector {sel:?}: {e}"))?;
                lister.open(sel).context("opening the debug probe")?
            }
            None => {
                let probes = lister.list_all();
                match probes.as_slice() {
                    [] => return Err(anyhow!("no debug probe found")),
                    [one] => one.open().context("opening the debug probe")?,
                    _ => return Err(anyhow!("{} debug probes found; choose one with --probe VID:PID[:SERIAL]", probes.len())),
                }
            }
        };
        Self::attach(probe, chip)
    }

    /// Attaches an opened probe to `chip`.
    pub fn attach(probe: Probe, chip: &str) -> Result<ProbeMemory> {
        let session = probe.attach(chip, Permissions::default()).with_context(|| format!("attaching to {chip}"))?;
        Ok(ProbeMemory { session })
    }

    fn ram(&self) -> Vec<Range<u64>> {
        self.session
            .target()
            .memory_map
            .iter()
            .filter_map(|r| match r {
                probe_rs::config::MemoryRegion::Ram(ram) => Some(ram.range.clone()),
                _ => None,
            })
            .collect()
    }
}

impl Memory for ProbeMemory {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<()> {
        self.session.core(0)?.read_8(addr, buf).with_context(|| format!("reading {} bytes at {addr:#x}", buf.len()))
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        self.session.core(0)?.write_8(addr, data).with_context(|| format!("writing {} bytes at {addr:#x}", data.len()))
    }

    fn ram_ranges(&mut self) -> Option<Vec<Range<u64>>> {
        Some(self.ram())
    }

    fn stopped(&mut self) -> Result<bool> {
        Ok(self.session.core(0)?.core_halted()?)
    }

    fn set_breakpoint(&mut self, addr: u64) -> Result<()> {
        Ok(self.session.core(0)?.set_hw_breakpoint(addr)?)
    }
}

/// Halts the core for a post-mortem read (a crashed target may still be spinning in a
/// fault handler, rewriting nothing, but a consistent snapshot needs it stopped).
pub fn halt(mem: &mut ProbeMemory) -> Result<()> {
    mem.session.core(0)?.halt(Duration::from_millis(500))?;
    Ok(())
}
