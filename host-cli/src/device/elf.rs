//! What the host needs from a firmware ELF: symbol addresses, the RAM its writable sections
//! occupy, and the contents of its read-only statics (callsites and their strings).
//!
//! The file is untrusted: it is parsed with `object`, and every address, pointer and length
//! read from it is checked against the section it claims to be in.

use anyhow::{anyhow, bail, Context as _, Result};
use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SectionKind};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

/// Largest ELF accepted (debug info included).
const MAX_ELF: u64 = 1 << 30;
/// What the wire format's version symbol starts with (`tickspan::wire`).
pub(crate) const VERSION_PREFIX: &str = "_tickspan_version_ = ";
/// Longest callsite name or file path believed.
const MAX_STR: u32 = 4096;

/// A callsite as described by the `tickspan::Callsite` static at its id (32-bit targets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfCallsite {
    /// Span, event or value name.
    pub name: String,
    /// Source file.
    pub file: String,
    /// Source line.
    pub line: u32,
    /// `tickspan::Level` as its number (0 trace … 4 error).
    pub level: u8,
    /// `tickspan::CallsiteKind` as its number (0 span, 1 event, 2..4 values, 5 isr, 6 task).
    pub kind: u8,
}

struct Section {
    addr: Range<u64>,
    /// Where its bytes are in the file; `None` for sections without file data (`.bss`).
    file: Option<Range<usize>>,
    writable: bool,
}

/// A parsed firmware ELF.
pub struct Elf {
    data: Vec<u8>,
    symbols: HashMap<String, (u64, u64)>,
    sections: Vec<Section>,
    is_64: bool,
    is_arm: bool,
}

impl Elf {
    /// Reads and parses `path`.
    pub fn open(path: &Path) -> Result<Elf> {
        let len = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        if len > MAX_ELF {
            bail!(
                "{}: {len} bytes is too large for a firmware ELF",
                path.display()
            );
        }
        let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Elf::parse(data).with_context(|| format!("{} is not a usable ELF file", path.display()))
    }

    /// Parses an ELF image.
    pub fn parse(data: Vec<u8>) -> Result<Elf> {
        let file = object::File::parse(&*data).map_err(|e| anyhow!("{e}"))?;
        if file.format() != object::BinaryFormat::Elf {
            bail!("not an ELF file ({:?})", file.format());
        }
        if !file.is_little_endian() {
            bail!("big-endian targets are not supported");
        }
        let mut symbols = HashMap::new();
        for sym in file.symbols() {
            if let Ok(name) = sym.name() {
                if !name.is_empty() {
                    symbols
                        .entry(name.to_owned())
                        .or_insert((sym.address(), sym.size()));
                }
            }
        }
        let mut sections = Vec::new();
        for s in file.sections() {
            let (start, size) = (s.address(), s.size());
            let Some(end) = start.checked_add(size) else {
                bail!("section {:?} wraps around", s.name())
            };
            let alloc_flags = match s.flags() {
                SectionFlags::Elf { sh_flags } => sh_flags,
                _ => 0,
            };
            if alloc_flags & u64::from(object::elf::SHF_ALLOC) == 0 || size == 0 {
                continue;
            }
            let file_range = match s.kind() {
                SectionKind::UninitializedData | SectionKind::UninitializedTls => None,
                _ => match s.file_range() {
                    Some((off, len)) if len == size => {
                        let off = usize::try_from(off)?;
                        let end = off
                            .checked_add(usize::try_from(len)?)
                            .filter(|&e| e <= data.len());
                        Some(
                            off..end.ok_or_else(|| {
                                anyhow!("section {:?} lies beyond the file", s.name())
                            })?,
                        )
                    }
                    _ => None,
                },
            };
            sections.push(Section {
                addr: start..end,
                file: file_range,
                writable: alloc_flags & u64::from(object::elf::SHF_WRITE) != 0,
            });
        }
        let is_64 = file.is_64();
        let is_arm = file.architecture() == object::Architecture::Arm;
        drop(file);
        Ok(Elf {
            data,
            symbols,
            sections,
            is_64,
            is_arm,
        })
    }

