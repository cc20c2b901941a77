//! Async tasks in the tree: every poll of a task is a scoped span named after the task.
//!
//! An executor polls a task in one context and the poll returns before anything else runs
//! there, so a poll nests LIFO like any scoped span: [`Traced`] enters a span around each
//! `poll` of the future it wraps, and the host shows the task's polls (count, busy time) in
//! `tickspan tree` and `tickspan stats` without any executor support.
//!
//! ```
//! async fn blink() { /* … */ }
//! // Each poll of the future is a span "blink"; id 2 tells instances of one task apart.
//! let fut = tickspan::traced!("blink", id = 2, blink());
//! # let _ = fut;
//! ```
//!
//! Records of one poll: `SpanEnter` and `SpanExit` of the task's callsite (kind
//! [`CallsiteKind::Task`](crate::CallsiteKind::Task)), and when the task id is not 0, a
//! `TaskSwitch` of the same callsite right after the enter, carrying the id (a scoped span
//! has no payload on the wire). The host reads a `TaskSwitch` whose callsite is the innermost
//! open span's as that poll's task id.
//!
//! Feature `embassy` adds the hooks of `embassy-executor`'s `trace` feature instead, so that
//! every task of an embassy executor is traced without wrapping it (module `embassy`).

use crate::callsite::Callsite;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// A future whose every poll is recorded as a span of its task. Use [`traced!`](crate::traced).
///
/// Wrapping costs two records per poll (three with a task id); with feature `disabled`,
/// [`traced!`](crate::traced) returns the future itself and `Traced` records nothing.
/// `Traced` is `Send` and `Unpin` when `F` is.
#[must_use = "futures do nothing unless polled"]
pub struct Traced<F> {
    fut: F,
    cs: &'static Callsite,
    id: u32,
}

impl<F> Traced<F> {
    /// Wraps `fut`: its polls are spans of `cs` (a [`Task`](crate::CallsiteKind::Task)
    /// callsite), annotated with task id `id` unless it is 0.
    #[inline]
    pub const fn new(cs: &'static Callsite, id: u32, fut: F) -> Traced<F> {
        Traced { fut, cs, id }
    }

    /// The task id given at construction (0: none).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.fut
    }
}

impl<F: Future> Future for Traced<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is only ever reached through this pinned
        // projection, never moved out while pinned (`into_inner` takes `self` by value, which
        // needs `Traced: Unpin` once pinned, i.e. `F: Unpin`), and `Traced` has no `Drop`.
        let this = unsafe { self.get_unchecked_mut() };
        let _poll = PollGuard::enter(this.cs, this.id);
        // SAFETY: see above; `this.fut` stays where the pinned `Traced` put it.
        unsafe { Pin::new_unchecked(&mut this.fut) }.poll(cx)
    }
}

/// One poll of a task, recorded until dropped: for executors that poll tasks themselves.
///
/// Enter it right before calling a task's `poll` and drop it right after, in the same
/// context (it is `!Send`).
/// With feature `disabled` it records nothing.
#[must_use = "the poll's span ends when this guard is dropped"]
pub struct PollGuard {
    #[cfg(not(feature = "disabled"))]
    span: crate::ScopedSpan,
    _not_send: core::marker::PhantomData<*const ()>,
}

impl PollGuard {
    /// Records the start of a poll of task `id` (0: none) named by `cs`.
    #[inline(always)]
    pub fn enter(cs: &'static Callsite, id: u32) -> PollGuard {
        #[cfg(feature = "disabled")]
        let _ = (cs, id);
        PollGuard {
            #[cfg(not(feature = "disabled"))]
            span: {
                let span = crate::ScopedSpan::enter(cs);
                if id != 0 {
                    crate::task_switch(cs, id);
                }
                span
            },
            _not_send: core::marker::PhantomData,
        }
    }
}

impl Drop for PollGuard {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(not(feature = "disabled"))]
        self.span.exit();
    }
}

