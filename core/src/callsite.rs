//! Static callsites: what a record's id stands for (name, file, line, level, kind).
//!
//! Every trace macro declares one `static Callsite`; its id is derived from its address, so
//! there is nothing to register and no cost after the first use either: names never enter a
//! record. On 32-bit targets the id is the address itself, which the host resolves through the
//! ELF symbol table. On 64-bit hosts callsites live in the `tickspan_cs` link section and the id is
//! the offset into it, which a drain in the same process turns back into a `&Callsite` after a
//! bounds check (see [`resolve`]).

/// Severity, carried for filtering on the host (`tracing`'s levels).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Level {
    /// Very fine detail.
    Trace = 0,
    /// Debugging detail.
    Debug = 1,
    /// Normal operation (the default).
    Info = 2,
    /// Something unexpected.
    Warn = 3,
    /// A failure.
    Error = 4,
}

/// What a callsite records; tells the host how to read a record's payload.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallsiteKind {
    /// A span (scoped or manual).
    Span = 0,
    /// An event with a `u32` payload.
    Event = 1,
    /// A value: unsigned 64-bit.
    ValueU64 = 2,
    /// A value: signed 64-bit.
    ValueI64 = 3,
    /// A value: `f64` bits.
    ValueF64 = 4,
    /// An interrupt handler.
    Isr = 5,
    /// A task (task switches, executor polls).
    Task = 6,
    /// A key/value field (the name is the key) of the event or span whose record it follows;
    /// the record's kind gives the value's type (`ValueU`/`ValueI`/`ValueF`/`Field`).
    Field = 7,
    /// The status of the innermost open span of its context (the name is the message; a
    /// `ValueU` record: 0 ok, 1 error).
    Status = 8,
    /// An interned static string (the name), named by `Field` records of type string.
    Str = 9,
    /// A formatted span or event (`event!("retry {} of {}", n, max)`; the name is the format
    /// string, `crate::format`): its span or event record is followed by one record per
    /// argument, of this same callsite, typed by the record's kind as fields are.
    Format = 10,
}

/// Lowest level compiled in (cargo features `max-level-*`): trace points below it compile to
/// nothing, their arguments unevaluated. 5 with `max-level-off`.
pub const STATIC_MIN_LEVEL: u8 = if cfg!(feature = "max-level-off") {
    5
} else if cfg!(feature = "max-level-error") {
    Level::Error as u8
} else if cfg!(feature = "max-level-warn") {
    Level::Warn as u8
} else if cfg!(feature = "max-level-info") {
    Level::Info as u8
} else if cfg!(feature = "max-level-debug") {
    Level::Debug as u8
} else {
    Level::Trace as u8
};

impl Level {
    /// Whether trace points of this level are compiled in ([`STATIC_MIN_LEVEL`]).
    #[inline(always)]
    // Always true without a `max-level-*` feature (the minimum is then 0).
    #[allow(clippy::absurd_extreme_comparisons)]
    pub const fn enabled(self) -> bool {
        self as u8 >= STATIC_MIN_LEVEL
    }
}

/// A trace point's static description. 16-byte aligned so ids leave four bits for the kind.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct Callsite {
    /// The span, event or value name.
    pub name: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Source line.
    pub line: u32,
    /// Level.
    pub level: Level,
    /// What records of this callsite carry.
    pub kind: CallsiteKind,
}

impl Callsite {
    /// A callsite; used by the macros.
    pub const fn new(
        name: &'static str,
        file: &'static str,
        line: u32,
        level: Level,
        kind: CallsiteKind,
    ) -> Callsite {
        Callsite { name, file, line, level, kind }
    }

    /// This callsite's id as written into records (never 0, low four bits clear).
    #[inline(always)]
    pub fn id(&'static self) -> u32 {
        imp::id(self)
    }
}

/// Turns an id read from a ring of this process back into its callsite.
///
/// Returns `None` for an id that does not name a callsite of this binary (checked against the
/// section bounds where the platform has them).
pub fn resolve(id: u32) -> Option<&'static Callsite> {
    #[cfg(all(feature = "std", not(miri)))]
    if id & runtime::ID_BIT != 0 {
        return runtime::resolve(id);
    }
    imp::resolve(id)
}

