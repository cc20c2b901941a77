//! `tickspan::traced!`: each poll of a wrapped future is a span of its task, with its task id,
//! nested LIFO in the polling thread's ring; checked on the records a hand-written executor
//! leaves there. With feature `embassy`, embassy-executor's trace hooks are called the way
//! its executor calls them and their records checked the same way.
//!
//! The tests read the process-global rings, so they take turns (`RINGS_LOCK`).
#![cfg(all(feature = "std", not(feature = "disabled")))]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tickspan::context::RINGS;
use tickspan::{CallsiteKind, Kind, Record};

/// Held by a test while it records and reads the rings.
static RINGS_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Pending once (waking itself), then ready: one extra poll of the task that awaits it.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

async fn worker(yields: u32) -> u32 {
    for _ in 0..yields {
        {
            let _g = tickspan::span!("work");
        }
        YieldOnce(false).await;
    }
    yields
}

/// Polls every task in turn until all are done; returns how often each was polled.
fn run(tasks: &mut [Pin<Box<dyn Future<Output = u32>>>]) -> Vec<u32> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut polls = vec![0; tasks.len()];
    let mut done = vec![false; tasks.len()];
    while done.iter().any(|d| !d) {
        for (i, t) in tasks.iter_mut().enumerate() {
            if !done[i] {
                polls[i] += 1;
                done[i] = t.as_mut().poll(&mut cx).is_ready();
            }
        }
    }
    polls
}

/// Everything in the rings, as (kind, callsite name, callsite kind, a).
fn records() -> Vec<(Kind, &'static str, CallsiteKind, u32)> {
    let mut buf = vec![Record::default(); 4096];
    let mut out = Vec::new();
    for ring in RINGS.iter() {
        loop {
            let o = ring.read(&mut buf);
            assert_eq!(o.lost(), 0, "the test's rings must not overflow");
            for r in &buf[..o.records] {
                let cs = tickspan::callsite::resolve(r.callsite()).expect("a callsite of this binary");
                out.push((r.kind().expect("a record kind"), cs.name, cs.kind, r.a));
            }
            if o.records == 0 {
                break;
            }
        }
    }
    out
}

#[test]
#[cfg_attr(miri, ignore)] // callsite::resolve needs the link-section bounds, which Miri lacks
fn each_poll_is_a_span_of_its_task_with_its_id() {
    let _turn = RINGS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    records(); // whatever ran before
    let polls = std::thread::spawn(|| {
        let mut tasks: Vec<Pin<Box<dyn Future<Output = u32>>>> = vec![
            Box::pin(tickspan::traced!("ping", id = 7, worker(3))),
            Box::pin(tickspan::traced!("pong", worker(1))),
            // A traced future awaited inside another: its polls nest inside the outer's.
            Box::pin(tickspan::traced!("outer", id = 9u8, async {
                tickspan::traced!("inner", id = 10, worker(2)).await
            })),
        ];
        run(&mut tasks)
    })
    .join()
    .expect("executor thread panicked");
    assert_eq!(polls, [4, 2, 3], "a yield costs one poll");

    let recs = records();
    let tasks = ["ping", "pong", "outer", "inner"];
    let count = |kind: Kind, name: &str| recs.iter().filter(|r| r.0 == kind && r.1 == name).count() as u32;
    for (name, n) in [("ping", 4), ("pong", 2), ("outer", 3), ("inner", 3)] {
        assert_eq!(count(Kind::SpanEnter, name), n, "{name}: one span per poll");
        assert_eq!(count(Kind::SpanExit, name), n, "{name}: every poll span ends");
    }
    // The id rides on a TaskSwitch of the task's own callsite, right after the enter; a task
    // without an id writes none.
    for (name, id) in [("ping", 7), ("outer", 9), ("inner", 10)] {
        let ids: Vec<u32> = recs.iter().filter(|r| r.0 == Kind::TaskSwitch && r.1 == name).map(|r| r.3).collect();
        assert_eq!(ids, vec![id; count(Kind::SpanEnter, name) as usize], "{name}");
    }
    assert_eq!(count(Kind::TaskSwitch, "pong"), 0);
    for r in recs.iter().filter(|r| tasks.contains(&r.1)) {
        assert_eq!(r.2, CallsiteKind::Task, "{}: a task callsite", r.1);
    }

    // LIFO: replay the stack; every TaskSwitch follows its own span's enter.
    let mut stack: Vec<&str> = Vec::new();
    let mut prev: Option<(Kind, &str)> = None;
    for r in recs.iter().filter(|r| tasks.contains(&r.1) || r.1 == "work") {
        match r.0 {
            Kind::SpanEnter => {
                if r.1 == "inner" {
                    assert_eq!(stack.last(), Some(&"outer"), "inner polls nest in outer's");
                }
                if r.1 == "work" {
                    assert!(matches!(stack.last(), Some(&("ping" | "pong" | "inner"))), "{stack:?}");
                }
                stack.push(r.1);
            }
            Kind::SpanExit => assert_eq!(stack.pop(), Some(r.1)),
            Kind::TaskSwitch => assert_eq!(prev, Some((Kind::SpanEnter, r.1))),
            k => panic!("unexpected {k:?} of {}", r.1),
        }
        prev = Some((r.0, r.1));
    }
    assert!(stack.is_empty(), "{stack:?}");
    assert_eq!(count(Kind::SpanEnter, "work"), 3 + 1 + 2);
}

