//! The decoder's item shape, mirrored from `docs` contract until `tickspan::wire` lands.
#![allow(dead_code)]
pub use tickspan::{CallsiteKind, Kind, Level};

/// Stream header.
#[derive(Clone, Copy, Debug)]
pub struct StreamHeader<'a> {
    pub version: u16,
    pub clock_hz: u64,
    pub clock_wrap: u64,
    pub node: u64,
    pub target: &'a str,
}

/// Dictionary entry.
#[derive(Clone, Copy, Debug)]
pub struct CallsiteInfo<'a> {
    pub id: u32,
    pub kind: CallsiteKind,
    pub level: Level,
    pub line: u32,
    pub name: &'a str,
    pub file: &'a str,
}

/// One decoded item.
#[derive(Clone, Copy, Debug)]
pub enum Item<'a> {
    Header(StreamHeader<'a>),
    Callsite(CallsiteInfo<'a>),
    Context { ctx: u32, name: &'a str },
    Record { ctx: u32, ts: u64, kind: Kind, callsite: u32, a: u32, b: u32 },
    Loss { ctx: u32, count: u32 },
    Sync { ts: u64, unix_ns: u64 },
    Skipped { offset: u64, bytes: u64 },
}
