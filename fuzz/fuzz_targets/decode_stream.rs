//! A whole stream fed in arbitrary chunks: never panics, the items do not depend on how the
//! input was split (the first byte picks the chunk size), and the run interface
//! (`feed_sink`, what the CLI uses) hands over exactly the items `feed` does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickspan::wire::{Decoder, Item, Rec, Sink};

/// Items as text, records expanded from their runs.
struct Text(Vec<String>);

impl Sink for Text {
    fn item(&mut self, item: Item<'_>) {
        self.0.push(format!("{item:?}"))
    }
    fn records(&mut self, ctx: u32, records: &[Rec]) {
        self.0.extend(records.iter().map(|r| format!("{:?}", r.item(ctx))))
    }
}

fn decode(chunks: &mut dyn Iterator<Item = &[u8]>, runs: bool) -> (Vec<String>, Option<String>) {
    let mut items = Text(Vec::new());
    let mut dec = Decoder::new();
    let mut err = None;
    for c in chunks {
        let r = if runs { dec.feed_sink(c, &mut items) } else { dec.feed(c, &mut |i| items.item(i)) };
        if let Err(e) = r {
            err = Some(e.to_string());
            break;
        }
    }
    if err.is_none() {
        if runs {
            dec.finish_sink(&mut items);
        } else {
            dec.finish(&mut |i| items.item(i));
        }
    }
    (items.0, err)
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, stream)) = data.split_first() else { return };
    let whole = decode(&mut std::iter::once(stream), false);
    let split = decode(&mut stream.chunks(size.max(1) as usize), false);
    assert_eq!(whole, split);
    let runs = decode(&mut stream.chunks(size.max(1) as usize), true);
    assert_eq!(whole, runs);
});