/// Callsites made at run time, for metadata that is not a `static` of the `tickspan_cs`
/// section (a `tracing` callsite, a `log` record's file and line). Their ids have bit 31 set,
/// which a section offset never has (the section would have to be 2 GiB), and are handed
/// out in registration order. A callsite is registered once and lives for the rest of the
/// process, as statics do.
#[cfg(all(feature = "std", not(miri)))]
pub mod runtime {
    use super::Callsite;
    use std::sync::RwLock;

    /// The bit that marks a run-time callsite's id.
    pub const ID_BIT: u32 = 1 << 31;

    /// Most run-time callsites (ids have 27 bits for the index): registering more fails.
    pub const MAX: usize = 1 << 20;

    static REGISTRY: RwLock<Vec<&'static Callsite>> = RwLock::new(Vec::new());

    /// Registers `cs` and returns its id; `None` once [`MAX`] are registered.
    pub fn register(cs: Callsite) -> Option<u32> {
        let mut all = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
        if all.len() >= MAX {
            return None;
        }
        all.push(Box::leak(Box::new(cs)));
        Some(ID_BIT | (all.len() as u32) << 4)
    }

    pub(super) fn resolve(id: u32) -> Option<&'static Callsite> {
        let i = ((id & !ID_BIT) >> 4).checked_sub(1)? as usize;
        if id & 0xF != 0 {
            return None;
        }
        REGISTRY.read().unwrap_or_else(|e| e.into_inner()).get(i).copied()
    }
}

// Miri has no linker-defined section bounds: there ids are addresses, as on 32-bit targets.
#[cfg(any(target_pointer_width = "32", miri))]
mod imp {
    use super::Callsite;

    #[inline(always)]
    pub(super) fn id(cs: &'static Callsite) -> u32 {
        cs as *const Callsite as usize as u32
    }

    pub(super) fn resolve(id: u32) -> Option<&'static Callsite> {
        // On bare metal ids are resolved on the host through the ELF; a drain on the target
        // does not dereference ids it cannot bound-check.
        let _ = id;
        None
    }
}

// 64-bit hosts: the callsites are one array in a link section of their own (ids are offsets
// into it, which fit 32 bits), bounded by symbols the linker provides: `__start_`/`__stop_` on
// ELF, `section$start$`/`section$end$` on Mach-O, and on PE/COFF markers in the grouped
// sections `$a` and `$c` around the entries' `$b` (the linker sorts groups by suffix). The
// macros name the section with the same three `cfg_attr`s as `SECTION_ANCHOR` below.
#[cfg(all(not(target_pointer_width = "32"), not(miri)))]
mod imp {
    use super::Callsite;
    use core::mem::size_of;

    #[cfg(any(target_os = "linux", target_os = "android"))]
    mod bounds {
        use super::Callsite;

        // The statics are only used for their addresses, never read through this declaration.
        #[allow(improper_ctypes)]
        extern "C" {
            // Defined by the linker for every section whose name is a C identifier.
            static __start_tickspan_cs: Callsite;
            static __stop_tickspan_cs: Callsite;
        }

        pub(super) fn get() -> (usize, usize) {
            // Only the addresses of the linker-defined symbols are taken; nothing is read.
            (
                core::ptr::addr_of!(__start_tickspan_cs) as usize,
                core::ptr::addr_of!(__stop_tickspan_cs) as usize,
            )
        }
    }

    #[cfg(target_vendor = "apple")]
    mod bounds {
        use super::Callsite;

        #[allow(improper_ctypes)]
        extern "C" {
            // ld64 defines these for section `__DATA,__tickspan_cs` (the \x01 keeps the name
            // unmangled: no leading underscore added).
            #[link_name = "\x01section$start$__DATA$__tickspan_cs"]
            static START: Callsite;
            #[link_name = "\x01section$end$__DATA$__tickspan_cs"]
            static STOP: Callsite;
        }

        pub(super) fn get() -> (usize, usize) {
            // Only the addresses of the linker-defined symbols are taken; nothing is read.
            (core::ptr::addr_of!(START) as usize, core::ptr::addr_of!(STOP) as usize)
        }
    }

    #[cfg(windows)]
    mod bounds {
        use super::Callsite;

        // Empty arrays aligned as the entries, so no padding separates them from the first.
        #[used]
        #[link_section = ".tkcs$a"]
        static START: [Callsite; 0] = [];
        #[used]
        #[link_section = ".tkcs$c"]
        static STOP: [Callsite; 0] = [];

