//! Exact bytes of each frame type (postcard's `test_one` style): the expected bytes come from an
//! independent reference, `wire_reference.py` beside this file (bit-serial CRC-32C, textbook
//! COBS, LEB128), and each case also decodes back to what was encoded.
#![cfg(feature = "decode")]

use tickspan::wire::{encode::FrameEncoder, Decoder, Item, StreamHeader, ENCODED_CAPACITY};
use tickspan::Kind;

/// Checks `build`'s frame is exactly `expected` and decodes to `items`.
fn test_one(build: impl FnOnce(&mut FrameEncoder), expected: &[u8], items: &[Item<'_>]) {
    let mut enc = FrameEncoder::new();
    build(&mut enc);
    let mut out = [0u8; ENCODED_CAPACITY];
    let n = enc.finish(&mut out);
    assert_eq!(&out[..n], expected, "encoding");
    let mut got = Vec::new();
    let mut dec = Decoder::new();
    dec.feed(expected, &mut |i| got.push(format!("{i:?}"))).unwrap();
    dec.finish(&mut |i| got.push(format!("{i:?}")));
    let want: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    assert_eq!(got, want, "decoding");
}

#[test]
fn header_frame() {
    let h = StreamHeader {
        version: 1,
        clock_hz: 1_000_000,
        clock_wrap: 1 << 24,
        node: 7,
        target: "thumbv7m-none-eabi", name: ""
    };
    test_one(
        |e| assert!(e.header(&h)),
        &[
            0x00, 0x07, 0x01, 0x54, 0x53, 0x50, 0x4e, 0x01, 0x20, 0xc0, 0x84, 0x3d, 0x80, 0x80, 0x80, 0x08,
            0x07, 0x12, 0x74, 0x68, 0x75, 0x6d, 0x62, 0x76, 0x37, 0x6d, 0x2d, 0x6e, 0x6f, 0x6e, 0x65, 0x2d,
            0x65, 0x61, 0x62, 0x69, 0x58, 0xf0, 0x05, 0x5e, 0x00,
        ],
        &[Item::Header(h)],
    );
}

#[test]
fn context_frame() {
    test_one(
        |e| assert!(e.context(2, "worker")),
        &[0x0e, 0x03, 0x02, 0x06, 0x77, 0x6f, 0x72, 0x6b, 0x65, 0x72, 0xa0, 0xfd, 0x40, 0x5a, 0x00],
        &[Item::Context { ctx: 2, name: "worker" }],
    );
}

#[test]
fn sync_frame() {
    test_one(
        |e| assert!(e.sync(123_456_789, 0)),
        &[0x06, 0x04, 0x95, 0x9a, 0xef, 0x3a, 0x05, 0xfc, 0xa1, 0x54, 0x35, 0x00],
        &[Item::Sync { ts: 123_456_789, unix_ns: 0 }],
    );
}

#[test]
fn batch_frame() {
    let rec = |ts, kind, callsite, a, b| Item::Record { ctx: 1, ts, kind, callsite, a, b };
    test_one(
        |e| {
            e.begin_batch(1, 1000);
            e.record(Kind::SpanEnter, 0x40, 1000, 0, 0);
            e.record(Kind::SpanExit, 0x40, 1090, 0, 0);
            let v = (-2i64) as u64;
            e.record(Kind::ValueI, 0x80, 1100, v as u32, (v >> 32) as u32);
            e.loss(3);
        },
        &[
            0x08, 0x05, 0x01, 0xe8, 0x07, 0x4e, 0x04, 0x41, 0x0e, 0x42, 0x5a, 0x1e, 0x08, 0x1c, 0x0a, 0x03,
            0x09, 0x03, 0x4c, 0x87, 0xf6, 0xcf, 0x00,
        ],
        &[
            rec(1000, Kind::SpanEnter, 0x40, 0, 0),
            rec(1090, Kind::SpanExit, 0x40, 0, 0),
            rec(1100, Kind::ValueI, 0x80, 0xFFFF_FFFE, 0xFFFF_FFFF),
            Item::Loss { ctx: 1, count: 3 },
        ],
    );
}

#[test]
fn version_symbol_matches_the_constant() {
    assert_eq!(tickspan::wire::version_symbol(), tickspan::wire::FORMAT_VERSION);
}
