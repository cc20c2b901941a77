//! One request's spans: the `request` span and its phases, shared by the resolver, the
//! connector and the connection's stream while they work for that request.

use std::sync::{Arc, Mutex, MutexGuard};
use tickspan::Span;

tokio::task_local! {
    /// The request whose future is being polled: how the resolver and the connector, which
    /// hyper-util calls from inside it, find the request they work for.
    pub(crate) static CURRENT: Arc<RequestTrace>;
}

/// The request being traced in the current task, if any.
pub(crate) fn current() -> Option<Arc<RequestTrace>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// The phases of a request that are open now (each a child of `request`).
#[derive(Default)]
struct Open {
    dns: Option<Span>,
    connect: Option<Span>,
    tls: Option<Span>,
    write: Option<Span>,
    wait: Option<Span>,
    read: Option<Span>,
    /// The first response byte was read: later reads are the rest of the response.
    got_first_byte: bool,
}

/// A traced request: its `request` span and the phases open in it.
pub struct RequestTrace {
    request: Span,
    open: Mutex<Open>,
}

/// Ends `span` if it is open.
fn end(span: &mut Option<Span>) {
    if let Some(s) = span.take() {
        s.end();
    }
}

impl RequestTrace {
    /// Starts the `request` span.
    pub fn start(method: &hyper::Method, port: u16) -> RequestTrace {
        let request = match *method {
            hyper::Method::GET => tickspan::span_start!("request", method = tickspan::intern!("GET"), port = port),
            hyper::Method::HEAD => tickspan::span_start!("request", method = tickspan::intern!("HEAD"), port = port),
            hyper::Method::POST => tickspan::span_start!("request", method = tickspan::intern!("POST"), port = port),
            _ => tickspan::span_start!("request", method = tickspan::intern!("other"), port = port),
        };
        RequestTrace { request, open: Mutex::new(Open::default()) }
    }

    /// The `request` span.
    pub fn span(&self) -> &Span {
        &self.request
    }

    fn open(&self) -> MutexGuard<'_, Open> {
        // A panic while holding it leaves only span handles behind: still usable.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Span `connect`, from one callsite wherever it starts (stats count per callsite).
    fn connect_span(&self) -> Span {
        tickspan::span_start!("connect", parent = &self.request)
    }

    /// The resolver starts: span `dns`.
    pub(crate) fn dns_start(&self) {
        let mut o = self.open();
        end(&mut o.dns);
        o.dns = Some(tickspan::span_start!("dns", parent = &self.request));
    }

    /// The resolver is done: `dns` ends (failed when `addrs` is `None`), and on success the TCP
    /// connect, which hyper-util's `HttpConnector` starts right away, begins.
    pub(crate) fn dns_done(&self, addrs: Option<usize>) {
        let mut o = self.open();
        if let Some(s) = o.dns.take() {
            match addrs {
                Some(n) => tickspan::annotate!(&s, addrs = n),
                None => tickspan::set_error!(span = &s, "lookup failed"),
            }
            s.end();
        }
        if addrs.is_some() && o.connect.is_none() {
            o.connect = Some(self.connect_span());
        }
    }

    /// The connector is called: `connect` starts unless resolving goes first (a host name).
    pub(crate) fn connect_start(&self, resolves: bool) {
        let mut o = self.open();
        if !resolves && o.connect.is_none() {
            o.connect = Some(self.connect_span());
        }
    }

    /// The TCP connect is done: `connect` ends, marked failed with `error`'s message.
    pub(crate) fn connect_done(&self, error: Option<ConnectFailure>) {
        let mut o = self.open();
        if let Some(s) = o.connect.take() {
            match error {
                Some(ConnectFailure::Refused) => tickspan::set_error!(span = &s, "connection refused"),
                Some(ConnectFailure::TimedOut) => tickspan::set_error!(span = &s, "timed out"),
                Some(ConnectFailure::Other) => tickspan::set_error!(span = &s, "connect failed"),
                None => {}
            }
            s.end();
        }
    }

    /// The TLS handshake starts: span `tls`.
    pub(crate) fn tls_start(&self) {
        let mut o = self.open();
        end(&mut o.tls);
        o.tls = Some(tickspan::span_start!("tls", parent = &self.request));
    }

    /// The TLS handshake is done.
    pub(crate) fn tls_done(&self, ok: bool) {
        let mut o = self.open();
        if let Some(s) = o.tls.take() {
            if !ok {
                tickspan::set_error!(span = &s, "handshake failed");
            }
            s.end();
        }
    }

    /// The connection's stream took request bytes: the first starts `write request`.
    pub(crate) fn wrote(&self) {
        let mut o = self.open();
        if o.write.is_none() && o.wait.is_none() && !o.got_first_byte {
            o.write = Some(tickspan::span_start!("write request", parent = &self.request));
        }
    }

    /// The connection's stream was flushed: the request is on the wire (Go's `WroteRequest`),
    /// `write request` ends and `wait response` starts.
    pub(crate) fn flushed(&self) {
        let mut o = self.open();
        if let Some(s) = o.write.take() {
            s.end();
            o.wait = Some(tickspan::span_start!("wait response", parent = &self.request));
        }
    }

    /// The connection's stream read response bytes: the first ends `wait response` (Go's
    /// `GotFirstResponseByte`) and starts `read response`, which ends with the body.
    pub(crate) fn read(&self) {
        let mut o = self.open();
        if !o.got_first_byte {
            o.got_first_byte = true;
            end(&mut o.wait);
            o.read = Some(tickspan::span_start!("read response", parent = &self.request));
        }
    }

    /// Ends the request (and `read response`): with its status and body size, or failed.
    /// Phases still open (a request given up midway) end here, marked unfinished.
    pub fn finish(&self, reused: Option<bool>, result: Result<(u16, usize), ()>) {
        let mut o = self.open();
        if result.is_ok() {
            end(&mut o.read);
        }
        let Open { dns, connect, tls, write, wait, read, .. } = &mut *o;
        for s in [dns, connect, tls, write, wait, read] {
            if let Some(s) = s.take() {
                tickspan::set_error!(span = &s, "unfinished");
                s.end();
            }
        }
        let req = &self.request;
        match (result, reused) {
            (Ok((status, bytes)), Some(r)) => tickspan::annotate!(req, reused = r, status = status, bytes = bytes),
            (Ok((status, bytes)), None) => tickspan::annotate!(req, status = status, bytes = bytes),
            (Err(()), Some(r)) => tickspan::annotate!(req, reused = r),
            (Err(()), None) => {}
        }
        match result {
            Ok((status, _)) if status >= 500 => tickspan::set_error!(span = req, "server error"),
            Ok(_) => {}
            Err(()) => tickspan::set_error!(span = req, "failed"),
        }
        self.request.end();
    }
}

/// Why a TCP connect failed, as far as the span's static message tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing listens there.
    Refused,
    /// No answer in time.
    TimedOut,
    /// Anything else.
    Other,
}

impl ConnectFailure {
    /// The failure behind an error (the first `io::Error` in its source chain).
    pub fn of(e: &(dyn std::error::Error + 'static)) -> ConnectFailure {
        let mut cur = Some(e);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => ConnectFailure::Refused,
                    std::io::ErrorKind::TimedOut => ConnectFailure::TimedOut,
                    _ => ConnectFailure::Other,
                };
            }
            cur = e.source();
        }
        ConnectFailure::Other
    }
}