/// Wraps a future so that each of its polls is a span named after the task:
/// `traced!("blink", blink())`, or with a task id that tells instances of one task apart:
/// `traced!("conn", id = n, serve(conn))` (`n` converts to `u32` with `as`; 0 means none).
///
/// With feature `disabled` it evaluates to the future itself.
#[cfg(not(feature = "disabled"))]
#[macro_export]
macro_rules! traced {
    ($name:literal, id = $id:expr, $fut:expr $(,)?) => {
        $crate::task::Traced::new($crate::__callsite!($name, Task, Info), ($id) as u32, $fut)
    };
    ($name:literal, $fut:expr $(,)?) => {
        $crate::task::Traced::new($crate::__callsite!($name, Task, Info), 0, $fut)
    };
}

/// Disabled: the future itself; the task id is not evaluated.
#[cfg(feature = "disabled")]
#[macro_export]
macro_rules! traced {
    ($name:literal, id = $id:expr, $fut:expr $(,)?) => {{
        if false {
            let _ = $id;
        }
        $fut
    }};
    ($name:literal, $fut:expr $(,)?) => {
        $fut
    };
}

#[cfg(all(feature = "tokio", not(feature = "disabled"), not(loom)))]
pub mod tokio;

/// The hooks of `embassy-executor`'s `trace` feature, recording every task poll.
///
/// Enable `embassy-executor`'s feature `trace` and tickspan's feature `embassy` (not together
/// with `embassy-executor`'s `rtos-trace`, which defines the same hooks). Records:
///
/// | hook | records |
/// |---|---|
/// | `_embassy_trace_poll_start` / `_embassy_trace_executor_idle` | span `embassy executor` around one pass over the run queue |
/// | `_embassy_trace_task_exec_begin` / `_end` | span `embassy task` around each poll, with the task id (`TaskSwitch`) |
/// | `_embassy_trace_task_new` / `_task_end` | values `embassy task spawned` / `embassy task ended` = task id |
/// | `_embassy_trace_task_ready_begin` | value `embassy task ready` = task id (in the waking context) |
///
/// Task ids are embassy's: the low 32 bits of the task's address (in firmware, inside the
/// task's static pool, so `--elf` symbols tell which task it is).
#[cfg(all(feature = "embassy", not(feature = "disabled"), not(loom)))]
pub mod embassy {
    use crate::callsite::Callsite;
    use crate::record::Kind;

    #[inline(always)]
    fn executor_cs() -> &'static Callsite {
        crate::__callsite!("embassy executor", Task, Info)
    }

    #[inline(always)]
    fn task_cs() -> &'static Callsite {
        crate::__callsite!("embassy task", Task, Info)
    }

    /// The executor starts a pass over its run queue.
    #[no_mangle]
    pub fn _embassy_trace_poll_start(_executor_id: u32) {
        crate::api::emit(executor_cs().id() | Kind::SpanEnter as u32, 0);
    }

    /// The executor's pass is over.
    #[no_mangle]
    pub fn _embassy_trace_executor_idle(_executor_id: u32) {
        crate::api::emit(executor_cs().id() | Kind::SpanExit as u32, 0);
    }

    /// A task's poll starts.
    #[no_mangle]
    pub fn _embassy_trace_task_exec_begin(_executor_id: u32, task_id: u32) {
        let cs = task_cs();
        crate::api::emit(cs.id() | Kind::SpanEnter as u32, 0);
        crate::task_switch(cs, task_id);
    }

    /// A task's poll returned.
    #[no_mangle]
    pub fn _embassy_trace_task_exec_end(_executor_id: u32, _task_id: u32) {
        crate::api::emit(task_cs().id() | Kind::SpanExit as u32, 0);
    }

    /// A task was spawned.
    #[no_mangle]
    pub fn _embassy_trace_task_new(_executor_id: u32, task_id: u32) {
        crate::value(crate::__callsite!("embassy task spawned", Event, Info), task_id);
    }

    /// A task's future completed.
    #[no_mangle]
    pub fn _embassy_trace_task_end(_executor_id: u32, task_id: u32) {
        crate::value(crate::__callsite!("embassy task ended", Event, Info), task_id);
    }

    /// A task was woken (enqueued to run).
    #[no_mangle]
    pub fn _embassy_trace_task_ready_begin(_executor_id: u32, task_id: u32) {
        crate::value(crate::__callsite!("embassy task ready", Event, Info), task_id);
    }
}
