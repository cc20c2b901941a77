//! tokio's runtime events, in the spirit of Go's execution tracer (feature `tokio`): when each
//! worker thread runs and when it parks, and when each task is spawned, polled and woken.
//!
//! - [`instrument`] adds hooks to a runtime `Builder` (its stable `on_thread_*` callbacks): a
//!   worker's time from an unpark to the next park is a span `tokio worker` on that thread, so
//!   `tree` shows the polls of each busy stretch and `stats --contexts` each worker's share.
//! - [`spawn!`](crate::spawn) spawns a future as a traced task: a value `tokio task spawned`
//!   (the task id) where it is spawned, each poll a span named after the task (as
//!   [`traced!`](crate::traced)), and a value `tokio task woken` (the id) in the context that
//!   wakes it: another task, a worker, the timer driver.
//!
//! A blocking-pool thread (`spawn_blocking`) gets no spans: tokio calls the park hooks only on
//! workers, so a stretch opens at an unpark or at the first traced poll of a started thread.

use super::PollGuard;
use crate::callsite::Callsite;
use crate::SpanGuard;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::task::Wake;

thread_local! {
    /// The open `tokio worker` span of this thread.
    static BUSY: RefCell<Option<SpanGuard>> = const { RefCell::new(None) };
    /// Whether the runtime started this thread (`on_thread_start`).
    static STARTED: Cell<bool> = const { Cell::new(false) };
}

fn worker_cs() -> &'static Callsite {
    crate::__callsite!("tokio worker", Span, Info)
}

/// Opens this thread's busy stretch unless one is open.
fn run() {
    BUSY.with(|b| {
        if let Ok(mut b) = b.try_borrow_mut() {
            if b.is_none() {
                *b = Some(SpanGuard::enter(worker_cs()));
            }
        }
    });
}

/// Closes this thread's busy stretch.
fn park() {
    let open = BUSY.with(|b| b.try_borrow_mut().ok().and_then(|mut b| b.take()));
    drop(open);
}

/// Adds tickspan's hooks to a runtime builder; returns it for chaining:
/// `tickspan::task::tokio::instrument(&mut Builder::new_multi_thread()).enable_all().build()`.
pub fn instrument(builder: &mut tokio::runtime::Builder) -> &mut tokio::runtime::Builder {
    builder
        .on_thread_start(|| STARTED.with(|s| s.set(true)))
        .on_thread_unpark(run)
        .on_thread_park(park)
        .on_thread_stop(park)
}

/// A task spawned by [`spawn!`](crate::spawn): polls traced, wake-ups recorded.
#[must_use = "futures do nothing unless polled"]
pub struct Task<F> {
    fut: F,
    cs: &'static Callsite,
    id: u32,
    /// The waker handed to `fut`, and the executor's waker it wraps.
    waker: Option<(Waker, Waker)>,
}

/// Wakes the task's real waker after recording the wake-up where it happens.
struct Recorder {
    inner: Waker,
    id: u32,
}

fn woken_cs() -> &'static Callsite {
    crate::__callsite!("tokio task woken", ValueU64, Info)
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        crate::value(woken_cs(), self.id);
        self.inner.wake_by_ref();
    }
}

impl<F> Task<F> {
    /// A traced task with callsite `cs` and id `id`; records its spawn. Use [`spawn!`](crate::spawn).
    pub fn new(cs: &'static Callsite, id: u32, fut: F) -> Task<F> {
        crate::value(crate::__callsite!("tokio task spawned", ValueU64, Info), id);
        Task { fut, cs, id, waker: None }
    }
}

impl<F: Future> Future for Task<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if STARTED.with(Cell::get) {
            run();
        }
        // SAFETY: `fut` is never moved out of the pinned `Task` (structural pinning); the
        // other fields are not pinned and are only replaced, never moved out.
        let this = unsafe { self.get_unchecked_mut() };
        // A new wrapper only when the executor's waker changed (a task moved between workers).
        if this.waker.as_ref().is_some_and(|(_, inner)| !inner.will_wake(cx.waker())) {
            this.waker = None;
        }
        let id = this.id;
        let (waker, _) = this.waker.get_or_insert_with(|| {
            let rec = Arc::new(Recorder { inner: cx.waker().clone(), id });
            (Waker::from(rec), cx.waker().clone())
        });
        let _poll = PollGuard::enter(this.cs, this.id);
        // SAFETY: see above: `fut` stays where the pinned `Task` holds it.
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(&mut Context::from_waker(waker))
    }
}

/// Spawns a future on the current tokio runtime as a traced task (see the module docs):
/// `tickspan::spawn!("conn", id = n, serve(socket))` or `tickspan::spawn!("tick", ticker())`.
/// Returns tokio's `JoinHandle`.
#[macro_export]
macro_rules! spawn {
    ($name:literal, id = $id:expr, $fut:expr $(,)?) => {
        ::tokio::spawn($crate::task::tokio::Task::new($crate::__callsite!($name, Task, Info), ($id) as u32, $fut))
    };
    ($name:literal, $fut:expr $(,)?) => {
        ::tokio::spawn($crate::task::tokio::Task::new($crate::__callsite!($name, Task, Info), 0, $fut))
    };
}