        pub(super) fn get() -> (usize, usize) {
            (START.as_ptr() as usize, STOP.as_ptr() as usize)
        }
    }

    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_vendor = "apple",
        windows
    )))]
    compile_error!(
        "tickspan on 64-bit hosts needs link sections: supported on Linux, Android, macOS/iOS and Windows"
    );

    /// Keeps the section, and so its bounds above, in every binary that links this crate: a
    /// program that calls [`resolve`] (every std drain does) but declares no callsite of its own
    /// would otherwise fail to link. It is a `Callsite` like every other entry, so the section
    /// stays an array of `Callsite`s and `resolve`'s stride and bounds checks hold; its id
    /// resolves to itself, named as what it is.
    #[used]
    #[cfg_attr(any(target_os = "linux", target_os = "android"), link_section = "tickspan_cs")]
    #[cfg_attr(target_vendor = "apple", link_section = "__DATA,__tickspan_cs")]
    #[cfg_attr(windows, link_section = ".tkcs$b")]
    pub(super) static SECTION_ANCHOR: Callsite = Callsite::new(
        "(tickspan section anchor)",
        file!(),
        line!(),
        super::Level::Trace,
        super::CallsiteKind::Event,
    );

    #[inline(always)]
    pub(super) fn id(cs: &'static Callsite) -> u32 {
        // +16 keeps the first callsite's id non-zero.
        let start = bounds::get().0;
        ((cs as *const Callsite as usize).wrapping_sub(start) as u32).wrapping_add(16)
    }

    pub(super) fn resolve(id: u32) -> Option<&'static Callsite> {
        let (start, stop) = bounds::get();
        let off = (id as usize).checked_sub(16)?;
        if off % size_of::<Callsite>() != 0 || off + size_of::<Callsite>() > stop - start {
            return None;
        }
        // SAFETY: the section holds only `Callsite` statics (the macros put nothing else
        // there), each `size_of::<Callsite>()` long and aligned, and `off` is in bounds and on
        // an element boundary, so this points at one of them, alive for 'static.
        Some(unsafe { &*((start + off) as *const Callsite) })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)] // resolving needs the section bounds
    fn ids_resolve_back_to_their_callsite() {
        #[cfg_attr(any(target_os = "linux", target_os = "android"), link_section = "tickspan_cs")]
        #[cfg_attr(target_vendor = "apple", link_section = "__DATA,__tickspan_cs")]
        #[cfg_attr(windows, link_section = ".tkcs$b")]
        static A: Callsite = Callsite::new("a", file!(), line!(), Level::Info, CallsiteKind::Span);
        #[cfg_attr(any(target_os = "linux", target_os = "android"), link_section = "tickspan_cs")]
        #[cfg_attr(target_vendor = "apple", link_section = "__DATA,__tickspan_cs")]
        #[cfg_attr(windows, link_section = ".tkcs$b")]
        static B: Callsite = Callsite::new("b", file!(), line!(), Level::Warn, CallsiteKind::Event);
        for cs in [&A, &B] {
            let id = cs.id();
            assert_ne!(id, 0);
            assert_eq!(id & 0xF, 0);
            assert!(core::ptr::eq(resolve(id).unwrap(), cs));
        }
        // The section anchor is an entry like the others.
        #[cfg(all(not(miri), target_pointer_width = "64"))]
        assert!(core::ptr::eq(resolve(imp::SECTION_ANCHOR.id()).unwrap(), &imp::SECTION_ANCHOR));
        assert!(resolve(A.id() + 16 * 100_000).is_none());
        assert!(resolve(A.id() + 4).is_none());
        assert!(resolve(0).is_none());
    }

    #[test]
    #[cfg(all(feature = "std", not(miri)))]
    fn runtime_callsites_resolve_and_stay_apart_from_static_ones() {
        let id = runtime::register(Callsite::new("dyn", "x.rs", 7, Level::Warn, CallsiteKind::Event)).unwrap();
        assert_eq!(id & 0xF, 0);
        assert_ne!(id & runtime::ID_BIT, 0);
        let cs = resolve(id).expect("registered");
        assert_eq!((cs.name, cs.line, cs.level), ("dyn", 7, Level::Warn));
        let next = runtime::register(Callsite::new("dyn2", "x.rs", 8, Level::Info, CallsiteKind::Span)).unwrap();
        assert_eq!(next, id + 16);
        assert!(resolve(next + 16 * 1000).is_none(), "not registered");
        assert!(resolve(id + 4).is_none(), "kind bits are not part of an id");
        assert!(resolve(runtime::ID_BIT).is_none(), "index 0 is no callsite");
    }
}
