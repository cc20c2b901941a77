//! A program that drains but declares no callsite of its own: it still links (the std drain
//! calls `callsite::resolve`, whose `tickspan_cs` section bounds `callsite.rs` keeps in every
//! binary), and an id that names nothing in this binary is sent undescribed.
#![cfg(all(feature = "std", feature = "decode"))]

use tickspan::drain::{Drain, StreamInfo};
use tickspan::wire::Decoder;
use tickspan::{Kind, Record, Ring};

#[test]
fn drains_and_resolves_without_any_callsite() {
    let rings = [Ring::<16>::new()];
    rings[0].push(Record::new(Kind::Event, 0x1230, 5, 7, 0));
    let info =
        StreamInfo { clock_hz: 0, clock_wrap: 1 << 32, node: 0, target: "t", name: "", now: || 10, unix_ns: || 0 };
    let mut drain = Drain::new(&rings, info);
    let mut bytes = [0u8; 512];
    let n = drain.read(&mut bytes);
    assert!(tickspan::callsite::resolve(0x1230).is_none());
    let mut items = Vec::new();
    Decoder::new().feed(&bytes[..n], &mut |i| items.push(format!("{i:?}"))).unwrap();
    assert!(items.iter().all(|i| !i.starts_with("Callsite")), "{items:?}");
    let records: Vec<_> = items.iter().filter(|i| i.starts_with("Record")).collect();
    assert_eq!(records.len(), 1, "{items:?}");
    assert!(records[0].contains("callsite: 4656") && records[0].contains("a: 7"), "{items:?}");
}
