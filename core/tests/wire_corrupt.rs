//! Damaged input: truncation at every offset, every single-bit flip, random bytes, oversize
//! frames. The decoder never panics, reports what it skipped, and decodes the frames after it.
#![cfg(feature = "decode")]

use proptest::prelude::*;
use tickspan::wire::{encode::FrameEncoder, DecodeError, Decoder, Item, StreamHeader, ENCODED_CAPACITY};
use tickspan::Kind;

/// A small trace: header, context, sync, then `batches` batches of 4 records; also returns
/// where each frame ends.
fn trace(batches: u32) -> (Vec<u8>, Vec<usize>) {
    let mut enc = FrameEncoder::new();
    let mut out = [0u8; ENCODED_CAPACITY];
    let mut bytes = Vec::new();
    let mut ends = Vec::new();
    let mut push = |enc: &mut FrameEncoder, bytes: &mut Vec<u8>| {
        let n = enc.finish(&mut out);
        bytes.extend_from_slice(&out[..n]);
        ends.push(bytes.len());
    };
    enc.header(&StreamHeader {
        version: 1,
        clock_hz: 72_000_000,
        clock_wrap: 1 << 32,
        node: 0,
        target: "thumbv7m-none-eabi", name: ""
    });
    push(&mut enc, &mut bytes);
    enc.context(0, "thread mode");
    push(&mut enc, &mut bytes);
    enc.sync(1000, 1_700_000_000_000_000_000);
    push(&mut enc, &mut bytes);
    for i in 0..batches {
        let t = 10_000 * i as u64;
        enc.begin_batch(i % 2, t);
        enc.record(Kind::SpanEnter, 0x100, t, 0, 0);
        enc.record(Kind::Event, 0x140, t + 40, i, 0);
        enc.record(Kind::ValueU, 0x180, t + 90, 1 << 20, 3);
        enc.record(Kind::SpanExit, 0x100, t + 200, 0, 0);
        push(&mut enc, &mut bytes);
    }
    (bytes, ends)
}

/// Items of a full decode as text, plus whether decoding failed fatally.
fn decode(bytes: &[u8]) -> (Vec<String>, Option<DecodeError>) {
    let mut items = Vec::new();
    let mut dec = Decoder::new();
    let err = dec.feed(bytes, &mut |i| items.push(format!("{i:?}"))).err();
    dec.finish(&mut |i| items.push(format!("{i:?}")));
    (items, err)
}

fn skipped(items: &[String]) -> usize {
    items.iter().filter(|i| i.starts_with("Skipped")).count()
}

#[test]
fn truncation_at_every_offset_keeps_every_complete_frame() {
    let (bytes, ends) = trace(6);
    let (full, err) = decode(&bytes);
    assert!(err.is_none() && skipped(&full) == 0);
    for cut in 0..=bytes.len() {
        let (items, err) = decode(&bytes[..cut]);
        assert!(err.is_none(), "cut {cut}: {err:?}");
        // A frame that lacks only its delimiter still decodes; any other partial frame is
        // reported as skipped, with its offset.
        let good: Vec<_> = items.iter().filter(|i| !i.starts_with("Skipped")).collect();
        let expected_frames = &full[..];
        assert!(good.iter().zip(expected_frames).all(|(a, b)| *a == b), "cut {cut}: prefix");
        let partial = cut > 0 && !ends.iter().any(|&e| e == cut || e == cut + 1) && cut > 1;
        assert_eq!(skipped(&items), partial as usize, "cut {cut}: {items:?}");
        if partial {
            let start = ends.iter().rev().find(|&&e| e <= cut).copied().unwrap_or(1);
            assert!(
                items
                    .last()
                    .unwrap()
                    .starts_with(&format!("Skipped {{ offset: {start}, bytes: {} }}", cut - start)),
                "cut {cut}: {items:?}"
            );
        }
    }
}

