//! Shared by the tests that read a std drain's stream back.

use std::collections::HashMap;
use tickspan::wire::{Decoder, Item};
use tickspan::{CallsiteKind, Kind};

/// One record: context, kind, callsite id, `a`, `b`.
pub type Raw = (u32, Kind, u32, u32, u32);

/// The dictionary (id → name, kind) and the records of a stream in which nothing is lost.
pub fn decode_all(bytes: &[u8]) -> (HashMap<u32, (String, CallsiteKind)>, Vec<Raw>) {
    let mut names = HashMap::new();
    let mut records = Vec::new();
    Decoder::new()
        .feed(bytes, &mut |item| match item {
            Item::Callsite(c) => {
                names.insert(c.id, (c.name.to_owned(), c.kind));
            }
            Item::Record { ctx, kind, callsite, a, b, .. } => records.push((ctx, kind, callsite, a, b)),
            Item::Loss { .. } | Item::Skipped { .. } => panic!("nothing is lost: {item:?}"),
            _ => {}
        })
        .unwrap();
    (names, records)
}
