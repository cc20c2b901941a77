//! One frame: arbitrary bytes between two delimiters, and the same bytes as a valid frame
//! (correct COBS and CRC around arbitrary content), so the fuzzer reaches the body parsers
//! instead of stopping at the CRC. Never panics; at most one header-or-skip per frame and no
//! more records than bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickspan::wire::{Decoder, Item};

/// COBS-encodes `type | body | CRC-32C` the way the wire format frames it.
fn framed(raw: &[u8]) -> Vec<u8> {
    const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let mut raw = raw.to_vec();
    raw.extend_from_slice(&CRC.checksum(&raw).to_le_bytes());
    let mut out = vec![0u8; cobs::max_encoding_length(raw.len()) + 2];
    let n = cobs::encode(&raw, &mut out[1..]);
    out.truncate(n + 1);
    out.push(0);
    out
}

fn check(bytes: &[u8]) {
    let mut items = 0usize;
    let mut dec = Decoder::new();
    let mut sink = |i: Item<'_>| {
        items += 1;
        if let Item::Skipped { offset, bytes: n } = i {
            assert!(offset + n <= bytes.len() as u64);
        }
    };
    let _ = dec.feed(bytes, &mut sink);
    dec.finish(&mut sink);
    assert!(items <= bytes.len() + 1);
}

fuzz_target!(|data: &[u8]| {
    let mut raw = vec![0];
    raw.extend_from_slice(data);
    raw.push(0);
    check(&raw);
    if data.len() <= tickspan::wire::MAX_FRAME_LEN - 4 {
        check(&framed(data));
    }
});
