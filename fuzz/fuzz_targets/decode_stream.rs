//! A whole stream fed in arbitrary chunks: never panics, the items do not depend on how the
//! input was split (the first byte picks the chunk size), and the run interface
//! (`feed_sink`, what the CLI uses) hands over exactly the items `feed` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickspan::wire::{Decoder, Item, Items};

fn decode(chunks: &mut dyn Iterator<Item = &[u8]>, runs: bool) -> (Vec<String>, Option<String>) {
    let mut text = Vec::new();
    let mut items = Items(|i: Item<'_>| text.push(format!("{i:?}")));
    let mut dec = Decoder::new();
    let mut err = None;
    for c in chunks {
        let r = if runs { dec.feed_sink(c, &mut items) } else { dec.feed(c, &mut items.0) };
        if let Err(e) = r {
            err = Some(e.to_string());
            break;
        }
    }
    if err.is_none() {
        if runs {
            dec.finish_sink(&mut items);
        } else {
            dec.finish(&mut items.0);
        }
    }
    (text, err)
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, stream)) = data.split_first() else { return };
    let whole = decode(&mut std::iter::once(stream), false);
    let split = decode(&mut stream.chunks(size.max(1) as usize), false);
    assert_eq!(whole, split);
    let runs = decode(&mut stream.chunks(size.max(1) as usize), true);
    assert_eq!(whole, runs);
});
