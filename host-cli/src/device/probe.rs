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
                let sel: DebugProbeSelector = sel
                    .parse()
                    .map_err(|e| anyhow!("probe selector {sel:?}: {e}"))?;
                lister.open(sel).context("opening the debug probe")?
            }
            None => {
                let probes = lister.list_all();
                match probes.as_slice() {
                    [] => return Err(anyhow!("no debug probe found")),
                    [one] => one.open().context("opening the debug probe")?,
                    _ => {
                        return Err(anyhow!(
                            "{} debug probes found; choose one with --probe VID:PID[:SERIAL]",
                            probes.len()
                        ))
                    }
                }
            }
        };
        Self::attach(probe, chip)
    }

    /// Attaches an opened probe to `chip`.
    pub fn attach(probe: Probe, chip: &str) -> Result<ProbeMemory> {
        let session = probe
            .attach(chip, Permissions::default())
            .with_context(|| format!("attaching to {chip}"))?;
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
        self.session
            .core(0)?
            .read_8(addr, buf)
            .with_context(|| format!("reading {} bytes at {addr:#x}", buf.len()))
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<()> {
        let mut core = self.session.core(0)?;
        // Whole aligned words go out as 32-bit accesses: the target sees an RTT read offset
        // change in one store, never byte by byte.
        let r = if addr & 3 == 0 && data.len() & 3 == 0 {
            let words: Vec<u32> = data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            core.write_32(addr, &words)
        } else {
            core.write_8(addr, data)
        };
        r.with_context(|| format!("writing {} bytes at {addr:#x}", data.len()))
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

/// Writes `elf` into the chip's flash (its loadable sections, as `probe-rs download` does;
/// `flash` false skips that) and resets the core, which then runs it.
pub fn flash_and_reset(mem: &mut ProbeMemory, elf: &std::path::Path, flash: bool) -> Result<()> {
    if flash {
        let loader = probe_rs::flashing::ElfLoader(probe_rs::flashing::ElfOptions::default());
        probe_rs::flashing::download_file(&mut mem.session, elf, loader)
            .with_context(|| format!("flashing {}", elf.display()))?;
    }
    mem.session.core(0)?.reset().context("resetting the core")?;
    Ok(())
}

/// Halts the core for a post-mortem read (a crashed target may still be spinning in a
/// fault handler, rewriting nothing, but a consistent snapshot needs it stopped).
pub fn halt(mem: &mut ProbeMemory) -> Result<()> {
    mem.session.core(0)?.halt(Duration::from_millis(500))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one RAM range is the common case
mod tests {
    use super::*;
    use crate::device::rtt::{self, UpChannel, TICKSPAN_ID};
    use object::elf;
    use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, Writer};
    use probe_rs::integration::FakeProbe;
    use probe_rs::rtt::{Rtt, ScanRegion};
    use tickspan::record::{Kind, Record};
    use tickspan::ring::Ring;

    const RAM: u64 = 0x2000_0000;

    /// An ELF32 ARM executable with one loadable segment holding `image` at `RAM`: what
    /// FakeProbe serves as target memory.
    fn ram_elf(image: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(object::Endianness::Little, false, &mut out);
        let name = w.add_section_name(b".data");
        w.reserve_null_section_index();
        w.reserve_section_index();
        w.reserve_shstrtab_section_index();
        w.reserve_file_header();
        w.reserve_program_headers(1);
        let offset = w.reserve(image.len(), 4) as u64;
        w.reserve_shstrtab();
        w.reserve_section_headers();
        w.write_file_header(&FileHeader {
            os_abi: 0,
            abi_version: 0,
            e_type: elf::ET_EXEC,
            e_machine: elf::EM_ARM,
            e_entry: 0,
            e_flags: 0,
        })
        .unwrap();
        w.write_align_program_headers();
        let len = image.len() as u64;
        w.write_program_header(&ProgramHeader {
            p_type: elf::PT_LOAD,
            p_flags: elf::PF_R | elf::PF_W,
            p_offset: offset,
            p_vaddr: RAM,
            p_paddr: RAM,
            p_filesz: len,
            p_memsz: len,
            p_align: 4,
        });
        w.write_align(4);
        w.write(image);
        w.write_shstrtab();
        w.write_null_section_header();
        w.write_section_header(&SectionHeader {
            name: Some(name),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: u64::from(elf::SHF_ALLOC | elf::SHF_WRITE),
            sh_addr: RAM,
            sh_offset: offset,
            sh_size: len,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: 4,
            sh_entsize: 0,
        });
        w.write_shstrtab_section_header();
        out
    }

    /// Writes a control block with one up channel into `image` at `at`.
    fn control_block(
        image: &mut [u8],
        at: usize,
        id: &[u8],
        name_at: usize,
        name: &[u8],
        buf_at: usize,
        data: &[u8],
    ) {
        let size = data.len() as u32 + 1;
        image[at..at + 16].copy_from_slice(&rtt::id_field(id));
        let words = [
            1,
            0,
            RAM as u32 + name_at as u32,
            RAM as u32 + buf_at as u32,
            size,
            data.len() as u32,
            0,
            0,
        ];
        for (i, w) in words.iter().enumerate() {
            image[at + 16 + 4 * i..at + 20 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
        image[name_at..name_at + name.len()].copy_from_slice(name);
        image[buf_at..buf_at + data.len()].copy_from_slice(data);
    }

    /// `tickspan run --chip`'s first step through probe-rs (FakeProbe: no flash, memory
    /// writes accepted and discarded): an ELF that loads into RAM goes through probe-rs's
    /// loader and the core is reset; a file that is not an ELF is refused with the reason.
    #[test]
    fn flashes_an_elf_and_resets_and_refuses_what_is_not_one() {
        let dir = std::env::temp_dir().join(format!("tickspan-fakeflash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let elf = dir.join("fw.elf");
        std::fs::write(&elf, ram_elf(&[0x5a; 64])).unwrap();
        let probe = FakeProbe::with_mocked_core_and_binary(&elf).into_probe();
        let mut mem = ProbeMemory::attach(probe, "nrf51822_xxAC").unwrap();
        flash_and_reset(&mut mem, &elf, true).unwrap();
        flash_and_reset(&mut mem, &elf, false).unwrap();
        let text = dir.join("notes.txt");
        std::fs::write(&text, b"not an ELF").unwrap();
        let err = format!("{:#}", flash_and_reset(&mut mem, &text, true).unwrap_err());
        assert!(
            err.starts_with(&format!("flashing {}", text.display())),
            "{err}"
        );
        assert!(err.contains("ELF"), "{err}");
    }

    #[test]
    fn reads_tickspan_rtt_through_probe_rs_beside_a_segger_block() {
        // A real stream: the drain over a ring with a span and a value.
        let ring = Ring::<16>::new();
        ring.push(Record::new(Kind::SpanEnter, 0x40, 10, 0, 0));
        ring.push(Record::new(Kind::ValueU, 0x80, 15, 7, 0));
        ring.push(Record::new(Kind::SpanExit, 0x40, 20, 0, 0));
        let info = tickspan::drain::StreamInfo {
            clock_hz: 0,
            clock_wrap: 1 << 32,
            node: 0,
            target: "fake",
            name: "",
            now: || 30,
            unix_ns: || 0,
        };
        let mut drain = tickspan::drain::Drain::new(std::array::from_ref(&ring), info);
        let mut stream = vec![0u8; 512];
        let n = drain.read(&mut stream);
        stream.truncate(n);

        // tickspan's block, and a "SEGGER RTT" block as defmt-rtt would place it. The image
        // ends with padding: FakeProbe reads a segment's last bytes as 0.
        let mut image = vec![0u8; 0x1000];
        control_block(
            &mut image,
            0x000,
            TICKSPAN_ID,
            0x80,
            b"tickspan\0",
            0x100,
            &stream,
        );
        control_block(
            &mut image,
            0x800,
            b"SEGGER RTT",
            0x880,
            b"defmt\0",
            0x900,
            b"defmt bytes",
        );
        let dir = std::env::temp_dir().join(format!("tickspan-fakeprobe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ram.elf");
        std::fs::write(&path, ram_elf(&image)).unwrap();

        let probe = FakeProbe::with_mocked_core_and_binary(&path).into_probe();
        let mut mem = ProbeMemory::attach(probe, "nrf51822_xxAC").unwrap();
        let ram = mem.ram_ranges().unwrap();
        assert!(ram.iter().any(|r| r.contains(&RAM)), "chip RAM {ram:x?}");

        // tickspan finds its block by ID (no ELF symbol here) and reads the stream.
        let cb = rtt::scan(&mut mem, &[RAM..RAM + 0x1000], TICKSPAN_ID).unwrap();
        assert_eq!(cb, RAM);
        let mut chan =
            UpChannel::attach(&mut mem, cb, TICKSPAN_ID, Some(rtt::CHANNEL_NAME)).unwrap();
        let mut got = Vec::new();
        chan.read(&mut mem, &mut got).unwrap();
        assert_eq!(got, stream);
        let mut dec = tickspan::wire::Decoder::new();
        let mut records = Vec::new();
        dec.feed(&got, &mut |item| {
            if let tickspan::wire::Item::Record { kind, a, .. } = item {
                records.push((kind, a));
            }
        })
        .unwrap();
        assert_eq!(
            records,
            [(Kind::SpanEnter, 0), (Kind::ValueU, 7), (Kind::SpanExit, 0)]
        );

        // probe-rs's own RTT scan sees exactly one block, SEGGER's: tickspan's ID does not
        // make defmt's tools fail with "multiple control blocks".
        let mut core = mem.session.core(0).unwrap();
        let mut segger =
            Rtt::attach_region(&mut core, &ScanRegion::Ranges(vec![RAM..RAM + 0x1000])).unwrap();
        assert_eq!(segger.ptr(), RAM + 0x800);
        let up = segger.up_channel(0).unwrap();
        assert_eq!(up.name(), Some("defmt"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