#[test]
fn every_single_bit_flip_is_detected_and_later_frames_still_decode() {
    let (bytes, ends) = trace(6);
    // The last frame starts after this delimiter (flipping it merges two frames).
    let last_delimiter = ends[ends.len() - 2] - 1;
    let (full, _) = decode(&bytes);
    let last_batch: Vec<&String> = full.iter().rev().take(4).collect();
    for bit in 8..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        let (items, err) = decode(&b);
        assert!(err.is_none(), "bit {bit}: {err:?}");
        assert!(skipped(&items) >= 1, "bit {bit}: damage not reported");
        // No item the original did not have (never misread) ...
        for i in items.iter().filter(|i| !i.starts_with("Skipped")) {
            assert!(full.contains(i), "bit {bit}: invented {i}");
        }
        // ... and the frames after the damaged one decode (unless the flip hit the last one).
        if bit / 8 < last_delimiter {
            for want in &last_batch {
                assert!(items.contains(want), "bit {bit}: lost {want}");
            }
        }
    }
}

#[test]
fn oversize_frame_is_skipped_and_decoding_resumes() {
    let (bytes, _) = trace(2);
    let mut b = bytes[..bytes.len() / 2].to_vec();
    b.extend(std::iter::repeat_n(0x55u8, 5000));
    b.push(0);
    b.extend_from_slice(&bytes);
    let (items, err) = decode(&b);
    assert!(err.is_none());
    assert_eq!(skipped(&items), 1);
    let (full, _) = decode(&bytes);
    assert!(items.ends_with(&full), "the stream after the garbage decodes whole");
}

#[test]
fn unknown_version_is_fatal_and_sticky() {
    let (mut bytes, _) = trace(1);
    let mut enc = FrameEncoder::new();
    enc.header(&StreamHeader { version: 9, clock_hz: 0, clock_wrap: 0, node: 0, target: "" , name: ""});
    let mut out = [0u8; ENCODED_CAPACITY];
    let n = enc.finish(&mut out);
    bytes.splice(1..1, out[..n].iter().copied());
    let mut dec = Decoder::new();
    assert_eq!(dec.feed(&bytes, &mut |_| {}), Err(DecodeError::UnsupportedVersion(9)));
    assert_eq!(dec.feed(&bytes, &mut |_| {}), Err(DecodeError::UnsupportedVersion(9)));
}

#[test]
fn text_is_not_a_trace() {
    let text = "fn main() { println!(\"hello\"); }\n".repeat(200);
    let (items, err) = decode(text.as_bytes());
    assert_eq!(err, Some(DecodeError::NotATrace));
    assert!(!items.iter().any(|i| i.starts_with("Record")));
    // A stream with garbage in front still decodes while that garbage is short.
    let (bytes, _) = trace(1);
    let (items, err) = decode(&[&text.as_bytes()[..500], &bytes].concat());
    assert!(err.is_none());
    assert!(items[0].starts_with("Skipped { offset: 0, bytes: 501 }"), "{items:?}");
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000), chunk in 1usize..200) {
        let mut dec = Decoder::new();
        let mut n = 0usize;
        for c in bytes.chunks(chunk) {
            if dec.feed(c, &mut |_| n += 1).is_err() {
                break;
            }
        }
        dec.finish(&mut |_| n += 1);
        prop_assert!(n <= bytes.len() + 1);
    }

    #[test]
    fn random_damage_never_invents_items(flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..20)) {
        let (bytes, _) = trace(8);
        let (full, _) = decode(&bytes);
        let mut b = bytes.clone();
        for (at, x) in flips {
            let i = at % b.len();
            b[i] ^= x | 1;
        }
        let (items, _) = decode(&b);
        for i in items.iter().filter(|i| !i.starts_with("Skipped")) {
            prop_assert!(full.contains(i), "invented {}", i);
        }
    }
}

#[test]
fn frames_are_counted() {
    let (bytes, ends) = trace(3);
    let mut dec = Decoder::new();
    let mut headers = 0;
    dec.feed(&bytes, &mut |i| headers += matches!(i, Item::Header(_)) as u32).unwrap();
    assert_eq!((dec.frames(), headers), (ends.len() as u64, 1));
}
