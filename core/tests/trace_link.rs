//! Trace context in the recorder, end to end through the std drain: the link records each
//! call writes land right after the enter of the span they name, carry the ids the calls
//! return, and the std current context follows scopes, threads and futures.
#![cfg(all(feature = "std", feature = "decode"))]

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tickspan::trace_context::{self as tc, LinkField, TraceContext, TraceFlags};
use tickspan::wire::{Decoder, Item};
use tickspan::Kind;

/// One decoded record of interest, per context in order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Enter(String),
    Exit,
    Link(LinkField, u8, u64),
}

fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the test future is ready at once"),
    }
}

#[test]
fn links_name_their_spans_and_the_context_follows_the_code() {
    let path = std::env::temp_dir().join(format!("tickspan-trace-link-{}.tspn", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let drain = tickspan::transport::spawn(file, Duration::from_millis(1)).unwrap();
    let incoming =
        TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();

    assert_eq!(tc::current(), None);
    let (handle, call, worker, task, root);
    {
        let _g = tickspan::span!("handle");
        let _a = tc::enter_remote(&incoming);
        handle = tc::current().unwrap();
        assert_eq!((handle.trace_id(), handle.flags()), (incoming.trace_id(), incoming.flags()));
        assert_ne!(handle.span_id(), incoming.span_id());
        {
            let _g = tickspan::span!("call");
            let _a = tc::enter_child().expect("a current context");
            call = tc::current().unwrap();
            assert_eq!(call.trace_id(), incoming.trace_id());
        }
        assert_eq!(tc::current(), Some(handle), "the guard restores the outer context");
        let cx = tc::current();
        worker = std::thread::Builder::new()
            .name("worker".into())
            .spawn(move || {
                assert_eq!(tc::current(), None, "a new thread starts without a context");
                let _g = tickspan::span!("worker");
                let _a = tc::attach_child(&cx.unwrap());
                tc::current().unwrap()
            })
            .unwrap()
            .join()
            .unwrap();
        // A future carries the context to whichever thread polls it.
        let fut = tc::in_current(async { tc::current() });
        task = std::thread::spawn(move || poll_once(fut)).join().unwrap();
        assert_eq!(task, Some(handle));
    }
    assert_eq!(tc::current(), None);
    {
        let _g = tickspan::span!("root");
        let _a = tc::enter_new_trace(TraceFlags::new(TraceFlags::SAMPLED));
        root = tc::current().unwrap();
        assert!(root.flags().sampled() && root.flags().random_trace_id());
        assert_ne!(root.trace_id(), incoming.trace_id());
    }
    assert_eq!(tc::enter_child().map(|_| ()), None, "no context, no record");
    drain.finish().unwrap();

    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut names = HashMap::new();
    let mut seen: HashMap<u32, Vec<Seen>> = HashMap::new();
    Decoder::new()
        .feed(&bytes, &mut |item| match item {
            Item::Callsite(c) => {
                names.insert(c.id, c.name.to_owned());
            }
            Item::Record { ctx, kind, callsite, a, b, .. } => {
                let s = match kind {
                    Kind::SpanEnter => Seen::Enter(names[&callsite].clone()),
                    Kind::SpanExit => Seen::Exit,
                    Kind::Link => Seen::Link(
                        LinkField::of_tag(callsite),
                        LinkField::flags_of_tag(callsite).bits(),
                        a as u64 | (b as u64) << 32,
                    ),
                    _ => return,
                };
                seen.entry(ctx).or_default().push(s);
            }
            Item::Loss { .. } | Item::Skipped { .. } => panic!("nothing is lost: {item:?}"),
            _ => {}
        })
        .unwrap();

    use LinkField::*;
    let t = incoming.trace_id();
    let main: Vec<Seen> = vec![
        Seen::Enter("handle".into()),
        Seen::Link(TraceHi, 1, (t >> 64) as u64),
        Seen::Link(TraceLo, 1, t as u64),
        Seen::Link(Parent, 1, incoming.span_id()),
        Seen::Link(SpanId, 1, handle.span_id()),
        Seen::Enter("call".into()),
        Seen::Link(Parent, 1, handle.span_id()),
        Seen::Link(SpanId, 1, call.span_id()),
        Seen::Exit,
        Seen::Exit,
        Seen::Enter("root".into()),
        Seen::Link(TraceHi, 3, (root.trace_id() >> 64) as u64),
        Seen::Link(TraceLo, 3, root.trace_id() as u64),
        Seen::Link(SpanId, 3, root.span_id()),
        Seen::Exit,
    ];
    assert!(seen.values().any(|v| *v == main), "{seen:#?}");
    let other = vec![
        Seen::Enter("worker".into()),
        Seen::Link(Parent, 1, handle.span_id()),
        Seen::Link(SpanId, 1, worker.span_id()),
        Seen::Exit,
    ];
    assert!(seen.values().any(|v| *v == other), "{seen:#?}");
}

#[test]
fn span_ids_do_not_repeat() {
    let ids: HashSet<u64> = (0..200_000).map(|_| tc::new_span_id()).collect();
    assert_eq!(ids.len(), 200_000);
    assert!(!ids.contains(&0));
    let traces: HashSet<u128> = (0..10_000).map(|_| tc::new_trace_id()).collect();
    assert_eq!(traces.len(), 10_000);
}

/// Bytes a link record takes on the wire, measured by encoding batches of them with random
/// ids (ids are random: varints cannot shorten them). `--nocapture` prints the figure.
#[test]
fn link_records_take_about_ten_bytes_on_the_wire() {
    use tickspan::wire::{encode::FrameEncoder, ENCODED_CAPACITY};
    let mut enc = FrameEncoder::new();
    let mut out = [0u8; ENCODED_CAPACITY];
    let (mut bytes, mut links) = (0usize, 0usize);
    for batch in 0..100u64 {
        enc.begin_batch(1, batch * 1000);
        let mut n = 0;
        while enc.has_room() {
            let v = tc::new_span_id();
            assert!(enc.record(Kind::Link, (3 | 1 << 2) << 4, batch * 1000 + n, v as u32, (v >> 32) as u32));
            n += 1;
        }
        bytes += enc.finish(&mut out);
        links += n as usize;
    }
    let per = bytes as f64 / links as f64;
    println!("{links} link records, {bytes} bytes: {per:.2} bytes per link record (framing included)");
    println!("link_remote (4 records) ≈ {:.0} B, link_child (2) ≈ {:.0} B", 4.0 * per, 2.0 * per);
    assert!((9.5..=11.5).contains(&per), "{per:.2}");
}
