//! Arbitrary bytes as raw frames (`tickspan::drain::RawDrain`'s output) through the CLI's raw
//! decoder: never panics, every input byte is either in a decoded frame or reported skipped,
//! what it makes of the input does not depend on how the input was split (the first byte picks
//! the chunk size), and the wire stream it writes decodes with nothing damaged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickspan::wire::{Decoder, Item};
use tickspan_cli::device::raw::RawDecoder;

fn run(stream: &[u8], chunk: usize) -> (Vec<u8>, Vec<(u64, u64)>, u64) {
    let mut raw = RawDecoder::new();
    let mut wire = Vec::new();
    for c in stream.chunks(chunk) {
        raw.feed(c, &mut wire);
    }
    raw.finish();
    (wire, raw.take_skipped(), raw.frames())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else { return };
    let (wire, skipped, frames) = run(stream, mode as usize % 64 + 1);
    assert_eq!(run(stream, stream.len().max(1)), (wire.clone(), skipped.clone(), frames), "chunking changed the result");
    let skipped_bytes: u64 = skipped.iter().map(|s| s.1).sum();
    assert!(skipped_bytes <= stream.len() as u64);
    assert_eq!(frames == 0, wire.is_empty());
    let mut dec = Decoder::new();
    let mut check = |i: Item<'_>| assert!(!matches!(i, Item::Skipped { .. }), "damaged wire output: {i:?}");
    dec.feed(&wire, &mut check).expect("a wire stream");
    dec.finish(&mut check);
});
