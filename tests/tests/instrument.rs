//! `#[tickspan::instrument]`: a span around a function's body, named after the function or
//! by `name = "…"`, at the level given; on an `async fn` a manual span from first poll to
//! completion that also ends when the future is dropped unfinished. Checked on the records
//! the instrumented functions leave in the global rings.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use tickspan::context::RINGS;
use tickspan::{Kind, Level, Record};

/// The tests share the process-global rings: one at a time.
static RINGS_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[tickspan::instrument]
fn checksum(data: &[u8]) -> u32 {
    data.iter().map(|&b| b as u32).sum()
}

#[tickspan::instrument(name = "parse_frame", level = Debug)]
fn parse(input: &[u8]) -> Result<u32, &'static str> {
    if input.is_empty() {
        return Err("empty"); // an early return still closes the span
    }
    Ok(checksum(input))
}

/// Pending once (waking itself), then ready.
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[tickspan::instrument(name = "fetch")]
async fn fetch(n: u32) -> u32 {
    YieldOnce(false).await;
    checksum(&[n as u8; 4])
}

/// This thread's records, as (kind, callsite name, level, a, b), oldest first.
fn drain_records() -> Vec<(Kind, &'static str, Level, u32, u32)> {
    let mut buf = vec![Record::default(); 4096];
    let mut out = Vec::new();
    for ring in RINGS.iter() {
        loop {
            let o = ring.read(&mut buf);
            for r in &buf[..o.records] {
                if let Some(cs) = tickspan::callsite::resolve(r.callsite()) {
                    out.push((r.kind().unwrap(), cs.name, cs.level, r.a, r.b));
                }
            }
            if o.records == 0 {
                break;
            }
        }
    }
    out
}

fn kinds_and_names(recs: &[(Kind, &'static str, Level, u32, u32)]) -> Vec<(Kind, &'static str)> {
    recs.iter().map(|r| (r.0, r.1)).collect()
}

#[test]
#[cfg_attr(miri, ignore)] // callsite::resolve needs the link-section bounds
fn a_plain_fn_is_a_scoped_span_named_after_it() {
    let _l = RINGS_LOCK.lock().unwrap();
    drain_records();
    assert_eq!(parse(b"ab"), Ok(195));
    assert_eq!(parse(b""), Err("empty"));
    let recs = drain_records();
    use Kind::{SpanEnter as In, SpanExit as Out};
    assert_eq!(
        kinds_and_names(&recs),
        [(In, "parse_frame"), (In, "checksum"), (Out, "checksum"), (Out, "parse_frame"), (In, "parse_frame"), (Out, "parse_frame")]
    );
    assert_eq!(recs[0].2, Level::Debug, "level = Debug reaches the callsite");
    assert_eq!(recs[1].2, Level::Info, "the default level is Info");
}

#[test]
#[cfg_attr(miri, ignore)]
fn an_async_fn_is_one_span_from_first_poll_to_completion_or_drop() {
    let _l = RINGS_LOCK.lock().unwrap();
    drain_records();
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = pin!(fetch(3));
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(12));
    {
        // Polled once, then dropped: the span still ends.
        let mut dropped = Box::pin(fetch(5));
        assert!(dropped.as_mut().poll(&mut cx).is_pending());
    }
    let recs = drain_records();
    use Kind::{SpanEnd as End, SpanEnter as In, SpanExit as Out, SpanStart as Start};
    assert_eq!(
        kinds_and_names(&recs),
        [(Start, "fetch"), (In, "checksum"), (Out, "checksum"), (End, "fetch"), (Start, "fetch"), (End, "fetch")]
    );
    // A manual span's start (a) and end (a) carry the same id; the two calls differ.
    assert_eq!(recs[0].3, recs[3].3);
    assert_eq!(recs[4].3, recs[5].3);
    assert_ne!(recs[0].3, recs[4].3);
}