    /// The GNU build id (`.note.gnu.build-id`) as hex, if the linker wrote one.
    pub fn build_id(&self) -> Option<String> {
        let file = object::File::parse(&*self.data).ok()?;
        let id = file.build_id().ok()??;
        Some(id.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Address and size of a symbol.
    pub fn symbol(&self, name: &str) -> Option<(u64, u64)> {
        self.symbols.get(name).copied()
    }

    /// Names of the symbols that start with `prefix` (e.g. a version symbol whose name carries
    /// the version).
    pub fn symbols_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.symbols
            .keys()
            .map(String::as_str)
            .filter(move |n| n.starts_with(prefix))
    }

    /// The wire format version the firmware was built with, from its version symbol
    /// (`_tickspan_version_ = N`); `None` if the ELF has none.
    pub fn format_version(&self) -> Result<Option<u16>> {
        let mut found = self.symbols_with_prefix(VERSION_PREFIX);
        let Some(sym) = found.next() else {
            return Ok(None);
        };
        if let Some(other) = found.next() {
            bail!("the ELF has two tickspan version symbols ({sym:?}, {other:?})");
        }
        let v = sym[VERSION_PREFIX.len()..].trim();
        v.parse()
            .map(Some)
            .map_err(|_| anyhow!("malformed tickspan version symbol {sym:?}"))
    }

    /// Whether the firmware is for a 32-bit Arm core (Cortex-M: SysTick and DWT registers at
    /// their architectural addresses).
    pub(crate) fn is_arm(&self) -> bool {
        self.is_arm
    }

    /// Whether pointers in this target's statics are 32 bits wide.
    pub(crate) fn is_32bit(&self) -> bool {
        !self.is_64
    }

    /// The span of the writable sections (`.data`, `.bss`, …): where the target's RAM state
    /// lives. `None` when there are none.
    pub(crate) fn ram(&self) -> Option<Range<u64>> {
        let w = self.sections.iter().filter(|s| s.writable);
        let start = w.clone().map(|s| s.addr.start).min()?;
        let end = w.map(|s| s.addr.end).max()?;
        Some(start..end)
    }

    /// The initial bytes at `addr..addr + len`, if they lie in one section with file data
    /// (read-only statics hold their final values there).
    pub(crate) fn read_static(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let end = addr.checked_add(len)?;
        let s = self
            .sections
            .iter()
            .find(|s| s.addr.start <= addr && end <= s.addr.end)?;
        let file = s.file.as_ref()?;
        let off = file.start + usize::try_from(addr - s.addr.start).ok()?;
        self.data.get(off..off + usize::try_from(len).ok()?)
    }

    fn read_u32(&self, addr: u64) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.read_static(addr, 4)?.try_into().ok()?,
        ))
    }

    fn read_str(&self, ptr: u32, len: u32) -> Result<String> {
        if len > MAX_STR {
            bail!("string of {len} bytes at {ptr:#x}");
        }
        let bytes = self
            .read_static(ptr.into(), len.into())
            .ok_or_else(|| anyhow!("string at {ptr:#x} (+{len}) is not in a read-only section"))?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// Every callsite static the ELF names (the macros' `static CS`), with its id, sorted.
    /// Statics the symbol table does not name (a stripped ELF) resolve through
    /// [`callsite`](Self::callsite) all the same.
    pub(crate) fn callsites(&self) -> Vec<(u32, ElfCallsite)> {
        let mut ids: Vec<u32> = self
            .symbols
            .iter()
            .filter(|(name, &(_, size))| {
                // Legacy mangling `…2CS17h<hash>E`, or v0 `…2CS` at the end of the path.
                size == 32 && (name.contains("2CS17h") || name.ends_with("2CS"))
            })
            .filter_map(|(_, &(addr, _))| u32::try_from(addr).ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .filter_map(|id| Some((id, self.callsite(id).ok()?)))
            .collect()
    }

    /// Reads the `tickspan::Callsite` static at `id` (its address on 32-bit targets):
    /// `{ name: &str, file: &str, line: u32, level: u8, kind: u8 }`, `#[repr(C)]`.
    pub fn callsite(&self, id: u32) -> Result<ElfCallsite> {
        if !self.is_32bit() {
            bail!("callsite ids are addresses only on 32-bit targets");
        }
        if id == 0 || id & 0xF != 0 {
            bail!("{id:#x} is not a callsite id (16-byte aligned, non-zero)");
        }
        let at = u64::from(id);
        let word = |i: u64| self.read_u32(at + 4 * i);
        let (Some(name_ptr), Some(name_len), Some(file_ptr), Some(file_len), Some(line)) =
            (word(0), word(1), word(2), word(3), word(4))
        else {
            bail!("no callsite at {id:#x} in the ELF's read-only data");
        };
        let tail = self
            .read_static(at + 20, 2)
            .ok_or_else(|| anyhow!("callsite at {id:#x} is truncated"))?;
        let (level, kind) = (tail[0], tail[1]);
        if level > 4 || kind > 10 {
            bail!("data at {id:#x} is not a callsite (level {level}, kind {kind})");
        }
        Ok(ElfCallsite {
            name: self.read_str(name_ptr, name_len)?,
            file: self.read_str(file_ptr, file_len)?,
            line,
            level,
            kind,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object::write::{Object as WObject, StandardSection, Symbol, SymbolSection};
    use object::{Architecture, BinaryFormat, Endianness, SymbolFlags, SymbolKind, SymbolScope};

    /// A relocatable ARM ELF (every section at address 0): `.rodata` holds a callsite `CS` at 16
    /// with its strings, and `_TICKSPAN_RINGS_LAYOUT` at 96; `.bss` holds `_TICKSPAN_RINGS`.
    pub(crate) fn synthetic_elf(layout: [u32; 7], rings_size: u64) -> Vec<u8> {
        let mut obj = WObject::new(BinaryFormat::Elf, Architecture::Arm, Endianness::Little);
        let ro = obj.section_id(StandardSection::ReadOnlyData);
        let mut rodata = vec![0u8; 128];
        rodata[64..69].copy_from_slice(b"parse");
        rodata[72..83].copy_from_slice(b"src/main.rs");
        let callsite = [64u32, 5, 72, 11, 42]
            .iter()
            .enumerate()
            .map(|(i, w)| (16 + 4 * i, w));
        for (at, w) in callsite.chain(layout.iter().enumerate().map(|(i, w)| (96 + 4 * i, w))) {
            rodata[at..at + 4].copy_from_slice(&w.to_le_bytes());
        }
        rodata[36] = 2; // level Info
        rodata[37] = 0; // kind Span
        obj.append_section_data(ro, &rodata, 16);
        let bss = obj.section_id(StandardSection::UninitializedData);
        let off = obj.append_section_bss(bss, rings_size, 4);
        for (n, sec, v, sz) in [
            ("_ZN4demo4main2CS17h0123456789abcdefE", ro, 16, 32),
            ("_TICKSPAN_RINGS_LAYOUT", ro, 96, 28),
            ("_TICKSPAN_RINGS", bss, off, rings_size),
        ] {
            obj.add_symbol(Symbol {
                name: n.as_bytes().to_vec(),
                value: v,
                size: sz,
                kind: SymbolKind::Data,
                scope: SymbolScope::Dynamic,
                weak: false,
                section: SymbolSection::Section(sec),
                flags: SymbolFlags::None,
            });
        }
        obj.write().unwrap()
    }

    #[test]
    fn resolves_symbols_and_callsites_and_rejects_bad_ids() {
        let elf = Elf::parse(synthetic_elf([2, 1, 0, 16, 1, 0, 0], 48)).unwrap();
        assert!(elf.is_32bit() && elf.is_arm());
        assert_eq!(
            elf.symbol("_ZN4demo4main2CS17h0123456789abcdefE"),
            Some((16, 32))
        );
        assert_eq!(elf.symbol("_TICKSPAN_RINGS").map(|s| s.1), Some(48));
        assert!(elf.ram().is_some());
        let cs = elf.callsite(16).unwrap();
        assert_eq!(
            cs,
            ElfCallsite {
                name: "parse".into(),
                file: "src/main.rs".into(),
                line: 42,
                level: 2,
                kind: 0
            }
        );
        assert_eq!(elf.callsites(), [(16, cs)]);
        assert!(elf.callsite(0).is_err(), "id 0 is never a callsite");
        assert!(elf.callsite(20).is_err(), "not 16-aligned");
        assert!(elf.callsite(64).is_err(), "string bytes are no callsite");
        assert!(elf.callsite(0x1000).is_err(), "outside every section");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Elf::parse(b"\x7fELF garbage".to_vec()).is_err());
        assert!(Elf::parse(Vec::new()).is_err());
        let mut elf = synthetic_elf([2, 1, 0, 16, 1, 0, 0], 48);
        // Corrupt section header offsets: still an error, never a panic.
        for i in (0x20..0x34).step_by(4) {
            elf[i] ^= 0xff;
        }
        let _ = Elf::parse(elf);
    }
}