/// The hooks embassy-executor (feature `trace`) declares; tickspan's feature `embassy`
/// defines them.
#[cfg(feature = "embassy")]
mod embassy {
    use super::*;

    extern "Rust" {
        fn _embassy_trace_poll_start(executor_id: u32);
        fn _embassy_trace_task_new(executor_id: u32, task_id: u32);
        fn _embassy_trace_task_end(executor_id: u32, task_id: u32);
        fn _embassy_trace_task_exec_begin(executor_id: u32, task_id: u32);
        fn _embassy_trace_task_exec_end(executor_id: u32, task_id: u32);
        fn _embassy_trace_task_ready_begin(executor_id: u32, task_id: u32);
        fn _embassy_trace_executor_idle(executor_id: u32);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // callsite::resolve needs the link-section bounds, which Miri lacks
    fn embassy_hooks_record_polls_inside_executor_passes() {
        let _turn = RINGS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        records();
        std::thread::spawn(|| {
            // SAFETY: the hooks are safe Rust functions (tickspan's), called in the order
            // embassy-executor's `raw::SyncExecutor::poll` calls them.
            unsafe {
                _embassy_trace_task_new(1, 0x2000_0100);
                _embassy_trace_task_ready_begin(1, 0x2000_0100);
                _embassy_trace_poll_start(1);
                _embassy_trace_task_exec_begin(1, 0x2000_0100);
                _embassy_trace_task_exec_end(1, 0x2000_0100);
                _embassy_trace_executor_idle(1);
                _embassy_trace_poll_start(1);
                _embassy_trace_task_exec_begin(1, 0x2000_0100);
                _embassy_trace_task_end(1, 0x2000_0100);
                _embassy_trace_task_exec_end(1, 0x2000_0100);
                _embassy_trace_executor_idle(1);
            }
        })
        .join()
        .unwrap();
        let got: Vec<String> = records()
            .into_iter()
            .filter(|r| r.1.starts_with("embassy "))
            .map(|r| format!("{:?} {} {:#x}", r.0, r.1, r.3))
            .collect();
        assert_eq!(
            got,
            [
                "ValueU embassy task spawned 0x20000100",
                "ValueU embassy task ready 0x20000100",
                "SpanEnter embassy executor 0x0",
                "SpanEnter embassy task 0x0",
                "TaskSwitch embassy task 0x20000100",
                "SpanExit embassy task 0x0",
                "SpanExit embassy executor 0x0",
                "SpanEnter embassy executor 0x0",
                "SpanEnter embassy task 0x0",
                "TaskSwitch embassy task 0x20000100",
                "ValueU embassy task ended 0x20000100",
                "SpanExit embassy task 0x0",
                "SpanExit embassy executor 0x0",
            ]
        );
    }
}
