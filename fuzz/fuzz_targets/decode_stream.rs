//! A whole stream fed in arbitrary chunks: never panics, and the items do not depend on how
//! the input was split (the first byte picks the chunk size).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickspan::wire::Decoder;

fn decode(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<String>, Option<String>) {
    let mut items = Vec::new();
    let mut dec = Decoder::new();
    let mut err = None;
    for c in chunks {
        if let Err(e) = dec.feed(c, &mut |i| items.push(format!("{i:?}"))) {
            err = Some(e.to_string());
            break;
        }
    }
    if err.is_none() {
        dec.finish(&mut |i| items.push(format!("{i:?}")));
    }
    (items, err)
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, stream)) = data.split_first() else { return };
    let whole = decode(&mut std::iter::once(stream));
    let split = decode(&mut stream.chunks(size.max(1) as usize));
    assert_eq!(whole, split);
});
