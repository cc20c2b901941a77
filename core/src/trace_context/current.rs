//! std: the current trace context of a thread, and carrying it into threads and futures.
//!
//! Go passes a `context.Context` down every call; here the context a thread works for sits in
//! a thread-local, set by a guard for the span that owns it, so code in between needs no extra
//! parameter. Crossing a thread or task boundary is explicit and cheap: [`current`] captures
//! the value (it is `Copy`), [`attach`] or [`WithContext`] installs it on the other side.
//!
//! ```
//! use tickspan::trace_context::{self as tc, TraceContext};
//!
//! let incoming = TraceContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
//! let _request = tickspan::span!("handle request");
//! let _cx = tc::enter_remote(&incoming);
//! {
//!     let _call = tickspan::span!("call backend");
//!     let _cx = tc::enter_child().unwrap();
//!     let header = tc::current().unwrap(); // inject this one
//!     assert_eq!(header.trace_id(), incoming.trace_id());
//!     assert_ne!(header.span_id(), incoming.span_id());
//! }
//! let cx = tc::current();
//! std::thread::spawn(move || {
//!     let _work = tickspan::span!("worker");
//!     let _cx = cx.map(|cx| tc::attach_child(&cx));
//! })
//! .join()
//! .unwrap();
//! ```

use super::{link_child, link_new_trace, link_remote, TraceContext, TraceFlags};
use core::cell::Cell;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

std::thread_local! {
    static CURRENT: Cell<Option<TraceContext>> = const { Cell::new(None) };
}

/// The context this thread works for now, if any: what to inject into an outgoing call.
pub fn current() -> Option<TraceContext> {
    CURRENT.with(Cell::get)
}

/// Restores the thread's previous context when dropped. `!Send`: it belongs to its thread.
/// Drop it within the poll that made it; for a whole task use [`WithContext`].
#[must_use = "the context is the thread's current one until this guard is dropped"]
pub struct Attached {
    previous: Option<TraceContext>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for Attached {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Makes `cx` the thread's current context until the guard drops. Writes no record: the spans
/// opened meanwhile are joined to the trace only through a linked ancestor, so a span that
/// continues `cx` in another thread should use [`attach_child`].
pub fn attach(cx: TraceContext) -> Attached {
    Attached { previous: CURRENT.with(|c| c.replace(Some(cx))), _not_send: PhantomData }
}

/// [`link_remote`] for the innermost open span, then [`attach`] its context.
pub fn enter_remote(parent: &TraceContext) -> Attached {
    attach(link_remote(parent))
}

/// [`link_new_trace`] for the innermost open span, then [`attach`] its context.
pub fn enter_new_trace(flags: TraceFlags) -> Attached {
    attach(link_new_trace(flags))
}

/// [`link_child`] of the current context for the innermost open span, then [`attach`]: the
/// span that makes an outgoing call gets an id of its own to inject. `None` (and no record)
/// when the thread has no current context.
pub fn enter_child() -> Option<Attached> {
    current().map(|cx| attach_child(&cx))
}

/// [`link_child`] of `cx` (captured elsewhere) for the innermost open span, then [`attach`].
pub fn attach_child(cx: &TraceContext) -> Attached {
    attach(link_child(cx))
}

/// A future that runs with a trace context attached while it is polled, whichever thread
/// polls it: the context follows the task, not the worker thread.
pub struct WithContext<F> {
    cx: Option<TraceContext>,
    inner: F,
}

impl<F> WithContext<F> {
    /// Wraps `inner`; `cx: None` polls it with no context (hiding the poller's).
    pub fn new(cx: Option<TraceContext>, inner: F) -> WithContext<F> {
        WithContext { cx, inner }
    }
}

/// Wraps `f` so that it is polled with this thread's current context: `spawn(in_current(f))`.
pub fn in_current<F: Future>(f: F) -> WithContext<F> {
    WithContext::new(current(), f)
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of `self`, and
        // `WithContext` has no `Drop` of its own that could move it; `cx` is `Copy` and not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // Restores the poller's context on return and on unwinding.
        let _restore =
            Attached { previous: CURRENT.with(|c| c.replace(this.cx)), _not_send: PhantomData };
        // SAFETY: as above, `inner` stays where it is.
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(task)
    }
}
