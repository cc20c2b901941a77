//! The connection's stream, watched: the request bytes written and flushed, the first
//! response byte read, for whichever request holds the connection now.

use crate::trace::RequestTrace;
use hyper_util::client::legacy::connect::{Connected, Connection};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One connection's tracing state: the request using it now, and how many have.
///
/// HTTP/1 sends one request at a time on a connection, so its stream's writes and reads belong
/// to the request that holds it. hyper-util hands each request's connection to
/// [`capture_connection`](hyper_util::client::legacy::connect::capture_connection) with
/// this in the connection's `Connected::extra`; [`Client`](crate::Client) claims it there.
#[derive(Default)]
pub struct ConnTrace {
    current: Mutex<Option<Arc<RequestTrace>>>,
    served: AtomicU32,
}

/// What a connection's `Connected` carries (`Connected::extra` takes a `Clone` type).
#[derive(Clone)]
pub struct ConnHandle(pub Arc<ConnTrace>);

impl ConnTrace {
    /// Makes `req` the connection's request; whether an earlier request used it (Go's
    /// `GotConnInfo.Reused`).
    pub fn claim(&self, req: Arc<RequestTrace>) -> bool {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(req);
        self.served.fetch_add(1, Ordering::Relaxed) > 0
    }

    /// The request is done with the connection.
    pub fn release(&self) {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn with(&self, f: impl FnOnce(&RequestTrace)) {
        if let Some(r) = self.current.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
            f(r)
        }
    }
}

/// A stream the connector hands hyper (through `TokioIo`): plain TCP or TLS over it.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A connection's stream that reports writes, flushes and reads to the [`ConnTrace`].
pub struct TracedIo {
    inner: Box<dyn Stream>,
    trace: Arc<ConnTrace>,
}

impl TracedIo {
    /// Wraps `inner`, the stream of the connection `trace` follows.
    pub fn new(inner: Box<dyn Stream>, trace: Arc<ConnTrace>) -> TracedIo {
        TracedIo { inner, trace }
    }
}

impl Connection for TracedIo {
    fn connected(&self) -> Connected {
        // HTTP/1, not proxied: hyper-util needs nothing else from it.
        Connected::new().extra(ConnHandle(self.trace.clone()))
    }
}

impl AsyncRead for TracedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.trace.with(RequestTrace::read);
        }
        r
    }
}

impl AsyncWrite for TracedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.trace.with(RequestTrace::wrote);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.trace.with(RequestTrace::wrote);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            self.trace.with(RequestTrace::flushed);
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
